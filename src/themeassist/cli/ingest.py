"""`themeassist ingest`: transcripts -> a segments table (thin layer over themeassist.ingest)."""

from __future__ import annotations

from pathlib import Path

import typer

from themeassist.cli._app import app
from themeassist.cli._util import check_not_input, echo, force_option, user_errors, warn

#: The suffixes of ``themeassist.ingest.READERS``, spelled out here so that ``--help`` does
#: not import pandas; tests/cli/test_ingest.py checks that the two agree.
SUFFIXES = (".csv", ".docx", ".txt", ".vtt", ".xlsx")

#: Summary columns shown on the terminal.
SHOWN = ("transcript_id", "format", "segments", "participant_segments", "speakers",
         "questions_found", "question_ids", "segments_without_question")


def manifest_path(out: Path) -> Path:
    """Where the manifest of a segments table goes: ``segments.csv.manifest.json``."""
    return out.with_name(out.name + ".manifest.json")


@app.command("ingest")
def ingest_cli(
    files: list[str] = typer.Argument(
        ..., metavar="FILES...",
        help=f"Transcripts ({', '.join(SUFFIXES)}), folders of them, or glob patterns."),
    out: Path = typer.Option(..., "--out", "-o", dir_okay=False,
                             help="Segments table to write: .csv, .parquet or .xlsx."),
    questions: Path = typer.Option(None, "--questions", "-q", dir_okay=False,
                                   help="questions.yaml: the topic guide (id, text, aliases)."),
    facilitator: list[str] = typer.Option(
        None, "--facilitator", "-f", help="A facilitator's name as written in the transcripts "
                                          "(repeat for several; case-insensitive)."),
    facilitator_pattern: str = typer.Option(
        None, "--facilitator-pattern",
        help="Regular expression on speaker names marking facilitators "
             "[default: ^(facilitator|moderator|interviewer)\\b]."),
    question_similarity: float = typer.Option(
        None, "--question-similarity", min=0, max=1,
        help="Minimum fuzzy similarity (0-1) for a facilitator turn to ask a question "
             "[default: 0.6]."),
    column: list[str] = typer.Option(
        None, "--column", help="Column mapping for CSV/XLSX transcripts, OURS=THEIRS, e.g. "
                               "--column text=Utterance (repeat for several)."),
    unlabelled_speaker: str = typer.Option(
        None, "--unlabelled-speaker",
        help="Speaker of lines that name none, when only one party is labelled (e.g. "
             "--unlabelled-speaker Participant for think-aloud sessions with MODERATOR: "
             "lines). Default: such lines continue the current turn."),
    pseudonymise: bool = typer.Option(
        False, "--pseudonymise", help="Replace speaker names by P01, P02, ... (F01, ... for "
                                      "facilitators), in order of first appearance."),
    name_map: Path = typer.Option(
        None, "--name-map", dir_okay=False,
        help="With --pseudonymise: also write the name -> pseudonym map to this CSV. "
             "Keep it apart from the data."),
    force: bool = force_option(),
) -> None:
    """Read transcripts into a segments table: one row per paragraph, with its transcript,
    position, speaker, role and question.

    A turn starts at 'Name: text', '[00:01:02] Name: text', 'Name (00:01:02): text',
    'Name (Guest): text' ('Name (Facilitator):' marks a facilitator) or a name alone on
    its line; WebVTT voice tags and Zoom 'Name:' cues; Word transcripts from
    Teams or transcription services; CSV/XLSX with text and speaker columns. Writes
    OUT.manifest.json beside the table and prints a summary per transcript.

    Example: themeassist ingest transcripts/ --questions questions.yaml
    --facilitator "Jane Smith" --out segments.csv
    """
    with user_errors(outputs=[out, name_map], command="ingest",
                     inputs=[*(Path(f) for f in files), questions]):
        from pydantic import ValidationError

        from themeassist import io
        from themeassist.config import IngestSettings, load_questions
        from themeassist.errors import ConfigError, InputError, OutputExistsError
        from themeassist.ingest import METHODS, READERS, expand_paths, ingest_files

        if out.suffix.lower() not in io.TABLE_SUFFIXES:
            raise InputError("unknown table format for --out", path=out,
                             expected=f"one of {', '.join(io.TABLE_SUFFIXES)}", got=out.suffix)
        if name_map is not None and not pseudonymise:
            raise ConfigError("--name-map needs --pseudonymise")
        planned = [out, manifest_path(out)] + ([name_map] if name_map else [])
        for p in planned:
            if p.exists() and not force:
                raise OutputExistsError(f"{p} exists; use --force to overwrite it")
        settings = {"pseudonymise": pseudonymise}
        if facilitator:
            settings["facilitators"] = list(facilitator)
        if facilitator_pattern is not None:
            settings["facilitator_pattern"] = facilitator_pattern or None
        if unlabelled_speaker:
            settings["unlabelled_speaker"] = unlabelled_speaker
        if question_similarity is not None:
            settings["question_similarity"] = question_similarity
        if column:
            pairs = [c.split("=", 1) for c in column]
            bad = [c for c, p in zip(column, pairs) if len(p) != 2 or not all(x.strip() for x in p)]
            if bad:
                raise ConfigError(f"--column {bad[0]!r}: expected OURS=THEIRS, e.g. text=Utterance")
            settings["columns"] = {k.strip(): v.strip() for k, v in pairs}
        try:
            ingest = IngestSettings(**settings)
        except ValidationError as err:
            e = err.errors()[0]
            raise ConfigError(f"ingest.{'.'.join(map(str, e['loc']))}: {e['msg']}") from None
        guide = load_questions(questions) if questions is not None else []
        paths = expand_paths(files)
        check_not_input([out, manifest_path(out), name_map], paths)
        segments, summary = ingest_files(paths, guide, ingest)

        manifest = io.manifest(
            "ingest",
            inputs={"transcripts": paths, "questions": questions},
            # With --pseudonymise the manifest must not name anyone either.
            settings=ingest.model_dump() | ({"facilitators": f"{len(ingest.facilitators)} names"}
                                            if pseudonymise else {}),
            outputs=[p for p in planned],
            extra={"methods": METHODS, "readers": sorted(READERS),
                   "segments": len(segments), "transcripts": len(summary),
                   "warnings": summary.attrs.get("warnings", [])},
        )
        io.write_table(segments, out, force=force)
        io.write_json(manifest, manifest_path(out), force=force)
        if name_map is not None:
            io.write_table(summary.attrs["name_map"], name_map, force=force)

    typer.echo(summary[list(SHOWN)].to_string(index=False))
    for message in summary.attrs.get("warnings", []):
        warn(message)
    echo(f"wrote {len(segments)} segments from {len(summary)} transcripts to {out}"
         + (f" (name map: {name_map})" if name_map else ""))
