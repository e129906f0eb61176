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


def _run_python(program: str) -> list[str]:
    """The output lines of ``program`` run by a new Python (a fresh set of imports)."""
    res = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.strip().splitlines()


def _imported_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a new Python has imported after running ``statement``."""
    return eval(_run_python(f"import sys\n{statement}\n"
                            f"print(sorted(m for m in {modules!r} if m in sys.modules))")[-1])


def test_loading_ctfidf_imports_neither_bertopic_nor_torch():
    statement = "from themeassist.lightimport import ctfidf_transformer\nctfidf_transformer()"
    assert _imported_after(statement, ("bertopic", "torch", "sentence_transformers")) == []


HEAVY = ("sklearn", "scipy", "umap", "numba", "torch", "spacy", "matplotlib")


def test_reading_a_project_file_imports_no_estimator_library(tmp_path):
    """A no-change re-run only reads the project and checks the seal: the settings are
    derived from the estimators' parameters without importing scikit-learn or SciPy."""
    project = tmp_path / "p.yaml"
    (tmp_path / "fg01.txt").write_text("Ruth: Hello?\nAna: Hi.\n", "utf-8")
    project.write_text("name: p\ntranscripts: [fg01.txt]\ndiscover:\n  runs: 2\n"
                       "train:\n  folds: 3\n", "utf-8")
    statement = ("from themeassist.config import load_project\n"
                 f"p = load_project({str(project)!r})\n"
                 "assert p.discover.runs == 2 and p.train.folds == 3")
    assert _imported_after(statement, HEAVY) == []


def test_lazy_packages_still_export_every_name():
    import themeassist.classify as classify
    import themeassist.discover as discover

    for package in (classify, discover):
        for name in package.__all__:
            assert getattr(package, name) is not None, (package.__name__, name)
    assert "CodebookLabeller" in dir(classify)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        classify.nope  # noqa: B018
    # the estimators' own parameters are the settings' source: the same function
    from themeassist.classify.parameters import LabellerParameters
    from themeassist.discover.parameters import ClustererParameters

    assert classify.CodebookLabeller.__init__ is LabellerParameters.__init__
    assert discover.CandidateClusterer.__init__ is ClustererParameters.__init__
    assert discover.CandidateClusterer(runs=3).get_params()["runs"] == 3


def test_issue17_spacy_is_imported_without_torch_and_torch_stays_importable():
    pytest.importorskip("spacy")
    probe = ("import sys\nfrom themeassist import text\n"
             "terms = text.analyse(['The data does load.'])\n"
             "print('torch' in sys.modules, terms)\n"
             "import torch\nprint(torch.zeros(1).tolist())")
    lines = _run_python(probe)
    assert lines[-2] == "False [['data', 'load']]"
    assert lines[-1] == "[0.0]"
