"""`themeassist train`: a pre-labelling model from human codings (or zero-shot)."""

from __future__ import annotations

from pathlib import Path

import typer

from themeassist.cli._app import app
from themeassist.cli._util import (
    codebook_option,
    corpus_option,
    decided_option,
    echo,
    force_option,
    seed_option,
    user_errors,
    warn,
)

#: Files train writes into MODEL_DIR besides the model itself (modelstore.FILES).
EXTRA_OUTPUTS = ("manifest.json",)


@app.command("train")
def train_cli(
    corpus: Path = corpus_option(required=True),
    codings: Path = typer.Option(
        None, "--codings", "-c", dir_okay=False,
        help="Human codings table; leave out for a zero-shot model from the codebook text."),
    codebook: Path = codebook_option(required=False),
    decided: Path = decided_option(),
    out: Path = typer.Option(..., "--out", "-o", file_okay=False,
                             help="MODEL_DIR: weights, model card and manifest."),
    evaluate: bool = typer.Option(
        False, "--evaluate",
        help="Cross-validate grouped by transcript; add kappa, AC1, F1, coverage curve and "
             "calibration to the model card, with figures."),
    folds: int = typer.Option(5, "--folds", min=2, help="Folds (by transcript) for calibration "
                                                        "and evaluation."),
    context: bool = typer.Option(True, "--context/--no-context",
                                 help="Use question, neighbouring segments and role as features."),
    feature_columns: str = typer.Option(
        "question,role", "--feature-columns",
        help="Segment columns used as categorical context features (one-hot), comma-separated "
             "(e.g. question,role,prompt)."),
    embedding_model: str = typer.Option(
        "all-MiniLM-L6-v2", "--embedding-model",
        help="Packaged model name or local sentence-transformers folder."),
    embedding: str = typer.Option(
        "sentence-transformer", "--embedding",
        help="sentence-transformer (default), or static: a model2vec model distilled locally "
             "from the embedding model. Static is a DRAFT mode: labelling is about 100x "
             "faster, but its similarities track MiniLM's poorly (Spearman about 0.56) and it "
             "costs agreement (kappa about 0.01-0.03 lower on the usability data). Use it for a "
             "quick first pass over very large batches, not for the pre-labels you report."),
    min_support: int = typer.Option(
        2, "--min-support", min=0,
        help="A code with fewer human examples backs off one level (parent in a path "
             "'a > b > c', then theme) unless its probability reaches the review threshold."),
    backoff: float = typer.Option(
        0.0, "--backoff", min=0.0, max=1.0,
        help="A code whose probability is below it backs off one level, whatever its support."),
    scope: str = typer.Option(
        "auto", "--scope",
        help="Code scope: auto (the codebook's question column, e.g. '1;3', else learnt from "
             "the human coding), codebook, learnt or none."),
    codable_rate: float = typer.Option(
        None, "--codable-rate", min=0.0, max=1.0,
        help="Zero-shot only: share of segments labelled (default from the corpus: 1.0 "
             "without facilitator turns, e.g. survey answers or quotes; else 0.35)."),
    seed: int = seed_option(),
    force: bool = force_option(),
) -> None:
    """Train a calibrated pre-labelling model on human codings (or zero-shot from the codebook).

    Example: themeassist train -s segments.csv -c human.csv -b codebook.csv -o model/ --evaluate
    """
    with user_errors(outputs=[out], inputs=[corpus, codings, codebook], command="train"):
        import time
        import warnings

        from themeassist import classify, io, modelstore
        from themeassist.errors import LittleDataWarning
        from themeassist.static_embed import make_embedder

        from themeassist.errors import ConfigError

        if scope not in classify.SCOPES:
            raise ConfigError(f"--scope must be one of {', '.join(classify.SCOPES)}, got {scope!r}")
        started = time.perf_counter()
        planned = list(modelstore.FILES) + list(EXTRA_OUTPUTS) + (
            list(modelstore.EVALUATION_FILES) if evaluate else [])
        io.OutputDir(out, force=force, planned=planned)  # refuse early, before any work
        segments = io.read_segments(corpus)
        book = io.read_codebook(codebook)
        human = io.read_codings(codings, book, segments) if codings is not None else None
        decided_ids = (io.read_decisions(decided, segments)["segment_id"].unique().tolist()
                       if decided is not None else None)
        embedder = make_embedder(embedding_model, embedding, show_progress=True)
        emb = embedder.embed(segments["text"].tolist())
        book_emb = embedder.embed(classify.codebook_texts(book))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LittleDataWarning)
            model = classify.train_model(
                segments, human, book, emb, seed=seed, context=context,
                codebook_embeddings=book_emb, embedding_model=embedder.model_id,
                embedding_source=getattr(embedder, "source", str(embedding_model)),
                evaluate=evaluate, folds=folds, decided=decided_ids, min_support=min_support,
                backoff=backoff, scope=scope, zero_shot_codable_rate=codable_rate or None,
                categorical=[c.strip() for c in feature_columns.split(",") if c.strip()])
        for w in caught:
            if issubclass(w.category, LittleDataWarning):
                warn(str(w.message))
        with io.OutputDir(out, force=force, planned=planned) as staged:
            modelstore.write_model(staged, model, evaluation=evaluate)
            staged.json(io.manifest(
                "train", inputs={"corpus": corpus, "codings": codings, "codebook": codebook,
                        "decided": decided},
                settings={**model.settings_, "embedding_model": model.embedding_model_},
                outputs=planned, extra={"model": model.name_},
                timings={"total_seconds": round(time.perf_counter() - started, 2)}),
                "manifest.json")
    kind = "zero-shot model" if model.zero_shot_ else "model"
    echo(f"trained {kind} {model.name_} on {model.training_.get('n_codings', 0)} codings; "
         f"wrote {out}")
    if model.evaluation_:
        echo(evaluation_summary(model.evaluation_))
        echo(f"label flags 'needs review' below confidence {model.threshold_:.3f} (this model's "
             f"threshold; --threshold overrides)")
        echo(f"model card: {Path(out) / 'model_card.md'}")


def evaluation_summary(ev: dict) -> str:
    """The cross-validation figures a user reads first, as a small text table."""
    lines = [f"cross-validated over {ev['folds']} folds grouped by transcript:",
             f"  {'level':8s} {'n':>5s} {'kappa':>6s} {'AC1':>6s} {'acc':>6s} {'macroF1':>8s}"]
    for name, m in ev["levels"].items():
        lines.append(f"  {name:8s} {m['n']:5d} {m['kappa']:6.2f} {m['ac1']:6.2f} "
                     f"{m['accuracy']:6.2f} {m['macro_f1']:8.2f}")
    lines.append(f"  50% most confident: code kappa {ev['kappa_top50']:.2f}; calibration error "
                 f"(ECE) {ev['ece']:.3f}")
    for name, m in (ev.get("sets") or {}).items():
        lines.append(f"  code sets ({name}): MASI alpha {m['masi_alpha']:.2f}, per-code F1 "
                     f"(macro) {m['per_code_f1_macro']:.2f}, {m['mean_set_size_predicted']:.2f} "
                     f"codes per segment (human {m['mean_set_size_human']:.2f})")
    return "\n".join(lines)
