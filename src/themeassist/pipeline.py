"""The project runner behind ``themeassist run`` and ``themeassist demo``.

An edge module, like :mod:`themeassist.io`: it reads a project's inputs, calls the pure
cores stage by stage, and writes every output. Stages whose inputs are missing are skipped
with a message (no human coding: a zero-shot model and no agreement). Re-runs reuse the
embedding cache and every stage whose inputs and settings are unchanged (a stage key =
hash of its inputs, settings and upstream keys, kept in ``.stages.json``). A completed run
seals the folder (:class:`StageCache`): a re-run whose input files, settings and code are
those of the seal, and whose outputs are as that run left them, enters no stage at all.

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
from themeassist.config import Project, core_arguments, load_project, load_questions

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
class Discovered:
    """The discover stage's result (as read back from ``discover/``)."""

    candidates: pd.DataFrame
    assignments: pd.DataFrame
    diagnostics: dict[str, Any]


@dataclass
class Trained:
    """The train stage's result: the final model and the coder it learnt from."""

    model: Any  # themeassist.classify.CodebookLabeller
    primary_coder: str | None
    #: The evaluation's held-out predictions (a :class:`~themeassist.classify.heldout.HeldOut`)
    #: when this run evaluated; in memory only: the label stage reuses them when its folds
    #: are the same, so the fold models are trained once.
    held_out: Any = None


@dataclass
class Labelled:
    """The label stage's result: the machine's codings and who labelled each transcript."""

    machine: pd.DataFrame
    held_out: list[str]
    #: transcript -> {"model": "held-out" | "final", "trained_on": [transcript ids]}
    labellers: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class PairAgreement:
    """Agreement of one pair of coders (``agreement/<a>_vs_<b>/``)."""

    a: str
    b: str
    report: dict[str, Any]
    disagreements: pd.DataFrame
    confusion: pd.DataFrame


@dataclass
class Statistics:
    """The stats stage's result: each coder's statistics and their comparison."""

    results: dict[str, Any]  # coder -> themeassist.stats.StatsResult
    comparison: dict[str, Any] | None


@dataclass
class RunResult:
    """What a run produced: per-stage messages and timings, and each stage's typed result.

    A no-change re-run (a sealed folder, :meth:`StageCache.sealed`) enters no stage: its
    typed results stay None and every stage's message starts with ``reused:``; the outputs
    in ``out`` are those of the run that sealed it.
    """

    out: Path
    stages: dict[str, str] = field(default_factory=dict)  # stage -> "ran" | "reused" | "skipped: why"
    timings: dict[str, float] = field(default_factory=dict)
    segments: pd.DataFrame | None = None
    ingest_summary: pd.DataFrame | None = None
    codebook: pd.DataFrame | None = None
    human: pd.DataFrame | None = None
    human_coders: list[str] = field(default_factory=list)
    decisions: pd.DataFrame | None = None   # segments each coder read (decided_<coder>.csv)
    embedding_model: str | None = None
    discovery: Discovered | None = None
    training: Trained | None = None
    labels: Labelled | None = None
    agreement: dict[str, PairAgreement] = field(default_factory=dict)
    statistics: Statistics | None = None

    @property
    def model(self):
        return self.training.model if self.training is not None else None

    @property
    def machine(self) -> pd.DataFrame | None:
        return self.labels.machine if self.labels is not None else None


