"""Powder intensity I(Q) of a finite atomistic model by the Debye scattering equation."""

from __future__ import annotations

import numpy as np

from .._memory import check_memory
from .._parallel import NUMBA_LOCK as _PARALLEL_LOCK
from ._sum_kernels import _exact_rows, _sin_sums
from .form_factors import _debye_waller, scattering_factors
from .histogram import DEFAULT_BIN_WIDTH, PairHistogram, _reporting_row_blocks, _warn_coincident
from .method import _choose_method, _pair_histogram
from .model import _check_q, _check_self_term, _Model, _n_slots, _prepare, _uniform_step

__all__ = ["debye_intensity", "pattern_bytes"]

#: terms handled together in the vectorised sin-sum loops
_CHUNK = 128


def pattern_bytes(n_q: int, n_types: int = 1) -> float:
    """Estimated peak memory (bytes) of :func:`debye_intensity` for ``n_q`` Q points and ``n_types`` elements.

    Per Q point: one accumulator per thread and element pair, the partial
    sums twice, the complex scattering and Debye-Waller factors of each
    element, and the Q, 2θ and intensity arrays with their temporaries.

    Examples
    --------
    >>> pattern_bytes(2_000_000, 2) > 2_000_000 * 8 * 10
    True
    """
    n_pairs = n_types * (n_types + 1) // 2
    per_q = 8.0 * ((_n_slots() + 3) * n_pairs + 3 * n_types + 8)
    return float(n_q) * per_q


def _partial_sums_exact(model: _Model, q: np.ndarray, progress=None):
    """S[p, k] = sum_{pairs of type p} o_i o_j sin(q_k d)/(q_k d), and the coincident weights."""
    ns = _n_slots()
    npair = model.n_pairs
    uniform, q0, dq = _uniform_step(q)
    acc = np.zeros((ns, npair, q.size))
    acc_w = np.zeros((ns, npair))
    acc_0 = np.zeros((ns, npair))
    for i0, i1 in _reporting_row_blocks(model.positions.shape[0], progress):
        with _PARALLEL_LOCK:
            _exact_rows(
                model.positions, model.types, model.occupancy, model.type_starts, model.pair_index,
                q, uniform, q0, dq, i0, i1, acc, acc_w, acc_0, _CHUNK,
            )
    sums = acc.sum(axis=0)
    total = acc_w.sum(axis=0)
    coincident = acc_0.sum(axis=0)
    return _finish_sums(sums, total, coincident, q), coincident


def _partial_sums_histogram(h: PairHistogram, q: np.ndarray, npair: int):
    """S[p, k] as :func:`_partial_sums_exact`, from the terms of a pair histogram."""
    ns = _n_slots()
    uniform, q0, dq = _uniform_step(q)
    out = np.zeros((ns, npair, q.size))
    has_var = bool(np.any(h.variance > 0))
    if h.distance.size:
        with _PARALLEL_LOCK:
            _sin_sums(
                h.pair_type, h.distance, h.amplitude, h.amplitude * h.variance, has_var,
                q, uniform, q0, dq, out, _CHUNK,
            )
    sums = out.sum(axis=0)
    total = np.bincount(h.pair_type, weights=h.weight, minlength=npair).astype(float) + h.coincident
    return _finish_sums(sums, total, h.coincident, q)


def _finish_sums(sin_over_d, total, coincident, q):
    """sum w sinc(Q d) from sum (w/d) sin(Q d): divide by Q, add the coincident pairs, Q = 0 limit."""
    out = np.empty_like(sin_over_d)
    pos = q > 0
    out[:, pos] = sin_over_d[:, pos] / q[pos] + coincident[:, None]
    out[:, ~pos] = total[:, None]
    return out


def _assemble(model: _Model, f: np.ndarray, t: np.ndarray, sums: np.ndarray, self_term: str) -> np.ndarray:
    """I(Q) from the scattering factors f, the Debye-Waller factors t and the partial sums."""
    intensity = np.sum((np.abs(f) ** 2) * model.self_scattering(self_term)[:, None], axis=0)
    for p, (a, b) in enumerate(model.pairs):
        w = np.real(f[a] * np.conj(f[b])) * t[a] * t[b]
        intensity = intensity + 2.0 * w * sums[p]
    return intensity


