"""Taguette: import a project database, its highlights (CSV, XLSX) or codebook export; export
a project and a codebook Taguette imports.

Taguette (taguette.org) keeps each document as HTML and each highlight as offsets into the
document's *text content* (the HTML with its tags removed and entities decoded), counted in
UTF-8 bytes; tags are flat names. A tag named ``A > B > C`` (as themeassist writes nested
codes) is read as a path in the code tree (:func:`tag_tree`), other tags are flat codes
(each its own theme and subtheme, see :func:`~themeassist.qda.core.map_code_tree`).

- Database (read-only): every ``<p>``, heading, list item or other block of a document is a
  paragraph segment, line breaks inside it included; highlights code the paragraphs they
  overlap (as in REFI import). The coder is the user whose ``highlight_add`` command created
  the highlight, else the project's only member, else ``"taguette"``. Highlights without
  tags are reported as skipped.
- Highlights CSV or XLSX (columns ``id``, ``document``, ``tag``, ``content``; one row per
  highlight-tag pair): no offsets or full documents are in it, so each highlight is a
  segment (``segment_unit="selection"``), in ``id`` order within its document.
- Codebook CSV (``tag``, ``description``, counts): the codebook only.

Export (what Taguette 1.5.2 imports, read from its source: ``import_codebook.py`` and
``web/api.py``): :func:`codebook_csv_bytes` (CSV with a byte-order mark, ``tag`` and
``description``) for "Import a codebook", and :func:`project_sqlite` (a database in
Taguette's schema at its Alembic head) for "Import a project" (``/api/import``).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from themeassist import tables
from themeassist.errors import InputError
from themeassist.qda import core

log = logging.getLogger(__name__)

_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "tr",
           "td", "th", "dt", "dd", "section", "article", "table", "ul", "ol"}


class _TextContent(HTMLParser):
    """Text content of an HTML fragment, and the spans of its blocks (paragraphs)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.depth = 0
        self.breaks: list[tuple[int, int]] = [(0, 0)]  # (offset, block depth after it)

    def handle_starttag(self, tag, attrs):
        if tag in _BLOCKS:
            self.depth += 1
            self.breaks.append((self.length, self.depth))

    def handle_endtag(self, tag):
        if tag in _BLOCKS:
            self.depth = max(0, self.depth - 1)
            self.breaks.append((self.length, self.depth))

    def handle_data(self, data):
        self.parts.append(data)
        self.length += len(data)


def html_text(html: str) -> tuple[str, list[tuple[int, int]]]:
    """Text content of a Taguette document and its paragraph spans (code points).

    Each block (``<p>``, heading, list item, ...) is one paragraph, whatever line breaks
    (``<br>`` or a newline) it holds; text outside any block is split into lines.

    Examples
    --------
    >>> text, spans = html_text("<p>One &amp; two</p>\\n<p> Three<br>\\nfour</p>")
    >>> text
    'One & two\\n Three\\nfour'
    >>> [text[a:b] for a, b in spans]
    ['One & two', 'Three\\nfour']
    """
    parser = _TextContent()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    marks = parser.breaks + [(len(text), 0)]
    spans = []
    for (a, depth), (b, _) in itertools.pairwise(marks):
        chunk = text[a:b]
        if not chunk.strip():
            continue
        if depth > 0:  # inside a block: one paragraph
            lead = len(chunk) - len(chunk.lstrip())
            spans.append((a + lead, a + len(chunk.rstrip())))
        else:
            spans.extend((a + pa, a + pb) for pa, pb in core.line_paragraphs(chunk))
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


