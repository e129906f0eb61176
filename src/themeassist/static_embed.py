"""A fast, draft-quality embedding: a static (model2vec) model distilled locally.

model2vec [1]_ turns a sentence-transformer into a *static* model: every token of the
vocabulary is passed through the transformer once, the token vectors are reduced by PCA and
weighted (SIF), and a sentence becomes the mean of its tokens' vectors. Embedding is then a
table look-up: on this project's 2-core machine it embeds thousands of paragraphs per second
against MiniLM's 50-60, but its similarities track MiniLM's only loosely (Spearman about
0.56 on paragraph pairs), so labels are worse. It is a **draft mode**: pre-label a very large
batch quickly, then re-label what matters with the default model. ``scripts/bench_label.py``
measures the speed-up and the kappa it costs.

Nothing is downloaded: the source model is the packaged sentence-transformer
(:func:`themeassist.embed.resolve_model`), distilled on this machine the first time it is
asked for and cached under the embedding cache folder (``$THEMEASSIST_CACHE/static/``),
keyed by the SHA-256 of the source weights and the distillation settings. Later runs load
the cached folder. On a cluster, point ``THEMEASSIST_CACHE`` at a shared folder so that the
workers reuse one distilled model (a model records the id of the embeddings it was trained
on, and refuses others).

Select it at train time with ``train.embedding: static`` in a project file; the trained
model then records ``embedding_source_ = "static:<model>"`` and :func:`embedder_for`
returns the matching embedder when labelling.

References
----------
.. [1] Tulkens & van Dongen (2024). Model2Vec: fast state-of-the-art static embeddings.
   https://github.com/MinishLab/model2vec (MIT).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from themeassist.embed import (
    DEFAULT_MODEL,
    Embedder,
    _sha256,
    check_safetensors_only,
    default_cache_path,
    resolve_model,
)
from themeassist.errors import ModelError
from themeassist.offline import force_offline

log = logging.getLogger(__name__)

#: Prefix of an ``embedding_source`` that names a static model distilled from a source model.
STATIC_PREFIX = "static:"
#: Versioned name of the distillation recipe (R9); part of the cache key.
METHOD = "model2vec.distill.v1"
#: Distillation settings (model2vec's defaults: 256 PCA dimensions, SIF weighting, float16
#: weights; vectors are returned as float32).
DISTILL_SETTINGS = {"pca_dims": 256, "sif_coefficient": 1e-4}
#: The kinds of embedding a model can be trained on (``TrainSettings.embedding``).
KINDS = ("sentence-transformer", "static")
#: Written into a distilled folder: which source model and recipe made it.
SOURCE_JSON = "themeassist_source.json"


def static_source(model: str | os.PathLike = DEFAULT_MODEL) -> str:
    """The ``embedding_source`` string of the static model distilled from ``model``.

    Examples
    --------
    >>> static_source()
    'static:all-MiniLM-L6-v2'
    """
    return f"{STATIC_PREFIX}{model}"


def is_model2vec_folder(model: str | os.PathLike) -> bool:
    """True when ``model`` is a folder holding an already distilled model2vec model."""
    config = Path(str(model)).expanduser() / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "model2vec"
    except (ValueError, AttributeError):
        return False


def cache_root() -> Path:
    """Folder of the distilled models: ``static/`` beside the embedding cache file."""
    return default_cache_path().parent / "static"


def _cache_key(source_sha256: str) -> str:
    h = hashlib.sha256(f"{METHOD}|{source_sha256}|{sorted(DISTILL_SETTINGS.items())}".encode())
    return h.hexdigest()[:16]


def distilled_path(model: str | os.PathLike = DEFAULT_MODEL, *,
                   root: str | os.PathLike | None = None) -> Path:
    """Where the static model of ``model`` is (or will be) cached."""
    spec = resolve_model(str(model))
    base = Path(root) if root is not None else cache_root()
    return base / f"{spec.name}-{_cache_key(spec.sha256)}"


def distill(model: str | os.PathLike = DEFAULT_MODEL, *, root: str | os.PathLike | None = None,
            force: bool = False) -> Path:
    """Distil ``model`` into a static model on this machine (once), and return its folder.

    Parameters
    ----------
    model : str or path
        A packaged model name or a local sentence-transformers folder (the source).
    root : path, optional
        Cache folder; default :func:`cache_root`.
    force : bool, default False
        Distil again even when a cached copy exists.

    Returns
    -------
    Path
        A model2vec folder (``model.safetensors``, ``tokenizer.json``, ``config.json``).

    Notes
    -----
    The folder appears atomically (built in a temporary folder, then renamed), so two
    processes distilling at once leave one complete copy. Distilling MiniLM passes its
    ~30,000 vocabulary tokens through the transformer: about 16 s on an idle 2-core
    machine, several minutes on a busy one.
    """
    target = distilled_path(model, root=root)
    if (target / "model.safetensors").is_file() and not force:
        return target
    force_offline()
    try:
        from model2vec.distill import distill_from_model
        from transformers import AutoModel, AutoTokenizer
    except ImportError as err:
        raise ModelError(f"the static embedding needs model2vec's distillation extra "
                         f"(the packages model2vec, skeletoken and transformers): {err}") from err
    spec = resolve_model(str(model))
    log.info("distilling a static model from %s into %s", spec.model_id, target)
    hf_model = AutoModel.from_pretrained(str(spec.path), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(spec.path), local_files_only=True)
    static = distill_from_model(hf_model, tokenizer, **DISTILL_SETTINGS)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        static.save_pretrained(str(tmp))
        (tmp / SOURCE_JSON).write_text(json.dumps(
            {"source": spec.name, "source_sha256": spec.sha256, "method": METHOD,
             "settings": DISTILL_SETTINGS}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if force and target.exists():
            shutil.rmtree(target)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first: keep its copy
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


@functools.lru_cache(maxsize=4)
def _load_static(path: str):
    force_offline()
    try:
        from model2vec import StaticModel
    except ImportError as err:  # pragma: no cover - a core dependency
        raise ModelError("the package model2vec is required for static embeddings") from err
    return StaticModel.from_pretrained(path, normalize=True, force_download=False)


class StaticEmbedder:
    """Embed texts with a static model2vec model distilled from a sentence-transformer.

    Same interface as :class:`themeassist.embed.Embedder` (``embed``, ``encode``,
    ``model_id``, ``dim``), so the classifier and batch labelling take either.

    Parameters
    ----------
    model : str or path, default "all-MiniLM-L6-v2"
        The *source* model (packaged name or sentence-transformers folder), distilled on
        first use; or a folder that already holds a model2vec model, used as it is.
    batch_size : int, default 1024
        Texts per call of the static model.
    cache : ignored
        Accepted for interface parity; static vectors are cheaper to compute than to look up.
    show_progress : bool, default False
        Unused (embedding is fast); kept for interface parity.
    path : path, optional
        A model2vec folder to use directly (no distillation), e.g. a test's tiny model.

    Examples
    --------
    >>> emb = StaticEmbedder()                                # doctest: +SKIP
    >>> emb.embed(["We ran out of funding."]).shape           # doctest: +SKIP
    (1, 256)
    """

    def __init__(self, model: str | os.PathLike = DEFAULT_MODEL, *, batch_size: int = 1024,
                 cache=None, show_progress: bool = False, path: str | os.PathLike | None = None):
        self.model = model
        self.batch_size = batch_size
        self.cache = cache
        self.show_progress = show_progress
        if path is None and is_model2vec_folder(model):
            path = model
        self.path = Path(path) if path is not None else distill(model)
        weights = self.path / "model.safetensors"
        if not weights.is_file():
            raise ModelError(f"no model2vec weights in {self.path}")
        check_safetensors_only(self.path)
        self._sha256 = _sha256(weights)
        marker = self.path / SOURCE_JSON
        try:
            self._name = json.loads(marker.read_text(encoding="utf-8"))["source"]
        except (OSError, ValueError, KeyError, TypeError):
            self._name = self.path.name  # a model2vec folder made elsewhere

    @property
    def model_id(self) -> str:
        """``static-<source name>@<sha12 of the distilled weights>``: names the embedding."""
        return f"static-{self._name}@{self._sha256[:12]}"

    @property
    def source(self) -> str:
        """What a model records as ``embedding_source_`` to get this embedder back."""
        return static_source(self.model)

    @property
    def dim(self) -> int:
        return int(self._model().dim)

    def _model(self):
        return _load_static(str(self.path))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts: an ``(n, dim)`` float32 array of unit vectors (zeros for empty text)."""
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model().encode(texts, batch_size=self.batch_size, show_progress_bar=False,
                                    use_multiprocessing=False)
        vecs = np.asarray(vecs, dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Same as :meth:`encode` (no cache)."""
        return self.encode(texts)


def make_embedder(model: str | os.PathLike = DEFAULT_MODEL, kind: str = "sentence-transformer",
                  **kwargs):
    """An embedder of the kind ``TrainSettings.embedding`` names.

    Parameters
    ----------
    model : str or path
        The sentence-transformer (packaged name or folder); for ``"static"`` the source.
    kind : {"sentence-transformer", "static"}
    **kwargs
        ``batch_size``, ``cache``, ``show_progress``: passed to the embedder.

    Raises
    ------
    ModelError
        An unknown kind (the message lists the known ones).
    """
    if kind == "sentence-transformer":
        return Embedder(model, **kwargs)
    if kind == "static":
        kwargs = {k: v for k, v in kwargs.items() if k != "batch_size"}
        return StaticEmbedder(model, **kwargs)
    raise ModelError(f"unknown embedding kind {kind!r}; known: {', '.join(KINDS)}")


def embedder_for(source: str, **kwargs):
    """The embedder that reproduces a model's embeddings from its ``embedding_source_``.

    ``"static:<model>"`` gives a :class:`StaticEmbedder` of ``<model>``; anything else an
    :class:`~themeassist.embed.Embedder`.

    Examples
    --------
    >>> embedder_for("static:/no/such/model")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    themeassist.errors.ModelError: embedding model '/no/such/model' is neither a packaged ...
    """
    if source.startswith(STATIC_PREFIX):
        return make_embedder(source[len(STATIC_PREFIX):], "static", **kwargs)
    return make_embedder(source, "sentence-transformer", **kwargs)
