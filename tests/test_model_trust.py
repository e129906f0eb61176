"""Model folders are data (issue 16): nothing a model folder names is loaded, pickles never
reach torch.load, and model.json is validated before any embedding work."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
from tests.test_classify import _corpus
from typer.testing import CliRunner

from themeassist import batch, classify, embed, io, modelstore
from themeassist.cli import app
from themeassist.errors import ModelError


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    seg, cod, book, emb, cbe = _corpus(n_transcripts=4, per=24, seed=2)
    model = classify.train_model(seg, cod, book, emb, codebook_embeddings=cbe,
                                 embedding_model="all-MiniLM-L6-v2@53aa51172d14",
                                 embedding_source="all-MiniLM-L6-v2")
    root = tmp_path_factory.mktemp("trust")
    modelstore.save_model(model, root / "model")
    io.write_table(seg, root / "segments.csv")
    return root


def _copy(saved: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(saved / "model", tmp_path / "model"))


def edit(folder: Path, **changes) -> Path:
    """A *consistent* edit of model.json: the card's hashes are updated to match, as an
    attacker (or a careless colleague) would do."""
    path = folder / modelstore.MODEL_JSON
    body = json.loads(path.read_text())
    for key, value in changes.items():    # dotted: "fitted.threshold_"
        *parents, last = key.split(".")
        node = body
        for part in parents:
            node = node[part]
        node[last] = value
    data = json.dumps(body, sort_keys=True).encode()   # NaN stays a JSON NaN literal
    path.write_bytes(data)
    card = json.loads((folder / modelstore.CARD_JSON).read_text())
    card["files"][modelstore.MODEL_JSON] = hashlib.sha256(data).hexdigest()
    (folder / modelstore.CARD_JSON).write_text(json.dumps(card))
    return folder


@pytest.fixture
def evil_folder(tmp_path):
    """A sentence-transformers-looking folder whose weights are a pickle."""
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "pytorch_model.bin").write_bytes(b"\x80\x04cos\nsystem\n.")
    (evil / "config.json").write_text("{}")
    return evil


@pytest.fixture
def no_torch_load(monkeypatch):
    import torch

    def refuse(*a, **k):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", refuse)


def test_an_embedding_folder_named_in_model_json_is_never_loaded(saved, tmp_path, evil_folder,
                                                                  no_torch_load):
    folder = edit(_copy(saved, tmp_path), **{"fitted.embedding_source_": str(evil_folder)})
    model = modelstore.load_model(folder)          # the hashes match: it loads as data
    with pytest.raises(ModelError, match="names the embedding model folder .*--embedding-model"):
        modelstore.trusted_embedding_source(model, folder=folder)
    res = CliRunner().invoke(app, ["label", "-s", str(saved / "segments.csv"), "-m",
                                   str(folder), "-o", str(tmp_path / "m.csv"), "--no-progress"])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)
    assert str(evil_folder) in res.output and "--embedding-model" in res.output
    assert not (tmp_path / "m.csv").exists() and not (tmp_path / "m.csv.parts").exists()


def test_a_pickle_weights_folder_is_refused_even_when_the_user_names_it(evil_folder,
                                                                        no_torch_load):
    with pytest.raises(ModelError, match="pytorch_model.bin.*safetensors only"):
        embed.resolve_model(str(evil_folder))
    (evil_folder / "model.safetensors").write_bytes(b"{}")  # a .bin beside safetensors too
    with pytest.raises(ModelError, match="pickle-format"):
        embed.resolve_model(str(evil_folder))


@pytest.mark.parametrize("key, value, where", [
    ("fitted.threshold_", "high", "'fitted.threshold_': Input should be a valid number"),
    ("fitted.threshold_", math.nan, "'fitted.threshold_'"),
    ("fitted.threshold_", 1.5, "'fitted.threshold_': Input should be less than or equal to 1"),
    ("fitted.codable_threshold_", None, "'fitted.codable_threshold_'"),
    ("fitted.spec_.fields.dim", "384", "'fitted.spec_.fields.dim'"),
    ("fitted.code_clf_.fitted.n_features_in_", -1, "'fitted.code_clf_.fitted.n_features_in_'"),
    ("fitted.name_", "model:<img src=x onerror=alert(1)>@0123456789ab", "'fitted.name_'"),
    ("fitted.embedding_source_", "all-MiniLM-L6-v2<script>", "'fitted.embedding_source_'"),
    ("fitted.code_clf_.params.C", "1", "'fitted.code_clf_.params.C'"),
    # issue 17: the labeller's parameters and the classes a folder may build are checked too
    ("params.backoff", "0.5", "'params.backoff'"),
    ("params.min_support", 1.5, "'params.min_support'"),
    ("params.exec", "rm -rf /", "'params.exec': Extra inputs are not permitted"),
    ("fitted.spec_.$type", "subprocess.Popen", "'fitted.spec_.\\$type'"),
    ("fitted.code_clf_.fitted.__class__", {"$array": "x"}, "'fitted.code_clf_.fitted.__class__'"),
])
def test_malformed_model_json_is_refused_naming_the_key(saved, tmp_path, key, value, where):
    folder = edit(_copy(saved, tmp_path), **{key: value})
    with pytest.raises(ModelError, match=where.replace("(", r"\(")) as err:
        modelstore.load_model(folder)
    assert str(folder / modelstore.MODEL_JSON) in str(err.value)


def test_a_nan_threshold_is_refused_before_any_embedding_work(saved, tmp_path, monkeypatch):
    folder = edit(_copy(saved, tmp_path), **{"fitted.threshold_": math.nan})

    def no_work(*a, **k):
        raise AssertionError("embedding work started")

    monkeypatch.setattr(batch, "load_labeller", no_work)
    monkeypatch.setattr(batch, "plan_inputs", no_work)
    with pytest.raises(ModelError, match="'fitted.threshold_'"):
        batch.label_batch([saved / "segments.csv"], folder, tmp_path / "m.csv", progress=False)
    assert list(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_nan_threshold_option_is_refused():
    res = CliRunner().invoke(app, ["label", "-s", "x.csv", "-m", "m", "-o", "o.csv",
                                   "--threshold", "nan"])
    assert res.exit_code == 2 and "--threshold" in res.output  # before any work


def test_the_packaged_encoder_and_a_user_folder_are_trusted():
    from types import SimpleNamespace as NS

    assert modelstore.trusted_embedding_source(NS(embedding_source_="all-MiniLM-L6-v2")) \
        == "all-MiniLM-L6-v2"
    static = NS(embedding_source_="static:/somewhere/else")
    assert modelstore.trusted_embedding_source(static, "/mine") == "static:/mine"
