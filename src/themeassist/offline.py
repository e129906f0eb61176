"""Keep every code path off the network.

Transcripts are sensitive; models come installed from packages. Importing themeassist sets
the Hugging Face offline flags so that no library it calls can reach a hub, whatever the
user's environment says. :func:`block_sockets` is used by the tests to prove it.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

OFFLINE_FLAGS = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def force_offline() -> None:
    """Set the offline flags in this process's environment (overriding the user's)."""
    os.environ.update(OFFLINE_FLAGS)


class NetworkBlockedError(RuntimeError):
    """Raised when code tries to open a network socket while :func:`block_sockets` is on."""


@contextlib.contextmanager
def block_sockets() -> Iterator[None]:
    """Make any attempt to open an internet socket fail (AF_UNIX stays allowed).

    Used in tests: a run inside this block that succeeds opened no network connection.
    """
    real_socket = socket.socket
    real_connect = socket.create_connection

    class GuardedSocket(real_socket):  # type: ignore[misc, valid-type]
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            if family in (socket.AF_INET, socket.AF_INET6) and fileno is None:
                raise NetworkBlockedError("network access attempted while blocked")
            super().__init__(family, type, proto, fileno)

    def guarded_connect(*args, **kwargs):
        raise NetworkBlockedError("network access attempted while blocked")

    socket.socket = GuardedSocket  # type: ignore[misc]
    socket.create_connection = guarded_connect  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.socket = real_socket  # type: ignore[misc]
        socket.create_connection = real_connect
