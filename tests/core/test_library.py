"""Cross-section libraries (issue 17): the shipped ones, their file, their messages, and counting with them.

abTEM is not needed (CI does not install the multislice extra): the shipped
libraries were computed by ``benchmarks/multislice/make_libraries.py``.  The
accuracy test counts the Pb columns of the multislice [110] image stored with
the tests (tests/core/data/multislice, abTEM, a PbSe cuboctahedron) by the
nearest value of the SHIPPED library for that image's optics and compares
with the truth; the target is issue 17's counting ceiling of the image minus
0.05 (``ceiling`` of test_multislice).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from napari_nxtomo import CrossSectionLibrary, count_atoms, load_library, simulate_library
from napari_nxtomo.core.columns import fit_typed_columns
from napari_nxtomo.core.evaluation import match_columns
from napari_nxtomo.core.fitting import find_columns
from napari_nxtomo.core.groundtruth import SAMPLE_MULTISLICE_DIR
from napari_nxtomo.core.groundtruth import MULTISLICE_MIN_DISTANCE, load_multislice_view, noisy_image
from napari_nxtomo.core.library import SHIPPED_DIR, library_settings, shipped_libraries
from napari_nxtomo.core.library.cell import integrate_cells, oriented_cell, representative_columns, scan_grid
from napari_nxtomo.core.library.shipped import store_in_cache
from napari_nxtomo.core.lattice import ROCKSALT_PBSE

DATA = SAMPLE_MULTISLICE_DIR  # the bundled cuboctahedron (package data)
SETTINGS = ("energy_keV", "convergence_mrad", "detector_mrad", "n_phonons", "sampling_A", "slice_thickness_A",
            "lattice_parameter_A", "abtem_version", "thermal_sigma_A", "max_count")


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """Every test sees an empty cache folder of its own (never the user's)."""
    monkeypatch.setenv("NXTOMO_CACHE", str(tmp_path / "cache"))


def test_shipped_libraries_load_with_their_settings():
    libs = shipped_libraries()
    have = {(lib.crystal, lib.zone_axis, lib.settings["convergence_mrad"]) for lib in libs}
    assert {("PbSe", (1, 0, 0), 24.0), ("PbSe", (1, 1, 0), 24.0), ("PbSe", (1, 1, 0), 22.0)} <= have
    # the core-shell particles' zincblende shell, for the samples' and the tests' optics
    assert {("CdSe", z, c) for z in ((1, 0, 0), (1, 1, 0)) for c in (22.0, 24.0)} <= have
    assert load_library("CdSe", (0, 1, 1), convergence_mrad=22, detector_mrad=(60, 140)).types == ["Cd", "Se"]
    for lib in libs:
        assert all(k in lib.settings for k in SETTINGS), lib.settings.keys()
        assert lib.settings["abtem_version"] >= "1.0.11"
    assert load_library("PbSe", (1, 1, 0)).types == ["Pb", "Se"]
    assert load_library("PbSe", (0, 0, 1)).types == ["Pb+Se"]
    assert load_library("PbSe", (1, 0, 1), convergence_mrad=22, detector_mrad=(60, 140)).settings[
        "detector_mrad"] == [60.0, 140.0]
    for path in SHIPPED_DIR.glob("*.json"):
        assert path.stat().st_size < 50_000, path


def test_shipped_libraries_grow_with_the_count():
    """Pure columns: every count 1..15 there, the cross-section increasing; mixed: the (n_Pb, n_Se) pairs."""
    for lib in shipped_libraries():
        for t, df in lib.tables.items():
            assert np.all(df["cross_section_sd"] >= 0) and np.all(df["cross_section"] > 0)
            if "+" in t:
                assert set(df["n_minor"] - df["count"]) == {-1, 0, 1}
                for d in (-1, 0, 1):
                    sub = df[df["n_minor"] - df["count"] == d].sort_values("count")
                    assert np.all(np.diff(sub["cross_section"]) > 0), (lib.zone_axis, t, d)
                assert df["count"].max() == lib.settings["max_count"]
            else:
                assert df["count"].tolist() == list(range(1, lib.settings["max_count"] + 1))
                assert np.all(np.diff(df["cross_section"]) > 0), (lib.zone_axis, t)


def test_values_are_count_atoms_libraries():
    lib = load_library("PbSe", (1, 0, 0))
    vals = lib.values("Pb+Se")
    assert all(isinstance(k, tuple) and len(k) == 2 for k in vals)
    keys = sorted(k for k in vals if k[0] == k[1] and k[0] >= 1)  # one column of every Pb count
    res = count_atoms(np.array([vals[k] for k in keys]) * 1.01, library=vals, scale=1.0)  # library units
    assert res.counts.tolist() == [k[0] for k in keys]
    pure = load_library("PbSe", (1, 1, 0)).values("Pb")
    counts = sorted(k for k in pure if k >= 1)
    assert count_atoms(np.array([pure[k] for k in counts]), library=pure, scale=1.0).counts.tolist() == counts


def test_write_read_round_trip(tmp_path):
    lib = load_library("PbSe", (1, 1, 0))
    path = lib.write(tmp_path / "lib.json")
    back = CrossSectionLibrary.read(path)
    assert back.crystal == lib.crystal and back.zone_axis == lib.zone_axis and back.settings == lib.settings
    for t in lib.types:
        assert back.values(t) == lib.values(t)
        assert back.tables[t]["cross_section_sd"].tolist() == lib.tables[t]["cross_section_sd"].tolist()
    assert [p.name for p in tmp_path.iterdir()] == ["lib.json"]  # no temporary file left


def test_bad_zone_axis_or_crystal_messages(tmp_path):
    lib = load_library("PbSe", (1, 1, 0))
    lib.check_compatible((0, 1, 1), "PbSe")
    with pytest.raises(ValueError, match=r"along ⟨110⟩ but the image is along \(1, 0, 0\).*load or simulate"):
        lib.check_compatible((1, 0, 0))
    with pytest.raises(ValueError, match="for PbSe but the image is of PbS"):
        lib.check_compatible((1, 1, 0), "PbS")
    with pytest.raises(ValueError, match="⟨100⟩ and ⟨110⟩"):
        lib.check_compatible((1, 1, 1))
    with pytest.raises(ValueError, match="unknown crystal 'GaAs'.*ROCKSALT_PBSE"):
        load_library("GaAs", (1, 0, 0))
    with pytest.raises(ValueError, match="no cross-section library for PbSe.*simulate_library"):
        load_library("PbSe", (1, 1, 0), energy_keV=80)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read a cross-section library"):
        CrossSectionLibrary.read(tmp_path / "bad.json")


def test_simulate_library_without_abtem_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "abtem", None)  # import abtem raises ImportError
    with pytest.raises(ImportError, match=r'pip install "napari-nxtomo\[multislice\]"'):
        simulate_library("PbSe", (1, 1, 0), n_phonons=1, max_count=2, seed=99)


