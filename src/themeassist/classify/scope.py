"""Code scope: which questions a code may be predicted for (from the codebook's
``question`` column, or learnt from the human coding), and the zero-shot codable rate."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from themeassist import tables
from themeassist.classify.features import _column

if TYPE_CHECKING:
    from themeassist.classify.training import TrainingData


# --------------------------------------------------------------------------- code scope
#: Logit added to a code outside its codebook scope (a hard mask: probability ~0).
SCOPE_MASK = 1e4
#: Role and kind values of facilitator turns (zero-shot codable rate, see
#: :func:`default_codable_rate`).
FACILITATOR_ROLES = frozenset({"facilitator", "moderator", "interviewer"})
FACILITATOR_KINDS = frozenset({"moderator", "note"})


def parse_questions(value) -> tuple[str, ...]:
    """Question ids of a codebook ``question`` cell: ``"1;3"``, ``"1, 3"``; empty = any.

    Examples
    --------
    >>> parse_questions("1; 3"), parse_questions("2,4 , 5"), parse_questions("")
    (('1', '3'), ('2', '4', '5'), ())
    >>> parse_questions(3.0)
    ('3',)
    """
    text = tables._as_text(pd.Series([value])).iat[0]
    return tuple(dict.fromkeys(p.strip() for p in re.split(r"[;,]", text) if p.strip()))


def codebook_scope(codebook: pd.DataFrame) -> list[tuple[str, ...]] | None:
    """Each entry's questions from the codebook's ``question`` column (None: no column).

    An empty cell scopes the entry to any question. A column that is empty on every row
    counts as no column.
    """
    if "question" not in codebook.columns:
        return None
    scope = [parse_questions(v) for v in codebook["question"]]
    return scope if any(scope) else None


def learn_scope(segments: pd.DataFrame, d: TrainingData, train_seg: np.ndarray,
                n_codes: int) -> list[tuple[str, ...]]:
    """The questions each code was applied under in the human coding (the learnt scope).

    Rule: a code with at least one human example, all on segments of questions ``Q``
    (segments with no question are ignored), is scoped to ``Q``; a code without examples
    (or seen only on segments without a question) stays unscoped (``()``). The scope is
    soft: :func:`scope_outside` marks segments of other questions and the model lowers the
    code's logit there by a weight chosen on out-of-fold likelihood (0 = no effect).
    """
    q = _column(segments, "question")
    seen: list[set[str]] = [set() for _ in range(n_codes)]
    keep = train_seg[d.code_rows]
    for s, c in zip(d.code_rows[keep], d.code_y[keep]):
        if q[s]:
            seen[c].add(q[s])
    return [tuple(sorted(x)) for x in seen]


def scope_outside(segments: pd.DataFrame, scope: Sequence[Sequence[str]] | None,
                  n_codes: int) -> np.ndarray:
    """``out[i, j]``: segment ``i`` answers a question outside code ``j``'s scope.

    Segments with no question, and codes scoped to any question, are never outside.

    Examples
    --------
    >>> seg = pd.DataFrame({"question": ["1", "2", ""]})
    >>> scope_outside(seg, [("1",), (), ("2", "3")], 3).astype(int).tolist()
    [[0, 0, 1], [1, 0, 0], [0, 0, 0]]
    """
    out = np.zeros((len(segments), n_codes), dtype=bool)
    if not scope:
        return out
    q = _column(segments, "question")
    for j, qs in enumerate(scope):
        if qs:
            allowed = set(qs)
            out[:, j] = np.array([bool(v) and v not in allowed for v in q], dtype=bool)
    return out


def default_codable_rate(segments: pd.DataFrame) -> float:
    """The zero-shot codable rate chosen from the corpus (setting ``zero_shot_codable_rate``
    ``None``).

    Rule: a corpus with no facilitator turn (no segment whose ``role`` is facilitator,
    moderator or interviewer, and none whose ``kind`` is a moderator line or a note), such
    as a table of survey answers or a list of quotes where every segment is a
    participant's answer, is all codable: 1.0. A transcript with facilitator turns: 0.35,
    about the share of participant talk a coder codes in the studies we measured on.

    Examples
    --------
    >>> default_codable_rate(pd.DataFrame({"role": ["participant", ""]}))
    1.0
    >>> default_codable_rate(pd.DataFrame({"role": ["facilitator", "participant"]}))
    0.35
    """
    roles = {str(v).strip().lower() for v in _column(segments, "role")}
    kinds = {str(v).strip().lower() for v in _column(segments, "kind")}
    if roles & FACILITATOR_ROLES or kinds & FACILITATOR_KINDS:
        return 0.35
    return 1.0


def zero_shot_codable(similarity: np.ndarray, rate: float) -> tuple[float, float]:
    """Scale and cut of the zero-shot codable logit ``scale x (similarity - cut)``.

    Without decisions of both kinds, codability is ranked by each segment's cosine
    similarity to the codebook (the mean of its entry embeddings) and cut so that a share
    ``rate`` of the segments is codable: ``cut`` is the ``1 - rate`` quantile of the
    similarities and ``scale = 1.5 / std`` spreads them over a few logits. With ``rate``
    1, every segment is codable, the least similar one at probability 0.73.

    Parameters
    ----------
    similarity : ndarray of shape (n,)
    rate : float
        Share of segments codable, in ``(0, 1]`` (:func:`default_codable_rate`).

    Returns
    -------
    (float, float)
        ``scale`` and ``cut``.

    Examples
    --------
    >>> scale, cut = zero_shot_codable(np.array([0.1, 0.2, 0.3, 0.4]), 0.5)
    >>> round(cut, 2), (scale * (np.array([0.1, 0.4]) - cut) > 0).tolist()
    (0.25, [False, True])
    """
    sim = np.asarray(similarity, dtype=np.float64)
    scale = 1.5 / (float(sim.std()) or 1.0)
    cut = float(np.quantile(sim, 1 - rate)) if len(sim) else 0.0
    if rate >= 1 and len(sim):
        cut = float(sim.min()) - 1.0 / scale
    return scale, cut

