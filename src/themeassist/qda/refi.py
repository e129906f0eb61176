"""REFI-QDA exchange: read ``.qdpx`` projects and ``.qdc`` codebooks, write them back.

The REFI-QDA standard (QDA-XML 1.0, www.qdasoftware.org) is how NVivo, ATLAS.ti, MAXQDA,
QualCoder and others exchange coded projects. A ``.qdpx`` is a ZIP archive holding
``project.qde`` (XML, schema ``Project.xsd``) and a ``Sources/`` folder; a ``.qdc`` is a
codebook alone (schema ``Codebook.xsd``). Both schemas are vendored in
``themeassist/data/schemas`` (MIT, see the README there).

Import (:func:`read_qdpx`, :func:`read_qdc`)
    Text sources become transcripts (PDF, picture, audio and video sources are reported as
    skipped with their codings); each non-blank line of a source is a paragraph segment; the
    code tree is mapped to theme / valence / subtheme by :func:`~themeassist.qda.core.map_code_tree`;
    each coded ``PlainTextSelection`` codes the paragraphs it overlaps; the coder is the
    ``User`` who created the ``Coding`` (or the selection: ``coder_from``). Every coding is
    listed in the report, imported or skipped with the reason (non-text source, external
    file not read, whole-source coding, unknown code, offsets out of range, blank text only).
    Offsets: see :mod:`themeassist.qda.core` (``offsets="auto"`` detects NVivo's UTF-16
    counting). Source files are UTF-8 (a BOM is dropped and not counted) or UTF-16 with BOM.

Export (:func:`export_project`, :func:`project_bytes`, :func:`codebook_bytes`)
    One ``TextSource`` per transcript (in the order transcripts first appear in the
    segments table), its paragraphs in ``position`` order, one per line, NFC-normalised (a
    line break inside a segment becomes a space), a speaker's paragraph written as the turn
    ``Speaker: text`` (so a reviewer in NVivo sees who speaks), stored as
    ``Sources/<guid>.txt`` (UTF-8, no BOM) and referenced as ``internal://<guid>.txt``.
    ``target`` (:data:`TARGETS`) sets the offset unit and line ends each tool reads: UTF-16
    code units and CRLF for NVivo, code points and LF otherwise (the evidence is in
    :data:`TARGETS` and ``docs/qda.md``).

    Code tree: Theme > Success | Challenge (when the codebook has a valence) > subtheme, a
    subtheme ``"A > B"`` nested as A > B, a flat code (theme = subtheme) as one top-level
    code whose GUID marks it flat (:func:`flat_guid`: a sub-code added in a QDA tool does not
    dissolve it). A codebook imported from a QDA tool keeps its tree exactly: ``qda_path``
    (names, valence words included), ``qda_codable`` and ``theme_codable`` (isCodable),
    ``theme_description`` (the top-level code's Description). A code whose path would read
    back as another code is reported in the returned warnings.

    Codings: one ``User`` per coder (and per selecting user, ``selected_by``); the machine
    coder ``model:...`` is a user named after its model. Each coding is its own
    ``PlainTextSelection`` with exactly one ``Coding`` (as NVivo writes them), over the
    whole turn, or over its ``span`` parts for a partial selection read from a QDA tool. A
    machine coding's selection has the Description ``themeassist: confidence=0.83
    needs_review=false``; Cases with the variables ``speaker``, ``role`` and ``question``
    refer to the selections. Both survive a tool that rewrites the archive and drops the
    sidecars. GUIDs are UUID-5 of stable keys (transcript, segment, coder, code), there are
    no timestamps, and ZIP members carry a fixed date, so the same input gives the same
    bytes. themeassist's own sidecars sit in the archive's ``themeassist/`` folder:

    - ``themeassist/segments.csv``: the segment columns (segment_id, transcript_id, position,
      text, speaker, role, question, start, end) and ``source_guid``, ``start_position``,
      ``end_position``, ``offset_unit`` (the paragraph's offsets in the exported text): lets
      a re-import restore segment ids and metadata that plain text cannot carry;
    - ``themeassist/confidence.csv``: coding_guid, selection_guid, segment_id, coder, theme,
      valence, subtheme, confidence, needs_review.

    Without the sidecars a re-import still gets speakers (from the turns and the Cases),
    roles and the questions of coded segments (from the Cases) and the confidence (from the
    Descriptions); segment ids are derived again from transcript and position.

References
----------
.. [1] REFI-QDA Standard, QDA-XML 1.0 (2019). https://www.qdasoftware.org
"""

from __future__ import annotations

import io as _io
import logging
import re
import unicodedata
import uuid
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd

from themeassist import __version__, tables
from themeassist.errors import InputError
from themeassist.qda import core
from themeassist.qda.safezip import SafeZip

log = logging.getLogger(__name__)

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"

#: Namespace of every GUID themeassist derives (uuid5), fixed forever.
GUID_NAMESPACE = uuid.UUID("6f0d7b2e-3c1e-5b8a-9f0e-7468656d6561")

#: Names of the valence branches written on export (read back by ``core.VALENCE_NAMES``).
VALENCE_BRANCH = {"success": "Success", "challenge": "Challenge"}

#: Non-text source kinds, reported as skipped on import.
OTHER_SOURCES = {"PDFSource": "PDF", "PictureSource": "picture", "AudioSource": "audio",
                 "VideoSource": "video"}

