"""ingest_files: ids, positions, roles, summary, pseudonyms, registry."""

from pathlib import Path

import pytest

from themeassist import tables
from themeassist.config import IngestSettings
from themeassist.errors import ConfigError, InputError
from themeassist.ingest import READERS, expand_paths, ingest_files, pseudonymise, read_transcript

try:
    from tests.conftest import shared
except ImportError:  # pragma: no cover - depends on how pytest was started
    from conftest import shared

FIX = Path(__file__).parent / "fixtures" / "ingest"
FILES = [FIX / "fg_questions.txt", FIX / "teams.vtt", FIX / "zoom.vtt", FIX / "transcript.csv"]


def test_segments_validate_and_ids_derive_from_stem_and_position():
    seg, summary = ingest_files(FILES)
    assert tables.validate_segments(seg).equals(seg)
    for tid, group in seg.groupby("transcript_id", sort=False):
        assert group["position"].tolist() == list(range(len(group)))
        assert group["segment_id"].tolist() == [tables.make_segment_id(tid, p)
                                                for p in group["position"]]
    assert summary["transcript_id"].tolist() == ["fg_questions", "teams", "zoom", "fg1", "fg2"]
    assert summary["segments"].sum() == len(seg)


def test_same_inputs_same_table():
    a, _ = ingest_files(FILES, settings=IngestSettings(pseudonymise=True))
    b, _ = ingest_files(FILES, settings=IngestSettings(pseudonymise=True))
    assert a.equals(b)


def test_roles_from_names_and_pattern():
    seg, _ = ingest_files([FIX / "teams.vtt"], settings=IngestSettings(facilitators=["ann lee"]))
    assert seg["role"].tolist() == ["facilitator", "facilitator", "participant"]
    seg, _ = ingest_files([FIX / "teams.vtt"], settings=IngestSettings(facilitator_pattern=None))
    assert set(seg["role"]) == {"participant"}


def test_summary_counts():
    _, summary = ingest_files([FIX / "fg_questions.txt"])
    row = summary.iloc[0].to_dict()
    assert row["segments"] == 14 and row["participant_segments"] == 7
    assert row["speakers"] == 4 and row["format"] == "txt" and row["encoding"] == "utf-8"
    assert row["skipped_lines"] == 2


def test_pseudonyms_in_order_of_first_appearance_across_files():
    settings = IngestSettings(pseudonymise=True)
    seg, summary = ingest_files([FIX / "teams.vtt", FIX / "zoom.vtt"], settings=settings)
    assert seg["speaker"].tolist() == ["F01", "P01", "P02", "F02", "P03", "F02"]
    names = summary.attrs["name_map"]
    assert names.values.tolist() == [["Moderator", "F01", "facilitator"],
                                     ["Ann Lee", "P01", "participant"],
                                     ["Ben", "P02", "participant"],
                                     ["Facilitator", "F02", "facilitator"],
                                     ["Jo Smith", "P03", "participant"]]
    # Another order of files gives other ids, by design (first appearance).
    seg2, _ = ingest_files([FIX / "zoom.vtt", FIX / "teams.vtt"], settings=settings)
    assert seg2["speaker"].tolist()[:3] == ["F01", "P01", "F01"]


def test_pseudonymise_does_not_touch_its_argument():
    seg, _ = ingest_files([FIX / "teams.vtt"])
    before = seg.copy()
    out, _ = pseudonymise(seg)
    assert seg.equals(before) and not out["speaker"].equals(seg["speaker"])


def test_two_files_with_one_stem_are_refused(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "fg.txt").write_text("Ann: Hi.\n", encoding="utf-8")
    with pytest.raises(InputError, match="two transcripts named 'fg'"):
        ingest_files([tmp_path / "a" / "fg.txt", tmp_path / "b" / "fg.txt"])


