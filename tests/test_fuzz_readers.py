"""Fuzz of the transcript readers and the QDA importer (issue 16): random bytes, truncations
and mutations of valid files give a valid table or a clean ThemeassistError, never another
exception. The default suite runs a small number of examples; ``-m slow`` a bigger run."""

from __future__ import annotations

import io as _io
import tempfile
import zipfile
from functools import cache
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from themeassist import tables
from themeassist.errors import ThemeassistError
from themeassist.ingest import ingest_files
from themeassist.qda import import_file

try:
    from tests.conftest import FIXTURES, load_file
except ImportError:  # pragma: no cover - run from tests/
    from conftest import FIXTURES, load_file

build = load_file("qda_build_fuzz", FIXTURES / "qda" / "build.py")
ING = FIXTURES / "ingest"
ZIPPED = (".docx", ".xlsx", ".qdpx")


@cache
def seeds() -> dict[str, bytes]:
    """One valid file per format (built in memory: no binaries in the repository)."""
    import docx

    d = docx.Document()
    for line in ["Facilitator: What went well?", "Ann: We finally got a grant.",
                 "Bob: Peer groups helped.", "Facilitator: And what was hard?",
                 "Cat: Funding only lasts a year."]:
        d.add_paragraph(line)
    buf = _io.BytesIO()
    d.save(buf)
    xlsx = _io.BytesIO()
    pd.read_csv(ING / "transcript.csv", dtype=str).to_excel(xlsx, index=False)
    return {".txt": (ING / "fg_questions.txt").read_bytes(),
            ".vtt": (ING / "teams.vtt").read_bytes(),
            ".csv": (ING / "transcript.csv").read_bytes(),
            ".docx": buf.getvalue(), ".xlsx": xlsx.getvalue(),
            ".qdpx": build.qdpx_bytes(), ".qdc": build.qdc_text().encode("utf-8")}


TRANSCRIPTS = (".txt", ".vtt", ".csv", ".docx", ".xlsx")
QDA = (".qdpx", ".qdc")


def _mutate_zip(data: bytes, draw) -> bytes:
    """Rewrite a zip with one member mutated (the XML inside, not the container)."""
    with zipfile.ZipFile(_io.BytesIO(data)) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    name = draw(st.sampled_from(sorted(members)))
    members[name] = _mutate_bytes(members[name], draw)
    out = _io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in members.items():
            z.writestr(n, b)
    return out.getvalue()


def _mutate_bytes(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
    if not data:
        return draw(st.binary(max_size=64))
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data)))]
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, max(len(buf) - 1, 0)))
        if kind == "flip" and buf:
            buf[i] = draw(st.integers(0, 255))
        elif kind == "insert":
            buf[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif buf:
            del buf[i:i + draw(st.integers(1, 16))]
    return bytes(buf)


@st.composite
def hostile_file(draw, suffixes: tuple[str, ...]) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(suffixes))
    seed = seeds()[suffix]
    how = draw(st.sampled_from(["random", "mutate", "member"] if suffix in ZIPPED
                               else ["random", "mutate"]))
    if how == "random":
        return suffix, draw(st.binary(max_size=2048))
    if how == "member":
        return suffix, _mutate_zip(seed, draw)
    return suffix, _mutate_bytes(seed, draw)


def _write(suffix: str, data: bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    path = folder / f"input{suffix}"
    path.write_bytes(data)
    return path


def check_transcript(suffix: str, data: bytes) -> None:
    path = _write(suffix, data)
    try:
        segments, summary = ingest_files([path], [], None)
    except ThemeassistError:
        return
    tables.validate_segments(segments)              # a valid table, or it raised above
    assert isinstance(summary, pd.DataFrame)


def check_qda(suffix: str, data: bytes) -> None:
    path = _write(suffix, data)
    try:
        result = import_file(path)
    except ThemeassistError:
        return
    assert isinstance(result, dict)
    for name in ("segments", "codings", "codebook"):
        if result.get(name) is not None:
            assert isinstance(result[name], pd.DataFrame)


FAST = settings(max_examples=50, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BIG = settings(max_examples=1000, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FAST
@given(hostile_file(TRANSCRIPTS))
def test_transcript_readers_never_crash(case):
    check_transcript(*case)


@FAST
@given(hostile_file(QDA))
def test_qda_importer_never_crashes(case):
    check_qda(*case)


@pytest.mark.parametrize("suffix", TRANSCRIPTS + QDA)
def test_the_seeds_themselves_are_valid(suffix):
    (check_transcript if suffix in TRANSCRIPTS else check_qda)(suffix, seeds()[suffix])


@pytest.mark.slow
@BIG
@given(hostile_file(TRANSCRIPTS))
def test_transcript_readers_never_crash_big(case):
    check_transcript(*case)


@pytest.mark.slow
@BIG
@given(hostile_file(QDA))
def test_qda_importer_never_crashes_big(case):
    check_qda(*case)
