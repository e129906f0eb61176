"""`themeassist discover`: placeholder until its issue lands."""

from __future__ import annotations

import typer

from themeassist.cli._app import app


@app.command("discover")
def discover_cli() -> None:
    """Not built yet."""
    typer.secho("error: 'discover' is not built yet", err=True)
    raise typer.Exit(2)
