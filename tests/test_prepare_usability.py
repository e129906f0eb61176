"""scripts/prepare_usability.py: transcripts parsed, highlights aligned, tables valid.

The small fixture under ``tests/fixtures/usability/`` is written for these tests (same
layout as the study folder, invented text). The real study (``../shared/data/
usability-think-aloud``, GPL-3.0) is only read, and those tests skip when it is absent.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import pandas as pd
import pytest

from themeassist.tables import validate_codebook, validate_codings, validate_segments

try:
    from conftest import FIXTURES, load_script, shared
except ImportError:  # pytest --import-mode=importlib
    from tests.conftest import FIXTURES, load_script, shared

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "prepare_usability.py"
FIXTURE = FIXTURES / "usability"


@pytest.fixture(scope="module")
def pu():
    return load_script("prepare_usability")


def test_docstring_examples(pu):
    result = doctest.testmod(pu, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_parser_keeps_participant_numbers_out_of_the_prompts(pu):
    lines = (FIXTURE / "transcripts_txt" / "P1_GMT20240101.txt").read_text("utf-8").split("\n")
    df = pu.parse_transcript(lines, "P1")
    prompts = df.loc[df["kind"] == "prompt", "prompt"].tolist()
    assert prompts == ["1", "1.a", "2", "2.a", "2.b", "3"]
    said = df.set_index("position")
    assert said.loc[9, "kind"] == "utterance" and said.loc[9, "question"] == "2"  # "3 data sets"
    assert said.loc[11, "kind"] == "utterance"                                     # "b.ii ..."
    assert said.loc[4, ["kind", "speaker", "role", "text"]].tolist() == [
        "moderator", "MODERATOR", "facilitator", "Please go on to the next task."]
    assert said.loc[8, ["kind", "speaker", "role"]].tolist() == ["note", "", "participant"]
    assert said.loc[16, ["question", "prompt"]].tolist() == ["3", "3"]


def test_alignment_exact_fuzzy_none_and_repeats(pu):
    pars = ["Okay.", "Fine, okay.", "The lag is not clear.", "Okay.", "I would add a plot.",
            "And a histogram too."]
    got = pu.align_highlights(pars, [
        "okay.",                                      # first standalone "Okay."
        "Okay.",                                      # an identical highlight: the other one
        "the lag isn't clear",                        # small difference -> fuzzy
        "I would add a plot. And a histogram too.",   # spans two paragraphs
        "Nothing like this was ever said by anyone.",
    ])
    assert [a["method"] for a in got] == ["exact", "exact", "fuzzy", "exact", "none"]
    assert [a["paragraphs"] for a in got] == [[0], [3], [2], [4, 5], []]
    assert got[0]["occurrences"] == 3


def test_fixture_end_to_end(pu, tmp_path):
    out = tmp_path / "usability"
    assert pu.main(["--data", str(FIXTURE), "--out", str(out)]) == 0
    seg = pd.read_csv(out / "segments.csv", keep_default_na=False)
    book = pd.read_csv(out / "codebook.csv", keep_default_na=False)
    cod = pd.read_csv(out / "codings.csv", keep_default_na=False)
    al = pd.read_csv(out / "alignment.csv", keep_default_na=False)
    seg = validate_segments(seg)
    book = validate_codebook(book)
    validate_codings(cod, book, seg)
    # Prompts are not segments; positions are the file's line numbers.
    assert "2.b Did the search work?" not in set(seg["text"])
    assert seg.set_index("segment_id").loc["P1:0013", "text"] == "It crashed once, then it worked."
    assert book["description"].iloc[0] == "The start page helps the user."
    assert (book["theme"] == book["subtheme"]).all() and (book["valence"] == "").all()
    methods = al.set_index("highlight_id")["method"].to_dict()
    assert methods == {10: "exact", 11: "exact", 12: "exact", 13: "exact", 15: "fuzzy",
                       16: "none", 17: "exact", 18: "exact"}
    row12 = al.set_index("highlight_id").loc[12]
    assert row12["segment_ids"] == "P1:0013" and str(row12["prompt_lines"]) == "12"
    # Highlight 13 carries two codes, both on the same segment.
    assert sorted(cod.loc[cod["segment_id"] == "P1:0016", "theme"]) == [
        "Overall positive experience", "Wording not clear"]
    assert (cod["coder"] == "human").all()
    assert set(cod["valence_interpretation"]) <= {"success", "challenge", ""}
    summary = pd.read_json(out / "summary.json", typ="series")
    assert (summary["aligned_exact"], summary["aligned_fuzzy"], summary["not_aligned"]) == (6, 1, 1)
    # Second run refuses to overwrite, --force overwrites.
    assert pu.main(["--data", str(FIXTURE), "--out", str(out)]) == 1
    assert pu.main(["--data", str(FIXTURE), "--out", str(out), "--force"]) == 0


def test_refuses_to_write_inside_the_repository(pu, tmp_path):
    assert pu.main(["--data", str(FIXTURE), "--out", str(SCRIPT.parents[1] / "usability")]) == 1
    assert not (SCRIPT.parents[1] / "usability").exists()


def test_real_study_counts(pu):
    data = shared("usability-think-aloud")
    segments, book, codings, alignment, summary = pu.prepare(data)
    # PROVENANCE.md: 17 transcripts, 22 final codes, 1,930 tag rows = 1,793 highlights.
    assert summary["transcripts"] == 17 and len(book) == 22 and summary["codes"] == 22
    assert summary["tag_rows"] == 1930 and summary["highlights"] == 1793
    # Every transcript follows the same protocol: 9 tasks, 41 numbered prompts.
    assert summary["questions"] == 9
    assert summary["prompts_per_transcript"] == {"min": 41, "max": 41}
    assert summary["segments_before_first_prompt"] == 6           # P6 starts before task 1
    # Issue 9 reports 2,329 participant segments; ours counts 2,168 utterances plus 165
    # transcriber notes (role participant, as the brief asks) = 2,333.
    assert summary["participant_segments"] == 2333
    assert summary["participant_utterances"] == 2168 and summary["transcriber_notes"] == 165
    assert summary["facilitator_segments"] == 187
    # All highlights are found verbatim after normalisation; none lands on a prompt only.
    assert summary["aligned_exact"] == 1793 and summary["not_aligned"] == 0
    assert summary["aligned_to_prompt_only"] == 0
    assert summary["coded_segments"] == 2093 and summary["codings"] == 2435
    assert summary["multi_segment_highlights"] == summary["multi_line_highlights"] == 320
    # Every tag row's code is on every segment its highlight was aligned to.
    validate_codings(codings, book, segments)
    assert set(codings["theme"]) == set(book["theme"])
    have = set(zip(codings["segment_id"], codings["theme"]))
    tags = pd.read_csv(data / "tags" / "all_tags_20220303.csv")
    where = alignment.set_index("highlight_id")["segment_ids"].str.split()
    missing = [(h, c) for h, c in zip(tags["id"], tags["tag"])
               if not all((sid, c) in have for sid in where[h])]
    assert missing == []


def test_highlight_units_split_a_coded_line(pu):
    par = pu.parse_transcript([
        "1 Open the page.",
        "Okay, so. The plot is nice. But it is slow to load, really slow.",
        "MODERATOR: Please read the next part. Take your time.",
        "Fine.",
        "I would add a plot. And",
        "a histogram too.",
    ], "P3")
    highlights = ["The plot is nice.", "Take your time.", "I would add a plot. And a histogram too."]
    al = pu.align_highlights(par["raw"].tolist(), highlights)
    units = pu.highlight_units(par, al, [1, 2, 3])
    assert units[["row", "text", "highlight"]].values.tolist() == [
        [1, "The plot is nice.", 1],
        [1, "But it is slow to load, really slow.", None],   # the rest of the coded line
        [2, "Please read the next part.", None],             # prefix dropped
        [2, "Take your time.", 2],
        [3, "Fine.", None],                                  # untouched line, however short
        [4, "I would add a plot. And a histogram too.", 3],  # one unit over two lines
    ]
    # "Okay, so." (2 words) is too short to stand alone; with min_gap_words=2 it is kept.
    assert "Okay, so." in pu.highlight_units(par, al, [1, 2, 3], min_gap_words=2)["text"].tolist()


def test_fixture_highlight_units(pu, tmp_path):
    out = tmp_path / "hl"
    assert pu.main(["--data", str(FIXTURE), "--out", str(out), "--unit", "highlight"]) == 0
    seg = validate_segments(pd.read_csv(out / "segments.csv", keep_default_na=False))
    book = validate_codebook(pd.read_csv(out / "codebook.csv", keep_default_na=False))
    cod = validate_codings(pd.read_csv(out / "codings.csv", keep_default_na=False), book, seg)
    by_id = seg.set_index("segment_id")
    # Positions are reading order; "line" points back to the transcript file.
    assert by_id["position"].tolist()[:3] == [1, 2, 3]
    # Highlight 12 covered a prompt and an utterance: the unit keeps the utterance only.
    unit12 = pd.read_csv(out / "alignment.csv").set_index("highlight_id").loc[12, "segment_ids"]
    assert by_id.loc[unit12, "text"] == "It crashed once, then it worked."
    assert by_id.loc[unit12, "line"] == 13
    # Seven highlights aligned (one not found) -> seven coded units, codes in file order.
    assert cod["segment_id"].nunique() == 7
    unit13 = pd.read_csv(out / "alignment.csv").set_index("highlight_id").loc[13, "segment_ids"]
    assert cod.loc[cod["segment_id"] == unit13, "theme"].tolist() == [
        "Overall positive experience", "Wording not clear"]
    summary = pd.read_json(out / "summary.json", typ="series")
    assert summary["unit"] == "highlight" and summary["coded_segments"] == 7


def test_real_study_highlight_units(pu):
    data = shared("usability-think-aloud")
    segments, book, codings, alignment, summary = pu.prepare(data, unit="highlight")
    # One unit per highlight (PROVENANCE.md: 1,793 highlights, 1,930 tag rows), nothing
    # merged or lost; the rest is the text no highlight covers.
    assert summary["coded_segments"] == 1793 and summary["codings"] == 1930
    assert (alignment["segment_ids"].str.split().str.len() == 1).all()
    assert alignment["segment_ids"].is_unique
    assert summary["multi_line_highlights"] == 320       # as many as with --unit paragraph
    hist = summary["codes_per_coded_segment"]["histogram"]
    assert sum(int(k) * v for k, v in hist.items()) == 1930
    assert summary["segments"] > 1793
    # The first code of each unit is the tags file's first row for that highlight.
    tags = pd.read_csv(data / "tags" / "all_tags_20220303.csv")
    first_tag = tags.drop_duplicates("id").set_index("id")["tag"]
    unit = alignment.set_index("highlight_id")["segment_ids"]
    first_code = codings.drop_duplicates("segment_id").set_index("segment_id")["theme"]
    assert all(first_code[unit[h]] == t for h, t in first_tag.items())
