"""The fitted pieces of a labeller: a temperature-scaled logistic regression over embeddings
(:class:`CodebookClassifier`) and a word n-gram scorer (:class:`NgramScorer`).

Both are nothing but arrays once fitted, so a model saves without pickle.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data


# --------------------------------------------------------------------------- estimator
def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits ``z`` (n, k), shifted by each row's maximum for stability.

    The probabilities of every classifier here are ``softmax(logits / temperature)``.

    Examples
    --------
    >>> softmax(np.array([[0.0, np.log(3.0)]])).round(2).tolist()
    [[0.25, 0.75]]
    """
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


#: In-package name (labeller.py).
_softmax = softmax


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
    warm_start : bool, default False
        Start :meth:`fit` from the previous fit's solution when the classes and features
        are the same (sklearn's meaning): the same optimum up to the solver's tolerance,
        reached in a fraction of the iterations when the data changed little, which is
        what lets the review loop refit after every few decisions.

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
                 random_state=None, warm_start=False):
        self.C = C
        self.class_weight = class_weight
        self.temperature = temperature
        self.max_iter = max_iter
        self.random_state = random_state
        self.warm_start = warm_start

    def _check_params(self) -> None:
        if not (isinstance(self.C, (int, float, np.number)) and self.C > 0):
            raise ValueError(f"C must be > 0, got {self.C!r}")
        if not (isinstance(self.temperature, (int, float, np.number)) and self.temperature > 0):
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if self.class_weight not in (None, "balanced") and not isinstance(self.class_weight, dict):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {self.class_weight!r}")

    def fit(self, X, y, sample_weight=None):
        """Fit the logistic regression; returns ``self``.

        ``X`` may be dense or scipy sparse (CSR), as for the review loop's word n-grams.
        """
        from sklearn.linear_model import LogisticRegression

        self._check_params()
        previous = ((self.coef_, self.intercept_, self.classes_)
                    if self.warm_start and hasattr(self, "coef_") else None)
        X, y = validate_data(self, X, y, dtype=np.float64, accept_sparse="csr")
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
                                max_iter=self.max_iter, random_state=self.random_state,
                                warm_start=self.warm_start)
        if (previous is not None and len(previous[2]) > 1
                and np.array_equal(previous[2], classes) and previous[0].shape[1] == X.shape[1]):
            # sklearn's warm start reads the last solution from the solver's attributes
            lr.coef_, lr.intercept_ = previous[0], previous[1]
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
        X = validate_data(self, X, reset=False, dtype=np.float64, accept_sparse="csr")
        z = np.asarray(X @ self.coef_.T) + self.intercept_
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
        return softmax(self.logits(X) / float(self.temperature))

    def predict(self, X):
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = False
        tags.input_tags.sparse = True      # CSR, as the review loop's word n-grams
        return tags

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

def full_logits(clf: CodebookClassifier, X, n_classes: int) -> np.ndarray:
    """Raw logits of a code classifier over all ``n_classes`` codes, shape (n, n_classes).

    The classifier's classes are code indices; a code it never saw in training gets -50
    (probability ~0 after the softmax), so that the columns always follow the codebook.

    Examples
    --------
    >>> clf = CodebookClassifier().fit([[0.0], [1.0]], [0, 2])
    >>> full_logits(clf, [[0.5]], 3)[0].round(1).tolist()[1]
    -50.0
    """
    known = clf.logits(X)
    z = np.full((len(known), n_classes), -50.0)
    z[:, clf.classes_.astype(int)] = known
    return z


def codable_logits(clf: CodebookClassifier, X) -> np.ndarray:
    """Raw (n, 2) logits ``[0, z]`` of [not codable, codable] of a 0/1 classifier.

    A classifier that saw one class only says so with a logit of +-50.
    """
    if len(clf.classes_) == 1:
        z = np.full(np.shape(X)[0], 50.0 if clf.classes_[0] == 1 else -50.0)
    else:
        z = clf.decision_function(X)
    return np.column_stack([np.zeros_like(z), z])


#: In-package names (labeller.py, training.py).
_full_logits, _codable_logit = full_logits, codable_logits

