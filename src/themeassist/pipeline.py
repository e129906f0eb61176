"""The project runner behind ``themeassist run`` and ``themeassist demo``.

An edge module, like :mod:`themeassist.io`: it reads a project's inputs, calls the pure
cores stage by stage, and writes every output. Stages whose inputs are missing are skipped
with a message (no human coding: a zero-shot model and no agreement). Re-runs reuse the
embedding cache and every stage whose inputs and settings are unchanged (a stage key =
hash of its inputs, settings and upstream keys, kept in ``.stages.json``).

Output layout (``DIR``):

- ``segments.csv``, ``ingest_summary.csv``
- ``discover/`` candidates.csv, assignments.csv, map.html, sizes.png/.svg
- ``model/`` the trained model and its model card; ``machine.csv`` the machine's codings
- ``agreement/<a>_vs_<b>/`` agreement.json, per_code.csv, disagreements.csv, ...
- ``stats/`` per coder and the comparison
- ``report.html`` and ``figures/``; ``manifest.json``
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from themeassist import io, ownership, tables
from themeassist.config import Project, load_project, load_questions

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def safe_name(name: str) -> str:
    """A coder or model name made safe as a folder name.

    Examples
    --------
    >>> safe_name("model:all-MiniLM-L6-v2@53aa51172d14")
    'model-all-MiniLM-L6-v2-53aa51172d14'
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "coder"


@dataclass
class RunResult:
    """What a run produced: paths, in-memory tables and per-stage messages."""

    out: Path
    stages: dict[str, str] = field(default_factory=dict)  # stage -> "ran" | "reused" | "skipped: why"
    timings: dict[str, float] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


