"""Transcripts as tables (``.csv``, ``.xlsx``): one row per paragraph or turn.

Columns are found by name, case-insensitively, or mapped explicitly with
``IngestSettings.columns`` (our name -> the file's column, e.g. ``{text: Utterance}``):

========== ================================================================ ========
ours       recognised by default                                            required
========== ================================================================ ========
text       text, utterance, content, paragraph, speech, comment             yes
speaker    speaker, name, speaker_name, participant, person                 no
transcript transcript, transcript_id, group, focus_group, session, document no
question   question, question_id                                            no
role       role                                                             no
start, end start/start_time/begin, end/end_time/stop (seconds or h:mm:ss)   no
========== ================================================================ ========

A ``transcript`` column splits one file into several transcripts (in order of first
appearance); without it the file's stem is the transcript. A ``question`` column is kept as
given. Rows with an empty text are skipped; consecutive rows of one speaker are one turn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from themeassist import io
from themeassist.errors import InputError
from themeassist.ingest._lines import TURN_COLUMNS, parse_time

DEFAULT_COLUMNS = {
    "text": ("text", "utterance", "content", "paragraph", "speech", "comment"),
    "speaker": ("speaker", "name", "speaker_name", "speaker name", "participant", "person"),
    "transcript": ("transcript", "transcript_id", "group", "focus_group", "focus group",
                   "session", "document"),
    "question": ("question", "question_id"),
    "role": ("role",),
    "start": ("start", "start_time", "begin"),
    "end": ("end", "end_time", "stop"),
}


def map_columns(columns, mapping: dict[str, str] | None, path=None) -> dict[str, str]:
    """Our column name -> the file's column, from an explicit mapping and the defaults.

    Examples
    --------
    >>> map_columns(["Speaker", "Utterance", "Group"], {})
    {'text': 'Utterance', 'speaker': 'Speaker', 'transcript': 'Group'}
    """
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(DEFAULT_COLUMNS))
    if unknown:
        raise InputError("unknown column in the ingest column mapping", path=path,
                         expected=f"keys among {', '.join(DEFAULT_COLUMNS)}", got=unknown[0])
    by_fold = {str(c).strip().casefold(): c for c in columns}
    out: dict[str, str] = {}
    for ours, names in DEFAULT_COLUMNS.items():
        if ours in mapping:
            theirs = by_fold.get(str(mapping[ours]).strip().casefold())
            if theirs is None:
                raise InputError(f"mapped column {mapping[ours]!r} not in the file", path=path,
                                 row=1, column=ours, expected=f"a column {mapping[ours]!r}",
                                 got=", ".join(map(str, columns)))
            out[ours] = theirs
            continue
        for name in names:
            if name in by_fold:
                out[ours] = by_fold[name]
                break
    return out


def _seconds(value: str, path, row: int, column: str) -> float:
    value = str(value).strip()
    if not value:
        return np.nan
    try:
        return float(value) if ":" not in value else parse_time(value)
    except ValueError:
        raise InputError("time is not seconds or h:mm:ss", path=path, row=row, column=column,
                         expected="seconds or h:mm:ss", got=value) from None


def parse_table(df: pd.DataFrame, mapping: dict[str, str] | None = None, *, path=None,
                fmt: str = "csv") -> pd.DataFrame:
    """Turn rows from a table of paragraphs (all cells as strings).

    Examples
    --------
    >>> df = pd.DataFrame({"Speaker": ["Mod", "Ann", "Ann"], "Text": ["Hi?", "Yes.", "No."]})
    >>> parse_table(df)[["speaker", "text", "turn"]].values.tolist()
    [['Mod', 'Hi?', 0], ['Ann', 'Yes.', 1], ['Ann', 'No.', 1]]
    """
    cols = map_columns(df.columns, mapping, path)
    if "text" not in cols:
        raise InputError("transcript table has no text column", path=path, row=1, column="text",
                         expected="a column 'text' (or map one with ingest.columns)",
                         got=", ".join(map(str, df.columns)))
    def col(name: str) -> pd.Series:
        if name in cols:
            return df[cols[name]].fillna("").astype(str).str.strip()
        return pd.Series([""] * len(df), index=df.index, dtype=object)

    text = col("text")
    keep = (text != "").to_numpy()
    if not keep.any():
        raise InputError("transcript table has no text", path=path, row=2, column=cols["text"],
                         expected="at least one row with text", got="")
    rows = np.flatnonzero(keep) + 2          # spreadsheet rows: header is row 1
    speaker = col("speaker")[keep].tolist()
    transcript = col("transcript")[keep].tolist()
    turn, turns = -1, []
    for i, s in enumerate(speaker):
        if i == 0 or s != speaker[i - 1] or transcript[i] != transcript[i - 1]:
            turn += 1
        turns.append(turn)
    times = {}
    for name in ("start", "end"):
        values = col(name)[keep].tolist()
        times[name] = [_seconds(v, path, r, cols.get(name, name)) for v, r in zip(values, rows)]
    out = pd.DataFrame({
        "transcript_id": transcript,
        "kind": "speech",
        "speaker": speaker,
        "role": col("role")[keep].tolist(),
        "text": text[keep].tolist(),
        "marker": "",
        "question": col("question")[keep].tolist(),
        "turn": np.array(turns, dtype=np.int64),
        "line": rows.astype(np.int64),
        "start": np.array(times["start"], dtype=float),
        "end": np.array(times["end"], dtype=float),
    }, columns=list(TURN_COLUMNS))
    out.attrs.update(format=fmt, encoding=df.attrs.get("encoding", ""), skipped_lines=0)
    return out


def read_table_transcript(path: str | Path, settings=None) -> pd.DataFrame:
    """Turn rows of a CSV or XLSX transcript (see the module docstring)."""
    path = Path(path)
    df = io.read_table(path)
    mapping = settings.columns if settings is not None else {}
    return parse_table(df, mapping, path=path, fmt=path.suffix.lower().lstrip("."))
