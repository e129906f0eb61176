"""Agreement between coders, the classifier counted as one more coder.

Pure functions over arrays and DataFrames, no I/O (DESIGN.md section 4, issue 4).

Data shape
----------
Every coefficient takes *reliability data*: a units x coders matrix (NumPy array, nested
list or DataFrame; numeric or object). A missing rating is ``None``, ``NaN``, ``pd.NA`` or
the empty string ``""``. Two one-dimensional arrays may be passed instead of a matrix
(``cohen_kappa(a, b)``); they are stacked as two coders.

Missing data (one convention for every coefficient, Gwet 2014, ch. 2-5)
----------------------------------------------------------------------
- A unit rated by fewer than two coders carries no information on agreement: it is left
  out of the observed agreement (percent agreement, Krippendorff's D_o).
- **Percent agreement** ``p_a`` is, over the units rated by two or more coders, the mean
  proportion of agreeing pairs of ratings: ``p_a = 1/n' * sum_i sum_k r_ik (r_ik - 1) /
  (r_i (r_i - 1))``, where ``r_ik`` is the number of coders who put unit ``i`` in category
  ``k`` and ``r_i`` the number who rated it (Gwet 2014, eq. 2.9 and 5.5). For two coders
  and no missing data it is the plain proportion of units with the same category.
- **Cohen's kappa** uses the units both coders rated (pairwise deletion), as Cohen (1960)
  and scikit-learn do.
- **Scott's pi** uses the units rated by two or more coders, with the category
  proportions pooled over their ratings: for two coders it is Scott (1955) on the units
  both rated; for more coders it is Fleiss's (1971) pooled-proportion kappa.
- **Fleiss' kappa**, **Gwet's AC1** and **Brennan-Prediger** follow Gwet's (2014)
  missing-data generalisation: ``p_a`` as above, and the chance term from category
  proportions ``pi_k = 1/n * sum_i r_ik / r_i`` averaged over every unit rated by at least
  one coder. With no missing data Fleiss' kappa equals Fleiss (1971) and Scott's pi.
- **Krippendorff's alpha** uses every pairable value (units with two or more ratings), as
  Krippendorff (2011) prescribes.

``q`` (AC1 and Brennan-Prediger) is the number of categories: the ``categories`` given,
else the distinct values that occur in the data. At a codings level it is the number of
categories at that level that occur (including ``"none"`` and multi-code combinations),
unless the caller passes the codebook's categories.

Undefined outcomes (no unit rated twice; a single category, so chance agreement is 1;
Cohen's kappa with other than two coders) return NaN and warn
:class:`~themeassist.errors.UndefinedStatisticWarning` with the reason; the reports
record the reason under ``"undefined"``.

Codings tables
--------------
:func:`reliability_matrix` turns a long codings table into units x coders. A segment a
coder left uncoded takes the category ``"none"`` (DESIGN.md: most segments are uncoded).
A coder who gave a segment several codes at the level gets the *combination* as one
category (codes sorted and joined by ``" + "``) for the single-valued coefficients;
:func:`set_matrix` keeps the codes as a set (a sorted tuple) for the set-valued alpha with
the MASI distance (Passonneau 2006), and :func:`per_code_agreement` scores each code as
present/absent per unit.

References
----------
.. [1] Cohen, J. (1960). A coefficient of agreement for nominal scales. Educational and
   Psychological Measurement 20, 37-46.
.. [2] Scott, W. A. (1955). Reliability of content analysis: the case of nominal scale
   coding. Public Opinion Quarterly 19, 321-325.
.. [3] Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters.
   Psychological Bulletin 76, 378-382.
.. [4] Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. Annenberg
   School for Communication Departmental Papers 43.
.. [5] Gwet, K. L. (2014). Handbook of Inter-Rater Reliability, 4th ed. Advanced
   Analytics. (AC1, Brennan-Prediger, missing data.)
.. [6] Brennan, R. L. & Prediger, D. J. (1981). Coefficient kappa: some uses, misuses,
   and alternatives. Educational and Psychological Measurement 41, 687-699.
.. [7] Passonneau, R. (2006). Measuring agreement on set-valued items (MASI) for semantic
   and pragmatic annotation. LREC 2006.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from themeassist.errors import InputError, UndefinedStatisticWarning
from themeassist.tables import code_labels

log = logging.getLogger(__name__)

#: Category of a segment a coder left uncoded.
NONE = "none"
#: Joins the codes of a multi-code unit into one category.
MULTI_SEP = " + "
LEVELS = ("theme", "code", "valence")
METRICS = ("nominal", "ordinal", "interval", "ratio")
#: Versioned names of the conventions, written into reports and manifests (STYLE R9).
CONVENTIONS = {
    "missing": "gwet2014-pairable.v1",
    "multi_code": "combination-category.v1",
    "uncoded": "none-category.v1",
    "bootstrap": "percentile-units.v1",
}


# ============================================================================ encoding
@dataclass(frozen=True)
class _Encoded:
    """Reliability data as integer codes (-1 = missing) and per-unit category counts."""

    codes: np.ndarray  # (n, m) int64, -1 missing
    categories: np.ndarray  # (q_obs,) object: the category of each code
    counts: np.ndarray  # (n, q) float64, r_ik
    q: int  # number of categories (given, or observed)

    @property
    def n(self) -> int:
        return self.codes.shape[0]

    @property
    def m(self) -> int:
        return self.codes.shape[1]


def _stack(ratings, others) -> np.ndarray | pd.DataFrame:
    if others:
        cols = [np.asarray(ratings, dtype=object if _is_obj(ratings) else None)]
        cols += [np.asarray(o, dtype=object if _is_obj(o) else None) for o in others]
        if any(c.ndim != 1 for c in cols):
            raise InputError("pass either one units x coders matrix or several 1-D arrays")
        if len({len(c) for c in cols}) != 1:
            raise InputError("the coders' arrays differ in length",
                             expected="one rating per unit for every coder",
                             got=[len(c) for c in cols])
        return np.column_stack([c.astype(object) if c.dtype == object else c for c in cols])
    return ratings


def _is_obj(x) -> bool:
    arr = np.asarray(x) if not isinstance(x, (pd.Series, pd.DataFrame)) else x.to_numpy()
    return arr.dtype == object or arr.dtype.kind in "USO"


def _as_matrix(ratings) -> np.ndarray:
    if isinstance(ratings, pd.DataFrame):
        arr = ratings.to_numpy()
    else:
        arr = np.asarray(ratings)
        if arr.dtype.kind in "US":
            arr = arr.astype(object)
    if arr.ndim != 2:
        raise InputError("reliability data must be a units x coders matrix",
                         expected="a 2-D array", got=f"{arr.ndim}-D")
    return arr


def _encode(ratings, others=(), categories: Sequence | None = None) -> _Encoded:
    arr = _as_matrix(_stack(ratings, others))
    n, m = arr.shape
    flat = arr.ravel(order="C")
    if categories is not None:
        cats = pd.Index(list(categories))
        if cats.has_duplicates:
            raise InputError("categories repeat", expected="distinct categories",
                             got=list(cats[cats.duplicated()]))
        codes = cats.get_indexer(flat)
        unknown = (codes < 0) & ~pd.isna(flat)
        if flat.dtype == object:
            unknown &= flat != ""  # "" is missing, like an empty CSV cell
        if unknown.any():
            raise InputError("a rating is not one of the categories given",
                             expected=f"one of {list(cats)[:10]}", got=flat[unknown][0])
        cat_values = np.asarray(cats, dtype=object)
    else:
        codes, uniques = pd.factorize(flat, use_na_sentinel=True)
        cat_values = np.asarray(uniques, dtype=object)
        empty = [i for i, v in enumerate(cat_values) if isinstance(v, str) and v == ""]
        if empty:  # "" is missing, like an empty CSV cell
            keep = np.ones(len(cat_values), bool)
            keep[empty] = False
            remap = np.full(len(cat_values) + 1, -1)
            remap[:-1][keep] = np.arange(keep.sum())
            codes = remap[codes]
            cat_values = cat_values[keep]
    q_obs = len(cat_values)
    codes = np.asarray(codes, dtype=np.int64).reshape(n, m)
    counts = _counts(codes, q_obs)
    return _Encoded(codes, cat_values, counts, q_obs)


def _counts(codes: np.ndarray, q: int) -> np.ndarray:
    """r_ik: how many coders put unit i in category k, by one bincount."""
    counts = np.zeros((codes.shape[0], q))
    for col in codes.T:  # one coder at a time: each (unit, category) cell at most once
        rated = np.flatnonzero(col >= 0)
        counts[rated, col[rated]] += 1
    return counts


def _ones(n: int) -> np.ndarray:
    return np.ones((1, n))


# ============================================================================ vectorised cores
# Each core takes the encoded data and a weight matrix W (B x n): row b gives each unit's
# multiplicity in resample b (a row of ones for the estimate itself). Every coefficient is a
# function of sums over units, so one matrix product computes it for all resamples.
# They return (values of shape (B,), reason or None when the *estimate* is undefined).

def _div(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den == 0, 1, den), np.nan)


def _chance_corrected(pa, pe, what: str):
    """(pa - pe) / (1 - pe), NaN where chance agreement is 1."""
    undefined = np.isclose(pe, 1.0, rtol=0, atol=1e-12) | np.isnan(pe) | np.isnan(pa)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.where(undefined, np.nan, (pa - pe) / np.where(undefined, 0.5, 1 - pe))
    return val


_NO_PAIRS = "no unit was rated by two or more coders"
_ONE_CAT = "only one category was used, so chance agreement is 1 (0/0)"


def _pairwise_pa(e: _Encoded, W: np.ndarray):
    r = e.counts.sum(1)
    pair = r >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(pair, (e.counts * (e.counts - 1)).sum(1) / np.where(pair, r * (r - 1), 1), 0.0)
    return _div(W @ a, W @ pair.astype(float))


def _core_percent(e: _Encoded, W):
    pa = _pairwise_pa(e, W)
    return pa, (_NO_PAIRS if np.isnan(pa[-1]) else None)


def _gwet_pi(e: _Encoded, W):
    r = e.counts.sum(1)
    rated = r >= 1
    share = _div(e.counts, np.where(rated, r, 0)[:, None])
    share = np.where(rated[:, None], share, 0.0)
    return _div(W @ share, (W @ rated.astype(float))[:, None])  # (B, q_obs)


def _core_fleiss(e: _Encoded, W):
    pa = _pairwise_pa(e, W)
    pi = _gwet_pi(e, W)
    val = _chance_corrected(pa, (pi ** 2).sum(1), "fleiss")
    return val, _reason(pa, val)


def _core_ac1(e: _Encoded, W):
    pa = _pairwise_pa(e, W)
    if e.q < 2:
        return np.full(W.shape[0], np.nan), f"AC1 needs two or more categories (q={e.q})"
    pi = _gwet_pi(e, W)
    pe = (pi * (1 - pi)).sum(1) / (e.q - 1)
    val = _chance_corrected(pa, pe, "ac1")
    return val, _reason(pa, val)


def _core_bp(e: _Encoded, W):
    pa = _pairwise_pa(e, W)
    if e.q < 2:
        return np.full(W.shape[0], np.nan), \
            f"Brennan-Prediger needs two or more categories (q={e.q})"
    val = (pa - 1.0 / e.q) / (1 - 1.0 / e.q)
    return val, (_NO_PAIRS if np.isnan(pa[-1]) else None)


def _core_scott(e: _Encoded, W):
    r = e.counts.sum(1)
    pair = (r >= 2).astype(float)
    pa = _pairwise_pa(e, W)
    pooled = W @ (e.counts * pair[:, None])
    pi = _div(pooled, pooled.sum(1, keepdims=True))
    val = _chance_corrected(pa, (pi ** 2).sum(1), "scott")
    return val, _reason(pa, val)


def _core_cohen(e: _Encoded, W):
    if e.m != 2:
        return (np.full(W.shape[0], np.nan),
                f"Cohen's kappa is defined for two coders, got {e.m}")
    a, b = e.codes[:, 0], e.codes[:, 1]
    both = (a >= 0) & (b >= 0)
    q = len(e.categories)
    onehot_a = np.zeros((e.n, q))
    onehot_b = np.zeros((e.n, q))
    idx = np.flatnonzero(both)
    onehot_a[idx, a[idx]] = 1
    onehot_b[idx, b[idx]] = 1
    nb = W @ both.astype(float)
    po = _div(W @ (both & (a == b)).astype(float), nb)
    pa_k = _div(W @ onehot_a, nb[:, None])
    pb_k = _div(W @ onehot_b, nb[:, None])
    val = _chance_corrected(po, (pa_k * pb_k).sum(1), "cohen")
    return val, _reason(po, val)


def _reason(pa, val):
    if np.isnan(pa[-1]):
        return _NO_PAIRS
    if np.isnan(val[-1]):
        return _ONE_CAT
    return None


# ---------------------------------------------------------------------------- alpha
def _numeric_values(e: _Encoded, level: str) -> np.ndarray:
    try:
        return np.asarray(e.categories, dtype=np.float64)
    except (TypeError, ValueError):
        bad = next(v for v in e.categories if not _is_number(v))
        raise InputError(f"{level} alpha needs numbers", expected="numeric ratings",
                         got=bad) from None


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _ordered(e: _Encoded, level: str, order: Sequence | None):
    """Re-encode categories in their order (given, numeric, or sorted) for ordinal alpha."""
    if order is not None:
        pos = pd.Index(list(order)).get_indexer(e.categories)
        if (pos < 0).any():
            raise InputError("a rating is not in the order given", expected=str(list(order)),
                             got=e.categories[pos < 0][0])
        ranks = pos
        q = len(order)
    else:
        try:
            keys = np.asarray(e.categories, dtype=np.float64)
        except (TypeError, ValueError):
            keys = np.asarray([str(v) for v in e.categories], dtype=object)
        ranks = np.argsort(np.argsort(keys, kind="stable"), kind="stable")
        q = len(e.categories)
    perm = np.zeros((len(e.categories), q))
    perm[np.arange(len(e.categories)), ranks] = 1
    return e.counts @ perm, q


def _alpha_from_delta(counts: np.ndarray, W: np.ndarray, delta: np.ndarray | Callable):
    """Krippendorff's alpha from per-unit value counts, for a distance matrix ``delta``.

    ``alpha = 1 - (n.. - 1) * sum_u d_u / sum_kl n_k n_l delta_kl`` with
    ``d_u = R_u delta R_u' / (m_u - 1)`` over pairable units (Krippendorff 2011, eq. for
    D_o and D_e written over units). ``delta`` may be a function of the margins n_k
    (ordinal): then the coincidence matrix is formed per resample.
    """
    r = counts.sum(1)
    pair = r >= 2
    scale = np.where(pair, 1.0 / np.where(pair, r - 1, 1), 0.0)
    nk = W @ (counts * pair[:, None])  # (B, q)
    ntot = nk.sum(1)
    if callable(delta):
        # coincidences per resample: sum_u w_u (R_u R_u' - diag R_u) / (m_u - 1)
        coinc = np.stack([(counts * (w * scale)[:, None]).T @ counts
                          - np.diag((w * scale) @ counts) for w in W])
        deltas = np.stack([delta(row) for row in nk])
        do = (coinc * deltas).sum((1, 2))
        de = np.einsum("bk,bkl,bl->b", nk, deltas, nk)
    else:
        d_u = ((counts @ delta) * counts).sum(1) * scale
        do = W @ d_u
        de = np.einsum("bk,kl,bl->b", nk, delta, nk)
    val = 1 - _div((ntot - 1) * do, de)
    val = np.where(de > 1e-15 * np.maximum(ntot, 1) ** 2, val, np.nan)
    if not pair.any():
        return val, _NO_PAIRS
    if np.isnan(val[-1]):
        return val, "all pairable values are equal, so expected disagreement is 0 (0/0)"
    return val, None


def _ordinal_delta(nk: np.ndarray) -> np.ndarray:
    cum = np.cumsum(nk)
    lo = np.minimum.outer(np.arange(len(nk)), np.arange(len(nk)))
    hi = np.maximum.outer(np.arange(len(nk)), np.arange(len(nk)))
    between = cum[hi] - cum[lo] + nk[lo]
    return (between - (nk[lo] + nk[hi]) / 2.0) ** 2


def _alpha_delta(e: _Encoded, level: str, order=None):
    """Counts and distance for Krippendorff's alpha at a level of measurement."""
    if level == "nominal":
        q = len(e.categories)
        return e.counts, 1.0 - np.eye(q)
    if level == "ordinal":
        counts, _ = _ordered(e, level, order)
        return counts, _ordinal_delta
    if level in ("interval", "ratio"):
        v = _numeric_values(e, level)
        if level == "ratio" and (v < 0).any():
            raise InputError("ratio alpha needs non-negative values", expected="values >= 0",
                             got=float(v[v < 0][0]))
        diff = np.subtract.outer(v, v)
        if level == "interval":
            return e.counts, diff ** 2
        tot = np.add.outer(v, v)
        with np.errstate(divide="ignore", invalid="ignore"):
            return e.counts, np.where(tot != 0, (diff / np.where(tot == 0, 1, tot)) ** 2, 0.0)
    raise InputError("unknown level of measurement", expected=f"one of {METRICS}", got=level)


