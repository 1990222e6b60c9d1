"""Issue 15, items 4, 5 and 7: no lost files, no runaway memory, no raw tracebacks, batches that go on.

Writers replace their file only once it is complete; inputs that would write
one output name are refused; XYZ counts and byte-order marks are checked;
the command line ends every failure in one line; sizes the user controls are
checked against an estimate of their memory before anything is allocated.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import napari_nxtomo
from napari_nxtomo.cli import commands
from napari_nxtomo.cli.main import main
from napari_nxtomo.core.tables import is_points_csv, read_points_csv, read_xyz, write_points_csv, write_xyz

SRC = Path(napari_nxtomo.__file__).parent
LIMIT = "NAPARI_NXTOMO_MEMORY_LIMIT_GB"


# --------------------------------------------------------------------------
# item 4: files lost


def _code_lines(path):
    """The lines of a module that are code (not doctest lines)."""
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        s = line.strip()
        if not s.startswith((">>>", "...", "#")):
            yield i, s


def test_every_writer_is_atomic():
    """No module writes a user's file directly: open(..., "w"), write_text, np.save, imwrite and savefig to a
    path occur only inside core.tables.atomic_open (and to_csv / json.dump / savefig only onto its handle)."""
    direct = re.compile(r"""open\([^)]*["'][wa]b?["']|\.write_text\(|\.write_bytes\(|np\.save[z]?\(|imwrite\(|"""
                        r"""\.tofile\(""")
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        previous = ""
        for i, s in _code_lines(path):
            inside = "with atomic_open(" in previous  # the call on the line after opens the handle
            previous = s
            if direct.search(s) and "atomic_open" not in s and not inside and not s.startswith("fh = open(tmp"):
                offenders.append(f"{path.relative_to(SRC)}:{i}: {s}")
            if re.search(r"\.(savefig|to_csv)\((?!fh\b)", s) and "def " not in s:
                if not re.search(r"\bresult\.to_csv\(", s):  # ReconstructionResult.to_csv: write_points_csv
                    offenders.append(f"{path.relative_to(SRC)}:{i}: {s}")
    assert not offenders, "\n".join(offenders)


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    """A table (CSV) or a figure (PNG) whose writing fails halfway leaves the previous file as it was, and no
    temporary file behind."""
    from napari_nxtomo.cli.figures import pattern_figure

    table = write_points_csv(tmp_path / "a.csv", [[1.0, 2.0]], pd.DataFrame({"count": [3]}), metadata={"k": 1})
    before = table.read_bytes()
    png = tmp_path / "p.png"
    pattern_figure(np.linspace(1, 2, 5), np.ones(5), png, title="first")
    png_before = png.read_bytes()

    def half_then_fail(self, fh, *args, **kwargs):
        fh.write("y,x\n1,")
        raise KeyboardInterrupt  # the process stopped mid-write

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        write_points_csv(table, [[5.0, 6.0]], pd.DataFrame({"count": [9]}))
    from matplotlib.figure import Figure

    def png_fail(self, fh, **kwargs):
        fh.write(b"\x89PNG half")
        raise MemoryError

    monkeypatch.setattr(Figure, "savefig", png_fail)
    with pytest.raises(MemoryError):
        pattern_figure(np.linspace(1, 2, 5), np.zeros(5), png, title="second")
    assert table.read_bytes() == before and png.read_bytes() == png_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "p.png"]


