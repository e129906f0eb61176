"""The review loop's model: a fast in-loop learner, the review queue and what stopping now gives.

A pure core (no I/O), shared by the review app (``themeassist review``) and
``scripts/simulate_review.py``, so that the effort measured by the simulation is the effort
of the app.

How it learns while the researcher decides
------------------------------------------
:class:`ReviewModel` is composed of the public parts of :mod:`themeassist.classify`: its
feature transformer (:class:`~themeassist.classify.SegmentFeatures`), a codable and a code
:class:`~themeassist.classify.CodebookClassifier` (the latter with the codebook's
pseudo-examples and prior, :func:`~themeassist.classify.codebook_prior`), two more over
word n-grams, and the labelling policy of :mod:`themeassist.classify.policy`. It is fitted
on the segments the researcher has *decided* (coded, or read and left uncoded); a segment
nobody decided is unknown, not "no code". What makes it fast enough to refit after every
few decisions (one fit on 3,000 segments in a few seconds on two cores, see
``scripts/simulate_review.py --bench``) is that the features (and the n-gram TF-IDF) are
computed once per session, that each classifier is refitted warm from its last solution
(``warm_start``), and calibration:

- ``train`` calibrates on out-of-fold logits of a five-fold cross-validation: five extra
  fits of every classifier.
- Here calibration is **prequential** (progressive validation [1]_): each decision is
  compared with the label the model current at that moment predicted for a segment it
  had not seen. With ``warm_start=True`` each :meth:`ReviewModel.fit` keeps the raw logits
  it predicted for every undecided segment; at the next fit the segments decided in
  between are genuinely held out for the previous model, and their logits and the
  human's decision join :attr:`ReviewModel.heldout_`. The temperatures of the codable and
  code classifiers are fitted on that growing held-out set (temperature scaling [2]_),
  and the model's agreement so far (:attr:`Predictions.cv`) is Cohen's kappa of those
  decisions against the labels the model had predicted, with a percentile bootstrap
  interval. No fold is refitted: the cost of calibration is one scalar search.

  The held-out decisions are the ones the researcher chose to make, so in the review
  queue they are the most doubtful segments: the kappa so far is then a pessimistic
  estimate of the model on the rest, and it says so in ``cv["sample"]``.

The label of a segment and how likely it is wrong
-------------------------------------------------
Every segment gets a label, "no code" included: with ``c`` the probability that a human
codes the segment at all and ``p_j`` the probability of code ``j`` given that it is coded,
the categories are "no code" (``1 - c``) and each code (``c p_j``); the label is the most
probable category (the decision that maximises expected agreement,
:func:`themeassist.classify.policy.labelled`), plus further codes whose ``p_j`` reaches
``second_code`` (:func:`themeassist.classify.predict_sets`). ``p_wrong`` is one minus the
probability of the label's first category
(:func:`themeassist.classify.policy.review_priority`): the review queue is ordered by it,
most doubtful first.

References
----------
.. [1] Blum, Kalai & Langford (1999). Beating the hold-out: bounds for k-fold and
   progressive cross-validation. COLT '99, 203-208. doi:10.1145/307400.307439
.. [2] Guo, Pleiss, Sun & Weinberger (2017). On calibration of modern neural networks.
   ICML, PMLR 70:1321-1330.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from themeassist import agree, classify, tables
from themeassist.classify import policy
from themeassist.errors import InputError, LittleDataWarning, UndefinedStatisticWarning

log = logging.getLogger(__name__)

#: Versioned name of the method (R9), for manifests and the app's status.
METHOD = "themeassist.review.prequential-lr.v1"

#: The category of a segment left without a code.
NO_CODE = ""


@dataclass(frozen=True)
class Predictions:
    """What a :class:`ReviewModel` says about every segment of a corpus.

    Attributes
    ----------
    segment_ids : ndarray of str, shape (n,)
    codes : list of str
        Code labels (:func:`themeassist.tables.code_label`), in codebook order.
    codable : ndarray of shape (n,)
        Probability that a human codes the segment at all.
    code_proba : ndarray of shape (n, n_codes)
        Probability of each code given that the segment is coded.
    labels : list of list of int
        The predicted codes of each segment (indices into ``codes``); ``[]`` = "no code".
    p_wrong : ndarray of shape (n,)
        Probability that the label's first category is wrong (the review priority).
    cv : dict
        The model's agreement so far: ``kappa``, ``low``, ``high`` (95% bootstrap
        interval), ``n`` (held-out decisions), ``sample``; NaN while ``n`` is below the
        model's ``min_heldout``.
    version : int
        How many times the model was fitted (1 = first fit).
    """

    segment_ids: np.ndarray
    codes: list[str]
    codable: np.ndarray
    code_proba: np.ndarray
    labels: list[list[int]]
    p_wrong: np.ndarray
    cv: dict[str, Any] = field(default_factory=dict)
    version: int = 0

    def label_strings(self) -> np.ndarray:
        """Each segment's label as one category string (:func:`category`)."""
        return np.array([category([self.codes[j] for j in lab]) for lab in self.labels],
                        dtype=object)


