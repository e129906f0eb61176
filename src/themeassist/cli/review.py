"""`themeassist review`: code and review pre-labels in a local browser app."""

from __future__ import annotations

from pathlib import Path

import typer

from themeassist.cli._app import app
from themeassist.cli._util import echo, seed_option, user_errors, warn


@app.command("review")
def review_cli(
    config: Path = typer.Argument(None, dir_okay=False, metavar="PROJECT.yaml",
                                  help="Project file (YAML): see configs/template.yaml."),
    coder: str = typer.Option(..., "--coder", help="Your name as a coder (the coder column "
                                                   "of the codings you export)."),
    corpus: Path = typer.Option(None, "--corpus", "-s", dir_okay=False,
                                help="Segments table instead of the project's transcripts."),
    codebook: Path = typer.Option(None, "--codebook", "-b", dir_okay=False,
                                  help="Codebook table instead of the project's."),
    codings: list[Path] = typer.Option(
        None, "--codings", "-c", dir_okay=False, metavar="FILE",
        help="Codings files instead of the project's (repeat -c for several); your rows (coder = --coder) are where "
             "you start from."),
    model: Path = typer.Option(None, "--model", "-m", file_okay=False,
                               help="MODEL_DIR of themeassist train: its embedding model (and "
                                    "codebook, without --codebook) are used."),
    candidates: Path = typer.Option(
        None, "--candidates", file_okay=False,
        help="Output folder of themeassist discover (default: the project's output/discover)."),
    out: Path = typer.Option(None, "--out", "-o", file_okay=False,
                             help="Folder of the journal and the exports (default: the "
                                  "project's output/review)."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to listen on. Anything but loopback lets others on "
                                  "your network reach the app (a warning is printed)."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port (0 = a free one)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open the browser."),
    retrain_every: int = typer.Option(
        None, "--retrain-every", min=0,
        help="Retrain the model after this many decisions (default 25, or the project's "
             "review.retrain_every; 0 = only on request)."),
    seed: int = seed_option(),
) -> None:
    """Review the machine's labels most doubtful first, code what it suggests, read whole
    transcripts and turn candidate subthemes into codebook entries, in your browser, while
    the model retrains on your decisions.

    The app listens on 127.0.0.1 and a free port and prints its URL with a token for this session
    (a new one at each start).
    Every decision is committed to OUT/review_<coder>.sqlite before the page shows it as
    saved; OUT/codings_<coder>.csv and OUT/decided_<coder>.csv are rewritten after each
    decision and on exit (themeassist run and train --decided read them).

    Example: themeassist review project.yaml --coder Ann
    """
    with user_errors():
        from themeassist.config import load_project
        from themeassist.errors import ConfigError
        from themeassist.review.launch import open_session, serve

        if config is None and corpus is None:
            raise ConfigError("give a project file or --corpus segments.csv")
        project = load_project(config) if config is not None else None
        session = open_session(project, coder, corpus=corpus, codebook=codebook,
                               codings=codings or None, model=model, candidates=candidates,
                               out=out, retrain_every=retrain_every, seed=seed, say=echo)
        browser = not no_browser and (project.review.open_browser if project else True)
        try:
            serve(session, host=host, port=port, open_browser=browser, say=echo, warn=warn)
        except KeyboardInterrupt:
            pass
    echo(f"review: stopped; your decisions are in {session.out}")
