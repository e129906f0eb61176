"""Unit vectors, centroids and soft assignment: the cosine geometry every part shares."""

from __future__ import annotations

import numpy as np

def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)



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