def debye_intensity(
    positions,
    elements,
    q,
    b_iso=None,
    occupancy=None,
    method: str = "auto",
    *,
    radiation: str = "xray",
    energy_keV: float | None = None,
    lattice_parameter: float | None = None,
    grid_step: float | None = None,
    grid_tolerance: float = 1e-5,
    sites=None,
    bin_width: float = DEFAULT_BIN_WIDTH,
    self_term: str = "occupancy",
    progress=None,
) -> np.ndarray:
    """Powder scattering intensity of an atomistic model by the Debye equation.

    ``I(Q) = sum_j |f_j|^2 o_j + 2 sum_{i<j} Re(f_i f_j*) T_i T_j o_i o_j sin(Q d_ij)/(Q d_ij)``
    (``o_j^2`` in the self term with ``self_term="squared"``; see Notes for
    units and conventions).

    Parameters
    ----------
    positions : (N, 3) array
        Atom positions in Å (any Cartesian frame).
    elements : (N,) sequence of str, or str
        Element symbol of each atom (one symbol for all atoms).
    q : (M,) array
        ``Q = 4 pi sin(theta) / lambda`` in Å⁻¹, >= 0.  An evenly spaced grid
        is fastest.
    b_iso : float or dict, optional
        Isotropic Debye-Waller B in Å², one number for every element or a dict
        element -> B (missing elements: 0).  ``T = exp(-B Q^2 / 16 pi^2)``.
    occupancy : (N,) array, optional
        Site occupancy of each atom, 0 to 1 (default 1).
    method : {"auto", "exact", "histogram", "lattice"}
        How to evaluate the pair sum (see Notes).
    radiation : {"xray", "constant", "neutron"}
        Scattering factors: Waasmaier-Kirfel f0(Q) (+ f′ + i f″ at
        ``energy_keV``), ``f = Z``, or neutron coherent scattering lengths.
    energy_keV : float, optional
        Photon energy (keV) for the anomalous X-ray correction; None leaves
        it out.
    lattice_parameter : float, optional
        Cubic lattice parameter *a* (Å) of the grid the atoms sit on (grid
        step a/4, the project's quarter-lattice grid); by default the grid is
        detected.
    grid_step : float, optional
        Grid step in Å, instead of ``lattice_parameter``.
    grid_tolerance : float
        Largest distance (Å) of an atom from its grid point for the lattice
        method.
    sites : (N, 3) int array, optional
        Integer lattice coordinates of each atom (e.g.
        :attr:`NanocrystalModel.sites`).  When the positions are one linear
        map of these plus one offset per element (a strained lattice with
        shifted sublattices: the rhombohedral distortion and the Pb
        off-centring), the lattice method applies to a model that is off the
        cubic grid; its distances are then binned as in the histogram method.
        Without ``sites`` such a lattice is detected from the positions (see
        Notes); ``sites`` skips the detection.
    bin_width : float
        Bin width (Å) of the histogram method (and of the lattice method with
        ``sites`` on a distorted lattice).
    self_term : {"occupancy", "squared"}
        Weight of each atom's self-scattering ``|f_j|^2``: its occupancy
        ``o_j`` (default) or ``o_j^2`` (the seed paper's eq. 1); see Notes.
        The same for every occupancy of 0 or 1.
    progress : callable, optional
        Called with the completed fraction (0 to 1) between blocks of work;
        raising from it cancels the calculation.

    Returns
    -------
    intensity : (M,) ndarray
        I(Q) in electrons² (X-rays) or fm² (neutrons) per particle.

    Raises
    ------
    ValueError
        For an empty model, unknown elements, negative Q or B, occupancies
        outside 0..1, or a method that does not apply to the model.

    Notes
    -----
    The orientation-averaged intensity of a particle of N atoms (Debye 1915;
    the form used by Bertolotti et al., *Nat. Mater.* 2016, eq. 1) takes the
    scattering factors ``f`` (electrons for X-rays, fm for neutrons), the
    Debye-Waller factors ``T``, the site occupancies ``o`` and the
    interatomic distances ``d_ij`` in Å.  The self term carries no
    Debye-Waller factor (thermal motion moves intensity from the Bragg peaks
    into the diffuse background; it does not remove it).  At ``Q = 0`` the
    limit ``sin(x)/x -> 1`` is used.  Two distinct atoms at the same spot are
    a pair at distance zero and scatter coherently (``sin(x)/x = 1``); that
    is almost always a duplicated atom, so it is reported with a warning.

    **Self term with occupancy.**  A site of occupancy ``o`` is read as a
    site that is full with probability ``o``, independently of the others
    (random vacancies; a reconstruction's certainty): the pattern averaged
    over such particles has the pair terms ``o_i o_j`` and the self term
    ``<n_j^2> = <n_j> = o_j`` (``n_j`` is 0 or 1), so ``"occupancy"`` is
    the default: it is the mean pattern of the real particles the model
    stands for.  Eq. (1) of Bertolotti et al. (2016) weights the self term
    by ``o_j^2``, the pattern of one particle whose sites each hold a
    fraction ``o_j`` of an atom (an average scatterer ``o_j f_j``);
    ``self_term="squared"`` gives it.  The two differ by
    ``sum_j |f_j|^2 o_j (1 - o_j)``, a smooth background-like term.

    The intensity is in absolute units, electrons² or fm² per particle,
    without polarisation, absorption or Lorentz factors.  Peers differ by
    constant factors: DebyeCalculator returns half of this sum, ASE's
    ``XrDebye`` (with ``method=None`` and ``damping=0``) the same sum with
    ``f = Z`` (``radiation="constant"``).

    Three ways to evaluate the pair sum give the same answer:

    ``"exact"``
        The double sum over all pairs, in numba on all cores.  Its cost
        grows as N² × (number of Q points); memory is bounded (one Q-row per
        thread and element pair).  The reference.
    ``"histogram"``
        The pair distances of each element pair binned by ``bin_width``,
        each bin evaluated at its mean distance with a second-order
        correction for its spread (:class:`PairHistogram`); the error is
        third order in ``Q * bin_width``, below 1e-4 relative at
        ``Q = 25`` Å⁻¹ with the default 5e-3 Å.  Cost: N² for the binning
        plus (occupied bins) × (Q points).
    ``"lattice"``
        For atoms on an integer grid, the pair weight at each integer
        displacement is the cross-correlation of the per-element occupancy
        grids, by FFT: exact distances on a cubic grid, and a cost that grows
        with the grid (``G log G``) instead of with N².  A strained lattice
        with shifted sublattices (``position = B @ site + shift[element]``)
        works too, its displacement lengths binned.  The integer sites are
        given (``sites=``) or recovered from the positions: the primitive
        cell is the smallest-volume triple of difference vectors between the
        most common element's central atom and its nearest neighbours of the
        same element, every element must sit on that lattice (or on the cell
        subdivided 2 to 4 times) from its own first atom, and a least-squares
        fit of ``B`` and the shifts must leave no atom farther than
        ``grid_tolerance``; thermally or randomly displaced atoms fail that
        test and go to the other methods.

    ``method="auto"`` picks the cheapest of them for the input
    (:func:`select_method`).  Parallel numba kernels run one at a time, under
    the lock of :mod:`napari_nxtomo.core._parallel`, so a napari thread
    worker may call this.

    Examples
    --------
    Two Pb atoms 3 Å apart, f = Z = 82: ``I = 2 Z^2 (1 + sin(3 Q) / 3 Q)``.

    >>> import numpy as np
    >>> from napari_nxtomo.core.debye import debye_intensity
    >>> dimer = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    >>> intensity = debye_intensity(dimer, ["Pb", "Pb"], [1.0, 2.0], radiation="constant")
    >>> print(intensity.round(2))
    [14080.59 12821.74]
    >>> print(debye_intensity(dimer, "Pb", [0.0], radiation="constant").round(2))  # (2 Z)^2
    [26896.]

    One half-occupied Pb atom: self term ``o Z^2`` (default) or ``o^2 Z^2``:

    >>> [float(debye_intensity([[0.0, 0, 0]], "Pb", [1.0], radiation="constant", occupancy=[0.5], self_term=t)[0])
    ...  for t in ("occupancy", "squared")]
    [3362.0, 1681.0]
    """
    _check_self_term(self_term)
    model = _prepare(positions, elements, occupancy, radiation)
    q = _check_q(q)
    check_memory(pattern_bytes(q.size, model.n_types), f"the Debye pattern of {q.size} Q points",
                 "compute fewer Q points (a larger Q step or a smaller Q max)")
    f = scattering_factors(model.symbols, q, radiation, energy_keV)
    t = _debye_waller(model.symbols, q, b_iso)
    if q.size == 0:
        return np.zeros(0)
    chosen, grid = _choose_method(
        model, q.size, method, lattice_parameter, grid_step, grid_tolerance, bin_width, sites
    )
    if model.positions.shape[0] == 1:
        sums = np.zeros((model.n_pairs, q.size))
    elif chosen == "exact":
        sums, coincident = _partial_sums_exact(model, q, progress)
        _warn_coincident(model, coincident)
    else:
        h = _pair_histogram(model, chosen, grid, bin_width, progress)
        _warn_coincident(model, h.coincident)
        sums = _partial_sums_histogram(h, q, model.n_pairs)
    if progress is not None:
        progress(1.0)
    return _assemble(model, f, t, sums, self_term)
