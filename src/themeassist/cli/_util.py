"""Helpers shared by the command modules: error reporting, logging, common options."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from themeassist.errors import ThemeassistError


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn themeassist's own errors into one line on stderr and exit code 1.

    Anything else keeps its traceback: that is a bug, not a user error.
    """
    try:
        yield
    except ThemeassistError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None


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
