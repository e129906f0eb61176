"""Word transcripts (``.docx``, read with python-docx).

Every paragraph of the document body is a line (a soft line break inside a paragraph also
starts a line), numbered from 1 in document order; the speaker rules are those of plain
text (:mod:`themeassist.ingest._lines`), so these layouts are recognised:

- the Microsoft Teams transcript export: a ``Jane Smith   0:03`` (speaker and time) line,
  then the text; and the older export: ``0:0:0.0 --> 0:0:5.2``, then the speaker's name,
  then the text (start and end from the timing line);
- transcription services: ``Speaker Name  00:01:02`` or ``Speaker 1 [00:00:12]``, then one
  or more text paragraphs;
- ``Name: text`` paragraphs.

Unlike plain text, each Word paragraph is a paragraph: lines are never joined, since Word
does not hard-wrap. A heading such as ``Question 3`` sets the question. Errors name the
file and the paragraph number. A file that is not a zip archive (a ``.doc`` renamed, a
text file) is an :class:`~themeassist.errors.InputError`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd

from themeassist.errors import InputError
from themeassist.ingest._lines import SpeakerRules, parse_lines, rows_frame


def docx_lines(path: str | Path) -> list[tuple[int, str]]:
    """(paragraph number, text) of the document body, blank lines between paragraphs."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    if not zipfile.is_zipfile(path):
        raise InputError("not a Word .docx file", path=path,
                         expected="a .docx (zip) document; save .doc files as .docx",
                         got="not a zip archive")
    try:
        import docx
        from docx.opc.exceptions import PackageNotFoundError
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise ImportError("reading .docx needs the 'python-docx' package") from err
    lines: list[tuple[int, str]] = []
    try:
        document = docx.Document(str(path))
        for number, paragraph in enumerate(document.paragraphs, start=1):
            for part in paragraph.text.replace("\r", "\n").replace("\v", "\n").split("\n"):
                lines.append((number, part))
            lines.append((number, ""))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"not a readable Word document ({err})", path=path) from None
    except Exception as err:  # a damaged package: lxml, zlib, zipfile (even OSError) and
        # python-docx raise many kinds; the file itself was readable (is_zipfile above)
        raise InputError(f"not a readable Word document ({type(err).__name__}: {err})",
                         path=path) from None
    return lines


def read_docx(path: str | Path, settings=None) -> pd.DataFrame:
    """Paragraph rows of the Word transcript at ``path`` (see the module docstring)."""
    lines = docx_lines(path)
    rows, skipped = parse_lines(lines, SpeakerRules.from_settings(settings), join_wrapped=False)
    if not any(r.kind == "speech" for r in rows):
        raise InputError("no speaker turns found", path=path, row=1,
                         expected="paragraphs such as 'Name: text' or 'Name  00:01:02'",
                         got=next((t.strip()[:60] for _, t in lines if t.strip()), ""))
    return rows_frame(rows, fmt="docx", encoding="", skipped=skipped)