def test_simulate_library_returns_a_cached_library_without_abtem(monkeypatch):
    monkeypatch.setitem(sys.modules, "abtem", None)
    settings = library_settings("PbS", (1, 0, 0), n_phonons=1, max_count=2)
    shipped = load_library("PbSe", (1, 0, 0))
    store_in_cache(CrossSectionLibrary("PbS", (1, 0, 0), settings, shipped.tables))
    lib = simulate_library("PbS", (0, 1, 0), n_phonons=1, max_count=2)
    assert lib.crystal == "PbS" and lib.settings == settings


def test_cell_integration_shares_the_beam_among_the_columns():
    """The columns' cells tile the projected cell: their cross-sections add up to the mean signal × its area."""
    cell = oriented_cell(ROCKSALT_PBSE, (1, 1, 0))
    pos, shape, h, _ = scan_grid(cell.lengths, 0.2)
    signal = (np.cos(pos[:, 0]) ** 2 + pos[:, 1]).reshape(shape)
    cs = integrate_cells(signal, shape, h, cell.lengths, cell.columns)
    area = cell.lengths[0] * cell.lengths[1]
    assert cs.sum() == pytest.approx(signal.mean() * area)
    assert cell.columns.shape == (4, 2) and area / 4 == pytest.approx(6.12**2 / (4 * np.sqrt(2)))
    # one Pb and one Se column (the other two are the same columns one layer deeper)
    assert cell.elements.tolist() == ["Pb", "Pb", "Se", "Se"] and len(representative_columns(cell)) == 2


# --------------------------------------------------------------------------
# accuracy on the stored multislice [110] image


