"""Figures of the content-analysis statistics, in the house style (``report/style.py``).

Each function takes the tables of :mod:`themeassist.stats` and returns a matplotlib
Figure; saving (PNG and SVG, byte-identical reruns) is ``io.OutputDir.figure``'s job.

- :func:`theme_frequency`: codes per theme, the mean drawn, major and minor marked;
- :func:`question_shares`: one question like the reference study's Figs 1-8: bars = mean
  share per theme over the focus groups, error bars +/- 1 SD, selected themes marked;
- :func:`compare_counts`: several coders' theme counts side by side.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from themeassist.report.style import (
    MAJOR_COLOUR,
    MINOR_COLOUR,
    PALETTE,
    figure_style,
    new_figure,
)

_WRAP = 34  # characters per line of a theme name on the axis


def _wrap(label: str) -> str:
    return "\n".join(textwrap.wrap(str(label), _WRAP)) or str(label)


def _height(n_bars: int) -> float:
    return max(2.2, 0.42 * n_bars + 1.1)


def theme_frequency(theme_counts: pd.DataFrame, summary: Mapping | None = None,
                    title: str | None = None):
    """Horizontal bars of codes per theme, the mean as a dashed line, major in colour.

    Parameters
    ----------
    theme_counts : DataFrame
        :func:`themeassist.stats.theme_counts` (theme, codes, percent, type).
    summary : mapping, optional
        :func:`themeassist.stats.describe`; its ``mean`` is drawn (otherwise computed).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> tc = pd.DataFrame({"theme": ["Funding", "Place"], "codes": [3, 1],
    ...                    "percent": [75.0, 25.0], "type": ["major", "minor"]})
    >>> fig = theme_frequency(tc)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['Funding', 'Place']
    """
    from matplotlib.patches import Patch

    tc = theme_counts.reset_index(drop=True)
    mean = float(summary["mean"]) if summary else float(tc["codes"].mean())
    with figure_style():
        fig, ax = new_figure(7.0, _height(len(tc)))
        y = np.arange(len(tc))
        colours = [MAJOR_COLOUR if t == "major" else MINOR_COLOUR for t in tc["type"]]
        ax.barh(y, tc["codes"], color=colours, height=0.7)
        ax.set_yticks(y, [_wrap(t) for t in tc["theme"]])
        ax.invert_yaxis()
        top = max(float(tc["codes"].max()) if len(tc) else 0.0, mean, 1.0)
        for yi, (n, p) in enumerate(zip(tc["codes"], tc["percent"])):
            label = f"{n}" if pd.isna(p) else f"{n} ({p:.2f}%)"
            ax.text(n + top * 0.01, yi, label, va="center", fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
        ax.axvline(mean, color="#000000", linestyle="--", linewidth=1)
        ax.text(mean, -0.6, f" mean {mean:.2f}", va="bottom", ha="left", fontsize=8)
        ax.set_xlim(0, top * 1.22)
        ax.set_ylim(len(tc) - 0.4, -1.0)
        ax.set_xlabel("Codes (after de-duplication)")
        ax.legend(handles=[Patch(color=MAJOR_COLOUR, label="major (count > mean)"),
                           Patch(color=MINOR_COLOUR, label="minor")],
                  loc="lower right", frameon=False, fontsize=8)
        if title:
            ax.set_title(title)
    return fig


def question_shares(per_question: pd.DataFrame, question: str, title: str | None = None,
                    *, show_zero: bool = False, coder: str | None = None):
    """One question's mean share per theme over focus groups, +/- 1 SD, selected marked.

    Like Figs 1-8 of the reference study (Thomson, Waterson & Chatterjee 2024).

    Parameters
    ----------
    per_question : DataFrame
        :func:`themeassist.stats.per_question` (question, theme, percent, sd, groups,
        selected, rank); rows of other questions are ignored.
    question : str
    title : str, optional
        Default: "Question <q> (<n> groups)", with ``coder``: "Question <q> (<coder>, <n>
        groups)".
    show_zero : bool
        Also draw themes with share 0 (left out by default).
    coder : str, optional
        Whose coding it is (for the default title).

    Returns
    -------
    matplotlib.figure.Figure
        A blank SD (one group) draws no error bar.

    Examples
    --------
    >>> pq = pd.DataFrame({"question": ["1", "1"], "theme": ["Funding", "Place"],
    ...                    "percent": [60.0, 40.0], "sd": [10.0, 10.0], "groups": [3, 3],
    ...                    "selected": [True, False], "rank": [1, 2]})
    >>> fig = question_shares(pq, "1")
    >>> fig.axes[0].get_title()
    'Question 1 (3 groups)'
    """
    from matplotlib.patches import Patch

    d = per_question[per_question["question"].astype(str) == str(question)]
    d = d.sort_values("rank", kind="stable")
    if not show_zero:
        d = d[d["percent"] > 0]
    groups = int(d["groups"].max()) if len(d) else 0
    with figure_style():
        fig, ax = new_figure(7.0, _height(len(d)))
        y = np.arange(len(d))
        sel = d["selected"].astype(bool).to_numpy()
        colours = [MAJOR_COLOUR if s else MINOR_COLOUR for s in sel]
        sd = d["sd"].astype(float).to_numpy()
        ax.barh(y, d["percent"], color=colours, height=0.7,
                xerr=np.where(np.isnan(sd), 0, sd) if len(d) else None,
                error_kw={"ecolor": "#333333", "capsize": 3, "linewidth": 0.8})
        ax.set_yticks(y, [_wrap(t) for t in d["theme"]])
        ax.invert_yaxis()
        hi = float(np.nanmax(d["percent"].to_numpy() + np.nan_to_num(sd))) if len(d) else 100
        hi = max(hi, 10.0)
        for yi, (p, e) in enumerate(zip(d["percent"], np.nan_to_num(sd))):
            ax.text(p + e + hi * 0.015, yi, f"{p:.2f}", va="center", ha="left", fontsize=8)
        ax.set_xlim(0, hi * 1.15)
        ax.set_xlabel("Mean share of the question's codes over focus groups (%), +/- 1 SD")
        ax.legend(handles=[Patch(color=MAJOR_COLOUR, label="selected (cumulative 50%)"),
                           Patch(color=MINOR_COLOUR, label="not selected")],
                  loc="best", frameon=False, fontsize=8)
        who = f"{coder}, " if coder else ""
        ax.set_title(title or f"Question {question} ({who}{groups} group{'s' * (groups != 1)})")
    return fig


def compare_counts(counts: pd.DataFrame, coders: Sequence[str], title: str | None = None):
    """Codes per theme for several coders, as grouped horizontal bars.

    Parameters
    ----------
    counts : DataFrame
        ``compare(...)["counts"]``: theme and ``<coder>_codes`` per coder.
    coders : sequence of str
        The coders to draw, in order (the first is the reference).

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = len(coders)
    with figure_style():
        fig, ax = new_figure(7.0, _height(len(counts) * max(1, n) * 0.55))
        y = np.arange(len(counts))
        width = 0.8 / max(n, 1)
        for i, coder in enumerate(coders):
            ax.barh(y - 0.4 + width * (i + 0.5), counts[f"{coder}_codes"], height=width,
                    color=PALETTE[i % len(PALETTE)], label=coder)
        ax.set_yticks(y, [_wrap(t) for t in counts["theme"]])
        ax.invert_yaxis()
        ax.set_xlabel("Codes (after de-duplication)")
        ax.legend(loc="lower right", frameon=False, fontsize=8)
        if title:
            ax.set_title(title)
    return fig
