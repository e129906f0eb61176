"""`themeassist agree`: agreement between coders (a machine coder is one more coder)."""

from __future__ import annotations

from pathlib import Path

import typer

from themeassist.cli._app import app
from themeassist.cli._util import echo, force_option, seed_option, user_errors, warn

#: Keys of a report that a second convention (--both) repeats.
_ALT_KEYS = ("n_units", "convention", "percent_agreement", "cohen_kappa", "scott_pi",
             "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "brennan_prediger",
             "masi_alpha", "q", "ci", "undefined")


@app.command("agree")
def agree_cli(
    codings: list[Path] = typer.Option(
        None, "--codings", "-c", dir_okay=False,
        help="Codings of two or more coders: one file with a coder column, or one file per "
             "coder (repeat -c, or list the files after it)."),
    more: list[Path] = typer.Argument(None, hidden=True, help="More codings files."),
    corpus: Path = typer.Option(None, "--corpus", "-s", dir_okay=False,
                                help="Segments table: the universe of units (uncoded = 'none')."),
    codebook: Path = typer.Option(None, "--codebook", "-b", dir_okay=False,
                                  help="Codebook: checks the codes and fixes the categories (q)."),
    level: str = typer.Option("theme", "--level", help="What a category is: theme, code or valence."),
    coded_only: bool = typer.Option(False, "--coded-only",
                                    help="Only segments some coder coded."),
    both: bool = typer.Option(False, "--both",
                              help="Also report the other convention (all segments / coded only)."),
    cluster: str = typer.Option("none", "--cluster",
                                help="Bootstrap unit: none (segments) or transcript."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0,
                                  help="Bootstrap resamples for the 95% intervals (0: none)."),
    seed: int = seed_option(),
    units: Path = typer.Option(
        None, "--units", dir_okay=False,
        help="Measure on these units only: a table with a segment_id column (or one column "
             "of ids); codings of other segments are left out, not refused."),
    both_coded: bool = typer.Option(
        False, "--both-coded",
        help="Measure on the transcripts every coder coded (needs --corpus)."),
    matrix: Path = typer.Option(None, "--matrix", dir_okay=False,
                                help="Units x coders table: first column the unit id, "
                                     "empty cell = missing."),
    metric: str = typer.Option("nominal", "--metric",
                               help="Krippendorff's alpha for --matrix: nominal, ordinal, "
                                    "interval or ratio."),
    out: Path = typer.Option(None, "--out", "-o", file_okay=False,
                             help="Folder for agreement.json, per_code.csv, confusion.csv and "
                                  "figures, disagreements.csv, manifest.json."),
    as_json: bool = typer.Option(False, "--json", help="Print agreement.json on stdout."),
    force: bool = force_option(),
) -> None:
    """Agreement between coders: percent agreement, Cohen's kappa, Scott's pi, Fleiss'
    kappa, Krippendorff's alpha, Gwet's AC1 and Brennan-Prediger, with bootstrap intervals.

    Example: themeassist agree -c human.csv -c machine.csv -s segments.csv -o agreement/
    """
    import time
    import warnings

    from themeassist import agree, io
    from themeassist.errors import InputError, UndefinedStatisticWarning

    files = [*(codings or []), *(more or [])]
    started = time.perf_counter()
    with user_errors(outputs=[out], inputs=[*files, corpus, codebook, matrix], command="agree"), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedStatisticWarning)
        if matrix is not None and files:
            raise InputError("give --codings or --matrix, not both")
        if matrix is None and not files:
            raise InputError("nothing to compare", expected="--codings FILE... or --matrix FILE",
                             got="neither")
        if level not in agree.LEVELS:
            raise InputError("unknown --level", expected=", ".join(agree.LEVELS), got=level)
        if metric not in agree.METRICS:
            raise InputError("unknown --metric", expected=", ".join(agree.METRICS), got=metric)
        if cluster not in ("none", "transcript"):
            raise InputError("unknown --cluster", expected="none or transcript", got=cluster)
        tables: dict[str, object] = {}
        if matrix is not None:
            report = _matrix(matrix, metric, bootstrap, seed)
            inputs = {"matrix": matrix}
        else:
            report, tables = _codings(files, corpus, codebook, level, coded_only, both,
                                      cluster, bootstrap, seed, units, both_coded)
            inputs = {"codings": files, "corpus": corpus, "codebook": codebook, "units": units}
        written = []
        if out is not None:
            settings = {"level": level if matrix is None else metric, "coded_only": coded_only,
                        "both_coded": both_coded,
                        "both": both, "cluster": cluster, "bootstrap": bootstrap, "seed": seed,
                        "conventions": report.get("conventions")}
            written = _write(out, force, report, tables, inputs, settings,
                             time.perf_counter() - started)
    for w in caught:
        if issubclass(w.category, (UndefinedStatisticWarning, agree.ManyCategoriesWarning)):
            warn(str(w.message))
    if as_json:
        typer.echo(io.json_dumps(report), nl=False)
    else:
        echo(_table(report))
    if out is not None:
        typer.echo(f"wrote {len(written)} files to {out}", err=as_json)


