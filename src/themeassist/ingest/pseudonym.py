"""Replace speaker names by stable ids (``P01``, ``P02``, ... and ``F01``, ... for facilitators)."""

from __future__ import annotations

import pandas as pd

METHOD = "first-appearance.v1"


def pseudonymise(segments: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return a copy of ``segments`` with pseudonymous speakers, and the name map.

    Ids are given in order of first appearance in ``segments`` (so, across files, in the
    order the files were given): ``F01, F02, ...`` for speakers whose role is facilitator,
    ``P01, P02, ...`` for everyone else. A name is the same person everywhere: the same
    name in two transcripts gets one id. Empty speakers stay empty. The same input gives
    the same ids. Only the ``speaker`` column changes: names said *within* the text are not
    touched.

    Returns
    -------
    (DataFrame, DataFrame)
        The segments, and the map with columns ``speaker`` (the original name),
        ``pseudonym`` and ``role``.

    Examples
    --------
    >>> seg = pd.DataFrame({"speaker": ["Mod", "Ann", "Bob", "Ann", ""],
    ...                     "role": ["facilitator", "participant", "participant",
    ...                              "participant", ""]})
    >>> out, names = pseudonymise(seg)
    >>> out["speaker"].tolist()
    ['F01', 'P01', 'P02', 'P01', '']
    >>> names.values.tolist()
    [['Mod', 'F01', 'facilitator'], ['Ann', 'P01', 'participant'], ['Bob', 'P02', 'participant']]
    """
    ids: dict[str, str] = {}
    roles: dict[str, str] = {}
    n = {"F": 0, "P": 0}
    for name, role in zip(segments["speaker"], segments["role"]):
        if not name or name in ids:
            continue
        prefix = "F" if role == "facilitator" else "P"
        n[prefix] += 1
        ids[name] = f"{prefix}{n[prefix]:02d}"
        roles[name] = role
    out = segments.assign(speaker=segments["speaker"].map(lambda s: ids.get(s, s)))
    names = pd.DataFrame({"speaker": list(ids), "pseudonym": list(ids.values()),
                          "role": [roles[k] for k in ids]})
    return out, names
