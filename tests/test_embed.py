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
