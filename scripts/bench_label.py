"""Benchmark batch pre-labelling (issue 6): throughput, memory, and the static fast path.

Prints, in one run:

1. **raw**: ``SentenceTransformer.encode`` throughput (MiniLM, batch 32, normalised) on
   N >= 10,000 realistic segments: the usability think-aloud segments replicated with
   variation (each copy drops one random word and gets its own transcript ids);
2. **ours**: ``themeassist.batch.label_batch`` end to end on the same segments, from a
   Parquet file to a CSV (read, chunk, embed, classify, write parts, merge, manifest),
   with the embedding cache DISABLED; and the ratio ours / raw (target >= 0.9). The two
   are measured *paired*: after each chunk themeassist commits, the same texts are encoded
   raw (timed apart), so both see the same load from the other users of the machine;
3. **static**: the same end-to-end run with a model trained on the static (model2vec)
   embedding, its raw encode rate, and its speed-up over the MiniLM run;
4. **kappa cost**: grouped 5-fold cross-validation (by participant) on the usability data
   (:func:`themeassist.classify.evaluate_model`), MiniLM vs static, kappa per level;
5. **memory**: peak RSS of a child process that labels 1,000,000 segments streamed from a
   Parquet file with the static model (the MiniLM path would take ~5 h here; the streaming
   machinery, which is what bounds memory, is the same), and of a child that only loads
   the model, for reference.

Data: ``scripts/prepare_usability.py`` output (default ``/work/usability``), derived from
Navarro-Gallinad, Orlandi & O'Sullivan (2022), GPL-3.0, evaluation only; nothing is copied
into the project. Noise: the machine is shared, so the load average before and after, and
the spread of per-slice rates, are printed.

Usage::

    export THEMEASSIST_CACHE=/work/cache      # training embeddings only; timing runs bypass it
    .venv/bin/python scripts/bench_label.py [--data /work/usability] [--n 10080]
        [--million 1000000] [--work /tmp/bench-label] [--skip-million]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from themeassist import batch, classify, io, modelstore, tables
from themeassist.embed import Embedder, load_sentence_transformer
from themeassist.static_embed import StaticEmbedder


def load(data: Path):
    segments = io.read_segments(data / "segments.csv")
    book_raw = io.read_table(data / "codebook.csv")
    cod_raw = io.read_table(data / "codings.csv")
    codebook = tables.validate_codebook(book_raw, path=data / "codebook.csv")
    codings = tables.validate_codings(cod_raw, codebook, segments, path=data / "codings.csv")
    return segments, codebook, codings


def replicate(segments: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` segments: copies of the corpus, each with new transcript ids and one word dropped."""
    rng = np.random.default_rng(seed)
    base = segments[list(tables.SEGMENT_COLUMNS)]
    frames, r = [], 0
    while sum(map(len, frames)) < n:
        copy = base.copy()
        if r:
            def vary(t):
                w = t.split()
                if len(w) > 3:
                    del w[int(rng.integers(len(w)))]
                return " ".join(w)
            copy["text"] = copy["text"].map(vary)
        copy["transcript_id"] = copy["transcript_id"] + f"-r{r:04d}"
        copy["segment_id"] = [tables.make_segment_id(t, p)
                              for t, p in zip(copy["transcript_id"], copy["position"])]
        frames.append(copy)
        r += 1
    return pd.concat(frames, ignore_index=True).iloc[:n].reset_index(drop=True)


def train(segments, codings, codebook, embedder, source: str, folder: Path) -> Path:
    X = embedder.embed(segments["text"].tolist())
    cbe = embedder.embed(classify.codebook_texts(codebook))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = classify.train_model(segments, codings, codebook, X, codebook_embeddings=cbe,
                                     embedding_model=embedder.model_id, embedding_source=source)
    modelstore.save_model(model, folder, force=True)
    return folder


