"""REFI-QDA import and export (issue 7): quirks of real exports, offsets, round trip, schemas."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from themeassist.errors import InputError
from themeassist.qda import core, import_file, refi
from themeassist.tables import validate_codebook, validate_codings, validate_segments

try:
    from tests.conftest import FIXTURES, load_file, shared
except ImportError:  # pragma: no cover
    from conftest import FIXTURES, load_file, shared

build = load_file("qda_build", FIXTURES / "qda" / "build.py")


def _write(tmp_path, data: bytes, name="quirks.qdpx") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _triples(df):
    return sorted(zip(df["segment_id"], df["coder"], df["theme"], df["valence"], df["subtheme"]))


EXPECTED_CODINGS = sorted([
    ("fg1:0000", "Ann", "Funding", "success", "Grant secured"),
    ("fg1:0001", "Bob", "Funding", "challenge", "Short-term funding"),
    ("fg1:0001", "Bob", "Wellbeing", "", "Peer support"),
    ("fg1:0002", "Bob", "Wellbeing", "", "Peer support"),
    ("fg1:0002", "Ann", "Wellbeing", "", ""),
    ("fg2:0001", "Ann", "Wellbeing", "", "Peer support > Groups"),
    ("fg3:0000", "Bob", "Misc", "", "Misc"),
])


@pytest.fixture
def quirks(tmp_path):
    return import_file(_write(tmp_path, build.qdpx_bytes()))


def test_quirks_segments_are_paragraphs_nfc_without_bom_or_cr(quirks):
    seg = quirks["segments"]
    assert seg["segment_id"].tolist() == ["fg1:0000", "fg1:0001", "fg1:0002",
                                          "fg2:0000", "fg2:0001", "fg3:0000"]
    texts = dict(zip(seg["segment_id"], seg["text"]))
    assert texts["fg1:0000"] == "Ann: We finally got a grant \U0001F389 for three years."
    # combining e + U+0301 becomes the precomposed é (NFC); no CR, no BOM
    assert texts["fg1:0001"] == "Bob: The caf\u00e9 closed; funding \U0001F44D\U0001F3FD lasts a year."
    assert not any("\r" in t or "\ufeff" in t for t in seg["text"])


def test_quirks_codes_map_to_theme_valence_subtheme(quirks):
    book = quirks["codebook"]
    assert list(zip(book.theme, book.valence, book.subtheme)) == build.EXPECTED_CODEBOOK
    assert book.loc[book.subtheme == "Short-term funding", "description"].item() == \
        "Grants that end too soon"


def test_quirks_codings_every_selection_accounted_for(quirks):
    assert _triples(quirks["codings"]) == EXPECTED_CODINGS
    rep = quirks["report"]
    # 9 coded text selections + 1 whole-source coding + 1 external + 1 PDF
    assert len(rep) == 12 and rep["coding_id"].is_unique
    status = dict(zip(rep["selection_id"].str[-2:], zip(rep["status"], rep["kind"], rep["reason"])))
    assert status["01"][:2] == ("imported", "whole")
    assert status["02"][:2] == ("imported", "partial")
    assert status["03"][:2] == ("imported", "spanning")
    assert status["04"][0] == "skipped" and "blank" in status["04"][2]
    assert status["05"][0] == "skipped" and "outside" in status["05"][2]
    assert status["06"][0] == "skipped" and "not in the codebook" in status["06"][2]
    assert status["10"][0] == "skipped" and "external" in status["10"][2]
    assert status["11"][0] == "skipped" and "PDF" in status["11"][2]
    whole_source = rep[rep["selection_id"] == build.S2]
    assert whole_source["reason"].item() == "codes a whole source, not a selection"
    s = quirks["summary"]
    assert (s["imported"], s["skipped"]) == (6, 6)
    assert {d["kind"] for d in s["skipped_sources"]} == {"TextSource", "PDFSource", "AudioSource"}


@pytest.mark.parametrize("folder", ["Sources", "sources", "SOURCES"])
def test_sources_folder_case_does_not_matter(tmp_path, folder):
    res = import_file(_write(tmp_path, build.qdpx_bytes(folder=folder)))
    assert _triples(res["codings"]) == EXPECTED_CODINGS


def test_nvivo_style_utf16_offsets_are_detected(tmp_path):
    # The same project with offsets counted in UTF-16 units, as NVivo writes them: the emoji
    # before two selections shift them by one and two units.
    res = import_file(_write(tmp_path, build.qdpx_bytes("utf16")))
    assert res["summary"]["offset_unit"] == "utf16"
    assert _triples(res["codings"]) == EXPECTED_CODINGS
    forced = import_file(_write(tmp_path, build.qdpx_bytes("utf16"), "b.qdpx"), offsets="codepoint")
    assert _triples(forced["codings"]) != EXPECTED_CODINGS


def test_offset_conversion_matches_python_encoders():
    text = build.TEXT1
    cps = list(range(len(text) + 1))
    u16 = core.from_codepoints(text, cps, "utf16")
    assert [len(text[:i].encode("utf-16-le")) // 2 for i in cps] == u16.tolist()
    u8 = core.from_codepoints(text, cps, "utf8")
    assert [len(text[:i].encode("utf-8")) for i in cps] == u8.tolist()
    assert core.to_codepoints(text, u16, "utf16").tolist() == cps


def test_codebook_only_qdc(tmp_path):
    p = tmp_path / "book.qdc"
    p.write_text(build.qdc_text(), encoding="utf-8")
    res = import_file(p)
    assert list(zip(res["codebook"].theme, res["codebook"].valence,
                    res["codebook"].subtheme)) == build.EXPECTED_CODEBOOK
    assert len(res["segments"]) == 0 and len(res["codings"]) == 0


@pytest.mark.parametrize("payload", ["XXE", "BILLION_LAUGHS"])
def test_xml_entities_are_refused_not_resolved(tmp_path, payload):
    data = getattr(build, payload)
    with pytest.raises(InputError, match="DTD or entities"):
        import_file(_write(tmp_path, build.zip_with({"project.qde": data})))
    p = tmp_path / "book.qdc"
    p.write_bytes(data.replace(b"Project", b"CodeBook"))
    with pytest.raises(InputError, match="DTD or entities"):
        import_file(p)


def test_malformed_xml_and_missing_project_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="not well-formed"):
        import_file(_write(tmp_path, build.zip_with({"project.qde": b"<Project"})))
    with pytest.raises(InputError, match="no project.qde"):
        import_file(_write(tmp_path, build.zip_with({"x.txt": b"hi"}), "b.qdpx"))


# --------------------------------------------------------------------------- export
@pytest.fixture
def tables3():
    seg = validate_segments(pd.DataFrame({
        "segment_id": ["fg2:0000", "fg2:0001", "fg1:0000", "fg1:0001", "fg1:0002"],
        "transcript_id": ["fg2", "fg2", "fg1", "fg1", "fg1"],
        "position": [0, 1, 0, 1, 2],
        "text": ["Cafe\u0301 \U0001F600 first", "We had \U0001F44D\U0001F3FD no funding.",
                 "Line\r\nbreak inside", "Peer groups", "Ann & Bob <tags> \"quoted\""],
        "speaker": ["Ann", "Bob", "", "Cat", "Dan"], "question": ["1", "1", "2", "2", ""],
    }))
    cb = validate_codebook(pd.DataFrame({
        "theme": ["Funding", "Funding", "Care", "Misc"],
        "valence": ["success", "challenge", "", ""],
        "subtheme": ["Grant", "Short-term funding", "Peer > Groups", "Misc"],
        "description": ["", "Ends too soon", "", "flat code"]}))
    cod = validate_codings(pd.DataFrame({
        "segment_id": ["fg2:0001", "fg2:0001", "fg2:0000", "fg1:0000", "fg1:0001", "fg1:0002"],
        "coder": ["ann", "model:minilm@abc123", "ann", "bob", "model:minilm@abc123", "ann"],
        "theme": ["Funding", "Funding", "Care", "Funding", "Care", "Misc"],
        "valence": ["challenge", "challenge", "", "", "", ""],
        "subtheme": ["Short-term funding", "Short-term funding", "Peer > Groups", "", "Peer > Groups", "Misc"],
        "confidence": [None, 0.83, None, None, 0.41, None],
    }), cb, seg)
    return seg, cod, cb


def test_export_validates_against_schemas_and_is_deterministic(tables3):
    pytest.importorskip("lxml")
    seg, cod, cb = tables3
    data = refi.project_bytes(seg, cod, cb)
    assert data == refi.project_bytes(seg, cod, cb)
    z = zipfile.ZipFile(io.BytesIO(data))
    assert refi.validate_xml(z.read("project.qde"), "project") == []
    assert refi.validate_xml(refi.codebook_bytes(cb), "codebook") == []
    assert refi.codebook_bytes(cb) == refi.codebook_bytes(cb)


def test_export_offsets_count_code_points_of_lf_nfc_text(tables3):
    from defusedxml import ElementTree as ET

    seg, cod, cb = tables3
    for unit in ("codepoint", "utf16"):
        z = zipfile.ZipFile(io.BytesIO(refi.project_bytes(seg, cod, cb, offsets=unit)))
        root = ET.fromstring(z.read("project.qde"))
        ns = "{urn:QDA-XML:project:1.0}"
        for src in root.iter(ns + "TextSource"):
            raw = z.read("Sources/" + src.get("plainTextPath").split("://")[1])
            text = raw.decode("utf-8")
            assert not raw.startswith(b"\xef\xbb\xbf") and "\r" not in text
            import unicodedata
            assert unicodedata.normalize("NFC", text) == text
            units = text if unit == "codepoint" else text.encode("utf-16-le")
            step = 1 if unit == "codepoint" else 2
            for sel in src.iter(ns + "PlainTextSelection"):
                a, b = int(sel.get("startPosition")), int(sel.get("endPosition"))
                chunk = units[a * step:b * step]
                chunk = chunk if unit == "codepoint" else chunk.decode("utf-16-le")
                assert chunk == sel.get("name")[:60] or chunk.startswith(sel.get("name"))


def test_export_users_and_machine_confidence_sidecar(tables3):
    seg, cod, cb = tables3
    z = zipfile.ZipFile(io.BytesIO(refi.project_bytes(seg, cod, cb)))
    qde = z.read("project.qde").decode()
    for name in ("ann", "bob", "model:minilm@abc123"):
        assert f'name="{name}"' in qde
    conf = pd.read_csv(z.open("themeassist/confidence.csv"))
    assert sorted(conf["confidence"]) == [0.41, 0.83]
    assert set(conf["coder"]) == {"model:minilm@abc123"}
    assert conf["coding_guid"].map(lambda g: f'guid="{g}"' in qde).all()


@pytest.mark.parametrize("keep_sidecar", [True, False])
def test_round_trip_gives_back_segments_codes_and_codings(tmp_path, tables3, keep_sidecar):
    seg, cod, cb = tables3
    data = refi.project_bytes(seg, cod, cb)
    if not keep_sidecar:  # as after a trip through a tool that drops unknown files
        zin = zipfile.ZipFile(io.BytesIO(data))
        data = build.zip_with({n: zin.read(n) for n in zin.namelist()
                               if not n.startswith("themeassist/")})
    back = import_file(_write(tmp_path, data))
    s = back["segments"].set_index("segment_id").sort_index()
    want = seg.set_index("segment_id").sort_index()
    want_text = want["text"].map(refi.paragraph_text)
    assert s["text"].tolist() == want_text.tolist()
    assert s["transcript_id"].tolist() == want["transcript_id"].tolist()
    assert s["position"].tolist() == want["position"].tolist()
    if keep_sidecar:
        assert s["speaker"].tolist() == want["speaker"].tolist()
        assert s["question"].tolist() == want["question"].tolist()
    assert refi.paragraph_text("Line\r\nbreak inside") == "Line break inside"
    book = back["codebook"]
    assert sorted(zip(book.theme, book.valence, book.subtheme, book.description)) == \
        sorted(zip(cb.theme, cb.valence, cb.subtheme, cb.description))
    assert _triples(back["codings"]) == _triples(cod)
    if keep_sidecar:
        got = back["codings"].set_index(["segment_id", "coder", "subtheme"])["confidence"]
        exp = cod.set_index(["segment_id", "coder", "subtheme"])["confidence"]
        pd.testing.assert_series_equal(got.sort_index(), exp.sort_index())
    assert back["summary"]["skipped"] == 0


def test_round_trip_with_nvivo_offsets_keeps_codings(tmp_path, tables3):
    seg, cod, cb = tables3
    data = refi.project_bytes(seg, cod, cb, offsets="utf16")
    zin = zipfile.ZipFile(io.BytesIO(data))
    data = build.zip_with({n: zin.read(n) for n in zin.namelist() if not n.startswith("themeassist/")})
    back = import_file(_write(tmp_path, data))
    assert back["summary"]["offset_unit"] == "utf16"
    assert _triples(back["codings"]) == _triples(cod)


# --------------------------------------------------------------------------- real NVivo export
@pytest.fixture(scope="module")
def nvivo():
    return import_file(shared("nvivo-qdpx", "oltas0517.qdpx"))


def test_issue_7_nvivo_export_every_coded_selection_accounted_for(nvivo):
    # PROVENANCE: NVivo 12.6 export, 152 codes, 303 coded selections, 2 users.
    s, rep = nvivo["summary"], nvivo["report"]
    assert s["codes"] == 152
    assert s["coded_selections"] == 303 and len(rep) == 303
    assert (rep["status"] == "imported").sum() + (rep["status"] == "skipped").sum() == 303
    assert (rep.loc[rep.status == "skipped", "reason"] != "").all()
    assert s["imported"] == 303
    # NVivo counts UTF-16 code units (emoji = 2) over the CRLF text: the conformance test
    assert s["offset_unit"] == "utf16"
    # selections start on a paragraph start far more often than by chance
    assert s["kinds"]["whole"] >= 280
    # PROVENANCE: selection creatingUser is floriansipos for 297 and Gergo for 6; every
    # <Coding> names Gergo. The default coder is the Coding's user; --coder-from selection
    # takes the selection's.
    assert s["users_by_selection"] == {"Gergo": 6, "floriansipos": 297}
    assert s["users_by_coding"] == {"Gergo": 303}
    assert set(nvivo["codings"]["coder"]) == {"Gergo"}


def test_nvivo_coder_from_selection():
    res = import_file(shared("nvivo-qdpx", "oltas0517.qdpx"), coder_from="selection")
    assert set(res["codings"]["coder"]) == {"Gergo", "floriansipos"}
    assert res["summary"]["imported"] == 303


def test_nvivo_export_validates_and_round_trips(tmp_path, nvivo):
    pytest.importorskip("lxml")
    z = zipfile.ZipFile(shared("nvivo-qdpx", "oltas0517.qdpx"))
    assert refi.validate_xml(z.read("project.qde"), "project") == []
    data = refi.project_bytes(nvivo["segments"], nvivo["codings"], nvivo["codebook"])
    assert refi.validate_xml(zipfile.ZipFile(io.BytesIO(data)).read("project.qde"), "project") == []
    back = import_file(_write(tmp_path, data))
    pd.testing.assert_frame_equal(back["segments"], nvivo["segments"])
    pd.testing.assert_frame_equal(back["codings"], nvivo["codings"])
    pd.testing.assert_frame_equal(back["codebook"], nvivo["codebook"])


# --------------------------------------------------------------------------- properties

_CHARS = st.sampled_from(list("ab é&<>\"'\t") + ["e\u0301", "\U0001F600", "\U0001F44D\U0001F3FD",
                                                   "\u4e2d", "\r\n", "\n"])
_PARA = st.lists(_CHARS, min_size=1, max_size=12).map("".join).filter(
    lambda t: refi.paragraph_text(t) != "")


@settings(max_examples=25, deadline=None)
@given(paras=st.lists(_PARA, min_size=1, max_size=5), unit=st.sampled_from(["codepoint", "utf16"]),
       picks=st.lists(st.integers(0, 4), max_size=5))
def test_round_trip_property_any_text(tmp_path_factory, paras, unit, picks):
    seg = validate_segments(pd.DataFrame({
        "segment_id": [f"t:{i:04d}" for i in range(len(paras))], "transcript_id": "t",
        "position": range(len(paras)), "text": paras}))
    cb = validate_codebook(pd.DataFrame({"theme": ["A"], "valence": [""], "subtheme": ["B"]}))
    ids = sorted({f"t:{p % len(paras):04d}" for p in picks})
    cod = validate_codings(pd.DataFrame({"segment_id": ids, "coder": "x", "theme": "A",
                                         "valence": "", "subtheme": "B"}), cb, seg)
    data = refi.project_bytes(seg, cod, cb, offsets=unit)
    zin = zipfile.ZipFile(io.BytesIO(data))
    bare = build.zip_with({n: zin.read(n) for n in zin.namelist() if not n.startswith("themeassist/")})
    back = import_file(_write(tmp_path_factory.mktemp("rt"), bare), offsets=unit)
    assert back["segments"]["text"].tolist() == [refi.paragraph_text(p) for p in paras]
    assert _triples(back["codings"]) == _triples(cod)
    assert back["summary"]["skipped"] == 0


# --------------------------------------------------------------------------- issue 15
def _bare(data: bytes) -> bytes:
    """The archive as a tool that drops unknown files would rewrite it."""
    zin = zipfile.ZipFile(io.BytesIO(data))
    return build.zip_with({n: zin.read(n) for n in zin.namelist()
                           if not n.startswith("themeassist/")})


def _project(codes_xml: str, selections: str = "", text: str = "Ann: hello there.\n") -> bytes:
    qde = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="p">
  <Users><User guid="{build.U_ANN.strip('{}')}" name="Ann"/></Users>
  <CodeBook><Codes>{codes_xml}</Codes></CodeBook>
  <Sources><TextSource guid="{build.S1}" name="fg1">
    <PlainTextContent>{text}</PlainTextContent>{selections}</TextSource></Sources>
</Project>"""
    return build.zip_with({"project.qde": qde.encode("utf-8")})


