"""End to end: the bundled demo through the real pipeline (real model, real clustering).

One demo run per test session is shared by the tests below; it runs with every internet
socket blocked, so its success proves no network is used.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from themeassist.cli import app
from themeassist.offline import block_sockets

runner = CliRunner()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "out"
    with block_sockets():
        res = runner.invoke(app, ["demo", "--out", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "report.html" in res.output
    return out


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in ("manifest.json", ".stages.json")}


def test_demo_writes_every_stage(demo_dir):
    for name in ("segments.csv", "ingest_summary.csv", "machine.csv", "report.html",
                 "manifest.json", "model/model_card.json", "discover/candidates.csv",
                 "discover/assignments.csv", "stats/comparison.json"):
        assert (demo_dir / name).is_file(), name
    pairs = sorted(p.name for p in (demo_dir / "agreement").iterdir())
    assert any(p.startswith("A_vs_model-") for p in pairs) and "A_vs_B" in pairs
    agreement = json.loads(next((demo_dir / "agreement").glob("A_vs_model-*/agreement.json"))
                           .read_text())
    for key in ("n_units", "coders", "level", "percent_agreement", "cohen_kappa", "scott_pi",
                "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "brennan_prediger", "ci",
                "per_code"):
        assert key in agreement
    manifest = json.loads((demo_dir / "manifest.json").read_text())
    assert manifest["embedding_model"].startswith("all-MiniLM-L6-v2@53aa51172d14")
    assert all(len(item["sha256"]) == 64 for item in manifest["inputs"]["transcripts"])


def test_machine_labels_are_held_out_and_confident(demo_dir):
    import pandas as pd

    machine = pd.read_csv(demo_dir / "machine.csv")
    assert machine["coder"].str.startswith("model:").all()
    assert machine["confidence"].between(0, 1).all()
    report = (demo_dir / "report.html").read_text(encoding="utf-8")
    assert "held-out labels" in report


def test_rerun_reuses_stages_and_changes_nothing(demo_dir):
    before = _digests(demo_dir)
    with block_sockets():
        res = runner.invoke(app, ["demo", "--out", str(demo_dir)])
    assert res.exit_code == 0, res.output
    assert "discover: reused" in res.output and "train: reused" in res.output
    assert _digests(demo_dir) == before


def test_issue17_a_no_change_rerun_loads_no_model_and_imports_nothing_heavy(demo_dir):
    # Issue 17: a re-run with nothing changed took 18 s, most of it loading the reused
    # classifier (and importing scikit-learn, torch...). Now the run's key is checked
    # first: no stage is entered. A fresh process, as a user runs it. (scikit-learn and
    # scipy are imported anyway, by the project schema: DiscoverSettings is derived from
    # discover's CandidateClusterer, a scikit-learn estimator.)
    import sys

    probe = ("import sys\nfrom themeassist.cli import main\ntry:\n    main()\n"
             "except SystemExit as e:\n    code = e.code\n"
             "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'matplotlib', "
             "'umap', 'spacy', 'bertopic', 'PIL') if m in sys.modules)\n"
             "print('EXIT', code, 'HEAVY', heavy)")
    before = _digests(demo_dir)
    res = subprocess.run([sys.executable, "-c", probe, "demo", "--out", str(demo_dir)],
                         capture_output=True, text=True, timeout=300)
    assert "EXIT 0 HEAVY []" in res.stdout, res.stdout + res.stderr[-2000:]
    for stage in ("ingest", "embed", "discover", "train", "label", "agree", "stats",
                  "report"):
        assert f"{stage}: reused" in res.stdout, stage
    assert _digests(demo_dir) == before


def test_report_embeds_the_figures_the_stages_wrote(demo_dir):
    # Issue 17: the report drew every figure a second time; it now embeds each stage's
    # own file, scaled to screen resolution: the same picture, from the same draw.
    import base64

    from themeassist import io

    page = (demo_dir / "report.html").read_text(encoding="utf-8")
    shown = [base64.b64decode(b) for b in re.findall(r'data:image/png;base64,([^"]+)', page)]
    written = {io.scaled_png(p.read_bytes(), 110) for p in demo_dir.rglob("*.png")}
    assert len(shown) >= 8
    assert all(b in written for b in shown)


def test_report_is_self_contained(demo_dir):
    page = (demo_dir / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert page.count("data:image/png;base64,") >= 8
    for section in ("glance", "candidates", "model", "agreement", "stats", "methods"):
        assert f'id="{section}"' in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                    "(.ci/run installs it)")
def test_report_renders_in_headless_chromium(demo_dir, tmp_path):
    # A copy of the report with a probe that, once loaded, writes into the title how many
    # images decoded; the copy drops the page's script ban so the probe can run.
    page = (demo_dir / "report.html").read_text(encoding="utf-8")
    page = re.sub(r"<meta http-equiv=Content-Security-Policy[^>]*>", "", page)
    probe = ("<script>window.addEventListener('load',()=>{const i=[...document.images];"
             "document.title='IMAGES '+i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'"
             "+i.length;});</script>")
    (tmp_path / "r.html").write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", "--dump-dom", (tmp_path / "r.html").as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    title = re.search(r"<title>IMAGES (\d+)/(\d+)</title>", res.stdout)
    assert title, res.stderr[-2000:]
    ok, total = map(int, title.groups())
    assert total >= 8 and ok == total
    console_errors = [line for line in res.stderr.splitlines()
                      if "CONSOLE" in line and ("Error" in line or "Refused" in line)]
    assert console_errors == []


def test_two_fresh_runs_with_cold_caches_give_identical_files(demo_dir, tmp_path, monkeypatch):
    # Reproducible byte for byte: a second run in a new folder with its own empty
    # embedding cache writes the same files (only the manifest's timings differ).
    monkeypatch.setenv("THEMEASSIST_CACHE", str(tmp_path / "cold-cache"))
    other = tmp_path / "again"
    res = runner.invoke(app, ["demo", "--out", str(other)])
    assert res.exit_code == 0, res.output
    assert _digests(other) == _digests(demo_dir)


def test_a_resumed_run_prints_no_sklearn_warnings_and_lists_only_its_files(demo_dir):
    # Issue 16: a run resumed after its label stage was interrupted (train reused, label
    # re-run) printed 63 scikit-learn UserWarnings; staging folders were listed as outputs.
    import warnings

    stages = demo_dir / ".stages.json"
    keys = json.loads(stages.read_text())
    keys.pop("label", None)
    stages.write_text(json.dumps(keys))
    (demo_dir / ".discover.k2j3h4g5.staging").mkdir()           # left by a kill -9
    (demo_dir / "my notes.txt").write_text("the user's own file")
    with warnings.catch_warnings(record=True) as caught, block_sockets():
        warnings.simplefilter("always")
        res = runner.invoke(app, ["demo", "--out", str(demo_dir)])
    assert res.exit_code == 0, res.output
    assert "train: reused" in res.output and "label: reused" not in res.output
    from_sklearn = [f"{w.filename}: {w.message}" for w in caught
                    if issubclass(w.category, UserWarning)
                    and ("sklearn" in w.filename or w.category.__module__.startswith("sklearn")
                         or "unique classes" in str(w.message))]
    assert from_sklearn == []
    files = json.loads((demo_dir / "manifest.json").read_text())["files"]
    assert not [f for f in files if any(part.startswith(".") for part in f.split("/"))]
    assert "my notes.txt" not in files and "machine.csv" in files
    assert not (demo_dir / ".discover.k2j3h4g5.staging").exists()
    assert not (demo_dir.parent / f".{demo_dir.name}.lock").exists()
    (demo_dir / "my notes.txt").unlink()
