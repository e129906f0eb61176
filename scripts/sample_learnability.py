"""How learnable is the sample project's human coding? A plain baseline, by focus group.

The sample's coded paragraphs were written to express their codes, so that the demo's
classifier has something to learn. This script measures it with the plainest model:
MiniLM embeddings of coder A's participant segments -> logistic regression (sklearn
defaults), leave-one-focus-group-out (train on three groups, test on the fourth; never the
same group in training and test), for

- **theme** of each coded segment (its first code), against the majority-theme baseline;
- **codable**: coded or not, over all participant segments (ROC AUC).

Usage::

    export THEMEASSIST_CACHE=/work/cache
    .venv/bin/python scripts/sample_learnability.py [--C 10]
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from themeassist import io
from themeassist.embed import Embedder

ROOT = Path(__file__).resolve().parent


def main(C: float = 1.0) -> None:
    spec = importlib.util.spec_from_file_location("b", ROOT / "build_sample_codings.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    segments = build.sample_corpus()
    part = segments[segments["role"] == "participant"].reset_index(drop=True)
    codings = io.read_codings(build.SAMPLE / "codings" / "coder_A.csv", io.default_codebook(),
                              segments)
    first = codings.drop_duplicates("segment_id").set_index("segment_id")["theme"]
    theme = part["segment_id"].map(first)
    X = Embedder(show_progress=False).embed(part["text"].tolist())
    groups = part["transcript_id"].to_numpy()

    pred, true, base, scores, coded = [], [], [], [], []
    for g in np.unique(groups):
        train, test = groups != g, groups == g
        tc, sc = train & theme.notna().to_numpy(), test & theme.notna().to_numpy()
        clf = LogisticRegression(C=C, max_iter=2000).fit(X[tc], theme[tc])
        pred += list(clf.predict(X[sc]))
        true += list(theme[sc])
        base += [theme[tc].mode()[0]] * int(sc.sum())
        det = LogisticRegression(max_iter=2000).fit(X[train], theme.notna()[train])
        scores += list(det.predict_proba(X[test])[:, 1])
        coded += list(theme.notna()[test])
    result = {
        "participant_segments": len(part),
        "coded_segments": int(theme.notna().sum()),
        "theme_accuracy": round(accuracy_score(true, pred), 3),
        "theme_macro_f1": round(f1_score(true, pred, average="macro"), 3),
        "majority_baseline_accuracy": round(accuracy_score(true, base), 3),
        "codable_roc_auc": round(roc_auc_score(coded, scores), 3),
        "folds": "leave one focus group out (4)",
        "C": C,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the theme model")
    main(parser.parse_args().C)
