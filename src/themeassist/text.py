"""The vocabulary that describes candidate subthemes: lemmas, stop words, fillers, phrases.

Discovery labels a cluster by the terms that distinguish it (c-TF-IDF, as in BERTopic [1]_).
Raw tokens make labels such as ``0_the_and_of``; this module turns each segment into the
terms a reader would use instead:

- a spaCy pipeline that runs offline: ``spacy.blank("en")`` with the sentencizer and the
  lookup lemmatizer of ``spacy-lookups-data`` (thousands of paragraphs per second);
- English stop words (spaCy's list) plus the fillers of spoken transcripts (``yeah``,
  ``okay``, ``um``, ``gonna`` ...), which dominate think-aloud and focus-group talk;
- unigrams and bigrams of content lemmas within a sentence (``time window``, ``data
  lineage``); with a dependency parser installed (the optional ``en_core_web_sm`` package),
  noun chunks are added as phrases. Without it the bigrams stand in, with no error.

:func:`is_filler` decides which segments carry no content ("yeah", "okay, next one") so
that discovery can set them aside and count them.

References
----------
.. [1] Grootendorst, M. (2022). BERTopic: Neural topic modeling with a class-based TF-IDF
   procedure. arXiv:2203.05794.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence

log = logging.getLogger(__name__)

#: Words of spoken transcripts that carry no topic: back-channels, hesitations, discourse
#: markers, contractions' leftovers. Added to spaCy's English stop words.
FILLERS = frozenset("""
yeah yes yep yup no nope ok okay okey alright right sure fine cool great good nice
um umm uh uhh uhm hmm hm mm mhm mmm mm-hmm mhmm uh-huh uh-oh erm er ah aha oh ooh ow wow
ha haha huh eh
like just really actually basically literally kind sort thing things stuff lot lots bit
gonna wanna gotta dunno kinda sorta let lets guess mean know think say said go going get
got want see look looks looking thank thanks please sorry maybe probably pretty
well anyway anyways hey hi hello bye next one ones way time
""".split())

#: Stop words that still take part in phrases ("time window", "time series") but never
#: make a label alone.
WEAK_LABEL_WORDS = frozenset({"time"})

#: Lookup-table lemmas that read wrongly in labels ("data" -> "datum", "does" -> "doe").
LEMMA_FIXES = {"datum": "data", "doe": "do", "medium": "media", "criterium": "criteria"}

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")


@functools.lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """spaCy's English stop words plus :data:`FILLERS` (lower case).

    Examples
    --------
    >>> {"the", "yeah", "okay"} <= stop_words()
    True
    >>> "funding" in stop_words()
    False
    """
    from themeassist.lightimport import spacy

    spacy()  # not `from spacy.lang...` first: that imports spaCy with torch (lightimport)
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(w.lower() for w in STOP_WORDS) | FILLERS


@functools.lru_cache(maxsize=1)
def pipeline():
    """The offline spaCy pipeline: the parser package when installed, else blank English.

    ``en_core_web_sm`` (optional; not a dependency) adds noun chunks. Otherwise
    ``spacy.blank("en")`` with the sentencizer and the lookup lemmatizer from
    ``spacy-lookups-data``; if that package is missing too, lemmas fall back to lower-cased
    words and a warning is logged once (labels are then less tidy, never wrong).
    """
    from themeassist.lightimport import spacy as _spacy

    spacy = _spacy()
    try:
        nlp = spacy.load("en_core_web_sm", exclude=["ner"])
        log.info("vocabulary: en_core_web_sm %s (noun chunks on)", nlp.meta.get("version"))
        return nlp
    except (OSError, ImportError, ValueError):
        pass
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    try:
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()
    except (ImportError, ValueError, OSError) as err:  # spacy-lookups-data missing
        log.warning("lookup lemmatizer unavailable (%s); terms are not lemmatised", err)
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
    return nlp


def pipeline_name() -> str:
    """Names the vocabulary pipeline in manifests (versioned, as spaCy names its parts)."""
    nlp = pipeline()
    return "themeassist.vocab.v1:" + "+".join(["en"] + list(nlp.pipe_names))


def _lemma(tok) -> str:
    lower = tok.text.lower().strip("'-")
    if lower in stop_words():  # "does" is a stop word; its lookup lemma "doe" is not
        return lower
    lemma = (tok.lemma_ or tok.text).lower().strip("'-")
    return LEMMA_FIXES.get(lemma, lemma)


def _content(lemma: str, stops: frozenset[str]) -> bool:
    return len(lemma) > 2 and lemma not in stops and _WORD.fullmatch(lemma) is not None


def analyse(texts: Iterable[str], *, batch_size: int = 256) -> list[list[str]]:
    """Turn texts into lists of terms: content lemmas, within-sentence bigrams, noun chunks.

    Parameters
    ----------
    texts : iterable of str
        Segment texts.
    batch_size : int, default 256
        Texts per spaCy batch.

    Returns
    -------
    list of list of str
        One list of terms per text; bigrams and phrases are joined with a space.

    Examples
    --------
    >>> analyse(["Yeah, the time window lag is not clear."])
    [['window', 'lag', 'clear', 'time window', 'window lag']]
    >>> analyse(["The data does load."])
    [['data', 'load']]
    """
    nlp = pipeline()
    stops = stop_words()
    out: list[list[str]] = []
    for doc in nlp.pipe((str(t) for t in texts), batch_size=batch_size):
        unigrams: list[str] = []
        bigrams: list[str] = []
        sents = list(doc.sents) if doc.has_annotation("SENT_START") else [doc[:]]
        for sent in sents:
            prev = None
            for tok in sent:
                lemma = _lemma(tok)
                if not _WORD.fullmatch(lemma or "-"):
                    prev = None
                    continue
                if _content(lemma, stops) and lemma not in WEAK_LABEL_WORDS:
                    unigrams.append(lemma)
                # A bigram joins two adjacent words, neither a stop word, except that a
                # weak word may take part ("time window").
                ok = len(lemma) > 2 and (lemma not in stops or lemma in WEAK_LABEL_WORDS)
                if ok and prev is not None:
                    bigrams.append(f"{prev} {lemma}")
                prev = lemma if ok else None
        phrases: list[str] = []
        if doc.has_annotation("DEP"):
            for chunk in doc.noun_chunks:
                words = [_lemma(t) for t in chunk if _content(_lemma(t), stops)]
                if len(words) >= 2:
                    phrases.append(" ".join(words[-3:]))
        out.append(unigrams + bigrams + [p for p in phrases if p not in bigrams])
    return out


def content_words(text: str) -> int:
    """Number of words in ``text`` that are neither stop words nor fillers (no spaCy needed).

    Examples
    --------
    >>> content_words("Yeah okay, next one.")
    0
    >>> content_words("The lag option is confusing")
    3
    """
    stops = stop_words()
    return sum(1 for w in _WORD.findall(text.lower()) if w.strip("'-") not in stops)


def is_filler(text: str, *, min_content_words: int = 1) -> bool:
    """True when a segment has fewer than ``min_content_words`` content words.

    Examples
    --------
    >>> is_filler("Okay, yeah.")
    True
    >>> is_filler("Export was simple.")
    False
    """
    return content_words(text) < min_content_words


def word_count(text: str) -> int:
    """Number of words (letters and apostrophes), as used for the short-segment rule."""
    return len(_WORD.findall(text))


def make_label(terms: Sequence[str], *, max_words: int = 4) -> str:
    """A short, readable label from a candidate's ranked terms.

    Takes the best phrase (two or more words) among the top terms when there is one,
    then adds the best single word it does not already contain; otherwise joins the two
    best words. Terms are ranked best first (c-TF-IDF).

    Examples
    --------
    >>> make_label(["lag", "time window", "window", "query"])
    'time window: lag'
    >>> make_label(["export", "metadata"])
    'export, metadata'
    >>> make_label([])
    'unlabelled'
    """
    terms = [t for t in terms if t]
    if not terms:
        return "unlabelled"
    top = terms[:6]
    phrase = next((t for t in top if " " in t), None)
    if phrase is not None:
        words = set(phrase.split())
        extra = next((t for t in top if " " not in t and t not in words
                      and t not in WEAK_LABEL_WORDS), None)
        label = phrase if extra is None else f"{phrase}: {extra}"
    else:
        label = ", ".join(top[:2])
    return " ".join(label.split()[:max_words]) if len(label.split()) > max_words else label
