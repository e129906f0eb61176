"""scripts/evaluate_survey.py: the survey data is read as the PROVENANCE describes it.

Reads ``../shared/data/survey-human-vs-llm`` (MIT; answer text licence unverified, never
copied here) and skips without it.
"""

from __future__ import annotations

import numpy as np
import pytest

try:
    from conftest import load_script, shared
except ImportError:  # pytest --import-mode=importlib
    from tests.conftest import load_script, shared


@pytest.fixture(scope="module")
def es():
    return load_script("evaluate_survey")


def test_skips_cleanly_without_the_data(es, tmp_path, capsys):
    assert es.main(["--data", str(tmp_path / "absent")]) == 0
    assert "skipped" in capsys.readouterr().err


def test_answers_codes_and_gpt_codes_as_published(es):
    # PROVENANCE.md: 174 answers, 300 distinct human codes; every answer has GPT codes
    segments, codebook, codings, human, gpt, names = es.load(shared("survey-human-vs-llm"))
    assert len(segments) == 174 and len(codebook) == 300 and len(names) == 300
    assert codings["segment_id"].nunique() == 174
    assert np.mean([len(h) for h in human]) == pytest.approx(2.18, abs=0.005)
    assert all(gpt) and np.mean([len(g) for g in gpt]) == pytest.approx(2.81, abs=0.005)
    # the first answer's codes, as in bopp_test.csv
    assert human[0] == ["richness of visuals", "own involvement"]


def test_scores_of_a_perfect_and_a_disjoint_coder(es):
    h = [["a", "b"], ["c"], ["a"]]
    perfect = es.score(h, h, ["a", "b", "c"])
    assert perfect["masi_alpha"] == pytest.approx(1.0) and perfect["code_f1_macro"] == 1.0
    wrong = es.score(h, [["x"], ["y"], ["z"]], ["a", "b", "c"])
    assert wrong["code_f1_macro"] == 0.0 and wrong["masi_mean"] == 0.0
