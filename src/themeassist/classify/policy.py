"""The review and back-off policy, applied to a labeller's probabilities (R7: policy stays
outside the estimator).

A labeller (:class:`~themeassist.classify.labeller.CodebookLabeller`) says how probable each
code is; this module decides what is written: which segments are labelled (the codable
threshold), the level a thin code is reported at (back-off along the code path, then the
theme), which labels need a human (the review threshold) and in which order a reviewer
should see segments (the review priority). Everything here is a pure function of arrays
and the codebook, so the same probabilities can be re-labelled under another policy
without refitting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from themeassist.classify.calibration import needs_review
from themeassist.classify.hierarchy import hierarchy_ancestors

#: Columns of :func:`codings_table`, in order.
COLUMNS = ("segment_id", "coder", "theme", "valence", "subtheme", "confidence",
           "code_probability", "needs_review", "level", "backed_off", "codable", "rank",
           "best_code", "best_probability", "priority")


def is_thin(p: float, support: int, threshold: float, *, backoff: float = 0.0,
            min_support: int = 2) -> bool:
    """A code (or a parent) is *thin*, so backs off one level.

    Thin when its probability is below ``backoff``, or when it has fewer than
    ``min_support`` human examples *and* its probability is below the review ``threshold``
    (a rare code the model is sure of stays: issue 14).

    Examples
    --------
    >>> is_thin(0.9, 0, 0.7), is_thin(0.5, 0, 0.7), is_thin(0.5, 5, 0.7)
    (False, True, False)
    >>> is_thin(0.5, 5, 0.7, backoff=0.6)
    True
    """
    return p < backoff or (support < min_support and p < threshold)


def back_off(i: int, j: int, P: np.ndarray, T: np.ndarray, theme_of: np.ndarray,
             codebook: pd.DataFrame, ancestors, support: np.ndarray, threshold: float, *,
             backoff: float, min_support: int, zero_shot: bool) -> tuple:
    """The level code ``j`` of segment ``i`` is reported at: ``(level, theme, valence,
    subtheme, confidence)``.

    A thin code (:func:`is_thin`) backs off one level at a time: to its parent in the
    subtheme path (``a > b > c`` -> ``a > b``, the summed probability of the codes under
    it, support summed too), then the next, and last to its theme (empty valence and
    subtheme, the theme's probability ``T[i, theme_of[j]]``). A zero-shot model never backs
    off (no code has examples).
    """
    th = codebook["theme"].iat[j]

    def thin(p, s):
        return is_thin(p, s, threshold, backoff=backoff, min_support=min_support)

    if zero_shot or not thin(P[i, j], int(support[j])):
        return "code", th, codebook["valence"].iat[j], codebook["subtheme"].iat[j], float(P[i, j])
    for val, path, under in ancestors[j]:
        p = float(P[i, under].sum())
        if not thin(p, int(support[under].sum())):
            return "parent", th, val, path, p
    return "theme", th, "", "", float(T[i, theme_of[j]])


def labelled(codable: np.ndarray, P: np.ndarray,
             codable_threshold: float | None = None) -> np.ndarray:
    """Which segments get a code rather than "no code".

    With a ``codable_threshold`` (a labeller's, chosen out of fold), the segments whose
    codable probability reaches it. Without one, the segments whose most probable category
    is a code: with ``c`` the probability that a human codes the segment and ``p_j`` that of
    code ``j`` given that it is coded, the categories are "no code" (``1 - c``) and each
    code (``c p_j``), and the label that maximises the expected agreement with the human is
    the most probable one, a code when ``c max_j p_j > 1 - c`` (the review loop's rule).

    Examples
    --------
    >>> P = np.array([[0.5, 0.5], [0.9, 0.1]])
    >>> labelled(np.array([0.6, 0.6]), P).tolist(), labelled(np.array([0.6, 0.6]), P, 0.5).tolist()
    ([False, True], [True, True])
    """
    codable = np.asarray(codable)
    if codable_threshold is not None:
        return codable >= codable_threshold
    if not len(P):
        return np.zeros(0, dtype=bool)
    return codable * P.max(axis=1) > 1 - codable


def review_priority(codable: np.ndarray, P: np.ndarray,
                    codable_threshold: float | None = None) -> np.ndarray:
    """The probability that a segment's label is wrong, "no code" included.

    ``codable`` for a segment labelled "no code" (:func:`labelled`, with
    ``codable_threshold`` or, without one, the most probable category), else ``1 - codable
    x`` its best code's probability; the review queue (issue 13) orders by it.

    Examples
    --------
    >>> review_priority(np.array([0.2, 0.9]), np.array([[0.5, 0.5], [0.8, 0.2]]), 0.5).round(2).tolist()
    [0.2, 0.28]
    """
    if not len(P):
        return np.zeros(0)
    return np.where(labelled(codable, P, codable_threshold), 1 - codable * P.max(axis=1),
                    codable)


def codings_table(segment_ids, codable: np.ndarray, P: np.ndarray, Q: np.ndarray,
                  S: np.ndarray, codebook: pd.DataFrame, codes, support: np.ndarray, *,
                  coder: str, threshold: float, codable_threshold: float, backoff: float,
                  min_support: int, zero_shot: bool = False,
                  all_segments: bool = False) -> pd.DataFrame:
    """The machine codings of segments from their probabilities and code sets.

    Parameters
    ----------
    segment_ids : sequence of str
    codable : ndarray of shape (n,)
        Probability that each segment is coded at all.
    P, Q : ndarray of shape (n, n_codes)
        Code probabilities (softmax) and one-vs-rest membership probabilities.
    S : bool ndarray of shape (n, n_codes)
        Each segment's code set (at least its top code).
    codebook : DataFrame
        The codes (rows), in the columns' order; ``codes`` their labels.
    support : ndarray of int
        Human examples per code.
    coder, threshold, codable_threshold, backoff, min_support, zero_shot, all_segments
        The policy; see :meth:`CodebookLabeller.predict_codings
        <themeassist.classify.labeller.CodebookLabeller.predict_codings>`.

    Returns
    -------
    DataFrame
        The columns of :data:`COLUMNS`, one row per code kept (back-off may merge two
        codes of a set into one parent), in segment order.
    """
    themes = codebook["theme"].to_numpy()
    labels = np.array(codes, dtype=object)
    theme_names = list(dict.fromkeys(themes))
    theme_of = np.array([theme_names.index(t) for t in themes])
    T = np.zeros((len(P), len(theme_names)))
    for j, k in enumerate(theme_of):
        T[:, k] += P[:, j]
    ancestors = hierarchy_ancestors(codebook)
    rows = []
    ids = np.asarray(segment_ids)
    priority = review_priority(codable, P, codable_threshold)
    for i in range(len(ids)):
        best = int(P[i].argmax()) if P.shape[1] else 0
        tail = (labels[best], P[i, best], codable[i])
        if codable[i] < codable_threshold:
            if all_segments:
                rows.append((ids[i], "", "", "", np.nan, np.nan, True, "none", False,
                             *tail[2:], 0, *tail[:2]))
            continue
        picks = sorted(np.flatnonzero(S[i]).tolist(), key=lambda j: (-P[i, j], j))
        seen = set()
        for rank, j in enumerate(picks, start=1):
            level, th, va, su, conf = back_off(i, j, P, T, theme_of, codebook, ancestors,
                                               support, threshold, backoff=backoff,
                                               min_support=min_support, zero_shot=zero_shot)
            key = (th, va, su)
            if key in seen:
                continue
            seen.add(key)
            rows.append((ids[i], th, va, su, conf, Q[i, j], bool(needs_review(conf, threshold)),
                         level, level != "code", codable[i], rank, *tail[:2]))
    out = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("coder", "priority")])
    out.insert(1, "coder", coder)
    pos = {sid: i for i, sid in enumerate(ids)}
    out["priority"] = np.round(
        priority[out["segment_id"].map(pos).to_numpy(dtype=int)], 6) if len(out) else []
    for col in ("confidence", "code_probability", "codable", "best_probability"):
        out[col] = out[col].astype(float).round(6)
    out["needs_review"] = out["needs_review"].astype(bool)
    out["backed_off"] = out["backed_off"].astype(bool)
    out["rank"] = out["rank"].astype(int)
    return out
