"""Turn the usability think-aloud study into themeassist's segments, codebook and codings.

The data (``../shared/data/usability-think-aloud/``, GPL-3.0, evaluation only) are 17
think-aloud sessions of health-data researchers with the SERDIF dashboard and the
researchers' own final coding (Navarro-Gallinad, Orlandi & O'Sullivan 2022, Semantic Web
Journal; github.com/navarral/swj2022-usability-paper, commit 8ce3b61). The outputs are
written OUTSIDE the repository (default ``/work/usability``) and must never be committed.

Outputs (all validated with :mod:`themeassist.tables`):

``segments.csv``
    One row per transcript paragraph except the numbered task prompts. ``segment_id`` =
    ``make_segment_id(transcript_id, position)``; ``transcript_id`` = ``P1`` .. ``P17``;
    ``position`` = the paragraph's 0-based line number in ``transcripts_txt/<doc>.txt``
    (prompt lines and blank lines keep their numbers, so positions have gaps and point back
    to the file); ``text`` = the paragraph (``MODERATOR:`` prefix removed); ``speaker`` =
    ``MODERATOR`` for moderator lines, the participant id (``P1``) for utterances, empty for
    bracketed transcriber notes such as "(The participant reads the task again)";
    ``role`` = ``facilitator`` for moderator lines, ``participant`` otherwise (notes
    included, as in the issue's count); ``question`` = the top-level task number ``"1"`` ..
    ``"9"``; extra columns ``prompt`` (the finest prompt id, e.g. ``"4.c.ii"``) and
    ``kind`` (``utterance``, ``moderator`` or ``note``); ``start``/``end`` empty.
    With ``--unit highlight`` a segment is instead one of the coder's own units: each
    highlight (a sentence or clause, often several to a line) is a segment, and the text no
    highlight covers is cut into segments too (a whole uncovered line always; a leftover of
    a coded line when it has ``--min-gap-words`` words or more); ``position`` is then the
    unit's reading order in the transcript and an extra column ``line`` the transcript line
    it starts on. This is the unit the issue-5 baseline was measured on (MiniLM + LR, 0.49
    on the 1,793 highlights); the default ``paragraph`` is the discovery issue's.
``codebook.csv``
    The 22 final codes of ``codebooks/codebook_20220303_8.csv``. The codes have no
    hierarchy and :func:`themeassist.tables.validate_codebook` requires a subtheme, so each
    code is ``theme = subtheme = code name`` with ``valence`` empty. ``description`` is the
    coders' definition; ``n_highlights`` their count; ``valence_interpretation``
    (success / challenge / empty) is OUR reading of the code's name, not the authors'.
``codings.csv``
    ``segment_id``, ``coder`` = ``human``, ``theme`` = ``subtheme`` = code name, ``valence``
    empty, plus ``valence_interpretation`` copied from the codebook. One row per (segment,
    code): a highlight spanning several paragraphs codes each of them; the same code from
    two highlights on one paragraph is kept once.
``alignment.csv``
    One row per highlight (Taguette id): document, codes, method (``exact``, ``fuzzy``,
    ``none``), similarity, the segment ids it was aligned to, the transcript lines it codes
    (``lines``) and the prompt lines it covered (prompts are not segments).
``summary.json`` and ``manifest.json``
    The printed summary, and inputs' hashes and settings.

Transcript parsing (kept small on purpose; the ``ingest`` package does this in general):
each line of ``transcripts_txt/*.txt`` is a paragraph. A numbered task prompt is a line
starting ``N `` (N the next task number), ``N.x `` (a sub-prompt of the current task) or
``x.roman `` (a sub-sub-prompt of the current sub-prompt ``x``); the sequence check keeps
participant lines such as "4 data sets." from being read as prompts (a candidate task
number is also rejected when the next numbered line is still a sub-prompt of the current
task, or the same task number again). ``MODERATOR:`` lines
are the facilitator; lines in parentheses are transcriber notes; the rest are the
participant's.

Highlight alignment: text is normalised (NFKC, straight quotes and dashes, ``...``,
whitespace collapsed, case-folded); each transcript's paragraphs are joined by one space.
A highlight found verbatim is ``exact`` (when it occurs several times, the occurrence used is
the first one not yet taken by an identical highlight, preferring whole paragraphs, then one at or
after the previous highlight of the same document in Taguette id order); otherwise
difflib anchors it on its longest common block and accepts the window when
``SequenceMatcher.ratio() >= --min-ratio`` (``fuzzy``); otherwise ``none``. The span codes
every paragraph it covers by at least half of the paragraph or ``--min-overlap`` characters
(at least the best-covered one).

Usage::

    export THEMEASSIST_CACHE=/work/cache
    .venv/bin/python scripts/prepare_usability.py [--data DIR] [--out /work/usability] \
        [--unit paragraph|highlight] [--force] [--embed]
    # the classifier's evaluation (issue 5) uses the coder's units:
    .venv/bin/python scripts/prepare_usability.py --unit highlight --out /work/usability-hl
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import re
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from themeassist import io
from themeassist.errors import InputError, ThemeassistError
from themeassist.tables import (
    make_segment_id,
    validate_codebook,
    validate_codings,
    validate_segments,
)

log = logging.getLogger("prepare_usability")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "usability-think-aloud"
DEFAULT_OUT = Path("/work/usability")
TAGS = Path("tags") / "all_tags_20220303.csv"
CODEBOOK = Path("codebooks") / "codebook_20220303_8.csv"
TRANSCRIPTS = "transcripts_txt"
CODER = "human"
UNITS = ("paragraph", "highlight")

#: OUR interpretation of each final code's valence, read from its name and definition (the
#: upstream data has none). Codes not listed (a suggestion, a request for explanation, a
#: moderator intervention) carry no valence.
VALENCE_INTERPRETATION = {
    "Home tab elements useful": "success",
    "Simple export": "success",
    "Search feature simple": "success",
    "Data table features useful": "success",
    "Export (meta)data useful": "success",
    "Visualization useful": "success",
    "Overall positive experience": "success",
    "Query inputs and elements useful": "success",
    "Query process clear": "success",
    "Metadata content clear and useful": "success",
    "System issue": "challenge",
    "Event concept and approach not clear": "challenge",
    "Wording not clear": "challenge",
    "Query process complex": "challenge",
    "Search information process complex": "challenge",
    "Plot design complex": "challenge",
    "Metadata content not useful or confusing": "challenge",
    "Task sequence complex": "challenge",
    "Navigation complex": "challenge",
}

_ROMAN = r"(?:i{1,3}|iv|vi{0,3}|ix|x)"
_PROMPT = re.compile(rf"^(?:(?P<top>\d{{1,2}})(?:\.(?P<sub>[a-z]))?"
                     rf"|(?P<letter>[a-z])\.(?P<roman>{_ROMAN}))\s+\S")
_NOTE = re.compile(r"^\(.*\)\.?$")
_MODERATOR = re.compile(r"^MODERATOR\s*:\s*", re.IGNORECASE)


# --------------------------------------------------------------------------- parsing
def parse_transcript(lines: list[str], transcript_id: str) -> pd.DataFrame:
    """Split one transcript's paragraphs into prompts, moderator lines, notes and utterances.

    Parameters
    ----------
    lines : list of str
        The transcript's paragraphs, one per line, in order.
    transcript_id : str
        E.g. ``"P1"``; used as the participant's speaker name.

    Returns
    -------
    DataFrame
        One row per non-blank line: ``position`` (line number), ``raw`` (the line),
        ``text``, ``kind`` (``prompt``, ``moderator``, ``note`` or ``utterance``),
        ``speaker``, ``role``, ``question`` (current task number) and ``prompt`` (current
        prompt id). Lines before the first prompt have an empty question.

    Examples
    --------
    >>> df = parse_transcript(["1 Read the tab.", "1.a Was it enough?", "Yes.",
    ...                        "MODERATOR: Go on.", "2 data sets.", "(Reads again)",
    ...                        "1.b And?", "2 Log in.", "c.i Wrong level"], "P9")
    >>> df[["kind", "speaker", "question", "prompt"]].values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [['prompt', '', '1', '1'], ['prompt', '', '1', '1.a'], ['utterance', 'P9', '1', '1.a'],
     ['moderator', 'MODERATOR', '1', '1.a'], ['utterance', 'P9', '1', '1.a'],
     ['note', '', '1', '1.a'], ['prompt', '', '1', '1.b'], ['prompt', '', '2', '2'],
     ['utterance', 'P9', '2', '2']]
    """
    rows = []
    top, sub, prompt = 0, "", ""
    found = [_PROMPT.match(raw.strip()) for raw in lines]
    for pos, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        m = found[pos]
        kind = None
        if m:
            if (m["top"] is not None and m["sub"] is None and int(m["top"]) == top + 1
                    and _opens_task(found, pos, top)):
                top, sub, prompt, kind = int(m["top"]), "", m["top"], "prompt"
            elif m["sub"] is not None and int(m["top"]) == top:
                sub, prompt, kind = m["sub"], f"{top}.{m['sub']}", "prompt"
            elif m["letter"] is not None and m["letter"] == sub:
                prompt, kind = f"{top}.{sub}.{m['roman']}", "prompt"
        text, speaker, role = line, "", "participant"
        if kind is None:
            if _MODERATOR.match(line):
                kind, speaker, role = "moderator", "MODERATOR", "facilitator"
                text = _MODERATOR.sub("", line)
            elif _NOTE.match(line):
                kind = "note"
            else:
                kind, speaker = "utterance", transcript_id
        rows.append({"position": pos, "raw": line, "text": text, "kind": kind,
                     "speaker": speaker if kind != "prompt" else "",
                     "role": role if kind != "prompt" else "",
                     "question": str(top) if top else "", "prompt": prompt})
    return pd.DataFrame(rows, columns=["position", "raw", "text", "kind", "speaker", "role",
                                       "question", "prompt"])


def _opens_task(found: list, pos: int, top: int) -> bool:
    """Is the candidate ``top + 1`` at ``pos`` the real task prompt? Look at the next candidate.

    It is not when the next numbered line is still a sub-prompt of task ``top`` ("3 data
    sets." said during task 2, before "2.b") or another ``top + 1`` line (the real prompt
    comes later); it is when the next one is a sub-prompt of ``top + 1``, task ``top + 2``,
    or there is none.
    """
    new = top + 1
    for m in found[pos + 1:]:
        if m is None or m["top"] is None:
            continue
        n = int(m["top"])
        if m["sub"] is not None:
            if n == top:
                return False
            if n == new:
                return True
        elif n == new:
            return False
        elif n == new + 1:
            return True
    return True


def transcript_id_of(document: str) -> str:
    """``"P12_GMT20211206.odt"`` -> ``"P12"``.

    Examples
    --------
    >>> transcript_id_of("P12_GMT20211206.odt")
    'P12'
    """
    return Path(document).stem.split("_", 1)[0]


# --------------------------------------------------------------------------- alignment
_TRANSLATE = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                            "\u2032": "'", "`": "'", "\u201c": '"', "\u201d": '"',
                            "\u201e": '"', "\u2013": "-", "\u2014": "-", "\u2212": "-",
                            "\u2026": "...", "\u00a0": " "})


def normalise(text: str) -> str:
    """Normalise text for matching: NFKC, straight quotes/dashes, one space, case-folded.

    Examples
    --------
    >>> normalise("  It\u2019s  \u201cfine\u201d\u2026 ")
    'it\\'s "fine"...'
    """
    text = unicodedata.normalize("NFKC", str(text)).translate(_TRANSLATE)
    return re.sub(r"\s+", " ", text).strip().casefold()


def _doc_index(paragraphs: list[str]) -> tuple[str, np.ndarray, np.ndarray]:
    """Join normalised paragraphs by one space; return the string and each one's span."""
    starts, ends, parts, at = [], [], [], 0
    for p in paragraphs:
        starts.append(at)
        parts.append(p)
        at += len(p)
        ends.append(at)
        at += 1
    return " ".join(parts), np.array(starts), np.array(ends)


