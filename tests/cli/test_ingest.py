"""`themeassist ingest` through the command line: outputs, summary, messages, nothing written
on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from themeassist.cli import app

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
runner = CliRunner()


def ingest(*args):
    return runner.invoke(app, ["ingest", *map(str, args)])


def test_writes_segments_manifest_and_prints_summary(tmp_path):
    out = tmp_path / "segments.csv"
    r = ingest(FIX / "fg_questions.txt", FIX / "teams.vtt", "--questions",
               FIX / "questions.yaml", "--out", out)
    assert r.exit_code == 0, r.output
    seg = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(seg) == 17 and seg["segment_id"].iloc[0] == "fg_questions:0000"
    manifest = json.loads((tmp_path / "segments.csv.manifest.json").read_text())
    assert manifest["command"] == "ingest" and manifest["segments"] == 17
    assert [i["path"] for i in manifest["inputs"]["transcripts"]] == [
        str(FIX / "fg_questions.txt"), str(FIX / "teams.vtt")]
    assert "fg_questions" in r.stdout and "teams" in r.stdout
    assert "question '4' was never found" in r.stderr
    assert "wrote 17 segments from 2 transcripts" in r.stdout


def test_same_inputs_same_bytes(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for out in (a, b):
        r = ingest(FIX / "fg_*.txt", FIX / "teams.vtt", FIX / "transcript.csv", "--out", out,
                   "--pseudonymise", "--questions", FIX / "questions.yaml")
        assert r.exit_code == 0, r.output
    assert a.read_bytes() == b.read_bytes()


def test_folder_input_reads_every_supported_file(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("zoom.vtt", "fg_forms.txt", "questions.yaml"):
        (folder / name).write_bytes((FIX / name).read_bytes())
    r = ingest(folder, "--out", tmp_path / "s.csv")
    assert r.exit_code == 0, r.output
    assert pd.read_csv(tmp_path / "s.csv")["transcript_id"].unique().tolist() == ["fg_forms", "zoom"]


def test_bad_input_exits_1_names_file_and_line_and_writes_nothing(tmp_path):
    out = tmp_path / "segments.csv"
    r = ingest(FIX / "teams.vtt", FIX / "broken.vtt", "--out", out)
    assert r.exit_code == 1
    assert "broken.vtt:8: broken cue timestamp" in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []


def test_missing_text_column_and_not_a_docx(tmp_path):
    out = tmp_path / "s.csv"
    r = ingest(FIX / "missing_text.csv", "--out", out)
    assert r.exit_code == 1 and "missing_text.csv:1 column 'text'" in r.stderr
    r = ingest(FIX / "not_a_docx.docx", "--out", out)
    assert r.exit_code == 1 and "not a Word .docx file" in r.stderr
    assert not out.exists()


def test_existing_output_is_refused_without_force(tmp_path):
    out = tmp_path / "segments.csv"
    out.write_text("keep me", encoding="utf-8")
    r = ingest(FIX / "zoom.vtt", "--out", out)
    assert r.exit_code == 1 and "use --force" in r.stderr
    assert out.read_text() == "keep me"
    assert ingest(FIX / "zoom.vtt", "--out", out, "--force").exit_code == 0
    assert out.read_text().startswith("segment_id,")


def test_pseudonymise_and_name_map(tmp_path):
    out, names = tmp_path / "s.parquet", tmp_path / "names.csv"
    r = ingest(FIX / "teams.vtt", FIX / "zoom.vtt", "--out", out, "--pseudonymise",
               "--name-map", names, "--facilitator", "Moderator")
    assert r.exit_code == 0, r.output
    seg = pd.read_parquet(out)
    assert seg["speaker"].tolist() == ["F01", "P01", "P02", "F02", "P03", "F02"]
    assert pd.read_csv(names)["pseudonym"].tolist() == ["F01", "P01", "P02", "F02", "P03"]
    manifest = (tmp_path / "s.parquet.manifest.json").read_text()
    assert "Moderator" not in manifest and "Ann Lee" not in manifest


def test_name_map_needs_pseudonymise_and_nothing_is_written(tmp_path):
    r = ingest(FIX / "zoom.vtt", "--out", tmp_path / "s.csv", "--name-map", tmp_path / "n.csv")
    assert r.exit_code == 1 and "--name-map needs --pseudonymise" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_column_mapping_option(tmp_path):
    src = tmp_path / "fg.csv"
    src.write_text("Who,Said\nInterviewer,Hello?\nAnn,Hi.\n", encoding="utf-8")
    r = ingest(src, "--column", "text=Said", "--column", "speaker=Who", "-o", tmp_path / "o.csv")
    assert r.exit_code == 0, r.output
    assert pd.read_csv(tmp_path / "o.csv")["role"].tolist() == ["facilitator", "participant"]
    r = ingest(src, "--column", "text", "-o", tmp_path / "p.csv")
    assert r.exit_code == 1 and "expected OURS=THEIRS" in r.stderr


def test_unknown_extension_and_help_list_the_registry(tmp_path):
    from themeassist.cli.ingest import SUFFIXES
    from themeassist.ingest import READERS

    assert tuple(sorted(READERS)) == SUFFIXES
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    r = ingest(tmp_path / "notes.pdf", "--out", tmp_path / "s.csv")
    assert r.exit_code == 1 and all(s in r.stderr for s in SUFFIXES)
    help_text = runner.invoke(app, ["ingest", "--help"]).output
    assert "Example: themeassist ingest" in help_text and ".vtt" in help_text


def test_unlabelled_speaker_option(tmp_path):
    out = tmp_path / "s.csv"
    r = ingest(FIX / "think_aloud.txt", "--unlabelled-speaker", "Participant", "-o", out)
    assert r.exit_code == 0, r.output
    seg = pd.read_csv(out)
    assert seg["speaker"].tolist() == ["Participant", "Participant", "MODERATOR",
                                       "Participant", "Participant"]
    assert seg["role"].tolist()[2] == "facilitator"
