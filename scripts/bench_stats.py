"""Benchmark of the content-analysis statistics (issue 3).

100,000 codings over 1,000 transcripts (8 questions, 12 speakers and 150 segments per
transcript, codes drawn from the bundled reference codebook's 185 codes, so some
participants repeat a code and de-duplication has work to do): times ``stats.run`` for one
coder (validation against the codebook and corpus, de-duplication, theme counts, per-group
and per-question shares, the 50% rule, top subthemes with quotes, appendix), then
``stats.compare`` of that coder with a second one of the same size.

Run: .venv/bin/python scripts/bench_stats.py [--codings 100000] [--transcripts 1000] [--cli]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from themeassist import io, stats


def synthetic(n_codings: int, n_transcripts: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    per = 150
    t = np.repeat(np.arange(n_transcripts), per)
    pos = np.tile(np.arange(per), n_transcripts)
    segments = pd.DataFrame({
        "segment_id": [f"fg{a:04d}:{b:04d}" for a, b in zip(t, pos)],
        "transcript_id": [f"fg{a:04d}" for a in t],
        "position": pos,
        "text": [f"Segment {b} of group {a}." for a, b in zip(t, pos)],
        "speaker": [f"P{s:02d}" for s in rng.integers(0, 12, len(t))],
        "question": (pos * 8 // per + 1).astype(str),
    })
    book = io.default_codebook()
    rows = rng.integers(0, len(segments), n_codings)
    codes = rng.integers(0, len(book), n_codings)
    codings = pd.DataFrame({
        "segment_id": segments["segment_id"].to_numpy()[rows],
        "theme": book["theme"].to_numpy()[codes],
        "valence": book["valence"].to_numpy()[codes],
        "subtheme": book["subtheme"].to_numpy()[codes],
    }).drop_duplicates().reset_index(drop=True)
    return segments, book, codings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codings", type=int, default=100_000)
    parser.add_argument("--transcripts", type=int, default=1_000)
    parser.add_argument("--cli", action="store_true",
                        help="also time `themeassist stats` on CSV files, both coders, "
                             "reading and writing included (figures off)")
    args = parser.parse_args()
    segments, book, codings = synthetic(args.codings, args.transcripts)
    machine = synthetic(args.codings, args.transcripts, seed=1)[2]
    machine = machine.assign(confidence=np.random.default_rng(2).random(len(machine)))
    print(f"{len(codings):,} codings over {args.transcripts:,} transcripts "
          f"({len(segments):,} segments, {len(book)} codes, 8 questions)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no undefined statistic expected at this size
        t0 = time.perf_counter()
        human = stats.run(codings.assign(coder="human"), book, segments)
        t1 = time.perf_counter()
        other = stats.run(machine.assign(coder="machine"), book, segments)
        t2 = time.perf_counter()
        cmp = stats.compare({"human": human, "machine": other})
        t3 = time.perf_counter()
    print(f"stats.run, one coder (human):      {t1 - t0:6.2f} s "
          f"({human.duplicates_removed:,} repeats removed, "
          f"{len(human.per_question)} per-question rows)")
    print(f"stats.run, one coder (machine):    {t2 - t1:6.2f} s")
    print(f"stats.compare, two coders:         {t3 - t2:6.2f} s  verdict: {cmp['verdict']}")
    print(f"total:                             {t3 - t0:6.2f} s")
    if args.cli:
        import tempfile
        from pathlib import Path

        from typer.testing import CliRunner

        from themeassist.cli import app

        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            segments.to_csv(tmp / "segments.csv", index=False)
            codings.assign(coder="human").to_csv(tmp / "human.csv", index=False)
            machine.assign(coder="machine").to_csv(tmp / "machine.csv", index=False)
            t4 = time.perf_counter()
            r = CliRunner().invoke(app, [
                "stats", "-c", str(tmp / "human.csv"), "-c", str(tmp / "machine.csv"),
                "-s", str(tmp / "segments.csv"), "-o", str(tmp / "out"), "--no-figures"])
            t5 = time.perf_counter()
        if r.exit_code != 0:
            raise SystemExit(r.output)
        print(f"CLI, read + validate + 2 coders + write (no figures): {t5 - t4:6.2f} s")


if __name__ == "__main__":
    main()