def _exact_and_ceiling(view, image):
    pos = find_columns(image, view.pixel_size, MULTISLICE_MIN_DISTANCE[view.name])
    table = fit_typed_columns(image, view.pixel_size, pos, rule="auto", zone_axis=view.zone_axis)
    idx, _ = match_columns(table, view.columns)
    n_pb = view.columns.iloc[idx]["n_Pb"].to_numpy()
    sel = (table["type"].to_numpy() == "Pb") & (n_pb > 0)
    sim = view.meta["simulation"]
    lib = load_library("PbSe", view.zone_axis, energy_keV=sim["energy_eV"] / 1e3,
                       convergence_mrad=sim["semiangle_cutoff_mrad"], detector_mrad=sim["detector_mrad"])
    lib.check_compatible(view.zone_axis, "PbSe")
    res = count_atoms(table, library=lib.count_library())
    n, v = n_pb[sel], table["volume"].to_numpy()[sel]
    ks = np.unique(n)
    means = np.array([v[n == k].mean() for k in ks])
    ceiling = float(np.mean(ks[np.argmin(np.abs(v[:, None] - means), axis=1)] == n))
    return float(np.mean(res.counts[sel] == n)), ceiling


# issue 17's targets: the ceiling minus 0.03 (noise-free, 1e5 e/Å²) and minus 0.06 (2e4 e/Å²); the
# counting is the hybrid one: the shipped abTEM library's class values up to one fitted scale
@pytest.mark.parametrize("dose, seed, margin", [(None, 0, 0.03), (1e5, 0, 0.03), (1e5, 1, 0.03), (2e4, 1, 0.06)])
def test_shipped_library_counts_the_multislice_110_image(dose, seed, margin):
    view = load_multislice_view(DATA, "110")
    image = view.image if dose is None else noisy_image(view, dose, seed=seed)
    exact, ceiling = _exact_and_ceiling(view, image)
    assert exact >= ceiling - margin, (exact, ceiling)


def _cell_ratios(view):
    """Per Pb-bearing column of a noise-free multislice view: its cell-integrated signal / the library the plugin
    takes for the view's optics, and its Pb count."""
    from napari_nxtomo.core.library.check import cell_signal_ratios

    sim = view.meta["simulation"]
    lib = load_library("PbSe", view.zone_axis, energy_keV=sim["energy_eV"] / 1e3,
                       convergence_mrad=sim["semiangle_cutoff_mrad"], detector_mrad=tuple(sim["detector_mrad"]))
    r = cell_signal_ratios(view, lib)
    return r["ratio"].to_numpy(), r["n_heavy"].to_numpy()


# every stored multislice particle made with the room-temperature vibrations the shipped libraries assume
CELL_VIEWS = [(None, v) for v in ("100", "010", "110")] + [
    (p, v) for p in ("pbse_cuboctahedron_3nm", "pbse_irregular", "pbse_truncated_octahedron_3nm")
    for v in ("100", "010", "110")]


@pytest.mark.parametrize("particle, name", CELL_VIEWS)
def test_shipped_libraries_are_the_particles_cell_signal(particle, name):
    """The shipped library (a periodic bulk crystal) against abTEM images of whole particles (tiles of the particle,
    another simulation): each Pb-bearing column's signal summed over its Voronoi cell (no fitted model), divided by
    the library's value for its composition, is 1 on average within 4 % (measured 0.981-1.029 over the 12 views)
    and does not drift with the count by more than 1.5 % per atom (measured -0.009 to +0.013): the library's
    shape, not only its scale, is the images' (a library for other thermal vibrations than the images' drifts:
    PbSe [110] with Pb 0.134 Å against images made with 0.09 Å, the starter set, -0.017 per atom)."""
    folder = DATA if particle is None else Path(__file__).parent / "data" / "multislice"
    view = load_multislice_view(folder, name, particle=particle)
    ratio, n = _cell_ratios(view)
    assert len(ratio) >= 50
    assert abs(ratio.mean() - 1) <= 0.04, ratio.mean()
    slope = np.polyfit(n, ratio, 1)[0]
    assert abs(slope) <= 0.015, slope


