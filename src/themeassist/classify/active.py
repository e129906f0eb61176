"""Active learning: the uncoded segments to code next (:func:`suggest`).

References
----------
.. [2] Sener & Savarese (2018). Active learning for convolutional neural networks: a
   core-set approach. ICLR. (k-center greedy.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from themeassist import tables
from themeassist.classify.features import check_embeddings
from themeassist.errors import InputError

if TYPE_CHECKING:
    from themeassist.classify.labeller import CodebookLabeller


# --------------------------------------------------------------------------- active learning
def suggest(model: CodebookLabeller, segments: pd.DataFrame, embeddings: np.ndarray, n: int = 20,
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
    model : CodebookLabeller
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
    emb = check_embeddings(segs, embeddings, model.spec_.dim).astype(np.float64)
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