def _covered(span: tuple[int, int], starts: np.ndarray, ends: np.ndarray,
             min_overlap: int) -> list[int]:
    """Indices of paragraphs the span covers by half their length or ``min_overlap`` chars."""
    lo, hi = span
    overlap = np.minimum(ends, hi) - np.maximum(starts, lo)
    length = np.maximum(ends - starts, 1)
    keep = (overlap > 0) & ((2 * overlap >= length) | (overlap >= min_overlap))
    if not keep.any():
        keep = overlap == overlap.max()
        keep &= overlap > 0
    return [int(i) for i in np.flatnonzero(keep)]


def align_highlights(paragraphs: list[str], highlights: list[str], *, min_ratio: float = 0.8,
                     min_overlap: int = 20) -> list[dict]:
    """Find the paragraphs each highlight of one transcript came from.

    Parameters
    ----------
    paragraphs : list of str
        The transcript's paragraphs in order (raw text; normalised here).
    highlights : list of str
        The highlighted texts, in the order the coder made them (Taguette id order).
    min_ratio : float, default 0.8
        Smallest :class:`difflib.SequenceMatcher` ratio for a fuzzy match.
    min_overlap : int, default 20
        A paragraph covered by fewer characters than this and by less than half its length
        is not counted as coded (a selection that spills over a few characters).

    Returns
    -------
    list of dict
        Per highlight: ``method`` (``exact``, ``fuzzy``, ``none``), ``ratio``,
        ``paragraphs`` (indices into ``paragraphs``) and ``occurrences`` (how often an
        exact highlight occurs; > 1 means the choice used document order: the first
        occurrence not yet taken by an identical highlight, preferring whole paragraphs, at or
        after the previous one).

    Examples
    --------
    >>> pars = ["Okay.", "The plot is nice.", "Okay.", "The lag is not clear to me at all."]
    >>> [a["paragraphs"] for a in align_highlights(pars, ["plot is nice", "okay",
    ...                                                  "The lag is not clear to me at al"])]
    [[1], [2], [3]]
    >>> align_highlights(pars, ["something else entirely, never said"])[0]["method"]
    'none'
    """
    norm = [normalise(p) for p in paragraphs]
    doc, starts, ends = _doc_index(norm)
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(doc)
    cursor, out, used = 0, [], set()
    for text in highlights:
        h = normalise(text)
        found = [m.start() for m in re.finditer(re.escape(h), doc)] if h else []
        if found:
            # Prefer, in order: not taken by an identical highlight, whole paragraphs
            # (a highlighted "Okay." is the paragraph "Okay.", not the end of "Fine, okay."),
            # at or after the previous highlight, earliest.
            whole = set(starts.tolist()), set(ends.tolist())
            lo = min(found, key=lambda f: ((f, h) in used,
                                           not (f in whole[0] and f + len(h) in whole[1]),
                                           f < cursor, f))
            used.add((lo, h))
            span, method, ratio = (lo, lo + len(h)), "exact", 1.0
        else:
            matcher.set_seq1(h)
            block = matcher.find_longest_match(0, len(h), 0, len(doc))
            lo = max(block.b - block.a, 0)
            window = doc[lo:lo + len(h)]
            ratio = difflib.SequenceMatcher(None, h, window, autojunk=False).ratio() if h else 0.0
            span, method = (lo, lo + len(h)), ("fuzzy" if ratio >= min_ratio else "none")
        pars = _covered(span, starts, ends, min_overlap) if method != "none" else []
        if pars:
            cursor = span[0]
        out.append({"method": method, "ratio": round(float(ratio), 4), "paragraphs": pars,
                    "occurrences": len(found), "span": span if method != "none" else None})
    return out


