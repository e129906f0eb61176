"""`themeassist suggest`: which segments to code next (active learning)."""

from __future__ import annotations

from pathlib import Path

import typer

from themeassist.cli._app import app
from themeassist.cli._util import (
    corpus_option,
    decided_option,
    echo,
    force_option,
    seed_option,
    user_errors,
)


@app.command("suggest")
def suggest_cli(
    model_dir: Path = typer.Option(..., "--model", "-m", file_okay=False,
                                   help="MODEL_DIR written by themeassist train."),
    corpus: Path = corpus_option(required=True),
    n: int = typer.Option(20, "-n", "--n", min=1, help="How many segments to suggest."),
    codings: Path = typer.Option(
        None, "--codings", "-c", dir_okay=False,
        help="Codings already made: those segments are never suggested."),
    decided: Path = decided_option(),
    out: Path = typer.Option(None, "--out", "-o", dir_okay=False,
                             help="Write the suggestions as a table (default: print them)."),
    embedding_model: Path = typer.Option(
        None, "--embedding-model",
        help="The embedding model folder, for a model not trained on the packaged encoder "
             "(a folder named inside the model folder is never loaded on its own say)."),
    seed: int = seed_option(),
    force: bool = force_option(),
) -> None:
    """List the uncoded segments that would most improve the model if coded next.

    Uncertain and diverse: high uncertainty, far from what is already coded.

    Example: themeassist suggest -m model/ -s segments.csv -c human.csv -n 20
    """
    with user_errors(outputs=[out], inputs=[model_dir, corpus, codings, decided],
                     command="suggest"):
        from themeassist import batch, classify, io

        if out is not None:
            io._check_writable(out, force)
        # The embedding path of `label`: the packaged encoder or the user's own folder
        # (never one the model folder names), checked against the model, with the cache.
        model, embedder = batch.load_labeller(
            str(model_dir), cache=True,
            embedding_model=None if embedding_model is None else str(embedding_model))
        segments = io.read_segments(corpus)
        coded = []
        if codings is not None:
            coded = io.read_codings(codings, model.codebook_, segments)["segment_id"].unique()
        if decided is not None:
            # read and left uncoded counts as decided too: never suggested again
            read = io.read_decisions(decided, segments)["segment_id"].unique()
            coded = sorted(set(coded) | set(read))
        emb = batch.embed_texts(embedder, segments["text"].tolist())
        picks = classify.suggest(model, segments, emb, n=n, coded_ids=coded, seed=seed)
        if out is not None:
            io.write_table(picks, out, force=force)
    if out is None:
        for r in picks.itertuples(index=False):
            text = r.text if len(r.text) <= 100 else r.text[:97] + "..."
            echo(f"{r.rank:3d}  {r.segment_id}  u={r.uncertainty:.2f}  {text}")
    else:
        echo(f"suggested {len(picks)} segments to code next; wrote {out}")
