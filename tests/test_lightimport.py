"""Third-party pieces loaded without their heavy packages (issue 17)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from themeassist.lightimport import ctfidf_transformer


def test_ctfidf_is_bertopics_own_transformer():
    pytest.importorskip("bertopic")
    from bertopic.vectorizers import ClassTfidfTransformer

    counts = sp.csr_matrix(np.random.default_rng(0).integers(0, 4, size=(6, 50)).astype(float))
    ours = ctfidf_transformer()(reduce_frequent_words=True).fit_transform(counts.copy())
    theirs = ClassTfidfTransformer(reduce_frequent_words=True).fit_transform(counts.copy())
    assert np.array_equal(ours.toarray(), theirs.toarray())


def test_loading_ctfidf_imports_neither_bertopic_nor_torch():
    probe = ("import sys\nfrom themeassist.lightimport import ctfidf_transformer\n"
             "ctfidf_transformer()\n"
             "print(sorted(m for m in ('bertopic', 'torch', 'sentence_transformers') "
             "if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=300)
    assert res.stdout.strip().splitlines()[-1] == "[]", res.stderr[-2000:]


def test_issue17_spacy_is_imported_without_torch_and_torch_stays_importable():
    pytest.importorskip("spacy")
    probe = ("import sys\nfrom themeassist import text\n"
             "terms = text.analyse(['The data does load.'])\n"
             "print('torch' in sys.modules, terms)\n"
             "import torch\nprint(torch.zeros(1).tolist())")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.strip().splitlines()
    assert lines[-2] == "False [['data', 'load']]"
    assert lines[-1] == "[0.0]"