def _key(*parts: Any) -> str:
    return hashlib.sha256(io.json_dumps(list(parts)).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- stage cache
class StageCache:
    """Remembers each stage's key in ``DIR/.stages.json`` so unchanged stages are reused."""

    FILE = ".stages.json"

    def __init__(self, out: Path):
        self.path = out / self.FILE
        try:
            self.keys: dict[str, str] = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            self.keys = {}

    def fresh(self, stage: str, key: str, *outputs: Path) -> bool:
        return self.keys.get(stage) == key and all(p.exists() for p in outputs)

    def done(self, stage: str, key: str) -> None:
        self.keys[stage] = key
        io.atomic_write_text(self.path, io.json_dumps(self.keys), force=True)


def _write_dir(out: Path, writer: Callable[[io.OutputDir], None]) -> list[Path]:
    """Write a stage's files into ``out`` (replacing that stage's earlier files)."""
    with io.OutputDir(out, force=True) as staged:
        writer(staged)
    return staged.written


# --------------------------------------------------------------------------- the stages
@ownership.locked_run  # one writer per output folder (themeassist.locking)
def run_project(project: Project, out: Path | None = None, *, force: bool = False,
                progress: Progress | None = None, bootstrap: int | None = None) -> RunResult:
    """Run every stage of a project; see the module docstring for what is written where.

    Parameters
    ----------
    project : Project
        A validated project (:func:`themeassist.config.load_project`).
    out : path, optional
        Output folder; default ``project.output`` relative to the project file.
    force : bool
        Write into a non-empty folder that holds no earlier run, or replace another
        project's run (see :mod:`themeassist.ownership` for what is deleted: only the
        files its manifest lists).
    progress : callable, optional
        Called with one line per stage (the CLI prints it).
    bootstrap : int, optional
        Overrides ``agree.bootstrap`` (resamples for the confidence intervals).
    """
    say = progress or (lambda msg: log.info(msg))
    out = Path(out) if out is not None else project.resolve(project.output)
    claim = ownership.claim_run_folder(out, project.name, force=force)
    cache = StageCache(out)
    result = RunResult(out=out)
    started_all = time.perf_counter()

    def timed(stage: str):
        class _T:
            def __enter__(self_inner):
                self_inner.t = time.perf_counter()

            def __exit__(self_inner, *exc):
                result.timings[stage] = round(time.perf_counter() - self_inner.t, 3)
        return _T()

    # 1. ingest ---------------------------------------------------------------------------
    with timed("ingest"):
        segments, summary = _ingest(project)
        _write_dir(out, lambda st: (st.table(segments, "segments.csv"),
                                    st.table(summary, "ingest_summary.csv")))
    result.stages["ingest"] = "ran"
    result.data.update(segments=segments, ingest_summary=summary)
    participants = segments[segments["role"] != "facilitator"]
    say(f"ingest: {segments['transcript_id'].nunique()} transcripts, {len(segments)} segments "
        f"({len(participants)} from participants)")
    for w in summary.attrs.get("warnings", []):
        say(f"ingest warning: {w}")

    # 2. codebook and human codings --------------------------------------------------------
    codebook = (io.read_codebook(project.resolve(project.codebook)) if project.codebook
                else io.default_codebook())
    codings_paths = [project.resolve(c) for c in project.codings]
    human = (io.read_codings(codings_paths, codebook, segments) if codings_paths
             else pd.DataFrame(columns=list(tables.CODING_REQUIRED)))
    human_coders = list(dict.fromkeys(human["coder"])) if len(human) else []
    result.data.update(codebook=codebook, human=human, human_coders=human_coders)

    # 3. embeddings (cached on disk by model and text) ------------------------------------
    from themeassist.embed import Embedder, default_cache_path

    with timed("embed"):
        cache_path = project.resolve(project.embedding.cache) if project.embedding.cache \
            else default_cache_path()
        embedder = Embedder(project.embedding.model, batch_size=project.embedding.batch_size,
                            cache=cache_path)
        vectors = embedder.embed(segments["text"].tolist())
        from themeassist.tables import codebook_texts

        book_vectors = embedder.embed(codebook_texts(codebook))
    result.data.update(embedding_model=embedder.model_id)
    say(f"embed: {len(vectors)} segments with {embedder.model_id}")
    # The classifier may use the static draft-mode embedding (TrainSettings.embedding);
    # discovery always uses the sentence-transformer.
    train_embedder, train_vectors, train_book_vectors = embedder, vectors, book_vectors
    if project.train.embedding != "sentence-transformer":
        from themeassist.static_embed import make_embedder

        train_embedder = make_embedder(project.embedding.model, project.train.embedding,
                                       cache=cache_path, show_progress=True)
        train_vectors = train_embedder.embed(segments["text"].tolist())
        train_book_vectors = train_embedder.embed(codebook_texts(codebook))
        say(f"embed: {len(vectors)} segments with {train_embedder.model_id} for the classifier")
    inputs_key = _key(io.frame_sha256(segments), io.frame_sha256(codebook),
                      io.frame_sha256(human), embedder.model_id)

    # 4. discover ---------------------------------------------------------------------------
    with timed("discover"):
        result.stages["discover"] = _discover_stage(project, out, cache, inputs_key, segments,
                                                    vectors, codebook, book_vectors, result)
    say(f"discover: {result.stages['discover']}")

    # 5. train, evaluate, label -------------------------------------------------------------
    with timed("train"):
        result.stages["train"] = _train_stage(project, out, cache, inputs_key, segments,
                                              train_vectors, codebook, train_book_vectors, human,
                                              train_embedder, result)
    say(f"train: {result.stages['train']}")
    with timed("label"):
        result.stages["label"] = _label_stage(project, out, cache, inputs_key, segments,
                                              train_vectors, codebook, train_book_vectors, human,
                                              result)
    say(f"label: {result.stages['label']}")

    # 6. agreement ---------------------------------------------------------------------------
    with timed("agree"):
        result.stages["agree"] = _agree_stage(project, out, segments, codebook, human,
                                              result, bootstrap)
    say(f"agree: {result.stages['agree']}")

    # 7. statistics ------------------------------------------------------------------------
    with timed("stats"):
        result.stages["stats"] = _stats_stage(project, out, segments, codebook, human, result)
    say(f"stats: {result.stages['stats']}")

    # 8. report ------------------------------------------------------------------------------
    with timed("report"):
        from themeassist.report.project import build_report

        page = build_report(project, result)
        io.atomic_write_text(out / "report.html", page, force=True)
    result.stages["report"] = "ran"
    say(f"report: {out / 'report.html'}")

    result.timings["total"] = round(time.perf_counter() - started_all, 3)
    inputs = {"transcripts": project.transcript_paths() if not project.segments else [],
              "segments": project.resolve(project.segments),
              "codebook": project.resolve(project.codebook),
              "codings": codings_paths}
    if isinstance(project.questions, str):
        inputs["questions"] = project.resolve(project.questions)
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                     if p.is_file() and p.name != "manifest.json"
                     and not any(part.startswith(".") for part in p.relative_to(out).parts)
                     and ownership.is_own(out, p, claim))
    io.write_json(io.manifest(
        "run", inputs=inputs,
        settings=project.model_dump(mode="json", exclude={"base_dir"}),
        outputs=[], timings=result.timings,
        extra={"project": project.name, "stages": result.stages, "files": written,
               "embedding_model": embedder.model_id,
               "model": result.data.get("model_name"),
               "methods": _methods()}),
        out / "manifest.json", force=True)
    return result


