"""`themeassist train`, `label` and `suggest` through the command line (issue 5).

Real embedding model on the small fixture corpus in tests/fixtures/classify (4 focus
groups, 40 segments, 4 codes), cached per test session.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from themeassist import modelstore, tables
from themeassist.cli import app

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "classify"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "model"
    res = run("train", "-s", FIX / "segments.csv", "-c", FIX / "codings.csv",
              "-b", FIX / "codebook.csv", "-o", out, "--evaluate", "--folds", "4")
    assert res.exit_code == 0, res.output
    return out, res


def test_train_writes_a_model_dir_with_card_figures_and_manifest(trained):
    out, res = trained
    assert "trained model model:classify@" in res.output
    for name in (*modelstore.FILES, "manifest.json", "coverage_agreement.png",
                 "reliability.svg", "evaluation_predictions.csv"):
        assert (out / name).is_file(), name
    card = json.loads((out / "model_card.json").read_text())
    assert card["embedding_model"].startswith("all-MiniLM-L6-v2@53aa51172d14")
    assert set(card["evaluation"]["levels"]) == {"codable", "theme", "code", "valence"}
    # The printed table shows the card's figures, one line per level.
    for level, m in card["evaluation"]["levels"].items():
        assert f"{level:8s} {m['n']:5d} {m['kappa']:6.2f}" in res.output
    assert f"below confidence {card['threshold']:.3f}" in res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "train" and manifest["inputs"]["codings"][0]["sha256"]


def test_label_writes_a_codings_table_named_after_the_model(trained, tmp_path):
    out, _ = trained
    machine = tmp_path / "machine.csv"
    res = run("label", "-s", FIX / "segments.csv", "--model", out, "-o", machine)
    assert res.exit_code == 0, res.output
    labels = pd.read_csv(machine, keep_default_na=False)
    book = pd.read_csv(FIX / "codebook.csv")
    checked = tables.validate_codings(labels, tables.validate_codebook(book))
    name = json.loads((out / "model.json").read_text())["fitted"]["name_"]
    assert (checked["coder"] == name).all() and len(checked) > 0
    assert {"confidence", "needs_review", "level", "codable"} <= set(labels.columns)
    assert f"with {name}" in res.output and str(machine) in res.output
    # the model learnt something real: a clear funding sentence gets the funding code
    human = pd.read_csv(FIX / "codings.csv")
    both = labels[labels["rank"] == 1].merge(human, on="segment_id", suffixes=("", "_h"))
    assert (both["theme"] == both["theme_h"]).mean() >= 0.7
    # same model, same input: same bytes
    again = tmp_path / "again.csv"
    assert run("label", "-s", FIX / "segments.csv", "--model", out, "-o", again).exit_code == 0
    assert again.read_bytes() == machine.read_bytes()


def test_label_coder_names_every_row_so_agree_reads_fold_outputs_as_one_coder(trained, tmp_path):
    # issue 14: fold-wise label outputs concatenated hold several model names, which agree
    # refuses; --coder gives them one name
    out, _ = trained
    seg = pd.read_csv(FIX / "segments.csv", keep_default_na=False)
    halves = [seg.iloc[: len(seg) // 2], seg.iloc[len(seg) // 2:]]
    parts = []
    for i, half in enumerate(halves):
        corpus = tmp_path / f"half{i}.csv"
        half.to_csv(corpus, index=False)
        labelled = tmp_path / f"machine{i}.csv"
        res = run("label", "-s", corpus, "--model", out, "-o", labelled, "--coder", "model:folds")
        assert res.exit_code == 0, res.output
        parts.append(pd.read_csv(labelled, keep_default_na=False))
    assert all((p["coder"] == "model:folds").all() and len(p) for p in parts)
    both = tmp_path / "machine.csv"
    pd.concat(parts).to_csv(both, index=False)
    res = run("agree", "-s", FIX / "segments.csv", "-b", FIX / "codebook.csv",
              "-c", FIX / "codings.csv", "-c", both, "-o", tmp_path / "agree", "--bootstrap", "50")
    assert res.exit_code == 0, res.output
    assert "model:folds" in (tmp_path / "agree" / "agreement.json").read_text(encoding="utf-8")
    # the same corpus with another coder name is labelled again under that name, not reused
    again = tmp_path / "machine0.csv"
    res = run("label", "-s", tmp_path / "half0.csv", "--model", out, "-o", again, "--force")
    assert res.exit_code == 0, res.output
    assert (pd.read_csv(again)["coder"] != "model:folds").all()
    bad = run("label", "-s", tmp_path / "half0.csv", "--model", out, "-o", tmp_path / "x.csv",
              "--coder", "  ")
    assert bad.exit_code != 0 and "--coder" in bad.output and not (tmp_path / "x.csv").exists()


def test_label_refuses_another_codebook_and_writes_nothing(trained, tmp_path):
    out, _ = trained
    other = tmp_path / "other.csv"
    pd.read_csv(FIX / "codebook.csv").iloc[:3].to_csv(other, index=False)
    machine = tmp_path / "machine.csv"
    res = run("label", "-s", FIX / "segments.csv", "--model", out, "-o", machine, "-b", other)
    assert res.exit_code == 1
    assert "codebook mismatch" in res.output and "not in it" in res.output
    assert not machine.exists()


def test_label_refuses_a_tampered_model(trained, tmp_path):
    out, _ = trained
    copy = tmp_path / "model"
    copy.mkdir()
    for p in out.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    body = json.loads((copy / "model.json").read_text())
    body["fitted"]["threshold_"] = 0.01
    (copy / "model.json").write_text(json.dumps(body))
    res = run("label", "-s", FIX / "segments.csv", "--model", copy, "-o", tmp_path / "m.csv")
    assert res.exit_code == 1 and "does not match its SHA-256" in res.output
    res = run("label", "-s", FIX / "segments.csv", "--model", tmp_path / "none", "-o", tmp_path / "m.csv")
    assert res.exit_code == 1 and "model folder" in res.output


def test_train_refuses_to_overwrite_without_force(trained):
    out, _ = trained
    before = (out / "weights.safetensors").read_bytes()
    res = run("train", "-s", FIX / "segments.csv", "-c", FIX / "codings.csv",
              "-b", FIX / "codebook.csv", "-o", out)
    assert res.exit_code == 1 and "--force" in res.output
    assert (out / "weights.safetensors").read_bytes() == before


def test_train_names_the_bad_row_of_the_codings(tmp_path):
    bad = tmp_path / "human.csv"
    text = (FIX / "codings.csv").read_text().replace("Grant secured", "Grant securd", 1)
    bad.write_text(text)
    res = run("train", "-s", FIX / "segments.csv", "-c", bad, "-b", FIX / "codebook.csv",
              "-o", tmp_path / "model")
    assert res.exit_code == 1
    assert "human.csv:2 column 'subtheme': code not in the codebook" in res.output
    assert not (tmp_path / "model").exists()


def test_zero_shot_train_then_label_and_suggest(tmp_path):
    out = tmp_path / "zs"
    res = run("train", "-s", FIX / "segments.csv", "-b", FIX / "codebook.csv", "-o", out)
    assert res.exit_code == 0, res.output
    assert "zero-shot model" in res.output
    res = run("label", "-s", FIX / "segments.csv", "--model", out, "-o", tmp_path / "m.csv",
              "--threshold", "0.3")
    assert res.exit_code == 0, res.output
    res = run("suggest", "--model", out, "-s", FIX / "segments.csv", "-n", "5",
              "-c", FIX / "codings.csv")
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 5
    coded = set(pd.read_csv(FIX / "codings.csv")["segment_id"])
    assert not {line.split()[1] for line in lines} & coded


def test_ten_codings_warn_how_little_was_learnt(tmp_path):
    few = tmp_path / "few.csv"
    pd.read_csv(FIX / "codings.csv").head(10).to_csv(few, index=False)
    res = run("train", "-s", FIX / "segments.csv", "-c", few, "-b", FIX / "codebook.csv",
              "-o", tmp_path / "m")
    assert res.exit_code == 0, res.output
    assert "warning: only 10 codings" in res.output and "prior" in res.output


def test_decided_segments_train_suggest_and_label_the_whole_coding_issue13(trained, tmp_path):
    # the review app's exports: decided_<coder>.csv (read, coded or not) and codings_<coder>.csv
    out, _ = trained
    segs = pd.read_csv(FIX / "segments.csv", keep_default_na=False)
    human = pd.read_csv(FIX / "codings.csv", keep_default_na=False)
    first = segs[segs["transcript_id"] == segs["transcript_id"].iloc[0]]
    decided = tmp_path / "decided_ann.csv"
    first[["segment_id"]].assign(coder="ann", decided_at="2026-12-01T10:00:00Z").to_csv(
        decided, index=False)
    mine = human[human["segment_id"].isin(first["segment_id"])].assign(coder="ann")
    codings = tmp_path / "codings_ann.csv"
    mine.to_csv(codings, index=False)
    # suggest never proposes a decided segment, coded or not
    res = run("suggest", "-m", out, "-s", FIX / "segments.csv", "--decided", decided,
              "-n", "10", "-o", tmp_path / "next.csv")
    assert res.exit_code == 0, res.output
    assert not set(pd.read_csv(tmp_path / "next.csv")["segment_id"]) & set(first["segment_id"])
    # label --skip-decided: the human's codes where decided, the model's elsewhere
    whole = tmp_path / "whole.csv"
    res = run("label", "-s", FIX / "segments.csv", "-m", out, "-o", whole, "--decided", decided,
              "--codings", codings, "--skip-decided")
    assert res.exit_code == 0, res.output
    got = pd.read_csv(whole, keep_default_na=False)
    ours = got[got["segment_id"].isin(first["segment_id"])]
    assert (ours["source"] == "human").all() and (ours["coder"] == "ann").all()
    assert sorted(ours["subtheme"]) == sorted(mine["subtheme"])
    rest = got[~got["segment_id"].isin(first["segment_id"])]
    assert len(rest) and (rest["source"] == "machine").all()
    assert rest["priority"].between(0, 1).all()
    # a decisions file naming an unknown segment stops with its row
    bad = tmp_path / "decided_bad.csv"
    pd.DataFrame({"segment_id": [first["segment_id"].iloc[0], "nope:9"]}).to_csv(bad, index=False)
    res = run("train", "-s", FIX / "segments.csv", "-c", FIX / "codings.csv", "-b",
              FIX / "codebook.csv", "-o", tmp_path / "m2", "--decided", bad)
    assert res.exit_code == 1 and "decided_bad.csv:3" in res.output
    assert not (tmp_path / "m2").exists()
    # train with the decisions: only the decided segments count as read
    res = run("train", "-s", FIX / "segments.csv", "-c", codings, "-b", FIX / "codebook.csv",
              "-o", tmp_path / "m3", "--decided", decided)
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "m3" / "model_card.json").read_text())
    assert card["training_data"]["n_segments_in_scope"] == len(first)


def test_train_takes_min_support_backoff_and_scope_as_options(tmp_path):
    # issue 14: support and back-off thresholds are options of train (and project settings)
    out = tmp_path / "m"
    res = run("train", "-s", FIX / "segments.csv", "-c", FIX / "codings.csv",
              "-b", FIX / "codebook.csv", "-o", out, "--min-support", "5", "--backoff", "0.3",
              "--scope", "none")
    assert res.exit_code == 0, res.output
    settings = json.loads((out / "model.json").read_text())["params"]
    assert (settings["min_support"], settings["backoff"], settings["scope"]) == (5, 0.3, "none")
    assert "Code scope: none" in (out / "model_card.md").read_text()
    res = run("train", "-s", FIX / "segments.csv", "-b", FIX / "codebook.csv", "-o",
              tmp_path / "bad", "--scope", "everywhere")
    assert res.exit_code == 1 and "--scope must be one of" in res.output
    assert not (tmp_path / "bad").exists()
    machine = tmp_path / "all.csv"
    res = run("label", "-s", FIX / "segments.csv", "--model", out, "-o", machine,
              "--all-segments")
    assert res.exit_code == 0, res.output
    labels = pd.read_csv(machine, keep_default_na=False)
    assert (labels["best_code"] != "").all() and labels["best_probability"].between(0, 1).all()
    assert (labels["level"] == "none").any()
