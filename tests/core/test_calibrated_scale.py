"""The scale a joint count reports without a dose: that of the columns whose fit capture is calibrated.

``counting.views._calibrated_scale``: the heaviest one-element type of a library in the fit's units (Pb along
⟨110⟩) sets the reported dose · pixel² where its scale, fitted about the chosen one, lies within ``VIEWS_AGREE`` of
it; an estimate further off is an alias a count away and leaves the mean of all views' scales
(``_settled_scale``) in charge.  The physics check is in test_end_to_end_multislice.py (the octahedral particle).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from napari_nxtomo.core.counting import count_atoms
from napari_nxtomo.core.counting.views import VIEWS_AGREE, _calibrated_scale
from napari_nxtomo.core.library.table import CrossSectionLibrary


def _table(n_minor=0):
    return pd.DataFrame({"count": [1, 2], "n_minor": [n_minor, n_minor], "cross_section": [0.01, 0.02],
                         "cross_section_sd": [0.0, 0.0]})


def _libraries():
    mixed = CrossSectionLibrary("PbSe", (1, 0, 0), {}, {"Pb+Se": _table(1)})
    fitted = CrossSectionLibrary("PbSe", (1, 1, 0), {"units": "fitted"}, {"Pb": _table(), "Se": _table()})
    return [mixed, mixed, fitted]


def _results(mixed_scale, pb_scale, se_scale=900.0):
    def sub(c):
        return SimpleNamespace(params={"scale": c, "scale_err": 0.01 * c})
    mixed = SimpleNamespace(by_type={"Pb+Se": sub(mixed_scale)})
    return [mixed, mixed, SimpleNamespace(by_type={"Pb": sub(pb_scale), "Se": sub(se_scale)})]


def test_the_calibrated_columns_set_the_scale():
    """⟨100⟩ views at 1.07 × (over their capture 0.85), [110] Pb at 0.98 × a true 1000: the [110] Pb scale is
    reported, its error that of its fit; the Se columns, whose capture is not calibrated, take no part."""
    scale, err, note = _calibrated_scale(_results(0.85 * 1070.0, 980.0), _libraries(), "Pb", [0.5, 0.5, 1.0],
                                         chosen=1070.0)
    assert scale == pytest.approx(980.0)
    assert err == pytest.approx(9.8)
    assert "view 3 Pb" in note and "Se" not in note.split("fitted about")[0]


@pytest.mark.parametrize("off", [1.0 + 1.2 * VIEWS_AGREE, 1.0 / (1.0 + 1.2 * VIEWS_AGREE)])
def test_an_alias_of_the_calibrated_columns_does_not(off):
    """[110] Pb fitted a count off the chosen scale (beyond ``VIEWS_AGREE``): not reported."""
    scale, err, note = _calibrated_scale(_results(0.85 * 1000.0, 1000.0 * off), _libraries(), "Pb",
                                         [0.5, 0.5, 1.0], chosen=1000.0)
    assert scale is None and note is None and np.isnan(err)


def test_without_a_calibrated_library_nothing_is_settled():
    """Only simulated libraries (captures measured on other particles' fits): the mean of the views decides."""
    libs = _libraries()
    libs[2] = CrossSectionLibrary("PbSe", (1, 1, 0), {}, {"Pb": _table(), "Se": _table()})
    scale, _, note = _calibrated_scale(_results(850.0, 980.0), libs, "Pb", [0.5, 0.5, 1.0], chosen=1000.0)
    assert scale is None and note is None


def _pb_110(scale_off, seed=0):
    """A [110] table of Pb columns of 2-9 atoms at ``scale_off`` × the dose's scale (1 % errors), and its library
    in the fit's units (Pb the calibrated type) with a plain Se entry."""
    pb = pd.DataFrame({"count": np.arange(1, 13), "n_minor": 0, "cross_section": 0.011 * np.arange(1, 13) ** 1.1,
                       "cross_section_sd": 0.0})
    lib = CrossSectionLibrary("PbSe", (1, 1, 0), {"units": "fitted"}, {"Pb": pb, "Se": _table()})
    n = np.repeat(np.arange(2, 10), 12)
    lib.surface = False  # no surface term: the columns are the bulk's
    bulk = lib.values("Pb")
    v = scale_off * 1000.0 * np.array([bulk[k] for k in n])
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"volume": v + rng.normal(0, 0.01 * v), "volume_err": 0.01 * v, "type": "Pb"})
    return table, lib, n


def test_a_measured_dose_holds_the_calibrated_type_to_its_captures_spread():
    """About a dose the user gives, the calibrated type's prior is ``CALIBRATED_DOSE_SD`` wide; where the dose is
    uncertain (``dose_sd``, as where the views' own scale stands in for one, ``STAND_IN_SD``) at least that; the
    other types keep their capture's spread."""
    from napari_nxtomo.core.counting.front import _dose_prior
    from napari_nxtomo.core.library.table import CALIBRATED_DOSE_SD, STAND_IN_SD

    _, lib, _ = _pb_110(1.0)
    assert _dose_prior(1000.0, lib, "Pb") == (1000.0, CALIBRATED_DOSE_SD)
    assert _dose_prior(1000.0, lib, "Pb", STAND_IN_SD) == (1000.0, STAND_IN_SD)
    assert _dose_prior(1000.0, lib, "Se") == (950.0, 0.04)
    assert _dose_prior(1000.0, lib, "Se", 0.1) == (950.0, 0.1)


def test_a_dose_known_to_ten_percent_lets_the_columns_fit_their_own_scale():
    """Columns 8 % above a dose's scale: a measured dose (prior 2 % wide) puts the classes between theirs and is
    refused; the same dose given as known to 10 % (``dose_sd=0.1``) is fitted about, and every column counted right."""
    table, lib, n = _pb_110(1.08)
    with pytest.raises(ValueError, match="dose"):
        count_atoms(table, library=lib, dose=1000.0, pixel_size=1.0)
    res = count_atoms(table, library=lib, dose=1000.0, pixel_size=1.0, dose_sd=0.1)
    assert np.all(res.counts == n)
    assert res.params["scale"] == pytest.approx(1080.0, rel=0.01)
    with pytest.raises(ValueError, match="dose_sd"):
        count_atoms(table, library=lib, dose=1000.0, pixel_size=1.0, dose_sd=-0.1)