def _code(guid: str, name: str, inner: str = "", codable: str = "true") -> str:
    return f'<Code guid="{guid}" name="{name}" isCodable="{codable}">{inner}</Code>'


G = lambda n: f"50000000-0000-4000-8000-{n:012d}"


def test_issue_15_valence_words_in_code_names_round_trip(tmp_path):
    codes = (_code(G(1), "Outcomes", _code(G(2), "Success"))
             + _code(G(3), "Challenges", _code(G(4), "success", _code(G(5), "Overcome"))))
    first = import_file(_write(tmp_path, _project(codes), "a.qdpx"))
    book = first["codebook"]
    assert sorted(zip(book.theme, book.valence, book.subtheme, book.qda_path)) == [
        ("Outcomes", "", "Success", "Outcomes > Success"),
        ("success", "challenge", "Overcome", "Challenges > success > Overcome")]
    seg = first["segments"]
    cod = validate_codings(pd.DataFrame({"segment_id": seg["segment_id"].iat[0], "coder": "x",
                                         "theme": book.theme, "valence": book.valence,
                                         "subtheme": book.subtheme}), book, seg)
    data, warnings_ = refi.export_project(seg, cod, book)
    assert warnings_ == []
    back = import_file(_write(tmp_path, _bare(data), "b.qdpx"))
    assert sorted(back["codebook"]["qda_path"]) == sorted(book["qda_path"])
    assert _triples(back["codings"]) == _triples(cod)
    # without the tool's paths the export picks a tree that reads back the same, or warns
    plain = book.drop(columns="qda_path")
    data, warnings_ = refi.export_project(seg, cod, plain)
    assert warnings_ == []
    assert _triples(import_file(_write(tmp_path, _bare(data), "c.qdpx"))["codings"]) == \
        _triples(cod)
    odd = validate_codebook(pd.DataFrame({"theme": ["T"], "valence": [""],
                                          "subtheme": ["Success > X"]}))
    warned: list[str] = []
    refi._code_tree(odd, warned)
    assert any("will read back as" in w for w in warned)


