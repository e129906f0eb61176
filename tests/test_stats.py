"""Content-analysis statistics (issue 3): published figures, the 50% rule, a hand-computed
three-group fixture, undefined statistics and bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from themeassist import io, stats, tables
from themeassist.errors import InputError, UndefinedStatisticWarning

try:
    from conftest import shared
except ImportError:  # pytest --import-mode=importlib
    from tests.conftest import shared

FIX = Path(__file__).resolve().parent / "fixtures" / "stats"

# Thomson, Waterson & Chatterjee (2024), Int J Equity Health 23, 135,
# doi:10.1186/s12939-024-02216-1, content analysis (Appendix 1 and the text):
# codes per theme, percent of all 323 codes, and the major/minor classification.
PUBLISHED = [
    ("Research evidence", 52, 16.10, "major"),
    ("Funding", 40, 12.38, "major"),
    ("Relationships with partners", 33, 10.22, "major"),
    ("Health inequalities and deprivation", 32, 9.91, "major"),
    ("Community involvement", 32, 9.91, "major"),
    ("Health service and integrated care systems", 30, 9.29, "major"),
    ("Link workers and social prescribing", 23, 7.12, "minor"),
    ("Training and support", 19, 5.88, "minor"),
    ("Place-based factors", 18, 5.57, "minor"),
    ("Longevity of programmes", 16, 4.95, "minor"),
    ("Setting up and scaling up programmes", 16, 4.95, "minor"),
    ("Mental health", 12, 3.72, "minor"),
]

# Same article, Figs 1-8 / Tables 2-9: the themes selected per question by the 50% rule,
# with their published mean shares (percent of the question's codes).
PUBLISHED_SELECTIONS = {
    "1": {"Relationships with partners": 28.70, "Research evidence": 25.68},
    "2": {"Research evidence": 29.52, "Funding": 21.45},
    "3": {"Longevity of programmes": 32.46, "Funding": 17.94},
    "4": {"Health service and integrated care systems": 67.43},
    "5": {"Health inequalities and deprivation": 95.17},
    "6": {"Research evidence": 35.04, "Health inequalities and deprivation": 28.41},
    "7": {"Community involvement": 35.42, "Place-based factors": 16.83},
    "8": {"Research evidence": 18.59, "Health inequalities and deprivation": 14.48,
          "Mental health": 12.36, "Community involvement": 11.72},
}


def published_codings() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Theme-level codings that reproduce the published counts, and a 12-theme codebook."""
    codebook = pd.DataFrame({"theme": [t for t, *_ in PUBLISHED], "valence": "", "subtheme": ""})
    codings = pd.DataFrame({"theme": [t for t, n, *_ in PUBLISHED for _ in range(n)],
                            "valence": "", "subtheme": ""})
    return codings, codebook


@pytest.fixture
def book() -> pd.DataFrame:
    return io.read_codebook(FIX / "codebook.csv")


@pytest.fixture
def segments() -> pd.DataFrame:
    return io.read_segments(FIX / "segments.csv")


@pytest.fixture
def human(book, segments) -> pd.DataFrame:
    return io.read_codings(FIX / "human.csv", book, segments)


@pytest.fixture
def machine(book, segments) -> pd.DataFrame:
    return io.read_codings(FIX / "machine.csv", book, segments)


def quiet_run(*args, **kwargs) -> stats.StatsResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedStatisticWarning)
        return stats.run(*args, **kwargs)


# --------------------------------------------------------------------------- published figures
def test_describe_reproduces_thomson_2024_from_the_published_counts():
    # Thomson, Waterson & Chatterjee (2024): 323 codes, 12 themes, mean 26.92,
    # median 26.50, SD 11.74, range 40.00, six major and six minor themes.
    counts = pd.Series({t: n for t, n, *_ in PUBLISHED})
    s = stats.describe(counts)
    assert s["total_codes"] == 323 and s["n_themes"] == 12 and s["range"] == 40
    assert s["mean"] == pytest.approx(26.92, abs=0.005)
    assert s["median"] == pytest.approx(26.50, abs=0.005)
    assert s["sd"] == pytest.approx(11.74, abs=0.005)
    assert s["major"] == sorted(t for t, _, _, k in PUBLISHED if k == "major")
    assert s["minor"] == sorted(t for t, _, _, k in PUBLISHED if k == "minor")
    assert s["ties_at_mean"] == [] and "minor" in s["tie_rule"]


