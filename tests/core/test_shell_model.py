"""The shell of a core–shell particle in 3D: sites filled by the core's atoms (``reconstruct(filled=...)``) and the
Cd of the shell placed in the core's frame (:mod:`napari_nxtomo.core.workflow.core_shell_model`), against the true
atoms of a particle built by ``core_shell_model`` (counts exact: the solver's part alone)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_nxtomo.core.evaluation import score_species
from napari_nxtomo.core.geometry import ProjectionGeometry
from napari_nxtomo.core.lattice import ROCKSALT_PBSE
from napari_nxtomo.core.samples import core_shell_model
from napari_nxtomo.core.tomography import Projection, reconstruct
from napari_nxtomo.core.workflow.core_shell_model import reconstruct_shell

A = ROCKSALT_PBSE.lattice_parameter
ZONES = [(1, 0, 0), (0, 1, 0), (1, 1, 0)]


def _projections(q, origin=(20.0, 20.0)):
    """Exact counts of sites ``q`` along the three zone axes, the crystal origin at ``origin`` in every image."""
    out = []
    for zone in ZONES:
        geometry = ProjectionGeometry(zone)
        labels, centres = geometry.group_columns(q * A / 4)
        out.append(Projection(zone, centres + origin, np.bincount(labels), offset=origin))
    return out


def test_filled_sites_hold_no_atom_and_count_as_occupied():
    """The counts of a whole ball of fcc sites, its inner 13 sites filled by another species: the model is the ball
    less those 13 (no atom on a filled site, whatever the counts ask), each of them missing from its column in all
    three views (count mismatch 3 × 13), and its surface is the ball's outer surface alone (a filled neighbour counts
    as occupied: no surface between the shell and what fills it), by the exact optimum and the annealing runs."""
    from napari_nxtomo.core.tomography import surface_edges

    q, _ = ROCKSALT_PBSE.sites(2.5 * A, "Pb")
    r = np.linalg.norm(q * A / 4, axis=1)
    ball, core = q[r <= 2.5 * A], q[r <= 4.5]
    shell = q[(r > 4.5) & (r <= 2.5 * A)]
    result = reconstruct(_projections(ball), A, n_runs=2, seed=0, filled=core * A / 4, filled_radius=0.1)
    assert set(map(tuple, result.q.tolist())) == set(map(tuple, shell.tolist()))
    assert len(core) == 13 and result.count_mismatch == 3 * len(core)
    assert result.surface_edges == surface_edges(ball) < surface_edges(shell)
    assert result.exact.status == "optimal"


def test_shell_cd_in_the_core_frame():
    """Pb core reconstructed from its counts, then the Cd of the zincblende shell from theirs: every Pb and Cd on its
    true site after one common translation (the Cd lattice found a quarter body diagonal from the core's)."""
    q, el = core_shell_model(11.0, 3.0, 2, (0, 1), (1, 0, 0), 2.0)
    pb, cd = q[el == "Pb"], q[el == "Cd"]
    core = reconstruct(_projections(pb, (25.0, 25.0)), A, n_runs=0, method="exact")
    tables = []
    for zone in ZONES:  # the Cd columns in the same images as the Pb ones (image origin at 25 Å, 25 Å)
        labels, centres = ProjectionGeometry(zone).group_columns(cd * A / 4)
        tables.append(pd.DataFrame({"y": centres[:, 0] + 25.0, "x": centres[:, 1] + 25.0, "type": "Cd",
                                    "count_Cd": np.bincount(labels)}))
    shell, shift_q = reconstruct_shell(tables, core, A, n_runs=0, method="exact")
    s = score_species({"Pb": core.q, "Cd": shell.q + shift_q}, q[el != "Se"], el[el != "Se"])
    assert s["per_element"]["Cd"] == (len(cd), len(cd), len(cd))
    assert s["recall"] == 1.0 and s["precision"] == 1.0
