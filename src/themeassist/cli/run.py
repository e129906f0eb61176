"""``themeassist run``: the whole pipeline on a project file."""

from __future__ import annotations

from pathlib import Path

import typer

from themeassist.cli._app import app
from themeassist.cli._util import echo, force_option, user_errors


@app.command("run")
def run_cli(
    config: Path = typer.Argument(..., dir_okay=False,
                                  help="Project file (YAML): see configs/template.yaml."),
    out: Path = typer.Option(None, "--out", "-o", file_okay=False,
                             help="Output folder (default: the project's `output`)."),
    seed: int = typer.Option(
        None, "--seed", help="Seed of the run: every stage's seed (discover, train and the "
                             "held-out labels, agree's bootstrap) derives from it, overriding "
                             "the project's seed settings (default: the project's `seed`, 0)."),
    force: bool = force_option(),
) -> None:
    """Run every stage on a project: ingest, discover, train (with grouped cross-validated
    evaluation), label, agree, stats and the HTML report.

    Stages whose inputs are missing are skipped with a message; re-running reuses cached
    embeddings and unchanged stages. The project file is checked (unknown keys, missing
    files) before any work starts.

    Example: themeassist run configs/demo.yaml --out results/
    """
    from themeassist import pipeline
    from themeassist.config import load_project

    with user_errors():
        project = load_project(config)
        result = pipeline.run_project(project, out, force=force, progress=echo, seed=seed)
    echo(f"done in {result.timings['total']:.0f} s; open {result.out / 'report.html'}")
