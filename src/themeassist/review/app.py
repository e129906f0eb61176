"""The review web app: Starlette routes over a :class:`~themeassist.review.session.ReviewSession`.

Stack: Starlette (routing, requests), Jinja2 templates with autoescape on (every text the
page shows is escaped), uvicorn to serve it, and one small hand-written script
(``static/review.js``, plain JavaScript, no library). We chose plain JavaScript over htmx:
the app's heart is a keyboard-driven card (digit keys, a second code, codebook search, undo)
that needs its own script anyway, and the rest is a handful of ``fetch`` calls; htmx would
add 50 KB of minified code and, under a strict Content-Security-Policy, needs its eval and
inline-style features switched off. Nothing is loaded from elsewhere: no CDN, no remote font.

Security (the app serves transcripts, which are sensitive):

- **Token.** Every request must carry the per-session token: once as ``?token=...`` (the URL
  the command prints), which is turned into an HttpOnly, SameSite=Strict cookie followed by
  a redirect to the same URL without the token; afterwards the cookie. Anything else: 403.
- **Host.** The ``Host`` header must name the bound address (no DNS rebinding).
- **CSRF.** Every POST needs the session's CSRF token (header ``X-CSRF-Token`` or form field
  ``csrf``) and an ``Origin`` (or, without one, a ``Referer``) equal to the app's own.
- **Headers.** A CSP allowing only the app itself (``default-src 'self'``, no inline script,
  no inline style, ``frame-ancestors 'none'``), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY``, ``Cache-Control: no-store``.

:func:`create_app` takes a session already built from tables and arrays, so tests run it
without loading the embedding model.
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from themeassist.errors import ThemeassistError
from themeassist.review.session import ReviewSession
from themeassist.review.svg import progress_svg

HERE = Path(__file__).resolve().parent

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")

SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]

VIEWS = {"queue": "Review queue", "next": "Code next"}


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


class Guard:
    """ASGI middleware: token (cookie), Host, CSRF and Origin checks, security headers."""

    def __init__(self, app, *, token: str, csrf: str, host: str, port: int):
        self.app = app
        self.token = token
        self.csrf = csrf
        self.cookie = f"themeassist_{port}"
        hosts = {f"{host}:{port}"}
        if host in ("127.0.0.1", "localhost", "[::1]"):
            hosts |= {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
        # Listening on every interface (an explicit --host 0.0.0.0): any name of this
        # machine may be in Host; a POST's Origin must then equal that Host.
        self.any_host = host in ("0.0.0.0", "[::]")
        self.hosts = hosts
        self.origins = {f"http://{h}" for h in hosts}

    async def _send_plain(self, send, status: int, text: str, extra=()) -> None:
        body = text.encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode()),
                                *SECURITY_HEADERS, *extra]})
        await send({"type": "http.response.body", "body": body})

    def _has_cookie(self, headers: dict[str, str]) -> bool:
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie and hmac.compare_digest(value.encode(), self.token.encode()):
                return True
        return False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        origins = self.origins
        if self.any_host:
            origins = {f"http://{headers.get('host', '')}"}
        elif headers.get("host", "") not in self.hosts:
            await self._send_plain(send, 403, "forbidden: unknown host")
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                          keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if given and scope["method"] == "GET":
            if not hmac.compare_digest(given[-1].encode(), self.token.encode()):
                await self._send_plain(send, 403, "forbidden: wrong token")
                return
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = scope["path"] + (f"?{rest}" if rest else "")
            cookie = (f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/")
            await self._send_plain(send, 303, "see other",
                                   [(b"location", location.encode()),
                                    (b"set-cookie", cookie.encode())])
            return
        if not self._has_cookie(headers):
            await self._send_plain(send, 403, "forbidden: open the URL with the token that "
                                              "`themeassist review` printed")
            return
        if scope["method"] not in ("GET", "HEAD"):
            origin = headers.get("origin")
            if origin is None:
                ref = headers.get("referer", "")
                origin = next((o for o in origins if ref == o or ref.startswith(o + "/")),
                              None)
            if origin not in origins:
                await self._send_plain(send, 403, "forbidden: foreign origin")
                return
            sent = headers.get("x-csrf-token")
            if sent is None and headers.get("content-type", "").startswith(
                    "application/x-www-form-urlencoded"):
                body, more = b"", True
                chunks = []
                while more:
                    msg = await receive()
                    chunks.append(msg.get("body", b""))
                    more = msg.get("more_body", False)
                body = b"".join(chunks)
                sent = dict(parse_qsl(body.decode("utf-8", "replace"))).get("csrf")

                async def replay(_body=body, _done=[False]):  # noqa: B006
                    if not _done[0]:
                        _done[0] = True
                        return {"type": "http.request", "body": _body, "more_body": False}
                    return await receive()
                receive = replay
            if not sent or not hmac.compare_digest(sent.encode(), self.csrf.encode()):
                await self._send_plain(send, 403, "forbidden: missing or wrong CSRF token")
                return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _fmt(v, digits: int = 2) -> str:
    """A number with ``digits`` decimals; "n/a" for None, NaN, empty or non-numeric text."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "n/a"
    return f"{v:.{digits}f}" if math.isfinite(v) else "n/a"


