"""How well ingest finds the questions of the topic guide, by similarity threshold.

Runs ``themeassist.ingest.ingest_files`` on the bundled sample project (four synthetic focus
groups, eight questions each, 32 question turns in all, asked in paraphrase as often as
verbatim) at several ``question_similarity`` thresholds, with and without the guide's
aliases, and compares with a hand-made answer key: the facilitator paragraph that asks each
question in each transcript, read by a person and identified below by its first words (so
the key survives small edits elsewhere in the transcripts).

Reported per setting:

- ``starts_found``: question turns found at the right paragraph (of 32);
- ``false_starts``: facilitator paragraphs that start a question they do not ask;
- ``participant_acc``: share of participant paragraphs given the question of the answer key
  (the latest question asked before them).

Usage: .venv/bin/python scripts/ingest_question_sweep.py
"""

from __future__ import annotations

import sys

import pandas as pd

from themeassist import io
from themeassist.config import IngestSettings, Question, load_project, load_questions
from themeassist.ingest import ingest_files

#: transcript -> the first words of the facilitator paragraph asking questions 1..8.
KEY = {
    "fg01": ["No problem at all. So, the first question.", "Great, thank you. So moving on.",
             "Thank you. That's a really rich picture.", "Lovely. Let's move to the fourth",
             "Okay, thank you. Moving on to health", "Thank you. Next, how have you",
             "Okay. Question seven.", "And the last question."],
    "fg02": ["Okay, so let's start with the positives.", "Great. Okay, so turning that round.",
             "Thank you. The third question", "Okay. Then the fourth question.",
             "Okay, thank you. Question five.", "Thank you. The sixth question.",
             "Okay, question seven.", "And the final question."],
    "fg03": ["Thanks everyone. So, the first question.", "Okay. Let's go to the second",
             "Thank you. Okay, question three.", "Thank you. Question four.",
             "Thank you. Moving to health inequalities.", "Thanks. Next question.",
             "Okay, question seven.", "And the last question."],
    "fg04": ["Thank you. So the first question", "So the second question is the flip side.",
             "Thank you. The third question.", "Okay. Question four is about",
             "Fair enough. Question five.", "Thank you. Next. How have you",
             "Okay. Question seven.", "And the final question."],
}


#: A harder, out-of-sample check: three paraphrases per question, written for this script
#: without looking at the matcher's scores (and not tuned on afterwards), and facilitator
#: remarks that ask no question of the guide. Each is scored alone with ``best_question``.
PARAPHRASES = {
    "1": ["What would you say your partnerships have achieved?",
          "What are the good things that have come out of working together with partners?",
          "Can you tell me about any successes you've had with partners?"],
    "2": ["What's been difficult when working with partners?",
          "Have there been any problems or barriers in your partnerships?",
          "What got in the way of working in partnership?"],
    "3": ["How do you keep the work going once the funding ends?",
          "What does sustainability look like for your organisation's wellbeing work?",
          "How will your health and wellbeing projects carry on in the long term?"],
    "4": ["What do you make of the integrated care systems?",
          "How do you feel about ICSs and integration?",
          "Where do integrated care systems fit in for you?"],
    "5": ["When you hear 'health inequalities', what does that mean for you?",
          "How would you define health inequalities?",
          "What do you understand health inequalities to be?"],
    "6": ["How did you find and reach people from the most deprived communities?",
          "How have you managed to reach the poorest communities?",
          "What methods did you use to identify people from poorer backgrounds?"],
    "7": ["What chances do you see to connect with those facing the worst inequalities?",
          "Where are the opportunities to reach people with the worst inequalities?",
          "Are there opportunities for connecting with the most disadvantaged people?"],
    "8": ["What makes it hard to connect with people experiencing the worst inequalities?",
          "What are the barriers to reaching people facing the greatest inequalities?",
          "What difficulties have you had connecting with the most excluded people?"],
}
DISTRACTORS = [
    "Thank you, that's really helpful.", "Can you say a bit more about that?",
    "Does anyone else want to come in on that?", "Sorry, you're on mute, Sam.",
    "So lots of challenges there with funding.",
    "That links nicely to what Priya said about partners.", "We've got about ten minutes left.",
    "Is everyone happy for me to keep recording?", "How long has your organisation been running?",
    "Who funds that work, is it the council?",
    "Great, I think that's a really important point about inequalities.",
    "Let's take a short break.", "Could you tell us which area you cover?",
    "Is that the same for the other partners?", "Right, I'll stop sharing my screen.",
    "What did the participants think of the sessions?", "How many people came to the choir?",
    "Did the GP practices refer many people?", "I'm sorry to hear that, that sounds hard.",
    "Was that through the link workers?", "Thanks, Grace, and welcome back.",
    "Has anyone worked with the housing association?",
]


