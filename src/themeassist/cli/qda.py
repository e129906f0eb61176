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
                "(Taguette project), .csv (Taguette highlights or codebook export) or .xlsx "
                "(Taguette highlights export)")


def report_markdown(file: Path, summary: dict) -> str:
    """``import_report.md``: what an import kept and what it could not keep."""
    lines = [f"# Import report: {file.name}", ""]
    if "selection_codes" in summary and summary.get("selection_codes"):
        lines += [f"- imported {summary['imported']} of {summary['selection_codes']} codings of "
                  f"selections ({summary['skipped']} skipped); {summary['segments']} segments, "
                  f"{summary['codings']} codings by {len(summary['coders'])} coder(s)",
                  f"- offsets counted as {summary['offset_unit']}"]
    lines.append(f"- {summary.get('codebook_rows', 0)} codebook rows "
                 f"({summary.get('codes', 0)} codes in the tree)")
    for reason, n in summary.get("skip_reasons", {}).items():
        lines.append(f"- skipped {n}: {reason}")
    for src in summary.get("skipped_sources", []):
        lines.append(f"- source {src['source']!r} ({src['kind']}) not imported: {src['reason']}")
    kept = summary.get("not_kept", [])
    lines += ["", "## Not kept", ""] + ([f"- {x}" for x in kept] or ["- nothing"])
    return "\n".join(lines) + "\n"


