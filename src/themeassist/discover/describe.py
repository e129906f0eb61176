"""Description of candidates: c-TF-IDF terms [1]_, quotes, and shares of questions, groups
and speakers.

References
----------
.. [1] Grootendorst, M. (2022). BERTopic: Neural topic modeling with a class-based TF-IDF
   procedure. arXiv:2203.05794.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from themeassist import text as vocab
from themeassist.discover.geometry import _normalise, centroids


def ctfidf_terms(terms: Sequence[Sequence[str]], labels: np.ndarray, *, top_n: int = 10,
                 min_df: int = 2) -> dict[int, list[str]]:
    """Each cluster's most distinctive terms by c-TF-IDF (BERTopic's transformer).

    Parameters
    ----------
    terms : list of list of str
        Per segment, as :func:`themeassist.text.analyse` returns them.
    labels : array of int
        Cluster per segment; -1 is ignored.
    top_n : int, default 10
    min_df : int, default 2
        Terms in fewer segments are not used (typos, names).
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    from themeassist.lightimport import ctfidf_transformer

    ClassTfidfTransformer = ctfidf_transformer()  # without importing all of BERTopic

    ids = [c for c in np.unique(labels) if c >= 0]
    if not ids:
        return {}
    keep = labels >= 0
    docs = [list(t) for t, k in zip(terms, keep) if k]
    lab = labels[keep]
    vec = CountVectorizer(analyzer=lambda d: d, min_df=min(min_df, max(1, len(docs) // 2)))
    try:
        counts = vec.fit_transform(docs)
    except ValueError:  # empty vocabulary
        return {c: [] for c in ids}
    onehot = sparse.csr_matrix((np.ones(len(lab)), (np.searchsorted(ids, lab), np.arange(len(lab)))),
                               shape=(len(ids), len(lab)))
    per_class = onehot @ counts
    tfidf = ClassTfidfTransformer(reduce_frequent_words=True).fit_transform(per_class)
    tfidf = np.asarray(tfidf.todense())
    vocab_ = np.asarray(vec.get_feature_names_out())
    out = {}
    for row, c in enumerate(ids):
        order = np.lexsort((vocab_, -tfidf[row]))  # score desc, then alphabetical
        out[c] = [str(vocab_[i]) for i in order[:top_n] if tfidf[row, i] > 0]
    return out


def _shares(values: pd.Series, top: int = 3) -> str:
    v = values[values != ""]
    if v.empty:
        return ""
    share = v.value_counts(normalize=True)
    share = share.iloc[np.lexsort((share.index.astype(str), -share.to_numpy()))]
    return "; ".join(f"{k} ({100 * s:.0f}%)" if s >= 0.005 else f"{k} (<1%)"
                     for k, s in share.head(top).items())



_CANDIDATE_COLUMNS = [
    "candidate_id", "label", "keywords", "size", "quotes", "nearest_subtheme", "similarity",
    "stability", "source", "nearest_theme", "nearest_valence", "is_new", "share",
    "questions", "groups", "n_questions", "n_groups", "speakers", "top_speaker_share",
    "flagged_single_speaker",
]


def centrality(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cosine similarity of each segment to its candidate's centroid (0 when unassigned).

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    >>> centrality(x, np.array([0, 0, -1])).round(4).tolist()
    [0.7071, 0.7071, 0.0]
    """
    if not (labels >= 0).any():
        return np.zeros(len(labels))
    sims = _normalise(x) @ centroids(x, labels).T
    return np.where(labels >= 0, sims[np.arange(len(labels)), np.maximum(labels, 0)], 0.0)


def describe_candidates(segments: pd.DataFrame, labels: np.ndarray, central: np.ndarray,
                        stability: np.ndarray, *, codebook_labels: dict[int, str] | None = None,
                        n_quotes: int = 5) -> pd.DataFrame:
    """One row per candidate: label, c-TF-IDF keywords, quotes and who said it where.

    Parameters
    ----------
    segments : DataFrame
        The corpus (``text``; ``question``, ``transcript_id``, ``speaker`` when present),
        in the order of ``labels``.
    labels : array of int
        Candidate of each segment; -1 = none.
    central : array of float
        Each segment's similarity to its candidate (:func:`centrality`); quotes are the
        most central members, those of 8+ words first.
    stability : array of float
        Per candidate ``0..len - 1`` (NaN = not measured); candidates past its end get NaN.
    codebook_labels : dict, optional
        Candidate id -> label for candidates that are codebook entries (``source =
        "codebook"``); the others are labelled from their keywords.
    n_quotes : int, default 5

    Returns
    -------
    DataFrame
        Columns :data:`_CANDIDATE_COLUMNS`, by candidate id; the codebook columns
        (``nearest_*``, ``similarity``, ``is_new``) are left empty for
        :func:`~themeassist.discover.match.match_candidates`.
    """
    members = np.flatnonzero(labels >= 0)
    analysed = vocab.analyse(segments["text"].astype(str).to_numpy()[members].tolist())
    terms: list[list[str]] = [[]] * len(labels)
    for i, a in zip(members, analysed):
        terms[i] = a
    keywords = ctfidf_terms(terms, labels)
    return _candidate_table(segments, labels, central, keywords, stability,
                            codebook_labels or {}, n_quotes=n_quotes)


def _candidate_table(seg: pd.DataFrame, cand: np.ndarray, sim: np.ndarray,
                     keywords: dict[int, list[str]], stab: np.ndarray,
                     codebook_labels: dict[int, str], *, n_quotes: int) -> pd.DataFrame:
    texts = seg["text"].astype(str).to_numpy()
    col = {c: (seg[c].fillna("").astype(str) if c in seg.columns
               else pd.Series("", index=seg.index)) for c in ("question", "transcript_id", "speaker")}
    n_assigned = int(np.sum(cand >= 0))
    rows = []
    for c in sorted(int(v) for v in np.unique(cand) if v >= 0):
        m = np.flatnonzero(cand == c)
        # Most central first, preferring quotes of 8+ words (a quote should say something);
        # ties by position.
        brief = np.array([vocab.word_count(texts[i]) < 8 for i in m])
        order = m[np.lexsort((m, -sim[m], brief))]
        quotes: list[str] = []
        for i in order:
            t = " ".join(texts[i].split())
            if t not in quotes:
                quotes.append(t)
            if len(quotes) >= n_quotes:
                break
        kw = keywords.get(c, [])
        if c in codebook_labels:
            label = codebook_labels[c]
            source = "codebook"
        else:
            label = vocab.make_label(kw)
            source = "cluster"
        speakers = col["speaker"].iloc[m]
        named = speakers[speakers != ""]
        top_share = float(named.value_counts(normalize=True).iloc[0]) if len(named) else np.nan
        n_speakers = int(named.nunique()) if len(named) else 0
        rows.append({
            "candidate_id": c,
            "label": label,
            "keywords": ", ".join(kw[:8]),
            "size": len(m),
            "quotes": json.dumps(quotes, ensure_ascii=False),
            "nearest_subtheme": "",
            "similarity": np.nan,
            "stability": round(float(stab[c]), 4) if c < len(stab) and not np.isnan(stab[c]) else np.nan,
            "source": source,
            "nearest_theme": "",
            "nearest_valence": "",
            "is_new": False,
            "share": round(len(m) / n_assigned, 4) if n_assigned else 0.0,
            "questions": _shares(col["question"].iloc[m]),
            "groups": _shares(col["transcript_id"].iloc[m]),
            "n_questions": int(col["question"].iloc[m].replace("", np.nan).nunique()),
            "n_groups": int(col["transcript_id"].iloc[m].nunique()),
            "speakers": n_speakers,
            "top_speaker_share": round(top_share, 4) if not np.isnan(top_share) else np.nan,
            "flagged_single_speaker": bool(len(named) >= 3 and (n_speakers == 1 or top_share > 0.5)),
        })
    return pd.DataFrame(rows, columns=_CANDIDATE_COLUMNS)