def _read_codings(files, segments, book):
    import pandas as pd

    from themeassist import io
    from themeassist.errors import InputError

    frames, expected, seen = [], [], {}
    for p in files:
        with io.reading(p):
            raw = io.read_table(p)
            df = io.read_codings(p, book, segments)
        if len(df) == 0:
            raise InputError("no codings: the coder coded nothing", path=p, row=2,
                             expected="one or more codings", got=0)
        models = [c for c in dict.fromkeys(df["coder"].astype(str)) if c.startswith("model:")]
        if len(models) > 1:
            # e.g. fold-wise label outputs concatenated: each fold's model would become a
            # coder of its own, and the report a table of that many coders.
            raise InputError(f"one file holds {len(models)} model names; agreement would treat "
                             "each as a coder of its own", path=p, column="coder",
                             expected="one model per file (give each model its own file, or "
                                      "one coder name to the whole file)",
                             got=", ".join(models[:3]) + (", ..." if len(models) > 3 else ""))
        for coder in df["coder"].unique():
            if coder in seen:
                raise InputError(f"coder {coder!r} appears in two files", path=p,
                                 expected="each coder in one file", got=f"also in {seen[coder]}")
            seen[coder] = p
        if "coder" not in raw.columns:
            expected.append(p.stem)
        else:
            expected.extend(df["coder"].unique())
        frames.append(df)
    return pd.concat(frames, ignore_index=True), list(dict.fromkeys(expected))


def _read_units(path, segments):
    from themeassist import io
    from themeassist.errors import InputError

    with io.reading(path):
        df = io.read_table(path)
    if "segment_id" in df.columns:
        ids = df["segment_id"].astype(str)
    elif df.shape[1] == 1:
        ids = df.iloc[:, 0].astype(str)
    else:
        raise InputError("a units table needs a segment_id column", path=path, row=1,
                         expected="segment_id", got=", ".join(map(str, df.columns)))
    if len(ids) == 0:
        raise InputError("no units", path=path, row=2, expected="one or more segment ids", got=0)
    if segments is not None:
        bad = ~ids.isin(set(segments["segment_id"].astype(str)))
        if bad.any():
            i = int(bad.to_numpy().argmax())
            raise InputError(f"unit not in the corpus ({int(bad.sum())} rows, first shown)",
                             path=path, row=i + 2, column="segment_id",
                             expected="a segment_id of the corpus", got=ids.iat[i])
    return ids