SIDECAR_SEGMENTS = "themeassist/segments.csv"
SIDECAR_CONFIDENCE = "themeassist/confidence.csv"

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --------------------------------------------------------------------------- XML safety
def parse_xml(data: bytes, path: str | Path, what: str = "project.qde"):
    """Parse untrusted XML: DTDs, entity declarations and external references are refused.

    Raises
    ------
    InputError
        Malformed XML, or XML that declares a DTD or entities (never resolved).
    """
    import defusedxml
    from defusedxml import ElementTree as DET

    try:
        return DET.fromstring(data, forbid_dtd=True, forbid_entities=True,
                              forbid_external=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden,
            defusedxml.ExternalReferenceForbidden) as err:
        raise InputError(f"refusing {what}: it declares a DTD or entities ({type(err).__name__}); "
                         "entities are never resolved", path=path) from None
    except ET.ParseError as err:
        raise InputError(f"{what} is not well-formed XML: {err}", path=path) from None
    except (LookupError, ValueError) as err:  # e.g. encoding="Atf-8" in the declaration
        raise InputError(f"{what} is not readable XML: {err}", path=path) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(elem, name: str):
    return [c for c in elem if _local(c.tag) == name]


def _child(elem, name: str):
    for c in elem:
        if _local(c.tag) == name:
            return c
    return None


def _text_of(elem, name: str) -> str:
    c = _child(elem, name)
    return (c.text or "").strip() if c is not None else ""


# --------------------------------------------------------------------------- import
def codes_frame(codes_elem) -> pd.DataFrame:
    """The ``<Code>`` tree under a ``<Codes>`` element as a flat table (parents first).

    Walked iteratively, so a tree of any depth is read. ``flat`` marks a top-level code that
    themeassist wrote as a flat code (its GUID is :func:`flat_guid` of its name).
    """
    rows = []
    stack = [(c, "") for c in reversed(_children(codes_elem, "Code"))] if codes_elem is not None else []
    while stack:
        code, parent = stack.pop()
        guid = code.get("guid", "")
        name = code.get("name", "") or guid
        rows.append({"code_id": guid, "name": name, "parent_id": parent,
                     "codable": code.get("isCodable", "true").strip().lower() in ("true", "1"),
                     "description": _text_of(code, "Description"),
                     "flat": parent == "" and guid.strip("{}").lower() == flat_guid(name.strip())})
        stack.extend((c, guid) for c in reversed(_children(code, "Code")))
    return pd.DataFrame(rows, columns=["code_id", "name", "parent_id", "codable", "description",
                                       "flat"])


def _cases(root) -> tuple[dict[str, dict], set[str]]:
    """Selection GUID -> {speaker, role, question} from Cases/Variables, and speaker names."""
    var_names = {}
    vblock = _child(root, "Variables")
    for v in _children(vblock, "Variable") if vblock is not None else []:
        var_names[v.get("guid", "").strip("{}").lower()] = (v.get("name") or "").strip().lower()
    out: dict[str, dict] = {}
    speakers: set[str] = set()
    roles: dict[str, str] = {}
    cblock = _child(root, "Cases")
    for case in _children(cblock, "Case") if cblock is not None else []:
        values = {}
        for vv in _children(case, "VariableValue"):
            ref = _child(vv, "VariableRef")
            var = var_names.get((ref.get("targetGUID", "") if ref is not None else "")
                                .strip("{}").lower(), "")
            if var in CASE_VARIABLES:
                values[var] = _text_of(vv, "TextValue")
        if not values:
            continue
        if values.get("speaker"):
            speakers.add(values["speaker"])
            if values.get("role"):
                roles[values["speaker"]] = values["role"]
        for ref in _children(case, "SelectionRef"):
            out.setdefault(ref.get("targetGUID", "").strip("{}").lower(), {}).update(values)
    out[""] = {"_roles": roles}  # speaker -> role, for every paragraph of that speaker
    return out, speakers


def _confidence_note(text: str) -> dict:
    """``themeassist: confidence=0.83 needs_review=false`` -> {"confidence": 0.83, ...}."""
    out = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line.startswith(CONFIDENCE_NOTE):
            continue
        for part in line[len(CONFIDENCE_NOTE):].split():
            k, _, v = part.partition("=")
            if k == "confidence":
                try:
                    out["confidence"] = float(v)
                except ValueError:
                    pass
            elif k == "needs_review":
                out["needs_review"] = v.lower() == "true"
    return out


#: Parts of a project that themeassist's tables have no place for (reported on import).
NOT_IMPORTED = {"Notes": "notes (memos)", "Links": "links", "Sets": "sets", "Graphs": "graphs"}


def _not_kept(root, users: dict, coders: set[str], z: SafeZip) -> list[str]:
    out = []
    for tag, what in NOT_IMPORTED.items():
        block = _child(root, tag)
        if block is not None and len(block):
            names = [e.get("name") or e.get("guid", "") for e in block][:5]
            out.append(f"{len(block)} {what} not kept ({', '.join(names)}"
                       f"{', ...' if len(block) > 5 else ''})")
    vblock = _child(root, "Variables")
    other_vars = sorted({v.get("name", "") for v in (vblock if vblock is not None else [])}
                        - set(CASE_VARIABLES))
    cblock = _child(root, "Cases")
    if other_vars:
        out.append(f"variables other than {', '.join(CASE_VARIABLES)} not kept: "
                   f"{', '.join(other_vars[:5])}{', ...' if len(other_vars) > 5 else ''}")
    if cblock is not None and len(cblock) and other_vars:
        out.append(f"{len(cblock)} cases: only their speaker, role and question are read")
    unused = sorted(set(users.values()) - coders)
    if unused:
        out.append(f"users without any coding or selection not kept: {', '.join(unused)}")
    others = [n for n in z.names() if n.lower().startswith("sources/")
              and not n.lower().endswith(".txt")]
    if others:
        out.append(f"{len(others)} original source file(s) not carried (only the plain text "
                   f"is): {', '.join(sorted(others)[:5])}")
    for src in _child(root, "Sources") or []:
        if _text_of(src, "Description"):
            out.append(f"description of source {src.get('name')!r} not kept")
        if _children(src, "VariableValue"):
            out.append(f"variable values of source {src.get('name')!r} not kept")
    return out


