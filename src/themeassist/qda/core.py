"""The format-independent core of QDA import: offsets, paragraphs, codes, selections -> tables.

Every reader (:mod:`~themeassist.qda.refi`, :mod:`~themeassist.qda.taguette`) turns its file
into three plain inputs and calls :func:`build_tables`:

- **sources**: :class:`Source` objects (a transcript's full plain text and its paragraphs as
  code-point spans);
- **codes**: one row per code of the tool's code tree, already mapped to theme / valence /
  subtheme by :func:`map_code_tree`;
- **selections**: one row per (coded selection, code) pair, with its offsets in the tool's own
  unit and, when the reader already knows it cannot be imported, the reason.

:func:`build_tables` maps each selection onto the paragraphs it overlaps and returns the
segments, codings and codebook tables of DESIGN.md section 3, plus a report that lists every
selection with its status (``imported`` or ``skipped``), how it met the paragraphs (``whole``,
``partial``, ``spanning``) and, when skipped, why.

Offsets
-------
Tools count characters differently. The REFI-QDA standard counts characters (Unicode code
points); NVivo 12.6 counts UTF-16 code units (an emoji is 2) over the file as written (CRLF is
2, the byte-order mark is not counted), as its own export ``oltas0517.qdpx`` shows; Taguette
stores UTF-8 byte offsets into the text content of its HTML. :data:`OFFSET_UNITS` converts all
three to code points; :func:`detect_offset_unit` picks the unit whose selection boundaries fall
on word boundaries most often (code points on a tie: the standard's unit).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from themeassist import tables
from themeassist.errors import InputError

log = logging.getLogger(__name__)

#: How many units each code point takes, per offset convention.
OFFSET_UNITS = {
    "codepoint": lambda ch: 1,
    "utf16": lambda ch: 2 if ord(ch) > 0xFFFF else 1,
    "utf8": lambda ch: len(ch.encode("utf-8", "surrogatepass")),
}

#: Code names read as a valence branch (case-insensitive), anywhere in a code's path.
VALENCE_NAMES = {
    "success": "success", "successes": "success",
    "challenge": "challenge", "challenges": "challenge",
}

#: Separator joining the levels of a deep code path below its theme into one subtheme name.
PATH_SEP = " > "

REPORT_COLUMNS = ("source", "selection_id", "coding_id", "coder", "code", "start", "end",
                  "status", "kind", "segments", "reason")

_LINE = re.compile(r"[^\r\n\u2028\u2029]+")


@dataclass
class Source:
    """A text source: its plain text and its paragraphs as ``(start, end)`` code-point spans.

    ``meta`` optionally maps a paragraph's index to segment columns that override the derived
    ones (``segment_id``, ``position``, ``speaker``, ...), e.g. from themeassist's own sidecar.
    """

    source_id: str
    transcript_id: str
    text: str
    paragraphs: list[tuple[int, int]]
    meta: dict[int, dict] = field(default_factory=dict)


def unit_boundaries(text: str, unit: str) -> np.ndarray:
    """Cumulative offset, in ``unit``, of each code-point boundary of ``text`` (length n + 1).

    Examples
    --------
    >>> unit_boundaries("a\\U0001F600b", "utf16").tolist()
    [0, 1, 3, 4]
    >>> unit_boundaries("é", "utf8").tolist()
    [0, 2]
    """
    if unit not in OFFSET_UNITS:
        raise InputError("unknown offset unit", expected=f"one of {sorted(OFFSET_UNITS)}",
                         got=unit)
    if unit == "codepoint":
        return np.arange(len(text) + 1, dtype=np.int64)
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if unit == "utf16":
        lengths = 1 + (cp > 0xFFFF)
    else:
        lengths = 1 + (cp >= 0x80) + (cp >= 0x800) + (cp >= 0x10000)
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])


def to_codepoints(text: str, offsets, unit: str) -> np.ndarray:
    """Convert offsets counted in ``unit`` to code-point indexes; -1 where an offset falls
    inside a character or outside the text.

    Examples
    --------
    >>> to_codepoints("a\\U0001F600b", [0, 1, 3, 4, 2, 9], "utf16").tolist()
    [0, 1, 2, 3, -1, -1]
    """
    bounds = unit_boundaries(text, unit)
    off = np.asarray(offsets, dtype=np.int64)
    idx = np.searchsorted(bounds, off)
    ok = (idx < len(bounds)) & (off >= 0)
    ok[ok] &= bounds[idx[ok]] == off[ok]
    return np.where(ok, idx, -1)


def from_codepoints(text: str, indexes, unit: str) -> np.ndarray:
    """Code-point indexes to offsets counted in ``unit`` (inverse of :func:`to_codepoints`)."""
    return unit_boundaries(text, unit)[np.asarray(indexes, dtype=np.int64)]


def _natural(text: str, start: int, end: int) -> int:
    """How many of a selection's two ends fall on a word boundary (0, 1 or 2)."""
    n = len(text)
    if not (0 <= start < end <= n):
        return 0
    score = int(start == 0 or not text[start - 1].isalnum() or not text[start].isalnum())
    score += int(end == n or not text[end].isalnum() or not text[end - 1].isalnum())
    return score


