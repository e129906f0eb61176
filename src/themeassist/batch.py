"""Batch pre-labelling at scale: streaming, chunks, resumable output, Dask partitions.

An edge module (it reads and writes files), between the input readers and the classifier
core. ``themeassist label`` calls :func:`label_batch`; a notebook can too.

How a run goes
--------------
1. **Plan.** The inputs are hashed; the segments are counted (Parquet metadata, a light
   pass over a CSV, or one ingest of each transcript, which also finds malformed files:
   each is reported with its reason and skipped, or stops the run with ``strict``).
2. **Stream.** Segments are read in batches (Parquet row groups through pyarrow, CSV in
   pandas chunks, transcripts one file at a time) and cut into chunks of ``chunk_size``
   segments. The classifier's context features look at a segment's previous and next
   segment of the same transcript, so each chunk carries one *halo* segment on either side
   (labelled with it, then dropped): a chunk's labels are exactly those of a run over the
   whole input, whatever the chunk size. This needs each transcript's segments together
   and in position order, as ``themeassist ingest`` writes them; other orders are refused
   with the row that breaks it.
3. **Label.** Each chunk is embedded and labelled (:func:`label_chunk`), in this process or
   on Dask workers (``client``), each worker loading the model once.
4. **Commit.** A labelled chunk is written as a Parquet part file, atomically (temporary
   file, fsync, rename), then recorded in a journal (one JSON line, fsynced), in the folder
   ``OUT.parts/``. An interrupted run (Ctrl-C, ``kill -9``, power cut) re-run with the same
   arguments skips the chunks in the journal: no segment lost, none labelled twice. A run
   with other arguments (another model, chunk size or input) refuses the old parts unless
   told to start over (``resume=False``). The review threshold is not one of them: it is
   applied when the parts are merged, and a finished output given a new threshold (with
   ``force``) is re-marked from its own rows, without embedding or labelling again.
5. **Merge.** The parts are merged into the output (CSV or Parquet, by extension) through a
   temporary file and a rename, with bounded memory; the manifest is written beside it and
   the parts folder removed. Re-running a completed run changes nothing: the manifest's
   run key and the output's hash show it is done.

Memory is bounded by the chunk size (plus the Parquet reader's batch), not by the input.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from themeassist import io, tables
from themeassist.locking import locks_output
from themeassist.errors import ConfigError, InputError, OutputExistsError, ThemeassistError

log = logging.getLogger(__name__)

#: Versioned name of the chunking and resume method (R9), part of every run key.
METHOD = "themeassist.batch.halo-chunks.v1"
#: Input kinds :func:`label_batch` reads.
#: Output formats; CSV and Parquet are merged with bounded memory, XLSX is built in memory.
OUTPUT_SUFFIXES = (".csv", ".parquet", ".pq", ".xlsx")
JOURNAL = "journal.jsonl"


# --------------------------------------------------------------------------- inputs
@dataclass
class Plan:
    """What a run will read: the usable inputs, their sizes and what was skipped."""

    kind: str                                  # "table" or "transcripts"
    files: list[Path]                          # usable inputs, in order
    counts: list[int]                          # segments per usable file
    skipped: list[dict[str, str]] = field(default_factory=list)   # {"file", "reason"}
    hashes: list[str] = field(default_factory=list)               # sha256 per usable file

    @property
    def total(self) -> int:
        return int(sum(self.counts))


def is_table(path: str | Path) -> bool:
    """True for a segments table (CSV/Parquet/XLSX with a ``segment_id`` column).

    A CSV or XLSX can also be a transcript (one row per utterance); the header decides.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return True
    if suffix not in (".csv", ".xlsx") or not p.is_file():
        return False
    if suffix == ".xlsx":
        head = pd.read_excel(p, nrows=0)
    else:
        head = _csv_reader(p, chunksize=None, nrows=0)
    columns = {str(c).strip() for c in head.columns}
    return {"segment_id", "transcript_id", "position", "text"} <= columns


def _csv_encoding(path: Path) -> str:
    with open(path, "rb") as fh:
        data = fh.read(1 << 20)
    if len(data) == 1 << 20 and b"\n" in data:
        data = data[:data.rindex(b"\n") + 1]  # never cut a multi-byte character
    return io.detect_encoding(data, path)


def _csv_reader(path: Path, chunksize: int | None, **kw):
    enc = _csv_encoding(path)
    try:
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=enc,
                             chunksize=chunksize, **kw)
    except pd.errors.EmptyDataError:
        raise InputError("empty table", path=path, expected="a header row", got="") from None
    if chunksize is None:
        return io.restore_frame(reader)
    return (io.restore_frame(part) for part in reader)


def _count_rows(path: Path) -> int:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception as err:  # pyarrow raises several unrelated classes
            raise InputError(f"cannot read Parquet: {err}", path=path) from None
    if suffix == ".csv":
        n = 0
        try:
            for part in _csv_reader(path, chunksize=1 << 16, usecols=[0]):
                n += len(part)
        except pd.errors.ParserError as err:
            raise InputError(f"malformed CSV: {err}", path=path) from None
        return n
    return len(io.read_table(path))


