"""The Typer application every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="themeassist",
    help="Local first-pass thematic analysis of focus-group transcripts, which measures "
         "itself against human coders. Nothing leaves this machine.\n\n"
         "Start with: themeassist demo --out demo-output",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
