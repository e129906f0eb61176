"""Which segments are clustered, and why the others are set aside."""

from __future__ import annotations

import pandas as pd

from themeassist import text as vocab

#: Roles that are clustered; an empty role counts as a participant.
PARTICIPANT_ROLES = frozenset({"", "participant", "respondent", "interviewee"})

#: Reasons a segment is set aside, in the order they are tested.
SET_ASIDE_REASONS = ("not a participant", "filler", "short", "matched codebook")


def select_segments(segments: pd.DataFrame, *, min_words: int = 4) -> pd.Series:
    """Say why each segment is set aside ("" = clustered).

    A segment is set aside when its ``role`` is not a participant's (facilitators,
    moderators, notes), when it is a filler (no content word once stop words and
    transcript fillers are removed), or when it has fewer than ``min_words`` words.

    Parameters
    ----------
    segments : DataFrame
        The corpus (``text`` required, ``role`` optional).
    min_words : int, default 4
        Shorter segments are set aside as ``"short"``.

    Returns
    -------
    Series of str
        Indexed like ``segments``: ``""`` or one of :data:`SET_ASIDE_REASONS`.

    Examples
    --------
    >>> seg = pd.DataFrame({"text": ["What went well?", "Yeah okay.", "Fine.",
    ...                              "The export button was easy to find."],
    ...                     "role": ["facilitator", "participant", "", "participant"]})
    >>> select_segments(seg).tolist()
    ['not a participant', 'filler', 'filler', '']
    """
    roles = (segments["role"] if "role" in segments.columns
             else pd.Series("", index=segments.index)).fillna("").astype(str).str.strip().str.lower()
    texts = segments["text"].fillna("").astype(str)
    reason = pd.Series("", index=segments.index, dtype=object)
    reason[~roles.isin(PARTICIPANT_ROLES)] = "not a participant"
    filler = texts.map(vocab.is_filler)
    reason[(reason == "") & filler] = "filler"
    short = texts.map(vocab.word_count) < min_words
    reason[(reason == "") & short] = "short"
    return reason

