"""Deductive pre-labelling: a calibrated classifier trained on human coding against a codebook.

The pure core of ``themeassist train``, ``label`` and ``suggest`` (DESIGN.md sections 3-4).
It takes tables and embedding arrays and returns tables, arrays and dicts; it reads and
writes nothing (:mod:`themeassist.modelstore` saves and loads models).

How a segment is labelled
-------------------------
1. **Features.** The segment's embedding, and (``context=True``) the embeddings of the
   previous and next segments *of the same transcript*, a one-hot of the question it
   answers, a one-hot of the speaker's role and its length; also one-hots of the columns
   in ``optional_categorical`` (``prompt``: a finer question id; ``kind``: utterance,
   note, moderator) when the training corpus has them. Context is computed within a
   transcript only, so labelling transcripts one at a time or all together gives identical
   rows (batch labelling can chunk by transcript). Beside the embedding classifiers, an
   :class:`NgramScorer` (sparse logistic regression on TF-IDF word 1-2-grams) scores codes
   and codability from the words; its logits are added to the embedding classifier's with
   a weight chosen, like the temperature, on out-of-fold likelihood (``ngram_weight_grid``;
   0 switches it off where the words carry nothing). It is fitted only from
   ``min_codings`` coded segments on: with fewer, it would only dilute the codebook prior.
2. **Codable?** A binary :class:`CodebookClassifier` says how likely a human would code the
   segment at all (most segments carry no code). Trained on every segment of the
   transcripts that have at least one human code.
3. **Which code?** A multinomial :class:`CodebookClassifier` over the codebook's codes,
   trained on the coded segments (a segment with *k* codes counts once, each code with
   weight 1/k) plus one pseudo-example per codebook entry: the embedding of the entry's
   text. The entry text is also a prior in the logits: ``lambda x scale x cos(segment,
   entry)`` is added, with ``lambda = n0 / (n0 + coded segments)`` (``prior_strength``
   n0 = 50): it decides with a handful of codings and fades as examples accumulate. So a
   code nobody has applied yet can still be predicted, and with no codings at all the
   model is zero-shot (similarity to the entry texts).
   Theme and valence probabilities are sums of code probabilities.
4. **Calibration.** Temperatures for both classifiers are fitted on out-of-fold logits of a
   cross-validation grouped by transcript (temperature scaling [1]_; for codes, with
   ``calibration="code-set"``, the likelihood that the label is *one of* the segment's
   codes, the event a confidence speaks about (:func:`fit_temperature_sets`); on the
   usability study this lowered ECE from 0.058 to 0.025), together with a
   neighbour weight (:func:`smooth_logits`: the logits of the previous and next segments
   are added, times a weight chosen from ``smoothing_grid`` by out-of-fold likelihood).
   The default grid is ``[0.0]`` (off): on the usability study it lowered code kappa
   from 0.552 to 0.543 and raised ECE from 0.050 to 0.058, the neighbours' embeddings
   already carrying that evidence. The same out-of-fold predictions choose the default review
   threshold (from the coverage-agreement curve) and the codable threshold (maximum
   Cohen's kappa of detection).
5. **Code scope.** A codebook may have a ``question`` column (one or several question ids
   per entry, ``1;3`` or ``1, 3``; empty = any question): a code is then never predicted
   for segments of other questions (its logit is masked, :func:`scope_outside`), in
   training, calibration, zero-shot and labelling alike. Without the column the scope is
   learnt from the human coding (:func:`learn_scope`: a code applied only under some
   questions gets a prior toward them, its logit lowered elsewhere by a weight chosen
   from ``scope_weight_grid`` on out-of-fold likelihood, so 0 when it does not help); the
   model card says which.
6. **Code sets.** Beside the softmax, each code gets a one-vs-rest calibrated probability
   of being among the segment's codes, and a segment's set is its top code plus the codes
   whose probability reaches a threshold; both are fitted on the out-of-fold predictions
   (:func:`fit_set_rule`) and evaluated with set agreement (:func:`set_metrics`: MASI alpha
   and per-code F1) beside the first-code kappa.
7. **Back-off.** A code is thin when its calibrated probability is below ``backoff``, or
   when it has fewer than ``min_support`` human examples and its probability is below the
   review threshold (so a rare code the model is sure of stays). A thin code backs off one
   level at a time: to its parent when the subtheme is a path (``a > b > c`` or
   ``a->b->c``, as REFI-QDA nests codes: ``a > b`` with the summed probability of the codes
   under it), then the next parent, and last its theme (empty valence and subtheme, the
   theme's probability).
8. **Zero-shot.** Without codings, codes are scored by similarity to the codebook entry
   texts (descriptions included) within their question scope, and the share of segments
   labelled is ``zero_shot_codable_rate``, by default chosen from the corpus
   (:func:`default_codable_rate`: 1.0 for survey answers or quotes, 0.35 for transcripts
   with facilitator turns).

References
----------
.. [1] Guo, Pleiss, Sun & Weinberger (2017). On calibration of modern neural networks.
   ICML, PMLR 70:1321-1330.
.. [2] Sener & Savarese (2018). Active learning for convolutional neural networks: a
   core-set approach. ICLR. (k-center greedy, used by :func:`suggest`.)
.. [3] Wang & Manning (2012). Baselines and bigrams: simple, good sentiment and topic
   classification. ACL, 90-94. (Word n-gram linear models as strong text baselines.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import warnings
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from themeassist import tables
from themeassist.errors import InputError, LittleDataWarning, ModelError, UndefinedStatisticWarning

log = logging.getLogger(__name__)

#: Versioned name of the method (R9): goes into model cards and manifests.
METHOD = "themeassist.classify.lr-ngram-context-temperature-scope-sets.v3"

#: Settings of :func:`train_model` and their defaults.
DEFAULT_SETTINGS: dict[str, Any] = {
    "name": "classify",
    "context": True,
    "categorical": ["question", "role"],
    # one-hot columns used when the training corpus has them (finer prompt id, line kind)
    "optional_categorical": ["prompt", "kind"],
    "C": 4.0,
    "codable_C": 1.0,
    "class_weight": None,
    "neighbour_weight": 0.5,
    "prior_weight": 1.0,
    "prior_strength": 50.0,
    "folds": 5,
    "backoff": 0.0,
    "min_support": 2,
    "second_code": 0.35,
    "target_kappa": 0.8,
    "min_codings": 50,
    "zero_shot_scale": 20.0,
    "smoothing_grid": [0.0],
    # share of segments a zero-shot model calls codable; None = chosen from the corpus
    # (default_codable_rate: 1.0 without facilitator turns, else 0.35)
    "zero_shot_codable_rate": None,
    # code scope: "auto" (the codebook's question column when it has one, else learnt from
    # the human coding), "codebook", "learnt" or "none"; the learnt scope's logit weight is
    # chosen from the grid on out-of-fold likelihood
    "scope": "auto",
    "scope_weight_grid": [0.0, 1.0, 2.0, 4.0, 8.0],
    "max_iter": 2000,
    # word n-gram scorers (NgramScorer): C of the code and codable ones (0 = off); their
    # logit weight is chosen from the grid on out-of-fold likelihood (ngram_weight when
    # there is too little data to calibrate)
    "ngram_C": 4.0,
    "ngram_codable_C": 16.0,
    "ngram_weight": 1.0,
    "ngram_weight_grid": [0.0, 0.5, 1.0, 2.0, 4.0],
    "ngram_range": [1, 2],
    "ngram_min_df": 2,
    # code temperature: "code-set" (any of a segment's codes is right) or "weighted"
    # (each code with weight 1/k, v1)
    "calibration": "code-set",
}

#: Values of the ``calibration`` setting.
CALIBRATIONS = ("code-set", "weighted")
#: Values of the ``scope`` setting.
SCOPES = ("auto", "codebook", "learnt", "none")


# --------------------------------------------------------------------------- estimator
def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


#: scikit-learn (>= 1.8) warns when a target has more distinct values than half its samples
#: ("`y` could represent a regression problem"). Ours are code indices, categorical by
#: construction, and a codebook of 185 codes with a few examples each trips the heuristic on
#: every small fold: before issue 16 a resumed run printed it 63 times (each
#: ``catch_warnings`` block resets Python's once-per-place memory). It is silenced only
#: around our own fits, never globally.
_MANY_CLASSES = "The number of unique classes is greater than 50% of the number of samples"


class CodebookClassifier(ClassifierMixin, BaseEstimator):
    """Multinomial logistic regression whose probabilities are temperature-scaled.

    The temperature is a hyperparameter chosen by cross-validation (see
    :func:`fit_temperature`), like ``C``; the fitted model is nothing but arrays
    (``coef_``, ``intercept_``, ``classes_``), so it can be saved without pickle.

    Parameters
    ----------
    C : float, default 1.0
        Inverse L2 regularisation strength (> 0).
    class_weight : None or "balanced", default None
        As in :class:`sklearn.linear_model.LogisticRegression`.
    temperature : float, default 1.0
        Logits are divided by it before the softmax (> 0); above 1 softens over-confident
        probabilities.
    max_iter : int, default 2000
        L-BFGS iterations.
    random_state : int or None, default None
        Passed to the solver (L-BFGS is deterministic; kept for the sklearn contract).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_classes, n_features), or (1, n_features) for two classes
    intercept_ : ndarray of shape (n_classes,) or (1,)
    n_iter_ : ndarray of shape (1,)
        Solver iterations (not saved with a model).
    n_features_in_ : int

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.2]])
    >>> clf = CodebookClassifier(C=10.0).fit(X, ["a", "a", "b", "b"])
    >>> clf.predict([[0.05, 0.95]]).tolist()
    ['a']
    >>> soft = CodebookClassifier(C=10.0, temperature=4.0).fit(X, ["a", "a", "b", "b"])
    >>> bool(soft.predict_proba([[0.0, 1.0]]).max() < clf.predict_proba([[0.0, 1.0]]).max())
    True
    """

    def __init__(self, C=1.0, *, class_weight=None, temperature=1.0, max_iter=2000,
                 random_state=None):
        self.C = C
        self.class_weight = class_weight
        self.temperature = temperature
        self.max_iter = max_iter
        self.random_state = random_state

    def _check_params(self) -> None:
        if not (isinstance(self.C, (int, float, np.number)) and self.C > 0):
            raise ValueError(f"C must be > 0, got {self.C!r}")
        if not (isinstance(self.temperature, (int, float, np.number)) and self.temperature > 0):
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if self.class_weight not in (None, "balanced") and not isinstance(self.class_weight, dict):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {self.class_weight!r}")

    def fit(self, X, y, sample_weight=None):
        """Fit the logistic regression; returns ``self``."""
        from sklearn.linear_model import LogisticRegression

        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_MANY_CLASSES)
            check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) == 1:
            # One class: a constant model (predicts it with probability 1).
            self.classes_ = classes
            self.coef_ = np.zeros((1, X.shape[1]))
            self.intercept_ = np.zeros(1)
            self.n_iter_ = np.zeros(1, dtype=np.int32)
            return self
        lr = LogisticRegression(C=float(self.C), class_weight=self.class_weight,
                                max_iter=self.max_iter, random_state=self.random_state)
        # One BLAS thread: L-BFGS on a few thousand rows is 10-20x slower with threads
        # fighting over shared cores (measured), and one thread is exactly reproducible.
        from threadpoolctl import threadpool_limits

        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.filterwarnings("ignore", message=".*lbfgs failed to converge.*")
            warnings.filterwarnings("ignore", message=_MANY_CLASSES)
            lr.fit(X, y, sample_weight=sample_weight)
        self.classes_ = lr.classes_
        self.coef_ = lr.coef_.copy()
        self.intercept_ = lr.intercept_.copy()
        self.n_iter_ = lr.n_iter_.copy()
        return self

    def decision_function(self, X):
        """Raw logits (before the temperature): (n,) for two classes, else (n, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        z = X @ self.coef_.T + self.intercept_
        if len(self.classes_) <= 2:
            return z[:, 0]
        return z

    def logits(self, X) -> np.ndarray:
        """Logits as an (n, n_classes) array (two classes: ``[0, z]``; one class: zeros)."""
        z = self.decision_function(X)
        if len(self.classes_) == 1:
            return np.zeros((len(z), 1))
        if z.ndim == 1:
            return np.column_stack([np.zeros_like(z), z])
        return z

    def predict_proba(self, X):
        """Calibrated class probabilities: softmax of logits / temperature."""
        check_is_fitted(self)
        return _softmax(self.logits(X) / float(self.temperature))

    def predict(self, X):
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = False
        return tags


def fit_temperature(logits: np.ndarray, y: np.ndarray, sample_weight=None) -> float:
    """The temperature that minimises the (weighted) negative log-likelihood [1]_.

    Parameters
    ----------
    logits : ndarray of shape (n, k)
        Out-of-fold logits.
    y : ndarray of shape (n,)
        Index of the true class of each row, in ``0..k-1``.
    sample_weight : ndarray of shape (n,), optional

    Returns
    -------
    float
        In ``[0.05, 20]``; 1.0 when there are fewer than two rows.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(500, 3)) * 10            # very over-confident logits
    >>> y = rng.integers(0, 3, 500)                   # that carry no information
    >>> fit_temperature(z, y) > 5
    True
    """
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=int)
    if len(y) < 2:
        return 1.0
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    return _best_temperature(lambda t: _nll(logits, y, w, t))