def test_unknown_extension_lists_the_registry(tmp_path):
    with pytest.raises(InputError) as err:
        read_transcript(tmp_path / "notes.pdf")
    assert all(s in str(err.value) for s in READERS)


def test_bad_facilitator_pattern_is_a_config_error():
    with pytest.raises(ConfigError, match="facilitator_pattern"):
        ingest_files([FIX / "teams.vtt"], settings=IngestSettings(facilitator_pattern="(("))


def test_expand_paths_folders_globs_and_duplicates():
    paths = expand_paths([FIX / "zoom.vtt", FIX, str(FIX / "*.vtt")])
    assert paths[0].name == "zoom.vtt"
    names = [p.name for p in paths]
    assert len(names) == len(set(names))          # zoom.vtt is read once
    assert "questions.yaml" not in names and "teams.vtt" in names
    assert names[1:] == sorted(names[1:])         # the folder's files, sorted
    with pytest.raises(InputError, match="no file matches"):
        expand_paths([str(FIX / "*.nothing")])
    with pytest.raises(InputError, match="file not found"):
        expand_paths([FIX / "missing.txt"])


@pytest.mark.parametrize("suffix", sorted(READERS))
def test_every_reader_returns_the_turn_columns(suffix, tmp_path):
    from themeassist.ingest._lines import TURN_COLUMNS

    sample = {".txt": "fg_forms.txt", ".vtt": "zoom.vtt", ".csv": "transcript.csv"}
    if suffix in sample:
        path = FIX / sample[suffix]
    elif suffix == ".docx":
        import docx

        d = docx.Document()
        d.add_paragraph("Ann: Hello.")
        path = tmp_path / "x.docx"
        d.save(str(path))
    else:
        import pandas as pd

        path = tmp_path / "x.xlsx"
        pd.DataFrame({"speaker": ["Ann"], "text": ["Hello."]}).to_excel(path, index=False)
    df = read_transcript(path)
    assert tuple(df.columns) == TURN_COLUMNS and len(df) > 0
    assert {"format", "encoding", "skipped_lines"} <= set(df.attrs)


def test_many_lines_before_the_first_speaker_are_warned(tmp_path):
    p = tmp_path / "g.txt"
    p.write_text("".join(f"Line {i} of a preamble.\n" for i in range(8)) + "Ann: Hi.\n",
                 encoding="utf-8")
    _, summary = ingest_files([p])
    assert summary["skipped_lines"].iloc[0] == 8
    assert any("skipped 8 lines before the first speaker" in w for w in summary.attrs["warnings"])
    _, summary = ingest_files([FIX / "fg_questions.txt"])      # a 2-line title: no warning
    assert not any("skipped" in w for w in summary.attrs["warnings"])


def test_real_think_aloud_transcripts_with_one_labelled_party():
    # 17 real think-aloud transcripts (Navarro-Gallinad et al. 2022, GPL-3.0, read in place):
    # only "MODERATOR:" is labelled; everything else is the participant's.
    folder = shared("usability-think-aloud", "transcripts_txt")
    paths = sorted(folder.glob("*.txt"))
    settings = IngestSettings(unlabelled_speaker="Participant", facilitators=["MODERATOR"])
    seg, summary = ingest_files(paths, settings=settings)
    assert len(summary) == 17 and summary["skipped_lines"].sum() == 0
    assert set(seg["speaker"]) == {"Participant", "MODERATOR"}
    assert set(seg.loc[seg["speaker"] == "MODERATOR", "role"]) == {"facilitator"}
    # Every line of the files is in some segment: nothing is lost.
    for p in paths:
        words = sum(len(line.split()) for line in p.read_text(encoding="utf-8").splitlines())
        got = seg.loc[seg["transcript_id"] == p.stem, "text"].str.split().str.len().sum()
        moderator_prefixes = seg.loc[(seg["transcript_id"] == p.stem)
                                     & (seg["speaker"] == "MODERATOR")].shape[0]
        assert got + moderator_prefixes == words, p.name
