"""Rebuild the reference study's content-analysis figures and print them beside the published ones.

1. Thomson, Waterson & Chatterjee (2024), Int J Equity Health 23, 135,
   doi:10.1186/s12939-024-02216-1 (CC BY 4.0): from the codes per theme of Appendix 1
   (``../shared/data/reference-study/codebook.csv``, column ``codes_in_paper``) compute the
   codes, percents, descriptive statistics and major/minor themes, and from the published
   per-question shares the themes the 50% rule selects.
2. Mannheimer (2023), QDR doi:10.5064/F6GWMU4O (codebook CC BY-SA 4.0): the same
   major/minor analysis on an independent interview study, with the references per theme
   (``../shared/data/interview-codebook/mannheimer_codebook.csv``) as the counts.

Exits 1 if any figure differs from the published one (at the published rounding).

Run: .venv/bin/python scripts/reproduce_reference_study.py [--out DIR]
     (--out also writes the reference study's theme frequency figure, PNG and SVG)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from themeassist import stats

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("THEMEASSIST_SHARED_DATA", ROOT.parent / "shared" / "data"))

# Published in the article (text and README of the shared folder).
PUBLISHED_SUMMARY = {"total_codes": 323, "mean": 26.92, "median": 26.50, "sd": 11.74,
                     "range": 40.00}
PUBLISHED_PERCENT = {
    "Research evidence": 16.10, "Funding": 12.38, "Relationships with partners": 10.22,
    "Health inequalities and deprivation": 9.91, "Community involvement": 9.91,
    "Health service and integrated care systems": 9.29,
    "Link workers and social prescribing": 7.12, "Training and support": 5.88,
    "Place-based factors": 5.57, "Longevity of programmes": 4.95,
    "Setting up and scaling up programmes": 4.95, "Mental health": 3.72,
}
PUBLISHED_SELECTIONS = {
    "1": {"Relationships with partners": 28.70, "Research evidence": 25.68},
    "2": {"Research evidence": 29.52, "Funding": 21.45},
    "3": {"Longevity of programmes": 32.46, "Funding": 17.94},
    "4": {"Health service and integrated care systems": 67.43},
    "5": {"Health inequalities and deprivation": 95.17},
    "6": {"Research evidence": 35.04, "Health inequalities and deprivation": 28.41},
    "7": {"Community involvement": 35.42, "Place-based factors": 16.83},
    "8": {"Research evidence": 18.59, "Health inequalities and deprivation": 14.48,
          "Mental health": 12.36, "Community involvement": 11.72},
}
# Mannheimer PROVENANCE.md: refs per theme sum to 816, mean 90.7; major: consent,
# privacy, context.
MANNHEIMER_MAJOR = ["consent", "context", "privacy"]


def need(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"shared data not available: {path} (set THEMEASSIST_SHARED_DATA)")
    return path


def theme_level_codings(counts: pd.Series) -> pd.DataFrame:
    """One theme-level code per counted unit, so that the same functions count them."""
    return pd.DataFrame({"theme": np.repeat(counts.index.to_numpy(), counts.to_numpy()),
                         "valence": "", "subtheme": ""})


def mark(ok: bool) -> str:
    return "ok" if ok else "DIFFERS"


def reference_study(out: Path | None) -> bool:
    cb = pd.read_csv(need(SHARED / "reference-study" / "codebook.csv"))
    counts = cb.drop_duplicates("theme").set_index("theme")["codes_in_paper"].astype(int)
    published_type = cb.drop_duplicates("theme").set_index("theme")["theme_type"]
    book = cb[["theme", "valence", "subtheme"]]
    result = stats.run(theme_level_codings(counts), book)
    tc = result.theme_counts.set_index("theme")
    good = True

    print("Thomson, Waterson & Chatterjee (2024), doi:10.1186/s12939-024-02216-1, CC BY 4.0")
    print(f"{'theme':44s} {'codes':>5s} {'paper':>6s} {'ours':>6s}  {'paper':5s} {'ours':5s}")
    for theme, row in tc.iterrows():
        ok = (abs(row["percent"] - PUBLISHED_PERCENT[theme]) < 0.005
              and row["type"] == published_type[theme] and row["codes"] == counts[theme])
        good &= ok
        print(f"{theme:44s} {row['codes']:5d} {PUBLISHED_PERCENT[theme]:6.2f} "
              f"{row['percent']:6.2f}  {published_type[theme]:5s} {row['type']:5s}  {mark(ok)}")
    s = result.summary
    print(f"\n{'statistic':12s} {'paper':>8s} {'ours':>10s}")
    for key, value in PUBLISHED_SUMMARY.items():
        ok = abs(s[key] - value) < 0.005
        good &= ok
        print(f"{key:12s} {value:8.2f} {s[key]:10.4f}  {mark(ok)}")
    major_ok = s["major"] == sorted(published_type[published_type == "major"].index)
    good &= major_ok
    print(f"major themes: {len(s['major'])} (paper 6) {mark(major_ok)}; "
          f"tie rule: {s['tie_rule']}")

    print("\n50% rule on the published per-question shares (other themes share the rest "
          "evenly)")
    for q, chosen in PUBLISHED_SELECTIONS.items():
        others = [t for t in counts.index if t not in chosen]
        rest = (100 - sum(chosen.values())) / len(others)
        selected = stats.select_half(pd.Series({**{t: rest for t in others}, **chosen}))
        ok = selected == list(chosen)
        good &= ok
        print(f"  question {q}: {len(selected)} selected "
              f"({', '.join(f'{t} {chosen.get(t, 0):.2f}' for t in selected)}) {mark(ok)}")

    if out is not None:
        from themeassist import io
        from themeassist.report import stats_figures

        with io.OutputDir(out, force=True) as staged:
            staged.figure(stats_figures.theme_frequency(
                result.theme_counts, s, "Codes per theme (Thomson et al. 2024)"),
                "reference_theme_frequency")
        print(f"\nwrote {out}/reference_theme_frequency.png and .svg")
    return good


def mannheimer() -> bool:
    cb = pd.read_csv(need(SHARED / "interview-codebook" / "mannheimer_codebook.csv"))
    refs = cb.groupby("theme", sort=False)["refs"].sum()
    book = pd.DataFrame({"theme": refs.index, "valence": "", "subtheme": ""})
    result = stats.run(theme_level_codings(refs), book)
    s = result.summary
    print("\nMannheimer (2023), QDR doi:10.5064/F6GWMU4O, codebook CC BY-SA 4.0: refs per theme")
    for _, row in result.theme_counts.iterrows():
        print(f"  {row['theme']:38s} {row['codes']:4d} {row['percent']:6.2f}%  {row['type']}")
    print(f"  total {s['total_codes']}, mean {s['mean']:.2f}, median {s['median']:.2f}, "
          f"SD {s['sd']:.2f}, range {s['range']:.0f}")
    ok = s["major"] == MANNHEIMER_MAJOR and s["total_codes"] == 816
    print(f"  major: {', '.join(s['major'])} (PROVENANCE: consent, privacy, context) {mark(ok)}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the theme frequency figure here")
    args = parser.parse_args()
    good = reference_study(args.out)
    good &= mannheimer()
    print("\nall figures reproduced" if good else "\nSOME FIGURES DIFFER")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