def tag_tree(ids: list[str], names: list[str], descriptions: list[str]) -> pd.DataFrame:
    """Taguette tags as a code tree: a tag named ``A > B > C`` (as themeassist writes a
    nested code) is the code C below A > B; other tags are flat codes. Levels that are not
    tags themselves are added as non-codable codes.

    Examples
    --------
    >>> m = tag_tree(["1", "2"], ["Funding > Challenge > Short", "Tag"], ["d", ""])
    >>> list(zip(m.name, m.theme, m.valence, m.subtheme, m.in_codebook))
    ... # doctest: +NORMALIZE_WHITESPACE
    [('Funding', 'Funding', '', '', False), ('Challenge', 'Funding', '', '', False),
     ('Short', 'Funding', 'challenge', 'Short', True), ('Tag', 'Tag', '', 'Tag', True)]
    """
    by_path = {str(n).strip(): (i, d) for i, n, d in zip(ids, names, descriptions)}
    rows, made = [], {}
    for name in sorted(by_path, key=lambda n: (n.split(core.PATH_SEP), n)):
        parts = [x.strip() for x in name.split(core.PATH_SEP)] if core.PATH_SEP in name \
            else [name]
        parent = ""
        for k in range(1, len(parts) + 1):
            key = core.PATH_SEP.join(parts[:k])
            if key in made:
                parent = made[key]
                continue
            tag = by_path.get(key) if k == len(parts) or key in by_path else None
            cid = tag[0] if tag else f"path:{key}"
            rows.append({"code_id": cid, "name": parts[k - 1], "parent_id": parent,
                         "codable": tag is not None, "description": tag[1] if tag else ""})
            made[key] = parent = cid
    frame = pd.DataFrame(rows, columns=["code_id", "name", "parent_id", "codable", "description"])
    return core.map_code_tree(frame)


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
        docs = con.execute("select id, name, contents, description from documents order by id").fetchall()
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
    from themeassist.qda.refi import _strip_speakers

    for did, name, contents, description in docs:
        text, spans = html_text(contents or "")
        meta: dict[int, dict] = {}
        if (description or "").startswith(SPEAKERS_NOTE):
            try:
                known = set(json.loads(description[len(SPEAKERS_NOTE):]))
            except ValueError:
                known = set()
            spans = _strip_speakers(text, spans, meta, known)
        tid = Path(name).stem or str(did)
        while tid in taken:
            tid = f"{tid}-{did}"
        taken.add(tid)
        names[did] = name
        sources.append(core.Source(str(did), tid, text, spans, meta))
    codes = tag_tree([str(t[0]) for t in tags], [t[1] for t in tags],
                     [t[2] or "" for t in tags])
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
    codes = tag_tree(tag_names, tag_names, [""] * len(tag_names))
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


# --------------------------------------------------------------------------- codebook, xlsx
def read_taguette_codebook(path: str | Path) -> dict:
    """Import a Taguette codebook export (``codebook.csv``: ``tag``, ``description``, ...).

    Taguette's own export has no byte-order mark; themeassist's has one. Both read the same.
    """
    from themeassist import io

    path = Path(path)
    df = io.read_table(path)
    cols = {c.lower(): c for c in df.columns}
    if "tag" not in cols:
        raise InputError("not a Taguette codebook", path=path, row=1,
                         expected="a 'tag' column", got=", ".join(df.columns))
    names = df[cols["tag"]].str.strip()
    empty = names == ""
    if empty.any():
        i = int(empty.to_numpy().argmax())
        raise InputError("empty tag name", path=path, row=tables.spreadsheet_row(i),
                         column=cols["tag"], expected="a name", got="")
    desc = df[cols["description"]].str.strip() if "description" in cols else [""] * len(df)
    codes = tag_tree(names.tolist(), names.tolist(), list(desc))
    out = core.build_tables([], codes, pd.DataFrame(
        columns=["source", "source_id", "selection_id", "coding_id", "code_id", "code",
                 "coder", "start", "end", "skip"]))
    out["summary"]["origin"] = "Taguette codebook"
    return out


def read_taguette_table(path: str | Path, *, coder: str = "taguette") -> dict:
    """A Taguette CSV or XLSX export: the highlights (``id, document, tag, content``) or the
    codebook (``tag, description, ...``), told apart by their columns."""
    from themeassist import io

    path = Path(path)
    cols = {c.lower() for c in io.read_table(path).columns}
    if "tag" in cols and not {"id", "content"} <= cols:
        return read_taguette_codebook(path)
    return read_taguette_csv(path, coder=coder)


