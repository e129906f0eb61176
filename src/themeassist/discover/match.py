"""Codebook matching: the nearest entry of each candidate, and codebook-first assignment."""

from __future__ import annotations

import numpy as np
import pandas as pd

from themeassist import tables
from themeassist.discover.geometry import _normalise, soft_assign
from themeassist.errors import InputError

#: The text embedded for each codebook entry (shared with the classifier).
codebook_texts = tables.codebook_texts

def nearest_entries(cents: np.ndarray, codebook: pd.DataFrame, book_emb: np.ndarray
                    ) -> pd.DataFrame:
    """Nearest codebook entry of each centroid: theme, valence, subtheme, similarity."""
    sims = _normalise(cents) @ _normalise(book_emb).T
    best = sims.argmax(axis=1)
    rows = codebook.iloc[best]
    return pd.DataFrame({
        "nearest_theme": rows["theme"].astype(str).to_numpy(),
        "nearest_valence": rows["valence"].astype(str).to_numpy(),
        "nearest_subtheme": rows["subtheme"].astype(str).to_numpy(),
        "similarity": sims[np.arange(len(best)), best].round(4),
    })




def embed_codebook(codebook: pd.DataFrame, codebook_embeddings, width: int) -> np.ndarray:
    """The codebook's embeddings as an array, checked against the codebook and the width.

    ``codebook_embeddings`` is an array (one row per entry) or a function that embeds a
    list of texts (called on :func:`codebook_texts`).
    """
    if callable(codebook_embeddings):
        book_emb = np.asarray(codebook_embeddings(codebook_texts(codebook)), dtype=np.float64)
    elif codebook_embeddings is not None:
        book_emb = np.asarray(codebook_embeddings, dtype=np.float64)
    else:
        book_emb = None
    if book_emb is None or len(book_emb) != len(codebook) or book_emb.shape[1] != width:
        raise InputError("codebook embeddings do not match the codebook",
                         expected=f"{len(codebook)} rows of width {width}",
                         got=None if book_emb is None else book_emb.shape)
    return book_emb


def match_segments(x: np.ndarray, book_emb: np.ndarray, eligible: np.ndarray, *,
                   threshold: float, temperature: float) -> pd.DataFrame:
    """Codebook-first: the entry each eligible segment clearly matches, if any.

    Parameters
    ----------
    x : array (n, d)
        Segment embeddings.
    book_emb : array (m, d)
        Codebook entry embeddings.
    eligible : array of bool (n,)
        Segments that may match (those that would be clustered).
    threshold : float
        Cosine similarity to the nearest entry at which a segment matches it.
    temperature : float
        Softmax temperature of the probability over entries.

    Returns
    -------
    DataFrame
        One row per segment: ``entry`` (row of the codebook, -1 = no match),
        ``similarity`` and ``probability`` (0 without a match).

    Examples
    --------
    >>> x = np.array([[1.0, 0.1], [0.0, 1.0], [0.7, 0.7]])
    >>> match_segments(x, np.eye(2), np.array([True, False, True]), threshold=0.9,
    ...                temperature=0.05)["entry"].tolist()
    [0, -1, -1]
    """
    n = len(x)
    rows = np.arange(n)
    sims, probs = soft_assign(x, _normalise(book_emb), temperature=temperature)
    best = sims.argmax(axis=1)
    best_sim = sims[rows, best]
    hit = np.asarray(eligible, dtype=bool) & (best_sim >= threshold)
    entry = np.full(n, -1, dtype=np.int64)
    similarity, probability = np.zeros(n), np.zeros(n)
    entry[hit] = best[hit]
    similarity[hit] = best_sim[hit]
    probability[hit] = probs[rows, best][hit]
    return pd.DataFrame({"entry": entry, "similarity": similarity, "probability": probability})


def entry_candidates(entry: np.ndarray, first_id: int) -> dict[int, int]:
    """Candidate ids ``first_id, first_id + 1, ...`` of the matched entries, most matched first.

    Examples
    --------
    >>> entry_candidates(np.array([2, -1, 0, 2, 0, 2]), 4)
    {2: 4, 0: 5}
    """
    used = sorted(set(entry[entry >= 0].tolist()), key=lambda e: (-int(np.sum(entry == e)), e))
    return {e: first_id + i for i, e in enumerate(used)}


def match_candidates(candidates: pd.DataFrame, x: np.ndarray, labels: np.ndarray,
                     codebook: pd.DataFrame, book_emb: np.ndarray, *,
                     entry_of: dict[int, int] | None = None,
                     new_threshold: float) -> pd.DataFrame:
    """A copy of ``candidates`` with each one's nearest codebook entry and ``is_new``.

    Parameters
    ----------
    candidates : DataFrame
        From :func:`~themeassist.discover.describe.describe_candidates`
        (``candidate_id``, ``source``).
    x : array (n, d)
        Segment embeddings; a candidate's centroid is its members' unit mean.
    labels : array of int (n,)
        Candidate of each segment (-1 = none).
    codebook, book_emb
        The codebook and its embeddings (one row per entry).
    entry_of : dict, optional
        Candidate id -> codebook row, for candidates that are entries (``source =
        "codebook"``): they show that entry, not the nearest one.
    new_threshold : float
        A clustered candidate less similar than this to every entry is ``is_new``.

    Returns
    -------
    DataFrame
        ``candidates`` with ``nearest_theme``, ``nearest_valence``, ``nearest_subtheme``,
        ``similarity`` and ``is_new`` filled in.
    """
    out = candidates.copy()
    if not len(out):
        return out
    cents = np.vstack([_normalise(x[labels == c].mean(axis=0, keepdims=True))
                       for c in out["candidate_id"]])
    near = nearest_entries(cents, codebook, book_emb)
    for col in near.columns:
        out[col] = near[col].to_numpy()
    out["is_new"] = (out["similarity"] < new_threshold) & (out["source"] == "cluster")
    from_book = out["source"] == "codebook"
    if from_book.any():
        rows = codebook.iloc[[(entry_of or {})[c] for c in out.loc[from_book, "candidate_id"]]]
        out.loc[from_book, "nearest_theme"] = rows["theme"].astype(str).to_numpy()
        out.loc[from_book, "nearest_valence"] = rows["valence"].astype(str).to_numpy()
        out.loc[from_book, "nearest_subtheme"] = rows["subtheme"].astype(str).to_numpy()
    return out
