"""Issue 15: our Taguette export goes into the real Taguette 1.5.2, and comes back exactly.

The test starts Taguette (single-user mode, 127.0.0.1, a free port, a temporary database),
then acts as a browser would: it logs in with the single-user token, imports our
``project.sqlite3`` through ``/api/import`` and our ``codebook.csv`` through the "Import a
codebook" form (with the XSRF cookie Tornado checks), exports Taguette's own codebook.csv,
highlights .xlsx/.csv and project database, and imports those back with themeassist.
Skipped, with a message, when taguette is not installed (it is in the ``dev`` extra).
"""

from __future__ import annotations

import http.cookiejar
import importlib.util
import json
import re
import socket
import subprocess
import sys
import time
import unicodedata
import urllib.parse
import urllib.request
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from themeassist.qda import import_file, taguette
from themeassist.tables import validate_codebook, validate_codings, validate_segments

pytestmark = pytest.mark.skipif(importlib.util.find_spec("taguette") is None,
                                reason="taguette is not installed (pip install -e '.[dev]')")

LAUNCHER = Path(__file__).parent / "fixtures" / "qda" / "run_taguette.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("taguette")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(LAUNCHER), str(port), str(tmp / "db.sqlite3")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url, lines, deadline = None, [], time.monotonic() + 90
    try:
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
            m = re.search(r"(http://localhost:\d+/\?token=\w+)", line)
            url = m.group(1) if m else None
        if url is None:
            pytest.fail("Taguette did not start:\n" + "".join(lines[-30:]))
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{port}"
        opener.open(base + "/?token=" + url.rsplit("=", 1)[1]).read()  # logs in as admin
        yield {"base": base, "opener": opener, "jar": jar, "log": lines}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        rest = proc.stdout.read()
        proc.stdout.close()
    # nothing left the machine: the launcher refuses (and prints) any non-loopback connection
    assert "test guard: refusing" not in "".join(lines) + rest


def _xsrf(server) -> str:
    for c in server["jar"]:
        if c.name == "_xsrf":
            return c.value
    server["opener"].open(server["base"] + "/project/new").read()  # the form sets the cookie
    return next(c.value for c in server["jar"] if c.name == "_xsrf")


def _post(server, path, fields=None, files=None):
    boundary = uuid.uuid4().hex
    body = b""
    for k, v in (fields or {}).items():
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n"
                 f"{v}\r\n").encode()
    for k, (fname, data) in (files or {}).items():
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; "
                 f"filename=\"{fname}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                 ).encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(server["base"] + path, data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "X-XSRFToken": _xsrf(server)})
    with server["opener"].open(req) as resp:
        return resp.geturl(), resp.read()


def _get(server, path) -> bytes:
    with server["opener"].open(server["base"] + path) as resp:
        return resp.read()


