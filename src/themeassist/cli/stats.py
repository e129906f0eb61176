"""`themeassist stats`: the reference study's content-analysis statistics, per coder, compared."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from themeassist.cli._app import app
from themeassist.cli._util import (
    codebook_option,
    corpus_option,
    echo,
    force_option,
    user_errors,
    warn,
)


class DedupScope(str, Enum):
    question = "question"
    transcript = "transcript"
    none = "none"


@app.command("stats")
def stats_cli(
    codings: list[Path] = typer.Option(
        ..., "--codings", "-c", dir_okay=False, metavar="FILE",
        help="Codings table (CSV, Parquet or XLSX); repeat for several coders, or give one "
             "file with a coder column. A file without one is named after its stem."),
    codebook: Path = codebook_option(required=False),
    corpus: Path = corpus_option(required=False),
    out: Path = typer.Option(..., "--out", "-o", file_okay=False,
                             help="Folder for theme_counts.csv, summary.json, per_question.csv, "
                                  "appendix.csv, figures and manifest.json."),
    dedup_scope: DedupScope = typer.Option(
        DedupScope.question, "--dedup-scope",
        help="Count a participant's repeated code once per question (default), per "
             "transcript, or keep every code (none)."),
    exclude_review: bool = typer.Option(
        False, "--exclude-review",
        help="Leave out machine codes marked needs_review (below the confidence threshold)."),
    figures: bool = typer.Option(True, "--figures/--no-figures",
                                 help="Draw the PNG and SVG figures (the slow part)."),
    force: bool = force_option(),
) -> None:
    """Codes per theme, major/minor themes, per-question shares and the 50% rule.

    With two or more coders (human and machine), writes each coder's results in
    OUT/<coder>/ and a comparison with a verdict in OUT.

    Example: themeassist stats -c human.csv -c machine.csv -s segments.csv -o results/
    """
    with user_errors(outputs=[out], inputs=[*codings, codebook, corpus], command="stats"):
        import time
        import warnings

        from themeassist import io, stats
        from themeassist.errors import UndefinedStatisticWarning

        started = time.perf_counter()
        book = io.read_codebook(codebook)
        segments = io.read_segments(corpus) if corpus is not None else None
        table = io.read_codings(codings, book, segments)
        coders = list(dict.fromkeys(table["coder"]))
        results, messages = {}, []
        for coder, frame in stats.by_coder(table):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UndefinedStatisticWarning)
                results[coder] = stats.run(frame, book, segments, dedup_scope.value,
                                           exclude_review=exclude_review)
            prefix = f"{coder}: " if len(coders) > 1 else ""
            messages += [prefix + str(w.message) for w in caught]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UndefinedStatisticWarning)
            comparison = stats.compare(results) if len(results) > 1 else None
        messages += [str(w.message) for w in caught]
        names, writers = io.stats_outputs(results, comparison, figures=figures)
        names.append("manifest.json")
        with io.OutputDir(out, force=force, planned=names) as staged:
            io.write_all(staged, writers)
            staged.json(io.manifest(
                "stats",
                inputs={"codings": codings, "codebook": codebook, "corpus": corpus},
                settings={"dedup_scope": dedup_scope.value, "figures": figures,
                          "exclude_review": exclude_review,
                          "codebook": str(codebook) if codebook else "bundled reference",
                          "methods": {**stats.METHODS, "dedupe": stats.METHODS["dedupe"]
                                      .format(scope=dedup_scope.value)}},
                outputs=names,
                extra={"files": names},
                timings={"seconds": round(time.perf_counter() - started, 3)}),
                "manifest.json")

    for message in dict.fromkeys(messages):
        warn(message)
    skipped = {k: v for r in results.values() for k, v in r.skipped.items()}
    if skipped:
        warn(_skipped_line(skipped))
    for coder, r in results.items():
        n = r.summary.get("codes_without_question", 0)
        if n and "per_question" not in r.skipped:
            warn(f"{coder + ': ' if len(results) > 1 else ''}{n} codes on segments without a "
                 "question are left out of the per-question statistics")
    echo(_summary_line(results, len(names), out))
    if comparison is not None:
        echo(f"verdict: {comparison['verdict']}")


# --------------------------------------------------------------------------- messages
_SKIPPED_FILES = {
    "dedupe": "de-duplication",
    "per_question": "per_question.csv, group_shares.csv and the question figures",
    "top_subthemes": "top_subthemes.csv",
}


def _skipped_line(skipped: dict[str, str]) -> str:
    what = [_SKIPPED_FILES.get(k, k) for k in _SKIPPED_FILES if k in skipped]
    if "corpus" not in " ".join(skipped.values()):
        return f"skipped {'; '.join(what)}: {next(iter(skipped.values()))}"
    return (f"skipped {'; '.join(what)}: they need each coding's transcript, question and "
            "speaker; give the corpus with --corpus")


def _summary_line(results, n_files: int, out: Path) -> str:
    parts = []
    for coder, r in results.items():
        s = r.summary
        sd = "undefined" if s["sd"] != s["sd"] else f"{s['sd']:.2f}"
        text = (f"{s['total_codes']} codes in {s['n_themes']} themes (mean {s['mean']:.2f}, "
                f"SD {sd}), {len(s['major'])} major")
        if r.duplicates_removed:
            n = r.duplicates_removed
            text += f", {n} repeat{'s' * (n != 1)} removed ({r.dedup_scope} scope)"
        parts.append(f"{coder}: {text}" if len(results) > 1 else text)
    head = "; ".join(parts) if len(results) == 1 else f"{len(results)} coders: " + "; ".join(parts)
    return f"{head}; wrote {n_files} files to {out}"
