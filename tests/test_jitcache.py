"""UMAP's numba functions compiled once per machine (issue 17)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("umap")

from themeassist import jitcache  # noqa: E402


def test_every_uncached_umap_function_gets_a_disk_cache():
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    import umap.umap_

    jitcache.cache_umap()
    assert jitcache.cache_umap() == jitcache.cache_umap()  # idempotent
    for name in ("smooth_knn_dist", "compute_membership_strengths"):
        f = getattr(umap.umap_, name)
        assert isinstance(f, CPUDispatcher) and not isinstance(f._cache, NullCache), name
        assert f.targetoptions.get("parallel") is True  # the same options as umap's


_REDUCE = """
import hashlib
import numpy as np
from themeassist import discover, jitcache
x = np.random.default_rng(0).normal(size=(120, 16)).astype(np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True)
print(hashlib.sha256(discover.reduce(x, n_neighbors=10, n_components=3, seed=0).tobytes()).hexdigest())
"""


@pytest.mark.slow
def test_cached_and_freshly_compiled_umap_give_the_same_bytes():
    # Plain umap (its functions compiled in the process) against the cached ones.
    def run(mode: str) -> str:
        code = _REDUCE
        if mode == "plain":  # reduce() without cache_umap
            code = code.replace("from themeassist import discover, jitcache",
                                "from themeassist import discover, jitcache\n"
                                "jitcache.cache_umap = lambda: 0")
        res = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, timeout=900)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stdout.strip().splitlines()[-1]

    assert run("plain") == run("cached") == run("cached")
