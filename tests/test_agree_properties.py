"""Properties every agreement coefficient must have, swept over the registry (STYLE R11)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from themeassist import agree
from themeassist.errors import UndefinedStatisticWarning

#: Swapping or reordering coders changes nothing.
SYMMETRIC = {"percent_agreement", "cohen_kappa", "scott_pi", "fleiss_kappa", "masi_alpha",
             "krippendorff_alpha", "gwet_ac1", "brennan_prediger"}
NOT_SYMMETRIC: set[str] = set()
#: Depend on categories only through their identity (nominal).
NOMINAL = set(agree.COEFFICIENTS)

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def test_every_coefficient_is_classified():
    assert SYMMETRIC | NOT_SYMMETRIC == set(agree.COEFFICIENTS)
    assert set(agree._CORES) == set(agree.COEFFICIENTS)


@st.composite
def reliability_data(draw, min_coders=2, max_coders=4, missing=True):
    n = draw(st.integers(3, 25))
    m = draw(st.integers(min_coders, max_coders))
    q = draw(st.integers(2, 4))
    cells = draw(st.lists(st.lists(st.integers(0, q - 1), min_size=m, max_size=m),
                          min_size=n, max_size=n))
    data = np.array(cells, dtype=object)
    if missing:
        mask = draw(st.lists(st.lists(st.booleans(), min_size=m, max_size=m),
                             min_size=n, max_size=n))
        data[np.array(mask)] = None
    return data


def quiet(f, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedStatisticWarning)
        return f(*args, **kw)


def coefficient_input(name, data):
    return data[:, :2] if name == "cohen_kappa" else data


@pytest.mark.parametrize("name", sorted(agree.COEFFICIENTS))
@SETTINGS
@given(st.integers(3, 30), st.integers(2, 5), st.data())
def test_perfect_agreement_gives_one(name, n, m, data):
    labels = data.draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n)
                       .filter(lambda xs: len(set(xs)) >= 2))
    matrix = np.array([[x] * m for x in labels], dtype=object)
    assert agree.COEFFICIENTS[name](coefficient_input(name, matrix)) == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(NOMINAL))
@SETTINGS
@given(reliability_data(), st.permutations(["p", "q", "r", "s"]))
def test_relabelling_categories_changes_nothing(name, data, names):
    data = coefficient_input(name, data)
    relabelled = np.vectorize(lambda v: None if v is None else names[v], otypes=[object])(data)
    a = quiet(agree.COEFFICIENTS[name], data)
    b = quiet(agree.COEFFICIENTS[name], relabelled)
    assert a == pytest.approx(b, abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("name", sorted(agree.COEFFICIENTS))
@SETTINGS
@given(reliability_data(), st.randoms(use_true_random=False))
def test_order_of_units_changes_nothing(name, data, rnd):
    data = coefficient_input(name, data)
    order = list(range(len(data)))
    rnd.shuffle(order)
    a = quiet(agree.COEFFICIENTS[name], data)
    b = quiet(agree.COEFFICIENTS[name], data[order])
    assert a == pytest.approx(b, abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("name", sorted(SYMMETRIC))
@SETTINGS
@given(reliability_data(), st.randoms(use_true_random=False))
def test_order_of_coders_changes_nothing(name, data, rnd):
    data = coefficient_input(name, data)
    cols = list(range(data.shape[1]))
    rnd.shuffle(cols)
    a = quiet(agree.COEFFICIENTS[name], data)
    b = quiet(agree.COEFFICIENTS[name], data[:, cols])
    assert a == pytest.approx(b, abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("name", sorted(agree.COEFFICIENTS))
@SETTINGS
@given(reliability_data())
def test_proportions_at_most_one_and_nan_only_with_a_warning(name, data):
    data = coefficient_input(name, data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedStatisticWarning)
        value = agree.COEFFICIENTS[name](data)
    if np.isnan(value):
        assert any(issubclass(w.category, UndefinedStatisticWarning) for w in caught)
    else:
        assert value <= 1 + 1e-12
        if name == "percent_agreement":
            assert value >= 0


@pytest.mark.parametrize("level", agree.METRICS)
@SETTINGS
@given(reliability_data(max_coders=5))
def test_alpha_equals_the_krippendorff_package(level, data):
    import krippendorff

    numeric = np.where(pd.isna(data), np.nan, data).astype(float) + 1
    pairable = ((~np.isnan(numeric)).sum(1) >= 2)
    values = numeric[pairable][~np.isnan(numeric[pairable])]
    if len(np.unique(values)) < 2:
        return  # the package raises here; ours is NaN with a warning (tested elsewhere)
    ours = quiet(agree.krippendorff_alpha, numeric, level=level)
    theirs = krippendorff.alpha(numeric.T, level_of_measurement=level)
    assert ours == pytest.approx(theirs, abs=1e-9)


@SETTINGS
@given(reliability_data(min_coders=2, max_coders=2, missing=False))
def test_cohen_kappa_equals_scikit_learn(data):
    from sklearn.metrics import cohen_kappa_score

    a, b = data[:, 0].astype(int), data[:, 1].astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = cohen_kappa_score(a, b, replace_undefined_by=np.nan)
    assert quiet(agree.cohen_kappa, a, b) == pytest.approx(theirs, abs=1e-12, nan_ok=True)


@SETTINGS
@given(reliability_data(max_coders=3, missing=False))
def test_scott_pi_equals_fleiss_kappa_without_missing_data(data):
    assert quiet(agree.scott_pi, data) == pytest.approx(quiet(agree.fleiss_kappa, data),
                                                        abs=1e-12, nan_ok=True)
