"""The review app in a real browser: headless Chromium (Debian's package) driven by Playwright,
against ``python -m themeassist review`` run as a subprocess.

Keyboard only: accept with Enter, correct with a digit, add a second code with m, mark
"no code" with 0, undo with u, pick from the codebook search with /, retrain with r and see
the queue re-rank; then ``kill -9`` the server and restart it: every acknowledged decision
is there, none doubled."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

try:
    from tests.conftest import FIXTURES, load_file
except ImportError:  # pragma: no cover
    from conftest import FIXTURES, load_file

fake = load_file("review_fake_engine", FIXTURES / "review_fake_engine.py")
server = load_file("review_server", FIXTURES / "review_server.py")

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="Debian's chromium is not installed at /usr/bin/chromium "
                              "(.ci/run installs it)"),
    pytest.mark.timeout(600),
]


@pytest.fixture
def browser(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
            args=FLAGS, viewport={"width": 1280, "height": 900})
        try:
            yield b
        finally:
            b.close()


def journal_rows(out: Path) -> list[tuple]:
    db = sqlite3.connect(out / "review_ann.sqlite")
    try:
        return db.execute("SELECT seq, decision_id, kind, segment_id, codes, undoes "
                          "FROM records ORDER BY seq").fetchall()
    finally:
        db.close()


def current_state(out: Path) -> dict[str, list]:
    rows = journal_rows(out)
    undone = {r[5] for r in rows if r[2] == "undo"}
    state = {}
    for seq, _, kind, sid, codes, _ in rows:
        if kind == "decide" and seq not in undone:
            state[sid] = [" / ".join(p for p in c if p) for c in json.loads(codes)]
    return state


def card(page) -> dict:
    c = page.locator("#card")
    return {"sid": c.get_attribute("data-segment-id"),
            "label": json.loads(c.get_attribute("data-label")),
            "options": page.locator("#options li").evaluate_all(
                "els => els.map(e => e.dataset.code)")}


def press_and_wait(page, key, expect_notice):
    page.keyboard.press(key)
    page.wait_for_function(
        "t => { const n = document.getElementById('notice'); "
        "return n && !n.hidden && n.textContent.includes(t); }", arg=expect_notice,
        timeout=20000)


def upcoming(page) -> list[tuple[str, str]]:
    return page.locator("#upcoming li").evaluate_all(
        "els => els.map(e => [e.dataset.segmentId, e.dataset.pWrong])")


def test_review_by_keyboard_then_kill_and_restart(tmp_path, browser):
    paths = server.write_project(tmp_path / "project", fake.tiny_project)
    out = tmp_path / "out"
    srv = server.Server(paths, out, extra=("--retrain-every", "0"))
    expected: dict[str, list] = {}
    errors: list[str] = []
    try:
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url)
        assert page.url == srv.base + "/queue"                 # the token left the URL
        page.wait_for_selector("#card")

        # accept the machine's label with Enter
        c = card(page)
        press_and_wait(page, "Enter", f"saved: {c['sid']}")
        expected[c["sid"]] = c["label"]

        # correct with a digit: the second of the machine's codes
        c = card(page)
        press_and_wait(page, "2", f"saved: {c['sid']}")
        expected[c["sid"]] = [c["options"][1]]

        # add a second code with m, then a digit, then accept with Enter
        c = card(page)
        first = c["label"] or [c["options"][0]]
        if not c["label"]:
            page.keyboard.press("m")
            page.keyboard.press("1")
        extra = next(i for i, o in enumerate(c["options"]) if o not in first)
        page.keyboard.press("m")
        assert "adding a code" in page.locator("#mode").text_content()
        page.keyboard.press(str(extra + 1))
        assert page.locator("#selection").text_content() == "; ".join(
            [*first, c["options"][extra]])
        press_and_wait(page, "Enter", f"saved: {c['sid']}")
        expected[c["sid"]] = [*first, c["options"][extra]]

        # "no code" with 0, then undo it with u: the same card comes back
        c = card(page)
        press_and_wait(page, "0", f"saved: {c['sid']} = read, no code")
        press_and_wait(page, "u", f"undone: {c['sid']}")
        assert card(page)["sid"] == c["sid"]

        # search the codebook with /
        c = card(page)
        page.keyboard.press("/")
        page.keyboard.type("waiting lists")
        press_and_wait(page, "Enter", f"saved: {c['sid']}")
        expected[c["sid"]] = ["Mental health / challenge / Long waiting lists"]

        # skip with s: nothing recorded
        c = card(page)
        press_and_wait(page, "s", f"skipped {c['sid']}")
        assert card(page)["sid"] != c["sid"]

        assert current_state(out) == expected
        assert page.locator("#st-decisions").text_content() == str(len(expected))

        # retrain with r: the model version goes up and the queue is re-ranked
        before = upcoming(page)
        page.keyboard.press("r")
        page.wait_for_function("() => document.getElementById('st-model').textContent === '2'",
                               timeout=60000)
        page.wait_for_function(
            "() => document.getElementById('notice').textContent.includes('re-ranked')",
            timeout=20000)
        after = upcoming(page)
        assert after != before
        p_after = [float(p) for _, p in after]
        assert p_after == sorted(p_after, reverse=True)
        assert not set(expected) & {s for s, _ in after}

        page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)
        if os.environ.get("THEMEASSIST_SCREENSHOT"):
            shutil.copy(tmp_path / "queue.png", os.environ["THEMEASSIST_SCREENSHOT"])

        # one more decision, acknowledged, then kill -9 the server mid-session
        c = card(page)
        press_and_wait(page, "Enter", f"saved: {c['sid']}")
        expected[c["sid"]] = c["label"]
        acknowledged = journal_rows(out)
        assert errors == []                 # no script error, no refused or missing resource
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=30)
    finally:
        srv.kill()

    assert current_state(out) == expected
    again = server.Server(paths, out, extra=("--retrain-every", "0"))
    try:
        assert journal_rows(out) == acknowledged                # nothing lost, nothing doubled
        ids = [r[1] for r in acknowledged]
        assert len(ids) == len(set(ids))
        page.close()                        # the old page's status poll sees the dead server
        errors.clear()
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(again.url)
        page.wait_for_selector("#card")
        assert page.locator("#st-decisions").text_content() == str(len(expected))
        assert card(page)["sid"] not in expected
        # a POST retried after the crash (same decision id) is not recorded twice
        last = acknowledged[-1]
        res = page.evaluate(
            """async ([sid, did]) => {
                 const csrf = document.querySelector('meta[name="csrf-token"]').content;
                 const r = await fetch('/decide', {method: 'POST', referrerPolicy: 'same-origin',
                   headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
                   body: JSON.stringify({segment_id: sid, codes: [], decision_id: did})});
                 return await r.json(); }""", [last[3], last[1]])
        assert res["status"] == "duplicate"
        assert journal_rows(out) == acknowledged
        # the transcript view shows the decisions inline
        sid = next(iter(expected))
        page.goto(again.base + "/transcript/" + sid.split(":")[0])
        row = page.locator(f'.seg[data-segment-id="{sid}"]')
        assert "you:" in row.text_content()
        # ... and codes any segment: j moves, Enter opens the card, 0 = no code
        page.goto(again.base + "/transcript/fg3")
        ids = page.locator("#transcript .seg").evaluate_all(
            "els => els.map(e => e.dataset.segmentId)")
        target = next(i for i, s in enumerate(ids) if s not in expected and i > 0
                      and not s.endswith(("0000", "0006")))       # not a facilitator's turn
        for _ in range(target):
            page.keyboard.press("j")
        page.keyboard.press("Enter")
        page.wait_for_selector("#panel #card")
        assert page.locator("#panel #card").get_attribute("data-segment-id") == ids[target]
        with page.expect_navigation():                  # the transcript reloads after saving
            page.keyboard.press("0")
        row = page.locator(f'.seg[data-segment-id="{ids[target]}"]')
        assert "you: no code" in row.text_content()
        expected[ids[target]] = []
        # a candidate accepted as a new entry becomes a review batch
        page.goto(again.base + "/candidates")
        form = page.locator('form[action="/candidates/1/accept"]')
        form.locator('input[name="theme"]').fill("Access")
        form.locator('input[name="subtheme"]').fill("Rural transport")
        form.locator('select[name="valence"]').select_option("challenge")
        form.locator('input[name="theme"]').press("Enter")
        page.wait_for_url(again.base + "/batch/1")
        page.wait_for_selector("#card")
        c = card(page)
        assert c["options"][0] == "Access / challenge / Rural transport"
        press_and_wait(page, "Enter", f"saved: {c['sid']} = Access / challenge / Rural transport")
        expected[c["sid"]] = ["Access / challenge / Rural transport"]
        book = pd.read_csv(out / "codebook_ann_1.csv", keep_default_na=False)
        assert book["subtheme"].tolist()[-1] == "Rural transport"
        assert errors == []
    finally:
        assert again.stop() == 0
    codings = pd.read_csv(out / "codings_ann.csv", keep_default_na=False)
    exported = {}
    for r in codings.itertuples(index=False):
        exported.setdefault(r.segment_id, []).append(
            " / ".join(p for p in (r.theme, r.valence, r.subtheme) if p))
    assert exported == {k: v for k, v in expected.items() if v}
    decided = pd.read_csv(out / "decided_ann.csv")
    assert set(decided["segment_id"]) == set(expected)