def detect_offset_unit(texts: dict[str, str], selections: pd.DataFrame,
                       candidates=("codepoint", "utf16")) -> tuple[str, dict[str, int]]:
    """Pick the offset unit under which selections start and end on word boundaries most often.

    Parameters
    ----------
    texts : dict
        Source id -> plain text.
    selections : DataFrame
        Columns ``source_id``, ``start``, ``end`` (in the unknown unit).
    candidates : tuple of str
        Units to try, the preferred one first: it wins ties (and wins outright when the texts
        hold no character on which the units differ).

    Returns
    -------
    unit : str
    scores : dict
        Unit -> number of selection ends on a word boundary.

    Examples
    --------
    >>> text = "\\U0001F600 good day"
    >>> sel = pd.DataFrame({"source_id": ["s"], "start": [3], "end": [7]})
    >>> detect_offset_unit({"s": text}, sel)[0]
    'utf16'
    """
    scores = {}
    for unit in candidates:
        total = 0
        for sid, grp in selections.groupby("source_id", sort=False):
            text = texts.get(sid)
            if text is None:
                continue
            starts = to_codepoints(text, grp["start"].to_numpy(), unit)
            ends = to_codepoints(text, grp["end"].to_numpy(), unit)
            total += sum(_natural(text, int(a), int(b))
                         for a, b in zip(starts, ends) if a >= 0 and b >= 0)
        scores[unit] = total
    best = max(candidates, key=lambda u: (scores[u], -candidates.index(u)))
    return best, scores


def line_paragraphs(text: str) -> list[tuple[int, int]]:
    """Paragraph spans of a plain text: each non-blank line, without surrounding whitespace.

    Lines end at LF, CRLF, CR, U+2028 or U+2029.

    Examples
    --------
    >>> line_paragraphs("\\ufeffOne.\\r\\n\\r\\n  Two. \\n")
    [(1, 5), (11, 15)]
    """
    spans = []
    for m in _LINE.finditer(text):
        a, b = m.span()
        chunk = text[a:b]
        lead = len(chunk) - len(chunk.lstrip())
        trail = len(chunk) - len(chunk.rstrip())
        if b - trail > a + lead and chunk.strip("\ufeff \t\f\v"):
            a += lead
            b -= trail
            while a < b and text[a] == "\ufeff":
                a += 1
            spans.append((a, b))
    return spans


