import numpy as np
import pytest

from themeassist import embed
from themeassist.errors import ModelError


def test_packaged_model_verified_and_embeds(tmp_path):
    e = embed.Embedder(cache=tmp_path / "c.sqlite", show_progress=False)
    assert e.model_id.startswith("all-MiniLM-L6-v2@53aa51172d14")
    v = e.embed(["We ran out of funding.", "Peer support helped.", "We ran out of funding."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(v[0], v[2])
    # Semantics: the two funding sentences are closer than funding vs peer support.
    w = e.embed(["Our grant money ran out."])[0]
    assert w @ v[0] > w @ v[1]
    # Cached: a second embedder with the same cache returns identical vectors.
    again = embed.Embedder(cache=tmp_path / "c.sqlite", show_progress=False).embed(["Peer support helped."])
    np.testing.assert_array_equal(again[0], v[1])


def test_tampered_weights_refused(tmp_path, monkeypatch):
    pm = embed.PACKAGED_MODELS[embed.DEFAULT_MODEL]
    bad = embed.PackagedModel(**{**pm.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(embed.PACKAGED_MODELS, embed.DEFAULT_MODEL, bad)
    embed.resolve_model.cache_clear()
    try:
        with pytest.raises(ModelError, match="do not match the pinned SHA-256"):
            embed.resolve_model(embed.DEFAULT_MODEL)
    finally:
        embed.resolve_model.cache_clear()


def test_unknown_model_is_not_downloaded():
    with pytest.raises(ModelError, match="never downloaded"):
        embed.resolve_model("sentence-transformers/all-mpnet-base-v2")


def test_generic_folder_model(tmp_path):
    import shutil

    src = embed.resolve_model(embed.DEFAULT_MODEL).path
    dst = tmp_path / "my-model"
    shutil.copytree(src, dst)
    spec = embed.resolve_model(str(dst))
    assert spec.name == "my-model" and len(spec.sha256) == 64


def test_offline_flags_set():
    import os

    import themeassist  # noqa: F401

    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_a_texts_vector_does_not_depend_on_its_batch(tmp_path):
    # Reproducibility: the same text gets the same bytes whether it is embedded alone, in
    # another order or beside other texts (batching pads, which changes float rounding).
    texts = ["We ran out of funding.", "Peer support groups kept people going through winter.",
             "ok", "The council moved to three-year contracts, which helped a lot."]
    e = embed.Embedder(cache=False, show_progress=False)
    together = e.embed(texts)
    alone = np.vstack([e.embed([t]) for t in texts])
    reversed_ = e.embed(texts[::-1])[::-1]
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(together, reversed_)


def _corpus(n=80):
    # varied lengths over several length buckets; more texts per bucket than one batch's rows
    words = "funding peer support winter council contract group volunteer staff rural".split()
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(words, size=int(k))) + "." for k in rng.integers(1, 60, n)]


def test_canonical_batches_shape_depends_on_each_text_only():
    # every text of a bucket goes through passes of the same (rows, length) shape
    lengths = [3, 12, 5, 70, 9, 300]
    batches = embed.canonical_batches(lengths, 256)
    seen = sorted(i for _, _, idx in batches for i in idx)
    assert seen == list(range(len(lengths)))
    for length, rows, idx in batches:
        assert all(embed.length_bucket(lengths[i], 256) == length for i in idx)
        assert rows == embed.bucket_rows(length) and len(idx) <= rows
    alone = {i: embed.canonical_batches([lengths[i]], 256)[0][:2] for i in range(len(lengths))}
    for length, rows, idx in batches:
        assert all(alone[i] == (length, rows) for i in idx)


def test_cold_and_warm_cache_give_byte_identical_vectors(tmp_path):
    # issue 14: batched embedding (the encoder's speed) keeps "same inputs, same outputs":
    # a corpus embedded with a cold cache, with a cache warm for a random half of it, and
    # with a warm cache gives the same bytes, and the same as without a cache.
    texts = _corpus()
    cold = embed.Embedder(cache=tmp_path / "a.sqlite", show_progress=False).embed(texts)
    half = embed.Embedder(cache=tmp_path / "b.sqlite", show_progress=False)
    half.embed(texts[::2][::-1] + ["an unrelated text that shares a batch"])
    part = half.embed(texts)
    warm = embed.Embedder(cache=tmp_path / "a.sqlite", show_progress=False).embed(texts)
    none = embed.Embedder(cache=False, show_progress=False).embed(texts)
    assert cold.tobytes() == part.tobytes() == warm.tobytes() == none.tobytes()
    # and they are the model's own vectors, up to float rounding
    bare = embed.Embedder(cache=False, show_progress=False)._model().encode(
        texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(cold, bare, atol=1e-5)
    assert not np.array_equal(cold, np.zeros_like(cold))
