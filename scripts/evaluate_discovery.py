"""Does inductive discovery recover the researchers' codes? themeassist vs BERTopic defaults.

Data: the usability think-aloud study (Navarro-Gallinad, Orlandi & O'Sullivan 2022, Semantic
Web Journal; github.com/navarral/swj2022-usability-paper, GPL-3.0, evaluation only), as
``scripts/prepare_usability.py`` writes it (default ``/work/usability``: segments.csv,
codings.csv, codebook.csv). Embeddings: all-MiniLM-L6-v2 through the project's cache
(``export THEMEASSIST_CACHE=/work/cache``).

For each configuration, on the same segments (the participant segments themeassist
clusters: fillers, facilitator lines and segments under 4 words set aside) and the same
embeddings, it prints:

- the number of candidates (topics) and the outlier share (segments left in no candidate);
- AMI: adjusted mutual information between candidate and the human code, on the coded
  segments (a segment with several codes takes its first, in the codings file's order);
- ARI across seeds: mean adjusted Rand index between the partitions of 5 seeds. For
  themeassist, two figures: between its 5 internal single runs (what one seed changes
  before they are combined), and between the final results of two master seeds whose runs
  share no seed (``--seed 0`` uses seeds 0-4, ``--seed 5`` seeds 5-9): what a user sees
  when rerunning with another seed;
- wall time of one fit (themeassist: the whole 5-run call).

Configurations: themeassist defaults; themeassist without the question context
(``question_weight=0``); BERTopic's default configuration (UMAP 15 neighbours, 5
components, cosine; HDBSCAN min_cluster_size 10; CountVectorizer) with a seeded UMAP; and
k-means (k = number of codes) on the raw embeddings.

Usage::

    export THEMEASSIST_CACHE=/work/cache
    .venv/bin/python scripts/evaluate_discovery.py [--data /work/usability] [--skip-bertopic]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from themeassist import discover as D
from themeassist import io
from themeassist.embed import Embedder


def human_labels(codings: pd.DataFrame) -> pd.Series:
    """First code of each coded segment (codings file order)."""
    return codings.drop_duplicates("segment_id").set_index("segment_id")["subtheme"]


def score(candidate: np.ndarray, seg_ids: np.ndarray, human: pd.Series) -> tuple[float, int]:
    from sklearn.metrics import adjusted_mutual_info_score

    h = pd.Series(seg_ids).map(human)
    coded = h.notna().to_numpy()
    return float(adjusted_mutual_info_score(h[coded], candidate[coded])), int(coded.sum())


def mean_ari(parts: list[np.ndarray]) -> float:
    return float(np.mean(D.pairwise_ari(parts))) if len(parts) > 1 else float("nan")


def run_ours(seg, emb, book, book_emb, ids, human, *, seed, **kw):
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = D.discover(seg, emb, codebook=book, codebook_embeddings=book_emb, seed=seed, **kw)
    wall = time.perf_counter() - t
    a = res.assignments.set_index("segment_id").loc[ids]
    lab = a["candidate_id"].to_numpy()
    ami, n_coded = score(lab, ids, human)
    return res, lab, {"candidates": len(res.candidates), "outliers": float(np.mean(lab < 0)),
                      "ami": ami, "n_coded": n_coded,
                      "ari_internal": res.diagnostics["ari_between_runs"]["mean"],
                      "seconds": wall}


def run_bertopic(texts, x, seed):
    from bertopic import BERTopic
    from hdbscan import HDBSCAN
    from sklearn.feature_extraction.text import CountVectorizer
    from umap import UMAP

    umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine",
                      low_memory=False, random_state=seed)
    hdb = HDBSCAN(min_cluster_size=10, metric="euclidean", cluster_selection_method="eom",
                  prediction_data=True)
    model = BERTopic(umap_model=umap_model, hdbscan_model=hdb,
                     vectorizer_model=CountVectorizer(), calculate_probabilities=False)
    topics, _ = model.fit_transform(list(texts), x)
    return np.asarray(topics)


def codebook_first(seg, emb, book, book_emb, codings) -> int:
    """Codebook-first mode at several thresholds: coverage and precision of the matches."""
    codes = codings.groupby("segment_id")["subtheme"].agg(set)
    for th in (0.45, 0.5, 0.55):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = D.discover(seg, emb, codebook=book, codebook_embeddings=book_emb,
                             codebook_first=True, match_threshold=th)
        a = res.assignments
        cands = res.candidates.set_index("candidate_id")
        m = a[a["set_aside"] == "matched codebook"]
        entry = m["candidate_id"].map(cands["label"])
        human = m["segment_id"].map(codes)
        coded = human.notna()
        hits = [e in h for e, h in zip(entry[coded], human[coded])]
        clustered = res.candidates[res.candidates["source"] == "cluster"]
        print(f"match_threshold {th}: {len(m)} segments matched an entry "
              f"({100 * len(m) / max(1, len(m) + res.diagnostics['n_clustered']):.1f}% of "
              f"participant content); of the {int(coded.sum())} coded, "
              f"{100 * np.mean(hits):.1f}% carry that code; "
              f"{len(clustered)} candidates from the rest, {int(clustered['is_new'].sum())} new; "
              f"{time.perf_counter() - t:.0f} s")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path("/work/usability"))
    p.add_argument("--seeds", type=int, default=5, help="Seeds for the BERTopic ARI.")
    p.add_argument("--skip-bertopic", action="store_true")
    p.add_argument("--extra", action="store_true",
                   help="Also run the ablations (no question context, Ward clustering).")
    p.add_argument("--codebook-first", action="store_true",
                   help="Only evaluate codebook-first mode: how many segments match an entry "
                        "and how often the entry is one of the segment's human codes.")
    p.add_argument("--json", type=Path, help="Also write the figures as JSON here.")
    args = p.parse_args(argv)
    for name in ("segments.csv", "codings.csv", "codebook.csv"):
        if not (args.data / name).exists():
            print(f"missing {args.data / name}: run scripts/prepare_usability.py first",
                  file=sys.stderr)
            return 1
    seg = io.read_segments(args.data / "segments.csv")
    book = io.read_codebook(args.data / "codebook.csv")
    codings = io.read_table(args.data / "codings.csv")
    human = human_labels(codings)
    embedder = Embedder(show_progress=False)
    t = time.perf_counter()
    emb = embedder.embed(seg["text"].astype(str).tolist())
    book_emb = embedder.embed(D.codebook_texts(book))
    print(f"embedded {len(seg)} segments in {time.perf_counter() - t:.1f} s (cache: "
          f"{embedder._cache.path if embedder._cache else 'off'})")

    reason = D.select_segments(seg)
    keep = (reason == "").to_numpy()
    ids = seg["segment_id"].to_numpy()[keep]
    x = emb[keep]
    texts = seg["text"].to_numpy()[keep]
    print(f"{keep.sum()} segments clustered of {len(seg)} "
          f"({', '.join(f'{v} {k}' for k, v in reason[~keep].value_counts().items())}); "
          f"{int(pd.Series(ids).isin(human.index).sum())} of them coded by the researchers "
          f"({human.nunique()} codes)")

    if args.codebook_first:
        return codebook_first(seg, emb, book, book_emb, codings)

    rows = {}
    res0, lab0, r = run_ours(seg, emb, book, book_emb, ids, human, seed=0)
    _, lab5, r5 = run_ours(seg, emb, book, book_emb, ids, human, seed=5)
    from sklearn.metrics import adjusted_rand_score

    r["ari_master"] = float(adjusted_rand_score(lab0, lab5))
    r["ami_seed5"] = r5["ami"]
    rows["themeassist defaults"] = r
    if args.extra:
        _, la, ra = run_ours(seg, emb, book, book_emb, ids, human, seed=0, question_weight=0.0)
        _, lb, _ = run_ours(seg, emb, book, book_emb, ids, human, seed=5, question_weight=0.0)
        ra["ari_master"] = float(adjusted_rand_score(la, lb))
        rows["themeassist, no question context"] = ra
        _, la, ra = run_ours(seg, emb, book, book_emb, ids, human, seed=0, algorithm="ward")
        _, lb, _ = run_ours(seg, emb, book, book_emb, ids, human, seed=5, algorithm="ward")
        ra["ari_master"] = float(adjusted_rand_score(la, lb))
        rows["themeassist, Ward instead of k-means"] = ra

    if not args.skip_bertopic:
        parts, times = [], []
        for s in range(args.seeds):
            t = time.perf_counter()
            parts.append(run_bertopic(texts, x, s))
            times.append(time.perf_counter() - t)
        ami, n_coded = score(parts[0], ids, human)
        rows["BERTopic defaults"] = {
            "candidates": len(set(parts[0].tolist()) - {-1}),
            "outliers": float(np.mean(parts[0] < 0)), "ami": ami, "n_coded": n_coded,
            "ari_internal": mean_ari(parts), "ari_master": mean_ari(parts),
            "seconds": float(np.mean(times)),
            "ami_all_seeds": [round(score(q, ids, human)[0], 3) for q in parts]}

    from sklearn.cluster import KMeans

    t = time.perf_counter()
    k = human.nunique()
    km = [KMeans(k, n_init=10, random_state=s).fit_predict(x) for s in range(args.seeds)]
    rows[f"k-means k={k} on embeddings"] = {
        "candidates": k, "outliers": 0.0, "ami": score(km[0], ids, human)[0],
        "n_coded": score(km[0], ids, human)[1], "ari_internal": mean_ari(km),
        "ari_master": mean_ari(km), "seconds": (time.perf_counter() - t) / args.seeds}

    print()
    print(f"{'configuration':40s} {'cands':>5s} {'outliers':>8s} {'AMI':>6s} "
          f"{'ARI runs':>8s} {'ARI seeds':>9s} {'wall s':>7s}")
    for name, r in rows.items():
        print(f"{name:40s} {r['candidates']:5d} {100 * r['outliers']:7.1f}% {r['ami']:6.3f} "
              f"{r['ari_internal']:8.3f} {r['ari_master']:9.3f} {r['seconds']:7.1f}")
    print("ARI runs: mean pairwise ARI between single seeded runs; ARI seeds: between final "
          "results of seeds 0 and 5 (themeassist) or between the 5 seeds (others).")
    print(f"themeassist AMI with seed 5: {r5['ami']:.3f}")

    c = res0.candidates
    print(f"\nten largest candidates (themeassist defaults, seed 0; {len(c)} in all; "
          f"{int(c['is_new'].sum())} marked new):")
    for row in c.head(10).itertuples():
        quote = json.loads(row.quotes)[0]
        quote = quote if len(quote) <= 160 else quote[:157] + "..."
        print(f"  {row.candidate_id:2d}. {row.label} ({row.size}; stability {row.stability:.2f};"
              f" near '{row.nearest_subtheme}' {row.similarity:.2f}; Q {row.questions.split(';')[0]})")
        print(f"      \"{quote}\"")
    if args.json:
        io.write_json({"rows": rows, "diagnostics": res0.diagnostics}, args.json, force=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
