"""Clustering of the reduced space, sizes from the corpus, and outlier reassignment."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from themeassist.discover.geometry import centroids, soft_assign
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


