"""The candidate clusterer: seeded UMAP runs, clustered, combined, outliers reassigned.

:class:`CandidateClusterer` is the estimator; the functions below are its steps
(:func:`settings_for_size`, :func:`cluster_reduced`, :func:`reassign`), usable alone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import validate_data

from themeassist.discover.geometry import _normalise, centroids, soft_assign
from themeassist.discover.parameters import ClustererParameters
from themeassist.discover.reduction import _map_coordinates, exact_knn, reduce
from themeassist.discover.stability import best_match_jaccard, consensus, pairwise_ari
from themeassist.errors import InputError


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


def chosen_sizes(n: int, *, n_candidates: int | None, min_cluster_size: int | None,
                 n_neighbors: int | None, n_components: int) -> dict[str, int]:
    """The sizes a run uses: those given, the rest (None) from :func:`settings_for_size`.

    Examples
    --------
    >>> chosen_sizes(40, n_candidates=6, min_cluster_size=None, n_neighbors=None,
    ...              n_components=5)
    {'n_candidates': 6, 'n_neighbors': 5, 'min_cluster_size': 3, 'n_components': 5}
    """
    auto = settings_for_size(max(int(n), 1))
    return {
        "n_candidates": int(n_candidates or auto["n_candidates"]),
        "n_neighbors": int(n_neighbors or auto["n_neighbors"]),
        "min_cluster_size": int(min_cluster_size or auto["min_cluster_size"]),
        "n_components": int(n_components),
    }


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




# --------------------------------------------------------------------------- the estimator
class CandidateClusterer(ClustererParameters, ClusterMixin, BaseEstimator):
    """Candidate subthemes from embeddings: seeded UMAP runs, clustered and combined.

    Each of ``runs`` runs reduces ``X`` with UMAP (seed ``seed + r``, one exact
    neighbour graph shared by all runs) and partitions the reduced space into
    ``n_candidates`` groups with ``algorithm``; groups smaller than ``min_cluster_size``
    become outliers. The runs are combined by evidence accumulation
    (:func:`~themeassist.discover.stability.consensus`), and each outlier then goes to its
    nearest candidate centroid unless its cosine similarity to every centroid is below
    ``min_similarity`` (:func:`reassign`).

    Parameters
    ----------
    (``__init__`` is :class:`~themeassist.discover.parameters.ClustererParameters`'s, so
    that the project settings derived from it do not import scikit-learn.)

    n_candidates, min_cluster_size, n_neighbors : int or None, default None
        Groups per run, smallest group kept, UMAP neighbours; None = chosen from the
        number of samples by :func:`settings_for_size`.
    n_components : int, default 5
        UMAP dimensions.
    algorithm : {"kmeans", "ward", "hdbscan"}, default "kmeans"
        Clustering of each run's reduced space (:data:`CLUSTERERS`).
    runs : int, default 5
        Seeded runs; with one run there is no consensus and no stability.
    seed : int, default 0
        Seed of the first run; run ``r`` uses ``seed + r`` (an int, as everywhere in
        themeassist, rather than scikit-learn's ``random_state``).
    min_similarity : float, default 0.1
        An outlier whose best centroid cosine similarity is lower stays unassigned (-1).
    temperature : float, default 0.05
        Softmax temperature of :attr:`probabilities_`.

    Attributes
    ----------
    labels_ : ndarray of int, shape (n_samples,)
        Candidate of each sample, numbered 0.. by size (largest first); -1 = unassigned.
    probabilities_ : ndarray, shape (n_samples,)
        Softmax of the cosine similarity to each candidate centroid, for the sample's own
        candidate; 0 when unassigned.
    consensus_labels_ : ndarray of int, shape (n_samples,)
        The combined runs before reassignment (-1 = outlier).
    stability_ : ndarray, shape (n_candidates_,)
        Per candidate, the mean over runs of its best-match Jaccard index with the run's
        groups (1 = every run found it exactly); NaN with a single run.
    ari_between_runs_ : list of float
        Adjusted Rand index between every pair of runs (empty with a single run).
    partitions_ : list of ndarray
        Each run's labels (0.. by size, -1 = outlier).
    map_ : ndarray, shape (n_samples, 2)
        Map coordinates: the first run's reduced space on its two principal axes.
    sizes_ : dict
        The ``n_candidates``, ``n_neighbors``, ``min_cluster_size`` and ``n_components``
        used (:func:`chosen_sizes`).
    n_candidates_ : int
        Number of candidates in :attr:`labels_`.
    n_features_in_ : int
        Width of ``X``.

    References
    ----------
    See :mod:`themeassist.discover`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([c + rng.normal(0, .1, (20, 8)) for c in np.eye(8)[:3]])
    >>> model = CandidateClusterer(n_candidates=3, runs=2).fit(X)
    >>> np.bincount(model.labels_).tolist(), model.stability_.tolist()
    ([20, 20, 20], [1.0, 1.0, 1.0])
    """

    def _check_params(self) -> None:
        if self.algorithm not in CLUSTERERS:
            raise InputError("unknown clustering algorithm",
                             expected=f"one of {sorted(CLUSTERERS)}", got=self.algorithm)
        for name in ("runs", "n_components"):
            value = getattr(self, name)
            if not (isinstance(value, int | np.integer) and value >= 1):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")

    def fit(self, X, y=None) -> CandidateClusterer:
        """Find the candidates of ``X``.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Embeddings (or embeddings with question features,
            :func:`~themeassist.discover.questions.question_features`); at least 3 rows.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._check_params()
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=3)
        sizes = chosen_sizes(len(X), n_candidates=self.n_candidates,
                             min_cluster_size=self.min_cluster_size,
                             n_neighbors=self.n_neighbors, n_components=self.n_components)
        knn = exact_knn(X, sizes["n_neighbors"])
        partitions, first_z = [], None
        for r in range(self.runs):
            z = reduce(X, n_neighbors=sizes["n_neighbors"], n_components=sizes["n_components"],
                       seed=self.seed + r, knn=knn)
            lab = cluster_reduced(z, n_candidates=sizes["n_candidates"],
                                  min_cluster_size=sizes["min_cluster_size"],
                                  algorithm=self.algorithm, seed=self.seed + r)
            partitions.append(_relabel(lab))
            if first_z is None:
                first_z = z
        if self.runs > 1:
            raw = consensus(partitions, sizes["n_candidates"])
            counts = np.bincount(raw)
            raw = np.where(counts[raw] < sizes["min_cluster_size"], -1, raw)
        else:
            raw = partitions[0]
        before = _relabel(raw)

        # Reassignment and probabilities in the space that was clustered, unit length.
        space = _normalise(X)
        final, prob, _ = reassign(space, before, min_similarity=self.min_similarity,
                                  temperature=self.temperature)
        final = _relabel(final)  # reassignment may change the size order
        if (final >= 0).any():  # probabilities with respect to the final numbering
            rows = np.arange(len(final))
            _, prob_all = soft_assign(space, centroids(space, final),
                                      temperature=self.temperature)
            prob = np.where(final >= 0, prob_all[rows, np.maximum(final, 0)], 0.0)
        k = int(final.max()) + 1 if (final >= 0).any() else 0
        stability = np.full(k, np.nan)
        if len(partitions) > 1 and k:
            stability = np.mean([best_match_jaccard(final, p) for p in partitions], axis=0)

        self.sizes_ = sizes
        self.partitions_ = partitions
        self.consensus_labels_ = before
        self.labels_ = final
        self.probabilities_ = prob
        self.n_candidates_ = k
        self.stability_ = stability
        self.ari_between_runs_ = pairwise_ari(partitions) if len(partitions) > 1 else []
        self.map_ = _map_coordinates(first_z)
        return self
