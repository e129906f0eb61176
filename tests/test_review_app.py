"""The review app over HTTP: security (token, cookie, CSRF, Origin, Host, headers), decisions
and their exports, two tabs on one segment, undo, retraining in the background, the views.

Sessions are built from small synthetic tables and random embeddings (no embedding model)."""

from __future__ import annotations

import re
import threading

import pandas as pd
import pytest
from starlette.testclient import TestClient

from themeassist.review.app import create_app
from themeassist.review.session import ReviewSession

try:
    from tests.conftest import FIXTURES, load_file
except ImportError:  # pragma: no cover
    from conftest import FIXTURES, load_file

fake = load_file("review_fake_engine", FIXTURES / "review_fake_engine.py")

PORT = 8731
BASE = f"http://127.0.0.1:{PORT}"
ORIGIN = {"Origin": BASE}
TOKEN = "the-session-token"


def make_session(out, engine=None, **kw):
    seg, book, emb, cands, assign = fake.tiny_project()
    cands = cands.astype(str)                       # as read from candidates.csv
    kw.setdefault("retrain_every", 0)
    return ReviewSession(seg, emb, book, coder="ann", out=out, candidates=cands,
                         assignments=assign, engine=engine, **kw)


@pytest.fixture
def session(tmp_path):
    s = make_session(tmp_path / "out")
    s.start()
    yield s
    s.stop()


@pytest.fixture
def client(session):
    app = create_app(session, token=TOKEN, host="127.0.0.1", port=PORT, csrf="the-csrf")
    with TestClient(app, base_url=BASE) as c:
        yield c


