"""Real-space view of a model: its pair distances per element pair, and the reduced pair distribution G(r)."""

from __future__ import annotations

import numpy as np

from .._parallel import NUMBA_LOCK as _PARALLEL_LOCK
from ._sum_kernels import _pdf_kernel
from .form_factors import scattering_factors
from .histogram import DEFAULT_BIN_WIDTH, PairHistogram, _warn_coincident
from .method import _choose_method, _estimate_costs, _pair_histogram
from .model import _prepare

__all__ = ["pair_distance_histogram", "pair_distribution"]


def pair_distance_histogram(
    positions,
    elements,
    occupancy=None,
    method: str = "auto",
    *,
    lattice_parameter: float | None = None,
    grid_step: float | None = None,
    grid_tolerance: float = 1e-5,
    sites=None,
    bin_width: float = DEFAULT_BIN_WIDTH,
    progress=None,
) -> PairHistogram:
    """Interatomic distances of a model, per element pair.

    Parameters
    ----------
    positions, elements, occupancy, lattice_parameter, grid_step, grid_tolerance, sites, bin_width, progress
        As for :func:`debye_intensity`.
    method : {"auto", "histogram", "lattice"}
        ``"lattice"``: exact distances of atoms on a grid (FFT);
        ``"histogram"``: distances in bins of ``bin_width`` Å; ``"auto"``:
        lattice when the atoms sit on a grid small enough, else histogram.

    Returns
    -------
    PairHistogram

    Examples
    --------
    A PbS rocksalt cube of 3 × 3 × 3 sites, 2.968 Å apart (on a grid:
    exact distances):

    >>> import numpy as np
    >>> from napari_nxtomo.core.debye import pair_distance_histogram
    >>> sites = np.indices((3, 3, 3)).reshape(3, -1).T
    >>> elements = np.where(sites.sum(axis=1) % 2 == 0, "Pb", "S")
    >>> h = pair_distance_histogram(2.968 * sites, elements)
    >>> h.method, h.pairs
    ('lattice', [('Pb', 'Pb'), ('Pb', 'S'), ('S', 'S')])
    >>> d, w = h.partial("Pb", "S")
    >>> print(d[:3].round(3), w[:3])
    [2.968 5.141 6.637] [54. 32. 72.]
    >>> print(h.n_atoms, h.self_weight)
    [14. 13.] [14. 13.]
    """
    if method == "exact":
        raise ValueError("pair_distance_histogram bins distances: use method='histogram' (with a small bin_width) or 'lattice'")
    model = _prepare(positions, elements, occupancy, "constant")
    chosen, grid = _choose_method(model, 1, method, lattice_parameter, grid_step, grid_tolerance, bin_width, sites)
    if chosen == "exact":
        chosen = "lattice" if grid is not None and "lattice" in _estimate_costs(model, 1, grid, bin_width) else "histogram"
    h = _pair_histogram(model, chosen, grid, bin_width, progress)
    _warn_coincident(model, h.coincident)
    return h


