"""One writer per output: an exclusive lock file beside every output a command writes.

A command that writes ``OUT`` (a file or a folder) first creates ``.OUT.lock`` beside it,
with ``O_CREAT | O_EXCL`` so that exactly one process succeeds. The file records the
owner: process id, host, the process's start time (so a reused pid is not mistaken for
the owner), the command and when it started. A second writer is refused with a message
naming the owner. A lock whose owner is dead is *stale* and is taken over, but only when
the owner ran on this host (a process on another machine sharing the drive cannot be
checked: the message says which file to delete once that process is gone).

The lock lives beside the output, not inside it, so that locking writes nothing into the
output folder and a refused command leaves nothing behind (folders created only to hold
the lock are removed again). Checking for a stale lock and taking it over happen while
holding an ``flock`` on the parent folder, so two processes cannot both break the same
stale lock. Locks are re-entrant within a process: ``run`` locks its folder and the
stages it calls may lock it again.

Examples
--------
>>> import tempfile
>>> out = Path(tempfile.mkdtemp()) / "results"
>>> with OutputLock(out, command="stats"):
...     lock_path(out).exists()
True
>>> lock_path(out).exists()
False
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from themeassist.errors import StorageError, ThemeassistError

LOCK_SUFFIX = ".lock"

_HELD: dict[str, list[Any]] = {}  # lock path -> [count, token]
_HELD_MUTEX = threading.Lock()


class LockedError(ThemeassistError):
    """Another live process is writing the same output."""


def lock_path(target: str | Path) -> Path:
    """The lock file of an output: ``.NAME.lock`` in the output's parent folder.

    Examples
    --------
    >>> lock_path("runs/study-1").as_posix()
    'runs/.study-1.lock'
    """
    target = Path(target)
    return target.with_name(f".{target.name}{LOCK_SUFFIX}")


def _proc_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
        return stat[stat.rindex(")") + 2:].split()[19]
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    """True when ``pid`` runs on this host and, if known, started at ``start``."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    except OSError:
        return True
    now = _proc_start(pid)
    return not (start is not None and now is not None and now != start)


def owner_info(command: str | None = None) -> dict[str, Any]:
    """What a lock file records about its owner (this process)."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "start": _proc_start(os.getpid()),
            "command": command, "started": datetime.now(UTC).isoformat(timespec="seconds")}


def read_lock(path: str | Path) -> dict[str, Any] | None:
    """The owner recorded in a lock file, or None when it is unreadable or torn."""
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None


def is_stale(info: dict[str, Any] | None) -> bool:
    """True when the lock's owner ran on this host and is no longer running.

    A torn lock file (None) is stale too: the lock is written in full while the parent
    folder is flock'ed, so only a writer killed mid-write leaves one.
    """
    if info is None:
        return True
    if info.get("host") != socket.gethostname():
        return False
    return not _alive(int(info["pid"]), info.get("start"))


@contextlib.contextmanager
def _folder_guard(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` (best effort: a no-op where unsupported)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _describe(info: dict[str, Any] | None) -> str:
    if info is None:
        return "an unknown process"
    what = f" (`{info['command']}`)" if info.get("command") else ""
    since = f", since {info['started']}" if info.get("started") else ""
    return f"process {info['pid']} on {info.get('host')}{what}{since}"


class OutputLock:
    """An exclusive, re-entrant lock on one output path (see the module docstring).

    Parameters
    ----------
    target : path
        The output file or folder.
    command : str, optional
        Recorded in the lock file, so a refused writer is told what holds it.

    Raises
    ------
    LockedError
        On :meth:`acquire`, when a live process (or one on another host) holds the lock.
    """

    def __init__(self, target: str | Path, *, command: str | None = None):
        self.target = Path(target)
        self.command = command
        self.path = lock_path(Path(os.path.abspath(self.target)))
        self._created: list[Path] = []
        self._token: str | None = None
        self._existed = True

    def acquire(self) -> OutputLock:
        key = str(self.path)
        with _HELD_MUTEX:
            held = _HELD.get(key)
            if held is not None:
                held[0] += 1
                self._token = held[1]
                return self
        self._existed = self.target.exists()
        self._make_parents()
        token = secrets.token_hex(8)
        info = {**owner_info(self.command), "token": token}
        try:
            with _folder_guard(self.path.parent):
                for _ in range(3):
                    try:
                        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
                    except FileExistsError:
                        other = read_lock(self.path)
                        if is_stale(other):
                            with contextlib.suppress(FileNotFoundError):
                                self.path.unlink()
                            continue
                        self._remove_parents()
                        raise LockedError(
                            f"{self.target} is being written by {_describe(other)}; wait for "
                            f"it to finish (if that process is no longer running, delete "
                            f"{self.path})") from None
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        fh.write(json.dumps(info, sort_keys=True) + "\n")
                        fh.flush()
                        os.fsync(fh.fileno())
                    break
                else:  # pragma: no cover - only under a storm of stale-lock breakers
                    raise LockedError(f"cannot take the lock {self.path}; try again")
        except OSError as err:
            self._remove_parents()
            if isinstance(err, StorageError):
                raise
            raise StorageError.from_oserror(err, self.target) from None
        with _HELD_MUTEX:
            _HELD[key] = [1, token]
        self._token = token
        return self

    def release(self, *, failed: bool = False) -> None:
        """Drop the lock (the outermost release deletes the lock file).

        ``failed=True`` also removes the folders created only to hold the lock, when they
        are still empty, so a refused or failed command leaves nothing behind.
        """
        key = str(self.path)
        with _HELD_MUTEX:
            held = _HELD.get(key)
            if held is None:
                return
            held[0] -= 1
            if held[0] > 0:
                return
            del _HELD[key]
        with _folder_guard(self.path.parent):
            info = read_lock(self.path)
            if info is not None and info.get("token") == self._token:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
        if failed:
            if not self._existed:
                with contextlib.suppress(OSError):
                    self.target.rmdir()  # only succeeds on an empty folder
            self._remove_parents()

    def _make_parents(self) -> None:
        missing = []
        p = self.path.parent
        while not p.exists():
            missing.append(p)
            p = p.parent
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError.from_oserror(err, self.target) from None
        self._created = missing  # deepest first

    def _remove_parents(self) -> None:
        for p in self._created:
            try:
                p.rmdir()
            except OSError:
                break
        self._created = []

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.release(failed=exc_type is not None)


@contextlib.contextmanager
def locked(targets: Iterable[str | Path | None], *, command: str | None = None
           ) -> Iterator[list[OutputLock]]:
    """Lock several outputs (in a fixed order, so two commands cannot deadlock).

    ``None`` targets are skipped. On an error every lock taken is released and the folders
    made for them are removed when empty.
    """
    paths = sorted({os.path.abspath(t) for t in targets if t is not None})
    taken: list[OutputLock] = []
    try:
        for p in paths:
            taken.append(OutputLock(p, command=command).acquire())
        yield taken
    except BaseException:
        for lock in reversed(taken):
            lock.release(failed=True)
        raise
    else:
        for lock in reversed(taken):
            lock.release()


def locks_output(param: str, *, command: str | None = None):
    """Decorate a function so that it holds the lock on its argument ``param`` (a path)
    while it runs; e.g. ``label_batch(inputs, model_dir, out, ...)`` locks ``out``."""
    import functools
    import inspect

    def decorate(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            target = sig.bind_partial(*args, **kwargs).arguments.get(param)
            if target is None:
                return fn(*args, **kwargs)
            with OutputLock(target, command=command or fn.__name__):
                return fn(*args, **kwargs)

        return wrapper

    return decorate
