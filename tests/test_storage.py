"""Faulty storage (issue 16): a read-only or full file system ends in one clear message
naming the path and the cause, never a traceback or a half-written file; outputs follow
the umask; staging left by a killed writer is cleaned and never listed."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from themeassist import io, ownership
from themeassist.cli import app
from themeassist.errors import StorageError

FIX = Path(__file__).resolve().parent / "fixtures"


@contextlib.contextmanager
def tmpfs(folder: Path, size: str = "64k"):
    """A small tmpfs mounted on ``folder`` (root only), always unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _remount_ro(folder: Path) -> None:
    res = subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True,
                         text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot remount read-only: {res.stderr.strip()}")


def _ingest(out: Path, *extra: str):
    return CliRunner().invoke(app, ["ingest", str(FIX / "ingest" / "fg_questions.txt"),
                                    "--out", str(out), *extra])


def _clean_exit(res) -> None:
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, SystemExit), res.exception  # no traceback


def test_read_only_file_system_is_one_clear_message(tmp_path):
    with tmpfs(tmp_path / "ro") as ro:
        (ro / "old").mkdir()
        _remount_ro(ro)
        res = _ingest(ro / "old" / "segments.csv")
        _clean_exit(res)
        assert "read-only file system" in res.output and "segments.csv" in res.output
        res = CliRunner().invoke(app, ["stats", "-c", str(FIX / "stats" / "human.csv"),
                                       "-b", str(FIX / "stats" / "codebook.csv"),
                                       "-o", str(ro / "stats"), "--no-figures"])
        _clean_exit(res)
        assert "read-only file system" in res.output and str(ro / "stats") in res.output


def test_full_disk_is_one_clear_message_and_leaves_nothing(tmp_path):
    big = tmp_path / "big.txt"
    turns = [f"Speaker {i % 7}: " + "words that fill the disk " * 40 for i in range(300)]
    big.write_text("\n\n".join(turns) + "\n", encoding="utf-8")
    with tmpfs(tmp_path / "full", size="64k") as full:
        out = full / "segments.csv"
        res = CliRunner().invoke(app, ["ingest", str(big), "--out", str(out)])
        _clean_exit(res)
        assert "no space left on device (the disk is full)" in res.output
        assert str(out) in res.output
        assert sorted(p.name for p in full.iterdir()) == []   # no partial file, no lock


def test_storage_error_names_the_path_and_cause():
    err = StorageError.from_oserror(OSError(errno.EROFS, "Read-only file system"), "o/x.csv")
    assert str(err) == "cannot write o/x.csv: read-only file system"
    assert isinstance(err, OSError) and err.errno == errno.EROFS


def test_cli_reports_a_permission_error_without_traceback(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        res = _ingest(locked / "segments.csv")
        _clean_exit(res)
        assert "permission denied" in res.output.lower()
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_file_modes_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        a = io.write_table(pd.DataFrame({"a": [1]}), tmp_path / "atomic.csv")
        with io.OutputDir(tmp_path / "out") as staged:
            staged.text("x", "report.html")
        b = tmp_path / "out" / "report.html"
    finally:
        os.umask(old)
    for p in (a, b):
        assert p.stat().st_mode & 0o777 == 0o666 & ~mask, p


def test_staging_left_by_a_killed_writer_is_cleaned_and_not_listed(tmp_path):
    out = tmp_path / "run"
    (out / ".discover.k2j3h4g5.staging").mkdir(parents=True)
    (out / ".discover.k2j3h4g5.staging" / "candidates.csv").write_text("x")
    (out / ".segments.csv.ab12cd34.tmp").write_text("half")
    (out / "stats" / ".x.csv.zz99yy88.tmp").parent.mkdir()
    (out / "stats" / ".x.csv.zz99yy88.tmp").write_text("half")
    (tmp_path / ".run.q1w2e3r4.staging").mkdir()  # the staging of "run" itself, beside it
    (out / ".stages.json").write_text("{}")
    (out / "notes.txt").write_text("the user's own file")
    claim = ownership.claim_run_folder(out, "study")
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == ["run", "run/.stages.json", "run/.themeassist-run.json", "run/notes.txt",
                    "run/stats"]
    # A file the user had there before is not listed as the run's own.
    assert not ownership.is_own(out, out / "notes.txt", claim)
    (out / "segments.csv").write_text("new")
    assert ownership.is_own(out, out / "segments.csv", claim)


def test_a_run_killed_before_its_first_stage_can_be_rerun_without_force(tmp_path):
    out = tmp_path / "run"
    ownership.claim_run_folder(out, "study")
    (out / "segments.csv").write_text("written by the killed run")
    ownership.claim_run_folder(out, "study")  # no --force needed: the folder is the project's
