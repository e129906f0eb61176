"""`themeassist label`: pre-label a corpus or a batch of transcripts with a trained model.

Streams in chunks (bounded memory), resumes an interrupted run, and can spread the chunks
over a Dask cluster; see :mod:`themeassist.batch`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from themeassist.cli._app import app
from themeassist.cli._util import decided_option, echo, finite, force_option, user_errors, warn


@app.command("label")
def label_cli(
    inputs: list[str] = typer.Argument(
        None, metavar="TRANSCRIPTS",
        help="Transcripts to ingest and label in one go: files, folders or glob patterns "
             "(.txt, .vtt, .docx, .csv, .xlsx), ingested with the project's ingest settings "
             "(--config) and questions; or one segments table instead of --corpus."),
    corpus: Path = typer.Option(None, "--corpus", "-s", dir_okay=False,
                                help="Segments table (CSV, Parquet or XLSX), as written by "
                                     "ingest."),
    model_dir: Path = typer.Option(..., "--model", "-m", file_okay=False,
                                   help="MODEL_DIR written by themeassist train."),
    out: Path = typer.Option(..., "--out", "-o", dir_okay=False,
                             help="Codings table to write (CSV, Parquet or XLSX); coder = the "
                                  "model's name. OUT's manifest goes beside it."),
    threshold: float = typer.Option(
        None, "--threshold", "-t", min=0.0, max=1.0, callback=finite,
        help="Confidence below which a label needs review (default: the model's, chosen "
             "from its cross-validated coverage-agreement curve)."),
    codebook: Path = typer.Option(
        None, "--codebook", "-b", dir_okay=False,
        help="Check that this codebook is the one the model was trained on (refused if not)."),
    all_segments: bool = typer.Option(
        False, "--all-segments",
        help="Also write a row for each segment judged not codable (level 'none'), so every "
             "segment's codable probability is in the output."),
    config: Path = typer.Option(
        None, "--config", "-p", dir_okay=False,
        help="Project file whose ingest settings and questions are used for transcripts."),
    questions: Path = typer.Option(
        None, "--questions", "-q", dir_okay=False,
        help="questions.yaml for transcripts (overrides the project's questions)."),
    chunk_size: int = typer.Option(
        2048, "--chunk-size", min=1,
        help="Segments per chunk: bounds memory and is the unit saved for --resume. Labels do "
             "not depend on it."),
    resume: bool = typer.Option(
        True, "--resume/--no-resume",
        help="Continue an interrupted run (same arguments) from its saved chunks in "
             "OUT.parts/; --no-resume starts over."),
    workers: int = typer.Option(
        0, "--workers", min=0,
        help="Label chunks on a local Dask cluster of N worker processes (each loads the "
             "model once)."),
    scheduler: str = typer.Option(
        None, "--scheduler",
        help="Address of an existing Dask scheduler (e.g. tcp://10.0.0.5:8786, or a "
             "dask-jobqueue SLURM/PBS cluster); workers need themeassist installed and the "
             "model folder on a shared file system."),
    strict: bool = typer.Option(
        False, "--strict",
        help="Stop at the first malformed transcript instead of reporting and skipping it."),
    embedding_model: Path = typer.Option(
        None, "--embedding-model",
        help="The embedding model folder, for a model not trained on the packaged encoder "
             "(a folder named inside the model folder is never loaded on its own say)."),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="Progress bar on stderr (segments, rate, time left)."),
    coder: str = typer.Option(
        None, "--coder",
        help="Coder name of every row (default: the model's, model:NAME); e.g. one name for "
             "the outputs of fold-wise models, so that agree reads them as one coder."),
    decided: Path = decided_option(),
    codings: Path = typer.Option(
        None, "--codings", "-c", dir_okay=False,
        help="With --skip-decided: the human's codings (e.g. codings_<coder>.csv of "
             "themeassist review)."),
    skip_decided: bool = typer.Option(
        False, "--skip-decided",
        help="Write the whole coding: the human's codes on the --decided segments, the "
             "model's elsewhere (a 'source' column says which). Needs --corpus, --decided "
             "and --codings."),
    force: bool = force_option(),
) -> None:
    """Pre-label segments with theme, valence, subtheme and a calibrated confidence.

    Examples: themeassist label -s segments.csv -m model/ -o machine.csv;
    themeassist label wave2/*.docx -p project.yaml -m model/ -o wave2.parquet --workers 2.
    An interrupted run continues when re-run with the same arguments; a completed one is
    left as it is. A model trained with the static embedding (train.embedding: static) is
    a draft mode: about 80-200x faster end to end on 2 cores, but its similarities track
    MiniLM's only loosely and its labels agree less with human coders (Cohen's kappa 0.01
    lower per code and 0.03 lower on what to code, on the usability study).
    To review the pre-labels in NVivo, ATLAS.ti or MAXQDA, export them with the transcripts:
    themeassist qda export -s segments.csv -c machine.csv -b codebook.csv -o review.qdpx.
    """
    with user_errors(outputs=[out], command="label",
                     inputs=[*(Path(i) for i in inputs or []), corpus, model_dir, codebook,
                             config, questions, embedding_model]):
        import os

        from themeassist import batch, io, modelstore
        from themeassist.config import load_project, load_questions
        from themeassist.errors import ConfigError

        if skip_decided or decided is not None or codings is not None:
            result = _label_whole_coding(corpus, inputs, model_dir, out, decided, codings,
                                         skip_decided, threshold, all_segments, force, coder)
            echo(result)
            return
        items = list(inputs or [])
        if corpus is not None and items:
            raise ConfigError("give either --corpus or transcripts, not both")
        if corpus is not None:
            items = [str(corpus)]
        if not items:
            raise ConfigError("nothing to label: give --corpus segments.csv or transcript files")
        if workers and scheduler:
            raise ConfigError("give either --workers or --scheduler, not both")
        ingest_settings, guide = None, []
        # the embedding cache when one is configured ($THEMEASSIST_CACHE, or the project's
        # embedding.cache): vectors train or run computed are reused, byte for byte
        use_cache = bool(os.environ.get("THEMEASSIST_CACHE"))
        if config is not None:
            project = load_project(config, check_files=False)
            if project.embedding.cache:
                use_cache = str(project.resolve(project.embedding.cache))
            ingest_settings = project.ingest
            q = project.questions
            guide = load_questions(project.resolve(q) if isinstance(q, str) else q)
        if questions is not None:
            guide = load_questions(questions)
        if codebook is not None:
            model = modelstore.load_model(model_dir)
            modelstore.check_compatible(model, codebook=io.read_codebook(codebook))
        client, cluster = None, None
        try:
            if workers or scheduler:
                from distributed import Client, LocalCluster

                if workers:
                    cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
                    client = Client(cluster)
                else:
                    client = Client(scheduler)
            threads = max(1, (os.cpu_count() or 1) // workers) if workers else None
            result = batch.label_batch(
                items, model_dir, out, threshold=threshold, all_segments=all_segments,
                chunk_size=chunk_size, resume=resume, force=force, strict=strict, cache=use_cache,
                questions=guide, ingest_settings=ingest_settings, client=client,
                worker_threads=threads, progress=progress, embedding_model=embedding_model,
                coder=coder)
        except KeyboardInterrupt:
            typer.secho(f"interrupted: the labelled chunks are saved in "
                        f"{batch.parts_folder(out)}; run the same command again to continue",
                        err=True, fg=typer.colors.YELLOW)
            raise typer.Exit(130) from None
        finally:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
    for s in result.skipped:
        warn(f"skipped {s['file']}: {s['reason']}")
    if result.already_complete:
        echo(f"{out} is already complete for these inputs and settings; nothing to do")
        return
    files = (f" from {result.files} transcripts ({len(result.skipped)} skipped)"
             if result.skipped or (corpus is None and result.files > 1) else "")
    resumed = f", {result.chunks_resumed} chunks resumed" if result.chunks_resumed else ""
    echo(f"labelled {result.coded} of {result.segments} segments{files} ({result.codings} "
         f"rows, {result.review} need review) with {result.model} in {result.seconds:.0f} s "
         f"({result.rate:.0f} segments/s{resumed}); wrote {out}")


def _label_whole_coding(corpus, inputs, model_dir, out, decided, codings, skip_decided,
                        threshold, all_segments, force, coder=None) -> str:
    """``label --skip-decided``: human where decided, machine elsewhere, in one table."""
    import time

    from themeassist import batch, io, tables
    from themeassist.errors import ConfigError
    from themeassist.review import engine

    if not skip_decided:
        raise ConfigError("--decided and --codings go with --skip-decided (the whole coding)")
    if corpus is None or inputs:
        raise ConfigError("--skip-decided needs --corpus segments.csv (not transcript files)")
    if decided is None or codings is None:
        raise ConfigError("--skip-decided needs --decided FILE and --codings FILE")
    started = time.perf_counter()
    coder = batch.check_coder_name(coder)
    io._check_writable(Path(out), force)
    model, embedder = batch.load_labeller(str(model_dir), cache=True)
    segments = io.read_segments(corpus)
    read = io.read_decisions(decided, segments)["segment_id"].unique().tolist()
    human = io.read_codings(codings, model.codebook_, segments)
    emb = embedder.embed(segments["text"].tolist())
    machine = model.predict_codings(segments, emb, threshold=threshold,
                                    all_segments=all_segments)
    whole = engine.whole_coding(machine, human, read)
    if coder is not None:  # --coder names the whole coding (the source column says who)
        whole["coder"] = coder
    tables.validate_codings(whole[whole["theme"] != ""] if all_segments else whole,
                            model.codebook_, segments)
    io.write_table(whole, out, force=force)
    io.write_json(io.manifest(
        "label", inputs={"corpus": corpus, "decided": decided, "codings": codings,
                         "model": [Path(model_dir) / "model_card.json"]},
        settings={"threshold": model.threshold_ if threshold is None else threshold,
                  "all_segments": all_segments, "skip_decided": True},
        outputs=[out], extra={"model": model.name_},
        timings={"total_seconds": round(time.perf_counter() - started, 2)}),
        batch.manifest_path(out), force=True)
    n_h = int((whole["source"] == "human").sum())
    return (f"wrote the whole coding of {len(segments)} segments to {out}: {n_h} human codes on "
            f"{len(read)} decided segments, {len(whole) - n_h} machine rows elsewhere")