def normalise_with_origin(text: str) -> tuple[str, str, list[int]]:
    """:func:`normalise`, also giving, for each output character, where it came from.

    Returns ``(normalised, source, origin)``: ``source`` is the NFKC form of ``text`` and
    ``origin[i]`` the index in ``source`` of the character that produced ``normalised[i]``,
    so a span found in normalised text can be cut from the readable ``source``.

    Examples
    --------
    >>> norm, src, origin = normalise_with_origin("Fine,  it\u2019s  OK\u2026")
    >>> norm == normalise("Fine,  it\u2019s  OK\u2026"), norm
    (True, "fine, it's ok...")
    >>> lo = norm.index("it's"); src[origin[lo]:origin[lo + 3] + 1]
    'it’s'
    """
    source = unicodedata.normalize("NFKC", str(text))
    out, origin, after_space = [], [], True      # True at the start: leading space dropped
    for i, ch in enumerate(source):
        for c in ch.translate(_TRANSLATE):
            if c.isspace():
                if not after_space:
                    out.append(" ")
                    origin.append(i)
                after_space = True
                continue
            for f in c.casefold():
                out.append(f)
                origin.append(i)
            after_space = False
    if out and out[-1] == " ":
        out.pop()
        origin.pop()
    return "".join(out), source, origin


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of True in a boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


