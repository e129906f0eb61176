"""Which project owns a run folder, and what ``--force`` may clear in it.

A run folder (``themeassist run``/``demo``) says whose it is: ``.themeassist-run.json``
is written when a run starts, before any stage, and names the project; the run's
``manifest.json`` lists the files the run wrote. :func:`claim_run_folder` is called while
holding the folder's lock (:mod:`themeassist.locking`) and decides:

- an empty or missing folder, or one holding an earlier run of the *same* project: used
  (unchanged stages are reused);
- a folder holding *another* project's run: refused unless ``force``. With ``force`` the
  files the old run's manifest lists are deleted first (and its stage cache, so nothing of
  the other project is reused), and nothing else: a file the old manifest does not list
  (the user's own notes, a file copied in) is never deleted, whatever its name. A listed
  path that leads outside the folder (``..``, an absolute path, a link) is ignored;
- a non-empty folder that holds no themeassist run: refused unless ``force``; with
  ``force`` the run writes there and deletes nothing.

Clearing at the start (rather than at the end) means that the new run can never reuse, or
list as its own, a file of the other project; the price is that a ``--force`` run that
then fails leaves the other project's listed outputs deleted, which ``--force`` asks for.
Staging folders and temporary files an interrupted writer left (``.discover.*.staging``,
``.*.tmp``) are removed as well, and the new manifest lists only the files of this run:
files that were there before and that no run listed (the user's own) are left out.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from themeassist import io
from themeassist.errors import ConfigError, OutputExistsError
from themeassist.locking import OutputLock

MARKER = ".themeassist-run.json"
MANIFEST = "manifest.json"
STAGE_CACHE = ".stages.json"


@dataclass
class Claim:
    """What :func:`claim_run_folder` found: the owner before and the files not ours."""

    out: Path
    project: str
    previous_owner: str | None = None
    cleared: list[str] = field(default_factory=list)
    foreign: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def _stat_key(p: Path) -> tuple[int, int, int]:
    st = p.stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def _files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if p.is_file() and not p.is_symlink())


def _listed(out: Path, manifest: dict[str, Any] | None) -> set[str]:
    """The files an old manifest lists that really are inside ``out`` (no escapes)."""
    if not manifest or not isinstance(manifest.get("files"), list):
        return set()
    root = out.resolve()
    keep = set()
    for name in manifest["files"]:
        if not isinstance(name, str) or not name or Path(name).is_absolute():
            continue
        p = out / name
        try:
            real = p.resolve()
        except OSError:
            continue
        if p.is_symlink() or root not in real.parents:
            continue
        keep.add(Path(name).as_posix())
    return keep


def owner(out: str | Path) -> str | None:
    """The project whose run ``out`` holds (marker first, then the manifest), or None."""
    out = Path(out)
    for name in (MARKER, MANIFEST):
        obj = _read_json(out / name)
        if obj and isinstance(obj.get("project"), str):
            return obj["project"]
    return None


def holds_run(out: str | Path) -> bool:
    """True when ``out`` holds a themeassist run (marker, stage cache or run manifest)."""
    out = Path(out)
    m = _read_json(out / MANIFEST)
    return ((out / MARKER).is_file() or (out / STAGE_CACHE).is_file()
            or bool(m and m.get("command") in ("run", "demo")))


def claim_run_folder(out: str | Path, project: str, *, force: bool = False) -> Claim:
    """Check that ``out`` may take a run of ``project``, clear what ``force`` allows, and
    mark the folder as this project's (see the module docstring).

    Raises
    ------
    OutputExistsError
        ``out`` is a file; or it holds another project's run, or files of no run, and
        ``force`` is false.
    """
    out = Path(out)
    claim = Claim(out=out, project=project)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")
    io.clean_staging(out.parent, names=[out.name])
    io.clean_staging(out)
    if out.is_dir() and any(out.iterdir()):
        previous = owner(out)
        claim.previous_owner = previous
        if holds_run(out):
            if previous is not None and previous != project:
                if not force:
                    raise OutputExistsError(
                        f"{out} holds a run of another project ({previous!r}, this one is "
                        f"{project!r}); use --force to replace that run's outputs (only the "
                        "files its manifest lists are deleted)")
                claim.cleared = _clear(out)
        elif not force:
            raise OutputExistsError(
                f"{out} is not empty and holds no earlier themeassist run; use --force to "
                "write there (no file already there is deleted)")
        listed = _listed(out, _read_json(out / MANIFEST))
        claim.foreign = {name: _stat_key(out / name) for name in _files(out)
                         if name not in listed and not name.startswith(".")
                         and name != MANIFEST}
    io.atomic_write_text(out / MARKER, io.json_dumps({"project": project, "command": "run"}),
                         force=True)
    return claim


def _clear(out: Path) -> list[str]:
    """Delete the files the old manifest lists, its stage cache and marker; return them."""
    listed = _listed(out, _read_json(out / MANIFEST))
    removed = []
    for name in sorted(listed) + [STAGE_CACHE, MARKER, MANIFEST]:
        p = out / name
        if p.is_file() and not p.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
            removed.append(name)
    # Folders emptied by the deletions (deepest first); a folder with anything else stays.
    for d in sorted({(out / n).parent for n in listed}, key=lambda p: len(p.parts),
                    reverse=True):
        while d != out and d.is_dir():
            try:
                d.rmdir()
            except OSError:
                break
            d = d.parent
    return removed


def is_own(out: str | Path, path: str | Path, claim: Claim | None) -> bool:
    """True when ``path`` (a file in ``out``) belongs to this run: not one of the files
    that were there before and that no run listed, unless this run rewrote it."""
    if claim is None:
        return True
    rel = Path(path).relative_to(out).as_posix()
    before = claim.foreign.get(rel)
    if before is None:
        return True
    try:
        return _stat_key(Path(path)) != before
    except OSError:
        return False


def project_inputs(project) -> list[Path]:
    """Every file a project reads: transcripts (or segments), codebook, codings, questions."""
    paths: list[Path] = []
    with contextlib.suppress(Exception):  # a project without transcripts has none
        paths += [Path(p) for p in project.transcript_paths()]
    for name in ("segments", "codebook", "questions"):
        value = getattr(project, name, None)
        if isinstance(value, str) and value:
            paths.append(Path(project.resolve(value)))
    paths += [Path(project.resolve(c)) for c in (getattr(project, "codings", None) or [])]
    return paths


def check_inputs_outside(project, out: str | Path) -> None:
    """Refuse a run folder that is, or holds, one of the project's inputs (``--force`` or
    not): a run rewrites files all over its folder, and ``--force`` clears some.

    Raises
    ------
    ConfigError
        Naming the folder and the input.
    """
    root = Path(os.path.realpath(out))
    for p in project_inputs(project):
        real = Path(os.path.realpath(p))
        if real == root or root in real.parents:
            raise ConfigError(f"the output folder {out} holds an input of the project ({p}); "
                              "inputs are never overwritten: choose another output folder")


def locked_run(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate ``run_project(project, out=None, ...)``: hold the output folder's lock
    for the whole run (resolving ``out`` the way the runner does)."""

    @functools.wraps(fn)
    def wrapper(project, out=None, *args, **kwargs):
        target = Path(out) if out is not None else project.resolve(project.output)
        check_inputs_outside(project, target)
        existed = target.exists()
        with OutputLock(target, command=f"run {getattr(project, 'name', '')}".strip()):
            try:
                return fn(project, target, *args, **kwargs)
            except BaseException:
                # A run that fails before writing anything leaves no folder behind.
                if not existed and target.is_dir() and \
                        [p.name for p in target.iterdir()] == [MARKER]:
                    with contextlib.suppress(OSError):
                        (target / MARKER).unlink()
                        target.rmdir()
                raise

    return wrapper

