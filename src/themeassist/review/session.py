"""One coder's review session: the corpus, the journal, the in-loop model and its retraining.

An edge module like :mod:`themeassist.pipeline`: it owns the session's output folder (the
journal ``review_<coder>.sqlite``, the exports ``codings_<coder>.csv`` and
``decided_<coder>.csv``, and new codebook files ``codebook_<coder>_<n>.csv``) and calls the
pure cores (:mod:`themeassist.review.engine`). It knows nothing of HTTP; the web app
(:mod:`themeassist.review.app`) is a thin layer over it.

The coder's coding is their **baseline** (the codings given at start-up, decided by the
default rule: every segment of a transcript in which they applied a code) overridden segment
by segment by the decisions in the journal. That merged coding is what the model trains on
and what is exported after every decision and on exit.

The model retrains in one background thread after every ``retrain_every`` decisions and on
request; requests never wait for it. The new model replaces the old one in one step, and the
queue is re-ranked from it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from themeassist import io, tables
from themeassist.errors import InputError
from themeassist.review.journal import Journal, Outcome, Record, now_utc

log = logging.getLogger(__name__)

#: How many of the machine's codes a card offers (keys 1-9).
TOP_CODES = 9


def safe_name(name: str) -> str:
    """A coder's name made safe in a file name.

    Examples
    --------
    >>> safe_name("Ann O'Neil")
    'Ann-O-Neil'
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.") or "coder"


def output_names(coder: str) -> dict[str, str]:
    """File names the session writes in its output folder, by role."""
    c = safe_name(coder)
    return {"journal": f"review_{c}.sqlite", "codings": f"codings_{c}.csv",
            "decided": f"decided_{c}.csv", "codebook": f"codebook_{c}_{{n}}.csv"}


def default_decided(codings: pd.DataFrame, segments: pd.DataFrame) -> list[str]:
    """DESIGN.md's default decisions: every segment of a transcript with at least one code."""
    if not len(codings):
        return []
    tids = set(segments.loc[segments["segment_id"].isin(codings["segment_id"]), "transcript_id"])
    return segments.loc[segments["transcript_id"].isin(tids), "segment_id"].tolist()


@dataclass
class ModelState:
    """One trained model and everything derived from it, replaced as a whole."""

    version: int
    pred: Any
    queue: pd.DataFrame
    expected: dict
    cv: dict
    decisions: int
    decided: int
    codebook_size: int
    trained_at: str
    seconds: float
    suggestions: pd.DataFrame | None = None


@dataclass
class Result:
    """What a decision or an undo did, for the web layer."""

    status: str                         # recorded | duplicate | conflict | nothing
    segment_id: str | None = None
    seq: int | None = None
    notice: str = ""
    codes: list[str] = field(default_factory=list)
    version: int = 0


