"""`discover`: the composition of the parts, and what it returns."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from themeassist import text as vocab
from themeassist.discover.cluster import _relabel, cluster_reduced, reassign, settings_for_size
from themeassist.discover.describe import _CANDIDATE_COLUMNS, _candidate_table, ctfidf_terms
from themeassist.discover.geometry import _normalise, centroids, soft_assign
from themeassist.discover.match import codebook_texts, nearest_entries
from themeassist.discover.reduction import _map_coordinates, exact_knn, reduce
from themeassist.discover.select import SET_ASIDE_REASONS, select_segments
from themeassist.discover.stability import best_match_jaccard, consensus, pairwise_ari
from themeassist.errors import InputError, LittleDataWarning

log = logging.getLogger(__name__)

#: Names the method in manifests; bump when outputs change for the same inputs.
METHOD = "themeassist.discover.v1"

#: Fewer clustered segments than this and discovery refuses (a clear message, no crash).
MIN_SEGMENTS = 12


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


def discover(
    segments: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    codebook: pd.DataFrame | None = None,
    codebook_embeddings: np.ndarray | Callable[[list[str]], np.ndarray] | None = None,
    seed: int = 0,
    runs: int = 5,
    n_candidates: int | None = None,
    min_cluster_size: int | None = None,
    n_neighbors: int | None = None,
    n_components: int = 5,
    min_words: int = 4,
    min_similarity: float = 0.1,
    probability_floor: float = 0.3,
    temperature: float = 0.05,
    question_weight: float = 0.5,
    new_threshold: float = 0.35,
    codebook_first: bool = False,
    match_threshold: float = 0.55,
    n_quotes: int = 5,
    algorithm: Literal["kmeans", "ward", "hdbscan"] = "kmeans",
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
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2 or len(emb) != len(segments):
        raise InputError("embeddings do not match the segments", column="text",
                         expected=f"{len(segments)} rows", got=getattr(emb, "shape", None))
    if runs < 1:
        raise InputError("runs must be at least 1", expected=">= 1", got=runs)
    seg = segments.reset_index(drop=True)
    n_total = len(seg)
    reason = select_segments(seg, min_words=min_words)

    # Codebook embeddings (optional).
    book = None
    book_emb = None
    if codebook is not None:
        book = codebook.reset_index(drop=True)
        if callable(codebook_embeddings):
            book_emb = np.asarray(codebook_embeddings(codebook_texts(book)), dtype=np.float64)
        elif codebook_embeddings is not None:
            book_emb = np.asarray(codebook_embeddings, dtype=np.float64)
        if book_emb is None or len(book_emb) != len(book) or book_emb.shape[1] != emb.shape[1]:
            raise InputError("codebook embeddings do not match the codebook",
                             expected=f"{len(book)} rows of width {emb.shape[1]}",
                             got=None if book_emb is None else book_emb.shape)
    if codebook_first and book is None:
        raise InputError("codebook-first mode needs a codebook", expected="--codebook FILE",
                         got=None)

    # Codebook-first: segments that clearly match an entry are assigned to it.
    matched_entry = np.full(n_total, -1, dtype=np.int64)
    matched_sim = np.zeros(n_total)
    matched_prob = np.zeros(n_total)
    if codebook_first:
        sims, probs = soft_assign(emb, _normalise(book_emb), temperature=temperature)
        best = sims.argmax(axis=1)
        bs = sims[np.arange(n_total), best]
        hit = (reason == "").to_numpy() & (bs >= match_threshold)
        matched_entry[hit] = best[hit]
        matched_sim[hit] = bs[hit]
        matched_prob[hit] = probs[np.arange(n_total), best][hit]
        reason[hit] = "matched codebook"
    timings["select"] = time.perf_counter() - t0

    idx = np.flatnonzero((reason == "").to_numpy())
    n = len(idx)
    counts = {r: int((reason == r).sum()) for r in SET_ASIDE_REASONS}
    if n < MIN_SEGMENTS and not (codebook_first and (matched_entry >= 0).any()):
        raise InputError(
            f"too few segments to discover candidates: {n} left to cluster out of {n_total} "
            f"(set aside: {', '.join(f'{v} {k}' for k, v in counts.items() if v) or 'none'})",
            column="text", expected=f"at least {MIN_SEGMENTS} participant segments with "
            f"{min_words}+ words", got=n)

    auto = settings_for_size(max(n, 1))
    chosen = {
        "n_candidates": int(n_candidates or auto["n_candidates"]),
        "n_neighbors": int(n_neighbors or auto["n_neighbors"]),
        "min_cluster_size": int(min_cluster_size or auto["min_cluster_size"]),
        "n_components": int(n_components),
    }
    if n and n < 100:
        warnings.warn(f"only {n} segments to cluster; candidates from so few are tentative",
                      LittleDataWarning, stacklevel=2)

    x = emb[idx]
    feats = x
    if question_weight > 0 and "question" in seg.columns:
        q = seg["question"].fillna("").astype(str).to_numpy()[idx]
        levels = sorted(set(q))
        onehot = (q[:, None] == np.array(levels)[None, :]).astype(np.float64)
        onehot[:, [i for i, lv in enumerate(levels) if lv == ""]] = 0.0
        feats = np.hstack([_normalise(x), question_weight * onehot])

    labels = np.full(n, -1, dtype=np.int64)
    partitions: list[np.ndarray] = []
    coords2 = np.zeros((n, 2))
    run_timings = []
    if n >= MIN_SEGMENTS:
        t = time.perf_counter()
        knn = exact_knn(feats, chosen["n_neighbors"])
        timings["knn"] = time.perf_counter() - t
        first_z = None
        for r in range(runs):
            t = time.perf_counter()
            z = reduce(feats, n_neighbors=chosen["n_neighbors"],
                       n_components=chosen["n_components"], seed=seed + r, knn=knn)
            lab = cluster_reduced(z, n_candidates=chosen["n_candidates"],
                                  min_cluster_size=chosen["min_cluster_size"],
                                  algorithm=algorithm, seed=seed + r)
            partitions.append(_relabel(lab))
            if first_z is None:
                first_z = z
            run_timings.append(time.perf_counter() - t)
        timings["runs"] = float(sum(run_timings))
        t = time.perf_counter()
        if runs > 1:
            raw = consensus(partitions, chosen["n_candidates"])
            sizes = np.bincount(raw)
            raw = np.where(sizes[raw] < chosen["min_cluster_size"], -1, raw)
        else:
            raw = partitions[0]
        labels = _relabel(raw)
        coords2 = _map_coordinates(first_z)
        timings["consensus"] = time.perf_counter() - t

    outliers_before = float(np.mean(labels < 0)) if n else 0.0
    # Reassignment and probabilities live in the space that was clustered (embedding plus
    # question, when weighted); centrality for quotes in the embedding space alone.
    space = _normalise(feats) if n else feats
    final, prob, _ = (reassign(space, labels, min_similarity=min_similarity,
                               temperature=temperature)
                      if n else (labels, np.zeros(0), np.zeros(0)))
    final = _relabel(final)  # reassignment may change the size order
    sim = np.zeros(n)
    if n and (final >= 0).any():
        # Probabilities with respect to the final numbering.
        ok = final >= 0
        rows = np.arange(n)
        _, prob_all = soft_assign(space, centroids(space, final), temperature=temperature)
        prob = np.where(ok, prob_all[rows, np.maximum(final, 0)], 0.0)
        sims_x, _ = soft_assign(x, centroids(x, final), temperature=temperature)
        sim = np.where(ok, sims_x[rows, np.maximum(final, 0)], 0.0)

    # Stability of the final candidates against each run, and between runs.
    stab = np.full(int(final.max()) + 1 if (final >= 0).any() else 0, np.nan)
    aris = pairwise_ari(partitions) if len(partitions) > 1 else []
    if len(partitions) > 1 and len(stab):
        stab = np.mean([best_match_jaccard(final, p) for p in partitions], axis=0)

    # Candidate ids: clusters first (0..), then codebook-matched entries.
    cand_of_segment = np.full(n_total, -1, dtype=np.int64)
    cand_of_segment[idx] = final
    prob_of_segment = np.zeros(n_total)
    prob_of_segment[idx] = prob
    sim_of_segment = np.zeros(n_total)
    sim_of_segment[idx] = sim
    n_clusters = len(stab)
    entry_ids: dict[int, int] = {}
    if codebook_first:
        used = sorted(set(matched_entry[matched_entry >= 0].tolist()),
                      key=lambda e: (-int(np.sum(matched_entry == e)), e))
        entry_ids = {e: n_clusters + i for i, e in enumerate(used)}
        for e, cid in entry_ids.items():
            m = matched_entry == e
            cand_of_segment[m] = cid
            prob_of_segment[m] = matched_prob[m]
            sim_of_segment[m] = matched_sim[m]

    t = time.perf_counter()
    members_all = np.flatnonzero(cand_of_segment >= 0)
    analysed = vocab.analyse(seg["text"].astype(str).to_numpy()[members_all].tolist())
    terms = [[]] * n_total
    for i, a in zip(members_all, analysed):
        terms[i] = a
    keywords = ctfidf_terms(terms, cand_of_segment)
    timings["describe"] = time.perf_counter() - t

    cands = _candidate_table(seg, emb, cand_of_segment, sim_of_segment, keywords, stab,
                             entry_ids, book, n_quotes=n_quotes)
    if book is not None and len(cands):
        cents_all = np.vstack([_normalise(emb[cand_of_segment == c].mean(axis=0, keepdims=True))
                               for c in cands["candidate_id"]])
        near = nearest_entries(cents_all, book, book_emb)
        for col in near.columns:
            cands[col] = near[col].to_numpy()
        cands["is_new"] = (cands["similarity"] < new_threshold) & (cands["source"] == "cluster")
        src_cb = cands["source"] == "codebook"
        if src_cb.any():
            inv = {cid: e for e, cid in entry_ids.items()}
            rows = book.iloc[[inv[c] for c in cands.loc[src_cb, "candidate_id"]]]
            cands.loc[src_cb, "nearest_theme"] = rows["theme"].astype(str).to_numpy()
            cands.loc[src_cb, "nearest_valence"] = rows["valence"].astype(str).to_numpy()
            cands.loc[src_cb, "nearest_subtheme"] = rows["subtheme"].astype(str).to_numpy()
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


