"""`themeassist stats` through the command line (issue 3): outputs, comparison, messages,
nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from themeassist.cli import app

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "stats"
runner = CliRunner()


def stats(*args: str | Path):
    return runner.invoke(app, ["stats", *map(str, args)])


def base(*codings: Path | str, corpus: bool = True) -> list:
    args = []
    for c in codings:
        args += ["--codings", c]
    args += ["--codebook", FIX / "codebook.csv"]
    if corpus:
        args += ["--corpus", FIX / "segments.csv"]
    return args


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One full run (figures included) on the human fixture: (result, out)."""
    out = tmp_path_factory.mktemp("single") / "res"
    return stats(*base(FIX / "human.csv"), "--out", out), out


def test_one_coder_writes_every_output(single):
    r, out = single
    assert r.exit_code == 0, r.output
    for name in ("theme_counts", "per_question", "appendix", "top_subthemes"):
        assert (out / f"{name}.csv").is_file() and (out / f"{name}.md").is_file()
    for stem in ("theme_frequency", "question_1", "question_2", "question_3"):
        for fmt in ("png", "svg"):
            assert (out / "figures" / f"{stem}.{fmt}").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert {"total_codes", "mean", "median", "sd", "range", "major", "minor"} <= set(summary)
    assert summary["total_codes"] == 15 and summary["duplicates_removed"] == 1
    tc = pd.read_csv(out / "theme_counts.csv")
    assert list(tc.columns) == ["theme", "codes", "percent", "type"]
    assert tc.set_index("theme").loc["Training", "codes"] == 0
    pq = pd.read_csv(out / "per_question.csv", dtype={"question": str})
    assert list(pq.columns[:6]) == ["question", "theme", "percent", "sd", "groups", "selected"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "stats" and "codings" in manifest["inputs"]
    assert manifest["settings"]["methods"]["dedupe"] == "speaker-question.v1"
    assert "15 codes in 4 themes" in r.stdout and "1 repeat removed" in r.stdout
    assert "question(s) 3 had one" in r.stderr  # the SD over one group is said to be undefined


def test_reruns_are_byte_identical(single, tmp_path):
    first = single[1]
    again = tmp_path / "again"
    assert stats(*base(FIX / "human.csv"), "--out", again).exit_code == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*")
                   if p.is_file() and p.name != "manifest.json")
    assert len(files) == 18
    for f in files:
        assert (first / f).read_bytes() == (again / f).read_bytes(), f


def test_two_coders_are_compared_with_a_verdict(tmp_path):
    out = tmp_path / "cmp"
    r = stats(*base(FIX / "human.csv", FIX / "machine.csv"), "--out", out, "--no-figures")
    assert r.exit_code == 0, r.output
    assert (out / "human" / "theme_counts.csv").is_file()
    assert (out / "machine" / "per_question.csv").is_file()
    assert (out / "comparison.csv").is_file() and not (out / "figures").exists()
    verdict = ("major themes differ (2 of 3 shared); selected themes identical on 3 of 3 "
               "questions; Spearman rho = 1.00")
    assert json.loads((out / "comparison.json").read_text())["verdict"] == verdict
    assert f"verdict: {verdict}" in r.stdout


def test_one_file_with_a_coder_column_and_unsafe_coder_names(tmp_path):
    both = pd.concat([pd.read_csv(FIX / "human.csv"),
                      pd.read_csv(FIX / "machine.csv").assign(coder="model:tfidf@ab12")])
    path = tmp_path / "all.csv"
    both.to_csv(path, index=False)
    out = tmp_path / "res"
    r = stats(*base(path), "--out", out, "--no-figures")
    assert r.exit_code == 0, r.output
    assert (out / "model-tfidf-ab12" / "summary.json").is_file()
    assert json.loads((out / "comparison.json").read_text())["coders"] == ["human",
                                                                            "model:tfidf@ab12"]


def test_without_corpus_skips_per_question_with_one_warning(tmp_path):
    out = tmp_path / "res"
    r = stats(*base(FIX / "human.csv", corpus=False), "--out", out, "--no-figures")
    assert r.exit_code == 0, r.output
    assert (out / "theme_counts.csv").is_file() and not (out / "per_question.csv").exists()
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("warning")]
    assert len(lines) == 1 and "per_question.csv" in lines[0] and "--corpus" in lines[0]


def test_unknown_code_names_file_code_and_row_and_writes_nothing(tmp_path):
    bad = pd.read_csv(FIX / "human.csv")
    bad.loc[4, "subtheme"] = "Short-term fundng"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    out = tmp_path / "res"
    r = stats(*base(path), "--out", out)
    assert r.exit_code == 1
    assert f"{path}:6" in r.stderr and "Short-term fundng" in r.stderr
    assert not out.exists()


def test_codings_missing_from_corpus_say_which_and_write_nothing(tmp_path):
    bad = pd.read_csv(FIX / "human.csv")
    bad.loc[2, "segment_id"] = "fg9:0003"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    out = tmp_path / "res"
    r = stats(*base(path), "--out", out)
    assert r.exit_code == 1
    assert "segment not in the corpus" in r.stderr and "fg9:0003" in r.stderr
    assert f"{path}:4" in r.stderr
    assert not out.exists()


def test_existing_outputs_need_force(tmp_path):
    out = tmp_path / "res"
    args = [*base(FIX / "human.csv"), "--out", out, "--no-figures"]
    assert stats(*args).exit_code == 0
    r = stats(*args, "--dedup-scope", "transcript")
    assert r.exit_code == 1 and "--force" in r.stderr
    assert json.loads((out / "summary.json").read_text())["duplicates_removed"] == 1
    r = stats(*args, "--dedup-scope", "transcript", "--force")
    assert r.exit_code == 0, r.output
    assert json.loads((out / "summary.json").read_text())["duplicates_removed"] == 2


def test_bad_dedup_scope_is_a_usage_error(tmp_path):
    r = stats(*base(FIX / "human.csv"), "--out", tmp_path / "x", "--dedup-scope", "speaker")
    assert r.exit_code == 2 and not (tmp_path / "x").exists()
