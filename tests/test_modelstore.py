"""MODEL_DIR: saved without pickle, loaded identically, refused when corrupted or mismatched."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.test_classify import _codebook, _corpus

from themeassist import classify, modelstore
from themeassist.errors import ModelError, OutputExistsError


@pytest.fixture(scope="module")
def data():
    return _corpus(n_transcripts=4, per=24, seed=2)


@pytest.fixture(scope="module")
def model(data):
    seg, cod, book, emb, cbe = data
    return classify.train_model(seg, cod, book, emb, codebook_embeddings=cbe,
                                embedding_model="test@000", embedding_source="test-model")


@pytest.fixture
def saved(model, tmp_path):
    modelstore.save_model(model, tmp_path / "model")
    return tmp_path / "model"


def test_round_trip_gives_the_same_labels_without_unpickling(saved, model, data, monkeypatch):
    def no_pickle(*a, **k):
        raise AssertionError("pickle used while loading a model")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "Unpickler", no_pickle)
    loaded = modelstore.load_model(saved)
    seg, _, _, emb, _ = data
    pd.testing.assert_frame_equal(loaded.predict_codings(seg, emb), model.predict_codings(seg, emb))
    assert loaded.name_ == model.name_ and loaded.threshold_ == model.threshold_
    assert loaded.embedding_model_ == "test@000" and loaded.embedding_source_ == "test-model"
    pd.testing.assert_frame_equal(loaded.codebook_, model.codebook_)
    assert sorted(p.name for p in saved.iterdir()) == sorted(modelstore.FILES)


def test_saving_twice_is_byte_identical(saved, model, tmp_path):
    modelstore.save_model(model, tmp_path / "again")
    for name in modelstore.FILES:
        assert (saved / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def test_model_card_says_what_the_model_was_trained_on(saved, model):
    card = json.loads((saved / modelstore.CARD_JSON).read_text())
    assert card["embedding_model"] == "test@000"
    assert card["codebook"]["codes"] == 4 and len(card["codebook"]["sha256"]) == 64
    assert card["training_data"]["codings_sha256"] == model.training_["codings_sha256"]
    assert card["versions"]["scikit-learn"] and card["settings"]["seed"] == 0
    assert "Model card: " + model.name_ in (saved / modelstore.CARD_MD).read_text()


def test_existing_model_dir_is_not_overwritten_without_force(saved, model):
    before = (saved / modelstore.WEIGHTS).read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        modelstore.save_model(model, saved)
    assert (saved / modelstore.WEIGHTS).read_bytes() == before
    modelstore.save_model(model, saved, force=True)


@pytest.mark.parametrize("name", [modelstore.WEIGHTS, modelstore.MODEL_JSON])
def test_tampered_files_are_refused(saved, name):
    path = saved / name
    data = bytearray(path.read_bytes())
    data[-3] = (data[-3] + 1) % 256
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=f"{name} does not match its SHA-256"):
        modelstore.load_model(saved)


def test_missing_or_unreadable_model_dirs_are_refused(saved, tmp_path):
    with pytest.raises(ModelError, match="not found"):
        modelstore.load_model(tmp_path / "nowhere")
    (saved / modelstore.MODEL_JSON).unlink()
    with pytest.raises(ModelError, match="model.json is missing"):
        modelstore.load_model(saved)
    (tmp_path / "junk").mkdir()
    for name in modelstore.FILES:
        (tmp_path / "junk" / name).write_text("not json")
    with pytest.raises(ModelError, match="corrupted"):
        modelstore.load_model(tmp_path / "junk")


def test_label_refuses_another_codebook_or_embedding_model(saved):
    model = modelstore.load_model(saved)
    modelstore.check_compatible(model, codebook=_codebook(), embedding_model="test@000")
    other = _codebook().iloc[:3]
    with pytest.raises(ModelError, match="codebook mismatch.*1 of the model's codes are not in it"):
        modelstore.check_compatible(model, codebook=other)
    with pytest.raises(ModelError, match="embedding model mismatch"):
        modelstore.check_compatible(model, embedding_model="all-MiniLM-L6-v2@53aa51172d14")


def test_zero_shot_model_round_trips(data, tmp_path):
    seg, _, book, emb, cbe = data
    m = classify.train_model(seg, None, book, emb, codebook_embeddings=cbe)
    modelstore.save_model(m, tmp_path / "zs")
    loaded = modelstore.load_model(tmp_path / "zs")
    assert loaded.zero_shot_
    np.testing.assert_array_equal(loaded.predict_proba(seg, emb)[1], m.predict_proba(seg, emb)[1])


def test_word_ngram_scorers_round_trip(tmp_path):
    from tests.test_classify import _word_corpus

    seg, cod, book, emb, cbe = _word_corpus(n_transcripts=4, per=24, seed=3)
    m = classify.train_model(seg, cod, book, emb, codebook_embeddings=cbe)
    assert m.code_ngram_ is not None and m.codable_ngram_ is not None
    modelstore.save_model(m, tmp_path / "m")
    loaded = modelstore.load_model(tmp_path / "m")
    assert loaded.ngram_weights_ == m.ngram_weights_
    assert loaded.code_ngram_.vocabulary == m.code_ngram_.vocabulary
    pd.testing.assert_frame_equal(loaded.predict_codings(seg, emb), m.predict_codings(seg, emb))


def test_a_model_of_an_older_format_is_refused_with_a_retrain_message(saved):
    # issue 5, second pass: format version 2 adds the n-gram scorers
    body = json.loads((saved / modelstore.MODEL_JSON).read_text())
    body["format_version"] = 1
    data = json.dumps(body).encode()
    (saved / modelstore.MODEL_JSON).write_bytes(data)
    card = json.loads((saved / modelstore.CARD_JSON).read_text())
    import hashlib

    card["files"][modelstore.MODEL_JSON] = hashlib.sha256(data).hexdigest()
    (saved / modelstore.CARD_JSON).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="older themeassist.*version 1.*retrain"):
        modelstore.load_model(saved)


def test_a_folder_of_the_previous_format_is_refused_with_a_retrain_message():
    # issue 17: format 3 saves get_params() and the fitted state generically; a folder the
    # previous themeassist wrote (format 2, a fixture saved by it) is refused, not misread
    old = Path(__file__).parent / "fixtures" / "classify" / "model_format_v2"
    assert json.loads((old / modelstore.MODEL_JSON).read_text())["format_version"] == 2
    with pytest.raises(ModelError, match="older themeassist.*version 2.*retrain it with "
                                         "`themeassist train`"):
        modelstore.load_model(old)


def test_params_and_every_fitted_attribute_round_trip_issue17(saved, model):
    loaded = modelstore.load_model(saved)
    assert loaded.get_params() == model.get_params()
    body = json.loads((saved / modelstore.MODEL_JSON).read_text())
    assert set(body["params"]) == set(classify.CodebookLabeller().get_params())
    assert set(body["fitted"]) == set(classify.FITTED)
    # each attribute, encoded again from the loaded model, is what was saved: JSON and arrays
    for name in classify.FITTED:
        got, want = {}, {}
        assert (modelstore._encode(getattr(loaded, name), name, got)
                == modelstore._encode(getattr(model, name), name, want)), name
        assert got.keys() == want.keys(), name
        for key in got:
            assert got[key].dtype == want[key].dtype, key
            np.testing.assert_array_equal(got[key], want[key])


def test_a_policy_parameter_set_after_fitting_is_saved(model, tmp_path):
    import copy

    m = copy.deepcopy(model).set_params(backoff=0.9)
    modelstore.save_model(m, tmp_path / "m")
    assert modelstore.load_model(tmp_path / "m").backoff == 0.9
