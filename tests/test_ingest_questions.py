"""Question assignment: fuzzy matching of facilitator turns, explicit markers, latest asked."""

from pathlib import Path

import pandas as pd
import pytest

from themeassist.config import IngestSettings, Question, load_questions
from themeassist.ingest import ingest_files
from themeassist.ingest.questions import (
    assign_questions,
    best_question,
    marker_line,
    resolve_marker,
)

FIX = Path(__file__).parent / "fixtures" / "ingest"
GUIDE = load_questions(FIX / "questions.yaml")

# fg_questions.txt, segment by segment: (speaker, question it belongs to).
EXPECTED = [
    ("Moderator", ""),   # small talk before any question
    ("Moderator", "1"),  # paraphrase of question 1 ("what successes ... working in partnership")
    ("Ann", "1"),
    ("Ben", "1"),
    ("Moderator", "1"),  # "Great, thank you." asks nothing: the question does not change
    ("Ben", "1"),
    ("Moderator", "2"),  # question 2 verbatim
    ("Ann", "2"),
    ("Ann", "2"),
    ("Moderator", "2"),  # "Anything else?" asks no configured question
    ("Ben", "2"),        # answering question 1 late: belongs to the latest question asked
    ("Moderator", "3"),  # after the explicit "Q3" marker line
    ("Cat", "3"),
    ("Moderator", "3"),
]


def test_known_answers_of_the_fixture():
    seg, summary = ingest_files([FIX / "fg_questions.txt"], GUIDE)
    assert list(zip(seg["speaker"], seg["question"])) == EXPECTED
    row = summary.iloc[0]
    assert (row["questions_found"], row["question_ids"], row["segments_without_question"]) == \
        (3, "1,2,3", 1)


def test_question_never_found_is_warned():
    _, summary = ingest_files([FIX / "fg_questions.txt"], GUIDE)
    warnings = summary.attrs["warnings"]
    assert any("question '4' was never found" in w for w in warnings)
    assert not any("question '1'" in w for w in warnings)


def test_alias_and_leading_marker():
    seg, _ = ingest_files([FIX / "fg_forms.txt"], GUIDE)
    # "What has gone well?" is question 1's alias; "Q2. What was hard?" is an explicit marker.
    assert seg["question"].tolist() == ["1"] * 6 + ["2"] * 3


def test_threshold_controls_fuzzy_matching():
    strict = IngestSettings(question_similarity=0.95)
    seg, _ = ingest_files([FIX / "fg_questions.txt"], GUIDE, strict)
    # The paraphrase no longer matches; the verbatim question and the marker still do.
    assert seg["question"].tolist()[:6] == [""] * 6
    assert seg["question"].tolist()[6:] == ["2"] * 5 + ["3"] * 3


def test_a_statement_needs_more_than_a_question():
    q = [Question(id="3", text="How sustainable is the health and wellbeing work of your "
                               "organisation?")]
    # 3 of the question's 5 content words: enough for a question (0.6), not for a statement,
    # which needs threshold + 0.15.
    assert best_question("What about wellbeing work in your organisation?", q, 0.6)[0] == "3"
    assert best_question("Wellbeing work in your organisation, yes.", q, 0.6)[0] is None


def test_only_facilitators_ask_questions():
    rows = pd.DataFrame({
        "kind": ["speech"] * 3, "marker": [""] * 3, "question": [""] * 3, "line": [1, 2, 3],
        "role": ["participant", "facilitator", "participant"],
        "text": ["What challenges have you encountered in partnership working?",
                 "Go on.", "Plenty."]})
    q = [Question(id="2", text="What challenges have you encountered in partnership working?")]
    assert assign_questions(rows, q)[0].tolist() == ["", "", ""]


def test_markers():
    assert [marker_line(t) for t in ["Q3", "q3.", "## Question 3", "Question 3: What?",
                                     "Q3 was tough", "Quality matters."]] == \
        ["3", "3", "3", "3", None, None]
    qs = [Question(id="q1", text="a"), Question(id="Q03", text="b")]
    assert [resolve_marker(t, qs) for t in ("1", "3", "03", "9")] == ["q1", "Q03", "Q03", None]


def test_marker_naming_no_question_is_warned(tmp_path):
    p = tmp_path / "g.txt"
    p.write_text("Moderator: Hello.\nQ9\nAnn: Hi.\n", encoding="utf-8")
    seg, summary = ingest_files([p], GUIDE)
    assert seg["question"].tolist() == ["", ""]
    assert any("line 2: marker Q9 names no configured question" in w
               for w in summary.attrs["warnings"])


@pytest.mark.parametrize("paraphrase", [
    ("Thinking about sustainability: how sustainable is your organisation's health and "
     "wellbeing work?"),
    "How sustainable do you think the wellbeing work of your organisation is?",
])
def test_paraphrases_of_question_3(paraphrase):
    assert best_question(paraphrase, GUIDE, 0.6)[0] == "3"