def test_theme_counts_reproduce_the_twelve_published_percents():
    # Same source: the twelve percents to two decimals, in the article's order.
    codings, codebook = published_codings()
    tc = stats.theme_counts(codings, codebook)
    assert tc["theme"].tolist() == [t for t, *_ in PUBLISHED]
    assert tc["codes"].tolist() == [n for _, n, *_ in PUBLISHED]
    assert tc["type"].tolist() == [k for *_, k in PUBLISHED]
    np.testing.assert_allclose(tc["percent"], [p for _, _, p, _ in PUBLISHED], atol=0.005)


def test_run_on_the_bundled_reference_codebook_reproduces_the_study():
    # The bundled codebook is Appendix 1 of the article with its codes_in_paper column.
    cb = io.default_codebook()
    counts = cb.drop_duplicates("theme").set_index("theme")["codes_in_paper"].astype(int)
    codings = pd.DataFrame({"theme": np.repeat(counts.index, counts.to_numpy())})
    result = stats.run(codings.assign(valence="", subtheme=""), cb)
    assert result.summary["total_codes"] == 323
    assert result.summary["sd"] == pytest.approx(11.74, abs=0.005)
    assert result.summary["major"] == sorted(cb.loc[cb.theme_type == "major", "theme"].unique())
    # Appendix 1 with every codebook subtheme: 185 subthemes, major themes first.
    app = stats.appendix_table(codings.assign(valence="", subtheme=""), cb, used_only=False)
    assert (app["n_successes"] + app["n_challenges"]).sum() == 185
    assert app["type"].tolist() == ["major"] * 6 + ["minor"] * 6


def test_describe_on_shared_reference_codebook():
    # STYLE R3 as written, on ../shared (skips cleanly without it).
    cb = pd.read_csv(shared("reference-study", "codebook.csv"))
    counts = cb.drop_duplicates("theme").set_index("theme")["codes_in_paper"]
    s = stats.describe(counts)
    assert s["total_codes"] == 323 and s["range"] == 40
    assert s["mean"] == pytest.approx(26.92, abs=0.005)
    assert s["median"] == pytest.approx(26.50, abs=0.005)
    assert s["sd"] == pytest.approx(11.74, abs=0.005)
    assert s["major"] == sorted(cb.loc[cb.theme_type == "major", "theme"].unique())


def test_mannheimer_refs_per_theme_give_consent_privacy_context_major():
    # Mannheimer (2023), QDR doi:10.5064/F6GWMU4O, codebook refs summed per theme
    # (PROVENANCE.md): 816 refs, mean 90.7; consent, privacy and context are major.
    cb = pd.read_csv(shared("interview-codebook", "mannheimer_codebook.csv"))
    s = stats.describe(cb.groupby("theme", sort=False)["refs"].sum())
    assert s["total_codes"] == 816
    assert s["mean"] == pytest.approx(90.7, abs=0.05)
    assert s["major"] == ["consent", "context", "privacy"]


# --------------------------------------------------------------------------- 50% rule
@pytest.mark.parametrize("question", sorted(PUBLISHED_SELECTIONS))
def test_half_rule_reproduces_each_published_selection(question):
    # The published shares of the selected themes; the other themes share the rest of
    # the question's codes evenly (each below the last selected share, as printed).
    chosen = PUBLISHED_SELECTIONS[question]
    others = [t for t, *_ in PUBLISHED if t not in chosen]
    rest = (100 - sum(chosen.values())) / len(others)
    assert rest < min(chosen.values())
    shares = pd.Series({**{t: rest for t in others}, **chosen})  # selected ones last
    assert stats.select_half(shares) == list(chosen)


def test_half_rule_takes_the_shortest_prefix_and_stops_at_exactly_fifty():
    assert stats.select_half(pd.Series({"A": 35.04, "B": 28.41, "C": 20, "D": 16.55})) == ["A", "B"]
    assert stats.select_half(pd.Series({"A": 50.0, "B": 50.0})) == ["A"]
    assert stats.select_half(pd.Series({"A": 0.0, "B": 0.0})) == []