@qda_app.command("import")
def import_cli(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help=_IMPORT_HELP),
    out: Path = typer.Option(..., "--out", "-o", file_okay=False,
                             help="Folder for segments.csv, codings.csv, codebook.csv, "
                                  "selections.csv, import_report.json and import_report.md."),
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
    paragraphs) or skipped, with the reason; what the tables cannot hold (sets, notes,
    original .docx files, ...) is listed on screen and in import_report.md.

    Example: themeassist qda import project.qdpx --out imported/
    """
    import time

    from themeassist import io
    from themeassist.qda import import_file

    with user_errors(outputs=[out], inputs=[file], command="qda import"):
        t0 = time.perf_counter()
        result = import_file(file, offsets=offsets, segment_unit=unit, coder=coder,
                             coder_from=coder_from)
        summary = result["summary"]
        codebook_only = not summary.get("selection_codes") and not len(result["segments"])
        names = (["codebook.csv"] if codebook_only else
                 ["segments.csv", "codings.csv", "codebook.csv", "selections.csv"])
        names += ["import_report.json", "import_report.md", "manifest.json"]
        with io.OutputDir(out, force=force, planned=names) as staged:
            for name in names[:-3]:
                staged.table(result[name[:-4] if name != "selections.csv" else "report"], name)
            staged.json(summary, "import_report.json")
            staged.text(report_markdown(file, summary), "import_report.md")
            staged.json(io.manifest(
                "qda import", inputs={"file": file},
                settings={"offsets": offsets, "unit": unit, "coder": coder, "coder_from": coder_from,
                          "method": "qda-import.v2"},
                outputs=names[:-1], extra={"summary": summary},
                timings={"total_s": round(time.perf_counter() - t0, 3)}), "manifest.json")
    for item in summary.get("not_kept", []):
        warn(f"not kept: {item}")
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
    out: Path = typer.Option(..., "--out", "-o",
                             help="--to refi: project.qdpx (REFI-QDA project) or codebook.qdc "
                                  "(codebook only). --to taguette: a folder for codebook.csv "
                                  "and project.sqlite3."),
    to: str = typer.Option("refi", "--to", help="Format: refi (NVivo, ATLAS.ti, MAXQDA, "
                                                "QualCoder) or taguette."),
    corpus: Path = typer.Option(None, "--corpus", "-s", exists=True, dir_okay=False,
                                help="Segments table (needed for a project)."),
    codings: list[Path] = typer.Option(None, "--codings", "-c", exists=True, dir_okay=False,
                                       help="Codings table(s), human or machine; repeat the "
                                            "option for several coders."),
    codebook: Path = codebook_option(),
    name: str = typer.Option("themeassist export", "--name", help="Project name."),
    target: str = typer.Option("generic", "--target",
                               help="REFI: the tool that will read the file: nvivo (UTF-16 "
                                    "offsets, CRLF), qualcoder, atlasti, maxqda or generic "
                                    "(code points, the standard's unit)."),
    offsets: str = typer.Option(None, "--offsets",
                                help="Override the target's offset unit: codepoint or utf16."),
    force: bool = force_option(),
) -> None:
    """Export transcripts, codes and every coder's coding for review in a QDA tool.

    REFI: each coder becomes a User and each coding its own selection; a machine coder
    (model:...) is a user named after its model, its confidence in the selection's
    Description; speakers are in the text (Name: ...) and in Cases. Taguette: codebook.csv
    and project.sqlite3 in the folder OUT. A manifest is written as OUT.manifest.json.

    Example: themeassist qda export -s segments.csv -c human.csv -c machine.csv -b codebook.csv -o project.qdpx --target nvivo
    """
    import time

    from themeassist import io
    from themeassist.errors import InputError, OutputExistsError
    from themeassist.qda import EXPORTERS, refi, taguette

    with user_errors(outputs=[out], inputs=[corpus, *(codings or []), codebook],
                     command="qda export"):
        t0 = time.perf_counter()
        if to not in EXPORTERS:
            raise InputError("unknown export format", expected=f"one of {', '.join(EXPORTERS)}",
                             got=to)
        suffix = out.suffix.lower()
        if to == "refi" and suffix not in (".qdpx", ".qdc"):
            raise InputError("unknown export format", path=out,
                             expected="a .qdpx or .qdc file (or --to taguette)", got=out.suffix)
        manifest_path = out.with_name(out.name + ".manifest.json")
        targets = ([out / "codebook.csv", out / "project.sqlite3"] if to == "taguette"
                   else [out])
        for p in (*targets, manifest_path):
            if p.exists() and not force:
                raise OutputExistsError(f"{p} exists; use --force to overwrite it")
        book = io.read_codebook(codebook)
        warnings_: list[str] = []
        need_project = to == "taguette" or suffix == ".qdpx"
        if need_project and (corpus is None or not codings):
            raise InputError("a project export needs --corpus and at least one --codings",
                             path=out, expected="--corpus FILE --codings FILE", got="missing")
        if need_project:
            segments = io.read_segments(corpus)
            table = io.read_codings(codings, book, segments)
        if to == "taguette":
            out.mkdir(parents=True, exist_ok=True)
            warnings_ = taguette.project_sqlite(segments, table, book, out / "project.sqlite3",
                                                name=name)
            io.atomic_write_bytes(out / "codebook.csv", taguette.codebook_csv_bytes(book),
                                  force=True)
            what = (f"Taguette project: {segments['transcript_id'].nunique()} documents, "
                    f"{len(table)} codings, {len(book)} tags")
        elif suffix == ".qdc":
            tree_warn: list[str] = []
            refi._code_tree(book, tree_warn)
            warnings_ = tree_warn
            io.atomic_write_bytes(out, refi.codebook_bytes(book), force=force)
            what = f"{len(book)} codes"
        else:
            data, warnings_ = refi.export_project(segments, table, book, name=name,
                                                  offsets=offsets, target=target)
            io.atomic_write_bytes(out, data, force=force)
            what = (f"{segments['transcript_id'].nunique()} sources, {len(table)} codings by "
                    f"{table['coder'].nunique()} coder(s), {len(book)} codes; target {target}")
        io.write_json(io.manifest(
            "qda export", inputs={"corpus": corpus, "codings": codings or None,
                                  "codebook": codebook},
            settings={"to": to, "name": name, "target": target, "offsets": offsets,
                      "method": "qda-export.v2"},
            outputs=targets, extra={"warnings": warnings_,
                                    "sha256": {str(p): io.file_sha256(p) for p in targets}},
            timings={"total_s": round(time.perf_counter() - t0, 3)}),
            manifest_path, force=force)
    for w in warnings_:
        warn(w)
    echo(f"wrote {out} ({what})")