def map_code_tree(codes: pd.DataFrame) -> pd.DataFrame:
    """Map a QDA code tree to themeassist's (theme, valence, subtheme).

    Rules, applied to each code's path of names from the top of the tree:

    - the top-level code is the **theme**;
    - a level named Success(es) or Challenge(s) (:data:`VALENCE_NAMES`, any case) sets the
      **valence** and is dropped from the path when it is a *branch*: it sits at the top
      (Challenges > Theme > X) or directly below the theme (Theme > Challenges > X) and has
      codes below it. A valence word anywhere else, or on a leaf (``Outcomes > Success``), is
      an ordinary name and stays in the subtheme;
    - the rest of the path below the theme, joined with ``" > "``, is the **subtheme**
      (Theme > A > B gives subtheme ``"A > B"``);
    - a top-level code with no children (a flat code list, e.g. Taguette tags) is its own
      theme and its own subtheme; so is a top-level code marked ``flat`` (themeassist wrote
      it as a flat code, and a QDA tool has since added sub-codes below it: the flat code is
      kept, not dissolved into theme-level coding);
    - codes with a subtheme enter the codebook (non-codable ones only when they are leaves);
      coding on a theme or a valence node becomes a theme-level code (empty subtheme and valence).

    The walk is iterative: trees of any depth are mapped without recursion.

    Parameters
    ----------
    codes : DataFrame
        ``code_id``, ``name``, ``parent_id`` (``""`` at the top), ``codable`` (bool),
        ``description``, optional ``flat`` (bool); parents listed before children.

    Returns
    -------
    DataFrame
        The input with ``path``, ``theme``, ``valence``, ``subtheme``, ``in_codebook`` and
        ``top_id`` (the code's top-level ancestor).

    Examples
    --------
    >>> codes = pd.DataFrame({
    ...     "code_id": ["t", "c", "x", "flat"], "name": ["Funding", "Challenges", "Short", "Tag"],
    ...     "parent_id": ["", "t", "c", ""], "codable": [True, False, True, True],
    ...     "description": ["", "", "", ""]})
    >>> m = map_code_tree(codes)
    >>> list(zip(m.theme, m.valence, m.subtheme, m.in_codebook))  # doctest: +NORMALIZE_WHITESPACE
    [('Funding', '', '', False), ('Funding', '', '', False),
     ('Funding', 'challenge', 'Short', True), ('Tag', '', 'Tag', True)]
    """
    names = {k: str(v).strip() for k, v in zip(codes["code_id"], codes["name"])}
    parents = dict(zip(codes["code_id"], codes["parent_id"]))
    flat = (dict(zip(codes["code_id"], codes["flat"].astype(bool)))
            if "flat" in codes else {})
    has_children = set(codes["parent_id"]) - {""}
    # paths are built top-down from the parent's path (parents first), iteratively
    path_of: dict[str, list[str]] = {}
    top_of: dict[str, str] = {}
    rows = []
    for cid, codable in zip(codes["code_id"], codes["codable"]):
        if not cid:
            raise InputError("a code has no id", expected="a guid on every code",
                             got=names.get(cid, ""))
        parent = parents.get(cid, "")
        if parent and parent in path_of:
            path = [*path_of[parent], names[cid]]
        else:
            path, node, seen = [], cid, set()
            while node:
                if node in seen:
                    raise InputError("code tree has a cycle", got=names.get(node))
                seen.add(node)
                path.append(names.get(node, node))
                node = parents.get(node, "")
            path.reverse()
        path_of[cid] = path
        top = top_of.get(parent, parent) if parent else cid
        if parent and parent not in top_of:  # parent listed after its child: walk up
            top, seen = cid, {cid}
            while parents.get(top, ""):
                top = parents[top]
                if top in seen:
                    raise InputError("code tree has a cycle", got=names.get(top))
                seen.add(top)
        top_of[cid] = top
        leaf = cid not in has_children
        if len(path) == 1 and flat.get(cid, False):
            leaf = True
        theme, valence, subtheme = split_path(path, leaf=leaf)
        in_book = bool(subtheme) and (bool(codable) or leaf)
        rows.append((PATH_SEP.join(path), theme, valence, subtheme, in_book, top))
    mapped = pd.DataFrame(rows, columns=["path", "theme", "valence", "subtheme", "in_codebook",
                                         "top_id"], index=codes.index)
    return pd.concat([codes, mapped], axis=1)