@pytest.fixture
def auth(client):
    r = client.get(f"/queue?token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303
    return client


def post(c, url, json, **headers):
    h = {"X-CSRF-Token": "the-csrf", **ORIGIN, **headers}
    return c.post(url, json=json, headers={k: v for k, v in h.items() if v is not None})


def card_of(page: str) -> tuple[str, int]:
    m = re.search(r'id="card".*?data-segment-id="([^"]+)" data-version="(\d+)"', page, re.S)
    return m.group(1), int(m.group(2))


# ------------------------------------------------------------------ security
@pytest.mark.parametrize("path", ["/", "/queue", "/status", "/static/review.js", "/progress",
                                  "/transcript/fg1"])
def test_requests_without_the_token_are_refused(client, path):
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 403
    assert "set-cookie" not in r.headers


def test_a_wrong_token_is_refused_and_sets_no_cookie(client):
    r = client.get("/queue?token=guess", follow_redirects=False)
    assert r.status_code == 403 and "set-cookie" not in r.headers
    client.cookies.set(f"themeassist_{PORT}", "guess")
    assert client.get("/queue").status_code == 403


def test_the_token_becomes_a_strict_httponly_cookie_and_leaves_the_url(client):
    r = client.get(f"/queue?token={TOKEN}&focus=fg1:0002", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/queue?focus=fg1%3A0002"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"themeassist_{PORT}={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/queue").status_code == 200


def test_security_headers_on_pages_and_refusals(auth):
    for r in (auth.get("/queue"), auth.get("/static/review.js"),
              TestClient(auth.app, base_url=BASE).get("/queue")):
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"


def test_a_foreign_host_header_is_refused(auth):
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example
    r = auth.get("/queue", headers={"Host": f"evil.example:{PORT}"})
    assert r.status_code == 403


def test_posts_from_a_foreign_origin_or_without_csrf_are_refused(auth, session):
    sid, version = card_of(auth.get("/queue").text)
    body = {"segment_id": sid, "codes": [], "decision_id": "x", "version": version}
    assert post(auth, "/decide", body, Origin="http://evil.example").status_code == 403
    assert post(auth, "/decide", body, Origin="null").status_code == 403
    assert post(auth, "/decide", body, **{"X-CSRF-Token": None}).status_code == 403
    assert post(auth, "/decide", body, **{"X-CSRF-Token": "forged"}).status_code == 403
    assert post(auth, "/decide", body, Origin=None).status_code == 403      # neither header
    assert post(auth, "/decide", body, Origin=None,
                Referer="http://evil.example/").status_code == 403
    assert post(auth, "/retrain", {}, Origin="http://evil.example").status_code == 403
    r = auth.post("/candidates/0/dismiss", data={"csrf": "forged"}, headers=ORIGIN)
    assert r.status_code == 403
    assert session.journal.records() == [] and session.journal.events() == []
    # the same POST with the token and its own origin goes through
    assert post(auth, "/decide", body).json()["status"] == "recorded"
    assert post(auth, "/decide", {**body, "decision_id": "y"}, Origin=None,
                Referer=BASE + "/queue").json()["status"] == "conflict"


def test_every_text_is_escaped_and_nothing_is_loaded_from_elsewhere(auth):
    page = auth.get("/transcript/fg1").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;quoted&#34;" in page
    for p in ("/queue", "/next", "/transcripts", "/transcript/fg1", "/candidates", "/progress"):
        page = auth.get(p).text
        assert not re.search(r'(src|href|action)="(https?:)?//', page), p
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), p          # no inline script
        assert "style=" not in page, p                                     # no inline style
    for asset in ("/static/review.js", "/static/review.css"):
        assert not re.search(r"https?://|@import|url\(", auth.get(asset).text)


# ------------------------------------------------------------------ decisions
def test_a_decision_is_recorded_once_and_exported(auth, session):
    sid, version = card_of(auth.get("/queue").text)
    code = session.code_labels[1]
    body = {"segment_id": sid, "codes": [code], "decision_id": "d1", "version": version}
    first = post(auth, "/decide", body).json()
    again = post(auth, "/decide", body).json()                 # a retried POST
    assert (first["status"], again["status"]) == ("recorded", "duplicate")
    assert first["seq"] == again["seq"] and first["codes"] == [code]
    assert len(session.journal.records()) == 1
    out = session.out
    codings = pd.read_csv(out / "codings_ann.csv", keep_default_na=False)
    assert codings.values.tolist() == [[sid, "ann", *session.code_of(code)]]
    decided = pd.read_csv(out / "decided_ann.csv", keep_default_na=False)
    assert decided["segment_id"].tolist() == [sid]
    assert decided["decided_at"].tolist() == [session.journal.current()[sid].decided_at]
    # the next card is another segment
    assert card_of(auth.get("/queue").text)[0] != sid


def test_two_tabs_deciding_one_segment_leave_one_decision_and_a_notice(auth, session):
    sid, version = card_of(auth.get("/queue").text)
    tab1 = post(auth, "/decide", {"segment_id": sid, "codes": [], "decision_id": "t1",
                                  "version": version}).json()
    tab2 = post(auth, "/decide", {"segment_id": sid, "codes": [session.code_labels[0]],
                                  "decision_id": "t2", "version": version}).json()
    assert tab1["status"] == "recorded" and tab2["status"] == "conflict"
    assert tab2["notice"].startswith(f"already decided in another tab: {sid} is read, no code")
    assert [r.decision_id for r in session.journal.records()] == ["t1"]


def test_concurrent_tabs_on_a_real_server(tmp_path):
    import httpx
    import uvicorn

    from themeassist.review.launch import bind

    s = make_session(tmp_path / "out")
    s.start()
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(s, token=TOKEN, host="127.0.0.1", port=port, csrf="c")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base) as c:
            for _ in range(100):
                try:
                    c.get(f"/queue?token={TOKEN}")
                    break
                except httpx.ConnectError:
                    threading.Event().wait(0.05)
            sid, version = card_of(c.get("/queue").text)
            barrier, results = threading.Barrier(6), []

            def tab(i):
                barrier.wait()
                r = c.post("/decide", headers={"X-CSRF-Token": "c", "Origin": base},
                           json={"segment_id": sid, "codes": [], "decision_id": f"tab{i}",
                                 "version": version})
                results.append(r.json())

            threads = [threading.Thread(target=tab, args=(i,)) for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        statuses = sorted(r["status"] for r in results)
        assert statuses == ["conflict"] * 5 + ["recorded"]
        assert all("another tab" in r["notice"] for r in results if r["status"] == "conflict")
        assert len(s.journal.records()) == 1
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        s.stop()


def test_undo_brings_the_segment_back(auth, session):
    sid, version = card_of(auth.get("/queue").text)
    d = post(auth, "/decide", {"segment_id": sid, "codes": [], "decision_id": "a",
                               "version": version}).json()
    u = post(auth, "/undo", {"decision_id": "u", "target": d["seq"]}).json()
    assert u["status"] == "recorded" and u["segment_id"] == sid
    assert "undone" in u["notice"]
    assert session.journal.current() == {}
    assert [r.kind for r in session.journal.records()] == ["decide", "undo"]
    assert card_of(auth.get(f"/queue?focus={sid}").text)[0] == sid
    assert pd.read_csv(session.out / "decided_ann.csv").empty
    again = post(auth, "/undo", {"decision_id": "u2", "target": d["seq"]}).json()
    assert again["status"] == "conflict"


def test_bad_requests_name_the_problem(auth):
    r = post(auth, "/decide", {"segment_id": "nope", "codes": [], "decision_id": "z"})
    assert r.status_code == 400 and "unknown segment" in r.json()["notice"]
    r = post(auth, "/decide", {"segment_id": "fg1:0001", "codes": ["Not / a code"],
                               "decision_id": "z"})
    assert r.status_code == 400 and "not in the codebook" in r.json()["notice"]
    r = post(auth, "/decide", {"segment_id": "fg1:0001", "codes": "x", "decision_id": "z"})
    assert r.status_code == 400


def test_facilitators_turns_are_not_queued(session):
    fac = set(session.segments.loc[session.segments["role"] == "facilitator", "segment_id"])
    assert fac and not fac & set(session.order("queue")) and not fac & set(session.order("next"))
    assert session.card(sorted(fac)[0], "transcript")["role"] == "facilitator"


def test_skip_moves_on_without_recording(auth, session):
    sid, _ = card_of(auth.get("/queue").text)
    assert post(auth, "/skip", {"view": "queue", "segment_id": sid}).status_code == 200
    assert card_of(auth.get("/queue").text)[0] != sid
    assert session.journal.records() == []


# ------------------------------------------------------------------ the model in the loop
def test_retraining_runs_in_the_background_and_re_ranks(tmp_path):
    slow = make_session(tmp_path / "out", engine=fake, retrain_every=3)
    slow.start()
    try:
        app = create_app(slow, token=TOKEN, host="127.0.0.1", port=PORT, csrf="the-csrf")
        with TestClient(app, base_url=BASE) as c:
            c.get(f"/queue?token={TOKEN}")
            before = slow.order("queue")
            for i in range(3):
                sid, v = card_of(c.get("/queue").text)
                code = slow.code_labels[i % 2]
                res = post(c, "/decide", {"segment_id": sid, "codes": [code],
                                          "decision_id": f"d{i}", "version": v}).json()
                assert res["status"] == "recorded"
            for _ in range(200):                  # the third decision triggered a retrain
                if slow.status()["model_version"] == 2 and not slow.status()["training"]:
                    break
                threading.Event().wait(0.05)
            assert slow.status()["model_version"] == 2
            decided = {r.segment_id for r in slow.journal.records()}
            decided |= set(slow.segments.loc[slow.segments["role"] == "facilitator",
                                             "segment_id"])   # never in the queue
            after = slow.order("queue")
            assert after == [s for s in slow.state.queue["segment_id"] if s not in decided]
            assert after != [s for s in before if s not in decided]
            # while a slow retrain runs, decisions are still answered at once
            slow._model.delay = 1.5
            assert post(c, "/retrain", {}).json()["training"] is True
            sid, v = card_of(c.get("/queue").text)
            res = post(c, "/decide", {"segment_id": sid, "codes": [], "decision_id": "late",
                                      "version": v}).json()
            assert res["status"] == "recorded" and res["training"] is True
            assert res["model_version"] == 2
    finally:
        slow.stop()


# ------------------------------------------------------------------ the other views
def test_views_render(auth, session):
    page = auth.get("/next").text
    assert 'id="card"' in page
    page = auth.get("/transcript/fg2").text
    assert page.count('class="seg') == 12 and "machine:" in page
    page = auth.get("/progress").text
    assert "<svg" in page and "decisions made" in page
    assert "expected agreement if you stopped now" in page
    page = auth.get("/fragment/card/fg2:0003?view=transcript").text
    assert 'data-segment-id="fg2:0003"' in page and "Participant" in page
    for key in ("Enter", "1-9", "/", "0", "m", "u", "s"):
        assert f"<kbd>{key}</kbd>" in auth.get("/queue").text


def test_a_decision_in_the_transcript_view_shows_inline(auth, session):
    code = session.code_labels[2]
    post(auth, "/decide", {"segment_id": "fg2:0003", "codes": [code], "decision_id": "x",
                           "view": "transcript"})
    assert f"you: {code}" in auth.get("/transcript/fg2").text


def test_accepting_a_candidate_writes_a_new_codebook_and_a_batch(auth, session):
    book_before = session.codebook.copy()
    r = auth.post("/candidates/1/accept", headers=ORIGIN, follow_redirects=False,
                  data={"csrf": "the-csrf", "subtheme": "Rural transport", "theme": "Access",
                        "valence": "challenge"})
    assert r.status_code == 303 and r.headers["location"] == "/batch/1"
    path = session.out / "codebook_ann_1.csv"
    book = pd.read_csv(path, keep_default_na=False)
    assert len(book) == len(book_before) + 1
    assert book.iloc[-1][["theme", "valence", "subtheme"]].tolist() == [
        "Access", "challenge", "Rural transport"]
    page = auth.get("/batch/1").text
    sid, _ = card_of(page)
    assert sid in session.candidate_segments("1")
    assert "Access / challenge / Rural transport" in page
    # a second change is another file; the first stays as it was
    auth.post("/candidates/0/accept", headers=ORIGIN,
              data={"csrf": "the-csrf", "subtheme": "Burnout", "theme": "Access",
                    "valence": "challenge"})
    assert (session.out / "codebook_ann_2.csv").exists()
    assert pd.read_csv(path, keep_default_na=False).equals(book)
    # a session reopened on the folder starts from the newest codebook
    again = make_session(session.out)
    assert len(again.codebook) == len(book_before) + 2
    again.journal.close()


def test_merge_and_dismiss(auth, session):
    target = session.code_labels[5]
    r = auth.post("/candidates/0/merge", headers=ORIGIN, follow_redirects=False,
                  data={"csrf": "the-csrf", "code": target})
    assert r.headers["location"] == "/batch/0"
    assert f'data-code="{target}"' in auth.get("/batch/0").text
    auth.post("/candidates/1/dismiss", headers=ORIGIN, data={"csrf": "the-csrf"})
    kinds = [e["kind"] for e in session.journal.events()]
    assert kinds == ["merge", "dismiss"]
    assert "dismissed" in auth.get("/candidates").text
    assert len(session.codebook) == 6                      # merging adds no entry


def test_the_coders_earlier_codings_are_the_baseline(tmp_path):
    seg, book, emb, cands, assign = fake.tiny_project()
    base = pd.DataFrame({"segment_id": ["fg1:0001", "fg1:0002"], "coder": ["ann", "bob"],
                         "theme": ["Funding"] * 2, "valence": ["success"] * 2,
                         "subtheme": ["Grant secured"] * 2})
    s = ReviewSession(seg, emb, book, coder="ann", out=tmp_path, baseline_codings=base)
    # ann coded in fg1: all of fg1 counts as decided (DESIGN.md's default); bob is ignored
    assert s.decided_ids() == [f"fg1:{p:04d}" for p in range(12)]
    assert s.human_codings()["segment_id"].tolist() == ["fg1:0001"]
    s.decide("fg1:0001", [], decision_id="a")
    assert s.human_codings().empty
    decided = pd.read_csv(tmp_path / "decided_ann.csv", keep_default_na=False)
    assert len(decided) == 12 and (decided["decided_at"] != "").sum() == 1
    # the decisions table that train, suggest, label and run read (--decided)
    from themeassist import io

    read = io.read_decisions(tmp_path / "decided_ann.csv", seg)
    assert read["segment_id"].tolist() == decided["segment_id"].tolist()
    assert set(read["coder"]) == {"ann"}
    s.journal.close()


def test_new_codebook_entries_are_embedded_once_off_the_request(tmp_path):
    from themeassist import tables

    seg, book, emb, cands, assign = fake.tiny_project()
    rng = __import__("numpy").random.default_rng(1)
    known = {t: rng.normal(size=emb.shape[1]) for t in tables.codebook_texts(book)}
    calls = []

    def embed(texts):
        calls.append((threading.current_thread().name, list(texts)))
        return rng.normal(size=(len(texts), emb.shape[1]))

    s = ReviewSession(seg, emb, book, coder="ann", out=tmp_path, candidates=cands.astype(str),
                      assignments=assign, embed_texts=embed, text_vectors=known)
    s.start()
    try:
        assert calls == []                      # the codebook's vectors were given
        s.accept_candidate("1", theme="Access", valence="", subtheme="Rural transport",
                           event_id="e")
        for _ in range(400):
            if s.status()["model_version"] == 2 and not s.status()["training"]:
                break
            threading.Event().wait(0.05)
        assert s.status()["model_version"] == 2 and s.last_error is None
        assert calls == [("review-retrain", ["Access: Rural transport. Keywords: bus, travel, rural"])]
        assert "Access / Rural transport" in s.state.pred.codes
    finally:
        s.stop()


def test_code_next_follows_the_engines_suggestions(session):
    from themeassist.review import engine

    st = session.state
    picks = engine.suggest_from(st.pred, session.embeddings, session.decided_ids(), n=50,
                                seed=0)["segment_id"].tolist()
    fac = set(session.segments.loc[session.segments["role"] == "facilitator", "segment_id"])
    assert session.order("next") == [s for s in picks if s not in fac]
    assert session.order("next")


def test_progress_shows_the_models_figures(auth, session):
    for i, sid in enumerate(session.order("queue")[:3]):
        session.decide(sid, [session.code_labels[i]], decision_id=f"p{i}")
    session.train_now()
    page = auth.get("/progress").text
    p = session.progress()
    assert p["decisions"] == 3 and len(p["runs"]) == 2
    assert f"kappa {p['expected']['kappa']:.2f} (human where decided" in page
    assert f"{100 * p['decided_share']:.0f}% (3 of 36 segments)" in page
    assert page.count("<circle") >= 2                       # one point per trained model


def test_stop_exports_the_coding(tmp_path):
    s = make_session(tmp_path)
    s.start()
    s.journal.decide("fg1:0001", [session_code(s)], decision_id="direct")  # not exported yet
    assert not (tmp_path / "codings_ann.csv").exists()
    s.stop()
    codings = pd.read_csv(tmp_path / "codings_ann.csv")
    assert codings["segment_id"].tolist() == ["fg1:0001"]


def session_code(s):
    return s.code_of(s.code_labels[0])


def test_cards_show_the_question_text(tmp_path):
    s = make_session(tmp_path, questions={"q1": "What went <well>?"})
    s.start()
    try:
        app = create_app(s, token=TOKEN, host="127.0.0.1", port=PORT)
        with TestClient(app, base_url=BASE) as c:
            c.get(f"/queue?token={TOKEN}")
            page = c.get("/fragment/card/fg1:0002?view=transcript").text
        assert "question q1: <i>What went &lt;well&gt;?</i>" in page
    finally:
        s.stop()


def test_listening_on_every_interface_takes_any_host_but_checks_origin_against_it(session):
    app = create_app(session, token=TOKEN, host="0.0.0.0", port=PORT, csrf="the-csrf")
    lan = f"http://192.168.1.5:{PORT}"
    with TestClient(app, base_url=lan) as c:
        assert c.get("/queue").status_code == 403                    # the token still rules
        c.get(f"/queue?token={TOKEN}")
        assert c.get("/queue").status_code == 200
        body = {"segment_id": "fg1:0001", "codes": [], "decision_id": "lan"}
        assert post(c, "/decide", body, Origin="http://evil.example").status_code == 403
        assert post(c, "/decide", body, Origin=lan).json()["status"] == "recorded"
