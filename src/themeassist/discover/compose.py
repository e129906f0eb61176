"""`discover`: the composition of the parts, timed, and what it returns."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from themeassist import text as vocab
from themeassist.discover.describe import _CANDIDATE_COLUMNS, centrality, describe_candidates
from themeassist.discover.match import (
    embed_codebook,
    entry_candidates,
    match_candidates,
    match_segments,
)
from themeassist.discover.parameters import Algorithm, clusterer_defaults
from themeassist.discover.questions import question_features
from themeassist.discover.select import SET_ASIDE_REASONS, select_segments
from themeassist.errors import InputError, LittleDataWarning

log = logging.getLogger(__name__)

#: Names the method in manifests; bump when outputs change for the same inputs.
METHOD = "themeassist.discover.v1"

#: Fewer clustered segments than this and discovery refuses (a clear message, no crash).
MIN_SEGMENTS = 12


def _stopwatch(timings: dict[str, float]):
    """``with timed(name):`` adds the block's wall time to ``timings[name]``."""

    @contextmanager
    def timed(name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t

    return timed


@dataclass
class DiscoveryResult:
    """What :func:`discover` returns.

    Attributes
    ----------
    candidates : DataFrame
        One row per candidate subtheme (see :func:`discover`).
    assignments : DataFrame
        One row per input segment: ``segment_id``, ``candidate_id`` (-1 = none),
        ``probability`` (softmax of cosine similarity over the candidates' centroids, or
        over the codebook entries for codebook-first matches; 0 when unassigned),
        ``below_floor`` (probability under the floor), ``set_aside`` (reason or ""),
        ``x``, ``y`` (map coordinates; empty when set aside).
    diagnostics : dict
        Counts, outlier shares, stability, the settings chosen and timings.
    """

    candidates: pd.DataFrame
    assignments: pd.DataFrame
    diagnostics: dict[str, Any] = field(default_factory=dict)


def headline(diagnostics: dict[str, Any]) -> dict[str, float | None]:
    """The two numbers a reader sees first, read from :attr:`DiscoveryResult.diagnostics`.

    ``outlier_share`` is the share of clustered segments left unassigned after
    reassignment (``outlier_share_after``); ``ari_mean`` the mean adjusted Rand index
    between the seeded runs (``ari_between_runs.mean``; None with a single run). The
    report, ``candidates.md`` and the ``discover`` command read them here, so that the
    names live in one place.

    Examples
    --------
    >>> headline({"outlier_share_after": 0.05, "ari_between_runs": {"mean": 0.8}})
    {'outlier_share': 0.05, 'ari_mean': 0.8}
    """
    share = diagnostics.get("outlier_share_after")
    ari = (diagnostics.get("ari_between_runs") or {}).get("mean")
    return {"outlier_share": None if share is None else float(share),
            "ari_mean": None if ari is None else float(ari)}


#: The clusterer's parameters and defaults: :func:`discover` passes its parameters of these
#: names to :class:`CandidateClusterer`, and takes its defaults from it (defined once).
_CLUSTERER = clusterer_defaults()


def discover(
    segments: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    codebook: pd.DataFrame | None = None,
    codebook_embeddings: np.ndarray | Callable[[list[str]], np.ndarray] | None = None,
    seed: int = _CLUSTERER["seed"],
    runs: int = _CLUSTERER["runs"],
    n_candidates: int | None = _CLUSTERER["n_candidates"],
    min_cluster_size: int | None = _CLUSTERER["min_cluster_size"],
    n_neighbors: int | None = _CLUSTERER["n_neighbors"],
    n_components: int = _CLUSTERER["n_components"],
    min_words: int = 4,
    min_similarity: float = _CLUSTERER["min_similarity"],
    probability_floor: float = 0.3,
    temperature: float = _CLUSTERER["temperature"],
    question_weight: float = 0.5,
    new_threshold: float = 0.35,
    codebook_first: bool = False,
    match_threshold: float = 0.55,
    n_quotes: int = 5,
    algorithm: Algorithm = _CLUSTERER["algorithm"],
) -> DiscoveryResult:
    """Propose candidate subthemes from embedded segments.

    Parameters
    ----------
    segments : DataFrame
        Validated segments (``segment_id``, ``transcript_id``, ``text``; ``role``,
        ``speaker``, ``question`` used when present).
    embeddings : array (n_segments, d)
        One row per segment, in ``segments`` order (e.g. from
        :class:`themeassist.embed.Embedder`).
    codebook : DataFrame, optional
        With it, each candidate gets its nearest entry and ``is_new``.
    codebook_embeddings : array (n_entries, d) or callable, optional
        Embeddings of :func:`codebook_texts`, or a function that embeds a list of texts.
    seed : int, default 0
        Seed of the first run; run ``r`` uses ``seed + r``.
    runs : int, default 5
        Number of seeded reductions; combined by evidence accumulation and used for the
        stability figures. ``1`` gives a single run and no stability.
    n_candidates, min_cluster_size, n_neighbors : int, optional
        ``None`` = chosen from the corpus size by :func:`settings_for_size`.
    n_components : int, default 5
        UMAP dimensions.
    min_words : int, default 4
        Shorter segments are set aside.
    min_similarity : float, default 0.1
        An outlier whose best centroid cosine similarity is lower stays unassigned.
    probability_floor : float, default 0.3
        Assignments with a lower probability are marked ``below_floor``.
    temperature : float, default 0.05
        Softmax temperature of the assignment probability.
    question_weight : float, default 0.5
        Weight of the segment's question (one-hot, unit length) appended to its unit
        embedding before reduction, so that answers to the same question lean together;
        0 ignores the question, as does a corpus without a ``question`` column. On the
        usability study this context raises AMI against the human codes from 0.26 to
        0.38 (``scripts/evaluate_discovery.py``).
    new_threshold : float, default 0.35
        A candidate whose nearest entry's similarity is lower is marked ``is_new``.
    codebook_first : bool, default False
        Assign segments whose similarity to an entry reaches ``match_threshold`` to that
        entry first, and cluster only the rest.
    match_threshold : float, default 0.55
    n_quotes : int, default 5
        Representative quotes per candidate (the members nearest its centroid; at least 3
        when the candidate has them).
    algorithm : {"kmeans", "ward", "hdbscan"}, default "kmeans"
        Clustering of each run's reduced space (:data:`CLUSTERERS`).

    Returns
    -------
    DiscoveryResult
        ``candidates``: candidate_id, label, keywords, size, quotes (JSON list), source
        (``cluster`` or ``codebook``), nearest_theme, nearest_valence, nearest_subtheme,
        similarity, is_new, stability, share (of clustered segments), questions and groups
        (top shares), n_questions, n_groups, speakers, top_speaker_share,
        flagged_single_speaker. ``assignments``: one row per segment (see
        :class:`DiscoveryResult`). ``diagnostics``: counts by set-aside reason, outlier
        shares before and after reassignment, pairwise ARI between runs, settings,
        timings.

    Raises
    ------
    InputError
        Embeddings that do not match the segments, or fewer than :data:`MIN_SEGMENTS`
        segments left to cluster (the message says how many and why).

    Notes
    -----
    ``discover`` is the composition of four parts, each timed here (``timings`` in the
    diagnostics: ``select``, ``cluster``, ``describe``, ``match``, ``total``):

    1. :func:`~themeassist.discover.select.select_segments` (and, codebook-first,
       :func:`~themeassist.discover.match.match_segments`);
    2. :func:`~themeassist.discover.questions.question_features` and
       :class:`~themeassist.discover.cluster.CandidateClusterer` (``n_candidates``,
       ``min_cluster_size``, ``n_neighbors``, ``n_components``, ``algorithm``, ``runs``,
       ``seed``, ``min_similarity`` and ``temperature`` are its parameters);
    3. :func:`~themeassist.discover.describe.describe_candidates`;
    4. :func:`~themeassist.discover.match.match_candidates` (with a codebook).

    Each run reduces the (question-weighted) embeddings with UMAP and partitions the
    reduced space into ``n_candidates`` groups with k-means (or Ward, ``algorithm``);
    groups below ``min_cluster_size`` become outliers. Rather than HDBSCAN's density
    threshold, which on conversational text leaves a quarter of the segments as noise and
    changes the number of topics from seed to seed, a granularity fixed from the corpus
    size plus centroid reassignment keeps nearly every segment assigned; the runs are then
    combined by evidence accumulation. Measured on the usability study (2,155 clustered
    segments, ``scripts/evaluate_discovery.py``): 19 candidates, 0% unassigned, AMI 0.37
    against the human codes (BERTopic's defaults: 56 topics, 23% outliers, AMI 0.25), ARI
    0.92 between the results of two seeds (BERTopic: 0.62).

    References
    ----------
    See the module docstring.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> centres = np.eye(8)[:3] * 3
    >>> emb = np.vstack([c + rng.normal(0, .3, (20, 8)) for c in centres])
    >>> seg = pd.DataFrame({"segment_id": [f"s{i}" for i in range(60)],
    ...                     "transcript_id": "t", "text": ["the export button was easy"] * 20
    ...     + ["the query lag is unclear"] * 20 + ["plots look really helpful here"] * 20})
    >>> res = discover(seg, emb, runs=1, n_candidates=3)     # doctest: +SKIP
    >>> res.candidates["size"].tolist()                       # doctest: +SKIP
    [20, 20, 20]
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    timed = _stopwatch(timings)
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2 or len(emb) != len(segments):
        raise InputError("embeddings do not match the segments", column="text",
                         expected=f"{len(segments)} rows", got=getattr(emb, "shape", None))
    if runs < 1:
        raise InputError("runs must be at least 1", expected=">= 1", got=runs)
    if codebook_first and codebook is None:
        raise InputError("codebook-first mode needs a codebook", expected="--codebook FILE",
                         got=None)
    seg = segments.reset_index(drop=True)
    n_total = len(seg)
    book = None if codebook is None else codebook.reset_index(drop=True)
    # imported here: this module is imported for discover()'s signature alone (the project
    # settings derive from it), and the clusterer brings scikit-learn
    from themeassist.discover.cluster import CandidateClusterer, chosen_sizes

    clusterer = CandidateClusterer(
        n_candidates=n_candidates, min_cluster_size=min_cluster_size, n_neighbors=n_neighbors,
        n_components=n_components, algorithm=algorithm, runs=runs, seed=seed,
        min_similarity=min_similarity, temperature=temperature)

    # 1. Selection, and in codebook-first mode the segments that clearly match an entry.
    with timed("select"):
        book_emb = (None if book is None
                    else embed_codebook(book, codebook_embeddings, emb.shape[1]))
        reason = select_segments(seg, min_words=min_words)
        matched = pd.DataFrame({"entry": np.full(n_total, -1, dtype=np.int64),
                                "similarity": 0.0, "probability": 0.0})
        if codebook_first:
            matched = match_segments(emb, book_emb, (reason == "").to_numpy(),
                                     threshold=match_threshold, temperature=temperature)
            reason[matched["entry"].to_numpy() >= 0] = "matched codebook"
    matched_entry = matched["entry"].to_numpy()
    idx = np.flatnonzero((reason == "").to_numpy())
    n = len(idx)
    counts = {r: int((reason == r).sum()) for r in SET_ASIDE_REASONS}
    if n < MIN_SEGMENTS and not (codebook_first and (matched_entry >= 0).any()):
        raise InputError(
            f"too few segments to discover candidates: {n} left to cluster out of {n_total} "
            f"(set aside: {', '.join(f'{v} {k}' for k, v in counts.items() if v) or 'none'})",
            column="text", expected=f"at least {MIN_SEGMENTS} participant segments with "
            f"{min_words}+ words", got=n)
    if n and n < 100:
        warnings.warn(f"only {n} segments to cluster; candidates from so few are tentative",
                      LittleDataWarning, stacklevel=2)

    # 2. Clustering of the rest (embedding plus question), unless too few are left.
    x = emb[idx]
    with timed("cluster"):
        questions = (seg["question"].fillna("").astype(str).to_numpy()[idx]
                     if "question" in seg.columns else None)
        feats = question_features(x, questions, weight=question_weight)
        if n >= MIN_SEGMENTS:
            # One OpenMP thread: scikit-learn's k-means runs its Lloyd iterations in an
            # OpenMP team per start (10 starts per run), whose start-up and spinning cost
            # far more than a few hundred points take (2 s instead of 0.2 s for 5 runs on
            # 2 busy cores, issue 17). The partitions are the same; with one thread the
            # centres' sums are also added in one fixed order.
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=1, user_api="openmp"):
                clusterer.fit(feats)
            final, prob = clusterer.labels_, clusterer.probabilities_
            stab, aris = clusterer.stability_, clusterer.ari_between_runs_
            coords2, chosen = clusterer.map_, clusterer.sizes_
            outliers_before = float(np.mean(clusterer.consensus_labels_ < 0))
        else:
            final, prob = np.full(n, -1, dtype=np.int64), np.zeros(n)
            stab, aris, coords2 = np.zeros(0), [], np.zeros((n, 2))
            chosen = chosen_sizes(n, n_candidates=n_candidates,
                                  min_cluster_size=min_cluster_size, n_neighbors=n_neighbors,
                                  n_components=n_components)
            outliers_before = 1.0 if n else 0.0

    # Candidate ids: clusters first (0..), then codebook-matched entries.
    entry_ids = entry_candidates(matched_entry, len(stab))
    cand_of_segment = np.full(n_total, -1, dtype=np.int64)
    cand_of_segment[idx] = final
    prob_of_segment = np.zeros(n_total)
    prob_of_segment[idx] = prob
    central = np.zeros(n_total)
    central[idx] = centrality(x, final)
    for e, cid in entry_ids.items():
        m = matched_entry == e
        cand_of_segment[m] = cid
        prob_of_segment[m] = matched["probability"].to_numpy()[m]
        central[m] = matched["similarity"].to_numpy()[m]

    # 3. Description, and 4. the nearest codebook entry of each candidate.
    with timed("describe"):
        cands = describe_candidates(
            seg, cand_of_segment, central, stab, n_quotes=n_quotes,
            codebook_labels={cid: str(book["subtheme"].iloc[e]) for e, cid in entry_ids.items()})
    if book is not None:
        with timed("match"):
            cands = match_candidates(cands, emb, cand_of_segment, book, book_emb,
                                     entry_of={cid: e for e, cid in entry_ids.items()},
                                     new_threshold=new_threshold)
    cands = cands[_CANDIDATE_COLUMNS].reset_index(drop=True)

    xy = np.full((n_total, 2), np.nan)
    xy[idx] = coords2
    assignments = pd.DataFrame({
        "segment_id": seg["segment_id"].astype(str).to_numpy(),
        "candidate_id": cand_of_segment,
        "probability": np.round(prob_of_segment, 4),
        "below_floor": (cand_of_segment >= 0) & (prob_of_segment < probability_floor),
        "set_aside": reason.to_numpy(),
        "x": np.round(xy[:, 0], 4),
        "y": np.round(xy[:, 1], 4),
    })

    n_unassigned = int(np.sum(final < 0)) if n else 0
    timings["total"] = time.perf_counter() - t0
    diagnostics = {
        "method": METHOD,
        "n_segments": n_total,
        "n_clustered": n,
        "n_set_aside": int(n_total - n - counts["matched codebook"]),
        "set_aside": {k: v for k, v in counts.items() if k != "matched codebook"},
        "n_matched_codebook": counts["matched codebook"],
        "n_candidates": len(cands),
        "outlier_share_before": round(outliers_before, 4),
        "outlier_share_after": round(n_unassigned / n, 4) if n else 0.0,
        "n_unassigned": n_unassigned,
        "below_floor_share": round(float(np.mean(prob[final >= 0] < probability_floor)), 4)
        if n and (final >= 0).any() else 0.0,
        "ari_between_runs": {
            "mean": round(float(np.mean(aris)), 4) if aris else None,
            "min": round(float(np.min(aris)), 4) if aris else None,
            "pairs": len(aris),
        },
        "mean_stability": round(float(np.nanmean(stab)), 4) if len(stab) and runs > 1 else None,
        "settings": {
            **chosen, "algorithm": algorithm, "seed": seed, "runs": runs, "min_words": min_words,
            "min_similarity": min_similarity, "probability_floor": probability_floor,
            "temperature": temperature, "question_weight": question_weight,
            "new_threshold": new_threshold, "codebook_first": codebook_first,
            "match_threshold": match_threshold, "chosen_from_size": {
                "n_candidates": n_candidates is None, "n_neighbors": n_neighbors is None,
                "min_cluster_size": min_cluster_size is None},
            "vocabulary": vocab.pipeline_name(),
        },
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    return DiscoveryResult(candidates=cands, assignments=assignments, diagnostics=diagnostics)