class ReviewSession:
    """A coder's session over a corpus.

    Parameters
    ----------
    segments : DataFrame
        The corpus (segments table).
    embeddings : ndarray of shape (n_segments, dim)
        Aligned with ``segments``; computed once by the caller and kept in memory.
    codebook : DataFrame
        The codebook at start-up. The latest ``codebook_<coder>_<n>.csv`` in ``out``, when
        an earlier session wrote one, takes its place.
    coder : str
        The human coder (``coder`` column of the exports).
    out : path
        Output folder.
    baseline_codings : DataFrame, optional
        The coder's codings before this session (codings table; other coders' rows are
        ignored).
    candidates, assignments : DataFrame, optional
        ``candidates.csv`` and ``assignments.csv`` of a discover run.
    embed_texts : callable, optional
        Embeds a list of texts (codebook entries), from any thread; ``None`` trains without
        codebook priors.
    text_vectors : dict, optional
        Vectors of texts embedded already (the codebook's, at start-up), by text.
    questions : dict, optional
        The topic guide's question texts by id (cards show the text).
    retrain_every : int, default 25
        Retrain after this many new decisions (0 = only on request).
    seed : int, default 0
    engine : module, optional
        The in-loop model's module; default :mod:`themeassist.review.engine`.
    model_params : dict, optional
        Passed to ``engine.ReviewModel``.
    queue_facilitators : bool, default False
        Offer facilitators' turns in the queue and suggestions too.
    """

    def __init__(self, segments: pd.DataFrame, embeddings: np.ndarray, codebook: pd.DataFrame,
                 *, coder: str, out: str | Path, baseline_codings: pd.DataFrame | None = None,
                 candidates: pd.DataFrame | None = None,
                 assignments: pd.DataFrame | None = None,
                 embed_texts: Callable[[list[str]], np.ndarray] | None = None,
                 text_vectors: dict[str, np.ndarray] | None = None,
                 questions: dict[str, str] | None = None,
                 retrain_every: int = 25, seed: int = 0, engine: ModuleType | None = None,
                 model_params: dict | None = None, queue_facilitators: bool = False):
        if engine is None:
            from themeassist.review import engine as engine_module

            engine = engine_module
        self.engine = engine
        self.segments = tables.validate_segments(segments).reset_index(drop=True)
        self.embeddings = np.asarray(embeddings)
        if self.embeddings.shape[0] != len(self.segments):
            raise InputError("embeddings and segments differ in length",
                             expected=f"{len(self.segments)} rows",
                             got=self.embeddings.shape[0])
        self.coder = str(coder)
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.names = output_names(self.coder)
        self.retrain_every = int(retrain_every)
        self.seed = int(seed)
        self.model_params = dict(model_params or {})
        self.embed_texts = embed_texts
        self._text_vectors: dict[str, np.ndarray] = dict(text_vectors or {})
        self.questions = dict(questions or {})
        self._embed_lock = threading.Lock()
        self._ids = self.segments["segment_id"].tolist()
        self._pos = {s: i for i, s in enumerate(self._ids)}
        # Facilitators' turns are context, not units to code in a focus group: the queue and
        # the suggestions leave them out (the transcript view shows them, and they can be
        # coded there), unless queue_facilitators (think-aloud studies code the moderator).
        self._facilitator = set() if queue_facilitators else set(
            self.segments.loc[self.segments["role"] == "facilitator", "segment_id"])
        self._lock = threading.RLock()
        self.codebook, self.codebook_file = self._latest_codebook(codebook)
        self.journal = Journal(self.out / self.names["journal"], self.coder)
        base = baseline_codings if baseline_codings is not None else pd.DataFrame(
            columns=list(tables.CODING_REQUIRED))
        base = base[base["coder"].astype(str) == self.coder] if len(base) else base
        self._baseline: dict[str, tuple] = {}
        for sid in default_decided(base, self.segments):
            self._baseline[sid] = ()
        for r in base.itertuples(index=False):
            if r.segment_id in self._pos:
                self._baseline[r.segment_id] = self._baseline.get(r.segment_id, ()) + (
                    (str(r.theme), str(r.valence), str(r.subtheme)),)
        self.candidates = candidates
        self.assignments = assignments
        self._skipped: dict[str, set[str]] = {}
        self.state: ModelState | None = None
        self._model = None
        self._model_codes: list[str] = []
        self._since_retrain = 0
        self._wake = threading.Condition(self._lock)
        self._pending = False
        self._training = False
        self._stop = False
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    # ------------------------------------------------------------------ codebook
    def _latest_codebook(self, given: pd.DataFrame) -> tuple[pd.DataFrame, Path | None]:
        pattern = re.compile(re.escape(self.names["codebook"]).replace(r"\{n\}", r"(\d+)") + "$")
        found = sorted(((int(m.group(1)), p) for p in self.out.glob("codebook_*.csv")
                        if (m := pattern.match(p.name))), key=lambda t: t[0])
        if found:
            path = found[-1][1]
            return io.read_codebook(path), path
        return tables.validate_codebook(given), None

    @property
    def code_labels(self) -> list[str]:
        return tables.code_labels(self.codebook).tolist()

    def code_of(self, label: str) -> tuple[str, str, str]:
        book = self.codebook
        labels = self.code_labels
        if label not in labels:
            raise InputError("code not in the codebook", expected="a codebook entry", got=label)
        r = book.iloc[labels.index(label)]
        return (str(r["theme"]), str(r["valence"]), str(r["subtheme"]))

    def save_codebook(self, book: pd.DataFrame) -> Path:
        """Write ``book`` as the next ``codebook_<coder>_<n>.csv`` (never overwriting)."""
        book = tables.validate_codebook(book)
        n = 1
        while (self.out / self.names["codebook"].format(n=n)).exists():
            n += 1
        path = io.write_table(book, self.out / self.names["codebook"].format(n=n))
        with self._lock:
            self.codebook, self.codebook_file = book, path
        return path

    # ------------------------------------------------------------------ the coding
    def human_state(self) -> dict[str, tuple]:
        """Each decided segment's codes (``()`` = no code): baseline, then the journal."""
        state = dict(self._baseline)
        for sid, rec in self.journal.current().items():
            state[sid] = rec.codes
        return state

    def decided_ids(self) -> list[str]:
        state = self.human_state()
        return [s for s in self._ids if s in state]

    def human_codings(self) -> pd.DataFrame:
        state = self.human_state()
        rows = [(s, self.coder, *c) for s in self._ids if s in state for c in state[s]]
        return pd.DataFrame(rows, columns=list(tables.CODING_REQUIRED))

    def decided_table(self) -> pd.DataFrame:
        """The coder's decisions: ``decided_at`` empty for the baseline's segments."""
        cur = self.journal.current()
        state = self.human_state()
        return pd.DataFrame([(s, self.coder, cur[s].decided_at if s in cur else "")
                             for s in self._ids if s in state],
                            columns=["segment_id", "coder", "decided_at"])

    def export(self) -> list[Path]:
        """Write ``codings_<coder>.csv`` and ``decided_<coder>.csv`` atomically."""
        with self._lock:
            a = io.write_table(self.human_codings(), self.out / self.names["codings"], force=True)
            b = io.write_table(self.decided_table(), self.out / self.names["decided"], force=True)
        return [a, b]

    # ------------------------------------------------------------------ decisions
    def _check_segment(self, segment_id: str) -> None:
        if segment_id not in self._pos:
            raise InputError("unknown segment", expected="a segment of the corpus",
                             got=segment_id)

    def _describe(self, rec: Record | None) -> str:
        if rec is None:
            return "not decided"
        if not rec.codes:
            return "read, no code"
        return "; ".join(tables.code_label(*c) for c in rec.codes)

    def decide(self, segment_id: str, codes: Sequence[str], *, decision_id: str,
               version: int | None = None, source: str = "") -> Result:
        """Record a decision (code labels, ``[]`` = no code); exports after it is committed."""
        self._check_segment(segment_id)
        triples = [self.code_of(c) for c in codes]
        out = self.journal.decide(segment_id, triples, decision_id=decision_id,
                                  expected_version=version, source=source)
        return self._after(out, segment_id)

    def undo(self, *, decision_id: str, target: int | None = None) -> Result:
        out = self.journal.undo(decision_id=decision_id, target=target)
        undone = out.extra.get("undone")
        return self._after(out, undone.segment_id if undone else None, undo=True)

    def _after(self, out: Outcome, segment_id: str | None, undo: bool = False) -> Result:
        notice = ""
        if out.status == "recorded":
            self.export()
            with self._lock:
                self._since_retrain += 1
                due = self.retrain_every and self._since_retrain >= self.retrain_every
            if due:
                self.request_retrain()
            if undo:
                notice = f"undone: {segment_id} is now {self._describe(out.current)}"
        elif out.status == "conflict":
            what = "undone" if undo else "decided"
            notice = (f"already {what} in another tab: {segment_id} is "
                      f"{self._describe(out.current)}; nothing recorded")
        elif out.status == "nothing":
            notice = "nothing to undo"
        codes = ([tables.code_label(*c) for c in out.current.codes] if out.current else [])
        return Result(out.status, segment_id, out.record.seq if out.record else None, notice,
                      codes, out.version)

    def skip(self, view: str, segment_id: str) -> None:
        with self._lock:
            self._skipped.setdefault(view, set()).add(segment_id)

    # ------------------------------------------------------------------ the model
    def _codebook_embeddings(self, book: pd.DataFrame):
        """Codebook entries' vectors: given at start-up, new entries embedded once here."""
        if self.embed_texts is None:
            return None
        texts = tables.codebook_texts(book)
        with self._embed_lock:
            todo = list(dict.fromkeys(t for t in texts if t not in self._text_vectors))
            if todo:
                self._text_vectors.update(zip(todo, np.asarray(self.embed_texts(todo))))
            return np.vstack([self._text_vectors[t] for t in texts])

    def train_now(self) -> ModelState:
        """Fit a model on the current coding and make it the session's (blocking)."""
        t0 = time.perf_counter()
        with self._lock:
            book = self.codebook
            codings = self.human_codings()
            decided = self.decided_ids()
            n_decisions = len(self.journal.current())
            self._since_retrain = 0
        eng = self.engine
        # One model for the session: it learns from the errors of its previous fits (the
        # engine's warm start); a codebook change starts a new one.
        model = self._model
        if model is None or self._model_codes != tables.code_labels(book).tolist():
            model = eng.ReviewModel(seed=self.seed, **self.model_params)
        model.fit(self.segments, self.embeddings, book, codings, decided,
                  codebook_embeddings=self._codebook_embeddings(book))
        self._model, self._model_codes = model, tables.code_labels(book).tolist()
        pred = model.predict(self.segments, self.embeddings)
        queue = eng.review_queue(pred, decided)
        expected = eng.expected_agreement(pred, decided, codings=codings)
        suggestions = None
        if hasattr(eng, "suggest_from"):
            suggestions = eng.suggest_from(pred, self.embeddings, decided, n=50, seed=self.seed)
        seconds = time.perf_counter() - t0
        with self._lock:
            version = (self.state.version if self.state else 0) + 1
            state = ModelState(version, pred, queue, dict(expected), dict(pred.cv),
                               n_decisions, len(decided), len(book), now_utc(), seconds,
                               suggestions)
            self.state = state
        self.journal.add_model_run({
            "version": version, "decisions": n_decisions, "decided": len(decided),
            "decided_share": len(decided) / max(len(self._ids), 1),
            "expected_kappa": float(expected.get("kappa", float("nan"))),
            "cv_kappa": float(pred.cv.get("kappa", float("nan"))),
            "cv_low": float(pred.cv.get("low", float("nan"))),
            "cv_high": float(pred.cv.get("high", float("nan"))),
            "cv_n": int(pred.cv.get("n", 0) or 0), "seconds": round(seconds, 3)})
        log.info("model %d trained on %d decided segments in %.1f s", version, len(decided),
                 seconds)
        return state

    def start(self) -> None:
        """Train the first model (blocking) and start the retraining thread."""
        if self.state is None:
            self.train_now()
        self._thread = threading.Thread(target=self._worker, name="review-retrain", daemon=True)
        self._thread.start()

    def request_retrain(self) -> None:
        with self._wake:
            self._pending = True
            self._wake.notify()

    def _worker(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                self._pending = False
                self._training = True
            try:
                self.train_now()
                self.last_error = None
            except Exception as err:  # a failed retrain keeps the old model
                log.exception("retraining failed")
                self.last_error = f"{type(err).__name__}: {err}"
            finally:
                with self._wake:
                    self._training = False

    def stop(self) -> None:
        """Stop the retraining thread, export and close the journal."""
        with self._wake:
            self._stop = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=60)
        try:
            self.export()
        finally:
            self.journal.close()

    def status(self) -> dict:
        with self._lock:
            st = self.state
            n_dec = len(self.journal.current())
            return {"model_version": st.version if st else 0,
                    "training": self._training or self._pending,
                    "decisions": n_dec,
                    "decided": len(self.decided_ids()),
                    "segments": len(self._ids),
                    "since_retrain": self._since_retrain,
                    "retrain_every": self.retrain_every,
                    "last_error": self.last_error}

    # ------------------------------------------------------------------ views
    def order(self, view: str) -> list[str]:
        """The segments a view offers next, in order (decided, skipped and facilitators'
        segments left out)."""
        with self._lock:
            st = self.state
            skipped = self._skipped.get(view, set())
        decided = set(self.decided_ids())
        if st is None:
            return []
        if view == "queue":
            ids = st.queue["segment_id"].tolist()
        elif view == "next":
            ids = [] if st.suggestions is None else st.suggestions["segment_id"].tolist()
        elif view.startswith("batch:"):
            ids = self.batch_ids(view.split(":", 1)[1])
        else:
            raise InputError("unknown view", expected="queue, next or batch:<id>", got=view)
        return [s for s in ids if s not in decided and s not in skipped
                and s not in self._facilitator]

    def card(self, segment_id: str, view: str = "queue") -> dict:
        """Everything a card shows about one segment."""
        self._check_segment(segment_id)
        i = self._pos[segment_id]
        seg = self.segments.iloc[i]
        same = self.segments[self.segments["transcript_id"] == seg["transcript_id"]]
        same = same.sort_values("position")
        k = same.index.get_loc(i)
        prev = same.iloc[k - 1] if k > 0 else None
        nxt = same.iloc[k + 1] if k + 1 < len(same) else None
        with self._lock:
            st = self.state
            labels = self.code_labels
        options, label, p_wrong, codable = [], [], None, None
        if st is not None:
            pred = st.pred
            j = int(np.flatnonzero(np.asarray(pred.segment_ids) == segment_id)[0])
            proba = np.asarray(pred.code_proba[j], dtype=float)
            top = np.argsort(-proba, kind="stable")[:TOP_CODES]
            codable = float(pred.codable[j])
            options = [{"code": pred.codes[t], "p": codable * float(proba[t])} for t in top]
            label = [pred.codes[t] for t in pred.labels[j]]
            p_wrong = float(pred.p_wrong[j])
        if view.startswith("batch:"):
            extra = self.batch_code(view.split(":", 1)[1])
            if extra:
                options = [{"code": extra, "p": None}] + [o for o in options
                                                          if o["code"] != extra]
                options = options[:TOP_CODES]
                label = [extra]
        options = [o for o in options if o["code"] in labels]
        label = [c for c in label if c in labels]
        state = self.human_state()
        current = self.journal.current_of(segment_id)
        human = ([tables.code_label(*c) for c in state[segment_id]]
                 if segment_id in state else None)

        def brief(row):
            return None if row is None else {"segment_id": row["segment_id"],
                                             "speaker": row["speaker"], "text": row["text"]}

        return {"segment_id": segment_id, "transcript_id": seg["transcript_id"],
                "position": int(seg["position"]), "speaker": seg["speaker"],
                "role": seg["role"], "question": seg["question"],
                "question_text": self.questions.get(seg["question"], ""), "text": seg["text"],
                "prev": brief(prev), "next": brief(nxt), "options": options,
                "label": label, "p_wrong": p_wrong, "codable": codable, "human": human,
                "decided_at": current.decided_at if current else None,
                "version": self.journal.version(segment_id), "view": view}

    def queue_rows(self, view: str, limit: int = 12) -> list[dict]:
        """The next ``limit`` segments of a view, with the machine's label and doubt."""
        ids = self.order(view)[:limit]
        with self._lock:
            st = self.state
        if st is None:
            return []
        pred = st.pred
        where = {s: k for k, s in enumerate(np.asarray(pred.segment_ids).tolist())}
        out = []
        for s in ids:
            j = where[s]
            out.append({"segment_id": s, "text": self.segments.at[self._pos[s], "text"],
                        "p_wrong": float(pred.p_wrong[j]),
                        "label": [pred.codes[t] for t in pred.labels[j]]})
        return out

    def transcripts(self) -> list[dict]:
        state = self.human_state()
        out = []
        for tid, g in self.segments.groupby("transcript_id", sort=False):
            out.append({"transcript_id": tid, "segments": len(g),
                        "decided": int(g["segment_id"].isin(list(state)).sum())})
        return out

    def transcript(self, transcript_id: str) -> list[dict]:
        """A transcript's segments in order, with human and machine codes."""
        g = self.segments[self.segments["transcript_id"] == transcript_id]
        if not len(g):
            raise InputError("unknown transcript", got=transcript_id)
        g = g.sort_values("position")
        state = self.human_state()
        with self._lock:
            st = self.state
        where = ({s: k for k, s in enumerate(np.asarray(st.pred.segment_ids).tolist())}
                 if st else {})
        rows = []
        for r in g.itertuples(index=False):
            machine, no_code = [], None
            if st is not None:
                j = where[r.segment_id]
                c = float(st.pred.codable[j])
                machine = [(st.pred.codes[t], c * float(st.pred.code_proba[j, t]))
                           for t in st.pred.labels[j]]
                no_code = None if machine else 1 - c
            rows.append({"segment_id": r.segment_id, "speaker": r.speaker, "role": r.role,
                         "question": r.question, "text": r.text,
                         "human": ([tables.code_label(*c) for c in state[r.segment_id]]
                                   if r.segment_id in state else None),
                         "machine": machine, "machine_no_code": no_code})
        return rows

    def progress(self) -> dict:
        runs = self.journal.model_runs()
        with self._lock:
            st = self.state
        decided = self.decided_ids()
        return {"decisions": len(self.journal.current()), "records": len(self.journal.records()),
                "decided": len(decided), "segments": len(self._ids),
                "decided_share": len(decided) / max(len(self._ids), 1),
                "cv": st.cv if st else {}, "expected": st.expected if st else {},
                "model_version": st.version if st else 0,
                "seconds": st.seconds if st else None, "runs": runs}

    # ------------------------------------------------------------------ candidates
    def _candidate_events(self) -> dict[str, dict]:
        """The latest action on each candidate (accept, merge or dismiss), by id."""
        out = {}
        for e in self.journal.events():
            if e["kind"] in ("accept", "merge", "dismiss"):
                out[str(e["payload"]["candidate_id"])] = {"kind": e["kind"], **e["payload"]}
        return out

    def candidate_list(self) -> list[dict]:
        if self.candidates is None:
            return []
        acted = self._candidate_events()
        rows = []
        for r in self.candidates.to_dict("records"):
            cid = str(r["candidate_id"])
            action = acted.get(cid)
            rows.append({**{k: ("" if pd.isna(v) else v) for k, v in r.items()},
                         "candidate_id": cid, "action": action,
                         "segments": len(self.candidate_segments(cid))})
        return rows

    def candidate_segments(self, candidate_id: str) -> list[str]:
        if self.assignments is None:
            return []
        a = self.assignments[self.assignments["candidate_id"].astype(str) == str(candidate_id)]
        if "probability" in a:
            a = a.sort_values("probability", ascending=False, kind="stable")
        return [s for s in a["segment_id"].astype(str) if s in self._pos]

    def batch_ids(self, candidate_id: str) -> list[str]:
        return self.candidate_segments(candidate_id)

    def batch_code(self, candidate_id: str) -> str | None:
        action = self._candidate_events().get(str(candidate_id))
        return action.get("code") if action and action["kind"] in ("accept", "merge") else None

    def _find_candidate(self, candidate_id: str) -> dict:
        for r in self.candidate_list():
            if r["candidate_id"] == str(candidate_id):
                return r
        raise InputError("unknown candidate", got=candidate_id)

    def accept_candidate(self, candidate_id: str, *, theme: str, valence: str, subtheme: str,
                         event_id: str) -> str:
        """Add a candidate as a new codebook entry (saved as a new codebook file); its
        segments become a review batch. Returns the new code's label."""
        cand = self._find_candidate(candidate_id)
        theme, valence, subtheme = theme.strip(), valence.strip(), subtheme.strip()
        if not theme or not subtheme:
            raise InputError("a new entry needs a theme and a name", got=(theme, subtheme))
        label = tables.code_label(theme, valence, subtheme)
        if label in self.code_labels:
            raise InputError("the codebook already has this entry", got=label)
        with self._lock:
            book = self.codebook
            row = {c: "" for c in book.columns}
            row.update(theme=theme, valence=valence, subtheme=subtheme)
            if "description" in book.columns:
                row["description"] = f"Keywords: {cand.get('keywords', '')}".strip()
            new = pd.concat([book, pd.DataFrame([row])], ignore_index=True)
            path = self.save_codebook(new)
        self.journal.add_event("accept", {"candidate_id": str(candidate_id), "code": label,
                                          "codebook": path.name}, event_id=event_id)
        self.request_retrain()
        return label

    def merge_candidate(self, candidate_id: str, *, code: str, event_id: str) -> str:
        """Merge a candidate into an existing entry: its segments become a review batch with
        that entry offered first."""
        self._find_candidate(candidate_id)
        self.code_of(code)
        self.journal.add_event("merge", {"candidate_id": str(candidate_id), "code": code},
                               event_id=event_id)
        return code

    def dismiss_candidate(self, candidate_id: str, *, event_id: str) -> None:
        self._find_candidate(candidate_id)
        self.journal.add_event("dismiss", {"candidate_id": str(candidate_id)},
                               event_id=event_id)


def codings_from(paths: Iterable[Path], codebook: pd.DataFrame,
                 segments: pd.DataFrame) -> pd.DataFrame:
    """Read codings files (validated against the codebook and corpus)."""
    paths = list(paths)
    if not paths:
        return pd.DataFrame(columns=list(tables.CODING_REQUIRED))
    return io.read_codings(paths, codebook, segments)