def split_path(path: list[str], *, leaf: bool = True) -> tuple[str, str, str]:
    """(theme, valence, subtheme) of one code path, by the rules of :func:`map_code_tree`.

    ``leaf`` says whether the code at the end of ``path`` has no sub-codes.

    Examples
    --------
    >>> split_path(["Funding", "Challenges", "Short", "Term"])
    ('Funding', 'challenge', 'Short > Term')
    >>> split_path(["Success", "Funding", "Grant"])
    ('Funding', 'success', 'Grant')
    >>> split_path(["Tag"])
    ('Tag', '', 'Tag')
    >>> split_path(["Outcomes", "Success"])
    ('Outcomes', '', 'Success')
    >>> split_path(["Challenges", "success", "Overcome"])
    ('success', 'challenge', 'Overcome')
    """
    valence, rest = "", []
    last = len(path) - 1
    for i, name in enumerate(path):
        key = name.casefold()
        branch = i <= 1 and (i < last or not leaf) and len(path) > 1
        if not valence and key in VALENCE_NAMES and branch:
            valence = VALENCE_NAMES[key]
        else:
            rest.append(name)
    theme = rest[0] if rest else path[0]
    subtheme = PATH_SEP.join(rest[1:])
    if len(path) == 1 and leaf:
        subtheme = theme
    if not subtheme:
        valence = ""
    return theme, valence, subtheme


def _tf(v) -> str:
    return "true" if bool(v) else "false"


def _piece(text: str, pa: int, pb: int, a: int, b: int) -> str:
    """The part ``a..b`` of paragraph ``pa..pb`` as ``start-end`` in the paragraph's NFC text;
    ``""`` when it covers the whole paragraph."""
    a, b = max(a, pa), min(b, pb)
    if a <= pa and b >= pb:
        return ""
    nfc = lambda t: len(unicodedata.normalize("NFC", t))
    return f"{nfc(text[pa:a])}-{nfc(text[pa:b])}"


def _join_pieces(*spans: str) -> str:
    pieces = {tuple(int(x) for x in p.split("-")) for s in spans for p in s.split(";") if p}
    return ";".join(f"{x}-{y}" for x, y in sorted(pieces))


def parse_span(span: str, length: int) -> list[tuple[int, int]]:
    """``"3-9;12-20"`` -> [(3, 9), (12, 20)] clipped to ``length``; ``""`` -> the whole text.

    Examples
    --------
    >>> parse_span("", 5), parse_span("1-3;4-9", 5)
    ([(0, 5)], [(1, 3), (4, 5)])
    """
    if not str(span or "").strip():
        return [(0, length)]
    out = []
    for part in str(span).split(";"):
        try:
            x, y = (int(v) for v in part.split("-"))
        except ValueError:
            raise InputError("bad span", expected="start-end code-point ranges, ';' between",
                             got=span) from None
        x, y = max(0, min(x, length)), max(0, min(y, length))
        if y > x:
            out.append((x, y))
    return out or [(0, length)]


def _report_row(sel, **kw) -> dict:
    row = {c: "" for c in REPORT_COLUMNS}
    for c in ("source", "selection_id", "coding_id", "coder", "code", "start", "end"):
        row[c] = sel.get(c, "")
    row.update(kw)
    return row


