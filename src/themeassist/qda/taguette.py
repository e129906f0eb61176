"""Taguette import: a project database (SQLite) or a highlights export (CSV).

Taguette (taguette.org) keeps each document as HTML and each highlight as offsets into the
document's *text content* (the HTML with its tags removed and entities decoded), counted in
UTF-8 bytes; tags are flat (each tag is its own theme and subtheme, see
:func:`~themeassist.qda.core.map_code_tree`). The database is opened read-only.

- Database: every ``<p>``, heading, list item or other block of a document is a paragraph
  segment; highlights code the paragraphs they overlap (as in REFI import). The coder is the
  user whose ``highlight_add`` command created the highlight, else the project's only member,
  else ``"taguette"``. Highlights without tags are reported as skipped.
- Highlights CSV (columns ``id``, ``document``, ``tag``, ``content``; one row per
  highlight-tag pair): no offsets or full documents are in it, so each highlight is a
  segment (``segment_unit="selection"``), in ``id`` order within its document.
"""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from themeassist import tables
from themeassist.errors import InputError
from themeassist.qda import core

log = logging.getLogger(__name__)

_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "tr",
           "td", "th", "dt", "dd", "br", "section", "article", "table", "ul", "ol"}


class _TextContent(HTMLParser):
    """Text content of an HTML fragment, and the spans of its blocks (paragraphs)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.breaks: list[int] = [0]

    def handle_starttag(self, tag, attrs):
        if tag in _BLOCKS:
            self.breaks.append(self.length)

    def handle_endtag(self, tag):
        if tag in _BLOCKS:
            self.breaks.append(self.length)

    def handle_data(self, data):
        self.parts.append(data)
        self.length += len(data)


def html_text(html: str) -> tuple[str, list[tuple[int, int]]]:
    """Text content of a Taguette document and its paragraph spans (code points).

    Examples
    --------
    >>> text, spans = html_text("<p>One &amp; two</p>\\n<p> Three</p>")
    >>> text
    'One & two\\n Three'
    >>> [text[a:b] for a, b in spans]
    ['One & two', 'Three']
    """
    parser = _TextContent()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    marks = sorted(set(parser.breaks + [len(text)]))
    spans = []
    for a, b in itertools.pairwise(marks):
        for pa, pb in core.line_paragraphs(text[a:b]):
            spans.append((a + pa, a + pb))
    return text, spans


def _connect(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise InputError("file not found", path=path)
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        con.execute("select count(*) from highlights").fetchone()
    except sqlite3.DatabaseError as err:
        raise InputError(f"not a Taguette database ({err})", path=path,
                         expected="tables documents, highlights, tags, highlight_tags") from None
    return con


def read_taguette_db(path: str | Path, *, segment_unit: str = "paragraph") -> dict:
    """Import a Taguette project database.

    Returns
    -------
    dict
        ``segments``, ``codings``, ``codebook``, ``report``, ``summary`` (see
        :func:`~themeassist.qda.core.build_tables`); the summary adds the database's own counts
        (``db_documents``, ``db_highlights``, ``db_highlight_tags``, ``db_tags``).
    """
    path = Path(path)
    con = _connect(path)
    try:
        docs = con.execute("select id, name, contents from documents order by id").fetchall()
        tags = con.execute("select id, path, description from tags order by id").fetchall()
        rows = con.execute(
            "select h.id, h.document_id, h.start_offset, h.end_offset, ht.tag_id "
            "from highlights h left join highlight_tags ht on ht.highlight_id = h.id "
            "order by h.document_id, h.start_offset, h.id, ht.tag_id").fetchall()
        members = [r[0] for r in con.execute("select user_login from project_members")]
        creators = {}
        for user, payload in con.execute(
                "select user_login, payload from commands order by id"):
            try:
                d = json.loads(payload)
            except (TypeError, ValueError):
                continue
            if d.get("type") == "highlight_add" and "highlight_id" in d:
                creators[d["highlight_id"]] = user
        counts = {
            "db_documents": len(docs),
            "db_highlights": con.execute("select count(*) from highlights").fetchone()[0],
            "db_highlight_tags": con.execute("select count(*) from highlight_tags").fetchone()[0],
            "db_tags": len(tags),
        }
    except sqlite3.DatabaseError as err:
        raise InputError(f"not a Taguette database ({err})", path=path) from None
    finally:
        con.close()
    default_coder = members[0] if len(set(members)) == 1 else "taguette"
    sources, taken = [], set()
    names = {}
    for did, name, contents in docs:
        text, spans = html_text(contents or "")
        tid = Path(name).stem or str(did)
        while tid in taken:
            tid = f"{tid}-{did}"
        taken.add(tid)
        names[did] = name
        sources.append(core.Source(str(did), tid, text, spans))
    codes = core.map_code_tree(pd.DataFrame({
        "code_id": [str(t[0]) for t in tags], "name": [t[1] for t in tags],
        "parent_id": "", "codable": True, "description": [t[2] or "" for t in tags]}))
    paths = dict(zip(codes["code_id"], codes["path"]))
    sel = []
    for hid, did, a, b, tag in rows:
        sel.append({"source": names.get(did, str(did)), "source_id": str(did),
                    "selection_id": str(hid), "coding_id": f"{hid}:{tag}",
                    "code_id": "" if tag is None else str(tag),
                    "code": paths.get(str(tag), "") if tag is not None else "",
                    "coder": creators.get(hid, default_coder), "start": a, "end": b,
                    "skip": "highlight has no tag" if tag is None else ""})
    selections = pd.DataFrame(sel, columns=["source", "source_id", "selection_id", "coding_id",
                                            "code_id", "code", "coder", "start", "end", "skip"])
    out = core.build_tables(sources, codes, selections, unit="utf8", segment_unit=segment_unit)
    out["summary"].update(counts)
    return out


def read_taguette_csv(path: str | Path, *, coder: str = "taguette") -> dict:
    """Import a Taguette highlights export (``id, document, tag, content``).

    Each highlight (``id``) becomes a segment of its document's transcript, ordered by id;
    each row a coding by ``coder``.
    """
    from themeassist import io

    path = Path(path)
    df = io.read_table(path)
    need = ("id", "document", "tag", "content")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError("not a Taguette highlights export", path=path, row=1,
                         expected=f"columns {', '.join(need)}", got=", ".join(df.columns))
    for col in ("id", "document", "tag"):
        empty = df[col].str.strip() == ""
        if empty.any():
            i = int(empty.to_numpy().argmax())
            raise InputError(f"empty {col}", path=path, row=tables.spreadsheet_row(i),
                             column=col, expected="a value", got="")
    ids = pd.to_numeric(df["id"], errors="coerce")
    if ids.isna().any():
        i = int(ids.isna().to_numpy().argmax())
        raise InputError("highlight id is not a number", path=path,
                         row=tables.spreadsheet_row(i), column="id", expected="an integer",
                         got=df["id"].iat[i])
    df = df.assign(hid=ids.astype("int64"))
    conflict = df.groupby("hid")["content"].nunique() > 1
    if conflict.any():
        hid = conflict.index[conflict.to_numpy().argmax()]
        i = int((df["hid"] == hid).to_numpy().argmax())
        raise InputError("one highlight id with two different texts", path=path,
                         row=tables.spreadsheet_row(i), column="content",
                         expected="the same content for every row of an id", got=int(hid))
    tag_names = sorted(df["tag"].str.strip().unique())
    codes = core.map_code_tree(pd.DataFrame({
        "code_id": tag_names, "name": tag_names, "parent_id": "", "codable": True,
        "description": ""}))
    sources, sel = [], []
    for doc, grp in df.groupby("document", sort=True):
        hl = grp.drop_duplicates("hid").sort_values("hid")
        parts, spans, pos = [], {}, 0
        for hid, content in zip(hl["hid"], hl["content"]):
            spans[hid] = (pos, pos + len(content))
            parts.append(content)
            pos += len(content) + 1
        text = "\n".join(parts)
        tid = Path(doc).stem
        sources.append(core.Source(doc, tid, text, []))
        for r in grp.itertuples():
            a, b = spans[r.hid]
            sel.append({"source": doc, "source_id": doc, "selection_id": str(r.hid),
                        "coding_id": f"{r.hid}:{r.tag.strip()}", "code_id": r.tag.strip(),
                        "code": r.tag.strip(), "coder": coder, "start": a, "end": b,
                        "skip": "" if r.content.strip() else "highlight has no text"})
    selections = pd.DataFrame(sel, columns=["source", "source_id", "selection_id", "coding_id",
                                            "code_id", "code", "coder", "start", "end", "skip"])
    out = core.build_tables(sources, codes, selections, unit="codepoint",
                            segment_unit="selection")
    out["summary"].update({"csv_rows": len(df), "csv_highlights": int(df["hid"].nunique()),
                           "csv_tags": len(tag_names)})
    return out