def _decode(data: bytes, path, member: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"source {member!r} is not UTF-8 text ({err.reason} at byte {err.start})",
                         path=path) from None


def _source_member(z: SafeZip, ref: str) -> tuple[str | None, str]:
    """Archive member for a ``plainTextPath``; (None, reason) when it is outside the archive."""
    if ref.lower().startswith("internal://"):
        name = ref[len("internal://"):]
        for cand in (f"Sources/{name}", name):
            if z.find(cand):
                return z.find(cand), ""
        return None, f"internal source {name!r} missing from the archive"
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", ref) or ref.startswith(("/", "\\")) \
            or re.match(r"^[A-Za-z]:", ref):
        return None, "external source (absolute path or URL) is not read"
    rel = ref.replace("\\", "/")
    for cand in (rel, f"Sources/{rel}"):
        if z.find(cand):
            return z.find(cand), ""
    return None, f"relative source {ref!r} not in the archive"


def _user_names(root) -> dict[str, str]:
    users = {}
    block = _child(root, "Users")
    for u in _children(block, "User") if block is not None else []:
        guid = u.get("guid", "")
        users[guid.strip("{}").lower()] = u.get("name") or u.get("id") or guid
    return users


def _uniq(name: str, taken: set[str]) -> str:
    base, n = name, 2
    while name in taken:
        name = f"{base} ({n})"
        n += 1
    taken.add(name)
    return name


def read_qdpx(path: str | Path, *, offsets: str = "auto", segment_unit: str = "paragraph",
              coder_from: str = "coding", zip_limits: dict | None = None) -> dict:
    """Import a REFI-QDA project archive.

    Parameters
    ----------
    path : path
        The ``.qdpx`` file (checked by :class:`~themeassist.qda.safezip.SafeZip`).
    offsets : {"auto", "codepoint", "utf16", "utf8"}
        How the file counts characters; ``auto`` detects it (see
        :func:`~themeassist.qda.core.detect_offset_unit`).
    segment_unit : {"paragraph", "selection"}
        See :func:`~themeassist.qda.core.build_tables`.
    coder_from : {"coding", "selection"}
        Whose ``creatingUser`` is the coder: the ``<Coding>``'s (the standard's meaning: who
        applied the code) or the ``<PlainTextSelection>``'s (who made the selection). They can
        differ: in the NVivo 12.6 export ``oltas0517.qdpx`` every Coding names one user while
        297 of 303 selections name another. Both counts are in the summary
        (``users_by_coding``, ``users_by_selection``).

    Returns
    -------
    dict
        ``segments``, ``codings``, ``codebook``, ``report``, ``summary``.
    """
    path = Path(path)
    with SafeZip(path, **(zip_limits or {})) as z:
        qdes = sorted(n for n in z.names() if n.lower().endswith(".qde"))
        qde = z.find("project.qde") or (qdes[0] if len(qdes) == 1 else None)
        if qde is None:
            raise InputError("archive has no project.qde", path=path,
                             expected="a REFI-QDA project (.qdpx)", got=", ".join(z.names()[:5]))
        root = parse_xml(z.read(qde), path, qde)
        if _local(root.tag) != "Project":
            raise InputError("project.qde has no <Project> root", path=path,
                             expected="<Project>", got=_local(root.tag))
        users = _user_names(root)

        def coder_of(*elems) -> str:
            for e in elems:
                g = (e.get("creatingUser") or "").strip("{}").lower() if e is not None else ""
                if g:
                    return users.get(g, g)
            return "unknown"

        case_of, case_speakers = _cases(root)
        codes = core.map_code_tree(codes_frame(_child(_child(root, "CodeBook"), "Codes")
                                               if _child(root, "CodeBook") is not None else None))
        paths = dict(zip(codes["code_id"], codes["path"]))
        sources, sel_rows, skipped_sources = [], [], []
        taken: set[str] = set()
        src_block = _child(root, "Sources")
        sidecar = _read_sidecars(z, path)
        if coder_from not in ("coding", "selection"):
            raise InputError("unknown coder source", expected="coding or selection",
                             got=coder_from)
        by_coding, by_selection = {}, {}
        notes_conf = []
        for src in list(src_block) if src_block is not None else []:
            kind = _local(src.tag)
            name = src.get("name") or src.get("guid", "")
            guid = src.get("guid", "")
            skip = ""
            text = None
            if kind == "TextSource":
                content = _child(src, "PlainTextContent")
                if content is not None:
                    text = content.text or ""
                else:
                    member, skip = _source_member(z, src.get("plainTextPath") or "")
                    if member:
                        text = _decode(z.read(member), path, member)
                if text is not None and text.startswith("\ufeff"):
                    text = text[1:]
            else:
                skip = f"{OTHER_SOURCES.get(kind, kind)} source: only text sources are imported"
            if text is None:
                skipped_sources.append({"source": name, "kind": kind, "reason": skip})
            else:
                tid = _uniq(name.strip() or guid, taken)
                meta = sidecar["meta"].get(guid.lower(), {})
                spans = core.line_paragraphs(text)
                matched = _match_meta(meta, spans, text)
                spans = _strip_speakers(text, spans, matched, case_speakers)
                sources.append(core.Source(guid, tid, text, spans, matched))
            # source-level codings
            for coding in _children(src, "Coding"):
                ref = _child(coding, "CodeRef")
                sel_rows.append(_sel(name, guid, guid, coding, ref, paths, coder_of(coding, src),
                                     0, 0, "codes a whole source, not a selection"))
            for sel in src.iter():
                tag = _local(sel.tag)
                if not tag.endswith("Selection"):
                    continue
                why = skip
                if tag != "PlainTextSelection" or text is None:
                    why = skip or f"{tag} in a {OTHER_SOURCES.get(kind, kind)} source"
                note = _confidence_note(_text_of(sel, "Description"))
                for coding in _children(sel, "Coding"):
                    ref = _child(coding, "CodeRef")
                    a, b = coder_of(coding, sel, src), coder_of(sel, coding, src)
                    if note:
                        notes_conf.append({"coding_id": coding.get("guid", ""), **note})
                    by_coding[a] = by_coding.get(a, 0) + 1
                    by_selection[b] = by_selection.get(b, 0) + 1
                    row = _sel(name, guid, sel.get("guid", ""), coding, ref, paths,
                               a if coder_from == "coding" else b,
                               sel.get("startPosition", 0), sel.get("endPosition", 0), why)
                    row["selected_by"] = b if coder_from == "coding" else a
                    sel_rows.append(row)
        selections = pd.DataFrame(sel_rows, columns=["source", "source_id", "selection_id",
                                                     "coding_id", "code_id", "code", "coder",
                                                     "start", "end", "skip", "selected_by"])
        selections = _check_ints(selections, path)
        unit, scores = _choose_unit(offsets, sources, selections, sidecar)
        confidence = sidecar["confidence"]
        if confidence is None and notes_conf:
            confidence = pd.DataFrame(notes_conf).drop_duplicates("coding_id")
        coders = set(selections["coder"]) | set(selections["selected_by"])
        not_kept = _not_kept(root, users, coders, z)
        out = core.build_tables(sources, codes, selections, unit=unit,
                                segment_unit=segment_unit, confidence=confidence,
                                not_kept=not_kept)
    if len(case_of) > 1 and not sidecar["present"]:
        out["segments"] = _apply_cases(out["segments"], out["report"], case_of)
    out["summary"].update({
        "origin": root.get("origin", ""),
        "offset_scores": scores,
        "skipped_sources": skipped_sources,
        "users": sorted(set(users.values())),
        "coder_from": coder_from,
        "users_by_coding": dict(sorted(by_coding.items())),
        "users_by_selection": dict(sorted(by_selection.items())),
        "themeassist_sidecar": sidecar["present"],
    })
    return out


