"""Issue 15: third-party REFI-QDA readers read our exports exactly.

pyrefiqda 0.3.1 (and pyqdpx 0.1.8 where it imports: it needs Python 3.12) load our .qdpx;
every selection's offsets, counted as the target tool counts them, cut out exactly its
segment's text (emoji, CJK, decomposed accents, CRLF and a BOM in the input), every
coding is read, one per selection, and the file is valid against the REFI XSD.
"""

from __future__ import annotations

import importlib.util
import io
import unicodedata
import zipfile

import pandas as pd
import pytest

from themeassist.qda import refi
from themeassist.tables import validate_codebook, validate_codings, validate_segments

TEXTS = ["\ufeffWe got a grant \U0001F389\U0001F44D\U0001F3FD at last.",
         "The cafe\u0301 closed; \u4e2d\u6587 \U00020000 too.",
         "Line one\r\nline two",
         "Peer groups & <tags> \"kept\" us going."]


@pytest.fixture(scope="module")
def tables_():
    seg = validate_segments(pd.DataFrame({
        "segment_id": [f"fg1:{i:04d}" for i in range(4)], "transcript_id": "fg1",
        "position": range(4), "text": TEXTS, "speaker": ["Ann", "Bob", "", "Dan"],
        "question": ["q1", "q1", "q2", ""]}))
    cb = validate_codebook(pd.DataFrame({"theme": ["Funding", "Funding", "Misc"],
                                         "valence": ["success", "challenge", ""],
                                         "subtheme": ["Grant", "Short", "Misc"]}))
    cod = validate_codings(pd.DataFrame({
        "segment_id": ["fg1:0000", "fg1:0000", "fg1:0001", "fg1:0002", "fg1:0003", "fg1:0001"],
        "coder": ["ann", "model:m@1", "ann", "ann", "ann", "model:m@1"],
        "theme": ["Funding", "Funding", "Funding", "Misc", "Funding", "Misc"],
        "valence": ["success", "success", "challenge", "", "", ""],
        "subtheme": ["Grant", "Grant", "Short", "Misc", "", "Misc"],
        "confidence": [None, 0.9, None, None, None, 0.4]}), cb, seg)
    return seg, cod, cb


def _expected(seg) -> set[str]:
    out = set()
    for text, sp in zip(seg["text"], seg["speaker"]):
        t = refi.paragraph_text(text).lstrip("\ufeff")
        out.add(f"{sp}: {t}" if sp else t)
    return out


def _cut(text: str, a: int, b: int, unit: str) -> str:
    if unit == "codepoint":
        return text[a:b]
    return text.encode("utf-16-le")[2 * a:2 * b].decode("utf-16-le")


@pytest.mark.parametrize("target", ["generic", "nvivo", "qualcoder"])
def test_issue_15_pyrefiqda_reads_every_selection_exactly(tmp_path, tables_, target):
    pytest.importorskip("pyrefiqda", reason="pyrefiqda is not installed (dev extra)")
    pytest.importorskip("lxml")
    from pyrefiqda import RefiProject

    seg, cod, cb = tables_
    data, warnings_ = refi.export_project(seg, cod, cb, target=target)
    assert warnings_ == []
    z = zipfile.ZipFile(io.BytesIO(data))
    assert refi.validate_xml(z.read("project.qde"), "project") == []
    path = tmp_path / "p.qdpx"
    path.write_bytes(data)
    project = RefiProject.load(path, extract_dir=str(tmp_path / "x"))
    unit = refi.TARGETS[target]["offsets"]
    users = {u.guid: u.name for u in project.users.user}
    got, n_codings = [], 0
    for src in project.sources.text_source:
        member = src.plain_text_path.replace("internal://", "Sources/")
        text = (tmp_path / "x" / member).read_bytes().decode("utf-8")
        assert ("\r\n" in text) == (target == "nvivo")
        for sel in src.plain_text_selection:
            assert len(sel.coding) == 1  # one Coding per selection, as NVivo writes them
            n_codings += len(sel.coding)
            got.append(_cut(text, sel.start_position, sel.end_position, unit))
            assert users[sel.coding[0].creating_user]
    assert n_codings == len(cod)
    assert set(got) <= _expected(seg) and len(got) == len(cod)
    want = sorted(unicodedata.normalize("NFC", t) for t in got)
    assert want == sorted(got)


def test_issue_15_pyqdpx_reads_every_coding(tmp_path, tables_):
    if importlib.util.find_spec("pyqdpx") is None:
        # the dev extra installs it on Python 3.12 and newer only
        pytest.skip("pyqdpx is not installed (it needs Python 3.12)")
    try:
        import pyqdpx  # noqa: F401
    except SyntaxError:
        pytest.skip("pyqdpx 0.1.8 needs Python 3.12 (its f-strings do not parse on 3.11)")
    from pyqdpx import QDPX

    seg, cod, cb = tables_
    path = tmp_path / "p.qdpx"
    path.write_bytes(refi.project_bytes(seg, cod, cb, target="nvivo"))
    q = QDPX(str(path))
    sources = q.get_sources()
    n = sum(len(s.selections) for s in sources.values())
    assert n == len(cod)
