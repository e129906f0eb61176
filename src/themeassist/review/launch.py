"""Start a review session: read a project's inputs, embed once, and serve the app on loopback.

The edge between ``themeassist review`` and the session: :func:`open_session` reads the
corpus, codebook, codings and discovery output (files named by a project or by options),
embeds every segment once through the embedding cache and keeps the vectors in memory;
:func:`serve` binds a socket (127.0.0.1 and a free port unless told otherwise), prints the
URL with the session's token and runs uvicorn until interrupted, then exports and closes.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from themeassist import io
from themeassist.config import Project, load_questions
from themeassist.errors import ConfigError, InputError
from themeassist.review.session import ReviewSession

log = logging.getLogger(__name__)

Say = Callable[[str], None]

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
    (True, False, True)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_corpus(project: Project | None, corpus: Path | None) -> pd.DataFrame:
    """The segments: ``corpus``, else the project's segments table, else its transcripts."""
    if corpus is not None:
        return io.read_segments(corpus)
    if project is None:
        raise ConfigError("give a project file or --corpus segments.csv")
    if project.segments:
        return io.read_segments(project.resolve(project.segments))
    from themeassist.ingest import ingest_files

    questions = load_questions(project.resolve(project.questions)
                               if isinstance(project.questions, str) else project.questions)
    segments, _ = ingest_files(project.transcript_paths(), questions, project.ingest)
    return segments


def read_discovery(folder: Path | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """``candidates.csv`` and ``assignments.csv`` of a discover output folder (or None)."""
    if folder is None:
        return None, None
    folder = Path(folder)
    cpath, apath = folder / "candidates.csv", folder / "assignments.csv"
    if not cpath.exists() or not apath.exists():
        raise InputError("not a discover output folder (candidates.csv and assignments.csv "
                         "expected)", path=folder)
    cands, assign = io.read_table(cpath), io.read_table(apath)
    for df, path, cols in ((cands, cpath, ("candidate_id", "label")),
                           (assign, apath, ("segment_id", "candidate_id"))):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise InputError(f"lacks column(s) {', '.join(missing)}", path=path, row=1,
                             expected=", ".join(cols), got=", ".join(map(str, df.columns)))
    assign = assign.assign(segment_id=assign["segment_id"].astype(str))
    return cands, assign


def open_session(project: Project | None, coder: str, *, corpus: Path | None = None,
                 codebook: Path | None = None, codings: Sequence[Path] | None = None,
                 model: Path | None = None, candidates: Path | None = None,
                 out: Path | None = None, retrain_every: int | None = None, seed: int = 0,
                 say: Say | None = None) -> ReviewSession:
    """Read the inputs, embed the corpus once and return a (not yet started) session.

    Options override the project: ``codings`` replaces the project's codings files,
    ``model`` (a MODEL_DIR of ``themeassist train``) gives the embedding model and, without
    ``codebook``, the codebook. The output folder defaults to the project's output
    ``/review``; discovery's output to the project's output ``/discover`` when it exists.
    """
    say = say or log.info
    settings = project.review if project is not None else None
    segments = read_corpus(project, corpus)
    trained = None
    if model is not None:
        from themeassist import modelstore

        trained = modelstore.load_model(model)
    if codebook is not None:
        book = io.read_codebook(codebook)
    elif project is not None and project.codebook:
        book = io.read_codebook(project.resolve(project.codebook))
    elif trained is not None:
        book = trained.codebook_
    else:
        book = io.default_codebook()
    if codings is None and project is not None:
        codings = [project.resolve(c) for c in project.codings]
    human = (io.read_codings(list(codings), book, segments) if codings
             else pd.DataFrame(columns=["segment_id", "coder", "theme", "valence", "subtheme"]))
    if len(human) and coder not in set(human["coder"]):
        say(f"review: no codings by {coder!r} in the codings given "
            f"({', '.join(sorted(set(human['coder'])))}); starting from none")
    if out is None:
        if project is None:
            raise ConfigError("give --out DIR (or a project file, whose output folder is used)")
        out = (project.resolve(settings.output) if settings.output
               else project.resolve(project.output) / "review")
    if candidates is None and project is not None:
        found = (project.resolve(settings.candidates) if settings.candidates
                 else project.resolve(project.output) / "discover")
        candidates = found if (found / "candidates.csv").exists() else None
    cands, assign = read_discovery(candidates)

    from themeassist.embed import default_cache_path
    from themeassist.static_embed import embedder_for

    source = (trained.embedding_source_ if trained is not None
              else project.embedding.model if project is not None else "all-MiniLM-L6-v2")
    cache = (project.resolve(project.embedding.cache) if project is not None
             and project.embedding.cache else default_cache_path())
    embedder = embedder_for(source, cache=cache, show_progress=True)
    say(f"review: embedding {len(segments)} segments with {embedder.model_id} "
        f"(cached in {cache})")
    vectors = embedder.embed(segments["text"].tolist())
    from themeassist.tables import codebook_texts

    # The cache's SQLite connection belongs to this thread: embed the codebook now, and
    # give the session the uncached encoder (thread-safe) for entries added later.
    texts = list(dict.fromkeys(codebook_texts(book)))
    known = dict(zip(texts, embedder.embed(texts)))
    guide = {}
    if project is not None and project.questions:
        guide = {q.id: q.text for q in load_questions(
            project.resolve(project.questions) if isinstance(project.questions, str)
            else project.questions)}
    every = retrain_every if retrain_every is not None else (
        settings.retrain_every if settings is not None else 25)
    return ReviewSession(segments, vectors, book, coder=coder, out=out, baseline_codings=human,
                         candidates=cands, assignments=assign, embed_texts=embedder.encode,
                         text_vectors=known, questions=guide,
                         retrain_every=every, seed=seed,
                         queue_facilitators=bool(settings.queue_facilitators)
                         if settings is not None else False)


def bind(host: str = LOOPBACK, port: int = 0) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: a free port)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as err:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({err.strerror or err})") from None
    sock.listen(128)
    return sock


def serve(session: ReviewSession, *, host: str = LOOPBACK, port: int = 0,
          open_browser: bool = True, say: Say | None = None,
          warn: Say | None = None) -> None:
    """Start the session, serve it until interrupted (Ctrl-C, SIGTERM), then stop it.

    Prints ``review: open http://HOST:PORT/?token=...`` once the socket listens.
    """
    import uvicorn

    from themeassist.review.app import create_app

    say = say or log.info
    warn = warn or log.warning
    if not is_loopback(host):
        warn(f"listening on {host}, not on this computer only: anyone who can reach "
             f"{host} and learns the URL can read the transcripts")
    session.start()
    sock = bind(host, port)
    try:
        bound = sock.getsockname()[1]
        shown = f"[{host.strip('[]')}]" if ":" in host.strip("[]") else host
        token = secrets.token_urlsafe(32)
        app = create_app(session, token=token, host=shown, port=bound)
        url = f"http://{shown}:{bound}/?token={token}"
        say(f"review: {len(session.segments)} segments, model {session.state.version} "
            f"trained in {session.state.seconds:.1f} s; writing to {session.out}")
        say(f"review: open {url}")
        say("review: press Ctrl-C to stop (decisions are saved as you go)")
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=5)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        session.stop()
