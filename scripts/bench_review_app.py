"""How fast the review app answers, on a synthetic corpus of the issue's size (3,000 segments).

Builds a session from random unit embeddings (384 dimensions, like MiniLM) and a 40-entry
codebook, serves it in-process (Starlette's TestClient, so HTTP parsing is included but no
socket), and prints, all measured in this one run:

- the first fit (start-up) and one retrain after 100 decisions;
- the median and 95th percentile of ``GET /queue`` (the page) and ``POST /decide`` (journal
  commit with ``synchronous=FULL`` and both CSV exports, fsynced) while idle;
- the same ``POST /decide`` while a retrain runs in the background, and how many
  decisions were answered during one retrain (the page never waits for the model).

    python scripts/bench_review_app.py [--segments 3000]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import threading
import time

import numpy as np
import pandas as pd


def corpus(n: int, n_codes: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    per = 60
    seg = pd.DataFrame({
        "segment_id": [f"t{i // per:03d}:{i % per:04d}" for i in range(n)],
        "transcript_id": [f"t{i // per:03d}" for i in range(n)],
        "position": [i % per for i in range(n)],
        "speaker": [f"P{i % 7}" for i in range(n)],
        "role": "participant",
        "text": [f"participant text {i} about topic {i % n_codes}" for i in range(n)]})
    book = pd.DataFrame({"theme": [f"Theme {j // 4}" for j in range(n_codes)],
                         "valence": ["success", "challenge"] * (n_codes // 2),
                         "subtheme": [f"Subtheme {j}" for j in range(n_codes)]})
    centres = rng.normal(size=(n_codes, dim))
    topic = np.arange(n) % n_codes
    emb = centres[topic] + 1.5 * rng.normal(size=(n, dim))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return seg, book, emb.astype(np.float32), topic


def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1000, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=3000)
    ap.add_argument("--codes", type=int, default=40)
    ap.add_argument("--decisions", type=int, default=100)
    args = ap.parse_args()
    from starlette.testclient import TestClient

    from themeassist.review.app import create_app
    from themeassist.review.session import ReviewSession

    seg, book, emb, topic = corpus(args.segments, args.codes, 384)
    labels = [f"Theme {j // 4} / {['success', 'challenge'][j % 2]} / Subtheme {j}"
              for j in range(args.codes)]
    with tempfile.TemporaryDirectory() as out:
        s = ReviewSession(seg, emb, book, coder="bench", out=out, retrain_every=0)
        t0 = time.perf_counter()
        s.start()
        first = time.perf_counter() - t0
        app = create_app(s, token="t", host="127.0.0.1", port=1, csrf="c")
        h = {"X-CSRF-Token": "c", "Origin": "http://127.0.0.1:1"}
        pos = {sid: i for i, sid in enumerate(seg["segment_id"])}
        with TestClient(app, base_url="http://127.0.0.1:1") as c:
            c.get("/queue?token=t")
            gets, posts = [], []
            for i in range(args.decisions):
                t = time.perf_counter()
                page = c.get("/queue").text
                gets.append(time.perf_counter() - t)
                sid, v = re.search(r'data-segment-id="([^"]+)" data-version="(\d+)"',
                                   page).groups()
                j = topic[pos[sid]]
                codes = [labels[j]] if j % 3 else []
                t = time.perf_counter()
                r = c.post("/decide", headers=h, json={"segment_id": sid, "codes": codes,
                                                       "decision_id": f"d{i}", "version": int(v)})
                posts.append(time.perf_counter() - t)
                assert r.json()["status"] == "recorded"
            # a retrain in the background, decisions meanwhile
            busy, answered = [], 0
            s.request_retrain()
            t_start = time.perf_counter()
            while s.status()["model_version"] < 2:
                if not s.status()["training"] and s.status()["model_version"] >= 2:
                    break
                page = c.get("/queue").text
                sid, v = re.search(r'data-segment-id="([^"]+)" data-version="(\d+)"',
                                   page).groups()
                t = time.perf_counter()
                r = c.post("/decide", headers=h, json={"segment_id": sid, "codes": [],
                                                       "decision_id": f"b{answered}",
                                                       "version": int(v)})
                busy.append(time.perf_counter() - t)
                answered += 1
                threading.Event().wait(0.01)
            retrain_wall = time.perf_counter() - t_start
        retrain = s.state.seconds
        s.stop()
    print(f"corpus: {args.segments} segments, {args.codes} codes, 384-d embeddings")
    print(f"first fit (start-up): {first:.2f} s; retrain after {args.decisions} decisions: "
          f"{retrain:.2f} s (wall {retrain_wall:.2f} s with decisions arriving)")
    print(f"GET /queue: median {pct(gets, 50):.1f} ms, p95 {pct(gets, 95):.1f} ms")
    print(f"POST /decide (commit + exports): median {pct(posts, 50):.1f} ms, "
          f"p95 {pct(posts, 95):.1f} ms")
    if busy:
        print(f"POST /decide during the retrain: {answered} answered, median "
              f"{pct(busy, 50):.1f} ms, max {max(busy) * 1000:.1f} ms "
              f"(ratio to idle median {statistics.median(busy) / statistics.median(posts):.1f})")


if __name__ == "__main__":
    main()