def plan_inputs(items: Sequence[str | Path], *, questions=None, settings=None,
                strict: bool = False) -> Plan:
    """Resolve the inputs of a run: one segments table, or transcripts (files, folders, globs).

    Transcripts are ingested once here to count their segments and to find malformed
    files; a malformed file is listed in ``Plan.skipped`` with its reason, or, with
    ``strict``, stops the run (:class:`InputError` naming it).

    Raises
    ------
    InputError
        No input, a table mixed with transcripts, several tables, every transcript
        malformed, or (``strict``) one malformed transcript.
    """
    if not items:
        raise InputError("nothing to label", expected="a segments table or transcript files",
                         got="none")
    first = Path(items[0])
    if len(items) == 1 and first.is_file() and is_table(first):
        n = _count_rows(first)
        return Plan("table", [first], [n], hashes=[io.file_sha256(first)])
    from themeassist.ingest import expand_paths, ingest_files

    files = expand_paths(items)
    tables_given = [p for p in files if p.suffix.lower() in (".parquet", ".pq")
                    or (p.suffix.lower() in (".csv", ".xlsx") and is_table(p))]
    if tables_given:
        raise InputError("give either one segments table or transcript files, not both",
                         path=tables_given[0], expected="transcripts only",
                         got=f"{len(tables_given)} segments table(s) among {len(files)} inputs")
    plan = Plan("transcripts", [], [])
    seen: dict[str, Path] = {}
    for path in files:
        try:
            seg, _ = ingest_files([path], questions, settings)
            clash = [t for t in pd.unique(seg["transcript_id"]) if t in seen]
            if clash:
                raise InputError(f"two transcripts named {clash[0]!r}", path=path,
                                 expected="one transcript per file stem",
                                 got=f"also in {seen[clash[0]]}")
        except (InputError, ConfigError) as err:
            if strict:
                raise
            plan.skipped.append({"file": str(path), "reason": str(err)})
            log.warning("skipped %s: %s", path, err)
            continue
        for t in pd.unique(seg["transcript_id"]):
            seen[t] = path
        plan.files.append(path)
        plan.counts.append(len(seg))
        plan.hashes.append(io.file_sha256(path))
    if not plan.files:
        raise InputError(f"none of the {len(files)} transcripts could be read "
                         f"(first: {plan.skipped[0]['reason']})")
    return plan


def _table_batches(path: Path, batch_rows: int) -> Iterator[pd.DataFrame]:
    """A segments table in batches of rows (Parquet by record batches, CSV by chunks)."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
            for batch in pf.iter_batches(batch_size=batch_rows):
                yield batch.to_pandas()
        except ThemeassistError:
            raise
        except Exception as err:  # pyarrow raises several unrelated classes
            raise InputError(f"cannot read Parquet: {err}", path=path) from None
    elif suffix == ".csv":
        try:
            for part in _csv_reader(path, chunksize=batch_rows):
                part.columns = [str(c).lstrip("\ufeff").strip() for c in part.columns]
                yield part
        except pd.errors.ParserError as err:
            raise InputError(f"malformed CSV: {err}", path=path) from None
    else:
        yield io.read_table(path)


def _transcript_batches(plan: Plan, questions, settings) -> Iterator[pd.DataFrame]:
    from themeassist.ingest import ingest_files

    for path in plan.files:
        seg, _ = ingest_files([path], questions, settings)
        yield seg


def segment_batches(plan: Plan, *, batch_rows: int = 8192, questions=None,
                    settings=None) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield ``(first_row, batch)`` of the plan's segments, in input order."""
    row = 0
    source = (_table_batches(plan.files[0], batch_rows) if plan.kind == "table"
              else _transcript_batches(plan, questions, settings))
    for batch in source:
        if len(batch):
            yield row, batch
            row += len(batch)


# --------------------------------------------------------------------------- chunking
@dataclass
class Chunk:
    """``segments`` = halo + core rows; only the ``core`` segment ids are labelled."""

    index: int
    first_row: int                 # 0-based row of the first core segment in the input
    segments: pd.DataFrame
    core: np.ndarray               # bool mask over ``segments``

    @property
    def n(self) -> int:
        return int(self.core.sum())

    @property
    def core_ids(self) -> np.ndarray:
        return self.segments["segment_id"].to_numpy()[self.core]

    def digest(self) -> str:
        """SHA-256 of the core segment ids (checks a resumed chunk is the same chunk)."""
        h = hashlib.sha256()
        for sid in self.core_ids:
            h.update(str(sid).encode("utf-8") + b"\n")
        return h.hexdigest()


