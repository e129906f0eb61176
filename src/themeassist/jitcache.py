"""Compile UMAP's numba functions once per machine instead of once per process.

umap-learn (0.5) leaves ``cache=True`` off most of its ``numba.njit`` functions (pynndescent
sets it), so every new process compiles them again before its first reduction: on 2 cores
that is most of a small corpus's discovery time (issue 17: about 8 s idle, 40 s under
load, for 400 segments). :func:`cache_umap` gives each of them an on-disk cache, the same
function with the same options, so the machine code is the one numba would compile (the
reductions are byte-identical, cached or not). numba keys its cache by the source file's
timestamp and its own version, and stores it beside the package (``__pycache__``) or, when
that is not writable, in the user's cache folder (``NUMBA_CACHE_DIR`` overrides).
"""

from __future__ import annotations

import functools
import importlib
import sys

#: umap-learn's modules whose jitted functions a reduction calls.
UMAP_MODULES = ("umap.utils", "umap.distances", "umap.sparse", "umap.layouts", "umap.umap_")


@functools.cache
def cache_umap() -> int:
    """Give UMAP's uncached numba functions an on-disk cache; returns how many.

    Only functions not yet compiled are replaced (a compiled one is in use already), in
    every umap module that names them. Idempotent.
    """
    import numba
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    swap: dict[int, tuple[object, object]] = {}  # id -> (the old one, kept alive; new)
    for name in UMAP_MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (isinstance(value, CPUDispatcher) and id(value) not in swap
                    and not value.signatures and isinstance(value._cache, NullCache)
                    and value.py_func.__module__ == name):
                options = {k: v for k, v in value.targetoptions.items() if k != "nopython"}
                swap[id(value)] = (value, numba.njit(cache=True, locals=value.locals,
                                                     **options)(value.py_func))
    for name, module in list(sys.modules.items()):
        if name == "umap" or name.startswith("umap."):
            for attr, value in list(vars(module).items()):
                if id(value) in swap and swap[id(value)][0] is value:
                    setattr(module, attr, swap[id(value)][1])
    return len(swap)
