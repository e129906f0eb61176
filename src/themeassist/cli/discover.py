"""`themeassist discover`: candidate subthemes from the transcripts (the inductive pass)."""

from __future__ import annotations

from pathlib import Path

import typer

from themeassist.cli._app import app
from themeassist.cli._util import corpus_option, echo, force_option, seed_option, user_errors, warn

#: What discover writes (DESIGN.md section 4 names the first two).
OUTPUTS = ("candidates.csv", "assignments.csv", "candidates.md", "map.html", "sizes.png",
           "sizes.svg", "discovery.json", "manifest.json")


@app.command("discover")
def discover_cli(
    corpus: Path = corpus_option(required=True),
    out: Path = typer.Option(..., "--out", "-o", file_okay=False,
                             help="Folder for candidates.csv, assignments.csv, candidates.md, "
                                  "map.html, sizes.png/.svg, discovery.json, manifest.json."),
    codebook: Path = typer.Option(
        None, "--codebook", "-b", dir_okay=False,
        help="Codebook table (theme, valence, subtheme, description): each candidate gets "
             "its nearest entry, or is marked new."),
    seed: int = seed_option(),
    runs: int = typer.Option(5, "--runs", min=1,
                             help="Seeded runs combined into the result and used to measure "
                                  "stability (seed, seed+1, ...)."),
    candidates: int = typer.Option(None, "--candidates", "-k", min=1,
                                   help="Number of candidates (default: from the corpus size)."),
    question_weight: float = typer.Option(
        0.5, "--question-weight", min=0.0,
        help="How much the question a segment answers pulls it towards the other answers "
             "(0 = ignore questions)."),
    min_words: int = typer.Option(4, "--min-words", min=0,
                                  help="Shorter segments are set aside, not clustered."),
    codebook_first: bool = typer.Option(
        False, "--codebook-first",
        help="Assign segments that clearly match a codebook entry first and cluster only "
             "the rest: what the codebook does not cover."),
    match_threshold: float = typer.Option(
        0.55, "--match-threshold",
        help="Cosine similarity at which a segment clearly matches an entry (codebook-first)."),
    embedding_model: str = typer.Option(
        "all-MiniLM-L6-v2", "--embedding-model",
        help="Packaged model name or local sentence-transformers folder."),
    force: bool = force_option(),
) -> None:
    """Propose candidate subthemes with labels, quotes, stability and nearest codebook entry.

    Only participant segments are clustered; facilitator turns, fillers and very short
    segments are set aside and counted.

    Example: themeassist discover -s segments.csv -b codebook.csv -o discovery/
    """
    with user_errors(outputs=[out], inputs=[corpus, codebook], command="discover"):
        import time
        import warnings

        from themeassist import discover, io
        from themeassist.embed import Embedder
        from themeassist.errors import InputError, LittleDataWarning

        started = time.perf_counter()
        if codebook_first and codebook is None:
            raise InputError("--codebook-first needs --codebook FILE")
        io.OutputDir(out, force=force, planned=OUTPUTS)  # refuse early, before embedding
        segments = io.read_segments(corpus)
        book = io.read_codebook(codebook) if codebook is not None else None
        embedder = Embedder(embedding_model, show_progress=True)
        t = time.perf_counter()
        emb = embedder.embed(segments["text"].astype(str).tolist())
        book_emb = embedder.embed(discover.codebook_texts(book)) if book is not None else None
        t_embed = time.perf_counter() - t
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LittleDataWarning)
            try:
                result = discover.discover(
                    segments, emb, codebook=book, codebook_embeddings=book_emb, seed=seed,
                    runs=runs, n_candidates=candidates, question_weight=question_weight,
                    min_words=min_words, codebook_first=codebook_first,
                    match_threshold=match_threshold)
            except InputError as err:
                raise (err if err.path else err.with_path(corpus)) from None
        for w in caught:
            warn(str(w.message))
        diag = dict(result.diagnostics)
        timings = {"embed": round(t_embed, 3), **diag.pop("timings", {})}
        with io.OutputDir(out, force=force, planned=OUTPUTS) as staged:
            io.write_discovery(staged, result.candidates, result.assignments, diag, segments,
                               title=f"Candidate subthemes: {corpus.name}")
            timings["total"] = round(time.perf_counter() - started, 3)
            staged.json(io.manifest(
                "discover",
                inputs={"corpus": corpus, "codebook": codebook},
                settings={**diag["settings"], "embedding_model": embedder.model_id},
                outputs=OUTPUTS,
                extra={"method": discover.METHOD},
                timings=timings), "manifest.json")
    numbers = discover.headline(diag)
    share, ari = numbers["outlier_share"], numbers["ari_mean"]
    echo(f"{diag['n_candidates']} candidates from {diag['n_clustered']} of "
         f"{diag['n_segments']} segments ({diag['n_set_aside']} set aside); "
         f"{100 * share:.1f}% unassigned"
         + (f"; ARI between runs {ari:.2f}" if ari is not None else "")
         + f"; wrote {len(OUTPUTS)} files to {out}")
