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


def _bar_figure(n):
    from themeassist.report import stats_figures

    tc = pd.DataFrame({"theme": [f"Theme {i}" for i in range(n)], "codes": list(range(n, 0, -1)),
                       "percent": [round(100 / n, 2)] * n, "type": ["major"] + ["minor"] * (n - 1)})
    return lambda: stats_figures.theme_frequency(tc, None, f"{n} themes")


def test_issue17_figures_drawn_in_a_pool_are_the_bytes_drawn_in_order(monkeypatch):
    makers = [_bar_figure(n) for n in (2, 3, 5)]
    monkeypatch.setenv("THEMEASSIST_FIGURE_WORKERS", "1")
    assert io.render_workers(3) == 1
    serial = io.render_figures(makers)
    monkeypatch.setenv("THEMEASSIST_FIGURE_WORKERS", "2")
    pooled = io.render_figures(makers)
    assert pooled == serial
    assert [sorted(f) for f in serial] == [["png", "svg"]] * 3
    assert serial[0]["png"].startswith(b"\x89PNG") and b"<svg" in serial[0]["svg"]
    assert b"5 themes" in serial[2]["svg"]  # svg.fonttype none: titles stay text


def test_issue17_layout_alone_saves_what_a_full_draw_saves():
    # freeze_layout runs only the layout engine; drawing the whole figure once more
    # (matplotlib's draw_without_rendering) must not change a byte of either file.
    import matplotlib.pyplot as plt

    full = _bar_figure(4)()
    with plt.rc_context(io._saving_rc()):
        full.draw_without_rendering()
    full.set_layout_engine(None)
    expected = {fmt: io.figure_bytes(full, fmt) for fmt in ("png", "svg")}
    assert io.render_figure(_bar_figure(4)) == expected


def test_write_all_writes_what_the_writers_write_one_by_one(tmp_path):
    from themeassist import stats

    codebook = io.default_codebook()
    theme = codebook["theme"].iloc[0]
    codings = pd.DataFrame({"segment_id": ["s1", "s2"], "coder": "A",
                            "theme": [theme, theme]})
    segments = pd.DataFrame({"segment_id": ["s1", "s2"], "transcript_id": "t",
                             "speaker": ["P1", "P2"], "text": ["a", "b"]})
    results = {"A": stats.run(codings, codebook, segments)}
    names, writers = io.stats_outputs(results)
    with io.OutputDir(tmp_path / "one") as st:
        for w in writers:
            w(st)
    with io.OutputDir(tmp_path / "all") as st:
        io.write_all(st, writers)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.*"))
    assert [str(f) for f in files] == sorted(names)
    for f in files:
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "all" / f).read_bytes(), f


def test_issue17_report_figures_scaled_in_threads_are_the_bytes_scaled_in_order(tmp_path):
    from types import SimpleNamespace

    from themeassist.report import project

    drawn = io.render_figures([_bar_figure(3), _bar_figure(6)])
    for i, files in enumerate(drawn):
        (tmp_path / "stats" / "figures").mkdir(parents=True, exist_ok=True)
        (tmp_path / "stats" / "figures" / f"q{i}.png").write_bytes(files["png"])
    d = SimpleNamespace(out=tmp_path)
    with project._scaling(tmp_path):
        threaded = [project._stage_png(d, f"stats/figures/q{i}", None) for i in range(2)]
        missing = project._stage_png(d, "stats/figures/none", _bar_figure(2))
    assert threaded == [io.scaled_png(f["png"], project.REPORT_DPI) for f in drawn]
    assert missing.startswith(b"\x89PNG")  # not written by a stage: drawn for the report