def category(codes: Iterable[str]) -> str:
    """One category string for a set of code labels (sorted, ``" | "``-joined; "" = no code).

    Examples
    --------
    >>> category(["b", "a"]), category([])
    ('a | b', '')
    """
    return " | ".join(sorted(set(codes)))


def human_categories(codings: pd.DataFrame, segment_ids: Iterable[str]) -> np.ndarray:
    """The category of each segment in a codings table ("" for a segment with no row)."""
    ids = list(segment_ids)
    if codings is None or len(codings) == 0:
        return np.array([NO_CODE] * len(ids), dtype=object)
    labels = tables.code_labels(codings)
    sets = labels.groupby(codings["segment_id"].to_numpy()).agg(category)
    return np.array([sets.get(s, NO_CODE) for s in ids], dtype=object)


class ReviewModel(BaseEstimator):
    """The in-loop pre-labeller: refitted on the decided segments after every few decisions.

    Parameters
    ----------
    C, codable_C : float, default 4.0 and 1.0
        Inverse regularisation of the code and codable classifiers (as in ``train``).
    ngram : bool, default True
        Add the word n-gram scorers' logits (weight ``ngram_weight``) once
        ``min_codings`` segments are coded.
    ngram_weight : float, default 1.0
    second_code : float, default 0.35
        A further code joins a label when its probability given "coded" reaches this.
    min_heldout : int, default 30
        Held-out decisions needed before temperatures are fitted and ``cv`` is reported.
    zero_shot_codable_rate : float, default 0.35
        Before there are both coded and uncoded decisions: the share of segments assumed
        codable (then the observed share, smoothed, takes over).
    warm_start : bool, default True
        Keep the previous fit's predictions, so that the decisions made since become
        held-out evidence (prequential calibration). ``False``: every fit starts afresh,
        uncalibrated.
    n_boot : int, default 200
        Bootstrap resamples of the ``cv`` interval.
    seed : int, default 0
        Seed of the solvers and of the bootstrap.

    Attributes
    ----------
    n_fits_ : int
    decided_ : ndarray of str
        The decided segment ids of the last fit.
    heldout_ : DataFrame
        One row per held-out decision: ``segment_id``, ``version`` (of the model that
        predicted it), ``predicted`` (its label then); the raw logits are kept in
        ``heldout_codable_`` (n, 2) and ``heldout_code_`` (n, n_codes).
    temperatures_ : dict
        ``codable`` and ``code``.
    features_ : SegmentFeatures
        classify's feature transformer, fitted on the session's corpus (its defaults, as
        a labeller's).
    code_, codable_, code_ngram_, codable_ngram_ : CodebookClassifier or None
        The fitted :class:`~themeassist.classify.CodebookClassifier` (raw logits; the
        temperatures are the session's, ``temperatures_``): codes from ``features_`` (plus
        one pseudo-example per codebook entry, :func:`themeassist.classify.prior_rows`),
        codability from the same features, and both again from a TF-IDF of word 1-2-grams
        (from ``min_codings`` coded segments on, with the labeller's ``ngram_C`` and
        ``ngram_codable_C``); None until there is data to fit them. Each is refitted
        warm (``warm_start=True``) from its last solution.
    prior_ : float
        Weight of the codebook prior ``cos(segment, entry)`` in the code logits
        (:func:`themeassist.classify.codebook_prior`, ``50 / (50 + coded segments) x 20``):
        decisive at the start, fading as codings accrue.
    codes_ : list of str

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> book = pd.DataFrame({"theme": ["A", "B"], "valence": "", "subtheme": ["a", "b"]})
    >>> seg = pd.DataFrame({"segment_id": [f"t:{i}" for i in range(40)], "transcript_id": "t",
    ...                     "position": range(40), "text": [f"w{i % 2}" for i in range(40)]})
    >>> emb = np.eye(2)[np.arange(40) % 2] + 0.01 * rng.normal(size=(40, 2))
    >>> cod = pd.DataFrame({"segment_id": seg.segment_id[:10], "coder": "me",
    ...                     "theme": ["A", "B"] * 5, "valence": "", "subtheme": ["a", "b"] * 5})
    >>> m = ReviewModel(ngram=False).fit(seg, emb, book, cod, seg.segment_id[:12],
    ...                                  codebook_embeddings=np.eye(2))
    >>> pred = m.predict(seg, emb)
    >>> [pred.codes[lab[0]] for lab in pred.labels[10:14]]
    ['A / a', 'B / b', 'A / a', 'B / b']
    """

    def __init__(self, *, C=4.0, codable_C=1.0, ngram=True, ngram_weight=1.0,
                 second_code=0.35, min_heldout=30, zero_shot_codable_rate=0.35,
                 warm_start=True, n_boot=200, seed=0):
        self.C = C
        self.codable_C = codable_C
        self.ngram = ngram
        self.ngram_weight = ngram_weight
        self.second_code = second_code
        self.min_heldout = min_heldout
        self.zero_shot_codable_rate = zero_shot_codable_rate
        self.warm_start = warm_start
        self.n_boot = n_boot
        self.seed = seed

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        for name in ("C", "codable_C"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be > 0", expected="> 0", got=getattr(self, name))
        if not 0 < self.second_code <= 1:
            raise InputError("second_code must be in (0, 1]", expected="0 < p <= 1",
                             got=self.second_code)
        if not 0 < self.zero_shot_codable_rate < 1:
            raise InputError("zero_shot_codable_rate must be in (0, 1)", expected="0 < p < 1",
                             got=self.zero_shot_codable_rate)

    def fit(self, segments: pd.DataFrame, embeddings: np.ndarray, codebook: pd.DataFrame,
            codings: pd.DataFrame | None, decided_ids: Iterable[str], *,
            codebook_embeddings: np.ndarray | None = None) -> ReviewModel:
        """Fit on the decided segments; with ``warm_start``, learn from the last fit's errors.

        Parameters
        ----------
        segments : DataFrame
            The whole corpus (segments table); the same corpus at every fit of a session
            (its features are computed once and kept).
        embeddings : ndarray of shape (n_segments, dim)
        codebook : DataFrame
        codings : DataFrame or None
            The human codings so far (any coder's rows are pooled).
        decided_ids : iterable of str
            Segments the human has read, coded or not. A coded segment counts as decided.
        codebook_embeddings : ndarray of shape (n_codes, dim), optional
            Embeddings of :func:`themeassist.tables.codebook_texts`: the prior that lets the
            model predict codes nobody has applied yet (and predict anything at all before
            the first coding).

        Returns
        -------
        self
        """
        self._check_params()
        segs = tables.validate_segments(segments)
        book = tables.validate_codebook(codebook)
        emb = classify.check_embeddings(segs, embeddings)
        cod = (tables.validate_codings(codings, book, segs)
               if codings is not None and len(codings) else
               pd.DataFrame(columns=list(tables.CODING_REQUIRED)))
        ids = segs["segment_id"].to_numpy(dtype=object)
        decided = set(map(str, decided_ids)) | set(cod["segment_id"].astype(str))
        unknown = decided - set(ids)
        if unknown:
            raise InputError("decided segments not in the corpus",
                             expected="segment ids of the corpus", got=sorted(unknown)[0])
        cbe = None if codebook_embeddings is None else np.asarray(codebook_embeddings, float)
        if cbe is not None and cbe.shape != (len(book), emb.shape[1]):
            raise InputError("codebook embeddings do not match the codebook",
                             expected=f"shape ({len(book)}, {emb.shape[1]})",
                             got=f"shape {cbe.shape}")

        warm = self.warm_start and hasattr(self, "n_fits_")
        if warm and len(getattr(self, "codes_", [])) != len(book):
            warm = False      # the codebook changed (an accepted candidate): start afresh
        truth = human_categories(cod, ids)
        self._collect_heldout(ids, decided, truth, book, warm)
        corpus = self._corpus_features(segs, emb, book, cbe, reuse=warm)
        if not warm:
            self._solvers = {}

        n_codes = len(book)
        is_dec = np.isin(ids, np.array(sorted(decided), dtype=object))
        # the decisions as classify's training arrays (labels only: the features are the
        # session's, computed once)
        d = classify.training_data(segs, cod, book, np.zeros((len(segs), 0)), sorted(decided))
        y_codable = d.codable[is_dec]
        rows = d.code_rows
        X, T = corpus["X"], corpus["T"]
        s = classify.DEFAULT_SETTINGS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            Xc, yc, wc = X[rows], d.code_y, d.code_w
            if cbe is not None:     # one pseudo-example per codebook entry
                Xc = np.vstack([Xc, corpus["X_prior"]])
                yc = np.concatenate([yc, np.arange(n_codes)])
                wc = np.concatenate([wc, np.ones(n_codes)])
            self.code_ = self._refit("code", self.C, Xc, yc, wc)
            both = len(y_codable) and 0 < y_codable.sum() < len(y_codable)
            self.codable_ = (self._refit("codable", self.codable_C, X[is_dec], y_codable, None)
                             if both else None)
            self.code_ngram_ = self.codable_ngram_ = None
            if self.ngram and T is not None and len(rows) >= s["min_codings"]:
                Tc, yt, wt = T[rows], d.code_y, d.code_w
                if corpus["T_prior"] is not None:
                    import scipy.sparse as sp

                    Tc = sp.vstack([Tc, corpus["T_prior"]]).tocsr()
                    yt = np.concatenate([yt, np.arange(n_codes)])
                    wt = np.concatenate([wt, np.ones(n_codes)])
                self.code_ngram_ = self._refit("code_ngram", s["ngram_C"], Tc, yt, wt)
            if (self.ngram and T is not None and self.codable_ is not None
                    and min(y_codable.sum(), len(y_codable) - y_codable.sum()) >= 10
                    and y_codable.sum() >= s["min_codings"]):
                self.codable_ngram_ = self._refit("codable_ngram", s["ngram_codable_C"],
                                                  T[is_dec], y_codable, None)
        self.prior_ = (classify.codebook_prior(float(d.code_w.sum()),
                                               strength=s["prior_strength"],
                                               scale=s["zero_shot_scale"])
                       if cbe is not None else 0.0)
        rate = (float(y_codable.sum()) + 2 * self.zero_shot_codable_rate) / (len(y_codable) + 2)
        self.codable_rate_ = rate
        self.codes_ = tables.code_labels(book).tolist()
        self.n_fits_ = getattr(self, "n_fits_", 0) + 1 if warm else 1
        self.decided_ = np.array(sorted(decided), dtype=object)
        self.temperatures_ = {"codable": 1.0, "code": 1.0}
        zc, z = self._raw_logits(corpus)
        self.temperatures_ = self._fit_temperatures(d, ids)
        self.cv_ = self._prequential_agreement()
        # the raw logits of every segment, kept so that the next fit can score this
        # model on the segments decided in between (prequential calibration)
        self._last_ = {"ids": ids, "codable": zc, "code": z,
                       "labels": self._labels_from(zc, z)[0]}
        return self

    def _refit(self, name: str, C: float, X, y, w) -> classify.CodebookClassifier | None:
        """One of the session's classifiers, refitted warm from its last solution.

        A :class:`~themeassist.classify.CodebookClassifier` with ``warm_start=True``, kept
        between fits under ``name``: L-BFGS starts from the previous solution (same
        classes and features), which is what makes a refit after a few more decisions take
        a fraction of a cold fit; the optimum is the same up to the solver's tolerance.
        None without any example; a constant model (not kept) with one class.
        """
        y = np.asarray(y, dtype=int)
        n_classes = len(np.unique(y))
        if n_classes == 0:
            return None
        if n_classes == 1:
            return classify.CodebookClassifier(C=float(C), random_state=self.seed).fit(X, y)
        clf = self._solvers.get(name)
        if clf is None:
            clf = classify.CodebookClassifier(warm_start=True)
        clf.set_params(C=float(C), random_state=self.seed)
        self._solvers[name] = clf.fit(X, y, sample_weight=w)
        return clf

    def _corpus_features(self, segs, emb, book, cbe, *, reuse: bool) -> dict[str, Any]:
        """Features that depend on the corpus only, computed once per session.

        The dense features of :class:`themeassist.classify.SegmentFeatures` (fitted on the
        corpus: its layout is the session's) with the codebook's pseudo-examples
        (:func:`themeassist.classify.prior_rows`), and a TF-IDF of word 1-2-grams over the
        whole corpus (vocabulary and IDF from the corpus's own text: no labels are
        involved, so nothing leaks from decisions into features, and the matrix is built
        once instead of at every refit as :class:`~themeassist.classify.NgramScorer` would).
        """
        key = (tuple(segs["segment_id"]), emb.shape, float(np.asarray(emb, float).sum()),
               tuple(tables.code_labels(book)), None if cbe is None else float(cbe.sum()))
        cached = getattr(self, "_corpus", None)
        if reuse and cached is not None and cached["key"] == key:
            return cached
        self.features_ = classify.SegmentFeatures().fit(segs, emb)
        X = self.features_.transform(segs, emb)
        out = {"key": key, "X": X, "E": np.asarray(emb, np.float64),
               "X_prior": None if cbe is None else classify.prior_rows(cbe, X.shape[1]),
               "cbe": cbe, "T": None, "T_prior": None}
        if self.ngram:
            out["vectorizer"], out["T"], out["T_prior"] = _tfidf(
                segs["text"].astype(str).tolist(),
                tables.codebook_texts(book) if cbe is not None else None)
        self._corpus = out
        return out

    def _raw_logits(self, corpus) -> tuple[np.ndarray, np.ndarray]:
        """Uncalibrated ``(codable (n, 2), code (n, n_codes))`` logits of the corpus."""
        X, E, T = corpus["X"], corpus["E"], corpus["T"]
        n, n_codes = len(X), len(self.codes_)
        if self.codable_ is not None:
            zc = classify.codable_logits(self.codable_, X)
            if self.codable_ngram_ is not None:
                zc = zc + self.ngram_weight * classify.codable_logits(self.codable_ngram_, T)
        else:
            # one class (or none) decided so far: rank by similarity to the codebook and
            # cut at the observed share of coded decisions, smoothed towards the prior rate
            cbe = corpus["cbe"]
            mean = cbe.mean(axis=0) if cbe is not None else E.mean(axis=0)
            mean = mean / (np.linalg.norm(mean) or 1.0)
            sim = E @ mean
            scale, cut = classify.zero_shot_codable(sim, self.codable_rate_)
            zc = np.column_stack([np.zeros(n), scale * (sim - cut)])
        z = (classify.full_logits(self.code_, X, n_codes) if self.code_ is not None
             else np.zeros((n, n_codes)))
        if self.code_ngram_ is not None:
            z = z + self.ngram_weight * classify.full_logits(self.code_ngram_, T, n_codes)
        if self.prior_ and corpus["cbe"] is not None:
            z = z + self.prior_ * (E @ corpus["cbe"].T)
        return zc, z

    def _labels_from(self, zc, z):
        """Labels, probabilities and review priority from raw logits (classify's policy)."""
        t = getattr(self, "temperatures_", {"codable": 1.0, "code": 1.0})
        codable = classify.softmax(zc / t["codable"])[:, 1]
        P = classify.softmax(z / t["code"])
        # the most probable category, "no code" included; a coded label is its code set
        # (top code plus codes of probability second_code or more, as a labeller without
        # a set rule), the most probable first
        coded = policy.labelled(codable, P)
        S = classify.predict_sets(P, P, self.second_code)
        order = np.argsort(-P, axis=1, kind="stable")[:, :4]
        labels = [[int(j) for j in order[i] if S[i, j]] if coded[i] else []
                  for i in range(len(P))]
        return labels, codable, P, policy.review_priority(codable, P)

    def _collect_heldout(self, ids, decided, truth, book, warm) -> None:
        n_codes = len(book)
        if not warm:
            self.heldout_ = pd.DataFrame({"segment_id": pd.Series(dtype=object),
                                          "version": pd.Series(dtype=int),
                                          "predicted": pd.Series(dtype=object)})
            self.heldout_codable_ = np.zeros((0, 2))
            self.heldout_code_ = np.zeros((0, n_codes))
        else:
            last = self._last_
            before = set(self.decided_)
            pos = {s: i for i, s in enumerate(last["ids"])}
            new = [s for s in sorted(decided - before) if s in pos]
            if new and last["code"].shape[1] == n_codes:
                rows = np.array([pos[s] for s in new], dtype=int)
                codes = tables.code_labels(book).tolist()
                pred = [category([codes[j] for j in last["labels"][r]]) for r in rows]
                self.heldout_ = pd.concat([self.heldout_, pd.DataFrame(
                    {"segment_id": new, "version": self.n_fits_, "predicted": pred})],
                    ignore_index=True)
                self.heldout_codable_ = np.vstack([self.heldout_codable_, last["codable"][rows]])
                self.heldout_code_ = np.vstack([self.heldout_code_, last["code"][rows]])
        # the human's current decision on each held-out segment (a later correction counts)
        where = {s: i for i, s in enumerate(ids)}
        self._heldout_truth = np.array([truth[where[s]] for s in self.heldout_["segment_id"]],
                                       dtype=object)

    def _fit_temperatures(self, d: classify.TrainingData, ids) -> dict[str, float]:
        """Temperatures of the codable and code logits on the held-out decisions.

        classify's calibration (:func:`~themeassist.classify.fit_temperature`, and for codes
        :func:`~themeassist.classify.fit_temperature_sets`: the label is right when it is
        one of the segment's codes) on the logits the model of the time gave, against the
        human's current decisions (``d``).
        """
        t = {"codable": 1.0, "code": 1.0}
        if len(self.heldout_) < self.min_heldout:
            return t
        where = {s: i for i, s in enumerate(ids)}
        rows = np.array([where[s] for s in self.heldout_["segment_id"]], dtype=int)
        coded = d.codable[rows].astype(bool)
        t["codable"] = classify.fit_temperature(self.heldout_codable_, coded.astype(int))
        if coded.sum() >= self.min_heldout:
            member = np.zeros((int(coded.sum()), self.heldout_code_.shape[1]), dtype=bool)
            for r, i in enumerate(rows[coded]):
                member[r, d.code_sets[i]] = True
            ok = member.any(axis=1)
            if ok.sum() >= 2:
                t["code"] = classify.fit_temperature_sets(self.heldout_code_[coded][ok], member[ok])
        return t

    def _prequential_agreement(self) -> dict[str, Any]:
        n = len(self.heldout_)
        out = {"kappa": float("nan"), "low": float("nan"), "high": float("nan"), "n": n,
               "sample": "decisions made after each model's fit, scored against its labels"}
        if n < self.min_heldout:
            return out
        a, b = self._heldout_truth, self.heldout_["predicted"].to_numpy(dtype=object)
        out["kappa"] = kappa(a, b)
        with warnings.catch_warnings():  # a resample where kappa is undefined is left out
            warnings.simplefilter("ignore", UndefinedStatisticWarning)
            boots = agree.bootstrap_samples("cohen_kappa", *_as_categories(a, b),
                                            n_boot=self.n_boot, seed=self.seed)
        ci = agree.percentile_ci(boots)
        if ci is not None:
            out["low"], out["high"] = ci
        return out

    # ------------------------------------------------------------------ predicting
    def predict(self, segments: pd.DataFrame, embeddings: np.ndarray) -> Predictions:
        """Label every segment, with its review priority (see the module's docstring)."""
        check_is_fitted(self, "code_")
        segs = tables.validate_segments(segments)
        emb = classify.check_embeddings(segs, embeddings, self.features_.spec_.dim)
        corpus = self._corpus
        if tuple(segs["segment_id"]) != corpus["key"][0]:
            corpus = self._other_corpus(segs, emb)
        zc, z = self._raw_logits(corpus)
        labels, codable, P, p_wrong = self._labels_from(zc, z)
        return Predictions(segment_ids=segs["segment_id"].to_numpy(dtype=object),
                           codes=list(self.codes_), codable=codable, code_proba=P,
                           labels=labels, p_wrong=p_wrong, cv=dict(self.cv_),
                           version=self.n_fits_)

    def _other_corpus(self, segs, emb) -> dict[str, Any]:
        """Features of segments other than the fitted corpus, in the fitted layout."""
        c = self._corpus
        out = dict(c, X=self.features_.transform(segs, emb), E=np.asarray(emb, np.float64))
        if c["T"] is not None:
            out["T"] = c["vectorizer"].transform(segs["text"].astype(str).tolist()).tocsr()
        return out


# --------------------------------------------------------------------------- n-grams
def _tfidf(texts: list[str], extra: list[str] | None):
    """Sublinear, L2-normalised TF-IDF of word 1-2-grams (min_df 2), as the n-gram scorers
    of :mod:`themeassist.classify` use, fitted once on the corpus."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=min(2, len(texts)), sublinear_tf=True,
                          dtype=np.float64)
    try:
        T = vec.fit_transform(texts).tocsr()
    except ValueError:                       # no n-gram at all
        return None, None, None
    return vec, T, (None if extra is None else vec.transform(extra).tocsr())


# --------------------------------------------------------------------------- statistics
def _as_categories(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Two label vectors with "no code" as a category of its own: :mod:`themeassist.agree`
    reads ``""`` (:data:`NO_CODE`) as a missing rating, but here it is what was decided."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    uncoded = agree.uncoded_label(np.concatenate([a, b]))
    return tuple(np.where(x == NO_CODE, uncoded, x) for x in (a, b))


def kappa(a, b) -> float:
    """Cohen's kappa of two label vectors, "no code" included; 1.0 when both use one and
    the same category (:func:`themeassist.classify.kappa`, on
    :func:`themeassist.agree.cohen_kappa`).

    Examples
    --------
    >>> kappa(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    0.5
    >>> round(kappa(["", "", "b"], ["", "b", "b"]), 4)
    0.4
    """
    return classify.kappa(*_as_categories(a, b))


def review_queue(pred: Predictions, decided_ids: Iterable[str] = (), n: int | None = None,
                 *, top: int = 9) -> pd.DataFrame:
    """The undecided segments, most doubtful first.

    Parameters
    ----------
    pred : Predictions
    decided_ids : iterable of str
        Left out of the queue.
    n : int, optional
        Only the first ``n``.
    top : int, default 9
        How many of the machine's codes to list per segment (the app's keys 1-9).

    Returns
    -------
    DataFrame
        ``segment_id``, ``p_wrong``, ``label`` (list of code labels; ``[]`` = no code),
        ``codable``, ``top`` (list of ``(code, probability)``: probability that a human
        codes the segment with it, ``codable x p``), ordered by ``p_wrong`` descending
        (ties in corpus order).
    """
    decided = set(map(str, decided_ids))
    keep = np.array([s not in decided for s in pred.segment_ids], dtype=bool)
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(-pred.p_wrong[rows], kind="stable")]
    if n is not None:
        rows = rows[:n]
    codes = pred.codes
    tops = []
    for i in rows:
        order = np.argsort(-pred.code_proba[i], kind="stable")[:top]
        tops.append([(codes[j], float(pred.codable[i] * pred.code_proba[i, j])) for j in order])
    return pd.DataFrame({
        "segment_id": pred.segment_ids[rows],
        "p_wrong": pred.p_wrong[rows].astype(float),
        "label": [[codes[j] for j in pred.labels[i]] for i in rows],
        "codable": pred.codable[rows].astype(float),
        "top": tops})


def final_categories(pred: Predictions, codings: pd.DataFrame | None,
                     decided_ids: Iterable[str]) -> np.ndarray:
    """The whole coding if the researcher stopped now: human where decided, machine elsewhere."""
    decided = set(map(str, decided_ids))
    if codings is not None and len(codings):
        decided |= set(codings["segment_id"].astype(str))
    human = human_categories(codings, pred.segment_ids)
    machine = pred.label_strings()
    is_dec = np.array([s in decided for s in pred.segment_ids], dtype=bool)
    return np.where(is_dec, human, machine)


def expected_agreement(pred: Predictions, decided_ids: Iterable[str],
                       codings: pd.DataFrame | None = None) -> dict[str, float]:
    """Expected Cohen's kappa of the whole coding (human where decided, machine elsewhere).

    Against the coding the researcher would produce by deciding every segment: on a
    decided segment the two agree; on an undecided one they agree with probability
    ``1 - p_wrong``. Chance agreement uses the expected category shares: the decided
    segments' own categories plus, for each undecided segment, "no code" with
    probability ``1 - codable`` and code ``j`` with ``codable x p_j``.

    Parameters
    ----------
    pred : Predictions
    decided_ids : iterable of str
    codings : DataFrame, optional
        The human codings (the decided segments' categories). Without it, a decided
        segment's category is taken to be its machine label.

    Returns
    -------
    dict
        ``kappa``, ``agreement`` (expected proportion of segments agreeing),
        ``decided_share``.

    Notes
    -----
    Only as good as the calibration: before ``min_heldout`` decisions the probabilities
    are uncalibrated and so is this figure.
    """
    n = len(pred.segment_ids)
    if n == 0:
        return {"kappa": float("nan"), "agreement": float("nan"), "decided_share": 0.0}
    decided = set(map(str, decided_ids))
    if codings is not None and len(codings):
        decided |= set(codings["segment_id"].astype(str))
    is_dec = np.array([s in decided for s in pred.segment_ids], dtype=bool)
    final = (final_categories(pred, codings, decided) if codings is not None
             else pred.label_strings())
    po = (is_dec.sum() + (1 - pred.p_wrong[~is_dec]).sum()) / n
    machine_share = pd.Series(final).value_counts() / n
    human_mass: dict[str, float] = pd.Series(final[is_dec]).value_counts().to_dict()
    und = np.flatnonzero(~is_dec)
    human_mass[NO_CODE] = human_mass.get(NO_CODE, 0.0) + float((1 - pred.codable[und]).sum())
    code_mass = (pred.codable[und, None] * pred.code_proba[und]).sum(axis=0)
    for j, c in enumerate(pred.codes):
        human_mass[c] = human_mass.get(c, 0.0) + float(code_mass[j])
    pe = sum(float(machine_share.get(c, 0.0)) * m / n for c, m in human_mass.items())
    k = 1.0 if pe >= 1 else (po - pe) / (1 - pe)
    return {"kappa": float(k), "agreement": float(po), "decided_share": float(is_dec.mean())}


def machine_codings(pred: Predictions, codebook: pd.DataFrame, coder: str = "model:review",
                    exclude: Iterable[str] = ()) -> pd.DataFrame:
    """The machine's labels as a codings table (DESIGN.md section 3), ``exclude`` left out.

    ``confidence`` is the probability that a human codes the segment with that code
    (``codable x p``); ``needs_review`` is true when the label is more likely wrong than
    right (:func:`themeassist.classify.policy.needs_review` of the probability that the
    label is right, threshold 0.5). Segments labelled "no code" have no row.
    """
    book = tables.validate_codebook(codebook)
    skip = set(map(str, exclude))
    rows = []
    for i, sid in enumerate(pred.segment_ids):
        if sid in skip:
            continue
        for j in pred.labels[i]:
            r = book.iloc[j]
            rows.append((sid, coder, r["theme"], r["valence"], r["subtheme"],
                         round(float(pred.codable[i] * pred.code_proba[i, j]), 6),
                         bool(policy.needs_review(1 - pred.p_wrong[i], 0.5))))
    return pd.DataFrame(rows, columns=list(tables.CODING_COLUMNS))


def whole_coding(machine: pd.DataFrame, human: pd.DataFrame | None,
                 decided_ids: Iterable[str]) -> pd.DataFrame:
    """The whole coding: the human's codes where they decided, the machine's elsewhere.

    Parameters
    ----------
    machine : DataFrame
        A codings table from the model (``label``), for the whole corpus.
    human : DataFrame or None
        The human's codings.
    decided_ids : iterable of str
        The segments the human has read; a coded segment counts as read.

    Returns
    -------
    DataFrame
        One codings table, the machine's rows of decided segments replaced by the human's,
        with a ``source`` column (``human`` / ``machine``). Human rows keep their coder,
        and have confidence 1, ``needs_review`` false and priority 0: a decision is not
        reviewed again.

    Examples
    --------
    >>> m = pd.DataFrame({"segment_id": ["a", "b"], "coder": "model:x", "theme": ["T", "T"],
    ...                   "valence": "", "subtheme": ["s", "s"], "confidence": [0.4, 0.9],
    ...                   "needs_review": [True, False]})
    >>> h = pd.DataFrame({"segment_id": ["a"], "coder": "ann", "theme": ["U"], "valence": "",
    ...                   "subtheme": ["u"]})
    >>> whole_coding(m, h, ["a"])[["segment_id", "coder", "theme", "source"]].values.tolist()
    [['a', 'ann', 'U', 'human'], ['b', 'model:x', 'T', 'machine']]
    """
    decided = set(map(str, decided_ids))
    if human is not None and len(human):
        decided |= set(human["segment_id"].astype(str))
    kept = machine[~machine["segment_id"].astype(str).isin(decided)].assign(source="machine")
    if human is None or not len(human):
        return kept.reset_index(drop=True)
    mine = human.assign(confidence=1.0, needs_review=False, source="human")
    if "priority" in machine.columns:
        mine = mine.assign(priority=0.0)      # decided: nothing left to review
    cols = list(dict.fromkeys([*machine.columns, "source"]))
    out = pd.concat([mine.reindex(columns=cols), kept.reindex(columns=cols)], ignore_index=True)
    order = {s: i for i, s in enumerate(pd.unique(pd.concat(
        [machine["segment_id"], human["segment_id"]]).astype(str)))}
    out = out.iloc[np.argsort(out["segment_id"].astype(str).map(order).to_numpy(), kind="stable")]
    return out.reset_index(drop=True)


def suggest_from(pred: Predictions, embeddings: np.ndarray, decided_ids: Iterable[str] = (),
                 n: int = 20, *, seed: int = 0, pool: int = 10) -> pd.DataFrame:
    """What to code next (uncertain and diverse), from a model's predictions.

    The rule of :func:`themeassist.classify.suggest` (k-center greedy over the most
    uncertain segments, anchored on the decided ones) applied to ``pred``.

    Returns
    -------
    DataFrame
        ``rank, segment_id, uncertainty, distance, codable, predicted``.
    """
    decided = set(map(str, decided_ids))
    is_dec = np.array([s in decided for s in pred.segment_ids], dtype=bool)
    rows, u, dist = classify.pick_uncertain_diverse(
        pred.codable, pred.code_proba, np.asarray(embeddings, np.float64), is_dec, n,
        seed=seed, pool=pool)
    codes = np.array(pred.codes, dtype=object)
    return pd.DataFrame({
        "rank": np.arange(1, len(rows) + 1), "segment_id": pred.segment_ids[rows],
        "uncertainty": np.round(u, 6), "distance": np.round(dist, 6),
        "codable": np.round(pred.codable[rows], 6),
        "predicted": codes[pred.code_proba[rows].argmax(1)] if len(rows) else codes[:0]})


__all__ = ["METHOD", "NO_CODE", "Predictions", "ReviewModel", "category", "expected_agreement",
           "final_categories", "human_categories", "kappa", "machine_codings", "review_queue",
           "suggest_from", "whole_coding", "LittleDataWarning"]
