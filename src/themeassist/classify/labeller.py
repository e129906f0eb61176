"""The labeller estimator (:class:`CodebookLabeller`) and :func:`train_model`, its wrapper."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
import inspect
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from themeassist import tables
from themeassist.classify import policy
from themeassist.classify.calibration import (
    _best_codable_threshold,
    _fit_smoothing,
    choose_threshold,
)
from themeassist.classify.estimators import (
    CodebookClassifier,
    codable_logits,
    full_logits,
    softmax,
)
from themeassist.classify.features import (
    SegmentFeatures,
    check_embeddings,
    build_features,
    codebook_texts,
    neighbours,
    smooth_logits,
)
from themeassist.classify.parameters import CALIBRATIONS, SCOPES, LabellerParameters
from themeassist.classify.scope import (
    SCOPE_MASK,
    codebook_scope,
    default_codable_rate,
    learn_scope,
    scope_outside,
    zero_shot_codable,
)
from themeassist.classify.sets import fit_set_rule, predict_sets, set_probabilities
from themeassist.classify.training import (
    _cross_fit,
    _fit_codable,
    _fit_codable_ngram,
    _fit_code,
    _fit_code_ngram,
    training_data,
    pull_grid,
    pull_toward_codebook,
    pulled_logits,
)
from themeassist.errors import InputError, LittleDataWarning, ModelError


#: Versioned name of the method (R9): goes into model cards and manifests.
METHOD = "themeassist.classify.lr-ngram-context-temperature-scope-sets-pull.v4"



# --------------------------------------------------------------------------- the labeller
class CodebookLabeller(LabellerParameters, BaseEstimator):
    """Pre-labels segments with a codebook's codes, calibrated on human coding.

    Two :class:`~themeassist.classify.estimators.CodebookClassifier` (is the segment coded?
    which code?) over :func:`~themeassist.classify.features.build_features`, each beside a
    word n-gram :class:`~themeassist.classify.estimators.NgramScorer`, with temperatures,
    neighbour weights, scope weight and set rule chosen on out-of-fold predictions grouped
    by transcript (the package docstring of :mod:`themeassist.classify` tells the method).
    Without codings it is zero-shot: codes by similarity to the codebook entry texts.

    Parameters are stored verbatim by ``__init__`` and validated by :meth:`fit`
    (scikit-learn's contract, STYLE R7); what :meth:`fit` learns ends in ``_``. The review
    and back-off policy (``backoff``, ``min_support``, the review threshold) is applied to
    the probabilities by :mod:`themeassist.classify.policy`, outside the model, so
    ``set_params(backoff=0.4)`` re-labels without refitting.

    Parameters
    ----------
    (``__init__`` is :class:`~themeassist.classify.parameters.LabellerParameters`'s, so
    that the project settings derived from it do not import scikit-learn.)

    name : str, default "classify"
        Coder name prefix of the labels: ``model:<name>@<hash12>``.
    context : bool, default True
        Use the neighbouring segments, question, role and length as features.
    categorical : tuple of str, default ("question", "role")
        Segment columns one-hot encoded (required in the segments).
    optional_categorical : tuple of str, default ("prompt", "kind")
        Columns one-hot encoded when the training corpus has them.
    C, codable_C : float, default 4.0 and 1.0
        Inverse L2 strength of the code and codable classifiers.
    class_weight : None or "balanced", default None
    neighbour_weight : float, default 0.5
        Weight of the neighbours' embeddings in the features.
    prior_weight : float, default 1.0
        Sample weight of each codebook entry's pseudo-example.
    prior_strength : float, default 50.0
        ``n0`` of the codebook prior in the logits, ``lambda = n0 / (n0 + coded segments)``.
    prior_pull_grid : tuple of float, default (0, 0.25, 0.5, 0.75, 1)
        Pulls ``beta`` of the code weights toward the zero-shot ones (each code's entry
        embedding): ``(1 - beta) W + beta W0``, so 1 is the zero-shot model. Chosen on the
        out-of-fold likelihood with the n-gram weight, scope weight and temperature;
        the chosen one is ``training_["prior_pull"]``; ``(0.0,)``: no pull. With codes
        used once or twice the trained classifier favours the codes it saw and falls below
        zero-shot: on the survey data of issue 14 every fold chose 1 and MASI alpha went
        from 0.115 to 0.227 (zero-shot 0.172); on the usability study every fold chose 0
        (kappa 0.639, MASI alpha 0.625, unchanged).
    folds : int, default 5
        Grouped folds of the inner calibration.
    backoff : float, default 0.0
        A code below this probability backs off one level (policy).
    min_support : int, default 2
        A code with fewer human examples backs off unless it reaches the review threshold
        (policy).
    second_code : float, default 0.35
        Set threshold when no set rule could be fitted.
    target_kappa : float, default 0.8
        Kappa the default review threshold aims at (:func:`choose_threshold`).
    min_codings : int, default 50
        Fewer codings warn, and switch the n-gram scorers off.
    zero_shot_scale : float, default 20.0
        Scale of the cosine similarity to the entry texts in the logits.
    smoothing_grid : tuple of float, default (0.0,)
        Neighbour weights of the logits tried out of fold.
    zero_shot_codable_rate : float or None, default None
        Share of segments a zero-shot model labels; None = :func:`default_codable_rate`.
    scope : {"auto", "codebook", "learnt", "none"}, default "auto"
        Code scope by question.
    scope_weight_grid : tuple of float, default (0, 1, 2, 4, 8)
        Weights of the learnt scope tried out of fold.
    max_iter : int, default 2000
    ngram_C, ngram_codable_C : float, default 4.0 and 16.0
        Inverse L2 strength of the n-gram scorers (0 = off).
    ngram_weight : float, default 1.0
        Their logit weight when there is too little data to choose it.
    ngram_weight_grid : tuple of float, default (0, 0.5, 1, 2, 4)
        Their logit weights tried out of fold.
    ngram_range : tuple of int, default (1, 2)
    ngram_min_df : int, default 2
    calibration : {"code-set", "weighted"}, default "code-set"
        Likelihood the code temperature is fitted on.
    seed : int, default 0
        Seed of every random step.

    Attributes
    ----------
    name_ : str
        The coder name of its labels, ``"model:<name>@<hash12>"``; the hash covers the
        training data, codebook, embedding model and parameters.
    codebook_ : DataFrame
        The codebook it was trained on (codes = its rows, in order).
    embedding_model_ : str
        The :attr:`Embedder.model_id <themeassist.embed.Embedder.model_id>` of the
        embeddings it was trained on, e.g. ``"all-MiniLM-L6-v2@53aa51172d14"``.
    embedding_source_ : str
        The model name or folder to pass to :class:`~themeassist.embed.Embedder`.
    spec_ : FeatureSpec
        The feature layout (embedding size, context, category values).
    code_clf_, codable_clf_ : CodebookClassifier
        The code classifier (classes = codebook rows) and the codable classifier (0/1);
        their ``temperature`` is the fitted calibration.
    support_ : ndarray of int
        Human examples per code.
    threshold_ : float
        Default review threshold on ``confidence``.
    codable_threshold_ : float
        A segment with codable probability at or above it is labelled.
    training_ : dict
        What it learnt from: counts, temperatures, data hashes, ``zero_shot``.
    evaluation_ : dict
        :func:`evaluate_model`'s results when trained with ``evaluate=True``, else ``{}``.
    smoothing_ : dict
        Neighbour weights of :func:`smooth_logits` for ``code`` and ``codable``.
    code_ngram_, codable_ngram_ : NgramScorer or None
    ngram_weights_ : dict
        Logit weights of the n-gram scorers, ``code`` and ``codable``.
    scope_ : dict
        Code scope: ``source`` (``"codebook"``: the codebook's ``question`` column, a hard
        mask; ``"learnt"``: the questions each code was applied under, a soft prior;
        ``"none"``), ``questions`` (per code, ``[]`` = any) and ``weight``.
    set_rule_ : dict
        :func:`fit_set_rule`'s one-vs-rest calibration and set threshold (``{}``: none, then
        ``second_code`` decides further codes).

    Examples
    --------
    >>> seg = pd.DataFrame({"segment_id": ["a:0", "a:1", "b:0"], "transcript_id": ["a", "a", "b"],
    ...                     "position": [0, 1, 0], "text": ["money", "friends", "grant"],
    ...                     "question": ["1", "1", "1"], "role": ["participant"] * 3})
    >>> book = pd.DataFrame({"theme": ["Funding", "Support"], "valence": ["", ""],
    ...                      "subtheme": ["Grants", "Peers"]})
    >>> emb = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]], dtype=np.float32)
    >>> lab = CodebookLabeller(zero_shot_codable_rate=1.0).fit(
    ...     seg, emb, None, book, codebook_embeddings=np.eye(2))
    >>> lab.predict_codings(seg, emb)["subtheme"].tolist()
    ['Grants', 'Peers', 'Grants']
    """

    # -- fitting
    def fit(self, segments: pd.DataFrame, embeddings: np.ndarray,
            codings: pd.DataFrame | None, codebook: pd.DataFrame, *,
            codebook_embeddings: np.ndarray | None = None,
            decided: Sequence[str] | None = None, embedding_model: str = "unknown",
            embedding_source: str | None = None) -> CodebookLabeller:
        """Fit on human codings (or zero-shot from the codebook text); returns ``self``.

        Parameters
        ----------
        segments : DataFrame
            The corpus (segments table). Every segment of a transcript with at least one
            human code is taken as read by the coder: uncoded ones are negatives for the
            codable classifier. Transcripts without codes are not used for training.
        embeddings : ndarray of shape (n_segments, dim)
            Segment embeddings (unit vectors), rows aligned with ``segments``.
        codings : DataFrame or None
            Human codings (every coder's rows are pooled). ``None`` or empty: zero-shot.
            Theme-level codes (no subtheme) count for codability only.
        codebook : DataFrame
            The codebook; its rows are the codes.
        codebook_embeddings : ndarray of shape (n_codes, dim), optional
            Embeddings of :func:`codebook_texts`, from the same embedding model. Required
            for zero-shot; otherwise the prior (pseudo-examples and logit term).
        decided : sequence of str, optional
            The segments a human has read (``decisions`` table of DESIGN.md): uncoded ones
            among them are the negatives of the codable classifier, and segments outside it
            are not used. Default: every segment of a transcript with at least one code.
        embedding_model, embedding_source : str
            The embedding model's id and the name or folder that reloads it (recorded).

        Warns
        -----
        LittleDataWarning
            Fewer than ``min_codings`` codings, or too few transcripts to calibrate.

        Raises
        ------
        InputError
            Embeddings not aligned with the segments; zero-shot without codebook
            embeddings; a required feature column missing.
        """
        from threadpoolctl import threadpool_limits

        # One BLAS thread for the whole fit, not only the solvers: the out-of-fold logits
        # (a few hundred rows x 185 codes) took 3x longer with two threads fighting over
        # the two shared cores of issue 17's machine (measured).
        with threadpool_limits(1):
            fitted = _fit_labeller(self._settings(), segments, codings, codebook, embeddings,
                                   codebook_embeddings, embedding_model, embedding_source,
                                   decided)
        return self._set_fitted(**fitted)

    def _settings(self) -> dict[str, Any]:
        """The validated parameters as a settings dict (tuples as lists, JSON's shape)."""
        params = self.get_params()
        seed = params.pop("seed")
        s = _settings({k: list(v) if isinstance(v, tuple) else v for k, v in params.items()})
        s["seed"] = int(seed)
        return s

    def _set_fitted(self, **fitted: Any) -> CodebookLabeller:
        defaults = {"evaluation_": {}, "training_": {},
                    "smoothing_": {"code": 0.0, "codable": 0.0}, "code_ngram_": None,
                    "codable_ngram_": None, "ngram_weights_": {"code": 0.0, "codable": 0.0},
                    "scope_": {"source": "none", "questions": [], "weight": 0.0},
                    "set_rule_": {}}
        fitted.pop("settings_", None)
        unknown = set(fitted) - set(FITTED) - {"evaluation_"}
        if unknown:
            raise TypeError(f"unknown fitted attribute(s) {sorted(unknown)}")
        for key, value in {**defaults, **fitted}.items():
            setattr(self, key, value)
        return self

    # -- derived views
    @property
    def settings_(self) -> dict[str, Any]:
        """Every parameter (seed included) as a dict: what the model card records."""
        return self._settings()

    @property
    def codes_(self) -> list[str]:
        """Code labels (:func:`themeassist.tables.code_label`), in codebook order."""
        return tables.code_labels(self.codebook_).tolist()

    @property
    def zero_shot_(self) -> bool:
        return bool(self.training_.get("zero_shot", False))

    def check_codebook(self, codebook: pd.DataFrame) -> None:
        """Refuse a codebook whose codes differ from the training codebook, saying which."""
        check_codebook_match(self, codebook)

    def check_embedding_model(self, model_id: str) -> None:
        """Refuse embeddings from another embedding model, naming both."""
        check_is_fitted(self)
        if model_id != self.embedding_model_:
            raise ModelError(
                f"embedding model mismatch: the model {self.name_} was trained on embeddings "
                f"of {self.embedding_model_}, the input uses {model_id}")

    # -- probabilities
    def predict_proba(self, segments: pd.DataFrame, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities: ``(codable (n,), code (n, n_codes))``.

        ``code[i, j]`` is the probability of code ``j`` given that segment ``i`` is coded;
        columns follow :attr:`codes_`.
        """
        check_is_fitted(self)
        segs = tables.validate_segments(segments)
        X = build_features(segs, embeddings, self.spec_)
        prev_idx, next_idx = neighbours(segs)
        texts = segs["text"].tolist()
        zc = codable_logits(self.codable_clf_, X)
        if self.codable_ngram_ is not None and self.ngram_weights_["codable"]:
            zc = zc + self.ngram_weights_["codable"] * self.codable_ngram_.logits(texts, 2)
        zc = smooth_logits(zc, prev_idx, next_idx, float(self.smoothing_["codable"]))
        codable = softmax(zc / float(self.codable_clf_.temperature))[:, 1]
        z = full_logits(self.code_clf_, X, len(self.codebook_))
        if self.code_ngram_ is not None and self.ngram_weights_["code"]:
            z = z + self.ngram_weights_["code"] * self.code_ngram_.logits(texts, len(self.codebook_))
        z = smooth_logits(z, prev_idx, next_idx, float(self.smoothing_["code"]))
        z = z - self.scope_penalty(segs)
        code = softmax(z / float(self.code_clf_.temperature))
        return codable, code

    def scope_penalty(self, segments: pd.DataFrame) -> np.ndarray:
        """What the code scope subtracts from each (segment, code) logit (0 inside)."""
        sc = self.scope_ or {}
        n_codes = len(self.codebook_)
        if sc.get("source", "none") == "none" or not float(sc.get("weight", 0.0)):
            return np.zeros((len(segments), n_codes))
        out = scope_outside(segments, [tuple(q) for q in sc["questions"]], n_codes)
        return float(sc["weight"]) * out

    def predict_sets(self, segments: pd.DataFrame, embeddings: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(codable, P, Q, S)``: codable and code probabilities (:meth:`predict_proba`),
        per-code one-vs-rest membership probabilities ``Q`` and each segment's code set ``S``
        (bool, at least its top code)."""
        codable, P = self.predict_proba(segments, embeddings)
        Q = set_probabilities(P, self.set_rule_)
        thr = float(self.set_rule_["threshold"]) if self.set_rule_ else float(self.second_code)
        return codable, P, Q, predict_sets(P, Q, thr)

    def predict_codings(self, segments: pd.DataFrame, embeddings: np.ndarray, *,
                        threshold: float | None = None, all_segments: bool = False) -> pd.DataFrame:
        """Pre-label segments: a codings table whose coder is :attr:`name_`.

        Parameters
        ----------
        segments : DataFrame
            A segments table (whole transcripts: context is computed within each).
        embeddings : ndarray of shape (n_segments, dim)
            The segments' embeddings from the model's embedding model.
        threshold : float, optional
            Review threshold on ``confidence``; default :attr:`threshold_`.
        all_segments : bool, default False
            Also return one row per segment judged not codable (empty theme, ``level``
            ``"none"``), so that every segment's ``codable`` probability is available.
            Those rows are not codes: drop them before using the table as codings.

        Returns
        -------
        DataFrame
            ``segment_id, coder, theme, valence, subtheme, confidence, code_probability,
            needs_review, level, backed_off, codable, rank, best_code, best_probability,
            priority``:
            one row per code in the set of each segment whose codable probability is at
            least :attr:`codable_threshold_`, in segment order. ``confidence`` is the
            calibrated probability that a human coder who codes the segment gives it this
            code as its first one (``level="code"``), a code under this parent
            (``"parent"``: ``subtheme`` is the parent's path) or of this theme (``"theme"``,
            empty valence and subtheme); ``code_probability`` the one-vs-rest calibrated
            probability that the code is among the segment's codes (:func:`fit_set_rule`);
            ``codable`` the probability that the segment is coded at all. ``rank`` 1 is the
            most probable code; the set is the top code plus the codes whose
            ``code_probability`` reaches the set threshold learnt out of fold (without one,
            codes of probability ``second_code`` or more). ``best_code`` and
            ``best_probability`` are the segment's most probable code and its probability,
            on every row, the ``level="none"`` rows of ``all_segments`` included. See
            :func:`themeassist.classify.policy.back_off` for when a code backs off.
            ``priority`` is the review priority of the segment
            (:func:`themeassist.classify.policy.review_priority`), the same on every row of
            a segment.

        Notes
        -----
        Deterministic: the same segments and embeddings give the same rows, whether
        transcripts are passed together or one at a time.
        """
        segs = tables.validate_segments(segments)
        return self._codings(segs, *self.predict_sets(segs, embeddings), threshold=threshold,
                             all_segments=all_segments)

    def _codings(self, segs, codable, P, Q, S, *, threshold=None, all_segments=False):
        """The policy (:func:`~themeassist.classify.policy.codings_table`) on predictions."""
        thr = self.threshold_ if threshold is None else float(threshold)
        if not 0 <= thr <= 1:
            raise InputError("threshold is not a probability", expected="0 <= P <= 1", got=thr)
        return policy.codings_table(
            segs["segment_id"].to_numpy(), codable, P, Q, S, self.codebook_, self.codes_,
            self.support_, coder=self.name_, threshold=thr,
            codable_threshold=self.codable_threshold_, backoff=float(self.backoff),
            min_support=int(self.min_support), zero_shot=self.zero_shot_,
            all_segments=all_segments)


#: Fitted attributes of :class:`CodebookLabeller` (what a model folder saves).
FITTED = ("name_", "codebook_", "embedding_model_", "embedding_source_", "spec_", "code_clf_",
          "codable_clf_", "support_", "threshold_", "codable_threshold_", "training_",
          "smoothing_", "code_ngram_", "codable_ngram_", "ngram_weights_", "scope_",
          "set_rule_")

#: Settings of :func:`train_model` and their defaults: the labeller's parameters (defined
#: once, in :class:`CodebookLabeller`; tuples as lists), without ``seed``.
DEFAULT_SETTINGS: dict[str, Any] = {
    k: list(p.default) if isinstance(p.default, tuple) else p.default
    for k, p in inspect.signature(CodebookLabeller).parameters.items() if k != "seed"}


def CodingModel(**fitted: Any) -> CodebookLabeller:  # noqa: N802 (the former class's name)
    """Compatibility: a :class:`CodebookLabeller` from its fitted attributes.

    The parameters come from ``settings_`` (as the former dataclass held them), every other
    key is a fitted attribute. New code calls :class:`CodebookLabeller` and :meth:`fit`.
    """
    s = dict(fitted.pop("settings_", None) or {})
    names = CodebookLabeller._get_param_names()
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in s.items() if k in names}
    return CodebookLabeller(**params)._set_fitted(
        **{k: v for k, v in fitted.items() if k.endswith("_")})


def check_codebook_match(model: CodebookLabeller, codebook: pd.DataFrame) -> None:
    """Raise :class:`ModelError` when ``codebook`` has other codes than the model's."""
    book = tables.validate_codebook(codebook)
    mine = set(tables.code_labels(model.codebook_))
    theirs = set(tables.code_labels(book))
    if mine == theirs:
        return
    missing, extra = sorted(mine - theirs), sorted(theirs - mine)
    parts = []
    if missing:
        parts.append(f"{len(missing)} of the model's codes are not in it (first: {missing[0]!r})")
    if extra:
        parts.append(f"it has {len(extra)} codes the model does not know (first: {extra[0]!r})")
    raise ModelError(f"codebook mismatch: the model {model.name_} was trained on another "
                     f"codebook ({len(mine)} codes); " + "; ".join(parts)
                     + ". Retrain with this codebook or use the model's own.")


# --------------------------------------------------------------------------- training
def _settings(overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = set(overrides) - set(DEFAULT_SETTINGS)
    if unknown:
        raise TypeError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(DEFAULT_SETTINGS)}")
    out = {**DEFAULT_SETTINGS, **overrides}
    if out["calibration"] not in CALIBRATIONS:
        raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {out['calibration']!r}")
    if out["scope"] not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {out['scope']!r}")
    rate = out["zero_shot_codable_rate"]
    if rate is not None and not 0 < float(rate) <= 1:
        raise ValueError(f"zero_shot_codable_rate must be in (0, 1] or None, got {rate!r}")
    if int(out["min_support"]) < 0 or not 0 <= float(out["backoff"]) <= 1:
        raise ValueError("min_support must be >= 0 and backoff a probability, got "
                         f"{out['min_support']!r} and {out['backoff']!r}")
    return out


def _frame_sha256(df: pd.DataFrame | None) -> str | None:
    if df is None:
        return None
    return hashlib.sha256(df.to_csv(index=False, lineterminator="\n").encode()).hexdigest()


#: Parameters added after the v3 method, left out of a model name's hash at their neutral
#: value, so that a model trained without them keeps its name.
_NEUTRAL = {"prior_pull_grid": [0.0]}


def _hash_inputs(segs, codings, codebook, embedding_model, s) -> str:
    s = {k: v for k, v in s.items() if k not in _NEUTRAL or _NEUTRAL[k] != v}
    h = hashlib.sha256()
    h.update(tables.code_labels(codebook).str.cat(sep="\n").encode())
    h.update(segs["segment_id"].str.cat(sep="\n").encode())
    if codings is not None and len(codings):
        h.update(codings[["segment_id", *tables.CODE_KEY]].to_csv(index=False).encode())
    h.update(str(embedding_model).encode())
    h.update(json.dumps(s, sort_keys=True, default=str).encode())
    return h.hexdigest()


def train_model(
    segments: pd.DataFrame,
    codings: pd.DataFrame | None,
    codebook: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    seed: int = 0,
    context: bool = True,
    codebook_embeddings: np.ndarray | None = None,
    embedding_model: str = "unknown",
    embedding_source: str | None = None,
    evaluate: bool = False,
    decided: Sequence[str] | None = None,
    held_out: Any = None,
    **settings: Any,
) -> CodebookLabeller:
    """Train a pre-labelling model on human codings (or zero-shot from the codebook text).

    A convenience wrapper: ``CodebookLabeller(seed=seed, context=context, **settings).fit(...)``,
    plus the cross-validated evaluation when ``evaluate``.

    Parameters
    ----------
    segments : DataFrame
        The corpus (segments table). Every segment of a transcript with at least one
        human code is taken as read by the coder: uncoded ones are negatives for the
        codable classifier. Transcripts without codes are not used for training.
    codings : DataFrame or None
        Human codings (every coder's rows are pooled). ``None`` or empty: zero-shot.
        Theme-level codes (no subtheme) count for codability only.
    codebook : DataFrame
        The codebook; its rows are the codes.
    embeddings : ndarray of shape (n_segments, dim)
        Segment embeddings (unit vectors), rows aligned with ``segments``.
    seed : int, default 0
        Seed of every random step (the solver is deterministic; stored in ``settings_``).
    context : bool, default True
        Use neighbours, question, role and length as features.
    codebook_embeddings : ndarray of shape (n_codes, dim), optional
        Embeddings of :func:`codebook_texts`, from the same embedding model. Required for
        zero-shot; otherwise used as one pseudo-example per code (the prior), weight
        ``prior_weight``.
    embedding_model, embedding_source : str
        The embedding model's id and the name or folder that reloads it (recorded).
    evaluate : bool, default False
        Also run :func:`evaluate_model` (grouped cross-validation) into ``evaluation_``.
    decided : sequence of str, optional
        The segments a human has read (``decisions`` table of DESIGN.md): uncoded ones
        among them are the negatives of the codable classifier, and segments outside it
        are not used. Default: every segment of a transcript with at least one code.
    held_out : HeldOut, optional
        With ``evaluate``: the evaluation's held-out predictions, already made by the
        caller with the same folds and settings
        (:func:`~themeassist.classify.heldout.held_out_predictions`), scored instead of
        made again.
    **settings
        Overrides of :data:`DEFAULT_SETTINGS` (``C``, ``folds``, ``backoff``, ...).

    Returns
    -------
    CodebookLabeller
        Fitted; ``evaluation_`` holds the evaluation when ``evaluate``.

    Warns
    -----
    LittleDataWarning
        Fewer than ``min_codings`` codings, or too few transcripts to calibrate: the
        warning says how many codes were learnt from and that the codebook text is the
        prior for the rest.

    Raises
    ------
    InputError
        Embeddings not aligned with the segments; zero-shot without codebook embeddings.
    """
    unknown = set(settings) - set(DEFAULT_SETTINGS)
    if unknown:
        raise TypeError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(DEFAULT_SETTINGS)}")
    model = CodebookLabeller(**{**settings, "context": context, "seed": int(seed)}).fit(
        segments, embeddings, codings, codebook, codebook_embeddings=codebook_embeddings,
        decided=decided, embedding_model=embedding_model, embedding_source=embedding_source)
    if evaluate:
        from themeassist.classify.evaluate import evaluate_model  # evaluation trains models

        model.evaluation_ = evaluate_model(segments, codings, codebook, embeddings,
                                           folds=model.folds, seed=seed,
                                           codebook_embeddings=codebook_embeddings,
                                           context=context, decided=decided,
                                           held_out=held_out,
                                           **{k: v for k, v in settings.items() if k != "folds"})
    return model


@dataclass
class _Calibration:
    """What the out-of-fold step chooses; the defaults are an uncalibrated model's."""

    t_code: float = 1.0                 # temperature of the code classifier
    t_codable: float = 1.0              # temperature of the codable classifier
    smoothing: dict[str, float] = field(default_factory=lambda: {"code": 0.0, "codable": 0.0})
    ngram_weights: dict[str, float] = field(default_factory=dict)
    scope_weight: float = 0.0
    pull: float = 0.0                   # toward the codebook (prior_pull_grid)
    threshold: float = 0.5              # default review threshold
    codable_threshold: float = 0.5
    set_rule: dict[str, float] = field(default_factory=dict)
    calibrated: bool = False


def _fit_labeller(s, segments, codings, codebook, embeddings, codebook_embeddings,
                  embedding_model, embedding_source, decided) -> dict[str, Any]:
    """The fitted attributes of a :class:`CodebookLabeller` with settings ``s``.

    The steps, in order: check the inputs (:func:`_check_inputs`); build the features and
    name the model (:func:`_identity`); without codings, the zero-shot model
    (:func:`_zero_shot`); otherwise arrange the training data (:func:`training_data`), fit
    out-of-fold logits by transcript (:func:`_cross_fit`), choose on them the temperatures,
    weights, pull and thresholds (:func:`_calibrate`), fit the final classifiers on every
    training segment (:func:`_fit_final`) and record what was learnt
    (:func:`_training_record`).
    """
    segs, book, emb, cbe, cod = _check_inputs(segments, codings, codebook, embeddings,
                                              codebook_embeddings)
    X, spec, common, data_hashes = _identity(s, segs, cod, book, emb, embedding_model,
                                             embedding_source)
    if cod is None:
        if cbe is None:
            raise InputError("a zero-shot model (no codings) needs the codebook's embeddings",
                             expected="codebook_embeddings of codebook_texts(codebook)",
                             got=None)
        return {**common, **_zero_shot(X, cbe, spec, s, data_hashes, segs, book)}

    d = training_data(segs, cod, book, X, decided)
    n_codes = len(book)
    cb_texts = codebook_texts(book)
    support = np.bincount(d.code_y, minlength=n_codes)
    n_coded = int(d.codable.sum())
    n_groups = len(set(d.groups[d.in_scope]))
    learnt = int((support > 0).sum())
    book_scope, scope_source = _scope_source(s, book)
    calib = _Calibration(
        scope_weight=SCOPE_MASK if scope_source == "codebook" else 0.0,
        ngram_weights={"code": float(s["ngram_weight"]), "codable": float(s["ngram_weight"])})
    if n_groups >= 2 and n_coded >= 10:
        z = _cross_fit(d, cbe, n_codes, s, cb_texts, segs)
        if (~np.isnan(z["code"][d.code_rows, 0])).sum() >= 10:
            calib = _calibrate(z, d, segs, s, cbe, book_scope, scope_source, n_codes)

    little = []
    if len(cod) < s["min_codings"]:
        little.append(f"only {len(cod)} codings on {n_coded} segments ({learnt} of {n_codes} "
                      f"codes have a human example)")
    if not calib.calibrated:
        little.append(f"too few transcripts ({n_groups}) or coded segments ({n_coded}) to "
                      "calibrate: confidences are uncalibrated and the threshold is 0.5")
    if little:
        warnings.warn("; ".join(little) + "; the codebook text is the prior for the rest"
                      + ("" if cbe is not None else " (no codebook embeddings were given: "
                         "codes without examples cannot be predicted)"),
                      LittleDataWarning, stacklevel=4)

    final = _fit_final(d, cbe, s, cb_texts, calib)
    scope = _code_scope(segs, d, book_scope, scope_source, calib.scope_weight, n_codes)
    training = _training_record(segs, d, cod, calib, scope, n_codes, n_groups, learnt,
                                cbe is not None, data_hashes)
    return dict(**common, **final, support_=support, threshold_=float(calib.threshold),
                codable_threshold_=float(calib.codable_threshold), training_=training,
                smoothing_=calib.smoothing, ngram_weights_=calib.ngram_weights,
                scope_=scope, set_rule_=calib.set_rule)


def _check_inputs(segments, codings, codebook, embeddings, codebook_embeddings):
    """The validated segments, codebook, embeddings, codebook embeddings and codings.

    Returns
    -------
    (segs, book, emb, cbe, cod)
        ``cbe`` is None without codebook embeddings, ``cod`` None without codings.

    Raises
    ------
    InputError
        Embeddings or codebook embeddings of the wrong shape; invalid tables.
    """
    segs = tables.validate_segments(segments)
    book = tables.validate_codebook(codebook)
    emb = check_embeddings(segs, embeddings)
    dim = emb.shape[1]
    cbe = None
    if codebook_embeddings is not None:
        cbe = np.asarray(codebook_embeddings, dtype=np.float64)
        if cbe.shape != (len(book), dim):
            raise InputError("codebook embeddings do not match the codebook",
                             expected=f"shape ({len(book)}, {dim})", got=f"shape {cbe.shape}")
    cod = None
    if codings is not None and len(codings):
        cod = tables.validate_codings(codings, book, segs)
    return segs, book, emb, cbe, cod


def _identity(s, segs, cod, book, emb, embedding_model, embedding_source):
    """The features of every segment, and what names and traces the model.

    Returns
    -------
    (X, spec, common, data_hashes)
        The feature matrix and its :class:`FeatureSpec`; the fitted attributes every model
        has (``name_``, ``codebook_``, ``embedding_model_``, ``embedding_source_``,
        ``spec_``); the SHA-256 of each input, for the training record.
    """
    features = SegmentFeatures(context=s["context"], categorical=tuple(s["categorical"]),
                               optional_categorical=tuple(s["optional_categorical"]),
                               neighbour_weight=s["neighbour_weight"])
    X = features.fit_transform(segs, emb)
    spec = features.spec_
    digest = _hash_inputs(segs, cod, book, embedding_model, s)
    data_hashes = {"segments_sha256": _frame_sha256(segs), "codings_sha256": _frame_sha256(cod),
                   "codebook_sha256": _frame_sha256(book[list(tables.CODE_KEY)]),
                   "embeddings_sha256": hashlib.sha256(np.ascontiguousarray(emb).tobytes()).hexdigest()}
    common = dict(name_=f"model:{s['name']}@{digest[:12]}", codebook_=book,
                  embedding_model_=str(embedding_model),
                  embedding_source_=str(embedding_source or embedding_model), spec_=spec)
    return X, spec, common, data_hashes


def _scope_source(s, book):
    """The codebook's question scope (or None) and where the code scope comes from.

    ``"codebook"`` when the codebook has a ``question`` column and ``scope`` allows it,
    ``"learnt"`` (from the training transcripts) when ``scope`` is ``auto`` or ``learnt``,
    else ``"none"``.

    Raises
    ------
    InputError
        ``scope="codebook"`` without a codebook ``question`` column.
    """
    book_scope = codebook_scope(book) if s["scope"] in ("auto", "codebook") else None
    if s["scope"] == "codebook" and book_scope is None:
        raise InputError("scope 'codebook' needs a codebook 'question' column",
                         expected="a question column (ids such as 1;3)", got=list(book.columns))
    source = ("codebook" if book_scope is not None
              else "learnt" if s["scope"] in ("auto", "learnt") else "none")
    return book_scope, source


def _calibrate(z, d, segs, s, cbe, book_scope, scope_source, n_codes) -> _Calibration:
    """Everything chosen on the out-of-fold logits ``z`` of :func:`_cross_fit`.

    Per classifier, the n-gram weight (``ngram_weight_grid``), neighbour weight
    (``smoothing_grid``) and temperature of least out-of-fold negative log-likelihood; for
    the code classifier also the scope weight (``scope_weight_grid``, learnt scope) and the
    pull toward the codebook (``prior_pull_grid``). Then, on the calibrated out-of-fold
    probabilities, the codable threshold, the set rule and the review threshold.
    """
    prev_idx, next_idx = neighbours(segs)
    seg_rows = np.flatnonzero((d.first_code >= 0) & ~np.isnan(z["code"][:, 0]))
    member = np.zeros((len(seg_rows), n_codes), dtype=bool)
    for r, i in enumerate(seg_rows):
        member[r, d.code_sets[i]] = True
    m = d.in_scope & ~np.isnan(z["codable"][:, 0])
    # code scope: the codebook's is a fixed mask; the learnt one (each fold's own
    # training transcripts) gets the weight of least out-of-fold loss (0 = off)
    if scope_source == "codebook":
        outside, sgrid = scope_outside(segs, book_scope, n_codes).astype(float), [SCOPE_MASK]
    elif scope_source == "learnt" and z["outside"].any():
        outside, sgrid = z["outside"], [float(v) for v in s["scope_weight_grid"]]
    else:
        outside, sgrid = z["outside"], [0.0]
    wn_code, a, t_code, scope_weight, pull = _choose_code_calibration(
        z, d, s, cbe, prev_idx, next_idx, seg_rows, member, outside, sgrid)
    wn_codable, b, t_codable = _choose_codable_calibration(z, d, s, prev_idx, next_idx, m)

    zcode = pulled_logits(z, pull) + wn_code * z["code_ngram"]
    zcod = smooth_logits(z["codable"] + wn_codable * z["codable_ngram"], prev_idx, next_idx, b)
    pc = softmax(zcod[m] / t_codable)[:, 1]
    cthr = _best_codable_threshold(pc, d.codable[m])
    seg_ok = (d.first_code >= 0) & ~np.isnan(zcode[:, 0])
    zs = smooth_logits(zcode, prev_idx, next_idx, a) - scope_weight * outside
    P = softmax(zs[seg_ok] / t_code)
    set_rule = fit_set_rule(P, member, seed=s["seed"])
    pred = P.argmax(1)
    human = np.array([p if p in cs else cs[0] for p, cs in
                      zip(pred, [d.code_sets[i] for i in np.flatnonzero(seg_ok)])])
    thr = choose_threshold(P.max(1), human, pred, target_kappa=s["target_kappa"])
    return _Calibration(t_code=t_code, t_codable=t_codable,
                        smoothing={"code": a, "codable": b},
                        ngram_weights={"code": wn_code, "codable": wn_codable},
                        scope_weight=scope_weight, pull=pull, threshold=thr,
                        codable_threshold=cthr, set_rule=set_rule, calibrated=True)


def _choose_code_calibration(z, d, s, cbe, prev_idx, next_idx, seg_rows, member, outside,
                             sgrid) -> tuple[float, float, float, float, float]:
    """The code classifier's ``(ngram weight, neighbour weight, temperature, scope weight,
    pull)`` of least out-of-fold loss over the grid (first best wins ties).

    The loss is that of each segment's code set (``calibration="code-set"``) or of its
    codes weighted ``1/k`` (``"weighted"``). The pull toward the codebook is in the grid
    because with rare codes the trained model can fall back to the zero-shot one instead
    of below it (issue 14).
    """
    grid = [float(a) for a in s["smoothing_grid"]] if s["context"] else [0.0]
    wgrid = [float(v) for v in s["ngram_weight_grid"]] if z["code_ngram"].any() else [0.0]
    rows_ok = ~np.isnan(z["code"][d.code_rows, 0])
    best = (np.inf,)
    for beta in pull_grid(s, cbe):
        zp = pulled_logits(z, beta)
        for wn in wgrid:
            zc = zp + wn * z["code_ngram"]
            for ws in sgrid:
                pen = ws * outside
                if s["calibration"] == "code-set":
                    fit = _fit_smoothing(zc, prev_idx, next_idx, grid, seg_rows, None, None,
                                         member=member, with_loss=True, penalty=pen)
                else:
                    fit = _fit_smoothing(zc, prev_idx, next_idx, grid, d.code_rows[rows_ok],
                                         d.code_y[rows_ok], d.code_w[rows_ok],
                                         with_loss=True, penalty=pen)
                if fit[2] < best[0] - 1e-9:
                    best = (fit[2], wn, fit[0], fit[1], ws, beta)
    return best[1:]


def _choose_codable_calibration(z, d, s, prev_idx, next_idx, m) -> tuple[float, float, float]:
    """The codable classifier's ``(ngram weight, neighbour weight, temperature)`` of least
    out-of-fold negative log-likelihood on the in-scope rows ``m``."""
    grid = [float(a) for a in s["smoothing_grid"]] if s["context"] else [0.0]
    wgrid = [float(v) for v in s["ngram_weight_grid"]] if z["codable_ngram"].any() else [0.0]
    best = (np.inf,)
    for wn in wgrid:
        fit = _fit_smoothing(z["codable"] + wn * z["codable_ngram"], prev_idx, next_idx, grid,
                             np.flatnonzero(m), d.codable[m], None, with_loss=True)
        if fit[2] < best[0] - 1e-9:
            best = (fit[2], wn, fit[0], fit[1])
    return best[1:]


def _fit_final(d, cbe, s, cb_texts, calib: _Calibration) -> dict[str, Any]:
    """The four classifiers fitted on every training segment, with the chosen temperatures
    and the code weights pulled toward the codebook by the chosen pull."""
    everything = np.ones(len(d.X), dtype=bool)
    code_clf = _fit_code(d, everything, cbe, s, temperature=calib.t_code)
    code_clf = pull_toward_codebook(code_clf, cbe, calib.pull, float(s["zero_shot_scale"]))
    return dict(code_clf_=code_clf,
                codable_clf_=_fit_codable(d, everything, s, temperature=calib.t_codable),
                code_ngram_=_fit_code_ngram(d, everything, cb_texts, s),
                codable_ngram_=_fit_codable_ngram(d, everything, s))


def _code_scope(segs, d, book_scope, source, weight, n_codes) -> dict[str, Any]:
    """``scope_``: the questions each code is scoped to (``[]`` = any) and the weight of
    the scope in the logits; learnt from every training transcript when ``"learnt"``."""
    if source == "codebook":
        questions = [list(q) for q in book_scope]
    elif source == "learnt":
        questions = [list(q) for q in learn_scope(segs, d, np.ones(len(segs), dtype=bool),
                                                  n_codes)]
    else:
        questions = [[] for _ in range(n_codes)]
    return {"source": source, "questions": questions, "weight": float(weight)}


def _training_record(segs, d, cod, calib: _Calibration, scope, n_codes, n_groups, learnt,
                     prior, data_hashes) -> dict[str, Any]:
    """``training_``: what the model learnt from and what it chose (saved in the model card)."""
    return {"zero_shot": False, "n_segments": len(segs),
            "n_segments_in_scope": int(d.in_scope.sum()),
            "n_coded_segments": int(d.codable.sum()),
            "n_codings": len(cod), "n_transcripts": n_groups,
            "codes_with_examples": learnt, "n_codes": n_codes,
            "temperature_code": calib.t_code, "temperature_codable": calib.t_codable,
            "calibrated": calib.calibrated, "prior": prior, "method": METHOD,
            "prior_pull": float(calib.pull),
            "smoothing_code": calib.smoothing["code"],
            "smoothing_codable": calib.smoothing["codable"],
            "ngram_weight_code": calib.ngram_weights["code"],
            "ngram_weight_codable": calib.ngram_weights["codable"],
            "scope_source": scope["source"], "scope_weight": float(calib.scope_weight),
            "codes_scoped": int(sum(1 for q in scope["questions"] if q)),
            "set_threshold": calib.set_rule.get("threshold"),
            "set_masi_oof": calib.set_rule.get("masi"), **data_hashes}


def _zero_shot(X, cbe, spec, s, data_hashes, segs, book) -> dict[str, Any]:
    """Codes by scaled cosine similarity to the entry texts (descriptions included), within
    the codebook's question scope; codable by similarity to their mean, the codable rate
    being ``zero_shot_codable_rate`` or :func:`default_codable_rate` of the corpus."""
    n_codes, dim = cbe.shape
    code_clf = CodebookClassifier(C=1.0, temperature=1.0)
    code_clf.classes_ = np.arange(n_codes)
    code_clf.n_features_in_ = spec.n_features
    coef = np.zeros((n_codes, spec.n_features))
    coef[:, :dim] = s["zero_shot_scale"] * cbe
    if n_codes == 2:
        # Two classes have one decision function (code 1 minus code 0), as sklearn fits
        # them: with one row per code, code 0's score was read as code 1's.
        coef = coef[1:] - coef[:1]
    code_clf.coef_ = coef
    code_clf.intercept_ = np.zeros(len(coef))
    mean = cbe.mean(axis=0)
    mean = mean / (np.linalg.norm(mean) or 1.0)
    sim = X[:, :dim] @ mean
    rate = s["zero_shot_codable_rate"]
    rate = default_codable_rate(segs) if rate is None else float(rate)
    scale, cut = zero_shot_codable(sim, rate)
    codable_clf = CodebookClassifier(C=1.0, temperature=1.0)
    codable_clf.classes_ = np.array([0, 1])
    codable_clf.n_features_in_ = spec.n_features
    cc = np.zeros((1, spec.n_features))
    cc[0, :dim] = scale * mean
    codable_clf.coef_ = cc
    codable_clf.intercept_ = np.array([-scale * cut])
    book_scope = codebook_scope(book) if s["scope"] in ("auto", "codebook") else None
    scope = ({"source": "codebook", "questions": [list(q) for q in book_scope],
              "weight": SCOPE_MASK} if book_scope is not None
             else {"source": "none", "questions": [[] for _ in range(n_codes)], "weight": 0.0})
    training = {"zero_shot": True, "n_segments": len(X), "n_codings": 0,
                "n_codes": n_codes, "codes_with_examples": 0, "calibrated": False,
                "prior": True, "method": METHOD, "codable_rate": rate,
                "scope_source": scope["source"], "scope_weight": scope["weight"],
                "codes_scoped": int(sum(1 for q in scope["questions"] if q)), **data_hashes}
    return dict(code_clf_=code_clf, codable_clf_=codable_clf,
                support_=np.zeros(n_codes, dtype=int), threshold_=0.5,
                codable_threshold_=0.5, training_=training, scope_=scope)


