"""Column types of core–shell images from the sublattice each column sits on (core/sublattices.py).

Truth: the atoms of the core–shell model projected along each zone axis (which element
each column holds), not the code's output.
"""

import numpy as np
import pandas as pd
import pytest

from napari_nxtomo.core.samples import pbse_cdse_core_shell
from napari_nxtomo.core.sublattices import assign_sublattices, element_offsets

ZONES = [(1, 0, 0), (0, 1, 0), (1, 1, 0)]


def _proxy(cols):
    """A cross-section proxy (Z^1.7 per atom): only the order of brightness matters here."""
    return cols["n_Pb"] * 82**1.7 + cols["n_Cd"] * 48**1.7 + cols["n_Se"] * 34**1.7


def _site_truth(cols):
    """The sublattice each true column sits on: along <100> Pb and Se share one ("Pb+Se")."""
    return cols["type"].replace({"Se": "Pb+Se"}) if "Pb+Se" in set(cols["type"]) else cols["type"]


@pytest.mark.parametrize("k", [0, 1, 2])
def test_types_from_positions_survive_rotation_mirror_jitter_and_noise_peaks(k):
    cols = pbse_cdse_core_shell(noise=False).views[k].columns
    rng = np.random.default_rng(k)
    yx = cols[["y", "x"]].to_numpy()
    th = np.deg2rad(17.0 + 40 * k)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    moved = (yx - yx.mean(0)) @ rot.T
    if k == 1:
        moved = moved[:, ::-1]  # a mirrored image (scan direction)
    moved += rng.normal(0, 0.08, moved.shape)  # fitted positions scatter
    # 3 % noise peaks between the sites
    n_noise = int(0.03 * len(cols))
    noise = moved[rng.choice(len(moved), n_noise)] + rng.choice([-1, 1], (n_noise, 2)) * [1.1, 0.6]
    types, info = assign_sublattices(np.vstack([moved, noise]), np.r_[_proxy(cols), np.full(n_noise, 1.0)],
                                     ZONES[k], 6.12)
    truth = _site_truth(cols).to_numpy()
    assert info["score"] > 0.7
    assert (types[: len(cols)] == truth).mean() >= 0.99, pd.crosstab(truth, types[: len(cols)])
    assert (types[len(cols):] == "off-lattice").mean() >= 0.8


def test_offsets_of_the_cation_exchange_pair():
    # along [100] Pb and Se share the square lattice, Cd sits at the centres of its squares;
    # along [110] Se is halfway between Pb columns and Cd a quarter of the way (the polar dumbbell)
    assert {e: v.tolist() for e, v in element_offsets((1, 0, 0), 6.12).items()} == {
        "Pb": [[0.0, 0.0]], "Se": [[0.0, 0.0]], "Cd": [[0.5, 0.5]]}
    off = element_offsets((1, 1, 0), 6.12)
    assert off["Se"].tolist() == [[0.5, 0.5]] and len(off["Cd"]) == 1 and set(off["Cd"][0]) <= {0.25, 0.75}


def test_a_wrong_lattice_parameter_is_refused():
    cols = pbse_cdse_core_shell(noise=False).views[0].columns
    with pytest.raises(ValueError, match="lattice parameter"):
        assign_sublattices(cols[["y", "x"]].to_numpy(), _proxy(cols), (1, 0, 0), 5.0)
