"""The static (model2vec) fast path (issue 6): local distillation, cache, embedder parity.

Distillation is tested on a tiny randomly initialised BERT built here (one layer, a vocabulary
of a few dozen words), so the test takes seconds; the real MiniLM distillation (minutes on a
busy 2-core machine) is in the slow test.
"""

from __future__ import annotations

import numpy as np
import pytest

from themeassist import static_embed
from themeassist.embed import Embedder
from themeassist.errors import ModelError
from themeassist.offline import block_sockets

WORDS = ("we had no funding the grant ran out peer support helped people waiting lists were "
         "long months for therapy okay yes").split()


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A sentence-transformers-like folder holding a tiny random BERT and its tokenizer."""
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS))]
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                            cls_token="[CLS]", sep_token="[SEP]",
                            mask_token="[MASK]").save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(str(folder), safe_serialization=True)
    return folder


def test_distils_locally_once_then_reuses_the_cache(tiny_bert, tmp_path, monkeypatch):
    with block_sockets():                       # nothing is downloaded
        path = static_embed.distill(tiny_bert, root=tmp_path)
    assert (path / "model.safetensors").is_file() and path.parent == tmp_path
    assert static_embed.is_model2vec_folder(path)
    import model2vec.distill

    def boom(*a, **k):
        raise AssertionError("distilled twice")

    monkeypatch.setattr(model2vec.distill, "distill_from_model", boom)
    assert static_embed.distill(tiny_bert, root=tmp_path) == path


def test_cache_key_follows_the_source_weights(tiny_bert, tmp_path):
    a = static_embed.distilled_path(tiny_bert, root=tmp_path)
    other = tmp_path / "other"
    import shutil

    shutil.copytree(tiny_bert, other)
    data = bytearray((other / "model.safetensors").read_bytes())
    data[-1] ^= 1                               # another model: another cache entry
    (other / "model.safetensors").write_bytes(bytes(data))
    static_embed.resolve_model.cache_clear()
    assert static_embed.distilled_path(other, root=tmp_path).name != a.name


def test_static_embedder_gives_unit_float32_vectors_deterministically(tiny_bert):
    emb = static_embed.StaticEmbedder(tiny_bert)   # distilled into $THEMEASSIST_CACHE/static
    texts = ["we had no funding", "peer support helped people", "okay yes"]
    v = emb.embed(texts)
    assert v.dtype == np.float32 and v.shape == (3, emb.dim)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(v, emb.encode(texts))
    np.testing.assert_array_equal(v[1], emb.embed([texts[1]])[0])   # no batch effects
    assert emb.embed([]).shape == (0, emb.dim)
    assert emb.model_id.startswith(f"static-{tiny_bert.name}@")
    assert (emb.path / static_embed.SOURCE_JSON).is_file()
    assert emb.source == f"static:{tiny_bert}"


def test_embedder_for_reproduces_a_models_embedder(tiny_bert):
    emb = static_embed.StaticEmbedder(tiny_bert)
    again = static_embed.embedder_for(emb.source)
    assert isinstance(again, static_embed.StaticEmbedder) and again.model_id == emb.model_id
    folder = static_embed.embedder_for(f"static:{emb.path}")   # an already distilled folder
    assert folder.model_id == emb.model_id
    assert isinstance(static_embed.embedder_for(str(tiny_bert), cache=False), Embedder)


def test_make_embedder_names_the_known_kinds():
    with pytest.raises(ModelError, match="sentence-transformer, static"):
        static_embed.make_embedder(kind="glove")


def test_a_folder_without_weights_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "model2vec"}')
    with pytest.raises(ModelError, match="no model2vec weights"):
        static_embed.StaticEmbedder(tmp_path)


@pytest.mark.slow
def test_minilm_static_model_keeps_related_texts_closer():
    # Distils the packaged MiniLM (about 16 s idle, minutes on a busy machine; cached after).
    emb = static_embed.StaticEmbedder()
    v = emb.embed(["We ran out of funding for the project.",
                   "The grant money ended and the budget was cut.",
                   "The weather was sunny at the beach."])
    assert v[0] @ v[1] > v[0] @ v[2]


def test_train_static_then_label_uses_the_static_embedding(tiny_bert, tmp_path, monkeypatch):
    # `train --embedding static` records the static model as the embedding source, and
    # `label` rebuilds that embedder from the model card: the draft mode end to end.
    import pandas as pd
    from typer.testing import CliRunner

    from themeassist.cli import app

    monkeypatch.setenv("THEMEASSIST_CACHE", str(tmp_path / "cache"))
    texts = ["we had no funding", "the grant ran out", "peer support helped people",
             "waiting lists were long", "months for therapy", "okay yes"] * 3
    seg = pd.DataFrame({"segment_id": [f"t{i % 3}:{i:04d}" for i in range(len(texts))],
                        "transcript_id": [f"t{i % 3}" for i in range(len(texts))],
                        "position": range(len(texts)), "text": texts})
    seg = seg.sort_values(["transcript_id", "position"])
    seg.to_csv(tmp_path / "seg.csv", index=False)
    pd.DataFrame({"theme": ["Funding", "Mental health"], "valence": ["challenge", "challenge"],
                  "subtheme": ["No funding", "Waiting lists"]}).to_csv(tmp_path / "cb.csv",
                                                                      index=False)
    cod = seg[seg.text.str.contains("fund|grant|wait|therapy")].assign(
        coder="A", theme=lambda d: ["Funding" if ("fund" in t or "grant" in t)
                                    else "Mental health" for t in d.text],
        valence="challenge",
        subtheme=lambda d: ["No funding" if ("fund" in t or "grant" in t) else "Waiting lists"
                            for t in d.text])[["segment_id", "coder", "theme", "valence",
                                               "subtheme"]]
    cod.to_csv(tmp_path / "cod.csv", index=False)
    runner = CliRunner()
    res = runner.invoke(app, ["train", "-s", str(tmp_path / "seg.csv"), "-c",
                              str(tmp_path / "cod.csv"), "-b", str(tmp_path / "cb.csv"),
                              "-o", str(tmp_path / "model"), "--embedding", "static",
                              "--embedding-model", str(tiny_bert)])
    assert res.exit_code == 0, res.output
    card = (tmp_path / "model" / "model_card.json").read_text()
    assert "static" in card.lower() or "model2vec" in card.lower()
    res = runner.invoke(app, ["label", "-s", str(tmp_path / "seg.csv"), "-m",
                              str(tmp_path / "model"), "-o", str(tmp_path / "machine.csv"),
                              "--embedding-model", str(tiny_bert)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "machine.csv").is_file()
