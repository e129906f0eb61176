"""Hostile .qdpx archives are refused with a clear message before anything is read (issue 7)."""

from __future__ import annotations

import zipfile

import pytest

from themeassist.errors import InputError
from themeassist.qda import import_file
from themeassist.qda.safezip import SafeZip, member_problem

try:
    from conftest import FIXTURES, load_file
except ImportError:  # pytest --import-mode=importlib
    from tests.conftest import FIXTURES, load_file

build = load_file("qda_build", FIXTURES / "qda" / "build.py")


@pytest.mark.parametrize("kind, message", [
    ("zip_slip", "zip slip"),
    ("absolute", "absolute path"),
    ("windows_absolute", "absolute path"),
    ("bomb", "decompression bomb"),
])
def test_hostile_archive_is_refused_naming_the_member(tmp_path, kind, message):
    p = tmp_path / f"{kind}.qdpx"
    p.write_bytes(build.hostile_archives()[kind])
    with pytest.raises(InputError, match=message) as err:
        import_file(p)
    assert "refusing hostile archive" in str(err.value) and str(p) in str(err.value)
    assert list(tmp_path.iterdir()) == [p]  # nothing extracted


@pytest.mark.parametrize("name, problem", [
    ("Sources/a.txt", None),
    ("Sources/./b/../a.txt", None),
    ("a/../../x", "zip slip"),
    ("..\\x", "zip slip"),
    ("/x", "absolute"),
    ("\\\\server\\share\\x", "absolute"),
    ("D:x", "absolute"),
])
def test_member_names(name, problem):
    got = member_problem(name)
    assert (got is None) if problem is None else (problem in got)


def test_member_larger_than_limits(tmp_path):
    p = tmp_path / "big.qdpx"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:
        z.writestr("project.qde", b"x" * 5000)
    with pytest.raises(InputError, match="exceeds the limit"):
        SafeZip(p, max_member=4000)
    with pytest.raises(InputError, match="more than"):
        SafeZip(p, max_total=4000)


def test_symlink_member_refused(tmp_path):
    p = tmp_path / "link.qdpx"
    info = zipfile.ZipInfo("Sources/link.txt")
    info.create_system = 3
    info.external_attr = (0o120777) << 16
    with zipfile.ZipFile(p, "w") as z:
        z.writestr(info, "/etc/passwd")
    with pytest.raises(InputError, match="symbolic link"):
        SafeZip(p)


def test_not_a_zip(tmp_path):
    p = tmp_path / "x.qdpx"
    p.write_text("not a zip")
    with pytest.raises(InputError, match="not a ZIP archive"):
        import_file(p)
