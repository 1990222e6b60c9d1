"""Powder scattering of a finite atomistic model by the Debye scattering equation.

:func:`debye_intensity` gives I(Q) (Q = 4π sinθ/λ in Å⁻¹, positions in Å)
by the exact pair sum, a histogram of binned distances or, for atoms on a
lattice, FFT cross-correlation of occupancy grids, whichever is cheapest
(:func:`select_method`); :func:`pair_distribution` gives G(r) and
:func:`pair_distance_histogram` the distances themselves.  :class:`Beam` and
the functions of :mod:`.beam` convert energy, wavelength, Q and 2θ.

Modules: ``beam`` (units), ``form_factors`` (f, b, Debye-Waller),
``model`` (checked input), ``histogram``, ``grid`` and ``lattice`` (pair
distances), ``method`` (cost model and choice), ``intensity``, ``pdf``; the
numba kernels sit apart in ``_sum_kernels`` and ``_bin_kernels``.
"""

from .beam import (
    Beam,
    energy_to_wavelength,
    q_to_two_theta,
    two_theta_to_q,
    wavelength_to_energy,
)
from .form_factors import NEUTRON_SCATTERING_LENGTHS, scattering_factors
from .histogram import DEFAULT_BIN_WIDTH, PairHistogram
from .intensity import debye_intensity
from .method import select_method
from .pdf import pair_distance_histogram, pair_distribution

# names of the former module core/debye.py that tests and scripts reach here
from .beam import HC_KEV_ANGSTROM as HC_KEV_ANGSTROM
from .grid import _detect_affine_grid as _detect_affine_grid
from .histogram import MAX_HISTOGRAM_BINS as MAX_HISTOGRAM_BINS
from .lattice import MAX_LATTICE_CELLS as MAX_LATTICE_CELLS
from .model import COINCIDENT_DISTANCE as COINCIDENT_DISTANCE
from .model import _prepare as _prepare

__all__ = [
    "DEFAULT_BIN_WIDTH",
    "NEUTRON_SCATTERING_LENGTHS",
    "Beam",
    "PairHistogram",
    "debye_intensity",
    "energy_to_wavelength",
    "pair_distance_histogram",
    "pair_distribution",
    "q_to_two_theta",
    "scattering_factors",
    "select_method",
    "two_theta_to_q",
    "wavelength_to_energy",
]
