"""Which question of the topic guide each segment answers.

Rules (``questions-latest-asked.v1`` in the manifest):

1. An explicit marker sets the question: a line that is only a marker (``Q3``,
   ``Question 3:``, ``## Question 3``, ``Q3: What ...``), or a facilitator paragraph that
   starts with one (``Q3. What about ...``). The marker's number is matched to a configured
   question id (``3``, ``q3``, ``Q03`` and ``question_3`` all match marker ``3``); without
   configured questions the number itself becomes the id.
2. A facilitator paragraph that *asks* a configured question starts that question. Each
   sentence of the paragraph is compared with the question's text and its aliases; the
   similarity is the larger of difflib's ratio on the normalised strings and the share of
   the question's content words (stop words removed, light stemming) that the sentence
   uses. A sentence ending in ``?`` must reach ``threshold``; any other sentence
   ``threshold + 0.15``, so that a facilitator's summary ("so, lots of challenges there")
   does not start a question. The best-scoring question wins; ties go to the later
   question of the guide.
3. A facilitator paragraph that asks no configured question leaves the question unchanged.
4. Every segment (participant or facilitator) belongs to the latest question asked; before
   the first one, to no question (``""``).

A question given in the file itself (a ``question`` column of a CSV/XLSX transcript) is
kept as given and becomes the latest question.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from difflib import SequenceMatcher

import pandas as pd

METHOD = "questions-latest-asked.v1"

#: Added to the threshold for a sentence that is not a question (no "?").
STATEMENT_PENALTY = 0.15

_NUM = r"(?P<n>\d+[a-z]?)"
_MARKER_ONLY = re.compile(rf"^(?:#+\s*)?(?:q|question)\s*{_NUM}\s*[:.)\-–]?\s*$", re.IGNORECASE)
_HEADING = re.compile(rf"^#+\s*(?:q|question)\s*{_NUM}\b.*$", re.IGNORECASE)
_MARKER_WITH_TEXT = re.compile(rf"^(?:q|question)\s*{_NUM}\s*[:.)\-–]\s*\S.*$", re.IGNORECASE)
_LEADING = re.compile(rf"^(?:q|question)\s*{_NUM}\s*(?:[:.)\-–]\s*|$)", re.IGNORECASE)

_STOP = frozenset("""
    a about across after again all also am an and any anything are as at be been being both
    but by can could did do does doing done each else for from get got had has have having
    he her here hers him his how i if in into is it its itself just let like me more most
    my no nor not now of off on once one only or other our ours out over own please really
    said say same see she should so some something such tell than that thats the their
    theirs them then there these they thing things think this those through to too under
    up us very was we were what whats when where which while who whom why will with would
    you your yours yourself yourselves ok okay right well now next move moving let lets
    everyone everybody anyone thank thanks great
