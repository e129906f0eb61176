"""``themeassist demo``: the whole pipeline on the bundled sample project."""

from __future__ import annotations

from pathlib import Path

import typer

from themeassist.cli._app import app
from themeassist.cli._util import echo, force_option, user_errors


@app.command("demo")
def demo_cli(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", file_okay=False,
                             help="Output folder."),
    seed: int = typer.Option(
        None, "--seed", help="Seed of the run: every stage's seed (discover, train and the "
                             "held-out labels, agree's bootstrap) derives from it, overriding "
                             "the project's seed settings (default: the project's `seed`, 0)."),
    force: bool = force_option(),
) -> None:
    """Run the whole pipeline on the bundled sample project: four synthetic focus groups
    (written for demonstration; no real participants) coded by two human coders against
    the reference study's codebook.

    Leaves in OUT the segments, candidate subthemes, the trained model (OUT/model/), the
    machine's codings, agreement, the study's statistics for each coder, figures and
    report.html.

    Example: themeassist demo --out demo-output
    """
    from themeassist import pipeline

    with user_errors():
        result = pipeline.run_project(pipeline.demo_project(), out, force=force, progress=echo, seed=seed)
    echo(f"done in {result.timings['total']:.0f} s; outputs in {result.out.resolve()}; "
         f"open {(result.out / 'report.html').resolve()}")
