"""Agreement coefficients against published worked examples (STYLE R3), conventions,
undefined cases (R4) and the codings -> report path.

Every published table is typed in below with its source; tolerances follow the published
rounding.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from themeassist import agree
from themeassist.errors import InputError, UndefinedStatisticWarning

try:
    from tests.conftest import shared
except ImportError:  # pragma: no cover - depends on how pytest was started
    from conftest import shared

N = None

# Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for
# Communication Departmental Papers 43, section C ("nominal data, any number of observers,
# missing data"): observers A-D (rows) x units 1-12 (columns). Same 48 cells as Gwet (2014),
# Handbook of Inter-Rater Reliability, 4th ed., Table 2.16 (R irrCAC `cac.raw4raters`).
K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


def k2011_units() -> np.ndarray:
    return np.array(list(zip(*K2011)), dtype=object)


def from_table(table) -> tuple[list, list]:
    """Two coders' ratings from a contingency table (rows: coder A, columns: coder B)."""
    a, b = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [i] * count
            b += [j] * count
    return a, b


def from_distribution(counts) -> np.ndarray:
    """Units x raters from a subjects x categories table of how many raters chose each.

    Fleiss' kappa, AC1, Brennan-Prediger and alpha depend only on these counts, not on
    which rater gave which rating.
    """
    counts = np.asarray(counts)
    return np.array([np.repeat(np.arange(counts.shape[1]), row) for row in counts])