def _validate(batch: pd.DataFrame, first_row: int, path) -> pd.DataFrame:
    try:
        return tables.validate_segments(batch)
    except InputError as err:
        row = None if err.row is None else err.row + first_row
        raise InputError(err.message, path=path, row=row, column=err.column,
                         expected=err.expected, got=err.got) from None


def iter_chunks(batches: Iterable[tuple[int, pd.DataFrame]], chunk_size: int, *,
                path=None) -> Iterator[Chunk]:
    """Cut a stream of validated segment batches into chunks with a one-segment halo.

    Chunk *k* holds input rows ``[k * chunk_size, (k + 1) * chunk_size)`` as its core, plus
    the segment just before and just after when they belong to the same transcript (the
    neighbours the context features look at).

    Raises
    ------
    InputError
        A transcript whose segments are not together, or not in increasing position
        (naming the row, counted as a spreadsheet shows it).

    Examples
    --------
    >>> seg = pd.DataFrame({"segment_id": ["a:0", "a:1", "a:2", "b:0"],
    ...                     "transcript_id": ["a", "a", "a", "b"], "position": [0, 1, 2, 0],
    ...                     "text": ["w", "x", "y", "z"]})
    >>> for c in iter_chunks([(0, seg)], 2):
    ...     print(c.index, c.segments["segment_id"].tolist(), c.core.tolist())
    0 ['a:0', 'a:1', 'a:2'] [True, True, False]
    1 ['a:1', 'a:2', 'b:0'] [False, True, True]
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk size must be at least 1, got {chunk_size}")
    finished: set[str] = set()
    last_tid, last_pos = None, None
    pending: list[pd.DataFrame] = []   # validated rows not yet emitted
    n_pending = 0
    before: pd.DataFrame | None = None  # last core row of the previous chunk
    index = 0
    first_core_row = 0

    def check(df: pd.DataFrame, first_row: int) -> None:
        nonlocal last_tid, last_pos
        tid = df["transcript_id"].to_numpy()
        pos = df["position"].to_numpy()
        for i in range(len(df)):  # cheap next to embedding; vectorised below where possible
            t = tid[i]
            if t != last_tid:
                if t in finished:
                    raise InputError(
                        f"the segments of transcript {t!r} are not together", path=path,
                        row=first_row + i + 2, column="transcript_id",
                        expected="each transcript's segments in one block, in position order "
                                 "(as ingest writes them; sort the table by transcript_id, "
                                 "position)", got=t)
                if last_tid is not None:
                    finished.add(last_tid)
                last_tid, last_pos = t, None
            if last_pos is not None and pos[i] <= last_pos:
                raise InputError(
                    f"positions of transcript {t!r} do not increase", path=path,
                    row=first_row + i + 2, column="position",
                    expected=f"a position above {last_pos} (sort the table by transcript_id, "
                             "position)", got=int(pos[i]))
            last_pos = pos[i]

    def emit(core: pd.DataFrame, after: pd.DataFrame | None) -> Chunk:
        parts, mask = [], []
        tid0, tid1 = core["transcript_id"].iat[0], core["transcript_id"].iat[-1]
        if before is not None and before["transcript_id"].iat[0] == tid0:
            parts.append(before)
            mask.append(False)
        parts.append(core)
        mask.extend([True] * len(core))
        if after is not None and after["transcript_id"].iat[0] == tid1:
            parts.append(after)
            mask.append(False)
        segs = (pd.concat(parts, ignore_index=True) if len(parts) > 1
                else core.reset_index(drop=True))
        return Chunk(index, first_core_row, segs, np.array(mask, dtype=bool))

    for first_row, raw in batches:
        batch = _validate(raw, first_row, path)
        check(batch, first_row)
        pending.append(batch)
        n_pending += len(batch)
        # emit while a full core plus the row after it are available
        while n_pending > chunk_size:
            buf = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
            core, after = buf.iloc[:chunk_size], buf.iloc[chunk_size:chunk_size + 1]
            yield emit(core, after)
            before = core.iloc[[-1]]
            index += 1
            first_core_row += chunk_size
            rest = buf.iloc[chunk_size:].reset_index(drop=True)
            pending, n_pending = [rest], len(rest)
    if n_pending:
        buf = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
        yield emit(buf, None)


# --------------------------------------------------------------------------- labelling
def check_coder_name(coder: str | None) -> str | None:
    """``label --coder``: one printable name of at most 200 characters (None: the model's).

    Raises
    ------
    ConfigError
        An empty name, or one with control characters.

    Examples
    --------
    >>> check_coder_name("  model:folds ")
    'model:folds'
    """
    if coder is None:
        return None
    name = str(coder).strip()
    if not name or len(name) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ConfigError(f"--coder must be a printable name of 1 to 200 characters, "
                          f"got {coder!r}")
    return name


def label_chunk(chunk: Chunk, model, embedder, *, threshold: float | None = None,
                all_segments: bool = False) -> pd.DataFrame:
    """Embed and label one chunk; return the codings of its core segments.

    ``model`` is a :class:`themeassist.classify.CodebookLabeller`; ``embedder`` anything with
    ``embed(texts) -> (n, dim) array`` and ``model_id`` (checked against the model's).
    ``threshold`` and ``all_segments`` go to :meth:`CodebookLabeller.predict_codings`.
    """
    model.check_embedding_model(embedder.model_id)
    emb = embed_texts(embedder, chunk.segments["text"].tolist())
    out = model.predict_codings(chunk.segments, emb, threshold=threshold,
                                all_segments=all_segments)
    keep = out["segment_id"].isin(set(chunk.core_ids))
    return out[keep].reset_index(drop=True)


def embed_texts(embedder, texts: list[str]) -> np.ndarray:
    """Embed a chunk's texts with ``embedder.embed`` (the cache when it has one).

    :class:`~themeassist.embed.Embedder` batches canonically (a text's vector depends on
    the text alone, at the batched encoder's speed), so a chunk's vectors are exactly those
    that ``train``, ``run`` and ``suggest`` compute for the same texts.
    """
    return embedder.embed(texts)


_LOADS = {"count": 0}  # models loaded by this process (a worker loads one once)


@functools.lru_cache(maxsize=2)
def load_labeller(model_dir: str, cache: bool = False, threads: int | None = None,
                  embedding_model: str | None = None):
    """``(model, embedder)`` for a MODEL_DIR, loaded once per process (and per Dask worker).

    The embedder is the packaged encoder, or ``embedding_model`` (a folder the user named);
    never a folder the model folder names (:func:`modelstore.trusted_embedding_source`).
    """
    from themeassist import modelstore
    from themeassist.static_embed import embedder_for

    if threads:
        with contextlib.suppress(ImportError):
            import torch

            torch.set_num_threads(int(threads))
    model = modelstore.load_model(model_dir)
    source = modelstore.trusted_embedding_source(model, embedding_model, folder=model_dir)
    # cache: False (none), True (the default cache) or the path of a cache file
    embedder = embedder_for(source,
                            cache=(None if cache is True else str(cache)) if cache else False,
                            show_progress=False)
    model.check_embedding_model(embedder.model_id)
    _LOADS["count"] += 1
    return model, embedder


def _label_task(chunk: Chunk, model_dir: str, threshold, all_segments: bool, cache: bool,
                threads, embedding_model: str | None = None) -> pd.DataFrame:
    """What a Dask worker runs for one chunk (the model is loaded once per worker)."""
    model, embedder = load_labeller(model_dir, cache, threads, embedding_model)
    return label_chunk(chunk, model, embedder, threshold=threshold, all_segments=all_segments)


def worker_loads() -> int:
    """How many times this process loaded a model (used to check workers load once)."""
    return _LOADS["count"]


# --------------------------------------------------------------------------- parts
def _arrow_schema(df: pd.DataFrame):
    import pyarrow as pa

    fields = []
    types = pd.api.types
    for col, dtype in df.dtypes.items():
        if types.is_bool_dtype(dtype):
            fields.append(pa.field(col, pa.bool_()))
        elif types.is_integer_dtype(dtype):
            fields.append(pa.field(col, pa.int64()))
        elif types.is_float_dtype(dtype):
            fields.append(pa.field(col, pa.float64()))
        else:  # object and string dtypes: text
            fields.append(pa.field(col, pa.string()))
    return pa.schema(fields)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class PartStore:
    """Labelled chunks as Parquet part files plus a journal, in ``OUT.parts/``.

    The journal's first line holds the run key; each further line records one committed
    chunk (written after its part file is renamed into place). A torn last line (the
    process died while writing it) is ignored, so that chunk is simply labelled again.
    """

    def __init__(self, folder: str | Path, run_key: str, *, resume: bool = True):
        self.folder = Path(folder)
        self.run_key = run_key
        self.done: dict[int, dict[str, Any]] = {}
        journal = self.folder / JOURNAL
        if self.folder.exists() and not resume:
            shutil.rmtree(self.folder)
        if journal.is_file():
            text = journal.read_text(encoding="utf-8")
            if text and not text.endswith("\n"):   # torn last line: start the next one cleanly
                with open(journal, "a", encoding="utf-8") as fh:
                    fh.write("\n")
            lines = text.splitlines()
            head = _json_line(lines[0]) if lines else None
            if not head or head.get("run") != run_key:
                raise ConfigError(
                    f"{self.folder} holds the parts of an interrupted run with other arguments "
                    "(input, model or chunk size); re-run with the same arguments "
                    "to finish it, or start over with --no-resume")
            for line in lines[1:]:
                rec = _json_line(line)
                if rec and (self.folder / rec["part"]).is_file():
                    self.done[int(rec["chunk"])] = rec
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._append({"run": run_key, "method": METHOD})

    def _append(self, record: dict[str, Any]) -> None:
        with open(self.folder / JOURNAL, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def commit(self, chunk: Chunk, codings: pd.DataFrame) -> None:
        """Write one chunk's codings atomically and record it in the journal."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        name = f"part-{chunk.index:06d}.parquet"
        table = pa.Table.from_pandas(codings, schema=_arrow_schema(codings), preserve_index=False)
        with io.atomic_open(self.folder / name, force=True) as fh:
            pq.write_table(table, fh)
        _fsync_dir(self.folder)
        labelled = codings["level"] != "none" if "level" in codings else np.ones(len(codings), bool)
        review = codings.loc[labelled, "needs_review"] if "needs_review" in codings else []
        rec = {"chunk": chunk.index, "part": name, "segments": chunk.n, "rows": len(codings),
               "coded": int(codings.loc[labelled, "segment_id"].nunique()),
               "review": int(np.sum(review)),
               "first_row": chunk.first_row, "ids_sha256": chunk.digest()}
        self._append(rec)
        self.done[chunk.index] = rec

    def is_done(self, chunk: Chunk) -> bool:
        rec = self.done.get(chunk.index)
        if rec is None:
            return False
        if rec["ids_sha256"] != chunk.digest() or rec["segments"] != chunk.n:
            raise ConfigError(f"{self.folder}: chunk {chunk.index} holds other segments than "
                              "the input now gives; start over with --no-resume")
        return True

    def parts(self) -> list[Path]:
        return [self.folder / self.done[k]["part"] for k in sorted(self.done)]

    def merge(self, out: Path, *, force: bool = False,
              threshold: float | None = None, coder: str | None = None) -> tuple[Path, int]:
        """Merge the parts, in chunk order, into ``out`` (CSV or Parquet) atomically.

        ``threshold`` (None: as labelled) re-marks ``needs_review`` as the parts are merged,
        so that a new review threshold never relabels; ``coder`` (None: the model's name)
        names the coder of every row. Returns the output and its number of rows that need
        review.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        review = [0]

        def read(part):
            t = pq.read_table(part)
            if coder is not None and "coder" in t.column_names:
                t = t.set_column(t.column_names.index("coder"), "coder",
                                 pa.array([coder] * t.num_rows, type=pa.string()))
            if threshold is not None and "needs_review" in t.column_names:
                df = t.to_pandas()
                marks = review_marks(df, threshold)
                t = t.set_column(t.column_names.index("needs_review"), "needs_review",
                                 pa.array(marks, type=pa.bool_()))
            if "needs_review" in t.column_names:
                df = t.to_pandas()
                labelled = df["level"] != "none" if "level" in df else np.ones(len(df), bool)
                review[0] += int(df.loc[labelled, "needs_review"].sum())
            return t

        suffix = out.suffix.lower()
        if suffix not in OUTPUT_SUFFIXES:
            raise InputError("unknown output format", path=out,
                             expected=f"one of {', '.join(OUTPUT_SUFFIXES)}", got=out.suffix)
        with io.atomic_open(out, force=force) as fh:
            if suffix == ".xlsx":
                frames = [read(p).to_pandas() for p in self.parts()]
                fh.write(io.table_bytes(pd.concat(frames, ignore_index=True), ".xlsx"))
            elif suffix == ".csv":
                for i, part in enumerate(self.parts()):
                    df = read(part).to_pandas()
                    data = io.table_bytes(df, ".csv")  # formulas neutralised
                    if i > 0:
                        data = data[data.index(b"\n") + 1:]  # one header only
                    fh.write(data)
            else:
                writer = None
                for part in self.parts():
                    t = read(part)
                    if writer is None:
                        writer = pq.ParquetWriter(fh, t.schema)
                    writer.write_table(t)
                if writer is not None:
                    writer.close()
        return out, review[0]

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def review_marks(codings: pd.DataFrame, threshold: float) -> np.ndarray:
    """``needs_review`` of machine codings under a review threshold.

    A code is marked when its confidence is below ``threshold``
    (:func:`themeassist.classify.needs_review`); an ``all_segments`` row judged not codable
    (``level`` "none") always is.
    """
    from themeassist.classify import needs_review

    conf = pd.to_numeric(codings["confidence"], errors="coerce").to_numpy(dtype=float)
    marks = np.asarray(needs_review(conf, float(threshold)), dtype=bool)
    if "level" in codings:
        marks |= codings["level"].astype(str).to_numpy() == "none"
    return marks


def _json_line(line: str) -> dict[str, Any] | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


# --------------------------------------------------------------------------- the run
def parts_folder(out: str | Path) -> Path:
    """Where a run keeps its part files and journal: ``OUT.parts/`` beside the output."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def manifest_path(out: str | Path) -> Path:
    """The manifest beside a label output: ``machine.manifest.json`` (as ``label`` names it)."""
    out = Path(out)
    return out.with_name(out.stem + ".manifest.json")


def run_key(plan: Plan, model_card_sha256: str, settings: dict[str, Any]) -> str:
    """Identity of a run: the inputs' contents, the model and the settings that change labels."""
    body = {"method": METHOD, "kind": plan.kind, "inputs": plan.hashes,
            "model": model_card_sha256, "settings": settings}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class BatchResult:
    """What :func:`label_batch` did (the CLI prints it; the manifest records it)."""

    out: Path
    manifest: Path
    segments: int
    codings: int
    coded: int                 # segments that received at least one label
    review: int                # labels that need review
    model: str
    chunks: int
    chunks_resumed: int
    skipped: list[dict[str, str]]
    files: int
    seconds: float
    already_complete: bool = False

    @property
    def rate(self) -> float:
        return self.segments / self.seconds if self.seconds > 0 else float("nan")


def _finished_manifest(out: Path) -> dict | None:
    """The manifest of a finished output whose file is the one it describes, else None."""
    man = manifest_path(out)
    if not (out.is_file() and man.is_file()):
        return None
    try:
        m = json.loads(man.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return m if m.get("output_sha256") == io.file_sha256(out) else None


def _completed(out: Path, key: str) -> bool:
    m = _finished_manifest(out)
    return m is not None and m.get("run_key") == key


def _same_labels(out: Path, labels_key: str) -> bool:
    """True when ``out`` is a finished run's output with the same labels (another threshold)."""
    m = _finished_manifest(out)
    return m is not None and m.get("labels_key") == labels_key


def _rethreshold(out: Path, key: str, threshold: float | None, model_info, t0: float):
    """Re-mark ``needs_review`` of a finished output under a new threshold; no relabelling."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    thr = model_info.threshold_ if threshold is None else float(threshold)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        df = pd.read_csv(out, dtype=str, keep_default_na=False)
        marks = review_marks(df, thr)
        df["needs_review"] = np.where(marks, "True", "False")
        data = df.to_csv(index=False, lineterminator="\n").encode("utf-8")
    elif suffix == ".xlsx":
        df = pd.read_excel(out)
        marks = review_marks(df, thr)
        data = io.table_bytes(df.assign(needs_review=marks), ".xlsx")
    else:
        t = pq.read_table(out)
        df = t.to_pandas()
        marks = review_marks(df, thr)
        t = t.set_column(t.column_names.index("needs_review"), "needs_review",
                         pa.array(marks, type=pa.bool_()))
        import io as _io

        buf = _io.BytesIO()
        pq.write_table(t, buf)
        data = buf.getvalue()
    io.atomic_write_bytes(out, data, force=True)
    man_path = manifest_path(out)
    m = json.loads(man_path.read_text(encoding="utf-8"))
    labelled = df["level"].astype(str) != "none" if "level" in df else np.ones(len(df), bool)
    review = int(marks[np.asarray(labelled)].sum())
    seconds = time.perf_counter() - t0
    m.update(run_key=key, output_sha256=io.file_sha256(out))
    m["settings"]["threshold"] = thr
    m["run_settings"]["threshold"] = threshold
    m["counts"]["review"] = review
    m["rethresholded"] = True
    io.write_json(m, man_path, force=True)
    c = m.get("counts", {})
    return BatchResult(out, man_path, c.get("segments", 0), c.get("codings", 0),
                       c.get("coded", 0), review, m.get("model", ""), c.get("chunks", 0),
                       c.get("chunks", 0), m.get("skipped", []), c.get("files", 0), seconds)


def _own_partial(out: Path, key: str) -> bool:
    """True when ``out`` was merged by this very run, which died before finishing up."""
    journal = parts_folder(out) / JOURNAL
    if not journal.is_file():
        return False
    with open(journal, encoding="utf-8") as fh:
        head = _json_line(fh.readline())
    return bool(head) and head.get("run") == key


def _check_not_input(out: Path, files: Sequence[str | Path]) -> None:
    """Refuse an output (or its manifest or parts) that is one of the inputs."""
    mine = {os.path.realpath(p) for p in (out, manifest_path(out), parts_folder(out))}
    for f in files:
        if os.path.realpath(f) in mine:
            raise ConfigError(f"--out {out} is an input ({f}); inputs are never overwritten, "
                              "even with --force: choose another output")


@locks_output("out", command="label")  # one writer per output (themeassist.locking)
def label_batch(
    inputs: Sequence[str | Path],
    model_dir: str | Path,
    out: str | Path,
    *,
    threshold: float | None = None,
    all_segments: bool = False,
    chunk_size: int = 2048,
    resume: bool = True,
    force: bool = False,
    strict: bool = False,
    questions=None,
    ingest_settings=None,
    client=None,
    cache: bool = False,
    worker_threads: int | None = None,
    progress: bool = True,
    on_chunk: Callable[[Chunk], None] | None = None,
    embedding_model: str | Path | None = None,
    coder: str | None = None,
) -> BatchResult:
    """Label a segments table or a batch of transcripts into ``out``, resumably.

    Parameters
    ----------
    inputs : sequence of paths
        One segments table (CSV, Parquet, XLSX), or transcript files, folders and globs
        (ingested with ``questions`` and ``ingest_settings``).
    model_dir : path
        A model folder written by ``themeassist train``.
    out : path
        The codings table to write (``.csv`` or ``.parquet``); its manifest goes beside it
        (:func:`manifest_path`) and its parts, while running, to :func:`parts_folder`.
    threshold : float, optional
        Review threshold; default the model's.
    all_segments : bool, default False
        Also write a row for each segment judged not codable (see ``predict_codings``).
    chunk_size : int, default 2048
        Segments per chunk (memory and commit granularity; the labels do not depend on it).
    resume : bool, default True
        Continue an interrupted run with the same arguments; ``False`` starts over.
    force : bool, default False
        Overwrite an existing output of another run.
    strict : bool, default False
        Stop at the first malformed transcript instead of skipping it.
    client : distributed.Client, optional
        Label chunks on this Dask cluster (each worker loads the model once).
    cache : bool, default False
        Use the embedding cache (batch texts are usually new: the cache would only grow).
    worker_threads : int, optional
        Torch threads per Dask worker (e.g. cores // workers on a local cluster).
    progress : bool, default True
        A progress bar on stderr: segments, rate, time left.
    on_chunk : callable, optional
        Called after each chunk is committed (tests use it to interrupt a run).
    embedding_model : path, optional
        The embedding model folder to use when the model was not trained on the packaged
        encoder: a folder the model folder names is never loaded on its own say.
    coder : str, optional
        The coder name of every row (default: the model's, ``model:NAME``), e.g. one name
        for the outputs of several fold-wise models that ``agree`` should read as one coder.

    Returns
    -------
    BatchResult
    """
    t0 = time.perf_counter()
    out, model_dir = Path(out), Path(model_dir)
    from themeassist import modelstore

    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError("unknown output format", path=out,
                         expected=f"one of {', '.join(OUTPUT_SUFFIXES)}", got=out.suffix)
    card = model_dir / modelstore.CARD_JSON
    if not card.is_file():
        raise InputError("not a themeassist model folder (model_card.json is missing)",
                         path=model_dir)
    if threshold is not None and not (isinstance(threshold, int | float)
                                      and 0.0 <= float(threshold) <= 1.0):
        raise ConfigError(f"--threshold must be a number between 0 and 1, got {threshold!r}")
    model_info = modelstore.load_model(model_dir)  # a broken model folder stops here
    embedding_model = None if embedding_model is None else str(embedding_model)
    modelstore.trusted_embedding_source(model_info, embedding_model, folder=model_dir)
    plan = plan_inputs(list(inputs), questions=questions, settings=ingest_settings,
                       strict=strict)
    _check_not_input(out, plan.files)
    coder = check_coder_name(coder)
    settings = {"threshold": threshold, "all_segments": bool(all_segments),
                "chunk_size": int(chunk_size), "coder": coder,
                "questions": [q.model_dump() if hasattr(q, "model_dump") else q
                              for q in (questions or [])],
                "ingest": ingest_settings.model_dump() if hasattr(ingest_settings, "model_dump")
                else ingest_settings}
    if threshold is not None and not 0 <= float(threshold) <= 1:
        raise InputError("threshold is not a probability", expected="0 <= P <= 1", got=threshold)
    key = run_key(plan, io.file_sha256(card), settings)
    # The labels do not depend on the review threshold: the parts are keyed without it and
    # the threshold is applied when they are merged (or to a finished output's rows).
    labels_key = run_key(plan, io.file_sha256(card), {**settings, "threshold": None})
    if _completed(out, key):
        m = json.loads(manifest_path(out).read_text(encoding="utf-8"))
        c = m.get("counts", {})
        return BatchResult(out, manifest_path(out), c.get("segments", 0), c.get("codings", 0),
                           c.get("coded", 0), c.get("review", 0), m.get("model", ""),
                           c.get("chunks", 0), c.get("chunks", 0), m.get("skipped", []),
                           c.get("files", 0), time.perf_counter() - t0, already_complete=True)
    if out.exists() and not force and not _own_partial(out, labels_key):
        raise OutputExistsError(f"{out} exists; use --force to overwrite it")
    if _same_labels(out, labels_key) and not parts_folder(out).exists():
        return _rethreshold(out, key, threshold, model_info, t0)
    model = embedder = None
    if client is None:  # a model that cannot label (embedding mismatch) stops before OUT.parts
        model, embedder = load_labeller(str(model_dir), cache, None, embedding_model)
    fresh_store = not (parts_folder(out) / JOURNAL).is_file() or not resume
    store = PartStore(parts_folder(out), labels_key, resume=resume)
    resumed = len(store.done)
    try:
        return _label_run(store, plan, out, model_dir, key, settings, card, model_info, client,
                          model, embedder, threshold=threshold,
                          all_segments=all_segments, chunk_size=chunk_size, resume=resume,
                          strict=strict, questions=questions, ingest_settings=ingest_settings,
                          cache=cache, worker_threads=worker_threads, progress=progress,
                          on_chunk=on_chunk, resumed=resumed, t0=t0,
                          embedding_model=embedding_model, labels_key=labels_key)
    except Exception:
        if fresh_store and not store.done:
            store.remove()  # a refused run leaves no OUT.parts/journal.jsonl behind
        raise


def _label_run(store, plan, out, model_dir, key, settings, card, model_info, client, model,
               embedder, *, threshold, all_segments, chunk_size, resume, strict, questions,
               ingest_settings, cache, worker_threads, progress, on_chunk, resumed, t0,
               embedding_model=None, labels_key=None) -> BatchResult:
    """The chunk loop, merge and manifest of :func:`label_batch`."""
    from themeassist import modelstore
    from tqdm.auto import tqdm

    bar = tqdm(total=plan.total, unit="seg", desc="labelling", disable=not progress,
               dynamic_ncols=True, smoothing=0.1)
    n_chunks = 0
    batches = segment_batches(plan, batch_rows=max(chunk_size, 1024), questions=questions,
                              settings=ingest_settings)
    path = plan.files[0] if plan.kind == "table" else None
    try:
        if client is None:
            for chunk in iter_chunks(batches, chunk_size, path=path):
                n_chunks += 1
                if not store.is_done(chunk):
                    store.commit(chunk, label_chunk(chunk, model, embedder,
                                                    all_segments=all_segments))
                    if on_chunk is not None:
                        on_chunk(chunk)
                bar.update(chunk.n)
        else:
            n_chunks = _run_dask(client, iter_chunks(batches, chunk_size, path=path), store,
                                 str(model_dir.resolve()), None, all_segments, cache,
                                 worker_threads,
                                 bar, on_chunk, embedding_model)
    finally:
        bar.close()
    _, review = store.merge(out, force=True, threshold=threshold, coder=settings["coder"])
    codings = sum(int(r["rows"]) for r in store.done.values())
    segments = sum(int(r["segments"]) for r in store.done.values())
    coded = sum(int(r["coded"]) for r in store.done.values())
    thr_used = model_info.threshold_ if threshold is None else threshold
    seconds = time.perf_counter() - t0
    man = io.manifest(
        "label",
        inputs={"corpus" if plan.kind == "table" else "transcripts": plan.files,
                "model": [model_dir / n for n in modelstore.FILES if (model_dir / n).is_file()]},
        settings={**settings, "threshold": thr_used, "resume": resume, "strict": strict,
                  "scheduler": "dask" if client is not None else "local", "method": METHOD},
        outputs=[out],
        extra={"run_key": key, "labels_key": labels_key, "output_sha256": io.file_sha256(out),
               "model": model_info.name_, "embedding_model": model_info.embedding_model_,
               "run_settings": settings,
               "model_card_sha256": io.file_sha256(card),
               "counts": {"segments": segments, "codings": codings, "coded": coded,
                          "review": review, "chunks": n_chunks,
                          "chunks_resumed": resumed, "files": len(plan.files),
                          "skipped_files": len(plan.skipped)},
               "skipped": plan.skipped},
        timings={"seconds": round(seconds, 3), "total_seconds": round(seconds, 2),
                 "segments_per_second": round(segments / seconds, 2) if seconds else None})
    io.write_json(man, manifest_path(out), force=True)
    store.remove()
    return BatchResult(out, manifest_path(out), segments, codings, coded, review,
                       model_info.name_, n_chunks, resumed, plan.skipped, len(plan.files), seconds)


def _run_dask(client, chunks: Iterator[Chunk], store: PartStore, model_dir: str, threshold,
              all_segments: bool, cache: bool, threads: int | None, bar, on_chunk,
              embedding_model: str | None = None) -> int:
    """Submit chunks to Dask with a bounded number in flight; commit them as they finish.

    At most two chunks per worker are in flight, so the driver's memory stays bounded.
    """
    from distributed import wait

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    max_in_flight = 2 * n_workers
    futures: dict[Any, Chunk] = {}
    n = 0

    def drain(block_until: int) -> None:
        while len(futures) > block_until:
            done, _ = wait(list(futures), return_when="FIRST_COMPLETED")
            for f in done:
                chunk = futures.pop(f)
                store.commit(chunk, f.result())
                if on_chunk is not None:
                    on_chunk(chunk)
                bar.update(chunk.n)

    for chunk in chunks:
        n += 1
        if store.is_done(chunk):
            bar.update(chunk.n)
            continue
        fut = client.submit(_label_task, chunk, model_dir, threshold, all_segments, cache, threads,
                            embedding_model,
                            key=f"themeassist-label-{store.run_key[:12]}-{chunk.index}",
                            pure=False)
        futures[fut] = chunk
        drain(max_in_flight - 1)
    drain(0)
    return n
