"""CSV/XLSX transcripts with a column mapping."""

from pathlib import Path

import pandas as pd
import pytest

from themeassist.config import IngestSettings
from themeassist.errors import InputError
from themeassist.ingest import ingest_files, read_transcript

FIX = Path(__file__).parent / "fixtures" / "ingest"


def test_csv_columns_found_by_name():
    df = read_transcript(FIX / "transcript.csv")
    assert df["transcript_id"].tolist() == ["fg1"] * 3 + ["fg2"] * 2
    assert df["text"].tolist()[:3] == ["What went well?", "The hub opened.", "People came back."]
    assert df["start"].tolist() == [0.0, 5.0, 12.5, 0.0, 3.0]
    assert df["line"].tolist() == [2, 3, 4, 6, 7]        # spreadsheet rows; blank row skipped
    assert df["turn"].tolist() == [0, 1, 1, 2, 3]


def test_transcript_column_splits_and_question_column_is_kept():
    seg, summary = ingest_files([FIX / "transcript.csv"])
    assert summary["transcript_id"].tolist() == ["fg1", "fg2"]
    assert seg["segment_id"].tolist() == ["fg1:0000", "fg1:0001", "fg1:0002",
                                          "fg2:0000", "fg2:0001"]
    assert seg["question"].tolist() == ["1", "1", "1", "2", "2"]
    assert seg["role"].tolist() == ["facilitator", "participant", "participant",
                                    "facilitator", "participant"]


def test_explicit_mapping_and_xlsx(tmp_path):
    p = tmp_path / "fg3.xlsx"
    pd.DataFrame({"Who": ["Interviewer", "Ann"], "Said": ["Hello?", "Hi."]}).to_excel(p, index=False)
    settings = IngestSettings(columns={"text": "said", "speaker": "Who"})
    seg, _ = ingest_files([p], settings=settings)
    assert seg[["speaker", "role", "text"]].values.tolist() == [
        ["Interviewer", "facilitator", "Hello?"], ["Ann", "participant", "Hi."]]
    assert seg["transcript_id"].unique().tolist() == ["fg3"]


def test_missing_text_column_is_an_error_naming_file_and_column():
    with pytest.raises(InputError, match=r"missing_text\.csv:1 column 'text'.*expected a column 'text'"):
        read_transcript(FIX / "missing_text.csv")


def test_mapped_column_absent_is_an_error():
    settings = IngestSettings(columns={"text": "Words"})
    with pytest.raises(InputError, match=r"mapped column 'Words' not in the file"):
        read_transcript(FIX / "transcript.csv", settings)


def test_bad_time_names_the_row(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("speaker,text,start\nAnn,Hi.,0\nBob,Yo.,soon\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"t\.csv:3 column 'start'"):
        read_transcript(p)


def test_table_without_any_text_is_an_error(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("speaker,text\nAnn,\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"empty\.csv:2 column 'text': transcript table has no text"):
        read_transcript(p)