def fit_temperature_sets(logits: np.ndarray, member: np.ndarray) -> float:
    """The temperature that maximises the likelihood that the label is *one of* a set.

    For segments that carry several codes, the event a confidence speaks about is "a
    human coder applied this code" (any of the segment's codes counts as right), so the
    loss is ``-log sum_{c in set} softmax(z / T)_c`` [1]_. With one code per segment it
    is :func:`fit_temperature`.

    Parameters
    ----------
    logits : ndarray of shape (n, k)
    member : bool ndarray of shape (n, k)
        ``member[i, c]``: code ``c`` is among segment ``i``'s codes (at least one per row).

    Returns
    -------
    float
        In ``[0.05, 20]``; 1.0 when there are fewer than two rows.

    Examples
    --------
    >>> z = np.array([[3.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    >>> first = np.array([[0, 1, 0], [1, 0, 0], [1, 0, 0]], dtype=bool)  # first code only
    >>> sets = np.array([[1, 1, 0], [1, 0, 0], [1, 0, 0]], dtype=bool)   # all its codes
    >>> fit_temperature_sets(z, sets) < fit_temperature_sets(z, first)  # top code was right
    True
    """
    logits = np.asarray(logits, dtype=np.float64)
    member = np.asarray(member, dtype=bool)
    if len(logits) < 2:
        return 1.0
    return _best_temperature(lambda t: _set_nll(logits, member, t))


def _best_temperature(loss) -> float:
    """The temperature in ``[0.05, 20]`` minimising ``loss(T)``, searched on ``log T``."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda log_t: loss(np.exp(log_t)),
                          bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                          options={"xatol": 1e-6})
    return float(np.exp(res.x))


def _nll(z: np.ndarray, y: np.ndarray, w, t: float) -> float:
    """Mean (weighted) negative log-likelihood of classes ``y`` under ``softmax(z / t)``."""
    zz = z / t
    zz = zz - zz.max(axis=1, keepdims=True)
    lse = np.log(np.exp(zz).sum(axis=1))
    w = np.ones(len(y)) if w is None else w
    return float(np.sum(w * (lse - zz[np.arange(len(y)), y])) / w.sum())


def _set_nll(z: np.ndarray, member: np.ndarray, t: float) -> float:
    """Mean negative log-likelihood that the label is one of each row's ``member`` set."""
    zz = z / t
    zz = zz - zz.max(axis=1, keepdims=True)
    e = np.exp(zz)
    num = np.maximum(np.where(member, e, 0.0).sum(axis=1), 1e-300)
    return float(np.mean(np.log(e.sum(axis=1)) - np.log(num)))


def needs_review(confidence: np.ndarray, threshold: float) -> np.ndarray:
    """The abstention policy, outside the estimator (R7): below ``threshold`` goes to a human.

    Examples
    --------
    >>> needs_review(np.array([0.2, 0.9]), 0.5).tolist()
    [True, False]
    """
    return np.asarray(confidence) < threshold


# --------------------------------------------------------------------------- word n-grams
@dataclass(frozen=True)
class NgramScorer:
    """A sparse logistic regression over TF-IDF word n-grams of the segment text.

    Its logits are added to the embedding classifier's (a two-model ensemble averaged in
    logit space; Wang & Manning 2012): embeddings of a small sentence model blur the domain words a
    codebook turns on (``export``, ``metadata``, ``plot``), which n-grams keep. Nothing but
    arrays and a vocabulary, so it saves without pickle.

    The TF-IDF is sklearn's ``TfidfVectorizer(sublinear_tf=True, smooth_idf=True,
    norm="l2")`` over lower-cased word n-grams, recomputed from ``vocabulary`` and ``idf``.

    Attributes
    ----------
    vocabulary : tuple of str
        The n-grams, in column order.
    ngram_range : tuple of int
    idf : ndarray of shape (n_terms,)
    coef : ndarray of shape (n_classes, n_terms), or (1, n_terms) for a binary scorer
    intercept : ndarray of shape (n_classes,) or (1,)
    classes : ndarray of int

    Examples
    --------
    >>> texts = ["export the data", "export metadata", "the plot is slow", "slow plot"]
    >>> sc = fit_ngram_scorer(texts, np.array([0, 0, 1, 1]), C=10.0, min_df=1)
    >>> sc.logits(["data export"], 2).argmax(1).tolist()
    [0]
    """

    vocabulary: tuple[str, ...]
    ngram_range: tuple[int, int]
    idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray

    def transform(self, texts) -> Any:
        """The L2-normalised sublinear TF-IDF matrix (scipy CSR) of ``texts``."""
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        vec = CountVectorizer(vocabulary={t: i for i, t in enumerate(self.vocabulary)},
                              ngram_range=tuple(self.ngram_range), dtype=np.float64)
        M = vec.transform([str(t) for t in texts]).tocsr()
        M.data = 1.0 + np.log(M.data)
        M = M.multiply(self.idf[None, :]).tocsr()
        return normalize(M, norm="l2", copy=False)

    def decision(self, texts) -> np.ndarray:
        """Raw scores: (n, n_classes) or (n, 1) for a binary scorer."""
        if len(texts) == 0:
            return np.zeros((0, len(self.intercept)))
        return np.asarray(self.transform(texts) @ self.coef.T) + self.intercept

    def logits(self, texts, n_classes: int) -> np.ndarray:
        """Logits over all ``n_classes`` codes (0 for a class it never saw)."""
        z = np.zeros((len(texts), n_classes))
        d = self.decision(texts)
        if len(self.classes) == 2 and d.shape[1] == 1:
            z[:, self.classes.astype(int)] = np.column_stack([np.zeros(len(d)), d[:, 0]])
        elif len(self.classes) > 2:
            z[:, self.classes.astype(int)] = d
        return z

    def to_dict(self) -> dict[str, Any]:
        """The JSON part (the arrays go to the weights file)."""
        return {"vocabulary": list(self.vocabulary), "ngram_range": list(self.ngram_range)}


def fit_ngram_scorer(texts, y, sample_weight=None, *, C: float = 4.0, min_df: int = 2,
                     ngram_range: tuple[int, int] = (1, 2), max_iter: int = 2000,
                     seed: int = 0) -> NgramScorer | None:
    """Fit an :class:`NgramScorer`; ``None`` when there is one class or no n-gram.

    ``min_df`` counts training texts; the vocabulary is sorted, so fitting is deterministic.
    """
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    texts = [str(t) for t in texts]
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return None
    n = len(texts)
    try:
        cv = CountVectorizer(ngram_range=tuple(ngram_range), min_df=min(int(min_df), n),
                             dtype=np.float64).fit(texts)
    except ValueError:  # empty vocabulary
        return None
    vocab = tuple(cv.get_feature_names_out().tolist())
    df = np.bincount(cv.transform(texts).indices, minlength=len(vocab))
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    scorer = NgramScorer(vocab, tuple(int(v) for v in ngram_range), idf,
                         np.zeros((1, len(vocab))), np.zeros(1), np.unique(y))
    lr = LogisticRegression(C=float(C), max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.filterwarnings("ignore", message=".*lbfgs failed to converge.*")
        warnings.filterwarnings("ignore", message=_MANY_CLASSES)
        lr.fit(scorer.transform(texts), y, sample_weight=sample_weight)
    return NgramScorer(vocab, scorer.ngram_range, idf, lr.coef_.copy(), lr.intercept_.copy(),
                       lr.classes_.copy())


# --------------------------------------------------------------------------- features
@dataclass(frozen=True)
class FeatureSpec:
    """What the feature matrix holds; fixed at training and saved with the model.

    ``categories`` maps each categorical segment column (``question``, ``role``, ...) to
    the values seen in training, in order; each becomes a one-hot block.
    """

    dim: int
    context: bool
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()
    neighbour_weight: float = 0.5

    @property
    def n_features(self) -> int:
        if not self.context:
            return self.dim
        return 3 * self.dim + sum(len(v) for _, v in self.categories) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "context": self.context,
                "categories": {c: list(v) for c, v in self.categories},
                "category_order": [c for c, _ in self.categories],
                "neighbour_weight": self.neighbour_weight}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        cats = tuple((c, tuple(d["categories"][c])) for c in d["category_order"])
        return cls(dim=int(d["dim"]), context=bool(d["context"]), categories=cats,
                   neighbour_weight=float(d["neighbour_weight"]))


def _column(segments: pd.DataFrame, name: str) -> np.ndarray:
    if name not in segments.columns:
        return np.array([""] * len(segments), dtype=object)
    return tables._as_text(segments[name]).to_numpy()


def _check_embeddings(segments: pd.DataFrame, embeddings: np.ndarray, dim: int | None = None) -> np.ndarray:
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(segments):
        raise InputError("embeddings do not match the segments",
                         expected=f"an array of shape ({len(segments)}, dim)",
                         got=f"shape {emb.shape}")
    if dim is not None and emb.shape[1] != dim:
        raise ModelError(f"embeddings have {emb.shape[1]} dimensions but the model was trained "
                         f"on {dim}: use the embedding model the model was trained with")
    return emb


