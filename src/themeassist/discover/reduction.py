"""Dimension reduction: an exact neighbour graph, UMAP [1]_ and two map coordinates.

References
----------
.. [1] McInnes, L., Healy, J. & Melville, J. (2018). UMAP: Uniform Manifold Approximation
   and Projection for Dimension Reduction. arXiv:1802.03426.
"""

from __future__ import annotations

import warnings

import numpy as np

from themeassist.discover.geometry import _normalise


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

    from themeassist.jitcache import cache_umap

    cache_umap()  # numba compiles UMAP once per machine, not once per process (issue 17)
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


