"""Plain-text transcripts: speaker forms, paragraphs, headers, encodings, malformed files."""

from pathlib import Path

import pytest

from themeassist.errors import InputError
from themeassist.ingest import read_transcript
from themeassist.ingest.txt import parse_txt

FIX = Path(__file__).parent / "fixtures" / "ingest"


def speech(df):
    return df[df["kind"] == "speech"]


def test_every_speaker_form_starts_a_turn():
    df = speech(read_transcript(FIX / "fg_forms.txt"))
    assert df["speaker"].tolist() == ["Moderator", "ANN", "Ben", "Cat", "Dan", "Dan",
                                      "Moderator", "Dan", "Dan"]
    # [00:01:02] Name: and Name (00:01:30): give the turn's start in seconds.
    assert df["start"].tolist()[2:4] == [62.0, 90.0]
    assert df["text"].iloc[3] == '"We did it together."'


def test_sentences_with_a_colon_are_not_speakers():
    df = speech(read_transcript(FIX / "fg_forms.txt"))
    texts = df["text"].tolist()
    assert "One thing: money." in texts
    assert "Honestly: everything." in texts
    assert "Funding: we never had enough." in texts
    assert not {"One thing", "Honestly", "Funding"} & set(df["speaker"])


def test_wrapped_lines_join_and_finished_lines_are_paragraphs():
    df = speech(read_transcript(FIX / "fg_forms.txt"))
    dan = df.loc[df["speaker"] == "Dan", "text"].tolist()
    assert dan[:2] == ["I came late, sorry.", "The bus was slow."]
    q = speech(read_transcript(FIX / "fg_questions.txt"))
    assert "And staff turnover in the NHS teams." in q["text"].tolist()


def test_blank_line_ends_an_unfinished_paragraph():
    df = parse_txt("Ann: First thought\n\nsecond thought\nBob: Yes.\n")
    assert df["text"].tolist() == ["First thought", "second thought", "Yes."]


def test_a_speaker_seen_once_needs_a_capitalised_text():
    df = parse_txt("Mo: Hello.\nAnn: yes, money: we never had enough.\nMo: Thanks.\n")
    assert df["speaker"].tolist() == ["Mo", "Mo", "Mo"]


def test_a_speaker_seen_often_is_a_speaker_even_lowercase_text():
    text = "Mo: hello there.\nAnn: yes.\nMo: right.\nAnn: no.\n"
    assert parse_txt(text)["speaker"].tolist() == ["Mo", "Ann", "Mo", "Ann"]


def test_header_lines_are_skipped_and_counted():
    df = read_transcript(FIX / "fg_questions.txt")
    assert df.attrs["skipped_lines"] == 2
    assert df["line"].iloc[0] == 4          # line numbers are the file's


def test_marker_line_is_a_marker_row_not_speech():
    df = read_transcript(FIX / "fg_questions.txt")
    markers = df[df["kind"] == "marker"]
    assert markers["marker"].tolist() == ["3"] and markers["line"].tolist() == [17]


def test_cp1252_and_crlf_are_read():
    df = read_transcript(FIX / "cp1252.txt")
    assert df.attrs["encoding"] == "cp1252"
    assert df["speaker"].tolist() == ["Moderator", "Zoë"]
    assert df["text"].tolist() == ["What do you think of the café?", "It’s great – really."]


def test_utf8_bom_is_dropped(tmp_path):
    p = tmp_path / "bom.txt"
    p.write_bytes("\ufeffAnn: Café.\r\n".encode("utf-8"))
    df = read_transcript(p)
    assert df["speaker"].tolist() == ["Ann"] and df.attrs["encoding"] == "utf-8-sig"


def test_no_speakers_is_an_error_naming_the_file():
    with pytest.raises(InputError, match=r"no_speakers\.txt:1: no speaker turns found"):
        read_transcript(FIX / "no_speakers.txt")


def test_undecodable_text_is_an_error():
    with pytest.raises(InputError, match=r"utf16_nobom\.txt: cannot decode"):
        read_transcript(FIX / "utf16_nobom.txt")


def test_unlabelled_lines_belong_to_the_unlabelled_speaker():
    from themeassist.config import IngestSettings

    path = FIX / "think_aloud.txt"
    default = read_transcript(path)
    # By default unlabelled lines continue the moderator's turn and the first two are a header.
    assert set(default["speaker"]) == {"MODERATOR"} and default.attrs["skipped_lines"] == 2
    df = read_transcript(path, IngestSettings(unlabelled_speaker="Participant"))
    assert df[["speaker", "text"]].values.tolist() == [
        ["Participant", "Okay, so I am reading the home tab now."],
        ["Participant", "It looks clear to me."],
        ["MODERATOR", "Could you read the task aloud, please?"],
        ["Participant", "Sure. Task two, log in with the credentials from the email."],
        ["Participant", "Done."]]
    assert df["turn"].tolist() == [0, 0, 1, 2, 2] and df.attrs["skipped_lines"] == 0


def test_a_label_in_brackets_is_not_part_of_the_name(tmp_path):
    f = tmp_path / "fg05.txt"
    f.write_text("Focus group 5\n"
                 "Ruth Okafor (Facilitator): Welcome everyone. Let's start.\n"
                 "Ann Lee (Guest): hi, I'm Ann, I work on the ward.\n"
                 "Sam (she/her): Hello. I'm Sam.\n"
                 "Ruth Okafor (Facilitator): Thank you both.\n"
                 "Ann Lee (Guest): One more thing (really): we need time.\n"
                 "Notes (draft): this stays Ann's text.\n", encoding="utf-8")
    df = speech(read_transcript(f))
    assert df["speaker"].tolist() == ["Ruth Okafor", "Ann Lee", "Sam", "Ruth Okafor",
                                      "Ann Lee", "Ann Lee"]
    # The transcript's own "(Facilitator)" label gives the role, with no configuration.
    assert df["role"].tolist() == ["facilitator", "", "", "facilitator", "", ""]
    assert df["text"].tolist()[4:] == ["One more thing (really): we need time.",
                                       "Notes (draft): this stays Ann's text."]


def test_labelled_facilitator_is_a_facilitator_in_the_segments(tmp_path):
    from themeassist.ingest import ingest_files

    f = tmp_path / "fg06.txt"
    f.write_text("Jo Park (Moderator): What worked well?\nAnn (Guest): The rota.\n",
                 encoding="utf-8")
    segments, _ = ingest_files([f])
    assert segments[["speaker", "role"]].values.tolist() == [
        ["Jo Park", "facilitator"], ["Ann", "participant"]]
