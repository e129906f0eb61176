"""Speaker turns from lines of text: the parser shared by the TXT and DOCX readers.

A transcript is a list of ``(line_number, text)`` pairs. The rules (also in the ``txt``
module's docstring, which users read):

- **A line that starts a turn** names its speaker in one of these forms::

      Name: text                 NAME: text             Speaker 2: text
      [00:01:02] Name: text      (01:02) Name: text     00:01:02 Name: text
      Name (00:01:02): text      Name [00:01:02]: text
      Name (Guest): text         Jane Smith (Facilitator): text     (a label in brackets)
      Name                       (alone on its line; the text follows on the next lines)
      Name  00:01:02             Speaker 1 [00:00:12]   [00:01:02] Name   Name:

- **Not every ``Something:`` is a speaker.** A prefix counts as a speaker when it is short
  and name-like (one to four words, the first capitalised, e.g. ``Ann``, ``Dr. Okafor``,
  ``Participant 3``, ``MODERATOR``), and either carries a timestamp, or is a configured
  facilitator, or is seen as a speaker prefix at least twice in the file, or (seen once)
  is not a common sentence opener ("One thing", "Honestly", "Date", ...) and is followed by
  a capitalised text. So ``One thing: money.`` and ``Funding: we never had enough`` stay
  text. A name alone on its line must also be seen as a speaker elsewhere in the file (any
  form), or carry a timestamp or a colon, or be a configured facilitator.
- **A label in brackets after the name** (``Ann (Guest):``, ``Ruth Okafor (External):``,
  ``Sam (she/her):``) is not part of the speaker's name; a label the facilitator rules
  recognise (``(Facilitator)``, ``(Moderator)``, a configured name) makes the speaker a
  facilitator.
- **Paragraphs.** Within a turn each line is a paragraph, except (when ``join_wrapped``)
  a line that does not end a sentence (no closing ``.``, ``?``, ``!``, ``…`` optionally
  followed by a quote or bracket) is a hard-wrapped continuation and is joined to the next
  line. A blank line always ends a paragraph.
- **Question markers.** A line that is only a marker (``Q3``, ``Question 3:``,
  ``## Question 3``, ``Q3: What ...``, ``Question 3. Sustainability``) is not speech: it
  becomes a marker row that sets the question (see :mod:`themeassist.ingest.questions`).
- **Older Teams layout.** A line ``0:0:0.0 --> 0:0:5.2`` gives the start and end of the
  turn whose speaker line follows.
- Lines before the first speaker (a title, a date) are a header: skipped and counted.
- With ``unlabelled_speaker`` set (transcripts that label only one party, e.g. think-aloud
  sessions with ``MODERATOR:`` lines), a line that names no speaker and does not continue
  an unfinished sentence starts (or continues) a turn of that speaker; nothing is skipped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from themeassist.ingest.questions import marker_line

#: A timestamp: ``mm:ss``, ``h:mm:ss``, optional fraction (``.5``, ``,250``).
TIME = r"\d{1,2}:\d{1,2}(?::\d{1,2})?(?:[.,]\d{1,3})?"
#: A candidate speaker name: a letter first, then up to four more words; no comma or colon.
NAME = r"[^\W\d_][\w'’.\-]*(?:[ \t][\w'’.\-]+){0,4}?"

_PATTERNS = [
    # [00:01:02] Name: text   /  00:01:02 Name: text   /  (01:02) - Name: text
    ("time_name", re.compile(rf"^[\[(]?(?P<t>{TIME})[\])]?\s*[-–]?\s*(?P<name>{NAME})\s*:\s*(?P<text>.*)$")),
    # Name (00:01:02): text  /  Name [00:01:02] text  /  Speaker 1 [00:00:12]
    ("name_time", re.compile(rf"^(?P<name>{NAME})\s*[\[(](?P<t>{TIME})[\])]\s*:?\s*(?P<text>.*)$")),
    # Name  00:01:02   (transcription services, Teams .docx export "Jane Smith   0:03")
    ("name_time_alone", re.compile(rf"^(?P<name>{NAME})\s+(?P<t>{TIME})\s*$")),
    # [00:01:02] Name   (alone)
    ("time_name_alone", re.compile(rf"^[\[(]?(?P<t>{TIME})[\])]?\s+(?P<name>{NAME})\s*$")),
    # Name (Guest): text  /  Jane Smith (Facilitator): text   (a label, not a time)
    ("name_label", re.compile(rf"^(?P<name>{NAME})\s*\((?P<label>[^\W\d_][^():]{{0,30}})\)\s*:\s*(?P<text>.*)$")),
    # Name: text   /  Name:
    ("name_colon", re.compile(rf"^(?P<name>{NAME})\s*:\s*(?P<text>.*)$")),
    # Name   (alone on its line)
    ("name_alone", re.compile(rf"^(?P<name>{NAME})$")),
]

#: ``0:0:0.0 --> 0:0:5.2`` (older Teams .docx export).
TIMING_LINE = re.compile(rf"^(?P<s>{TIME})\s*-->\s*(?P<e>{TIME})$")

#: Lower-case particles allowed inside a name ("Anna van der Berg").
_PARTICLES = {"van", "von", "der", "den", "de", "da", "di", "du", "la", "le", "al", "bin", "ter"}

#: Words that open sentences or headers and are not speakers when seen once.
COMMON_PREFIXES = frozenset("""
    a also and answer anyway attendees background basically but conclusion date duration
    edit example examples finally first firstly for further however honestly i in it
    issue issues key lastly like location look main maybe meeting meanwhile my next no
    nb note notes now ok okay on one or otherwise overall participants plus point points
    present problem ps question questions quote reason recording remember result right
    second secondly session so subject summary sure thanks that the then there thing
    things third this time title topic transcript update warning well what when where
    why yeah yes you
