"""The shell of a core–shell particle in 3D: its Cd on the zincblende cation sites around the reconstructed Pb core.

Pb (rocksalt, octahedral sites) and Cd (zincblende, tetrahedral sites) share
one Se lattice but sit on two different fcc lattices, a quarter of the body
diagonal apart.  The Pb core is reconstructed first (its frame: the crystal
axes, origin a Pb site, :class:`~napari_nxtomo.core.tomography.ProjectionFit`
per view).  The Cd lattice is then that frame shifted by one of the two
tetrahedral offsets ``s`` (:data:`TETRAHEDRAL_SHIFTS_Q`): the one that puts
the projected Cd lattice on the Cd columns the views measured
(:func:`_shell_shift`).  Every view's Cd projection is given its origin at the
core's origin plus ``s`` projected, so that the Cd reconstruction shares the
core's frame; the Cd sites beside a Pb atom (closer than √3 a/4) are no
candidates and count as occupied (the particle compact as a whole, no
surface between shell and core).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree

#: the two tetrahedral sublattices relative to an fcc (octahedral-site) lattice, quarter-lattice units
TETRAHEDRAL_SHIFTS_Q = np.array([[-1, 1, 1], [1, 1, 1]])
#: largest median distance (Å) of the measured Cd columns from the projected Cd lattice that is accepted
MAX_SHELL_MISFIT = 0.6


def _image_of(fit, vectors):
    """Image positions ``(row, col)`` Å of crystal-frame vectors (Å) in a view placed by ``fit``."""
    b = np.asarray(fit.zone_axis, dtype=float)
    t = np.asarray(fit.crystal_tilt_axis, dtype=float)
    b, t = b / np.linalg.norm(b), t / np.linalg.norm(t)
    across = np.cross(b, t)
    tdir = np.asarray(fit.tilt_direction, dtype=float)
    perp = np.array([-tdir[1], tdir[0]])
    v = np.atleast_2d(vectors)
    return fit.origin + fit.scale * (np.outer(v @ t, tdir) + np.outer(v @ across, perp))


def _shell_shift(core_result, cd_columns, lattice_parameter: float):
    """The tetrahedral offset (quarter-lattice units) of the Cd lattice from the core's, from the measured Cd columns.

    Parameters
    ----------
    core_result : ReconstructionResult
        The Pb core (its ``fits``, one per view).
    cd_columns : list of (N_k, 2) arrays
        The Cd columns' image positions ``(y, x)`` Å of every view, in the order of ``core_result.fits``.
    lattice_parameter : float

    Returns
    -------
    shift_q : (3,) int ndarray
    misfit : (2,) ndarray
        Median distance (Å) of the Cd columns from each candidate's projected lattice (worst view).
    """
    a = float(lattice_parameter)
    h = np.arange(-10, 11)
    g = np.stack(np.meshgrid(h, h, h, indexing="ij"), -1).reshape(-1, 3) * 2
    fcc = g[(g // 2).sum(1) % 2 == 0]
    misfit = np.zeros(len(TETRAHEDRAL_SHIFTS_Q))
    for i, s in enumerate(TETRAHEDRAL_SHIFTS_Q):
        worst = 0.0
        for fit, cols in zip(core_result.fits, cd_columns):
            if len(cols) == 0:
                continue
            tree = cKDTree(_image_of(fit, (fcc + s) * a / 4))
            worst = max(worst, float(np.median(tree.query(np.asarray(cols, dtype=float))[0])))
        misfit[i] = worst
    best = int(np.argmin(misfit))
    if misfit[best] > MAX_SHELL_MISFIT:
        raise ValueError(f"the Cd columns do not sit on either tetrahedral lattice of the core's frame (median "
                         f"distance {misfit.min():.2f} Å): check the Cd columns' types and the core's reconstruction")
    return TETRAHEDRAL_SHIFTS_Q[best].copy(), misfit


def _shell_projections(tables, core_result, shift_q, lattice_parameter: float, names=None):
    """The Cd projections of counted core–shell tables, each with the origin that puts it in the core's frame.

    Returns ``(projections, kept)``: as :func:`~napari_nxtomo.core.workflow.projections_from_tables`.
    """
    from ..tomography import projection_from_table

    a = float(lattice_parameter)
    projections, kept = [], []
    for k, (table, fit) in enumerate(zip(tables, core_result.fits)):
        if "count_Cd" not in table:
            raise ValueError(f"{names[k] if names else fit.name} has no Cd counts: count it with a library of the "
                             "shell crystal (the image's metadata 'shell_crystal')")
        # the Cd counts weigh alike: the table's count_probability is the Pb count's, not theirs, and weighing them by
        # count_Cd_probability was measured worse (the cubic core's shell 0.968 of its Cd sites in two of four
        # seeds against 0.989; the sample's 0.991 against 1.000)
        features = table.drop(columns=["count_probability"], errors="ignore").assign(count=table["count_Cd"])
        proj, rows = projection_from_table(table[["y", "x"]].to_numpy(), features, fit.zone_axis, "Cd",
                                           tilt_direction=fit.tilt_direction, name=names[k] if names else fit.name)
        origin = _image_of(fit, np.asarray(shift_q) * a / 4)[0]
        tdir = np.asarray(fit.tilt_direction, dtype=float)
        offset = (float(origin @ tdir), float(origin @ np.array([-tdir[1], tdir[0]])))
        projections.append(dataclasses.replace(proj, offset=offset, crystal_tilt_axis=fit.crystal_tilt_axis))
        kept.append(rows)
    return projections, kept


def reconstruct_shell(tables, core_result, lattice_parameter: float, *, names=None, n_runs: int = 10, seed: int = 0,
                      method: str = "both", progress=None, cancel=None):
    """The Cd of a core–shell particle in 3D, in the frame of its reconstructed Pb core.

    Parameters
    ----------
    tables : list of pandas.DataFrame
        The views' counted tables (``count_Cd``: :func:`~napari_nxtomo.core.workflow.count_core_shell_views`),
        in the order of the core's projections.
    core_result : ReconstructionResult
        The Pb core reconstructed from the same views.
    lattice_parameter : float
    names, n_runs, seed, method, progress, cancel
        As :func:`~napari_nxtomo.core.tomography.reconstruct`.

    Returns
    -------
    result : ReconstructionResult
        The Cd model; its positions are in the core's frame once ``shift_q`` is added.
    shift_q : (3,) int ndarray
        Quarter-lattice units: Cd site = ``result.q + shift_q`` in the core's frame.

    Examples
    --------
    A small PbSe core in a CdSe rod, its Pb and its Cd counted exactly along [100], [010], [110] (image origin at
    25 Å, 25 Å): every Cd on its true site in the core's frame.

    >>> import pandas as pd
    >>> from napari_nxtomo.core.geometry import ProjectionGeometry
    >>> from napari_nxtomo.core.samples import core_shell_model
    >>> from napari_nxtomo.core.tomography import Projection, reconstruct
    >>> q, el = core_shell_model(11.0, 3.0, 2, (0, 1), (1, 0, 0), 2.0)
    >>> zones, a = [(1, 0, 0), (0, 1, 0), (1, 1, 0)], 6.12
    >>> views, tables = [], []
    >>> for zone in zones:
    ...     lab, at = ProjectionGeometry(zone).group_columns(q[el == "Pb"] * a / 4)
    ...     views.append(Projection(zone, at + 25.0, np.bincount(lab), offset=(25.0, 25.0)))
    ...     lab, at = ProjectionGeometry(zone).group_columns(q[el == "Cd"] * a / 4)
    ...     tables.append(pd.DataFrame({"y": at[:, 0] + 25, "x": at[:, 1] + 25, "type": "Cd", "count_Cd": np.bincount(lab)}))
    >>> core = reconstruct(views, a, n_runs=0, method="exact")
    >>> shell, shift_q = reconstruct_shell(tables, core, a, n_runs=0, method="exact")
    >>> cd = {tuple(v) for v in (shell.q + shift_q).tolist()}
    >>> shift_q.tolist(), shell.n_atoms, cd == {tuple(v) for v in q[el == "Cd"].tolist()}
    ([-1, 1, 1], 81, True)
    """
    from ..tomography import reconstruct

    a = float(lattice_parameter)
    if len(tables) != len(core_result.fits):
        raise ValueError(f"{len(tables)} tables for a core reconstructed from {len(core_result.fits)} views")
    cd_columns = [t.loc[t["type"].astype(str) == "Cd", ["y", "x"]].to_numpy() for t in tables]
    shift_q, _ = _shell_shift(core_result, cd_columns, a)
    projections, _ = _shell_projections(tables, core_result, shift_q, a, names)
    core = np.asarray(core_result.q, dtype=float) * a / 4 - shift_q * a / 4
    result = reconstruct(projections, a, n_runs=n_runs, seed=seed, method=method, progress=progress, cancel=cancel,
                         filled=core)
    _check_frame(result, core_result, shift_q, a)
    return result, shift_q


def _check_frame(result, core_result, shift_q, a):
    """Refuse a Cd model whose origin did not land where the core's frame puts it (in every view)."""
    for fit_cd, fit in zip(result.fits, core_result.fits):
        want = _image_of(fit, np.asarray(shift_q) * a / 4)[0]
        miss = float(np.hypot(*(fit_cd.origin - want)))
        if miss > 0.5 * a / 4:
            raise ValueError(f"view {fit.name}: the Cd lattice's origin lies {miss:.2f} Å from where the core's "
                             "frame puts it: the shell cannot be placed around the core")


