"""Small pieces of heavy third-party packages, loaded without importing the whole package.

``from bertopic.vectorizers import ClassTfidfTransformer`` runs ``bertopic/__init__``, which
imports BERTopic itself and with it sentence-transformers, transformers and torch: seconds
on 2 cores (over 30 s under load, issue 17) for one small scikit-learn transformer. Its
module (``bertopic/vectorizers/_ctfidf.py``, which needs only numpy, scipy and
scikit-learn) is loaded here from the installed package, unchanged, under a private name.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path


@functools.cache
def ctfidf_transformer() -> type:
    """BERTopic's ``ClassTfidfTransformer`` class, from the installed bertopic.

    Raises
    ------
    ModuleNotFoundError
        bertopic is not installed (naming the package).
    """
    if "bertopic.vectorizers" in sys.modules:  # BERTopic is loaded anyway: use its own
        return sys.modules["bertopic.vectorizers"].ClassTfidfTransformer
    spec = importlib.util.find_spec("bertopic")  # finds the package, runs nothing
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("c-TF-IDF keywords need the package bertopic "
                                  "(pip install bertopic)", name="bertopic")
    path = Path(list(spec.submodule_search_locations)[0]) / "vectorizers" / "_ctfidf.py"
    name = "themeassist._bertopic_ctfidf"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module.ClassTfidfTransformer


def spacy():
    """The ``spacy`` module, imported without making thinc import torch.

    spaCy imports thinc, whose ``thinc.compat`` imports torch when it is installed, only to
    record whether it is there: 1.5-2 s on 2 cores (issue 17), in a run where nothing else
    needs torch (the embeddings came from the cache). themeassist's vocabulary pipeline
    (``spacy.blank("en")`` with a sentencizer and the lookup lemmatizer, or
    ``en_core_web_sm``) runs on thinc's numpy ops and never uses torch. So while spaCy is
    first imported, torch is hidden when it is not loaded yet; torch itself stays
    importable afterwards (the embedder imports it when it needs to), only thinc's
    PyTorch wrappers (which themeassist does not use) are off in this process. When torch
    is already loaded (the embedder ran) or spaCy already imported, this is plain
    ``import spacy``.
    """
    if "spacy" in sys.modules or "torch" in sys.modules:
        import spacy as module

        return module
    sys.modules["torch"] = None  # makes `import torch` raise ImportError
    try:
        import spacy as module
    finally:
        if sys.modules.get("torch", "") is None:
            del sys.modules["torch"]
    return module