""".split())  # noqa: SIM905

_SENTENCE_END = re.compile(r"(?:[.?!…]|\.\.\.)[\"'”’)\]]*$")


def ends_sentence(line: str) -> bool:
    """True when ``line`` ends a sentence (``.``, ``?``, ``!``, ``…``, maybe a closing quote).

    Examples
    --------
    >>> ends_sentence('She said "no."'), ends_sentence("and then we"), ends_sentence("Why?)")
    (True, False, True)
    """
    return bool(_SENTENCE_END.search(line.rstrip()))


def parse_time(text: str) -> float:
    """Seconds from ``hh:mm:ss(.fff)``, ``mm:ss(.fff)`` or ``h:m:s.f``.

    Examples
    --------
    >>> parse_time("01:02:03.5"), parse_time("2:05"), parse_time("0:0:5,2")
    (3723.5, 125.0, 5.2)
    """
    text = text.strip().replace(",", ".")
    parts = text.split(":")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + float(p)
    return round(seconds, 3)


def name_like(name: str) -> bool:
    """A short, capitalised, person- or role-like name.

    Examples
    --------
    >>> [name_like(n) for n in ["Ann", "Dr. Okafor", "Participant 3", "One thing", "MODERATOR"]]
    [True, True, True, False, True]
    """
    words = name.split()
    if not 1 <= len(words) <= 4 or len(name) > 40:
        return False
    if not words[0][0].isupper():
        return False
    for w in words[1:]:
        if not (w[0].isupper() or w[0].isdigit() or w.lower() in _PARTICLES):
            return False
    return True


@dataclass
class SpeakerRules:
    """What counts as a speaker: configured facilitator names and pattern."""

    facilitators: Sequence[str] = ()
    facilitator_pattern: str | None = None
    #: Speaker of lines that name none (``IngestSettings.unlabelled_speaker``); ``None``:
    #: such lines continue the current turn.
    unlabelled: str | None = None
    _names: set[str] = field(init=False, default_factory=set)
    _regex: re.Pattern | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._names = {n.strip().casefold() for n in self.facilitators}
        self._regex = re.compile(self.facilitator_pattern, re.IGNORECASE) \
            if self.facilitator_pattern else None

    @classmethod
    def from_settings(cls, settings=None) -> SpeakerRules:
        """Rules from an :class:`~themeassist.config.IngestSettings` (``None``: defaults)."""
        if settings is None:
            from themeassist.config import IngestSettings

            settings = IngestSettings()
        return cls(tuple(settings.facilitators), settings.facilitator_pattern,
                   settings.unlabelled_speaker or None)

    def is_facilitator(self, name: str) -> bool:
        name = name.strip()
        if not name:
            return False
        return name.casefold() in self._names or bool(self._regex and self._regex.search(name))


@dataclass
class Candidate:
    kind: str
    name: str
    text: str
    time: str | None
    label: str | None = None


def match_speaker(line: str) -> Candidate | None:
    """The first speaker pattern ``line`` matches (not yet accepted as a speaker)."""
    for kind, pattern in _PATTERNS:
        m = pattern.match(line)
        if m:
            gd = m.groupdict()
            name = gd["name"].strip().rstrip(".")
            if not name:
                continue
            label = (gd.get("label") or "").strip() or None
            return Candidate(kind, name, (gd.get("text") or "").strip(), gd.get("t"), label)
    return None


def accept(c: Candidate, counts: Counter, seen_speakers: set[str], rules: SpeakerRules) -> bool:
    """Whether a candidate prefix is a speaker, by the rules of the module docstring."""
    key = c.name.casefold()
    if rules.is_facilitator(c.name) or (c.label is not None and rules.is_facilitator(c.label)):
        return True
    if c.time is not None:
        return name_like(c.name) or counts[key] >= 2
    if not name_like(c.name):
        return False
    first = c.name.split()[0].casefold().rstrip(".")
    common = key in COMMON_PREFIXES or first in COMMON_PREFIXES
    if c.kind == "name_alone":
        return key in seen_speakers and not common or (counts[key] >= 2 and not common)
    if counts[key] >= 2:
        return True
    if common:
        return False
    if c.label is not None:       # "Ann (Guest): ..." needs no capital after the colon
        return True
    # Seen once: the turn's text should start like a sentence (capital, digit, quote).
    return c.text == "" or not c.text[0].islower()


@dataclass
class Row:
    kind: str            # "speech" or "marker"
    speaker: str
    text: str
    line: int
    turn: int
    start: float | None = None
    end: float | None = None
    marker: str = ""
    role: str = ""       # "facilitator" when the transcript's own label says so


def parse_lines(
    lines: Sequence[tuple[int, str]],
    rules: SpeakerRules,
    *,
    join_wrapped: bool = True,
) -> tuple[list[Row], int]:
    """Turn numbered lines into paragraph rows; return (rows, header lines skipped)."""
    stripped = [(n, t.strip()) for n, t in lines]
    candidates: dict[int, Candidate | None] = {}
    counts: Counter = Counter()
    for i, (_, text) in enumerate(stripped):
        if not text or marker_line(text) is not None or TIMING_LINE.match(text):
            candidates[i] = None
            continue
        c = match_speaker(text)
        candidates[i] = c
        if c is not None and c.kind != "name_alone":
            counts[c.name.casefold()] += 1
        elif c is not None:
            counts[c.name.casefold()] += 0
    # Speakers seen in a prefixed form anywhere in the file (for names alone on a line).
    seen: set[str] = set()
    for c in candidates.values():
        if c is not None and c.kind != "name_alone" and accept(c, counts, set(), rules):
            seen.add(c.name.casefold())
    alone_counts = Counter(c.name.casefold() for c in candidates.values()
                           if c is not None and c.kind == "name_alone")
    # The file puts speakers alone on their lines when some name does so repeatedly or is
    # also seen as a prefix; then a name seen once alone, after a blank line, is a speaker.
    alone_layout = any((n >= 2 or k in seen) and k not in COMMON_PREFIXES
                       for k, n in alone_counts.items())

    rows: list[Row] = []
    speaker: str | None = None
    speaker_role = ""
    turn = -1
    turn_start: float | None = None
    turn_end: float | None = None
    pending: tuple[float, float] | None = None
    buf: list[str] = []
    buf_line = 0
    skipped = 0
    first_paragraph = True

    def flush() -> None:
        nonlocal buf, first_paragraph
        if buf and speaker is not None:
            rows.append(Row("speech", speaker, " ".join(buf), buf_line, turn,
                            turn_start if first_paragraph else None,
                            turn_end if first_paragraph else None, role=speaker_role))
            first_paragraph = False
        buf = []

    def next_text(i: int) -> str | None:
        for _, t in stripped[i + 1:]:
            if t:
                return t
        return None

    for i, (lineno, text) in enumerate(stripped):
        if not text:
            flush()
            continue
        token = marker_line(text)
        if token is not None:
            flush()
            rows.append(Row("marker", "", text, lineno, max(turn, 0), marker=token))
            continue
        timing = TIMING_LINE.match(text)
        if timing:
            flush()
            pending = (parse_time(timing["s"]), parse_time(timing["e"]))
            continue
        c = candidates[i]
        is_turn = False
        if c is not None:
            if c.kind == "name_alone":
                nxt = next_text(i)
                prev_blank = i == 0 or not stripped[i - 1][1]
                is_turn = (nxt is not None and not ends_sentence(c.name)
                           and (rules.is_facilitator(c.name)
                                or (c.name.casefold() in seen
                                    and c.name.casefold() not in COMMON_PREFIXES)
                                or (alone_counts[c.name.casefold()] >= 2
                                    and accept(c, Counter({c.name.casefold(): 2}), set(), rules))
                                or pending is not None
                                or (alone_layout and prev_blank and name_like(c.name)
                                    and c.name.casefold() not in COMMON_PREFIXES)))
            else:
                is_turn = accept(c, counts, seen, rules)
        if is_turn:
            flush()
            speaker = c.name
            speaker_role = ("facilitator" if c.label is not None
                            and rules.is_facilitator(c.label) else "")
            turn += 1
            first_paragraph = True
            if c.time is not None:
                turn_start, turn_end = parse_time(c.time), None
            elif pending is not None:
                turn_start, turn_end = pending
            else:
                turn_start = turn_end = None
            pending = None
            if c.text:
                buf, buf_line = [c.text], lineno
                if not join_wrapped or ends_sentence(c.text):
                    flush()
            continue
        if rules.unlabelled and not buf and speaker != rules.unlabelled:
            # A line naming no speaker, not continuing an unfinished sentence: it is the
            # unlabelled party's turn.
            flush()
            speaker = rules.unlabelled
            speaker_role = ""
            turn += 1
            first_paragraph = True
            turn_start = turn_end = None
        if speaker is None:
            skipped += 1
            continue
        if not buf:
            buf_line = lineno
        buf.append(text)
        if not join_wrapped or ends_sentence(text):
            flush()
    flush()
    return rows, skipped


#: Columns every reader returns (``read_transcript``'s contract).
TURN_COLUMNS = ("transcript_id", "kind", "speaker", "role", "text", "marker", "question",
                "turn", "line", "start", "end")


def rows_frame(rows: Sequence[Row], *, fmt: str, encoding: str, skipped: int = 0):
    """The reader's DataFrame (``TURN_COLUMNS``) with ``attrs`` format/encoding/skipped."""
    import numpy as np
    import pandas as pd

    df = pd.DataFrame({
        "transcript_id": "",
        "kind": [r.kind for r in rows],
        "speaker": [r.speaker for r in rows],
        "role": [r.role for r in rows],
        "text": [r.text for r in rows],
        "marker": [r.marker for r in rows],
        "question": "",
        "turn": np.array([r.turn for r in rows], dtype=np.int64),
        "line": np.array([r.line for r in rows], dtype=np.int64),
        "start": np.array([np.nan if r.start is None else r.start for r in rows], dtype=float),
        "end": np.array([np.nan if r.end is None else r.end for r in rows], dtype=float),
    }, columns=list(TURN_COLUMNS))
    df.attrs.update(format=fmt, encoding=encoding, skipped_lines=int(skipped))
    return df