def _methods() -> dict[str, str]:
    from themeassist.ingest import METHODS

    return {**{f"ingest.{k}": v for k, v in METHODS.items()},
            "labels": "held-out-by-transcript.v1"}


def _ingest(project: Project) -> tuple[pd.DataFrame, pd.DataFrame]:
    if project.segments:
        segments = io.read_segments(project.resolve(project.segments))
        summary = (segments.groupby("transcript_id", sort=False)
                   .agg(segments=("segment_id", "size")).reset_index())
        summary.attrs["warnings"] = []
        return segments, summary
    from themeassist.ingest import ingest_files

    questions = load_questions(project.resolve(project.questions)
                               if isinstance(project.questions, str) else project.questions)
    return ingest_files(project.transcript_paths(), questions, project.ingest)


def _read_typed(path: Path) -> pd.DataFrame:
    """Read back a table this runner wrote (numbers as numbers, JSON lists as lists)."""
    df = io.read_csv_typed(path)  # neutralised spreadsheet formulas restored
    for col in df.columns:
        if df[col].dtype == object and df[col].astype(str).str.startswith("[").all():
            df[col] = df[col].map(json.loads)
    return df


def _participant_mask(segments: pd.DataFrame) -> pd.Series:
    return segments["role"] != "facilitator"


def _discover_stage(project, out, cache, inputs_key, segments, vectors, codebook,
                    book_vectors, result) -> str:
    from themeassist import discover
    from themeassist.report import discover_figures as figs

    settings = project.discover.model_dump(mode="json")
    key = _key("discover", inputs_key, settings, discover.METHOD)
    folder = out / "discover"
    if cache.fresh("discover", key, folder / "candidates.csv", folder / "assignments.csv"):
        cand = _read_typed(folder / "candidates.csv")
        result.data.update(candidates=cand, assignments=_read_typed(folder / "assignments.csv"),
                           discovery=json.loads((folder / "discovery.json").read_text("utf-8")))
        return f"reused {len(cand)} candidate subthemes"
    mask = _participant_mask(segments).to_numpy()
    part = segments[mask].reset_index(drop=True)
    kwargs = {k: v for k, v in settings.items() if v is not None}
    found = discover.discover(part, vectors[mask], codebook=codebook,
                              codebook_embeddings=book_vectors,
                              **kwargs)
    # Timings go to the run manifest, so that discovery.json is the same on every run.
    diag = {k: v for k, v in found.diagnostics.items() if k != "timings"}
    result.timings.update({f"discover.{k}": v
                           for k, v in found.diagnostics.get("timings", {}).items()})

    def write(st):
        st.table(found.candidates, "candidates.csv")
        st.table(found.assignments, "assignments.csv")
        st.text(figs.candidates_markdown(found.candidates, diag), "candidates.md")
        st.text(figs.map_html(found.candidates, found.assignments, part), "map.html")
        st.figure(figs.size_chart(found.candidates), "sizes")
        st.json(diag, "discovery.json")
    _write_dir(folder, write)
    cache.done("discover", key)
    # Read back what was written, so a fresh run and a reusing run report the same.
    result.data.update(candidates=_read_typed(folder / "candidates.csv"),
                       assignments=_read_typed(folder / "assignments.csv"),
                       discovery=json.loads((folder / "discovery.json").read_text("utf-8")))
    return f"{len(found.candidates)} candidate subthemes"


