"""`themeassist qda`: placeholder until its issue lands."""

from __future__ import annotations

import typer

from themeassist.cli._app import app


@app.command("qda")
def qda_cli() -> None:
    """Not built yet."""
    typer.secho("error: 'qda' is not built yet", err=True)
    raise typer.Exit(2)