def test_issue_15_sub_code_added_to_a_flat_code_keeps_the_flat_code(tmp_path):
    seg = validate_segments(pd.DataFrame({"segment_id": ["t:0000"], "transcript_id": "t",
                                          "position": [0], "text": ["Some words here."]}))
    cb = validate_codebook(pd.DataFrame({"theme": ["Tag"], "valence": [""], "subtheme": ["Tag"],
                                         "description": ["a flat code"]}))
    cod = validate_codings(pd.DataFrame({"segment_id": ["t:0000"], "coder": "x", "theme": "Tag",
                                         "valence": "", "subtheme": "Tag"}), cb, seg)
    z = zipfile.ZipFile(io.BytesIO(_bare(refi.project_bytes(seg, cod, cb))))
    qde = z.read("project.qde").decode()
    # a QDA tool adds a sub-code below the flat code
    guid = refi.flat_guid("Tag")
    qde = qde.replace(f'<Code guid="{guid}" name="Tag" isCodable="true">',
                      f'<Code guid="{guid}" name="Tag" isCodable="true">'
                      f'<Code guid="{G(9)}" name="Sub" isCodable="true" />')
    assert G(9) in qde
    back = import_file(_write(tmp_path, build.zip_with(
        {**{n: z.read(n) for n in z.namelist()}, "project.qde": qde.encode()})))
    book = back["codebook"]
    assert sorted(zip(book.theme, book.subtheme)) == [("Tag", "Sub"), ("Tag", "Tag")]
    assert _triples(back["codings"]) == [("t:0000", "x", "Tag", "", "Tag")]


