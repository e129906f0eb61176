"""Helpers shared by the command modules: error reporting, logging, common options."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from themeassist.errors import ConfigError, StorageError, ThemeassistError


@contextmanager
def user_errors(*, outputs: Iterable[Path | None] = (),
                inputs: Iterable[Path | str | None] = (),
                command: str | None = None) -> Iterator[None]:
    """Turn themeassist's own errors into one line on stderr and exit code 1.

    An ``OSError`` (read-only file system, disk full, no permission) is the system's, not
    a bug: it is reported the same way, naming the path and the cause. Anything else
    keeps its traceback: that is a bug, not a user error.

    With ``outputs``, guards them for the block (see :func:`writing`): an output that is
    one of ``inputs`` is refused, ``--force`` or not, and each output is locked so that a
    second command writing it stops with a message naming the first.
    """
    try:
        with writing(outputs, inputs=inputs, command=command):
            yield
    except ThemeassistError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    except OSError as err:
        typer.secho(f"error: {StorageError.from_oserror(err, action='use')}", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(1) from None



def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def _inside(path: Path, folder: Path) -> bool:
    try:
        return Path(os.path.realpath(folder)) in Path(os.path.realpath(path)).parents
    except OSError:
        return False


def check_not_input(outputs: Iterable[Path | None], inputs: Iterable[Path | str | None], *,
                    contain: bool = False) -> None:
    """Refuse an output that is one of the inputs, ``--force`` or not: an input is never
    overwritten. With ``contain`` an output folder that holds an input is refused too (a
    run rewrites, and with ``--force`` clears, files all over its folder).

    Raises
    ------
    ConfigError
        Naming the output and the input it would overwrite.
    """
    ins = [Path(i) for i in inputs if i is not None]
    for out in outputs:
        if out is None:
            continue
        out = Path(out)
        for i in ins:
            if _same_file(out, i) or (contain and _inside(i, out)):
                raise ConfigError(f"--out {out} is an input ({i}); inputs are never "
                                  "overwritten, even with --force: choose another output")


@contextmanager
def writing(outputs: Iterable[Path | None], *, inputs: Iterable[Path | str | None] = (),
            command: str | None = None, contain: bool = False) -> Iterator[None]:
    """Guard a command's outputs: none is an input, and each is locked while it runs.

    The locks (:mod:`themeassist.locking`) make a second command writing the same output
    stop with a message naming the first; a failed or refused command leaves no lock file
    and no folder made only for it.
    """
    from themeassist.io import clean_staging
    from themeassist.locking import locked

    outputs = [Path(o) for o in outputs if o is not None]
    check_not_input(outputs, inputs, contain=contain)
    with locked(outputs, command=command):
        for out in outputs:  # what a killed writer of this output left beside it
            clean_staging(out.parent, names=[out.name])
        yield


def finite(value: float | None) -> float | None:
    """Typer callback: refuse NaN and infinity (``click.FloatRange`` lets NaN through)."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"must be a finite number, got {value}")
    return value


def setup_logging(verbose: bool = False) -> None:
    """Send library log messages to stderr (the library itself adds no handlers)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def echo(message: str) -> None:
    """One summary line on stdout."""
    typer.echo(message)


def warn(message: str) -> None:
    typer.secho(f"warning: {message}", err=True, fg=typer.colors.YELLOW)


# Option factories, so that the same option has the same name, short form and help
# everywhere (--out/-o, --seed, --force).
def force_option() -> bool:
    return typer.Option(False, "--force", help="Overwrite existing outputs.")


def seed_option(default: int = 0) -> int:
    return typer.Option(default, "--seed", help="Seed for every random step (same seed, same output).")


def corpus_option(required: bool = True) -> Path:
    return typer.Option(... if required else None, "--corpus", "-s", dir_okay=False,
                        help="Segments table (CSV, Parquet or XLSX), as written by ingest.")


def decided_option() -> Path:
    return typer.Option(
        None, "--decided", dir_okay=False,
        help="Decisions table (segment_id, coder, decided_at): the segments a human has read, "
             "coded or not, e.g. decided_<coder>.csv of themeassist review. Default: every "
             "segment of a transcript with at least one code.")


def codebook_option(required: bool = False) -> Path:
    return typer.Option(... if required else None, "--codebook", "-b", dir_okay=False,
                        help="Codebook table (theme, valence, subtheme"
                             + ("" if required else "; default: the bundled reference codebook")
                             + ").")
