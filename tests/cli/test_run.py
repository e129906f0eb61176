"""``themeassist run``: a project file end to end, and its failures before any work."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from themeassist import io
from themeassist.cli import app

runner = CliRunner()
SAMPLE = io.data_path("sample")


def _project(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "project.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_unknown_key_fails_before_any_work(tmp_path):
    p = _project(tmp_path, f"transcripts: [{SAMPLE / 'transcripts' / 'fg01.txt'}]\n"
                           "discover:\n  min_clustr_size: 5\n")
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1
    assert "project.yaml: discover.min_clustr_size: Extra inputs are not permitted" in res.output
    assert not (tmp_path / "out").exists()


def test_missing_file_is_named_before_any_work(tmp_path):
    p = _project(tmp_path, f"transcripts: [{SAMPLE / 'transcripts' / 'fg01.txt'}]\n"
                           "codings: [coding/alice.csv]\n")
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1
    assert "codings.0: file not found" in res.output and "alice.csv" in res.output
    assert not (tmp_path / "out").exists()


def test_refuses_a_foreign_non_empty_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.docx").write_text("mine")
    p = _project(tmp_path, f"transcripts: [{SAMPLE / 'transcripts' / 'fg01.txt'}]\n")
    res = runner.invoke(app, ["run", str(p), "--out", str(out)])
    assert res.exit_code == 1 and "--force" in res.output
    assert [f.name for f in out.iterdir()] == ["thesis.docx"]


def test_without_human_coding_a_zero_shot_model_labels_and_agreement_is_skipped(tmp_path):
    p = _project(tmp_path, f"""
name: no coding yet
transcripts: [{SAMPLE / 'transcripts' / 'fg01.txt'}, {SAMPLE / 'transcripts' / 'fg04.txt'}]
questions: {SAMPLE / 'questions.yaml'}
discover:
  runs: 2
""")
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(p), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "zero-shot" in res.output
    assert "agree: skipped: no human coding" in res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["agree"].startswith("skipped")
    card = json.loads((out / "model" / "model_card.json").read_text())
    assert card  # a model was saved and described
    assert (out / "machine.csv").is_file() and (out / "report.html").is_file()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Not run: no human coding" in page


def _digests(folder: Path) -> dict[str, str]:
    import hashlib

    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in ("manifest.json", ".stages.json")}


def test_issue17_a_rerun_reuses_what_did_not_change_and_reruns_what_did(tmp_path):
    # A no-change re-run enters no stage (it neither embeds nor loads a model: no
    # "embed: N segments" line); a changed setting re-runs its stage and those after it;
    # a changed transcript re-runs everything from ingest on.
    import shutil

    fg = tmp_path / "fg01.txt"
    shutil.copy(SAMPLE / "transcripts" / "fg01.txt", fg)
    text = f"""
name: rerun
transcripts: [{fg}]
questions: {SAMPLE / 'questions.yaml'}
discover:
  runs: 2
"""
    p = _project(tmp_path, text)
    out = tmp_path / "out"

    def run() -> str:
        res = runner.invoke(app, ["run", str(p), "--out", str(out)])
        assert res.exit_code == 0, res.output
        return res.output

    first = run()
    assert "embed: " in first and "segments with" in first
    before = _digests(out)
    again = run()
    for stage in ("ingest", "embed", "discover", "train", "label", "stats", "report"):
        assert f"{stage}: reused" in again, (stage, again)
    assert "segments with" not in again.split("embed: reused")[0]
    assert _digests(out) == before

    p.write_text(text + "stats:\n  dedup_scope: transcript\n", encoding="utf-8")
    changed = run()
    assert "discover: reused" in changed and "train: reused" in changed
    assert "stats: reused" not in changed and "report: reused" not in changed
    assert json.loads((out / "manifest.json").read_text())["settings"]["stats"][
        "dedup_scope"] == "transcript"

    fg.write_text(fg.read_text(encoding="utf-8").replace("funding", "money", 1),
                  encoding="utf-8")
    edited = run()
    assert "ingest: reused" not in edited and "discover: reused" not in edited
