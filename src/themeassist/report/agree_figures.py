"""Figures of the agreement module: confusion heatmap, coefficients with intervals, per code.

Each function takes what :mod:`themeassist.agree` returns and gives back a matplotlib
Figure; saving is the caller's business (``io.OutputDir.figure``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from themeassist.report.style import PALETTE, figure_style, new_figure

#: Coefficients in the order figures show them, with their display names.
DISPLAY = {
    "percent_agreement": "Percent agreement",
    "cohen_kappa": "Cohen's kappa",
    "scott_pi": "Scott's pi",
    "fleiss_kappa": "Fleiss' kappa",
    "krippendorff_alpha": "Krippendorff's alpha",
    "gwet_ac1": "Gwet's AC1",
    "brennan_prediger": "Brennan-Prediger",
    "masi_alpha": "alpha (MASI, sets)",
}


def confusion_heatmap(table: pd.DataFrame, title: str | None = None, max_categories: int = 40):
    """Heatmap of a confusion table (rows: first coder, columns: second), counts in cells.

    Parameters
    ----------
    table : DataFrame
        As :func:`themeassist.agree.confusion` returns.
    title : str, optional
    max_categories : int
        Larger tables keep the most frequent rows and columns (the rest are summed into
        "other") so that labels stay readable.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> t = pd.DataFrame([[3, 1], [0, 2]], index=pd.Index(["x", "y"], name="A"),
    ...                  columns=pd.Index(["x", "y"], name="B"))
    >>> fig = confusion_heatmap(t)
    >>> fig.axes[0].get_xlabel()
    'B'
    """
    t = _trim(table, max_categories)
    with figure_style():
        size = 2.5 + 0.32 * max(t.shape)
        fig, ax = new_figure(min(size + 1.5, 16), min(size, 14))
        im = ax.imshow(t.to_numpy(), cmap="Blues", aspect="auto")
        ax.set_xticks(range(t.shape[1]), [str(c) for c in t.columns], rotation=60, ha="right")
        ax.set_yticks(range(t.shape[0]), [str(i) for i in t.index])
        ax.set_xlabel(str(table.columns.name or "coder 2"))
        ax.set_ylabel(str(table.index.name or "coder 1"))
        vmax = t.to_numpy().max() if t.size else 0
        if t.size <= 900:
            for (i, j), v in np.ndenumerate(t.to_numpy()):
                if v:
                    ax.text(j, i, str(int(v)), ha="center", va="center", fontsize=7,
                            color="white" if v > vmax / 2 else "black")
        fig.colorbar(im, ax=ax, label="segments")
        ax.set_title(title or "Confusion of categories")
    return fig


def confusion_figure(confusion: pd.DataFrame, report: dict):
    """The confusion heatmap of an agreement report, titled with its coders and level (as
    ``agreement/<a>_vs_<b>/confusion.png`` and the report show it)."""
    return confusion_heatmap(confusion, title=f"{confusion.index.name} vs "
                                              f"{confusion.columns.name} ({report['level']})")


def _trim(table: pd.DataFrame, k: int) -> pd.DataFrame:
    if max(table.shape) <= k:
        return table
    keep_r = table.sum(1).sort_values(ascending=False).index[: k - 1]
    keep_c = table.sum(0).sort_values(ascending=False).index[: k - 1]
    t = table.copy()
    rows = t.loc[keep_r]
    rows.loc["other"] = t.drop(index=keep_r).sum(0)
    cols = rows[list(keep_c)].copy()
    cols["other"] = rows.drop(columns=keep_c).sum(1)
    cols.index.name, cols.columns.name = table.index.name, table.columns.name
    return cols


def coefficients_figure(report: dict, title: str | None = None):
    """Dot-and-interval plot of every defined coefficient of an agreement report.

    Examples
    --------
    >>> fig = coefficients_figure({"percent_agreement": 0.9, "gwet_ac1": 0.8,
    ...                            "cohen_kappa": None, "ci": {"gwet_ac1": [0.7, 0.85]}})
    >>> len(fig.axes[0].get_yticks())
    2
    """
    names = [n for n in DISPLAY if report.get(n) is not None]
    with figure_style():
        fig, ax = new_figure(6.0, 0.45 * len(names) + 1.2)
        for y, name in enumerate(reversed(names)):
            v = report[name]
            ci = (report.get("ci") or {}).get(name)
            if ci:
                ax.plot(ci, [y, y], color=PALETTE[0], lw=2)
            ax.plot([v], [y], "o", color=PALETTE[1] if name == "percent_agreement" else PALETTE[0])
        ax.set_yticks(range(len(names)), [DISPLAY[n] for n in reversed(names)])
        ax.set_xlim(min(0.0, *(report[n] for n in names)) if names else 0, 1.0)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel("agreement (95% bootstrap interval)")
        ax.set_title(title or "Agreement between coders")
    return fig


def per_code_figure(per_code: pd.DataFrame, value: str = "kappa", top: int = 30):
    """Horizontal bars of a per-code agreement value for the most used codes.

    Examples
    --------
    >>> pc = pd.DataFrame({"code": ["a", "b"], "either": [5, 3], "kappa": [0.8, np.nan]})
    >>> fig = per_code_figure(pc)
    >>> fig.axes[0].get_xlabel()
    'kappa'
    """
    pc = per_code.sort_values("either", ascending=False).head(top).iloc[::-1]
    with figure_style():
        fig, ax = new_figure(7.0, 0.3 * len(pc) + 1.2)
        vals = pc[value].astype(float).fillna(0).to_numpy()
        ax.barh(range(len(pc)), vals, color=PALETTE[0])
        ax.set_yticks(range(len(pc)), [str(c) for c in pc["code"]])
        ax.set_xlabel(value)
        ax.set_title(f"{value} per code (undefined shown as 0)")
    return fig
