"""Lazy re-exports for a package's ``__init__`` (PEP 562 module ``__getattr__``).

``themeassist.discover`` and ``themeassist.classify`` re-export the names of their modules,
so ``from themeassist.discover import discover`` works; importing them all eagerly would
make every import of the package, even of one light module, pay for scikit-learn, UMAP
and SciPy. scikit-image and SciPy use the same pattern (``lazy_loader``); it is small
enough not to add that dependency.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``'s ``__init__``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to sequence of str
        Module of the package (relative name) -> the names it defines that the package
        re-exports. A name equal to a module's own name exports that module.

    Returns
    -------
    tuple
        ``(__getattr__, __dir__, __all__)``; a name is imported from its module on first
        access and then stored in the package, so later accesses are ordinary lookups.
    """
    where = {name: module for module, names in exports.items() for name in names}
    if len(where) != sum(len(names) for names in exports.values()):
        raise ValueError(f"{package}: a name is exported by two modules")
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> object:  # noqa: N807 (the module hook's name)
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        loaded = importlib.import_module(f"{package}.{module}")
        value = loaded if name == module else getattr(loaded, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *where})

    return __getattr__, __dir__, sorted(where)
