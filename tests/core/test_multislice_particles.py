"""The stored multislice views against physics and bookkeeping the project did not write.

Every view in ``tests/core/data/multislice`` (the bundled cuboctahedron at the
top, other particles in sub-folders, :data:`MULTISLICE_PARTICLES`), made by
``benchmarks/multislice/make_images.py`` with abTEM: the truth stored beside an
image must agree with the image (the probe, channelling along a column, peaks
on that column), with the atoms (``atoms.csv``) and with the other views of the
same particle.  Nothing here runs the plugin's fitting or counting.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_nxtomo.core.groundtruth import MULTISLICE_PARTICLES, SAMPLE_MULTISLICE_DIR, load_multislice_view

DATA = Path(__file__).resolve().parent / "data" / "multislice"
#: (particle sub-folder or None for the bundled cuboctahedron, views)
STORED = [(None, ("100", "010", "110"))] + [(p, v) for p, v in MULTISLICE_PARTICLES.items()]
CASES = [(p, v) for p, views in STORED for v in views]
#: a column of at least this many atoms must show as an intensity maximum
MIN_ATOMS = 3


def _ids(case):
    particle, view = case
    return f"{particle or 'cuboctahedron'}-{view}"


def _folder(particle):
    return SAMPLE_MULTISLICE_DIR if particle is None else DATA / particle


def _load(particle, view):
    if not (_folder(particle) / f"haadf_{view}.json").is_file():
        pytest.skip(f"[{view}] of {particle or 'cuboctahedron'} not stored: run benchmarks/multislice/make_images.py")
    return load_multislice_view(_folder(particle), view)


def _brightest_near(image, pixel_size, yx, radius):
    """Distance (Å) from ``yx`` of the brightest pixel within ``radius`` Å, and its value."""
    c = np.round(np.asarray(yx) / pixel_size).astype(int)
    r = int(np.ceil(radius / pixel_size)) + 1
    lo = np.maximum(c - r, 0)
    win = image[lo[0] : c[0] + r + 1, lo[1] : c[1] + r + 1]
    yy, xx = np.mgrid[lo[0] : lo[0] + win.shape[0], lo[1] : lo[1] + win.shape[1]] * pixel_size
    d = np.hypot(yy - yx[0], xx - yx[1])
    k = np.argmax(np.where(d <= radius, win, -np.inf))
    return float(d.ravel()[k]), float(win.ravel()[k])


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_stored_view_is_complete(case):
    """Image float32 of the sidecar's shape, non-negative (a detected fraction), columns with consistent counts."""
    view = _load(*case)
    assert view.image.dtype == np.float32 and list(view.image.shape) == view.meta["shape"]
    assert np.all(view.image >= 0) and 0 < view.image.max() < 1
    cols = view.columns
    assert (cols["n_atoms"] == cols["n_Pb"] + cols["n_Se"]).all()
    kinds = np.where((cols["n_Pb"] > 0) & (cols["n_Se"] > 0), "Pb+Se", np.where(cols["n_Pb"] > 0, "Pb", "Se"))
    assert (cols["type"].to_numpy() == kinds).all()
    assert len(cols) == view.meta["n_columns"]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_columns_are_the_atoms_projected(case):
    """Every atom of ``atoms.csv`` lies on one true column; the counts add up to the particle's composition."""
    particle, name = case
    view = _load(particle, name)
    atoms = pd.read_csv(_folder(particle) / "atoms.csv")
    pos = atoms[["x", "y", "z"]].to_numpy()
    yx = view.geometry.project(pos) + view.origin
    cols = view.columns[["y", "x"]].to_numpy()
    d = np.hypot(*(yx[:, None, :] - cols[None, :, :]).transpose(2, 0, 1))
    assert d.min(axis=1).max() < 0.05  # Å: every atom on a column
    nearest = d.argmin(axis=1)
    for el in ("Pb", "Se"):
        per_column = np.bincount(nearest[atoms["element"].to_numpy() == el], minlength=len(cols))
        assert (per_column == view.columns[f"n_{el}"].to_numpy()).all(), el
    comp = atoms["element"].value_counts().to_dict()
    assert {"Pb": int(view.columns["n_Pb"].sum()), "Se": int(view.columns["n_Se"].sum())} == comp
    assert view.meta["particle"]["composition"] == comp


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_columns_sit_on_intensity_maxima(case):
    """The probe channels along a column: the brightest pixel within 1 Å of a true column of ≥ 3 atoms is within 0.5 Å of it.

    1 Å is under half the smallest column spacing of rocksalt PbSe in these
    views (a/(2√2) = 2.16 Å along [110]), so the window holds one column.
    """
    view = _load(*case)
    cols = view.columns[view.columns["n_atoms"] >= MIN_ATOMS]
    off = [_brightest_near(view.image, view.pixel_size, yx, 1.0)[0] for yx in cols[["y", "x"]].to_numpy()]
    far = cols[np.asarray(off) > 0.5]
    assert far.empty, f"{len(far)} of {len(cols)} columns have no maximum within 0.5 Å:\n{far}"


@pytest.mark.parametrize("case", [c for c in CASES if c[1] == "110"], ids=_ids)
def test_lead_outshines_selenium(case):
    """Z-contrast along [110] (pure columns): the dimmest Pb column of n atoms is brighter than the brightest Se column of n atoms."""
    view = _load(*case)
    cols = view.columns
    peak = np.array([_brightest_near(view.image, view.pixel_size, yx, 1.0)[1] for yx in cols[["y", "x"]].to_numpy()])
    pb, se = (cols["type"] == "Pb").to_numpy(), (cols["type"] == "Se").to_numpy()
    shared = np.intersect1d(cols["n_atoms"][pb], cols["n_atoms"][se])
    assert len(shared) >= 3
    for n in shared:
        at = (cols["n_atoms"] == n).to_numpy()
        assert peak[pb & at].min() > peak[se & at].max(), n


@pytest.mark.parametrize("particle", [p for p, _ in STORED], ids=lambda p: p or "cuboctahedron")
def test_views_of_one_particle_agree(particle):
    """All views of a particle hold the same atoms: equal Pb and Se totals, the same sidecar particle and settings."""
    views = [v for p, names in STORED if p == particle for v in names]
    loaded = [load_multislice_view(_folder(particle), v) for v in views if (_folder(particle) / f"haadf_{v}.json").is_file()]
    if len(loaded) < 2:
        pytest.skip("fewer than two views stored")
    totals = {(int(v.columns["n_Pb"].sum()), int(v.columns["n_Se"].sum())) for v in loaded}
    assert len(totals) == 1
    assert len({str(v.meta["particle"]) for v in loaded}) == 1
    settings = {str({k: v.meta["simulation"][k] for k in ("energy_eV", "semiangle_cutoff_mrad", "detector_mrad")}) for v in loaded}
    assert len(settings) == 1
    assert len({v.meta["simulation"]["frozen_phonons"]["n_configs"] for v in loaded}) == 1


def test_load_names_the_missing_view(tmp_path):
    """Loading a view that is not stored says which and how to make it."""
    with pytest.raises(FileNotFoundError, match="make_images.py"):
        load_multislice_view(tmp_path, "010", "pbse_irregular")