def _primary_coder(human: pd.DataFrame, result_segments: pd.DataFrame) -> str | None:
    """The human coder with the most coded transcripts, then codes (first wins ties)."""
    if len(human) == 0:
        return None
    seg_t = _transcripts_of(human, result_segments)
    stats = (human.assign(t=seg_t.to_numpy()).groupby("coder", sort=False)
             .agg(transcripts=("t", "nunique"), codes=("segment_id", "size")))
    return str(stats.sort_values(["transcripts", "codes"], ascending=False, kind="stable").index[0])


def _transcripts_of(codings: pd.DataFrame, segments: pd.DataFrame) -> pd.Series:
    """The transcript of each coding's segment."""
    return codings["segment_id"].map(segments.set_index("segment_id")["transcript_id"])


def _train_stage(project, out, cache, inputs_key, segments, vectors, codebook, book_vectors,
                 human, embedder, result) -> str:
    from themeassist import classify, modelstore
    from themeassist.report import classify_figures as figs

    primary = _primary_coder(human, segments)
    settings = project.train.model_dump(mode="json")
    # The key covers the method and the saved format, so a newer themeassist retrains
    # instead of reusing (or failing on) a model an older one saved.
    key = _key("train", inputs_key, settings, primary, classify.METHOD,
               modelstore.FORMAT_VERSION)
    folder = out / "model"
    result.data["primary_coder"] = primary
    if cache.fresh("train", key, *(folder / n for n in modelstore.FILES)):
        model = modelstore.load_model(folder)
        result.data.update(model=model, model_name=model.name_)
        return f"reused {model.name_}"
    train_segments, train_codings = _coder_universe(segments, human, primary)
    mask = segments["segment_id"].isin(train_segments["segment_id"]).to_numpy()
    n_groups = train_segments["transcript_id"].nunique()
    evaluate = bool(project.train.evaluate and primary is not None and n_groups >= 2)
    model = classify.train_model(
        train_segments, train_codings if primary is not None else None, codebook, vectors[mask],
        seed=project.train.seed, context=project.train.context, codebook_embeddings=book_vectors,
        embedding_model=embedder.model_id,
        embedding_source=getattr(embedder, "source", str(project.embedding.model)),
        evaluate=evaluate)

    def write(st):
        for name, data in modelstore.model_files(model).items():
            st.bytes(data, name)
        ev = model.evaluation_ or {}
        if ev.get("predictions") is not None:
            st.table(ev["predictions"], "evaluation_predictions.csv")
        if ev:
            st.figure(figs.coverage_agreement_figure(ev, model.threshold_), "coverage_agreement")
            st.figure(figs.reliability_figure(ev), "reliability")
    _write_dir(folder, write)
    cache.done("train", key)
    model = modelstore.load_model(folder)  # as a reusing run will see it
    result.data.update(model=model, model_name=model.name_)
    what = (f"trained on coder {primary}'s {len(train_codings)} codes in {n_groups} transcripts"
            if primary is not None else "zero-shot model from the codebook text (no human coding)")
    return f"{model.name_}: {what}" + ("" if evaluate else "; no cross-validated evaluation")


