"""Segment features: the embedding, its neighbours' within the transcript, one-hots of the
question and role, and length (:class:`FeatureSpec`, :func:`build_features`,
:class:`SegmentFeatures`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from themeassist import tables
from themeassist.errors import InputError, ModelError


# --------------------------------------------------------------------------- features
@dataclass(frozen=True)
class FeatureSpec:
    """What the feature matrix holds; fixed at training and saved with the model.

    ``categories`` maps each categorical segment column (``question``, ``role``, ...) to
    the values seen in training, in order; each becomes a one-hot block.
    """

    dim: int
    context: bool
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()
    neighbour_weight: float = 0.5

    @property
    def n_features(self) -> int:
        if not self.context:
            return self.dim
        return 3 * self.dim + sum(len(v) for _, v in self.categories) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "context": self.context,
                "categories": {c: list(v) for c, v in self.categories},
                "category_order": [c for c, _ in self.categories],
                "neighbour_weight": self.neighbour_weight}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        cats = tuple((c, tuple(d["categories"][c])) for c in d["category_order"])
        return cls(dim=int(d["dim"]), context=bool(d["context"]), categories=cats,
                   neighbour_weight=float(d["neighbour_weight"]))


def _column(segments: pd.DataFrame, name: str) -> np.ndarray:
    if name not in segments.columns:
        return np.array([""] * len(segments), dtype=object)
    return tables._as_text(segments[name]).to_numpy()


def check_embeddings(segments: pd.DataFrame, embeddings: np.ndarray,
                     dim: int | None = None) -> np.ndarray:
    """The embeddings as float32, checked against the segments (and the model's ``dim``).

    Parameters
    ----------
    segments : DataFrame
        The rows the embeddings belong to, in order.
    embeddings : array-like of shape (n_segments, dim)
    dim : int, optional
        The embedding size a fitted model expects.

    Returns
    -------
    ndarray of float32

    Raises
    ------
    InputError
        Not one row per segment.
    ModelError
        Another size than ``dim`` (embeddings of another embedding model).
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(segments):
        raise InputError("embeddings do not match the segments",
                         expected=f"an array of shape ({len(segments)}, dim)",
                         got=f"shape {emb.shape}")
    if dim is not None and emb.shape[1] != dim:
        raise ModelError(f"embeddings have {emb.shape[1]} dimensions but the model was trained "
                         f"on {dim}: use the embedding model the model was trained with")
    return emb


def feature_spec(segments: pd.DataFrame, dim: int, *, context: bool = True,
                 neighbour_weight: float = 0.5,
                 columns: tuple[str, ...] = ("question", "role")) -> FeatureSpec:
    """The feature layout learnt from a training corpus (sorted values of ``columns``)."""
    cats = tuple((c, tuple(sorted(set(_column(segments, c)) - {""}))) for c in columns) \
        if context else ()
    return FeatureSpec(dim=dim, context=context, categories=cats,
                       neighbour_weight=neighbour_weight)


def neighbours(segments: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row index of each segment's previous and next segment in its transcript (-1: none).

    Examples
    --------
    >>> seg = pd.DataFrame({"transcript_id": ["a", "b", "a"], "position": [5, 0, 2]})
    >>> [x.tolist() for x in neighbours(seg)]
    [[2, -1, -1], [-1, -1, 0]]
    """
    n = len(segments)
    tid = _column(segments, "transcript_id")
    pos = pd.to_numeric(segments["position"]).to_numpy() if n else np.zeros(0)
    order = np.lexsort((pos, tid)) if n else np.zeros(0, dtype=int)
    prev_idx = np.full(n, -1)
    next_idx = np.full(n, -1)
    for a, b in zip(order[:-1], order[1:]):
        if tid[a] == tid[b]:
            next_idx[a] = b
            prev_idx[b] = a
    return prev_idx, next_idx


def smooth_logits(z: np.ndarray, prev_idx: np.ndarray, next_idx: np.ndarray, alpha: float) -> np.ndarray:
    """``z_i + alpha (z_prev + z_next)``: neighbours' label evidence, within a transcript.

    Think-aloud and focus-group coders often code a passage of several segments at once,
    so the codes predicted for the neighbours are evidence for a segment's own. Logits
    are centred per row first, so that only their differences matter. Rows whose
    neighbour logits are missing (NaN, or no neighbour) add nothing.

    Examples
    --------
    >>> z = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    >>> smooth_logits(z, np.array([-1, 0, 1]), np.array([1, 2, -1]), 0.5)[1].tolist()
    [0.0, 0.0]
    >>> smooth_logits(z, np.array([-1, 0, 1]), np.array([1, -1, -1]), 0.5)[1].tolist()
    [0.5, -0.5]
    """
    if alpha == 0 or len(z) == 0:
        return z
    zc = z - z.mean(axis=1, keepdims=True)
    zc = np.where(np.isnan(zc), 0.0, zc)
    pad = np.vstack([zc, np.zeros((1, z.shape[1]))])
    return z + alpha * (pad[prev_idx] + pad[next_idx])


def build_features(segments: pd.DataFrame, embeddings: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """The feature matrix of ``segments`` (rows in the same order).

    Neighbours are the previous and next segments by ``position`` within the same
    ``transcript_id`` (zeros at a transcript's ends), so a transcript's rows do not depend
    on which other transcripts are passed along. Category values not seen in training
    (a new question) get all-zero one-hots.

    Examples
    --------
    >>> seg = pd.DataFrame({"segment_id": ["a:0", "a:1", "b:0"], "transcript_id": ["a", "a", "b"],
    ...                     "position": [0, 1, 0], "text": ["x", "y", "z"], "question": ["1", "1", "2"]})
    >>> emb = np.eye(3, dtype=np.float32)
    >>> spec = feature_spec(seg, 3)
    >>> X = build_features(seg, emb, spec)
    >>> X.shape, X[0, 3:6].tolist(), X[2, 6:9].tolist()   # a:0 has no previous, b:0 no next
    ((3, 12), [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    >>> np.array_equal(build_features(seg.iloc[[2]], emb[[2]], spec), X[[2]])
    True
    """
    emb = check_embeddings(segments, embeddings, spec.dim)
    if not spec.context:
        return emb.astype(np.float64)
    n = len(segments)
    prev_idx, next_idx = neighbours(segments)
    zero = np.zeros((1, spec.dim), dtype=np.float32)
    padded = np.vstack([emb, zero]).astype(np.float64)  # index -1 -> the zero row
    blocks = [emb.astype(np.float64), padded[prev_idx] * spec.neighbour_weight,
              padded[next_idx] * spec.neighbour_weight]
    for col, values in spec.categories:
        vmap = {v: i for i, v in enumerate(values)}
        B = np.zeros((n, len(values)))
        for i, v in enumerate(_column(segments, col)):
            if v in vmap:
                B[i, vmap[v]] = 1.0
        blocks.append(B)
    words = np.array([len(str(t).split()) for t in segments["text"]], dtype=np.float64)
    blocks.append((np.log1p(words) / 5.0)[:, None])
    return np.hstack(blocks)


def prior_rows(codebook_embeddings: np.ndarray, n_features: int) -> np.ndarray:
    """Feature rows of the codebook's pseudo-examples: each entry's embedding in the
    segment's own embedding slot, no context (zeros elsewhere).

    A code classifier gets one such row per entry, labelled with the entry's code, so
    that a code nobody has applied yet can still be predicted.

    Examples
    --------
    >>> prior_rows(np.eye(2), 5).tolist()
    [[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0]]
    """
    X = np.zeros((len(codebook_embeddings), n_features))
    X[:, :codebook_embeddings.shape[1]] = codebook_embeddings
    return X


#: In-package names (labeller.py and the modules split from it).
_check_embeddings, _prior_rows = check_embeddings, prior_rows


#: The text embedded for each codebook entry (shared with discovery).
codebook_texts = tables.codebook_texts



class SegmentFeatures(TransformerMixin, BaseEstimator):
    """The feature transformer of a labeller: learns the layout, then builds the rows.

    :meth:`fit` learns a :class:`FeatureSpec` from a training corpus (embedding size, the
    values of each categorical column); :meth:`transform` is :func:`build_features` with
    it. Both take the segments table and its embeddings (the table is the ``X`` a
    neighbour or a question needs).

    Parameters
    ----------
    context : bool, default True
        Add the neighbours' embeddings, one-hots and length; False: the embedding only.
    categorical : tuple of str, default ("question", "role")
        Columns one-hot encoded; each must be in the segments.
    optional_categorical : tuple of str, default ("prompt", "kind")
        Columns one-hot encoded when the training corpus has them (non-empty somewhere).
    neighbour_weight : float, default 0.5
        Weight of the previous and next segments' embeddings.

    Attributes
    ----------
    spec_ : FeatureSpec
    n_features_out_ : int

    Examples
    --------
    >>> seg = pd.DataFrame({"segment_id": ["a:0", "a:1"], "transcript_id": ["a", "a"],
    ...                     "position": [0, 1], "text": ["x y", "z"], "question": ["1", "2"],
    ...                     "role": ["participant", "participant"]})
    >>> f = SegmentFeatures().fit(seg, np.eye(2, dtype=np.float32))
    >>> f.spec_.categories, f.transform(seg, np.eye(2, dtype=np.float32)).shape
    ((('question', ('1', '2')), ('role', ('participant',))), (2, 10))
    """

    def __init__(self, *, context: bool = True,
                 categorical: tuple[str, ...] = ("question", "role"),
                 optional_categorical: tuple[str, ...] = ("prompt", "kind"),
                 neighbour_weight: float = 0.5):
        self.context = context
        self.categorical = categorical
        self.optional_categorical = optional_categorical
        self.neighbour_weight = neighbour_weight

    def fit(self, segments: pd.DataFrame, embeddings: np.ndarray) -> SegmentFeatures:
        """Learn the layout; an :class:`InputError` names a missing categorical column."""
        emb = check_embeddings(segments, embeddings)
        missing = [c for c in self.categorical if c not in segments.columns]
        if missing:
            raise InputError(f"feature column(s) {', '.join(map(repr, missing))} not in the "
                             "segments", expected=f"columns among {', '.join(segments.columns)}",
                             got=missing)
        present = [c for c in self.optional_categorical
                   if c in segments.columns and c not in self.categorical
                   and (_column(segments, c) != "").any()]
        self.spec_ = feature_spec(segments, emb.shape[1], context=self.context,
                                  neighbour_weight=self.neighbour_weight,
                                  columns=tuple(self.categorical) + tuple(present))
        self.n_features_out_ = self.spec_.n_features
        return self

    def transform(self, segments: pd.DataFrame, embeddings: np.ndarray) -> np.ndarray:
        """The feature matrix (:func:`build_features`), rows in the segments' order."""
        check_is_fitted(self)
        return build_features(segments, embeddings, self.spec_)

    def fit_transform(self, segments: pd.DataFrame, embeddings: np.ndarray) -> np.ndarray:
        return self.fit(segments, embeddings).transform(segments, embeddings)
