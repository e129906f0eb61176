"""Content-analysis statistics of the reference study, for one coder or several side by side.

DESIGN.md section 2 is the method, exactly:

- :func:`dedupe`: a participant repeating the same code on the same question counts once;
  different participants count each time; segments without a speaker are never merged.
- :func:`theme_counts` and :func:`describe`: codes and percent per theme, mean, median,
  SD (n-1) and range over the theme counts; a theme above the mean is *major*.
- :func:`group_shares`, :func:`per_question` and :func:`select_half`: each focus group's
  share of a question's codes per theme, the mean and SD over groups, and the shortest
  prefix of themes (by descending mean share) whose cumulative share reaches 50%.
- :func:`top_subthemes`: the five most frequent subthemes of each selected theme, with
  example quotations.
- :func:`appendix_table`: Appendix 1 (themes, counts, subthemes as successes/challenges).
- :func:`run` bundles all of these for one coder in a :class:`StatsResult`;
  :func:`compare` puts several coders (human and machine) side by side with a verdict.

Everything here is pure: DataFrames in, DataFrames and dicts out, no I/O, no printing.
Undefined statistics (an SD over one group or one theme, a percent of zero codes, a rank
correlation of constant counts) are NaN with an
:class:`~themeassist.errors.UndefinedStatisticWarning`.

References
----------
.. [1] Thomson, L.J.M., Waterson, H. & Chatterjee, H.J. (2024). Successes and challenges of
   partnership working to tackle health inequalities using collaborative approaches to
   community-based research: mixed methods analysis of focus group evidence. International
   Journal for Equity in Health 23, 135. doi:10.1186/s12939-024-02216-1
"""

from __future__ import annotations

from collections.abc import Iterator
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from themeassist.errors import InputError, UndefinedStatisticWarning
from themeassist.tables import CODE_KEY, code_label, spreadsheet_row

log = logging.getLogger(__name__)

#: De-duplication scopes: the columns (besides coder, speaker and code) a repeat must share.
DEDUP_SCOPES: dict[str, tuple[str, ...] | None] = {
    "question": ("transcript_id", "question"),
    "transcript": ("transcript_id",),
    "none": None,
}

#: Versioned names of the methods, for run manifests (STYLE R9).
METHODS = {
    "dedupe": "speaker-{scope}.v1",
    "major": "count-above-mean.ties-minor.v1",
    "per_question": "mean-of-group-shares.sd-n-1.v1",
    "selection": "shortest-prefix-reaching-50.v1",
}

#: The tie rule of the major/minor split, stated in every summary.
TIE_RULE = "a theme whose count equals the mean is minor (major means count > mean)"

#: Segment columns the per-question statistics and de-duplication read.
SEGMENT_INFO = ("transcript_id", "position", "speaker", "question", "text")

_EPS = 1e-9


# --------------------------------------------------------------------------- helpers
def _text(series: pd.Series) -> pd.Series:
    return series.fillna("").astype(str)


def _prepare(codings: pd.DataFrame) -> pd.DataFrame:
    """A copy with the code columns as text (empty valence/subtheme allowed)."""
    if "theme" not in codings.columns:
        raise InputError("codings table lacks the 'theme' column", row=1, column="theme",
                         expected="columns theme, valence, subtheme",
                         got=", ".join(map(str, codings.columns)))
    out = codings.copy()
    for col in CODE_KEY:
        out[col] = _text(out[col]) if col in out.columns else ""
    return out


def _themes(codebook: pd.DataFrame) -> pd.Index:
    """The codebook's themes in the order they first appear."""
    return pd.Index(pd.unique(_text(codebook["theme"])), name="theme")


def check_codes(codings: pd.DataFrame, codebook: pd.DataFrame, *,
                allow_uncoded: bool = False) -> None:
    """Raise when a coding's code is not in the codebook, naming the code and the row.

    A code is the triple (theme, valence, subtheme); a theme-level code (empty valence and
    subtheme) is accepted when the codebook has the theme. With ``allow_uncoded``, rows
    with an empty theme (a labeller's "not codable" marker) are accepted too. Rows are
    counted as a spreadsheet shows them (header = row 1).

    Raises
    ------
    InputError
        For the first unknown code, with the number of bad rows.

    Examples
    --------
    >>> book = pd.DataFrame({"theme": ["Funding"], "valence": ["challenge"],
    ...                      "subtheme": ["Short-term funding"]})
    >>> check_codes(pd.DataFrame({"theme": ["Funding"], "valence": ["challenge"],
    ...                           "subtheme": ["Short-term funding"]}), book)
    >>> try:
    ...     check_codes(pd.DataFrame({"theme": ["Fundng"], "valence": [""], "subtheme": [""]}), book)
    ... except InputError as err:
    ...     print(err.row, err.column, repr(err.got))
    2 theme 'Fundng'
    """
    c = _prepare(codings)
    b = _prepare(codebook)
    known = pd.MultiIndex.from_frame(b[list(CODE_KEY)])
    ok = pd.MultiIndex.from_frame(c[list(CODE_KEY)]).isin(known)
    theme_level = (c["valence"] == "") & (c["subtheme"] == "") & c["theme"].isin(b["theme"])
    if allow_uncoded:
        theme_level |= (c["theme"] == "") & (c["valence"] == "") & (c["subtheme"] == "")
    bad = ~(ok | theme_level.to_numpy())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        t, v, s = c["theme"].iat[i], c["valence"].iat[i], c["subtheme"].iat[i]
        raise InputError(f"code not in the codebook ({int(bad.sum())} bad rows, first shown)",
                         row=spreadsheet_row(i),
                         column="theme" if t not in set(b["theme"]) else "subtheme",
                         expected="a (theme, valence, subtheme) of the codebook",
                         got=code_label(t, v, s))