def create_app(session: ReviewSession, *, token: str, host: str = "127.0.0.1",
               port: int = 0, csrf: str | None = None) -> Guard:
    """The ASGI app for ``session``, served at ``http://host:port``.

    Parameters
    ----------
    session : ReviewSession
        Started (first model trained) or not; the app never starts or stops it.
    token : str
        The per-session token (``secrets.token_urlsafe``).
    host, port : str, int
        The bound address: the ``Host`` header and the ``Origin`` of POSTs must match it.
    csrf : str, optional
        The CSRF token; default a new random one.
    """
    csrf = csrf or secrets.token_urlsafe(32)
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["fmt"] = _fmt
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{100 * v:.0f}%"

    def render(name: str, request: Request, status: int = 200, **ctx) -> HTMLResponse:
        page = env.get_template(name).render(
            csrf=csrf, views=VIEWS, status=session.status(), coder=session.coder,
            codebook=session.code_labels, path=request.url.path, **ctx)
        return HTMLResponse(page, status_code=status)

    def view_context(view: str, focus: str | None = None) -> dict:
        order = session.order(view)
        if focus and focus not in order:
            order = [focus, *order]
        elif focus:
            order = [focus, *[s for s in order if s != focus]]
        card = session.card(order[0], view) if order else None
        upcoming = [r for r in session.queue_rows(view, 14)
                    if card is None or r["segment_id"] != card["segment_id"]][:13]
        return {"view": view, "card": card, "upcoming": upcoming, "remaining": len(order)}

    def view_title(view: str) -> str:
        if view.startswith("batch:"):
            cid = view.split(":", 1)[1]
            code = session.batch_code(cid)
            return f"Candidate {cid}" + (f" as {code}" if code else "")
        return VIEWS[view]

    async def index(request: Request):
        return RedirectResponse("/queue", status_code=303)

    async def view_page(request: Request):
        name = request.path_params.get("view") or request.url.path.strip("/")
        view = f"batch:{request.path_params['cid']}" if "cid" in request.path_params else name
        ctx = view_context(view, request.query_params.get("focus"))
        return render("view.html", request, title=view_title(view), **ctx)

    async def view_fragment(request: Request):
        view = request.query_params.get("view", "queue")
        ctx = view_context(view, request.query_params.get("focus"))
        return render("_view.html", request, **ctx)

    async def card_fragment(request: Request):
        sid = request.path_params["sid"]
        view = request.query_params.get("view", "transcript")
        return render("_card.html", request, card=session.card(sid, view), view=view)

    async def read_json(request: Request) -> dict:
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ThemeassistError("expected a JSON object")
        return data

    def result_json(res) -> JSONResponse:
        return JSONResponse({"status": res.status, "segment_id": res.segment_id,
                             "seq": res.seq, "notice": res.notice, "codes": res.codes,
                             "version": res.version, **session.status()})

    async def decide(request: Request):
        d = await read_json(request)
        codes = d.get("codes")
        if (not isinstance(d.get("segment_id"), str) or not isinstance(codes, list)
                or not all(isinstance(c, str) for c in codes)
                or not isinstance(d.get("decision_id"), str) or not d["decision_id"]):
            raise ThemeassistError("expected segment_id, codes (a list) and decision_id")
        version = d.get("version")
        res = session.decide(d["segment_id"], codes, decision_id=d["decision_id"][:100],
                             version=int(version) if version is not None else None,
                             source=str(d.get("view", ""))[:50])
        return result_json(res)

    async def undo(request: Request):
        d = await read_json(request)
        if not isinstance(d.get("decision_id"), str) or not d["decision_id"]:
            raise ThemeassistError("expected decision_id")
        target = d.get("target")
        res = session.undo(decision_id=d["decision_id"][:100],
                           target=int(target) if target is not None else None)
        return result_json(res)

    async def skip(request: Request):
        d = await read_json(request)
        session.skip(str(d.get("view", "queue")), str(d.get("segment_id", "")))
        return JSONResponse({"status": "skipped", **session.status()})

    async def retrain(request: Request):
        session.request_retrain()
        return JSONResponse({"status": "requested", **session.status()})

    async def status(request: Request):
        return JSONResponse(session.status())

    async def transcripts(request: Request):
        return render("transcripts.html", request, title="Transcripts",
                      transcripts=session.transcripts())

    async def transcript(request: Request):
        tid = request.path_params["tid"]
        return render("transcript.html", request, title=f"Transcript {tid}",
                      transcript_id=tid, rows=session.transcript(tid))

    async def candidates(request: Request):
        return render("candidates.html", request, title="Candidates",
                      candidates=session.candidate_list(),
                      themes=list(dict.fromkeys(session.codebook["theme"])),
                      codebook_file=session.codebook_file.name if session.codebook_file
                      else None)

    async def candidate_action(request: Request):
        cid = request.path_params["cid"]
        action = request.path_params["action"]
        form = await request.form()
        event_id = str(form.get("event_id") or secrets.token_hex(8))[:100]
        if action == "accept":
            session.accept_candidate(cid, theme=str(form.get("theme", "")),
                                     valence=str(form.get("valence", "")),
                                     subtheme=str(form.get("subtheme", "")), event_id=event_id)
            return RedirectResponse(f"/batch/{cid}", status_code=303)
        if action == "merge":
            session.merge_candidate(cid, code=str(form.get("code", "")), event_id=event_id)
            return RedirectResponse(f"/batch/{cid}", status_code=303)
        if action == "dismiss":
            session.dismiss_candidate(cid, event_id=event_id)
            return RedirectResponse("/candidates", status_code=303)
        return PlainTextResponse("not found", status_code=404)

    async def progress(request: Request):
        p = session.progress()
        return render("progress.html", request, title="Progress", p=p,
                      svg=progress_svg(p["runs"], p["segments"]))

    async def user_error(request: Request, exc: ThemeassistError):
        if request.method == "POST" and "json" in request.headers.get("content-type", ""):
            return JSONResponse({"status": "error", "notice": str(exc)}, status_code=400)
        return PlainTextResponse(f"error: {exc}", status_code=400)

    routes = [
        Route("/", index),
        Route("/queue", view_page),
        Route("/next", view_page),
        Route("/batch/{cid}", view_page),
        Route("/fragment/view", view_fragment),
        Route("/fragment/card/{sid:path}", card_fragment),
        Route("/decide", decide, methods=["POST"]),
        Route("/undo", undo, methods=["POST"]),
        Route("/skip", skip, methods=["POST"]),
        Route("/retrain", retrain, methods=["POST"]),
        Route("/status", status),
        Route("/transcripts", transcripts),
        Route("/transcript/{tid:path}", transcript),
        Route("/candidates", candidates),
        Route("/candidates/{cid}/{action}", candidate_action, methods=["POST"]),
        Route("/progress", progress),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={ThemeassistError: user_error})
    return Guard(app, token=token, csrf=csrf, host=host, port=port)
