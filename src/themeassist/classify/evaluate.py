"""Grouped cross-validated evaluation of the labeller (:func:`evaluate_model`)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from themeassist import tables
from themeassist.classify.calibration import (
    kappa,
    choose_threshold,
    coverage_curve,
    expected_calibration_error,
)
from themeassist.classify.features import check_embeddings
from themeassist.classify.heldout import HeldOut, held_out_predictions
from themeassist.classify.labeller import METHOD, _settings
from themeassist.classify.sets import set_metrics
from themeassist.classify.training import TrainingData, grouped_folds, training_data
from themeassist.errors import InputError, UndefinedStatisticWarning


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
        k, ac1 = agree.cohen_kappa(human, pred), agree.gwet_ac1(human, pred)
    return {"n": len(human), "kappa": k, "ac1": ac1,
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
    held_out: HeldOut | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Cross-validate the pre-labeller, grouped by transcript (never train and test on one).

    :func:`~themeassist.classify.heldout.held_out_predictions` (the same held-out
    procedure as a project run's labels): each fold trains a labeller (with its own inner
    calibration) on the other transcripts and predicts the held-out ones, whole
    transcripts, as labelling does. Transcripts without human codes are left
    out.

    Parameters
    ----------
    segments, codings, codebook, embeddings
        As for :meth:`CodebookLabeller.fit <themeassist.classify.CodebookLabeller.fit>`.
    folds : int, default 5
        Grouped folds (``min(folds, coded transcripts)``).
    seed, codebook_embeddings, context, decided, **settings
        The labeller's seed, codebook embeddings, parameters and read segments.
    held_out : HeldOut, optional
        The held-out predictions of these folds and settings, when the caller has already
        made them (a project run labels its transcripts with the same ones): they are
        scored instead of being made again. Folds other than this evaluation's are refused.

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
        picks on these predictions; ``folds``, ``n_transcripts``; ``prior_pull_folds``: the
        pull toward the codebook each fold's labeller chose.
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
    emb = check_embeddings(segs, embeddings)
    s = _settings({**settings, "context": context, "folds": folds})
    d = training_data(segs, cod, book, np.zeros((len(segs), 1)), decided)
    params = {k: v for k, v in s.items() if k != "seed"}
    n_groups = len(set(d.groups[d.in_scope]))
    if n_groups < 2:
        raise InputError("evaluation needs codings on at least two transcripts",
                         expected="2 or more coded transcripts", got=n_groups)
    if held_out is None:
        held = held_out_predictions(segs, emb, cod, book, n_splits=folds, seed=seed,
                                    codebook_embeddings=codebook_embeddings, decided=decided,
                                    **params)
    else:
        expected = [sorted(set(d.groups[test]))
                    for _, test in grouped_folds(d.groups, d.in_scope, folds)]
        if [f["test"] for f in held_out.folds] != expected or len(held_out.codable) != len(segs):
            raise ValueError("held_out: predictions of other folds or segments than this "
                             f"evaluation's ({len(expected)} folds over {len(segs)} segments)")
        held = held_out
    codable_p, codable_cut, code_p, code_s = (held.codable, held.codable_threshold,
                                              held.proba, held.sets)
    n_folds = len(held.folds)
    result = _metrics(segs, book, d, codable_p, codable_cut, code_p, n_folds, n_groups, s, code_s)
    result["prior_pull_folds"] = [f["prior_pull"] for f in held.folds]
    return result


def _metrics(segs, book, d: TrainingData, codable_p, codable_cut, code_p, n_folds, n_groups, s,
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
        "code_first": {"kappa": kappa(codes[first], codes[pred]),
                       "accuracy": float(np.mean(first == pred)),
                       "kappa_top50": kappa(codes[first][half], codes[pred][half])},
        "kappa_top50": kappa(codes[human][half], codes[pred][half]),
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