def attach_segments(codings: pd.DataFrame, segments: pd.DataFrame | None) -> pd.DataFrame:
    """Return a copy of ``codings`` with the corpus columns the statistics need.

    Adds ``transcript_id``, ``position``, ``speaker``, ``question`` and ``text`` from
    ``segments`` by ``segment_id``. Without ``segments`` the codings table's own columns of
    those names are used where present (missing ones are left out).

    Raises
    ------
    InputError
        When codings name segments that are not in the corpus; the message lists them.
    """
    out = codings.copy()
    if segments is None:
        for col in ("speaker", "question", "transcript_id", "text"):
            if col in out.columns:
                out[col] = _text(out[col])
        return out
    if "segment_id" not in out.columns:
        raise InputError("codings table lacks the 'segment_id' column", row=1,
                         column="segment_id", expected="a segment_id per code",
                         got=", ".join(map(str, out.columns)))
    seg_ids = pd.Index(_text(segments["segment_id"]).to_numpy(dtype=object))
    first = ~seg_ids.duplicated()
    seg_ids = seg_ids[first]
    ids = _text(out["segment_id"]).to_numpy(dtype=object)
    where = seg_ids.get_indexer(ids)
    missing = where < 0
    if missing.any():
        names = list(pd.unique(ids[missing]))
        shown = ", ".join(repr(n) for n in names[:5]) + (f" and {len(names) - 5} more"
                                                         if len(names) > 5 else "")
        i = int(np.flatnonzero(missing)[0])
        raise InputError(f"{len(names)} segment(s) of the codings are missing from the corpus: "
                         f"{shown}", row=spreadsheet_row(i), column="segment_id",
                         expected="segment_ids of the corpus", got=names[0])
    for col in SEGMENT_INFO:
        if col in segments.columns:
            values = segments[col].to_numpy()[first][where]
            out[col] = values if col == "position" else _text(pd.Series(values, index=out.index))
    return out


def _natural_key(value: str) -> tuple:
    """Sort key putting question '2' before '10'."""
    s = str(value)
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s.casefold())


def _questions_in_order(values) -> list[str]:
    return sorted(pd.unique(pd.Series(list(values), dtype=object)), key=_natural_key)


def _document_order(df: pd.DataFrame) -> pd.DataFrame:
    """Rows by transcript and position (then original order), for 'keep the first'."""
    keys = [c for c in ("transcript_id", "position") if c in df.columns]
    if not keys:
        return df
    return df.sort_values(keys, kind="stable")


# --------------------------------------------------------------------------- de-duplication
def dedupe(
    codings: pd.DataFrame,
    segments: pd.DataFrame | None = None,
    scope: str = "question",
) -> tuple[pd.DataFrame, int]:
    """Count a code once per participant and question, as the reference study did.

    "Similar comments made several times by the same participant were counted once;
    similar comments by different participants were each counted" [1]_. Two codings are
    repeats when they share the coder, the code (theme, valence, subtheme), the transcript,
    the speaker and, with ``scope="question"``, the question. The first in document order
    (transcript, position) is kept.

    Parameters
    ----------
    codings : DataFrame
        One row per code applied: ``segment_id``, ``theme``, ``valence``, ``subtheme`` and
        optionally ``coder``.
    segments : DataFrame, optional
        The corpus, giving each segment's ``transcript_id``, ``speaker`` and ``question``.
        Without it, the codings table must carry those columns itself.
    scope : {"question", "transcript", "none"}
        ``"transcript"`` merges repeats across questions too; ``"none"`` keeps every code.

    Returns
    -------
    deduplicated : DataFrame
        The kept rows of ``codings`` (its own columns, original order, new index).
    n_removed : int
        How many codings were repeats.

    Raises
    ------
    InputError
        Unknown scope, or the speaker/transcript/question information is missing.

    Notes
    -----
    Segments with no speaker (empty) are never merged: who said them is unknown.

    References
    ----------
    .. [1] Thomson, Waterson & Chatterjee (2024). Int J Equity Health 23, 135.
       doi:10.1186/s12939-024-02216-1

    Examples
    --------
    >>> codings = pd.DataFrame({
    ...     "segment_id": ["a:1", "a:2", "a:3", "a:4"],
    ...     "theme": ["Funding"] * 4, "valence": ["challenge"] * 4,
    ...     "subtheme": ["Short-term funding"] * 4,
    ...     "transcript_id": ["a"] * 4, "question": ["1"] * 4,
    ...     "speaker": ["Ann", "Ann", "Bob", ""]})
    >>> kept, removed = dedupe(codings)
    >>> removed, kept["segment_id"].tolist()
    (1, ['a:1', 'a:3', 'a:4'])
    """
    if scope not in DEDUP_SCOPES:
        raise InputError("unknown de-duplication scope", column="dedup_scope",
                         expected=f"one of {', '.join(DEDUP_SCOPES)}", got=scope)
    if scope == "none" or len(codings) == 0:
        return codings.reset_index(drop=True), 0
    info = attach_segments(_prepare(codings), segments)
    need = ("speaker", *DEDUP_SCOPES[scope])
    lacking = [c for c in need if c not in info.columns]
    if lacking:
        raise InputError(f"de-duplication by {scope} needs {', '.join(need)} for each coding",
                         column=lacking[0], expected="a corpus (segments) or these columns "
                         "in the codings table, or scope 'none'", got="missing")
    key = [c for c in ("coder",) if c in info.columns] + list(need) + list(CODE_KEY)
    info = info.assign(_row=np.arange(len(info)))
    ordered = _document_order(info)
    repeat = ordered.duplicated(key) & (ordered["speaker"] != "")
    drop = np.sort(ordered.loc[repeat, "_row"].to_numpy())
    keep = np.ones(len(codings), dtype=bool)
    keep[drop] = False
    return codings.loc[keep].reset_index(drop=True), len(drop)