_LEADING_PUNCT = re.compile(r"^[\s,;:.!?\-]+")
_WORDS = re.compile(r"[^\W\d_]+")


def highlight_units(par: pd.DataFrame, alignment: list[dict], highlight_ids: list,
                    *, min_gap_words: int = 3) -> pd.DataFrame:
    """Cut one transcript into the coder's own units: the highlights, and what none covers.

    The coder of this study highlighted sentences and clauses, not paragraphs (two
    highlights with different codes often share a paragraph). Coding the paragraph would
    merge them; this gives each highlight its own segment, as the issue's baseline did.

    Parameters
    ----------
    par : DataFrame
        :func:`parse_transcript` output for the transcript.
    alignment : list of dict
        :func:`align_highlights` output over ``par["raw"]``, one per highlight.
    highlight_ids : list
        The Taguette id of each highlight, in the same order.
    min_gap_words : int, default 3
        Uncovered text inside a paragraph that has highlights becomes a segment of its own
        only with at least this many words (a leftover "Okay," is not a unit of analysis);
        a paragraph no highlight touches is always a segment, however short.

    Returns
    -------
    DataFrame
        One row per unit in reading order: ``row`` (index into ``par``), ``text`` (cut from
        the transcript, NFKC, prompt lines and the ``MODERATOR:`` prefix left out) and
        ``highlight`` (the Taguette id, or None for uncovered text). A highlight that spans
        several paragraphs is one unit, placed at its first non-prompt paragraph; one that
        covers only prompt lines gives no unit.

    Examples
    --------
    >>> par = parse_transcript(["1 Task.", "Okay. The plot is nice. But slow to load here.",
    ...                         "Yes."], "P1")
    >>> al = align_highlights(par["raw"].tolist(), ["The plot is nice."])
    >>> highlight_units(par, al, [7])[["row", "text", "highlight"]].values.tolist()
    [[1, 'The plot is nice.', 7], [1, 'But slow to load here.', None], [2, 'Yes.', None]]
    """
    maps = [normalise_with_origin(r) for r in par["raw"]]
    norm = [m[0] for m in maps]
    doc, starts, ends = _doc_index(norm)
    kinds = par["kind"].tolist()
    covered = [np.zeros(len(n), dtype=bool) for n in norm]

    def cut(k: int, a0: int, a1: int) -> str:
        source, origin = maps[k][1], maps[k][2]
        piece = source[origin[a0]:origin[a1 - 1] + 1]
        if kinds[k] == "moderator":
            piece = _MODERATOR.sub("", piece.lstrip())
        return piece.strip()

    units = []
    for hid, a in zip(highlight_ids, alignment):
        if a["span"] is None:
            continue
        lo, hi = a["span"]
        pieces, first = [], None
        for k in np.flatnonzero(np.minimum(ends, hi) - np.maximum(starts, lo) > 0):
            a0, a1 = max(lo, starts[k]) - starts[k], min(hi, ends[k]) - starts[k]
            covered[k][a0:a1] = True
            if kinds[k] == "prompt":
                continue
            pieces.append(cut(k, a0, a1))
            first = first or (int(k), int(a0))
        if first is not None:
            units.append((first, 0, " ".join(p for p in pieces if p), hid))
    for k in range(len(par)):
        if kinds[k] == "prompt" or not norm[k]:
            continue
        if not covered[k].any():
            units.append(((k, 0), 1, par["text"].iloc[k], None))
            continue
        for a0, a1 in _runs(~covered[k]):
            piece = _LEADING_PUNCT.sub("", cut(k, a0, a1))
            if len(_WORDS.findall(piece)) >= min_gap_words:
                units.append(((k, a0), 1, piece, None))
    units.sort(key=lambda u: (u[0], u[1]))
    return pd.DataFrame({"row": [u[0][0] for u in units], "text": [u[2] for u in units],
                         "highlight": pd.Series([u[3] for u in units], dtype=object)})


