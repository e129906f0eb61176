"""Plain-text transcripts (``.txt``).

A turn starts at a line that names its speaker::

    Name: text                 NAME: text
    [00:01:02] Name: text      Name (00:01:02): text
    Ann (Guest): text          Ruth Okafor (Facilitator): text   (the label is not the name;
                               a facilitator label makes the speaker a facilitator)
    Ann                        (a speaker alone on its line, the text on the next lines)

Within a turn each line is a paragraph (a segment), except that a line that does not end a
sentence (no closing ``.``, ``?``, ``!``, ``…`` or quote) is a hard-wrapped continuation
joined to the next line; blank lines separate paragraphs too. An ordinary sentence with a
colon (``One thing: money.``) is not taken for a speaker: a prefix must be short and
name-like, and one seen only once must not be a common sentence opener and must be followed
by a capitalised text (see :mod:`themeassist.ingest._lines` for every rule). Lines before
the first speaker (title, date) are skipped and counted in the summary. A line that is only
a question marker (``Q3``, ``## Question 3``) sets the question and is not a segment.

The encoding is detected (UTF-8 with or without BOM, cp1252, ...) and CRLF normalised.
A file in which no line names a speaker is an :class:`~themeassist.errors.InputError`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from themeassist import io
from themeassist.errors import InputError
from themeassist.ingest._lines import SpeakerRules, parse_lines, rows_frame


def parse_txt(text: str, rules: SpeakerRules | None = None, *, path=None,
              encoding: str = "utf-8") -> pd.DataFrame:
    """Paragraph rows of a plain-text transcript given as a string.

    Examples
    --------
    >>> df = parse_txt("Moderator: Welcome.\\nAnn: One thing: money.\\nIt never lasts.\\n")
    >>> df[["speaker", "text"]].values.tolist()
    [['Moderator', 'Welcome.'], ['Ann', 'One thing: money.'], ['Ann', 'It never lasts.']]
    """
    rules = rules or SpeakerRules()
    lines = list(enumerate(text.split("\n"), start=1))
    rows, skipped = parse_lines(lines, rules, join_wrapped=True)
    if not any(r.kind == "speech" for r in rows):
        raise InputError("no speaker turns found", path=path, row=1,
                         expected="lines such as 'Name: text' or '[00:01:02] Name: text'",
                         got=next((t.strip()[:60] for _, t in lines if t.strip()), ""))
    return rows_frame(rows, fmt="txt", encoding=encoding, skipped=skipped)


def read_txt(path: str | Path, settings=None) -> pd.DataFrame:
    """Paragraph rows of the plain-text transcript at ``path`` (see the module docstring).

    ``settings`` is an :class:`~themeassist.config.IngestSettings` (facilitator names help
    to recognise speakers); ``None`` means the defaults.
    """
    text, encoding = io.read_text(path)
    if "\x00" in text:
        raise InputError("cannot decode the text", path=path,
                         expected="UTF-8 or cp1252 text", got="binary data or UTF-16 without BOM")
    return parse_txt(text, SpeakerRules.from_settings(settings), path=path, encoding=encoding)
