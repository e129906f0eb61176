"""Build the sample project's human codings from its snippet annotations.

The coding of the sample transcripts is written in
``src/themeassist/data/sample/codings/annotations.yaml``, keyed by a unique text snippet of
each coded paragraph, so that it does not depend on segment positions. This script ingests
the sample with the real ingest (the settings of the sample's ``project.yaml``), resolves
every snippet to the one segment whose text contains it, and writes
``codings/coder_A.csv`` and ``codings/coder_B.csv`` (columns segment_id, coder, theme,
valence, subtheme), validated against the reference codebook and the corpus.

It fails loudly (exit 1, naming the transcript and snippet) when a snippet matches no
segment or several, matches a facilitator's segment, or names a code that is not in the
codebook. Run it again whenever a transcript or the annotations change; the output is
byte-for-byte reproducible.

Usage::

    .venv/bin/python scripts/build_sample_codings.py           # writes the two CSVs
    .venv/bin/python scripts/build_sample_codings.py --check   # only checks they are current
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import yaml

from themeassist import io, tables
from themeassist.config import load_project, load_questions
from themeassist.ingest import ingest_files

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "themeassist" / "data" / "sample"
COLUMNS = ["segment_id", "coder", "theme", "valence", "subtheme"]


class AnnotationError(Exception):
    """A snippet or code of annotations.yaml that cannot be resolved."""


def normalise(text: str) -> str:
    """Case-folded text with runs of whitespace as one space and straight quotes."""
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(text.split()).casefold()


def sample_corpus(project_file: Path = SAMPLE / "project.yaml") -> pd.DataFrame:
    """The sample's segments, ingested as the demo ingests them."""
    project = load_project(project_file, check_files=False)
    questions = load_questions(project.resolve(project.questions)
                               if isinstance(project.questions, str) else project.questions)
    segments, _ = ingest_files(project.transcript_paths(), questions, project.ingest)
    return segments


def resolve(annotations: dict, segments: pd.DataFrame) -> pd.DataFrame:
    """Codings (all coders) from the annotations, one row per code applied.

    Raises
    ------
    AnnotationError
        A transcript not in the corpus; a snippet matching zero or several segments, or a
        facilitator's segment; a malformed entry.
    """
    rows = []
    for fname, entries in annotations.items():
        tid = Path(fname).stem
        corpus = segments[segments["transcript_id"] == tid]
        if corpus.empty:
            raise AnnotationError(f"{fname}: no such transcript in the corpus")
        texts = [normalise(t) for t in corpus["text"]]
        used: dict[str, str] = {}
        for i, entry in enumerate(entries or []):
            snippet = entry.get("snippet") if isinstance(entry, dict) else None
            if not snippet:
                raise AnnotationError(f"{fname}: entry {i + 1} has no snippet")
            hits = [j for j, t in enumerate(texts) if normalise(snippet) in t]
            if len(hits) != 1:
                where = ", ".join(corpus["segment_id"].iloc[hits]) or "none"
                raise AnnotationError(f"{fname}: snippet {snippet!r} matches {len(hits)} "
                                      f"segments ({where}); expected exactly one")
            seg = corpus.iloc[hits[0]]
            if seg["role"] != "participant":
                raise AnnotationError(f"{fname}: snippet {snippet!r} is in a {seg['role'] or 'no'}"
                                      f"-role segment {seg['segment_id']}; only participants are coded")
            if seg["segment_id"] in used:
                raise AnnotationError(f"{fname}: snippets {used[seg['segment_id']]!r} and "
                                      f"{snippet!r} name the same segment {seg['segment_id']}")
            used[seg["segment_id"]] = snippet
            for coder in ("A", "B"):
                for code in entry.get(coder) or []:
                    if not (isinstance(code, list) and len(code) == 3):
                        raise AnnotationError(f"{fname}: snippet {snippet!r}: coder {coder} code "
                                              f"{code!r} is not [theme, valence, subtheme]")
                    rows.append([seg["segment_id"], coder, *code])
    return pd.DataFrame(rows, columns=COLUMNS)


def build(check: bool = False) -> int:
    annotations = yaml.safe_load((SAMPLE / "codings" / "annotations.yaml").read_text("utf-8"))
    segments = sample_corpus()
    codings = resolve(annotations, segments)
    codebook = io.default_codebook()
    # The one validation every codings table goes through: codes in the codebook, segments
    # in the corpus, no code applied twice to a segment by one coder.
    tables.validate_codings(codings, codebook, segments, path="annotations.yaml")
    order = {sid: k for k, sid in enumerate(segments["segment_id"])}
    stale = []
    for coder in ("A", "B"):
        df = codings[codings["coder"] == coder]
        df = df.assign(_o=df["segment_id"].map(order)).sort_values(
            ["_o", "theme", "valence", "subtheme"], kind="stable").drop(columns="_o")
        path = SAMPLE / "codings" / f"coder_{coder}.csv"
        data = io.table_bytes(df.reset_index(drop=True), ".csv")
        if check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(path)
            continue
        io.atomic_write_bytes(path, data, force=True)
        part = segments[segments["role"] == "participant"]
        n_part = int(part["transcript_id"].isin(df["segment_id"].str.split(":").str[0]).sum())
        print(f"{path.relative_to(ROOT)}: {len(df)} codes on {df['segment_id'].nunique()} "
              f"segments of {n_part} participant segments in "
              f"{df['segment_id'].str.split(':').str[0].nunique()} transcripts; "
              f"{df['theme'].nunique()} themes")
    if stale:
        print("out of date: " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that the CSVs match the annotations")
    args = parser.parse_args()
    try:
        sys.exit(build(check=args.check))
    except AnnotationError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