def _codings(files, corpus, codebook, level, coded_only, both, cluster, n_boot, seed,
             units=None, both_coded=False):
    from themeassist import agree, io
    from themeassist.errors import InputError

    segments = io.read_segments(corpus) if corpus is not None else None
    book = io.read_codebook(codebook) if codebook is not None else None
    codings, coders = _read_codings(files, segments, book)
    if both_coded:
        if segments is None:
            raise InputError("--both-coded needs the corpus (--corpus)")
        codings, segments = agree.restrict_units(codings, segments,
                                                 agree.both_coded_units(codings, segments))
    if units is not None:
        codings, segments = agree.restrict_units(codings, segments, _read_units(units, segments))
    kw = {"n_boot": n_boot, "seed": seed,
          "categories": None if book is None else agree.level_categories(book, level),
          "cluster": None if cluster == "none" else cluster}
    # The units x coders data, built once and shared by the report and its tables.
    data = agree.reliability_data(codings, segments, level, coded_only, coders)
    report = agree.agreement_report(data, **kw)
    if both:
        other = agree.agreement_report(
            agree.reliability_data(codings, segments, level, not coded_only, coders), **kw)
        report["alternative"] = {k: other[k] for k in _ALT_KEYS if k in other}
    tables = {
        "disagreements.csv": agree.disagreements(data),
        "confusion": agree.confusion(data, coders=coders[:2]),
    }
    return report, tables


def _matrix(path, metric, n_boot, seed):
    from themeassist import agree, io
    from themeassist.errors import InputError

    with io.reading(path):
        df = io.read_table(path)
        if df.shape[1] < 3:
            raise InputError("a matrix needs a unit id column and two or more coder columns",
                             path=path, row=1, expected="unit, coder1, coder2, ...",
                             got=", ".join(map(str, df.columns)))
        ids = df.iloc[:, 0].astype(str)
        dup = ids.duplicated()
        if dup.any():
            i = int(dup.to_numpy().argmax())
            raise InputError("duplicate unit id", path=path, row=i + 2,
                             column=str(df.columns[0]), expected="unique unit ids",
                             got=ids.iat[i])
        m = df.iloc[:, 1:].set_axis(ids, axis=0)
        return agree.matrix_report(m, metric=metric, n_boot=n_boot, seed=seed)


def _write(out, force, report, tables, inputs, settings, seconds):
    from themeassist import io

    names = (list(io.AGREEMENT_FILES) if tables else ["agreement.json"]) + ["manifest.json"]
    with io.OutputDir(out, force=force, planned=names) as staged:
        io.write_agreement(staged, report, *((tables["disagreements.csv"], tables["confusion"])
                                             if tables else ()))
        staged.json(io.manifest("agree", inputs=inputs, settings=settings, outputs=names,
                                timings={"seconds": round(seconds, 3)}), "manifest.json")
    return staged.written


def _table(report) -> str:
    from themeassist.report.agree_figures import DISPLAY

    def fmt(v):
        return "undefined" if v is None else f"{v:.3f}"

    lines = [(f"{report['n_units']} units, coders: {', '.join(report['coders'])}; "
              f"level {report['level']}; {report['convention']}")]
    lines.append(f"{'coefficient':<24}{'value':>10}   95% interval")
    for name, label in DISPLAY.items():
        if name not in report:
            continue
        ci = (report.get("ci") or {}).get(name)
        interval = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        reason = report.get("undefined", {}).get(name)
        lines.append(f"{label:<24}{fmt(report[name]):>10}   {interval}"
                     + (f"  ({reason})" if reason and report[name] is None else ""))
    if "q" in report:
        lines.append(f"q (Brennan-Prediger, AC1) = {report['q']} categories")
    if report.get("multi_code_units"):
        lines.append(f"{report['multi_code_units']} units carry several codes: alpha (MASI) "
                     "compares the coders' sets of codes; the other coefficients count each "
                     "combination as one category")
    for note in report.get("notes") or []:
        lines.append(f"note: {note}")
    alt = report.get("alternative")
    if alt:
        lines.append(f"other convention ({alt['convention']}, {alt['n_units']} units): "
                     + ", ".join(f"{n} {fmt(alt.get(n))}" for n in
                                 ("percent_agreement", "cohen_kappa", "krippendorff_alpha",
                                  "gwet_ac1")))
    return "\n".join(lines)