def _check_ints(selections: pd.DataFrame, path) -> pd.DataFrame:
    num = {}
    for col in ("start", "end"):
        num[col] = pd.to_numeric(selections[col], errors="coerce")
    bad = (num["start"].isna() | num["end"].isna()) & (selections["skip"] == "")
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise InputError("selection offsets are not whole numbers", path=path,
                         expected="startPosition/endPosition integers",
                         got=f"{selections['start'].iat[i]}..{selections['end'].iat[i]}")
    return selections.assign(start=num["start"].fillna(0).astype("int64"),
                             end=num["end"].fillna(0).astype("int64"))


def _sel(source, source_id, sel_id, coding, ref, paths, coder, start, end, skip) -> dict:
    code_id = ref.get("targetGUID", "") if ref is not None else ""
    if not skip and code_id not in paths:
        skip = "coding refers to a code that is not in the codebook"
    return {"source": source, "source_id": source_id, "selection_id": sel_id,
            "coding_id": coding.get("guid", ""), "code_id": code_id,
            "code": paths.get(code_id, code_id), "coder": coder, "start": start, "end": end,
            "skip": skip}


def _choose_unit(offsets, sources, selections, sidecar) -> tuple[str, dict]:
    if offsets != "auto":
        if offsets not in core.OFFSET_UNITS:
            raise InputError("unknown offset unit",
                             expected=f"auto or one of {sorted(core.OFFSET_UNITS)}", got=offsets)
        return offsets, {}
    if sidecar["unit"]:
        return sidecar["unit"], {}
    live = selections[selections["skip"] == ""]
    unit, scores = core.detect_offset_unit({s.source_id: s.text for s in sources}, live)
    if scores and len(set(scores.values())) > 1:
        log.info("offsets counted as %s (word-boundary scores %s)", unit, scores)
    return unit, scores


def _read_sidecars(z: SafeZip, path) -> dict:
    """themeassist's own sidecars, when the archive was written by themeassist."""
    out = {"present": False, "meta": {}, "confidence": None, "unit": ""}
    if z.find(SIDECAR_SEGMENTS):
        out["present"] = True
        seg = pd.read_csv(_io.BytesIO(z.read(SIDECAR_SEGMENTS)), dtype=str,
                          keep_default_na=False)
        for guid, grp in seg.groupby("source_guid", sort=False):
            out["meta"][guid.lower()] = grp.to_dict("records")
        out["unit"] = seg["offset_unit"].iat[0] if "offset_unit" in seg and len(seg) else ""
    if z.find(SIDECAR_CONFIDENCE):
        conf = pd.read_csv(_io.BytesIO(z.read(SIDECAR_CONFIDENCE)), dtype=str,
                           keep_default_na=False)
        conf = conf.rename(columns={"coding_guid": "coding_id"})
        keep = [c for c in ("coding_id", "confidence", "needs_review")
                if c in conf and (c == "coding_id" or (conf[c] != "").any())]
        conf = conf[keep]
        if "confidence" in conf:
            conf["confidence"] = pd.to_numeric(conf["confidence"].replace("", None),
                                               errors="coerce")
        out["confidence"] = conf
    return out


def _strip_speakers(text: str, spans, meta: dict[int, dict], speakers: set[str]):
    """Drop a ``Speaker: `` prefix from paragraphs (as themeassist writes turns): the speaker
    goes to the paragraph's metadata, its text starts after the prefix."""
    if not meta and not speakers:
        return spans
    names = sorted(speakers, key=len, reverse=True)
    out = []
    for i, (a, b) in enumerate(spans):
        cands = [meta[i]["speaker"]] if meta.get(i, {}).get("speaker") else names
        for sp in cands:
            prefix = f"{sp}: "
            if text.startswith(prefix, a) and a + len(prefix) < b:
                a += len(prefix)
                meta.setdefault(i, {}).setdefault("speaker", sp)
                break
        out.append((a, b))
    return out


