"""Counting a fitted table with the cross-section library its metadata names (issue 17: count without options).

The multislice [110] image stored with the tests (tests/core/data/multislice, abTEM, PbSe
cuboctahedron, 300 keV, 22 mrad, detector 60-140 mrad: a shipped library exists) is fitted once;
the workflow's "auto" library must count its Pb columns within 0.03 of the image's counting
ceiling (issue 17's target; ceiling and counts against the true columns).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest

from napari_nxtomo.cli.main import main
from napari_nxtomo.core.groundtruth import SAMPLE_MULTISLICE_DIR
from napari_nxtomo.core.groundtruth import counting_ceiling, fit_and_match, load_multislice_view
from napari_nxtomo.core.library import load_library
from napari_nxtomo.core.tables import read_points_csv, write_points_csv
from napari_nxtomo.core.workflow import count_table, read_count_library

DATA = SAMPLE_MULTISLICE_DIR  # the bundled cuboctahedron (package data)


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """Every test sees an empty cache folder of its own (never the user's)."""
    monkeypatch.setenv("NXTOMO_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def fitted():
    """The plugin's fit of the noise-free [110] image, the true column of each row and the image's optics."""
    view = load_multislice_view(DATA, "110")
    table, truth = fit_and_match(view, view.image)
    sim = view.meta["simulation"]
    optics = {"crystal": "PbSe", "zone_axis": list(view.zone_axis), "energy_keV": sim["energy_eV"] / 1e3,
              "convergence_mrad": sim["semiangle_cutoff_mrad"], "detector_mrad": list(sim["detector_mrad"]),
              "pixel_size_A": view.pixel_size}
    return table, truth, optics


def _exact_and_ceiling(counted, truth):
    n = truth["n_Pb"].to_numpy()
    sel = (counted["type"].to_numpy() == "Pb") & (n > 0)
    exact = float(np.mean(counted["count"].to_numpy()[sel] == n[sel]))
    return exact, counting_ceiling(n[sel], counted["volume"].to_numpy()[sel])


def test_auto_library_counts_the_multislice_110_image_at_its_ceiling(fitted, tmp_path):
    table, truth, optics = fitted
    table = table.copy()
    table.attrs.update(optics)
    counted, res = count_table(table)
    exact, ceiling = _exact_and_ceiling(counted, truth)
    assert exact >= ceiling - 0.03, (exact, ceiling)
    assert counted.attrs["counting_library"].startswith("PbSe ⟨110⟩, 300 keV, 22 mrad, detector 60–140 mrad")
    assert counted.attrs["counting_note"] is None
    assert res.params["scale"] > 0 and 0 < res.params["scale_err"] < 0.05 * res.params["scale"]
    assert res.notes[0].startswith("library: PbSe ⟨110⟩") and "fitted ±" in res.notes[1]
    # the same library given as a file, and the metadata given apart from the table: the same counts
    path = load_library("PbSe", (1, 1, 0), convergence_mrad=22, detector_mrad=(60, 140), units="fitted").write(
        tmp_path / "lib.json")
    again, _ = count_table(fitted[0], library=path, metadata=optics)
    np.testing.assert_array_equal(again["count"], counted["count"])


def test_auto_without_optics_falls_back_to_the_mixture_and_says_so(fitted):
    table, truth, optics = fitted
    with pytest.warns(UserWarning, match="does not say its zone_axis, energy_keV, convergence_mrad, detector_mrad"):
        counted, res = count_table(table)
    assert counted.attrs["counting_library"] == "mixture" and res.method != "library"
    assert "--library" in counted.attrs["counting_note"] and "simulate_library" in counted.attrs["counting_note"]
    unknown = dict(optics, energy_keV=80.0)  # no shipped library at 80 keV
    with pytest.warns(UserWarning, match="no cross-section library for PbSe along .* at 80.0 keV"):
        again, _ = count_table(table, metadata=unknown, dose=1e5)
    assert again.attrs["counting_library"] == "mixture" and "dose 100000 e/Å² is not used" in again.attrs["counting_note"]
    np.testing.assert_array_equal(again["count"], counted["count"])


def test_given_library_of_another_zone_axis_or_crystal_is_refused(fitted):
    table, _, optics = fitted
    with pytest.raises(ValueError, match=r"computed along ⟨100⟩ but the image is along \(1, 1, 0\)"):
        count_table(table, library=load_library("PbSe", (1, 0, 0)), metadata=optics)
    with pytest.raises(ValueError, match="for PbSe but the image is of PbS"):
        count_table(table, library=load_library("PbSe", (1, 1, 0)), metadata=dict(optics, crystal="PbS"))
    small = {1: 0.01, 2: 0.02}  # the old count → cross-section CSV form, two counts only
    with pytest.raises(ValueError, match="smaller than the data need|cannot be counted with this library"):
        count_table(table, library={"Pb": small, "Se": small}, dose=1.0 / 0.04, metadata=optics)


def test_old_csv_library_still_reads(tmp_path):
    path = tmp_path / "library.csv"
    path.write_text("count,cross_section\n1,0.01\n2,0.02\n", encoding="utf-8")
    assert read_count_library(path) == {1: 0.01, 2: 0.02}


def _count_cli(table_path, out, *args):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(["count", str(table_path), "--out", str(out), *args])
    return rc, stdout.getvalue(), stderr.getvalue()


def test_cli_count_with_and_without_dose(fitted, tmp_path):
    """An image in detected electrons at 1e5 e/Å² (the fitted volumes × dose × pixel²): the library's scale
    fitted (default) or set by --dose; without optics the mixture counts and stderr says why."""
    table, truth, optics = fitted
    per_pixel = 1e5 * optics["pixel_size_A"] ** 2
    electrons = table.assign(volume=table["volume"] * per_pixel, volume_err=table["volume_err"] * per_pixel)
    path = write_points_csv(tmp_path / "a_columns.csv", electrons[["y", "x"]].to_numpy(), electrons, metadata=optics)

    rc, out, err = _count_cli(path, tmp_path / "fit")
    assert rc == 0, err
    assert "library: PbSe ⟨110⟩, 300 keV, 22 mrad, detector 60–140 mrad" in out and "fitted ±" in out
    _, feats, md, _ = read_points_csv(tmp_path / "fit" / "a_counts.csv")
    exact, ceiling = _exact_and_ceiling(feats.assign(volume=feats["volume"] / per_pixel), truth)
    assert exact >= ceiling - 0.03, (exact, ceiling)
    assert md["counting"]["library"].startswith("PbSe ⟨110⟩") and md["counting"]["scale_err"] > 0

    rc, out, err = _count_cli(path, tmp_path / "dose", "--dose", "1e5")
    assert rc == 0, err
    assert "fitted about the dose 100000 e/Å² × (0.2 Å)²" in out
    _, feats, md, _ = read_points_csv(tmp_path / "dose" / "a_counts.csv")
    exact, ceiling = _exact_and_ceiling(feats.assign(volume=feats["volume"] / per_pixel), truth)
    assert exact >= ceiling - 0.03, (exact, ceiling)
    # the fit holds 0.92 ± 4 % of a simulated column (FIT_CAPTURE): the scale within 3 widths of that
    assert md["counting"]["scale"] == pytest.approx(0.92 * per_pixel, rel=0.12) and md["counting"]["dose_e_per_A2"] == 1e5

    bare = write_points_csv(tmp_path / "b_columns.csv", table[["y", "x"]].to_numpy(), table)
    rc, out, err = _count_cli(bare, tmp_path / "bare")
    assert rc == 0 and "library: none, the free mixture counted" in out
    assert "warning: b_columns.csv" in err and "--library" in err
    rc, _, err = _count_cli(bare, tmp_path / "bare", "--dose", "1e5", "--library", "none")
    assert rc == 2 and "give a library" in err


def test_image_optics_reach_the_column_table_and_choose_the_library(tmp_path):
    """The optics a TIFF's metadata names (the keys the bundled samples write) are read, kept by 'fit' in the
    column table, and 'count' picks the shipped library for them without options."""
    from napari_nxtomo.cli.commands import run_fit
    from napari_nxtomo.core.io import read_images
    from napari_nxtomo.core.samples import pbse_cuboctahedron
    from napari_nxtomo.core.tables import write_image_tiff

    view = pbse_cuboctahedron(noise=False, n_half=2).views[2]
    optics = {"energy_keV": 300.0, "convergence_mrad": 22.0, "detector_mrad": [60.0, 140.0], "dose_e_per_A2": 5e4,
              "elements": ["Pb", "Se"], "crystal": "PbSe"}
    image = write_image_tiff(tmp_path / "haadf_110.tif", view.image, view.pixel_size,
                             {**view.layer_metadata(), **optics})
    [im] = read_images(image)
    assert {k: im.metadata[k] for k in optics} == optics and tuple(im.metadata["zone_axis"]) == (1, 1, 0)
    [table] = run_fit([image], tmp_path, min_distance=1.4, quiet=True)
    _, _, md, _ = read_points_csv(table)
    assert {k: md[k] for k in optics} == optics
    rc, out, _ = _count_cli(table, tmp_path)
    assert rc == 0 and "library: PbSe ⟨110⟩, 300 keV, 22 mrad, detector 60–140 mrad" in out


def test_progress_follows_the_column_types_and_the_views():
    """count_table reports one step per column type (then the checks); count_views_tables (two views of one total)
    one per view and type,
    twice when the scale is fitted (three times with a dose: once at it, twice for its check), then the totals: the
    steps rise one by one to n, and the counts are the truth."""
    import pandas as pd

    from napari_nxtomo.core.workflow import count_views_tables

    lib = {"Pb": {n: 0.007 * n + 0.0006 * n * n for n in range(1, 10)},
           "Se": {n: 0.003 * n + 0.0002 * n * n for n in range(1, 10)}}
    rng = np.random.default_rng(0)

    def table(n):
        t = np.repeat(["Pb", "Se"], n.size)
        v = 2 * np.array([lib[a][k] for a, k in zip(t, np.tile(n, 2))])
        return pd.DataFrame({"volume": v + rng.normal(0, 0.005 * v), "volume_err": 0.005 * v, "type": t,
                             "true": np.tile(n, 2)})

    tables = [table(np.repeat([2, 3, 4, 5], 10)), table(np.repeat([1, 3, 4, 6], 10))]
    seen = []
    counted, _ = count_table(tables[0], library=lib, progress=lambda i, n: seen.append((i, n)))
    assert {m for _, m in seen} == {3} and [i for i, _ in seen] == sorted(i for i, _ in seen)
    assert {i for i, _ in seen} == {0, 1, 2, 3} and seen[-1] == (3, 3)
    np.testing.assert_array_equal(counted["count"], tables[0]["true"])
    seen.clear()
    counted, joint = count_views_tables(tables, library=lib, progress=lambda i, n: seen.append((i, n)))
    n = 2 * 2 * 2 + 1  # free scale then about the joint scale, two views of two types, then the totals
    steps = [i for i, _ in seen]
    assert {m for _, m in seen} == {n} and steps[-1] == n and steps == sorted(steps)
    assert set(range(1, n + 1)) <= set(steps)
    for c, t in zip(counted, tables):
        np.testing.assert_array_equal(c["count"], t["true"])
    with pytest.raises(ValueError, match="0.769 × the given dose"):  # a wrong dose, with a plain dict library too
        count_views_tables(tables, [{"pixel_size_A": 1.0}] * 2, library=lib, dose=2.6)
    seen.clear()  # with the dose: counted at it, then twice without it (the dose's check), then the totals
    counted, joint = count_views_tables(tables, [{"pixel_size_A": 1.0}] * 2, library=lib, dose=2.0,
                                        progress=lambda i, n: seen.append((i, n)))
    n = 3 * 2 * 2 + 1
    steps = [i for i, _ in seen]
    assert {m for _, m in seen} == {n} and steps[-1] == n and steps == sorted(steps)
    assert set(range(1, n + 1)) <= set(steps)
    for c, t in zip(counted, tables):
        np.testing.assert_array_equal(c["count"], t["true"])


def test_auto_takes_fitted_units_for_pure_columns_only():
    """"auto": the [110] view (pure Pb and Se columns) the library in the fit's units where one is shipped (22 mrad),
    the ⟨100⟩ view (mixed columns) the cell-integrated one although a fitted one is shipped too, and where no fitted
    library exists (24 mrad) the cell one; a user's explicit units win."""
    from napari_nxtomo.core.workflow.count_library import library_for

    def units(zone, mrad, detector, **kw):
        lib = library_for("PbSe", zone, convergence_mrad=mrad, detector_mrad=detector, **kw)
        return lib.settings.get("units", "cell")

    assert units([1, 1, 0], 22.0, [60.0, 140.0]) == "fitted"
    assert units([1, 0, 0], 22.0, [60.0, 140.0]) == "cell"
    assert units([1, 0, 0], 22.0, [60.0, 140.0], units="fitted") == "fitted"
    assert units([1, 1, 0], 22.0, [60.0, 140.0], units="cell") == "cell"
    assert units([1, 1, 0], 24.0, [60.0, 130.0]) == "cell"
