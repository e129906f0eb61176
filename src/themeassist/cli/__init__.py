"""Command line: one module per command, each a thin Typer layer over library functions.

Command modules import only light things at the top (typer, pathlib); heavy libraries are
imported inside the command that needs them, so that ``themeassist --help`` is instant.
Nothing imports ``themeassist.cli``.
"""

from __future__ import annotations

import importlib

import typer

from themeassist import __version__
from themeassist.cli._app import app

#: Command modules, in the order their commands appear in ``--help``.
COMMAND_MODULES = ("demo", "run", "ingest", "discover", "train", "label", "suggest",
                   "agree", "stats", "qda", "review")

for _name in COMMAND_MODULES:
    importlib.import_module(f"themeassist.cli.{_name}")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"themeassist {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each stage does."),
) -> None:
    from themeassist.cli._util import setup_logging

    setup_logging(verbose)


def main() -> None:
    app()
