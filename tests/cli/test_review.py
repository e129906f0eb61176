"""`themeassist review`: options and errors (CliRunner), and the real server started by the
command as a subprocess: it listens on loopback only, answers with the token, exports on exit."""

from __future__ import annotations

import sys

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from themeassist.cli import app

try:
    from tests.conftest import FIXTURES, load_file
except ImportError:  # pragma: no cover
    from conftest import FIXTURES, load_file

fake = load_file("review_fake_engine", FIXTURES / "review_fake_engine.py")
server = load_file("review_server", FIXTURES / "review_server.py")

runner = CliRunner()


def test_needs_a_project_or_a_corpus():
    res = runner.invoke(app, ["review", "--coder", "ann"])
    assert res.exit_code == 1
    assert "give a project file or --corpus" in res.output


def test_without_a_project_the_output_folder_is_required(tmp_path):
    paths = server.write_project(tmp_path, fake.tiny_project)
    res = runner.invoke(app, ["review", "--corpus", str(paths["corpus"]), "--coder", "ann"])
    assert res.exit_code == 1 and "--out" in res.output


def test_an_unknown_key_in_the_review_section_names_file_and_key(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("segments: s.csv\nreview:\n  retrain_evry: 3\n", encoding="utf-8")
    res = runner.invoke(app, ["review", str(cfg), "--coder", "ann"])
    assert res.exit_code == 1
    assert "p.yaml: review.retrain_evry: Extra inputs are not permitted" in res.output


def _fake_session(tmp_path):
    from themeassist.review.session import ReviewSession

    seg, book, emb, *_ = fake.tiny_project()
    return ReviewSession(seg, emb, book, coder="ann", out=tmp_path / "out", engine=fake)


@pytest.mark.parametrize("host, warned", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_url_token_browser_and_the_warning_off_loopback(tmp_path, monkeypatch, host, warned):
    import uvicorn

    from themeassist.review import launch

    opened, served = [], []
    monkeypatch.setattr(launch, "open_session", lambda *a, **k: _fake_session(tmp_path))
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: served.append(
        sockets[0].getsockname()))
    monkeypatch.setattr("webbrowser.open", opened.append)
    res = runner.invoke(app, ["review", "--corpus", "x.csv", "--coder", "ann", "--host", host,
                              "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    url = next(line for line in res.output.splitlines() if "review: open" in line).split()[-1]
    assert url.startswith(f"http://{host}:{served[0][1]}/?token=")
    assert len(url.split("token=")[1]) >= 40                      # token_urlsafe(32)
    assert served[0][0] == host and opened == [url]
    assert ("warning: listening on 0.0.0.0" in res.output) is warned
    res = runner.invoke(app, ["review", "--corpus", "x.csv", "--coder", "ann", "--no-browser",
                              "--out", str(tmp_path / "out")])
    assert res.exit_code == 0 and len(opened) == 1
    # two starts, two different tokens
    urls = [line for line in res.output.splitlines() if "review: open" in line]
    assert urls[0].split()[-1] != url


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_real_server_listens_on_loopback_only_and_exports_on_exit(tmp_path):
    # The one test that loads the packaged embedding model (in the server process).
    paths = server.write_project(tmp_path, fake.tiny_project)
    out = tmp_path / "out"
    srv = server.Server(paths, out)
    try:
        assert srv.url.startswith("http://127.0.0.1:")
        listening = server.listening_addresses(srv.proc.pid)
        assert listening == [("127.0.0.1", srv.port)]
        with httpx.Client(base_url=srv.base) as c:
            assert c.get("/queue").status_code == 403
            r = c.get(srv.url.replace(srv.base, ""), follow_redirects=True)
            assert r.status_code == 200 and 'id="card"' in r.text
            csrf = r.text.split('name="csrf-token" content="')[1].split('"')[0]
            sid = r.text.split('data-segment-id="')[1].split('"')[0]
            res = c.post("/decide", headers={"X-CSRF-Token": csrf, "Origin": srv.base},
                         json={"segment_id": sid, "codes": [], "decision_id": "cli-1",
                               "version": 0}).json()
            assert res["status"] == "recorded"
    finally:
        code = srv.stop()
    assert code == 0, "".join(srv.err)[-2000:]
    assert any("review: stopped" in line for line in srv.lines)
    decided = pd.read_csv(out / "decided_ann.csv")
    assert decided["segment_id"].tolist() == [sid]
    assert (out / "review_ann.sqlite").exists()
