"""How far seeded runs agree: best-match Jaccard, pairwise ARI and their consensus [1]_.

References
----------
.. [1] Fred, A. L. N. & Jain, A. K. (2005). Combining multiple clusterings using evidence
   accumulation. IEEE TPAMI 27(6), 835-850. doi:10.1109/TPAMI.2005.113
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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


