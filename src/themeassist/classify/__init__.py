"""Deductive pre-labelling: a calibrated classifier trained on human coding against a codebook.

The pure core of ``themeassist train``, ``label`` and ``suggest`` (DESIGN.md sections 3-4).
It takes tables and embedding arrays and returns tables, arrays and dicts; it reads and
writes nothing (:mod:`themeassist.modelstore` saves and loads models).

How a segment is labelled
-------------------------
1. **Features.** The segment's embedding, and (``context=True``) the embeddings of the
   previous and next segments *of the same transcript*, a one-hot of the question it
   answers, a one-hot of the speaker's role and its length; also one-hots of the columns
   in ``optional_categorical`` (``prompt``: a finer question id; ``kind``: utterance,
   note, moderator) when the training corpus has them. Context is computed within a
   transcript only, so labelling transcripts one at a time or all together gives identical
   rows (batch labelling can chunk by transcript). Beside the embedding classifiers, an
   :class:`NgramScorer` (sparse logistic regression on TF-IDF word 1-2-grams) scores codes
   and codability from the words; its logits are added to the embedding classifier's with
   a weight chosen, like the temperature, on out-of-fold likelihood (``ngram_weight_grid``;
   0 switches it off where the words carry nothing). It is fitted only from
   ``min_codings`` coded segments on: with fewer, it would only dilute the codebook prior.
2. **Codable?** A binary :class:`CodebookClassifier` says how likely a human would code the
   segment at all (most segments carry no code). Trained on every segment of the
   transcripts that have at least one human code.
3. **Which code?** A multinomial :class:`CodebookClassifier` over the codebook's codes,
   trained on the coded segments (a segment with *k* codes counts once, each code with
   weight 1/k) plus one pseudo-example per codebook entry: the embedding of the entry's
   text. The entry text is also a prior in the logits: ``lambda x scale x cos(segment,
   entry)`` is added, with ``lambda = n0 / (n0 + coded segments)`` (``prior_strength``
   n0 = 50): it decides with a handful of codings and fades as examples accumulate. So a
   code nobody has applied yet can still be predicted, and with no codings at all the
   model is zero-shot (similarity to the entry texts). Last, the code weights are pulled
   toward the zero-shot ones, ``(1 - beta) W + beta W0``, by a ``beta`` chosen from
   ``prior_pull_grid`` on out-of-fold likelihood: with codes used once (survey answers)
   it falls back to the codebook instead of below it (issue 14).
   Theme and valence probabilities are sums of code probabilities.
4. **Calibration.** Temperatures for both classifiers are fitted on out-of-fold logits of a
   cross-validation grouped by transcript (temperature scaling [1]_; for codes, with
   ``calibration="code-set"``, the likelihood that the label is *one of* the segment's
   codes, the event a confidence speaks about (:func:`fit_temperature_sets`); on the
   usability study this lowered ECE from 0.058 to 0.025), together with a
   neighbour weight (:func:`smooth_logits`: the logits of the previous and next segments
   are added, times a weight chosen from ``smoothing_grid`` by out-of-fold likelihood).
   The default grid is ``[0.0]`` (off): on the usability study it lowered code kappa
   from 0.552 to 0.543 and raised ECE from 0.050 to 0.058, the neighbours' embeddings
   already carrying that evidence. The same out-of-fold predictions choose the default review
   threshold (from the coverage-agreement curve) and the codable threshold (maximum
   Cohen's kappa of detection).
5. **Code scope.** A codebook may have a ``question`` column (one or several question ids
   per entry, ``1;3`` or ``1, 3``; empty = any question): a code is then never predicted
   for segments of other questions (its logit is masked, :func:`scope_outside`), in
   training, calibration, zero-shot and labelling alike. Without the column the scope is
   learnt from the human coding (:func:`learn_scope`: a code applied only under some
   questions gets a prior toward them, its logit lowered elsewhere by a weight chosen
   from ``scope_weight_grid`` on out-of-fold likelihood, so 0 when it does not help); the
   model card says which.
6. **Code sets.** Beside the softmax, each code gets a one-vs-rest calibrated probability
   of being among the segment's codes, and a segment's set is its top code plus the codes
   whose probability reaches a threshold; both are fitted on the out-of-fold predictions
   (:func:`fit_set_rule`) and evaluated with set agreement (:func:`set_metrics`: MASI alpha
   and per-code F1) beside the first-code kappa.
7. **Back-off.** A code is thin when its calibrated probability is below ``backoff``, or
   when it has fewer than ``min_support`` human examples and its probability is below the
   review threshold (so a rare code the model is sure of stays). A thin code backs off one
   level at a time: to its parent when the subtheme is a path (``a > b > c`` or
   ``a->b->c``, as REFI-QDA nests codes: ``a > b`` with the summed probability of the codes
   under it), then the next parent, and last its theme (empty valence and subtheme, the
   theme's probability).
8. **Zero-shot.** Without codings, codes are scored by similarity to the codebook entry
   texts (descriptions included) within their question scope, and the share of segments
   labelled is ``zero_shot_codable_rate``, by default chosen from the corpus
   (:func:`default_codable_rate`: 1.0 for survey answers or quotes, 0.35 for transcripts
   with facilitator turns).

References
----------
.. [1] Guo, Pleiss, Sun & Weinberger (2017). On calibration of modern neural networks.
   ICML, PMLR 70:1321-1330.
.. [2] Sener & Savarese (2018). Active learning for convolutional neural networks: a
   core-set approach. ICLR. (k-center greedy, used by :func:`suggest`.)
.. [3] Wang & Manning (2012). Baselines and bigrams: simple, good sentiment and topic
   classification. ACL, 90-94. (Word n-gram linear models as strong text baselines.)

Modules
-------
``features``     the :class:`SegmentFeatures` transformer (:class:`FeatureSpec`, neighbours)
``estimators``   :class:`CodebookClassifier` and the word n-gram :class:`NgramScorer`
``calibration``  temperatures, neighbour weight, thresholds, ECE and coverage curves
``scope``        code scope by question; the zero-shot codable rate
``hierarchy``    code paths and the ancestors a thin code backs off to
``sets``         code sets: one-vs-rest calibration, the set rule, set agreement
``training``     training data in arrays and the fits of one fold
``labeller``     the :class:`CodebookLabeller` estimator (and :func:`train_model`)
``policy``       review and back-off policy applied to its probabilities
``evaluate``     grouped cross-validated evaluation (:func:`evaluate_model`)
``active``       active learning (:func:`suggest`)

This package re-exports the public names, so ``from themeassist import classify;
classify.train_model(...)`` keeps working.
"""

