"""Atom counting from scattering cross-sections (step 3 of the workflow).

The fitted volume of a column's Gaussian peak is its *scattering
cross-section* (Å²), which grows with the number of atoms in the column.
This package turns a set of cross-sections into integer atom counts.  Entry
point: :func:`count_atoms`; mixed Pb/Se columns: :func:`pb_counts_mixed`.

Modules: :mod:`.front` (``count_atoms``: input, per-type dispatch, assembly),
:mod:`.gmm` (the free mixture, K by the ICL, the lowest count),
:mod:`.mixture` (the 1D Gaussian mixture fit and the ICL), :mod:`._em_kernels`
(its numba E-step and EM), :mod:`.binning` (large data sets binned for the
EM), :mod:`.curve` (classes on a cross-section curve), :mod:`.mixed` (mixed
Pb/Se columns), :mod:`.library` (library forms), :mod:`.hybrid` (counting
with a library up to one scale: given by a dose or fitted), :mod:`.views`
(:func:`count_views`: several views, one scale, one total), :mod:`.neighbours`
(:func:`lowest_from_neighbours`: a type's lowest count from its neighbours),
:mod:`.result` (:class:`CountResult`), :mod:`.inputs` (checks).
"""

from .binning import _BIN_ABOVE  # noqa: F401  (read by benchmarks; patch it in .binning)
from .front import count_atoms
from .gmm import RESOLVED_FACTOR, infer_lowest_count
from .mixed import SE_RATIO_BOUNDS, SE_RATIO_Z2, pb_counts_mixed
from .neighbours import lowest_from_neighbours
from .mixture import GMMFit, fit_gmm, icl_criterion, local_minima
from .result import CountResult
from .views import ViewsCount, count_views

__all__ = [
    "CountResult",
    "count_atoms",
    "count_views",
    "ViewsCount",
    "fit_gmm",
    "GMMFit",
    "icl_criterion",
    "infer_lowest_count",
    "local_minima",
    "lowest_from_neighbours",
    "pb_counts_mixed",
    "SE_RATIO_Z2",
    "SE_RATIO_BOUNDS",
    "RESOLVED_FACTOR",
]
