"""Benchmark the demo's train stage work (issue 17): the fold labellers of the held-out
evaluation and the final labeller, old path vs new, as a ratio measured in one run.

What is timed is what ``pipeline._train_stage`` computes on the warm demo (``themeassist
demo``, embeddings cached): :func:`~themeassist.classify.heldout.held_out_predictions`
(4 coded transcripts, 4 fold labellers) then :func:`~themeassist.classify.train_model`
(the final labeller, scoring the evaluation from those held-out predictions). Each
``CodebookLabeller.fit`` does an inner grouped cross-fit and then fits its final
classifiers: ~5 labeller fits x ~5 fits of four classifiers.

* **old**: every logistic regression by :class:`sklearn.linear_model.LogisticRegression`
  and every fit made again (the fit memo emptied, nothing kept);
* **new**: the multinomial ones solved in the row space of ``X``
  (:func:`themeassist.classify.solver.fit_multinomial`, same iterates and stopping test)
  and fits already made on the same arrays reused (``classify.training._FitMemo``).

Old and new alternate (``--rounds`` times each) so both see the same load from the other
users of the machine; the script prints each wall and CPU time (the CPU time of this
process is what an idle machine's wall time would be), the ratios of the medians, the load
average before and after, and the largest difference of the probabilities (held-out and
final model) between the two paths.

Usage::

    PYTHONPATH=src THEMEASSIST_CACHE=/work/cache .venv/bin/python scripts/bench_train.py [--rounds 2]

Measured (2 cores shared with two other helpers; 2026-12-02, branch speedtrain)::

    load 5.1-5.3 (uptime before/after; other helpers' runs)
    round 1 old: 88.23 s wall, 15.52 s CPU      round 1 new: 22.92 s wall, 7.69 s CPU
    round 2 old: 34.07 s wall, 14.24 s CPU      round 2 new: 19.31 s wall, 6.43 s CPU
    median wall ratio old/new 2.90; median CPU old 14.88 s, new 7.06 s, ratio 2.11
    max abs probability difference old vs new: 0.0 (held-out sets and codings equal)

    earlier the same day, load 3.7-3.8 (n-gram scorers then in the row space too): wall
    21.01 -> 9.41 s (2.23), CPU 14.20 -> 6.39 s (2.22). Where the final code's 6.38 s of
    CPU go (each part timed by process time, /tmp script, not kept): of which logistic regressions 2.89 (code classifiers in the row space 1.13, n-gram
    scorers and binary fits by scikit-learn 1.76), the out-of-fold temperature / weight /
    pull grid 1.02, thresholds and set rule 0.68, predictions and input checks ~0.9.

``scripts/bench_demo.py`` on this branch at load 4.0-4.3: train stage 9.91 s cold, 11.60 s
warm (label 0.09 s), warm total 48.39 s, 52.06 s wall; an idle machine was not to be had.

The "old" path here already has the other changes of the branch that cost nothing to
undo (one BLAS thread for the whole fit, each n-gram scorer's texts tokenised once), so
the ratio to main is somewhat larger. The demo's predictions are bit-identical because
every labeller there chooses the pull 1 (the zero-shot weights); with
``prior_pull_grid=[0]`` (the trained weights used) the largest differences are 1.1e-11
(held-out) and 1.4e-14 (final model); the 22 distinct multinomial fits of the demo agree
with scikit-learn's to 2e-14 in the coefficients, with the same iteration counts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
import warnings

import numpy as np


def demo_inputs():
    """The train stage's inputs on the demo project, as ``pipeline.run_project`` makes them."""
    from themeassist import io, pipeline, tables
    from themeassist.embed import Embedder, default_cache_path

    p = pipeline.demo_project()
    segments, _ = pipeline._ingest(p)
    codings_paths = [p.resolve(c) for c in p.codings]
    decided_paths = pipeline.decisions_files(p, codings_paths)
    codebook = io.read_codebook(p.resolve(p.codebook)) if p.codebook else io.default_codebook()
    human = io.read_codings(codings_paths, codebook, segments)
    decisions = io.read_decisions(decided_paths, segments) if decided_paths else None
    cache = p.resolve(p.embedding.cache) if p.embedding.cache else default_cache_path()
    embedder = Embedder(p.embedding.model, batch_size=p.embedding.batch_size, cache=cache)
    vectors = embedder.embed(segments["text"].tolist())
    book_vectors = embedder.embed(tables.codebook_texts(codebook))
    primary = pipeline._primary_coder(human, segments)
    train_segments, train_codings = pipeline._coder_universe(segments, human, primary,
                                                             decisions)
    mask = segments["segment_id"].isin(train_segments["segment_id"]).to_numpy()
    args = pipeline.train_arguments(p)
    args.pop("evaluate")
    return dict(segments=train_segments, codings=train_codings, codebook=codebook,
                vectors=vectors[mask], book_vectors=book_vectors, args=args,
                decided=pipeline.decided_by(decisions, primary),
                embedding_model=embedder.model_id)


