"""The project runner's seams (issue 17): settings reach their cores, one seed, held-out labels.

Synthetic embeddings (clusters around one centre per code) keep these fast; the real model
runs in ``test_demo.py``.
"""

from __future__ import annotations

import inspect
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from themeassist import agree, classify, config, pipeline, stats, tables
from themeassist.cli import app

DIM = 16


def _world(n_transcripts=4, per=24, seed=0):
    rng = np.random.default_rng(seed)
    book = tables.validate_codebook(pd.DataFrame({
        "theme": ["Funding", "Funding", "Mental health", "Mental health", "Staff"],
        "valence": ["success", "challenge", "success", "challenge", "challenge"],
        "subtheme": ["Grant secured", "Short-term funding", "Peer support",
                     "Long waiting lists", "Turnover"]}))
    centres = rng.normal(size=(len(book), DIM))
    rows, emb, cod = [], [], []
    for t in range(n_transcripts):
        for p in range(per):
            sid = tables.make_segment_id(f"t{t}", p)
            rows.append((sid, f"t{t}", p, f"P{p % 5}", "participant", str(1 + p // 12),
                         f"text {t} {p}"))
            k = int(rng.integers(0, len(book)))
            v = centres[k] + 0.3 * rng.normal(size=DIM)
            if rng.random() < 0.7:
                for coder in ("A", "B") if t < 2 else ("A",):
                    kk = k if coder == "A" or rng.random() < 0.8 else int(rng.integers(0, len(book)))
                    cod.append((sid, coder, *book.loc[kk, ["theme", "valence", "subtheme"]]))
            emb.append(v / np.linalg.norm(v))
    seg = tables.validate_segments(pd.DataFrame(rows, columns=[
        "segment_id", "transcript_id", "position", "speaker", "role", "question", "text"]))
    human = pd.DataFrame(cod, columns=["segment_id", "coder", "theme", "valence", "subtheme"])
    return seg, human, book, np.array(emb, dtype=np.float32), centres.astype(np.float32)


@pytest.fixture(scope="module")
def world():
    return _world()


def _changed(value, field):
    """A valid value other than ``value`` for a settings field."""
    ann = str(field.annotation)
    if isinstance(value, bool):
        return not value
    if "Literal" in ann:
        return next(a for a in field.annotation.__args__ if a != value)
    if isinstance(value, float):
        return round(value / 2 + 0.01, 4)
    if isinstance(value, int):
        return value + 3
    if value is None:
        return 7 if "int" in ann else 0.5
    raise AssertionError(f"no test value for {field}")


SECTIONS = {  # section -> (arguments function, the core's parameters)
    "discover": (pipeline.discover_arguments,
                 set(inspect.signature(__import__("themeassist.discover").discover.discover)
                     .parameters)),
    "train": (pipeline.train_arguments,
              set(inspect.signature(classify.train_model).parameters)
              | set(classify.DEFAULT_SETTINGS)),
    "agree": (pipeline.agree_arguments, set(inspect.signature(agree.agreement_report).parameters)),
    "stats": (pipeline.stats_arguments, set(inspect.signature(stats.run).parameters)),
}
#: Keys a stage consumes itself rather than passing to its core.
CONSUMED_BY_THE_STAGE = {"train.embedding"}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_issue17_every_setting_reaches_its_core(section):
    # Every key of the section changes what the core receives (train.folds was never
    # read), and every argument is a parameter of the core.
    arguments, params = SECTIONS[section]
    base = config.Project()
    got = arguments(base)
    assert set(got) <= params, set(got) - params
    model = getattr(base, section)
    for name, field in type(model).model_fields.items():
        if f"{section}.{name}" in CONSUMED_BY_THE_STAGE:
            continue
        value = getattr(model, name)
        other = base.model_copy(update={section: model.model_copy(
            update={name: _changed(value, field)})})
        type(model).model_validate(getattr(other, section).model_dump())  # still valid
        assert arguments(other) != got, f"{section}.{name} does not reach the core"


def test_issue17_discover_settings_are_derived_from_discover():
    from themeassist import discover

    params = inspect.signature(discover.discover).parameters
    fields = config.DiscoverSettings.model_fields
    data = {"segments", "embeddings", "codebook", "codebook_embeddings"}
    assert set(fields) == set(params) - data
    for name, field in fields.items():
        if name != "seed":
            assert field.default == params[name].default, name
    assert set(fields["algorithm"].annotation.__args__) == set(discover.CLUSTERERS)


def test_issue17_train_settings_are_derived_from_the_labeller():
    # settings defined once: a train setting is a CodebookLabeller parameter (same type and
    # default), except the stage's own evaluate and embedding
    params = inspect.signature(classify.CodebookLabeller).parameters
    fields = config.TrainSettings.model_fields
    assert set(fields) - set(params) == {"evaluate", "embedding"}
    for name in set(fields) & set(params):
        if name != "seed":
            assert fields[name].default == params[name].default, name
    assert set(fields["scope"].annotation.__args__) == set(classify.SCOPES)


def test_issue17_every_train_setting_reaches_the_labeller(world, monkeypatch):
    # each train key of a project file, changed, is what the fitted estimator holds
    seg, human, book, emb, cbe = world
    seen = {}

    class Stop(Exception):
        pass

    def fit(self, *args, **kwargs):
        seen.update(self.get_params())
        raise Stop

    monkeypatch.setattr(classify.CodebookLabeller, "fit", fit)
    base = config.Project()
    for name, field in config.TrainSettings.model_fields.items():
        if name in ("evaluate", "embedding"):
            continue
        value = _changed(getattr(base.train, name), field)
        project = base.model_copy(update={"train": base.train.model_copy(update={name: value})})
        args = pipeline.train_arguments(project)
        with pytest.raises(Stop):
            classify.train_model(seg, human[human["coder"] == "A"], book, emb,
                                 codebook_embeddings=cbe, **args)
        assert seen[name] == value, name


@pytest.mark.parametrize("section, core, data, renamed", [
    ("agree", agree.agreement_report, config._AGREE_DATA, {"bootstrap": "n_boot"}),
    ("stats", stats.run, config._STATS_DATA, {}),
])
def test_issue17_agree_and_stats_settings_are_derived_from_their_cores(section, core, data,
                                                                       renamed):
    # One definition: a section's keys, defaults and choices are its core's parameters.
    params = inspect.signature(core).parameters
    fields = type(getattr(config.Project(), section)).model_fields
    assert {renamed.get(k, k) for k in fields} == set(params) - set(data)
    for name, field in fields.items():
        if name != "seed":
            assert field.default == params[renamed.get(name, name)].default, name
    if section == "agree":
        assert set(fields["level"].annotation.__args__) == set(agree.LEVELS)


def test_issue17_the_agree_and_stats_stages_pass_every_setting(world, tmp_path, monkeypatch):
    # What the stages hand their cores, key by key, from a project file that changes each
    # agree and stats setting from its default.
    seg, human, book, emb, cbe = world
    project = config.Project.model_validate({
        "agree": {"level": "code", "coded_only": True, "bootstrap": 7, "seed": 5,
                  "cluster": "transcript"},
        "stats": {"dedup_scope": "transcript", "n_subthemes": 3, "n_quotes": 1,
                  "exclude_review": True}})
    seen = {"agree": [], "stats": [], "data": []}
    real_report, real_data, real_run = agree.agreement_report, agree.reliability_data, stats.run

    def report(data, **kw):
        seen["agree"].append(kw)
        return real_report(data, **kw)

    def data(codings, segments=None, level="theme", coded_only=False, coders=None):
        if not isinstance(codings, agree.ReliabilityData):  # the stage's call
            seen["data"].append({"level": level, "coded_only": coded_only})
        return real_data(codings, segments, level, coded_only, coders)

    def run(codings, codebook, segments, dedup_scope, **kw):
        seen["stats"].append({"dedup_scope": dedup_scope, **kw})
        return real_run(codings, codebook, segments, dedup_scope, **kw)

    monkeypatch.setattr(agree, "agreement_report", report)
    monkeypatch.setattr(agree, "reliability_data", data)
    monkeypatch.setattr(stats, "run", run)
    machine = human[human["coder"] == "A"].assign(coder="model:x@1", confidence=0.9,
                                                  needs_review=False)
    result = pipeline.RunResult(out=tmp_path, human_coders=["A", "B"],
                                labels=pipeline.Labelled(machine, []))
    pipeline._agree_stage(project, tmp_path, seg, book, human, result, None)
    pipeline._stats_stage(project, tmp_path, seg, book, human, result)
    assert seen["agree"] and all(
        kw["n_boot"] == 7 and kw["seed"] == 5 and kw["cluster"] == "transcript"
        for kw in seen["agree"])
    assert seen["data"] and all(d == {"level": "code", "coded_only": True}
                                for d in seen["data"])
    assert seen["stats"] and all(kw == {"dedup_scope": "transcript", "n_subthemes": 3,
                                        "n_quotes": 1, "exclude_review": True}
                                 for kw in seen["stats"])


def test_issue17_the_discover_stage_passes_every_setting(world, tmp_path, monkeypatch):
    from themeassist import discover

    seg, human, book, emb, cbe = world
    seen = {}

    class Stop(Exception):
        pass

    def fake(segments, embeddings, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(discover, "discover", fake)
    project = config.Project.model_validate({"discover": {"runs": 2, "n_quotes": 3},
                                             "seed": 11})
    with pytest.raises(Stop):
        pipeline._discover_stage(project, tmp_path, pipeline.StageCache(tmp_path), "k", seg,
                                 emb, book, cbe, pipeline.RunResult(out=tmp_path))
    assert {k: seen[k] for k in pipeline.discover_arguments(project)} == \
        pipeline.discover_arguments(project)
    assert seen["runs"] == 2 and seen["n_quotes"] == 3 and seen["seed"] == 11


def test_issue17_one_run_seed_sets_every_stage_seed():
    p = config.Project.model_validate({"discover": {"seed": 3}, "agree": {"seed": 4}})
    assert (p.seed_of("discover"), p.seed_of("train"), p.seed_of("agree")) == (3, 0, 4)
    q = p.with_seed(9)
    assert pipeline.discover_arguments(q)["seed"] == 9
    assert pipeline.train_arguments(q)["seed"] == 9
    assert pipeline.agree_arguments(q)["seed"] == 9
    assert p.with_seed(None) is p
    for command in ("run", "demo"):
        res = CliRunner().invoke(app, [command, "--help"])
        assert "--seed" in res.output


def _agree(world, tmp_path, project, machine=None):
    seg, human, book, emb, cbe = world
    if machine is None:
        machine = human[human["coder"] == "A"].assign(coder="model:x@1", confidence=0.9)
    result = pipeline.RunResult(out=tmp_path, human_coders=["A", "B"],
                                labels=pipeline.Labelled(machine, []))
    pipeline._agree_stage(project, tmp_path, seg, book, human, result, 200)
    return result.agreement


def test_issue17_a_different_run_seed_changes_the_seeded_intervals(world, tmp_path):
    seg, human, book, emb, cbe = world
    machine = human[human["coder"] == "A"].assign(coder="model:x@1", confidence=0.9)
    a = _agree(world, tmp_path / "a", config.Project().with_seed(1), machine)
    b = _agree(world, tmp_path / "b", config.Project().with_seed(1), machine)
    c = _agree(world, tmp_path / "c", config.Project().with_seed(2), machine)
    assert a["A_vs_B"].report["ci"] == b["A_vs_B"].report["ci"]
    assert a["A_vs_B"].report["ci"] != c["A_vs_B"].report["ci"]


def test_issue17_run_and_agree_use_the_same_categories(world, tmp_path):
    # run and `agree -b` gave different AC1 and Brennan-Prediger on the same data (q).
    seg, human, book, emb, cbe = world
    reports = _agree(world, tmp_path / "run", config.Project())
    ran = reports["A_vs_B"].report
    units = seg[seg["transcript_id"].isin(["t0", "t1"])]  # the transcripts both coded
    for c in ("A", "B"):
        human[(human["coder"] == c) & human["segment_id"].isin(units["segment_id"])].to_csv(
            tmp_path / f"{c}.csv", index=False)
    units.to_csv(tmp_path / "segments.csv", index=False)
    book.to_csv(tmp_path / "codebook.csv", index=False)
    res = CliRunner().invoke(app, ["agree", "-c", str(tmp_path / "A.csv"), str(tmp_path / "B.csv"),
                                   "-s", str(tmp_path / "segments.csv"),
                                   "-b", str(tmp_path / "codebook.csv"),
                                   "--bootstrap", "200", "--json"])
    assert res.exit_code == 0, res.output
    cli = json.loads(res.stdout)
    assert ran["q"] == cli["q"] == book["theme"].nunique() + 1
    for name in ("gwet_ac1", "brennan_prediger", "cohen_kappa", "krippendorff_alpha"):
        assert ran[name] == pytest.approx(cli[name]), name


@pytest.mark.filterwarnings("ignore::themeassist.errors.LittleDataWarning")
def test_issue17_each_transcript_is_labelled_by_a_model_that_never_saw_it(world, monkeypatch):
    # Checked from the models themselves: every model records the transcripts of the
    # segments it was trained on, and every labelling call what it labelled.
    seg, human, book, emb, cbe = world
    calls = []
    real_fit, real_sets = classify.CodebookLabeller.fit, classify.CodebookLabeller.predict_sets

    def fit(self, segments, *args, **kw):
        self.seen_by_test_ = set(segments["transcript_id"])
        return real_fit(self, segments, *args, **kw)

    def predict_sets(self, segments, embeddings):
        calls.append((self.seen_by_test_, set(segments["transcript_id"])))
        return real_sets(self, segments, embeddings)

    # every labeller is fitted (fit) and predicts (predict_sets, under predict_codings)
    # through the estimator's methods, held-out or final
    monkeypatch.setattr(classify.CodebookLabeller, "fit", fit)
    monkeypatch.setattr(classify.CodebookLabeller, "predict_sets", predict_sets)
    seg = pd.concat([seg, seg[seg["transcript_id"] == "t3"].assign(
        transcript_id="t9", segment_id=lambda d: d["segment_id"].str.replace("t3", "t9"))],
        ignore_index=True)  # t9: a transcript nobody coded
    emb = np.vstack([emb, emb[seg["transcript_id"].iloc[:len(emb)].eq("t3").to_numpy()]])
    a = human[human["coder"] == "A"]
    final = classify.train_model(seg[seg["transcript_id"] != "t9"], a, book, emb[:-24],
                                 codebook_embeddings=cbe)
    calls.clear()
    labels, labellers = pipeline.held_out_labels(seg, emb, human, "A", final, book, cbe,
                                                 pipeline.train_arguments(config.Project()))
    labelled = [t for _, ts in calls for t in ts]
    assert sorted(labelled) == sorted(seg["transcript_id"].unique())  # each exactly once
    for seen, ts in calls:
        (t,) = ts
        if t == "t9":
            assert seen == {"t0", "t1", "t2", "t3"}  # the final model: nobody coded t9
        else:
            assert t not in seen and seen == {"t0", "t1", "t2", "t3"} - {t}
    assert labellers["t1"] == {"model": "held-out", "trained_on": ["t0", "t2", "t3"]}
    assert labellers["t9"]["model"] == "final"
    assert len(labels) > 0 and (labels["coder"] == final.name_).all()


def _train_and_label(project, tmp_path, world):
    seg, human, book, emb, cbe = world
    embedder = SimpleNamespace(model_id="synthetic@0", source="synthetic")
    result, cache = pipeline.RunResult(out=tmp_path), pipeline.StageCache(tmp_path)
    pipeline._train_stage(project, tmp_path, cache, "k", seg, emb, book, cbe, human, embedder,
                          result)
    return result, cache


def _count_fits(monkeypatch) -> list:
    fits, real = [], classify.CodebookLabeller.fit

    def fit(self, *args, **kwargs):
        fits.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(classify.CodebookLabeller, "fit", fit)
    return fits


@pytest.mark.filterwarnings("ignore::themeassist.errors.LittleDataWarning")
def test_issue17_labels_reuse_the_evaluations_fold_models(world, tmp_path, monkeypatch):
    # Four coded transcripts, train.folds 5: the evaluation holds out one transcript per
    # fold, as the labels do, so the label stage fits no labeller; its labels and the
    # evaluation are what each would make on its own.
    seg, human, book, emb, cbe = world
    project = config.Project()
    result, cache = _train_and_label(project, tmp_path, world)
    held = result.training.held_out
    assert [f["test"] for f in held.folds] == [["t0"], ["t1"], ["t2"], ["t3"]]
    alone = classify.evaluate_model(seg, human[human["coder"] == "A"], book, emb, folds=5,
                                    seed=project.seed_of("train"), codebook_embeddings=cbe)
    ran = result.training.model.evaluation_
    for level in ("codable", "theme", "code"):
        assert ran["levels"][level]["kappa"] == pytest.approx(alone["levels"][level]["kappa"])
    assert ran["kappa_top50"] == pytest.approx(alone["kappa_top50"])

    fits = _count_fits(monkeypatch)
    args = ("k", seg, emb, book, cbe, human, result)
    pipeline._label_stage(project, tmp_path, cache, *args)
    assert fits == []
    reused = result.labels
    result.training.held_out = None  # as when the evaluation was off or its folds differ
    (tmp_path / "machine.csv").unlink()
    pipeline._label_stage(project, tmp_path, cache, *args)
    assert len(fits) == 4  # one labeller per held-out transcript
    pd.testing.assert_frame_equal(result.labels.machine, reused.machine)
    assert result.labels.labellers == reused.labellers


@pytest.mark.filterwarnings("ignore::themeassist.errors.LittleDataWarning")
def test_issue17_labels_hold_out_one_transcript_when_the_evaluation_holds_out_more(
        world, tmp_path, monkeypatch):
    seg, human, book, emb, cbe = world
    project = config.Project.model_validate({"train": {"folds": 2}})
    result, cache = _train_and_label(project, tmp_path, world)
    assert [f["test"] for f in result.training.held_out.folds] == [["t0", "t2"], ["t1", "t3"]]
    fits = _count_fits(monkeypatch)
    pipeline._label_stage(project, tmp_path, cache, "k", seg, emb, book, cbe, human, result)
    assert len(fits) == 4
    assert result.labels.labellers["t1"] == {"model": "held-out",
                                             "trained_on": ["t0", "t2", "t3"]}


def test_issue17_the_evaluation_refuses_held_out_predictions_of_other_folds(world):
    from themeassist.classify.heldout import held_out_predictions

    seg, human, book, emb, cbe = world
    a = human[human["coder"] == "A"]
    held = held_out_predictions(seg, emb, a, book, n_splits=2, codebook_embeddings=cbe)
    with pytest.raises(ValueError, match="other folds"):
        classify.evaluate_model(seg, a, book, emb, folds=5, codebook_embeddings=cbe,
                                held_out=held)


def test_issue17_a_new_threshold_only_re_marks_review(world):
    seg, human, book, emb, cbe = world
    m = pd.DataFrame({"segment_id": ["a", "b", "c"], "confidence": [0.2, 0.5, 0.9],
                      "needs_review": [True, True, False]})
    out = pipeline.apply_threshold(m, 0.6)
    assert out["needs_review"].tolist() == [True, True, False]
    assert pipeline.apply_threshold(m, 0.3)["needs_review"].tolist() == [True, False, False]
    assert m["needs_review"].tolist() == [True, True, False]  # not changed in place


def test_decisions_of_the_review_app_reach_training_issue13(world, tmp_path, monkeypatch):
    # codings_<coder>.csv pairs with the decided_<coder>.csv beside it; the decided segments
    # are what the held-out models and the final model take as read
    seg, human, book, emb, cbe = world
    a = human[human["coder"] == "A"]
    (tmp_path / "coding").mkdir()
    a.to_csv(tmp_path / "coding" / "codings_A.csv", index=False)
    read = seg[seg["transcript_id"].isin(["t0", "t1", "t2"])]["segment_id"].iloc[::3]
    read = sorted(set(read) | set(a.loc[a["segment_id"].str.startswith("t3"), "segment_id"]))
    pd.DataFrame({"segment_id": read, "coder": "A"}).to_csv(
        tmp_path / "coding" / "decided_A.csv", index=False)
    project = config.Project(codings=["coding/codings_A.csv"], base_dir=tmp_path)
    files = pipeline.decisions_files(project, [tmp_path / "coding" / "codings_A.csv"])
    assert files == [tmp_path / "coding" / "decided_A.csv"]
    decisions = pd.read_csv(files[0])
    assert pipeline.decided_by(decisions, "A") == read and pipeline.decided_by(decisions, "B") is None
    seen = []
    real = classify.CodebookLabeller.fit

    def fit(self, *args, decided=None, **kw):
        seen.append(decided)
        return real(self, *args, decided=decided, **kw)

    final = classify.train_model(seg, a, book, emb, codebook_embeddings=cbe, decided=read)
    monkeypatch.setattr(classify.CodebookLabeller, "fit", fit)
    assert final.training_["n_segments_in_scope"] == len(set(read) | set(a["segment_id"]))
    pipeline.held_out_labels(seg, emb, human, "A", final, book, cbe,
                             pipeline.train_arguments(config.Project()), decisions=decisions)
    assert seen and all(d == read for d in seen)
