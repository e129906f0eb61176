"""The parameters of :class:`~themeassist.discover.CandidateClusterer`, without scikit-learn.

The project settings (:mod:`themeassist.config`) are derived from these parameters, and
every command reads the project file before it knows whether any stage will run: a
no-change re-run enters none (issue 17). Declaring the parameters here, in a module that
imports nothing heavy, lets the settings be defined by the estimator without importing
scikit-learn (about 1.4 s) on every run. :class:`CandidateClusterer` inherits this
``__init__``, so ``get_params`` and ``set_params`` see exactly these names; the class
docstring there documents them.
"""

from __future__ import annotations

from typing import Literal

#: The clustering algorithms of :data:`themeassist.discover.cluster.CLUSTERERS`, as a type
#: (the project settings' choices).
Algorithm = Literal["kmeans", "ward", "hdbscan"]


class ClustererParameters:
    """``__init__`` of :class:`~themeassist.discover.CandidateClusterer` (see its docstring)."""

    def __init__(self, n_candidates: int | None = None, *, min_cluster_size: int | None = None,
                 n_neighbors: int | None = None, n_components: int = 5,
                 algorithm: Algorithm = "kmeans", runs: int = 5, seed: int = 0,
                 min_similarity: float = 0.1, temperature: float = 0.05):
        # scikit-learn's contract: store the parameters verbatim, validate them in fit
        self.n_candidates = n_candidates
        self.min_cluster_size = min_cluster_size
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.algorithm = algorithm
        self.runs = runs
        self.seed = seed
        self.min_similarity = min_similarity
        self.temperature = temperature


def clusterer_defaults() -> dict:
    """The clusterer's parameters and their defaults, by name."""
    return vars(ClustererParameters())