# --------------------------------------------------------------------------- three-group fixture
def test_dedupe_counts_a_participants_repeat_once(human, segments):
    kept, removed = stats.dedupe(human, segments, "question")
    # Ann says "Short-term funding" twice on question 1 (fg1:0001, fg1:0002): once.
    assert removed == 1
    assert "fg1:0002" not in set(kept["segment_id"]) and len(kept) == 15
    # Cat says it too, and two speakerless fg3 segments share a code: each counted.
    assert {"fg1:0004", "fg3:0002", "fg3:0003"} <= set(kept["segment_id"])
    kept_t, removed_t = stats.dedupe(human, segments, "transcript")
    # Eve's "Grant secured" on questions 1 and 2 merges only at transcript scope.
    assert removed_t == 2 and "fg2:0002" not in set(kept_t["segment_id"])
    assert stats.dedupe(human, segments, "none")[1] == 0
    assert list(human.columns) == list(kept.columns)  # the input is not changed


def test_theme_counts_on_fixture_include_an_uncoded_theme(human, book, segments):
    r = quiet_run(human, book, segments)
    # Hand count after de-duplication: Funding 6, Mental health 5, Place 4, Training 0.
    tc = r.theme_counts.set_index("theme")
    assert tc["codes"].to_dict() == {"Funding": 6, "Mental health": 5, "Place": 4, "Training": 0}
    assert tc["percent"].tolist() == [40.0, 33.33, 26.67, 0.0]
    s = r.summary
    # mean 15/4 = 3.75; median (4+5)/2; SD sqrt(20.75/3) = 2.6300; range 6.
    assert (s["total_codes"], s["mean"], s["median"], s["range"]) == (15, 3.75, 4.5, 6)
    assert s["sd"] == pytest.approx(2.6300, abs=5e-5)
    assert s["major"] == ["Funding", "Mental health", "Place"] and s["minor"] == ["Training"]
    assert s["duplicates_removed"] == 1 and s["codes_before_dedup"] == 16


def test_per_question_matches_the_hand_computation(human, book, segments):
    with pytest.warns(UndefinedStatisticWarning, match=r"question\(s\) 3 had one"):
        r = stats.run(human, book, segments)
    pq = r.per_question.set_index(["question", "theme"])
    # Question 1, groups' shares (Funding, Mental health, Place):
    #   fg1 3/4, 1/4, 0 -> 75, 25, 0;  fg2 1/2, 0, 1/2 -> 50, 0, 50;
    #   fg3 1/4, 1/4, 2/4 -> 25, 25, 50.
    # Means 50.00, 16.67, 33.33; SD (n-1) 25.00, 14.43, 28.87.
    q1 = pq.loc["1"]
    assert q1.loc[["Funding", "Mental health", "Place", "Training"], "percent"].tolist() == \
        [50.0, 16.67, 33.33, 0.0]
    assert q1.loc[["Funding", "Mental health", "Place"], "sd"].tolist() == [25.0, 14.43, 28.87]
    assert (q1["groups"] == 3).all()
    assert q1.index[q1["selected"]].tolist() == ["Funding"]  # exactly 50% is enough
    # Question 2: fg3 has a segment but no code, so it is not one of the groups:
    #   fg1 MH 2/2 -> 100;  fg2 Funding 1/2, MH 1/2 -> 50, 50.  Means 75, 25; SD 35.36.
    q2 = pq.loc["2"]
    assert (q2["groups"] == 2).all()
    assert q2.loc["Mental health", "percent"] == 75.0 and q2.loc["Funding", "percent"] == 25.0
    assert q2.loc["Mental health", "sd"] == q2.loc["Funding", "sd"] == 35.36
    assert q2.index[q2["selected"]].tolist() == ["Mental health"]
    # Question 3: only fg1 (Place 1/1): SD undefined, blank.
    q3 = pq.loc["3"]
    assert q3.loc["Place", "percent"] == 100.0 and q3["sd"].isna().all()
    assert r.selected == {"1": ["Funding"], "2": ["Mental health"], "3": ["Place"]}
    # Per-group shares are available too, and each group's shares sum to 100.
    gs = r.group_shares
    assert sorted(gs.loc[gs.question == "2", "group"].unique()) == ["fg1", "fg2"]
    assert gs.groupby(["question", "group"])["percent"].sum().round(9).eq(100).all()


def test_sd_over_one_group_is_blank_with_a_warning():
    codings = pd.DataFrame({"theme": ["A", "B"], "transcript_id": ["g1", "g1"],
                            "question": ["1", "1"]})
    with pytest.warns(UndefinedStatisticWarning, match="needs two groups"):
        pq = stats.per_question(codings, None, pd.DataFrame({"theme": ["A", "B"]}))
    assert pq["sd"].isna().all() and pq["percent"].tolist() == [50.0, 50.0]