@pytest.mark.parametrize("depth", [
    # past Python's recursion limit (1,000): what makes a recursive walk crash
    1100,
    pytest.param(2000, marks=pytest.mark.slow)])   # the issue's case; about 2 minutes
def test_issue_15_a_2000_level_code_tree_imports_and_exports(tmp_path, depth):
    inner = ""
    for i in range(depth, 0, -1):
        inner = _code(G(i), f"L{i}", inner)
    sel = (f'<PlainTextSelection guid="{G(5000)}" startPosition="0" endPosition="5">'
           f'<Coding guid="{G(5001)}" creatingUser="{build.U_ANN.strip("{}")}">'
           f'<CodeRef targetGUID="{G(depth)}"/></Coding></PlainTextSelection>')
    res = import_file(_write(tmp_path, _project(inner, sel)))
    assert res["summary"]["codes"] == depth and len(res["codings"]) == 1
    assert res["codings"]["subtheme"].iat[0].count(core.PATH_SEP) == depth - 2
    data = refi.project_bytes(res["segments"], res["codings"], res["codebook"])
    if importlib.util.find_spec("lxml"):
        assert refi.validate_xml(zipfile.ZipFile(io.BytesIO(data)).read("project.qde"),
                                 "project") == []
        assert refi.validate_xml(refi.codebook_bytes(res["codebook"]), "codebook") == []
    back = import_file(_write(tmp_path, data, "b.qdpx"))
    pd.testing.assert_frame_equal(back["codings"], res["codings"])