def _key(*parts: Any) -> str:
    return hashlib.sha256(io.json_dumps(list(parts)).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- stage cache
#: The stages after ingest, in order (each reused or run; a sealed run reuses them all).
SEALED_STAGES = ("embed", "discover", "train", "label", "agree", "stats", "report")
#: What those stages write under the output folder (files and folders).
STAGE_OUTPUTS = ("segments.csv", "ingest_summary.csv", "discover", "model", "machine.csv",
                 "labels.json", "agreement", "stats", "report.html")


def code_digest() -> str:
    """A digest of themeassist's own source and data files: a run key changes with them.

    The stage keys name the methods that changed (``classify.METHOD``, ...) and need those
    modules imported; a whole-run key takes the code itself, so that checking it imports
    nothing heavy (a few milliseconds to hash the package).
    """
    root = Path(__file__).parent
    h = hashlib.sha256()
    for path in sorted([*root.rglob("*.py"), *(p for p in (root / "data").rglob("*")
                                               if p.is_file())]):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _run_key(project: Project, codings_paths: list[Path], decided_paths: list[Path],
             embedding_model: str, bootstrap: int | None) -> str:
    """The key of a whole run: every input file's bytes, every setting, the code."""
    files = (project.transcript_paths() if not project.segments else
             [project.resolve(project.segments)])
    files += [project.resolve(project.codebook) if project.codebook
              else io.data_path("codebooks", "reference_codebook.csv")]
    if isinstance(project.questions, str):
        files.append(project.resolve(project.questions))
    files += [*codings_paths, *decided_paths]
    digests = [[str(f), io.file_sha256(f)] for f in files]
    return _key("run", digests, project.model_dump(mode="json", exclude={"base_dir"}),
                embedding_model, bootstrap, code_digest())


class StageCache:
    """Remembers each stage's key in ``DIR/.stages.json`` so unchanged stages are reused.

    With the key, the stage's one-line summary, so that a reusing run says what it reused.
    A run that completes *seals* the folder (:meth:`seal`): the run's key (inputs, every
    setting, the code), every stage key and the size and modification time of every
    stage output. A re-run whose seal holds enters no stage at all (:meth:`sealed`).
    """

    FILE = ".stages.json"

    def __init__(self, out: Path):
        self.out = out
        self.path = out / self.FILE
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            raw = {}
        raw = raw if isinstance(raw, dict) else {}
        notes = raw.pop("_notes", {})
        self.keys: dict[str, str] = {k: v for k, v in raw.items() if isinstance(v, str)}
        self.notes: dict[str, str] = notes if isinstance(notes, dict) else {}

    def fresh(self, stage: str, key: str, *outputs: Path) -> bool:
        return self.keys.get(stage) == key and all(p.exists() for p in outputs)

    def done(self, stage: str, key: str, note: str | None = None) -> None:
        self.keys[stage] = key
        if note is not None:
            self.notes[stage] = note
        self._save()

    def _save(self) -> None:
        io.atomic_write_text(self.path, io.json_dumps({**self.keys, "_notes": self.notes}),
                             force=True)

    def _outputs(self) -> dict[str, list[int]]:
        """Size and modification time (ns) of every file the stages wrote."""
        found: dict[str, list[int]] = {}
        for name in STAGE_OUTPUTS:
            top = self.out / name
            files = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
            for f in files:
                st = f.stat()
                if not f.is_dir():
                    found[f.relative_to(self.out).as_posix()] = [st.st_size, st.st_mtime_ns]
        return found

    def _seal(self, run_key: str) -> str:
        stages = {k: v for k, v in self.keys.items() if k != "run"}
        return _key("seal", run_key, stages, self._outputs())

    def seal(self, run_key: str) -> None:
        """Vouch that the folder holds the complete outputs of the run ``run_key``."""
        self.keys["run"] = self._seal(run_key)
        self._save()

    def sealed(self, run_key: str) -> bool:
        """True when the last complete run had key ``run_key`` and no stage key or output
        has changed since (a deleted, added or edited output breaks the seal)."""
        seal = self.keys.get("run")
        try:
            return seal is not None and seal == self._seal(run_key)
        except OSError:
            return False


def _write_dir(out: Path, writer: Callable[[io.OutputDir], None]) -> list[Path]:
    """Write a stage's files into ``out`` (replacing that stage's earlier files)."""
    with io.OutputDir(out, force=True) as staged:
        writer(staged)
    return staged.written


# --------------------------------------------------------------------------- the stages
@ownership.locked_run  # one writer per output folder (themeassist.locking)
def run_project(project: Project, out: Path | None = None, *, force: bool = False,
                progress: Progress | None = None, bootstrap: int | None = None,
                seed: int | None = None) -> RunResult:
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
    seed : int, optional
        The run's seed (``run --seed``): overrides ``project.seed`` and every stage's own
        seed, so that each stage's seed derives from it (:meth:`Project.seed_of`).
    """
    project = project.with_seed(seed)
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
                took = time.perf_counter() - self_inner.t
                result.timings[stage] = round(result.timings.get(stage, 0.0) + took, 3)
        return _T()

    # 0. a no-change re-run ----------------------------------------------------------------
    # The same input files (by content), every setting, the embedding model and the code
    # as the run that sealed this folder, whose outputs are as it left them: no stage is
    # entered, so nothing is parsed, embedded or loaded and nothing heavy is imported
    # (issue 17). Otherwise every stage checks its own key below.
    from themeassist.embed import Embedder, default_cache_path, resolve_model

    codings_paths = [project.resolve(c) for c in project.codings]
    decided_paths = decisions_files(project, codings_paths)
    result.embedding_model = resolve_model(str(project.embedding.model)).model_id
    run_key = _run_key(project, codings_paths, decided_paths, result.embedding_model,
                       bootstrap)
    if cache.sealed(run_key):
        for stage in ("ingest", *SEALED_STAGES):
            note = cache.notes.get(stage, "")
            result.stages[stage] = "reused: " + note.removeprefix("reused ")
            result.timings[stage] = 0.0
            say(f"{stage}: {result.stages[stage]}")
        result.timings["total"] = round(time.perf_counter() - started_all, 3)
        _write_run_manifest(project, out, claim, result, codings_paths, decided_paths,
                            cache.notes.get("model"))
        return result

    # 1. ingest ---------------------------------------------------------------------------
    with timed("ingest"):
        segments, summary = _ingest(project)
        _write_dir(out, lambda st: (st.table(segments, "segments.csv"),
                                    st.table(summary, "ingest_summary.csv")))
    result.stages["ingest"] = "ran"
    result.segments, result.ingest_summary = segments, summary
    participants = segments[segments["role"] != "facilitator"]
    cache.notes["ingest"] = (f"{segments['transcript_id'].nunique()} transcripts, "
                             f"{len(segments)} segments ({len(participants)} from participants)")
    say(f"ingest: {cache.notes['ingest']}")
    for w in summary.attrs.get("warnings", []):
        say(f"ingest warning: {w}")

    # 2. codebook and human codings --------------------------------------------------------
    codebook = (io.read_codebook(project.resolve(project.codebook)) if project.codebook
                else io.default_codebook())
    human = (io.read_codings(codings_paths, codebook, segments) if codings_paths
             else pd.DataFrame(columns=list(tables.CODING_REQUIRED)))
    human_coders = list(dict.fromkeys(human["coder"])) if len(human) else []
    result.codebook, result.human, result.human_coders = codebook, human, human_coders
    result.decisions = (io.read_decisions(decided_paths, segments) if decided_paths else None)

    # 3. embeddings (cached on disk by model and text) ------------------------------------
    with timed("embed"):
        cache_path = project.resolve(project.embedding.cache) if project.embedding.cache \
            else default_cache_path()
        embedder = Embedder(project.embedding.model, batch_size=project.embedding.batch_size,
                            cache=cache_path)
    inputs_key = _key(io.frame_sha256(segments), io.frame_sha256(codebook),
                      io.frame_sha256(human), embedder.model_id,
                      None if result.decisions is None else io.frame_sha256(result.decisions))

    with timed("embed"):
        vectors = embedder.embed(segments["text"].tolist())
        from themeassist.tables import codebook_texts

        book_vectors = embedder.embed(codebook_texts(codebook))
    embed_note = f"{len(vectors)} segments with {embedder.model_id}"
    say(f"embed: {embed_note}")
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
    cache.notes["embed"] = embed_note

    # 4. discover ---------------------------------------------------------------------------
    with timed("discover"):
        result.stages["discover"] = _discover_stage(project, out, cache, inputs_key, segments,
                                                    vectors, codebook, book_vectors, result)
    say(f"discover: {result.stages['discover']}")
    cache.notes["discover"] = result.stages["discover"]

    # 5. train, evaluate, label -------------------------------------------------------------
    with timed("train"):
        result.stages["train"] = _train_stage(project, out, cache, inputs_key, segments,
                                              train_vectors, codebook, train_book_vectors, human,
                                              train_embedder, result)
    say(f"train: {result.stages['train']}")
    cache.notes["train"] = result.stages["train"]
    with timed("label"):
        result.stages["label"] = _label_stage(project, out, cache, inputs_key, segments,
                                              train_vectors, codebook, train_book_vectors, human,
                                              result)
    say(f"label: {result.stages['label']}")
    cache.notes["label"] = result.stages["label"]

    # 6-8. agreement, statistics, report -------------------------------------------------
    # Keyed on the human and machine codings and their settings; the report also on every
    # upstream stage. When all three are fresh nothing is computed (a no-change re-run);
    # otherwise the stale ones are recomputed and written (the report needs their results).
    codings_key = _key(io.frame_sha256(human), io.frame_sha256(result.machine),
                       inputs_key)
    keys = {
        "agree": _key("agree", codings_key, agree_arguments(project, bootstrap),
                      _AGREE_VERSION),
        "stats": _key("stats", codings_key, stats_arguments(project), _STATS_VERSION),
    }
    keys["report"] = _key("report", keys["agree"], keys["stats"],
                          *(cache.keys.get(s) for s in ("discover", "train", "label")),
                          project.model_dump(mode="json", exclude={"base_dir"}), _report_version())
    outputs = {"agree": [out / "agreement"], "stats": [out / "stats"],
               "report": [out / "report.html"]}
    if all(cache.fresh(s, keys[s], *outputs[s]) for s in keys):
        for stage in keys:
            result.stages[stage] = "reused: " + cache.notes.get(stage, "")
            result.timings[stage] = 0.0
            say(f"{stage}: {result.stages[stage]}")
    else:
        with timed("agree"):
            result.stages["agree"] = _agree_stage(project, out, segments, codebook, human,
                                                  result, bootstrap)
        cache.done("agree", keys["agree"], result.stages["agree"])
        say(f"agree: {result.stages['agree']}")
        with timed("stats"):
            result.stages["stats"] = _stats_stage(project, out, segments, codebook, human,
                                                  result)
        cache.done("stats", keys["stats"], result.stages["stats"])
        say(f"stats: {result.stages['stats']}")
        with timed("report"):
            from themeassist.report.project import build_report

            page = build_report(project, result)
            io.atomic_write_text(out / "report.html", page, force=True)
        result.stages["report"] = "ran"
        cache.done("report", keys["report"], str(out / "report.html"))
        say(f"report: {out / 'report.html'}")

    result.timings["total"] = round(time.perf_counter() - started_all, 3)
    model_name = result.model.name_ if result.model is not None else None
    cache.notes["model"] = model_name
    cache.seal(run_key)
    _write_run_manifest(project, out, claim, result, codings_paths, decided_paths, model_name)
    return result


def _write_run_manifest(project, out, claim, result, codings_paths, decided_paths,
                        model_name) -> None:
    inputs = {"transcripts": project.transcript_paths() if not project.segments else [],
              "segments": project.resolve(project.segments),
              "codebook": project.resolve(project.codebook),
              "codings": codings_paths, "decided": decided_paths}
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
               "embedding_model": result.embedding_model, "model": model_name,
               "methods": _methods()}),
        out / "manifest.json", force=True)


#: Bump when the agree or stats stage writes other files for the same inputs.
_AGREE_VERSION = "agree-stage.v1"
_STATS_VERSION = "stats-stage.v2"  # v2: question figures name the coder


def _report_version() -> str:
    from themeassist import __version__

    return f"report-{__version__}.v1"


# --------------------------------------------------------------------------- settings -> cores
# Each stage calls its core with exactly these arguments, and its cache key holds them, so
# a setting reaches its core and a change of it re-runs that stage (tests/cli/test_run.py
# checks every key of every section).
def discover_arguments(project: Project) -> dict[str, Any]:
    """Keyword arguments of :func:`themeassist.discover.discover`: every discover setting."""
    return {**project.discover.model_dump(mode="json"), "seed": project.seed_of("discover")}


def train_arguments(project: Project) -> dict[str, Any]:
    """Keyword arguments of :func:`themeassist.classify.train_model` from ``train``: every
    train setting (they are the labeller's parameters, plus ``evaluate``).

    ``train.embedding`` is not among them: it chooses the embeddings the model is given.
    ``evaluate`` is the setting; the stage also needs two coded transcripts to evaluate.
    """
    args = project.train.model_dump(mode="json", exclude={"embedding"})
    return {**args, "seed": project.seed_of("train")}


def agree_arguments(project: Project, bootstrap: int | None = None) -> dict[str, Any]:
    """Keyword arguments of :func:`themeassist.agree.agreement_report` from ``agree``.

    Every agree setting, under its parameter's name (``AgreeSettings`` is derived from
    ``agreement_report``); ``bootstrap`` overrides ``agree.bootstrap``.
    """
    args = {**core_arguments(project.agree), "seed": project.seed_of("agree")}
    if bootstrap is not None:
        args["n_boot"] = int(bootstrap)
    return args


def stats_arguments(project: Project) -> dict[str, Any]:
    """Keyword arguments of :func:`themeassist.stats.run` from ``stats``: every setting
    (``StatsSettings`` is derived from ``run``)."""
    return core_arguments(project.stats)


def _methods() -> dict[str, str]:
    from themeassist.ingest import METHODS

    return {**{f"ingest.{k}": v for k, v in METHODS.items()},
            "labels": LABELS_METHOD}


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


def _read_discovery(folder: Path) -> Discovered:
    """Read back what the discover stage wrote, so a fresh and a reusing run report the same."""
    return Discovered(_read_typed(folder / "candidates.csv"),
                      _read_typed(folder / "assignments.csv"),
                      json.loads((folder / "discovery.json").read_text("utf-8")))


def _participant_mask(segments: pd.DataFrame) -> pd.Series:
    return segments["role"] != "facilitator"


def _discover_stage(project, out, cache, inputs_key, segments, vectors, codebook,
                    book_vectors, result) -> str:
    from themeassist import discover

    settings = discover_arguments(project)
    key = _key("discover", inputs_key, settings, discover.METHOD)
    folder = out / "discover"
    if cache.fresh("discover", key, folder / "candidates.csv", folder / "assignments.csv"):
        result.discovery = _read_discovery(folder)
        return f"reused {len(result.discovery.candidates)} candidate subthemes"
    mask = _participant_mask(segments).to_numpy()
    part = segments[mask].reset_index(drop=True)
    found = discover.discover(part, vectors[mask], codebook=codebook,
                              codebook_embeddings=book_vectors, **settings)
    # Timings go to the run manifest, so that discovery.json is the same on every run.
    diag = {k: v for k, v in found.diagnostics.items() if k != "timings"}
    result.timings.update({f"discover.{k}": v
                           for k, v in found.diagnostics.get("timings", {}).items()})
    _write_dir(folder, lambda st: io.write_discovery(st, found.candidates, found.assignments,
                                                     diag, part))
    cache.done("discover", key)
    # Read back what was written, so a fresh run and a reusing run report the same.
    result.discovery = _read_discovery(folder)
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

    primary = _primary_coder(human, segments)
    settings = {**train_arguments(project), "embedding": project.train.embedding}
    # The key covers the method and the saved format, so a newer themeassist retrains
    # instead of reusing (or failing on) a model an older one saved.
    key = _key("train", inputs_key, settings, primary, classify.METHOD,
               modelstore.FORMAT_VERSION)
    folder = out / "model"
    if cache.fresh("train", key, *(folder / n for n in modelstore.FILES)):
        model = modelstore.load_model(folder)
        result.training = Trained(model, primary)
        return f"reused {model.name_}"
    train_segments, train_codings = _coder_universe(segments, human, primary, result.decisions)
    mask = segments["segment_id"].isin(train_segments["segment_id"]).to_numpy()
    n_groups = train_segments["transcript_id"].nunique()
    args = train_arguments(project)
    evaluate = bool(args.pop("evaluate") and primary is not None and n_groups >= 2)
    decided = decided_by(result.decisions, primary)
    held = None
    if evaluate:
        # The evaluation's held-out predictions, made here so that the label stage can
        # label the coded transcripts with the same fold models when its folds are these
        # (one transcript per fold: no more coded transcripts than train.folds).
        from themeassist.classify.heldout import held_out_predictions

        held = held_out_predictions(
            train_segments, vectors[mask], train_codings, codebook, n_splits=args["folds"],
            codebook_embeddings=book_vectors, decided=decided,
            embedding_model=embedder.model_id, **args)
    model = classify.train_model(
        train_segments, train_codings if primary is not None else None, codebook, vectors[mask],
        codebook_embeddings=book_vectors, embedding_model=embedder.model_id,
        embedding_source=getattr(embedder, "source", str(project.embedding.model)),
        evaluate=evaluate, decided=decided, held_out=held, **args)

    _write_dir(folder, lambda st: modelstore.write_model(st, model))
    cache.done("train", key)
    model = modelstore.load_model(folder)  # as a reusing run will see it
    result.training = Trained(model, primary, held_out=held)
    what = (f"trained on coder {primary}'s {len(train_codings)} codes in {n_groups} transcripts"
            if primary is not None else "zero-shot model from the codebook text (no human coding)")
    return f"{model.name_}: {what}" + ("" if evaluate else "; no cross-validated evaluation")


def decisions_files(project: Project, codings_paths: list[Path]) -> list[Path]:
    """The project's decisions files: those listed, plus ``decided_<coder>.csv`` beside a
    ``codings_<coder>.csv`` (the pair ``themeassist review`` exports)."""
    listed = [project.resolve(d) for d in project.decided]
    for p in codings_paths:
        p = Path(p)
        if p.stem.startswith("codings_"):
            twin = p.with_name("decided_" + p.stem[len("codings_"):] + ".csv")
            if twin.is_file() and twin not in listed:
                listed.append(twin)
    return listed


def decided_by(decisions: pd.DataFrame | None, coder: str | None) -> list[str] | None:
    """The segments ``coder`` decided (None: no decisions table names that coder)."""
    if decisions is None or coder is None:
        return None
    mine = decisions[decisions["coder"] == coder]
    return mine["segment_id"].tolist() if len(mine) else None


def _coder_universe(segments, human, coder, decisions=None):
    """The segments of the transcripts ``coder`` coded or decided in, and that coder's codings.

    A transcript the coder never opened says nothing about what is codable, so it is left
    out of training and of that coder's agreement. Within the transcripts kept, the
    decisions (when given) say which segments were read.
    """
    if coder is None:
        return segments, human.iloc[0:0]
    mine = human[human["coder"] == coder]
    seen = set(_transcripts_of(mine, segments))
    read = decided_by(decisions, coder)
    if read:
        seen |= set(segments.loc[segments["segment_id"].isin(read), "transcript_id"])
    return (segments[segments["transcript_id"].isin(seen)].reset_index(drop=True),
            mine.reset_index(drop=True))


def _label_stage(project, out, cache, inputs_key, segments, vectors, codebook, book_vectors,
                 human, result) -> str:
    """Machine codings for every segment; coded transcripts get held-out labels.

    Each transcript the primary coder coded is labelled by a model trained on the other
    transcripts only (the model never sees the focus group it labels), so that agreement
    and statistics computed from ``machine.csv`` are honest. Transcripts nobody coded are
    labelled by the final model. The review threshold is not part of the stage key: a new
    ``label.threshold`` only re-marks ``needs_review`` (:func:`apply_threshold`).
    """
    model, primary = result.training.model, result.training.primary_coder
    threshold = project.label.threshold if project.label.threshold is not None else model.threshold_
    key = _key("label", inputs_key, train_arguments(project), project.train.embedding,
               model.name_, LABELS_METHOD)
    path = out / "machine.csv"
    info_path = out / "labels.json"
    if cache.fresh("label", key, path, info_path):
        machine = io.read_codings(path, codebook, segments)
        info = json.loads(info_path.read_text("utf-8"))
        if info.get("threshold") != threshold:
            machine = apply_threshold(machine, threshold)
            _write_labels(path, info_path, machine, {**info, "threshold": threshold})
        result.labels = Labelled(machine, info["held_out"], info.get("labellers", {}))
        return f"reused {len(machine)} machine codes"
    labels, labellers = held_out_labels(segments, vectors, human, primary, model, codebook,
                                        book_vectors, train_arguments(project),
                                        decisions=result.decisions,
                                        held=result.training.held_out)
    machine = apply_threshold(labels, threshold)
    held_out = [t for t, who in labellers.items() if who["model"] == "held-out"]
    info = {"model": model.name_, "threshold": threshold, "held_out": held_out,
            "labelled_by_final_model": [t for t, who in labellers.items()
                                        if who["model"] == "final"],
            "labellers": labellers, "method": LABELS_METHOD}
    _write_labels(path, info_path, machine, info)
    cache.done("label", key)
    machine = io.read_codings(path, codebook, segments)  # as a reusing run will see it
    result.labels = Labelled(machine, held_out, labellers)
    review = int(machine["needs_review"].sum()) if "needs_review" in machine else 0
    how = (f"held-out labels for {len(held_out)} coded transcripts" if held_out
           else "labels from the final model")
    return f"{len(machine)} machine codes ({review} need review); {how}"


#: Versioned name of the labelling of a run (R9): held out by transcript.
LABELS_METHOD = "held-out-by-transcript.v1"


def _write_labels(path: Path, info_path: Path, machine: pd.DataFrame, info: dict) -> None:
    io.write_table(machine, path, force=True)
    io.write_json(info, info_path, force=True)


def apply_threshold(machine: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """A copy of machine codings with ``needs_review`` = confidence below ``threshold``.

    Applied to the written (rounded) confidence, so a fresh run and a run that reuses the
    labels with another threshold mark the same rows.
    """
    from themeassist.batch import review_marks

    return machine.assign(needs_review=review_marks(machine, threshold))


def held_out_labels(segments, vectors, human, primary, model, codebook, book_vectors,
                    train_args: dict[str, Any], decisions: pd.DataFrame | None = None,
                    held: Any = None) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Label every transcript; a transcript ``primary`` coded by a model that never saw it.

    Returns the codings (``needs_review`` as the model's default threshold marks it) and,
    per transcript, which model labelled it: ``{"model": "held-out" | "final",
    "trained_on": [transcript ids]}``, so the held-out property can be checked from the
    models and their training ids.

    ``held`` (a :class:`~themeassist.classify.heldout.HeldOut`, the evaluation's, made with
    the same settings on the same segments) is used when it holds out one transcript per
    fold, as this labelling does; otherwise the held-out predictions are made here.
    """
    from themeassist.classify.heldout import held_out_predictions

    args = {k: v for k, v in train_args.items() if k != "evaluate"}
    train_segments, train_codings = _coder_universe(segments, human, primary, decisions)
    coded = list(dict.fromkeys(train_segments["transcript_id"])) if primary is not None else []
    labellers = {str(t): {"model": "final", "trained_on": sorted(coded)}
                 for t in segments["transcript_id"].unique()}
    parts: dict[Any, pd.DataFrame] = {}
    if len(coded) >= 2:
        # the one held-out procedure of the evaluation, one transcript per fold
        if held is not None and not all(len(f["test"]) == 1 for f in held.folds):
            held = None  # the evaluation's folds hold out several transcripts each
        if held is None:
            mask = segments["segment_id"].isin(train_segments["segment_id"]).to_numpy()
            held = held_out_predictions(
                train_segments, vectors[mask], train_codings, codebook, n_splits=None,
                codebook_embeddings=book_vectors, decided=decided_by(decisions, primary),
                embedding_model=model.embedding_model_, quiet=False, **args)
        for fold in held.folds:
            (t,) = fold["test"]
            labellers[str(t)] = {"model": "held-out", "trained_on": fold["trained_on"]}
        transcript = held.codings["segment_id"].map(
            dict(zip(train_segments["segment_id"], train_segments["transcript_id"])))
        parts = {t: held.codings[transcript == t] for t in coded}
    out = []
    for t in segments["transcript_id"].unique():
        if t in parts:
            out.append(parts[t].assign(coder=model.name_))
            continue
        in_t = (segments["transcript_id"] == t).to_numpy()
        labels = model.predict_codings(segments[in_t].reset_index(drop=True), vectors[in_t])
        out.append(labels.assign(coder=model.name_))
    return pd.concat(out, ignore_index=True), labellers


def _agree_stage(project, out, segments, codebook, human, result, bootstrap) -> str:
    """Machine vs each human coder, and human vs human, each on the transcripts both coded."""
    import warnings

    from themeassist import agree
    from themeassist.errors import UndefinedStatisticWarning

    machine = result.machine
    coders = result.human_coders
    if not coders:
        result.agreement = {}
        return "skipped: no human coding to compare with"
    pairs = [(h, machine["coder"].iat[0] if len(machine) else "machine") for h in coders]
    pairs += [(a, b) for i, a in enumerate(coders) for b in coders[i + 1:]]
    everything = pd.concat([human, machine], ignore_index=True)
    args = agree_arguments(project, bootstrap)
    # The codebook fixes the categories (q of AC1 and Brennan-Prediger), as `agree -b` does.
    categories = agree.level_categories(codebook, args["level"])
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
            # The units x coders data, built once for the report and its tables.
            data = agree.reliability_data(cod, units, args["level"], args["coded_only"],
                                          [a, b])
            rep = agree.agreement_report(data, categories=categories, n_boot=args["n_boot"],
                                         seed=args["seed"], cluster=args["cluster"])
            dis = agree.disagreements(data)
            conf = agree.confusion(data)
        rep["transcripts"] = sorted(both)
        reports[name] = PairAgreement(a, b, rep, dis, conf)
    # The heatmaps of every pair drawn together (two cores draw them, io.render_figures).
    drawn = io.render_figures([io.confusion_maker(item.confusion, item.report)
                               for item in reports.values()])
    for (name, item), heatmap in zip(reports.items(), drawn):
        _write_dir(out / "agreement" / name,
                   lambda st, item=item, heatmap=heatmap: io.write_agreement(
                       st, item.report, item.disagreements, item.confusion, heatmap))
    result.agreement = reports
    first = next(iter(reports.values())).report
    return (f"{len(reports)} pairs; {pairs[0][0]} vs machine: "
            f"kappa {_fmt(first.get('cohen_kappa'))}, alpha {_fmt(first.get('krippendorff_alpha'))}")


def _fmt(v) -> str:
    return "undefined" if v is None or (isinstance(v, float) and v != v) else f"{v:.2f}"


def _stats_stage(project, out, segments, codebook, human, result) -> str:
    from themeassist import stats

    machine = result.machine
    everything = pd.concat([human, machine], ignore_index=True)
    results = stats.run_all(everything, codebook, segments, **stats_arguments(project))
    comparison = stats.compare(results) if len(results) >= 2 else None
    names, writers = io.stats_outputs(results, comparison)
    _write_dir(out / "stats", lambda st: io.write_all(st, writers))
    result.statistics = Statistics(results, comparison)
    return comparison["verdict"] if comparison else f"{len(results)} coder"


def run_config(path: str | Path, out: str | Path | None = None, **kwargs) -> RunResult:
    """Load a project file (failing before any work on a typo or a missing file) and run it."""
    project = load_project(path)
    return run_project(project, None if out is None else Path(out), **kwargs)


def demo_project() -> Project:
    """The bundled sample project (synthetic focus groups, coders A and B)."""
    return load_project(io.data_path("sample", "project.yaml"))