# --------------------------------------------------------------------------- theme counts
def theme_counts(codings: pd.DataFrame, codebook: pd.DataFrame) -> pd.DataFrame:
    """Count codes per theme and mark major and minor themes.

    A theme is *major* when its count exceeds the mean count over all themes of the
    codebook, as in the content analysis of [1]_; a theme exactly at the mean is minor.

    Parameters
    ----------
    codings : DataFrame
        One row per code applied, already de-duplicated (see :func:`dedupe`).
    codebook : DataFrame
        Fixes the themes and their order; a theme with no codes counts 0.

    Returns
    -------
    DataFrame
        Columns ``theme``, ``codes``, ``percent`` (two decimals), ``type``, by ``codes``
        descending; ties keep the codebook's order.

    Notes
    -----
    With no codes at all the percents are undefined: NaN, with an
    :class:`~themeassist.errors.UndefinedStatisticWarning`.

    References
    ----------
    .. [1] Thomson, Waterson & Chatterjee (2024). Int J Equity Health 23, 135.
       doi:10.1186/s12939-024-02216-1

    Examples
    --------
    >>> codebook = pd.DataFrame({"theme": ["Funding", "Mental health"]})
    >>> codings = pd.DataFrame({"theme": ["Funding", "Funding", "Mental health"]})
    >>> theme_counts(codings, codebook)
               theme  codes  percent   type
    0        Funding      2    66.67  major
    1  Mental health      1    33.33  minor
    """
    themes = _themes(codebook)
    observed = _text(codings["theme"]).value_counts()
    counts = observed.reindex(themes, fill_value=0)
    unknown = set(observed.index) - set(themes)
    if unknown:
        raise InputError("theme not in the codebook", column="theme",
                         expected=f"one of {len(themes)} themes", got=min(unknown))
    out = counts.astype(np.int64).rename("codes").reset_index()
    total = int(out["codes"].sum())
    if total == 0:
        warnings.warn("percent of all codes is undefined with no codes; reported as NaN",
                      UndefinedStatisticWarning, stacklevel=2)
        out["percent"] = np.nan
    else:
        out["percent"] = (100 * out["codes"] / total).round(2)
    # count > mean, compared exactly in integers: codes * n > total.
    out["type"] = np.where(out["codes"] * len(out) > total, "major", "minor")
    return out.sort_values("codes", ascending=False, kind="stable", ignore_index=True)


def describe(counts: pd.Series) -> dict[str, Any]:
    """Descriptive statistics over theme counts, and the major/minor split.

    Parameters
    ----------
    counts : Series
        Codes per theme, indexed by theme (every theme of the codebook, zeros included).

    Returns
    -------
    dict
        ``total_codes``, ``n_themes``, ``mean``, ``median``, ``sd`` (n-1), ``range``
        (max - min), ``major`` and ``minor`` (theme names, alphabetical), ``ties_at_mean``
        (themes whose count equals the mean; they are minor) and ``tie_rule`` (that rule
        in words).

    Notes
    -----
    The SD is undefined for fewer than two themes: NaN, with an
    :class:`~themeassist.errors.UndefinedStatisticWarning`.

    References
    ----------
    .. [1] Thomson, Waterson & Chatterjee (2024). Int J Equity Health 23, 135.
       doi:10.1186/s12939-024-02216-1 (323 codes, mean 26.92, median 26.50, SD 11.74,
       range 40.00, six major themes).

    Examples
    --------
    >>> s = describe(pd.Series({"Funding": 6, "Mental health": 5, "Place": 4}))
    >>> s["mean"], s["sd"], s["major"], s["ties_at_mean"]
    (5.0, 1.0, ['Funding'], ['Mental health'])
    """
    if len(counts) == 0:
        raise InputError("no themes to describe", expected="at least one theme", got=0)
    values = pd.to_numeric(counts, errors="raise").astype(float)
    n = len(values)
    total = float(values.sum())
    if n < 2:
        warnings.warn(f"SD over themes needs two themes, got {n}; reported as NaN",
                      UndefinedStatisticWarning, stacklevel=2)
        sd = float("nan")
    else:
        sd = float(values.std(ddof=1))
    above = values * n > total + _EPS
    at = (values * n - total).abs() <= _EPS
    names = values.index.astype(str)
    return {
        "total_codes": int(total) if float(total).is_integer() else total,
        "n_themes": n,
        "mean": total / n,
        "median": float(values.median()),
        "sd": sd,
        "range": float(values.max() - values.min()),
        "major": sorted(names[above.to_numpy()]),
        "minor": sorted(names[~above.to_numpy()]),
        "ties_at_mean": sorted(names[at.to_numpy()]),
        "tie_rule": TIE_RULE,
    }


