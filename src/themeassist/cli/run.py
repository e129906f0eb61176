"""`themeassist run`: placeholder until its issue lands."""

from __future__ import annotations

import typer

from themeassist.cli._app import app


@app.command("run")
def run_cli() -> None:
    """Not built yet."""
    typer.secho("error: 'run' is not built yet", err=True)
    raise typer.Exit(2)
