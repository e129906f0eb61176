"""Benchmark: discovery on 10,000 segments with cached embeddings (issue 9; not a test).

There is no real 10,000-segment corpus here, so the benchmark scales the usability study
(``/work/usability``, see ``scripts/prepare_usability.py``; GPL-3.0, evaluation only): its
cached MiniLM embeddings are repeated with Gaussian jitter (re-normalised; each copy has
cosine ~0.95 with its original) and its texts repeated, up to ``--n`` segments, with the
questions kept. That keeps the geometry of real conversational embeddings; timings of UMAP,
k-means and c-TF-IDF depend on the size, not on the words.

Prints the one-off UMAP/numba compilation, one clustering run (``runs=1``) and the default
five stability runs in one process (they share the exact k-nearest-neighbour graph and the
compiled code), each with the core's own timing breakdown.

Usage::

    export THEMEASSIST_CACHE=/work/cache
    .venv/bin/python scripts/bench_discover.py [--data /work/usability] [--n 10000]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from themeassist import discover as D
from themeassist import io
from themeassist.embed import Embedder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path("/work/usability"))
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    if not (args.data / "segments.csv").exists():
        print(f"missing {args.data / 'segments.csv'}: run scripts/prepare_usability.py first",
              file=sys.stderr)
        return 1
    seg = io.read_segments(args.data / "segments.csv")
    emb = Embedder(show_progress=False).embed(seg["text"].astype(str).tolist())
    rng = np.random.default_rng(0)
    reps = int(np.ceil(args.n / len(seg)))
    parts, frames = [], []
    for r in range(reps):
        noise = 0 if r == 0 else rng.normal(0, 0.015, emb.shape)
        parts.append(D._normalise(emb + noise))
        frames.append(seg.assign(segment_id=seg["segment_id"] + f"#{r}",
                                 transcript_id=seg["transcript_id"] + f"#{r}"))
    big = pd.concat(frames, ignore_index=True).head(args.n)
    x = np.vstack(parts)[: args.n].astype(np.float32)
    print(f"{len(big)} segments ({reps} jittered copies of {len(seg)}), dim {x.shape[1]}")

    t = time.perf_counter()
    D.reduce(x[:200], n_neighbors=10, n_components=5, seed=0)
    print(f"UMAP/numba compilation and warm-up: {time.perf_counter() - t:.1f} s")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for runs in (1, args.runs):
            t = time.perf_counter()
            res = D.discover(big, x, seed=0, runs=runs)
            wall = time.perf_counter() - t
            d = res.diagnostics
            print(f"runs={runs}: {wall:.1f} s wall; {d['n_clustered']} clustered, "
                  f"{d['n_candidates']} candidates, {100 * d['outlier_share_after']:.1f}% "
                  f"unassigned; timings {d['timings']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
