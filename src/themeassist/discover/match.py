"""Codebook matching: the nearest entry of each candidate, and codebook-first assignment."""

from __future__ import annotations

import numpy as np
import pandas as pd

from themeassist import tables
from themeassist.discover.geometry import _normalise

#: The text embedded for each codebook entry (shared with the classifier).
codebook_texts = tables.codebook_texts

def nearest_entries(cents: np.ndarray, codebook: pd.DataFrame, book_emb: np.ndarray
                    ) -> pd.DataFrame:
    """Nearest codebook entry of each centroid: theme, valence, subtheme, similarity."""
    sims = _normalise(cents) @ _normalise(book_emb).T
    best = sims.argmax(axis=1)
    rows = codebook.iloc[best]
    return pd.DataFrame({
        "nearest_theme": rows["theme"].astype(str).to_numpy(),
        "nearest_valence": rows["valence"].astype(str).to_numpy(),
        "nearest_subtheme": rows["subtheme"].astype(str).to_numpy(),
        "similarity": sims[np.arange(len(best)), best].round(4),
    })


