"""Shared fixtures. Everything here is offline; data under ../shared is optional."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = Path(os.environ.get("THEMEASSIST_SHARED_DATA", ROOT.parent / "shared" / "data"))


def load_file(name: str, path: Path):
    """Import one Python file as a module named ``name`` (for files outside any package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_script(name: str):
    """Import ``scripts/<name>.py`` as a module (scripts/ is not a package)."""
    return load_file(name, ROOT / "scripts" / f"{name}.py")


@pytest.fixture(scope="session", autouse=True)
def _embedding_cache(tmp_path_factory):
    """One embedding cache per test session, never the user's own."""
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("THEMEASSIST_CACHE")
    os.environ["THEMEASSIST_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("THEMEASSIST_CACHE", None)
    else:
        os.environ["THEMEASSIST_CACHE"] = old


def shared(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with a message when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def tiny_codebook() -> pd.DataFrame:
    from themeassist.tables import validate_codebook

    return validate_codebook(pd.DataFrame({
        "theme": ["Funding", "Funding", "Mental health", "Mental health"],
        "valence": ["success", "challenge", "success", "challenge"],
        "subtheme": ["Grant secured", "Short-term funding", "Peer support", "Long waiting lists"],
    }))


@pytest.fixture
def tiny_segments() -> pd.DataFrame:
    from themeassist.tables import validate_segments

    rows = [
        ("fg1", 0, "Facilitator", "facilitator", "1", "What went well?"),
        ("fg1", 1, "Ann", "participant", "1", "We finally secured a three-year grant."),
        ("fg1", 2, "Bob", "participant", "1", "Peer support groups kept people going."),
        ("fg2", 0, "Facilitator", "facilitator", "2", "What was hard?"),
        ("fg2", 1, "Cat", "participant", "2", "Funding only ever lasts a year."),
        ("fg2", 2, "Dan", "participant", "2", "Waiting lists for counselling are months long."),
    ]
    df = pd.DataFrame(rows, columns=["transcript_id", "position", "speaker", "role", "question", "text"])
    df.insert(0, "segment_id", [f"{t}:{p:04d}" for t, p in zip(df.transcript_id, df.position)])
    return validate_segments(df)
