"""Taguette import: project database (UTF-8 byte offsets into HTML text) and highlights CSV."""

from __future__ import annotations


import pandas as pd
import pytest

from themeassist.errors import InputError
from themeassist.qda import import_file
from themeassist.qda.taguette import html_text

try:
    from tests.conftest import FIXTURES, load_file, shared
except ImportError:  # pragma: no cover
    from conftest import FIXTURES, load_file, shared

build = load_file("qda_build", FIXTURES / "qda" / "build.py")


def _codings(res):
    c = res["codings"]
    return sorted(zip(c.segment_id, c.coder, c.theme, c.subtheme))


def test_html_text_and_paragraphs():
    text, spans = html_text(build.TAGUETTE_DOC)
    assert [text[a:b] for a, b in spans] == [
        "1 Read the \u2018Home\u2019 tab.", "It is clear & simple. I like it \U0001F600 a lot.",
        "Task 2", "The query is confusing."]


def test_db_highlights_map_to_paragraphs(tmp_path):
    res = import_file(build.taguette_db(tmp_path / "p.sqlite3"))
    seg = res["segments"]
    assert seg["segment_id"].tolist() == [f"P1_GMT2021:000{i}" for i in range(4)]
    # byte offsets after a curly quote (3 bytes) and an emoji (4 bytes) still land exactly
    assert _codings(res) == sorted([
        ("P1_GMT2021:0001", "admin", "Home tab useful", "Home tab useful"),
        ("P1_GMT2021:0001", "admin", "Query complex", "Query complex"),
        ("P1_GMT2021:0003", "admin", "Query complex", "Query complex"),
    ])
    rep = res["report"]
    assert (rep.status == "skipped").sum() == 1
    assert rep.loc[rep.status == "skipped", "reason"].item() == "highlight has no tag"
    # highlights 1 and 2 both carry "Home tab useful" on one paragraph: counted once, reported
    assert rep["reason"].str.contains("already had this code").sum() == 1
    assert res["summary"]["db_highlight_tags"] == 4


def test_db_selection_unit_gives_highlight_segments(tmp_path):
    res = import_file(build.taguette_db(tmp_path / "p.sqlite3"), segment_unit="selection")
    assert res["segments"]["text"].tolist() == [
        "It is clear & simple.", "I like it \U0001F600 a lot", "The query is confusing."]
    assert len(res["codings"]) == 4


def test_highlights_csv(tmp_path):
    p = tmp_path / "tags.csv"
    pd.DataFrame({"id": [7, 7, 3], "document": ["P1.odt", "P1.odt", "P1.odt"],
                  "tag": ["A", "B", "A"], "content": ["second", "second", "first"]}).to_csv(p, index=False)
    res = import_file(p, coder="alice")
    assert res["segments"]["text"].tolist() == ["first", "second"]
    assert _codings(res) == [("P1:0000", "alice", "A", "A"), ("P1:0001", "alice", "A", "A"),
                             ("P1:0001", "alice", "B", "B")]


def test_highlights_csv_errors_name_the_row(tmp_path):
    p = tmp_path / "tags.csv"
    pd.DataFrame({"id": [1, 1], "document": ["d", "d"], "tag": ["A", "B"],
                  "content": ["one", "two"]}).to_csv(p, index=False)
    with pytest.raises(InputError, match="two different texts") as err:
        import_file(p)
    assert err.value.row == 2 and err.value.column == "content"
    q = tmp_path / "other.csv"
    q.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a Taguette highlights export"):
        import_file(q)


def test_not_a_database(tmp_path):
    p = tmp_path / "x.sqlite3"
    p.write_text("hello")
    with pytest.raises(InputError, match="not a Taguette database"):
        import_file(p)


def test_usability_project_database_counts():
    # PROVENANCE (usability-think-aloud): 17 documents, 1,794 highlights, 1,930
    # highlight-tag links, 22 tags, one user (admin).
    res = import_file(shared("usability-think-aloud", "SERDIF_P2_ThematicAnalysis.sqlite3"))
    s = res["summary"]
    assert (s["db_documents"], s["db_highlights"], s["db_highlight_tags"], s["db_tags"]) == \
        (17, 1794, 1930, 22)
    assert s["sources"] == 17 and s["codebook_rows"] == 22 and s["coders"] == ["admin"]
    assert s["coded_selections"] == 1794
    # every link accounted for: 1,930 imported, plus the one highlight without a tag
    assert s["imported"] == 1930 and s["skip_reasons"] == {"highlight has no tag": 1}


def test_usability_highlights_csv_matches_database():
    csv = import_file(shared("usability-think-aloud", "tags", "all_tags_20220303.csv"))
    s = csv["summary"]
    assert (s["csv_rows"], s["csv_highlights"], s["csv_tags"]) == (1930, 1793, 22)
    assert s["imported"] == 1930 and len(csv["codings"]) == 1930
    db = import_file(shared("usability-think-aloud", "SERDIF_P2_ThematicAnalysis.sqlite3"),
                     segment_unit="selection")
    # same tags applied the same number of times in both exports
    assert (csv["codings"]["subtheme"].value_counts().sort_index().tolist()
            == db["codings"]["subtheme"].value_counts().sort_index().tolist())