# --------------------------------------------------------------------------- tables
def build_codebook(raw: pd.DataFrame) -> pd.DataFrame:
    """The final codebook as a themeassist codebook (theme = subtheme = code name)."""
    names = raw["tag"].astype(str).str.strip()
    book = pd.DataFrame({
        "theme": names, "valence": "", "subtheme": names,
        "description": raw["description"].astype(str).map(lambda s: re.sub(r"\s+", " ", s).strip()),
        "n_highlights": raw["number of highlights"].astype(int),
        "valence_interpretation": names.map(VALENCE_INTERPRETATION).fillna(""),
    })
    return validate_codebook(book)


def prepare(data: Path, *, min_ratio: float = 0.8, min_overlap: int = 20,
            unit: str = "paragraph", min_gap_words: int = 3):
    """Read the study folder and build segments, codebook, codings, alignment and summary.

    ``unit="paragraph"``: a segment per transcript line, coded with every code of every
    highlight that covers it. ``unit="highlight"``: the coder's own units (see
    :func:`highlight_units`), each coded with its highlight's codes in the tags file's order.
    """
    if unit not in UNITS:
        raise InputError("unknown segment unit", expected=" or ".join(UNITS), got=unit)
    data = Path(data)
    tdir = data / TRANSCRIPTS
    if not tdir.is_dir():
        raise InputError("no transcripts folder", path=tdir, expected="transcripts_txt/*.txt")
    with io.reading(data / CODEBOOK) as p:
        book = build_codebook(io.read_table(p))
    with io.reading(data / TAGS) as p:
        tags = io.read_table(p)
    for col in ("id", "document", "tag", "content"):
        if col not in tags.columns:
            raise InputError("tags table lacks a column", path=data / TAGS, row=1, column=col,
                             expected="id, document, tag, content", got=list(tags.columns))
    unknown = sorted(set(tags["tag"]) - set(book["theme"]))
    if unknown:
        raise InputError("code not in the codebook", path=data / TAGS, column="tag",
                         expected="one of the 22 final codes", got=unknown[0])

    parsed = {}
    files = sorted(tdir.glob("*.txt"), key=lambda f: int(transcript_id_of(f.name)[1:]))
    for f in files:
        tid = transcript_id_of(f.name)
        lines = f.read_text(encoding="utf-8").split("\n")
        df = parse_transcript(lines, tid)
        df.insert(0, "transcript_id", tid)
        parsed[f.stem] = df

    highlights = (tags.drop_duplicates("id").sort_values("id", kind="stable")
                  [["id", "document", "content"]].reset_index(drop=True))
    # Codes in the tags file's own order: the first one is the "first code" of the issue's
    # baseline.
    codes_of = tags.groupby("id", sort=False)["tag"].agg(lambda s: list(dict.fromkeys(s)))
    aligned = {}
    for doc, group in highlights.groupby("document", sort=False):
        stem = Path(doc).stem
        if stem not in parsed:
            raise InputError("highlight from a document with no transcript", path=data / TAGS,
                             column="document", expected=f"a file in {tdir}", got=doc)
        result = align_highlights(parsed[stem]["raw"].tolist(),
                                  group["content"].astype(str).tolist(),
                                  min_ratio=min_ratio, min_overlap=min_overlap)
        aligned[stem] = (group, result)

    columns = ["segment_id", "transcript_id", "position", "text", "speaker", "role",
               "question", "start", "end", "prompt", "kind"]
    unit_of: dict[int, str] = {}          # highlight id -> unit segment id (highlight mode)
    if unit == "paragraph":
        segs = pd.concat([df[df["kind"] != "prompt"] for df in parsed.values()],
                         ignore_index=True)
        segs.insert(0, "segment_id", [make_segment_id(t, p) for t, p in
                                      zip(segs["transcript_id"], segs["position"])])
    else:
        frames = []
        for stem, par in parsed.items():
            group, result = aligned.get(stem, (highlights.iloc[:0], []))
            units = highlight_units(par, result, group["id"].tolist(),
                                    min_gap_words=min_gap_words)
            rows = par.iloc[units["row"].to_numpy()].reset_index(drop=True)
            # position = reading order of the unit; line = the transcript line it starts on
            rows = rows.assign(line=rows["position"], position=np.arange(1, len(rows) + 1),
                               text=units["text"].to_numpy())
            rows.insert(0, "segment_id", [make_segment_id(t, p) for t, p in
                                          zip(rows["transcript_id"], rows["position"])])
            for sid, hid in zip(rows["segment_id"], units["highlight"]):
                if hid is not None:
                    unit_of[int(hid)] = sid
            frames.append(rows)
        segs = pd.concat(frames, ignore_index=True)
        columns.append("line")
    segments = validate_segments(segs.assign(start="", end="")[columns])

    rows, coding_rows = [], []
    for doc, group in highlights.groupby("document", sort=False):
        stem = Path(doc).stem
        par = parsed[stem]
        for (_, h), a in zip(group.iterrows(), aligned[stem][1]):
            hit = par.iloc[a["paragraphs"]]
            kept = hit[hit["kind"] != "prompt"]
            if unit == "paragraph":
                ids = [make_segment_id(t, p) for t, p in zip(kept["transcript_id"], kept["position"])]
            else:
                ids = [unit_of[int(h["id"])]] if int(h["id"]) in unit_of else []
            rows.append({"highlight_id": int(h["id"]), "document": doc,
                         "codes": "; ".join(codes_of[h["id"]]), "method": a["method"],
                         "ratio": a["ratio"], "occurrences": a["occurrences"],
                         "segment_ids": " ".join(ids),
                         "lines": " ".join(str(p) for p in kept["position"]),
                         "prompt_lines": " ".join(
                             str(p) for p in hit.loc[hit["kind"] == "prompt", "position"]),
                         "content": h["content"]})
            for sid in ids:
                for code in codes_of[h["id"]]:
                    coding_rows.append((sid, code))
    alignment = pd.DataFrame(rows).sort_values("highlight_id", ignore_index=True)

    applied = len(coding_rows)
    # One row per (segment, code), the segment's codes in the order first applied.
    codings = pd.DataFrame(list(dict.fromkeys(coding_rows)), columns=["segment_id", "theme"])
    order = {sid: i for i, sid in enumerate(segments["segment_id"])}
    codings = codings.iloc[np.argsort(codings["segment_id"].map(order).to_numpy(),
                                      kind="stable")].reset_index(drop=True)
    codings = codings.assign(coder=CODER, valence="", subtheme=codings["theme"])
    interp = dict(zip(book["theme"], book["valence_interpretation"]))
    codings["valence_interpretation"] = codings["theme"].map(interp)
    codings = validate_codings(codings[["segment_id", "coder", "theme", "valence", "subtheme",
                                        "valence_interpretation"]], book, segments)
    summary = summarise(segments, codings, alignment, applied, tags)
    summary["unit"] = unit
    prompts = [int((df["kind"] == "prompt").sum()) for df in parsed.values()]
    summary["prompts_per_transcript"] = {"min": min(prompts), "max": max(prompts)}
    return segments, book, codings, alignment, summary


