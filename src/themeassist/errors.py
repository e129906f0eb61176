"""The errors and warnings themeassist raises on purpose.

Every error a user can cause by their input derives from :class:`ThemeassistError`; the
command line turns those into one line on stderr and exit code 1 (see ``cli/_util.py``).
Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ThemeassistError(Exception):
    """Base class of every error themeassist raises on purpose."""


class InputError(ThemeassistError, ValueError):
    """Bad input data: says where (file, row, column), what was expected and what was found.

    Rows are counted the way a spreadsheet shows them, with the header as row 1; for
    line-based formats (transcripts) ``row`` is the 1-based line number.

    Examples
    --------
    >>> str(InputError("theme not in the codebook", path="codings.csv", row=3,
    ...                column="theme", expected="one of 12 themes", got="Fundng"))
    "codings.csv:3 column 'theme': theme not in the codebook (expected one of 12 themes, got 'Fundng')"
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        expected: str | None = None,
        got: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path, self.row, self.column = path, row, column
        self.expected, self.got = expected, got

    def with_path(self, path: str | Path) -> InputError:
        """Return a copy of this error that names ``path`` (for cores that do not know it)."""
        return InputError(self.message, path=path, row=self.row, column=self.column,
                          expected=self.expected, got=self.got)

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.path, self.row) if p is not None)
        if self.column:
            where += f" column {self.column!r}" if where else f"column {self.column!r}"
        text = self.message
        if self.expected:
            text += f" (expected {self.expected}, got {self.got!r})"
        return f"{where}: {text}" if where else text


class ConfigError(ThemeassistError, ValueError):
    """A project or command configuration that cannot be used (unknown key, missing file)."""


class ModelError(ThemeassistError):
    """A model that cannot be used: missing, corrupted, or not matching the input."""


class OutputExistsError(ThemeassistError, FileExistsError):
    """An output already exists and ``--force`` was not given."""


class StorageError(ThemeassistError, OSError):
    """A file could not be read or written for a reason of the system, not of the data:
    a read-only file system, a full disk, a missing permission. Names the path and the cause.

    Examples
    --------
    >>> import errno
    >>> err = OSError(errno.ENOSPC, "No space left on device")
    >>> str(StorageError.from_oserror(err, "out/segments.csv"))
    'cannot write out/segments.csv: no space left on device (the disk is full)'
    """

    _HINTS = {"ENOSPC": "the disk is full", "EDQUOT": "the disk quota is exceeded"}

    def __init__(self, message: str, *, path: str | Path | None = None,
                 cause: str | None = None, errno: int | None = None) -> None:
        super().__init__(message)
        self.message, self.path, self.cause = message, path, cause
        self.errno = errno

    @classmethod
    def from_oserror(cls, err: OSError, path: str | Path | None = None,
                     action: str = "write") -> StorageError:
        """Wrap ``err``, naming ``path`` (what the user asked for), else the error's file."""
        import errno as _errno
        import os

        code = err.errno
        name = _errno.errorcode.get(code, "") if code is not None else ""
        cause = (err.strerror or (os.strerror(code) if code else None) or str(err)
                 or type(err).__name__)
        cause = cause[:1].lower() + cause[1:]
        hint = cls._HINTS.get(name)
        if hint and hint.lower() not in cause.lower():
            cause += f" ({hint})"
        where = path if path is not None else err.filename
        text = f"cannot {action} {where}: {cause}" if where is not None else \
            f"cannot {action}: {cause}"
        return cls(text, path=where, cause=cause, errno=code)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        return (_storage_error, (self.message, self.path, self.cause, self.errno))


def _storage_error(message, path, cause, errno):
    return StorageError(message, path=path, cause=cause, errno=errno)


class UndefinedStatisticWarning(UserWarning):
    """A statistic is undefined for this input (e.g. SD of one group, kappa of one category).

    The function that warns documents the outcome in its Notes and returns NaN or the value
    the caller chose; it never returns a silent NaN.
    """


class LittleDataWarning(UserWarning):
    """Too little data to learn or estimate something well; the result says how little."""
