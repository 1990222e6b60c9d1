"""Which way to evaluate the pair sum: a rough cost model of the three methods, and the choice.

``"exact"`` costs N² × (number of Q points); ``"histogram"`` N² for the
binning plus (occupied bins) × (Q points); ``"lattice"`` the FFTs of the grid
(``G log G``) plus (distinct distances) × (Q points).  ``method="auto"``
takes the cheapest that applies.
"""

from __future__ import annotations

import math

import numpy as np

from .grid import _resolve_grid
from .histogram import DEFAULT_BIN_WIDTH, MAX_HISTOGRAM_BINS, _histogram_binned
from .lattice import MAX_LATTICE_CELLS, _histogram_lattice, _lattice_shape
from .model import _Model, _n_slots, _prepare

__all__ = ["select_method"]

_METHODS = ("auto", "exact", "histogram", "lattice")


def _occupied_bins(nbins: float, items: float) -> float:
    """Expected number of occupied bins when ``items`` values fall at random into ``nbins`` bins."""
    if nbins <= 0:
        return 0.0
    return nbins * -math.expm1(-items / nbins)


def _estimate_costs(model: _Model, nq: int, grid, bin_width: float) -> dict:
    """Rough run times (arbitrary units ~ ns on one core) of each method."""
    n = model.positions.shape[0]
    ns = _n_slots()
    npairs = n * (n - 1) / 2.0
    costs = {"exact": npairs * nq * 0.7 / ns}
    r_max = float(np.linalg.norm(model.positions.max(axis=0) - model.positions.min(axis=0)))
    nbins = r_max / bin_width + 2
    if nbins <= MAX_HISTOGRAM_BINS:
        terms = _occupied_bins(nbins, npairs / model.n_pairs) * model.n_pairs
        costs["histogram"] = npairs * 3.0 / ns + terms * nq * 0.7 / ns
    if grid is not None:
        g, gcd, extent, shape = _lattice_shape(grid.g)
        size = float(np.prod(shape))
        if size <= MAX_LATTICE_CELLS:
            n_disp = float(np.prod(2 * extent - 1))
            if grid.cubic:
                n_dist = min(float(np.sum((extent - 1) ** 2)) + 1, npairs, n_disp)
                binning = size * model.n_pairs * 3.0
            else:
                # displacement lengths binned as in the histogram method
                n_dist = _occupied_bins(nbins, min(n_disp, npairs / model.n_pairs))
                binning = size * model.n_pairs * 3.0 / ns
            costs["lattice"] = (
                size * math.log2(max(size, 2.0)) * (model.n_types + model.n_pairs) * 1.0 / ns
                + binning
                + n_dist * model.n_pairs * nq * 0.7 / ns
            )
    return costs


def _no_lattice(step, sites, grid_tolerance: float) -> ValueError:
    """The error for method='lattice' on atoms that sit on no lattice."""
    where = f"the grid of step {step:g} Å" if step is not None else "any grid (step detected from the positions)"
    extra = (
        "; with sites= the positions must be one linear map of the sites plus one offset per element"
        if sites is not None
        else " nor on a strained lattice (one linear map of integer coordinates plus one offset per "
        "element) detected from the positions"
    )
    return ValueError(
        f"method='lattice' needs atoms on a lattice, and these are not on {where} within "
        f"{grid_tolerance:g} Å{extra}; pass lattice_parameter= or grid_step= if the grid was "
        "mis-detected, or use method='histogram'"
    )


def _choose_method(model, nq, method, lattice_parameter, grid_step, grid_tolerance, bin_width, sites=None):
    """The method to run (``method``, or the cheapest for "auto") and the model's grid (None: none)."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    grid = None
    if method in ("auto", "lattice"):
        grid, step = _resolve_grid(model, lattice_parameter, grid_step, grid_tolerance, sites)
        if method == "lattice" and grid is None:
            raise _no_lattice(step, sites, grid_tolerance)
    if method != "auto":
        return method, grid
    if model.positions.shape[0] == 1:
        return "exact", grid
    costs = _estimate_costs(model, nq, grid, bin_width)
    return min(costs, key=costs.get), grid


def select_method(
    positions,
    elements,
    n_q: int = 2000,
    *,
    lattice_parameter: float | None = None,
    grid_step: float | None = None,
    grid_tolerance: float = 1e-5,
    sites=None,
    bin_width: float = DEFAULT_BIN_WIDTH,
) -> str:
    """The method ``method="auto"`` of :func:`debye_intensity` picks for a model.

    Parameters
    ----------
    positions, elements
        As for :func:`debye_intensity`.
    n_q : int
        Number of Q points the pattern will have.
    lattice_parameter, grid_step, grid_tolerance, sites, bin_width
        As for :func:`debye_intensity`.

    Returns
    -------
    str
        ``"exact"``, ``"histogram"`` or ``"lattice"``.

    Examples
    --------
    A cube of 6 × 6 × 6 Pb atoms 3 Å apart sits on a grid; the same atoms
    shaken by 0.05 Å do not, and their 23 220 pairs are best binned:

    >>> import numpy as np
    >>> from napari_nxtomo.core.debye import select_method
    >>> cube = 3.0 * np.indices((6, 6, 6)).reshape(3, -1).T
    >>> select_method(cube, "Pb")
    'lattice'
    >>> shaken = cube + np.random.default_rng(0).normal(0.0, 0.05, cube.shape)
    >>> select_method(shaken, "Pb")
    'histogram'
    >>> select_method(shaken[:3], "Pb")
    'exact'
    """
    model = _prepare(positions, elements, None, "constant")
    return _choose_method(model, int(n_q), "auto", lattice_parameter, grid_step, grid_tolerance, bin_width, sites)[0]


def _pair_histogram(model: _Model, method: str, grid, bin_width: float, progress=None):
    """The model's PairHistogram by the ``"lattice"`` method (on ``grid``) or else the ``"histogram"`` one."""
    if method == "lattice":
        return _histogram_lattice(model, grid, progress, bin_width=bin_width)
    return _histogram_binned(model, bin_width, progress)