def pair_distribution(
    positions,
    elements,
    r,
    occupancy=None,
    *,
    q_max: float | None = None,
    sigma: float | None = None,
    method: str = "auto",
    radiation: str = "xray",
    energy_keV: float | None = None,
    lattice_parameter: float | None = None,
    grid_step: float | None = None,
    sites=None,
    bin_width: float = DEFAULT_BIN_WIDTH,
    histogram: PairHistogram | None = None,
) -> np.ndarray:
    """Reduced pair distribution function G(r) of a model, from its pair histogram.

    Definition (per atom, Å⁻²)::

        G(r) = (1 / N) sum_{i != j} o_i o_j (f_i f_j / <f>^2) K(r, d_ij) / d_ij

    with ``N = sum o_j``, ``<f> = sum o_j f_j / N`` and the scattering
    factors taken at Q = 0 (Z for X-rays with ``radiation="xray"`` or
    ``"constant"``, plus f′ at ``energy_keV`` if given; b for neutrons).
    With ``K`` a delta function this is ``(2/pi) int_0^inf Q [S(Q) - 1]
    sin(Q r) dQ`` where ``S(Q) - 1 = (I(Q) - sum_j o_j^2 f_j^2) / (N <f>^2)``
    is the Faber-Ziman structure function of :func:`debye_intensity` with
    Q-independent f.  No ``-4 pi rho_0 r`` baseline: a finite particle's
    pattern above Q = 0 carries none.  ``K`` makes the peaks finite:

    * ``q_max`` (Å⁻¹): the transform stops at ``q_max`` as a measured
      pattern does, ``K = [sin(q_max (r - d))/(r - d) - sin(q_max (r + d))/(r + d)] / pi``;
      G(r) then equals ``(2/pi) int_0^q_max Q [S(Q) - 1] sin(Q r) dQ`` exactly.
    * ``sigma`` (Å): Gaussian peaks of standard deviation ``sigma``,
      ``K = g(r - d) - g(r + d)``.

    Parameters
    ----------
    positions, elements, occupancy
        As for :func:`debye_intensity`.
    r : (K,) array
        Distances in Å at which to evaluate G.
    q_max, sigma : float
        Exactly one of them.
    method, lattice_parameter, grid_step, sites, bin_width
        As for :func:`pair_distance_histogram`.
    histogram : PairHistogram, optional
        Reuse a histogram of the same model instead of computing it.

    Returns
    -------
    G : (K,) ndarray
        Å⁻².

    Examples
    --------
    Two Pb atoms 3 Å apart: a Gaussian peak at 3 Å of area ``2 / (N d)`` = 1/3 Å⁻¹.

    >>> import numpy as np
    >>> from napari_nxtomo.core.debye import pair_distribution
    >>> dimer = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    >>> g = pair_distribution(dimer, "Pb", [2.8, 2.9, 3.0, 3.1], sigma=0.1)
    >>> print(g.round(4))
    [0.18   0.8066 1.3298 0.8066]
    """
    if (q_max is None) == (sigma is None):
        raise ValueError(
            "give exactly one of q_max (Å⁻¹: terminate the transform as a measured pattern does) "
            "or sigma (Å: Gaussian peaks)"
        )
    if q_max is not None and not (np.isfinite(q_max) and q_max > 0):
        raise ValueError(f"q_max must be a positive number of Å⁻¹; got {q_max!r}")
    if sigma is not None and not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number of Å; got {sigma!r}")
    rr = np.ascontiguousarray(np.atleast_1d(np.asarray(r, dtype=float)))
    if np.any(~np.isfinite(rr)):
        raise ValueError("r must be finite (Å)")
    h = histogram
    if h is None:
        h = pair_distance_histogram(
            positions, elements, occupancy, method,
            lattice_parameter=lattice_parameter, grid_step=grid_step, sites=sites, bin_width=bin_width,
        )
    coef = _pdf_coefficients(h, radiation, energy_keV)
    out = np.zeros(rr.size)
    if h.distance.size:
        with _PARALLEL_LOCK:
            _pdf_kernel(
                rr, h.pair_type, h.distance, h.amplitude, h.variance, coef,
                float(q_max) if q_max is not None else 0.0, float(sigma) if sigma is not None else 0.0, out,
            )
    return out


def _pdf_coefficients(h: PairHistogram, radiation: str, energy_keV) -> np.ndarray:
    """``(2 / N) Re(f_a f_b*) / |<f>|^2`` per pair type, the scattering factors taken at Q = 0."""
    f0 = scattering_factors(h.elements, np.zeros(1), radiation, energy_keV)[:, 0]
    n = float(np.sum(h.n_atoms))
    if n <= 0:
        raise ValueError("the model has no occupied sites (all occupancies are zero)")
    mean_f = np.sum(h.n_atoms * f0) / n
    norm = abs(mean_f) ** 2
    if norm == 0:
        raise ValueError("the mean scattering factor is zero (neutron lengths cancel); G(r) is undefined for this model")
    index = {s: k for k, s in enumerate(h.elements)}
    return np.array([2.0 / n * np.real(f0[index[a]] * np.conj(f0[index[b]])) / norm for a, b in h.pairs])
