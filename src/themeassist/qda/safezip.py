"""Read members of an untrusted ZIP archive (``.qdpx``) in memory, refusing hostile ones.

A ``.qdpx`` project comes from another tool or another person. Nothing in it is ever extracted
to disk: members are read into memory, by name, after the whole archive has been checked.
The archive is refused, with a message naming the member, when any member

- has an absolute path (``/etc/passwd``, ``C:\\x``, ``\\\\server\\share``);
- escapes the archive's folder once resolved (``../../x``: "zip slip");
- is a symbolic link, or is encrypted;
- declares more than ``max_member`` bytes, or all members together more than ``max_total``;
- declares a size more than ``max_ratio`` times its compressed size (and above 1 MiB): the
  shape of a decompression bomb.

Sizes are also enforced while reading, so a member whose header lies about its size is stopped
at the limit. Lookups are case-insensitive and accept ``\\`` as a separator, because REFI-QDA
exporters disagree on ``Sources/`` versus ``sources/``.
"""

from __future__ import annotations

import logging
import re
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Self

from themeassist.errors import InputError

log = logging.getLogger(__name__)

#: Largest member, in bytes, that will be read (uncompressed).
MAX_MEMBER = 512 * 1024 * 1024
#: Largest sum of the members' uncompressed sizes.
MAX_TOTAL = 2 * 1024 * 1024 * 1024
#: Largest uncompressed / compressed ratio for members above ``RATIO_FLOOR`` bytes.
MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024

_DRIVE = re.compile(r"^[A-Za-z]:")


def member_problem(name: str) -> str | None:
    """Why a member name is unsafe, or None when it stays inside the archive's folder.

    Examples
    --------
    >>> member_problem("Sources/a.txt") is None
    True
    >>> member_problem("../../etc/passwd")
    'path escapes the archive folder (zip slip)'
    >>> member_problem("/etc/passwd")
    'absolute path'
    >>> member_problem("C:\\\\Windows\\\\x.txt")
    'absolute path'
    """
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        return "absolute path"
    depth = 0
    for part in PurePosixPath(norm).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return "path escapes the archive folder (zip slip)"
        elif part not in (".", ""):
            depth += 1
    if "\x00" in name:
        return "NUL character in the name"
    return None


def _key(name: str) -> str:
    """Lookup key: forward slashes, no leading ``./``, case-folded."""
    norm = name.replace("\\", "/")
    while norm.startswith("./"):
        norm = norm[2:]
    return norm.casefold()


class SafeZip:
    """A checked, read-only view of a ZIP archive.

    Parameters
    ----------
    path : path
        The archive.
    max_member, max_total, max_ratio : int
        Limits (see the module docstring).

    Raises
    ------
    InputError
        Not a ZIP file, or a hostile member (the message names it and says why).

    Examples
    --------
    >>> import io, zipfile, tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.qdpx"
    >>> with zipfile.ZipFile(p, "w") as z:
    ...     z.writestr("project.qde", "<Project/>")
    ...     z.writestr("sources/A.txt", "hello")
    >>> SafeZip(p).read("Sources/a.txt")
    b'hello'
    """

    def __init__(self, path: str | Path, *, max_member: int = MAX_MEMBER,
                 max_total: int = MAX_TOTAL, max_ratio: int = MAX_RATIO) -> None:
        self.path = Path(path)
        self.max_member = max_member
        try:
            self._zip = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise InputError("file not found", path=self.path) from None
        except (zipfile.BadZipFile, OSError) as err:
            raise InputError(f"not a ZIP archive ({err})", path=self.path,
                             expected="a .qdpx file (a ZIP archive)") from None
        self._members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in self._zip.infolist():
            problem = member_problem(info.filename)
            mode = info.external_attr >> 16
            if problem is None and info.create_system == 3 and stat.S_ISLNK(mode):
                problem = "symbolic link"
            if problem is None and info.flag_bits & 0x1:
                problem = "encrypted member"
            if problem is None and info.file_size > max_member:
                problem = f"member of {info.file_size:,} bytes exceeds the limit of {max_member:,}"
            if (problem is None and info.file_size > RATIO_FLOOR
                    and info.file_size > max_ratio * max(info.compress_size, 1)):
                problem = (f"member expands {info.file_size / max(info.compress_size, 1):,.0f} "
                           f"times (limit {max_ratio}): looks like a decompression bomb")
            if problem:
                self._zip.close()
                raise InputError(f"refusing hostile archive: member {info.filename!r}: {problem}",
                                 path=self.path)
            total += info.file_size
            if total > max_total:
                self._zip.close()
                raise InputError(f"refusing hostile archive: members expand to more than "
                                 f"{max_total:,} bytes", path=self.path)
            if not info.is_dir():
                self._members.setdefault(_key(info.filename), info)

    def names(self) -> list[str]:
        """Member names (files only) as stored."""
        return [i.filename for i in self._members.values()]

    def find(self, name: str) -> str | None:
        """The stored name matching ``name`` case-insensitively, or None."""
        info = self._members.get(_key(name))
        return info.filename if info else None

    def read(self, name: str) -> bytes:
        """Read a member by name (case-insensitive), never more than its checked size."""
        info = self._members.get(_key(name))
        if info is None:
            raise InputError(f"archive has no member {name!r}", path=self.path,
                             expected="a member listed in the archive", got=name)
        limit = min(info.file_size, self.max_member)
        try:
            with self._zip.open(info) as fh:
                data = fh.read(limit + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, zlib.error) as err:
            raise InputError(f"cannot read member {info.filename!r}: {err}", path=self.path) from None
        if len(data) > limit:
            raise InputError(f"refusing hostile archive: member {info.filename!r} is larger "
                             "than its header says", path=self.path)
        return data

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
