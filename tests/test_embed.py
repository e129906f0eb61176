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


def test_canonical_batches_pad_each_text_to_its_own_length():
    # a text's padded length depends on its token count alone; passes are full
    # (bucket_rows) except the last of a bucket, which keeps min_rows rows
    lengths = [3, 12, 5, 70, 9, 300] + [7] * 300
    batches = embed.canonical_batches(lengths, 256)
    seen = sorted(i for _, _, idx in batches for i in idx)
    assert seen == list(range(len(lengths)))
    for length, rows, idx in batches:
        assert all(embed.length_bucket(lengths[i], 256) == length for i in idx)
        assert len(idx) <= rows <= embed.bucket_rows(length)
        assert rows * length >= min(embed.MIN_PASS_TOKENS, embed.bucket_rows(length) * length)
    eights = [(rows, len(idx)) for length, rows, idx in batches if length == 8]
    assert eights == [(256, 256), (45, 45)]  # the 5 and the 300 sevens: 301 texts in bucket 8
    alone = {i: embed.canonical_batches([lengths[i]], 256)[0][0] for i in range(len(lengths))}
    for length, _, idx in batches:
        assert all(alone[i] == length for i in idx)
    # fill=True: every pass has the full shape
    assert all(rows == embed.bucket_rows(length)
               for length, rows, _ in embed.canonical_batches(lengths, 256, fill=True))


def _full_pass_vectors(e, texts):
    # the definition of a canonical vector: the text in a full pass of its length bucket
    model = e._model()
    max_len = int(model.max_seq_length)
    buckets = [embed.length_bucket(n, max_len) for n in embed.token_lengths(model, texts, max_len)]
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for length in set(buckets):
        idx = [i for i, b in enumerate(buckets) if b == length]
        for j in range(0, len(idx), embed.bucket_rows(length)):
            part = idx[j:j + embed.bucket_rows(length)]
            out[part] = embed.encode_pass(model, [texts[i] for i in part], length,
                                          embed.bucket_rows(length))
    return out


def test_short_passes_give_the_bits_of_full_passes(monkeypatch):
    # canonical-v3 runs the last pass of a bucket with few rows; the vectors must be the
    # full-pass ones, with the row-count check on (this machine) and off (fill mode)
    texts = _corpus(40)
    e = embed.Embedder(cache=False, show_progress=False)
    expected = _full_pass_vectors(e, texts)
    assert e.embed(texts).tobytes() == expected.tobytes()
    monkeypatch.setattr(embed, "row_count_invariant", lambda path: False)
    calls = []
    real = embed.encode_pass
    monkeypatch.setattr(embed, "encode_pass",
                        lambda m, t, length, rows: calls.append((length, rows)) or real(m, t, length, rows))
    assert e.embed(texts).tobytes() == expected.tobytes()
    assert calls and all(rows == embed.bucket_rows(length) for length, rows in calls)


def test_a_short_pass_that_changes_bits_is_caught_and_redone(monkeypatch, caplog):
    # where the kernels do depend on the row count, the free check inside a bucket (one
    # row of the full pass re-encoded in the short one) notices and redoes it full; the
    # 200 texts of one bucket (12 tokens) need a full pass (170 rows) and a short one
    texts = ["ok then."] + [f"we met on day {i} of the month." for i in range(200)]
    e = embed.Embedder(cache=False, show_progress=False)
    expected = _full_pass_vectors(e, texts)
    real = embed.encode_pass

    def noisy(model, batch, length, rows):
        vec = real(model, batch, length, rows)
        return vec if rows == embed.bucket_rows(length) else vec + np.float32(1e-3)

    monkeypatch.setattr(embed, "row_count_invariant", lambda path: True)
    monkeypatch.setattr(embed, "encode_pass", noisy)
    monkeypatch.setattr(embed, "_NOT_INVARIANT", set())
    with caplog.at_level("WARNING", logger="themeassist.embed"):
        got = e.embed(texts)
    assert got.tobytes() == expected.tobytes()
    assert "changed a vector's bits" in caplog.text


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
