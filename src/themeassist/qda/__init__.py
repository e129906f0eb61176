"""Interoperability with QDA tools: REFI-QDA (.qdpx projects, .qdc codebooks) and Taguette.

:data:`IMPORTERS` maps a file's extension to its reader; every reader returns a dict with the
``segments``, ``codings`` and ``codebook`` tables, a ``report`` listing every coded selection
(imported or skipped, with the reason) and a ``summary`` of counts. :func:`import_file`
dispatches on the extension.
"""

from __future__ import annotations

from pathlib import Path

from themeassist.errors import InputError


def _qdpx(path, **kw):
    from themeassist.qda.refi import read_qdpx

    return read_qdpx(path, offsets=kw.get("offsets", "auto"),
                     segment_unit=kw.get("segment_unit", "paragraph"),
                     coder_from=kw.get("coder_from") or "coding")


def _qdc(path, **kw):
    from themeassist.qda.refi import read_qdc

    return read_qdc(path)


def _taguette_db(path, **kw):
    from themeassist.qda.taguette import read_taguette_db

    return read_taguette_db(path, segment_unit=kw.get("segment_unit", "paragraph"))


def _taguette_table(path, **kw):
    from themeassist.qda.taguette import read_taguette_table

    return read_taguette_table(path, coder=kw.get("coder") or "taguette")


#: Extension -> importer (REFI-QDA project and codebook; Taguette database, highlights CSV or
#: XLSX, codebook CSV).
IMPORTERS = {
    ".qdpx": _qdpx,
    ".qdc": _qdc,
    ".sqlite3": _taguette_db,
    ".sqlite": _taguette_db,
    ".db": _taguette_db,
    ".csv": _taguette_table,
    ".xlsx": _taguette_table,
}

#: Export formats: ``--to`` -> what is written (see ``themeassist qda export --help``).
EXPORTERS = {
    "refi": "a .qdpx project or a .qdc codebook (REFI-QDA: NVivo, ATLAS.ti, MAXQDA, QualCoder)",
    "taguette": "a folder with codebook.csv (Taguette's 'Import a codebook') and "
                "project.sqlite3 (Taguette's 'Import a project')",
}


def import_file(path: str | Path, **options) -> dict:
    """Import a QDA file by extension (see :data:`IMPORTERS`).

    Options: ``offsets`` (REFI: auto, codepoint, utf16, utf8), ``segment_unit``
    (paragraph or selection), ``coder_from`` (REFI: coding or selection), ``coder``
    (Taguette CSV).
    """
    path = Path(path)
    try:
        reader = IMPORTERS[path.suffix.lower()]
    except KeyError:
        raise InputError("unknown QDA file format", path=path,
                         expected=f"one of {', '.join(IMPORTERS)}", got=path.suffix) from None
    return reader(path, **options)