# --------------------------------------------------------------------------- per question
def _need_columns(info: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    lacking = [c for c in cols if c not in info.columns]
    if lacking:
        raise InputError(f"{what} need {', '.join(cols)} for each coding", column=lacking[0],
                         expected="a corpus (segments) or these columns in the codings table",
                         got="missing")


def group_shares(
    codings: pd.DataFrame,
    segments: pd.DataFrame | None,
    codebook: pd.DataFrame,
) -> pd.DataFrame:
    """Each focus group's share of a question's codes, per theme.

    For each question q and each focus group (transcript) g with at least one code on q,
    a theme's share is its codes / the group's codes on q x 100. A group with no code on a
    question is not a group of that question (it did not answer it).

    Parameters
    ----------
    codings : DataFrame
        De-duplicated codings of one coder.
    segments : DataFrame, optional
        The corpus (``transcript_id`` and ``question`` per segment); without it the
        codings table must carry those columns.
    codebook : DataFrame
        Fixes the themes; every theme appears for every (question, group), zeros included.

    Returns
    -------
    DataFrame
        Columns ``question``, ``group``, ``theme``, ``codes``, ``group_codes``, ``percent``
        (unrounded), ordered by question (naturally: 2 before 10), group, codebook order.
        Codings on segments without a question are left out.
    """
    info = attach_segments(_prepare(codings), segments)
    _need_columns(info, ("transcript_id", "question"), "per-question statistics")
    wide = _wide_shares(info, _themes(codebook))
    counts = wide["codes"].stack().rename("codes")
    shares = wide["percent"].stack().rename("percent")
    out = pd.concat([counts, shares], axis=1).reset_index()
    out["group_codes"] = out.groupby(["question", "group"], sort=False)["codes"].transform("sum")
    return out[["question", "group", "theme", "codes", "group_codes", "percent"]]


def _wide_shares(info: pd.DataFrame, themes: pd.Index) -> dict[str, pd.DataFrame]:
    """(question, group) x theme tables of codes and percent shares."""
    d = info.loc[info["question"] != "", ["question", "transcript_id", "theme"]]
    d = d.rename(columns={"transcript_id": "group"})
    codes = (d.groupby(["question", "group", "theme"], sort=False).size()
             .unstack("theme", fill_value=0).reindex(columns=themes, fill_value=0))
    qs = _questions_in_order(codes.index.get_level_values("question"))
    if len(codes):
        order = sorted(codes.index, key=lambda qg: (qs.index(qg[0]), _natural_key(qg[1])))
        codes = codes.reindex(pd.MultiIndex.from_tuples(order, names=["question", "group"]))
    codes.columns.name = "theme"
    percent = codes.div(codes.sum(axis=1), axis=0) * 100
    return {"codes": codes.astype(np.int64), "percent": percent}


def select_half(shares: pd.Series) -> list[str]:
    """The shortest prefix of themes, by descending share, whose shares reach 50%.

    The reference study tabulated, for each question, "the themes that together make up
    50% or more of the question's codes" [1]_: take themes in descending order of share
    until the cumulative share reaches 50.

    Parameters
    ----------
    shares : Series
        Mean share (percent) per theme, indexed by theme.

    Returns
    -------
    list of str
        The selected themes, largest share first. Ties keep the order of ``shares``;
        themes with share 0 are never selected; if the shares never reach 50% (they sum
        to less), every theme with a positive share is returned.

    References
    ----------
    .. [1] Thomson, Waterson & Chatterjee (2024). Int J Equity Health 23, 135.
       doi:10.1186/s12939-024-02216-1

    Examples
    --------
    >>> select_half(pd.Series({"Research evidence": 35.04,
    ...                        "Health inequalities and deprivation": 28.41, "Funding": 9.0}))
    ['Research evidence', 'Health inequalities and deprivation']
    >>> select_half(pd.Series({"A": 50.0, "B": 30.0, "C": 20.0}))
    ['A']
    """
    s = pd.to_numeric(shares, errors="raise").astype(float).fillna(0.0)
    s = s[s > 0].sort_values(ascending=False, kind="stable")
    reached = np.flatnonzero(s.cumsum().to_numpy() >= 50 - _EPS)
    n = int(reached[0]) + 1 if len(reached) else len(s)
    return [str(t) for t in s.index[:n]]


def per_question(
    codings: pd.DataFrame,
    segments: pd.DataFrame | None,
    codebook: pd.DataFrame,
) -> pd.DataFrame:
    """Mean share per theme over the focus groups of each question, +/- 1 SD, and selection.

    For each question, each theme's share of a group's codes on that question (see
    :func:`group_shares`) is averaged over the groups with at least one code on it; the
    SD (n-1) over those groups gives the error bars of the study's Figs 1-8 [1]_; the
    selected themes are :func:`select_half` of the mean shares.

    Parameters
    ----------
    codings : DataFrame
        De-duplicated codings of one coder.
    segments : DataFrame, optional
        The corpus; without it the codings table must carry ``transcript_id`` and
        ``question``.
    codebook : DataFrame
        Fixes the themes (all appear, with share 0 when unused on a question).

    Returns
    -------
    DataFrame
        Columns ``question``, ``theme``, ``percent`` (mean share), ``sd``, ``groups``
        (number of groups averaged), ``selected`` (bool), ``rank`` (1 = largest share);
        by question, then share descending (ties in codebook order). ``percent`` and
        ``sd`` are rounded to two decimals after the selection is made.

    Notes
    -----
    With one group on a question the SD is undefined: NaN, with one
    :class:`~themeassist.errors.UndefinedStatisticWarning` naming every such question.

    References
    ----------
    .. [1] Thomson, Waterson & Chatterjee (2024). Int J Equity Health 23, 135.
       doi:10.1186/s12939-024-02216-1

    Examples
    --------
    >>> codebook = pd.DataFrame({"theme": ["Funding", "Place"]})
    >>> codings = pd.DataFrame({"theme": ["Funding", "Funding", "Place", "Place"],
    ...                         "transcript_id": ["g1", "g1", "g1", "g2"],
    ...                         "question": ["1"] * 4})
    >>> per_question(codings, None, codebook)
      question    theme  percent     sd  groups  selected  rank
    0        1    Place    66.67  47.14       2      True     1
    1        1  Funding    33.33  47.14       2     False     2
    """
    info = attach_segments(_prepare(codings), segments)
    _need_columns(info, ("transcript_id", "question"), "per-question statistics")
    themes = _themes(codebook)
    no_question = int((info["question"] == "").sum())
    if no_question:
        log.info("%d codings on segments without a question are left out of the "
                 "per-question statistics", no_question)
    wide = _wide_shares(info, themes)["percent"]
    cols = ["question", "theme", "percent", "sd", "groups", "selected", "rank"]
    if wide.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            cols, [object, object, float, float, np.int64, bool, np.int64])})
    grouped = wide.groupby(level="question", sort=False)
    means, sds, sizes = grouped.mean(), grouped.std(ddof=1), grouped.size()
    single = [str(q) for q in means.index if sizes[q] < 2]
    if single:
        warnings.warn(f"SD over groups needs two groups; question(s) {', '.join(single)} "
                      "had one: SD reported as NaN (blank)", UndefinedStatisticWarning,
                      stacklevel=2)
    frames = []
    for q in means.index:
        n = int(sizes[q])
        mean = means.loc[q].sort_values(ascending=False, kind="stable")
        chosen = set(select_half(mean))
        frames.append(pd.DataFrame({
            "question": q, "theme": mean.index.astype(str), "percent": mean.to_numpy(),
            "sd": sds.loc[q].reindex(mean.index).to_numpy() if n >= 2 else np.nan,
            "groups": n, "selected": [t in chosen for t in mean.index],
            "rank": np.arange(1, len(mean) + 1)}))
    out = pd.concat(frames, ignore_index=True)
    out["percent"] = out["percent"].round(2)
    out["sd"] = out["sd"].astype(float).round(2)
    return out[cols]