def test_issue_15_speakers_questions_and_confidence_survive_without_the_sidecar(tmp_path, tables3):
    seg, cod, cb = tables3
    data = _bare(refi.project_bytes(seg, cod, cb))
    qde = zipfile.ZipFile(io.BytesIO(data)).read("project.qde").decode()
    assert "themeassist: confidence=0.83" in qde and "<Case " in qde
    txt = [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith(".txt")]
    texts = "".join(zipfile.ZipFile(io.BytesIO(data)).read(n).decode() for n in txt)
    assert "Bob: We had" in texts and "Cat: Peer groups" in texts  # who speaks, in the text
    back = import_file(_write(tmp_path, data))
    s = back["segments"].set_index("segment_id")
    want = seg.set_index("segment_id")
    assert s["speaker"].to_dict() == want["speaker"].to_dict()
    assert s["text"].to_dict() == want["text"].map(refi.paragraph_text).to_dict()
    coded = cod["segment_id"].unique()
    assert s.loc[coded, "question"].to_dict() == want.loc[coded, "question"].to_dict()
    got = back["codings"].set_index(["segment_id", "coder", "subtheme"])["confidence"]
    exp = cod.set_index(["segment_id", "coder", "subtheme"])["confidence"]
    pd.testing.assert_series_equal(got.sort_index(), exp.sort_index())


