"""Inductive discovery (issue 9): selection, stability helpers, determinism, codebook, small data."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from themeassist import discover as D
from themeassist import text as vocab
from themeassist.errors import InputError, LittleDataWarning
from themeassist.tables import validate_codebook, validate_segments

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def corpus(fixtures_dir):
    df = pd.read_csv(fixtures_dir / "corpus.csv", dtype=str, keep_default_na=False)
    topic = df.pop("topic")
    seg = validate_segments(df)
    seg["topic"] = topic.to_numpy()
    return seg


@pytest.fixture(scope="module")
def codebook(fixtures_dir):
    return validate_codebook(pd.read_csv(fixtures_dir / "codebook.csv", dtype=str,
                                         keep_default_na=False))


@pytest.fixture(scope="module")
def fixtures_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent / "fixtures" / "discover"


@pytest.fixture(scope="module")
def embedder():
    from themeassist.embed import Embedder

    return Embedder(cache=False, show_progress=False)


@pytest.fixture(scope="module")
def embedded(corpus, codebook, embedder):
    return (embedder.embed(corpus["text"].tolist()),
            embedder.embed(D.codebook_texts(codebook)))


@pytest.fixture(scope="module")
def result(corpus, codebook, embedded):
    emb, book_emb = embedded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LittleDataWarning)
        return D.discover(corpus, emb, codebook=codebook, codebook_embeddings=book_emb,
                          seed=3, runs=3, n_candidates=4)


# --------------------------------------------------------------------------- pure parts


def test_fillers_short_and_facilitators_are_set_aside_and_counted(corpus, result):
    reason = D.select_segments(corpus)
    assert set(reason[corpus["role"] == "facilitator"]) == {"not a participant"}
    fillers = corpus["text"].isin(["Yeah.", "Okay, next one.", "Right, okay.", "No.",
                                   "Mm-hmm, yeah yeah.", "Sure, sure."])
    assert set(reason[fillers]) == {"filler"}
    assert (reason[corpus["topic"] != ""] == "").all()  # every content segment is clustered
    d = result.diagnostics
    assert d["set_aside"]["not a participant"] == int((corpus["role"] == "facilitator").sum())
    assert d["set_aside"]["filler"] == int(fillers.sum())
    assert d["n_clustered"] + d["n_set_aside"] == d["n_segments"] == len(corpus)
    # Set-aside segments are listed, not dropped.
    a = result.assignments
    assert len(a) == len(corpus)
    assert (a.loc[a["set_aside"] != "", "candidate_id"] == -1).all()


def test_short_segments_use_min_words():
    seg = pd.DataFrame({"text": ["Export was simple.", "The export button was simple to use."]})
    assert D.select_segments(seg, min_words=4).tolist() == ["short", ""]
    assert D.select_segments(seg, min_words=0).tolist() == ["", ""]


def test_vocabulary_drops_fillers_and_lemmatises():
    terms = vocab.analyse(["Yeah so, um, the waiting lists were like really long, you know."])[0]
    assert "yeah" not in terms and "um" not in terms and "like" not in terms
    assert "waiting list" in terms or "wait list" in terms
    assert vocab.make_label(["list", "waiting list", "month"]) == "waiting list: month"


def test_settings_grow_with_corpus_size():
    small, mid, large = (D.settings_for_size(n) for n in (40, 2000, 10000))
    assert small["n_candidates"] >= 3  # small corpora still give several candidates
    assert small["n_candidates"] < mid["n_candidates"] < large["n_candidates"]
    assert small["n_neighbors"] <= mid["n_neighbors"]


def test_best_match_jaccard_and_ari_on_identical_partitions():
    lab = np.array([0, 0, 1, 1, 2, 2])
    relabelled = np.array([5, 5, 3, 3, 9, 9])
    assert D.best_match_jaccard(lab, relabelled).tolist() == [1.0, 1.0, 1.0]
    assert D.pairwise_ari([lab, relabelled, lab]) == pytest.approx([1.0, 1.0, 1.0])


def test_consensus_recovers_the_majority_partition():
    truth = np.repeat([0, 1, 2], 10)
    noisy = truth.copy()
    noisy[[0, 15]] = [1, 2]  # one run disagrees on two segments
    out = D.consensus([truth, truth, noisy], 3)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth, out) == 1.0


def test_reassign_keeps_far_segments_unassigned():
    x = np.array([[1.0, 0, 0], [0.99, 0.1, 0], [0, 1.0, 0], [0.1, 0.99, 0], [0.7, 0.7, 0],
                  [0, 0, 1.0]])
    labels = np.array([0, 0, 1, 1, -1, -1])
    out, prob, _ = D.reassign(x, labels, min_similarity=0.2, temperature=0.05)
    assert out[4] in (0, 1) and prob[4] < 0.6  # between two candidates: low probability
    assert out[5] == -1 and prob[5] == 0  # orthogonal to both: stays unassigned


def test_mismatched_embeddings_are_refused(corpus):
    with pytest.raises(InputError, match="embeddings do not match"):
        D.discover(corpus, np.zeros((3, 8)))


# --------------------------------------------------------------------------- real embeddings


def test_candidates_follow_the_obvious_topics(corpus, result):
    from sklearn.metrics import adjusted_rand_score

    a = result.assignments.assign(topic=corpus["topic"].to_numpy())
    clustered = a[a["set_aside"] == ""]
    assert result.diagnostics["outlier_share_after"] <= 0.05
    # Low-probability assignments are marked, not hidden.
    assigned = a["candidate_id"] >= 0
    assert (a["below_floor"] == (assigned & (a["probability"] < 0.3))).all()
    assert a.loc[assigned, "probability"].between(0, 1).all()
    assert adjusted_rand_score(clustered["topic"], clustered["candidate_id"]) > 0.8
    c = result.candidates
    assert set(c.columns[:8]) == {"candidate_id", "label", "keywords", "size", "quotes",
                                  "nearest_subtheme", "similarity", "stability"}
    assert c["size"].sum() == (a["candidate_id"] >= 0).sum()
    assert c["size"].is_monotonic_decreasing
    for row in c.itertuples():
        quotes = json.loads(row.quotes)
        assert 3 <= len(quotes) <= 5
        assert len(row.label.split()) <= 4 and "_" not in row.label
        assert 0 <= row.stability <= 1


def test_nearest_codebook_entry_and_new(corpus, result):
    a = result.assignments.assign(topic=corpus["topic"].to_numpy())
    major = (a[a["candidate_id"] >= 0].groupby("candidate_id")["topic"]
             .agg(lambda s: s.value_counts().index[0]))
    c = result.candidates.set_index("candidate_id")
    expected = {"waiting": "Long waiting lists", "peer": "Peer support",
                "funding": "Short-term funding"}
    # Every topic leads some candidate, transport included, so both branches below run
    # (issue 17: a check under an `if` alone passes when nothing matches).
    assert set(major) and {*expected, "transport"} <= set(major.to_numpy())
    for cid, topic in major.items():
        if topic in expected:
            assert c.loc[cid, "nearest_subtheme"] == expected[topic]
            assert not c.loc[cid, "is_new"]
        else:  # transport: in no codebook entry
            assert c.loc[cid, "is_new"], c.loc[cid, ["label", "nearest_subtheme", "similarity"]]


def test_speakers_and_shares(corpus, result):
    c = result.candidates
    assert (c["speakers"] >= 2).all()
    assert not c["flagged_single_speaker"].any()
    assert c["questions"].str.match(r"^[12] \(\d+%\)").all()
    assert c["groups"].str.contains("fg").all()


def test_single_speaker_candidate_is_flagged(corpus, embedded):
    emb, _ = embedded
    seg = corpus.copy()
    seg.loc[seg["topic"] == "transport", "speaker"] = "Zoe"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LittleDataWarning)
        res = D.discover(seg, emb, seed=3, runs=1, n_candidates=4)
    a = res.assignments.assign(topic=seg["topic"].to_numpy())
    cid = a.loc[a["topic"] == "transport", "candidate_id"].mode()[0]
    row = res.candidates.set_index("candidate_id").loc[cid]
    assert row["flagged_single_speaker"] and row["top_speaker_share"] > 0.5


def test_same_seed_same_outputs(corpus, codebook, embedded, result):
    emb, book_emb = embedded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LittleDataWarning)
        again = D.discover(corpus, emb, codebook=codebook, codebook_embeddings=book_emb,
                           seed=3, runs=3, n_candidates=4)
    from themeassist.io import table_bytes

    assert table_bytes(again.candidates, ".csv") == table_bytes(result.candidates, ".csv")
    assert table_bytes(again.assignments, ".csv") == table_bytes(result.assignments, ".csv")


def test_issue17_a_different_seed_changes_the_seeded_output(corpus, codebook, embedded, result):
    # The test above would pass if the seed were dropped; this one would not.
    emb, book_emb = embedded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LittleDataWarning)
        other = D.discover(corpus, emb, codebook=codebook, codebook_embeddings=book_emb,
                           seed=4, runs=3, n_candidates=4)
    assert not np.allclose(other.assignments["x"].fillna(0), result.assignments["x"].fillna(0))


def test_codebook_first_clusters_only_what_the_codebook_misses(corpus, codebook, embedded):
    emb, book_emb = embedded
    sims = D._normalise(emb) @ D._normalise(book_emb).T
    threshold = float(np.quantile(sims.max(axis=1)[corpus["topic"] != ""], 0.6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LittleDataWarning)
        res = D.discover(corpus, emb, codebook=codebook, codebook_embeddings=book_emb,
                         codebook_first=True, match_threshold=threshold, seed=0, runs=1)
    a = res.assignments.assign(topic=corpus["topic"].to_numpy())
    matched = a[a["set_aside"] == "matched codebook"]
    assert len(matched) > 0 and res.diagnostics["n_matched_codebook"] == len(matched)
    assert (matched["topic"] != "transport").mean() > 0.9  # transport matches no entry
    c = res.candidates.set_index("candidate_id")
    assert set(c.loc[matched["candidate_id"].unique(), "source"]) == {"codebook"}
    assert (c.loc[matched["candidate_id"].unique(), "label"].isin(codebook["subtheme"])).all()
    with pytest.raises(InputError, match="needs a codebook"):
        D.discover(corpus, emb, codebook_first=True)


def test_forty_segments_give_a_result_or_a_clear_message(corpus, embedded):
    emb, _ = embedded
    keep = np.flatnonzero((corpus["topic"] != "").to_numpy())[:40]
    seg = corpus.iloc[keep].reset_index(drop=True)
    with pytest.warns(LittleDataWarning, match="only 40 segments"):
        res = D.discover(seg, emb[keep], seed=0, runs=2)
    assert 2 <= len(res.candidates) <= 8
    assert res.diagnostics["outlier_share_after"] <= 0.05
    # Ten segments: too few, said plainly.
    with pytest.raises(InputError, match="too few segments to discover candidates: 10"):
        D.discover(seg.iloc[:10], emb[keep][:10], runs=2)


def test_hdbscan_clusterer_is_available_and_reassigns_its_noise():
    # BERTopic's own clusterer, offered as an option: its noise points (-1) are outliers
    # that get reassigned, so the result has the same shape as the default's.
    import numpy as np

    from themeassist import discover

    rng = np.random.default_rng(0)
    z = np.vstack([rng.normal(c, 0.05, size=(30, 5)) for c in (0.0, 1.0, 2.0)]
                  + [rng.uniform(-1, 3, size=(3, 5))])
    labels = discover.cluster_reduced(z, n_candidates=3, min_cluster_size=5,
                                      algorithm="hdbscan")
    assert set(labels[:90]) - {-1} and len(set(labels[labels >= 0])) == 3


def test_issue17_report_shows_the_unassigned_share_and_ari_that_discover_writes(result):
    # Issue 17: the report read `outlier_share` and `ari_mean`, discover writes
    # `outlier_share_after` and `ari_between_runs.mean`: both were missing from every report.
    from pathlib import Path

    from themeassist.pipeline import Discovered, RunResult
    from themeassist.report.project import _candidates

    run = RunResult(out=Path("."), discovery=Discovered(result.candidates, result.assignments,
                                                        result.diagnostics))
    section = _candidates(run)
    text = next(b.content for b in section.blocks if b.kind == "text")
    share = result.diagnostics["outlier_share_after"]
    ari = result.diagnostics["ari_between_runs"]["mean"]
    assert ari is not None
    assert f"left unassigned: {share:.2f}" in text
    assert f"mean adjusted Rand index between runs: {ari:.2f}" in text


# --------------------------------------------------------------------------- settings -> parts
#: Where each discover setting that is not a clusterer parameter is used: the part of
#: discover() that receives it and the part's name for it. ``codebook_first`` decides
#: whether match_segments runs; ``probability_floor`` marks assignments in discover itself.
PART_OF = {
    "min_words": ("select_segments", "min_words"),
    "codebook_first": ("match_segments", None),
    "match_threshold": ("match_segments", "threshold"),
    "question_weight": ("question_features", "weight"),
    "n_quotes": ("describe_candidates", "n_quotes"),
    "new_threshold": ("match_candidates", "new_threshold"),
    "probability_floor": ("discover", "below_floor"),
}


def _spied_discover(monkeypatch, corpus, codebook):
    """discover() on random embeddings with every part recording what it was given.

    The clusterer's fit records its parameters and labels the segments round-robin, so
    that the test needs no UMAP run.
    """
    from themeassist.discover import compose
    from themeassist.discover.cluster import CandidateClusterer, chosen_sizes

    calls: dict[str, dict] = {}

    def spy(name):
        real = getattr(compose, name)

        def wrapper(*args, **kwargs):
            calls[name] = kwargs
            return real(*args, **kwargs)

        monkeypatch.setattr(compose, name, wrapper)

    for name in ("select_segments", "match_segments", "question_features",
                 "describe_candidates", "match_candidates"):
        spy(name)

    def fake_fit(self, X, y=None):
        calls["CandidateClusterer"] = self.get_params()
        n = len(X)
        self.labels_ = self.consensus_labels_ = np.arange(n) % 3
        self.probabilities_ = np.linspace(0.05, 0.95, n)
        self.stability_, self.ari_between_runs_ = np.ones(3), [1.0]
        self.map_, self.n_candidates_ = np.zeros((n, 2)), 3
        self.sizes_ = chosen_sizes(n, n_candidates=self.n_candidates,
                                   min_cluster_size=self.min_cluster_size,
                                   n_neighbors=self.n_neighbors, n_components=self.n_components)
        return self

    monkeypatch.setattr(CandidateClusterer, "fit", fake_fit)
    rng = np.random.default_rng(0)
    emb, book_emb = rng.normal(size=(len(corpus), 16)), rng.normal(size=(len(codebook), 16))

    def run(project):
        from themeassist import pipeline

        calls.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LittleDataWarning)
            res = D.discover(corpus, emb, codebook=codebook, codebook_embeddings=book_emb,
                             **pipeline.discover_arguments(project))
        a = res.assignments[res.assignments["candidate_id"] >= 0]
        # The floor lies between the largest probability marked below it and the smallest not.
        calls["discover"] = {"below_floor": (a.loc[a["below_floor"], "probability"].max(),
                                             a.loc[~a["below_floor"], "probability"].min())}
        return dict(calls)

    return run


def _other_value(value, field):
    """A valid value other than ``value`` for a settings field."""
    if isinstance(value, bool):
        return not value
    if value is None:
        return 7
    if "Literal" in str(field.annotation):
        return next(a for a in field.annotation.__args__ if a != value)
    if isinstance(value, float):
        return round(value / 2 + 0.01, 4)
    return value + 3


def test_issue17_every_discover_key_of_a_project_reaches_its_part(monkeypatch, corpus, codebook):
    # A key of the project file's `discover:` section is a clusterer parameter (it must
    # reach CandidateClusterer) or is listed in PART_OF (it must reach that part).
    from themeassist import config
    from themeassist.discover import CandidateClusterer

    fields = config.DiscoverSettings.model_fields
    clusterer_keys = set(CandidateClusterer().get_params())
    assert set(fields) == clusterer_keys | set(PART_OF)
    assert not clusterer_keys & set(PART_OF)
    run = _spied_discover(monkeypatch, corpus, codebook)
    base = {"codebook_first": True, "match_threshold": 0.9}  # match_segments runs, matches none
    for key, field in fields.items():
        value = config.Project.model_validate({"discover": base}).discover.model_dump()[key]
        other = _other_value(value, field)
        project = config.Project.model_validate({"discover": {**base, key: other}})
        calls = run(project)
        if key in clusterer_keys:
            assert calls["CandidateClusterer"][key] == other, key
            continue
        part, name = PART_OF[key]
        if name is None:
            assert (part in calls) == other, key
        elif part == "discover":
            below, above = calls[part][name]
            assert below < other <= above, key
        else:
            assert calls[part][name] == other, key
    # The default project too: the clusterer gets the settings' defaults.
    calls = run(config.Project())
    assert calls["CandidateClusterer"] == {**CandidateClusterer().get_params(), "seed": 0}


def test_issue17_discover_takes_the_clusterers_defaults():
    # Settings defined once: discover()'s defaults for the clusterer's parameters are the
    # clusterer's own, and so are the project settings'.
    import inspect

    from themeassist import config
    from themeassist.discover import CandidateClusterer

    params = inspect.signature(D.discover).parameters
    fields = config.DiscoverSettings.model_fields
    for name, default in CandidateClusterer().get_params().items():
        assert params[name].default == default, name
        if name != "seed":  # null = the project's seed
            assert fields[name].default == default, name


def test_issue17_discover_times_each_of_its_parts(result):
    # The parts do not time themselves; discover, their caller, times each one.
    t = result.diagnostics["timings"]
    assert set(t) == {"select", "cluster", "describe", "match", "total"}
    assert all(v >= 0 for v in t.values())
    assert t["select"] + t["cluster"] + t["describe"] + t["match"] <= t["total"] + 0.004
    assert result.diagnostics["settings"]["n_candidates"] == 4
