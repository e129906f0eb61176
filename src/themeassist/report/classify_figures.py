"""Figures of the classifier's evaluation: coverage-agreement curve and reliability diagram.

Both take the dict of :func:`themeassist.classify.evaluate_model` and return a matplotlib
``Figure`` (no I/O); the CLI saves them with :meth:`themeassist.io.OutputDir.figure`.
"""

from __future__ import annotations

from typing import Any

from themeassist.report.style import CHALLENGE_COLOUR, PALETTE, figure_style, new_figure


def coverage_agreement_figure(evaluation: dict[str, Any], threshold: float | None = None):
    """Kappa and accuracy of the most confident labels against the share of labels kept.

    Code level, and theme level when the evaluation has it (``coverage_theme``): with a
    codebook of many rarely used subthemes the code curve sits low and the theme curve
    says more. The chosen review threshold (default: ``evaluation["threshold"]``, a
    code-level confidence) is marked at the coverage where it falls on the code curve.

    Examples
    --------
    >>> ev = {"coverage": [{"coverage": c / 4, "threshold": 1 - c / 5, "kappa": 1 - c / 8,
    ...                     "accuracy": 1 - c / 10, "n": c} for c in range(1, 5)],
    ...       "threshold": 0.4}
    >>> fig = coverage_agreement_figure(ev)
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:2]
    ['code kappa', 'code accuracy']
    >>> ev["coverage_theme"] = ev["coverage"]
    >>> [t.get_text() for t in coverage_agreement_figure(ev).axes[0].get_legend().get_texts()][:3]
    ['code kappa', 'code accuracy', 'theme kappa']
    """
    curve = evaluation["coverage"]
    thr = evaluation.get("threshold") if threshold is None else threshold
    with figure_style():
        fig, ax = new_figure(6.0, 4.0)
        cov = [c["coverage"] for c in curve]
        ax.plot(cov, [c["kappa"] for c in curve], marker="o", color=PALETTE[0],
                label="code kappa")
        ax.plot(cov, [c["accuracy"] for c in curve], marker="s", color=PALETTE[1],
                label="code accuracy", linestyle="--")
        theme = evaluation.get("coverage_theme")
        if theme:
            ax.plot([c["coverage"] for c in theme], [c["kappa"] for c in theme], marker="^",
                    color=PALETTE[2], label="theme kappa")
        if thr is not None:
            kept = [c["coverage"] for c in curve if c["threshold"] >= thr]
            if kept:
                x = max(kept)
                ax.axvline(x, color=CHALLENGE_COLOUR, linestyle=":",
                           label=f"threshold {thr:.2f} keeps {x:.0%}")
        ax.set_xlabel("coverage (share of labels kept, most confident first)")
        ax.set_ylabel("agreement with the human coder")
        ax.set_xlim(0, 1.02)
        lowest = min([c["kappa"] for c in curve + list(theme or []) if c["kappa"] == c["kappa"]],
                     default=0.0)
        ax.set_ylim(min(0.0, lowest - 0.05), 1.02)     # kappa can fall below zero
        ax.set_title("Coverage-agreement curve (cross-validated)")
        # the curves run along the top (good models) or the bottom (codes with few
        # examples); the middle right is free in both cases
        ax.legend(loc="center right", frameon=False)
    return fig


def reliability_figure(evaluation: dict[str, Any], key: str = "reliability"):
    """Reliability diagram: accuracy against mean confidence per bin, with bin sizes.

    Examples
    --------
    >>> ev = {"reliability": [{"low": 0.4, "high": 0.6, "n": 10, "confidence": 0.5,
    ...                        "accuracy": 0.6}], "ece": 0.1}
    >>> fig = reliability_figure(ev)
    >>> len(fig.axes), len(fig.axes[0].child_axes)     # the diagram and its histogram inset
    (1, 1)
    """
    bins = evaluation[key]
    ece = evaluation.get("ece" if key == "reliability" else "ece_codable")
    with figure_style():
        fig, ax = new_figure(5.0, 5.0)
        ax.plot([0, 1], [0, 1], color="#A6A6A6", linestyle="--", label="perfect calibration")
        ax.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["accuracy"] for b in bins],
               width=[b["high"] - b["low"] for b in bins], edgecolor="white",
               color=PALETTE[0], alpha=0.8, label="accuracy in bin")
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o",
                color=PALETTE[1], label="accuracy at the mean confidence")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        title = "Reliability diagram"
        if ece is not None:
            title += f" (ECE {ece:.3f})"
        ax.set_title(title)
        ax.legend(loc="upper left", frameon=False)
        hist = ax.inset_axes([0.6, 0.08, 0.35, 0.22])
        hist.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["n"] for b in bins],
                 width=[b["high"] - b["low"] for b in bins], color="#A6A6A6")
        hist.set_title("labels per bin", fontsize=8)
        hist.tick_params(labelsize=7)
    return fig
