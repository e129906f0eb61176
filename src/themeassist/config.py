"""Project configuration: a YAML file validated by a schema that forbids unknown keys.

``configs/template.yaml`` writes out every default with a comment; ``configs/demo.yaml``
describes the bundled sample project. Paths in a project file are relative to that file.
Errors name the file and the key: ``demo.yaml: discover.min_clustr_size: Extra inputs are
not permitted``.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from themeassist.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Question(_Section):
    """A question of the topic guide; the facilitator asking it starts its segments."""

    id: str
    text: str
    aliases: list[str] = Field(default_factory=list)


class IngestSettings(_Section):
    #: Speaker names of facilitators (case-insensitive, exact).
    facilitators: list[str] = Field(default_factory=list)
    #: Regular expression on speaker names marking facilitators (e.g. "^(facilitator|moderator)").
    facilitator_pattern: str | None = "^(facilitator|moderator|interviewer)\\b"
    #: Minimum fuzzy similarity (0-1) for a facilitator turn to count as asking a question.
    question_similarity: float = Field(0.6, ge=0, le=1)
    #: Replace speaker names by stable ids (P01..., F01...).
    pseudonymise: bool = False
    #: Column mapping for CSV/XLSX transcripts: our column -> the file's column.
    columns: dict[str, str] = Field(default_factory=dict)
    #: Speaker of lines that name no speaker, for transcripts that label only one party
    #: (e.g. "Participant" when only "MODERATOR:" lines are labelled). null = such lines
    #: continue the current turn (TXT, DOCX) or have no speaker (VTT).
    unlabelled_speaker: str | None = None


class EmbeddingSettings(_Section):
    #: A packaged model name or a local sentence-transformers folder.
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = Field(32, ge=1)
    #: SQLite cache of embeddings; null = the project's output folder/.cache.
    cache: str | None = None


#: Constraints and help of :func:`themeassist.discover.discover`'s parameters, as project
#: settings. The names, types and defaults come from the function and its estimator
#: (:func:`_settings_of`), so a new parameter of ``discover`` is a new setting.
_DISCOVER_FIELDS: dict[str, dict] = {
    "runs": dict(ge=1, description="Seeded runs combined into the result and used for the "
                                    "stability figures."),
    "n_candidates": dict(ge=1, description="null = chosen from the corpus size (about "
                                           "sqrt(n / 5) candidates)."),
    "min_cluster_size": dict(ge=2, description="null = chosen from the corpus size; smaller "
                                               "groups are reassigned."),
    "n_neighbors": dict(ge=2, description="UMAP neighbours; null = chosen from the corpus size."),
    "n_components": dict(ge=2, description="UMAP dimensions."),
    "min_words": dict(ge=0, description="Segments with fewer words are set aside, not clustered."),
    "min_similarity": dict(ge=-1, le=1, description="Outliers less similar (cosine) to every "
                                                    "candidate stay unassigned."),
    "probability_floor": dict(ge=0, le=1, description="Assignments with a lower probability "
                                                      "are marked below_floor."),
    "temperature": dict(gt=0, description="Softmax temperature of the assignment probability."),
    "question_weight": dict(ge=0, description="Weight of the segment's question in clustering "
                                              "(0 = ignore the question)."),
    "new_threshold": dict(ge=-1, le=1, description="A candidate less similar than this to every "
                                                   "codebook entry is marked new."),
    "codebook_first": dict(description="Assign segments that clearly match a codebook entry "
                                       "first, cluster only the rest."),
    "match_threshold": dict(ge=-1, le=1, description="Similarity at which a segment clearly "
                                                     "matches an entry (codebook-first mode)."),
    "n_quotes": dict(ge=1, description="Representative quotes per candidate."),
    "algorithm": dict(description="Clustering of each run's reduced space: kmeans, ward or "
                                  "hdbscan."),
}
#: Parameters of ``discover`` that are data, not settings.
_DISCOVER_DATA = ("segments", "embeddings", "codebook", "codebook_embeddings")


def _settings_of(func, data: tuple[str, ...], fields: dict[str, dict], name: str,
                 doc: str, parts: tuple[type, ...] = (),
                 rename: dict[str, str] | None = None) -> type[_Section]:
    """A settings section whose fields are ``func``'s keyword parameters (minus ``data``).

    Each field has the parameter's name, type and default; ``fields`` adds constraints and
    help (and may narrow the type: ``annotation``). ``parts`` are the estimators ``func``
    builds from its parameters (discover's :class:`~themeassist.discover.CandidateClusterer`):
    a parameter of a part takes its type and default from the part, which defines it, and
    ``func`` must take it with the same default, or the setting would not reach the part
    (TypeError at import). ``rename`` maps a parameter to the setting's name where they
    differ (``n_boot`` -> ``bootstrap``). ``seed`` becomes optional: null = the project's
    run-level seed (:meth:`Project.seed_of`).
    """
    import inspect
    import typing

    from pydantic import create_model

    rename = rename or {}
    # (a method such as an estimator's ``__init__``: its ``self`` is no setting)
    params = {k: v for k, v in inspect.signature(func).parameters.items() if k != "self"}
    hints = typing.get_type_hints(func)
    defined = {pname: (hints[pname], param.default) for pname, param in params.items()}
    for part in parts:
        part_hints = typing.get_type_hints(part.__init__)
        for pname, param in inspect.signature(part).parameters.items():
            if pname not in params or params[pname].default != param.default:
                raise TypeError(f"{name}: {func.__name__}() does not take {part.__name__}'s "
                                f"{pname}={param.default!r}")
            defined[pname] = (part_hints[pname], param.default)
    spec: dict[str, tuple] = {}
    for pname in params:
        if pname in data:
            continue
        setting = rename.get(pname, pname)
        if pname == "seed":
            spec[setting] = (int | None, Field(None, description="null = the project's seed."))
            continue
        annotation, default = defined[pname]
        extra = dict(fields.get(setting, {}))
        annotation = extra.pop("annotation", annotation)
        spec[setting] = (annotation, Field(default, **extra))
    unknown = set(fields) - set(spec)
    if unknown:  # a constraint for a parameter the function no longer has
        raise TypeError(f"{name}: no parameter(s) {sorted(unknown)} in {func.__name__}()")
    model = create_model(name, __base__=_Section, __doc__=doc, **spec)
    _CORE_PARAMETERS[model] = {rename.get(p, p): p for p in inspect.signature(func).parameters
                               if p not in data}
    return model


#: Derived section -> {setting name: the core's parameter name}.
_CORE_PARAMETERS: dict[type, dict[str, str]] = {}


def core_arguments(section: _Section) -> dict:
    """A derived section's settings as keyword arguments of its core (parameter names)."""
    names = _CORE_PARAMETERS[type(section)]
    return {names[k]: v for k, v in section.model_dump(mode="json").items()}


def _discover_settings() -> type[_Section]:
    # The light modules (no scikit-learn, UMAP or SciPy): reading a project file must not
    # cost their import, which a no-change re-run never needs.
    from themeassist.discover.compose import discover
    from themeassist.discover.parameters import ClustererParameters

    return _settings_of(discover, _DISCOVER_DATA, _DISCOVER_FIELDS, "DiscoverSettings",
                        "Settings of :func:`themeassist.discover.discover` (derived from it "
                        "and its :class:`~themeassist.discover.CandidateClusterer`).",
                        parts=(ClustererParameters,))


DiscoverSettings = _discover_settings()


#: The labeller's parameters that are project settings, with constraints and help. Names,
#: types and defaults come from :class:`themeassist.classify.CodebookLabeller` itself
#: (:func:`_settings_of`), so they are defined once; its other parameters keep their
#: defaults in a project run.
_TRAIN_FIELDS: dict[str, dict] = {
    "folds": dict(ge=2, description="Grouped folds of the calibration and the evaluation."),
    "context": dict(description="Use the question, neighbouring segments and speaker role as "
                                "features."),
    "min_support": dict(ge=0, description="A code with fewer human examples backs off one "
                                          "level (parent, then theme) unless its probability "
                                          "reaches the review threshold."),
    "backoff": dict(ge=0, le=1, description="A code whose probability is below it backs off "
                                            "one level, whatever its support."),
    "scope": dict(description="Code scope: auto (the codebook's question column, else learnt "
                              "from the coding), codebook, learnt or none."),
    "zero_shot_codable_rate": dict(gt=0, le=1, description="Share of segments a zero-shot "
                                   "model labels; null = from the corpus (1.0 without "
                                   "facilitator turns, e.g. survey answers or quotes; else "
                                   "0.35)."),
}


def _train_settings() -> type[_Section]:
    import inspect

    from pydantic import create_model

    # CodebookLabeller's __init__, from the module that defines it without scikit-learn
    from themeassist.classify.parameters import LabellerParameters

    params = inspect.signature(LabellerParameters.__init__).parameters
    data = tuple(p for p in params if p not in _TRAIN_FIELDS and p != "seed")
    base = _settings_of(LabellerParameters.__init__, data, _TRAIN_FIELDS, "_LabellerSettings",
                        "The labeller's parameters that are project settings.")
    # the stage's own keys: whether to evaluate, and which embeddings the model is given
    return create_model(
        "TrainSettings", __base__=base,
        __doc__="Settings of the train stage (derived from CodebookLabeller's parameters).",
        evaluate=(bool, Field(True, description="Grouped cross-validated evaluation (folds "
                                                "by transcript).")),
        embedding=(Literal["sentence-transformer", "static"],
                   Field("sentence-transformer", description="Embedding kind: "
                         "sentence-transformer (default) or static (model2vec, draft mode).")))


TrainSettings = _train_settings()


class LabelSettings(_Section):
    #: Confidence below which a label is marked needs_review; null = the model's default.
    threshold: float | None = Field(None, ge=0, le=1)
    chunk_size: int = Field(2048, ge=1)


#: Constraints and help of :func:`themeassist.agree.agreement_report`'s parameters (the
#: agree stage's core), as project settings; names, types and defaults come from it.
_AGREE_FIELDS: dict[str, dict] = {
    "level": dict(description="What a category is: theme, code (theme, valence, subtheme) "
                              "or valence."),
    "coded_only": dict(description="Only segments that at least one coder coded."),
    "bootstrap": dict(ge=0, description="Bootstrap resamples for the confidence intervals "
                                        "(0 = none)."),
    "cluster": dict(annotation=Literal["none", "transcript"],
                    description="Resample segments (none) or whole transcripts (transcript)."),
}
#: Parameters of ``agreement_report`` that are data (``categories``: the codebook's).
_AGREE_DATA = ("codings", "segments", "categories", "coders")


def _agree_settings() -> type[_Section]:
    from themeassist.agree import agreement_report

    return _settings_of(agreement_report, _AGREE_DATA, _AGREE_FIELDS, "AgreeSettings",
                        "Settings of :func:`themeassist.agree.agreement_report` (derived "
                        "from it).", rename={"n_boot": "bootstrap"})


AgreeSettings = _agree_settings()

#: Constraints and help of :func:`themeassist.stats.run`'s parameters (the stats stage's
#: core), as project settings; names, types and defaults come from it.
_STATS_FIELDS: dict[str, dict] = {
    "dedup_scope": dict(description="De-duplicate a participant's repeated code per "
                                    "question, per transcript, or not at all."),
    "n_subthemes": dict(ge=1, description="Subthemes per selected theme in the 50% tables."),
    "n_quotes": dict(ge=0, description="Example quotations per subtheme in the 50% tables."),
    "exclude_review": dict(description="Leave out machine codes marked needs_review."),
}
_STATS_DATA = ("codings", "codebook", "segments")


def _stats_settings() -> type[_Section]:
    from themeassist.stats import run

    return _settings_of(run, _STATS_DATA, _STATS_FIELDS, "StatsSettings",
                        "Settings of :func:`themeassist.stats.run` (derived from it).")


StatsSettings = _stats_settings()


class ReviewSettings(_Section):
    """Settings of ``themeassist review`` (the address is given on the command line only)."""

    #: Retrain the in-loop model after this many decisions (0 = only on request).
    retrain_every: int = Field(25, ge=0)
    #: Open the browser at start-up.
    open_browser: bool = True
    #: Output folder of the journal and exports; null = the project's output folder/review.
    output: str | None = None
    #: A discover output folder (candidates.csv, assignments.csv); null = the project's
    #: output folder/discover when it exists.
    candidates: str | None = None
    #: Offer facilitators' turns in the review queue and "Code next" too (think-aloud
    #: studies code the moderator's turns; focus-group studies usually do not).
    queue_facilitators: bool = False


class Project(_Section):
    """A themeassist project, as read from ``project.yaml``."""

    name: str = "project"
    #: Seed of every random step. Each stage's seed (discover.seed, train.seed, agree.seed)
    #: is this one unless the stage sets its own; ``run --seed N`` sets this one and clears
    #: the stages' own.
    seed: int = 0
    #: Transcript files or glob patterns.
    transcripts: list[str] = Field(default_factory=list)
    #: A segments table to use instead of ingesting transcripts.
    segments: str | None = None
    #: questions.yaml, or the questions inline.
    questions: str | list[Question] | None = None
    #: Codebook table; null = the bundled reference codebook.
    codebook: str | None = None
    #: Human codings files (one per coder, or one with a coder column).
    codings: list[str] = Field(default_factory=list)
    #: Decisions files (segment_id, coder, decided_at): the segments each coder has read,
    #: coded or not, e.g. ``decided_<coder>.csv`` of ``themeassist review``. A codings file
    #: named ``codings_<coder>.csv`` takes a ``decided_<coder>.csv`` beside it without
    #: being listed. Without decisions, a coder has read every segment of each transcript
    #: they coded.
    decided: list[str] = Field(default_factory=list)
    #: Output folder (relative to the project file).
    output: str = "themeassist-output"
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    discover: DiscoverSettings = Field(default_factory=DiscoverSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    label: LabelSettings = Field(default_factory=LabelSettings)
    agree: AgreeSettings = Field(default_factory=AgreeSettings)
    stats: StatsSettings = Field(default_factory=StatsSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)

    #: Folder of the project file; relative paths are resolved against it.
    base_dir: Path = Field(default=Path("."), exclude=True)

    def seed_of(self, stage: str) -> int:
        """The seed of a stage (``discover``, ``train``, ``agree``): its own, else the run's."""
        own = getattr(self, stage).seed
        return self.seed if own is None else int(own)

    def with_seed(self, seed: int | None) -> Project:
        """A copy whose every stage takes its seed from ``seed`` (None: this project)."""
        if seed is None:
            return self
        stages = {name: getattr(self, name).model_copy(update={"seed": None})
                  for name in ("discover", "train", "agree")}
        return self.model_copy(update={"seed": int(seed), **stages})

    def resolve(self, p: str | None) -> Path | None:
        if p is None:
            return None
        path = Path(p).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def transcript_paths(self) -> list[Path]:
        """The transcript files, globs expanded, in a stable order."""
        out: list[Path] = []
        for pattern in self.transcripts:
            full = self.resolve(pattern)
            matches = sorted(glob.glob(str(full))) if any(c in pattern for c in "*?[") else [full]
            out.extend(Path(m) for m in matches)
        return out


def _format_error(path: Path, err: ValidationError) -> str:
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
    return f"{path}: {loc}: {e['msg']}"


def load_yaml(path: str | Path) -> object:
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', err)})") from None


def load_project(path: str | Path, *, check_files: bool = True) -> Project:
    """Read and validate a project file; with ``check_files``, every named file must exist.

    Raises
    ------
    ConfigError
        Naming the file and the key (unknown key, wrong type, missing file).
    """
    path = Path(path)
    raw = load_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    try:
        project = Project.model_validate({**raw, "base_dir": path.parent})
    except ValidationError as err:
        raise ConfigError(_format_error(path, err)) from None
    if check_files:
        check_project_files(project, path)
    return project


def check_project_files(project: Project, path: Path) -> None:
    """Fail before any work starts when a file the project names does not exist."""
    for key, value in (("segments", project.segments), ("codebook", project.codebook),
                       ("embedding.model", None)):
        if value is not None and not project.resolve(value).exists():
            raise ConfigError(f"{path}: {key}: file not found: {project.resolve(value)}")
    if isinstance(project.questions, str) and not project.resolve(project.questions).exists():
        raise ConfigError(f"{path}: questions: file not found: {project.resolve(project.questions)}")
    for i, pattern in enumerate(project.transcripts):
        full = project.resolve(pattern)
        if any(c in pattern for c in "*?["):
            if not glob.glob(str(full)):
                raise ConfigError(f"{path}: transcripts.{i}: no file matches {full}")
        elif not full.exists():
            raise ConfigError(f"{path}: transcripts.{i}: file not found: {full}")
    for i, c in enumerate(project.codings):
        if not project.resolve(c).exists():
            raise ConfigError(f"{path}: codings.{i}: file not found: {project.resolve(c)}")
    for i, c in enumerate(project.decided):
        if not project.resolve(c).exists():
            raise ConfigError(f"{path}: decided.{i}: file not found: {project.resolve(c)}")
    if not project.transcripts and project.segments is None:
        raise ConfigError(f"{path}: transcripts: give transcript files or a segments table")


def load_questions(source: str | Path | list | None) -> list[Question]:
    """Questions from a questions.yaml (a list, or ``{questions: [...]}``) or inline."""
    if source is None:
        return []
    if isinstance(source, list):
        raw, where = source, "questions"
    else:
        raw, where = load_yaml(source), str(source)
        if isinstance(raw, dict) and "questions" in raw:
            raw = raw["questions"]
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of questions (id, text, aliases)")
    out = []
    for i, q in enumerate(raw):
        if isinstance(q, Question):
            out.append(q)
            continue
        try:
            out.append(Question.model_validate(q))
        except ValidationError as err:
            e = err.errors()[0]
            loc = ".".join(str(p) for p in e["loc"])
            raise ConfigError(f"{where}: questions.{i}.{loc}: {e['msg']}") from None
    ids = [q.id for q in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ConfigError(f"{where}: duplicate question id(s) {sorted(dup)}")
    return out
