"""Training data in arrays and the fits of one fold (the internals of :func:`train_model`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from themeassist import tables
from themeassist.classify.estimators import (
    CodebookClassifier,
    NgramScorer,
    codable_logits,
    fit_ngram_scorer,
    full_logits,
)
from themeassist.classify.features import prior_rows
from themeassist.classify.scope import learn_scope, scope_outside


def _code_index(codings: pd.DataFrame, codebook: pd.DataFrame) -> np.ndarray:
    """Codebook row of each coding (-1 for theme-level codes that name no entry)."""
    lookup = {c: i for i, c in enumerate(tables.code_labels(codebook))}
    return np.array([lookup.get(c, -1) for c in tables.code_labels(codings)], dtype=int)


@dataclass
class TrainingData:
    """Training data in arrays: what the classifiers are fitted on (:func:`training_data`)."""

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


def training_data(segs: pd.DataFrame, codings: pd.DataFrame, codebook: pd.DataFrame,
                  X: np.ndarray, decided=None) -> TrainingData:
    """The human coding as arrays over the segments: who is coded, with which codes.

    Parameters
    ----------
    segs : DataFrame
        The corpus (validated segments table).
    codings : DataFrame
        The human codings (validated; any coder's rows are pooled). Rows of segments not
        in ``segs`` are ignored; theme-level codes count for codability only.
    codebook : DataFrame
        Its rows are the code indices.
    X : ndarray of shape (n_segments, n_features)
        The feature matrix, kept as ``X`` (a zero-width array when only labels are needed).
    decided : iterable of str, optional
        Segment ids a human has read (coded or not). ``None``: every segment of a
        transcript with at least one code (DESIGN.md section 3, decisions). A decided
        segment without codes is a confirmed "no code"; a segment nobody decided is
        unknown, so it is out of scope for the codable classifier.

    Returns
    -------
    TrainingData
        ``codable`` (0/1 per segment), ``in_scope``, and one row per (segment, code):
        ``code_rows``, ``code_y``, ``code_w`` (``1/k`` for a segment with ``k`` codes);
        ``first_code``, ``code_sets``, ``groups`` (transcripts) and ``texts``.
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
    return TrainingData(X=X, groups=groups, in_scope=in_scope, codable=codable,
                 code_rows=np.array(rows, dtype=int), code_y=np.array(ys, dtype=int),
                 code_w=np.array(ws), first_code=first, code_sets=code_sets,
                 texts=np.array([str(t) for t in segs["text"]], dtype=object))


def _fit_code(d: TrainingData, train_seg: np.ndarray, cbe, s, temperature=1.0):
    keep = train_seg[d.code_rows]
    X = d.X[d.code_rows[keep]]
    y = d.code_y[keep]
    w = d.code_w[keep]
    n_codes = None if cbe is None else len(cbe)
    if cbe is not None and s["prior_weight"] > 0:
        X = np.vstack([X, prior_rows(cbe, d.X.shape[1])])
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
        weight = codebook_prior(n_seg, strength=float(s["prior_strength"]),
                                scale=float(s["zero_shot_scale"]))
        rows = clf.classes_.astype(int)
        if len(rows) == n_codes:
            clf.coef_ = clf.coef_.copy()
            prior = weight * cbe[rows]
            if clf.coef_.shape[0] == 1 and len(rows) == 2:
                # Two codes: one decision function (code 1 minus code 0), so the prior
                # enters as the difference of the two entries' terms.
                prior = prior[1:] - prior[:1]
            clf.coef_[:, : cbe.shape[1]] += prior
    return clf


def _fit_codable(d: TrainingData, train_seg: np.ndarray, s, temperature=1.0):
    m = train_seg & d.in_scope
    clf = CodebookClassifier(C=s["codable_C"], class_weight=s["class_weight"],
                             temperature=temperature, max_iter=s["max_iter"],
                             random_state=s["seed"])
    return clf.fit(d.X[m], d.codable[m])


def _fit_code_ngram(d: TrainingData, train_seg: np.ndarray, cb_texts, s) -> NgramScorer | None:
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


def _fit_codable_ngram(d: TrainingData, train_seg: np.ndarray, s) -> NgramScorer | None:
    """The n-gram scorer of codability (``ngram_codable_C`` 0: none)."""
    m = train_seg & d.in_scope
    if (not s["ngram_codable_C"] or d.texts is None
            or d.codable[m].sum() < s["min_codings"]):
        return None
    return fit_ngram_scorer(d.texts[m], d.codable[m], C=s["ngram_codable_C"],
                            min_df=s["ngram_min_df"], ngram_range=tuple(s["ngram_range"]),
                            max_iter=s["max_iter"], seed=s["seed"])


def grouped_folds(groups: np.ndarray, mask: np.ndarray, folds: int):
    """Folds over the transcripts in ``mask`` (sorted names, round robin): deterministic.

    Yields ``(train, test)`` boolean masks over all segments, one pair per fold (at most
    one fold per transcript): ``test`` the fold's transcripts within ``mask``, ``train``
    every segment of the other transcripts.
    """
    names = sorted(set(groups[mask]))
    k = min(folds, len(names))
    for f in range(k):
        test_names = set(names[f::k])
        test = np.array([g in test_names for g in groups]) & mask
        yield ~np.isin(groups, list(test_names)), test


def _cross_fit(d: TrainingData, cbe, n_codes: int, s, cb_texts=None, segs=None) -> dict[str, np.ndarray]:
    """Out-of-fold raw logits for every in-scope segment (grouped by transcript)."""
    n = len(d.X)
    code_z = np.full((n, n_codes), np.nan)
    codable_z = np.full((n, 2), np.nan)
    code_ng = np.zeros((n, n_codes))      # n-gram logits (zero where no scorer was fitted)
    codable_ng = np.zeros((n, 2))
    outside = np.zeros((n, n_codes))      # learnt scope of the fold's training transcripts
    pull = len(pull_grid(s, cbe)) > 1
    zero_shot = np.zeros((n, n_codes))    # the zero-shot logits (scale x cos to the entries)
    for train, test in grouped_folds(d.groups, d.in_scope, s["folds"]):
        if not (d.codable[train & d.in_scope]).any():
            continue
        if segs is not None:
            outside[test] = scope_outside(segs[test], learn_scope(segs, d, train, n_codes), n_codes)
        code_clf = _fit_code(d, train, cbe, s)
        codable_clf = _fit_codable(d, train, s)
        code_z[test] = full_logits(code_clf, d.X[test], n_codes)
        if pull:
            zero_shot[test] = float(s["zero_shot_scale"]) * (d.X[test, : cbe.shape[1]] @ cbe.T)
        codable_z[test] = codable_logits(codable_clf, d.X[test])
        ng = _fit_code_ngram(d, train, cb_texts, s)
        if ng is not None:
            code_ng[test] = ng.logits(d.texts[test], n_codes)
        ng = _fit_codable_ngram(d, train, s)
        if ng is not None:
            codable_ng[test] = ng.logits(d.texts[test], 2)
    return {"code": code_z, "codable": codable_z, "code_ngram": code_ng,
            "codable_ngram": codable_ng, "outside": outside, "zero_shot": zero_shot}


def codebook_prior(n_coded: float, *, strength: float = 50.0, scale: float = 20.0) -> float:
    """Weight of the codebook prior ``cos(segment, entry)`` in the code logits.

    ``lambda x scale`` with ``lambda = strength / (strength + n_coded)``: decisive with a
    handful of codings, fading as human examples accumulate (the package docstring of
    :mod:`themeassist.classify`, step 3).

    Parameters
    ----------
    n_coded : float
        Coded segments learnt from (a segment with ``k`` codes counts once).
    strength : float, default 50.0
        ``n0``, the labeller's ``prior_strength``.
    scale : float, default 20.0
        The labeller's ``zero_shot_scale``.

    Examples
    --------
    >>> codebook_prior(0), codebook_prior(50)
    (20.0, 10.0)
    """
    return strength / (strength + n_coded) * scale


def pull_grid(s, cbe) -> list[float]:
    """The pulls toward the codebook tried out of fold (``[0.0]``: none to choose)."""
    grid = [float(v) for v in s["prior_pull_grid"]] or [0.0]
    if cbe is None or float(s["prior_weight"]) <= 0:
        # Without entry embeddings there is nothing to pull toward; without the entries'
        # pseudo-examples a code may lack a column of the classifier, and the pulled
        # weights could not be saved as one linear model.
        return [0.0]
    return grid


def pulled_logits(z: dict[str, np.ndarray], beta: float) -> np.ndarray:
    """Out-of-fold code logits pulled toward the codebook: ``(1 - beta) z + beta z_zero_shot``."""
    if beta == 0:
        return z["code"]
    return (1.0 - beta) * z["code"] + beta * z["zero_shot"]


def pull_toward_codebook(clf: CodebookClassifier, cbe: np.ndarray, beta: float,
                         scale: float) -> CodebookClassifier:
    """``clf`` with its weights pulled toward the zero-shot ones: ``(1 - beta) W + beta W0``.

    ``W0`` is ``scale`` times each code's entry embedding in the text slot (the zero-shot
    model's weights), so ``beta = 1`` is the zero-shot model and ``beta = 0`` ``clf``
    itself. The classifier must have a class per entry. Returns a new classifier.
    """
    if beta == 0:
        return clf
    out = CodebookClassifier(**clf.get_params())
    for k in ("classes_", "n_features_in_", "n_iter_"):
        if hasattr(clf, k):
            setattr(out, k, getattr(clf, k))
    rows = clf.classes_.astype(int)
    w0 = np.zeros_like(clf.coef_)
    target = scale * cbe[rows]
    if clf.coef_.shape[0] == 1 and len(rows) == 2:
        target = target[1:] - target[:1]   # two codes: one decision function (1 minus 0)
    w0[:, : cbe.shape[1]] = target
    out.coef_ = (1.0 - beta) * clf.coef_ + beta * w0
    out.intercept_ = (1.0 - beta) * clf.intercept_
    return out


#: In-package names (labeller.py and the modules split from it).
_Data, _prepare, _grouped_folds = TrainingData, training_data, grouped_folds