# --------------------------------------------------------------------------- export
#: Taguette 1.5.2's database schema (``taguette.database.models``) and its Alembic head:
#: Taguette imports a project only as such a database (``/api/import``, "Import a project").
TAGUETTE_ALEMBIC_HEAD = "db5e31a0233d"
TAGUETTE_APPLICATION_ID = 0x54677474  # 'Tgtt'
_SCHEMA = """
CREATE TABLE users (login VARCHAR(30) NOT NULL, created DATETIME NOT NULL,
  hashed_password VARCHAR(192), disabled BOOLEAN NOT NULL, password_set_date DATETIME,
  language VARCHAR(10), email VARCHAR(256), email_sent DATETIME,
  CONSTRAINT pk_users PRIMARY KEY (login));
CREATE UNIQUE INDEX ix_users_email ON users (email);
CREATE TABLE projects (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, name VARCHAR(200) NOT NULL,
  description TEXT NOT NULL, created DATETIME NOT NULL);
CREATE TABLE project_members (project_id INTEGER NOT NULL, user_login VARCHAR(30) NOT NULL,
  privileges VARCHAR(11) NOT NULL,
  CONSTRAINT pk_project_members PRIMARY KEY (project_id, user_login),
  CONSTRAINT fk_project_members_project_id_projects FOREIGN KEY(project_id)
    REFERENCES projects (id) ON DELETE CASCADE,
  CONSTRAINT fk_project_members_user_login_users FOREIGN KEY(user_login)
    REFERENCES users (login) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE INDEX ix_project_members_project_id ON project_members (project_id);
CREATE INDEX ix_project_members_user_login ON project_members (user_login);
CREATE TABLE documents (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, name VARCHAR(200) NOT NULL,
  description TEXT NOT NULL, filename VARCHAR(200) NOT NULL, created DATETIME NOT NULL,
  project_id INTEGER NOT NULL, text_direction VARCHAR(13) NOT NULL, contents TEXT NOT NULL,
  CONSTRAINT fk_documents_project_id_projects FOREIGN KEY(project_id)
    REFERENCES projects (id) ON DELETE CASCADE);
CREATE INDEX ix_documents_project_id ON documents (project_id);
CREATE TABLE commands (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, date DATETIME NOT NULL,
  user_login VARCHAR(30) NOT NULL, project_id INTEGER NOT NULL, document_id INTEGER,
  payload TEXT NOT NULL,
  CONSTRAINT fk_commands_user_login_users FOREIGN KEY(user_login)
    REFERENCES users (login) ON UPDATE CASCADE,
  CONSTRAINT fk_commands_project_id_projects FOREIGN KEY(project_id)
    REFERENCES projects (id) ON DELETE CASCADE);
CREATE INDEX ix_commands_user_login ON commands (user_login);
CREATE INDEX ix_commands_date ON commands (date);
CREATE INDEX idx_project_id ON commands (project_id, id);
CREATE INDEX ix_commands_document_id ON commands (document_id);
CREATE INDEX idx_project_document ON commands (project_id, document_id);
CREATE INDEX ix_commands_project_id ON commands (project_id);
CREATE TABLE tags (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, project_id INTEGER NOT NULL,
  path VARCHAR(200) NOT NULL, description TEXT NOT NULL,
  CONSTRAINT uq_tags_project_id UNIQUE (project_id, path),
  CONSTRAINT fk_tags_project_id_projects FOREIGN KEY(project_id)
    REFERENCES projects (id) ON DELETE CASCADE);
CREATE INDEX ix_tags_path ON tags (path);
CREATE INDEX ix_tags_project_id ON tags (project_id);
CREATE TABLE highlights (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  document_id INTEGER NOT NULL, start_offset INTEGER NOT NULL, end_offset INTEGER NOT NULL,
  snippet TEXT NOT NULL,
  CONSTRAINT fk_highlights_document_id_documents FOREIGN KEY(document_id)
    REFERENCES documents (id) ON DELETE CASCADE);
CREATE INDEX ix_highlights_document_id ON highlights (document_id);
CREATE TABLE highlight_tags (highlight_id INTEGER NOT NULL, tag_id INTEGER NOT NULL,
  CONSTRAINT pk_highlight_tags PRIMARY KEY (highlight_id, tag_id),
  CONSTRAINT fk_highlight_tags_highlight_id_highlights FOREIGN KEY(highlight_id)
    REFERENCES highlights (id) ON DELETE CASCADE,
  CONSTRAINT fk_highlight_tags_tag_id_tags FOREIGN KEY(tag_id)
    REFERENCES tags (id) ON DELETE CASCADE);
CREATE INDEX ix_highlight_tags_highlight_id ON highlight_tags (highlight_id);
CREATE INDEX ix_highlight_tags_tag_id ON highlight_tags (tag_id);
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,
  CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
"""
_FIXED_DATE = "2000-01-01 00:00:00.000000"
#: Start of the document description in which themeassist lists a document's speakers, so a
#: re-import takes the ``Speaker: `` turns apart again (Taguette keeps descriptions).
SPEAKERS_NOTE = "themeassist speakers: "