def _core_alpha(e: _Encoded, W, level="nominal", order=None):
    counts, delta = _alpha_delta(e, level, order)
    return _alpha_from_delta(counts, W, delta)


# ============================================================================ public coefficients
def _finish(name: str, values: np.ndarray, reason: str | None) -> float:
    value = float(values[-1])
    if reason is not None or np.isnan(value):
        warnings.warn(f"{name} is undefined: {reason or 'not computable'}; reported as NaN",
                      UndefinedStatisticWarning, stacklevel=3)
        return float("nan")
    return value


def percent_agreement(ratings, *others, categories: Sequence | None = None) -> float:
    """Observed agreement: the mean proportion of agreeing pairs of ratings per unit.

    Parameters
    ----------
    ratings : array-like, units x coders
        Categories of any hashable type; ``None``, NaN or ``""`` = missing. Or pass one
        1-D array per coder: ``percent_agreement(a, b)``.
    categories : sequence, optional
        The categories a rating may take (checked; does not change the value).

    Returns
    -------
    float
        A proportion between 0 and 1.

    Notes
    -----
    Units rated by fewer than two coders are left out (Gwet 2014, eq. 5.5). With two
    coders this is the share of units both rated on which they agree. Undefined (NaN, with
    :class:`UndefinedStatisticWarning`) when no unit was rated twice.

    References
    ----------
    .. [1] Gwet, K. L. (2014). Handbook of Inter-Rater Reliability, 4th ed., ch. 2 and 5.

    Examples
    --------
    >>> percent_agreement(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    0.75
    """
    e = _encode(ratings, others, categories)
    return _finish("percent agreement", *_core_percent(e, _ones(e.n)))


