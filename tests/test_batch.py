"""Batch pre-labelling (issue 6): streaming chunks, resume after a kill, Dask, bad files.

The model here is a real :class:`themeassist.classify.CodingModel`, trained on a small
synthetic corpus with a tiny static (model2vec) embedding built in the test, so that every
test runs in seconds and Dask workers need no transformer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from themeassist import batch, classify, io, modelstore, tables
from themeassist.errors import ConfigError, InputError, OutputExistsError

TOPICS = {
    ("Funding", "success", "Grant secured"):
        "we secured a grant money budget funding for three years",
    ("Funding", "challenge", "Short-term funding"):
        "the funding money ran out short budget cuts ended the grant",
    ("Mental health", "success", "Peer support"):
        "peer support groups friends helped people cope together",
    ("Mental health", "challenge", "Long waiting lists"):
        "long waiting lists months delays for therapy appointments",
}
FILLER = "okay yes right so well I think that is about it thanks".split()


def _corpus(n_transcripts: int = 12, per: int = 25, seed: int = 0):
    """Synthetic focus groups: segments, the codebook, and human codings."""
    rng = np.random.default_rng(seed)
    codes = list(TOPICS)
    segs, cods = [], []
    for t in range(n_transcripts):
        tid = f"fg{t:02d}"
        for p in range(per):
            if rng.random() < 0.6:
                k = int(rng.integers(len(codes)))
                words = TOPICS[codes[k]].split()
                text = " ".join(rng.choice(words, size=8)) + " " + " ".join(rng.choice(FILLER, 3))
                cods.append((tables.make_segment_id(tid, p), "human", *codes[k]))
            else:
                text = " ".join(rng.choice(FILLER, size=7))
            segs.append((tables.make_segment_id(tid, p), tid, p, text, f"P{p % 4}",
                         "participant", str(1 + p // 10)))
    segments = tables.validate_segments(pd.DataFrame(
        segs, columns=["segment_id", "transcript_id", "position", "text", "speaker", "role",
                       "question"]))
    codebook = tables.validate_codebook(
        pd.DataFrame(codes, columns=["theme", "valence", "subtheme"]))
    codings = pd.DataFrame(cods, columns=["segment_id", "coder", "theme", "valence", "subtheme"])
    return segments, codebook, codings


def make_static_model(folder: Path, dim: int = 16, seed: int = 0) -> Path:
    """A tiny model2vec model (word-level vocabulary of the test texts, random vectors)."""
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = sorted({w for text in TOPICS.values() for w in text.split()} | set(FILLER)
                   | set("we had no the a of and to in".split()))
    vocab = {"[UNK]": 0, "[PAD]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    vectors = np.random.default_rng(seed).normal(size=(len(vocab), dim)).astype(np.float32)
    StaticModel(vectors, tok, config={"model_type": "model2vec"}, normalize=True).save_pretrained(
        str(folder))
    return folder


_STATIC: dict[str, Path] = {}


def _label(*args, **kwargs):
    """``batch.label_batch`` naming the embedding folder, as a user must for a model not
    trained on the packaged encoder (a model folder's own ``embedding_source`` is not
    trusted)."""
    kwargs.setdefault("embedding_model", _STATIC.get("path"))
    return batch.label_batch(*args, **kwargs)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A trained model folder, the corpus as CSV and Parquet, and the expected labels."""
    from themeassist.static_embed import StaticEmbedder, static_source

    root = tmp_path_factory.mktemp("batch")
    static = make_static_model(root / "static")
    emb = StaticEmbedder(static)
    segments, codebook, codings = _corpus()
    X = emb.embed(segments["text"].tolist())
    cbe = emb.embed(classify.codebook_texts(codebook))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = classify.train_model(segments, codings, codebook, X, codebook_embeddings=cbe,
                                     embedding_model=emb.model_id,
                                     embedding_source=static_source(static))
    modelstore.save_model(model, root / "model")
    _STATIC["path"] = static  # the user names the embedding folder (issue 16)
    io.write_table(segments, root / "segments.csv")
    io.write_table(segments, root / "segments.parquet")
    expected = model.predict_codings(segments, X)
    return {"root": root, "model": root / "model", "segments": segments, "expected": expected,
            "static": static,
            "csv": root / "segments.csv", "parquet": root / "segments.parquet"}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(
        path, dtype={"segment_id": str, "theme": str, "valence": str, "subtheme": str},
        keep_default_na=False)


