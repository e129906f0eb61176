"""Code sets: one-vs-rest membership calibration, the set rule and set agreement."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from themeassist.errors import UndefinedStatisticWarning


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