def test_load_library_keeps_to_the_thermal_vibrations(monkeypatch):
    """A cached library for other vibrations (more configurations: it would win on those) is not taken for the
    room-temperature one; asked for by its vibrations it is, and its description says so."""
    from napari_nxtomo.core.workflow import describe_library

    room = load_library("PbSe", (1, 1, 0), convergence_mrad=22, detector_mrad=(60, 140))
    cold = CrossSectionLibrary(room.crystal, room.zone_axis, dict(room.settings), dict(room.tables))
    cold.settings.update(thermal_sigma_A={"Pb": 0.09, "Se": 0.08}, n_phonons=room.settings["n_phonons"] + 8)
    store_in_cache(cold)
    got = load_library("PbSe", (1, 1, 0), convergence_mrad=22, detector_mrad=(60, 140))
    assert got.settings["thermal_sigma_A"] == room.settings["thermal_sigma_A"]
    got = load_library("PbSe", (1, 1, 0), convergence_mrad=22, detector_mrad=(60, 140),
                       thermal_sigma={"Pb": 0.09, "Se": 0.08})
    assert got.settings["n_phonons"] == cold.settings["n_phonons"]
    assert "vibrations Pb 0.09 Å" in describe_library(got) and "vibrations" not in describe_library(room)
    with pytest.raises(ValueError, match="thermal displacements"):
        load_library("PbSe", (1, 1, 0), convergence_mrad=22, detector_mrad=(60, 140), thermal_sigma={"Pb": 0.2})


def test_a_tiled_cell_integrates_every_column_as_the_cell_does_one():
    """The supercell a library scans whole (``every_column``): each of its columns has the composition of its kind in
    the unit cell after every layer, and a periodic signal summed over the tiled columns' cells gives every column of
    a kind the unit cell's value for it (the Voronoi ownership and the tiling agree)."""
    from napari_nxtomo.core.library.cell import (ROCKSALT_PBSE, cell_owner, column_composition, integrate_cells,
                                                 oriented_cell, scan_grid, tiled_cell)

    for zone in [(1, 0, 0), (1, 1, 0)]:
        cell = oriented_cell(ROCKSALT_PBSE, zone)
        big = tiled_cell(cell, (3, 2))
        assert len(big.columns) == 6 * len(cell.columns)
        one, many = column_composition(cell, 6), column_composition(big, 6)
        owner = np.argmin(np.abs(big.columns[:, None] - cell.columns[None] - np.round(
            (big.columns[:, None] - cell.columns[None]) / cell.lengths[:2]) * cell.lengths[:2]).sum(-1), axis=1)
        assert np.array_equal(many, one[:, owner])

        weight = np.arange(1, len(cell.columns) + 1, dtype=float)  # each column of the cell its own peak height

        def signal(lengths, step):
            pos, shape, h, _ = scan_grid(lengths, step)
            d = pos[:, None] - cell.columns[None]
            d -= np.round(d / cell.lengths[:2]) * cell.lengths[:2]
            return (weight * np.exp(-(d**2).sum(-1) / 0.3)).sum(-1).reshape(shape), shape, h

        s1, shape1, h1 = signal(cell.lengths, 0.2)
        s6, shape6, h6 = signal(big.lengths, 0.2)
        unit = integrate_cells(s1, shape1, h1, cell.lengths, cell.columns)
        tiled = integrate_cells(s6, shape6, h6, big.lengths, big.columns)
        np.testing.assert_allclose(tiled, unit[owner], rtol=0.02)
        assert cell_owner(shape6, h6, big.lengths, big.columns).max() == len(big.columns) - 1


def test_every_column_scan_agrees_with_one_column_for_a_still_crystal():
    """abTEM (skipped without it): with no thermal displacements every column of a kind scatters alike, so the
    library that scans every column of the supercell (``every_column``) gives the values of the one that scans one of
    each kind, within 1 % (the tiling, the scan and the composition of the supercell's columns are right)."""
    pytest.importorskip("abtem")
    from napari_nxtomo.core.library import simulate_library

    kw = dict(convergence_mrad=22.0, detector_mrad=(60.0, 140.0), n_phonons=1, max_count=2, scan_step_A=0.4,
              thermal_sigma={"Pb": 0.0, "Se": 0.0}, cache=False)
    one = simulate_library("PbSe", (1, 0, 0), **kw).values("Pb+Se")
    every = simulate_library("PbSe", (1, 0, 0), every_column=True, **kw)
    assert every.settings["columns_per_kind"] == 8
    for key, value in one.items():
        assert every.values("Pb+Se")[key] == pytest.approx(value, rel=0.01), key