def selected_themes(per_question_table: pd.DataFrame) -> dict[str, list[str]]:
    """Question -> its selected themes (largest share first), from :func:`per_question`.

    Examples
    --------
    >>> pq = pd.DataFrame({"question": ["1", "1"], "theme": ["A", "B"],
    ...                    "selected": [True, False], "rank": [1, 2]})
    >>> selected_themes(pq)
    {'1': ['A']}
    """
    pq = per_question_table
    sel = pq[pq["selected"].astype(bool)].sort_values("rank", kind="stable")
    out = {str(q): list(map(str, g["theme"])) for q, g in sel.groupby("question", sort=False)}
    return {q: out.get(q, []) for q in _questions_in_order(pq["question"].astype(str))}


def top_subthemes(
    codings: pd.DataFrame,
    segments: pd.DataFrame | None,
    per_question_table: pd.DataFrame,
    *,
    n: int = 5,
    n_quotes: int = 2,
) -> pd.DataFrame:
    """The most frequent subthemes of each selected theme on each question, with quotes.

    As in the reference study's Tables 2-9 [1]_: for each question and each theme the 50%
    rule selected (see :func:`per_question`), the ``n`` subthemes (codes: valence and
    subtheme) with most codes on that question, with example quotations from the coded
    segments. Human codings give quotes in document order (transcript, position); machine
    codings (a ``confidence`` column with values) give the most confident first.

    Parameters
    ----------
    codings : DataFrame
        De-duplicated codings of one coder.
    segments : DataFrame, optional
        The corpus (``transcript_id``, ``question``, ``text``); without it the codings table
        must carry ``transcript_id`` and ``question``; quotes then come from its ``text``
        column, if any.
    per_question_table : DataFrame
        The output of :func:`per_question`.
    n : int
        Subthemes per selected theme.
    n_quotes : int
        Example quotations per subtheme (distinct texts).

    Returns
    -------
    DataFrame
        Columns ``question``, ``theme``, ``rank``, ``valence``, ``subtheme``, ``codes``,
        ``quotes`` (list of str) and ``quote_segments`` (list of segment ids). Ties in
        ``codes`` are broken alphabetically by subtheme, then valence. Theme-level codes
        (no subtheme) are not listed.

    References
    ----------
    .. [1] Thomson, Waterson & Chatterjee (2024). Int J Equity Health 23, 135.
       doi:10.1186/s12939-024-02216-1
    """
    cols = ["question", "theme", "rank", "valence", "subtheme", "codes", "quotes",
            "quote_segments"]
    info = attach_segments(_prepare(codings), segments)
    _need_columns(info, ("transcript_id", "question"), "per-question statistics")
    sel = per_question_table.loc[per_question_table["selected"].astype(bool),
                                 ["question", "theme"]].astype(str)
    d = info.merge(sel, on=["question", "theme"], how="inner")
    d = d[d["subtheme"] != ""]  # theme-level codes name no subtheme
    if d.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    if "text" not in d.columns:
        d["text"] = ""
    if "segment_id" not in d.columns:
        d["segment_id"] = ""
    machine = "confidence" in d.columns and pd.to_numeric(d["confidence"],
                                                          errors="coerce").notna().any()
    d = _document_order(d)
    if machine:
        d = d.assign(_conf=pd.to_numeric(d["confidence"], errors="coerce").fillna(-1.0))
        d = d.sort_values("_conf", ascending=False, kind="stable")
    key = ["question", "theme", "valence", "subtheme"]
    counts = d.groupby(key, sort=False).size().rename("codes").reset_index()
    counts["_sub"] = counts["subtheme"].str.casefold()
    counts = counts.sort_values(["question", "theme", "codes", "_sub", "valence"],
                                ascending=[True, True, False, True, True], kind="stable")
    counts["rank"] = counts.groupby(["question", "theme"], sort=False).cumcount() + 1
    counts = counts[counts["rank"] <= n]
    quoted = d[d["text"] != ""].drop_duplicates(key + ["text"])
    quoted = quoted.groupby(key, sort=False).head(n_quotes)
    quotes = quoted.groupby(key, sort=False).agg(quotes=("text", list),
                                                 quote_segments=("segment_id", list))
    out = counts.merge(quotes.reset_index(), on=key, how="left")
    for c in ("quotes", "quote_segments"):
        out[c] = [v if isinstance(v, list) else [] for v in out[c]]
    # Questions in natural order, selected themes in the per-question order.
    order = {(str(q), str(t)): i for i, (q, t) in enumerate(zip(
        per_question_table["question"], per_question_table["theme"]))}
    out["_order"] = [order.get((q, t), 0) for q, t in zip(out["question"], out["theme"])]
    out = out.sort_values(["_order", "rank"], kind="stable", ignore_index=True)
    return out[cols]