# --------------------------------------------------------------------------- chunking
@pytest.mark.parametrize("chunk_size", [2, 7, 25, 26, 10_000])
def test_chunked_labels_equal_labels_of_the_whole_corpus(world, tmp_path, chunk_size):
    # The halo makes chunk boundaries invisible: same rows, same order, same values.
    out = tmp_path / "machine.csv"
    res = _label([world["csv"]], world["model"], out, chunk_size=chunk_size,
                            progress=False)
    assert res.segments == len(world["segments"])
    assert res.chunks == -(-len(world["segments"]) // chunk_size)
    assert out.read_bytes() == io.table_bytes(world["expected"], ".csv")


def test_parquet_in_parquet_out(world, tmp_path):
    out = tmp_path / "machine.parquet"
    _label([world["parquet"]], world["model"], out, chunk_size=40, progress=False)
    pd.testing.assert_frame_equal(_read(out), world["expected"], check_dtype=False)


def test_iter_chunks_refuses_a_transcript_split_in_two(world):
    seg = world["segments"]
    shuffled = pd.concat([seg.iloc[:10], seg.iloc[30:40], seg.iloc[10:30]], ignore_index=True)
    with pytest.raises(InputError, match="not together") as err:
        list(batch.iter_chunks([(0, shuffled)], 8, path="s.csv"))
    assert err.value.row == 22 and err.value.column == "transcript_id"  # 21st data row


def test_iter_chunks_refuses_positions_out_of_order(world):
    seg = world["segments"].iloc[:5]
    seg = seg.iloc[[0, 2, 1, 3, 4]]
    with pytest.raises(InputError, match="do not increase") as err:
        list(batch.iter_chunks([(0, seg)], 2, path="s.csv"))
    assert err.value.row == 4


def test_bad_row_is_reported_with_its_row_in_the_whole_file(world, tmp_path):
    seg = world["segments"].copy()
    seg.loc[123, "text"] = ""
    path = tmp_path / "bad.csv"
    io.write_table(seg, path)
    with pytest.raises(InputError, match="empty text") as err:
        _label([path], world["model"], tmp_path / "m.csv", chunk_size=50,
                          progress=False)
    assert err.value.row == 125 and str(err.value.path) == str(path)


# --------------------------------------------------------------------------- resume
def test_interrupted_run_resumes_without_loss_or_duplicates(world, tmp_path):
    out = tmp_path / "machine.csv"

    class Stop(Exception):
        pass

    def stop_after_three(chunk):
        if chunk.index == 2:
            raise Stop

    with pytest.raises(Stop):
        _label([world["csv"]], world["model"], out, chunk_size=20, progress=False,
                          on_chunk=stop_after_three)
    assert not out.exists()
    assert len(list(batch.parts_folder(out).glob("part-*.parquet"))) == 3
    res = _label([world["csv"]], world["model"], out, chunk_size=20, progress=False)
    assert res.chunks_resumed == 3
    assert out.read_bytes() == io.table_bytes(world["expected"], ".csv")
    assert not batch.parts_folder(out).exists()


def test_rerun_after_completion_changes_nothing(world, tmp_path):
    out = tmp_path / "machine.csv"
    _label([world["csv"]], world["model"], out, chunk_size=50, progress=False)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out, batch.manifest_path(out))}
    res = _label([world["csv"]], world["model"], out, chunk_size=50, progress=False)
    assert res.already_complete
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before} == before


