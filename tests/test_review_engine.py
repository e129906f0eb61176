"""Tests of the review loop's model (issue 13): labels for every segment, the queue, the
prequential calibration, the expected agreement of stopping now.

Synthetic embeddings (one cluster per code, uncoded segments elsewhere) keep them fast and
make the right answer known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from themeassist import agree, tables
from themeassist.errors import InputError
from themeassist.review import engine

DIM = 16


def _corpus(n_transcripts=5, per=40, seed=0, noise=0.5, coded_rate=0.6):
    rng = np.random.default_rng(seed)
    book = tables.validate_codebook(pd.DataFrame({
        "theme": ["Funding", "Funding", "Mental health"],
        "valence": ["success", "challenge", "challenge"],
        "subtheme": ["Grant secured", "Short-term funding", "Long waiting lists"]}))
    centres = rng.normal(size=(len(book) + 1, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    rows, emb, cod = [], [], []
    for t in range(n_transcripts):
        for p in range(per):
            sid = tables.make_segment_id(f"t{t}", p)
            rows.append((sid, f"t{t}", p, f"text {t} {p}"))
            k = int(rng.integers(0, len(book))) if rng.random() < coded_rate else len(book)
            if k < len(book):
                cod.append((sid, "ann", *book.loc[k, ["theme", "valence", "subtheme"]]))
            v = centres[k] + noise * rng.normal(size=DIM) / np.sqrt(DIM) * 3
            emb.append(v / np.linalg.norm(v))
    seg = tables.validate_segments(pd.DataFrame(rows, columns=[
        "segment_id", "transcript_id", "position", "text"]))
    codings = pd.DataFrame(cod, columns=["segment_id", "coder", "theme", "valence", "subtheme"])
    return seg, codings, book, np.array(emb), centres[: len(book)]


@pytest.fixture(scope="module")
def corpus():
    return _corpus()


def _fit(corpus, decided, model=None, **kw):
    seg, cod, book, emb, cbe = corpus
    model = model or engine.ReviewModel(ngram=False, **kw)
    known = cod[cod["segment_id"].isin(decided)]
    return model.fit(seg, emb, book, known, decided, codebook_embeddings=cbe)


def test_every_segment_gets_a_label_no_code_included_and_a_priority(corpus):
    seg, cod, book, emb, cbe = corpus
    decided = seg["segment_id"][:80].tolist()
    pred = _fit(corpus, decided).predict(seg, emb)
    assert len(pred.labels) == len(seg) and pred.p_wrong.shape == (len(seg),)
    assert ((pred.p_wrong >= 0) & (pred.p_wrong <= 1)).all()
    labels = pred.label_strings()
    assert (labels == engine.NO_CODE).any() and (labels != engine.NO_CODE).any()
    # "no code" labels have a priority too: the probability that the segment is coded
    none = labels == engine.NO_CODE
    assert np.allclose(pred.p_wrong[none], pred.codable[none])
    # the labels are mostly right on this separable corpus
    truth = engine.human_categories(cod, seg["segment_id"])
    assert engine.kappa(truth[80:], labels[80:]) > 0.7


def test_queue_is_most_doubtful_first_and_leaves_decided_out(corpus):
    seg, cod, book, emb, cbe = corpus
    decided = seg["segment_id"][:60].tolist()
    pred = _fit(corpus, decided).predict(seg, emb)
    q = engine.review_queue(pred, decided)
    assert len(q) == len(seg) - 60 and not set(q["segment_id"]) & set(decided)
    assert q["p_wrong"].is_monotonic_decreasing
    assert q["p_wrong"].iloc[0] == pytest.approx(pred.p_wrong[60:].max())
    first = q.iloc[0]
    assert len(first["top"]) == len(book)
    assert sum(p for _, p in first["top"]) == pytest.approx(first["codable"])
    assert len(engine.review_queue(pred, decided, n=5)) == 5


def test_decisions_made_between_fits_are_held_out_with_the_labels_the_model_gave(corpus):
    seg, cod, book, emb, cbe = corpus
    ids = seg["segment_id"].tolist()
    model = _fit(corpus, ids[:50])
    before = model.predict(seg, emb)
    assert len(model.heldout_) == 0
    _fit(corpus, ids[:90], model=model)
    assert model.heldout_["segment_id"].tolist() == sorted(ids[50:90])
    said = dict(zip(before.segment_ids, before.label_strings()))
    assert model.heldout_["predicted"].tolist() == [said[s] for s in sorted(ids[50:90])]
    assert (model.heldout_["version"] == 1).all()
    # a fit afresh (warm_start=False) has no history
    cold = _fit(corpus, ids[:90], warm_start=False)
    assert len(cold.heldout_) == 0 and np.isnan(cold.predict(seg, emb).cv["kappa"])


def test_calibration_and_agreement_so_far_come_from_held_out_decisions(corpus):
    seg, cod, book, emb, cbe = corpus
    ids = seg["segment_id"].tolist()
    model = None
    for end in (40, 80, 120, 160):
        model = _fit(corpus, ids[:end], model=model, min_heldout=30)
    cv = model.predict(seg, emb).cv
    assert cv["n"] == 120
    assert cv["low"] <= cv["kappa"] <= cv["high"]
    truth = engine.human_categories(cod, model.heldout_["segment_id"])
    said = model.heldout_["predicted"].to_numpy(dtype=object)
    # agree reads "" as a missing rating; here "no code" is a category like any other
    named = [np.where(x == engine.NO_CODE, "(no code)", x) for x in (truth, said)]
    assert cv["kappa"] == pytest.approx(agree.cohen_kappa(*named))
    assert model.temperatures_["code"] != 1.0 and model.temperatures_["codable"] != 1.0


def test_same_inputs_and_seed_give_the_same_predictions(corpus):
    seg, cod, book, emb, cbe = corpus
    ids = seg["segment_id"].tolist()
    a = _fit(corpus, ids[:70]).predict(seg, emb)
    b = _fit(corpus, ids[:70]).predict(seg, emb)
    assert np.array_equal(a.code_proba, b.code_proba) and np.array_equal(a.p_wrong, b.p_wrong)


def test_cold_start_without_any_decision_uses_the_codebook(corpus):
    seg, cod, book, emb, cbe = corpus
    model = engine.ReviewModel(ngram=False).fit(seg, emb, book, None, [],
                                                codebook_embeddings=cbe)
    pred = model.predict(seg, emb)
    truth = engine.human_categories(cod, seg["segment_id"])
    coded = truth != engine.NO_CODE
    # zero-shot: the nearest codebook entry is the right code on most coded segments
    codes = np.array(pred.codes, dtype=object)[pred.code_proba.argmax(1)]
    assert np.mean(codes[coded] == truth[coded]) > 0.8


def test_kappa_is_cohens_kappa():
    rng = np.random.default_rng(3)
    a = rng.choice(["x", "y", "z", "w"], size=200)
    b = np.where(rng.random(200) < 0.7, a, rng.choice(["x", "y", "z", "w"], size=200))
    assert engine.kappa(a, b) == pytest.approx(agree.cohen_kappa(a, b))
    assert engine.kappa(["a", "a"], ["a", "a"]) == 1.0


def test_expected_agreement_is_one_when_all_is_decided_and_tracks_the_truth(corpus):
    seg, cod, book, emb, cbe = corpus
    ids = seg["segment_id"].tolist()
    model = None
    for end in (40, 80, 120):
        model = _fit(corpus, ids[:end], model=model)
    pred = model.predict(seg, emb)
    everything = engine.expected_agreement(pred, ids, cod)
    assert everything["kappa"] == pytest.approx(1.0) and everything["decided_share"] == 1.0
    truth = engine.human_categories(cod, ids)
    known = cod[cod["segment_id"].isin(ids[:120])]
    actual = engine.kappa(truth, engine.final_categories(pred, known, ids[:120]))
    expected = engine.expected_agreement(pred, ids[:120], known)
    assert expected["decided_share"] == pytest.approx(0.6)
    assert abs(expected["kappa"] - actual) < 0.1


def test_machine_codings_are_a_codings_table_without_the_decided(corpus):
    seg, cod, book, emb, cbe = corpus
    decided = seg["segment_id"][:50].tolist()
    pred = _fit(corpus, decided).predict(seg, emb)
    out = engine.machine_codings(pred, book, coder="model:review", exclude=decided)
    tables.validate_codings(out, book, seg)
    assert not set(out["segment_id"]) & set(decided)
    assert out["confidence"].between(0, 1).all()


def test_suggestions_are_undecided_and_distinct(corpus):
    seg, cod, book, emb, cbe = corpus
    decided = seg["segment_id"][:30].tolist()
    pred = _fit(corpus, decided).predict(seg, emb)
    s = engine.suggest_from(pred, emb, decided, 12, seed=1)
    assert len(s) == 12 and s["segment_id"].is_unique
    assert not set(s["segment_id"]) & set(decided)


def test_a_decision_on_an_unknown_segment_is_refused(corpus):
    seg, cod, book, emb, cbe = corpus
    with pytest.raises(InputError, match="not in the corpus"):
        engine.ReviewModel().fit(seg, emb, book, None, ["nope:1"], codebook_embeddings=cbe)


def test_fitting_changes_none_of_its_inputs(corpus):
    seg, cod, book, emb, cbe = corpus
    copies = [seg.copy(), cod.copy(), book.copy(), emb.copy()]
    _fit(corpus, seg["segment_id"][:60].tolist())
    pd.testing.assert_frame_equal(seg, copies[0])
    pd.testing.assert_frame_equal(cod, copies[1])
    pd.testing.assert_frame_equal(book, copies[2])
    assert np.array_equal(emb, copies[3])
