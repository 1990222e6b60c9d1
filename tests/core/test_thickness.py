"""A scale without a dose checked by the particle's shape (:mod:`napari_nxtomo.core.counting.thickness`): the thickness
the counts give against the width an orthogonal view sees, on multislice images of particles the check was not
developed on (the 3 nm cuboctahedron and the irregular particle), against their true atoms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_nxtomo.core.columns import min_distance_for
from napari_nxtomo.core.counting.thickness import PLAUSIBLE, thickness_ratio
from napari_nxtomo.core.evaluation import match_columns
from napari_nxtomo.core.multislice_sample import MULTISLICE_SAMPLES, multislice_view
from napari_nxtomo.core.workflow import count_views_tables, find_and_fit

DATA = Path(__file__).parent / "data" / "multislice"
CUBO_3NM = dict(MULTISLICE_SAMPLES["pbse_cuboctahedron"], title="PbSe cuboctahedron 3 nm",
                folder=DATA / "pbse_cuboctahedron_3nm")
ZONES = ((1, 0, 0), (0, 1, 0), (1, 1, 0))


def _views(particle, dose, seed):
    views, tables, mds = [], [], []
    for zone in ZONES:
        view = multislice_view(zone, dose=dose, seed=seed, particle=particle)
        md = view.layer_metadata()
        tables.append(find_and_fit(view.image, view.pixel_size, min_distance_for(md)[0], zone_axis=zone,
                                   lattice_parameter=md["lattice_parameter"]))
        mds.append({k: v for k, v in md.items() if k != "dose_e_per_A2"})  # no dose
        views.append(view)
    return views, tables, mds


def test_true_counts_are_as_thick_as_the_particle_is_wide():
    """The true Pb counts of the fitted columns give a ratio within the plausible band, and the same counts at a
    1.8 × alias (every count / 1.8) or a 0.6 × one fall outside it."""
    views, tables, mds = _views(CUBO_3NM, 1e5, 0)
    per_view = []
    for view, table, md in zip(views, tables, mds):
        nearest, _ = match_columns(table, view.columns)
        per_view.append((table[["y", "x"]].to_numpy(), view.columns["n_Pb"].to_numpy()[nearest], md["zone_axis"],
                         md.get("tilt_direction", (1.0, 0.0))))
    a = mds[0]["lattice_parameter"]
    ratio = thickness_ratio(per_view, a)
    assert PLAUSIBLE[0] <= ratio <= PLAUSIBLE[1] and abs(ratio - 1) < 0.08
    for f in (1.8, 0.6):
        aliased = [(p, np.rint(c / f).astype(int), z, t) for p, c, z, t in per_view]
        assert not PLAUSIBLE[0] <= thickness_ratio(aliased, a) <= PLAUSIBLE[1], f


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_joint_count_without_dose_on_the_3nm_cuboctahedron(seed):
    """Its views' own scales agree on an alias (3.15 × the truth) where the [100] view's classes cannot lie, and no
    estimate gives totals within 3 % at the true scale (the [010] view overcounts by 5 %): refused before.  The
    thickness check proposes each view's scale corrected by its counted thickness; kept, then settled by the views'
    own scales fitted about it: within 3 % of D · p² (1.003-1.010 ×; the thickness's proposal alone 1.035-1.036 × at
    seeds 2 and 3), every view's total within 3 % of the true 568 Pb."""
    views, tables, mds = _views(CUBO_3NM, 1e5, seed)
    counted, joint = count_views_tables(tables, mds)
    assert joint.scale == pytest.approx(1e5 * views[0].pixel_size ** 2, rel=0.03)
    true_total = int(views[0].columns["n_Pb"].sum())
    assert all(abs(t - true_total) <= 0.03 * true_total for t in joint.totals), joint.totals
    assert any("counted thickness" in n and "settled at" in n for n in joint.notes), joint.notes
