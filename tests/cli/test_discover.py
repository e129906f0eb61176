"""`themeassist discover` through the command line (issue 9): outputs, determinism, messages."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from themeassist.cli import app

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "discover"
runner = CliRunner()


def discover(*args: str | Path):
    return runner.invoke(app, ["discover", *map(str, args)])


def base(out: Path, *extra: str | Path) -> list:
    return ["--corpus", FIX / "corpus.csv", "--codebook", FIX / "codebook.csv", "--out", out,
            "--runs", "2", "--seed", "1", *extra]


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("discover") / "run1"
    return discover(*base(out)), out


def test_writes_every_output_and_one_summary_line(first):
    result, out = first
    assert result.exit_code == 0, result.output
    from themeassist.cli.discover import OUTPUTS

    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    assert "candidates from 64 of 82 segments (18 set aside)" in result.stdout
    cands = pd.read_csv(out / "candidates.csv")
    assert list(cands.columns[:8]) == ["candidate_id", "label", "keywords", "size", "quotes",
                                       "nearest_subtheme", "similarity", "stability"]
    assign = pd.read_csv(out / "assignments.csv")
    assert list(assign.columns[:3]) == ["segment_id", "candidate_id", "probability"]
    assert len(assign) == 82
    diag = json.loads((out / "discovery.json").read_text())
    assert diag["n_segments"] == 82 and diag["set_aside"]["not a participant"] == 12
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "discover" and "corpus" in manifest["inputs"]
    page = (out / "map.html").read_text()
    assert "<svg" in page and "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page  # self-contained: no CDN
    assert "## 0." in (out / "candidates.md").read_text()


def test_same_seed_gives_byte_identical_outputs(first, tmp_path):
    _, out1 = first
    out2 = tmp_path / "run2"
    result = discover(*base(out2))
    assert result.exit_code == 0, result.output
    for name in ("candidates.csv", "assignments.csv", "candidates.md", "map.html",
                 "discovery.json", "sizes.svg", "sizes.png"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes(), name


def test_existing_outputs_are_not_overwritten_without_force(first):
    _, out = first
    before = (out / "candidates.csv").read_bytes()
    result = discover(*base(out))
    assert result.exit_code == 1
    assert "exists" in result.stderr and "--force" in result.stderr
    assert (out / "candidates.csv").read_bytes() == before


def test_too_small_corpus_is_a_clear_message(tmp_path):
    seg = pd.read_csv(FIX / "corpus.csv", dtype=str, keep_default_na=False).head(12)
    small = tmp_path / "small.csv"
    seg.drop(columns="topic").to_csv(small, index=False)
    out = tmp_path / "out"
    result = discover("--corpus", small, "--out", out)
    assert result.exit_code == 1
    assert "small.csv" in result.stderr and "too few segments" in result.stderr
    assert not out.exists()


def test_codebook_first_needs_a_codebook(tmp_path):
    result = discover("--corpus", FIX / "corpus.csv", "--out", tmp_path / "o", "--codebook-first")
    assert result.exit_code == 1
    assert "--codebook-first needs --codebook" in result.stderr


def test_bad_corpus_names_the_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("segment_id,text\ns1,hello\n", encoding="utf-8")
    result = discover("--corpus", bad, "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert "bad.csv" in result.stderr and "transcript_id" in result.stderr