@pytest.mark.parametrize("command, names, output", [
    ("fit", ["day1/s.tif", "day2/s.tif"], "s_columns.csv"),
    ("reconstruct", ["A/v_counts.csv", "B/v_counts.csv"], "v_reprojection.csv"),
    ("debye", ["A/m.xyz", "B/m.xyz"], "m_pattern.csv"),
])
def test_same_stem_inputs_are_refused(tmp_path, capsys, command, names, output):
    """Two inputs whose outputs share a name: refused before any work, naming both inputs and the file
    (before: the second silently overwrote the first); nothing is written."""
    paths = []
    for name in names:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        paths.append(str(path))
    out = tmp_path / "out"
    assert main([command, *paths, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and paths[0] in err and paths[1] in err and output in err, err
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(ValueError, match="given twice"):
        commands.refuse_same_outputs([paths[0], paths[0]], lambda p: p.name)


def test_xyz_count_must_match_the_atom_lines(tmp_path):
    """An XYZ whose line 1 says 831 atoms over 931 atom lines is refused, naming the first line beyond the count
    (before: read as 831 atoms); one that says more than it holds too; a second frame after the first is fine."""
    rng = np.random.default_rng(0)
    path = write_xyz(tmp_path / "m.xyz", rng.random((931, 3)), ["Pb"] * 931)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(read_xyz(path)[0]) == 931
    short = tmp_path / "short.xyz"
    short.write_text("\n".join(["831"] + lines[1:]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 1 says 831 atoms but 931 atom lines follow; line 834 is beyond"):
        read_xyz(short)
    long = tmp_path / "long.xyz"
    long.write_text("\n".join(["1000"] + lines[1:]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 1 says 1000 atoms but 931 atom lines follow"):
        read_xyz(long)
    frames = tmp_path / "frames.xyz"
    frames.write_text("\n".join(["2", "", "Pb 0 0 0", "Se 1 0 0", "1", "", "Pb 5 5 5", ""]), encoding="utf-8")
    pos, els, _, _ = read_xyz(frames)
    assert els.tolist() == ["Pb", "Se"] and pos.tolist() == [[0, 0, 0], [1, 0, 0]]


def test_byte_order_mark_is_read(tmp_path):
    """A CSV saved with a UTF-8 byte-order mark (as spreadsheets do) keeps its metadata and is still claimed
    by the napari reader; so do an XYZ model, a measured pattern and a count library."""
    from napari_nxtomo._reader import napari_get_reader
    from napari_nxtomo.core.patterns import load_pattern
    from napari_nxtomo.core.workflow import read_count_library

    def bom(path):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
        return path

    table = bom(write_points_csv(tmp_path / "c.csv", [[1.0, 2.0]], pd.DataFrame({"count": [4]}),
                                 metadata={"zone_axis": [1, 1, 0]}, name="cols"))
    assert is_points_csv(table) and napari_get_reader(str(table)) is not None
    coords, features, metadata, name = read_points_csv(table)
    assert coords.tolist() == [[1.0, 2.0]] and features["count"].tolist() == [4]
    assert metadata == {"zone_axis": [1, 1, 0]} and name == "cols"
    model = bom(write_xyz(tmp_path / "m.xyz", [[0.0, 0.0, 0.0]], ["Pb"]))
    assert read_xyz(model)[1].tolist() == ["Pb"]
    pattern = tmp_path / "p.xy"
    pattern.write_text("1.0 10\n2.0 20\n", encoding="utf-8-sig")
    assert np.asarray(load_pattern(pattern)[1]).tolist() == [10.0, 20.0]
    lib = tmp_path / "lib.csv"
    lib.write_text("count,cross_section\n1,0.01\n2,0.021\n", encoding="utf-8-sig")
    assert len(read_count_library(lib)) == 2


# --------------------------------------------------------------------------
# item 5: runaway memory and raw tracebacks


@pytest.mark.parametrize("exc, status, words", [
    (MemoryError(), 3, "out of memory"),
    (ZeroDivisionError("float division by zero"), 1, "a calculation failed (ZeroDivisionError"),
    (FloatingPointError("overflow"), 1, "a calculation failed (FloatingPointError"),
    (RuntimeError("boom"), 1, "unexpected error (RuntimeError: boom)"),
])
def test_cli_failures_are_one_line(tmp_path, capsys, monkeypatch, exc, status, words):
    """Any failure of a subcommand ends in one line on stderr and a non-zero status (before: MemoryError and
    ZeroDivisionError came out as tracebacks); NAPARI_NXTOMO_DEBUG=1 adds the traceback."""
    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(commands, "run_fit", fail)
    monkeypatch.delenv("NAPARI_NXTOMO_DEBUG", raising=False)
    assert main(["fit", "a.tif", "--quiet"]) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("napari-nxtomo fit: ") and words in err, err
    monkeypatch.setenv("NAPARI_NXTOMO_DEBUG", "1")
    assert main(["fit", "a.tif", "--quiet"]) == status
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("napari-nxtomo fit: ")


def test_debye_refuses_a_q_grid_too_large(tmp_path, capsys, monkeypatch):
    """debye --q-max 1e6 --q-step 0.001 (10⁹ Q points, > 100 GB; before: grew to 24 GB until killed) is refused
    at once with the estimate and how to reduce it; under a set limit the core refuses a too large grid too,
    and the default grid's estimate is a few MB."""
    from napari_nxtomo.core.debye import debye_intensity
    from napari_nxtomo.core.debye.intensity import pattern_bytes

    model = write_xyz(tmp_path / "m.xyz", [[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]], ["Pb", "Se"])
    monkeypatch.delenv(LIMIT, raising=False)
    assert main(["debye", str(model), "--q-max", "1e6", "--q-step", "0.001", "--out", str(tmp_path / "o"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "1e+09 points" in err and "GB" in err and "--q-step" in err and "--q-max" in err, err
    assert pattern_bytes(2451, 2) < 1e7  # 0.5..25 Å⁻¹ in steps of 0.01, Pb and Se
    monkeypatch.setenv(LIMIT, "0.001")  # 1 MB
    with pytest.raises(ValueError, match=r"the Debye pattern of 100000 Q points needs about .* GB .* 0.001 GB limit"):
        debye_intensity([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]], "Pb", np.linspace(0.0, 10.0, 100_000))
    assert debye_intensity([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]], "Pb", [1.0], radiation="constant").shape == (1,)


def test_reader_says_too_large_not_damaged(tmp_path, monkeypatch):
    """A valid image larger than the memory limit: "too large" with its size and the limit (before: "damaged");
    running out of memory while reading: "too large" too; a truncated file is still "damaged"."""
    import tifffile

    from napari_nxtomo.core.io import read_images, reading

    npy, tif = tmp_path / "a.npy", tmp_path / "a.tif"
    np.save(npy, np.zeros((64, 64), np.float32))
    tifffile.imwrite(tif, np.zeros((64, 64), np.float32))
    monkeypatch.setenv(LIMIT, "1e-5")  # 10 kB; the images hold 16.4 kB
    for path, what in ((npy, "array"), (tif, "image")):
        with pytest.raises(ValueError) as info:
            read_images(path)
        msg = str(info.value)
        assert f"the (64, 64) float32 {what} needs 1.64e-05 GB" in msg and "1e-05 GB limit" in msg, msg
        assert "too large" in msg and "damaged" not in msg
    monkeypatch.delenv(LIMIT)
    assert read_images(npy)[0].data.shape == (64, 64)

    def out_of_memory(path):
        raise MemoryError("Unable to allocate 51.2 GiB")

    monkeypatch.setattr(reading, "_read_npy", out_of_memory)
    with pytest.raises(ValueError, match=r"too large for the free memory .*Unable to allocate 51.2 GiB"):
        read_images(npy)
    monkeypatch.undo()
    cut = tmp_path / "cut.npy"
    cut.write_bytes(npy.read_bytes()[:1000])
    with pytest.raises(ValueError, match="damaged"):
        read_images(cut)


def test_points_csv_cut_short_is_refused(tmp_path):
    """A points CSV cut short (an interrupted copy: rows missing, or the last line half written) is refused,
    saying so (before: it read back without error, with fewer rows); a complete one and one written before the
    row count was kept read as before."""
    table = write_points_csv(tmp_path / "c.csv", np.arange(120.0).reshape(60, 2), pd.DataFrame({"v": np.ones(60)}))
    data = table.read_bytes()
    cut = tmp_path / "cut.csv"
    for n in (len(data) - 30, len(data) - 3):  # whole rows missing; the last row half written
        cut.write_bytes(data[:n])
        with pytest.raises(ValueError, match=r"cut.csv is cut short: its header says 60 rows"):
            read_points_csv(cut)
    assert len(read_points_csv(table)[0]) == 60
    old = tmp_path / "old.csv"
    old.write_text("".join(line for line in data.decode().splitlines(keepends=True) if not line.startswith("# rows")))
    assert len(read_points_csv(old)[0]) == 60


def test_fit_of_pure_noise_says_so(tmp_path, capsys):
    """fit on a 512² white-noise image: no column (issue 15, item 2), so a one-line refusal saying that nothing
    stands out of the noise, and no table written (before: 7 spurious columns fitted and written, exit 0)."""
    from napari_nxtomo.core.tables import write_image_tiff

    noise = 1.0 + 0.1 * np.random.default_rng(0).normal(size=(512, 512))
    image = write_image_tiff(tmp_path / "noise.tif", noise, 0.2, {"zone_axis": [1, 1, 0]})
    assert main(["fit", str(image), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no column stands out of the noise" in err and err.count("\n") == 1, err
    assert not list((tmp_path / "out").glob("*.csv"))


# --------------------------------------------------------------------------
# item 7 (and 5's second half): a batch goes on past a bad input


def test_fit_batch_goes_on_past_a_bad_input(tmp_path, capsys):
    """fit a.tif bad.tif c.tif: a and c are fitted and written (their columns right against the truth), bad
    gets one line naming it, and the exit status is non-zero at the end."""
    from napari_nxtomo.core.samples import pbse_cuboctahedron
    from napari_nxtomo.core.tables import write_image_tiff

    views = pbse_cuboctahedron(noise=False, n_half=2).views
    a = write_image_tiff(tmp_path / "a.tif", views[0].image, views[0].pixel_size, views[0].layer_metadata())
    c = write_image_tiff(tmp_path / "c.tif", views[2].image, views[2].pixel_size, views[2].layer_metadata())
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00 this is not an image")
    out = tmp_path / "out"
    assert main(["fit", str(a), str(bad), str(c), "--out", str(out), "--min-distance", "1.4", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2, err
    assert err[0].startswith(f"napari-nxtomo fit: {bad}: ") and "a.tif" not in err[0]
    assert err[1] == "napari-nxtomo fit: 1 of 3 input(s) failed (" + str(bad) + "); the other 2 were processed"
    for name, view in (("a", views[0]), ("c", views[2])):
        coords, _, _, _ = read_points_csv(out / f"{name}_columns.csv")
        assert len(coords) == len(view.columns)
    assert not (out / "bad_columns.csv").exists()


def test_count_batch_names_a_png_given_as_a_table(tmp_path, capsys):
    """count good.csv picture.png: the good table is counted (the right counts), the PNG gets one line saying
    it is not a text table (before: "'utf-8' codec can't decode ..." without the file's name), exit 2."""
    volumes = np.repeat([1.0, 2.0, 3.0], 20) + np.tile(np.linspace(-0.05, 0.05, 20), 3)
    good = write_points_csv(tmp_path / "good_columns.csv", np.zeros((60, 2)), pd.DataFrame({"volume": volumes}))
    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x80\x81")
    status = main(["count", str(good), str(png), "--out", str(tmp_path), "--library", "none", "--lowest-count", "1",
                   "--max-components", "4", "--quiet"])
    assert status == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("napari-nxtomo")]
    assert err[0] == (f"napari-nxtomo count: {png}: picture.png is not a CSV table: it is not UTF-8 text (an image "
                      "or other binary file?); give a CSV table (text)")
    assert "1 of 2 input(s) failed" in err[1]
    _, feats, _, _ = read_points_csv(tmp_path / "good_counts.csv")
    assert sorted(feats["count"].unique()) == [1, 2, 3]
    np.testing.assert_array_equal(feats["count"].to_numpy(), np.repeat([1, 2, 3], 20))
