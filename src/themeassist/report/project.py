"""Gather a run's results into the HTML report (sections in the order a researcher reads)."""

from __future__ import annotations

import contextlib
import contextvars
import math
from pathlib import Path

import pandas as pd

from themeassist import __version__, io
from themeassist.report.html import Report, Section, render_report


#: Screen resolution keeps the one-file report light; the PNG/SVG files beside it are
#: the print-quality versions.
REPORT_DPI = 110


def _png(fig) -> bytes:
    return io.figure_bytes(fig, "png", dpi=REPORT_DPI)


#: The report's figures, scaled in the background while the report is put together
#: (:func:`_scaling`): path of the stage's PNG -> future of the scaled bytes.
_SCALED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("themeassist_scaled",
                                                                      default=None)

#: The stages' figures the report shows, relative to the run folder.
_FIGURE_GLOBS = ("discover/sizes.png", "model/*.png", "agreement/*/confusion.png",
                 "stats/figures/*.png", "stats/*/figures/*.png")


def _scale_file(path: Path) -> bytes:
    return io.scaled_png(path.read_bytes(), REPORT_DPI)


@contextlib.contextmanager
def _scaling(out: Path):
    """Scale every figure of ``out`` the report may show in two threads, while the rest
    of the report is built: Pillow decodes, resamples and encodes without holding the
    GIL, and these are most of the report's time (issue 17). Same bytes as in order."""
    from concurrent.futures import ThreadPoolExecutor

    paths = sorted({p for g in _FIGURE_GLOBS for p in Path(out).glob(g)})
    with ThreadPoolExecutor(max_workers=2) as pool:
        token = _SCALED.set({p: pool.submit(_scale_file, p) for p in paths})
        try:
            yield
        finally:
            _SCALED.reset(token)


def _stage_png(d, rel: str, make) -> bytes:
    """The figure a stage wrote as ``OUT/<rel>.png``, scaled to the report's resolution.

    Each figure is drawn once per run, by the stage that writes it (issue 17: the report
    drew every figure a second time). ``make`` draws it only when that file is not there
    or is not a PNG.
    """
    from PIL import Image

    path = Path(d.out) / f"{rel}.png"
    try:
        pending = (_SCALED.get() or {}).get(path)
        return pending.result() if pending is not None else _scale_file(path)
    except (OSError, ValueError, Image.DecompressionBombError):
        return _png(make())