def _coder_universe(segments, human, coder):
    """The segments of the transcripts ``coder`` coded, and that coder's codings.

    A transcript the coder never opened says nothing about what is codable, so it is left
    out of training and of that coder's agreement.
    """
    if coder is None:
        return segments, human.iloc[0:0]
    mine = human[human["coder"] == coder]
    seen = set(_transcripts_of(mine, segments))
    return (segments[segments["transcript_id"].isin(seen)].reset_index(drop=True),
            mine.reset_index(drop=True))


def _label_stage(project, out, cache, inputs_key, segments, vectors, codebook, book_vectors,
                 human, result) -> str:
    """Machine codings for every segment; coded transcripts get held-out labels.

    Each transcript the primary coder coded is labelled by a model trained on the other
    transcripts only (the model never sees the focus group it labels), so that agreement
    and statistics computed from ``machine.csv`` are honest. Transcripts nobody coded are
    labelled by the final model.
    """

    from themeassist import classify

    model = result.data["model"]
    primary = result.data["primary_coder"]
    settings = {**project.train.model_dump(mode="json"), **project.label.model_dump(mode="json")}
    key = _key("label", inputs_key, settings, model.name_)
    path = out / "machine.csv"
    info_path = out / "labels.json"
    if cache.fresh("label", key, path, info_path):
        machine = io.read_codings(path, codebook, segments)
        info = json.loads(info_path.read_text("utf-8"))
        result.data.update(machine=machine, held_out=info["held_out"])
        return f"reused {len(machine)} machine codes"
    threshold = project.label.threshold if project.label.threshold is not None else model.threshold_
    train_segments, train_codings = _coder_universe(segments, human, primary)
    coded = list(dict.fromkeys(train_segments["transcript_id"])) if primary is not None else []
    parts, held_out = [], []
    for t in segments["transcript_id"].unique():
        in_t = (segments["transcript_id"] == t).to_numpy()
        seg_t = segments[in_t].reset_index(drop=True)
        labeller = model
        if t in coded and len(coded) >= 2:
            keep = train_segments["transcript_id"] != t
            rest_seg = train_segments[keep].reset_index(drop=True)
            rest_cod = train_codings[train_codings["segment_id"].isin(rest_seg["segment_id"])]
            rest_mask = segments["segment_id"].isin(rest_seg["segment_id"]).to_numpy()
            labeller = classify.train_model(
                rest_seg, rest_cod, codebook, vectors[rest_mask], seed=project.train.seed,
                context=project.train.context, codebook_embeddings=book_vectors,
                embedding_model=model.embedding_model_, evaluate=False)
            held_out.append(t)
        labels = labeller.predict_codings(seg_t, vectors[in_t], threshold=threshold)
        parts.append(labels.assign(coder=model.name_))
    machine = pd.concat(parts, ignore_index=True)
    io.write_table(machine, path, force=True)
    io.write_json({"model": model.name_, "threshold": threshold, "held_out": held_out,
                   "labelled_by_final_model": [t for t in segments["transcript_id"].unique()
                                               if t not in held_out],
                   "method": "held-out-by-transcript.v1"}, info_path, force=True)
    cache.done("label", key)
    machine = io.read_codings(path, codebook, segments)  # as a reusing run will see it
    result.data.update(machine=machine, held_out=held_out)
    review = int(machine["needs_review"].sum()) if "needs_review" in machine else 0
    how = (f"held-out labels for {len(held_out)} coded transcripts" if held_out
           else "labels from the final model")
    return f"{len(machine)} machine codes ({review} need review); {how}"