def paraphrase_check(guide, bare) -> pd.DataFrame:
    from themeassist.ingest.questions import best_question

    rows = []
    n = sum(map(len, PARAPHRASES.values()))
    for aliases, questions in (("yes", guide), ("no", bare)):
        for t in (0.4, 0.5, 0.6, 0.7, 0.8):
            correct = wrong = 0
            for qid, texts in PARAPHRASES.items():
                for text in texts:
                    got = best_question(text, questions, t)[0]
                    correct += got == qid
                    wrong += got is not None and got != qid
            false_pos = sum(best_question(d, questions, t)[0] is not None for d in DISTRACTORS)
            rows.append({"aliases": aliases, "threshold": t, f"correct_of_{n}": correct,
                         "wrong_question": wrong, f"distractors_matched_of_{len(DISTRACTORS)}":
                         false_pos})
    return pd.DataFrame(rows)


def answer_key(seg: pd.DataFrame, ids: list[str]) -> pd.Series:
    """The answer key's question for every segment (latest question asked)."""
    truth = pd.Series("", index=seg.index, dtype=object)
    for tid, group in seg.groupby("transcript_id", sort=False):
        fac = group[group["role"] == "facilitator"]
        current, starts = "", {}
        for qid, prefix in zip(ids, KEY[tid]):
            hit = fac[fac["text"].str.startswith(prefix)]
            if len(hit) != 1:
                sys.exit(f"answer key: {tid} question {qid}: {len(hit)} paragraphs start "
                         f"with {prefix!r}; the sample changed, update KEY")
            starts[hit.index[0]] = qid
        for i in group.index:
            current = starts.get(i, current)
            truth[i] = current
    return truth


def evaluate(seg: pd.DataFrame, truth: pd.Series) -> dict:
    starts_found = false_starts = 0
    for _, group in seg.groupby("transcript_id", sort=False):
        prev_pred, prev_true = "", ""
        for i in group.index:
            pred, true = seg.at[i, "question"], truth[i]
            pred_start, true_start = pred != prev_pred, true != prev_true
            if pred_start and true_start and pred == true:
                starts_found += 1
            elif pred_start:
                false_starts += 1
            prev_pred, prev_true = pred, true
    part = seg["role"] == "participant"
    return {"starts_found": starts_found, "false_starts": false_starts,
            "participant_acc": round(float((seg.loc[part, "question"] == truth[part]).mean()), 3)}


def main() -> None:
    project = load_project(io.data_path("sample", "project.yaml"))
    paths = project.transcript_paths()
    guide = load_questions(project.resolve(project.questions))
    bare = [Question(id=q.id, text=q.text) for q in guide]
    ids = [q.id for q in guide]
    rows = []
    for aliases, questions in (("yes", guide), ("no", bare)):
        for t in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
            settings = project.ingest.model_copy(update={"question_similarity": t})
            seg, _ = ingest_files(paths, questions, IngestSettings(**settings.model_dump()))
            truth = answer_key(seg, ids)
            rows.append({"aliases": aliases, "threshold": t, **evaluate(seg, truth)})
    n_part = int((seg["role"] == "participant").sum())
    print(f"sample project: {len(paths)} transcripts, {len(seg)} segments, {n_part} participant "
          f"segments, {sum(map(len, KEY.values()))} question turns in the answer key\n")
    print(io.to_markdown(pd.DataFrame(rows), floatfmt=".3f"))
    print("\nparaphrases written for this script (not the sample), scored one by one:\n")
    print(io.to_markdown(paraphrase_check(guide, bare), floatfmt=".1f"))


if __name__ == "__main__":
    main()
