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
