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