def timed_label(inp: Path, model: Path, out: Path, chunk: int, raw_encode=None) -> dict:
    """One end-to-end run; with ``raw_encode``, each chunk's texts are also encoded raw.

    Paired and interleaved: right after themeassist commits a chunk, the same texts go
    through ``raw_encode`` (timed apart and excluded from themeassist's time), so both see
    the same load from other users of the machine; per-chunk ratios show the noise.
    """
    state = {"last": time.perf_counter(), "last_cpu": time.process_time(), "ours": [],
             "raw": [], "ours_cpu": [], "raw_cpu": [], "n": []}

    def tick(c):
        now, cpu = time.perf_counter(), time.process_time()
        state["ours"].append(now - state["last"])
        state["ours_cpu"].append(cpu - state["last_cpu"])
        state["n"].append(c.n)
        if raw_encode is not None:
            texts = c.segments["text"].to_numpy()[c.core].tolist()
            r0, c0 = time.perf_counter(), time.process_time()
            raw_encode(texts)
            state["raw"].append(time.perf_counter() - r0)
            state["raw_cpu"].append(time.process_time() - c0)
        state["last"], state["last_cpu"] = time.perf_counter(), time.process_time()

    batch.label_batch([inp], model, out, chunk_size=chunk, force=True, resume=False,
                      progress=False, on_chunk=tick)
    state["ours"].append(time.perf_counter() - state["last"])   # merge, manifest
    state["ours_cpu"].append(time.process_time() - state["last_cpu"])
    for k in ("ours", "raw", "ours_cpu", "raw_cpu"):
        state[f"{k}_total"] = float(sum(state[k]))
    return state


def spread(rates) -> str:
    if not len(rates):
        return "n/a"
    r = np.asarray(rates)
    return f"slices min {r.min():.1f} / median {np.median(r):.1f} / max {r.max():.1f}"


CHILD = """
import json, sys, time
from themeassist import batch
t = time.perf_counter()
mode = sys.argv[1]
if mode == "label":
    res = batch.label_batch([sys.argv[2]], sys.argv[3], sys.argv[4], chunk_size=int(sys.argv[5]),
                            force=True, resume=False, progress=False)
    n = res.segments
else:
    batch.load_labeller(sys.argv[3])
    n = 0
# VmHWM: this process's own peak RSS (ru_maxrss would carry the parent's over fork+exec)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"segments": n, "seconds": time.perf_counter() - t, "maxrss_kib": hwm}))
"""