def test_other_arguments_refuse_old_parts_and_existing_output(world, tmp_path):
    out = tmp_path / "machine.csv"

    def stop(chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _label([world["csv"]], world["model"], out, chunk_size=50, progress=False,
                          on_chunk=stop)
    with pytest.raises(ConfigError, match="other arguments"):
        _label([world["csv"]], world["model"], out, chunk_size=60, progress=False)
    _label([world["csv"]], world["model"], out, chunk_size=60, progress=False,
                      resume=False)
    with pytest.raises(OutputExistsError):
        _label([world["csv"]], world["model"], out, threshold=0.9, progress=False)


def test_manifest_records_inputs_model_counts_and_timings(world, tmp_path):
    out = tmp_path / "machine.csv"
    res = _label([world["csv"]], world["model"], out, chunk_size=100, progress=False)
    m = json.loads(batch.manifest_path(out).read_text())
    assert m["command"] == "label"
    assert m["inputs"]["corpus"][0]["sha256"] == io.file_sha256(world["csv"])
    assert {Path(x["path"]).name for x in m["inputs"]["model"]} >= {"model_card.json"}
    assert m["counts"]["segments"] == len(world["segments"]) == res.segments
    assert m["counts"]["codings"] == len(world["expected"])
    assert m["output_sha256"] == io.file_sha256(out)
    assert m["timings"]["seconds"] > 0


KILL_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from themeassist import batch
    def slow(chunk):
        print(chunk.index, flush=True)
        time.sleep(0.3)
    batch.label_batch([sys.argv[1]], sys.argv[2], sys.argv[3], chunk_size=10,
                      progress=False, on_chunk=slow, embedding_model=sys.argv[4])
    print("done", flush=True)
""")


def test_kill_9_mid_run_then_rerun_gives_the_complete_output(world, tmp_path):
    out = tmp_path / "machine.csv"
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    args = [sys.executable, str(script), str(world["csv"]), str(world["model"]), str(out),
            str(world["static"])]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for seen, _line in enumerate(proc.stdout, start=1):
        if seen == 4:                       # four chunks committed: kill -9 mid-run
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and not out.exists()
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    labelled = done.stdout.split()
    assert labelled[-1] == "done" and "0" not in labelled[:-1]  # chunk 0 was not redone
    assert out.read_bytes() == io.table_bytes(world["expected"], ".csv")


# --------------------------------------------------------------------------- transcripts
def _write_transcripts(folder: Path, segments: pd.DataFrame, n: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for tid in sorted(segments["transcript_id"].unique())[:n]:
        rows = segments[segments["transcript_id"] == tid]
        text = "\n\n".join(f"{s}: {t}" for s, t in zip(rows["speaker"], rows["text"]))
        p = folder / f"{tid}.txt"
        p.write_text(text + "\n", encoding="utf-8")
        paths.append(p)
    return paths


def test_transcripts_are_ingested_and_a_malformed_one_is_skipped(world, tmp_path):
    folder = tmp_path / "wave2"
    _write_transcripts(folder, world["segments"])
    (folder / "broken.docx").write_bytes(b"this is not a docx file")
    out = tmp_path / "machine.csv"
    res = _label([folder], world["model"], out, chunk_size=30, progress=False)
    assert res.files == 3 and len(res.skipped) == 1
    assert res.skipped[0]["file"].endswith("broken.docx") and res.skipped[0]["reason"]
    got = _read(out)
    # every segment of the three good transcripts, none of the broken file (issue 17: a
    # subset check alone holds for an empty output)
    assert set(got["segment_id"].str.split(":").str[0]) == {"fg00", "fg01", "fg02"}
    m = json.loads(batch.manifest_path(out).read_text())
    assert m["counts"]["skipped_files"] == 1 and m["skipped"][0]["reason"]


def test_strict_stops_at_the_malformed_transcript(world, tmp_path):
    folder = tmp_path / "wave2"
    _write_transcripts(folder, world["segments"], n=1)
    (folder / "broken.docx").write_bytes(b"this is not a docx file")
    with pytest.raises(InputError) as err:
        _label([folder], world["model"], tmp_path / "m.csv", strict=True,
                          progress=False)
    assert "broken.docx" in str(err.value)
    assert not (tmp_path / "m.csv").exists()


# --------------------------------------------------------------------------- Dask
def test_dask_two_workers_give_the_single_process_output(world, tmp_path):
    distributed = pytest.importorskip("distributed")
    single = tmp_path / "single.csv"
    _label([world["csv"]], world["model"], single, chunk_size=30, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        out = tmp_path / "dask.csv"
        res = _label([world["csv"]], world["model"], out, chunk_size=30,
                                progress=False, client=client)
        loads = client.run(batch.worker_loads)
    assert res.chunks == 10
    assert out.read_bytes() == single.read_bytes()
    assert sorted(loads.values()) == [1, 1]  # each worker loaded the model once


# --------------------------------------------------------------------------- CLI
def _cli(args):
    from typer.testing import CliRunner

    from themeassist.cli import app

    args = [str(a) for a in args]
    if args[:1] == ["label"] and "path" in _STATIC:
        args += ["--embedding-model", str(_STATIC["path"])]
    return CliRunner().invoke(app, args)


def test_cli_labels_transcripts_and_reports_the_skipped_file(world, tmp_path):
    folder = tmp_path / "wave2"
    _write_transcripts(folder, world["segments"])
    (folder / "broken.docx").write_bytes(b"not a docx")
    out = tmp_path / "wave2.parquet"
    r = _cli(["label", folder, "-m", world["model"], "-o", out, "--chunk-size", 20,
              "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "skipped" in r.output and "broken.docx" in r.output
    assert "from 3 transcripts (1 skipped)" in r.output
    assert out.is_file() and batch.manifest_path(out).is_file()
    again = _cli(["label", folder, "-m", world["model"], "-o", out, "--chunk-size", 20,
                  "--no-progress"])
    assert again.exit_code == 0 and "nothing to do" in again.output
    strict = _cli(["label", folder, "-m", world["model"], "-o", tmp_path / "s.csv", "--strict",
                   "--no-progress"])
    assert strict.exit_code == 1 and "broken.docx" in strict.output
    assert not (tmp_path / "s.csv").exists()


def test_cli_corpus_output_matches_the_library_and_refuses_to_overwrite(world, tmp_path):
    out = tmp_path / "machine.csv"
    r = _cli(["label", "-s", world["csv"], "-m", world["model"], "-o", out, "--no-progress"])
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == io.table_bytes(world["expected"], ".csv")
    r2 = _cli(["label", "-s", world["csv"], "-m", world["model"], "-o", out, "-t", "0.9",
               "--no-progress"])
    assert r2.exit_code == 1 and "--force" in r2.output
    both = _cli(["label", world["csv"], "-s", world["csv"], "-m", world["model"], "-o", out])
    assert both.exit_code == 1 and "not both" in both.output


def test_a_torn_journal_line_and_a_merged_but_unfinished_run_still_resume(world, tmp_path):
    out = tmp_path / "machine.csv"

    def stop(chunk):
        if chunk.index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _label([world["csv"]], world["model"], out, chunk_size=50, progress=False,
                          on_chunk=stop)
    journal = batch.parts_folder(out) / batch.JOURNAL
    with open(journal, "a") as fh:
        fh.write('{"chunk": 2, "part": "part-0000')         # killed while writing
    out.write_text("half-merged output of this run\n")     # killed between merge and manifest
    _label([world["csv"]], world["model"], out, chunk_size=50, progress=False)
    assert out.read_bytes() == io.table_bytes(world["expected"], ".csv")


@pytest.mark.slow
def test_cli_workers_option_gives_the_single_process_output(world, tmp_path):
    single, dask = tmp_path / "single.csv", tmp_path / "dask.csv"
    assert _cli(["label", "-s", world["csv"], "-m", world["model"], "-o", single,
                 "--no-progress", "--chunk-size", 40]).exit_code == 0
    r = _cli(["label", "-s", world["csv"], "-m", world["model"], "-o", dask, "--no-progress",
              "--chunk-size", 40, "--workers", 2])
    assert r.exit_code == 0, r.output
    assert dask.read_bytes() == single.read_bytes()


def test_issue17_a_new_threshold_re_marks_without_relabelling(world, tmp_path, monkeypatch):
    # The threshold travelled into the batch key: a new one re-embedded and relabelled.
    out = tmp_path / "machine.csv"
    chunks = []
    _label([world["csv"]], world["model"], out, chunk_size=40, progress=False,
                      on_chunk=chunks.append)
    assert len(chunks) > 0
    first = _read(out)
    thr = 0.25

    def no_labelling(*args, **kwargs):
        raise AssertionError("relabelled for a new threshold")

    monkeypatch.setattr(batch, "label_chunk", no_labelling)
    res = _label([world["csv"]], world["model"], out, threshold=thr, force=True,
                            chunk_size=40,
                            progress=False)
    got = _read(out)
    labelled = got["level"] != "none"
    assert (got["needs_review"] == (labelled & (got["confidence"] < thr)) | ~labelled).all()
    assert got.drop(columns="needs_review").equals(first.drop(columns="needs_review"))
    assert res.review == int(got.loc[labelled, "needs_review"].sum())
    m = json.loads(batch.manifest_path(out).read_text())
    assert m["settings"]["threshold"] == thr and m["output_sha256"] == io.file_sha256(out)
    # and done: the same arguments again change nothing
    assert _label([world["csv"]], world["model"], out, threshold=thr, chunk_size=40,
                             progress=False).already_complete


def test_issue17_review_marks():
    df = pd.DataFrame({"confidence": [0.2, 0.5, 0.9, float("nan")],
                       "level": ["code", "theme", "code", "none"]})
    assert batch.review_marks(df, 0.6).tolist() == [True, True, False, True]
    assert batch.review_marks(df, 0.3).tolist() == [True, False, False, True]


def test_issue17_parts_of_an_interrupted_run_resume_under_a_new_threshold(world, tmp_path):
    out = tmp_path / "machine.csv"

    def stop(chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _label([world["csv"]], world["model"], out, chunk_size=50, progress=False,
                          on_chunk=stop)
    res = _label([world["csv"]], world["model"], out, chunk_size=50, threshold=0.2,
                            progress=False)
    assert res.chunks_resumed == 1
    got = _read(out)
    expected = world["expected"]
    assert got["confidence"].tolist() == pytest.approx(expected["confidence"].tolist())
    assert (got["needs_review"] == (got["confidence"] < 0.2)).all()


def test_issue17_suggest_works_with_a_static_embedding_model(world, tmp_path):
    # suggest built a sentence-transformer Embedder from "static:<path>" and failed.
    from typer.testing import CliRunner

    from themeassist.cli import app

    out = tmp_path / "next.csv"
    res = CliRunner().invoke(app, ["suggest", "--model", str(world["model"]), "-s",
                                   str(world["csv"]), "-n", "5", "-o", str(out),
                                   "--embedding-model", str(world["static"])])
    assert res.exit_code == 0, res.output + repr(res.exception)
    picks = pd.read_csv(out)
    assert len(picks) == 5 and picks["segment_id"].isin(world["segments"]["segment_id"]).all()
