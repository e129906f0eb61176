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


# --------------------------------------------------------------------------- issue 14 / 17
def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_issue14_units_measures_on_a_subsample_without_filtering_the_files(tmp_path):
    units = _write(tmp_path / "units.csv", "segment_id\nfg1:0001\nfg1:0002\nfg1:0003\n")
    res = run("-c", FIX / "human.csv", FIX / "machine.csv", "-s", FIX / "segments.csv",
              "--units", units, "--bootstrap", 0, "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["n_units"] == 3
    # fg1:0003: human {Funding} (two Funding codes) = machine {Funding}; all three agree
    assert report["percent_agreement"] == pytest.approx(1.0)


def test_issue14_units_not_in_the_corpus_are_named(tmp_path):
    units = _write(tmp_path / "units.csv", "segment_id\nfg1:0001\nfg9:0001\n")
    res = run("-c", FIX / "human.csv", FIX / "machine.csv", "-s", FIX / "segments.csv",
              "--units", units)
    assert res.exit_code == 1
    assert "units.csv:3 column 'segment_id': unit not in the corpus" in res.output


def test_issue14_both_coded_keeps_the_transcripts_every_coder_coded(tmp_path):
    only_fg1 = _write(tmp_path / "B.csv", "segment_id,theme,valence,subtheme\n"
                                          "fg1:0001,Funding,success,Grant secured\n")
    res = run("-c", FIX / "human.csv", only_fg1, "-s", FIX / "segments.csv", "--both-coded",
              "--bootstrap", 0, "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["n_units"] == 4  # the four segments of fg1
    res = run("-c", FIX / "human.csv", only_fg1, "--both-coded")
    assert res.exit_code == 1 and "--both-coded needs the corpus" in res.output


def test_issue14_a_file_with_several_model_names_is_refused(tmp_path):
    text = (FIX / "machine.csv").read_text()
    folds = text.replace("model:tiny@abc123,Mental", "model:tiny@fold2,Mental")
    p = _write(tmp_path / "folds.csv", folds)
    res = run("-c", FIX / "human.csv", p, "-s", FIX / "segments.csv", "-o", tmp_path / "out")
    assert res.exit_code == 1
    assert "folds.csv column 'coder': one file holds 2 model names" in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["none", "NA"])
def test_issue14_a_code_named_none_or_na_is_not_uncoded(tmp_path, name):
    book = _write(tmp_path / "book.csv", f"theme,valence,subtheme\n{name},,other\n"
                                         "Funding,,Grant\n")
    a = _write(tmp_path / "A.csv", f"segment_id,theme,valence,subtheme\nfg1:0001,{name},,other\n"
                                   "fg1:0002,Funding,,Grant\n")
    b = _write(tmp_path / "B.csv", "segment_id,theme,valence,subtheme\nfg1:0002,Funding,,Grant\n"
                                   "fg1:0003,Funding,,Grant\n")
    seg = _write(tmp_path / "seg.csv", "segment_id,transcript_id,position,text\n"
                                       "fg1:0001,fg1,1,a\nfg1:0002,fg1,2,b\nfg1:0003,fg1,3,c\n"
                                       "fg1:0004,fg1,4,d\n")
    res = run("-c", a, b, "-s", seg, "-b", book, "--bootstrap", 0, "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    # A coded fg1:0001 with the code, B left it uncoded: a disagreement, not agreement on
    # "none"; fg1:0004 nobody coded: agreement on "uncoded".
    assert report["percent_agreement"] == pytest.approx(2 / 4)
    assert report["uncoded"] != name and name in report["categories"]
    assert report["q"] == 3  # the two codes and "uncoded"
    codes = {row["code"] for row in report["per_code"]}
    assert codes == {name, "Funding"}


def test_issue14_many_categories_warn_that_kappa_is_about_percent_agreement(tmp_path):
    n = 40
    rows = "".join(f"s{i},t,{i},x\n" for i in range(n))
    seg = _write(tmp_path / "seg.csv", "segment_id,transcript_id,position,text\n" + rows)
    a = _write(tmp_path / "A.csv", "segment_id,theme,valence,subtheme\n"
               + "".join(f"s{i},theme {i},,\n" for i in range(n)))
    b = _write(tmp_path / "B.csv", "segment_id,theme,valence,subtheme\n"
               + "".join(f"s{i},theme {i if i % 4 else i + 1},,\n" for i in range(n)))
    res = run("-c", a, b, "-s", seg, "--bootstrap", 0)
    assert res.exit_code == 0, res.output
    assert "warning: chance agreement is" in res.output
    assert "says little more than percent agreement" in res.output
    quiet = run("-c", FIX / "human.csv", FIX / "machine.csv", "-s", FIX / "segments.csv",
                "--bootstrap", 0)
    assert "chance agreement is" not in quiet.output


def test_issue14_masi_alpha_is_in_the_summary_for_multi_code_units():
    res = run("-c", FIX / "human.csv", FIX / "machine.csv", "-s", FIX / "segments.csv",
              "--level", "code", "--bootstrap", 0)
    assert res.exit_code == 0, res.output
    assert "alpha (MASI, sets)" in res.output
    assert "1 units carry several codes: alpha (MASI) compares" in res.output


def test_issue17_a_different_seed_changes_the_intervals(tmp_path):
    # test_same_seed_same_bytes would pass if the seed were dropped; this would not.
    args = ("-c", FIX / "human.csv", FIX / "machine.csv", "-s", FIX / "segments.csv",
            "--bootstrap", 100, "--json")
    a = json.loads(run(*args, "--seed", 3).stdout)
    b = json.loads(run(*args, "--seed", 4).stdout)
    assert a["ci"] != b["ci"]
