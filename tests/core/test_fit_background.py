"""A smooth background fitted with the columns, and widths kept in a range (issue 16).

Truth: the generator's columns (volumes = their cross-sections) on a known
background ramp, Poisson noise.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.spatial import cKDTree

from napari_nxtomo import fit_columns, model_image
from napari_nxtomo.core.fitting.background import background_image
from napari_nxtomo.core.geometry import ProjectionGeometry
from napari_nxtomo.core.simulate import simulate_haadf

PIXEL = 0.2
DOSE = 5e4
GEOM = ProjectionGeometry((1, 0, 0), (0, 0, 1))


def _lattice_on_ramp(seed=1):
    """8 × 8 Pb columns (1-8 atoms, 3.2 Å apart, probe FWHM 1 Å) on 0.01 + 0.03 x + 0.02 y² (x, y over the
    image's width): the noise-free expectation, a Poisson image, the true columns and the background."""
    rng = np.random.default_rng(seed)
    atoms = [(3.0 * k, -(8 + 3.2 * c), 8 + 3.2 * r) for r in range(8) for c in range(8)
             for k in range(int(rng.integers(1, 9)))]
    sim = simulate_haadf(np.array(atoms), ["Pb"] * len(atoms), GEOM, pixel_size=PIXEL, shape=(200, 200),
                         origin=(0.0, 0.0), probe_fwhm=1.0, dose=DOSE, background=0.0, noise=False)
    h, w = sim.expected.shape
    yy, xx = np.mgrid[0:h, 0:w] / h
    ramp = 0.01 + 0.03 * xx + 0.02 * yy**2
    lam = sim.expected + ramp
    per_pixel = DOSE * PIXEL**2
    image = np.random.default_rng(0).poisson(lam * per_pixel) / per_pixel
    return lam, image, sim.columns, ramp


def test_quadratic_background_recovers_volumes_on_a_ramp():
    """Columns on a background ramp (a third of a one-atom column's peak across the image): with a quadratic
    background the cross-sections are within 3 % of the truth (median), unbiased (mean within 1 %), their errors
    as reported (pull spread 0.8-1.2), the background within 2 % of the ramp and the residual at the true noise
    level (within 10 %)."""
    lam, image, truth, ramp = _lattice_on_ramp()
    start = truth[["y", "x"]].to_numpy() + 0.05
    table = fit_columns(image, PIXEL, start, background_degree=2)
    assert len(table) == len(truth)
    _, idx = cKDTree(truth[["y", "x"]].to_numpy()).query(table[["y", "x"]].to_numpy())
    true_v = truth.cross_section.to_numpy()[idx]
    rel = table.volume.to_numpy() / true_v - 1
    assert np.median(np.abs(rel)) < 0.03 and abs(np.mean(rel)) < 0.01, (np.median(np.abs(rel)), np.mean(rel))
    pull = (table.volume.to_numpy() - true_v) / table.volume_err.to_numpy()
    assert 0.8 < pull.std() < 1.2, pull.std()
    bg = background_image(image.shape, table.attrs["background_coefficients"])
    assert np.abs(bg - ramp).max() < 0.02 * ramp.max(), np.abs(bg - ramp).max()
    model = model_image(image.shape, PIXEL, table)
    true_noise = np.sqrt(np.mean(lam / (DOSE * PIXEL**2)))
    assert abs(np.std(image - model) / true_noise - 1) < 0.1


def test_background_degree_checked():
    _, image, truth, _ = _lattice_on_ramp()
    start = truth[["y", "x"]].to_numpy()[:4]
    with pytest.raises(ValueError, match="background_degree must be an integer"):
        fit_columns(image, PIXEL, start, background_degree=7)
    with pytest.raises(ValueError, match="a fixed background"):
        fit_columns(image, PIXEL, start, background_degree=1, fit_background=False, background=0.0)


def test_width_range_bounds_the_width():
    """A width range narrower than the columns' true width (0.425 Å): the width stops at its top, with a
    warning and ``attrs["widths_at_bound"]``; a range holding the truth gives the truth."""
    _, image, truth, _ = _lattice_on_ramp()
    start = truth[["y", "x"]].to_numpy()
    with pytest.warns(UserWarning, match="stopped at an end of its allowed range"):
        narrow = fit_columns(image, PIXEL, start, background_degree=2, width_range=(0.2, 0.35))
    assert narrow.attrs["widths"][0] == pytest.approx(0.35) and narrow.attrs["widths_at_bound"] == [0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        free = fit_columns(image, PIXEL, start, background_degree=2, width_range=(0.3, 0.9))
    assert free.attrs["widths"][0] == pytest.approx(truth.width.iloc[0], rel=0.01)
    assert free.attrs["widths_at_bound"] == []


def test_width_range_per_type():
    """Two column types, one range each: the type whose range excludes its true width stops at that range's
    end, the other is free (its true width inside its range)."""
    _, image, truth, _ = _lattice_on_ramp()
    start = truth[["y", "x"]].to_numpy()
    types = np.where(np.arange(len(start)) % 2 == 0, "a", "b")
    with pytest.warns(UserWarning, match="stopped at an end"):
        table = fit_columns(image, PIXEL, start, types=types, background_degree=2,
                            width_range={"a": (0.3, 0.9), "b": (0.2, 0.35)})
    assert table.attrs["widths"]["b"] == pytest.approx(0.35)
    assert table.attrs["widths"]["a"] == pytest.approx(truth.width.iloc[0], rel=0.02)
    assert table.attrs["widths_at_bound"] == ["b"]
    assert table.attrs["width_range"]["a"] == pytest.approx((0.3, 0.9))
    with pytest.raises(ValueError, match="no range for the type"):
        fit_columns(image, PIXEL, start, types=types, width_range={"a": (0.3, 0.9)})