def feature_spec(segments: pd.DataFrame, dim: int, *, context: bool = True,
                 neighbour_weight: float = 0.5,
                 columns: tuple[str, ...] = ("question", "role")) -> FeatureSpec:
    """The feature layout learnt from a training corpus (sorted values of ``columns``)."""
    cats = tuple((c, tuple(sorted(set(_column(segments, c)) - {""}))) for c in columns) \
        if context else ()
    return FeatureSpec(dim=dim, context=context, categories=cats,
                       neighbour_weight=neighbour_weight)


def neighbours(segments: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row index of each segment's previous and next segment in its transcript (-1: none).

    Examples
    --------
    >>> seg = pd.DataFrame({"transcript_id": ["a", "b", "a"], "position": [5, 0, 2]})
    >>> [x.tolist() for x in neighbours(seg)]
    [[2, -1, -1], [-1, -1, 0]]
    """
    n = len(segments)
    tid = _column(segments, "transcript_id")
    pos = pd.to_numeric(segments["position"]).to_numpy() if n else np.zeros(0)
    order = np.lexsort((pos, tid)) if n else np.zeros(0, dtype=int)
    prev_idx = np.full(n, -1)
    next_idx = np.full(n, -1)
    for a, b in zip(order[:-1], order[1:]):
        if tid[a] == tid[b]:
            next_idx[a] = b
            prev_idx[b] = a
    return prev_idx, next_idx


def smooth_logits(z: np.ndarray, prev_idx: np.ndarray, next_idx: np.ndarray, alpha: float) -> np.ndarray:
    """``z_i + alpha (z_prev + z_next)``: neighbours' label evidence, within a transcript.

    Think-aloud and focus-group coders often code a passage of several segments at once,
    so the codes predicted for the neighbours are evidence for a segment's own. Logits
    are centred per row first, so that only their differences matter. Rows whose
    neighbour logits are missing (NaN, or no neighbour) add nothing.

    Examples
    --------
    >>> z = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    >>> smooth_logits(z, np.array([-1, 0, 1]), np.array([1, 2, -1]), 0.5)[1].tolist()
    [0.0, 0.0]
    >>> smooth_logits(z, np.array([-1, 0, 1]), np.array([1, -1, -1]), 0.5)[1].tolist()
    [0.5, -0.5]
    """
    if alpha == 0 or len(z) == 0:
        return z
    zc = z - z.mean(axis=1, keepdims=True)
    zc = np.where(np.isnan(zc), 0.0, zc)
    pad = np.vstack([zc, np.zeros((1, z.shape[1]))])
    return z + alpha * (pad[prev_idx] + pad[next_idx])


def build_features(segments: pd.DataFrame, embeddings: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """The feature matrix of ``segments`` (rows in the same order).

    Neighbours are the previous and next segments by ``position`` within the same
    ``transcript_id`` (zeros at a transcript's ends), so a transcript's rows do not depend
    on which other transcripts are passed along. Category values not seen in training
    (a new question) get all-zero one-hots.

    Examples
    --------
    >>> seg = pd.DataFrame({"segment_id": ["a:0", "a:1", "b:0"], "transcript_id": ["a", "a", "b"],
    ...                     "position": [0, 1, 0], "text": ["x", "y", "z"], "question": ["1", "1", "2"]})
    >>> emb = np.eye(3, dtype=np.float32)
    >>> spec = feature_spec(seg, 3)
    >>> X = build_features(seg, emb, spec)
    >>> X.shape, X[0, 3:6].tolist(), X[2, 6:9].tolist()   # a:0 has no previous, b:0 no next
    ((3, 12), [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    >>> np.array_equal(build_features(seg.iloc[[2]], emb[[2]], spec), X[[2]])
    True
    """
    emb = _check_embeddings(segments, embeddings, spec.dim)
    if not spec.context:
        return emb.astype(np.float64)
    n = len(segments)
    prev_idx, next_idx = neighbours(segments)
    zero = np.zeros((1, spec.dim), dtype=np.float32)
    padded = np.vstack([emb, zero]).astype(np.float64)  # index -1 -> the zero row
    blocks = [emb.astype(np.float64), padded[prev_idx] * spec.neighbour_weight,
              padded[next_idx] * spec.neighbour_weight]
    for col, values in spec.categories:
        vmap = {v: i for i, v in enumerate(values)}
        B = np.zeros((n, len(values)))
        for i, v in enumerate(_column(segments, col)):
            if v in vmap:
                B[i, vmap[v]] = 1.0
        blocks.append(B)
    words = np.array([len(str(t).split()) for t in segments["text"]], dtype=np.float64)
    blocks.append((np.log1p(words) / 5.0)[:, None])
    return np.hstack(blocks)


def _prior_rows(codebook_embeddings: np.ndarray, n_features: int) -> np.ndarray:
    """Pseudo-examples: a codebook entry's embedding in the text slot, no context."""
    X = np.zeros((len(codebook_embeddings), n_features))
    X[:, :codebook_embeddings.shape[1]] = codebook_embeddings
    return X


#: The text embedded for each codebook entry (shared with discovery).
codebook_texts = tables.codebook_texts

# --------------------------------------------------------------------------- code scope
#: Logit added to a code outside its codebook scope (a hard mask: probability ~0).
SCOPE_MASK = 1e4
#: Role and kind values of facilitator turns (zero-shot codable rate, see
#: :func:`default_codable_rate`).
FACILITATOR_ROLES = frozenset({"facilitator", "moderator", "interviewer"})
FACILITATOR_KINDS = frozenset({"moderator", "note"})


def parse_questions(value) -> tuple[str, ...]:
    """Question ids of a codebook ``question`` cell: ``"1;3"``, ``"1, 3"``; empty = any.

    Examples
    --------
    >>> parse_questions("1; 3"), parse_questions("2,4 , 5"), parse_questions("")
    (('1', '3'), ('2', '4', '5'), ())
    >>> parse_questions(3.0)
    ('3',)
    """
    text = tables._as_text(pd.Series([value])).iat[0]
    return tuple(dict.fromkeys(p.strip() for p in re.split(r"[;,]", text) if p.strip()))


def codebook_scope(codebook: pd.DataFrame) -> list[tuple[str, ...]] | None:
    """Each entry's questions from the codebook's ``question`` column (None: no column).

    An empty cell scopes the entry to any question. A column that is empty on every row
    counts as no column.
    """
    if "question" not in codebook.columns:
        return None
    scope = [parse_questions(v) for v in codebook["question"]]
    return scope if any(scope) else None


def learn_scope(segments: pd.DataFrame, d: _Data, train_seg: np.ndarray,
                n_codes: int) -> list[tuple[str, ...]]:
    """The questions each code was applied under in the human coding (the learnt scope).

    Rule: a code with at least one human example, all on segments of questions ``Q``
    (segments with no question are ignored), is scoped to ``Q``; a code without examples
    (or seen only on segments without a question) stays unscoped (``()``). The scope is
    soft: :func:`scope_outside` marks segments of other questions and the model lowers the
    code's logit there by a weight chosen on out-of-fold likelihood (0 = no effect).
    """
    q = _column(segments, "question")
    seen: list[set[str]] = [set() for _ in range(n_codes)]
    keep = train_seg[d.code_rows]
    for s, c in zip(d.code_rows[keep], d.code_y[keep]):
        if q[s]:
            seen[c].add(q[s])
    return [tuple(sorted(x)) for x in seen]


def scope_outside(segments: pd.DataFrame, scope: Sequence[Sequence[str]] | None,
                  n_codes: int) -> np.ndarray:
    """``out[i, j]``: segment ``i`` answers a question outside code ``j``'s scope.

    Segments with no question, and codes scoped to any question, are never outside.

    Examples
    --------
    >>> seg = pd.DataFrame({"question": ["1", "2", ""]})
    >>> scope_outside(seg, [("1",), (), ("2", "3")], 3).astype(int).tolist()
    [[0, 0, 1], [1, 0, 0], [0, 0, 0]]
    """
    out = np.zeros((len(segments), n_codes), dtype=bool)
    if not scope:
        return out
    q = _column(segments, "question")
    for j, qs in enumerate(scope):
        if qs:
            allowed = set(qs)
            out[:, j] = np.array([bool(v) and v not in allowed for v in q], dtype=bool)
    return out


def default_codable_rate(segments: pd.DataFrame) -> float:
    """The zero-shot codable rate chosen from the corpus (setting ``zero_shot_codable_rate``
    ``None``).

    Rule: a corpus with no facilitator turn (no segment whose ``role`` is facilitator,
    moderator or interviewer, and none whose ``kind`` is a moderator line or a note), such
    as a table of survey answers or a list of quotes where every segment is a
    participant's answer, is all codable: 1.0. A transcript with facilitator turns: 0.35,
    about the share of participant talk a coder codes in the studies we measured on.

    Examples
    --------
    >>> default_codable_rate(pd.DataFrame({"role": ["participant", ""]}))
    1.0
    >>> default_codable_rate(pd.DataFrame({"role": ["facilitator", "participant"]}))
    0.35
    """
    roles = {str(v).strip().lower() for v in _column(segments, "role")}
    kinds = {str(v).strip().lower() for v in _column(segments, "kind")}
    if roles & FACILITATOR_ROLES or kinds & FACILITATOR_KINDS:
        return 0.35
    return 1.0


# --------------------------------------------------------------------------- hierarchy
#: Separators of a code path inside a subtheme: ``a > b`` (REFI-QDA import) and ``a->b``.
PATH_SPLIT = re.compile(r"\s*-?>\s*")


def code_path(subtheme: str) -> tuple[str, ...]:
    """The levels of a subtheme written as a path (``"a > b > c"`` or ``"a->b->c"``).

    Examples
    --------
    >>> code_path("Access > Transport -> Cost"), code_path("Peer support")
    (('Access', 'Transport', 'Cost'), ('Peer support',))
    """
    return tuple(p for p in PATH_SPLIT.split(str(subtheme).strip()) if p)


def hierarchy_ancestors(codebook: pd.DataFrame) -> list[list[tuple[str, str, np.ndarray]]]:
    """For each code, its ancestors below the theme, nearest first.

    Each ancestor is ``(valence, subtheme path joined by " > ", codes under it)``, the
    codes being the codebook rows of the same theme and valence whose path starts with the
    ancestor's. The theme itself is not listed (it is the last back-off level).
    """
    paths = [code_path(s) for s in codebook["subtheme"]]
    themes = codebook["theme"].to_numpy()
    vals = codebook["valence"].to_numpy()
    out = []
    for j, p in enumerate(paths):
        anc = []
        for depth in range(len(p) - 1, 0, -1):
            pre = p[:depth]
            under = np.array([k for k, q in enumerate(paths) if themes[k] == themes[j]
                              and vals[k] == vals[j] and q[:depth] == pre], dtype=int)
            anc.append((vals[j], " > ".join(pre), under))
        out.append(anc)
    return out


# --------------------------------------------------------------------------- code sets
def _set_features(P: np.ndarray) -> np.ndarray:
    """Per (segment, code): log probability and whether the code is the segment's top one."""
    logp = np.log(np.clip(P, 1e-12, 1.0))
    top = np.zeros_like(P)
    top[np.arange(len(P)), P.argmax(1)] = 1.0
    return np.stack([logp.ravel(), top.ravel()], axis=1)


def fit_set_rule(P: np.ndarray, member: np.ndarray, *, seed: int = 0) -> dict[str, float]:
    """One-vs-rest calibration of code membership and the set-size rule, from out-of-fold data.

    ``q_j = sigmoid(a log p_j + b [j is the top code] + c)`` is the probability that a
    human coder applied code ``j`` to a coded segment (Platt scaling [4]_ of the softmax
    probability ``p_j``, pooled over codes). A segment's set is its top code plus every
    other code with ``q_j >= threshold``; the threshold is the one (of 0.10-0.90) that
    maximises the mean MASI agreement ``1 - d`` (:func:`themeassist.agree.masi_distance`)
    between predicted and human sets on the same out-of-fold predictions.

    Parameters
    ----------
    P : ndarray of shape (n, k)
        Out-of-fold calibrated code probabilities of coded segments.
    member : bool ndarray of shape (n, k)
        The human code sets.

    Returns
    -------
    dict
        ``a``, ``b``, ``c``, ``threshold`` and ``masi`` (the mean agreement reached).
    """
    from sklearn.linear_model import LogisticRegression

    from themeassist.agree import masi_distance

    F = _set_features(P)
    y = member.ravel().astype(int)
    if len(np.unique(y)) < 2:
        return {"a": 1.0, "b": 0.0, "c": 0.0, "threshold": 1.0, "masi": float("nan")}
    lr = LogisticRegression(C=100.0, max_iter=1000, random_state=seed).fit(F, y)
    rule = {"a": float(lr.coef_[0, 0]), "b": float(lr.coef_[0, 1]), "c": float(lr.intercept_[0])}
    Q = set_probabilities(P, rule)
    human = [set(np.flatnonzero(m).tolist()) for m in member]
    best = (-1.0, 1.0)
    for t in np.round(np.arange(0.10, 0.901, 0.05), 2):
        S = predict_sets(P, Q, float(t))
        score = float(np.mean([1 - masi_distance(set(np.flatnonzero(s).tolist()), h)
                               for s, h in zip(S, human)]))
        if score > best[0] + 1e-9:
            best = (score, float(t))
    return {**rule, "threshold": best[1], "masi": best[0]}


def set_probabilities(P: np.ndarray, rule: dict[str, float] | None) -> np.ndarray:
    """Per-code membership probabilities ``q`` of :func:`fit_set_rule` (``P`` without a rule)."""
    if not rule:
        return P
    F = _set_features(P)
    z = rule["a"] * F[:, 0] + rule["b"] * F[:, 1] + rule["c"]
    return (1.0 / (1.0 + np.exp(-z))).reshape(P.shape)


def predict_sets(P: np.ndarray, Q: np.ndarray, threshold: float, max_codes: int = 4) -> np.ndarray:
    """Each segment's code set: its top code, plus codes with ``Q >= threshold`` (at most
    ``max_codes`` in all, the most probable first).

    Examples
    --------
    >>> P = np.array([[0.6, 0.3, 0.1]])
    >>> predict_sets(P, P, 0.25).astype(int).tolist(), predict_sets(P, P, 0.9).astype(int).tolist()
    ([[1, 1, 0]], [[1, 0, 0]])
    """
    order = np.argsort(-Q, axis=1, kind="stable")[:, :max_codes]
    S = np.zeros(Q.shape, dtype=bool)
    S[np.arange(len(Q))[:, None], order] = np.take_along_axis(Q, order, axis=1) >= threshold
    S[np.arange(len(P)), P.argmax(1)] = True
    return S


def set_metrics(human: Sequence[set], predicted: Sequence[set], codes: Sequence[str]) -> dict[str, Any]:
    """Set agreement of two coders over the same segments: MASI alpha and per-code F1.

    ``masi_alpha`` is Krippendorff's alpha with the MASI distance (Passonneau 2006, via
    :func:`themeassist.agree.masi_alpha`); ``masi_mean`` the mean ``1 - d``;
    ``exact_match`` the share of identical sets; ``per_code_f1_macro`` the mean, over codes
    a human applied, of the F1 of "this code is in the segment's set"; ``mean_set_size``
    of each coder.

    Examples
    --------
    >>> h = [{"a"}, {"a", "b"}, {"b"}]
    >>> p = [{"a"}, {"a", "b"}, {"a", "b"}]
    >>> m = set_metrics(h, p, ["a", "b"])
    >>> round(m["masi_alpha"], 4), m["exact_match"], round(m["per_code_f1_macro"], 3)
    (0.5833, 0.667, 0.9)
    """
    from themeassist import agree

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedStatisticWarning)
        alpha = agree.masi_alpha([[tuple(sorted(map(str, h))), tuple(sorted(map(str, p)))]
                                  for h, p in zip(human, predicted)])
    f1s = []
    for c in codes:
        h = np.array([c in s for s in human])
        p = np.array([c in s for s in predicted])
        if not h.any():
            continue
        tp = float((h & p).sum())
        f1s.append(2 * tp / (h.sum() + p.sum()))
    return {"n": len(human), "masi_alpha": float(alpha),
            "masi_mean": float(np.mean([1 - agree.masi_distance(h, p)
                                        for h, p in zip(human, predicted)])) if human else float("nan"),
            "exact_match": round(float(np.mean([set(h) == set(p) for h, p in zip(human, predicted)])), 3)
            if human else float("nan"),
            "per_code_f1_macro": float(np.mean(f1s)) if f1s else float("nan"),
            "mean_set_size_human": float(np.mean([len(s) for s in human])) if human else float("nan"),
            "mean_set_size_predicted": float(np.mean([len(s) for s in predicted])) if human else float("nan")}


# --------------------------------------------------------------------------- the model
@dataclass
class CodingModel:
    """A trained pre-labelling model: two calibrated classifiers, the codebook and settings.

    Build it with :func:`train_model`; save and load it with :mod:`themeassist.modelstore`.

    Attributes
    ----------
    name_ : str
        The coder name of its labels, ``"model:<name>@<hash12>"``; the hash covers the
        training data, codebook, embedding model and settings.
    codebook_ : DataFrame
        The codebook it was trained on (codes = its rows, in order).
    embedding_model_ : str
        The :attr:`Embedder.model_id <themeassist.embed.Embedder.model_id>` of the
        embeddings it was trained on, e.g. ``"all-MiniLM-L6-v2@53aa51172d14"``.
    embedding_source_ : str
        The model name or folder to pass to :class:`~themeassist.embed.Embedder`.
    threshold_ : float
        Default review threshold on ``confidence``.
    codable_threshold_ : float
        A segment with codable probability at or above it is labelled.
    evaluation_ : dict
        :func:`evaluate_model`'s results when trained with ``evaluate=True``, else ``{}``.
    settings_ : dict
        Every setting of :func:`train_model` (seed included).
    spec_ : FeatureSpec
        The feature layout (embedding size, context, category values).
    code_clf_, codable_clf_ : CodebookClassifier
        The code classifier (classes = codebook rows) and the codable classifier (0/1);
        their ``temperature`` is the fitted calibration.
    support_ : ndarray of int
        Human examples per code (back-off when below ``min_support``).
    training_ : dict
        What it learnt from: counts, temperatures, data hashes, ``zero_shot``.
    smoothing_ : dict
        Neighbour weights of :func:`smooth_logits` for ``code`` and ``codable``.
    scope_ : dict
        Code scope: ``source`` (``"codebook"``: the codebook's ``question`` column, a hard
        mask; ``"learnt"``: the questions each code was applied under, a soft prior;
        ``"none"``), ``questions`` (per code, ``[]`` = any) and ``weight`` (the logit
        lowered outside the scope).
    set_rule_ : dict
        :func:`fit_set_rule`'s one-vs-rest calibration and set threshold (``{}``: none, then
        ``settings_["second_code"]`` decides further codes).
    """

    name_: str
    codebook_: pd.DataFrame
    embedding_model_: str
    embedding_source_: str
    spec_: FeatureSpec
    code_clf_: CodebookClassifier
    codable_clf_: CodebookClassifier
    support_: np.ndarray
    threshold_: float
    codable_threshold_: float
    settings_: dict[str, Any]
    evaluation_: dict[str, Any] = field(default_factory=dict)
    training_: dict[str, Any] = field(default_factory=dict)
    smoothing_: dict[str, float] = field(default_factory=lambda: {"code": 0.0, "codable": 0.0})
    code_ngram_: NgramScorer | None = None
    codable_ngram_: NgramScorer | None = None
    ngram_weights_: dict[str, float] = field(default_factory=lambda: {"code": 0.0, "codable": 0.0})
    scope_: dict[str, Any] = field(default_factory=lambda: {"source": "none", "questions": [],
                                                            "weight": 0.0})
    set_rule_: dict[str, float] = field(default_factory=dict)

    # -- derived views
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
        segs = tables.validate_segments(segments)
        X = build_features(segs, embeddings, self.spec_)
        prev_idx, next_idx = neighbours(segs)
        texts = segs["text"].tolist()
        zc = _codable_logit(self.codable_clf_, X)
        if self.codable_ngram_ is not None and self.ngram_weights_["codable"]:
            zc = zc + self.ngram_weights_["codable"] * self.codable_ngram_.logits(texts, 2)
        zc = smooth_logits(zc, prev_idx, next_idx, float(self.smoothing_["codable"]))
        codable = _softmax(zc / float(self.codable_clf_.temperature))[:, 1]
        z = _full_logits(self.code_clf_, X, len(self.codebook_))
        if self.code_ngram_ is not None and self.ngram_weights_["code"]:
            z = z + self.ngram_weights_["code"] * self.code_ngram_.logits(texts, len(self.codebook_))
        z = smooth_logits(z, prev_idx, next_idx, float(self.smoothing_["code"]))
        z = z - self.scope_penalty(segs)
        code = _softmax(z / float(self.code_clf_.temperature))
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
        thr = float(self.set_rule_["threshold"]) if self.set_rule_ else float(self.settings_["second_code"])
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
            codes of probability ``settings_["second_code"]`` or more). ``best_code`` and
            ``best_probability`` are the segment's most probable code and its probability,
            on every row, the ``level="none"`` rows of ``all_segments`` included. See
            :meth:`_backoff` for when a code backs off. ``priority`` is the review priority
            of the segment: the probability that its label is wrong (``codable`` for a
            segment judged not codable, else ``1 - codable x`` its best code's probability),
            the same on every row of a segment.

        Notes
        -----
        Deterministic: the same segments and embeddings give the same rows, whether
        transcripts are passed together or one at a time.
        """
        thr = self.threshold_ if threshold is None else float(threshold)
        if not 0 <= thr <= 1:
            raise InputError("threshold is not a probability", expected="0 <= P <= 1", got=thr)
        segs = tables.validate_segments(segments)
        codable, P, Q, S = self.predict_sets(segs, embeddings)
        cb = self.codebook_
        themes = cb["theme"].to_numpy()
        labels = np.array(self.codes_, dtype=object)
        theme_names = list(dict.fromkeys(themes))
        theme_of = np.array([theme_names.index(t) for t in themes])
        T = np.zeros((len(P), len(theme_names)))
        for j, k in enumerate(theme_of):
            T[:, k] += P[:, j]
        ancestors = hierarchy_ancestors(cb)
        rows = []
        ids = segs["segment_id"].to_numpy()
        # review priority: the probability that the segment's label is wrong, "no code"
        # included (the review queue of issue 13 orders by it)
        priority = np.where(codable < self.codable_threshold_, codable,
                            1 - codable * P.max(axis=1)) if len(P) else np.zeros(0)
        for i in range(len(segs)):
            best = int(P[i].argmax()) if P.shape[1] else 0
            tail = (labels[best], P[i, best], codable[i])
            if codable[i] < self.codable_threshold_:
                if all_segments:
                    rows.append((ids[i], "", "", "", np.nan, np.nan, True, "none", False,
                                 *tail[2:], 0, *tail[:2]))
                continue
            picks = sorted(np.flatnonzero(S[i]).tolist(), key=lambda j: (-P[i, j], j))
            seen = set()
            for rank, j in enumerate(picks, start=1):
                level, th, va, su, conf = self._backoff(i, j, P, T, theme_of, ancestors, thr)
                key = (th, va, su)
                if key in seen:
                    continue
                seen.add(key)
                rows.append((ids[i], th, va, su, conf, Q[i, j], bool(needs_review(conf, thr)),
                             level, level != "code", codable[i], rank, *tail[:2]))
        out = pd.DataFrame(rows, columns=["segment_id", "theme", "valence", "subtheme",
                                          "confidence", "code_probability", "needs_review",
                                          "level", "backed_off", "codable", "rank",
                                          "best_code", "best_probability"])
        out.insert(1, "coder", self.name_)
        pos = {sid: i for i, sid in enumerate(ids)}
        out["priority"] = np.round(
            priority[out["segment_id"].map(pos).to_numpy(dtype=int)], 6) if len(out) else []
        for col in ("confidence", "code_probability", "codable", "best_probability"):
            out[col] = out[col].astype(float).round(6)
        out["needs_review"] = out["needs_review"].astype(bool)
        out["backed_off"] = out["backed_off"].astype(bool)
        out["rank"] = out["rank"].astype(int)
        return out

    def _backoff(self, i, j, P, T, theme_of, ancestors, thr):
        """The level code ``j`` of segment ``i`` is reported at: ``(level, theme, valence,
        subtheme, confidence)``.

        A code is *thin* when its probability is below ``backoff``, or when it has fewer
        than ``min_support`` human examples *and* its probability is below the review
        threshold (a rare code the model is sure of stays: issue 14). A thin code backs off
        one level at a time: to its parent in the subtheme path (``a > b > c`` -> ``a > b``,
        the summed probability of the codes under it, support summed too), then the next,
        and last to its theme (empty valence and subtheme, the theme's probability). A
        zero-shot model never backs off (no code has examples).
        """
        cb = self.codebook_
        backoff = float(self.settings_["backoff"])
        min_support = int(self.settings_["min_support"])

        def thin(p, support):
            return p < backoff or (support < min_support and p < thr)

        th = cb["theme"].iat[j]
        if self.zero_shot_ or not thin(P[i, j], int(self.support_[j])):
            return "code", th, cb["valence"].iat[j], cb["subtheme"].iat[j], float(P[i, j])
        for val, path, under in ancestors[j]:
            p = float(P[i, under].sum())
            if not thin(p, int(self.support_[under].sum())):
                return "parent", th, val, path, p
        return "theme", th, "", "", float(T[i, theme_of[j]])


def check_codebook_match(model: CodingModel, codebook: pd.DataFrame) -> None:
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


def _code_index(codings: pd.DataFrame, codebook: pd.DataFrame) -> np.ndarray:
    """Codebook row of each coding (-1 for theme-level codes that name no entry)."""
    lookup = {c: i for i, c in enumerate(tables.code_labels(codebook))}
    return np.array([lookup.get(c, -1) for c in tables.code_labels(codings)], dtype=int)


@dataclass
class _Data:
    """Training data in arrays: what the classifiers are fitted on."""

    X: np.ndarray                 # features of all segments
    groups: np.ndarray            # transcript of each segment
    in_scope: np.ndarray          # segment is in a transcript that has codings
    codable: np.ndarray           # 1 if any code
    code_rows: np.ndarray         # segment index of each (segment, code) row
    code_y: np.ndarray            # code index of each row
    code_w: np.ndarray            # 1/k for a segment with k codes
    first_code: np.ndarray        # first code per segment (-1 if none)
    code_sets: list               # set of code indices per segment
    texts: np.ndarray | None = None  # segment texts (for the n-gram scorers)


def _prepare(segs, codings, codebook, X, decided=None) -> _Data:
    """Arrays of the training data.

    ``decided``: segment ids a human has read (coded or not). ``None``: every segment of a
    transcript with at least one code (DESIGN.md section 3, decisions). A decided segment
    without codes is a confirmed "no code"; a segment nobody decided is unknown, so it is
    out of scope for the codable classifier.
    """
    n = len(segs)
    sid = segs["segment_id"].to_numpy()
    pos_of = {s: i for i, s in enumerate(sid)}
    groups = segs["transcript_id"].to_numpy()
    cod = codings.copy()
    cod = cod[cod["segment_id"].isin(pos_of)]
    idx = _code_index(cod, codebook)
    seg_idx = cod["segment_id"].map(pos_of).to_numpy(dtype=int)
    codable = np.zeros(n, dtype=int)
    codable[seg_idx] = 1
    if decided is None:
        coded_groups = set(groups[seg_idx])
        in_scope = np.array([g in coded_groups for g in groups])
    else:
        in_scope = np.isin(sid, np.asarray(list(decided), dtype=object))
        in_scope[seg_idx] = True   # a coded segment was read, whatever the list says
    code_sets: list[list[int]] = [[] for _ in range(n)]
    for s, c in zip(seg_idx, idx):
        if c >= 0 and c not in code_sets[s]:
            code_sets[s].append(c)
    first = np.array([cs[0] if cs else -1 for cs in code_sets])
    rows, ys, ws = [], [], []
    for s, cs in enumerate(code_sets):
        for c in cs:
            rows.append(s)
            ys.append(c)
            ws.append(1.0 / len(cs))
    return _Data(X=X, groups=groups, in_scope=in_scope, codable=codable,
                 code_rows=np.array(rows, dtype=int), code_y=np.array(ys, dtype=int),
                 code_w=np.array(ws), first_code=first, code_sets=code_sets,
                 texts=np.array([str(t) for t in segs["text"]], dtype=object))


def _fit_code(d: _Data, train_seg: np.ndarray, cbe, s, temperature=1.0):
    keep = train_seg[d.code_rows]
    X = d.X[d.code_rows[keep]]
    y = d.code_y[keep]
    w = d.code_w[keep]
    n_codes = None if cbe is None else len(cbe)
    if cbe is not None and s["prior_weight"] > 0:
        X = np.vstack([X, _prior_rows(cbe, d.X.shape[1])])
        y = np.concatenate([y, np.arange(n_codes)])
        w = np.concatenate([w, np.full(n_codes, float(s["prior_weight"]))])
    clf = CodebookClassifier(C=s["C"], class_weight=s["class_weight"], temperature=temperature,
                             max_iter=s["max_iter"], random_state=s["seed"])
    clf.fit(X, y, sample_weight=w)
    if cbe is not None and s["prior_strength"] > 0:
        # The codebook prior in the logits: + lambda * scale * cos(segment, entry text), with
        # lambda = n0 / (n0 + coded segments): decisive with a handful of codings, fading
        # as human examples accumulate. The model stays linear (same saved arrays).
        n_seg = float(w[: int(keep.sum())].sum())
        lam = float(s["prior_strength"]) / (float(s["prior_strength"]) + n_seg)
        rows = clf.classes_.astype(int)
        if len(rows) == n_codes:
            clf.coef_ = clf.coef_.copy()
            prior = lam * float(s["zero_shot_scale"]) * cbe[rows]
            if clf.coef_.shape[0] == 1 and len(rows) == 2:
                # Two codes: one decision function (code 1 minus code 0), so the prior
                # enters as the difference of the two entries' terms.
                prior = prior[1:] - prior[:1]
            clf.coef_[:, : cbe.shape[1]] += prior
    return clf


def _fit_codable(d: _Data, train_seg: np.ndarray, s, temperature=1.0):
    m = train_seg & d.in_scope
    clf = CodebookClassifier(C=s["codable_C"], class_weight=s["class_weight"],
                             temperature=temperature, max_iter=s["max_iter"],
                             random_state=s["seed"])
    return clf.fit(d.X[m], d.codable[m])


def _fit_code_ngram(d: _Data, train_seg: np.ndarray, cb_texts, s) -> NgramScorer | None:
    """The n-gram scorer of codes (``ngram_C`` 0: none); codebook texts are pseudo-examples.

    None below ``min_codings`` coded rows: too few to weigh words, it would only dilute the
    codebook prior.
    """
    keep = train_seg[d.code_rows]
    if not s["ngram_C"] or d.texts is None or keep.sum() < s["min_codings"]:
        return None
    texts = list(d.texts[d.code_rows[keep]])
    y = d.code_y[keep]
    w = d.code_w[keep]
    if cb_texts is not None and s["prior_weight"] > 0:
        texts += list(cb_texts)
        y = np.concatenate([y, np.arange(len(cb_texts))])
        w = np.concatenate([w, np.full(len(cb_texts), float(s["prior_weight"]))])
    if len(y) == 0:
        return None
    return fit_ngram_scorer(texts, y, w, C=s["ngram_C"], min_df=s["ngram_min_df"],
                            ngram_range=tuple(s["ngram_range"]), max_iter=s["max_iter"],
                            seed=s["seed"])


def _fit_codable_ngram(d: _Data, train_seg: np.ndarray, s) -> NgramScorer | None:
    """The n-gram scorer of codability (``ngram_codable_C`` 0: none)."""
    m = train_seg & d.in_scope
    if (not s["ngram_codable_C"] or d.texts is None
            or d.codable[m].sum() < s["min_codings"]):
        return None
    return fit_ngram_scorer(d.texts[m], d.codable[m], C=s["ngram_codable_C"],
                            min_df=s["ngram_min_df"], ngram_range=tuple(s["ngram_range"]),
                            max_iter=s["max_iter"], seed=s["seed"])


def _full_logits(clf: CodebookClassifier, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Logits over all ``n_classes`` codes (classes absent from training get -inf-ish)."""
    z = np.full((len(X), n_classes), -50.0)
    z[:, clf.classes_.astype(int)] = clf.logits(X)
    return z


def _codable_logit(clf: CodebookClassifier, X: np.ndarray) -> np.ndarray:
    """(n, 2) logits of [not codable, codable]."""
    if len(clf.classes_) == 1:
        z = np.full(len(X), 50.0 if clf.classes_[0] == 1 else -50.0)
    else:
        z = clf.decision_function(X)
    return np.column_stack([np.zeros_like(z), z])


def _grouped_folds(groups: np.ndarray, mask: np.ndarray, folds: int):
    """Folds over the transcripts in ``mask`` (sorted names, round robin): deterministic."""
    names = sorted(set(groups[mask]))
    k = min(folds, len(names))
    for f in range(k):
        test_names = set(names[f::k])
        test = np.array([g in test_names for g in groups]) & mask
        yield ~np.isin(groups, list(test_names)), test


def _cross_fit(d: _Data, cbe, n_codes: int, s, cb_texts=None, segs=None) -> dict[str, np.ndarray]:
    """Out-of-fold raw logits for every in-scope segment (grouped by transcript)."""
    n = len(d.X)
    code_z = np.full((n, n_codes), np.nan)
    codable_z = np.full((n, 2), np.nan)
    code_ng = np.zeros((n, n_codes))      # n-gram logits (zero where no scorer was fitted)
    codable_ng = np.zeros((n, 2))
    outside = np.zeros((n, n_codes))      # learnt scope of the fold's training transcripts
    for train, test in _grouped_folds(d.groups, d.in_scope, s["folds"]):
        if not (d.codable[train & d.in_scope]).any():
            continue
        if segs is not None:
            outside[test] = scope_outside(segs[test], learn_scope(segs, d, train, n_codes), n_codes)
        code_clf = _fit_code(d, train, cbe, s)
        codable_clf = _fit_codable(d, train, s)
        code_z[test] = _full_logits(code_clf, d.X[test], n_codes)
        codable_z[test] = _codable_logit(codable_clf, d.X[test])
        ng = _fit_code_ngram(d, train, cb_texts, s)
        if ng is not None:
            code_ng[test] = ng.logits(d.texts[test], n_codes)
        ng = _fit_codable_ngram(d, train, s)
        if ng is not None:
            codable_ng[test] = ng.logits(d.texts[test], 2)
    return {"code": code_z, "codable": codable_z, "code_ngram": code_ng,
            "codable_ngram": codable_ng, "outside": outside}


def _fit_smoothing(z, prev_idx, next_idx, grid, rows, y, w, member=None,
                   with_loss=False, penalty=None) -> tuple[float, ...]:
    """The neighbour weight (from ``grid``) and temperature of least out-of-fold NLL.

    With ``member`` (segments x codes, rows = ``rows``), the likelihood is that of the
    segment's code set (:func:`fit_temperature_sets`) instead of weighted single codes.
    """
    best = (np.inf, 0.0, 1.0)
    for alpha in grid:
        zs = smooth_logits(z, prev_idx, next_idx, alpha)[rows]
        if penalty is not None:
            zs = zs - penalty[rows]
        if member is not None:
            t = fit_temperature_sets(zs, member)
            loss = _set_nll(zs, member, t)
        else:
            t = fit_temperature(zs, y, w)
            loss = _nll(zs, y, w, t)
        if loss < best[0] - 1e-9:
            best = (loss, alpha, t)
    return (best[1], best[2], best[0]) if with_loss else (best[1], best[2])


def _best_codable_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The codable threshold with the highest Cohen's kappa of detection (ties: nearer 0.5)."""
    from sklearn.metrics import cohen_kappa_score

    best, best_t = -np.inf, 0.5
    for t in np.round(np.arange(0.05, 0.951, 0.025), 3):
        pred = (p >= t).astype(int)
        if pred.min() == pred.max() and y.min() == y.max():
            continue
        k = cohen_kappa_score(y, pred) if pred.min() != pred.max() else 0.0
        if k > best + 1e-9 or (abs(k - best) <= 1e-9 and abs(t - 0.5) < abs(best_t - 0.5)):
            best, best_t = k, float(t)
    return best_t


def choose_threshold(confidence: np.ndarray, human: np.ndarray, predicted: np.ndarray, *,
                     target_kappa: float = 0.8, min_coverage: float = 0.2) -> float:
    """Default review threshold from a coverage-agreement curve.

    The lowest confidence threshold at which the labels kept (confidence >= threshold)
    reach Cohen's kappa ``target_kappa`` with the human codes, among thresholds that keep
    at least ``min_coverage`` of the segments; if none does, the threshold that keeps the
    most confident half.

    Examples
    --------
    >>> conf = np.linspace(0.05, 0.95, 100)
    >>> human = np.array(["a", "b"] * 50)
    >>> pred = np.where(conf > 0.5, human, np.where(human == "a", "b", "a"))  # right above 0.5
    >>> round(choose_threshold(conf, human, pred, target_kappa=1.0), 2)
    0.5
    >>> round(choose_threshold(conf, human, pred, target_kappa=0.8), 2)   # a few errors allowed
    0.45
    """
    conf = np.asarray(confidence, float)
    human, predicted = np.asarray(human), np.asarray(predicted)
    if len(conf) == 0:
        return 0.5
    for t in np.unique(np.round(conf, 4)):
        keep = conf >= t
        if keep.mean() < min_coverage:
            break
        if _kappa(human[keep], predicted[keep]) >= target_kappa:
            return float(t)
    return float(np.quantile(conf, 0.5))


def _frame_sha256(df: pd.DataFrame | None) -> str | None:
    if df is None:
        return None
    return hashlib.sha256(df.to_csv(index=False, lineterminator="\n").encode()).hexdigest()


def _hash_inputs(segs, codings, codebook, embedding_model, s) -> str:
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
    **settings: Any,
) -> CodingModel:
    """Train a pre-labelling model on human codings (or zero-shot from the codebook text).

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
    **settings
        Overrides of :data:`DEFAULT_SETTINGS` (``C``, ``folds``, ``backoff``, ...).

    Returns
    -------
    CodingModel

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
    s = _settings({**settings, "context": context})
    s["seed"] = int(seed)
    segs = tables.validate_segments(segments)
    book = tables.validate_codebook(codebook)
    emb = _check_embeddings(segs, embeddings)
    dim = emb.shape[1]
    if codebook_embeddings is not None:
        cbe = np.asarray(codebook_embeddings, dtype=np.float64)
        if cbe.shape != (len(book), dim):
            raise InputError("codebook embeddings do not match the codebook",
                             expected=f"shape ({len(book)}, {dim})", got=f"shape {cbe.shape}")
    else:
        cbe = None
    cod = None
    if codings is not None and len(codings):
        cod = tables.validate_codings(codings, book, segs)
    missing = [c for c in s["categorical"] if c not in segs.columns]
    if missing:
        raise InputError(f"feature column(s) {', '.join(map(repr, missing))} not in the segments",
                         expected=f"columns among {', '.join(segs.columns)}", got=missing)
    present = [c for c in s["optional_categorical"]
               if c in segs.columns and c not in s["categorical"]
               and (_column(segs, c) != "").any()]
    spec = feature_spec(segs, dim, context=s["context"], neighbour_weight=s["neighbour_weight"],
                        columns=tuple(s["categorical"]) + tuple(present))
    X = build_features(segs, emb, spec)
    digest = _hash_inputs(segs, cod, book, embedding_model, s)
    name = f"model:{s['name']}@{digest[:12]}"
    data_hashes = {"segments_sha256": _frame_sha256(segs), "codings_sha256": _frame_sha256(cod),
                   "codebook_sha256": _frame_sha256(book[list(tables.CODE_KEY)]),
                   "embeddings_sha256": hashlib.sha256(np.ascontiguousarray(emb).tobytes()).hexdigest()}
    common = dict(name_=name, codebook_=book, embedding_model_=str(embedding_model),
                  embedding_source_=str(embedding_source or embedding_model), spec_=spec,
                  settings_=s)
    if cod is None:
        if cbe is None:
            raise InputError("a zero-shot model (no codings) needs the codebook's embeddings",
                             expected="codebook_embeddings of codebook_texts(codebook)",
                             got=None)
        return _zero_shot(X, cbe, spec, s, common, data_hashes, segs, book)

    d = _prepare(segs, cod, book, X, decided)
    n_codes = len(book)
    cb_texts = codebook_texts(book)
    support = np.bincount(d.code_y, minlength=n_codes)
    n_coded = int(d.codable.sum())
    n_groups = len(set(d.groups[d.in_scope]))
    learnt = int((support > 0).sum())
    little = []
    if len(cod) < s["min_codings"]:
        little.append(f"only {len(cod)} codings on {n_coded} segments ({learnt} of {n_codes} "
                      f"codes have a human example)")
    t_code, t_codable, thr, cthr = 1.0, 1.0, 0.5, 0.5
    set_rule: dict[str, float] = {}
    book_scope = codebook_scope(book) if s["scope"] in ("auto", "codebook") else None
    if s["scope"] == "codebook" and book_scope is None:
        raise InputError("scope 'codebook' needs a codebook 'question' column",
                         expected="a question column (ids such as 1;3)", got=list(book.columns))
    scope_source = ("codebook" if book_scope is not None
                    else "learnt" if s["scope"] in ("auto", "learnt") else "none")
    scope_weight = SCOPE_MASK if scope_source == "codebook" else 0.0
    smoothing = {"code": 0.0, "codable": 0.0}
    ngram_weights = {"code": float(s["ngram_weight"]), "codable": float(s["ngram_weight"])}
    calibrated = False
    if n_groups >= 2 and n_coded >= 10:
        z = _cross_fit(d, cbe, n_codes, s, cb_texts, segs)
        rows_ok = ~np.isnan(z["code"][d.code_rows, 0])
        if rows_ok.sum() >= 10:
            prev_idx, next_idx = neighbours(segs)
            grid = [float(a) for a in s["smoothing_grid"]] if s["context"] else [0.0]
            seg_rows = np.flatnonzero((d.first_code >= 0) & ~np.isnan(z["code"][:, 0]))
            member = np.zeros((len(seg_rows), n_codes), dtype=bool)
            for r, i in enumerate(seg_rows):
                member[r, d.code_sets[i]] = True
            m = d.in_scope & ~np.isnan(z["codable"][:, 0])
            rows_c = np.flatnonzero(m)
            # the n-gram weight (from ngram_weight_grid), neighbour weight and temperature
            # of least out-of-fold negative log-likelihood, per classifier
            best_code, best_codable = (np.inf,), (np.inf,)
            wgrid = [float(v) for v in s["ngram_weight_grid"]]
            # code scope: the codebook's is a fixed mask; the learnt one (each fold's own
            # training transcripts) gets the weight of least out-of-fold loss (0 = off)
            if scope_source == "codebook":
                outside, sgrid = scope_outside(segs, book_scope, n_codes).astype(float), [SCOPE_MASK]
            elif scope_source == "learnt" and z["outside"].any():
                outside, sgrid = z["outside"], [float(v) for v in s["scope_weight_grid"]]
            else:
                outside, sgrid = z["outside"], [0.0]
            for wn in (wgrid if z["code_ngram"].any() else [0.0]):
                zc_ = z["code"] + wn * z["code_ngram"]
                for ws in sgrid:
                    pen = ws * outside
                    if s["calibration"] == "code-set":
                        fit = _fit_smoothing(zc_, prev_idx, next_idx, grid, seg_rows, None, None,
                                             member=member, with_loss=True, penalty=pen)
                    else:
                        fit = _fit_smoothing(zc_, prev_idx, next_idx, grid, d.code_rows[rows_ok],
                                             d.code_y[rows_ok], d.code_w[rows_ok], with_loss=True,
                                             penalty=pen)
                    if fit[2] < best_code[0] - 1e-9:
                        best_code = (fit[2], wn, fit[0], fit[1], ws)
            for wn in (wgrid if z["codable_ngram"].any() else [0.0]):
                fit = _fit_smoothing(z["codable"] + wn * z["codable_ngram"], prev_idx, next_idx,
                                     grid, rows_c, d.codable[m], None, with_loss=True)
                if fit[2] < best_codable[0] - 1e-9:
                    best_codable = (fit[2], wn, fit[0], fit[1])
            _, ngram_weights["code"], a, t_code, scope_weight = best_code
            _, ngram_weights["codable"], b, t_codable = best_codable
            z = {"code": z["code"] + ngram_weights["code"] * z["code_ngram"],
                 "codable": z["codable"] + ngram_weights["codable"] * z["codable_ngram"]}
            smoothing = {"code": a, "codable": b}
            zcod = smooth_logits(z["codable"], prev_idx, next_idx, b)
            pc = _softmax(zcod[m] / t_codable)[:, 1]
            cthr = _best_codable_threshold(pc, d.codable[m])
            seg_ok = (d.first_code >= 0) & ~np.isnan(z["code"][:, 0])
            zs = smooth_logits(z["code"], prev_idx, next_idx, a) - scope_weight * outside
            P = _softmax(zs[seg_ok] / t_code)
            set_rule = fit_set_rule(P, member, seed=s["seed"])
            pred = P.argmax(1)
            human = np.array([p if p in cs else cs[0] for p, cs in
                              zip(pred, [d.code_sets[i] for i in np.flatnonzero(seg_ok)])])
            thr = choose_threshold(P.max(1), human, pred, target_kappa=s["target_kappa"])
            calibrated = True
    if not calibrated:
        little.append(f"too few transcripts ({n_groups}) or coded segments ({n_coded}) to "
                      "calibrate: confidences are uncalibrated and the threshold is 0.5")
    if little:
        warnings.warn("; ".join(little) + "; the codebook text is the prior for the rest"
                      + ("" if cbe is not None else " (no codebook embeddings were given: "
                         "codes without examples cannot be predicted)"),
                      LittleDataWarning, stacklevel=2)
    everything = np.ones(len(segs), dtype=bool)
    code_clf = _fit_code(d, everything, cbe, s, temperature=t_code)
    codable_clf = _fit_codable(d, everything, s, temperature=t_codable)
    code_ngram = _fit_code_ngram(d, everything, cb_texts, s)
    codable_ngram = _fit_codable_ngram(d, everything, s)
    if scope_source == "codebook":
        scope_q = [list(q) for q in book_scope]
    elif scope_source == "learnt":
        scope_q = [list(q) for q in learn_scope(segs, d, everything, n_codes)]
    else:
        scope_q = [[] for _ in range(n_codes)]
    scope = {"source": scope_source, "questions": scope_q, "weight": float(scope_weight)}
    training = {"zero_shot": False, "n_segments": len(segs),
                "n_segments_in_scope": int(d.in_scope.sum()), "n_coded_segments": n_coded,
                "n_codings": len(cod), "n_transcripts": n_groups,
                "codes_with_examples": learnt, "n_codes": n_codes,
                "temperature_code": t_code, "temperature_codable": t_codable,
                "calibrated": calibrated, "prior": cbe is not None, "method": METHOD,
                "smoothing_code": smoothing["code"], "smoothing_codable": smoothing["codable"],
                "ngram_weight_code": ngram_weights["code"],
                "ngram_weight_codable": ngram_weights["codable"],
                "scope_source": scope_source, "scope_weight": float(scope_weight),
                "codes_scoped": int(sum(1 for q in scope_q if q)),
                "set_threshold": set_rule.get("threshold"), "set_masi_oof": set_rule.get("masi"),
                **data_hashes}
    model = CodingModel(**common, code_clf_=code_clf, codable_clf_=codable_clf,
                        support_=support, threshold_=float(thr), codable_threshold_=float(cthr),
                        training_=training, smoothing_=smoothing, code_ngram_=code_ngram,
                        codable_ngram_=codable_ngram, ngram_weights_=ngram_weights,
                        scope_=scope, set_rule_=set_rule)
    if evaluate:
        model.evaluation_ = evaluate_model(segs, cod, book, emb, folds=s["folds"], seed=seed,
                                           codebook_embeddings=cbe, context=s["context"],
                                           decided=decided,
                                           **{k: v for k, v in settings.items() if k != "folds"})
    return model


def _zero_shot(X, cbe, spec, s, common, data_hashes, segs, book) -> CodingModel:
    """Codes by scaled cosine similarity to the entry texts (descriptions included), within
    the codebook's question scope; codable by similarity to their mean, the codable rate
    being ``zero_shot_codable_rate`` or :func:`default_codable_rate` of the corpus."""
    n_codes, dim = cbe.shape
    code_clf = CodebookClassifier(C=1.0, temperature=1.0)
    code_clf.classes_ = np.arange(n_codes)
    code_clf.n_features_in_ = spec.n_features
    coef = np.zeros((n_codes, spec.n_features))
    coef[:, :dim] = s["zero_shot_scale"] * cbe
    code_clf.coef_ = coef
    code_clf.intercept_ = np.zeros(n_codes)
    mean = cbe.mean(axis=0)
    mean = mean / (np.linalg.norm(mean) or 1.0)
    sim = X[:, :dim] @ mean
    rate = s["zero_shot_codable_rate"]
    rate = default_codable_rate(segs) if rate is None else float(rate)
    scale = 1.5 / (float(sim.std()) or 1.0)
    cut = float(np.quantile(sim, 1 - rate)) if len(sim) else 0.0
    if rate >= 1 and len(sim):
        cut = float(sim.min()) - 1.0 / scale    # all codable, the least similar at p 0.73
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
    return CodingModel(**common, code_clf_=code_clf, codable_clf_=codable_clf,
                       support_=np.zeros(n_codes, dtype=int), threshold_=0.5,
                       codable_threshold_=0.5, training_=training, scope_=scope)


# --------------------------------------------------------------------------- evaluation
def _kappa(a, b) -> float:
    """Cohen's kappa that is 1.0 for perfect agreement on one category (no silent NaN)."""
    from sklearn.metrics import cohen_kappa_score

    a, b = np.asarray(a), np.asarray(b)
    if len(a) == 0:
        return float("nan")
    if len(set(a.tolist()) | set(b.tolist())) == 1:
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(cohen_kappa_score(a, b))


def expected_calibration_error(confidence, correct, n_bins: int = 15) -> tuple[float, list[dict]]:
    """Expected calibration error over equal-width bins, and the reliability table [1]_.

    Returns
    -------
    (float, list of dict)
        ECE = sum over bins of (bin size / n) x |accuracy - mean confidence|, and one
        ``{low, high, n, confidence, accuracy}`` row per non-empty bin.

    Examples
    --------
    >>> ece, bins = expected_calibration_error([0.9, 0.9, 0.6, 0.6], [1, 1, 1, 0])
    >>> round(ece, 3), len(bins)
    (0.1, 2)
    """
    conf = np.asarray(confidence, float)
    correct = np.asarray(correct, float)
    if len(conf) == 0:
        return float("nan"), []
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    ece, table = 0.0, []
    for b in range(n_bins):
        m = which == b
        if not m.any():
            continue
        acc, c = float(correct[m].mean()), float(conf[m].mean())
        ece += m.mean() * abs(acc - c)
        table.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": int(m.sum()),
                      "confidence": c, "accuracy": acc})
    return float(ece), table


def coverage_curve(confidence, human, predicted, steps: int = 20) -> list[dict]:
    """Agreement of the most confident labels at each coverage (the coverage-agreement curve).

    One row per coverage ``c`` in ``1/steps .. 1``: the ``c`` most confident fraction of
    the labels, their minimum confidence (``threshold``), kappa and accuracy against the
    human codes.
    """
    conf = np.asarray(confidence, float)
    human, predicted = np.asarray(human), np.asarray(predicted)
    order = np.argsort(-conf, kind="stable")
    out = []
    for i in range(1, steps + 1):
        c = i / steps
        k = max(1, int(round(c * len(conf))))
        keep = order[:k]
        out.append({"coverage": c, "n": int(k), "threshold": float(conf[keep].min()),
                    "kappa": _kappa(human[keep], predicted[keep]),
                    "accuracy": float(np.mean(human[keep] == predicted[keep]))})
    return out


def _coarser_level(P: np.ndarray, sets: list[list[int]], label_of_code: Sequence[str]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Human and predicted labels at a coarser level (theme or valence) of the codes.

    The predicted label maximises the summed probability of its codes (that sum is its
    confidence, returned third); the human label is the predicted one when any of the
    segment's codes has it, else that of its first code.
    """
    names = list(dict.fromkeys(label_of_code))
    index = {n: i for i, n in enumerate(names)}
    member = np.zeros((len(label_of_code), len(names)))
    member[np.arange(len(label_of_code)), [index[x] for x in label_of_code]] = 1
    summed = P @ member
    pred = summed.argmax(1)
    human = np.array([p if p in {index[label_of_code[c]] for c in cs}
                      else index[label_of_code[cs[0]]] for p, cs in zip(pred, sets)])
    arr = np.array(names, dtype=object)
    return arr[human], arr[pred], summed.max(1)


def _level_metrics(human, pred, labels=None) -> dict[str, Any]:
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    human, pred = np.asarray(human), np.asarray(pred)
    labels = sorted(set(human.tolist())) if labels is None else labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, n = precision_recall_fscore_support(human, pred, labels=labels, zero_division=0)
        macro = float(f1_score(human, pred, labels=labels, average="macro", zero_division=0))
    from themeassist import agree

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedStatisticWarning)
        kappa, ac1 = agree.cohen_kappa(human, pred), agree.gwet_ac1(human, pred)
    return {"n": len(human), "kappa": kappa, "ac1": ac1,
            "accuracy": float(np.mean(human == pred)), "macro_f1": macro,
            "per_class": [{"label": str(lab), "support": int(s), "precision": float(pp),
                           "recall": float(rr), "f1": float(ff)}
                          for lab, pp, rr, ff, s in zip(labels, p, r, f, n)]}


def evaluate_model(
    segments: pd.DataFrame,
    codings: pd.DataFrame,
    codebook: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    codebook_embeddings: np.ndarray | None = None,
    context: bool = True,
    decided: Sequence[str] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Cross-validate the pre-labeller, grouped by transcript (never train and test on one).

    Each fold trains :func:`train_model` (with its own inner calibration) on the other
    transcripts and predicts the held-out ones. Transcripts without human codes are left
    out.

    Returns
    -------
    dict
        ``levels``: for ``codable`` (all segments of coded transcripts, each judged at
        the codable threshold its fold's model chose on its training transcripts), ``theme``,
        ``code`` and ``valence`` (coded segments; the human label is the segment's first
        code, or the predicted one when the segment carries it among several): ``n``,
        ``kappa``, ``ac1``, ``accuracy``, ``macro_f1`` and ``per_class`` precision/recall.
        ``code_first``: code-level kappa, accuracy and kappa of the 50% most confident
        against the first code only (the baseline's rule). ``coverage``: the coverage-agreement curve of the code level
        (``coverage_theme``: of the theme level, a theme's confidence being the summed
        probability of its codes);
        ``kappa_top50``: kappa of the 50% most confident; ``ece`` and ``reliability``
        (code level), ``ece_codable``; ``threshold``: the threshold :func:`choose_threshold`
        picks on these predictions; ``folds``, ``n_transcripts``.
        ``predictions``: a DataFrame of the out-of-fold predictions per coded segment.

    Notes
    -----
    Kappa and AC1 come from :mod:`themeassist.agree`; a level where they are undefined
    (e.g. one valence category only) reports NaN (the warning is silenced here, the NaN is
    the documented outcome). Within the coverage curve, a subset whose human and machine
    labels are all one and the same category counts as kappa 1.0 (perfect agreement).
    """
    segs = tables.validate_segments(segments)
    book = tables.validate_codebook(codebook)
    cod = tables.validate_codings(codings, book, segs)
    emb = _check_embeddings(segs, embeddings)
    s = _settings({**settings, "context": context, "folds": folds})
    d = _prepare(segs, cod, book, np.zeros((len(segs), 1)), decided)
    n_codes = len(book)
    codable_p = np.full(len(segs), np.nan)
    codable_cut = np.full(len(segs), np.nan)
    code_p = np.full((len(segs), n_codes), np.nan)
    code_s = np.zeros((len(segs), n_codes), dtype=bool)
    extra = {k: v for k, v in s.items() if k not in ("context", "seed")}
    n_groups = len(set(d.groups[d.in_scope]))
    if n_groups < 2:
        raise InputError("evaluation needs codings on at least two transcripts",
                         expected="2 or more coded transcripts", got=n_groups)
    n_folds = 0
    for train, test in _grouped_folds(d.groups, d.in_scope, folds):
        tr_ids = set(segs["segment_id"][train])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LittleDataWarning)
            m = train_model(segs[train].reset_index(drop=True), cod[cod["segment_id"].isin(tr_ids)],
                            book, emb[train], seed=seed, context=context,
                            codebook_embeddings=codebook_embeddings, decided=decided, **extra)
        cp, pp, _, ss = m.predict_sets(segs[test].reset_index(drop=True), emb[test])
        code_s[test] = ss
        codable_p[test] = cp
        codable_cut[test] = m.codable_threshold_
        code_p[test] = pp
        n_folds += 1
    return _metrics(segs, book, d, codable_p, codable_cut, code_p, n_folds, n_groups, s, code_s)


def _metrics(segs, book, d: _Data, codable_p, codable_cut, code_p, n_folds, n_groups, s,
             code_s=None) -> dict[str, Any]:
    codes = np.array(tables.code_labels(book).tolist(), dtype=object)
    themes = book["theme"].to_numpy()
    valences = book["valence"].replace("", "(none)").to_numpy()
    scope = d.in_scope & ~np.isnan(codable_p)
    # codable detection at the threshold each fold's model chose on its own training
    # transcripts (never tuned on the test fold)
    levels: dict[str, Any] = {}
    levels["codable"] = _level_metrics(d.codable[scope],
                                       (codable_p[scope] >= codable_cut[scope]).astype(int))
    levels["codable"]["thresholds"] = sorted(set(np.round(codable_cut[scope], 4).tolist()))
    ece_c, rel_c = expected_calibration_error(codable_p[scope], d.codable[scope])
    idx = np.flatnonzero((d.first_code >= 0) & scope)
    P = code_p[idx]
    pred = P.argmax(1)
    conf = P.max(1)
    sets = [d.code_sets[i] for i in idx]
    human = np.array([p if p in cs else cs[0] for p, cs in zip(pred, sets)])
    first = np.array([cs[0] for cs in sets])
    levels["code"] = _level_metrics(codes[human], codes[pred])
    # theme and valence: sums of code probabilities
    theme_human, theme_pred, theme_conf = _coarser_level(P, sets, themes)
    levels["theme"] = _level_metrics(theme_human, theme_pred)
    levels["valence"] = _level_metrics(*_coarser_level(P, sets, valences)[:2])
    ece, rel = expected_calibration_error(conf, human == pred)
    curve = coverage_curve(conf, codes[human], codes[pred])
    half = np.argsort(-conf, kind="stable")[: max(1, len(conf) // 2)]
    predictions = pd.DataFrame({
        "segment_id": segs["segment_id"].to_numpy()[idx],
        "transcript_id": segs["transcript_id"].to_numpy()[idx],
        "human": codes[first], "human_all": ["; ".join(codes[cs]) for cs in sets],
        "predicted": codes[pred], "confidence": conf, "codable": codable_p[idx]})
    return {
        "method": METHOD, "folds": n_folds, "n_transcripts": n_groups,
        "grouping": "transcript", "settings": {k: v for k, v in s.items()},
        "levels": levels,
        "code_first": {"kappa": _kappa(codes[first], codes[pred]),
                       "accuracy": float(np.mean(first == pred)),
                       "kappa_top50": _kappa(codes[first][half], codes[pred][half])},
        "kappa_top50": _kappa(codes[human][half], codes[pred][half]),
        "accuracy_top50": float(np.mean(human[half] == pred[half])),
        "coverage": curve, "ece": ece, "reliability": rel,
        # with many codes of one or two examples, the theme curve is the one to read
        "coverage_theme": coverage_curve(theme_conf, theme_human, theme_pred),
        "ece_codable": ece_c, "reliability_codable": rel_c,
        "threshold": choose_threshold(conf, codes[human], codes[pred],
                                      target_kappa=s["target_kappa"]),
        "predictions": predictions,
        **({} if code_s is None else _set_levels(code_s[idx], sets, codes, themes)),
    }


def _set_levels(S: np.ndarray, sets: list[list[int]], codes: np.ndarray, themes: np.ndarray
                ) -> dict[str, Any]:
    """Set agreement (:func:`set_metrics`) of predicted and human code sets, per code and
    per theme (a theme set = the themes of the codes)."""
    pred = [set(codes[np.flatnonzero(r)].tolist()) for r in S]
    human = [set(codes[cs].tolist()) for cs in sets]
    pred_t = [set(themes[np.flatnonzero(r)].tolist()) for r in S]
    human_t = [set(themes[cs].tolist()) for cs in sets]
    return {"sets": {"code": set_metrics(human, pred, list(codes)),
                     "theme": set_metrics(human_t, pred_t, list(dict.fromkeys(themes)))}}


# --------------------------------------------------------------------------- active learning
def suggest(model: CodingModel, segments: pd.DataFrame, embeddings: np.ndarray, n: int = 20,
            coded_ids=(), *, seed: int = 0, pool: int = 10) -> pd.DataFrame:
    """The uncoded segments that would most improve the model if a human coded them next.

    Uncertain and diverse: each segment's uncertainty is the larger of the codable
    classifier's binary entropy and ``codable x (1 - margin)`` of the code probabilities
    (margin = top minus second probability). Among the ``pool x n`` most uncertain
    segments, a k-center greedy walk [2]_ picks, ``n`` times, the segment with the largest
    uncertainty x distance to the nearest segment already coded or picked (cosine
    distance of embeddings). Ties are broken by a seeded permutation.

    Parameters
    ----------
    model : CodingModel
    segments : DataFrame
    embeddings : ndarray of shape (n_segments, dim)
    n : int, default 20
    coded_ids : iterable of str
        Segments already coded (never suggested; they anchor diversity).
    seed : int, default 0
    pool : int, default 10

    Returns
    -------
    DataFrame
        ``rank, segment_id, transcript_id, text, uncertainty, distance, codable`` (the
        model's codable probability), ``predicted`` (its best code), ``n`` rows or fewer.
    """
    if n < 1:
        raise InputError("n must be at least 1", expected=">= 1", got=n)
    segs = tables.validate_segments(segments)
    emb = _check_embeddings(segs, embeddings, model.spec_.dim).astype(np.float64)
    codable, P = model.predict_proba(segs, emb)
    coded = set(map(str, coded_ids))
    is_coded = segs["segment_id"].isin(coded).to_numpy()
    rows, u, picked_dist = pick_uncertain_diverse(codable, P, emb, is_coded, n, seed=seed,
                                                  pool=pool)
    if len(rows) == 0:
        return pd.DataFrame(columns=["rank", "segment_id", "transcript_id", "text", "uncertainty",
                                     "distance", "codable", "predicted"])
    codes = np.array(model.codes_, dtype=object)
    return pd.DataFrame({
        "rank": np.arange(1, len(rows) + 1),
        "segment_id": segs["segment_id"].to_numpy()[rows],
        "transcript_id": segs["transcript_id"].to_numpy()[rows],
        "text": segs["text"].to_numpy()[rows],
        "uncertainty": np.round(u, 6), "distance": np.round(picked_dist, 6),
        "codable": np.round(codable[rows], 6), "predicted": codes[P[rows].argmax(1)]})


def pick_uncertain_diverse(codable: np.ndarray, code_proba: np.ndarray, embeddings: np.ndarray,
                           is_coded: np.ndarray, n: int, *, seed: int = 0, pool: int = 10
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rule of :func:`suggest` on probabilities: ``(rows, uncertainty, distance)``.

    Shared by :func:`suggest` and the review loop (:func:`themeassist.review.engine.suggest_from`).
    """
    P = np.asarray(code_proba, float)
    emb = np.asarray(embeddings, np.float64)
    top2 = -np.sort(-P, axis=1)[:, :2] if P.shape[1] > 1 else np.column_stack([P[:, 0], np.zeros(len(P))])
    margin = top2[:, 0] - top2[:, 1]
    pc = np.clip(codable, 1e-12, 1 - 1e-12)
    entropy = -(pc * np.log2(pc) + (1 - pc) * np.log2(1 - pc))
    u = np.maximum(entropy, codable * (1 - margin))
    cand = np.flatnonzero(~np.asarray(is_coded, bool))
    if len(cand) == 0:
        return np.zeros(0, dtype=int), np.zeros(0), np.zeros(0)
    rng = np.random.default_rng(seed)
    jitter = rng.permutation(len(P)) * 1e-12
    cand = cand[np.argsort(-(u[cand] + jitter[cand]), kind="stable")][: pool * n]
    anchors = emb[np.asarray(is_coded, bool)]
    if len(anchors):
        dist = 1 - (emb[cand] @ anchors.T).max(axis=1)
    else:
        dist = np.ones(len(cand))
    picked, picked_dist = [], []
    for _ in range(min(n, len(cand))):
        score = u[cand] * np.maximum(dist, 0) + jitter[cand]
        score[picked] = -np.inf
        j = int(np.argmax(score))
        picked.append(j)
        picked_dist.append(float(dist[j]))
        dist = np.minimum(dist, 1 - emb[cand] @ emb[cand[j]])
    rows = cand[picked]
    return rows, u[rows], np.array(picked_dist)