def tag_names(codebook: pd.DataFrame, warnings_: list[str] | None = None,
              theme_level=()) -> dict[tuple, str]:
    """Code triple -> Taguette tag name: a flat code keeps its name, a nested code is its path
    in the REFI tree joined with ``" > "`` (read back by :func:`tag_tree`), and each theme
    in ``theme_level`` (themes coded at theme level) gets a tag of its own name."""
    from themeassist.qda import refi

    tree, guids = refi._code_tree(codebook, warnings_, list(theme_level))
    path_of: dict[str, str] = {}
    stack = [("", tree)]
    while stack:
        prefix, nodes = stack.pop()
        for name, n in nodes.items():
            full = f"{prefix}{core.PATH_SEP}{name}" if prefix else name
            path_of[n["guid"]] = full
            stack.append((full, n["children"]))
    return {triple: path_of[g] for triple, g in guids.items()}


def codebook_csv_bytes(codebook: pd.DataFrame) -> bytes:
    """The codebook as Taguette imports it ("Import a codebook"): CSV, UTF-8 with a byte-order
    mark (Taguette guesses the encoding with chardet and mangles non-ASCII names without one),
    columns ``tag`` and ``description``; one row per code, nested codes as ``A > B > C``.

    Examples
    --------
    >>> cb = tables.validate_codebook(pd.DataFrame({"theme": ["Café"], "valence": [""],
    ...     "subtheme": ["Café"], "description": ["d"]}))
    >>> codebook_csv_bytes(cb).decode("utf-8-sig").splitlines()
    ['tag,description', 'Café,d']
    """
    import csv
    import io as _io

    book = tables.validate_codebook(codebook)
    names = tag_names(book)
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["tag", "description"])
    for t, v, s, d in zip(book["theme"], book["valence"], book["subtheme"], book["description"]):
        w.writerow([names[(t, v, s)], d])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def project_sqlite(segments: pd.DataFrame, codings: pd.DataFrame, codebook: pd.DataFrame,
                   path: str | Path, *, name: str = "themeassist export") -> list[str]:
    """Write a Taguette 1.5.2 project database (what Taguette's "Import a project" reads).

    One document per transcript: each segment a ``<p>`` (a speaker's turn as
    ``Speaker: text``); one highlight per coding (per ``span`` part of a partial one) over
    the segment's text, its offsets counted in UTF-8 bytes of the document's text content
    as Taguette counts them; one tag per code (see :func:`tag_names`). Taguette has no
    coder per highlight: every highlight is the importing user's, so codings by several
    coders are all written and a warning says so.

    Returns
    -------
    list of str
        Warnings (what Taguette cannot carry).
    """
    import html as _html

    warnings_: list[str] = []
    segments = tables.validate_segments(segments)
    codebook = tables.validate_codebook(codebook)
    codings = tables.validate_codings(codings, codebook, segments)
    names = tag_names(codebook, warnings_,
                      codings.loc[codings["subtheme"] == "", "theme"].unique())
    names = {k: v for k, v in names.items()
             if k[2] or k[0] in set(codings.loc[codings["subtheme"] == "", "theme"])}
    long = [n for n in names.values() if len(n) > 200]
    if long:
        raise InputError("code path too long for a Taguette tag (200 characters at most)",
                         expected="<= 200 characters", got=long[0])
    coders = sorted(codings["coder"].unique())
    if len(coders) > 1:
        warnings_.append(f"Taguette keeps no coder per highlight: the codings of {len(coders)} "
                         f"coders ({', '.join(coders)}) all become the importing user's")
    if "confidence" in codings and codings["confidence"].notna().any():
        warnings_.append("Taguette has no field for the machine's confidence: not written")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    try:
        con.executescript(_SCHEMA)
        con.execute(f"PRAGMA application_id={TAGUETTE_APPLICATION_ID}")
        con.execute("insert into alembic_version values (?)", (TAGUETTE_ALEMBIC_HEAD,))
        con.execute("insert into users (login, created, disabled) values ('admin', ?, 0)",
                    (_FIXED_DATE,))
        con.execute("insert into projects values (1, ?, '', ?)", (name[:50] or "export",
                                                                   _FIXED_DATE))
        con.execute("insert into project_members values (1, 'admin', 'ADMIN')")
        tag_id = {}
        for i, tag in enumerate(sorted(set(names.values())), start=1):
            desc = ""
            for (t, v, s), n in names.items():
                if n == tag:
                    hit = codebook[(codebook.theme == t) & (codebook.valence == v)
                                   & (codebook.subtheme == s)]
                    desc = hit["description"].iat[0] if len(hit) else desc
            con.execute("insert into tags values (?, 1, ?, ?)", (i, tag, desc))
            tag_id[tag] = i
        by_seg = {sid: g for sid, g in codings.groupby("segment_id", sort=False)}
        hid = 0
        order = {t: i for i, t in enumerate(dict.fromkeys(segments["transcript_id"]))}
        ordered = segments.assign(_o=segments["transcript_id"].map(order)).sort_values(
            ["_o", "position"], kind="stable")
        for doc_id, (_, grp) in enumerate(ordered.groupby("_o", sort=True), start=1):
            tid = str(grp["transcript_id"].iat[0])
            if len(tid) > 50:
                warnings_.append(f"document name {tid!r} cut to 50 characters (Taguette's limit)")
            html_parts, text_len, highlights = [], 0, []
            for k, seg in enumerate(grp.to_dict("records")):
                from themeassist.qda.refi import paragraph_text

                para = paragraph_text(seg["text"])
                sp = paragraph_text(seg["speaker"]) if isinstance(seg.get("speaker"), str) else ""
                line = f"{sp}: {para}" if sp else para
                if k:
                    text_len += 1  # the "\n" between paragraphs
                start = text_len + len((line[:len(line) - len(para)]).encode("utf-8"))
                html_parts.append(f"<p>{_html.escape(line, quote=False)}</p>")
                for row in (by_seg[seg["segment_id"]].to_dict("records")
                            if seg["segment_id"] in by_seg else []):
                    tag = names[(row["theme"], row["valence"], row["subtheme"])]
                    for x, y in core.parse_span(row.get("span", ""), len(para)):
                        a = start + len(para[:x].encode("utf-8"))
                        b = start + len(para[:y].encode("utf-8"))
                        highlights.append((a, b, para[x:y], tag))
                text_len += len(line.encode("utf-8"))
            speakers = sorted({paragraph_text(x) for x in grp["speaker"]
                               if isinstance(x, str) and x.strip()})
            desc = SPEAKERS_NOTE + json.dumps(speakers, ensure_ascii=False) if speakers else ""
            con.execute("insert into documents values (?, ?, ?, ?, ?, 1, 'LEFT_TO_RIGHT', ?)",
                        (doc_id, tid[:50], desc, (tid + ".html")[:100], _FIXED_DATE,
                         "\n".join(html_parts)))
            merged: dict[tuple, set] = {}
            for a, b, snippet, tag in highlights:
                merged.setdefault((a, b, snippet), set()).add(tag)
            for (a, b, snippet), tags in sorted(merged.items()):
                hid += 1
                con.execute("insert into highlights values (?, ?, ?, ?, ?)",
                            (hid, doc_id, a, b, _html.escape(snippet, quote=False)))
                for tag in sorted(tags):
                    con.execute("insert into highlight_tags values (?, ?)", (hid, tag_id[tag]))
        con.commit()
        con.close()
        os.replace(tmp, path)
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    return warnings_
