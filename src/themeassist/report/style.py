"""One look for every figure: readable in a paper, colour-blind safe, deterministic files."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

#: Okabe-Ito palette (colour-blind safe).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]
MAJOR_COLOUR = "#0072B2"
MINOR_COLOUR = "#A6A6A6"
SUCCESS_COLOUR = "#009E73"
CHALLENGE_COLOUR = "#D55E00"

RC = {
    "figure.dpi": 100,
    "savefig.dpi": 200,
    # Every figure is laid out by constrained layout (new_figure), which already fits its
    # content in the figure; a "tight" bounding box would draw each figure once more to
    # measure it, doubling the rendering time for a few pixels of margin (issue 17).
    "savefig.bbox": None,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "themeassist",  # stable SVG ids: same data, same bytes
    "svg.fonttype": "none",  # text stays text in SVG (editable in a paper)
    # User strings (theme names, coders, quotes) are drawn literally: "$5 per # of people $"
    # is not TeX, and matplotlib's mathtext parser would fail on it (issue 16).
    "text.parse_math": False,
    "text.usetex": False,
}


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Use the house style (and the non-interactive Agg backend) inside the block."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with plt.rc_context(RC):
        yield


def new_figure(width: float = 7.0, height: float = 4.0):
    """A new figure and axes in the house style (call inside :func:`figure_style`)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return fig, ax
