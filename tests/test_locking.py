"""One writer per output (issue 16): a lock file with the owner's pid and host, refused for a
second live process, taken over from a dead one; run folders say whose they are."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from themeassist import locking, ownership
from themeassist.cli import app
from themeassist.errors import ConfigError, OutputExistsError, ThemeassistError

FIX = Path(__file__).resolve().parent / "fixtures" / "stats"
SRC = str(Path(__file__).resolve().parents[1] / "src")

HOLDER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from themeassist.locking import OutputLock
    try:
        with OutputLock(sys.argv[1], command="holder"):
            print("locked", flush=True)
            sys.stdin.readline()
    except Exception as err:
        print(f"refused: {type(err).__name__}: {err}", flush=True)
""")


@pytest.fixture
def holder(tmp_path):
    """Start a real process that holds the lock on an output until told to stop."""
    procs = []

    def start(target: Path) -> subprocess.Popen:
        script = tmp_path / "holder.py"
        script.write_text(HOLDER)
        proc = subprocess.Popen([sys.executable, str(script), str(target), SRC],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.stdin.write("\n")
            proc.stdin.flush()
            proc.wait(timeout=30)


def _stats(out: Path):
    return CliRunner().invoke(app, ["stats", "-c", str(FIX / "human.csv"), "-b",
                                    str(FIX / "codebook.csv"), "-o", str(out), "--no-figures"])


def test_two_real_processes_one_output(tmp_path, holder):
    out = tmp_path / "res"
    first = holder(out)
    assert first.stdout.readline().strip() == "locked"
    info = json.loads(locking.lock_path(out).read_text())
    assert info["pid"] == first.pid and info["host"] == socket.gethostname()

    second = holder(out)            # another real process: refused while the first runs
    line = second.stdout.readline()
    second.wait(timeout=30)
    assert line.startswith("refused: LockedError") and f"process {first.pid}" in line

    res = _stats(out)               # and a command: exit 1, naming the owner, nothing written
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)
    assert f"being written by process {first.pid}" in res.output and "`holder`" in res.output
    assert not out.exists()

    first.stdin.write("\n")
    first.stdin.flush()
    first.wait(timeout=30)
    assert not locking.lock_path(out).exists()
    res = _stats(out)
    assert res.exit_code == 0, res.output
    assert not locking.lock_path(out).exists()     # released at the end


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(target: Path, **info) -> Path:
    path = locking.lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": 1, "host": socket.gethostname(), "start": None,
                                "command": "run", **info}))
    return path


def test_a_stale_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    out = tmp_path / "res"
    _write_lock(out, pid=_dead_pid())
    with locking.OutputLock(out, command="stats") as lock:
        assert json.loads(lock.path.read_text())["command"] == "stats"
    assert not lock.path.exists()


def test_a_reused_pid_is_not_mistaken_for_the_owner(tmp_path):
    import os

    out = tmp_path / "res"
    _write_lock(out, pid=os.getppid(), start="1")   # alive, but started at another time
    with locking.OutputLock(out):
        pass


def test_a_lock_from_another_host_is_refused_with_the_file_to_delete(tmp_path):
    out = tmp_path / "res"
    path = _write_lock(out, pid=_dead_pid(), host="other-machine")
    with pytest.raises(locking.LockedError, match=f"other-machine.*delete {path}"):
        locking.OutputLock(out).acquire()


def test_a_torn_lock_file_is_stale(tmp_path):
    out = tmp_path / "res"
    locking.lock_path(out).write_text('{"pid": 12')
    with locking.OutputLock(out):
        pass


def test_locks_are_reentrant_within_a_process(tmp_path):
    out = tmp_path / "res"
    with locking.OutputLock(out), locking.OutputLock(out):
        assert locking.lock_path(out).exists()
    assert not locking.lock_path(out).exists()


def test_a_refused_command_leaves_no_lock_and_no_folder(tmp_path):
    out = tmp_path / "a" / "b" / "res"
    res = CliRunner().invoke(app, ["stats", "-c", str(tmp_path / "missing.csv"), "-b",
                                   str(FIX / "codebook.csv"), "-o", str(out)])
    assert res.exit_code == 1
    assert list(tmp_path.iterdir()) == []


def _old_run(out: Path, project: str) -> None:
    (out / "stats").mkdir(parents=True)
    for name in ("segments.csv", "stats/theme_counts.csv", "report.html"):
        (out / name).write_text("old")
    (out / ".stages.json").write_text("{}")
    (out / "manifest.json").write_text(json.dumps({
        "command": "run", "project": project,
        "files": ["segments.csv", "stats/theme_counts.csv", "report.html", "../outside.txt",
                  "/etc/passwd"]}))


def test_another_projects_run_is_refused_without_force(tmp_path):
    out = tmp_path / "run"
    _old_run(out, "study-a")
    with pytest.raises(OutputExistsError, match="another project .'study-a'"):
        ownership.claim_run_folder(out, "study-b")
    ownership.claim_run_folder(out, "study-a")    # the same project re-runs freely


def test_force_clears_only_what_the_old_manifest_lists(tmp_path):
    out = tmp_path / "run"
    _old_run(out, "study-a")
    (out / "my notes.txt").write_text("the user's own")
    (out / "stats" / "extra.csv").write_text("the user's own")
    (tmp_path / "outside.txt").write_text("never touched")
    claim = ownership.claim_run_folder(out, "study-b", force=True)
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert left == [".themeassist-run.json", "my notes.txt", "stats", "stats/extra.csv"]
    assert (tmp_path / "outside.txt").read_text() == "never touched"
    assert claim.previous_owner == "study-a" and "segments.csv" in claim.cleared
    assert ownership.owner(out) == "study-b"


def test_run_refuses_a_locked_folder_before_any_work(tmp_path, holder):
    from themeassist import pipeline

    out = tmp_path / "run"
    first = holder(out)
    assert first.stdout.readline().strip() == "locked"
    with pytest.raises(locking.LockedError, match=f"process {first.pid}"):
        pipeline.run_project(pipeline.demo_project(), out)
    assert not out.exists()


def test_run_refuses_an_output_folder_holding_an_input(tmp_path):
    from themeassist import pipeline

    project = pipeline.demo_project()
    inside = project.base_dir
    with pytest.raises(ConfigError, match="holds an input"):
        pipeline.run_project(project, inside, force=True)


def test_a_run_that_fails_before_writing_leaves_no_folder(tmp_path):
    from themeassist import pipeline
    from themeassist.config import load_project

    project = tmp_path / "p.yaml"
    (tmp_path / "broken.txt").write_text("no speaker turns at all\n")
    project.write_text("name: broken\ntranscripts: [broken.txt]\n")
    out = tmp_path / "out"
    with pytest.raises(ThemeassistError, match="broken.txt"):
        pipeline.run_project(load_project(project), out)
    assert not out.exists() and not locking.lock_path(out).exists()