def test_top_subthemes_quote_human_in_document_order(human, book, segments):
    r = quiet_run(human, book, segments)
    top = r.top_subthemes
    q1 = top[(top.question == "1") & (top.theme == "Funding")]
    # Short-term funding: fg1:0001, fg1:0004, fg3:0000 (fg1:0002 is Ann's repeat) = 3;
    # Grant secured: fg1:0003, fg2:0000 = 2.
    assert q1[["subtheme", "codes", "rank"]].values.tolist() == [
        ["Short-term funding", 3, 1], ["Grant secured", 2, 2]]
    assert q1["quotes"].iat[0] == ["Funding is always short-term here.",
                                   "Short-term funding kills projects."]
    assert set(top["theme"] + top["question"]) == {"Funding1", "Mental health2", "Place3"}


def test_top_subthemes_quote_machine_most_confident_first(machine, book, segments):
    r = quiet_run(machine, book, segments)
    top = r.top_subthemes
    q1 = top[(top.question == "1") & (top.theme == "Funding")]
    # Both subthemes have 3 codes: alphabetical; quotes by confidence (0.97, 0.83).
    assert q1["subtheme"].tolist() == ["Grant secured", "Short-term funding"]
    assert q1["quotes"].iat[1] == ["Short-term funding kills projects.", "Short-term money again."]
    assert q1["quote_segments"].iat[0] == ["fg1:0003", "fg2:0000"]  # 0.90, 0.85


def test_appendix_lists_used_subthemes_alphabetically_by_valence(human, book, segments):
    app = quiet_run(human, book, segments).appendix.set_index("theme")
    assert app.index.tolist() == ["Funding", "Mental health", "Place", "Training"]
    assert app.loc["Funding", "successes"] == "Grant secured"
    assert app.loc["Funding", "challenges"] == "Short-term funding"
    assert app.loc["Mental health", ["n_successes", "n_challenges"]].tolist() == [1, 1]
    assert app.loc["Training", "codes"] == 0 and app.loc["Training", "successes"] == ""


def test_compare_human_and_machine(human, machine, book, segments):
    res = {"human": quiet_run(human, book, segments),
           "machine": quiet_run(machine, book, segments)}
    cmp = stats.compare(res)
    # Machine: Funding 7, MH 5, Place 3, Training 0 -> mean 3.75, Place falls to minor.
    counts = cmp["counts"].set_index("theme")
    assert counts["machine_codes"].tolist() == [7, 5, 3, 0]
    assert counts.loc["Place", ["human_type", "machine_type"]].tolist() == ["major", "minor"]
    assert cmp["pairs"][0]["only_reference"] == ["Place"]
    assert cmp["pairs"][0]["spearman_rho"] == pytest.approx(1.0)
    assert cmp["selected"]["identical"].all()
    assert cmp["verdict"] == ("major themes differ (2 of 3 shared); selected themes identical "
                              "on 3 of 3 questions; Spearman rho = 1.00")


def test_run_all_splits_a_coder_column(human, machine, book, segments):
    both = pd.concat([human, machine], ignore_index=True)
    with pytest.warns(UndefinedStatisticWarning, match=r"question\(s\) 3 had one"):
        res = stats.run_all(both, book, segments)
    assert list(res) == ["human", "machine"]
    assert res["machine"].summary["total_codes"] == 15
    with pytest.raises(InputError, match="one coder"):
        stats.run(both, book, segments)


def test_without_corpus_per_question_is_skipped_and_said(human, book):
    r = stats.run(human, book)
    assert r.per_question is None and r.top_subthemes is None
    assert set(r.skipped) == {"dedupe", "per_question", "top_subthemes"}
    assert "corpus" in r.skipped["per_question"]
    assert r.summary["total_codes"] == 16 and r.summary["dedup_scope"] == "none"


# --------------------------------------------------------------------------- bad input
def test_unknown_code_names_code_and_row(book):
    codings = pd.DataFrame({"segment_id": ["a", "b"], "theme": ["Funding", "Funding"],
                            "valence": ["challenge", "challenge"],
                            "subtheme": ["Short-term funding", "Long-term fundng"]})
    with pytest.raises(InputError) as err:
        stats.run(codings, book)
    assert err.value.row == 3 and "Long-term fundng" in str(err.value)


