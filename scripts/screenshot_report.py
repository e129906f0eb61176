"""Take a screenshot of each section of a themeassist report, for review.

Usage: python scripts/screenshot_report.py demo-output/report.html --out screenshots/

Uses Debian's headless Chromium (``apt-get install chromium``) with the flags that keep it
off the network. One PNG per section (``<section-id>.png``) plus ``top.png``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def screenshot(chromium: str, url: str, png: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", "--virtual-time-budget=3000",
                        f"--screenshot={png}", url],
                       check=True, capture_output=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("--out", type=Path, default=Path("screenshots"))
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=1600)
    args = ap.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found: apt-get install chromium", file=sys.stderr)
        return 2
    page = args.report.read_text(encoding="utf-8")
    sections = re.findall(r'<section id="([^"]+)"', page)
    args.out.mkdir(parents=True, exist_ok=True)
    # Each section alone on a page of its own (the header and navigation kept), so the
    # screenshot starts at the section whatever the browser does with #fragments.
    head, rest = page.split("<main>", 1)
    body, tail = rest.split("</main>", 1)
    blocks = re.split(r'(?=<section id=")', body)
    shots = [("top", page)]
    for sid in sections:
        block = next(b for b in blocks if b.startswith(f'<section id="{sid}"'))
        shots.append((sid, head + "<main>" + block + "</main>" + tail))
    with tempfile.TemporaryDirectory() as tmp:
        for name, html in shots:
            src = Path(tmp) / f"{name}.html"
            src.write_text(html, encoding="utf-8")
            png = args.out / f"{name}.png"
            screenshot(chromium, src.as_uri(), png.resolve(), args.width, args.height)
            print(png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
