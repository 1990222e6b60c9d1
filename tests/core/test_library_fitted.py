"""Libraries in the fit's units (``simulate_library(units="fitted")``, ``napari_nxtomo.core.library.fitted``).

The fit of a known periodic image gives back its columns' volumes; the shipped ⟨100⟩ PbSe library in fitted units
(22 mrad, 60-140 mrad, a periodic bulk crystal) against whole multislice particles fitted by the plugin: the same
units on average and no drift with the count; the loader keeps the two units apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_nxtomo import load_library
from napari_nxtomo.core.evaluation import match_columns
from napari_nxtomo.core.groundtruth import SAMPLE_MULTISLICE_DIR, load_multislice_view
from napari_nxtomo.core.library import library_settings
from napari_nxtomo.core.library.fitted import fitted_volumes
from napari_nxtomo.core.columns import min_distance_for
from napari_nxtomo.core.workflow import find_and_fit

OPTICS = dict(convergence_mrad=22.0, detector_mrad=(60.0, 140.0))
TESTS_DATA = Path(__file__).parent / "data" / "multislice"


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """Every test sees an empty cache folder of its own (never the user's)."""
    monkeypatch.setenv("NXTOMO_CACHE", str(tmp_path / "cache"))


def test_fitted_volumes_of_a_known_periodic_image():
    """Four Gaussian columns of known volumes (two types, two widths) in a periodic cell scanned on a grid that is
    not square (0.25 × 0.24 Å, as a ⟨110⟩ supercell's): the fit of the tiled image gives each volume within 1 %."""
    lengths, spacing = (6.0, 7.2), (0.25, 0.24)
    cols = np.array([[1.0, 1.2], [4.0, 1.5], [1.4, 5.0], [4.2, 4.8]])
    volumes, widths = np.array([1.0, 2.5, 0.6, 1.8]), np.array([0.45, 0.45, 0.40, 0.40])
    gy = (np.arange(24) + 0.5) * spacing[0]
    gx = (np.arange(30) + 0.5) * spacing[1]
    yy, xx = np.meshgrid(gy, gx, indexing="ij")
    image = np.zeros_like(yy)
    for (y, x), v, w in zip(cols, volumes, widths):
        for sy in (-1, 0, 1):
            for sx in (-1, 0, 1):
                d2 = (yy - y - sy * lengths[0]) ** 2 + (xx - x - sx * lengths[1]) ** 2
                image += v * np.exp(-d2 / (2 * w**2)) / (2 * np.pi * w**2)
    got = fitted_volumes(image[None], spacing, lengths, cols, np.array(["A", "A", "B", "B"]))
    np.testing.assert_allclose(got[0], volumes, rtol=0.01)


def test_fitted_units_need_the_whole_supercell():
    with pytest.raises(ValueError, match="every_column=True"):
        library_settings("PbSe", (1, 0, 0), units="fitted")
    with pytest.raises(ValueError, match="'cell'"):
        library_settings("PbSe", (1, 0, 0), units="volume")
    # the cell-integrated libraries keep their settings (and so the names they are cached and shipped under)
    assert "units" not in library_settings("PbSe", (1, 0, 0), every_column=True)


def test_the_loader_keeps_the_units_apart():
    cell = load_library("PbSe", (1, 0, 0), **OPTICS)
    fitted = load_library("PbSe", (1, 0, 0), units="fitted", **OPTICS)
    assert "units" not in cell.settings and fitted.settings["units"] == "fitted"
    assert fitted.fit_capture("Pb+Se") == (1.0, 0.04) and cell.fit_capture("Pb+Se") == (0.85, 0.04)
    # no fitted library for these optics: the cell-integrated one
    assert "units" not in load_library("PbSe", (1, 0, 0), units="fitted").settings
    # a fitted volume holds 0.83-0.93 of the cell's signal (the fit's capture of a mixed column)
    ratio = [fitted.values("Pb+Se")[k] / v for k, v in cell.values("Pb+Se").items() if k[0] >= 2]
    assert 0.80 <= min(ratio) and max(ratio) <= 0.95, (min(ratio), max(ratio))


# the stored 22 mrad PbSe particles (abTEM, whole particles, 3-8 configurations) and the bundled sample
PARTICLES = [(None, "100"), (None, "010"), ("pbse_cuboctahedron_3nm", "100"), ("pbse_irregular", "010"),
             ("pbse_truncated_octahedron_3nm", "100"), (None, "110"), ("pbse_cuboctahedron_3nm", "110"),
             ("pbse_irregular", "110"), ("pbse_truncated_octahedron_3nm", "110")]


def _fitted_over_library(particle, name, surface=False):
    """Each Pb-bearing column of a noise-free particle image (the plugin's find and fit, fraction of the beam): its
    fitted volume over the fitted library's value for its true composition, with its Pb count and that value
    (mixed columns of 2 Pb and more; along [110] the pure Pb columns)."""
    view = load_multislice_view(SAMPLE_MULTISLICE_DIR if particle is None else TESTS_DATA, name, particle=particle)
    lib = load_library("PbSe", view.zone_axis, units="fitted", **OPTICS)
    assert lib.settings["units"] == "fitted"
    md = {"zone_axis": view.zone_axis, "lattice_parameter": 6.12}
    table = find_and_fit(np.asarray(view.image, float), view.pixel_size, min_distance_for(md)[0],
                         zone_axis=view.zone_axis)
    idx, dist = match_columns(table, view.columns)
    truth = view.columns.iloc[idx]
    mixed = "Pb+Se" in lib.types
    values = lib.values("Pb+Se" if mixed else "Pb", surface=surface)
    keys = list(zip(truth["n_Pb"].astype(int), truth["n_Se"].astype(int)))
    if not mixed:  # pure Pb columns, by their Pb count
        keys = [k[0] if k[1] == 0 else None for k in keys]
    rows = [i for i, k in enumerate(keys) if dist[i] < 0.5 and k is not None and (not mixed or k[0] >= 2)
            and k in values]
    ratio = np.array([table["volume"].to_numpy()[i] / values[keys[i]] for i in rows])
    n = np.array([keys[i][0] if mixed else keys[i] for i in rows])
    return ratio, n, np.array([values[keys[i]] for i in rows])


@pytest.mark.parametrize("particle, name", PARTICLES)
def test_the_fitted_library_is_what_the_fit_measures_on_particles(particle, name):
    """Each Pb column's fitted volume (the plugin's find and fit of a noise-free particle image in fraction of the
    beam) over the fitted library's value for its true composition, as simulated (the bulk's): 1 within 4 % on
    average and no drift above 1.5 % per Pb atom: the bulk slab's fit stands for a particle's.  Measured 2026-12-05:
    mixed columns of 2 Pb and more along ⟨100⟩ 1.006-1.023; pure Pb columns along [110] 0.992-1.001 (drift +0.5 …
    +1.4 % per atom: the thinnest, at the surface, read 5-12 % low), where the cell-integrated library reads
    0.922-0.933."""
    ratio, n, _ = _fitted_over_library(particle, name)
    assert len(ratio) >= 40
    assert abs(ratio.mean() - 1) <= 0.04, ratio.mean()
    assert abs(np.polyfit(n, ratio, 1)[0]) <= 0.015


# the stored 22 mrad PbSe particles the surface term (table.FITTED_SURFACE) was not calibrated on
HELD_OUT = ["pbse_truncated_cube_3nm", "pbse_cuboid_3nm", "pbse_rhombic_3nm", "pbse_elongated_4nm",
            "pbse_octahedral_4nm", "pbse_stepped_4nm"]


def test_the_surface_term_holds_on_particles_it_was_not_calibrated_on():
    """The [110] fitted library with its particle-surface term (``values(surface=True)``, calibrated on the four
    particles above) against the six other stored particles' noise-free [110] views: the line of ln(fitted / value)
    on ln(value) over their 472 Pb columns is flat within 0.012 (measured 2026-12-07: +0.0055; per particle -0.007 …
    +0.021; against the bulk's values +0.03), the mean ratio within 3 % of 1 (0.973-0.990 per particle)."""
    ratios, values = [], []
    for particle in HELD_OUT:
        ratio, _, v = _fitted_over_library(particle, "110", surface=True)
        assert abs(ratio.mean() - 1) <= 0.03, (particle, ratio.mean())
        ratios.append(ratio)
        values.append(v)
    ratio, v = np.concatenate(ratios), np.concatenate(values)
    assert len(ratio) >= 400
    slope = np.polyfit(np.log(v), np.log(ratio), 1)[0]
    assert abs(slope) <= 0.012, slope


def test_simulated_fitted_library_holds_the_fits_share_of_the_cell_signal():
    """abTEM (skipped without it): a still crystal's ⟨100⟩ library in both units from one run's settings: the fitted
    volumes are 0.80-0.95 of the cell-integrated signal (the fit's capture of a mixed column, measured 0.86-0.91 on
    the shipped fitted library), each pair's value above the one a count below, and the two are cached apart."""
    pytest.importorskip("abtem")
    from napari_nxtomo.core.library import simulate_library
    from napari_nxtomo.core.library.multislice import settings_key

    kw = dict(convergence_mrad=22.0, detector_mrad=(60.0, 140.0), n_phonons=1, max_count=2, scan_step_A=0.4,
              thermal_sigma={"Pb": 0.0, "Se": 0.0}, every_column=True)
    cell = simulate_library("PbSe", (1, 0, 0), **kw)
    fitted = simulate_library("PbSe", (1, 0, 0), units="fitted", **kw)
    assert fitted.settings["units"] == "fitted" and settings_key(fitted.settings) != settings_key(cell.settings)
    c, f = cell.values("Pb+Se"), fitted.values("Pb+Se")
    assert set(c) == set(f)
    ratio = np.array([f[k] / c[k] for k in c if k[0] >= 1])
    assert np.all((ratio > 0.80) & (ratio < 0.95)), ratio
    assert f[(2, 1)] > f[(1, 1)] > f[(1, 0)]
