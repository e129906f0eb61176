"""The three tables that flow through themeassist, and the one place that validates them.

DESIGN.md section 3 is the contract:

- **segments** (the corpus): ``segment_id``, ``transcript_id``, ``position``, ``text``
  required; ``speaker``, ``role``, ``question``, ``start``, ``end`` optional.
- **codebook**: ``theme``, ``valence`` (success / challenge, or empty), ``subtheme``,
  optional ``description``; other columns are kept.
- **codings** (long, one row per code applied): ``segment_id``, ``coder``, ``theme``,
  ``valence``, ``subtheme``, optional ``confidence`` and ``needs_review``.

Validation functions take the DataFrame and, optionally, the path it came from so that an
:class:`~themeassist.errors.InputError` can name the file. Rows are numbered as a
spreadsheet shows them (header = row 1, first data row = row 2). They return a normalised
copy (string columns as Python ``str`` with ``""`` for missing, ``position`` as int) and
never modify their argument.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from themeassist.errors import InputError

SEGMENT_REQUIRED = ("segment_id", "transcript_id", "position", "text")
SEGMENT_OPTIONAL = ("speaker", "role", "question", "start", "end")
SEGMENT_COLUMNS = SEGMENT_REQUIRED + SEGMENT_OPTIONAL

CODEBOOK_REQUIRED = ("theme", "valence", "subtheme")
CODEBOOK_OPTIONAL = ("description",)

CODING_REQUIRED = ("segment_id", "coder", "theme", "valence", "subtheme")
CODING_OPTIONAL = ("confidence", "needs_review")
CODING_COLUMNS = CODING_REQUIRED + CODING_OPTIONAL

#: The valences of the reference method; a codebook may also leave valence empty.
VALENCES = ("success", "challenge")

#: The key that identifies a code: the same subtheme name may occur under two themes.
CODE_KEY = ("theme", "valence", "subtheme")

#: Separator used when a code is shown or stored as one string.
CODE_SEP = " / "


def spreadsheet_row(index_position: int) -> int:
    """Row number a spreadsheet shows for the ``index_position``-th data row (header = 1)."""
    return int(index_position) + 2


def make_segment_id(transcript_id: str, position: int) -> str:
    """Stable segment id derived from the transcript and the position within it.

    Examples
    --------
    >>> make_segment_id("fg01", 7)
    'fg01:0007'
    """
    return f"{transcript_id}:{int(position):04d}"


def code_label(theme: str, valence: str, subtheme: str) -> str:
    """One string for a code triple, as shown in tables and used as a category name.

    Examples
    --------
    >>> code_label("Funding", "challenge", "Short-term funding")
    'Funding / challenge / Short-term funding'
    >>> code_label("Funding", "", "Short-term funding")
    'Funding / Short-term funding'
    """
    return CODE_SEP.join(p for p in (theme, valence, subtheme) if p)


def code_labels(df: pd.DataFrame) -> pd.Series:
    """:func:`code_label` for every row of a codebook or codings table."""
    return pd.Series(
        [code_label(t, v, s) for t, v, s in zip(df["theme"], df["valence"], df["subtheme"])],
        index=df.index, dtype=object, name="code",
    )


def _require_columns(df: pd.DataFrame, required, what: str, path) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            f"{what} table lacks required column(s) {', '.join(map(repr, missing))}",
            path=path, row=1, expected=f"columns {', '.join(required)}",
            got=", ".join(map(str, df.columns)),
        )


def _as_text(series: pd.Series) -> pd.Series:
    """Strings with ``""`` for missing; numbers read from CSV (e.g. question 3) become '3'."""
    def conv(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()
    return series.map(conv).astype(object)


def _first_bad(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0])


def validate_segments(segments: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """Check a segments table and return a normalised copy.

    Checks: required columns; non-empty, unique ``segment_id``; ``transcript_id`` present;
    integer ``position``; non-empty ``text``; numeric ``start``/``end`` where given.

    Raises
    ------
    InputError
        Naming the file, the first bad row and what was expected.

    Examples
    --------
    >>> seg = pd.DataFrame({"segment_id": ["a:0000"], "transcript_id": ["a"],
    ...                     "position": [0], "text": ["We had no funding."]})
    >>> list(validate_segments(seg).columns)
    ['segment_id', 'transcript_id', 'position', 'text', 'speaker', 'role', 'question', 'start', 'end']
    """
    _require_columns(segments, SEGMENT_REQUIRED, "segments", path)
    out = segments.copy()
    for col in ("segment_id", "transcript_id", "text", "speaker", "role", "question"):
        if col in out.columns:
            out[col] = _as_text(out[col])
        else:
            out[col] = ""
    for col in ("segment_id", "transcript_id", "text"):
        empty = out[col] == ""
        if empty.any():
            i = _first_bad(empty)
            raise InputError(f"empty {col} ({int(empty.sum())} rows, first shown)", path=path,
                             row=spreadsheet_row(i), column=col, expected="a value",
                             got=segments[col].iloc[i] if col in segments else None)
    dup = out["segment_id"].duplicated(keep="first")
    if dup.any():
        i = _first_bad(dup)
        raise InputError(f"duplicate segment_id ({int(dup.sum())} duplicates, first shown)",
                         path=path, row=spreadsheet_row(i), column="segment_id",
                         expected="unique ids", got=out["segment_id"].iat[i])
    pos = pd.to_numeric(out["position"], errors="coerce")
    bad = pos.isna() | (pos.fillna(0) % 1 != 0) | (pos.fillna(0) < 0)
    if bad.any():
        i = _first_bad(bad)
        raise InputError("position is not a non-negative whole number", path=path,
                         row=spreadsheet_row(i), column="position", expected="0, 1, 2, ...",
                         got=segments["position"].iloc[i])
    out["position"] = pos.astype(np.int64)
    for col in ("start", "end"):
        if col in out.columns:
            raw = out[col].replace("", np.nan)
            num = pd.to_numeric(raw, errors="coerce")
            bad = num.isna() & raw.notna()
            if bad.any():
                i = _first_bad(bad)
                raise InputError("time is not a number of seconds", path=path,
                                 row=spreadsheet_row(i), column=col, expected="seconds",
                                 got=segments[col].iloc[i])
            out[col] = num.astype(float)
        else:
            out[col] = np.nan
    extra = [c for c in out.columns if c not in SEGMENT_COLUMNS]
    return out[list(SEGMENT_COLUMNS) + extra].reset_index(drop=True)


def validate_codebook(codebook: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """Check a codebook and return a normalised copy.

    ``valence`` is lower-cased; it must be ``success``, ``challenge`` or empty. A missing
    ``valence`` column is read as a codebook without valence. A code is identified by the
    triple (theme, valence, subtheme), which must be unique. Extra columns are kept.

    Examples
    --------
    >>> cb = pd.DataFrame({"theme": ["Funding"], "valence": ["Challenge"],
    ...                    "subtheme": ["Short-term funding"]})
    >>> validate_codebook(cb)["valence"].tolist()
    ['challenge']
    """
    if "valence" not in codebook.columns and {"theme", "subtheme"} <= set(codebook.columns):
        codebook = codebook.assign(valence="")
    _require_columns(codebook, CODEBOOK_REQUIRED, "codebook", path)
    out = codebook.copy()
    for col in CODEBOOK_REQUIRED + CODEBOOK_OPTIONAL:
        if col in out.columns:
            out[col] = _as_text(out[col])
    out["valence"] = out["valence"].str.lower()
    if "description" not in out.columns:
        out["description"] = ""
    for col in ("theme", "subtheme"):
        empty = out[col] == ""
        if empty.any():
            i = _first_bad(empty)
            raise InputError(f"empty {col}", path=path, row=spreadsheet_row(i), column=col,
                             expected="a name", got=codebook[col].iloc[i])
    bad = ~out["valence"].isin(VALENCES + ("",))
    if bad.any():
        i = _first_bad(bad)
        raise InputError("unknown valence", path=path, row=spreadsheet_row(i), column="valence",
                         expected="success, challenge or empty", got=codebook["valence"].iloc[i])
    dup = out.duplicated(list(CODE_KEY))
    if dup.any():
        i = _first_bad(dup)
        raise InputError("duplicate code (theme, valence, subtheme)", path=path,
                         row=spreadsheet_row(i), column="subtheme", expected="unique codes",
                         got=code_label(*out.loc[out.index[i], list(CODE_KEY)]))
    if len(out) == 0:
        raise InputError("codebook has no codes", path=path, expected="at least one row", got=0)
    first = list(CODEBOOK_REQUIRED + CODEBOOK_OPTIONAL)
    return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True)


def _check_known_segments(table: pd.DataFrame, segments: pd.DataFrame, path) -> None:
    """Refuse a table naming a segment the corpus lacks, with the first bad row."""
    bad = ~table["segment_id"].isin(set(segments["segment_id"].astype(str)))
    if bad.any():
        i = _first_bad(bad)
        raise InputError(
            f"segment not in the corpus ({int(bad.sum())} bad rows, first shown)",
            path=path, row=spreadsheet_row(i), column="segment_id",
            expected="a segment_id of the corpus", got=table["segment_id"].iat[i])


def validate_codings(
    codings: pd.DataFrame,
    codebook: pd.DataFrame | None = None,
    segments: pd.DataFrame | None = None,
    path: str | Path | None = None,
    *,
    default_coder: str | None = None,
) -> pd.DataFrame:
    """Check a codings table and return a normalised copy.

    Parameters
    ----------
    codings : DataFrame
        One row per code applied.
    codebook : DataFrame, optional
        When given, every (theme, valence, subtheme) must be one of its codes. A codings table
        may give only ``theme`` and ``subtheme`` when the pair is unambiguous in the codebook;
        the valence is then filled in.
    segments : DataFrame, optional
        When given, every ``segment_id`` must be in it.
    path : path, optional
        Named in errors.
    default_coder : str, optional
        Used when the table has no ``coder`` column (e.g. the file's stem).

    Raises
    ------
    InputError
        Unknown code or segment, missing columns, exact duplicate rows.
    """
    out = codings.copy()
    if "coder" not in out.columns and default_coder is not None:
        out["coder"] = default_coder
    if "valence" not in out.columns:
        out["valence"] = ""
    _require_columns(out, CODING_REQUIRED, "codings", path)
    for col in CODING_REQUIRED:
        out[col] = _as_text(out[col])
    out["valence"] = out["valence"].str.lower()
    for col in ("segment_id", "coder", "theme"):
        empty = out[col] == ""
        if empty.any():
            i = _first_bad(empty)
            raise InputError(f"empty {col}", path=path, row=spreadsheet_row(i), column=col,
                             expected="a value", got=codings[col].iloc[i] if col in codings else None)
    if codebook is not None:
        out = _match_codebook(out, codebook, path)
    if segments is not None:
        _check_known_segments(out, segments, path)
    dup = out.duplicated(["segment_id", "coder", *CODE_KEY])
    if dup.any():
        i = _first_bad(dup)
        raise InputError("the same code applied twice to one segment by one coder", path=path,
                         row=spreadsheet_row(i), expected="each (segment, coder, code) once",
                         got=f"{out['segment_id'].iat[i]} {code_label(*out.loc[out.index[i], list(CODE_KEY)])}")
    if "confidence" in out.columns:
        conf = pd.to_numeric(out["confidence"].replace("", np.nan), errors="coerce")
        bad = conf.notna() & ((conf < 0) | (conf > 1))
        bad |= conf.isna() & out["confidence"].replace("", np.nan).notna()
        if bad.any():
            i = _first_bad(bad)
            raise InputError("confidence is not a probability", path=path,
                             row=spreadsheet_row(i), column="confidence",
                             expected="a number between 0 and 1", got=codings["confidence"].iloc[i])
        out["confidence"] = conf.astype(float)
    if "needs_review" in out.columns:
        out["needs_review"] = out["needs_review"].map(_as_bool)
    first = [c for c in CODING_COLUMNS if c in out.columns]
    return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True)


DECISION_REQUIRED = ("segment_id",)
DECISION_OPTIONAL = ("coder", "decided_at")


def validate_decisions(
    decisions: pd.DataFrame,
    segments: pd.DataFrame | None = None,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """Check a decisions table (the segments a human has read, coded or not).

    DESIGN.md section 3: ``segment_id``, ``coder``, ``decided_at``. A segment decided and
    left uncoded is a confirmed "no code"; a segment nobody decided is unknown. The same
    segment may appear once per coder.

    Raises
    ------
    InputError
        Missing ``segment_id`` column, an empty or unknown segment id, or a segment decided
        twice by one coder; the message names the row as a spreadsheet shows it.

    Examples
    --------
    >>> validate_decisions(pd.DataFrame({"segment_id": ["a:0", "a:3"]}))["segment_id"].tolist()
    ['a:0', 'a:3']
    """
    out = decisions.copy()
    _require_columns(out, DECISION_REQUIRED, "decisions", path)
    for col in ("segment_id", *DECISION_OPTIONAL):
        if col in out.columns:
            out[col] = _as_text(out[col])
    if "coder" not in out.columns:
        out["coder"] = ""
    empty = out["segment_id"] == ""
    if empty.any():
        i = _first_bad(empty)
        raise InputError("empty segment_id", path=path, row=spreadsheet_row(i),
                         column="segment_id", expected="a segment id", got="")
    if segments is not None:
        _check_known_segments(out, segments, path)
    dup = out.duplicated(["segment_id", "coder"])
    if dup.any():
        i = _first_bad(dup)
        raise InputError("the same segment decided twice by one coder", path=path,
                         row=spreadsheet_row(i), column="segment_id",
                         expected="each (segment, coder) once", got=out["segment_id"].iat[i])
    return out.reset_index(drop=True)


def _as_bool(v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    return str(v).strip().lower() in {"true", "1", "yes", "y"}


def _match_codebook(codings: pd.DataFrame, codebook: pd.DataFrame, path) -> pd.DataFrame:
    """Check codes against the codebook; fill an empty valence when the codebook has one."""
    book = codebook[list(CODE_KEY)].astype(str)
    triples = set(map(tuple, book.to_numpy()))
    # (theme, subtheme) -> valences, to fill in a valence the codings table left empty.
    by_pair: dict[tuple[str, str], set[str]] = {}
    for t, v, s in triples:
        by_pair.setdefault((t, s), set()).add(v)
    themes = set(book["theme"])
    # Parent levels of subthemes written as paths ("a > b > c" or "a->b->c"): a code may
    # be applied at "a > b" (the classifier backs off one level at a time).
    parents = set()
    for t, v, s in triples:
        levels = [p for p in re.split(r"\s*-?>\s*", s.strip()) if p]
        parents.update((t, v, " > ".join(levels[:k])) for k in range(1, len(levels)))
    valence = codings["valence"].to_numpy(copy=True)
    for i, (t, v, s) in enumerate(zip(codings["theme"], codings["valence"], codings["subtheme"])):
        if (t, v, s) in triples or (t, v, s) in parents:
            continue
        options = by_pair.get((t, s), set())
        if v == "" and len(options) == 1:
            valence[i] = next(iter(options))
            continue
        if t not in themes:
            raise InputError("theme not in the codebook", path=path, row=spreadsheet_row(i),
                             column="theme", expected=f"one of {len(themes)} themes", got=t)
        if s == "" and v == "":
            # A theme-level code (no subtheme): allowed when the codebook has the theme.
            continue
        raise InputError("code not in the codebook", path=path, row=spreadsheet_row(i),
                         column="subtheme", expected="a (theme, valence, subtheme) of the codebook",
                         got=code_label(t, v, s))
    return codings.assign(valence=valence)


def check_same_codebook(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """True when two codebooks have the same set of codes (order and extra columns ignored)."""
    ka = set(map(tuple, a[list(CODE_KEY)].astype(str).to_numpy()))
    kb = set(map(tuple, b[list(CODE_KEY)].astype(str).to_numpy()))
    return ka == kb


def codebook_texts(codebook: pd.DataFrame) -> list[str]:
    """The text that stands for each codebook entry when it is embedded (one per row).

    ``"<theme>: <subtheme>. <description>"``; the theme is left out when it equals the
    subtheme, and the description when there is none. Discovery matches candidates to
    these texts and the classifier uses them as each code's prior, so both embed the same.

    Examples
    --------
    >>> cb = pd.DataFrame({"theme": ["Funding"], "valence": ["challenge"],
    ...                    "subtheme": ["Short-term funding"], "description": [""]})
    >>> codebook_texts(cb)
    ['Funding: Short-term funding.']
    >>> codebook_texts(cb.assign(description="Grants end."))
    ['Funding: Short-term funding. Grants end.']
    """
    descriptions = (codebook["description"] if "description" in codebook
                    else pd.Series([""] * len(codebook), index=codebook.index))
    out = []
    for t, s, d in zip(_as_text(codebook["theme"]), _as_text(codebook["subtheme"]),
                       _as_text(descriptions)):
        head = f"{t}: {s}" if t and s and s != t else (s or t)
        out.append(f"{head}. {d}" if d else f"{head}.")
    return out