def _apply_cases(segments: pd.DataFrame, report: pd.DataFrame, case_of: dict) -> pd.DataFrame:
    """Fill speaker, role and question of coded segments from the Cases (no sidecar)."""
    seg = segments.copy()
    for col in CASE_VARIABLES:
        if col not in seg:
            seg[col] = ""
    roles = case_of.get("", {}).get("_roles", {})
    if roles:
        seg["role"] = [r if r else roles.get(sp, "") for r, sp in zip(seg["role"], seg["speaker"])]
    where = {sid: i for i, sid in enumerate(seg["segment_id"])}
    for sel_id, segs in zip(report["selection_id"], report["segments"]):
        values = case_of.get(str(sel_id).strip("{}").lower())
        if not values or not segs or not str(sel_id).strip():
            continue
        for sid in segs.split(";"):
            i = where.get(sid)
            for col, val in values.items():
                if i is not None and val and seg.at[i, col] in ("", None):
                    seg.at[i, col] = val
    return tables.validate_segments(seg)


def _match_meta(rows: list[dict], spans, text) -> dict[int, dict]:
    """Paragraph index -> sidecar metadata, only when the sidecar matches the paragraphs."""
    if not rows or len(rows) != len(spans):
        if rows:
            log.warning("themeassist sidecar does not match the source's paragraphs; ignored")
        return {}
    meta = {}
    cols = ("segment_id", "transcript_id", "position", "speaker", "role", "question",
            "start", "end")
    for i, row in enumerate(rows):
        meta[i] = {c: row[c] for c in cols if c in row and row[c] != ""}
        if "position" in meta[i]:
            meta[i]["position"] = int(meta[i]["position"])
    return meta