def _agree_stage(project, out, segments, codebook, human, result, bootstrap) -> str:
    """Machine vs each human coder, and human vs human, each on the transcripts both coded."""
    import warnings

    from themeassist import agree
    from themeassist.errors import UndefinedStatisticWarning

    machine = result.data["machine"]
    coders = result.data["human_coders"]
    if not coders:
        result.data["agreement"] = {}
        return "skipped: no human coding to compare with"
    pairs = [(h, machine["coder"].iat[0] if len(machine) else "machine") for h in coders]
    pairs += [(a, b) for i, a in enumerate(coders) for b in coders[i + 1:]]
    everything = pd.concat([human, machine], ignore_index=True)
    n_boot = project.agree.bootstrap if bootstrap is None else bootstrap
    reports = {}
    for a, b in pairs:
        seen_a = set(_transcripts_of(everything[everything["coder"] == a], segments))
        seen_b = set(_transcripts_of(everything[everything["coder"] == b], segments))
        both = seen_a & seen_b if not b.startswith("model:") else seen_a
        # Units: participants' segments of the transcripts both coded (facilitators' turns
        # are never coded and would inflate agreement on "none").
        units = segments[segments["transcript_id"].isin(both)
                         & _participant_mask(segments)].reset_index(drop=True)
        cod = everything[everything["coder"].isin([a, b])
                         & everything["segment_id"].isin(units["segment_id"])]
        name = f"{safe_name(a)}_vs_{safe_name(b)}"
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always", UndefinedStatisticWarning)
            rep = agree.agreement_report(
                cod, units, level=project.agree.level, coded_only=project.agree.coded_only,
                n_boot=n_boot, seed=project.agree.seed,
                cluster=None if project.agree.cluster == "none" else project.agree.cluster,
                coders=[a, b])
            dis = agree.disagreements(cod, units, level=project.agree.level,
                                      coded_only=project.agree.coded_only, coders=[a, b])
            conf = agree.confusion(cod, units, level=project.agree.level,
                                   coded_only=project.agree.coded_only, coders=[a, b])
        rep["transcripts"] = sorted(both)

        _write_dir(out / "agreement" / name,
                   lambda st, rep=rep, dis=dis, conf=conf: io.write_agreement(st, rep, dis, conf))
        reports[name] = {"a": a, "b": b, "report": rep, "disagreements": dis,
                         "confusion": conf}
    result.data["agreement"] = reports
    first = next(iter(reports.values()))["report"]
    return (f"{len(reports)} pairs; {pairs[0][0]} vs machine: "
            f"kappa {_fmt(first.get('cohen_kappa'))}, alpha {_fmt(first.get('krippendorff_alpha'))}")


def _fmt(v) -> str:
    return "undefined" if v is None or (isinstance(v, float) and v != v) else f"{v:.2f}"


def _stats_stage(project, out, segments, codebook, human, result) -> str:
    from themeassist import stats

    machine = result.data["machine"]
    coders = result.data["human_coders"]
    everything = pd.concat([human, machine], ignore_index=True)
    results = {}
    for c in [*coders, *(list(dict.fromkeys(machine["coder"])) if len(machine) else [])]:
        results[c] = stats.run(everything[everything["coder"] == c].reset_index(drop=True),
                               codebook, segments, dedup_scope=project.stats.dedup_scope)
    comparison = stats.compare(results) if len(results) >= 2 else None
    names, writers = io.stats_outputs(results, comparison)

    def write(st):
        for w in writers:
            w(st)
    _write_dir(out / "stats", write)
    result.data.update(stats=results, comparison=comparison)
    return comparison["verdict"] if comparison else f"{len(results)} coder"


def run_config(path: str | Path, out: str | Path | None = None, **kwargs) -> RunResult:
    """Load a project file (failing before any work on a typo or a missing file) and run it."""
    project = load_project(path)
    return run_project(project, None if out is None else Path(out), **kwargs)


def demo_project() -> Project:
    """The bundled sample project (synthetic focus groups, coders A and B)."""
    return load_project(io.data_path("sample", "project.yaml"))
