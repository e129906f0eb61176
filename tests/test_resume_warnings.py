"""A resumed run prints no scikit-learn UserWarnings (issue 16).

The cause: scikit-learn warns that "`y` could represent a regression problem" when a
target has more distinct values than half its samples; code indices of a large codebook
with few examples each trip it on every small fold, and each ``catch_warnings`` block made
Python show it again (63 times on a resumed run). It is now silenced around our own fits
only, not by a process-wide filter that a resumed run (whose label stage is reused) never
installed.
"""

from __future__ import annotations

import warnings

from pathlib import Path

import numpy as np

from themeassist import classify


def test_fitting_many_codes_with_few_examples_warns_nothing():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = np.arange(40) % 30               # 30 codes in 40 samples: the heuristic's case
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        classify.CodebookClassifier(C=1.0).fit(X, y)
        classify.fit_ngram_scorer([f"word{i} common text" for i in range(40)], y, min_df=1)
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []


def test_no_process_wide_filter_is_left_behind():
    from themeassist import pipeline

    before = list(warnings.filters)
    assert "unique classes" not in Path(pipeline.__file__).read_text(encoding="utf-8")
    assert warnings.filters == before