def train_stage_work(x):
    """Held-out predictions, then the final model scored on them (``_train_stage``)."""
    from themeassist import classify
    from themeassist.classify.heldout import held_out_predictions

    held = held_out_predictions(x["segments"], x["vectors"], x["codings"], x["codebook"],
                                n_splits=x["args"]["folds"],
                                codebook_embeddings=x["book_vectors"], decided=x["decided"],
                                embedding_model=x["embedding_model"], **x["args"])
    model = classify.train_model(x["segments"], x["codings"], x["codebook"], x["vectors"],
                                 codebook_embeddings=x["book_vectors"],
                                 embedding_model=x["embedding_model"], evaluate=True,
                                 decided=x["decided"], held_out=held, **x["args"])
    codable, P = model.predict_proba(x["segments"], x["vectors"])
    return held, codable, P


@contextlib.contextmanager
def old_path():
    """scikit-learn's LogisticRegression for every fit, and no fit reused."""
    from sklearn.linear_model import LogisticRegression

    from themeassist.classify import solver, training

    def sklearn_multinomial(X, y, sample_weight=None, *, C=1.0, max_iter=2000, tol=1e-4):
        lr = LogisticRegression(C=C, max_iter=max_iter, tol=tol).fit(
            X, y, sample_weight=sample_weight)
        return lr.classes_, lr.coef_.copy(), lr.intercept_.copy(), int(lr.n_iter_[0])

    saved = solver.fit_multinomial, training._MEMO
    solver.fit_multinomial = sklearn_multinomial
    training._MEMO = training._FitMemo(max_bytes=0)    # keeps nothing
    try:
        yield
    finally:
        solver.fit_multinomial, training._MEMO = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    from themeassist.classify import training

    x = demo_inputs()
    train_stage_work(x)          # imports and first-call costs out of the timings
    print(f"load before: {os.getloadavg()}")
    times: dict[str, list[float]] = {"old": [], "new": []}
    cpu: dict[str, list[float]] = {"old": [], "new": []}
    results = {}
    for r in range(a.rounds):
        for path in ("old", "new"):
            training._MEMO = training._FitMemo()      # each run starts cold
            with old_path() if path == "old" else contextlib.nullcontext():
                t, c = time.perf_counter(), time.process_time()
                results[path] = train_stage_work(x)
                times[path].append(time.perf_counter() - t)
                cpu[path].append(time.process_time() - c)
            print(f"round {r + 1} {path}: {times[path][-1]:.2f} s wall, "
                  f"{cpu[path][-1]:.2f} s CPU")
    print(f"load after: {os.getloadavg()}")
    old, new = (statistics.median(times[k]) for k in ("old", "new"))
    print(f"median wall: old {old:.2f} s, new {new:.2f} s, ratio old/new {old / new:.2f}")
    old_c, new_c = (statistics.median(cpu[k]) for k in ("old", "new"))
    print(f"median CPU (this process, all threads; ~ the wall time of an idle machine): "
          f"old {old_c:.2f} s, new {new_c:.2f} s, ratio old/new {old_c / new_c:.2f}")
    (ho, co, Po), (hn, cn, Pn) = results["old"], results["new"]
    m = ~np.isnan(ho.proba)
    diff = max(float(np.abs(ho.proba[m] - hn.proba[m]).max()),
               float(np.nanmax(np.abs(ho.codable - hn.codable))),
               float(np.abs(Po - Pn).max()), float(np.abs(co - cn).max()))
    print(f"max abs probability difference old vs new: {diff:.1e}; held-out sets equal: "
          f"{np.array_equal(ho.sets, hn.sets)}; held-out codings equal: "
          f"{ho.codings.equals(hn.codings)}")


if __name__ == "__main__":
    main()
