"""Transcripts -> segments: paragraphs within speaker turns, each knowing its transcript,
position, speaker, role and question.

Two public functions:

- :func:`read_transcript` reads one file through the reader its extension names in
  :data:`READERS` and returns its paragraph rows (columns ``TURN_COLUMNS``: ``kind`` is
  ``speech`` or ``marker`` for a question-marker line; ``line`` is the line, paragraph or
  spreadsheet row it came from; ``turn`` numbers the speaker turns).
- :func:`ingest_files` reads several files and returns ``(segments, summary)``:
  ``segments`` passes :func:`themeassist.tables.validate_segments`; ``summary`` has one row
  per transcript (transcript_id, file, format, encoding, segments, participant_segments,
  speakers, questions_found, question_ids, segments_without_question, skipped_lines), and
  ``summary.attrs["warnings"]`` lists what a user should know (questions never found, no
  facilitator recognised, more than ``MANY_SKIPPED`` lines before the first speaker,
  markers naming no question). With
  ``settings.pseudonymise`` the speakers are replaced (see
  :func:`themeassist.ingest.pseudonym.pseudonymise`) and ``summary.attrs["name_map"]``
  holds the name map.

Ids: ``transcript_id`` is the file's stem (or the value of a table's ``transcript``
column); ``position`` counts every segment of the transcript from 0, facilitators'
included; ``segment_id = tables.make_segment_id(transcript_id, position)``. The same files
give the same ids. Roles: ``facilitator`` when the speaker is one of
``settings.facilitators`` (case-insensitive) or matches ``settings.facilitator_pattern``
(or a table's role column says facilitator/moderator/interviewer), ``participant`` for
other speakers, ``""`` when the speaker is unknown. Questions: see
:mod:`themeassist.ingest.questions`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from themeassist import tables
from themeassist.errors import ConfigError, InputError
from themeassist.ingest import questions as _questions
from themeassist.ingest._lines import TURN_COLUMNS, SpeakerRules
from themeassist.ingest.docx import read_docx
from themeassist.ingest.pseudonym import pseudonymise
from themeassist.ingest.table import read_table_transcript
from themeassist.ingest.txt import read_txt
from themeassist.ingest.vtt import read_vtt

log = logging.getLogger(__name__)

#: Transcript readers by file extension: ``reader(path, settings) -> DataFrame``.
READERS = {
    ".txt": read_txt,
    ".vtt": read_vtt,
    ".docx": read_docx,
    ".csv": read_table_transcript,
    ".xlsx": read_table_transcript,
}

#: Method names written to the manifest (change the version when the output changes).
METHODS = {"segments": "paragraphs-in-turns.v1", "questions": _questions.METHOD,
           "pseudonyms": "first-appearance.v1"}

SUMMARY_COLUMNS = ("transcript_id", "file", "format", "encoding", "segments",
                   "participant_segments", "speakers", "questions_found", "question_ids",
                   "segments_without_question", "skipped_lines")

#: More header lines than this before the first speaker are warned about (a title block is
#: normal; a missed speaker format is not). The count is always in the summary.
MANY_SKIPPED = 5

_FACILITATOR_ROLES = {"facilitator", "moderator", "interviewer"}

__all__ = ["METHODS", "READERS", "SUMMARY_COLUMNS", "TURN_COLUMNS", "expand_paths",
           "ingest_files", "pseudonymise", "read_transcript"]


def _settings(settings):
    if settings is None:
        from themeassist.config import IngestSettings

        return IngestSettings()
    return settings


def _rules(settings) -> SpeakerRules:
    try:
        return SpeakerRules.from_settings(settings)
    except re.error as err:
        raise ConfigError(f"ingest.facilitator_pattern: not a regular expression ({err})") from None


def read_transcript(path: str | Path, settings=None) -> pd.DataFrame:
    """Paragraph rows of one transcript file, read by its extension's reader.

    Parameters
    ----------
    path : path
        A ``.txt``, ``.vtt``, ``.docx``, ``.csv`` or ``.xlsx`` transcript (see :data:`READERS`).
    settings : IngestSettings, optional
        Facilitator names help to recognise speakers; ``columns`` maps table columns.

    Returns
    -------
    DataFrame
        Columns ``TURN_COLUMNS``; ``attrs`` has ``format``, ``encoding``, ``skipped_lines``.

    Raises
    ------
    InputError
        Unknown extension (listing the registry) or malformed file (naming file and line).

    Examples
    --------
    >>> read_transcript("notes.pdf")
    Traceback (most recent call last):
    ...
    themeassist.errors.InputError: notes.pdf: unknown transcript format (expected one of .csv, .docx, .txt, .vtt, .xlsx, got '.pdf')
    """
    path = Path(path)
    try:
        reader = READERS[path.suffix.lower()]
    except KeyError:
        raise InputError("unknown transcript format", path=path,
                         expected=f"one of {', '.join(sorted(READERS))}",
                         got=path.suffix) from None
    settings = _settings(settings)
    _rules(settings)  # a bad facilitator pattern is reported before any file is read
    return reader(path, settings)


def expand_paths(items: Iterable[str | Path]) -> list[Path]:
    """Files from names, folders (supported files inside, sorted) and glob patterns.

    Order is kept as given; a file named twice is read once. A folder is not searched
    recursively. A pattern or folder that yields no supported file is an InputError.
    """
    import glob

    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir()
                           if f.is_file() and f.suffix.lower() in READERS
                           and not f.name.startswith((".", "~$")))
            if not found:
                raise InputError("no transcripts in folder", path=p,
                                 expected=f"files ending {', '.join(sorted(READERS))}",
                                 got="none")
            out.extend(found)
        elif any(c in str(item) for c in "*?[") and not p.exists():
            found = sorted(Path(f) for f in glob.glob(str(item)) if Path(f).is_file())
            if not found:
                raise InputError("no file matches the pattern", path=str(item))
            out.extend(found)
        else:
            if not p.exists():
                raise InputError("file not found", path=p)
            out.append(p)
    seen, unique = set(), []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _roles(df: pd.DataFrame, rules: SpeakerRules) -> pd.Series:
    given = df["role"].str.strip().str.lower()
    role = np.where(df["speaker"] == "", "", "participant").astype(object)
    fac = df["speaker"].map(rules.is_facilitator).to_numpy(dtype=bool)
    role[fac] = "facilitator"
    has = given.to_numpy() != ""
    role[has] = np.where(given[has].isin(_FACILITATOR_ROLES), "facilitator", given[has])
    return pd.Series(role, index=df.index, dtype=object)


def ingest_files(
    paths: Sequence[str | Path],
    questions: Sequence | None = None,
    settings=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read transcripts into one segments table and a per-transcript summary.

    Parameters
    ----------
    paths : sequence of paths
        Transcript files, in the order that fixes pseudonyms (use :func:`expand_paths`
        for folders and globs).
    questions : list of :class:`themeassist.config.Question`, optional
        The topic guide (``config.load_questions``). Without it, only explicit markers and
        a table's question column give questions.
    settings : IngestSettings, optional
        Facilitators, question similarity, pseudonymisation, column mapping.

    Returns
    -------
    (segments, summary)
        ``segments`` is validated by :func:`themeassist.tables.validate_segments`.
        ``summary`` has one row per transcript; ``summary.attrs["warnings"]`` is a list of
        messages, ``summary.attrs["name_map"]`` the name map when pseudonymising.

    Raises
    ------
    InputError
        A malformed or unsupported file, or two transcripts with the same id.
    """
    settings = _settings(settings)
    rules = _rules(settings)
    questions = list(questions or [])
    frames, rows, warnings = [], [], []
    origin: dict[str, Path] = {}
    for path in map(Path, paths):
        turns = read_transcript(path, settings)
        if turns.attrs.get("skipped_lines", 0) > MANY_SKIPPED:
            warnings.append(f"{path}: skipped {turns.attrs['skipped_lines']} lines before the "
                            "first speaker; is the first speaker's name recognised?")
        turns = turns.assign(transcript_id=turns["transcript_id"].replace("", path.stem))
        for tid in pd.unique(turns["transcript_id"]):
            if tid in origin:
                raise InputError(f"two transcripts named {tid!r}", path=path,
                                 expected="one transcript per file stem",
                                 got=f"also in {origin[tid]}")
            origin[tid] = path
            one = turns[turns["transcript_id"] == tid].reset_index(drop=True)
            one = one.assign(role=_roles(one, rules))
            q, notes = _questions.assign_questions(one, questions, settings.question_similarity)
            warnings.extend(f"{path}: {n}" for n in notes)
            seg = one.assign(question=q)[one["kind"] == "speech"].reset_index(drop=True)
            seg = seg.assign(position=np.arange(len(seg), dtype=np.int64))
            seg.insert(0, "segment_id", [tables.make_segment_id(tid, p) for p in seg["position"]])
            frames.append(seg)
            rows.append(_summary_row(seg, tid, path, turns.attrs, questions))
            if questions and not (seg["role"] == "facilitator").any():
                warnings.append(f"{path}: no facilitator recognised in {tid!r}; questions come "
                                "only from explicit markers (use --facilitator or "
                                "--facilitator-pattern)")
    if not frames:
        raise InputError("no transcripts given", expected="one or more transcript files",
                         got="none")
    segments = pd.concat(frames, ignore_index=True)
    columns = [c for c in tables.SEGMENT_COLUMNS if c in segments.columns]
    segments = tables.validate_segments(segments[columns])
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    if questions:
        found = set(segments["question"])
        for q in questions:
            if q.id not in found:
                warnings.append(f"question {q.id!r} was never found in any transcript "
                                f"({q.text[:60]!r})")
    if settings.pseudonymise:
        segments, name_map = pseudonymise(segments)
        summary.attrs["name_map"] = name_map
    summary.attrs["warnings"] = warnings
    for w in warnings:
        log.info(w)
    return segments, summary


def _summary_row(seg: pd.DataFrame, tid: str, path: Path, attrs: dict, questions) -> dict:
    found = [q for q in pd.unique(seg["question"]) if q]
    if questions:
        order = {q.id: i for i, q in enumerate(questions)}
        found = sorted(found, key=lambda q: (order.get(q, len(order)), q))
    return {
        "transcript_id": tid,
        "file": str(path),
        "format": attrs.get("format", ""),
        "encoding": attrs.get("encoding", ""),
        "segments": len(seg),
        "participant_segments": int((seg["role"] == "participant").sum()),
        "speakers": int(seg.loc[seg["speaker"] != "", "speaker"].nunique()),
        "questions_found": len(found),
        "question_ids": ",".join(found),
        "segments_without_question": int((seg["question"] == "").sum()),
        "skipped_lines": int(attrs.get("skipped_lines", 0)),
    }
