"""Screenshot the review queue of ``themeassist review`` on the bundled sample project.

Starts ``python -m themeassist review configs/demo.yaml --coder Sam --no-browser`` in a
temporary folder, makes 40 decisions in the page (coder A's coding of the sample project
as the oracle, most doubtful first), retrains, and saves the review queue as seen in
headless Chromium (Debian's package, driven by Playwright).

    python scripts/review_screenshot.py --out docs/review.png
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "review.png")
    ap.add_argument("--decisions", type=int, default=40)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    oracle = pd.read_csv(ROOT / "src/themeassist/data/sample/codings/coder_A.csv",
                         keep_default_na=False)
    codes = {}
    for r in oracle.itertuples(index=False):
        codes.setdefault(r.segment_id, []).append(
            " / ".join(p for p in (r.theme, r.valence, r.subtheme) if p))
    with tempfile.TemporaryDirectory() as work:
        cmd = [sys.executable, "-m", "themeassist", "review", str(ROOT / "configs/demo.yaml"),
               "--coder", "Sam", "--out", work, "--no-browser", "--retrain-every", "0"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            url = None
            for line in proc.stdout:
                print(line, end="", file=sys.stderr)
                m = re.search(r"review: open (\S+)", line)
                if m:
                    url = m.group(1)
                    break
            if url is None:
                raise SystemExit("the review server did not start")
            base = url.split("/?")[0]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 1010})
                page.goto(url)
                for i in range(args.decisions):
                    page.wait_for_selector("#card")
                    sid = page.locator("#card").get_attribute("data-segment-id")
                    version = int(page.locator("#card").get_attribute("data-version"))
                    page.evaluate("""async ([sid, codes, version, did]) => {
                        const csrf = document.querySelector('meta[name="csrf-token"]').content;
                        await fetch('/decide', {method: 'POST', referrerPolicy: 'same-origin',
                          headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                          body: JSON.stringify({segment_id: sid, codes: codes,
                                                version: version, decision_id: did})}); }""",
                                  [sid, codes.get(sid, []), version, f"shot-{i}"])
                    page.goto(base + "/queue")
                page.keyboard.press("r")
                page.wait_for_function(
                    "() => document.getElementById('st-model').textContent === '2'",
                    timeout=120000)
                time.sleep(2.5)
                page.goto(base + "/queue")
                page.wait_for_selector("#card")
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out))
                shown = page.locator("#card").get_attribute("data-label")
                print(f"wrote {args.out}; card label {json.loads(shown)}", file=sys.stderr)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
