"""Held-out predictions: every coded transcript predicted by a labeller that never saw it.

One function, :func:`held_out_predictions`, serves both the evaluation
(:func:`themeassist.classify.evaluate_model`, k grouped folds) and the project runner's
labels (:func:`themeassist.pipeline.held_out_labels`, one transcript per fold), so the
agreement a run reports and the figures of the evaluation come from the same procedure.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from themeassist import tables
from themeassist.classify.features import check_embeddings
from themeassist.classify.labeller import CodebookLabeller
from themeassist.classify.training import grouped_folds, training_data
from themeassist.errors import InputError, LittleDataWarning


@dataclass
class HeldOut:
    """What :func:`held_out_predictions` returns; rows follow the segments given.

    Attributes
    ----------
    codable : ndarray of shape (n,)
        Codable probability (NaN for a segment no fold held out).
    codable_threshold : ndarray of shape (n,)
        The codable threshold of the fold's labeller (chosen on its training transcripts).
    proba : ndarray of shape (n, n_codes)
        Code probabilities (NaN rows where not held out).
    sets : bool ndarray of shape (n, n_codes)
        Code sets (all False where not held out).
    codings : DataFrame
        The held-out labellers' codings (:meth:`CodebookLabeller.predict_codings`, coder =
        each fold's labeller), the rows of each transcript together, transcripts in the
        order they first appear.
    folds : list of dict
        Per fold: ``test`` and ``trained_on`` (sorted transcript ids), ``prior_pull`` (the
        pull toward the codebook its labeller chose).
    in_scope : bool ndarray of shape (n,)
        The segments the human read (the evaluation's universe).
    """

    codable: np.ndarray
    codable_threshold: np.ndarray
    proba: np.ndarray
    sets: np.ndarray
    codings: pd.DataFrame
    folds: list[dict[str, Any]] = field(default_factory=list)
    in_scope: np.ndarray | None = None


def held_out_predictions(segments: pd.DataFrame, embeddings: np.ndarray,
                         codings: pd.DataFrame, codebook: pd.DataFrame, *,
                         n_splits: int | None = None, seed: int = 0,
                         codebook_embeddings: np.ndarray | None = None,
                         decided: Sequence[str] | None = None,
                         embedding_model: str = "unknown", quiet: bool = True,
                         threshold: float | None = None,
                         **params: Any) -> HeldOut:
    """Predict every coded transcript with a :class:`CodebookLabeller` trained without it.

    Folds are grouped by transcript (:func:`~themeassist.classify.training.grouped_folds`:
    sorted transcript ids, round robin, deterministic): each fold's labeller is fitted on
    every other transcript (with its own inner calibration) and predicts the held-out ones.
    Transcripts the human never read (no code, and no decided segment) are never held out.

    Parameters
    ----------
    segments, embeddings, codings, codebook
        As for :meth:`CodebookLabeller.fit`; ``codings`` must be non-empty.
    n_splits : int or None, default None
        Number of folds (as in scikit-learn's ``GroupKFold``; the labeller's own ``folds``
        parameter is its inner calibration's); ``None``: one per coded transcript (leave one
        transcript out).
    seed : int, default 0
    codebook_embeddings, decided, embedding_model
        Passed to every fold's :meth:`CodebookLabeller.fit`.
    quiet : bool, default True
        Silence each fold's :class:`LittleDataWarning` (a fold has less data than the whole
        by construction; the final model warns for the whole).
    threshold : float, optional
        Review threshold of the codings (default: each fold's labeller's own).
    **params
        :class:`CodebookLabeller` parameters.

    Returns
    -------
    HeldOut

    Raises
    ------
    InputError
        Codings on fewer than two transcripts.
    """
    segs = tables.validate_segments(segments)
    book = tables.validate_codebook(codebook)
    cod = tables.validate_codings(codings, book, segs)
    emb = check_embeddings(segs, embeddings)
    d = training_data(segs, cod, book, np.zeros((len(segs), 1)), decided)
    n_groups = len(set(d.groups[d.in_scope]))
    if n_groups < 2:
        raise InputError("held-out predictions need codings on at least two transcripts",
                         expected="2 or more coded transcripts", got=n_groups)
    n, n_codes = len(segs), len(book)
    out = HeldOut(codable=np.full(n, np.nan), codable_threshold=np.full(n, np.nan),
                  proba=np.full((n, n_codes), np.nan), sets=np.zeros((n, n_codes), dtype=bool),
                  codings=pd.DataFrame(), in_scope=d.in_scope)
    parts = []
    for train, test in grouped_folds(d.groups, d.in_scope, n_splits or n_groups):
        tr_ids = set(segs["segment_id"][train])
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore", LittleDataWarning)
            labeller = CodebookLabeller(**{**params, "seed": seed}).fit(
                segs[train].reset_index(drop=True), emb[train],
                cod[cod["segment_id"].isin(tr_ids)], book,
                codebook_embeddings=codebook_embeddings, decided=decided,
                embedding_model=embedding_model)
        # the whole transcripts of the test fold (context is computed within a transcript)
        whole = np.isin(d.groups, list(set(d.groups[test])))
        test_segs = segs[whole].reset_index(drop=True)
        codable, P, Q, S = labeller.predict_sets(test_segs, emb[whole])
        out.codable[whole], out.proba[whole], out.sets[whole] = codable, P, S
        out.codable_threshold[whole] = labeller.codable_threshold_
        parts.append(labeller._codings(test_segs, codable, P, Q, S, threshold=threshold))
        out.folds.append({"test": sorted(set(d.groups[test])),
                          "trained_on": sorted(set(d.groups[train])),
                          "prior_pull": labeller.training_.get("prior_pull", 0.0)})
    codings_out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if len(codings_out):
        # transcripts in order of first appearance, segments in order within each
        pos = {s: i for i, s in enumerate(segs["segment_id"])}
        first = {t: i for i, t in reversed(list(enumerate(segs["transcript_id"])))}
        row = codings_out["segment_id"].map(pos).to_numpy(dtype=int)
        key = np.array([first[t] for t in segs["transcript_id"].to_numpy()[row]])
        codings_out = codings_out.iloc[np.lexsort((row, key))].reset_index(drop=True)
    out.codings = codings_out
    return out