from __future__ import annotations

from themeassist._lazy import lazy_exports

#: Public name -> the module of this package that defines it, imported on first use
#: (PEP 562): the project settings read :mod:`~themeassist.classify.parameters` alone,
#: without the labeller's scikit-learn and SciPy.
_EXPORTS = {
    "active": ("pick_uncertain_diverse", "suggest"),
    "calibration": ("choose_threshold", "coverage_curve", "expected_calibration_error",
                    "fit_temperature", "fit_temperature_sets", "kappa", "needs_review"),
    "estimators": ("CodebookClassifier", "NgramScorer", "codable_logits", "fit_ngram_scorer",
                   "full_logits", "softmax"),
    "evaluate": ("evaluate_model",),
    "features": ("FeatureSpec", "SegmentFeatures", "build_features", "check_embeddings",
                 "codebook_texts", "feature_spec", "neighbours", "prior_rows",
                 "smooth_logits"),
    "hierarchy": ("PATH_SPLIT", "code_path", "hierarchy_ancestors"),
    "labeller": ("DEFAULT_SETTINGS", "FITTED", "METHOD", "CodebookLabeller", "CodingModel",
                 "check_codebook_match", "train_model"),
    "parameters": ("CALIBRATIONS", "SCOPES", "LabellerParameters"),
    "policy": ("policy",),
    "scope": ("FACILITATOR_KINDS", "FACILITATOR_ROLES", "SCOPE_MASK", "codebook_scope",
              "default_codable_rate", "learn_scope", "parse_questions", "scope_outside",
              "zero_shot_codable"),
    "sets": ("fit_set_rule", "predict_sets", "set_metrics", "set_probabilities"),
    "training": ("TrainingData", "codebook_prior", "grouped_folds", "training_data"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
