"""WebVTT captions from Microsoft Teams and Zoom (``.vtt``).

- The file starts with ``WEBVTT`` (after an optional BOM). Blocks are separated by blank
  lines; ``NOTE``, ``STYLE`` and ``REGION`` blocks are skipped.
- A cue is an optional id line, a timing line ``[hh:]mm:ss.ttt --> [hh:]mm:ss.ttt [settings]``
  and its text. A timing line that cannot be read, or a cue without one, is an
  :class:`~themeassist.errors.InputError` naming the file and line.
- The speaker comes from a voice tag ``<v Name>`` (Teams; with or without ``</v>``, also
  ``<v.class Name>``) or from a ``Name: text`` prefix (Zoom; the same name rules as for
  plain text). Other tags (``<c>``, ``<i>``, inline timestamps) are removed and HTML
  entities decoded.
- Consecutive cues of one speaker merge into one turn, which is one paragraph (one segment)
  whose ``start`` is the first cue's start and ``end`` the last cue's end.
- A cue with no speaker has the ``unlabelled_speaker`` of the settings, else none.
- A file with no speaker at all is an :class:`~themeassist.errors.InputError`.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pandas as pd

from themeassist import io
from themeassist.errors import InputError
from themeassist.ingest._lines import Row, SpeakerRules, accept, match_speaker, rows_frame
from themeassist.ingest.questions import marker_line

_TS = r"(?:(\d+):)?([0-5]?\d):([0-5]\d)[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*(?P<s>{_TS})\s+-->\s+(?P<e>{_TS})(?:\s+.*)?$")
_VOICE = re.compile(r"<v(?:\.[\w.\-]+)?[ \t]+([^>]+)>")
_TAG = re.compile(r"</?[^>]*>")


def _seconds(ts: str) -> float:
    m = re.fullmatch(_TS, ts)
    h, mnt, s, frac = m.groups()
    return round(int(h or 0) * 3600 + int(mnt) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000, 3)


def _cues(text: str, path) -> list[tuple[int, float, float, list[str]]]:
    """(line of the timing line, start, end, text lines) of every cue."""
    lines = text.split("\n")
    if not lines or not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
        raise InputError("not a WebVTT file", path=path, row=1, expected="a first line 'WEBVTT'",
                         got=lines[0][:40] if lines else "")
    cues = []
    i, n = 0, len(lines)
    # Skip the header block.
    while i < n and lines[i].strip():
        i += 1
    while i < n:
        while i < n and not lines[i].strip():
            i += 1
        if i >= n:
            break
        start_block = i
        block = []
        while i < n and lines[i].strip():
            block.append(lines[i])
            i += 1
        head = block[0].strip()
        if head.startswith(("NOTE", "STYLE", "REGION")) and "-->" not in head:
            continue
        t = 0 if "-->" in block[0] else 1 if len(block) > 1 and "-->" in block[1] else None
        if t is None:
            raise InputError("cue without a timing line", path=path, row=start_block + 1,
                             expected="'00:01.000 --> 00:04.000'", got=head[:60])
        m = _TIMING.match(block[t])
        if not m:
            raise InputError("broken cue timestamp", path=path, row=start_block + t + 1,
                             expected="'[hh:]mm:ss.ttt --> [hh:]mm:ss.ttt'",
                             got=block[t].strip()[:60])
        start, end = _seconds(m["s"]), _seconds(m["e"])
        if end < start:
            raise InputError("cue ends before it starts", path=path, row=start_block + t + 1,
                             expected="end >= start", got=block[t].strip()[:60])
        cues.append((start_block + t + 1, start, end, block[t + 1:]))
    return cues


def _spans(lines: list[str]) -> list[tuple[str | None, str]]:
    """(voice or None, text) for each payload line; a voice carries over to later lines."""
    out, voice = [], None
    for raw in lines:
        m = _VOICE.search(raw)
        if m:
            voice = html.unescape(m.group(1)).strip()
        text = html.unescape(_TAG.sub("", raw)).strip()
        if text:
            out.append((voice, text))
    return out


def parse_vtt(text: str, rules: SpeakerRules | None = None, *, path=None,
              encoding: str = "utf-8") -> pd.DataFrame:
    """Turn rows of a WebVTT transcript given as a string.

    Examples
    --------
    >>> vtt = ("WEBVTT\\n\\n1\\n00:01.000 --> 00:03.500\\n<v Ann>We had no money.</v>\\n\\n"
    ...        "2\\n00:03.500 --> 00:05.000\\n<v Ann>None at all.\\n")
    >>> parse_vtt(vtt)[["speaker", "text", "start", "end"]].values.tolist()
    [['Ann', 'We had no money. None at all.', 1.0, 5.0]]
    """
    rules = rules or SpeakerRules()
    cues = _cues(text, path)
    pieces = []  # (line, start, end, voice, text)
    for line, start, end, payload in cues:
        for voice, t in _spans(payload):
            pieces.append([line, start, end, voice, t])
    # Zoom: "Name: text" inside cues, judged with the plain-text rules over the whole file.
    found = [(p, match_speaker(p[4])) if p[3] is None else (p, None) for p in pieces]
    counts = Counter(c.name.casefold() for _, c in found if c is not None and c.kind != "name_alone")
    for p, c in found:
        if c is not None and c.kind not in ("name_alone",) and c.text \
                and accept(c, counts, set(), rules):
            p[3], p[4] = c.name, c.text
    for prev, p in pairwise(pieces):
        if p[3] is None and prev[0] == p[0]:   # a wrapped line of the same cue
            p[3] = prev[3]
    rows: list[Row] = []
    turn = -1
    for line, start, end, voice, t in pieces:
        speaker = voice or rules.unlabelled or ""
        token = marker_line(t)
        if token is not None:
            rows.append(Row("marker", "", t, line, max(turn, 0), marker=token))
            continue
        last = rows[-1] if rows and rows[-1].kind == "speech" else None
        if last is not None and last.speaker == speaker:
            last.text = f"{last.text} {t}"
            last.end = end
            continue
        turn += 1
        rows.append(Row("speech", speaker, t, line, turn, start, end))
    if not any(r.kind == "speech" and r.speaker for r in rows):
        raise InputError("no speakers found in the captions", path=path,
                         row=cues[0][0] if cues else 1,
                         expected="voice tags '<v Name>' or 'Name: text' cues",
                         got=pieces[0][4][:60] if pieces else "no cues")
    return rows_frame(rows, fmt="vtt", encoding=encoding)


def read_vtt(path: str | Path, settings=None) -> pd.DataFrame:
    """Turn rows of the WebVTT file at ``path`` (see the module docstring)."""
    text, encoding = io.read_text(path)
    if "\x00" in text:
        raise InputError("cannot decode the text", path=path,
                         expected="UTF-8 or cp1252 text", got="binary data or UTF-16 without BOM")
    return parse_vtt(text, SpeakerRules.from_settings(settings), path=path, encoding=encoding)