def read_qdc(path: str | Path) -> dict:
    """Import a REFI-QDA codebook (``.qdc``): the codebook table only.

    Returns
    -------
    dict
        ``codebook`` and ``summary``; ``segments``, ``codings`` and ``report`` are empty.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    root = parse_xml(data, path, path.name)
    if _local(root.tag) != "CodeBook":
        raise InputError("not a REFI-QDA codebook", path=path, expected="<CodeBook> root",
                         got=_local(root.tag))
    codes = core.map_code_tree(codes_frame(_child(root, "Codes")))
    not_kept = []
    sets = _child(root, "Sets")
    if sets is not None and len(sets):
        names = [e.get("name") or e.get("guid", "") for e in sets][:5]
        not_kept.append(f"{len(sets)} sets not kept ({', '.join(names)}"
                        f"{', ...' if len(sets) > 5 else ''})")
    out = core.build_tables([], codes, pd.DataFrame(
        columns=["source", "source_id", "selection_id", "coding_id", "code_id", "code",
                 "coder", "start", "end", "skip"]), not_kept=not_kept)
    out["summary"]["origin"] = root.get("origin", "")
    return out


# --------------------------------------------------------------------------- export
def stable_guid(*parts: str) -> str:
    """A GUID derived from stable keys (UUID-5), so the same input gives the same file.

    Examples
    --------
    >>> stable_guid("user", "ann") == stable_guid("user", "ann")
    True
    >>> len(stable_guid("code", "Funding"))
    36
    """
    return str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join(parts)))


def _clean(s: str) -> str:
    return _XML_BAD.sub("", unicodedata.normalize("NFC", str(s)))


def paragraph_text(text: str) -> str:
    """A segment's text as written into the exported plain text: NFC, on one line.

    Line breaks inside a segment would split it into two paragraphs on re-import, so they
    become single spaces; a byte-order mark (U+FEFF) left in the text is dropped.

    Examples
    --------
    >>> paragraph_text("Cafe\\u0301\\r\\nsecond line")
    'Café second line'
    """
    text = unicodedata.normalize("NFC", str(text)).replace("\ufeff", "").strip()
    return re.sub(r"\s*[\r\n\u2028\u2029]+\s*", " ", _XML_BAD.sub("", text))


#: Export targets: how each tool counts ``startPosition``/``endPosition`` and ends lines.
#: Evidence: the REFI-QDA standard (QDA-XML 1.0) counts characters, which themeassist reads
#: as Unicode code points; NVivo 12.6's own export ``oltas0517.qdpx`` (../shared/data/
#: nvivo-qdpx: 1,786 characters outside the BMP, 30,545 CRLF) puts 603 of its 606 selection
#: ends on word boundaries when counted in UTF-16 code units over the CRLF text, 271 in code
#: points (``scripts/measure_qdpx_offsets.py``); QualCoder's importer (``refi.py``,
#: ``load_codings_for_text``) slices the Python string read from the UTF-8 file with the
#: offsets as they are (code points), and notes that ATLAS.ti counts a CRLF as one
#: character, so ATLAS.ti gets LF line ends. MAXQDA was not available to test: it gets the
#: standard's code points. The units differ only on characters outside the BMP.
TARGETS = {
    "generic": {"offsets": "codepoint", "newline": "\n"},
    "qualcoder": {"offsets": "codepoint", "newline": "\n"},
    "atlasti": {"offsets": "codepoint", "newline": "\n"},
    "maxqda": {"offsets": "codepoint", "newline": "\n"},
    "nvivo": {"offsets": "utf16", "newline": "\r\n"},
}

#: Prefix of the namespaced line themeassist writes in a machine selection's Description.
CONFIDENCE_NOTE = "themeassist:"

#: Names of the variables written for speaker, role and question (Cases/Variables).
CASE_VARIABLES = ("speaker", "role", "question")


class ExportWarning(UserWarning):
    """Something an export cannot carry exactly (the message says what)."""


def flat_guid(theme: str) -> str:
    """GUID of a flat code (its own theme and subtheme): marks it flat for a re-import even
    after a QDA tool has added sub-codes below it."""
    return stable_guid("flat-code", theme)


def _code_tree(codebook: pd.DataFrame, warnings_: list[str] | None = None,
               theme_level=None) -> tuple[dict, dict]:
    """Nested dict tree of code nodes, and code triple -> node GUID."""
    tree: dict = {}
    guids: dict[tuple, str] = {}
    warn = warnings_ if warnings_ is not None else []

    def node(parent: dict, name: str, key: tuple, guid: str | None = None) -> dict:
        if name not in parent:
            parent[name] = {"guid": guid or stable_guid("code", *key), "children": {},
                            "codable": False, "description": ""}
        return parent[name]

    col = lambda c, default: codebook[c] if c in codebook else [default] * len(codebook)
    per_theme = codebook["theme"].value_counts()
    false = ("false", "0", "no")

    def theme_node(t: str, tc, td, guid=None) -> dict:
        th = node(tree, t, (t,), guid)
        if not th.get("_set"):
            th["codable"] = str(tc).strip().lower() not in false
            th["_set"] = True
        if td and not th["description"]:
            th["description"] = str(td)
        guids.setdefault((t, "", ""), th["guid"])
        return th

    for t, v, s, d, qp, qc, td, tc in zip(
            codebook["theme"], codebook["valence"], codebook["subtheme"],
            codebook["description"], col("qda_path", ""), col("qda_codable", ""),
            col("theme_description", ""), col("theme_codable", "")):
        codable = str(qc).strip().lower() not in false
        if v == "" and s == t and per_theme[t] == 1:  # a flat code: one top-level code
            th = theme_node(t, qc, "", flat_guid(t))
            th["description"] = d
            th["codable"] = codable
            guids[(t, v, s)] = th["guid"]
            continue
        branch = VALENCE_BRANCH.get(v, v)
        if v and t.casefold() in core.VALENCE_NAMES:
            parts = [branch, t, *s.split(core.PATH_SEP)]  # valence above a valence-named theme
        else:
            parts = [t, *([branch] if v else []), *s.split(core.PATH_SEP)]
        original = [x.strip() for x in str(qp or "").split(core.PATH_SEP)]
        if len(original) > 1 and core.split_path(original) == (t, v, s):
            parts = original  # keep the tree as the QDA tool had it (e.g. "Challenges")
        elif core.split_path(parts) != (t, v, s):
            warn.append(f"code {core.PATH_SEP.join(parts)!r} will read back as "
                        f"{core.split_path(parts)!r}, not {(t, v, s)!r}: a valence word "
                        "(success/challenge) as a branch name is read as the valence")
        if parts[0] == t:
            cur = theme_node(t, tc, td)
        else:
            cur = node(tree, parts[0], (parts[0],))
        key = (parts[0],)
        for part in parts[1:]:
            key = (*key, part)
            cur = node(cur["children"], part, key)
        cur["codable"] = codable
        cur["description"] = d
        guids[(t, v, s)] = cur["guid"]
    for t in dict.fromkeys([] if theme_level is None else list(theme_level)):
        if (t, "", "") not in guids:
            theme_node(t, True, "")
    return tree, guids


def _codes_xml(parent, tree: dict, ns: str) -> None:
    """Append the code tree under ``parent`` (iteratively: any depth)."""
    stack = [(parent, iter(tree.items()))]
    while stack:
        elem, items = stack[-1]
        item = next(items, None)
        if item is None:
            stack.pop()
            continue
        name, n = item
        e = ET.SubElement(elem, f"{{{ns}}}Code", {"guid": n["guid"], "name": _clean(name),
                                                 "isCodable": "true" if n["codable"] else "false"})
        if n["description"]:
            ET.SubElement(e, f"{{{ns}}}Description").text = _clean(n["description"])
        if n["children"]:
            stack.append((e, iter(n["children"].items())))


def _xml_bytes(root) -> bytes:
    """Serialise an element tree, indented, without recursion (trees of any depth)."""
    from xml.sax.saxutils import escape, quoteattr

    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    tag = lambda t: t.split("}", 1)[1] if t.startswith("{") else t
    out: list[str] = []
    stack = [(root, 0, False)]
    while stack:
        elem, depth, closing = stack.pop()
        pad = "  " * min(depth, 32)  # deep trees: bounded indentation
        if closing:
            out.append(f"{pad}</{tag(elem.tag)}>\n")
            continue
        attrs = "".join(f" {k}={quoteattr(str(v))}" for k, v in elem.attrib.items())
        if elem is root and ns:
            attrs = f' xmlns="{ns}"' + attrs
        children = list(elem)
        text = elem.text if elem.text and elem.text.strip() else None
        if not children and text is None:
            out.append(f"{pad}<{tag(elem.tag)}{attrs} />\n")
        elif not children:
            body = escape(text, {"\r": "&#13;"})
            out.append(f"{pad}<{tag(elem.tag)}{attrs}>{body}</{tag(elem.tag)}>\n")
        else:
            out.append(f"{pad}<{tag(elem.tag)}{attrs}>\n")
            stack.append((elem, depth, True))
            stack.extend((c, depth + 1, False) for c in reversed(children))
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + "".join(out)).encode("utf-8")


def codebook_bytes(codebook: pd.DataFrame) -> bytes:
    """A ``.qdc`` codebook (valid against ``Codebook.xsd``), byte-identical for the same input.

    Examples
    --------
    >>> cb = tables.validate_codebook(pd.DataFrame({"theme": ["Funding"],
    ...     "valence": ["challenge"], "subtheme": ["Short-term funding"]}))
    >>> b"Short-term funding" in codebook_bytes(cb)
    True
    """
    tree, _ = _code_tree(tables.validate_codebook(codebook))
    root = ET.Element(f"{{{CODEBOOK_NS}}}CodeBook", {"origin": f"themeassist {__version__}"})
    _codes_xml(ET.SubElement(root, f"{{{CODEBOOK_NS}}}Codes"), tree, CODEBOOK_NS)
    return _xml_bytes(root)


def project_bytes(segments: pd.DataFrame, codings: pd.DataFrame, codebook: pd.DataFrame, *,
                  name: str = "themeassist export", offsets: str | None = None,
                  target: str = "generic") -> bytes:
    """A ``.qdpx`` project archive (see :func:`export_project`), without the warnings."""
    return export_project(segments, codings, codebook, name=name, offsets=offsets,
                          target=target)[0]


def export_project(segments: pd.DataFrame, codings: pd.DataFrame, codebook: pd.DataFrame, *,
                   name: str = "themeassist export", offsets: str | None = None,
                   target: str = "generic") -> tuple[bytes, list[str]]:
    """A ``.qdpx`` project archive (``project.qde`` valid against ``Project.xsd``).

    Parameters
    ----------
    segments, codings, codebook : DataFrame
        Validated tables (DESIGN.md section 3); every coding's code must be in the codebook.
    name : str
        Project name.
    target : str
        The tool that will read the file (a key of :data:`TARGETS`): sets how offsets count
        characters and how lines end.
    offsets : {"codepoint", "utf16"}, optional
        Overrides the target's offset unit.

    Returns
    -------
    bytes
        The ZIP archive; the same tables give the same bytes.
    list of str
        What the file cannot carry exactly (empty when the export is lossless).

    Notes
    -----
    Each coding is its own ``PlainTextSelection`` holding one ``Coding`` (as NVivo writes
    them: readers written for NVivo read one Coding per selection). A coding with a ``span``
    column (a partial selection read from a QDA tool) selects only that part of its
    paragraph. A segment with a speaker is written as a ``Speaker: text`` turn, and the
    selection covers the whole turn; speakers and questions are also Cases with the
    variables ``speaker``, ``role`` and ``question`` referring to the selections, so a tool
    that drops the ``themeassist/`` sidecar keeps them. A machine coding's confidence is in
    its selection's Description (``themeassist: confidence=0.83 needs_review=false``).
    """
    if target not in TARGETS:
        raise InputError("unknown export target", expected=f"one of {', '.join(TARGETS)}",
                         got=target)
    offsets = offsets or TARGETS[target]["offsets"]
    newline = TARGETS[target]["newline"]
    if offsets not in ("codepoint", "utf16"):
        raise InputError("unknown offset unit for export", expected="codepoint or utf16",
                         got=offsets)
    warnings_: list[str] = []
    segments = tables.validate_segments(segments)
    codebook = tables.validate_codebook(codebook)
    codings = tables.validate_codings(codings, codebook, segments)
    q = lambda tag: f"{{{PROJECT_NS}}}{tag}"

    selectors = codings["selected_by"] if "selected_by" in codings else pd.Series(dtype=str)
    users_all = sorted(set(codings["coder"]) | (set(selectors) - {""}))
    user_guid = {c: stable_guid("user", c) for c in users_all}
    theme_level = codings.loc[codings["subtheme"] == "", "theme"]
    tree, code_guid = _code_tree(codebook, warnings_, theme_level)

    root = ET.Element(q("Project"), {"name": _clean(name), "origin": f"themeassist {__version__}"})
    if users_all:
        users = ET.SubElement(root, q("Users"))
        for c in users_all:
            ET.SubElement(users, q("User"), {"guid": user_guid[c], "name": _clean(c)})
    cb = ET.SubElement(root, q("CodeBook"))
    _codes_xml(ET.SubElement(cb, q("Codes")), tree, PROJECT_NS)

    files: dict[str, bytes] = {}
    seg_rows, conf_rows = [], []
    cases: dict[tuple[str, str], dict] = {}  # (variable, value) -> {"role":..., "sels": [...]}
    by_seg = {sid: grp for sid, grp in codings.groupby("segment_id", sort=False)}
    order = {t: i for i, t in enumerate(dict.fromkeys(segments["transcript_id"]))}
    ordered = segments.assign(_o=segments["transcript_id"].map(order)).sort_values(
        ["_o", "position"], kind="stable")
    sources_el = ET.SubElement(root, q("Sources"))
    for _, grp in ordered.groupby("_o", sort=True):
        tid = grp["transcript_id"].iat[0]
        sguid = stable_guid("source", tid)
        paras = [paragraph_text(t) for t in grp["text"]]
        speakers = [paragraph_text(s) if isinstance(s, str) else "" for s in grp["speaker"]]
        lines = [f"{sp}: {p}" if sp else p for sp, p in zip(speakers, paras)]
        text = newline.join(lines) + newline
        files[f"Sources/{sguid}.txt"] = text.encode("utf-8")
        src = ET.SubElement(sources_el, q("TextSource"), {
            "guid": sguid, "name": _clean(tid), "plainTextPath": f"internal://{sguid}.txt"})
        bounds = core.unit_boundaries(text, offsets)
        pos = 0
        for para, line, seg in zip(paras, lines, grp.to_dict("records")):
            la, lb = pos, pos + len(line)
            a = lb - len(para)  # the segment's own text starts after "Speaker: "
            pos = lb + len(newline)
            seg_rows.append({**{c: seg[c] for c in tables.SEGMENT_COLUMNS},
                             "source_guid": sguid, "start_position": int(bounds[a]),
                             "end_position": int(bounds[lb]), "offset_unit": offsets})
            coded = by_seg.get(seg["segment_id"])
            if coded is None:
                continue
            for row in coded.sort_values(["coder", *tables.CODE_KEY]).to_dict("records"):
                coder = row["coder"]
                triple = (row["theme"], row["valence"], row["subtheme"])
                pieces = core.parse_span(row.get("span", ""), len(para))
                whole = pieces == [(0, len(para))]
                by = str(row.get("selected_by") or "") or coder
                for k, (x, y) in enumerate(pieces):
                    sa, sb = (la, lb) if whole else (a + x, a + y)
                    key = (seg["segment_id"], coder, *triple) + ((str(k),) if k else ())
                    sel_guid = stable_guid("selection", *key)
                    cguid = stable_guid("coding", *key)
                    sel = ET.SubElement(src, q("PlainTextSelection"), {
                        "guid": sel_guid, "name": _clean(text[sa:sb][:60]),
                        "startPosition": str(int(bounds[sa])),
                        "endPosition": str(int(bounds[sb])), "creatingUser": user_guid[by]})
                    conf = row.get("confidence")
                    if conf is not None and pd.notna(conf):
                        note = f"{CONFIDENCE_NOTE} confidence={float(conf):.6g}"
                        if "needs_review" in row and pd.notna(row["needs_review"]):
                            note += f" needs_review={str(bool(row['needs_review'])).lower()}"
                        ET.SubElement(sel, q("Description")).text = note
                        conf_rows.append({"coding_guid": cguid, "selection_guid": sel_guid,
                                          "segment_id": seg["segment_id"], "coder": coder,
                                          "theme": triple[0], "valence": triple[1],
                                          "subtheme": triple[2], "confidence": conf,
                                          **({"needs_review": row["needs_review"]}
                                             if "needs_review" in row else {})})
                    coding = ET.SubElement(sel, q("Coding"), {"guid": cguid,
                                                              "creatingUser": user_guid[coder]})
                    ET.SubElement(coding, q("CodeRef"), {"targetGUID": code_guid[triple]})
                    for var in CASE_VARIABLES:
                        val = seg.get(var)
                        if isinstance(val, str) and val.strip():
                            c = cases.setdefault((var, val.strip()), {"role": "", "sels": []})
                            c["sels"].append(sel_guid)
                            if var == "speaker" and isinstance(seg.get("role"), str):
                                c["role"] = c["role"] or seg["role"].strip()
    if cases:
        _cases_xml(root, cases, q, sources_el)
    members = {"project.qde": _xml_bytes(root)}
    members.update(sorted(files.items()))
    members[SIDECAR_SEGMENTS] = pd.DataFrame(seg_rows).to_csv(
        index=False, lineterminator="\n").encode("utf-8")
    if conf_rows:
        members[SIDECAR_CONFIDENCE] = pd.DataFrame(conf_rows).to_csv(
            index=False, lineterminator="\n").encode("utf-8")
    return deterministic_zip(members), warnings_


def _cases_xml(root, cases: dict, q, before) -> None:
    """Variables speaker/role/question and one Case per speaker and per question."""
    var_guid = {v: stable_guid("variable", v) for v in CASE_VARIABLES}
    used = sorted({v for v, _ in cases} | ({"role"} if any(c["role"] for c in cases.values())
                                           else set()), key=CASE_VARIABLES.index)
    cases_el = ET.Element(q("Cases"))
    for (var, val), c in sorted(cases.items()):
        case = ET.SubElement(cases_el, q("Case"), {"guid": stable_guid("case", var, val),
                                                   "name": _clean(val if var == "speaker"
                                                                  else f"{var}: {val}")})
        values = [(var, val)] + ([("role", c["role"])] if var == "speaker" and c["role"] else [])
        for vname, vval in values:
            vv = ET.SubElement(case, q("VariableValue"))
            ET.SubElement(vv, q("VariableRef"), {"targetGUID": var_guid[vname]})
            ET.SubElement(vv, q("TextValue")).text = _clean(vval)
        for g in dict.fromkeys(c["sels"]):
            ET.SubElement(case, q("SelectionRef"), {"targetGUID": g})
    variables = ET.Element(q("Variables"))
    for v in used:
        ET.SubElement(variables, q("Variable"), {"guid": var_guid[v], "name": v,
                                                 "typeOfVariable": "Text"})
    # schema order: Users, CodeBook, Variables, Cases, Sources, ...
    idx = list(root).index(before)
    root.insert(idx, cases_el)
    root.insert(idx, variables)


def deterministic_zip(members: dict[str, bytes]) -> bytes:
    """A ZIP archive of ``members`` in the given order, with fixed dates and permissions."""
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, data, compresslevel=9)
    return buf.getvalue()


# --------------------------------------------------------------------------- validation
def schema_path(kind: str) -> Path:
    """Path of the vendored ``Project.xsd`` (``kind="project"``) or ``Codebook.xsd``."""
    from themeassist.io import data_path

    return data_path("schemas", {"project": "Project.xsd", "codebook": "Codebook.xsd"}[kind])


def validate_xml(data: bytes, kind: str) -> list[str]:
    """Errors of ``data`` against the vendored REFI-QDA schema (empty list when valid).

    Needs ``lxml`` (a development dependency); used by the tests on every file written.
    """
    try:
        from lxml import etree
    except ImportError:  # pragma: no cover - lxml is a dev dependency
        raise InputError("schema validation needs the 'lxml' package (pip install lxml)") from None
    schema = etree.XMLSchema(etree.parse(str(schema_path(kind))))
    # huge_tree: code trees deeper than libxml2's default 256 levels (our own output)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=True)
    doc = etree.fromstring(data, parser)
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