# --------------------------------------------------------------------------- appendix
def appendix_table(
    codings: pd.DataFrame,
    codebook: pd.DataFrame,
    *,
    used_only: bool = True,
) -> pd.DataFrame:
    """Appendix 1 of the reference study: themes with counts and their subthemes.

    Themes come major first, by count (as :func:`theme_counts` orders them); each theme's
    subthemes are split into successes and challenges and listed alphabetically [1]_.

    Parameters
    ----------
    codings : DataFrame
        De-duplicated codings of one coder.
    codebook : DataFrame
        Fixes the themes and, with ``used_only=False``, the subthemes listed.
    used_only : bool
        List only the subthemes this coder used (default), or every codebook subtheme.

    Returns
    -------
    DataFrame
        Columns ``theme``, ``type``, ``codes``, ``percent``, ``n_successes``,
        ``successes``, ``n_challenges``, ``challenges`` and ``other`` (subthemes of a
        codebook without valence); lists are joined with ``"; "``.

    References
    ----------
    .. [1] Thomson, Waterson & Chatterjee (2024). Int J Equity Health 23, 135.
       doi:10.1186/s12939-024-02216-1

    Examples
    --------
    >>> book = pd.DataFrame({"theme": ["Funding", "Funding"],
    ...                      "valence": ["success", "challenge"],
    ...                      "subtheme": ["Grant secured", "Short-term funding"]})
    >>> appendix_table(book.iloc[[1]], book)[["theme", "codes", "successes", "challenges"]]
         theme  codes successes          challenges
    0  Funding      1            Short-term funding
    """
    counts = theme_counts(codings, codebook)
    source = _prepare(codings if used_only else codebook)
    source = source[source["subtheme"] != ""].drop_duplicates(list(CODE_KEY))

    def listed(theme_rows: pd.DataFrame, valence) -> list[str]:
        rows = theme_rows[theme_rows["valence"].isin(valence)]
        return sorted(pd.unique(rows["subtheme"]), key=lambda s: (s.casefold(), s))

    by_theme = dict(tuple(source.groupby("theme", sort=False)))
    empty = source.iloc[0:0]
    rows = []
    for rec in counts.itertuples(index=False):
        sub = by_theme.get(rec.theme, empty)
        succ, chal = listed(sub, ["success"]), listed(sub, ["challenge"])
        other = listed(sub, [v for v in pd.unique(sub["valence"])
                             if v not in ("success", "challenge")])
        rows.append({"theme": rec.theme, "type": rec.type, "codes": rec.codes,
                     "percent": rec.percent, "n_successes": len(succ),
                     "successes": "; ".join(succ), "n_challenges": len(chal),
                     "challenges": "; ".join(chal), "other": "; ".join(other)})
    return pd.DataFrame(rows, columns=["theme", "type", "codes", "percent", "n_successes",
                                       "successes", "n_challenges", "challenges", "other"])


# --------------------------------------------------------------------------- one coder
@dataclass
class StatsResult:
    """Every statistic of the reference method for one coder (see :func:`run`)."""

    coder: str
    dedup_scope: str
    codes_before_dedup: int
    duplicates_removed: int
    codings: pd.DataFrame
    theme_counts: pd.DataFrame
    summary: dict[str, Any]
    appendix: pd.DataFrame
    group_shares: pd.DataFrame | None = None
    per_question: pd.DataFrame | None = None
    top_subthemes: pd.DataFrame | None = None
    #: Output name -> why it could not be computed (e.g. no question information).
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def selected(self) -> dict[str, list[str]] | None:
        """Question -> selected themes, or None when per-question statistics were skipped."""
        return None if self.per_question is None else selected_themes(self.per_question)


def _has_question_info(info: pd.DataFrame) -> bool:
    return {"transcript_id", "question"} <= set(info.columns)


def run(
    codings: pd.DataFrame,
    codebook: pd.DataFrame,
    segments: pd.DataFrame | None = None,
    dedup_scope: Literal["question", "transcript", "none"] = "question",
    *,
    n_subthemes: int = 5,
    n_quotes: int = 2,
    exclude_review: bool = False,
) -> StatsResult:
    """All of the reference study's statistics for one coder.

    Checks the codes against the codebook, de-duplicates (:func:`dedupe`), counts themes
    (:func:`theme_counts`, :func:`describe`), builds the appendix (:func:`appendix_table`)
    and, when each coding's transcript and question are known (from ``segments`` or the
    codings' own columns), the per-question statistics (:func:`group_shares`,
    :func:`per_question`, :func:`top_subthemes`). What cannot be computed is named in
    ``StatsResult.skipped`` with the reason, never silently left out.

    Parameters
    ----------
    codings : DataFrame
        One coder's codings (a ``coder`` column, if present, must hold one name).
    codebook : DataFrame
        ``theme``, ``valence``, ``subtheme``.
    segments : DataFrame, optional
        The corpus; needed for de-duplication and per-question statistics unless the
        codings table carries ``transcript_id``, ``speaker`` and ``question``.
    dedup_scope : {"question", "transcript", "none"}
        See :func:`dedupe`. Without speaker information de-duplication is skipped (and
        named in ``skipped``).
    n_subthemes, n_quotes : int
        For :func:`top_subthemes`.
    exclude_review : bool
        Leave out machine codes marked ``needs_review`` (below the labeller's confidence
        threshold). By default every code given is counted.

    Notes
    -----
    Rows with an empty theme (a labeller's "segment not codable" marker) are not codes:
    they are left out, and ``summary["uncoded_rows"]`` says how many. With
    ``exclude_review``, ``summary["review_excluded"]`` says how many codes were left out.

    Raises
    ------
    InputError
        Several coders, a code not in the codebook (naming code and row), or codings on
        segments missing from the corpus (naming them).

    Examples
    --------
    >>> book = pd.DataFrame({"theme": ["Funding", "Place"], "valence": ["", ""],
    ...                      "subtheme": ["", ""]})
    >>> codings = pd.DataFrame({"theme": ["Funding", "Funding", "Place"]})
    >>> r = run(codings, book)
    >>> r.summary["total_codes"], r.summary["major"], sorted(r.skipped)
    (3, ['Funding'], ['dedupe', 'per_question', 'top_subthemes'])
    """
    p = prepare(codings, codebook, segments, dedup_scope, exclude_review=exclude_review)
    kept, skipped = p.kept, dict(p.skipped)
    counts = theme_counts(kept, codebook)
    summary = {**describe(counts.set_index("theme")["codes"]), "coder": p.coder,
               "dedup_scope": p.dedup_scope,
               "codes_before_dedup": len(p.info), "duplicates_removed": p.removed,
               "uncoded_rows": p.uncoded_rows, "review_excluded": p.review_excluded,
               "methods": {**METHODS, "dedupe": METHODS["dedupe"].format(scope=dedup_scope)}}
    result = StatsResult(coder=p.coder, dedup_scope=p.dedup_scope,
                         codes_before_dedup=len(p.info), duplicates_removed=p.removed,
                         codings=kept, theme_counts=counts, summary=summary,
                         appendix=appendix_table(kept, codebook), skipped=skipped)
    has_columns = _has_question_info(p.info)
    if has_columns:
        summary["codes_without_question"] = int((kept["question"] == "").sum())
    if has_columns and summary["codes_without_question"] < len(kept):
        result.group_shares = group_shares(kept, None, codebook)
        result.per_question = per_question(kept, None, codebook)
        result.top_subthemes = top_subthemes(kept, None, result.per_question,
                                             n=n_subthemes, n_quotes=n_quotes)
    else:
        why = ("needs each coding's transcript and question; give the corpus" if not has_columns
               else "no coded segment has a question (ingest with the topic guide's questions)")
        for name in ("per_question", "top_subthemes"):
            skipped[name] = why
    summary["skipped"] = dict(skipped)
    if result.per_question is not None:
        summary["selected"] = result.selected
    return result


