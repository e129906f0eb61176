"""Word transcripts: Teams exports, transcription-service layout, Name: text paragraphs."""

from pathlib import Path

import pytest

from themeassist.errors import InputError
from themeassist.ingest import read_transcript

FIX = Path(__file__).parent / "fixtures" / "ingest"


def make_docx(path: Path, paragraphs, heading=None) -> Path:
    import docx

    document = docx.Document()
    if heading:
        document.add_heading(heading, level=2)
    for p in paragraphs:
        document.add_paragraph(p)
    document.save(str(path))
    return path


def test_teams_export(tmp_path):
    p = make_docx(tmp_path / "teams.docx", [
        "Transcript", "12 March 2024",
        "Jane Smith   0:03", "What challenges have you encountered?",
        "Ann Lee   0:15", "Funding is hard.", "It never lasts",
        "Jane Smith   1:02", "Thanks."])
    df = read_transcript(p)
    assert df["speaker"].tolist() == ["Jane Smith", "Ann Lee", "Ann Lee", "Jane Smith"]
    # Each Word paragraph is a paragraph, even without a full stop.
    assert df["text"].tolist()[1:3] == ["Funding is hard.", "It never lasts"]
    assert df["start"].tolist()[:2] == [3.0, 15.0]
    assert df.attrs["skipped_lines"] == 2 and df.attrs["format"] == "docx"


def test_older_teams_export_with_timing_lines(tmp_path):
    p = make_docx(tmp_path / "old.docx", ["0:0:0.0 --> 0:0:5.2", "Jane Smith", "Welcome.",
                                          "0:0:5.2 --> 0:0:9.8", "Ann Lee", "Hello there."])
    df = read_transcript(p)
    assert df[["speaker", "text", "start", "end"]].values.tolist() == [
        ["Jane Smith", "Welcome.", 0.0, 5.2], ["Ann Lee", "Hello there.", 5.2, 9.8]]


def test_transcription_service_layout_and_heading_marker(tmp_path):
    p = make_docx(tmp_path / "service.docx", [
        "Speaker 1 [00:00:12]", "What was hard?", "Speaker 2  00:00:20", "Money, mostly.",
        "Speaker 1 [00:01:02]", "Thank you."], heading="Question 2")
    df = read_transcript(p)
    assert df["kind"].tolist()[0] == "marker" and df["marker"].iloc[0] == "2"
    speech = df[df["kind"] == "speech"]
    assert speech["speaker"].tolist() == ["Speaker 1", "Speaker 2", "Speaker 1"]
    assert speech["start"].tolist() == [12.0, 20.0, 62.0]


def test_name_colon_paragraphs(tmp_path):
    p = make_docx(tmp_path / "plain.docx", ["Moderator: Hello all.", "Ann: Hi.", "Bob: Hello."])
    assert read_transcript(p)["speaker"].tolist() == ["Moderator", "Ann", "Bob"]


def test_not_a_zip_is_an_error():
    with pytest.raises(InputError, match=r"not_a_docx\.docx: not a Word \.docx file"):
        read_transcript(FIX / "not_a_docx.docx")


def test_zip_that_is_not_a_document_is_an_error(tmp_path):
    import zipfile

    p = tmp_path / "odd.docx"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(InputError, match=r"odd\.docx: not a readable Word document"):
        read_transcript(p)


def test_docx_without_speakers_is_an_error(tmp_path):
    p = make_docx(tmp_path / "essay.docx", ["An essay about funding.", "It has no speakers."])
    with pytest.raises(InputError, match="no speaker turns found"):
        read_transcript(p)
