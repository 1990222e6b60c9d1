"""Atomic column finding and model-based fitting (StatSTEM-like), numerics only.

:func:`find_columns` finds the columns of a HAADF image as local maxima;
:func:`fit_columns` fits a flat (or smooth polynomial, :mod:`.background`)
background plus one pixel-integrated Gaussian per column (one width per column type) by least squares and gives
each column's position, volume (cross-section) and their standard errors;
:func:`model_image` draws the fitted model and :func:`estimate_noise` fits
the pixel noise variance ``α + β · model``; :func:`cell_cross_sections` sums the
image over each column's Voronoi cell (no model: :mod:`.cells`).

The numba kernels live in :mod:`.profile_kernels` (the Gaussians and the
linear solve) and :mod:`.normal_kernels` (the Gauss-Newton normal equations,
leverage and noise moments); their drivers in :mod:`.problem` (the model of
one image; :mod:`.background` its smooth background), :mod:`.widths`,
:mod:`.solver` and :mod:`.fit`.
"""

from .background import MAX_DEGREE, background_image
from .cells import cell_cross_sections
from .finding import _smoothing_gain, _suppress, find_columns
from .fit import BORDER_SIGMAS, fit_columns
from .noise import _noise_model, _pixel_noise, _quantum, estimate_noise
from .normal_kernels import _column_normals, _leverage_map, _noise_moments
from .problem import N_SIGMA, _overlap_pairs, _Problem, _render, model_image
from .profile_kernels import (
    _gram_pairs,
    _inverse_variance,
    _linear_terms,
    _profile,
    _tabulate,
    _weighted_rss,
    _window,
)
from .progress import FitCancelled
from .solver import _gauss_newton_step, _sandwich
from .threads import _LOCK, PARALLEL_MIN_WORK, _default_threads, _threads
from .validation import (
    MIN_SEPARATION_SIGMAS,
    _check_image,
    _check_pixel_size,
    _check_positions,
    _close_pairs,
    _raise_close,
)
from .widths import _scan_width

__all__ = [
    "FitCancelled",
    "find_columns",
    "fit_columns",
    "model_image",
    "estimate_noise",
    "background_image",
    "cell_cross_sections",
]