#: anion completion of a whole core–shell model: Se with >= this many of its 6 Pb (rocksalt) or 4 Cd (zincblende)
#: neighbours.  On the true rods (the sample and the off-centre particle) 3 and 2 keep 286 of 342 and 262 of 302 Se
#: with 25 and 12 beyond the shell's true surface; lower values add far more outside it, higher ones lose the rod's
#: surface Se.
WHOLE_MIN_NEIGHBOURS = {"Pb": 3, "Cd": 2}


def zincblende_polarity(shift_q) -> int:
    """The ``polarity`` (:func:`~napari_nxtomo.core.nanocrystal.complete_sublattice`) of the shell's anions around
    its Cd, when the Cd lattice is the core's (rocksalt cations, anion at a/2 [100]) shifted by ``shift_q``.

    Examples
    --------
    >>> zincblende_polarity([-1, 1, 1]), zincblende_polarity([1, 1, 1])
    (-1, 1)
    """
    d = np.array([2, 0, 0]) - np.asarray(shift_q, dtype=np.int64) - np.array([1, 1, 1])
    return 1 if np.all(d % 2 == 0) and (d // 2).sum() % 2 == 0 else -1


def shell_positions(shell, shift_q):
    """The shell's atoms in the core's frame (Å): its model's positions plus the tetrahedral offset.

    Examples
    --------
    >>> from types import SimpleNamespace as Model
    >>> shell_positions(Model(lattice_parameter=6.12, positions=np.zeros((1, 3))), [-1, 1, 1]).tolist()
    [[-1.53, 1.53, 1.53]]
    """
    return np.asarray(shell.positions, dtype=float) + np.asarray(shift_q) * float(shell.lattice_parameter) / 4


def whole_model(core, shell, shift_q):
    """The cations of a core–shell model in one frame: ``(positions (N, 3) Å, elements, certainty)``, Pb then Cd.

    Examples
    --------
    >>> from types import SimpleNamespace as Model
    >>> core = Model(lattice_parameter=6.12, positions=np.zeros((1, 3)), n_atoms=1, certainty=np.ones(1))
    >>> shell = Model(lattice_parameter=6.12, positions=np.zeros((1, 3)), n_atoms=1, certainty=np.array([0.5]))
    >>> pos, elements, certainty = whole_model(core, shell, [-1, 1, 1])
    >>> pos.tolist(), elements.tolist(), certainty.tolist()
    ([[0.0, 0.0, 0.0], [-1.53, 1.53, 1.53]], ['Pb', 'Cd'], [1.0, 0.5])
    """
    pos = np.vstack([core.positions, shell_positions(shell, shift_q)])
    elements = np.concatenate([np.full(core.n_atoms, "Pb"), np.full(shell.n_atoms, "Cd")])
    return pos, elements, np.concatenate([core.certainty, shell.certainty])


def whole_completion(lattice_parameter: float, shift_q, anion: str = "Se") -> list:
    """``pattern_model(complete=...)`` of a whole core–shell model: the anions around its Pb, then around its Cd.

    Examples
    --------
    >>> [(c["cation"], c["structure"], c["min_neighbours"], c.get("polarity")) for c in whole_completion(6.12, [-1, 1, 1])]
    [('Pb', 'rocksalt', 3, None), ('Cd', 'zincblende', 2, -1)]
    """
    a = float(lattice_parameter)
    return [{"anion": anion, "structure": "rocksalt", "cation": "Pb", "lattice_parameter": a,
             "min_neighbours": WHOLE_MIN_NEIGHBOURS["Pb"]},
            {"anion": anion, "structure": "zincblende", "cation": "Cd", "lattice_parameter": a,
             "min_neighbours": WHOLE_MIN_NEIGHBOURS["Cd"], "polarity": zincblende_polarity(shift_q)}]


def write_whole_xyz(path, core, shell, shift_q):
    """The core's Pb and the shell's Cd as one extended XYZ (species, certainty; the shift in the comment line).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from types import SimpleNamespace as Model
    >>> from napari_nxtomo.core.tables import read_xyz
    >>> core = Model(lattice_parameter=6.12, positions=np.zeros((1, 3)), n_atoms=1, certainty=np.ones(1))
    >>> shell = Model(lattice_parameter=6.12, positions=np.zeros((1, 3)), n_atoms=1, certainty=np.ones(1))
    >>> path = write_whole_xyz(Path(tempfile.mkdtemp()) / "m.xyz", core, shell, [-1, 1, 1])
    >>> read_xyz(path)[1].tolist()
    ['Pb', 'Cd']
    """
    from ..tables import write_xyz

    pos, elements, certainty = whole_model(core, shell, shift_q)
    info = {"lattice_parameter": core.lattice_parameter, "source": "napari-nxtomo tomography (core and shell)",
            "shell_shift_q": "_".join(str(int(v)) for v in shift_q)}
    return write_xyz(path, pos, elements, {"certainty": certainty}, info=info)