def child(mode: str, inp: Path, model: Path, out: Path, chunk: int) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD, mode, str(inp), str(model), str(out),
                        str(chunk)], capture_output=True, text=True, check=False)
    if p.returncode:
        raise SystemExit(f"child {mode} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/work/usability"))
    ap.add_argument("--n", type=int, default=10_080)
    ap.add_argument("--million", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=2048)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--skip-million", action="store_true")
    ap.add_argument("--skip-kappa", action="store_true")
    a = ap.parse_args(argv)
    if not (a.data / "segments.csv").is_file():
        print(f"usability data not found in {a.data}; run scripts/prepare_usability.py", file=sys.stderr)
        return 2
    work = a.work or Path(tempfile.mkdtemp(prefix="bench-label-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {"cores": os.cpu_count(), "load_before": os.getloadavg()}
    sys.stdout.reconfigure(line_buffering=True)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
          f"(shared with other users)")

    segments, codebook, codings = load(a.data)
    texts_df = replicate(segments, a.n)
    inp = work / "segments.parquet"
    io.write_table(texts_df, inp, force=True)
    texts = texts_df["text"].tolist()
    words = np.mean([len(t.split()) for t in texts])
    print(f"data: {len(texts_df)} segments ({words:.1f} words on average) from "
          f"{len(segments)} usability segments")

    # models (training embeddings may come from the cache: they are not timed)
    mini = Embedder(show_progress=False)
    static = StaticEmbedder()
    m_mini = train(segments, codings, codebook, mini, str(mini.model), work / "model-minilm")
    m_static = train(segments, codings, codebook, static, static.source, work / "model-static")

    # 1-2. raw sentence-transformers encode and ours end to end, paired chunk by chunk
    st = load_sentence_transformer(str(mini.spec.path))
    st.encode(texts[:64], batch_size=32)  # warm-up

    def raw_encode(part):
        st.encode(part, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                  show_progress_bar=False)

    r = timed_label(inp, m_mini, work / "machine-minilm.csv", a.chunk, raw_encode)
    raw = len(texts) / r["raw_total"]
    ours = len(texts) / r["ours_total"]
    pair = [o_n / o / (o_n / w) for o_n, o, w in zip(r["n"], r["ours"], r["raw"])]
    print(f"raw SentenceTransformer.encode: {raw:.1f} segments/s ({r['raw_total']:.0f} s; per "
          f"chunk {spread([n / w for n, w in zip(r['n'], r['raw'])])})")
    print(f"themeassist label end to end:   {ours:.1f} segments/s ({r['ours_total']:.0f} s, "
          f"including reading, parts, merge and manifest; per chunk "
          f"{spread([n / o for n, o in zip(r['n'], r['ours'])])})")
    print(f"ratio ours / raw: {ours / raw:.3f} (target >= 0.9); per-chunk ratios "
          f"{[round(x, 3) for x in pair]}, median {np.median(pair):.3f} (chunk 0 includes "
          "reading the input and loading; the final merge and manifest are in the total only)")
    cpu_ratio = r["raw_cpu_total"] / r["ours_cpu_total"]
    print(f"CPU time (all threads; also counts torch's spin-waiting when cores are busy): raw "
          f"{r['raw_cpu_total']:.0f} s, ours {r['ours_cpu_total']:.0f} s; throughput ratio per "
          f"CPU-second ours / raw: {cpu_ratio:.3f}")
    report.update(raw_rate=raw, ours_rate=ours, ratio=ours / raw, cpu_ratio=cpu_ratio, pairs=r)

    # 3. static path
    t0 = time.perf_counter()
    static.encode(texts)
    static_raw = len(texts) / (time.perf_counter() - t0)
    st_rate = len(texts) / timed_label(inp, m_static, work / "machine-static.csv", a.chunk)["ours_total"]
    print(f"static (model2vec) encode: {static_raw:.0f} segments/s; label end to end "
          f"{st_rate:.0f} segments/s; speed-up over MiniLM end to end x{st_rate / ours:.1f}")
    report.update(static_raw_rate=static_raw, static_rate=st_rate, speedup=st_rate / ours)

    # 4. kappa cost, grouped CV by participant
    if not a.skip_kappa:
        kap = {}
        for name, emb in (("minilm", mini), ("static", static)):
            X = emb.embed(segments["text"].tolist())
            cbe = emb.embed(classify.codebook_texts(codebook))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ev = classify.evaluate_model(segments, codings, codebook, X, folds=5, seed=0,
                                             codebook_embeddings=cbe)
            kap[name] = {lvl: ev["levels"][lvl]["kappa"] for lvl in ("codable", "code")}
        for lvl in ("codable", "code"):
            print(f"kappa ({lvl}, 5-fold CV grouped by participant): MiniLM "
                  f"{kap['minilm'][lvl]:.3f}, static {kap['static'][lvl]:.3f}, cost "
                  f"{kap['minilm'][lvl] - kap['static'][lvl]:+.3f}")
        report["kappa"] = kap

    # 5. 1,000,000 segments streamed from Parquet, peak memory of the labelling process
    if not a.skip_million:
        big = work / "million.parquet"
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        done = 0
        while done < a.million:
            part = replicate(segments, min(100_000, a.million - done), seed=done)
            part["transcript_id"] = part["transcript_id"] + f"-b{done // 100_000:03d}"
            part["segment_id"] = [tables.make_segment_id(t, p)
                                  for t, p in zip(part["transcript_id"], part["position"])]
            t = pa.Table.from_pandas(part, preserve_index=False)
            writer = writer or pq.ParquetWriter(big, t.schema)
            writer.write_table(t, row_group_size=50_000)
            done += len(part)
        writer.close()
        base = child("load", big, m_static, work / "x.csv", a.chunk)
        res = child("label", big, m_static, work / "million-machine.parquet", a.chunk)
        print(f"1,000,000-segment Parquet ({big.stat().st_size / 2**20:.0f} MiB) streamed, "
              f"static model, chunk {a.chunk}: peak RSS {res['maxrss_kib'] / 2**20:.2f} GiB "
              f"(model loaded, nothing labelled: {base['maxrss_kib'] / 2**20:.2f} GiB); "
              f"{res['segments'] / res['seconds']:.0f} segments/s, {res['seconds']:.0f} s")
        report["million"] = {"peak_gib": res["maxrss_kib"] / 2**20,
                             "baseline_gib": base["maxrss_kib"] / 2**20, **res}
    report["load_after"] = os.getloadavg()
    print(f"load average after: {os.getloadavg()[0]:.2f}; parent peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    (work / "bench.json").write_text(json.dumps(report, indent=2, default=float))
    print(f"details: {work / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
