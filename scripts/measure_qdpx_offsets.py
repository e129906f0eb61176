"""Which unit does a REFI-QDA file count its selection offsets in? (issue 15, ``--target``)

Reads a ``.qdpx`` (default: the NVivo 12.6 export ``../shared/data/nvivo-qdpx/oltas0517.qdpx``,
MIT, see its PROVENANCE.md) and, for each convention (Unicode code points as the standard
reads, UTF-16 code units, UTF-8 bytes), counts over all coded selections:

- ends that fall inside a character or outside the text (impossible offsets);
- ends that fall on a word boundary (what a human selection does);
- selections with a character outside the BMP (emoji, rare CJK) before them, the only
  ones on which code points and UTF-16 units disagree.

Also reports the text's line ends and byte-order mark. Run:
    .venv/bin/python scripts/measure_qdpx_offsets.py [FILE.qdpx]
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from defusedxml import ElementTree as ET

from themeassist.qda import core

NS = "{urn:QDA-XML:project:1.0}"
DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "nvivo-qdpx" / "oltas0517.qdpx"


def main(path: Path) -> None:
    z = zipfile.ZipFile(path)
    root = ET.fromstring(z.read("project.qde"))
    print(f"{path.name}: origin {root.get('origin')!r}")
    totals = {u: {"impossible": 0, "word_boundary_ends": 0} for u in core.OFFSET_UNITS}
    n_sel = n_after_astral = 0
    for src in root.iter(NS + "TextSource"):
        ref = src.get("plainTextPath", "").split("://")[-1]
        member = next(n for n in z.namelist() if n.lower().endswith(ref.lower()))
        raw = z.read(member)
        text = raw.decode("utf-8-sig")
        astral = [i for i, ch in enumerate(text) if ord(ch) > 0xFFFF]
        bom = raw.startswith(b"\xef\xbb\xbf")
        crlf = text.count("\r\n")
        print(f"  {member}: {len(text):,} code points, {len(astral):,} outside the BMP, "
              f"{crlf:,} CRLF, BOM {bom}")
        sels = [(int(s.get("startPosition")), int(s.get("endPosition")))
                for s in src.iter(NS + "PlainTextSelection")]
        n_sel += len(sels)
        for unit in core.OFFSET_UNITS:
            a = core.to_codepoints(text, [x for x, _ in sels], unit)
            b = core.to_codepoints(text, [y for _, y in sels], unit)
            for x, y in zip(a, b):
                if x < 0 or y < 0:
                    totals[unit]["impossible"] += 1
                else:
                    totals[unit]["word_boundary_ends"] += core._natural(text, int(x), int(y))
        first = astral[0] if astral else len(text)
        n_after_astral += sum(1 for x, _ in sels if x > first)
    print(f"{n_sel} selections, {n_after_astral} of them after a character outside the BMP")
    print(f"{'unit':<10} {'impossible':>10} {'ends on a word boundary':>24}")
    for unit, t in totals.items():
        print(f"{unit:<10} {t['impossible']:>10} {t['word_boundary_ends']:>17} of {2 * n_sel}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not target.exists():
        sys.exit(f"{target} not found (the shared data folder is not here)")
    main(target)
