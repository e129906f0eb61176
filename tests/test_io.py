import pandas as pd
import pytest

from themeassist import io
from themeassist.errors import InputError, OutputExistsError


def test_csv_encodings_utf8_bom_and_cp1252(tmp_path):
    text = "theme,valence,subtheme\nCafé culture,success,Naïve approach\n"
    for enc in ("utf-8", "utf-8-sig", "cp1252"):
        p = tmp_path / f"cb-{enc}.csv"
        p.write_bytes(text.encode(enc))
        df = io.read_codebook(p)
        assert df.loc[0, "theme"] == "Café culture" and df.loc[0, "subtheme"] == "Naïve approach"
        assert list(df.columns[:3]) == ["theme", "valence", "subtheme"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_table_round_trip(tmp_path, tiny_segments, suffix):
    p = io.write_table(tiny_segments, tmp_path / f"seg{suffix}")
    back = io.read_segments(p)
    pd.testing.assert_frame_equal(back[["segment_id", "text", "position"]],
                                  tiny_segments[["segment_id", "text", "position"]])


def test_write_refuses_existing_without_force(tmp_path, tiny_segments):
    p = io.write_table(tiny_segments, tmp_path / "seg.csv")
    before = p.read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        io.write_table(tiny_segments.head(1), p)
    assert p.read_bytes() == before
    io.write_table(tiny_segments.head(1), p, force=True)
    assert len(io.read_table(p)) == 1


def test_output_dir_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with io.OutputDir(out) as staged:
            staged.json({"a": 1}, "a.json")
            raise RuntimeError("boom")
    assert not out.exists() or not any(out.iterdir())
    assert [p.name for p in tmp_path.iterdir()] in ([], ["out"])


def test_unknown_extension(tmp_path):
    p = tmp_path / "x.tsv"
    p.write_text("a\n1\n")
    with pytest.raises(InputError, match="unknown table format"):
        io.read_table(p)


def test_default_codebook_is_reference_study():
    cb = io.default_codebook()
    assert len(cb) == 185 and cb["theme"].nunique() == 12
    assert set(cb["valence"]) == {"success", "challenge"}


def test_two_files_same_coder_refused(tmp_path, tiny_codebook):
    rows = "segment_id,coder,theme,valence,subtheme\ns1,A,Funding,success,Grant secured\n"
    (tmp_path / "a.csv").write_text(rows)
    (tmp_path / "b.csv").write_text(rows)
    with pytest.raises(InputError, match="coder 'A' appears in two files"):
        io.read_codings([tmp_path / "a.csv", tmp_path / "b.csv"], tiny_codebook)
