"""Stage times of ``themeassist demo``: a cold, a warm and a no-change run, in one run.

- **cold**: an empty embedding cache (``THEMEASSIST_CACHE`` pointed at a new temporary
  folder) and a new output folder: everything is computed;
- **warm**: the same cache, now filled, and another new output folder: every stage runs
  but embeddings come from the cache;
- **no change**: the warm run's folder again: every stage should be reused.

Each run is a separate ``themeassist demo`` process (as a user runs it), so the wall time
includes starting Python and importing; the stage times come from each run's
``manifest.json``. Targets (issue 17): no-change under 3 s, warm under 30 s on 2 cores.

Besides the table, it prints the load average during each run and load-independent
figures: the ratios of the runs (measured back to back on the same machine) and the
no-change wall time in units of starting Python and importing pandas (its floor).

Usage::

    PYTHONPATH=src python scripts/bench_demo.py [--keep DIR]

Measured (2 cores shared by four agents; seconds; stage times from the manifests):

=============  ========================================  ========================================
               before (main 6d1e698, load 6.1-6.2)       after (issue 17, load 5.2-7.9)
-------------  ----------------------------------------  ----------------------------------------
stage          cold       warm       no change           cold       warm       no change
=============  =========  =========  ==================  =========  =========  =================
ingest         0.65       3.89       3.86                2.96       0.85       0.00
embed          10.54      0.60       0.52                95.12      0.03       0.00
discover       10.56      105.61     0.05                14.69      21.58      0.00
train          17.60      109.38     7.83                43.30      41.94      0.00
label          14.04      65.80      0.13                26.93      30.16      0.00
agree          3.26       14.22      0.00                7.01       7.23       0.00
stats          16.29      67.93      0.00                19.43      18.88      0.00
report         38.23      45.09      0.00                5.61       4.36       0.00
total          111.27     413.22     12.98               215.77     125.45     0.23
wall (proc)    124.49     433.63     19.44               223.72     130.57     2.66
=============  =========  =========  ==================  =========  =========  =================

After: no change / warm = 0.020 (before 0.031 of a much slower warm run); no change = 1.9x
starting Python with pandas (1.41 s at that load). The no-change target (3 s) is met at
load 5; the warm target (30 s) is not met at load 6.7: what remains is mostly the
classifier (train: the final model and its grouped cross-validation; label: one held-out
model per coded transcript, on the same leave-one-transcript-out splits as the
evaluation's folds here: 4 transcripts, 5 folds), the UMAP and spaCy imports in discover,
and drawing 34 figures (each drawn once, PNG and SVG from one layout; the report scales
the PNG).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("ingest", "embed", "discover", "train", "label", "agree", "stats", "report")


#: Issue 17's targets: wall time of the ``themeassist demo`` process, in seconds.
TARGETS = {"warm": 30.0, "no change": 3.0}


def run_demo(out: Path, cache: Path) -> dict:
    env = {**os.environ, "THEMEASSIST_CACHE": str(cache)}
    cmd = [sys.executable, "-c", "from themeassist.cli import main; main()", "demo",
           "--out", str(out)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"demo failed ({res.returncode}):\n{res.stdout}\n{res.stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {"wall": wall, "timings": manifest["timings"], "stages": manifest["stages"],
            "load": (load + os.getloadavg()[0]) / 2}


def python_start(env: dict) -> float:
    """Wall time of starting Python and importing pandas: the no-change run's floor."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import pandas"], env=env, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", type=Path, help="Leave the runs in this folder (default: a "
                                              "temporary folder, removed at the end).")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    cache = root / "cache"
    try:
        runs = {"cold": run_demo(root / "cold", cache),
                "warm": run_demo(root / "warm", cache),
                "no change": run_demo(root / "warm", cache)}
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"cores: {os.cpu_count()}; load average now: "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min)")
    print(f"{'stage':<12}" + "".join(f"{name:>12}" for name in runs))
    for stage in (*STAGES, "total"):
        cells = []
        for r in runs.values():
            v = r["timings"].get(stage)
            cells.append(f"{v:12.2f}" if isinstance(v, (int, float)) else f"{'-':>12}")
        print(f"{stage:<12}" + "".join(cells))
    print(f"{'wall (proc)':<12}" + "".join(f"{r['wall']:12.2f}" for r in runs.values()))
    print(f"{'load (1 min)':<12}" + "".join(f"{r['load']:12.1f}" for r in runs.values()))
    reused = [s for s, msg in runs["no change"]["stages"].items()
              if not str(msg).startswith("reused")]
    print("no-change run: " + ("every stage reused" if not reused
                               else f"stages that ran again: {', '.join(reused)}"))
    for name, target in TARGETS.items():
        wall = runs[name]["wall"]
        print(f"{name}: {wall:.2f} s wall, target < {target:.0f} s: "
              f"{'met' if wall < target else 'NOT met'} (at load {runs[name]['load']:.1f} "
              f"on {os.cpu_count()} cores)")
    # Load-independent figures: ratios of runs measured back to back on the same machine.
    warm, same = runs["warm"]["wall"], runs["no change"]["wall"]
    start = python_start({**os.environ})
    print(f"warm / cold = {warm / runs['cold']['wall']:.2f}; no change / warm = "
          f"{same / warm:.3f}; no change / (python + import pandas, {start:.2f} s) = "
          f"{same / start:.1f}")


if __name__ == "__main__":
    main()