def summarise(segments, codings, alignment, applied, tags) -> dict:
    """The figures the script prints (and writes to summary.json)."""
    part = segments["role"] == "participant"
    per_seg = codings.groupby("segment_id").size()
    coded = segments["segment_id"].isin(per_seg.index)
    method = alignment["method"].value_counts()
    only_prompt = (alignment["method"] != "none") & (alignment["segment_ids"] == "")
    return {
        "transcripts": int(segments["transcript_id"].nunique()),
        "segments": len(segments),
        "participant_segments": int(part.sum()),
        "participant_utterances": int((segments["kind"] == "utterance").sum()),
        "transcriber_notes": int((segments["kind"] == "note").sum()),
        "facilitator_segments": int((segments["role"] == "facilitator").sum()),
        "questions": int(segments.loc[segments["question"] != "", "question"].nunique()),
        "segments_before_first_prompt": int((segments["question"] == "").sum()),
        "coded_segments": int(coded.sum()),
        "coded_participant_segments": int((coded & part).sum()),
        "codings": len(codings),
        "codes": int(codings["theme"].nunique()),
        "codes_per_coded_segment": {"mean": round(float(per_seg.mean()), 3),
                                    "max": int(per_seg.max()),
                                    "segments_with_2_or_more": int((per_seg >= 2).sum()),
                                    "histogram": {str(k): int(v) for k, v in
                                                  per_seg.value_counts().sort_index().items()}},
        "tag_rows": len(tags),
        "highlights": len(alignment),
        "aligned_exact": int(method.get("exact", 0)),
        "aligned_fuzzy": int(method.get("fuzzy", 0)),
        "not_aligned": int(method.get("none", 0)),
        "exact_ambiguous": int(((alignment["method"] == "exact")
                                & (alignment["occurrences"] > 1)).sum()),
        "aligned_to_prompt_only": int(only_prompt.sum()),
        "multi_segment_highlights": int((alignment["segment_ids"].str.count(" ") >= 1).sum()),
        # the same in both units (a highlight unit over several lines is still one segment)
        "multi_line_highlights": int((alignment["lines"].str.count(" ") >= 1).sum()),
        "code_applications_before_dedup": int(applied),
    }