def _num(v, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "undefined"
    return f"{v:.{digits}f}"


def build_report(project, result) -> str:
    """The whole report for a :class:`themeassist.pipeline.RunResult` (its typed stages)."""
    d = result
    rep = Report(
        title=f"themeassist report: {project.name}",
        subtitle=("First-pass thematic analysis with machine pre-labels, measured against "
                  "human coding. Generated locally by themeassist " + __version__ + "."),
        footer=("Made with themeassist " + __version__ + ". Everything was computed on this "
                "machine; no text left it. The method follows Thomson, Waterson & Chatterjee "
                "(2024), Int J Equity Health 23, 135, doi:10.1186/s12939-024-02216-1 (CC BY 4.0)."),
    )
    with _scaling(d.out):
        rep.sections.append(_glance(d))
        rep.sections.append(_candidates(d))
        rep.sections.append(_model(d))
        rep.sections.append(_agreement(d))
        rep.sections.append(_stats(d))
        rep.sections.append(_methods(project, result))
    return render_report(rep)


def _glance(d) -> Section:
    s = Section("glance", "The project at a glance")
    seg = d.segments
    part = seg[seg["role"] != "facilitator"]
    speakers = part.loc[part["speaker"] != "", ["transcript_id", "speaker"]].drop_duplicates()
    cards = {"transcripts": seg["transcript_id"].nunique(), "participants": len(speakers),
             "segments": len(seg), "participant segments": len(part)}
    human = d.human
    for c in d.human_coders:
        cards[f"codes by {c}"] = int((human["coder"] == c).sum())
    if d.machine is not None:
        cards["machine codes"] = len(d.machine)
    s.add("cards", cards)
    summary = d.ingest_summary.drop(columns=[c for c in ("file",) if c in d.ingest_summary])
    s.add("table", summary, "Ingest summary, one row per transcript.")
    s.add("note", f"Embedding model: {d.embedding_model}. Codebook: "
                  f"{d.codebook['theme'].nunique()} themes, {len(d.codebook)} codes.")
    return s


def _candidates(d) -> Section:
    s = Section("candidates", "Candidate subthemes (inductive discovery)")
    if d.discovery is None:
        s.skipped = "discovery did not run"
        return s
    cand, diag = d.discovery.candidates, d.discovery.diagnostics or {}
    bits = [f"{len(cand)} candidate subthemes from {diag.get('n_clustered', '?')} participant "
            "segments"]
    from themeassist.discover import headline

    numbers = headline(diag)
    for key, label in (("outlier_share", "left unassigned"),
                       ("ari_mean", "mean adjusted Rand index between runs")):
        if numbers[key] is not None:
            bits.append(f"{label}: {numbers[key]:.2f}")
    s.add("text", "; ".join(bits) + ". Candidates are proposals for a researcher to name, "
          "merge or reject, not findings.")
    from themeassist.report import discover_figures

    s.add("figure", _stage_png(d, "discover/sizes", lambda: discover_figures.size_chart(cand)),
          "Candidate sizes.")
    cols = [c for c in ("candidate_id", "label", "size", "keywords", "nearest_subtheme",
                        "similarity", "is_new", "stability", "speakers") if c in cand.columns]
    s.add("table", cand[cols], "The candidates; the quotes are in candidates.csv and "
          "discover/map.html shows every segment.")
    if "quotes" in cand.columns:
        for _, row in cand.head(5).iterrows():
            s.add("heading", f"{row['label']} ({row['size']} segments)")
            quotes = row["quotes"]
            if isinstance(quotes, str):
                import json

                quotes = json.loads(quotes) if quotes.startswith("[") else [quotes]
            s.add("quotes", list(quotes)[:3])
    return s


def _model(d) -> Section:
    s = Section("model", "The model card")
    model = d.model
    if model is None:
        s.skipped = "no model was trained"
        return s
    from themeassist.report import classify_figures

    s.add("text", f"Model {model.name_}, on embeddings {model.embedding_model_}; default "
                  f"confidence threshold {_num(model.threshold_)} (labels below it are marked "
                  "needs review). Trained on coder "
                  f"{d.training.primary_coder or '(none: zero-shot from the codebook text)'}.")
    ev = model.evaluation_ or {}
    levels = ev.get("levels") or {}
    rows = []
    for level, m in levels.items():
        if isinstance(m, dict):
            rows.append({"level": level, **{k: m.get(k) for k in
                         ("n", "kappa", "ac1", "accuracy", "macro_f1", "ece") if k in m}})
    if rows:
        s.add("table", pd.DataFrame(rows), "Cross-validated, grouped by transcript: the model "
              "never saw the focus group it was scored on.")
        figs = [(_stage_png(d, "model/coverage_agreement",
                            lambda: classify_figures.coverage_agreement_figure(
                                ev, model.threshold_)),
                 "Coverage against agreement: kappa on the segments labelled at or above each "
                 "confidence threshold."),
                (_stage_png(d, "model/reliability",
                            lambda: classify_figures.reliability_figure(ev)),
                 "Reliability diagram: stated confidence against observed accuracy.")]
        s.add("figures", figs)
    else:
        s.add("note", "No cross-validated evaluation (needs human coding of two or more "
                      "transcripts).")
    if d.labels is not None and d.labels.held_out:
        s.add("note", "machine.csv holds held-out labels: each coded transcript was labelled "
                      "by a model trained on the other transcripts only ("
                      + ", ".join(d.labels.held_out) + ").")
    return s


def _agreement(d) -> Section:
    s = Section("agreement", "Agreement between coders")
    reps = d.agreement or {}
    if not reps:
        s.skipped = "no human coding to compare the machine with"
        return s
    from themeassist.report import agree_figures

    names = ["percent_agreement", "cohen_kappa", "scott_pi", "fleiss_kappa",
             "krippendorff_alpha", "gwet_ac1", "brennan_prediger"]
    if any(item.report.get("multi_code_units") for item in reps.values()):
        names.append("masi_alpha")  # set agreement, for units with several codes
    rows = []
    for item in reps.values():
        r = item.report
        row = {"coders": f"{item.a} vs {item.b}", "units": r.get("n_units")}
        for n in names:
            ci = (r.get("ci") or {}).get(n)
            row[n] = _num(r.get(n)) + (f" [{_num(ci[0])}, {_num(ci[1])}]" if ci else "")
        rows.append(row)
    level = next(iter(reps.values())).report.get("level")
    s.add("table", pd.DataFrame(rows), f"Coefficients at the {level} level with 95% bootstrap "
          "intervals; units are the participants' segments of the transcripts both coders "
          "coded; an uncoded segment counts as the category 'none'.")
    for folder, item in reps.items():
        a, b, r = item.a, item.b, item.report
        s.add("heading", f"{a} vs {b}")
        conf = item.confusion
        if conf is not None and len(conf):
            s.add("figure", _stage_png(d, f"agreement/{folder}/confusion",
                                       lambda conf=conf, r=r: agree_figures.confusion_figure(conf, r)),
                  "Confusion matrix (rows: first coder, columns: second).")
        per_code = pd.DataFrame(r.get("per_code") or [])
        if len(per_code):
            s.add("table", per_code.head(25), "Per code: how often each coder used it, and "
                  "their agreement on it.")
        dis = item.disagreements
        if dis is not None and len(dis):
            s.add("table", dis.head(10), "Disagreements, the machine's most confident first: "
                  "the agenda for a reconciliation meeting (all in disagreements.csv).")
    return s


def _stats(d) -> Section:
    s = Section("stats", "The study's statistics, human and machine side by side")
    results = d.statistics.results if d.statistics is not None else {}
    if not results:
        s.skipped = "no coding"
        return s
    from themeassist.report import stats_figures

    comp = d.statistics.comparison
    folders = io.stats_folders(results)
    several = len(results) > 1

    def stats_png(coder_folder, name, make):
        return _stage_png(d, "stats/" + io.stats_figure(coder_folder, name), make)

    if comp:
        for line in str(comp["verdict"]).split(" | "):
            s.add("verdict", line)
        s.add("table", comp["counts"], "Codes per theme by coder (after de-duplication).")
        s.add("figure", stats_png("", "comparison_counts", lambda: stats_figures.compare_counts(
            comp["counts"], comp["coders"], "Codes per theme by coder")), "")
    figs = []
    for coder, r in results.items():
        title = f"Codes per theme ({coder})" if several else "Codes per theme"
        figs.append((stats_png(folders[coder], "theme_frequency",
                               lambda r=r, title=title: stats_figures.theme_frequency(
                                   r.theme_counts, r.summary, title)),
                     f"{coder}: mean {_num(r.summary.get('mean'))}, SD "
                     f"{_num(r.summary.get('sd'))}; themes above the mean are major."))
    s.add("figures", figs)
    for coder, r in results.items():
        s.add("heading", f"Appendix 1 table ({coder})")
        s.add("table", r.appendix)
    coders = list(results)
    first = results[coders[0]]
    if first.per_question is not None:
        s.add("heading", "Per question: mean share per theme over focus groups, +/- 1 SD")
        for q in first.selected:
            figs = []
            for coder in coders:
                r = results[coder]
                if r.per_question is not None and q in set(r.per_question["question"]):
                    figs.append((stats_png(
                        folders[coder], f"question_{io.stats_folder_name(q)}",
                        lambda r=r, q=q, c=coder if several else None:
                            stats_figures.question_shares(r.per_question, q, coder=c)),
                        f"Question {q}, {coder}: selected themes = "
                        + ", ".join(r.selected.get(q, []))))
            s.add("figures", figs)
        for coder in coders:
            r = results[coder]
            if r.top_subthemes is not None and len(r.top_subthemes):
                top = r.top_subthemes.copy()
                if "quotes" in top.columns:
                    top["quotes"] = [" | ".join(q) if isinstance(q, (list, tuple)) else q
                                     for q in top["quotes"]]
                top = top.drop(columns=[c for c in ("quote_segments",) if c in top.columns])
                s.add("table", top, f"The 50% tables ({coder}): for each selected theme, its "
                      "five most frequent subthemes on the question, with example quotations.")
    return s


def _methods(project, result) -> Section:
    d = result
    s = Section("methods", "Methods paragraph (adapt for your paper)")
    model = d.model
    versions = io.package_versions()
    n_tr = d.segments["transcript_id"].nunique()
    coders = d.human_coders
    text = (
        f"Transcripts of {n_tr} focus groups were segmented into paragraphs within speaker "
        f"turns and each paragraph assigned to the question it answered (themeassist "
        f"{__version__}). Paragraphs were embedded with the sentence-transformers model "
        f"{d.embedding_model} on a local computer; no data left it. Candidate "
        f"subthemes were proposed inductively by reducing the embeddings with UMAP and "
        f"clustering them (seed {project.seed_of('discover')}, {project.discover.runs} runs for "
        f"stability), and described with class-based TF-IDF keywords and representative "
        f"quotations. ")
    if model is not None and coders:
        text += (
            f"A classifier (logistic regression on the embeddings with the question and "
            f"neighbouring paragraphs as context, probabilities calibrated on held-out data) "
            f"was trained on coder {d.training.primary_coder}'s coding against the codebook "
            f"and evaluated by cross-validation grouped by focus group; each focus group was "
            f"pre-labelled by a model that had not seen it. Labels with a confidence below "
            f"{_num(model.threshold_)} were marked for review. Agreement between the machine "
            f"and each human coder, and between human coders, was measured with Cohen's kappa, "
            f"Krippendorff's alpha and Gwet's AC1 at the {project.agree.level} level, with "
            f"95% percentile bootstrap intervals ({project.agree.bootstrap} resamples). ")
    elif model is not None:
        text += ("Segments were pre-labelled zero-shot from the codebook's text, without human "
                 "coding; no agreement could be measured. ")
    text += (
        "Codes were counted per theme after counting similar comments by the same participant "
        f"on the same {project.stats.dedup_scope} once; themes with more codes than the mean "
        "were classed as major, and per question the themes making up half of the codes "
        "(mean share over focus groups, +/- 1 SD) were tabulated, following Thomson, "
        "Waterson & Chatterjee (2024). Report the agreement coefficients with their "
        "intervals, the share of labels marked for review, and whether the major themes and "
        "per-question selections agree between human and machine coding.\n\nVersions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    s.add("pre", text)
    return s
