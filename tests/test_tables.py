import pandas as pd
import pytest

from themeassist import tables
from themeassist.errors import InputError


def test_segments_duplicate_id_names_row(tiny_segments):
    bad = pd.concat([tiny_segments, tiny_segments.iloc[[1]]], ignore_index=True)
    with pytest.raises(InputError) as e:
        tables.validate_segments(bad, path="seg.csv")
    assert e.value.row == len(bad) + 1 and e.value.column == "segment_id"
    assert str(e.value).startswith("seg.csv:8 column 'segment_id': duplicate segment_id")


def test_segments_missing_text_column():
    with pytest.raises(InputError, match="lacks required column.*'text'"):
        tables.validate_segments(pd.DataFrame({"segment_id": ["a"], "transcript_id": ["t"],
                                               "position": [0]}), path="x.csv")


def test_segments_empty_text(tiny_segments):
    bad = tiny_segments.assign(text=["a", "", "c", "d", "e", "f"])
    with pytest.raises(InputError, match=r"x.csv:3 column 'text': empty text"):
        tables.validate_segments(bad, path="x.csv")


def test_validate_does_not_modify_input(tiny_segments):
    before = tiny_segments.copy()
    tables.validate_segments(tiny_segments.assign(position=tiny_segments.position.astype(str)))
    pd.testing.assert_frame_equal(before, tiny_segments)


def test_codings_unknown_theme_names_row(tiny_codebook, tiny_segments):
    codings = pd.DataFrame({"segment_id": ["fg1:0001", "fg1:0002"], "coder": ["A", "A"],
                            "theme": ["Funding", "Fundng"], "valence": ["success", "success"],
                            "subtheme": ["Grant secured", "Grant secured"]})
    with pytest.raises(InputError) as e:
        tables.validate_codings(codings, tiny_codebook, tiny_segments, path="codings.csv")
    assert str(e.value) == ("codings.csv:3 column 'theme': theme not in the codebook "
                            "(expected one of 2 themes, got 'Fundng')")


def test_codings_unknown_segment(tiny_codebook, tiny_segments):
    codings = pd.DataFrame({"segment_id": ["fg9:0001"], "coder": ["A"], "theme": ["Funding"],
                            "valence": ["success"], "subtheme": ["Grant secured"]})
    with pytest.raises(InputError, match="segment not in the corpus.*fg9:0001"):
        tables.validate_codings(codings, tiny_codebook, tiny_segments, path="c.csv")


def test_codings_fill_unambiguous_valence(tiny_codebook):
    codings = pd.DataFrame({"segment_id": ["fg1:0001"], "coder": ["A"], "theme": ["Funding"],
                            "subtheme": ["Grant secured"]})
    out = tables.validate_codings(codings, tiny_codebook)
    assert out["valence"].tolist() == ["success"]


def test_codebook_same_subtheme_under_two_themes_is_two_codes():
    cb = pd.DataFrame({"theme": ["A", "B"], "valence": ["success", "success"],
                       "subtheme": ["Building on established programmes"] * 2})
    assert len(tables.validate_codebook(cb)) == 2


def test_codebook_duplicate_triple_refused():
    cb = pd.DataFrame({"theme": ["A", "A"], "valence": ["success", "Success"], "subtheme": ["x", "x"]})
    with pytest.raises(InputError, match="cb.csv:3.*duplicate code"):
        tables.validate_codebook(cb, path="cb.csv")


def test_codebook_bad_valence():
    cb = pd.DataFrame({"theme": ["A"], "valence": ["good"], "subtheme": ["x"]})
    with pytest.raises(InputError, match="unknown valence"):
        tables.validate_codebook(cb)


def test_decisions_name_the_row_of_an_unknown_or_repeated_segment_issue13():
    segs = pd.DataFrame({"segment_id": ["a:0", "a:1"], "transcript_id": "a",
                         "position": [0, 1], "text": ["x", "y"]})
    ok = tables.validate_decisions(pd.DataFrame({"segment_id": ["a:1"], "coder": ["ann"]}), segs)
    assert ok["segment_id"].tolist() == ["a:1"]
    with pytest.raises(InputError, match=r"d.csv:3 column 'segment_id': segment not in the corpus"):
        tables.validate_decisions(pd.DataFrame({"segment_id": ["a:0", "b:9"]}), segs, path="d.csv")
    with pytest.raises(InputError, match="decided twice"):
        tables.validate_decisions(pd.DataFrame({"segment_id": ["a:0", "a:0"], "coder": "ann"}))
    # the same segment decided by two coders is two decisions
    two = tables.validate_decisions(pd.DataFrame({"segment_id": ["a:0", "a:0"],
                                                  "coder": ["ann", "bo"]}))
    assert len(two) == 2
