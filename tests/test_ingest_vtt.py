"""WebVTT from Teams and Zoom."""

from pathlib import Path

import pytest

from themeassist.errors import InputError
from themeassist.ingest import read_transcript
from themeassist.ingest.vtt import parse_vtt

FIX = Path(__file__).parent / "fixtures" / "ingest"


def test_teams_voice_tags_merge_consecutive_cues():
    # BOM, CRLF, STYLE and NOTE blocks, cue ids, hour-less times, <v.loud>, entities, <i>.
    df = read_transcript(FIX / "teams.vtt")
    assert df.attrs["encoding"] == "utf-8-sig"
    assert df["speaker"].tolist() == ["Moderator", "Ann Lee", "Ben"]
    assert df["text"].tolist()[1:] == ["Funding is the big one. It never lasts more than a year.",
                                       "Same & worse for us."]
    assert df["start"].tolist() == [1.0, 5.0, 3723.0]
    assert df["end"].tolist() == [4.5, 10.25, 3725.0]


def test_zoom_name_prefix_in_cues():
    df = read_transcript(FIX / "zoom.vtt")
    assert df["speaker"].tolist() == ["Facilitator", "Jo Smith", "Facilitator"]
    # A wrapped second line stays with its cue's speaker; "One thing:" is not a speaker.
    assert df["text"].iloc[1] == ("Thanks for having us. One thing: we need money "
                                  "for the next year.")
    assert (df["start"].iloc[1], df["end"].iloc[1]) == (3.5, 8.0)


def test_broken_timestamp_names_file_and_line():
    with pytest.raises(InputError, match=r"broken\.vtt:8: broken cue timestamp"):
        read_transcript(FIX / "broken.vtt")


def test_cue_without_timing_line_names_its_line():
    text = "WEBVTT\n\n1\n00:01.000 --> 00:02.000\n<v A>Hi.\n\njust some text\n"
    with pytest.raises(InputError, match=r"^7: cue without a timing line"):
        parse_vtt(text)


def test_not_webvtt_and_no_speakers_are_errors():
    with pytest.raises(InputError, match="not a WebVTT file"):
        parse_vtt("1\n00:01.000 --> 00:02.000\nHi.\n")
    with pytest.raises(InputError, match="no speakers"):
        parse_vtt("WEBVTT\n\n00:01.000 --> 00:02.000\njust captions\n")


def test_voice_without_closing_tag_and_speaker_change_inside_a_cue():
    text = ("WEBVTT\n\n00:01.000 --> 00:03.000\n<v Ann>Yes.\n<v Bob>No.</v>\n\n"
            "00:03.000 --> 00:04.000\n<v Bob>Really not.\n")
    df = parse_vtt(text)
    assert df[["speaker", "text"]].values.tolist() == [["Ann", "Yes."],
                                                       ["Bob", "No. Really not."]]
    assert df["end"].tolist() == [3.0, 4.0]