@dataclass
class Prepared:
    """One coder's codings made ready for every statistic (see :func:`prepare`)."""

    coder: str
    #: The codes with the corpus columns attached, before de-duplication.
    info: pd.DataFrame
    #: After de-duplication: what every statistic counts.
    kept: pd.DataFrame
    removed: int
    dedup_scope: str
    uncoded_rows: int
    review_excluded: int
    skipped: dict[str, str] = field(default_factory=dict)


def prepare(codings: pd.DataFrame, codebook: pd.DataFrame,
            segments: pd.DataFrame | None = None, dedup_scope: str = "question", *,
            exclude_review: bool = False) -> Prepared:
    """The one preparation step of :func:`run`: check, attach the corpus, drop, de-duplicate.

    Checks the codes against the codebook, attaches each coding's transcript, speaker,
    question and text (:func:`attach_segments`), leaves out rows that are not codes (empty
    theme) and, with ``exclude_review``, machine codes marked ``needs_review``, then
    de-duplicates (:func:`dedupe`; skipped, and named in ``skipped``, without speaker
    information). Parameters as :func:`run`.

    Examples
    --------
    >>> book = pd.DataFrame({"theme": ["Funding"], "valence": [""], "subtheme": [""]})
    >>> p = prepare(pd.DataFrame({"theme": ["Funding", ""]}), book)
    >>> len(p.kept), p.uncoded_rows, sorted(p.skipped)
    (1, 1, ['dedupe'])
    """
    coders = pd.unique(_text(codings["coder"])) if "coder" in codings.columns else []
    if len(coders) > 1:
        raise InputError(f"stats.run takes one coder's codings, got {len(coders)} coders "
                         "(use stats.run_all)", column="coder", expected="one coder",
                         got=", ".join(map(str, coders[:5])))
    coder = str(coders[0]) if len(coders) else ""
    check_codes(codings, codebook, allow_uncoded=True)
    info = attach_segments(_prepare(codings), segments)
    uncoded = (info["theme"] == "").to_numpy()
    review = np.zeros(len(info), dtype=bool)
    if exclude_review and "needs_review" in info.columns:
        flag = info["needs_review"]
        review = (flag.astype(str).str.strip().str.lower().isin(["true", "1", "yes", "y"])
                  if flag.dtype != bool else flag).to_numpy(dtype=bool) & ~uncoded
    info = info.loc[~(uncoded | review)].reset_index(drop=True)
    skipped: dict[str, str] = {}
    need = ("speaker", *(DEDUP_SCOPES.get(dedup_scope) or ()))
    if dedup_scope != "none" and not set(need) <= set(info.columns):
        skipped["dedupe"] = (f"de-duplication by {dedup_scope} needs {', '.join(need)}; "
                             "give the corpus")
        kept, removed = info, 0
    else:
        kept, removed = dedupe(info, None, dedup_scope)
    return Prepared(coder=coder, info=info, kept=kept, removed=removed,
                    dedup_scope=dedup_scope if "dedupe" not in skipped else "none",
                    uncoded_rows=int(uncoded.sum()), review_excluded=int(review.sum()),
                    skipped=skipped)


