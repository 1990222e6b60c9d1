"""Discrete tomography of an fcc sublattice from atom counts in two or more projections.

Step 4 of the workflow: the numbers of atoms of one species (Pb in PbSe)
counted in every atomic column of two or more HAADF-STEM images, taken along
zone axes that share one tilt axis, are combined into a 3D atomic model on
the fcc lattice by minimising one energy (surface edges plus weighted count
mismatch) with simulated annealing and an exact mixed-integer program, with
a calibrated certainty per atom.  Entry point: :func:`reconstruct`; input:
one :class:`Projection` per image; output: a :class:`ReconstructionResult`.
The modules: :mod:`.projections` (input), :mod:`.view_lattice` and
:mod:`.indexing` (the columns on the projected lattice), :mod:`.offsets`,
:mod:`.problem` (candidate sites and the energy), :mod:`.anneal` with its
numba kernels in :mod:`._anneal_kernels`, :mod:`.exact`, :mod:`.result`,
:mod:`.runners` and :mod:`.reconstruction` (the front).
"""

from ._anneal_kernels import _sweeps
from .anneal import _initial_state, _kernel_args
from .exact import ExactSolution, _fix_sites, _milp_arrays, _solve_exact
from .indexing import ProjectionFit, _common_tilt_axis, _place
from .offsets import _choose_offsets
from .problem import (
    DEFAULT_COUNT_WEIGHT,
    _build_problem,
    _column_counts,
    _energy_parts,
    _occupied_neighbours,
    surface_edges,
)
from .projections import Projection, _zone_name, parse_zone_axis, projection_from_table
from .reconstruction import DEFAULT_TEMPERATURE, reconstruct
from .result import ReconstructionCancelled, ReconstructionResult

__all__ = [
    "Projection",
    "ProjectionFit",
    "ExactSolution",
    "ReconstructionResult",
    "ReconstructionCancelled",
    "reconstruct",
    "surface_edges",
]
