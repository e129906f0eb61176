"""`themeassist label`: placeholder until its issue lands."""

from __future__ import annotations

import typer

from themeassist.cli._app import app


@app.command("label")
def label_cli() -> None:
    """Not built yet."""
    typer.secho("error: 'label' is not built yet", err=True)
    raise typer.Exit(2)