# --------------------------------------------------------------------------- command
def embed_segments(segments: pd.DataFrame, cache: str | None) -> dict:
    """Embed every segment text with the default model into the shared cache."""
    from themeassist.embed import Embedder

    t0 = time.perf_counter()
    emb = Embedder(cache=cache)
    vecs = emb.embed(segments["text"].tolist())
    return {"model_id": emb.model_id, "shape": list(vecs.shape),
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help=f"study folder (default {DEFAULT_DATA})")
    ap.add_argument("--out", "-o", type=Path, default=DEFAULT_OUT,
                    help=f"output folder (default {DEFAULT_OUT})")
    ap.add_argument("--force", action="store_true", help="overwrite existing outputs")
    ap.add_argument("--min-ratio", type=float, default=0.8, help="difflib ratio for a fuzzy match")
    ap.add_argument("--min-overlap", type=int, default=20,
                    help="characters that make a paragraph covered")
    ap.add_argument("--unit", choices=UNITS, default="paragraph",
                    help="segment = a transcript line (discovery, issue 9) or the coder's "
                         "highlight plus the uncovered text (the classifier's baseline, issue 5)")
    ap.add_argument("--min-gap-words", type=int, default=3,
                    help="--unit highlight: words an uncovered piece of a coded line needs")
    ap.add_argument("--embed", action="store_true", help="embed all segment texts into the cache")
    ap.add_argument("--cache", default=None,
                    help="embedding cache file (default $THEMEASSIST_CACHE/embeddings.sqlite)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out = args.out.resolve()
    if out == REPO or REPO in out.parents:
        print(f"error: {out} is inside the repository; the data is GPL-3.0 and must stay out of it",
              file=sys.stderr)
        return 1
    if not args.data.is_dir():
        print(f"error: study folder not found: {args.data}", file=sys.stderr)
        return 1
    names = ["segments.csv", "codebook.csv", "codings.csv", "alignment.csv", "summary.json",
             "manifest.json"]
    t0 = time.perf_counter()
    try:
        segments, book, codings, alignment, summary = prepare(
            args.data, min_ratio=args.min_ratio, min_overlap=args.min_overlap,
            unit=args.unit, min_gap_words=args.min_gap_words)
        timings = {"prepare_s": round(time.perf_counter() - t0, 2)}
        if args.embed:
            summary["embedding"] = embed_segments(segments, args.cache)
            timings["embed_s"] = summary["embedding"]["seconds"]
        with io.OutputDir(out, force=args.force, planned=names) as staged:
            for df, name in ((segments, "segments.csv"), (book, "codebook.csv"),
                             (codings, "codings.csv"), (alignment, "alignment.csv")):
                staged.table(df, name)
            staged.json(summary, "summary.json")
            staged.json(io.manifest(
                "scripts/prepare_usability.py",
                inputs={"tags": args.data / TAGS, "codebook": args.data / CODEBOOK,
                        "transcripts": sorted((args.data / TRANSCRIPTS).glob("*.txt"))},
                settings={"min_ratio": args.min_ratio, "min_overlap": args.min_overlap,
                          "embed": args.embed, "parser": "usability-txt.v1",
                          "unit": args.unit, "min_gap_words": args.min_gap_words,
                          "alignment": "exact-then-difflib.v1"},
                outputs=names, timings=timings), "manifest.json")
    except ThemeassistError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    print(f"wrote {len(names)} files to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
