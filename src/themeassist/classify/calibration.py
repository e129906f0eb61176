"""Calibration and thresholds, fitted on out-of-fold predictions: temperatures [1]_, the
neighbour weight, the codable and review thresholds, and calibration metrics.

References
----------
.. [1] Guo, Pleiss, Sun & Weinberger (2017). On calibration of modern neural networks.
   ICML, PMLR 70:1321-1330.
"""

from __future__ import annotations

import warnings

import numpy as np

from themeassist.classify.features import smooth_logits
from themeassist.errors import UndefinedStatisticWarning


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
    best, best_t = -np.inf, 0.5
    for t in np.round(np.arange(0.05, 0.951, 0.025), 3):
        pred = (p >= t).astype(int)
        if pred.min() == pred.max() and y.min() == y.max():
            continue
        k = kappa(y, pred) if pred.min() != pred.max() else 0.0
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
        if kappa(human[keep], predicted[keep]) >= target_kappa:
            return float(t)
    return float(np.quantile(conf, 0.5))

# --------------------------------------------------------------------------- evaluation
def kappa(a, b) -> float:
    """Cohen's kappa (:func:`themeassist.agree.cohen_kappa`, the one implementation), but
    1.0 for perfect agreement on one category, where the coefficient is undefined: a
    threshold, a subset of the coverage curve or a review session whose labels all agree
    is not a failure. NaN for no labels.

    Examples
    --------
    >>> kappa(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    0.5
    >>> kappa(["a", "a"], ["a", "a"])
    1.0
    """
    from themeassist import agree

    a, b = np.asarray(a), np.asarray(b)
    if len(a) == 0:
        return float("nan")
    if len(set(a.tolist()) | set(b.tolist())) == 1:
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedStatisticWarning)
        return float(agree.cohen_kappa(a, b))


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
                    "kappa": kappa(human[keep], predicted[keep]),
                    "accuracy": float(np.mean(human[keep] == predicted[keep]))})
    return out

