"""Do ingest's paragraphs match the units real researchers coded?

Data: 17 think-aloud usability transcripts and their final Taguette coding (Navarro-Gallinad,
Orlandi & O'Sullivan 2022, github.com/navarral/swj2022-usability-paper, GPL-3.0; read from
../shared/data/usability-think-aloud, never copied). Only the moderator is labelled
(``MODERATOR:``); the participant's lines are not, so ingest runs with
``unlabelled_speaker="Participant"``.

For every distinct coded highlight (``tags/all_tags_20220303.csv``: id, document, content),
it asks where the highlighted text falls among the segments of its transcript:

- ``whole``: the highlight is exactly one segment;
- ``inside``: it lies within one segment (the coder highlighted part of a paragraph);
- ``across``: it is found only when neighbouring segments are joined (ingest split a unit
  the coder treated as one);
- ``missing``: not found (text differs, e.g. edited in Taguette).

Also reported: segments per transcript and the speaker split.

Usage: .venv/bin/python scripts/ingest_thinkaloud_units.py [SHARED_DATA_DIR]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

from themeassist.config import IngestSettings
from themeassist.ingest import ingest_files

ROOT = Path(__file__).resolve().parents[1]


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    folder = data / "usability-think-aloud"
    if not folder.exists():
        sys.exit(f"shared data not available: {folder}")
    paths = sorted((folder / "transcripts_txt").glob("*.txt"))
    settings = IngestSettings(unlabelled_speaker="Participant", facilitators=["MODERATOR"])
    seg, _ = ingest_files(paths, settings=settings)
    tags = pd.read_csv(folder / "tags" / "all_tags_20220303.csv", dtype=str,
                       keep_default_na=False)
    tags = tags[tags["document"].str.match(r"^P\d+_GMT\d+\.odt$")]
    units = tags.drop_duplicates("id")[["id", "document", "content"]]
    texts = {tid: [norm(t) for t in g["text"]] for tid, g in seg.groupby("transcript_id")}
    outcome = []
    for doc, content in zip(units["document"], units["content"]):
        segs = texts[Path(doc).stem]
        c = norm(content)
        if c in segs:
            outcome.append("whole")
        elif any(c in s for s in segs):
            outcome.append("inside")
        elif any(c in " ".join(segs[i:i + k]) for k in (2, 3, 4) for i in range(len(segs))):
            outcome.append("across")
        else:
            outcome.append("missing")
    counts = pd.Series(outcome).value_counts().reindex(["whole", "inside", "across", "missing"],
                                                       fill_value=0)
    print(f"{len(paths)} transcripts, {len(seg)} segments "
          f"({int((seg['speaker'] == 'Participant').sum())} participant, "
          f"{int((seg['speaker'] == 'MODERATOR').sum())} moderator); "
          f"{len(units)} distinct coded highlights")
    for k, v in counts.items():
        print(f"  {k:8s} {v:5d}  {100 * v / len(units):5.1f}%")
    found = counts["whole"] + counts["inside"]
    print(f"highlights within one segment: {found}/{len(units)} = {100 * found / len(units):.1f}%")


if __name__ == "__main__":
    main()
