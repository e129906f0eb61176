"""Hostile and unlucky command lines (issue 16): inputs are never the output, a refused
command leaves nothing behind, user strings in figures are drawn literally."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from themeassist.cli import app

FIX = Path(__file__).resolve().parents[1] / "fixtures"
runner = CliRunner()


def _refused(res) -> None:
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, SystemExit)


def test_ingest_force_never_overwrites_an_input(tmp_path):
    src = tmp_path / "transcript.csv"
    src.write_bytes((FIX / "ingest" / "transcript.csv").read_bytes())
    before = src.read_bytes()
    res = runner.invoke(app, ["ingest", str(src), "--out", str(src), "--force"])
    _refused(res)
    assert "is an input" in res.output and src.read_bytes() == before
    # Named another way (a folder holding it), still refused after expansion.
    res = runner.invoke(app, ["ingest", str(tmp_path), "--out", str(src), "--force"])
    _refused(res)
    assert src.read_bytes() == before


def test_label_force_never_overwrites_an_input(tmp_path):
    seg = tmp_path / "segments.csv"
    seg.write_bytes((FIX / "stats" / "segments.csv").read_bytes())
    before = seg.read_bytes()
    res = runner.invoke(app, ["label", "-s", str(seg), "-m", str(tmp_path / "model"),
                              "-o", str(seg), "--force", "--no-progress"])
    _refused(res)
    assert "is an input" in res.output and seg.read_bytes() == before
    res = runner.invoke(app, ["label", str(seg), "-m", str(tmp_path / "model"),
                              "-o", str(seg), "--force", "--no-progress"])
    _refused(res)
    assert seg.read_bytes() == before


def test_stats_force_never_overwrites_an_input(tmp_path):
    cod = tmp_path / "theme_counts.csv"
    cod.write_bytes((FIX / "stats" / "human.csv").read_bytes())
    res = runner.invoke(app, ["stats", "-c", str(cod), "-b", str(FIX / "stats" / "codebook.csv"),
                              "-o", str(cod), "--force"])
    assert res.exit_code in (1, 2), res.output      # refused by the option or by the guard
    assert cod.read_bytes() == (FIX / "stats" / "human.csv").read_bytes()


def test_a_refused_label_leaves_no_parts_folder(tmp_path):
    from tests.test_classify import _corpus

    from themeassist import classify, io, modelstore

    seg, cod, book, emb, cbe = _corpus(n_transcripts=3, per=12, seed=1)
    model = classify.train_model(seg, cod, book, emb, codebook_embeddings=cbe,
                                 embedding_model="another-encoder@000000000000",
                                 embedding_source="all-MiniLM-L6-v2")
    modelstore.save_model(model, tmp_path / "model")
    io.write_table(seg, tmp_path / "segments.csv")
    out = tmp_path / "machine.csv"
    res = runner.invoke(app, ["label", "-s", str(tmp_path / "segments.csv"), "-m",
                              str(tmp_path / "model"), "-o", str(out), "--no-progress"])
    _refused(res)
    assert "embedding model mismatch" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "segments.csv"]


def test_a_theme_with_dollars_and_hashes_does_not_crash_stats(tmp_path):
    name = "Funding of $5 per # of people $"
    book = pd.read_csv(FIX / "stats" / "codebook.csv", dtype=str).replace("Funding", name)
    cod = pd.read_csv(FIX / "stats" / "human.csv", dtype=str).replace("Funding", name)
    book.to_csv(tmp_path / "codebook.csv", index=False)
    cod.to_csv(tmp_path / "human.csv", index=False)
    out = tmp_path / "res"
    res = runner.invoke(app, ["stats", "-c", str(tmp_path / "human.csv"), "-b",
                              str(tmp_path / "codebook.csv"), "-s",
                              str(FIX / "stats" / "segments.csv"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    svg = (out / "figures" / "theme_frequency.svg").read_text(encoding="utf-8")
    assert "Funding of $5 per # of people $" in svg           # drawn literally
    summary = json.loads((out / "summary.json").read_text())
    assert name in summary["major"] + summary["minor"]


@pytest.mark.parametrize("command", ["discover", "train", "stats", "agree", "qda import"])
def test_every_folder_command_locks_its_output(tmp_path, command):
    import socket

    from themeassist import locking

    out = tmp_path / "out"
    lock = locking.lock_path(out)
    lock.write_text(json.dumps({"pid": 1, "host": socket.gethostname(), "start": None,
                                "command": "run other"}))  # pid 1 is alive: a live owner
    args = {"discover": ["discover", "-s", str(FIX / "stats" / "segments.csv")],
            "train": ["train", "-s", str(FIX / "stats" / "segments.csv"), "-b",
                      str(FIX / "stats" / "codebook.csv")],
            "stats": ["stats", "-c", str(FIX / "stats" / "human.csv"), "-b",
                      str(FIX / "stats" / "codebook.csv")],
            "agree": ["agree", "-c", str(FIX / "stats" / "human.csv"), "-c",
                      str(FIX / "stats" / "machine.csv")],
            "qda import": ["qda", "import", str(FIX / "stats" / "human.csv")]}[command]
    res = runner.invoke(app, [*args, "--out", str(out)])
    _refused(res)
    assert "being written by process 1" in res.output and "`run other`" in res.output
    assert not out.exists() and lock.exists()      # the other owner's lock is kept
