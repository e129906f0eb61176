"""Question features: answers to the same question lean together when clustered."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from themeassist.discover.geometry import _normalise


def question_features(x: np.ndarray, questions: Sequence[str] | None, *,
                      weight: float) -> np.ndarray:
    """Unit embeddings with each segment's question appended as a weighted one-hot.

    Parameters
    ----------
    x : array (n, d)
        Embeddings of the segments to cluster.
    questions : sequence of str, or None
        The question of each segment; ``""`` = none (an all-zero one-hot). None, as for a
        corpus without a ``question`` column, returns ``x`` unchanged.
    weight : float
        Length of the one-hot; 0 returns ``x`` unchanged.

    Returns
    -------
    array (n, d + q) or ``x``
        ``[x / |x|, weight * onehot(question)]`` with one column per distinct question
        (sorted), or ``x`` itself when the question is not used.

    Examples
    --------
    >>> x = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    >>> question_features(x, ["q2", "q1", ""], weight=0.5).tolist()
    [[0.6, 0.8, 0.0, 0.0, 0.5], [1.0, 0.0, 0.0, 0.5, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0]]
    >>> question_features(x, None, weight=0.5) is x
    True
    """
    if not weight > 0 or questions is None:
        return x
    q = np.asarray(questions, dtype=object).astype(str)
    levels = sorted(set(q))
    onehot = (q[:, None] == np.array(levels)[None, :]).astype(np.float64)
    onehot[:, [i for i, lv in enumerate(levels) if lv == ""]] = 0.0
    return np.hstack([_normalise(x), weight * onehot])