def cohen_kappa(a, b=None, *, categories: Sequence | None = None) -> float:
    """Cohen's (1960) kappa for two coders, over the units both rated.

    ``kappa = (p_o - p_e) / (1 - p_e)``, ``p_e = sum_k p_Ak p_Bk`` from each coder's own
    marginal proportions. Equal to :func:`sklearn.metrics.cohen_kappa_score` (tested).

    Parameters
    ----------
    a, b : array-like
        The two coders' ratings; or ``a`` alone as a units x 2 matrix.
    categories : sequence, optional
        The categories a rating may take.

    Returns
    -------
    float

    Notes
    -----
    Units a coder did not rate are dropped (pairwise deletion). Undefined (NaN with
    :class:`UndefinedStatisticWarning`) when both coders used one and the same category
    throughout (``p_e = 1``), when no unit was rated by both, or with other than two coders.

    References
    ----------
    .. [1] Cohen, J. (1960). A coefficient of agreement for nominal scales. Educational and
       Psychological Measurement 20, 37-46.

    Examples
    --------
    Wikipedia's example (50 proposals: 20 both yes, 15 both no, 5 and 10 split):

    >>> a = ["yes"] * 25 + ["no"] * 25
    >>> b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    >>> round(cohen_kappa(a, b), 4)
    0.4
    """
    e = _encode(a, () if b is None else (b,), categories)
    return _finish("Cohen's kappa", *_core_cohen(e, _ones(e.n)))


def scott_pi(ratings, *others, categories: Sequence | None = None) -> float:
    """Scott's (1955) pi; for more than two coders Fleiss's (1971) pooled form.

    ``pi = (p_a - p_e) / (1 - p_e)``, ``p_e = sum_k pi_k^2`` with ``pi_k`` the share of
    category ``k`` among all pairable ratings (units rated by two or more coders).

    Parameters
    ----------
    ratings : array-like, units x coders (or one 1-D array per coder)
    categories : sequence, optional

    Returns
    -------
    float

    Notes
    -----
    Uses only units rated by two or more coders. Undefined (NaN with
    :class:`UndefinedStatisticWarning`) when one category is all there is (``p_e = 1``) or
    no unit was rated twice.

    References
    ----------
    .. [1] Scott, W. A. (1955). Reliability of content analysis: the case of nominal scale
       coding. Public Opinion Quarterly 19, 321-325.
    .. [2] Fleiss, J. L. (1971). Psychological Bulletin 76, 378-382.

    Examples
    --------
    >>> round(scott_pi(["a", "a", "b", "b"], ["a", "b", "b", "b"]), 4)
    0.4667
    """
    e = _encode(ratings, others, categories)
    return _finish("Scott's pi", *_core_scott(e, _ones(e.n)))


def fleiss_kappa(ratings, *others, categories: Sequence | None = None) -> float:
    """Fleiss' (1971) kappa for any number of coders, with Gwet's missing-data form.

    ``kappa = (p_a - p_e) / (1 - p_e)``, ``p_e = sum_k pi_k^2``, ``pi_k = mean_i r_ik/r_i``
    over units rated by one or more coders; ``p_a`` over units rated by two or more.

    Parameters
    ----------
    ratings : array-like, units x coders (or one 1-D array per coder)
    categories : sequence, optional

    Returns
    -------
    float

    Notes
    -----
    With no missing ratings this is Fleiss (1971) exactly (and statsmodels'
    ``fleiss_kappa``). With missing ratings it is Gwet's (2014, ch. 5) generalisation, as
    in R ``irrCAC::fleiss.kappa.raw``. Undefined (NaN with
    :class:`UndefinedStatisticWarning`) for a single category or no unit rated twice.

    References
    ----------
    .. [1] Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters.
       Psychological Bulletin 76, 378-382.
    .. [2] Gwet, K. L. (2014). Handbook of Inter-Rater Reliability, 4th ed., ch. 5.

    Examples
    --------
    >>> round(fleiss_kappa([["a", "a", "a"], ["a", "b", "b"], ["b", "b", "b"]]), 4)
    0.55
    """
    e = _encode(ratings, others, categories)
    return _finish("Fleiss' kappa", *_core_fleiss(e, _ones(e.n)))


def gwet_ac1(ratings, *others, categories: Sequence | None = None) -> float:
    """Gwet's AC1, for any number of coders, with missing ratings.

    ``AC1 = (p_a - p_e) / (1 - p_e)``, ``p_e = 1/(q-1) * sum_k pi_k (1 - pi_k)``, with
    ``pi_k`` and ``p_a`` as in :func:`fleiss_kappa` and ``q`` the number of categories.

    Parameters
    ----------
    ratings : array-like, units x coders (or one 1-D array per coder)
    categories : sequence, optional
        Fixes ``q``; by default the number of distinct categories observed.

    Returns
    -------
    float

    Notes
    -----
    Unlike kappa, AC1 stays defined (and equals ``p_a``) when every rating is in one
    category of two or more. Undefined (NaN with :class:`UndefinedStatisticWarning`) when
    ``q < 2`` or no unit was rated twice.

    References
    ----------
    .. [1] Gwet, K. L. (2008). Computing inter-rater reliability and its variance in the
       presence of high agreement. Br J Math Stat Psychol 61, 29-48.
    .. [2] Gwet, K. L. (2014). Handbook of Inter-Rater Reliability, 4th ed., ch. 4-5.

    Examples
    --------
    >>> round(gwet_ac1(["a", "a", "b", "b"], ["a", "b", "b", "b"]), 4)
    0.5294
    """
    e = _encode(ratings, others, categories)
    return _finish("Gwet's AC1", *_core_ac1(e, _ones(e.n)))


def brennan_prediger(ratings, *others, categories: Sequence | None = None) -> float:
    """Brennan and Prediger's (1981) coefficient: chance agreement ``1/q``.

    ``BP = (p_a - 1/q) / (1 - 1/q)`` with ``p_a`` as in :func:`percent_agreement` and ``q``
    the number of categories.

    Parameters
    ----------
    ratings : array-like, units x coders (or one 1-D array per coder)
    categories : sequence, optional
        Fixes ``q``; by default the number of distinct categories observed.

    Returns
    -------
    float

    Notes
    -----
    Undefined (NaN with :class:`UndefinedStatisticWarning`) when ``q < 2`` or no unit was
    rated twice. Missing ratings as in Gwet (2014, ch. 5).

    References
    ----------
    .. [1] Brennan, R. L. & Prediger, D. J. (1981). Educational and Psychological
       Measurement 41, 687-699.
    .. [2] Gwet, K. L. (2014). Handbook of Inter-Rater Reliability, 4th ed.

    Examples
    --------
    >>> brennan_prediger(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    0.5
    """
    e = _encode(ratings, others, categories)
    return _finish("Brennan-Prediger", *_core_bp(e, _ones(e.n)))