class _Form(HTMLParser):
    """The fields a browser would submit from a page's form."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag != "input" or "name" not in a or "disabled" in a:
            return
        if a.get("type") == "checkbox" and "checked" not in a:
            return
        self.fields[a["name"]] = a.get("value") or ("on" if a.get("type") == "checkbox" else "")


@pytest.fixture(scope="module")
def tables_():
    seg = validate_segments(pd.DataFrame({
        "segment_id": ["fg1:0000", "fg1:0001", "fg1:0002", "fg2:0000"],
        "transcript_id": ["fg1", "fg1", "fg1", "fg2"], "position": [0, 1, 2, 0],
        "text": ["We got a grant \U0001F389 at last.", "The cafe\u0301 closed; \u4e2d\u6587 too.",
                 "Peer groups & <tags> kept us going.", "Waiting lists are long."],
        "speaker": ["Ann", "Bob", "", "Cat"]}))
    cb = validate_codebook(pd.DataFrame({
        "theme": ["Funding", "Funding", "Outcomes", "Café"],
        "valence": ["success", "challenge", "", ""],
        "subtheme": ["Grant", "Short-term", "Success", "Café"],
        "description": ["Money secured \u2713", "Ends too soon", "", "A flat tag, accented"]}))
    cod = validate_codings(pd.DataFrame({
        "segment_id": ["fg1:0000", "fg1:0001", "fg1:0001", "fg1:0002", "fg2:0000"],
        "coder": "ann",
        "theme": ["Funding", "Funding", "Café", "Outcomes", "Funding"],
        "valence": ["success", "challenge", "", "", ""],
        "subtheme": ["Grant", "Short-term", "Café", "Success", ""],
        "span": ["", "4-15", "", "0-11", ""]}), cb, seg)
    return seg, cod, cb


def _texts(res):
    seg = dict(zip(res["segments"]["segment_id"], res["segments"]["text"]))
    return seg


def test_issue_15_taguette_imports_our_codebook_csv(server, tables_, tmp_path):
    _, _, cb = tables_
    url, _ = _post(server, "/project/new", {"name": "codebook test", "description": "",
                                            "_xsrf": _xsrf(server)})
    pid = re.search(r"/project/(\d+)", url).group(1)
    _, page = _post(server, f"/project/{pid}/import_codebook",
                    files={"file": ("codebook.csv", taguette.codebook_csv_bytes(cb))})
    form = _Form()
    form.feed(page.decode("utf-8"))
    assert any(k.endswith("-path") for k in form.fields), page[:2000]
    _post(server, f"/project/{pid}/import_codebook", form.fields)
    exported = tmp_path / "codebook.csv"
    exported.write_bytes(_get(server, f"/project/{pid}/export/codebook.csv"))
    back = import_file(exported)["codebook"]
    back = back[back.theme != "interesting"]  # the tag Taguette gives every new project
    assert sorted(zip(back.theme, back.valence, back.subtheme, back.description)) == \
        sorted(zip(cb.theme, cb.valence, cb.subtheme, cb.description))


def test_issue_15_taguette_imports_our_project_and_gives_it_back(server, tables_, tmp_path):
    seg, cod, cb = tables_
    warnings_ = taguette.project_sqlite(seg, cod, cb, tmp_path / "ours.sqlite3", name="ours")
    assert warnings_ == []
    _, body = _post(server, "/api/import", {"project_id": "1"},
                    files={"file": ("ours.sqlite3", (tmp_path / "ours.sqlite3").read_bytes())})
    pid = json.loads(body)["project_id"]
    # Taguette's own project export, read back by themeassist
    (tmp_path / "back.sqlite3").write_bytes(_get(server, f"/project/{pid}/export/project.sqlite3"))
    back = import_file(tmp_path / "back.sqlite3")
    ours = import_file(tmp_path / "ours.sqlite3")
    assert back["summary"]["skipped"] == 0 and back["summary"]["db_highlights"] == 5
    book = back["codebook"]
    assert sorted(zip(book.theme, book.valence, book.subtheme, book.description)) == \
        sorted(zip(cb.theme, cb.valence, cb.subtheme, cb.description))
    key = ["segment_id", "theme", "valence", "subtheme"]
    got = back["codings"].sort_values(key)
    assert got[key].values.tolist() == cod.sort_values(key)[key].values.tolist()
    assert got["span"].tolist() == cod.sort_values(key)["span"].tolist()
    # every segment's text exactly (NFC), the speaker taken back out of its "Name: " turn
    want = {r.segment_id: unicodedata.normalize("NFC", r.text) for r in seg.itertuples()}
    assert _texts(back) == want
    assert back["segments"]["speaker"].tolist() == seg["speaker"].tolist()
    assert back["report"]["status"].eq("imported").all()
    pd.testing.assert_frame_equal(ours["codings"], back["codings"])
    pd.testing.assert_frame_equal(ours["segments"], back["segments"])
    # Taguette's highlights exports: every highlight's text as Taguette shows it
    spans = {}
    for r in cod.itertuples():
        text = want[r.segment_id]
        x, y = (map(int, r.span.split("-")) if r.span else (0, len(text)))
        spans.setdefault(text[x:y], set()).add(r.subtheme if r.subtheme != r.theme or not r.subtheme
                                               else r.theme)
    for ext in ("xlsx", "csv"):
        p = tmp_path / f"highlights.{ext}"
        p.write_bytes(_get(server, f"/project/{pid}/export/highlights/.{ext}"))
        res = import_file(p, coder="ann")
        hl = res["segments"]["text"].tolist()
        norm = lambda t: " ".join(t.split())
        assert sorted(norm(t) for t in hl) == sorted(norm(t) for t in spans), ext
        assert len(res["codings"]) == len(cod)
