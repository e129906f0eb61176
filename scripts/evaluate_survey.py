"""Evaluate themeassist on real multi-code survey answers, beside GPT on the same answers.

Data: ``../shared/data/survey-human-vs-llm/`` (read its PROVENANCE.md): 174 answers to
"why did you experience this game as art?" (Bopp, Vornhagen & Mekler 2021), each coded
by the LLMCode authors (human codes, 300 distinct free-text codes, 2.18 per answer, 267
used once) and by GPT (LLMCode, Hamalainen et al. 2024; 2.81 codes per answer). MIT,
evaluation only: nothing is copied into the project. Skips cleanly when the folder is
absent.

Setup. Each answer is a segment of its own transcript (grouped folds = answers never in
training and test at once), role participant, one question. The codebook is the list of
the 300 human codes (theme = subtheme = the code, no valence, no description): a
deductive coder is given the codebook, GPT was not (it coded inductively), so GPT's
free-text codes are scored twice: by exact name (lower-cased), and mapped to the nearest
human code by cosine of the code names (same encoder). Agreement is with the human codes:

- ``masi_alpha``: Krippendorff's alpha with the MASI distance over the answers' code sets
  (Passonneau 2006), ``masi_mean`` the mean 1 - d;
- ``code_f1_macro``: per-code F1 of "code in the set", averaged over the human codes;
- ``kappa_first``: Cohen's kappa of the first code of each coder (themeassist: its top code);
- ``codes``: mean codes per answer.

Systems: GPT (exact / mapped); **nearest entry** (the baseline: the codebook entry whose
text is most similar to the answer, one code); **themeassist zero-shot** (``train`` with no
codings: similarity to the entry texts, codable rate from the corpus = 1.0 since every
segment is a participant's answer, one code per answer as no set rule can be learnt
without coding); **themeassist trained** (5 folds grouped by answer; each fold's model
learns its set rule out of fold on its training answers; codes seen only in the test fold
come from the codebook prior).

Usage::

    THEMEASSIST_CACHE=/work/cache PYTHONPATH=src .venv/bin/python scripts/evaluate_survey.py

Measured 2026-12-01 (seed 0, 1,122 s at load average 12-18; agreement with the human codes
over the 174 answers), before issue 14's follow-ups:

=================================  ==========  =========  =============  ===========  =====
system                             masi_alpha  masi_mean  code_f1_macro  kappa_first  codes
=================================  ==========  =========  =============  ===========  =====
GPT, exact code names              0.212       0.214      0.300          0.325        2.81
GPT, mapped to nearest human code  0.349       0.352      0.479          0.537        2.79
nearest entry (baseline)           0.172       0.180      0.123          0.210        1.00
themeassist zero-shot              0.172       0.180      0.123          0.210        1.00
themeassist trained (grouped CV)   0.115       0.147      0.074          0.166        1.03
=================================  ==========  =========  =============  ===========  =====

Read: zero-shot labels all 174 answers (codable rate 1.0 from the corpus rule) and, with a
flat codebook of bare code names and no descriptions, is exactly the nearest-entry
baseline. Trained was *worse*: 267 of the 300 codes are used once, so in grouped folds most
test codes have no training example, and the codebook prior that could still predict
them fades with the training data (lambda = 50 / (50 + about 140) here) while the
classifier favours the codes it saw. GPT, which wrote its own codes, agrees more with
the humans than any codebook-bound system here; it also gives 2.8 codes per answer where
themeassist's learnt set rule gives 1.03.

Measured 2026-12-02 after issue 14's follow-ups (same command and seed, 1,682 s at load
average 8; ``--pull-grid 0,0.25,0.5,0.75,1``, the default ``prior_pull_grid`` since):

=================================  ==========  =========  =============  ===========  =====
system                             masi_alpha  masi_mean  code_f1_macro  kappa_first  codes
=================================  ==========  =========  =============  ===========  =====
GPT, exact code names              0.212       0.214      0.300          0.325        2.81
GPT, mapped to nearest human code  0.349       0.352      0.479          0.537        2.79
nearest entry (baseline)           0.172       0.180      0.123          0.210        1.00
nearest entry, question + answer   -0.032      0.053      0.029          0.051        1.00
themeassist zero-shot              0.172       0.180      0.123          0.210        1.00
trained, no pull (``(0.0,)``)      0.115       0.147      0.074          0.166        1.03
trained, pull chosen out of fold   0.227       0.237      0.167          0.287        1.02
=================================  ==========  =========  =============  ===========  =====

Re-run 2026-12-02 on main after issue 17's merge (the ``classify`` package, canonical-v3
embedding batching; the default command, 297 s at load average 1-2): the same figures
(trained, the pull now the default: 0.227 / 0.237 / 0.167 / 0.287 / 1.02).

(a) The pull of the code weights toward the zero-shot ones (each code's entry embedding),
``(1 - beta) W + beta W0``, chosen on each fold's inner out-of-fold likelihood: every
outer fold chose beta = 1 (the zero-shot weights; the word n-gram scorer, the
temperature and the set rule stay learnt), and trained now beats zero-shot (MASI alpha
0.227 against 0.172) instead of falling below it. On the usability study every fold
chose 0, so its figures are unchanged (``scripts/evaluate_classifier.py``). The
strength ``n0`` of the additive prior alone could not do this: measured on one outer
split, raising n0 from 50 to 10^9 (lambda to 1) lifted the top code's MASI alpha only
from 0.061 to 0.140, as the classifier's own logits still favour the codes it saw.
(b) The question's text embedded with each answer ("Why did you experience this game as
art? <answer>") makes the nearest entry much worse (MASI alpha -0.032 against 0.172): one
question shared by every answer pulls all answers toward each other. Not kept: segments
are embedded as their own text.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from themeassist import classify, tables
from themeassist.agree import cohen_kappa

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "survey-human-vs-llm"


def _codes(cell) -> list[str]:
    return list(dict.fromkeys(t.strip().lower() for t in str(cell).split(";") if t.strip())) \
        if isinstance(cell, str) else []


def load(folder: Path):
    """Segments, codebook, human codings and GPT code lists (aligned on the answer text)."""
    answers = pd.read_csv(folder / "bopp_test.csv", encoding="cp1252")
    gpt = pd.read_csv(folder / "bopp_test_human-llm-comparison.csv", encoding="cp1252")
    gpt_of = {str(t).strip(): _codes(c) for t, c in zip(gpt["why_art"], gpt["gpt_codes"])}
    n = len(answers)
    tid = [f"a{i:03d}" for i in range(n)]
    segments = tables.validate_segments(pd.DataFrame({
        "segment_id": [tables.make_segment_id(t, 0) for t in tid], "transcript_id": tid,
        "position": 0, "text": answers["why_art"].astype(str).str.strip(),
        "role": "participant", "question": "why_art"}))
    human = [_codes(c) for c in answers["human_codes"]]
    names = sorted({c for cs in human for c in cs})
    codebook = tables.validate_codebook(pd.DataFrame({"theme": names, "valence": "",
                                                      "subtheme": names}))
    codings = tables.validate_codings(pd.DataFrame(
        [(segments["segment_id"].iat[i], "human", c, "", c) for i, cs in enumerate(human)
         for c in cs], columns=["segment_id", "coder", "theme", "valence", "subtheme"]),
        codebook, segments)
    gpt_codes = [gpt_of.get(t, []) for t in segments["text"]]
    return segments, codebook, codings, human, gpt_codes, names


def score(human: list[list[str]], predicted: list[list[str]], names: list[str]) -> dict:
    """Set agreement and first-code kappa of one system against the human codes."""
    m = classify.set_metrics([set(h) for h in human], [set(p) for p in predicted], names)
    first_h = [h[0] if h else "" for h in human]
    first_p = [p[0] if p else "" for p in predicted]
    return {"masi_alpha": m["masi_alpha"], "masi_mean": m["masi_mean"],
            "code_f1_macro": m["per_code_f1_macro"], "kappa_first": cohen_kappa(first_h, first_p),
            "codes": m["mean_set_size_predicted"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pull-grid", default="0,0.25,0.5,0.75,1",
                    help="prior_pull_grid of the second trained row (comma-separated).")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"skipped: {args.data} is not here (it is not part of the project; see "
              "../shared/data/README.md)", file=sys.stderr)
        return 0
    from themeassist.embed import Embedder

    t0 = time.time()
    segments, codebook, codings, human, gpt_codes, names = load(args.data)
    embedder = Embedder(show_progress=False)
    emb = embedder.embed(segments["text"].tolist())
    cbe = embedder.embed(classify.codebook_texts(codebook))
    labels = np.array(tables.code_labels(codebook).tolist(), dtype=object)
    label_of = dict(zip(codebook["subtheme"], labels))
    hum = [[label_of[c] for c in cs] for cs in human]
    print(f"data: {args.data}: {len(segments)} answers, {len(codebook)} human codes "
          f"({sum(1 for c in pd.Series([c for cs in human for c in cs]).value_counts() if c == 1)} "
          f"used once), {np.mean([len(h) for h in human]):.2f} human and "
          f"{np.mean([len(g) for g in gpt_codes]):.2f} GPT codes per answer; {embedder.model_id}")
    rows = {}
    rows["GPT, exact code names"] = score(hum, [[label_of.get(c, "gpt:" + c) for c in g]
                                                for g in gpt_codes], list(labels))
    # GPT's codes mapped to the nearest human code (cosine of the names, same encoder)
    gnames = sorted({c for g in gpt_codes for c in g})
    gvec = embedder.embed(gnames)
    nvec = embedder.embed(names)
    nearest = dict(zip(gnames, np.array(names, dtype=object)[(gvec @ nvec.T).argmax(1)]))
    rows["GPT, mapped to nearest human code"] = score(
        hum, [list(dict.fromkeys(label_of[nearest[c]] for c in g)) for g in gpt_codes],
        list(labels))
    sim = emb @ cbe.T
    rows["nearest entry (baseline)"] = score(hum, [[labels[j]] for j in sim.argmax(1)],
                                             list(labels))
    # issue 14 (b): the question's text embedded with the answer ("question answer")
    question = "Why did you experience this game as art?"
    emb_q = embedder.embed([f"{question} {t}" for t in segments["text"]])
    rows["nearest entry, question + answer"] = score(
        hum, [[labels[j]] for j in (emb_q @ cbe.T).argmax(1)], list(labels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zs = classify.train_model(segments, None, codebook, emb, codebook_embeddings=cbe,
                                  seed=args.seed)
        out = zs.predict_codings(segments, emb, all_segments=True)
    got = out[out["level"] != "none"].groupby("segment_id")["rank"].count()
    pred = {sid: [] for sid in segments["segment_id"]}
    for r in out[out["level"] != "none"].itertuples():
        pred[r.segment_id].append(tables.code_label(r.theme, r.valence, r.subtheme))
    rows["themeassist zero-shot"] = score(hum, [pred[s] for s in segments["segment_id"]],
                                          list(labels))
    rows["themeassist zero-shot"]["labelled"] = float(len(got) / len(segments))
    t1 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = classify.evaluate_model(segments, codings, codebook, emb, folds=args.folds,
                                     seed=args.seed, codebook_embeddings=cbe)
    st = ev["sets"]["code"]
    rows["themeassist trained (grouped CV)"] = {
        "masi_alpha": st["masi_alpha"], "masi_mean": st["masi_mean"],
        "code_f1_macro": st["per_code_f1_macro"], "kappa_first": ev["code_first"]["kappa"],
        "codes": st["mean_set_size_predicted"]}
    # issue 14 (a): the pull toward the codebook chosen out of fold from a grid
    grid = [float(v) for v in args.pull_grid.split(",")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = classify.evaluate_model(segments, codings, codebook, emb, folds=args.folds,
                                     seed=args.seed, codebook_embeddings=cbe,
                                     prior_pull_grid=grid)
    st = ev["sets"]["code"]
    rows["trained, pull chosen out of fold"] = {
        "masi_alpha": st["masi_alpha"], "masi_mean": st["masi_mean"],
        "code_f1_macro": st["per_code_f1_macro"], "kappa_first": ev["code_first"]["kappa"],
        "codes": st["mean_set_size_predicted"]}
    print(f"pull toward the codebook chosen per fold (grid {grid}): {ev['prior_pull_folds']}")
    table = pd.DataFrame(rows).T
    print(f"\nagreement with the human codes ({len(segments)} answers; trained: "
          f"{args.folds} folds grouped by answer)")
    print(table.round(3).to_string())
    print(f"\ntime: trained CV {time.time() - t1:.0f} s, total {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
