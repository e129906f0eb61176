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
:func:`discover` composes small parts, one module each, and times them:

=================  ===================================================================
``select``         which segments are clustered, and why the others are set aside
``questions``      the question as a clustering feature
``cluster``        :class:`CandidateClusterer`, a scikit-learn estimator (``labels_``,
                   ``stability_``, ``ari_between_runs_``, ``map_``), and its steps
``reduction``      the exact neighbour graph, UMAP, map coordinates
``stability``      best-match Jaccard, pairwise ARI, evidence-accumulation consensus
``describe``       c-TF-IDF keywords, labels, quotes, question/group/speaker shares
``match``          codebook matching: nearest entry, ``is_new``, codebook-first mode
``compose``        :func:`discover` and :class:`DiscoveryResult`
=================  ===================================================================

References
----------
.. [1] Grootendorst, M. (2022). BERTopic: Neural topic modeling with a class-based TF-IDF
   procedure. arXiv:2203.05794.
.. [2] McInnes, L., Healy, J. & Melville, J. (2018). UMAP: Uniform Manifold Approximation
   and Projection for Dimension Reduction. arXiv:1802.03426.
.. [3] Fred, A. L. N. & Jain, A. K. (2005). Combining multiple clusterings using evidence
   accumulation. IEEE TPAMI 27(6), 835-850. doi:10.1109/TPAMI.2005.113
"""

from themeassist._lazy import lazy_exports

#: Public name -> the module of this package that defines it. The names are imported on
#: first use (PEP 562), so that importing one light module, such as ``parameters`` for the
#: project settings, does not import the clusterer's scikit-learn and UMAP.
_EXPORTS = {
    "cluster": ("CLUSTERERS", "CandidateClusterer", "_relabel", "chosen_sizes",
                "cluster_reduced", "reassign", "settings_for_size"),
    "compose": ("METHOD", "MIN_SEGMENTS", "DiscoveryResult", "discover", "headline"),
    "describe": ("centrality", "ctfidf_terms", "describe_candidates"),
    "geometry": ("_normalise", "centroids", "soft_assign"),
    "match": ("codebook_texts", "embed_codebook", "entry_candidates", "match_candidates",
              "match_segments", "nearest_entries"),
    "parameters": ("Algorithm", "ClustererParameters"),
    "questions": ("question_features",),
    "reduction": ("exact_knn", "reduce"),
    "select": ("PARTICIPANT_ROLES", "SET_ASIDE_REASONS", "select_segments"),
    "stability": ("best_match_jaccard", "consensus", "pairwise_ari"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