def build_tables(sources: list[Source], codes: pd.DataFrame, selections: pd.DataFrame, *,
                 unit: str = "codepoint", segment_unit: str = "paragraph",
                 confidence: pd.DataFrame | None = None,
                 not_kept: list[str] | None = None) -> dict:
    """Map coded selections onto segments and return the themeassist tables and a report.

    Parameters
    ----------
    sources : list of Source
    codes : DataFrame
        As returned by :func:`map_code_tree`.
    selections : DataFrame
        One row per (selection, code): ``source_id``, ``selection_id``, ``coding_id``,
        ``code_id``, ``coder``, ``start``, ``end`` (in ``unit``) and ``skip`` (a reason, or
        ``""``); rows with a ``skip`` reason are reported and not imported.
    unit : str
        Offset unit of ``start``/``end`` (a key of :data:`OFFSET_UNITS`).
    segment_unit : {"paragraph", "selection"}
        ``paragraph``: a segment is a paragraph of the source and a selection codes every
        paragraph it overlaps (a selection inside one paragraph is ``partial``, one over
        several is ``spanning``). ``selection``: a segment is the selected text itself (one
        per distinct span), as when coders highlighted sentences.
    confidence : DataFrame, optional
        ``coding_id``, ``confidence``, ``needs_review`` to attach to codings (themeassist's
        own sidecar, or the selections' Descriptions).
    not_kept : list of str, optional
        What the reader already knows it could not keep (Sets, notes, non-text files, ...);
        returned in ``summary["not_kept"]`` with what this function adds.

    Codings gain ``span`` (paragraph mode, only when a selection does not cover its whole
    paragraph: the covered ``start-end`` code-point ranges of the segment's text, ``;``
    between several) and ``selected_by`` (only when the selection's user differs from the
    coding's). The codebook gains ``qda_path``, ``qda_codable``, ``theme_description`` and
    ``theme_codable`` so that an export rebuilds the tool's tree as it was.

    Returns
    -------
    dict
        ``segments``, ``codings``, ``codebook`` (validated tables), ``report`` (one row per
        selection-code pair, columns :data:`REPORT_COLUMNS`) and ``summary`` (counts).
    """
    if segment_unit not in ("paragraph", "selection"):
        raise InputError("unknown segment unit", expected="paragraph or selection",
                         got=segment_unit)
    code_map = codes.set_index("code_id")
    by_source = {s.source_id: s for s in sources}
    report: list[dict] = []
    # 1. resolve every selection to code-point spans (or a reason to skip it)
    resolved = []  # (sel dict, source, start_cp, end_cp, code row)
    for sid, grp in selections.groupby("source_id", sort=False):
        src = by_source.get(sid)
        if src is not None:
            starts = to_codepoints(src.text, grp["start"].astype(np.int64).to_numpy(), unit)
            ends = to_codepoints(src.text, grp["end"].astype(np.int64).to_numpy(), unit)
        else:
            starts = ends = np.full(len(grp), -1)
        for sel, a, b in zip(grp.to_dict("records"), starts, ends):
            if sel.get("skip"):
                report.append(_report_row(sel, status="skipped", reason=sel["skip"]))
                continue
            if src is None:
                report.append(_report_row(sel, status="skipped",
                                          reason="source not found or not a text source"))
                continue
            if sel["code_id"] not in code_map.index:
                report.append(_report_row(sel, status="skipped",
                                          reason="code not in the code tree"))
                continue
            if a < 0 or b < 0:
                report.append(_report_row(sel, status="skipped", reason=(
                    f"offsets outside the source text or inside a character "
                    f"(text is {int(unit_boundaries(src.text, unit)[-1])} {unit} units long)")))
                continue
            if b <= a:
                report.append(_report_row(sel, status="skipped", reason="empty selection"))
                continue
            resolved.append((sel, src, int(a), int(b), code_map.loc[sel["code_id"]]))

    # 2. segments
    seg_rows: list[dict] = []
    seg_index: dict[str, list[tuple[int, int, str]]] = {}
    if segment_unit == "paragraph":
        for src in sources:
            spans = []
            for i, (a, b) in enumerate(src.paragraphs):
                row = {"transcript_id": src.transcript_id, "position": i,
                       "text": unicodedata.normalize("NFC", src.text[a:b])}
                row.update(src.meta.get(i, {}))
                row.setdefault("segment_id", tables.make_segment_id(src.transcript_id,
                                                                    row["position"]))
                seg_rows.append(row)
                spans.append((a, b, row["segment_id"]))
            seg_index[src.source_id] = spans
    else:
        per_source: dict[str, set] = {}
        for _sel, src, a, b, _ in resolved:
            chunk = src.text[a:b]
            lead = len(chunk) - len(chunk.lstrip())
            trail = len(chunk) - len(chunk.rstrip())
            if b - trail > a + lead:
                per_source.setdefault(src.source_id, set()).add((a + lead, b - trail))
        for src in sources:
            spans = []
            for i, (a, b) in enumerate(sorted(per_source.get(src.source_id, ()))):
                sid = tables.make_segment_id(src.transcript_id, i)
                seg_rows.append({"segment_id": sid, "transcript_id": src.transcript_id,
                                 "position": i,
                                 "text": unicodedata.normalize("NFC", src.text[a:b])})
                spans.append((a, b, sid))
            seg_index[src.source_id] = spans

    # 3. codings (paragraph spans are sorted and disjoint: find overlaps by bisection)
    span_arrays = {k: (np.array([p[0] for p in v], dtype=np.int64),
                       np.array([p[1] for p in v], dtype=np.int64)) for k, v in seg_index.items()}
    codings: list[dict] = []
    seen: dict[tuple, int] = {}
    for sel, src, a, b, code in resolved:
        spans = seg_index.get(src.source_id, [])
        if segment_unit == "selection":
            chunk = src.text[a:b]
            ta, tb = a + len(chunk) - len(chunk.lstrip()), b - len(chunk) + len(chunk.rstrip())
            hit = [(pa, pb, sid) for pa, pb, sid in spans if (pa, pb) == (ta, tb)]
        else:
            starts_, ends_ = span_arrays[src.source_id]
            lo = int(np.searchsorted(ends_, a, side="right"))
            hi = int(np.searchsorted(starts_, b, side="left"))
            hit = [spans[k] for k in range(lo, hi) if min(b, spans[k][1]) - max(a, spans[k][0]) > 0]
        if not hit:
            report.append(_report_row(sel, status="skipped",
                                      reason="selects only blank text between paragraphs"))
            continue
        if len(hit) > 1:
            kind = "spanning"
        elif a <= hit[0][0] and b >= hit[0][1]:
            kind = "whole"
        else:
            kind = "partial"
        notes = []
        if kind == "partial":
            pa, pb, _ = hit[0]
            notes.append(f"covers {min(b, pb) - max(a, pa)} of {pb - pa} characters of its paragraph")
        if kind == "spanning":
            notes.append(f"spans {len(hit)} paragraphs; coded on each")
        triple = (code["theme"], code["valence"], code["subtheme"])
        selected_by = str(sel.get("selected_by") or "")
        for pa, pb, segid in hit:
            piece = _piece(src.text, pa, pb, a, b) if segment_unit == "paragraph" else ""
            key = (segid, sel["coder"], *triple)
            if key in seen:
                row = codings[seen[key]]
                if row["span"] and piece:  # a second partial selection: keep both boundaries
                    row["span"] = _join_pieces(row["span"], piece)
                elif row["span"]:  # this one covers the whole paragraph
                    row["span"] = ""
                notes.append(f"{segid} already had this code from selection "
                             f"{row['selection_id']}")
                continue
            seen[key] = len(codings)
            codings.append({"segment_id": segid, "coder": sel["coder"], "theme": triple[0],
                            "valence": triple[1], "subtheme": triple[2],
                            "coding_id": sel["coding_id"], "selection_id": sel["selection_id"],
                            "span": piece,
                            "selected_by": selected_by if selected_by != sel["coder"] else ""})
        report.append(_report_row(sel, status="imported", kind=kind,
                                  segments=";".join(s for _, _, s in hit),
                                  reason="; ".join(notes)))

    # 4. tables
    segments = tables.validate_segments(pd.DataFrame(
        seg_rows, columns=list(dict.fromkeys(["segment_id", "transcript_id", "position", "text",
                                              *(k for r in seg_rows for k in r)]))))
    codings_df = pd.DataFrame(codings, columns=["segment_id", "coder", "theme", "valence",
                                                "subtheme", "coding_id", "selection_id", "span",
                                                "selected_by"])
    if confidence is not None and len(codings_df):
        codings_df = codings_df.merge(confidence, on="coding_id", how="left")
    codings_df = codings_df.drop(columns=["coding_id", "selection_id"])
    for col in ("span", "selected_by"):  # only when they carry something
        if not (codings_df[col] != "").any():
            codings_df = codings_df.drop(columns=col)
    # canonical order (segment order, coder, code) so a round trip gives the same bytes
    seg_order = {sid: i for i, sid in enumerate(segments["segment_id"])}
    codings_df = (codings_df.assign(_o=codings_df["segment_id"].map(seg_order))
                  .sort_values(["_o", "coder", *tables.CODE_KEY], kind="stable")
                  .drop(columns="_o").reset_index(drop=True))
    if "confidence" in codings_df and codings_df["confidence"].isna().all():
        codings_df = codings_df.drop(columns=[c for c in ("confidence", "needs_review")
                                              if c in codings_df])
    book = codes[codes["in_codebook"]]
    book = book.drop_duplicates(["theme", "valence", "subtheme"])
    top_desc = dict(zip(codes["code_id"], codes["description"]))
    top_codable = dict(zip(codes["code_id"], codes["codable"].astype(bool)))
    codebook = pd.DataFrame({"theme": book["theme"], "valence": book["valence"],
                             "subtheme": book["subtheme"], "description": book["description"],
                             "qda_path": book["path"],
                             "qda_codable": book["codable"].astype(bool).map(_tf),
                             "theme_description": book["top_id"].map(top_desc).fillna(""),
                             "theme_codable": book["top_id"].map(top_codable).map(_tf)})
    codebook = tables.validate_codebook(codebook) if len(codebook) else codebook
    codings_df = tables.validate_codings(codings_df, codebook if len(codebook) else None,
                                         segments)
    not_kept = list(not_kept or [])
    kept_desc = set(book["code_id"]) | set(book["top_id"])
    for cid, path, desc in zip(codes["code_id"], codes["path"], codes["description"]):
        if desc and cid not in kept_desc:
            not_kept.append(f"description of code {path!r}: the code is not a codebook entry "
                            "(a valence branch or a non-codable intermediate code)")
    rep = pd.DataFrame(report, columns=list(REPORT_COLUMNS))
    summary = {
        "sources": len(sources),
        "segments": len(segments),
        "codes": len(codes),
        "codebook_rows": len(codebook),
        "coded_selections": int(rep["selection_id"].nunique()),
        "selection_codes": len(rep),
        "imported": int((rep["status"] == "imported").sum()),
        "skipped": int((rep["status"] == "skipped").sum()),
        "kinds": {k: int(v) for k, v in rep.loc[rep["status"] == "imported", "kind"]
                  .value_counts().sort_index().items()},
        "skip_reasons": {k: int(v) for k, v in rep.loc[rep["status"] == "skipped", "reason"]
                         .value_counts().sort_index().items()},
        "codings": len(codings_df),
        "coders": sorted(codings_df["coder"].unique().tolist()),
        "offset_unit": unit,
        "segment_unit": segment_unit,
        "not_kept": not_kept,
    }
    return {"segments": segments, "codings": codings_df, "codebook": codebook,
            "report": rep, "summary": summary}