# ---------------------------------------------------------------- published values
@pytest.mark.parametrize("level, published", [
    ("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)])
def test_krippendorff_2011_alpha_at_four_levels(level, published):
    # Krippendorff (2011), worked example C: alpha nominal .743, ordinal .815,
    # interval .849, ratio .797.
    assert agree.krippendorff_alpha(k2011_units(), level=level) == pytest.approx(
        published, abs=0.0005)


def test_krippendorff_2011_data_from_shared_matches_typed_table():
    path = shared("agreement-classics", "krippendorff2011_reliability_wide.csv")
    wide = pd.read_csv(path, index_col=0)
    units = wide.T.to_numpy(dtype=float)
    typed = k2011_units().astype(float)
    assert np.array_equal(np.isnan(units), np.isnan(typed))
    assert np.allclose(np.nan_to_num(units), np.nan_to_num(typed))
    assert agree.krippendorff_alpha(units) == pytest.approx(0.743, abs=0.0005)


def test_gwet_2014_handbook_coefficients_with_missing_ratings():
    # Gwet (2014), Handbook, 4th ed., the same 4 raters x 12 subjects with missing ratings;
    # values as printed by Gwet's R package irrCAC 1.0 README (pa.coeff.raw,
    # gwet.ac1.raw, fleiss.kappa.raw, bp.coeff.raw on cac.raw4raters):
    # pa 0.8181818, AC1 0.77544 (pe 0.1903212), Fleiss 0.76117, Brennan-Prediger 0.77273.
    u = k2011_units()
    assert agree.percent_agreement(u) == pytest.approx(0.8181818, abs=5e-8)
    assert agree.gwet_ac1(u) == pytest.approx(0.77544, abs=5e-6)
    assert agree.fleiss_kappa(u) == pytest.approx(0.76117, abs=5e-6)
    assert agree.brennan_prediger(u) == pytest.approx(0.77273, abs=5e-6)


def test_gwet_2014_three_abstractors_contingency_table():
    # Gwet (2014), Handbook: 2 abstractors x 100 pregnancies, categories Ectopic / AIU / NIU
    # (irrCAC `cont3x3abstractors`). irrCAC README: kappa 0.7964094, Scott 0.7962397,
    # AC1 0.8493305, Brennan-Prediger 0.835, alpha 0.7972585, percent agreement 0.89.
    a, b = from_table([[13, 0, 0], [0, 20, 7], [0, 4, 56]])
    assert agree.percent_agreement(a, b) == pytest.approx(0.89, abs=5e-8)
    assert agree.cohen_kappa(a, b) == pytest.approx(0.7964094, abs=5e-8)
    assert agree.scott_pi(a, b) == pytest.approx(0.7962397, abs=5e-8)
    assert agree.gwet_ac1(a, b) == pytest.approx(0.8493305, abs=5e-8)
    assert agree.brennan_prediger(a, b) == pytest.approx(0.835, abs=5e-8)
    assert agree.krippendorff_alpha(a, b) == pytest.approx(0.7972585, abs=5e-8)


# Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. Psychological
# Bulletin 76, 378-382, Table 1: 30 patients, 6 psychiatrists each, categories
# depression, personality disorder, schizophrenia, neurosis, other (number of raters per
# category). Published overall kappa .430.
FLEISS_1971 = [
    [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
    [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0], [0, 2, 0, 4, 0], [1, 0, 2, 0, 3],
    [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0], [1, 0, 0, 4, 1],
    [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
]


def test_fleiss_1971_kappa():
    assert agree.fleiss_kappa(from_distribution(FLEISS_1971)) == pytest.approx(0.430, abs=0.0005)


def test_fleiss_1971_raw_diagnoses_from_shared():
    # The same data as raw ratings (R package irr, `diagnoses`), read from ../shared.
    path = shared("agreement-classics", "irr_diagnoses_fleiss1971.csv")
    raw = pd.read_csv(path).drop(columns="subject")
    assert agree.fleiss_kappa(raw) == pytest.approx(0.430, abs=0.0005)
    assert agree.fleiss_kappa(raw) == pytest.approx(agree.fleiss_kappa(from_distribution(FLEISS_1971)))


def test_gwet_2014_six_raters_distribution():
    # Gwet (2014), Handbook (irrCAC `distrib.6raters`: the first 15 patients of Fleiss 1971).
    # irrCAC README: AC1 0.4448007, Fleiss 0.4139265, alpha 0.4204384, BP 0.4388889.
    u = from_distribution(FLEISS_1971[:15])
    assert agree.gwet_ac1(u) == pytest.approx(0.4448007, abs=5e-8)
    assert agree.fleiss_kappa(u) == pytest.approx(0.4139265, abs=5e-8)
    assert agree.krippendorff_alpha(u) == pytest.approx(0.4204384, abs=5e-8)
    assert agree.brennan_prediger(u) == pytest.approx(0.4388889, abs=5e-8)


def test_fleiss_kappa_wikipedia_fourteen_raters():
    # Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories;
    # P-bar 0.378, P_e 0.213, kappa 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
             [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
             [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    u = from_distribution(table)
    assert agree.percent_agreement(u) == pytest.approx(0.378, abs=0.0005)
    assert agree.fleiss_kappa(u) == pytest.approx(0.210, abs=0.0005)


def test_cohen_1960_example():
    # Cohen (1960), Educational and Psychological Measurement 20, 37-46, Table 1: two judges,
    # 200 units, 3 categories; p_o = .70, p_c = .41, kappa = .49.
    a, b = from_table([[88, 14, 18], [10, 40, 10], [2, 6, 12]])
    assert agree.percent_agreement(a, b) == pytest.approx(0.70)
    assert agree.cohen_kappa(a, b) == pytest.approx(0.49, abs=0.005)


@pytest.mark.parametrize("table, published", [
    # Wikipedia, "Cohen's kappa", simple example: 50 grant proposals, kappa 0.4.
    ([[20, 5], [10, 15]], 0.4),
    # Wikipedia, "Same percentages but different numbers": both p_o = 0.60,
    # kappa 0.1304 and 0.2593.
    ([[45, 15], [25, 15]], 0.1304),
    ([[25, 35], [5, 35]], 0.2593),
    # Feinstein & Cicchetti (1990), J Clin Epidemiol 43, 543-549, Table 1 paradox: both
    # p_o = .85, kappa .70 and .32.
    ([[40, 9], [6, 45]], 0.70),
    ([[80, 10], [5, 5]], 0.32),
])
def test_textbook_cohen_kappa_tables(table, published):
    a, b = from_table(table)
    digits = len(str(published).split(".")[1])
    assert agree.cohen_kappa(a, b) == pytest.approx(published, abs=0.5 * 10 ** -digits)


def test_kappa_paradox_ac1_stays_high():
    # Feinstein & Cicchetti's second table: p_o = .85 but kappa .32; AC1 (Gwet 2008) is
    # designed not to collapse: here (0.85 - pe) / (1 - pe) with pe = 2 * .875 * .125.
    a, b = from_table([[80, 10], [5, 5]])
    pe = 2 * 0.875 * 0.125
    assert agree.gwet_ac1(a, b) == pytest.approx((0.85 - pe) / (1 - pe))
    assert agree.gwet_ac1(a, b) > 0.8


def test_cohen_kappa_matches_scikit_learn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, 300)
    b = np.where(rng.random(300) < 0.6, a, rng.integers(0, 4, 300))
    assert agree.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_fleiss_kappa_matches_statsmodels_when_installed():
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    assert agree.fleiss_kappa(from_distribution(FLEISS_1971)) == pytest.approx(
        inter_rater.fleiss_kappa(np.asarray(FLEISS_1971)), abs=1e-12)


@pytest.mark.parametrize("level", agree.METRICS)
def test_alpha_matches_krippendorff_package_with_missing_data(level):
    import krippendorff

    rng = np.random.default_rng(7)
    data = rng.integers(1, 6, size=(40, 3)).astype(float)
    data[rng.random(data.shape) < 0.2] = np.nan
    assert agree.krippendorff_alpha(data, level=level) == pytest.approx(
        krippendorff.alpha(data.T, level_of_measurement=level), abs=1e-12)


def test_masi_distance_passonneau_2006():
    # Passonneau (2006): M = 1 identical, 2/3 subsumption, 1/3 overlap, 0 disjoint; MASI = J*M.
    assert agree.masi_distance({"a"}, {"a"}) == 0
    assert agree.masi_distance({"a"}, {"a", "b"}) == pytest.approx(1 - 0.5 * 2 / 3)
    assert agree.masi_distance({"a", "b"}, {"b", "c"}) == pytest.approx(1 - 1 / 3 * 1 / 3)
    assert agree.masi_distance({"a"}, {"b"}) == 1


def test_masi_alpha_on_single_labels_is_nominal_alpha():
    u = k2011_units()
    assert agree.masi_alpha(u) == pytest.approx(agree.krippendorff_alpha(u), abs=1e-12)


# ---------------------------------------------------------------- undefined outcomes (R4)
@pytest.mark.parametrize("name", ["cohen_kappa", "scott_pi", "fleiss_kappa",
                                  "krippendorff_alpha"])
def test_one_category_is_undefined_with_reason(name):
    with pytest.warns(UndefinedStatisticWarning, match="one category|all pairable"):
        value = agree.COEFFICIENTS[name](["x"] * 5, ["x"] * 5)
    assert np.isnan(value)


def test_ac1_and_bp_need_two_categories_but_handle_one_used():
    with pytest.warns(UndefinedStatisticWarning, match="q=1"):
        assert np.isnan(agree.gwet_ac1(["x"] * 4, ["x"] * 4))
    # Declared two categories, only one used: AC1 is defined and equals p_a (Gwet 2008).
    assert agree.gwet_ac1(["x"] * 4, ["x"] * 4, categories=["x", "y"]) == 1.0
    assert agree.brennan_prediger(["x"] * 4, ["x"] * 4, categories=["x", "y"]) == 1.0


def test_no_unit_rated_twice_is_undefined():
    with pytest.warns(UndefinedStatisticWarning, match="no unit was rated by two"):
        assert np.isnan(agree.percent_agreement(["a", None], [None, "b"]))


def test_cohen_kappa_needs_two_coders():
    with pytest.warns(UndefinedStatisticWarning, match="two coders, got 4"):
        assert np.isnan(agree.cohen_kappa(k2011_units()))


def test_constant_column_of_one_coder_keeps_kappa_defined():
    # One coder constant, the other not: p_e < 1, kappa defined (0 here).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert agree.cohen_kappa(["a", "a", "a", "a"], ["a", "b", "a", "b"]) == pytest.approx(0.0)


def test_missing_values_and_empty_strings_are_missing():
    a = ["x", "y", "", None, float("nan")]
    b = ["x", "y", "x", "y", "x"]
    assert agree.percent_agreement(a, b) == 1.0


# ---------------------------------------------------------------- bootstrap
def test_weighted_bootstrap_equals_recomputing_on_resampled_units():
    u = from_distribution(FLEISS_1971)
    e = agree._encode(u)
    W = next(agree.bootstrap_weights(e.n, 5, seed=1))
    for name, core in agree._CORES.items():
        if name == "cohen_kappa":
            continue
        fast = core(e, W)[0]
        for b in range(5):
            rows = np.repeat(np.arange(e.n), W[b].astype(int))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UndefinedStatisticWarning)
                slow = agree.COEFFICIENTS[name](u[rows])
            assert fast[b] == pytest.approx(slow, abs=1e-12, nan_ok=True), name


def test_cluster_bootstrap_moves_whole_clusters():
    clusters = np.array(["a", "a", "b", "b", "b", "c"])
    W = next(agree.bootstrap_weights(6, 50, seed=0, clusters=clusters))
    for code in "abc":
        block = W[:, clusters == code]
        assert (block == block[:, :1]).all()


# ---------------------------------------------------------------- codings -> matrix
def codings_frame(rows, coders=("ann", "bob")):
    df = pd.DataFrame(rows, columns=["segment_id", "coder", "theme", "valence", "subtheme"])
    return df


@pytest.fixture
def two_coders(tiny_segments):
    rows = [
        ("fg1:0001", "ann", "Funding", "success", "Grant secured"),
        ("fg1:0002", "ann", "Mental health", "success", "Peer support"),
        ("fg1:0002", "ann", "Funding", "success", "Grant secured"),
        ("fg2:0001", "ann", "Funding", "challenge", "Short-term funding"),
        ("fg1:0001", "bob", "Funding", "success", "Grant secured"),
        ("fg1:0002", "bob", "Mental health", "success", "Peer support"),
        ("fg2:0002", "bob", "Mental health", "challenge", "Long waiting lists"),
    ]
    return codings_frame(rows), tiny_segments


def test_reliability_matrix_none_and_combinations(two_coders):
    codings, segments = two_coders
    m = agree.reliability_matrix(codings, segments)
    assert list(m.columns) == ["ann", "bob"]
    assert list(m.index) == list(segments["segment_id"])
    assert m.loc["fg1:0000", "ann"] == "none"
    assert m.loc["fg1:0002", "ann"] == "Funding + Mental health"
    assert m.loc["fg2:0002", "ann"] == "none" and m.loc["fg2:0002", "bob"] == "Mental health"
    coded = agree.reliability_matrix(codings, segments, coded_only=True)
    assert list(coded.index) == ["fg1:0001", "fg1:0002", "fg2:0001", "fg2:0002"]
    valence = agree.reliability_matrix(codings, segments, level="valence")
    assert valence.loc["fg2:0001", "ann"] == "challenge"
    code = agree.reliability_matrix(codings, segments, level="code")
    assert code.loc["fg1:0001", "bob"] == "Funding / success / Grant secured"


def test_report_has_design_keys_and_is_json(two_coders):
    from themeassist import io

    codings, segments = two_coders
    r = agree.agreement_report(codings, segments, n_boot=200, seed=1)
    for key in ("n_units", "coders", "level", "percent_agreement", "cohen_kappa", "scott_pi",
                "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "brennan_prediger", "ci",
                "per_code", "q", "masi_alpha", "undefined"):
        assert key in r
    assert r["n_units"] == 6 and r["coders"] == ["ann", "bob"]
    m = agree.reliability_matrix(codings, segments)
    assert r["percent_agreement"] == pytest.approx(agree.percent_agreement(m))
    assert r["cohen_kappa"] == pytest.approx(agree.cohen_kappa(m))
    assert r["q"] == m.stack().nunique()
    for name, ci in r["ci"].items():
        if r[name] is not None:
            assert ci[0] <= r[name] + 1e-9 and r[name] - 1e-9 <= ci[1], name
    assert json.loads(io.json_dumps(r))["n_units"] == 6
    codes = {row["code"]: row for row in r["per_code"]}
    assert codes["Funding"]["n_ann"] == 3 and codes["Funding"]["n_bob"] == 1
    assert codes["Funding"]["both"] == 1 and codes["Funding"]["either"] == 3
    assert codes["Funding"]["positive_agreement"] == pytest.approx(2 * 1 / (2 * 1 + 2))


def test_report_is_reproducible_and_seeded(two_coders):
    codings, segments = two_coders
    a = agree.agreement_report(codings, segments, n_boot=100, seed=4)
    b = agree.agreement_report(codings, segments, n_boot=100, seed=4)
    c = agree.agreement_report(codings, segments, n_boot=100, seed=5)
    assert a == b
    assert a["ci"] != c["ci"]


def test_coded_only_changes_the_units(two_coders):
    codings, segments = two_coders
    full = agree.agreement_report(codings, segments, n_boot=0)
    coded = agree.agreement_report(codings, segments, coded_only=True, n_boot=0)
    assert (full["n_units"], coded["n_units"]) == (6, 4)
    assert full["percent_agreement"] > coded["percent_agreement"]


def test_more_than_two_coders_gives_null_cohen_kappa(two_coders):
    codings, segments = two_coders
    third = codings[codings.coder == "bob"].assign(coder="cat")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedStatisticWarning)
        r = agree.agreement_report(pd.concat([codings, third]), segments, n_boot=0)
    assert r["cohen_kappa"] is None and "two coders" in r["undefined"]["cohen_kappa"]
    assert r["fleiss_kappa"] is not None


def test_report_constant_columns_reports_reason_not_crash(tiny_segments):
    rows = [(s, c, "Funding", "", "") for s in tiny_segments.segment_id for c in ("ann", "bob")]
    with pytest.warns(UndefinedStatisticWarning):
        r = agree.agreement_report(codings_frame(rows), tiny_segments, n_boot=20)
    assert r["percent_agreement"] == 1.0
    assert r["cohen_kappa"] is None and "one category" in r["undefined"]["cohen_kappa"]
    assert r["krippendorff_alpha"] is None and r["ci"]["krippendorff_alpha"] is None


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c[c.coder == "ann"], "two or more coders"),
    (lambda c: c.assign(segment_id=c.segment_id.where(c.index != 3, "fg9:0001")),
     "segment not in the corpus"),
])
def test_bad_codings_are_input_errors(two_coders, mutate, message):
    codings, segments = two_coders
    with pytest.raises(InputError, match=message):
        agree.agreement_report(mutate(codings), segments, n_boot=0)


def test_expected_coder_without_codings_is_an_error(two_coders):
    codings, segments = two_coders
    with pytest.raises(InputError, match="'cat' has no codings"):
        agree.reliability_matrix(codings, segments, coders=["ann", "bob", "cat"])


def test_coders_sharing_no_segment_without_corpus_is_an_error():
    rows = [("s1", "ann", "x", "", ""), ("s2", "bob", "x", "", "")]
    with pytest.raises(InputError, match="share no segment"):
        agree.agreement_report(codings_frame(rows), n_boot=0)


def test_disagreements_most_confident_first(two_coders):
    codings, segments = two_coders
    machine = codings[codings.coder == "bob"].assign(coder="model:m", confidence=[0.2, 0.9, 0.7])
    human = codings[codings.coder == "ann"]
    d = agree.disagreements(pd.concat([human, machine]), segments)
    assert list(d.columns[:4]) == ["segment_id", "transcript_id", "question", "text"]
    assert list(d["segment_id"]) == ["fg1:0002", "fg2:0002", "fg2:0001"]
    assert d["confidence"].iloc[0] == 0.9 and np.isnan(d["confidence"].iloc[-1])
    assert d["text"].iloc[1] == "Waiting lists for counselling are months long."


def test_confusion_counts_units(two_coders):
    codings, segments = two_coders
    t = agree.confusion(codings, segments)
    assert t.to_numpy().sum() == 6
    assert t.loc["none", "none"] == 2 and t.loc["Funding", "Funding"] == 1
    assert t.index[-1] == "none" and t.index.name == "ann" and t.columns.name == "bob"


def test_matrix_report_krippendorff_2011():
    m = pd.DataFrame(k2011_units(), columns=list("ABCD"),
                     index=[f"u{i}" for i in range(1, 13)]).fillna("")
    for metric, published in (("nominal", 0.743), ("interval", 0.849)):
        r = agree.matrix_report(m, metric, n_boot=50)
        assert r["krippendorff_alpha"] == pytest.approx(published, abs=0.0005)
        assert r["n_units"] == 12 and r["cohen_kappa"] is None


def test_matrix_report_rejects_text_for_interval():
    m = pd.DataFrame({"A": ["1", "two"], "B": ["1", "2"]})
    with pytest.raises(InputError, match="interval alpha needs numbers") as err:
        agree.matrix_report(m, "interval", n_boot=0)
    assert err.value.row == 3 and err.value.column == "A"


def test_figures_return_figures(two_coders):
    from matplotlib.figure import Figure

    from themeassist.report import agree_figures

    codings, segments = two_coders
    r = agree.agreement_report(codings, segments, n_boot=50)
    assert isinstance(agree_figures.confusion_heatmap(agree.confusion(codings, segments)), Figure)
    assert isinstance(agree_figures.coefficients_figure(r), Figure)
    assert isinstance(agree_figures.per_code_figure(pd.DataFrame(r["per_code"])), Figure)


@pytest.mark.parametrize("extra_coder", [False, True])
def test_per_code_values_equal_the_coefficients_on_presence(two_coders, extra_coder):
    codings, segments = two_coders
    if extra_coder:
        codings = pd.concat([codings, codings[codings.coder == "ann"].assign(coder="cat")])
    sets = agree.set_matrix(codings, segments)
    table = agree.per_code_agreement(sets, n_boot=100, seed=0).set_index("code")
    for code in ("Funding", "Mental health"):
        present = np.column_stack([[code in cell for cell in sets[c]] for c in sets.columns])
        present = present.astype(int)
        kappa = agree.cohen_kappa if present.shape[1] == 2 else agree.fleiss_kappa
        assert table.loc[code, "kappa"] == pytest.approx(kappa(present))
        assert table.loc[code, "ac1"] == pytest.approx(agree.gwet_ac1(present, categories=[0, 1]))
        low, high = table.loc[code, "kappa_low"], table.loc[code, "kappa_high"]
        assert low <= table.loc[code, "kappa"] + 1e-9 <= high + 2e-9


def test_masi_alpha_hand_computed():
    # Values {a} (2 pairable), {a,b} (3), {b} (1); one disagreeing pair ({b},{a,b}) with
    # MASI 1 - 1/2 * 2/3 = 2/3. D_o = 2 * (2/3) / 6; D_e = (2*3*2/3 + 2*1*1 + 3*1*2/3) * 2
    # / (6 * 5); alpha = 1 - D_o / D_e = 1 - (2/9) / (16/30) = 7/12.
    cells = [[("a",), ("a",)], [("a", "b"), ("a", "b")], [("b",), ("a", "b")]]
    assert agree.masi_alpha(cells) == pytest.approx(7 / 12)


def test_report_masi_alpha_sees_partial_agreement_on_multi_code_units(two_coders):
    codings, segments = two_coders
    r = agree.agreement_report(codings, segments, n_boot=0)
    # fg1:0002: ann {Funding, Mental health}, bob {Mental health}: a disagreement for the
    # combination-category alpha, a partial one for MASI.
    assert r["multi_code_units"] == 1
    assert r["masi_alpha"] > r["krippendorff_alpha"]


@pytest.mark.parametrize("fixture, level, column_pair, expected", [
    # ../shared/data/agreement-classics/expected_values.csv (computed there with the
    # krippendorff package 0.9.0 and scikit-learn 1.9.1; not published values).
    ("irr_diagnoses_fleiss1971.csv", "nominal", None, 0.4334),
    ("irr_anxiety.csv", "interval", None, 0.1701),
    ("irr_video.csv", "interval", None, 0.1089),
    ("irr_anxiety.csv", "cohen", ("rater1", "rater2"), 0.1195),
])
def test_shared_irr_rating_sets(fixture, level, column_pair, expected):
    table = pd.read_csv(shared("agreement-classics", fixture)).iloc[:, 1:]
    if level == "cohen":
        value = agree.cohen_kappa(table[column_pair[0]], table[column_pair[1]])
    else:
        value = agree.krippendorff_alpha(table, level=level)
    assert value == pytest.approx(expected, abs=0.00005)


def test_bootstrap_samples_are_the_reports_resamples():
    # One coefficient's bootstrap samples, for the review loop's interval: the same seeded
    # resamples and core as the report's confidence interval.
    rng = np.random.default_rng(3)
    a = rng.choice(["x", "y", "z"], size=60)
    b = np.where(rng.random(60) < 0.7, a, rng.choice(["x", "y", "z"], size=60))
    matrix = pd.DataFrame({"A": a, "B": b}, index=[f"u{i}" for i in range(60)])
    report = agree.matrix_report(matrix, n_boot=300, seed=5)
    for name in ("cohen_kappa", "gwet_ac1"):
        samples = agree.bootstrap_samples(name, a, b, n_boot=300, seed=5)
        assert samples.shape == (300,)
        assert agree.percentile_ci(samples) == pytest.approx(report["ci"][name])
    other_seed = agree.bootstrap_samples("cohen_kappa", a, b, n_boot=300, seed=6)
    assert not np.array_equal(other_seed, agree.bootstrap_samples("cohen_kappa", a, b,
                                                                   n_boot=300, seed=5))
    with pytest.raises(InputError, match="unknown agreement coefficient"):
        agree.bootstrap_samples("kappa", a, b, n_boot=3)
