"""`themeassist agree` through Typer's CliRunner: outputs, --json, and one-line errors that
write nothing (STYLE R5/R6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from themeassist.cli import app

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "agree"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["agree", *map(str, args)])


def test_codings_writes_every_output(tmp_path):
    out = tmp_path / "agreement"
    res = run("-c", FIX / "human.csv", FIX / "machine.csv", "-s", FIX / "segments.csv",
              "-b", FIX / "codebook.csv", "--bootstrap", 200, "-o", out)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "agreement.json", "confusion.csv", "confusion.png", "confusion.svg",
        "disagreements.csv", "manifest.json", "per_code.csv"]
    report = json.loads((out / "agreement.json").read_text())
    assert report["coders"] == ["human", "model:tiny@abc123"]
    assert report["n_units"] == 12 and report["level"] == "theme"
    # 10 of 12 segments agree (none/none included); q = 2 themes + none.
    assert report["percent_agreement"] == pytest.approx(10 / 12)
    assert report["q"] == 3
    assert set(report["ci"]) >= {"percent_agreement", "cohen_kappa", "gwet_ac1"}
    disagreements = (out / "disagreements.csv").read_text().splitlines()
    assert disagreements[1].startswith("fg3:0003,fg3,1,Nothing much else to say.,none,Funding,0.81")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "agree" and len(manifest["inputs"]["codings"]) == 2
    assert "Cohen's kappa" in res.output and "wrote 7 files" in res.output


def test_json_on_stdout_and_both_conventions():
    res = run("-c", FIX / "human.csv", "-c", FIX / "machine.csv", "-s", FIX / "segments.csv",
              "--bootstrap", 0, "--both", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["convention"].startswith("all corpus segments")
    assert report["alternative"]["convention"] == "coded-only"
    assert report["alternative"]["n_units"] == 9


def test_same_seed_same_bytes(tmp_path):
    args = ("-c", FIX / "human.csv", FIX / "machine.csv", "-s", FIX / "segments.csv",
            "--cluster", "transcript", "--bootstrap", 100, "--seed", 3)
    assert run(*args, "-o", tmp_path / "a").exit_code == 0
    assert run(*args, "-o", tmp_path / "b").exit_code == 0
    for name in ("agreement.json", "per_code.csv", "disagreements.csv", "confusion.svg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_matrix_krippendorff_2011(tmp_path):
    res = run("--matrix", FIX / "matrix_k2011.csv", "--metric", "ratio", "--json",
              "--bootstrap", 0)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["krippendorff_alpha"] == pytest.approx(0.797, abs=0.0005)


@pytest.mark.parametrize("args, message", [
    (("-c", FIX / "human.csv", "-s", FIX / "segments.csv"), "two or more coders"),
    (("-c", FIX / "human.csv", FIX / "empty_coder.csv", "-s", FIX / "segments.csv"),
     "empty_coder.csv:2: no codings"),
    (("-c", FIX / "human.csv", FIX / "machine.csv", "-s", FIX / "segments_short.csv"),
     "human.csv:6 column 'segment_id': segment not in the corpus"),
    (("-c", FIX / "human.csv", FIX / "human.csv"), "appears in two files"),
    (("-c", FIX / "human.csv", FIX / "machine.csv", "--level", "subtheme"), "unknown --level"),
    (("--matrix", FIX / "segments.csv", "--metric", "interval"), "interval alpha needs numbers"),
    ((), "nothing to compare"),
])
def test_bad_input_one_line_exit_1_nothing_written(tmp_path, args, message):
    short = tmp_path / "segments_short.csv"
    short.write_text("\n".join((FIX / "segments.csv").read_text().splitlines()[:6]) + "\n")
    args = [str(short) if str(a).endswith("segments_short.csv") else a for a in args]
    out = tmp_path / "out"
    res = run(*args, "-o", out)
    assert res.exit_code == 1, res.output
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_refuses_to_overwrite_without_force(tmp_path):
    args = ("-c", FIX / "human.csv", FIX / "machine.csv", "--bootstrap", 0, "-o", tmp_path)
    assert run(*args).exit_code == 0
    before = (tmp_path / "agreement.json").read_bytes()
    res = run(*args)
    assert res.exit_code == 1 and "--force" in res.stderr
    assert (tmp_path / "agreement.json").read_bytes() == before
    assert run(*args, "--force").exit_code == 0
