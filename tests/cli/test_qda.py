"""`themeassist qda import|export` through CliRunner: outputs, messages, nothing written on error."""

from __future__ import annotations

import importlib.util
import json
import zipfile

import pandas as pd
import pytest
from typer.testing import CliRunner

from themeassist.cli import app

try:
    from conftest import FIXTURES, load_file
except ImportError:  # pytest --import-mode=importlib
    from tests.conftest import FIXTURES, load_file

build = load_file("qda_build", FIXTURES / "qda" / "build.py")

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["qda", *map(str, args)])


@pytest.fixture
def qdpx(tmp_path):
    p = tmp_path / "quirks.qdpx"
    p.write_bytes(build.qdpx_bytes())
    return p


def test_import_writes_tables_report_and_manifest(tmp_path, qdpx):
    out = tmp_path / "imported"
    res = run("import", qdpx, "--out", out)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "codebook.csv", "codings.csv", "import_report.json", "import_report.md", "manifest.json",
        "segments.csv", "selections.csv"]
    # what could not be kept is on screen and in the report, never silent (issue 15)
    md = (out / "import_report.md").read_text()
    assert "## Not kept" in md and "original source file(s) not carried" in md
    assert "not kept: 1 original source file(s)" in res.output
    assert "imported 6 of 12" in res.stdout and "6 skipped" in res.stdout
    rep = pd.read_csv(out / "selections.csv", keep_default_na=False)
    assert len(rep) == 12 and (rep.loc[rep.status == "skipped", "reason"] != "").all()
    summary = json.loads((out / "import_report.json").read_text())
    assert summary["offset_unit"] == "codepoint"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "qda import" and manifest["inputs"]["file"][0]["sha256"]


def test_import_refuses_to_overwrite_without_force(tmp_path, qdpx):
    out = tmp_path / "imported"
    assert run("import", qdpx, "-o", out).exit_code == 0
    res = run("import", qdpx, "-o", out)
    assert res.exit_code == 1 and "--force" in res.output
    assert run("import", qdpx, "-o", out, "--force").exit_code == 0


def test_hostile_archive_exits_1_and_writes_nothing(tmp_path):
    p = tmp_path / "slip.qdpx"
    p.write_bytes(build.hostile_archives()["zip_slip"])
    out = tmp_path / "out"
    res = run("import", p, "-o", out)
    assert res.exit_code == 1
    assert "refusing hostile archive" in res.output and "zip slip" in res.output
    assert not out.exists()


def test_unknown_format_lists_the_known_ones(tmp_path):
    p = tmp_path / "x.nvp"
    p.write_bytes(b"x")
    res = run("import", p, "-o", tmp_path / "out")
    assert res.exit_code == 1 and ".qdpx" in res.output and ".sqlite3" in res.output


def test_export_then_import_round_trip(tmp_path, qdpx):
    first = tmp_path / "first"
    assert run("import", qdpx, "-o", first).exit_code == 0
    proj = tmp_path / "back.qdpx"
    res = run("export", "-s", first / "segments.csv", "-c", first / "codings.csv",
              "-b", first / "codebook.csv", "-o", proj)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "back.qdpx.manifest.json").exists()
    from themeassist.qda import refi

    if importlib.util.find_spec("lxml"):
        assert refi.validate_xml(zipfile.ZipFile(proj).read("project.qde"), "project") == []
    again = tmp_path / "again"
    assert run("import", proj, "-o", again).exit_code == 0
    for name in ("segments.csv", "codings.csv", "codebook.csv"):
        assert (again / name).read_bytes() == (first / name).read_bytes(), name
    # the same inputs give the same bytes
    before = proj.read_bytes()
    assert run("export", "-s", first / "segments.csv", "-c", first / "codings.csv",
               "-b", first / "codebook.csv", "-o", proj, "--force").exit_code == 0
    assert proj.read_bytes() == before


