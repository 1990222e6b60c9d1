"""``napari-nxtomo library``: a cross-section library for given optics, written for ``count --library``.

CI has no abTEM: a library whose settings are shipped comes back without it, other optics say how to install it,
and the computing path is checked with simulate_library replaced by a stand-in (the real one needs minutes).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import napari_nxtomo.core.library as core_library
from napari_nxtomo.cli.main import main
from napari_nxtomo.core.library import INSTALL_HINT, CrossSectionLibrary, library_settings, load_library


@pytest.fixture(autouse=True)
def no_abtem(tmp_path, monkeypatch):
    """An empty cache of its own, and abTEM missing (as on CI)."""
    monkeypatch.setenv("NXTOMO_CACHE", str(tmp_path / "cache"))

    def missing():
        raise ImportError(INSTALL_HINT)

    monkeypatch.setattr("napari_nxtomo.core.library.multislice._import_abtem", missing)


def _run(*argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(list(argv))
    return status, err.getvalue()


def test_shipped_optics_write_the_shipped_library(tmp_path):
    """The bundled samples' optics: the shipped library itself is written (no abTEM), and reads back equal."""
    status, err = _run("library", "110", "--convergence", "22", "--detector", "60", "140",
                       "--out", str(tmp_path / "out"), "--quiet")
    assert status == 0, err
    (path,) = (tmp_path / "out").glob("PbSe_110_*.json")
    got, shipped = CrossSectionLibrary.read(path), load_library("PbSe", (1, 1, 0), convergence_mrad=22,
                                                                detector_mrad=(60, 140))
    assert got.values("Pb") == shipped.values("Pb") and got.settings["n_phonons"] == shipped.settings["n_phonons"]


def test_other_optics_without_abtem_say_how_to_install(tmp_path):
    status, err = _run("library", "100", "--energy", "200", "--out", str(tmp_path), "--quiet")
    assert status == 2 and 'pip install "napari-nxtomo[multislice]"' in err
    assert not list(tmp_path.glob("*.json"))


def test_the_vibration_reaches_the_library(tmp_path, monkeypatch):
    """--vibration 0.09 for PbSe: Pb 0.09 Å, Se scaled alike (0.0739 Å); the optics as given; progress reported."""
    calls = []

    def fake(crystal, zone_axis, *, progress=None, **options):
        calls.append(options)
        shipped = load_library("PbSe", (1, 0, 0))
        progress(1, 1)
        settings = library_settings(crystal, zone_axis, **{k: v for k, v in options.items() if k != "cache"})
        return CrossSectionLibrary(crystal, tuple(zone_axis), settings, shipped.tables)

    monkeypatch.setattr(core_library, "simulate_library", fake)
    status, err = _run("library", "010", "--convergence", "21.5", "--detector", "50", "150",
                       "--vibration", "0.09", "--phonons", "4", "--out", str(tmp_path), "--quiet")
    assert status == 0, err
    assert calls[0]["thermal_sigma"] == {"Pb": 0.09, "Se": pytest.approx(0.0739)}
    (path,) = tmp_path.glob("PbSe_100_*.json")
    s = CrossSectionLibrary.read(path).settings
    assert s["convergence_mrad"] == 21.5 and s["detector_mrad"] == [50.0, 150.0] and s["n_phonons"] == 4
    assert np.isclose(s["thermal_sigma_A"]["Pb"], 0.09)
