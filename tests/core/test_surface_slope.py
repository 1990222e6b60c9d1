"""A view's own surface slope (``counting.surface``): the library in the fit's units as a particle's columns read it,
V · (V / V(6))^b, with b fitted per view about the pooled slope (``library.table.FITTED_SURFACE``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_nxtomo import load_library
from napari_nxtomo.core.counting import count_atoms
from napari_nxtomo.core.library.table import FITTED_SURFACE, CrossSectionLibrary, with_surface

OPTICS = dict(convergence_mrad=22.0, detector_mrad=(60.0, 140.0))
#: a 3 nm particle's [110] Pb columns: how many of each count (1-11 Pb)
SHARES = {1: 3, 2: 6, 3: 8, 4: 10, 5: 12, 6: 16, 7: 14, 8: 12, 9: 9, 10: 5, 11: 3}


@pytest.fixture(scope="module")
def fitted_110():
    return load_library("PbSe", (1, 1, 0), units="fitted", **OPTICS)


def _columns(library, slope, scale, rel_noise, seed):
    """A [110] view's Pb columns read with a given surface slope at a scale (detected electrons), with the fit's
    relative scatter: (table, true counts)."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(list(SHARES), list(SHARES.values()))
    read = with_surface(library.values("Pb", surface=False), slope, FITTED_SURFACE["pivot"])
    x = scale * np.array([read[n] for n in truth]) * (1 + rel_noise * rng.standard_normal(truth.size))
    table = pd.DataFrame({"volume": x, "volume_err": rel_noise * x, "type": "Pb"})
    return table, truth


@pytest.mark.parametrize("slope", [0.010, 0.045])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_view_fits_its_own_surface_slope(fitted_110, slope, seed):
    """Columns read with a slope at either end of the calibration particles' spread (0.019-0.042, pooled 0.026),
    2 % scatter per column, the dose given: the view's fitted slope lies within 0.008 of the true one (the grid steps
    by 0.0055; measured 0.0095-0.015 and 0.0425-0.048, scratch chk_surf_unit.py), and the columns are counted
    right."""
    dose_scale = 4000.0
    table, truth = _columns(fitted_110, slope, dose_scale, 0.02, seed)
    res = count_atoms(table, library=fitted_110, dose=1e5, pixel_size=0.2)  # surface="fit": the default
    assert abs(res.by_type["Pb"].params["surface_slope"] - slope) <= 0.008
    assert np.mean(res.counts == truth) >= 0.98
    assert any("fitted on this view" in n for n in res.notes)


def test_the_pooled_slope_stays_where_the_columns_cannot_tell(fitted_110):
    """Three classes of columns (4-6 Pb) say nothing about the slope: the view keeps the pooled one."""
    table, truth = _columns(fitted_110, 0.045, 4000.0, 0.02, 0)
    keep = (truth >= 4) & (truth <= 6)
    res = count_atoms(table[keep], library=fitted_110, dose=1e5, pixel_size=0.2)
    assert res.params["surface_slope"] == FITTED_SURFACE["slope"]
    assert np.all(res.counts == truth[keep])


def test_only_the_heaviest_type_of_a_fitted_library_fits_a_slope(fitted_110):
    """The fitted [110] library's Pb columns fit a slope by default; its Se columns, a cell-integrated library and a
    library whose surface term is fixed or off do not."""
    cell = load_library("PbSe", (1, 1, 0), **OPTICS)
    bulk, slope, sd, pivot = fitted_110.surface_prior("Pb")
    assert (slope, sd, pivot) == (FITTED_SURFACE["slope"], FITTED_SURFACE["slope_sd"], FITTED_SURFACE["pivot"])
    assert bulk == fitted_110.values("Pb", surface=False) != fitted_110.values("Pb")
    assert fitted_110.surface_prior("Se") is None and cell.surface_prior("Pb") is None
    fixed = load_library("PbSe", (1, 1, 0), units="fitted", **OPTICS)
    for mode in (True, False):
        fixed.surface = mode
        assert fixed.surface_prior("Pb") is None


def test_an_unknown_surface_mode_is_refused():
    t = pd.DataFrame({"count": [1], "n_minor": [0], "cross_section": [0.01], "cross_section_sd": [0.0]})
    with pytest.raises(ValueError, match="surface must be False"):
        CrossSectionLibrary("PbSe", (1, 1, 0), {"units": "fitted"}, {"Pb": t}, surface="pooled")