def test_export_codebook_qdc_and_missing_corpus(tmp_path, qdpx):
    first = tmp_path / "first"
    assert run("import", qdpx, "-o", first).exit_code == 0
    qdc = tmp_path / "book.qdc"
    res = run("export", "-b", first / "codebook.csv", "-o", qdc)
    assert res.exit_code == 0, res.output
    assert b"urn:QDA-XML:codebook:1.0" in qdc.read_bytes()
    from themeassist.qda import refi

    if importlib.util.find_spec("lxml"):
        assert refi.validate_xml(qdc.read_bytes(), "codebook") == []
    assert run("import", qdc, "-o", tmp_path / "book").exit_code == 0
    assert (tmp_path / "book" / "codebook.csv").read_bytes() == (first / "codebook.csv").read_bytes()
    res = run("export", "-b", first / "codebook.csv", "-o", tmp_path / "p.qdpx")
    assert res.exit_code == 1 and "--corpus" in res.output
    assert not (tmp_path / "p.qdpx").exists()


def test_export_unknown_code_names_file_and_row(tmp_path, qdpx):
    first = tmp_path / "first"
    assert run("import", qdpx, "-o", first).exit_code == 0
    cod = pd.read_csv(first / "codings.csv", keep_default_na=False)
    cod.loc[1, "theme"] = "Fundng"
    bad = tmp_path / "bad.csv"
    cod.to_csv(bad, index=False)
    res = run("export", "-s", first / "segments.csv", "-c", bad, "-b", first / "codebook.csv",
              "-o", tmp_path / "p.qdpx")
    assert res.exit_code == 1 and "bad.csv:3" in res.output and "Fundng" in res.output
    assert not (tmp_path / "p.qdpx").exists()


def test_issue_15_export_to_taguette_and_nvivo_target(tmp_path, qdpx):
    first = tmp_path / "first"
    assert run("import", qdpx, "-o", first).exit_code == 0
    args = ("-s", first / "segments.csv", "-c", first / "codings.csv", "-b",
            first / "codebook.csv")
    tg = tmp_path / "taguette"
    res = run("export", "--to", "taguette", *args, "-o", tg)
    assert res.exit_code == 0, res.output
    assert (tg / "codebook.csv").read_bytes().startswith(b"\xef\xbb\xbftag,description\r\n")
    assert (tmp_path / "taguette.manifest.json").exists()
    back = tmp_path / "back"
    assert run("import", tg / "project.sqlite3", "-o", back).exit_code == 0
    book = tmp_path / "book"
    assert run("import", tg / "codebook.csv", "-o", book).exit_code == 0
    assert sorted(p.name for p in book.iterdir()) == [
        "codebook.csv", "import_report.json", "import_report.md", "manifest.json"]
    want = pd.read_csv(first / "codebook.csv", keep_default_na=False)
    got = pd.read_csv(book / "codebook.csv", keep_default_na=False)
    key = ["theme", "valence", "subtheme", "description"]
    assert sorted(map(tuple, got[key].values)) == sorted(map(tuple, want[key].values))
    # a second export refuses to overwrite
    res = run("export", "--to", "taguette", *args, "-o", tg)
    assert res.exit_code == 1 and "--force" in res.output
    # NVivo target: UTF-16 offsets over CRLF text
    nv = tmp_path / "nvivo.qdpx"
    assert run("export", *args, "-o", nv, "--target", "nvivo").exit_code == 0
    z = zipfile.ZipFile(nv)
    src = [n for n in z.namelist() if n.startswith("Sources/")][0]
    assert b"\r\n" in z.read(src)
    assert json.loads((tmp_path / "nvivo.qdpx.manifest.json").read_text())["settings"][
        "target"] == "nvivo"
    res = run("export", *args, "-o", tmp_path / "x.qdpx", "--target", "dedoose")
    assert res.exit_code == 1 and "nvivo" in res.output


def test_issue_15_taguette_highlights_xlsx_import(tmp_path):
    p = tmp_path / "highlights.xlsx"
    pd.DataFrame({"id": ["2", "1"], "document": ["P1.odt", "P1.odt"], "tag": ["A", "B"],
                  "content": ["second", "first"]}).to_excel(p, index=False)
    res = run("import", p, "-o", tmp_path / "out", "--coder", "alice")
    assert res.exit_code == 0, res.output
    seg = pd.read_csv(tmp_path / "out" / "segments.csv")
    assert seg["text"].tolist() == ["first", "second"]