""".split())  # noqa: SIM905

_SENTENCES = re.compile(r"(?<=[.?!…])\s+")


def marker_line(text: str) -> str | None:
    """The question number of a line that is only a question marker, else ``None``.

    Examples
    --------
    >>> [marker_line(t) for t in ["Q3", "## Question 3", "Question 3: What is hard?",
    ...                           "Q3 was tough", "Question 3 of the guide was odd"]]
    ['3', '3', '3', None, None]
    """
    text = text.strip()
    for pattern in (_MARKER_ONLY, _HEADING, _MARKER_WITH_TEXT):
        m = pattern.match(text)
        if m:
            return m["n"].lower()
    return None


def leading_marker(text: str) -> str | None:
    """The question number a paragraph starts with (``Q3. What ...``), else ``None``.

    Examples
    --------
    >>> leading_marker("Q3. So, what about sustainability?"), leading_marker("Quite so.")
    ('3', None)
    """
    m = _LEADING.match(text.strip())
    return m["n"].lower() if m else None


def _stem(word: str) -> str:
    """A light suffix stripper, so that inflections of one word meet.

    Examples
    --------
    >>> [_stem(w) for w in ["successes", "success", "challenges", "challenge", "challenging",
    ...                     "achieved", "achievement", "inequalities", "partners", "working"]]
    ['success', 'success', 'challeng', 'challeng', 'challeng', 'achiev', 'achiev', 'inequality', 'partner', 'work']
    """
    if word.endswith(("ies", "ied")) and len(word) > 5:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "zes", "ches", "shes")) and len(word) > 5:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 4:
        word = word[:-1]
    for suffix in ("ment", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def _normalise(text: str) -> str:
    text = text.lower().replace("’", "'")
    return " ".join(re.findall(r"[a-z0-9']+", text))


def content_words(text: str) -> set[str]:
    """Stemmed content words of ``text`` (stop words removed).

    Examples
    --------
    >>> sorted(content_words("What challenges have you encountered in partnership working?"))
    ['challeng', 'encounter', 'partnership', 'work']
    """
    words = (w.strip("'") for w in _normalise(text).split())
    return {_stem(w.removesuffix("'s")) for w in words if w and w not in _STOP}


@functools.lru_cache(maxsize=4096)
def _prepared(text: str) -> tuple[str, frozenset[str]]:
    return _normalise(text), frozenset(content_words(text))


def similarity(sentence: str, question: str, floor: float = 0.0) -> float:
    """How closely ``sentence`` asks ``question``: max(difflib ratio, content-word coverage).

    With ``floor``, a score below it may come back as any value below it: the difflib
    ratio (the costly part) is skipped when its upper bounds (``real_quick_ratio``,
    ``quick_ratio``) fall short. A score at or above ``floor`` is exact.

    Examples
    --------
    >>> q = "What challenges have you encountered in partnership working?"
    >>> round(similarity("And what challenges did you encounter working in partnership?", q), 2)
    1.0
    >>> round(similarity("Thanks, that was really helpful.", q), 2) < 0.6
    True
    """
    a, sw = _prepared(sentence)
    b, qw = _prepared(question)
    if not a or not b:
        return 0.0
    cover = len(sw & qw) / len(qw) if qw else 0.0
    bar = max(cover, floor)
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < bar or matcher.quick_ratio() < bar:
        return cover  # the ratio is below both: the score is cover (or below floor)
    return max(matcher.ratio(), cover)


def best_question(text: str, questions: Sequence, threshold: float) -> tuple[str | None, float]:
    """The configured question a facilitator paragraph asks, and its score (rule 2).

    Parameters
    ----------
    text : str
        One facilitator paragraph.
    questions : sequence of :class:`themeassist.config.Question`
    threshold : float
        Minimum similarity for a sentence ending in ``?``.

    Returns
    -------
    (id or None, score)
    """
    best_id, best_score = None, 0.0
    for sentence in _SENTENCES.split(text.strip()):
        if not sentence.strip():
            continue
        need = threshold if "?" in sentence else min(1.0, threshold + STATEMENT_PENALTY)
        for q in questions:
            # Only a score reaching both can change the answer (issue 17: the ratio of
            # every sentence against every question was most of a re-run's time).
            floor = max(need, best_score)
            score = max(similarity(sentence, t, floor) for t in [q.text, *q.aliases])
            if score >= need and score >= best_score:
                best_id, best_score = q.id, score
    return best_id, best_score


def resolve_marker(token: str, questions: Sequence) -> str | None:
    """The id of the configured question that marker ``token`` names (``None`` if none).

    Without configured questions, the marker itself is the id.

    Examples
    --------
    >>> from themeassist.config import Question
    >>> qs = [Question(id="q1", text="a"), Question(id="q03", text="b")]
    >>> resolve_marker("3", qs), resolve_marker("9", qs), resolve_marker("3", [])
    ('q03', None, '3')
    """
    if not questions:
        return token
    want = token.lower().lstrip("0") or "0"
    for q in questions:
        qid = re.sub(r"^(?:question|q)[\s_\-]*", "", q.id.strip().lower()).lstrip("0") or "0"
        if qid == want:
            return q.id
    return None


def assign_questions(
    rows: pd.DataFrame,
    questions: Sequence = (),
    threshold: float = 0.6,
) -> tuple[pd.Series, list[str]]:
    """The question of every row of one transcript, by the rules of the module docstring.

    Parameters
    ----------
    rows : DataFrame
        One transcript in order, with ``kind`` (``speech`` or ``marker``), ``role``,
        ``text``, ``marker`` and ``question`` (given by the file, or ``""``), and ``line``.
    questions : sequence of :class:`themeassist.config.Question`
    threshold : float
        ``IngestSettings.question_similarity``.

    Returns
    -------
    (Series, list of str)
        The question id of each row (``""`` before the first question) and warnings
        (markers that name no configured question).

    Examples
    --------
    >>> from themeassist.config import Question
    >>> qs = [Question(id="1", text="What went well in your partnership?"),
    ...       Question(id="2", text="What challenges have you faced in partnership working?")]
    >>> rows = pd.DataFrame({
    ...     "kind": ["speech"] * 5, "marker": [""] * 5, "question": [""] * 5, "line": range(5),
    ...     "role": ["facilitator", "participant", "facilitator", "facilitator", "participant"],
    ...     "text": ["So, what went well in your partnership?", "The meetings.",
    ...              "Thank you.", "And what challenges did you face working in partnership?",
    ...              "Money."]})
    >>> assign_questions(rows, qs)[0].tolist()
    ['1', '1', '1', '2', '2']
    """
    current = ""
    out: list[str] = []
    warnings: list[str] = []
    for row in rows.itertuples(index=False):
        token = None
        if row.kind == "marker":
            token = row.marker
        elif row.question:
            current = row.question
        elif row.role == "facilitator":
            token = row.marker or leading_marker(row.text)
            if token is None and questions:
                qid, _ = best_question(row.text, questions, threshold)
                if qid is not None:
                    current = qid
        if token:
            qid = resolve_marker(token, questions)
            if qid is None:
                warnings.append(f"line {row.line}: marker Q{token} names no configured question")
            else:
                current = qid
        out.append(current)
    return pd.Series(out, index=rows.index, dtype=object, name="question"), warnings