def by_coder(codings: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each coder's codings, in the order the coders first appear (the one per-coder loop).

    A table without a ``coder`` column is one coder named ``""``.

    Examples
    --------
    >>> [c for c, _ in by_coder(pd.DataFrame({"coder": ["B", "A", "B"], "theme": "x"}))]
    ['B', 'A']
    """
    if "coder" not in codings.columns:
        yield "", codings
        return
    coder = _text(codings["coder"])
    for c in pd.unique(coder):
        yield str(c), codings[coder == c].reset_index(drop=True)


def run_all(
    codings: pd.DataFrame,
    codebook: pd.DataFrame,
    segments: pd.DataFrame | None = None,
    dedup_scope: str = "question",
    **kwargs: Any,
) -> dict[str, StatsResult]:
    """:func:`run` for each coder of ``codings`` (by its ``coder`` column), in order seen.

    A table without a ``coder`` column is one coder named ``""``.
    """
    return {coder: run(frame, codebook, segments, dedup_scope, **kwargs)
            for coder, frame in by_coder(codings)}


# --------------------------------------------------------------------------- comparison
def spearman(a: pd.Series, b: pd.Series) -> tuple[float, float]:
    """Spearman rank correlation (rho, p) of two coders' theme counts, aligned by theme.

    Notes
    -----
    Undefined when either coder's counts are all equal (or fewer than two themes): NaN,
    with an :class:`~themeassist.errors.UndefinedStatisticWarning`.

    Examples
    --------
    >>> rho, p = spearman(pd.Series({"A": 3, "B": 2, "C": 1}), pd.Series({"A": 9, "B": 5, "C": 4}))
    >>> round(rho, 2)
    1.0
    """
    from scipy.stats import spearmanr

    a, b = a.align(b, fill_value=0)
    if len(a) < 2 or a.nunique() < 2 or b.nunique() < 2:
        warnings.warn("Spearman correlation is undefined for constant counts or fewer than "
                      "two themes; reported as NaN", UndefinedStatisticWarning, stacklevel=2)
        return float("nan"), float("nan")
    res = spearmanr(a.to_numpy(dtype=float), b.to_numpy(dtype=float))
    return float(res.statistic), float(res.pvalue)


def compare(results: dict[str, StatsResult]) -> dict[str, Any]:
    """Put several coders' statistics side by side; the first coder is the reference.

    Parameters
    ----------
    results : dict
        Coder name -> :class:`StatsResult` (from :func:`run` or :func:`run_all`), in the
        order to show; each later coder is compared with the first.

    Returns
    -------
    dict
        ``counts`` (DataFrame: theme, then ``<coder>_codes``, ``<coder>_percent``,
        ``<coder>_type`` per coder, and ``same_type``), ``selected`` (DataFrame: question,
        ``<coder>`` per coder with selected themes joined by "; ", ``identical``; None when
        any coder lacks per-question statistics), ``major`` (coder -> major themes),
        ``pairs`` (one dict per compared coder: ``reference``, ``coder``,
        ``major_shared``, ``major_reference``, ``major_identical``, ``only_reference``,
        ``only_coder``, ``same_type``, ``n_themes``, ``selected_identical``,
        ``questions``, ``spearman_rho``, ``spearman_p``, ``verdict``) and ``verdict`` (one
        line; several pairs joined by " | ").

    Examples
    --------
    >>> book = pd.DataFrame({"theme": ["A", "B", "C"], "valence": "", "subtheme": ""})
    >>> human = run(pd.DataFrame({"theme": list("AAABBC")}), book)
    >>> machine = run(pd.DataFrame({"theme": list("AAABCC")}), book)
    >>> print(compare({"human": human, "machine": machine})["verdict"])
    major themes identical (1/1); selected themes not compared (no question information); Spearman rho = 0.50
    """
    if len(results) < 2:
        raise InputError("a comparison needs two or more coders", expected="2+ coders",
                         got=len(results))
    names = list(results)
    ref = names[0]
    counts = results[ref].theme_counts[["theme"]].copy()
    for name in names:
        tc = results[name].theme_counts.set_index("theme")
        for col in ("codes", "percent", "type"):
            counts[f"{name}_{col}"] = tc[col].reindex(counts["theme"]).to_numpy()
    types = counts[[f"{n}_type" for n in names]]
    counts["same_type"] = types.nunique(axis=1).eq(1).to_numpy()

    have_q = all(results[n].per_question is not None for n in names)
    selected = None
    if have_q:
        sel = {n: results[n].selected for n in names}
        questions = _questions_in_order({q for s in sel.values() for q in s})
        selected = pd.DataFrame({"question": questions})
        for n in names:
            selected[n] = ["; ".join(sel[n].get(q, [])) for q in questions]
        selected["identical"] = [len({tuple(sorted(sel[n].get(q, []))) for n in names}) == 1
                                 for q in questions]

    pairs = []
    for other in names[1:]:
        a, b = results[ref], results[other]
        maj_a, maj_b = set(a.summary["major"]), set(b.summary["major"])
        same_type = int((counts[f"{ref}_type"] == counts[f"{other}_type"]).sum())
        rho, p = spearman(a.theme_counts.set_index("theme")["codes"],
                          b.theme_counts.set_index("theme")["codes"])
        parts = []
        if maj_a == maj_b:
            parts.append(f"major themes identical ({len(maj_a)}/{len(maj_a)})")
        else:
            parts.append(f"major themes differ ({len(maj_a & maj_b)} of {len(maj_a)} shared)")
        pair = {"reference": ref, "coder": other, "major_shared": len(maj_a & maj_b),
                "major_reference": len(maj_a), "major_identical": maj_a == maj_b,
                "only_reference": sorted(maj_a - maj_b), "only_coder": sorted(maj_b - maj_a),
                "same_type": same_type, "n_themes": len(counts),
                "selected_identical": None, "questions": None,
                "spearman_rho": rho, "spearman_p": p}
        if have_q:
            sa, sb = a.selected, b.selected
            qs = sorted(set(sa) | set(sb), key=_natural_key)
            same = sum(sorted(sa.get(q, [])) == sorted(sb.get(q, [])) for q in qs)
            pair.update(selected_identical=same, questions=len(qs))
            parts.append(f"selected themes identical on {same} of {len(qs)} questions")
        else:
            parts.append("selected themes not compared (no question information)")
        parts.append("Spearman rho = " + ("undefined" if np.isnan(rho) else f"{rho:.2f}"))
        verdict = "; ".join(parts)
        if len(names) > 2:
            verdict = f"{other} vs {ref}: {verdict}"
        pair["verdict"] = verdict
        pairs.append(pair)
    return {"coders": names, "reference": ref, "counts": counts, "selected": selected,
            "major": {n: results[n].summary["major"] for n in names}, "pairs": pairs,
            "verdict": " | ".join(p["verdict"] for p in pairs)}