def krippendorff_alpha(ratings, *others, level: str = "nominal",
                       categories: Sequence | None = None) -> float:
    """Krippendorff's alpha at a level of measurement, any number of coders, missing data.

    Parameters
    ----------
    ratings : array-like, units x coders (or one 1-D array per coder)
    level : {"nominal", "ordinal", "interval", "ratio"}
        Distance between values. Interval and ratio need numbers; ordinal uses the order of
        ``categories`` if given, else numeric order, else sorted text.
    categories : sequence, optional
        The categories (in order, for ordinal).

    Returns
    -------
    float

    Notes
    -----
    Every pairable value (a unit rated by two or more coders) counts, as in
    Krippendorff (2011). The result equals the ``krippendorff`` package's ``alpha`` (tested
    on the published example and on random data); this implementation is used because it
    sums over units with weights, which makes the bootstrap one matrix product and keeps
    memory linear in the number of units. Undefined (NaN with
    :class:`UndefinedStatisticWarning`) when no unit was rated twice or all pairable values
    are equal.

    References
    ----------
    .. [1] Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability. Annenberg
       School for Communication Departmental Papers 43.

    Examples
    --------
    Krippendorff's (2011) 4 coders x 12 units, with missing values:

    >>> nan = None
    >>> data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    ...         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    ...         [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    ...         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
    >>> units = list(zip(*data))
    >>> [round(krippendorff_alpha(units, level=lv), 3)
    ...  for lv in ("nominal", "ordinal", "interval", "ratio")]
    [0.743, 0.815, 0.849, 0.797]
    """
    e = _encode(ratings, others, None if level != "nominal" else categories)
    order = categories if level == "ordinal" else None
    return _finish(f"Krippendorff's alpha ({level})", *_core_alpha(e, _ones(e.n), level, order))


# ============================================================================ sets: MASI
def masi_distance(a, b) -> float:
    """MASI distance between two sets of labels (Passonneau 2006).

    ``1 - J * M`` with ``J`` the Jaccard index ``|A & B| / |A | B|`` and ``M`` the
    monotonicity weight: 1 when the sets are equal, 2/3 when one is a subset of the other,
    1/3 when they overlap otherwise, 0 when they are disjoint. Two empty sets are equal.

    References
    ----------
    .. [1] Passonneau, R. (2006). Measuring agreement on set-valued items (MASI) for
       semantic and pragmatic annotation. Proceedings of LREC 2006, 831-836 (MASI = J * M,
       section 3; the distance used with Krippendorff's alpha is 1 - MASI).

    Examples
    --------
    >>> masi_distance({"a", "b"}, {"a", "b"}), round(masi_distance({"a"}, {"a", "b"}), 4)
    (0.0, 0.6667)
    >>> masi_distance({"a"}, {"b"})
    1.0
    """
    a, b = set(a), set(b)
    if a == b:
        return 0.0
    inter = len(a & b)
    jaccard = inter / len(a | b)
    m = 2 / 3 if (a <= b or b <= a) else (1 / 3 if inter else 0.0)
    return 1.0 - jaccard * m


def _label_set(v) -> set:
    return set(v) if isinstance(v, (set, frozenset, list, tuple)) else {str(v)}


def _core_masi(e: _Encoded, W):
    """Krippendorff's alpha with the MASI distance between the categories (label sets)."""
    sets = [_label_set(c) for c in e.categories]
    q = len(sets)
    delta = np.zeros((q, q))
    for i in range(q):
        for j in range(i + 1, q):
            delta[i, j] = delta[j, i] = masi_distance(sets[i], sets[j])
    return _alpha_from_delta(e.counts, W, delta)


def _set_cells(ratings) -> np.ndarray:
    if isinstance(ratings, (list, tuple)):  # nested lists of tuples: keep tuples as cells
        rows = list(ratings)
        arr = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=object)
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                arr[i, j] = cell
    else:
        arr = _as_matrix(ratings).astype(object)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            out[idx] = None
        elif isinstance(v, (set, frozenset, list, tuple)):
            out[idx] = tuple(sorted(map(str, v)))
        elif isinstance(v, str) and v == "":
            out[idx] = None  # "" is missing, like an empty CSV cell
        else:
            out[idx] = (str(v),)
    return out


def masi_alpha(ratings, *others) -> float:
    """Krippendorff's alpha over set-valued ratings with the MASI distance.

    Parameters
    ----------
    ratings : array-like, units x coders
        Cells are sets, lists or tuples of labels (a plain value is a one-label set);
        ``None``, NaN or ``""`` = missing.

    Returns
    -------
    float

    Notes
    -----
    The distance between two label sets is :func:`masi_distance`; otherwise as
    :func:`krippendorff_alpha` (Passonneau 2006 computes alpha this way). With one label
    per cell it equals nominal alpha. Undefined (NaN with
    :class:`UndefinedStatisticWarning`) when no unit was rated twice or every pairable
    set is the same.

    References
    ----------
    .. [1] Passonneau, R. (2006). Measuring agreement on set-valued items (MASI) for
       semantic and pragmatic annotation. LREC 2006.
    .. [2] Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability.

    Examples
    --------
    >>> round(masi_alpha([[("a",), ("a",)], [("a", "b"), ("a", "b")], [("b",), ("a", "b")]]), 4)
    0.5833
    """
    e = _encode(_set_cells(_stack(ratings, others)))
    return _finish("MASI alpha", *_core_masi(e, _ones(e.n)))


#: The coefficients of a report: name -> function over a units x coders matrix.
COEFFICIENTS: dict[str, Callable[..., float]] = {
    "percent_agreement": percent_agreement,
    "cohen_kappa": cohen_kappa,
    "scott_pi": scott_pi,
    "fleiss_kappa": fleiss_kappa,
    "krippendorff_alpha": krippendorff_alpha,
    "gwet_ac1": gwet_ac1,
    "brennan_prediger": brennan_prediger,
    "masi_alpha": masi_alpha,
}

#: The vectorised cores behind :data:`COEFFICIENTS` (estimate and bootstrap share them).
_CORES = {
    "percent_agreement": _core_percent,
    "cohen_kappa": _core_cohen,
    "scott_pi": _core_scott,
    "fleiss_kappa": _core_fleiss,
    "krippendorff_alpha": _core_alpha,
    "gwet_ac1": _core_ac1,
    "brennan_prediger": _core_bp,
    "masi_alpha": _core_masi,
}
#: Coefficients over label sets; the others see a multi-code unit as one combination.
SET_VALUED = frozenset({"masi_alpha"})


