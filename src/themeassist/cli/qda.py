"""`themeassist qda import|export`: exchange coding with NVivo, ATLAS.ti, MAXQDA, QualCoder, Taguette."""

from __future__ import annotations

from pathlib import Path

import typer

from themeassist.cli._app import app
from themeassist.cli._util import codebook_option, echo, force_option, user_errors, warn

qda_app = typer.Typer(
    help="Exchange projects with QDA tools: REFI-QDA (.qdpx, .qdc) and Taguette.",
    no_args_is_help=True,
)
app.add_typer(qda_app, name="qda")

_IMPORT_HELP = (".qdpx (REFI-QDA project), .qdc (REFI-QDA codebook), .sqlite3/.sqlite/.db "
                "(Taguette project) or .csv (Taguette highlights export)")


@qda_app.command("import")
def import_cli(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help=_IMPORT_HELP),
    out: Path = typer.Option(..., "--out", "-o", file_okay=False,
                             help="Folder for segments.csv, codings.csv, codebook.csv, "
                                  "selections.csv and import_report.json."),
    offsets: str = typer.Option("auto", "--offsets",
                                help="How the .qdpx counts characters: auto (detect), codepoint "
                                     "(the standard), utf16 (NVivo), utf8."),
    unit: str = typer.Option("paragraph", "--unit",
                             help="Segments: 'paragraph' (each paragraph of a source) or "
                                  "'selection' (each coded selection's text)."),
    coder_from: str = typer.Option("coding", "--coder-from",
                                   help="REFI: the coder is the creatingUser of the 'coding' "
                                        "(who applied the code) or of the 'selection'."),
    coder: str = typer.Option(None, "--coder",
                              help="Coder name for a Taguette highlights CSV (default: taguette)."),
    force: bool = force_option(),
) -> None:
    """Import coded sources, the code tree and the coders from a QDA tool.

    Every coded selection is listed in selections.csv: imported (whole, partial or spanning
    paragraphs) or skipped, with the reason.

    Example: themeassist qda import project.qdpx --out imported/
    """
    import time

    from themeassist import io
    from themeassist.qda import import_file

    with user_errors():
        t0 = time.perf_counter()
        result = import_file(file, offsets=offsets, segment_unit=unit, coder=coder,
                             coder_from=coder_from)
        codebook_only = file.suffix.lower() == ".qdc"
        names = (["codebook.csv"] if codebook_only else
                 ["segments.csv", "codings.csv", "codebook.csv", "selections.csv"])
        names += ["import_report.json", "manifest.json"]
        summary = result["summary"]
        with io.OutputDir(out, force=force, planned=names) as staged:
            for name in names[:-2]:
                staged.table(result[name[:-4] if name != "selections.csv" else "report"], name)
            staged.json(summary, "import_report.json")
            staged.json(io.manifest(
                "qda import", inputs={"file": file},
                settings={"offsets": offsets, "unit": unit, "coder": coder, "coder_from": coder_from,
                          "method": "qda-import.v1"},
                outputs=names[:-1], extra={"summary": summary},
                timings={"total_s": round(time.perf_counter() - t0, 3)}), "manifest.json")
    if codebook_only:
        echo(f"imported {summary['codebook_rows']} codes ({summary['codes']} in the tree) to {out}")
        return
    if summary["skipped"]:
        warn(f"{summary['skipped']} coded selection(s) not imported; reasons in "
             f"{out / 'selections.csv'}")
    echo(f"imported {summary['imported']} of {summary['selection_codes']} codings of selections "
         f"({summary['skipped']} skipped): {summary['segments']} segments, "
         f"{summary['codings']} codings by {len(summary['coders'])} coder(s), "
         f"{summary['codebook_rows']} codes; offsets counted as {summary['offset_unit']} -> {out}")


@qda_app.command("export")
def export_cli(
    out: Path = typer.Option(..., "--out", "-o", dir_okay=False,
                             help="project.qdpx (REFI-QDA project) or codebook.qdc (codebook only)."),
    corpus: Path = typer.Option(None, "--corpus", "-s", exists=True, dir_okay=False,
                                help="Segments table (needed for .qdpx)."),
    codings: list[Path] = typer.Option(None, "--codings", "-c", exists=True, dir_okay=False,
                                       help="Codings table(s), human or machine; repeat the "
                                            "option for several coders."),
    codebook: Path = codebook_option(),
    name: str = typer.Option("themeassist export", "--name", help="Project name."),
    offsets: str = typer.Option("codepoint", "--offsets",
                                help="How offsets count characters: codepoint (the standard) "
                                     "or utf16 (what NVivo reads; differs only for emoji)."),
    force: bool = force_option(),
) -> None:
    """Export transcripts, codes and every coder's coding for review in a QDA tool.

    Each coder becomes a User; a machine coder (model:...) a user named after its model; the
    machine's confidence goes to themeassist/confidence.csv inside the archive. A manifest is
    written beside the output as OUT.manifest.json.

    Example: themeassist qda export -s segments.csv -c human.csv -c machine.csv -b codebook.csv -o project.qdpx
    """
    import time

    from themeassist import io
    from themeassist.errors import InputError
    from themeassist.qda import EXPORTERS, refi

    with user_errors():
        t0 = time.perf_counter()
        suffix = out.suffix.lower()
        if suffix not in EXPORTERS:
            raise InputError("unknown export format", path=out,
                             expected=f"one of {', '.join(EXPORTERS)}", got=out.suffix)
        manifest_path = out.with_name(out.name + ".manifest.json")
        for p in (out, manifest_path):
            if p.exists() and not force:
                from themeassist.errors import OutputExistsError

                raise OutputExistsError(f"{p} exists; use --force to overwrite it")
        book = io.read_codebook(codebook)
        if suffix == ".qdc":
            data = refi.codebook_bytes(book)
            what = f"{len(book)} codes"
        else:
            if corpus is None or not codings:
                raise InputError("a .qdpx export needs --corpus and at least one --codings",
                                 path=out, expected="--corpus FILE --codings FILE",
                                 got="missing")
            segments = io.read_segments(corpus)
            table = io.read_codings(codings, book, segments)
            data = refi.project_bytes(segments, table, book, name=name, offsets=offsets)
            what = (f"{segments['transcript_id'].nunique()} sources, {len(table)} codings by "
                    f"{table['coder'].nunique()} coder(s), {len(book)} codes")
        io.atomic_write_bytes(out, data, force=force)
        io.write_json(io.manifest(
            "qda export", inputs={"corpus": corpus, "codings": codings or None,
                                  "codebook": codebook},
            settings={"name": name, "offsets": offsets, "method": "qda-export.v1"},
            outputs=[out], extra={"sha256": io.file_sha256(out)},
            timings={"total_s": round(time.perf_counter() - t0, 3)}),
            manifest_path, force=force)
    echo(f"wrote {out} ({what})")
