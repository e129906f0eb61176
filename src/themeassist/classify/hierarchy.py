"""Code paths (``a > b > c``) and the ancestors a thin code backs off to."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd


# --------------------------------------------------------------------------- hierarchy
#: Separators of a code path inside a subtheme: ``a > b`` (REFI-QDA import) and ``a->b``.
PATH_SPLIT = re.compile(r"\s*-?>\s*")


def code_path(subtheme: str) -> tuple[str, ...]:
    """The levels of a subtheme written as a path (``"a > b > c"`` or ``"a->b->c"``).

    Examples
    --------
    >>> code_path("Access > Transport -> Cost"), code_path("Peer support")
    (('Access', 'Transport', 'Cost'), ('Peer support',))
    """
    return tuple(p for p in PATH_SPLIT.split(str(subtheme).strip()) if p)


def hierarchy_ancestors(codebook: pd.DataFrame) -> list[list[tuple[str, str, np.ndarray]]]:
    """For each code, its ancestors below the theme, nearest first.

    Each ancestor is ``(valence, subtheme path joined by " > ", codes under it)``, the
    codes being the codebook rows of the same theme and valence whose path starts with the
    ancestor's. The theme itself is not listed (it is the last back-off level).
    """
    paths = [code_path(s) for s in codebook["subtheme"]]
    themes = codebook["theme"].to_numpy()
    vals = codebook["valence"].to_numpy()
    out = []
    for j, p in enumerate(paths):
        anc = []
        for depth in range(len(p) - 1, 0, -1):
            pre = p[:depth]
            under = np.array([k for k, q in enumerate(paths) if themes[k] == themes[j]
                              and vals[k] == vals[j] and q[:depth] == pre], dtype=int)
            anc.append((vals[j], " > ".join(pre), under))
        out.append(anc)
    return out