# ============================================================================ bootstrap
def bootstrap_weights(n: int, n_boot: int, seed: int, clusters: np.ndarray | None = None,
                      chunk: int | None = None):
    """Yield weight matrices (b x n): units' multiplicities in percentile-bootstrap resamples.

    Resamples units with replacement, or whole clusters (e.g. transcripts) when
    ``clusters`` gives each unit's cluster id; seeded, so the same seed gives the same
    resamples.

    Examples
    --------
    >>> w = np.vstack(list(bootstrap_weights(4, 3, seed=0)))
    >>> w.shape, w.sum(1).tolist()
    ((3, 4), [4.0, 4.0, 4.0])
    """
    rng = np.random.default_rng(seed)
    if clusters is None:
        groups, g = np.arange(n), n
    else:
        groups, uniq = pd.factorize(np.asarray(clusters), sort=True)
        g = len(uniq)
    chunk = chunk or max(1, min(n_boot, int(2e7 // max(n, g, 1))))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        draws = rng.integers(0, g, size=(b, g))
        offset = (np.arange(b) * g)[:, None]
        wg = np.bincount((draws + offset).ravel(), minlength=b * g).reshape(b, g)
        yield wg[:, groups].astype(np.float64)
        done += b


def _bootstrap(core, e, n_boot, seed, clusters, weights=None, **kw) -> np.ndarray:
    vals = []
    for W in weights if weights is not None else bootstrap_weights(e.n, n_boot, seed, clusters):
        vals.append(core(e, W, **kw)[0] if kw else core(e, W)[0])
    return np.concatenate(vals) if vals else np.array([])


def bootstrap_samples(coefficient: str, ratings, *others, n_boot: int, seed: int = 0,
                      clusters: np.ndarray | None = None,
                      categories: Sequence | None = None) -> np.ndarray:
    """One coefficient of :data:`COEFFICIENTS` on ``n_boot`` percentile-bootstrap resamples.

    The resamples are :func:`bootstrap_weights`' (units, or whole ``clusters``), and each
    value is computed by the same vectorised core as the estimate, so the samples agree
    with what :func:`agreement_report` resamples for the same seed. NaN where the
    coefficient is undefined on a resample; :func:`percentile_ci` ignores those.

    Parameters
    ----------
    coefficient : str
        A name of :data:`COEFFICIENTS`, e.g. ``"cohen_kappa"``.
    ratings, *others
        As for the coefficient's function: a units x coders matrix, or one vector per coder.
    n_boot : int
        Resamples.
    seed : int, default 0
    clusters : array-like, optional
        Each unit's cluster (e.g. transcript), to resample whole clusters.
    categories : sequence, optional
        The categories a rating may take.

    Returns
    -------
    ndarray of shape (n_boot,)

    Examples
    --------
    >>> a, b = ["x", "x", "y", "y", "x", "y"], ["x", "y", "y", "y", "x", "x"]
    >>> samples = bootstrap_samples("cohen_kappa", a, b, n_boot=200, seed=0)
    >>> samples.shape, bool(np.nanmin(samples) <= cohen_kappa(a, b) <= np.nanmax(samples))
    ((200,), True)
    """
    try:
        core = _CORES[coefficient]
    except KeyError:
        raise InputError("unknown agreement coefficient", expected=f"one of {sorted(_CORES)}",
                         got=coefficient) from None
    e = (_encode(_set_cells(_stack(ratings, others))) if coefficient in SET_VALUED
         else _encode(ratings, others, categories))
    return _bootstrap(core, e, n_boot, seed, clusters)


#: Up to this many weights (resamples x units), :func:`_coefficients` draws the resamples
#: once for all its coefficients instead of once per coefficient (the same seeded
#: resamples either way); above it they are drawn chunk by chunk, to bound memory.
_SHARED_WEIGHTS = 2e7


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> list[float] | None:
    """Percentile interval of bootstrap samples, ignoring resamples where it is undefined.

    Examples
    --------
    >>> [round(x, 3) for x in percentile_ci(np.arange(101) / 100)]
    [0.025, 0.975]
    """
    s = np.asarray(samples, dtype=float)
    s = s[~np.isnan(s)]
    if s.size == 0:
        return None
    lo, hi = np.percentile(s, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return [float(lo), float(hi)]


# ============================================================================ codings -> matrix
def _level_values(codings: pd.DataFrame, level: str) -> pd.Series:
    if level == "theme":
        return codings["theme"].astype(str)
    if level == "code":
        return code_labels(codings)
    if level == "valence":
        vals = codings["valence"].astype(str)
        if (vals == "").all():
            raise InputError("the codings have no valence, so the valence level is undefined",
                             column="valence", expected="success or challenge", got="")
        return vals.where(vals != "", "(no valence)")
    raise InputError("unknown level", expected=f"one of {', '.join(LEVELS)}", got=level)


def _check_codings(codings: pd.DataFrame, segments: pd.DataFrame | None,
                   coders: Sequence[str] | None = None) -> list[str]:
    need = ("segment_id", "coder", "theme", "valence", "subtheme")
    missing = [c for c in need if c not in codings.columns]
    if missing:
        raise InputError(f"codings table lacks column(s) {', '.join(missing)}", row=1,
                         expected=", ".join(need), got=", ".join(map(str, codings.columns)))
    found = list(dict.fromkeys(codings["coder"].astype(str)))
    if coders is not None:
        empty = [c for c in coders if c not in found]
        if empty:
            raise InputError(f"coder {empty[0]!r} has no codings", column="coder",
                             expected="at least one code from every coder", got=0)
        found = list(coders)
    if len(found) < 2:
        raise InputError("agreement needs two or more coders", column="coder",
                         expected="two or more coders", got=found)
    if segments is not None:
        known = set(segments["segment_id"].astype(str))
        bad = ~codings["segment_id"].astype(str).isin(known)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"segment not in the corpus ({int(bad.sum())} codings, first shown)",
                             row=i + 2, column="segment_id",
                             expected="a segment_id of the corpus",
                             got=codings["segment_id"].iat[i])
    return found


def _units(codings, segments, coded_only) -> pd.Index:
    coded = pd.Index(pd.unique(codings["segment_id"].astype(str)))
    if segments is None:
        return coded
    units = pd.Index(segments["segment_id"].astype(str))
    return units[units.isin(coded)] if coded_only else units


def both_coded_units(codings: pd.DataFrame, segments: pd.DataFrame) -> pd.Index:
    """The segments of the transcripts in which every coder applied at least one code.

    The units on which two coders who each coded part of a corpus can be compared
    (``agree --both-coded``; ``run`` measures each pair this way).

    Examples
    --------
    >>> seg = pd.DataFrame({"segment_id": ["a:1", "a:2", "b:1"], "transcript_id": ["a", "a", "b"]})
    >>> c = pd.DataFrame({"segment_id": ["a:1", "a:2", "b:1"], "coder": ["A", "B", "A"]})
    >>> list(both_coded_units(c, seg))
    ['a:1', 'a:2']
    """
    transcript = dict(zip(segments["segment_id"].astype(str), segments["transcript_id"].astype(str)))
    seen = (codings.assign(t=codings["segment_id"].astype(str).map(transcript))
            .groupby("coder")["t"].agg(lambda t: set(t.dropna())))
    both = set.intersection(*seen.tolist()) if len(seen) else set()
    units = segments.loc[segments["transcript_id"].astype(str).isin(both), "segment_id"]
    return pd.Index(units.astype(str), name="segment_id")


def restrict_units(codings: pd.DataFrame, segments: pd.DataFrame | None,
                   units) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Codings and corpus cut to a subsample of units (``agree --units``), in corpus order.

    Codings outside the units are left out, not refused; without a corpus the units are
    the universe (a unit nobody coded counts as "none" for every coder).
    """
    keep = pd.Index(pd.unique(pd.Index(units).astype(str)))
    cod = codings[codings["segment_id"].astype(str).isin(keep)].reset_index(drop=True)
    if segments is None:
        return cod, pd.DataFrame({"segment_id": list(keep)})
    seg = segments[segments["segment_id"].astype(str).isin(keep)].reset_index(drop=True)
    return cod, seg


def level_categories(codebook: pd.DataFrame, level: str) -> list[str]:
    """The categories a codebook allows at a level, and ``"none"`` (uncoded), in order.

    Passed as ``categories`` they fix ``q`` (AC1, Brennan-Prediger) the same way for
    ``themeassist agree -b`` and ``themeassist run``.

    Examples
    --------
    >>> book = pd.DataFrame({"theme": ["Funding", "Funding", "Staff"],
    ...                      "valence": ["success", "challenge", "challenge"],
    ...                      "subtheme": ["Grant", "Cuts", "Turnover"]})
    >>> level_categories(book, "theme")
    ['Funding', 'Staff', 'none']
    """
    if level == "theme":
        cats = list(dict.fromkeys(codebook["theme"].astype(str)))
    elif level == "code":
        cats = list(dict.fromkeys(code_labels(codebook)))
    elif level == "valence":
        cats = sorted(set(codebook["valence"].astype(str)) - {""})
    else:
        raise InputError("unknown level", expected=f"one of {', '.join(LEVELS)}", got=level)
    return [*cats, NONE]


def uncoded_label(values) -> str:
    """The category of an uncoded segment: ``"none"``, unless a code is literally so named.

    A code called ``none`` must not merge with "uncoded"; then the uncoded category is
    ``"(uncoded)"`` (with more parentheses should that be a code too).

    Examples
    --------
    >>> uncoded_label(["Funding", "Staff"]), uncoded_label(["none", "NA"])
    ('none', '(uncoded)')
    """
    used = set(map(str, values))
    label = NONE
    if label in used:
        label = "(uncoded)"
        while label in used:
            label = f"({label})"
    return label


@dataclass
class ReliabilityData:
    """Codings as units x coders, built once and shared by every agreement table.

    :func:`agreement_report`, :func:`disagreements`, :func:`confusion` and
    :func:`per_code_agreement` accept it in place of a codings table, so that a command
    computing all of them builds the matrix once (:func:`reliability_data`).

    Attributes
    ----------
    sets : DataFrame
        Index ``segment_id``, one column per coder, each cell the sorted tuple of the
        coder's categories at the level, ``(uncoded,)`` where the coder left it uncoded.
    level : str
    coded_only : bool
    uncoded : str
        The category of an uncoded segment (:func:`uncoded_label`).
    segments : DataFrame or None
        The corpus the units come from (None: the units are the segments some coder coded).
    confidence : Series
        Per unit, the machine coder's highest confidence (NaN where there is none).
    """

    sets: pd.DataFrame
    level: str
    coded_only: bool
    uncoded: str
    segments: pd.DataFrame | None
    confidence: pd.Series

    @property
    def coders(self) -> list[str]:
        return list(self.sets.columns)

    @functools.cached_property
    def matrix(self) -> pd.DataFrame:
        """Units x coders, multi-code cells as their combination (codes joined by " + ")."""
        return self.sets.apply(lambda col: col.map(MULTI_SEP.join))

    def select(self, coders: Sequence[str]) -> ReliabilityData:
        """The same data for some of the coders."""
        return replace(self, sets=self.sets[list(coders)])


def reliability_data(codings: pd.DataFrame | ReliabilityData,
                     segments: pd.DataFrame | None = None, level: str = "theme",
                     coded_only: bool = False,
                     coders: Sequence[str] | None = None) -> ReliabilityData:
    """Build the units x coders data of a codings table once (see :class:`ReliabilityData`).

    Parameters are those of :func:`reliability_matrix`. A :class:`ReliabilityData` is
    returned as it is.

    Examples
    --------
    >>> c = pd.DataFrame({"segment_id": ["s1", "s2"], "coder": ["A", "B"], "theme": ["none", "x"],
    ...                   "valence": "", "subtheme": ""})
    >>> reliability_data(c).sets.to_dict("list")  # a code named "none" stays a code
    {'A': [('none',), ('(uncoded)',)], 'B': [('(uncoded)',), ('x',)]}
    """
    if isinstance(codings, ReliabilityData):
        return codings
    coders = _check_codings(codings, segments, coders)
    units = _units(codings, segments, coded_only)
    values = _level_values(codings, level)
    uncoded = uncoded_label(values)
    frame = pd.DataFrame({"unit": codings["segment_id"].astype(str).to_numpy(),
                          "coder": codings["coder"].astype(str).to_numpy(),
                          "value": values.to_numpy()})
    grouped = frame.groupby(["unit", "coder"], sort=False)["value"].agg(
        lambda s: tuple(sorted(set(s))))
    wide = grouped.unstack("coder").reindex(index=units, columns=coders)
    wide = wide.apply(lambda col: col.map(lambda v: v if isinstance(v, tuple) else (uncoded,)))
    wide.index.name = "segment_id"
    wide.columns.name = None
    confidence = pd.Series(np.nan, index=wide.index, dtype=float)
    machine = _machine_coders(codings)
    if machine and "confidence" in codings.columns:
        rows = codings[codings["coder"].astype(str).isin(machine)]
        conf = pd.to_numeric(rows["confidence"], errors="coerce")
        confidence = conf.groupby(rows["segment_id"].astype(str)).max().reindex(wide.index)
    return ReliabilityData(wide, level, bool(coded_only), uncoded, segments, confidence)


def set_matrix(codings: pd.DataFrame, segments: pd.DataFrame | None = None,
               level: str = "theme", coded_only: bool = False,
               coders: Sequence[str] | None = None) -> pd.DataFrame:
    """Units x coders with each cell the *set* of codes (a sorted tuple), ``("none",)`` if uncoded.

    See :func:`reliability_matrix` for the parameters.

    Examples
    --------
    >>> c = pd.DataFrame({"segment_id": ["s1", "s1", "s1", "s2"], "coder": ["A", "A", "B", "B"],
    ...                   "theme": ["Funding", "Staff", "Funding", "Staff"],
    ...                   "valence": "", "subtheme": ""})
    >>> set_matrix(c).to_dict("list")
    {'A': [('Funding', 'Staff'), ('none',)], 'B': [('Funding',), ('Staff',)]}
    """
    return reliability_data(codings, segments, level, coded_only, coders).sets


def reliability_matrix(codings: pd.DataFrame, segments: pd.DataFrame | None = None,
                       level: str = "theme", coded_only: bool = False,
                       coders: Sequence[str] | None = None) -> pd.DataFrame:
    """Turn a long codings table into units x coders reliability data.

    Parameters
    ----------
    codings : DataFrame
        The codings table (DESIGN.md section 3): ``segment_id``, ``coder``, ``theme``,
        ``valence``, ``subtheme``.
    segments : DataFrame, optional
        The corpus: the universe of units, in its order. Without it the units are the
        segments some coder coded.
    level : {"theme", "code", "valence"}
        What a category is: the theme, the code (theme / valence / subtheme) or the valence.
    coded_only : bool
        Keep only the segments some coder coded (the other convention: a segment nobody
        coded then does not count as agreement on "none").
    coders : sequence of str, optional
        The coders expected, in order; one without codings is an error.

    Returns
    -------
    DataFrame
        Index ``segment_id``, one column per coder, cells a category: ``"none"`` where the
        coder left the segment uncoded (``"(uncoded)"`` when a code is named ``none``), the codes joined by ``" + "`` (sorted) where the
        coder gave several.

    Raises
    ------
    InputError
        Fewer than two coders, a coder without codings, a segment outside the corpus.

    Examples
    --------
    >>> c = pd.DataFrame({"segment_id": ["s1", "s1", "s1", "s2"], "coder": ["A", "A", "B", "B"],
    ...                   "theme": ["Funding", "Staff", "Funding", "Staff"],
    ...                   "valence": "", "subtheme": ""})
    >>> reliability_matrix(c)  # doctest: +NORMALIZE_WHITESPACE
                              A        B
    segment_id
    s1          Funding + Staff  Funding
    s2                     none    Staff
    """
    return reliability_data(codings, segments, level, coded_only, coders).matrix


# ============================================================================ per code
def _core_positive(e: _Encoded, W):
    """Positive (specific) agreement on category 1 of binary data (Fleiss 1971).

    Agreeing pairs of ratings on the code among the pairs involving it: ``sum_u r_u1
    (r_u1 - 1) / sum_u r_u1 (r_u - 1)`` over pairable units; ``2a / (2a + b + c)`` for two
    coders.
    """
    r = e.counts.sum(1)
    pos = e.counts[:, 1]
    pair = r >= 2
    num = np.where(pair, pos * (pos - 1), 0.0)
    den = np.where(pair, pos * (r - 1), 0.0)
    val = _div(W @ num, W @ den)
    return val, (None if not np.isnan(val[-1]) else "no pair of ratings involves the code")


def _presence(cells: np.ndarray, missing: np.ndarray, code: str) -> _Encoded:
    """A code as present (1) / absent (0) / missing per unit and coder, encoded (q = 2)."""
    has = np.vectorize(lambda v: v is not None and code in v, otypes=[bool])(cells)
    codes = np.where(missing, -1, has.astype(np.int64))
    return _Encoded(codes, np.array([0, 1], dtype=object), _counts(codes, 2), 2)


def per_code_agreement(sets: pd.DataFrame, *, n_boot: int = 0, seed: int = 0,
                       clusters: np.ndarray | None = None, uncoded: str = NONE) -> pd.DataFrame:
    """Agreement on each code as present/absent per unit.

    Parameters
    ----------
    sets : DataFrame
        Units x coders of label sets, as :func:`set_matrix` returns (``None`` = missing).
    n_boot, seed, clusters
        Percentile bootstrap intervals of kappa, AC1 and positive agreement (``n_boot=0``:
        none), with the same resamples as :func:`agreement_report`.
    uncoded : str, default "none"
        The category of an uncoded segment (not a code: left out).

    Returns
    -------
    DataFrame
        One row per code (``uncoded`` excluded): ``code``, ``n_<coder>`` (units each coder
        gave it), ``both`` (units every coder gave it), ``either`` (units some coder gave
        it), ``kappa`` (Cohen's for two coders, Fleiss' for more), ``ac1`` and
        ``positive_agreement`` (``2a / (2a + b + c)`` for two coders; for more, the
        proportion of agreeing pairs among pairs involving the code, Fleiss 1971 specific
        agreement), their ``_low``/``_high`` interval bounds when ``n_boot`` > 0, and
        ``note`` saying why a value is undefined. Most used codes first.

    Notes
    -----
    The coefficients are those of :data:`COEFFICIENTS` (the same cores) on the binary
    presence data of each code, with ``q = 2``.

    Examples
    --------
    >>> s = pd.DataFrame({"A": [("x",), ("x", "y"), ("none",)], "B": [("x",), ("y",), ("y",)]})
    >>> per_code_agreement(s)[["code", "n_A", "n_B", "both", "either", "positive_agreement"]]
      code  n_A  n_B  both  either  positive_agreement
    0    x    2    1     1       2            0.666667
    1    y    1    2     1       2            0.666667
    """
    cells = sets.to_numpy(dtype=object)
    missing = np.vectorize(lambda v: v is None, otypes=[bool])(cells) if cells.size else \
        np.zeros(cells.shape, bool)
    codes = sorted({c for cell in cells.ravel() if cell is not None for c in cell} - {uncoded})
    m = cells.shape[1]
    cores = {"kappa": _core_cohen if m == 2 else _core_fleiss, "ac1": _core_ac1,
             "positive_agreement": _core_positive}
    notes = {"kappa": "every unit in one category (chance agreement 1)",
             "ac1": "every unit in one category (chance agreement 1)",
             "positive_agreement": "no pair of ratings involves the code"}
    encoded = [_presence(cells, missing, code) for code in codes]
    rows = []
    for code, e in zip(codes, encoded):
        has = e.codes == 1
        row = {"code": code}
        row.update({f"n_{c}": int(has[:, j].sum()) for j, c in enumerate(sets.columns)})
        row["both"] = int(((has | missing).all(1) & (has.sum(1) >= 2)).sum())
        row["either"] = int(has.any(1).sum())
        why = []
        for name, core in cores.items():
            row[name] = float(core(e, _ones(e.n))[0][-1])
            if np.isnan(row[name]):
                why.append(f"{name}: {notes[name]}")
        row["note"] = "; ".join(why)
        rows.append(row)
    if n_boot and codes:
        samples = {name: [[] for _ in codes] for name in cores}
        for W in bootstrap_weights(len(sets), n_boot, seed, clusters):
            for j, e in enumerate(encoded):
                for name, core in cores.items():
                    samples[name][j].append(core(e, W)[0])
        for name in cores:
            for j, row in enumerate(rows):
                ci = (percentile_ci(np.concatenate(samples[name][j]))
                      if not np.isnan(row[name]) else None)
                row[f"{name}_low"], row[f"{name}_high"] = ci if ci else (np.nan, np.nan)
    cols = ["code"] + [f"n_{c}" for c in sets.columns] + ["both", "either"]
    for name in cores:
        cols += [name] + ([f"{name}_low", f"{name}_high"] if n_boot and codes else [])
    cols.append("note")
    return pd.DataFrame(rows, columns=cols).sort_values(
        ["either", "code"], ascending=[False, True], ignore_index=True)


# ============================================================================ reports
class ManyCategoriesWarning(UserWarning):
    """Chance agreement is so small (many categories) that kappa is about percent agreement."""


#: Below this chance agreement, kappa is within about this much of percent agreement.
LOW_CHANCE_AGREEMENT = 0.05


def _coefficients(e: _Encoded, *, n_boot: int, seed: int, clusters, level: str = "nominal",
                  order=None, names=None) -> tuple[dict, dict, dict]:
    values, ci, undefined = {}, {}, {}
    weights = (list(bootstrap_weights(e.n, n_boot, seed, clusters))
               if n_boot and e.n * n_boot <= _SHARED_WEIGHTS else None)
    for name, core in _CORES.items():
        if names is not None and name not in names:
            continue
        kw = {"level": level, "order": order} if name == "krippendorff_alpha" else {}
        val, reason = core(e, _ones(e.n), **kw)
        v = float(val[-1])
        if reason is not None or np.isnan(v):
            undefined[name] = reason or "not computable"
            values[name] = None
            ci[name] = None
            continue
        values[name] = v
        ci[name] = (percentile_ci(_bootstrap(core, e, n_boot, seed, clusters, weights, **kw))
                    if n_boot else None)
    return values, ci, undefined


def _warn_undefined(undefined: dict, by_design: Sequence[str] = ()) -> None:
    """Warn for each undefined coefficient, except those null by design (``by_design``)."""
    for name, reason in undefined.items():
        if name in by_design:
            continue
        warnings.warn(f"{name} is undefined: {reason}; reported as null",
                      UndefinedStatisticWarning, stacklevel=3)


def _chance_agreement(e: _Encoded) -> float:
    """Chance agreement of Fleiss' kappa / Scott's pi: sum of squared pooled shares."""
    pi = _gwet_pi(e, _ones(e.n))
    return float((pi ** 2).sum())


def agreement_report(codings: pd.DataFrame | ReliabilityData,
                     segments: pd.DataFrame | None = None, *,
                     level: Literal["theme", "code", "valence"] = "theme",
                     coded_only: bool = False, n_boot: int = 1000, seed: int = 0,
                     cluster: Literal["none", "transcript"] | None = "none",
                     categories: Sequence[str] | None = None,
                     coders: Sequence[str] | None = None) -> dict:
    """Every coefficient, with bootstrap intervals and a per-code table, as ``agreement.json``.

    Parameters
    ----------
    codings : DataFrame or ReliabilityData
        Long codings of two or more coders (a machine coder is one more coder), or the
        data :func:`reliability_data` built from them (then ``segments``, ``level``,
        ``coded_only`` and ``coders`` are taken from it).
    segments : DataFrame, optional
        The corpus; a segment a coder left uncoded counts as ``"none"``. Needed for
        ``cluster="transcript"``.
    level : {"theme", "code", "valence"}
    coded_only : bool
        Use only segments some coder coded.
    n_boot : int
        Bootstrap resamples for the percentile intervals (0: no intervals).
    seed : int
        Seed of the resampling.
    cluster : {None, "none", "transcript"}
        Resample whole transcripts instead of segments (segments of one focus group are not
        independent).
    categories : sequence of str, optional
        The categories at the level (fixes ``q``); observed categories are added.
    coders : sequence of str, optional
        Coders expected (one without codings is an error).

    Returns
    -------
    dict
        ``n_units``, ``coders``, ``level``, ``convention``, the coefficients of
        :data:`COEFFICIENTS` (``cohen_kappa`` is null unless there are two coders;
        ``masi_alpha`` compares each coder's *set* of codes), ``q``, ``categories``,
        ``uncoded`` (the category of an uncoded segment), ``multi_code_units``,
        ``chance_agreement``, ``ci`` (name -> [low, high], 95% percentile bootstrap),
        ``bootstrap`` (settings), ``per_code`` (rows of :func:`per_code_agreement`),
        ``undefined`` (name -> reason), ``notes`` and ``conventions``.

    Warns
    -----
    ManyCategoriesWarning
        When chance agreement is below :data:`LOW_CHANCE_AGREEMENT`: with so many
        categories, kappa says little more than percent agreement (also in ``notes``).

    Raises
    ------
    InputError
        Fewer than two coders, a coder without codings, a segment outside the corpus, no
        segment coded by two coders when no corpus is given.

    Examples
    --------
    >>> c = pd.DataFrame({"segment_id": ["s1", "s2", "s3", "s1", "s2", "s3"],
    ...                   "coder": ["A"] * 3 + ["B"] * 3,
    ...                   "theme": ["x", "y", "y", "x", "y", "x"], "valence": "", "subtheme": ""})
    >>> r = agreement_report(c, n_boot=0)
    >>> r["n_units"], round(r["percent_agreement"], 3), round(r["cohen_kappa"], 3)
    (3, 0.667, 0.4)
    """
    if cluster not in (None, "none", "transcript"):
        raise InputError("unknown cluster", expected="none or transcript", got=cluster)
    data = reliability_data(codings, segments, level, coded_only, coders)
    segments = data.segments
    sets = data.sets
    if segments is None:
        coded_by = sets.apply(lambda col: col.map(lambda v: v != (data.uncoded,))).sum(axis=1)
        if not (coded_by >= 2).any():
            raise InputError("the coders share no segment; give the corpus so that uncoded "
                             "segments count as 'none'", column="segment_id",
                             expected="segments coded by two or more coders", got=0)
    if len(sets) == 0:
        raise InputError("no units to compare", expected="one or more segments", got=0)
    matrix = data.matrix
    clusters = None
    if cluster == "transcript":
        if segments is None:
            raise InputError("clustering by transcript needs the corpus (--corpus)")
        tmap = dict(zip(segments["segment_id"].astype(str), segments["transcript_id"].astype(str)))
        clusters = np.asarray([tmap[u] for u in matrix.index])
    cats = None
    if categories is not None:
        observed = pd.unique(matrix.to_numpy().ravel())
        cats = list(dict.fromkeys([*categories, data.uncoded, *observed]))
    e = _encode(matrix.to_numpy(), categories=cats)
    single = [n for n in _CORES if n not in SET_VALUED]
    values, ci, undefined = _coefficients(e, n_boot=n_boot, seed=seed, clusters=clusters,
                                          names=single)
    es = _encode(_set_cells(list(map(tuple, sets.to_numpy(dtype=object)))))
    v2, c2, u2 = _coefficients(es, n_boot=n_boot, seed=seed, clusters=clusters,
                               names=SET_VALUED)
    values.update(v2)
    ci.update(c2)
    undefined.update(u2)
    _warn_undefined(undefined, by_design=("cohen_kappa",) if e.m != 2 else ())
    notes = []
    chance = _chance_agreement(e)
    if chance < LOW_CHANCE_AGREEMENT:
        note = (f"chance agreement is {chance:.3f} over {e.q} categories, so kappa is within "
                f"about {chance / (1 - chance):.3f} of percent agreement: with this many "
                "categories it says little more than percent agreement (compare a coarser "
                "level, or the per-code table)")
        notes.append(note)
        warnings.warn(note, ManyCategoriesWarning, stacklevel=2)
    per_code = per_code_agreement(sets, n_boot=n_boot, seed=seed, clusters=clusters,
                                  uncoded=data.uncoded)
    multi = int(sets.apply(lambda col: col.map(len) > 1).to_numpy().any(1).sum())
    return {
        "n_units": len(matrix),
        "coders": list(matrix.columns),
        "level": data.level,
        "convention": "coded-only" if data.coded_only else (
            "all corpus segments; uncoded = 'none'" if segments is not None
            else "segments some coder coded (no corpus given); uncoded = 'none'"),
        **values,
        "q": int(e.q),
        "categories": [str(c) for c in e.categories],
        "uncoded": data.uncoded,
        "multi_code_units": multi,
        "chance_agreement": chance,
        "ci": ci,
        "bootstrap": {"n_boot": int(n_boot), "seed": int(seed), "level": 0.95,
                      "method": "percentile", "unit": "transcript" if clusters is not None
                      else "segment"},
        "per_code": per_code.to_dict(orient="records"),
        "undefined": undefined,
        "notes": notes,
        "conventions": dict(CONVENTIONS),
    }


def matrix_report(matrix_df: pd.DataFrame, metric: str = "nominal", n_boot: int = 1000,
                  seed: int = 0) -> dict:
    """The report of :func:`agreement_report` for a units x coders table (``--matrix``).

    Parameters
    ----------
    matrix_df : DataFrame
        Index = unit ids, one column per coder; an empty cell (``""``, None, NaN) is missing.
    metric : {"nominal", "ordinal", "interval", "ratio"}
        Level of measurement of Krippendorff's alpha. The other coefficients treat values
        as categories.
    n_boot, seed : int
        Percentile bootstrap over units.

    Returns
    -------
    dict
        As :func:`agreement_report`, with ``level`` = ``metric``; ``per_code`` has one row
        per category for a nominal metric and is empty otherwise.

    Raises
    ------
    InputError
        Fewer than two coder columns, no units, a coder with no rating, or non-numeric
        values for an interval or ratio metric (naming the row and column).

    Examples
    --------
    >>> m = pd.DataFrame({"A": [1, 2, 3, 3], "B": [1, 2, 3, 4]}, index=["u1", "u2", "u3", "u4"])
    >>> round(matrix_report(m, "interval", n_boot=0)["krippendorff_alpha"], 3)
    0.889
    """
    if metric not in METRICS:
        raise InputError("unknown metric", expected=f"one of {', '.join(METRICS)}", got=metric)
    if matrix_df.shape[1] < 2:
        raise InputError("agreement needs two or more coder columns", row=1,
                         expected="a unit id column and two or more coder columns",
                         got=list(matrix_df.columns))
    if len(matrix_df) == 0:
        raise InputError("the matrix has no units", expected="one or more rows", got=0)
    df = matrix_df.replace({"": None}).astype(object).where(matrix_df.notna(), None)
    df = df.map(lambda v: None if isinstance(v, str) and v.strip() == "" else v)
    for c in df.columns:
        if df[c].isna().all():
            raise InputError(f"coder {c!r} has no ratings", column=str(c),
                             expected="at least one rating", got=0)
    if metric in ("interval", "ratio", "ordinal"):
        num = df.apply(pd.to_numeric, errors="coerce")
        bad = num.isna() & df.notna()
        if bad.to_numpy().any():
            if metric != "ordinal":
                i, j = map(int, np.argwhere(bad.to_numpy())[0])
                raise InputError(f"{metric} alpha needs numbers", row=i + 2,
                                 column=str(df.columns[j]), expected="a number or an empty cell",
                                 got=df.iat[i, j])
        else:
            df = num.astype(float)
    e = _encode(df.to_numpy())
    names = [n for n in _CORES if metric == "nominal" or n not in SET_VALUED]
    values, ci, undefined = _coefficients(e, n_boot=n_boot, seed=seed, clusters=None,
                                          level=metric, names=names)
    _warn_undefined(undefined, by_design=("cohen_kappa",) if e.m != 2 else ())
    per_code = []
    if metric == "nominal":
        sets = df.apply(lambda col: col.map(lambda v: None if v is None else (str(_plain(v)),)))
        per_code = per_code_agreement(sets, n_boot=n_boot, seed=seed).to_dict(orient="records")
    return {
        "n_units": len(df),
        "coders": [str(c) for c in df.columns],
        "level": metric,
        "metric": metric,
        "convention": "matrix; empty cell = missing",
        **values,
        "q": int(e.q),
        "categories": [_plain(c) for c in e.categories],
        "ci": ci,
        "bootstrap": {"n_boot": int(n_boot), "seed": int(seed), "level": 0.95,
                      "method": "percentile", "unit": "unit"},
        "per_code": per_code,
        "undefined": undefined,
        "conventions": {"missing": CONVENTIONS["missing"], "bootstrap": CONVENTIONS["bootstrap"]},
    }


def _plain(v):
    if isinstance(v, (np.floating, float)) and float(v).is_integer():
        return int(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


# ============================================================================ tables for meetings
def _machine_coders(codings: pd.DataFrame) -> list[str]:
    coders = codings["coder"].astype(str)
    machine = set(coders[coders.str.startswith("model:")])
    if "confidence" in codings.columns:
        conf = pd.to_numeric(codings["confidence"], errors="coerce")
        machine |= set(coders[conf.notna()])
    return sorted(machine)


def disagreements(codings: pd.DataFrame | ReliabilityData, segments: pd.DataFrame | None = None, *,
                  level: str = "theme", coded_only: bool = False,
                  coders: Sequence[str] | None = None) -> pd.DataFrame:
    """The segments the coders coded differently, for a reconciliation meeting.

    Parameters
    ----------
    codings, segments, level, coded_only, coders
        As :func:`reliability_matrix`; or a :class:`ReliabilityData` for ``codings``.

    Returns
    -------
    DataFrame
        ``segment_id``, ``transcript_id``, ``question``, ``text`` (from the corpus, empty
        without it), one column per coder with its codes at the level, and ``confidence``:
        the machine coder's highest confidence on the segment (a coder is a machine when
        its name starts with ``model:`` or its rows carry a confidence; NaN otherwise).
        Most confident disagreements first, then corpus order.

    Examples
    --------
    >>> c = pd.DataFrame({"segment_id": ["s1", "s2", "s1", "s2"],
    ...                   "coder": ["ann", "ann", "model:m", "model:m"],
    ...                   "theme": ["x", "y", "x", "x"], "valence": "", "subtheme": "",
    ...                   "confidence": [None, None, 0.9, 0.8]})
    >>> disagreements(c)[["segment_id", "ann", "model:m", "confidence"]]
      segment_id ann model:m  confidence
    0         s2   y       x         0.8
    """
    data = reliability_data(codings, segments, level, coded_only, coders)
    if coders is not None and isinstance(codings, ReliabilityData):
        data = data.select(coders)
    segments = data.segments
    matrix = data.matrix
    # Units where two coders' known values differ (``nunique(axis=1) > 1``, vectorised:
    # the row-wise nunique of pandas is a Python loop, a third of the agree stage).
    vals = matrix.to_numpy(dtype=object, na_value=None)
    known = pd.notna(vals)
    first = vals[np.arange(len(vals)), known.argmax(axis=1)] if vals.size else vals[:, :0]
    differ = pd.Series((known & (vals != first.reshape(-1, 1))).any(axis=1) if vals.size
                       else np.zeros(len(matrix), dtype=bool), index=matrix.index)
    out = matrix[differ].reset_index()
    if segments is not None:
        seg = segments.set_index(segments["segment_id"].astype(str))
        for col in ("transcript_id", "question", "text"):
            out.insert(1 + ("transcript_id", "question", "text").index(col), col,
                       seg.reindex(out["segment_id"])[col].to_numpy()
                       if col in seg.columns else "")
    else:
        for k, col in enumerate(("transcript_id", "question", "text")):
            out.insert(1 + k, col, "")
    out["confidence"] = data.confidence.reindex(out["segment_id"]).to_numpy(dtype=float)
    out["_order"] = np.arange(len(out))
    out = out.sort_values(["confidence", "_order"], ascending=[False, True], na_position="last")
    return out.drop(columns="_order").reset_index(drop=True)


def confusion(codings: pd.DataFrame | ReliabilityData, segments: pd.DataFrame | None = None, *,
              level: str = "theme", coded_only: bool = False,
              coders: Sequence[str] | None = None) -> pd.DataFrame:
    """Confusion matrix of two coders' categories (rows: first coder, columns: second).

    Parameters
    ----------
    codings, segments, level, coded_only
        As :func:`reliability_matrix`.
    coders : two str, optional
        Which two coders (default: the first two). Multi-code units appear as their
        combination category.

    Returns
    -------
    DataFrame
        Counts of units; the index is named after the first coder and the columns after
        the second. Categories sorted, uncoded (``"none"``) last.

    Examples
    --------
    >>> c = pd.DataFrame({"segment_id": ["s1", "s2", "s1", "s2"], "coder": ["A", "A", "B", "B"],
    ...                   "theme": ["x", "y", "x", "x"], "valence": "", "subtheme": ""})
    >>> confusion(c)  # doctest: +NORMALIZE_WHITESPACE
    B  x
    A
    x  1
    y  1
    """
    data = reliability_data(codings, segments, level, coded_only)
    matrix = data.matrix
    pair = list(coders) if coders is not None else list(matrix.columns[:2])
    if len(pair) != 2 or any(c not in matrix.columns for c in pair):
        raise InputError("confusion needs two of the coders", expected=str(list(matrix.columns)),
                         got=pair)
    a, b = matrix[pair[0]], matrix[pair[1]]
    none = data.uncoded
    order = lambda vals: sorted(set(vals) - {none}) + ([none] if none in set(vals) else [])
    table = pd.crosstab(pd.Categorical(a, order(a)), pd.Categorical(b, order(b)), dropna=False)
    table.index.name, table.columns.name = pair[0], pair[1]
    table.index = pd.Index(list(table.index), name=pair[0])
    table.columns = pd.Index(list(table.columns), name=pair[1])
    return table
