"""Inductive discovery: candidate subthemes a researcher can trust and use.

The pipeline is BERTopic's [1]_ (reduce with UMAP [2]_, cluster, describe with c-TF-IDF)
with the fixes its users ask for:

1. **Only content is clustered.** Facilitator turns, fillers ("yeah", "okay, next one") and
   very short segments are set aside, counted by reason, and listed in the assignments
   with ``candidate_id = -1`` and a ``set_aside`` reason.
2. **Sizes come from the data.** The neighbourhood and the number of candidates scale with
   the number of clustered segments (:func:`settings_for_size`), so a corpus of a few
   hundred segments yields a useful handful of candidates, not one or two.
3. **Outliers are reassigned**, not dumped: every segment goes to its nearest candidate
   centroid unless it is far from all of them; the share left unassigned is reported, and
   assignments with a low probability are flagged (``below_floor``), not hidden.
4. **Stability is measured and used.** ``runs`` reductions with seeds ``seed, seed+1, ...``
   share one exact k-nearest-neighbour graph; their partitions are combined by evidence
   accumulation [3]_ (how often two segments fall together), which makes the result far
   less sensitive to one seed. Each candidate's stability is its best-match Jaccard index
   over the runs, and the adjusted Rand index between runs is reported.
5. **Codebook-aware.** Each candidate's centroid is compared with the embedded codebook
   entries: the nearest (theme, valence, subtheme), its cosine similarity, and ``is_new``
   when it is far from all of them. Codebook-first mode assigns the segments that clearly
   match an entry and clusters only the rest ("what the codebook does not cover").

Everything here is pure: segments and embedding arrays in, DataFrames and a dict out.

References
----------
.. [1] Grootendorst, M. (2022). BERTopic: Neural topic modeling with a class-based TF-IDF
   procedure. arXiv:2203.05794.
.. [2] McInnes, L., Healy, J. & Melville, J. (2018). UMAP: Uniform Manifold Approximation
   and Projection for Dimension Reduction. arXiv:1802.03426.
.. [3] Fred, A. L. N. & Jain, A. K. (2005). Combining multiple clusterings using evidence
   accumulation. IEEE TPAMI 27(6), 835-850. doi:10.1109/TPAMI.2005.113
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from themeassist import tables
from themeassist import text as vocab
from themeassist.errors import InputError, LittleDataWarning

log = logging.getLogger(__name__)

#: Names the method in manifests; bump when outputs change for the same inputs.
METHOD = "themeassist.discover.v1"

#: Roles that are clustered; an empty role counts as a participant.
PARTICIPANT_ROLES = frozenset({"", "participant", "respondent", "interviewee"})

#: Reasons a segment is set aside, in the order they are tested.
SET_ASIDE_REASONS = ("not a participant", "filler", "short", "matched codebook")

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


# --------------------------------------------------------------------------- selection
def select_segments(segments: pd.DataFrame, *, min_words: int = 4) -> pd.Series:
    """Say why each segment is set aside ("" = clustered).

    A segment is set aside when its ``role`` is not a participant's (facilitators,
    moderators, notes), when it is a filler (no content word once stop words and
    transcript fillers are removed), or when it has fewer than ``min_words`` words.

    Parameters
    ----------
    segments : DataFrame
        The corpus (``text`` required, ``role`` optional).
    min_words : int, default 4
        Shorter segments are set aside as ``"short"``.

    Returns
    -------
    Series of str
        Indexed like ``segments``: ``""`` or one of :data:`SET_ASIDE_REASONS`.

    Examples
    --------
    >>> seg = pd.DataFrame({"text": ["What went well?", "Yeah okay.", "Fine.",
    ...                              "The export button was easy to find."],
    ...                     "role": ["facilitator", "participant", "", "participant"]})
    >>> select_segments(seg).tolist()
    ['not a participant', 'filler', 'filler', '']
    """
    roles = (segments["role"] if "role" in segments.columns
             else pd.Series("", index=segments.index)).fillna("").astype(str).str.strip().str.lower()
    texts = segments["text"].fillna("").astype(str)
    reason = pd.Series("", index=segments.index, dtype=object)
    reason[~roles.isin(PARTICIPANT_ROLES)] = "not a participant"
    filler = texts.map(vocab.is_filler)
    reason[(reason == "") & filler] = "filler"
    short = texts.map(vocab.word_count) < min_words
    reason[(reason == "") & short] = "short"
    return reason


# --------------------------------------------------------------------------- settings
def settings_for_size(n: int) -> dict[str, int]:
    """Neighbourhood, component and cluster sizes for ``n`` clustered segments.

    The number of candidates grows with the square root of the corpus,
    ``round(sqrt(n / 5))`` bounded to [3, 60] (12 for 700 segments, 22 for 2,400, 45 for
    10,000): fine enough to reach a codebook's granularity, coarse enough to read.
    The UMAP neighbourhood is 15 (BERTopic's default) above 600 segments and smaller
    below, so that small corpora keep local structure; the smallest candidate has at
    least 3 members.

    Examples
    --------
    >>> settings_for_size(40)
    {'n_candidates': 3, 'n_neighbors': 5, 'min_cluster_size': 3}
    >>> settings_for_size(2329)
    {'n_candidates': 22, 'n_neighbors': 15, 'min_cluster_size': 11}
    """
    n = int(n)
    k = int(np.clip(round(np.sqrt(n / 5)), 3, 60))
    k = min(k, max(1, n // 3))
    n_neighbors = int(np.clip(round(n / 40), 5, 15))
    n_neighbors = min(n_neighbors, max(2, n - 1))
    min_cluster_size = int(np.clip(round(n / (k * 10)), 3, 50))
    return {"n_candidates": k, "n_neighbors": n_neighbors, "min_cluster_size": min_cluster_size}


# --------------------------------------------------------------------------- geometry
def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def exact_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k-nearest neighbours (self included first), as UMAP expects them.

    Computed once and shared by every UMAP run, so that the runs differ only in their
    layout's random start, and the (approximate, seeded) neighbour search is skipped.
    """
    xn = _normalise(x)
    n = len(xn)
    k = min(k, n)
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, 2048):
        sims = xn[start:start + 2048] @ xn.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = 2.0  # self first
        part = np.argpartition(-sims, kth=k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
        nb = np.take_along_axis(part, order, axis=1)
        d = 1.0 - np.take_along_axis(sims, nb, axis=1)
        d[:, 0] = 0.0
        idx[start:start + len(nb)] = nb
        dist[start:start + len(nb)] = np.maximum(d, 0.0)
    return idx, dist


def reduce(x: np.ndarray, *, n_neighbors: int, n_components: int, seed: int,
           knn: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """UMAP to ``n_components`` dimensions (cosine, ``min_dist=0``), seeded.

    Parameters
    ----------
    x : array (n, d)
        Embeddings.
    n_neighbors, n_components : int
        UMAP settings.
    seed : int
        UMAP's ``random_state`` (deterministic, single-threaded).
    knn : (indices, distances), optional
        From :func:`exact_knn`, shared between runs.
    """
    import umap

    n = len(x)
    n_neighbors = max(2, min(n_neighbors, n - 1))
    n_components = max(2, min(n_components, n - 2))
    if knn is None:
        knn = exact_knn(x, n_neighbors)
    kidx, kdist = knn[0][:, :n_neighbors], knn[1][:, :n_neighbors]
    init = "spectral" if n > n_components + 2 else "random"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state; spectral fallbacks
        model = umap.UMAP(n_neighbors=n_neighbors, n_components=n_components, min_dist=0.0,
                          metric="cosine", random_state=int(seed), n_jobs=1, init=init,
                          precomputed_knn=(kidx, kdist, None), low_memory=True)
        return np.asarray(model.fit_transform(np.asarray(x, dtype=np.float32)), dtype=np.float64)


def _ward(z: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Ward's agglomerative clustering cut at ``k`` (no random step; O(n^2) memory)."""
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(z).astype(np.int64)


def _kmeans(z: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means (k-means++ starts, 10 of them, seeded; O(n k) memory)."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z).astype(np.int64)


def _hdbscan(z: np.ndarray, k: int, seed: int) -> np.ndarray:
    """HDBSCAN, BERTopic's own clusterer (deterministic; ``seed`` unused).

    Its minimum cluster size is set so that about ``k`` groups can form (n / (2k), at
    least 5); the points it leaves as noise (-1) are reassigned to the nearest candidate
    afterwards, as for every clusterer here.
    """
    import hdbscan

    size = max(5, len(z) // max(2 * k, 1))
    return hdbscan.HDBSCAN(min_cluster_size=size, metric="euclidean",
                           cluster_selection_method="eom").fit_predict(z).astype(np.int64)


#: Clustering of the reduced space, by name (``algorithm=``). Each takes the reduced
#: points, the number of groups and a seed, and returns a label per point.
CLUSTERERS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "kmeans": _kmeans,
    "ward": _ward,
    "hdbscan": _hdbscan,
}


def cluster_reduced(z: np.ndarray, *, n_candidates: int, min_cluster_size: int,
                    algorithm: str = "kmeans", seed: int = 0) -> np.ndarray:
    """Partition a reduced space into about ``n_candidates`` groups, small ones as outliers.

    The clusterer named ``algorithm`` (see :data:`CLUSTERERS`) makes ``n_candidates``
    groups; groups with fewer than ``min_cluster_size`` members are marked -1 (outliers)
    and later reassigned.
    """
    try:
        clusterer = CLUSTERERS[algorithm]
    except KeyError:
        raise InputError("unknown clustering algorithm", expected=f"one of {sorted(CLUSTERERS)}",
                         got=algorithm) from None
    k = max(1, min(n_candidates, len(z)))
    labels = np.zeros(len(z), dtype=np.int64) if k == 1 else clusterer(z, k, seed)
    sizes = np.bincount(labels[labels >= 0], minlength=1)
    small = (labels < 0) | (sizes[np.maximum(labels, 0)] < min_cluster_size)
    return np.where(small, -1, labels)


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0.. by size (largest first), ties by first member; -1 kept."""
    out = np.full(len(labels), -1, dtype=np.int64)
    ids = [c for c in np.unique(labels) if c >= 0]
    keys = sorted(ids, key=lambda c: (-int(np.sum(labels == c)), int(np.argmax(labels == c))))
    for new, old in enumerate(keys):
        out[labels == old] = new
    return out


def centroids(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit-length mean embedding of each cluster ``0..max(labels)``."""
    k = int(labels.max()) + 1 if (labels >= 0).any() else 0
    c = np.zeros((k, x.shape[1]))
    for j in range(k):
        c[j] = x[labels == j].mean(axis=0)
    return _normalise(c)


def soft_assign(x: np.ndarray, cents: np.ndarray, *, temperature: float = 0.05
                ) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity to each centroid and a softmax probability over candidates.

    Returns ``(similarity, probability)``, both ``(n, k)``. The probability is
    ``exp(s_j / T) / sum_k exp(s_k / T)``: a candidate 0.05 closer in cosine is e times
    likelier at the default temperature.
    """
    sims = _normalise(x) @ cents.T
    logits = sims / temperature
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return sims, p / p.sum(axis=1, keepdims=True)


def reassign(x: np.ndarray, labels: np.ndarray, *, min_similarity: float,
             temperature: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give each outlier (-1) its nearest centroid unless it is far from all of them.

    Returns ``(labels, probability, similarity)``; a segment whose best cosine similarity
    is below ``min_similarity`` stays -1 with probability 0.
    """
    if not (labels >= 0).any():
        return labels.copy(), np.zeros(len(labels)), np.zeros(len(labels))
    cents = centroids(x, labels)
    sims, prob = soft_assign(x, cents, temperature=temperature)
    best = sims.argmax(axis=1)
    out = labels.copy()
    out[labels < 0] = best[labels < 0]
    idx = np.arange(len(out))
    sim = sims[idx, out]
    far = (labels < 0) & (sim < min_similarity)
    out[far] = -1
    p = np.where(out >= 0, prob[idx, np.maximum(out, 0)], 0.0)
    return out, p, np.where(out >= 0, sim, 0.0)


# --------------------------------------------------------------------------- stability
def best_match_jaccard(labels: np.ndarray, other: np.ndarray) -> np.ndarray:
    """For each cluster of ``labels``, the best Jaccard index with a cluster of ``other``.

    Examples
    --------
    >>> best_match_jaccard(np.array([0, 0, 1, 1]), np.array([5, 5, 5, 6])).round(2).tolist()
    [0.67, 0.5]
    """
    k = int(labels.max()) + 1 if (labels >= 0).any() else 0
    out = np.zeros(k)
    others = [c for c in np.unique(other) if c >= 0]
    for j in range(k):
        a = labels == j
        best = 0.0
        for c in others:
            b = other == c
            inter = np.sum(a & b)
            if inter:
                best = max(best, inter / np.sum(a | b))
        out[j] = best
    return out


def pairwise_ari(partitions: Sequence[np.ndarray]) -> list[float]:
    """Adjusted Rand index between every pair of partitions (outliers as one group)."""
    from sklearn.metrics import adjusted_rand_score

    return [float(adjusted_rand_score(partitions[i], partitions[j]))
            for i in range(len(partitions)) for j in range(i + 1, len(partitions))]


def consensus(partitions: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Evidence accumulation: cluster segments by how often the runs put them together.

    Segments are first grouped into "atoms" that every run agrees on (same label in all
    runs), so the co-association matrix is atoms x atoms, small even for 10^4 segments;
    atoms are then merged by average linkage on ``1 - co-association`` into ``k`` groups.
    Deterministic.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    stack = np.stack(partitions, axis=1)
    atoms, inverse = np.unique(stack, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    m = len(atoms)
    if m <= k:
        return inverse.astype(np.int64)
    co = np.zeros((m, m))
    for r in range(atoms.shape[1]):
        col = atoms[:, r]
        co += (col[:, None] == col[None, :]) & (col[:, None] >= 0)
    co /= atoms.shape[1]
    dist = 1.0 - co
    np.fill_diagonal(dist, 0.0)
    # Weighted by atom size: repeat-free average linkage via scipy on atoms; ties broken
    # deterministically by atom order.
    z = linkage(squareform(dist, checks=False), method="average")
    atom_labels = fcluster(z, t=k, criterion="maxclust") - 1
    return atom_labels[inverse].astype(np.int64)


# --------------------------------------------------------------------------- description
def ctfidf_terms(terms: Sequence[Sequence[str]], labels: np.ndarray, *, top_n: int = 10,
                 min_df: int = 2) -> dict[int, list[str]]:
    """Each cluster's most distinctive terms by c-TF-IDF (BERTopic's transformer).

    Parameters
    ----------
    terms : list of list of str
        Per segment, as :func:`themeassist.text.analyse` returns them.
    labels : array of int
        Cluster per segment; -1 is ignored.
    top_n : int, default 10
    min_df : int, default 2
        Terms in fewer segments are not used (typos, names).
    """
    from bertopic.vectorizers import ClassTfidfTransformer
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    ids = [c for c in np.unique(labels) if c >= 0]
    if not ids:
        return {}
    keep = labels >= 0
    docs = [list(t) for t, k in zip(terms, keep) if k]
    lab = labels[keep]
    vec = CountVectorizer(analyzer=lambda d: d, min_df=min(min_df, max(1, len(docs) // 2)))
    try:
        counts = vec.fit_transform(docs)
    except ValueError:  # empty vocabulary
        return {c: [] for c in ids}
    onehot = sparse.csr_matrix((np.ones(len(lab)), (np.searchsorted(ids, lab), np.arange(len(lab)))),
                               shape=(len(ids), len(lab)))
    per_class = onehot @ counts
    tfidf = ClassTfidfTransformer(reduce_frequent_words=True).fit_transform(per_class)
    tfidf = np.asarray(tfidf.todense())
    vocab_ = np.asarray(vec.get_feature_names_out())
    out = {}
    for row, c in enumerate(ids):
        order = np.lexsort((vocab_, -tfidf[row]))  # score desc, then alphabetical
        out[c] = [str(vocab_[i]) for i in order[:top_n] if tfidf[row, i] > 0]
    return out


def _shares(values: pd.Series, top: int = 3) -> str:
    v = values[values != ""]
    if v.empty:
        return ""
    share = v.value_counts(normalize=True)
    share = share.iloc[np.lexsort((share.index.astype(str), -share.to_numpy()))]
    return "; ".join(f"{k} ({100 * s:.0f}%)" if s >= 0.005 else f"{k} (<1%)"
                     for k, s in share.head(top).items())


# --------------------------------------------------------------------------- codebook
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


# --------------------------------------------------------------------------- main
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


_CANDIDATE_COLUMNS = [
    "candidate_id", "label", "keywords", "size", "quotes", "nearest_subtheme", "similarity",
    "stability", "source", "nearest_theme", "nearest_valence", "is_new", "share",
    "questions", "groups", "n_questions", "n_groups", "speakers", "top_speaker_share",
    "flagged_single_speaker",
]


def _map_coordinates(z: np.ndarray | None) -> np.ndarray:
    """Two map coordinates from a reduced space: its first two principal axes, signs fixed."""
    if z is None or len(z) == 0:
        return np.zeros((0, 2))
    zc = z - z.mean(axis=0)
    if len(z) < 3:
        return np.zeros((len(z), 2))
    vt = np.linalg.svd(zc, full_matrices=False)[2]
    xy = zc @ vt[:2].T
    signs = np.sign(xy[np.argmax(np.abs(xy), axis=0), [0, 1]])
    return xy * np.where(signs == 0, 1, signs)


def _candidate_table(seg: pd.DataFrame, emb: np.ndarray, cand: np.ndarray, sim: np.ndarray,
                     keywords: dict[int, list[str]], stab: np.ndarray,
                     entry_ids: dict[int, int], book: pd.DataFrame | None,
                     *, n_quotes: int) -> pd.DataFrame:
    texts = seg["text"].astype(str).to_numpy()
    col = {c: (seg[c].fillna("").astype(str) if c in seg.columns
               else pd.Series("", index=seg.index)) for c in ("question", "transcript_id", "speaker")}
    inv = {cid: e for e, cid in entry_ids.items()}
    n_assigned = int(np.sum(cand >= 0))
    rows = []
    for c in sorted(int(v) for v in np.unique(cand) if v >= 0):
        m = np.flatnonzero(cand == c)
        # Most central first, preferring quotes of 8+ words (a quote should say something);
        # ties by position.
        brief = np.array([vocab.word_count(texts[i]) < 8 for i in m])
        order = m[np.lexsort((m, -sim[m], brief))]
        quotes: list[str] = []
        for i in order:
            t = " ".join(texts[i].split())
            if t not in quotes:
                quotes.append(t)
            if len(quotes) >= n_quotes:
                break
        kw = keywords.get(c, [])
        if c in inv and book is not None:
            label = str(book["subtheme"].iloc[inv[c]])
            source = "codebook"
        else:
            label = vocab.make_label(kw)
            source = "cluster"
        speakers = col["speaker"].iloc[m]
        named = speakers[speakers != ""]
        top_share = float(named.value_counts(normalize=True).iloc[0]) if len(named) else np.nan
        n_speakers = int(named.nunique()) if len(named) else 0
        rows.append({
            "candidate_id": c,
            "label": label,
            "keywords": ", ".join(kw[:8]),
            "size": len(m),
            "quotes": json.dumps(quotes, ensure_ascii=False),
            "nearest_subtheme": "",
            "similarity": np.nan,
            "stability": round(float(stab[c]), 4) if c < len(stab) and not np.isnan(stab[c]) else np.nan,
            "source": source,
            "nearest_theme": "",
            "nearest_valence": "",
            "is_new": False,
            "share": round(len(m) / n_assigned, 4) if n_assigned else 0.0,
            "questions": _shares(col["question"].iloc[m]),
            "groups": _shares(col["transcript_id"].iloc[m]),
            "n_questions": int(col["question"].iloc[m].replace("", np.nan).nunique()),
            "n_groups": int(col["transcript_id"].iloc[m].nunique()),
            "speakers": n_speakers,
            "top_speaker_share": round(top_share, 4) if not np.isnan(top_share) else np.nan,
            "flagged_single_speaker": bool(len(named) >= 3 and (n_speakers == 1 or top_share > 0.5)),
        })
    return pd.DataFrame(rows, columns=_CANDIDATE_COLUMNS)
