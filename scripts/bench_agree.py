"""Benchmark of the agreement coefficients (issue 4).

1. 1,000,000 units x 3 coders, 6 categories, 5% missing ratings: every coefficient of
   ``agree.COEFFICIENTS`` (Cohen's kappa on the first two coders) plus the set-valued
   MASI alpha, no bootstrap. Prints seconds per coefficient and in total.
2. A whole ``agreement_report`` on 977 segments x 2 coders (the reference study's size)
   with 1,000 bootstrap resamples, and the same clustered by 10 transcripts.

Run: .venv/bin/python scripts/bench_agree.py [--units N]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from themeassist import agree


def synthetic(n: int, m: int = 3, q: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, q, n)
    data = np.where(rng.random((n, m)) < 0.7, truth[:, None], rng.integers(0, q, (n, m)))
    data = data.astype(float)
    data[rng.random((n, m)) < 0.05] = np.nan
    return data


def bench_large(n: int) -> float:
    data = synthetic(n)
    labels = np.array([f"theme {i}" for i in range(6)], dtype=object)
    as_text = np.where(np.isnan(data), None, labels[np.nan_to_num(data).astype(int)])
    total = 0.0
    print(f"{n:,} units x 3 coders, 6 categories, 5% missing")
    for name, f in agree.COEFFICIENTS.items():
        arg = as_text[:, :2] if name == "cohen_kappa" else as_text
        t = time.perf_counter()
        value = f(arg)
        dt = time.perf_counter() - t
        total += dt
        print(f"  {name:<20} {value:8.4f}  {dt:6.2f} s")
    for level in ("ordinal", "interval", "ratio"):
        t = time.perf_counter()
        value = agree.krippendorff_alpha(data, level=level)
        dt = time.perf_counter() - t
        total += dt
        print(f"  alpha {level:<14} {value:8.4f}  {dt:6.2f} s")
    print(f"  total (all coefficients, text labels)  {total:6.2f} s")
    return total


def bench_report(n: int = 977, n_boot: int = 1000) -> None:
    rng = np.random.default_rng(1)
    segs = pd.DataFrame({"segment_id": [f"fg{i % 10}:{i:04d}" for i in range(n)],
                         "transcript_id": [f"fg{i % 10}" for i in range(n)],
                         "position": range(n), "text": "t"})
    themes = [f"theme {i}" for i in range(12)]
    rows = []
    for sid in segs["segment_id"]:
        if rng.random() < 0.33:
            t = rng.choice(themes)
            rows.append((sid, "human", t))
            rows.append((sid, "model:x", t if rng.random() < 0.8 else rng.choice(themes)))
    codings = pd.DataFrame(rows, columns=["segment_id", "coder", "theme"]).assign(
        valence="", subtheme="")
    for cluster in (None, "transcript"):
        t = time.perf_counter()
        r = agree.agreement_report(codings, segs, n_boot=n_boot, seed=0, cluster=cluster)
        dt = time.perf_counter() - t
        print(f"agreement_report: {n} segments, {n_boot} resamples, cluster={cluster}: "
              f"{dt:.2f} s (kappa {r['cohen_kappa']:.3f}, CI {np.round(r['ci']['cohen_kappa'], 3)})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=1_000_000)
    args = ap.parse_args()
    warnings.simplefilter("error")
    bench_large(args.units)
    bench_report()


if __name__ == "__main__":
    main()