def test_issue_15_partial_selections_keep_their_boundaries_and_the_full_text(tmp_path, quirks):
    data = refi.project_bytes(quirks["segments"], quirks["codings"], quirks["codebook"])
    back = import_file(_write(tmp_path, _bare(data)))
    assert back["segments"]["text"].tolist() == quirks["segments"]["text"].tolist()
    pd.testing.assert_frame_equal(back["codings"], quirks["codings"])
    assert (quirks["codings"]["span"] != "").sum() >= 2


def test_issue_15_sets_and_docx_originals_are_reported_not_dropped_silently(tmp_path):
    z = zipfile.ZipFile(io.BytesIO(_project(_code(G(1), "A"))))
    text = z.read("project.qde").decode().replace(
        "</Sources>", f'</Sources><Sets><Set guid="{G(7)}" name="Group A"/></Sets>')
    res = import_file(_write(tmp_path, build.zip_with({"project.qde": text.encode(),
                                                       "Sources/x.docx": b"PK"})))
    kept = " | ".join(res["summary"]["not_kept"])
    assert "1 sets not kept (Group A)" in kept and "x.docx" in kept


def test_issue_15_nvivo_round_trip_keeps_descriptions_users_and_boundaries(tmp_path, nvivo):
    from defusedxml import ElementTree as DET

    data, _ = refi.export_project(nvivo["segments"], nvivo["codings"], nvivo["codebook"],
                                  target="nvivo")
    assert refi.validate_xml(zipfile.ZipFile(io.BytesIO(data)).read("project.qde"),
                             "project") == []
    back = import_file(_write(tmp_path, _bare(data)))
    for name in ("segments", "codings", "codebook"):
        pd.testing.assert_frame_equal(back[name], nvivo[name])
    ns = "{urn:QDA-XML:project:1.0}"
    orig = DET.fromstring(zipfile.ZipFile(shared("nvivo-qdpx", "oltas0517.qdpx"))
                          .read("project.qde"))
    ours = DET.fromstring(zipfile.ZipFile(io.BytesIO(data)).read("project.qde"))
    descs = lambda r: sorted((c.get("name"), c.get("isCodable"), refi._text_of(c, "Description"))
                             for c in r.iter(ns + "Code"))
    assert descs(ours) == descs(orig)  # every description and isCodable, top level included
    users = lambda r: sorted(u.get("name") for u in r.iter(ns + "User"))
    assert users(ours) == users(orig) == ["Gergo", "floriansipos"]
    # every selection boundary: the same selected text (whitespace at the ends aside)
    def cuts(z, root):
        out = []
        for src in root.iter(ns + "TextSource"):
            member = "Sources/" + src.get("plainTextPath").split("://")[1]
            text = z.read(member).decode("utf-8-sig")
            for sel in src.iter(ns + "PlainTextSelection"):
                a, b = int(sel.get("startPosition")), int(sel.get("endPosition"))
                out.append(" ".join(_cut16(text, a, b).split()))
        return sorted(out)
    zo = zipfile.ZipFile(shared("nvivo-qdpx", "oltas0517.qdpx"))
    zu = zipfile.ZipFile(io.BytesIO(data))
    original, exported = cuts(zo, orig), cuts(zu, ours)
    missing = [t for t in original if not any(t in e for e in exported)]
    assert len(exported) >= len(original) - len(set(original)) and not missing[:1], missing[:3]


def _cut16(text, a, b):
    return text.encode("utf-16-le")[2 * a:2 * b].decode("utf-16-le", "replace")
