"""`themeassist agree`: placeholder until its issue lands."""

from __future__ import annotations

import typer

from themeassist.cli._app import app


@app.command("agree")
def agree_cli() -> None:
    """Not built yet."""
    typer.secho("error: 'agree' is not built yet", err=True)
    raise typer.Exit(2)
