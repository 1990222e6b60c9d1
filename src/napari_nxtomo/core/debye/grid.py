"""Is the model on a lattice?  Integer grid coordinates of its atoms, for the ``"lattice"`` method.

Two kinds of grid: a cubic grid of one step (every model of the project sits
on the quarter-lattice grid of :mod:`napari_nxtomo.core.lattice`), found by
rounding the coordinates; or a strained lattice with shifted sublattices,
``position = basis @ site + shift[element]`` with integer sites (the
rhombohedral distortion and the Pb off-centring of the builder's models, or a
crystal turned off the axes), from given sites or detected from the
positions.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .model import _Model


@dataclass
class _Grid:
    """Atoms on a lattice: ``position = basis @ g + shift[element]``, g integer."""

    g: np.ndarray  # (N, 3) int64, model order
    basis: np.ndarray  # (3, 3) Å per grid step, columns are the grid axes
    shift: np.ndarray | None  # (ne, 3) Å per element, None for all zero
    cubic: bool  # basis = step * identity and no shifts: exact distances step * sqrt(n)

    @property
    def step(self) -> float:
        return float(self.basis[0, 0])


def _grid_coordinates(positions: np.ndarray, step: float | None, tol: float):
    """Integer coordinates of positions on a cubic grid, as a _Grid (or None).

    With ``step`` None the step is detected: the smallest non-zero coordinate
    difference to the first atom, divided by 1..8.
    """
    p = positions - positions[0]
    if step is not None:
        candidates = [float(step)]
    else:
        absval = np.abs(p).ravel()
        nz = absval[absval > max(10 * tol, 1e-3)]
        if nz.size == 0:
            return _Grid(np.zeros(positions.shape, dtype=np.int64), np.eye(3), None, True)
        s0 = float(nz.min())
        candidates = [s0 / k for k in range(1, 9)]
    for s in candidates:
        if not s > 0:
            continue
        r = p / s
        g = np.rint(r)
        if np.max(np.abs(r - g)) * s <= tol:
            return _Grid(g.astype(np.int64), s * np.eye(3), None, True)
    return None


def _affine_grid(model: _Model, sites, tol: float):
    """Fit ``position = basis @ site + shift[element]`` to integer sites; a _Grid or None."""
    g = np.asarray(sites)
    n = model.positions.shape[0]
    if g.shape != (n, 3):
        raise ValueError(f"sites must be an (N, 3) array of integer lattice coordinates, one row per atom; got {g.shape}")
    if not np.all(np.isfinite(g)) or np.any(np.abs(g - np.rint(g)) > 1e-9):
        raise ValueError("sites must hold integers (lattice coordinates such as NanocrystalModel.sites)")
    return _fit_affine(model, np.rint(g).astype(np.int64)[model.order], tol)


def _fit_affine(model: _Model, g: np.ndarray, tol: float):
    """Least-squares ``basis`` and ``shift`` of ``position = basis @ g + shift[element]``
    (g in model order); a _Grid when every atom is within ``tol`` Å of the fit, else None."""
    n = model.positions.shape[0]
    ne = model.n_types
    design = np.zeros((n, 3 + ne))
    design[:, :3] = g
    design[np.arange(n), 3 + model.types] = 1.0
    coef, _, rank, _ = np.linalg.lstsq(design, model.positions, rcond=None)
    if rank < 3 + ne:
        return None
    resid = model.positions - design @ coef
    if np.max(np.abs(resid)) > tol:
        return None
    basis = np.ascontiguousarray(coef[:3].T)
    shift = np.ascontiguousarray(coef[3:])
    return _Grid(np.ascontiguousarray(g), basis, shift, False)


#: nearest neighbours of a central atom searched for lattice vectors
_AFFINE_NEIGHBOURS = 18

#: finest subdivision of the detected primitive cell tried when an element
#: occupies more than one site per cell (e.g. 2 for two atoms at half a vector)
_AFFINE_MAX_SUBDIVISION = 4


def _detect_affine_grid(model: _Model, tol: float):
    """Integer lattice coordinates from the positions alone, for a strained lattice.

    Looks for ``position = basis @ g + shift[element]`` with integer g: the
    lattice vectors come from the difference vectors between the most common
    element's atom nearest the centroid and its nearest neighbours of the same
    element (shifts between sublattices cancel there); the three of them
    spanning the smallest non-zero volume are the primitive cell.  Every
    element's atoms must then sit at integer coordinates of that cell (or of
    the cell divided by 2 to 4 along each vector) from its own first atom; a
    least-squares fit of basis and shifts to all atoms must leave no atom
    farther than ``tol`` Å.  Returns a _Grid, or None when the positions are
    not a lattice (thermal or random displacements, an amorphous model, a
    planar model).
    """
    found = _neighbour_vectors(model, tol)
    if found is None:
        return None
    cell = _primitive_cell(*found)
    if cell is None:
        return None
    g = _cell_coordinates(model, cell, tol)
    if g is None:
        return None
    return _fit_affine(model, g, tol)


def _neighbour_vectors(model: _Model, tol: float):
    """Vectors (Å) from the most common element's central atom to its nearest neighbours of that element,
    nearest first, and their lengths; None with fewer than 4 such atoms or 3 such neighbours."""
    pos = model.positions
    starts = model.type_starts
    counts = np.diff(starts)
    ref = int(np.argmax(counts))
    if counts[ref] < 4:
        return None
    x = pos[starts[ref] : starts[ref + 1]]
    i0 = int(np.argmin(np.sum((x - x.mean(axis=0)) ** 2, axis=1)))
    d = x - x[i0]
    r = np.sqrt(np.sum(d * d, axis=1))
    k = min(_AFFINE_NEIGHBOURS + 1, x.shape[0])
    near = np.argpartition(r, k - 1)[:k]
    near = near[r[near] > max(10.0 * tol, 1e-6)]
    if near.size < 3:
        return None
    near = near[np.argsort(r[near], kind="stable")]
    return d[near], r[near]


def _primitive_cell(v: np.ndarray, lengths: np.ndarray):
    """The triple of vectors ``v`` spanning the smallest well-conditioned volume (the shortest of
    equal ones): a (3, 3) cell whose columns are the primitive vectors (Å), or None."""
    tri = np.array(list(itertools.combinations(range(v.shape[0]), 3)), dtype=np.int64)
    dets = np.abs(np.linalg.det(v[tri]))
    prod = lengths[tri].prod(axis=1)
    ok = dets > 0.05 * prod
    if not np.any(ok):
        return None
    tri, dets, prod = tri[ok], dets[ok], prod[ok]
    smallest = dets.min()
    cand = np.nonzero(dets <= smallest * (1.0 + 1e-3))[0]
    best = tri[cand[np.argmin(prod[cand])]]
    return v[best].T


def _cell_coordinates(model: _Model, cell: np.ndarray, tol: float):
    """Integer coordinates (N, 3) of every atom in ``cell`` (or in the cell divided by 2 to 4),
    counted from its element's first atom; None when some atom is farther than ``tol`` Å off."""
    try:
        inv = np.linalg.inv(cell)
    except np.linalg.LinAlgError:
        return None
    pos = model.positions
    starts = model.type_starts
    g = np.empty(pos.shape, dtype=np.int64)
    for sub in range(1, _AFFINE_MAX_SUBDIVISION + 1):
        fine = True
        for a in range(model.n_types):
            sl = slice(starts[a], starts[a + 1])
            if starts[a + 1] == starts[a]:
                continue
            c = (pos[sl] - pos[starts[a]]) @ inv.T * sub
            gi = np.rint(c)
            off = (c - gi) @ cell.T / sub
            if np.max(np.abs(off)) > tol:
                fine = False
                break
            g[sl] = gi.astype(np.int64)
        if fine:
            return g
    return None


def _resolve_grid(model: _Model, lattice_parameter, grid_step, grid_tolerance, sites=None):
    """The grid of the model, and the step given by the caller (None: detected).

    A cubic grid of the given step (``lattice_parameter / 4`` or
    ``grid_step``, else detected) first; then the strained lattice of
    ``sites``, or one detected from the positions.  The grid is None when the
    atoms sit on none of them within ``grid_tolerance`` Å.
    """
    if grid_step is not None and lattice_parameter is not None:
        raise ValueError("give lattice_parameter (grid step a/4) or grid_step, not both")
    step = None
    if grid_step is not None:
        step = float(grid_step)
    elif lattice_parameter is not None:
        step = float(lattice_parameter) / 4.0
    if step is not None and not (np.isfinite(step) and step > 0):
        raise ValueError(f"the grid step must be a positive number of Å; got {step!r}")
    grid = _grid_coordinates(model.positions, step, grid_tolerance)
    if grid is None:
        if sites is not None:
            grid = _affine_grid(model, sites, grid_tolerance)
        elif model.positions.shape[0] > 1:
            grid = _detect_affine_grid(model, grid_tolerance)
    return grid, step