def test_codings_missing_from_corpus_say_which(human, segments, book):
    codings = human.assign(segment_id=human["segment_id"].replace(
        {"fg1:0001": "fg9:0001", "fg2:0003": "fg9:0003"}))
    with pytest.raises(InputError) as err:
        stats.run(codings, book, segments)
    assert "'fg9:0001', 'fg9:0003'" in str(err.value) and "2 segment(s)" in str(err.value)


def test_unknown_dedup_scope_is_refused(human, segments):
    with pytest.raises(InputError, match="scope"):
        stats.dedupe(human, segments, "speaker")


def test_percent_of_no_codes_is_undefined(book):
    empty = pd.DataFrame({"theme": pd.Series(dtype=str)})
    with pytest.warns(UndefinedStatisticWarning):
        tc = stats.theme_counts(empty, book)
    assert tc["percent"].isna().all() and (tc["codes"] == 0).all()
    assert (tc["type"] == "minor").all()


def test_tables_validator_agrees_with_fixture(book):
    # The fixture's codes are all in its codebook (guards the fixture itself).
    raw = io.read_table(FIX / "human.csv")
    assert len(tables.validate_codings(raw, book)) == 16


# --------------------------------------------------------------------------- figures
def test_theme_frequency_figure_marks_mean_and_major(human, book, segments):
    from matplotlib.colors import to_hex

    from themeassist.report import stats_figures
    from themeassist.report.style import MAJOR_COLOUR, MINOR_COLOUR

    r = quiet_run(human, book, segments)
    ax = stats_figures.theme_frequency(r.theme_counts, r.summary).axes[0]
    colours = [to_hex(p.get_facecolor()) for p in ax.patches[:4]]
    assert colours == [MAJOR_COLOUR.lower()] * 3 + [MINOR_COLOUR.lower()]
    assert [ln.get_xdata()[0] for ln in ax.get_lines()] == [3.75]  # the mean


def test_question_figure_has_sd_error_bars_and_selected_marked(human, book, segments):
    from matplotlib.colors import to_hex

    from themeassist.report import stats_figures
    from themeassist.report.style import MAJOR_COLOUR

    r = quiet_run(human, book, segments)
    ax = stats_figures.question_shares(r.per_question, "1").axes[0]
    bars = ax.patches[:3]  # Funding, Place, Mental health (share > 0)
    assert [round(b.get_width(), 2) for b in bars] == [50.0, 33.33, 16.67]
    assert to_hex(bars[0].get_facecolor()) == MAJOR_COLOUR.lower()
    assert to_hex(bars[1].get_facecolor()) != MAJOR_COLOUR.lower()
    err = ax.containers[0].lines[2][0].get_segments()  # the ErrorbarContainer's bars
    # Each bar spans 2 SD of the table (25.00, 28.87, 14.43).
    assert [round(s[1][0] - s[0][0], 2) for s in err] == [50.0, 57.74, 28.86]
    fig = stats_figures.compare_counts(stats.compare(
        {"human": r, "machine": r})["counts"], ["human", "machine"])
    assert len(fig.axes[0].patches) == 8


def test_not_codable_markers_are_not_codes_and_review_can_be_excluded(machine, book, segments):
    # A labeller may add rows with an empty theme for segments it judged not codable, and
    # marks low-confidence codes needs_review.
    marked = pd.concat([machine.assign(needs_review=machine["confidence"] < 0.6),
                        pd.DataFrame({"segment_id": ["fg1:0000"], "coder": ["machine"],
                                      "theme": [""], "valence": [""], "subtheme": [""],
                                      "confidence": [np.nan], "needs_review": [True]})],
                       ignore_index=True)
    r = quiet_run(marked, book, segments)
    assert r.summary["total_codes"] == 15 and r.summary["uncoded_rows"] == 1
    r = quiet_run(marked, book, segments, exclude_review=True)
    # fg3:0003 (Grant secured, 0.52) is the only code below 0.6.
    assert r.summary["review_excluded"] == 1 and r.summary["total_codes"] == 14
    assert r.theme_counts.set_index("theme").loc["Funding", "codes"] == 6


def test_a_corpus_without_questions_skips_per_question_and_says_why(human, book, segments):
    r = stats.run(human, book, segments.assign(question=""))
    assert r.per_question is None and "question" in r.skipped["per_question"]
    # Every segment's question is the same (empty): question scope merges as transcript
    # scope does (Ann's repeat and Eve's across questions).
    assert r.summary["duplicates_removed"] == 2
