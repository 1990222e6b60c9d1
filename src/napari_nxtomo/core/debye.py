"""Powder scattering of a finite atomistic model by the Debye scattering equation.

The orientation-averaged intensity of a particle of N atoms is (Debye 1915; the
form used by Bertolotti et al., *Nat. Mater.* 2016, eq. 1)::

    I(Q) = sum_j |f_j|^2 o_j^2
           + 2 sum_{i<j} Re(f_i f_j*) T_i T_j o_i o_j sin(Q d_ij) / (Q d_ij)

with ``Q = 4 pi sin(theta) / lambda`` in Å⁻¹, the scattering factors ``f`` (in
electrons for X-rays, in fm for neutrons), the Debye-Waller factors
``T = exp(-B Q^2 / (16 pi^2))`` (``B`` in Å², per element), the site
occupancies ``o`` and the interatomic distances ``d_ij`` in Å.  The self term
carries no Debye-Waller factor (thermal motion moves intensity from the Bragg
peaks into the diffuse background; it does not remove it).  At ``Q = 0`` the
limit ``sin(x)/x -> 1`` is used.  Two distinct atoms at the same spot are a
pair at distance zero and scatter coherently (``sin(x)/x = 1``); that is
almost always a duplicated atom, so it is reported with a warning.

The intensity is in absolute units: electrons² (X-rays, ``radiation="xray"``
or ``"constant"``) or fm² (``radiation="neutron"``) per particle, without
polarisation, absorption or Lorentz factors.  Peers differ by constant
factors: DebyeCalculator returns half of this sum, ASE's ``XrDebye`` (with
``method=None`` and ``damping=0``) returns the same sum with ``f = Z``.

Three ways to evaluate the pair sum give the same answer:

``"exact"``
    The double sum over all pairs, in numba on all cores.  Its cost grows as
    N² × (number of Q points); memory is bounded (one Q-row per thread and
    element pair).  The reference.
``"histogram"``
    The pair distances of each element pair are sampled on bins of width
    ``bin_width`` (the sampled-distance idea of the Debussy suite).  Each bin
    keeps the weighted mean and variance of its distances, and the sum is
    evaluated at the mean with a second-order correction for the spread, so
    the error is third order in ``Q * bin_width`` (below 1e-4 relative at
    ``Q = 25`` Å⁻¹ with the default 5e-3 Å).  Cost: N² for the binning plus
    (number of occupied bins) × (number of Q points).
``"lattice"``
    For atoms on an integer grid (every model of the project sits on the
    quarter-lattice grid of :mod:`napari_nxtomo.core.lattice`), the number of
    pairs at each integer displacement is the cross-correlation of the
    per-element occupancy grids, computed by FFT.  Distances are exact
    (``step * sqrt(n)`` with ``n`` an integer), and the cost grows with the
    grid (``G log G``) instead of with N².  The same works for a strained
    lattice with shifted sublattices (``position = B @ site + shift[element]``
    with integer sites: the rhombohedral distortion and the Pb off-centring
    of the builder's models, or a crystal turned off the axes); each
    displacement's length ``|B d + shift_b - shift_a|`` is then binned as in
    the histogram method.  The integer sites are given (``sites=``) or
    recovered from the positions: the primitive cell is the smallest-volume
    triple of difference vectors between the most common element's central
    atom and its nearest neighbours of the same element, every element must
    sit on that lattice (or on the cell subdivided 2 to 4 times) from its
    own first atom, and a least-squares fit of ``B`` and the shifts must
    leave no atom farther than ``grid_tolerance``; thermally or randomly
    displaced atoms fail that test and go to the other methods.

``method="auto"`` picks the cheapest of them for the input (lattice when the
atoms sit on a grid small enough to correlate).

Parallel numba kernels run under a module-level lock: numba's default
(workqueue) threading layer forbids two threads from running parallel kernels
at the same time, and a napari thread worker is a thread.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field

import numba
import numpy as np
from numba import njit, prange
from scipy import fft as sfft

__all__ = [
    "DEFAULT_BIN_WIDTH",
    "NEUTRON_SCATTERING_LENGTHS",
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

#: default bin width of the ``"histogram"`` method, Å
DEFAULT_BIN_WIDTH = 5e-3

#: distances below this (Å) count as two atoms on the same spot
COINCIDENT_DISTANCE = 1e-6

#: h c in keV Å (CODATA 2018), for energy <-> wavelength
HC_KEV_ANGSTROM = 12.398419843320026

#: most grid cells the ``"lattice"`` method correlates (about 0.5 GB a grid)
MAX_LATTICE_CELLS = 64_000_000

#: most distance bins of the ``"histogram"`` method (per element pair)
MAX_HISTOGRAM_BINS = 20_000_000

#: Coherent neutron scattering lengths b (fm), complex where the element
#: absorbs (b = b' + i b'').  Values from the NIST Center for Neutron Research
#: table (V. F. Sears, *Neutron News* 3, 26 (1992), with its later
#: revisions), as distributed with the ``periodictable`` package (version
#: 2.1.0); the test suite checks them against that package when it is
#: installed.
NEUTRON_SCATTERING_LENGTHS = {
    "H": -3.7409,
    "C": 6.6472,
    "N": 9.36,
    "O": 5.8037,
    "Mg": 5.375,
    "Al": 3.449,
    "Si": 4.15071,
    "P": 5.13,
    "S": 2.847,
    "Cl": 9.5792,
    "Ca": 4.7,
    "Ti": -3.37,
    "Mn": -3.75,
    "Fe": 9.45,
    "Co": 2.49,
    "Ni": 10.3,
    "Cu": 7.718,
    "Zn": 5.68,
    "Ga": 7.288,
    "Ge": 8.185,
    "As": 6.58,
    "Se": 7.97,
    "Br": 6.79,
    "Sr": 7.02,
    "Pd": 5.91,
    "Ag": 5.922,
    "Cd": 4.83 - 1.2j,
    "In": 4.065 - 0.054j,
    "Sn": 6.2239,
    "Te": 5.68,
    "I": 5.28,
    "Cs": 5.42,
    "Ba": 5.07,
    "Pt": 9.6,
    "Au": 7.9,
    "Pb": 9.4024,
}

_RADIATIONS = ("xray", "constant", "neutron")
_METHODS = ("auto", "exact", "histogram", "lattice")

#: one parallel numba kernel at a time (see the module docstring)
from ._parallel import NUMBA_LOCK as _PARALLEL_LOCK  # noqa: E402

#: terms handled together in the vectorised sin-sum loops
_CHUNK = 128


# ---------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------


def energy_to_wavelength(energy_keV):
    """Photon energy (keV) to wavelength (Å): ``lambda = h c / E``."""
    e = np.asarray(energy_keV, dtype=float)
    if np.any(~np.isfinite(e)) or np.any(e <= 0):
        raise ValueError(f"the photon energy must be a positive number of keV; got {energy_keV!r}")
    return HC_KEV_ANGSTROM / e


def wavelength_to_energy(wavelength):
    """Wavelength (Å) to photon energy (keV): ``E = h c / lambda``."""
    w = np.asarray(wavelength, dtype=float)
    if np.any(~np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"the wavelength must be a positive number of Å; got {wavelength!r}")
    return HC_KEV_ANGSTROM / w


def _check_wavelength(wavelength) -> float:
    try:
        lam = float(wavelength)
    except (TypeError, ValueError):
        raise ValueError(f"the wavelength must be one positive number of Å; got {wavelength!r}") from None
    if not (np.isfinite(lam) and lam > 0):
        raise ValueError(f"the wavelength must be a positive number of Å; got {wavelength!r}")
    return lam


def two_theta_to_q(two_theta, wavelength):
    """Scattering angle to momentum transfer.

    Parameters
    ----------
    two_theta : float or array
        Scattering angle 2θ in degrees, 0 to 180.
    wavelength : float
        Wavelength λ in Å.

    Returns
    -------
    q : float or ndarray
        ``Q = 4 pi sin(theta) / lambda`` in Å⁻¹, the shape of ``two_theta``.
    """
    lam = _check_wavelength(wavelength)
    tt = np.asarray(two_theta, dtype=float)
    if np.any(~np.isfinite(tt)) or np.any(tt < 0) or np.any(tt > 180):
        raise ValueError("2θ must lie between 0 and 180 degrees")
    return 4.0 * np.pi * np.sin(np.radians(tt) / 2.0) / lam


def q_to_two_theta(q, wavelength):
    """Momentum transfer to scattering angle.

    Parameters
    ----------
    q : float or array
        ``Q = 4 pi sin(theta) / lambda`` in Å⁻¹.
    wavelength : float
        Wavelength λ in Å.

    Returns
    -------
    two_theta : float or ndarray
        2θ in degrees, the shape of ``q``.

    Raises
    ------
    ValueError
        If a Q exceeds ``4 pi / lambda``, which no angle reaches at this
        wavelength: use a shorter wavelength (higher energy) or a smaller Q.
    """
    lam = _check_wavelength(wavelength)
    qq = np.asarray(q, dtype=float)
    if np.any(~np.isfinite(qq)) or np.any(qq < 0):
        raise ValueError("Q must be finite and non-negative (Å⁻¹)")
    qmax = 4.0 * np.pi / lam
    if np.any(qq > qmax * (1 + 1e-12)):
        raise ValueError(
            f"Q = {qq.max():.4g} Å⁻¹ exceeds 4π/λ = {qmax:.4g} Å⁻¹, which no 2θ reaches at λ = {lam:g} Å; "
            "use a shorter wavelength (higher energy) or a smaller Q range"
        )
    return 2.0 * np.degrees(np.arcsin(np.clip(qq * lam / (4.0 * np.pi), 0.0, 1.0)))


# ---------------------------------------------------------------------------
# Scattering factors
# ---------------------------------------------------------------------------


def _xraydb():
    import xraydb

    return xraydb


_ELEMENT_SYMBOLS: set | None = None


def _element_symbols() -> set:
    global _ELEMENT_SYMBOLS
    if _ELEMENT_SYMBOLS is None:
        xdb = _xraydb()
        _ELEMENT_SYMBOLS = {xdb.atomic_symbol(z) for z in range(1, 99)}
    return _ELEMENT_SYMBOLS


def _base_element(symbol: str) -> str:
    """'Pb2+' -> 'Pb'."""
    return symbol.rstrip("0123456789+-")


def _check_elements(symbols, radiation: str) -> None:
    known = _element_symbols()
    bad = []
    for s in symbols:
        base = _base_element(s)
        if base not in known:
            bad.append(s)
        elif s != base:
            # an ion: only the X-ray f0 tables know ions
            if radiation != "xray" or s not in set(_xraydb().f0_ions()):
                bad.append(s)
    if bad:
        raise ValueError(
            f"unknown element symbol(s) {sorted(set(bad))}: give element symbols such as 'Pb', 'S', 'Se' "
            "(capitalised, H to Cf; ions such as 'Pb2+' only with radiation='xray')"
        )
    if radiation == "neutron":
        missing = [s for s in symbols if s not in NEUTRON_SCATTERING_LENGTHS]
        if missing:
            try:
                import periodictable  # noqa: F401
            except ImportError:
                raise ValueError(
                    f"no neutron scattering length for {sorted(set(missing))} in the built-in table "
                    f"({sorted(NEUTRON_SCATTERING_LENGTHS)}); install 'periodictable' for the others"
                ) from None


def _neutron_b(symbol: str) -> complex:
    if symbol in NEUTRON_SCATTERING_LENGTHS:
        return complex(NEUTRON_SCATTERING_LENGTHS[symbol])
    import periodictable

    n = getattr(periodictable, symbol).neutron
    if n.b_c is None:
        raise ValueError(f"periodictable has no coherent scattering length for {symbol}")
    return complex(n.b_c, n.b_c_i or 0.0)


def scattering_factors(elements, q, radiation: str = "xray", energy_keV: float | None = None) -> np.ndarray:
    """Scattering factor of each element at each Q.

    Parameters
    ----------
    elements : sequence of str
        Element symbols, e.g. ``["Pb", "S"]`` (ions such as ``"Pb2+"`` for
        X-ray f0 only).
    q : (M,) array
        ``Q = 4 pi sin(theta) / lambda`` in Å⁻¹.
    radiation : {"xray", "constant", "neutron"}
        ``"xray"``: Waasmaier-Kirfel f0(Q) from xraydb (xraydb takes
        ``sin(theta)/lambda = Q / 4 pi``), plus the anomalous f′ + i f″ of the
        Chantler tables at ``energy_keV`` when given (electrons).
        ``"constant"``: f = Z, independent of Q (ASE XrDebye's default).
        ``"neutron"``: the coherent scattering length b (fm), independent of Q,
        from :data:`NEUTRON_SCATTERING_LENGTHS`.
    energy_keV : float, optional
        Photon energy for the anomalous correction (X-rays only).

    Returns
    -------
    f : (len(elements), M) complex ndarray
    """
    if radiation not in _RADIATIONS:
        raise ValueError(f"radiation must be one of {_RADIATIONS}; got {radiation!r}")
    q = np.atleast_1d(np.asarray(q, dtype=float))
    symbols = [str(s) for s in elements]
    _check_elements(symbols, radiation)
    if energy_keV is not None and radiation != "xray":
        raise ValueError(
            f"energy_keV (anomalous scattering) applies to radiation='xray' only, not {radiation!r}; leave it at None"
        )
    out = np.empty((len(symbols), q.size), dtype=complex)
    xdb = _xraydb()
    for k, s in enumerate(symbols):
        if radiation == "xray":
            f = np.asarray(xdb.f0(s, q / (4.0 * np.pi)), dtype=float).reshape(q.shape).astype(complex)
            if energy_keV is not None:
                e_ev = float(energy_keV) * 1e3
                if not np.isfinite(e_ev) or e_ev <= 0:
                    raise ValueError(f"energy_keV must be a positive number; got {energy_keV!r}")
                base = _base_element(s)
                emin, emax = (float(v) for v in (np.min(xdb.chantler_energies(base)), np.max(xdb.chantler_energies(base))))
                if not emin <= e_ev <= emax:
                    raise ValueError(
                        f"energy {energy_keV} keV is outside the Chantler tables for {base} "
                        f"({emin / 1e3:.3g}-{emax / 1e3:.4g} keV); choose an energy inside that range"
                    )
                f = f + float(xdb.f1_chantler(base, e_ev)) + 1j * float(xdb.f2_chantler(base, e_ev))
            out[k] = f
        elif radiation == "constant":
            out[k] = float(xdb.atomic_number(_base_element(s)))
        else:
            out[k] = _neutron_b(s)
    return out


def _debye_waller(symbols, q, b_iso) -> np.ndarray:
    """T = exp(-B Q^2 / 16 pi^2), shape (n_el, M)."""
    ne = len(symbols)
    b = np.zeros(ne)
    if b_iso is None:
        pass
    elif isinstance(b_iso, dict):
        for k, s in enumerate(symbols):
            b[k] = float(b_iso.get(s, 0.0))
    else:
        try:
            b[:] = float(b_iso)
        except (TypeError, ValueError):
            raise ValueError(
                f"b_iso must be None, one number (Å²) for every element, or a dict element -> B (Å²); got {b_iso!r}"
            ) from None
    if np.any(~np.isfinite(b)) or np.any(b < 0):
        bad = {s: float(v) for s, v in zip(symbols, b) if not (np.isfinite(v) and v >= 0)}
        raise ValueError(
            f"the Debye-Waller B must be a finite number >= 0 Å² (B = 8 pi^2 <u^2>); got {bad}. "
            "A negative B would make T = exp(-B Q^2 / 16 pi^2) grow without bound"
        )
    return np.exp(-np.outer(b, q * q) / (16.0 * np.pi**2))


# ---------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------


@dataclass
class _Model:
    positions: np.ndarray  # (N, 3) float64, sorted by type
    types: np.ndarray  # (N,) int64, non-decreasing
    occupancy: np.ndarray  # (N,) float64
    symbols: list  # unique element symbols, types index into it
    pair_index: np.ndarray  # (ne, ne) int64, symmetric
    pairs: list  # (a, b) with a <= b, per pair index
    type_starts: np.ndarray  # (ne + 1,) first atom of each type
    order: np.ndarray  # (N,) input index of each (sorted) atom

    @property
    def n_types(self) -> int:
        return len(self.symbols)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)


def _prepare(positions, elements, occupancy, radiation: str) -> _Model:
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions must be an (N, 3) array of x, y, z in Å; got shape {pos.shape}")
    n = pos.shape[0]
    if n == 0:
        raise ValueError("no atoms: positions is empty; pass at least one atom (an (N, 3) array in Å)")
    if not np.all(np.isfinite(pos)):
        raise ValueError("positions contain NaN or infinite values; every atom needs a finite x, y, z in Å")
    if isinstance(elements, str):
        els = np.full(n, elements)
    else:
        els = np.asarray(elements).astype(str).ravel()
    if els.shape[0] != n:
        raise ValueError(f"elements has {els.shape[0]} entries for {n} atoms; give one symbol per atom")
    if occupancy is None:
        occ = np.ones(n)
    else:
        occ = np.asarray(occupancy, dtype=float).ravel()
        if occ.size == 1:
            occ = np.full(n, float(occ[0]))
        if occ.shape[0] != n:
            raise ValueError(f"occupancy has {occ.shape[0]} entries for {n} atoms; give one number per atom")
        if np.any(~np.isfinite(occ)) or np.any(occ < 0) or np.any(occ > 1):
            raise ValueError("occupancy must lie between 0 and 1 for every atom")
    symbols, types = np.unique(els, return_inverse=True)
    symbols = [str(s) for s in symbols]
    _check_elements(symbols, radiation)
    # by element, then along lines of the grid: consecutive atoms are
    # neighbours, so the distances from one atom to the next ones change
    # smoothly and land in nearby bins (cache-friendly histogramming)
    cell = np.floor((pos - pos.min(axis=0)) / 2.0)
    order = np.lexsort((pos[:, 2], cell[:, 1], cell[:, 0], types))
    ne = len(symbols)
    pidx = np.zeros((ne, ne), dtype=np.int64)
    pairs = []
    for a in range(ne):
        for b in range(a, ne):
            pidx[a, b] = pidx[b, a] = len(pairs)
            pairs.append((a, b))
    types = types[order].astype(np.int64)
    starts = np.searchsorted(types, np.arange(ne + 1)).astype(np.int64)
    return _Model(
        np.ascontiguousarray(pos[order]), types, np.ascontiguousarray(occ[order]), symbols, pidx, pairs, starts, order
    )


def _check_q(q) -> np.ndarray:
    qq = np.asarray(q, dtype=float)
    if qq.ndim == 0:
        qq = qq.reshape(1)
    if qq.ndim != 1:
        raise ValueError(f"q must be a 1-D array of Q values in Å⁻¹; got shape {qq.shape}")
    if np.any(~np.isfinite(qq)) or np.any(qq < 0):
        raise ValueError("q must be finite and non-negative (Q = 4π sinθ/λ in Å⁻¹)")
    return np.ascontiguousarray(qq)


def _uniform_step(q: np.ndarray):
    """(True, q0, dq) when q is an evenly spaced grid, else (False, 0, 0)."""
    if q.size < 3:
        return False, 0.0, 0.0
    dq = (q[-1] - q[0]) / (q.size - 1)
    if dq <= 0:
        return False, 0.0, 0.0
    dev = np.abs(q - (q[0] + dq * np.arange(q.size))).max()
    if dev <= 1e-10 * max(1.0, abs(q[-1])):
        return True, float(q[0]), float(dq)
    return False, 0.0, 0.0


def _n_slots() -> int:
    return max(1, int(numba.get_num_threads()))


# ---------------------------------------------------------------------------
# numba kernels
# ---------------------------------------------------------------------------


@njit(cache=True, fastmath=True)
def _accumulate(out_row, d, a, av, m, has_var, q, uniform, q0, dq, sn, cs, sd, cd):
    """out_row[k] += sum_t a[t] sin(q_k d[t]) (1 - q_k^2 av[t] / (2 a[t]))  for t < m."""
    nq = q.shape[0]
    if uniform:
        for t in range(m):
            sn[t] = math.sin(q0 * d[t])
            cs[t] = math.cos(q0 * d[t])
            sd[t] = math.sin(dq * d[t])
            cd[t] = math.cos(dq * d[t])
        if has_var:
            for k in range(nq):
                s1 = 0.0
                s2 = 0.0
                for t in range(m):
                    s1 += a[t] * sn[t]
                    s2 += av[t] * sn[t]
                    x = sn[t] * cd[t] + cs[t] * sd[t]
                    cs[t] = cs[t] * cd[t] - sn[t] * sd[t]
                    sn[t] = x
                out_row[k] += s1 - 0.5 * q[k] * q[k] * s2
        else:
            for k in range(nq):
                s1 = 0.0
                for t in range(m):
                    s1 += a[t] * sn[t]
                    x = sn[t] * cd[t] + cs[t] * sd[t]
                    cs[t] = cs[t] * cd[t] - sn[t] * sd[t]
                    sn[t] = x
                out_row[k] += s1
    else:
        for k in range(nq):
            qk = q[k]
            s1 = 0.0
            s2 = 0.0
            for t in range(m):
                s = math.sin(qk * d[t])
                s1 += a[t] * s
                s2 += av[t] * s
            if has_var:
                out_row[k] += s1 - 0.5 * qk * qk * s2
            else:
                out_row[k] += s1


@njit(parallel=True, cache=True)
def _exact_rows(pos, types, occ, starts, pidx, q, uniform, q0, dq, i0, i1, acc, acc_w, acc_0, chunk):
    """Exact pair sums for the rows i0 <= i < i1 (j > i), accumulated per thread slot.

    acc[s, p, k] += sum o_i o_j sin(q_k d)/d; acc_w[s, p] += sum o_i o_j;
    acc_0[s, p] += o_i o_j for pairs closer than COINCIDENT_DISTANCE.
    """
    nslots = acc.shape[0]
    ne = starts.shape[0] - 1
    eps = 1e-6
    for s in prange(nslots):
        d = np.empty(chunk)
        a = np.empty(chunk)
        av = np.zeros(chunk)
        sn = np.empty(chunk)
        cs = np.empty(chunk)
        sd = np.empty(chunk)
        cd = np.empty(chunk)
        for i in range(i0 + s, i1, nslots):
            xi = pos[i, 0]
            yi = pos[i, 1]
            zi = pos[i, 2]
            oi = occ[i]
            if oi == 0.0:
                continue
            ti = types[i]
            for b in range(ne):
                jstart = max(starts[b], i + 1)
                jend = starts[b + 1]
                if jstart >= jend:
                    continue
                p = pidx[ti, b]
                m = 0
                for j in range(jstart, jend):
                    w = oi * occ[j]
                    if w == 0.0:
                        continue
                    dx = pos[j, 0] - xi
                    dy = pos[j, 1] - yi
                    dz = pos[j, 2] - zi
                    r = math.sqrt(dx * dx + dy * dy + dz * dz)
                    acc_w[s, p] += w
                    if r < eps:
                        acc_0[s, p] += w
                        continue
                    d[m] = r
                    a[m] = w / r
                    m += 1
                    if m == chunk:
                        _accumulate(acc[s, p], d, a, av, m, False, q, uniform, q0, dq, sn, cs, sd, cd)
                        m = 0
                if m > 0:
                    _accumulate(acc[s, p], d, a, av, m, False, q, uniform, q0, dq, sn, cs, sd, cd)


@njit(parallel=True, cache=True, fastmath=True)
def _bin_rows(x, y, z, types, occ, starts, pidx, width, i0, i1, mom, chunk):
    """Bin the pairs of rows i0 <= i < i1 (j > i): per slot, pair type and bin the
    moments sum a, sum a u, sum a u^2 with a = o_i o_j / d and u the offset of d
    from the bin's lower edge (sum o_i o_j = (sum a) * mean d needs no moment).

    ``mom`` is (slots, pair types, bins + 1, 3); the extra last bin collects the
    weight o_i o_j of coincident pairs (closer than COINCIDENT_DISTANCE) in its
    first moment.  Per chunk of partners, a branch-free vectorised loop computes
    bin index and moments, then a scalar loop scatters them (about 95 % of the
    histogram method's time goes here, dominated by the scatter).
    """
    nslots = mom.shape[0]
    nb = mom.shape[2] - 1
    ne = starts.shape[0] - 1
    inv = 1.0 / width
    eps = 1e-6
    for s in prange(nslots):
        # thread-local buffers: LLVM sees that they alias nothing, and vectorises
        kb = np.empty(chunk, dtype=np.int64)
        ab = np.empty(chunk)
        ub = np.empty(chunk)
        vb = np.empty(chunk)
        for i in range(i0 + s, i1, nslots):
            xi = x[i]
            yi = y[i]
            zi = z[i]
            oi = occ[i]
            if oi == 0.0:
                continue
            ti = types[i]
            for b in range(ne):
                jstart = max(starts[b], i + 1)
                jend = starts[b + 1]
                h = mom[s, pidx[ti, b]]
                for j0 in range(jstart, jend, chunk):
                    m = min(jend - j0, chunk)
                    xs = x[j0 : j0 + m]
                    ys = y[j0 : j0 + m]
                    zs = z[j0 : j0 + m]
                    os_ = occ[j0 : j0 + m]
                    for t in range(m):
                        dx = xs[t] - xi
                        dy = ys[t] - yi
                        dz = zs[t] - zi
                        r = math.sqrt(dx * dx + dy * dy + dz * dz)
                        w = oi * os_[t]
                        near = r < eps
                        k = min(int(r * inv), nb - 1)
                        u = r - k * width
                        a = w / max(r, eps)
                        kb[t] = nb if near else k
                        ab[t] = w if near else a
                        au = 0.0 if near else a * u
                        ub[t] = au
                        vb[t] = au * u
                    for t in range(m):
                        k = kb[t]
                        h[k, 0] += ab[t]
                        h[k, 1] += ub[t]
                        h[k, 2] += vb[t]


@njit(parallel=True, cache=True)
def _sin_sums(tp, dist, amp, ampvar, has_var, q, uniform, q0, dq, out, chunk):
    """out[s, p, k] += sum over terms t of pair type p of amp sin(q d)(1 - q^2 var / 2).

    Terms are sorted by pair type ``tp``; slot s takes chunks s, s + nslots, ...
    """
    nslots = out.shape[0]
    nt = dist.shape[0]
    nchunks = (nt + chunk - 1) // chunk
    for s in prange(nslots):
        sn = np.empty(chunk)
        cs = np.empty(chunk)
        sd = np.empty(chunk)
        cd = np.empty(chunk)
        for c in range(s, nchunks, nslots):
            j = c * chunk
            jend = min(nt, j + chunk)
            while j < jend:
                p = tp[j]
                e = j
                while e < jend and tp[e] == p:
                    e += 1
                _accumulate(
                    out[s, p], dist[j:e], amp[j:e], ampvar[j:e], e - j, has_var, q, uniform, q0, dq, sn, cs, sd, cd
                )
                j = e


@njit(parallel=True, cache=True)
def _pdf_kernel(r, tp, dist, amp, var, coef, q_max, sigma, out):
    """out[i] = sum_t coef[tp] amp[t] K(r_i, dist[t]) (see pair_distribution)."""
    nr = r.shape[0]
    nt = dist.shape[0]
    inv_pi = 1.0 / math.pi
    for i in prange(nr):
        ri = r[i]
        acc = 0.0
        for t in range(nt):
            d = dist[t]
            c = coef[tp[t]] * amp[t]
            if q_max > 0.0:
                x = ri - d
                if abs(x) < 1e-12:
                    k1 = q_max * inv_pi
                else:
                    k1 = math.sin(q_max * x) / (math.pi * x)
                y = ri + d
                if y < 1e-12:
                    k2 = q_max * inv_pi
                else:
                    k2 = math.sin(q_max * y) / (math.pi * y)
                acc += c * (k1 - k2)
            else:
                s2 = sigma * sigma + var[t]
                if s2 <= 0.0:
                    continue
                sg = math.sqrt(s2)
                x = (ri - d) / sg
                y = (ri + d) / sg
                if x * x < 80.0 or y * y < 80.0:
                    acc += c * (math.exp(-0.5 * x * x) - math.exp(-0.5 * y * y)) / (sg * math.sqrt(2.0 * math.pi))
        out[i] = acc


# ---------------------------------------------------------------------------
# Pair histograms
# ---------------------------------------------------------------------------


@dataclass
class PairHistogram:
    """Distances between the atoms of a model, per element pair.

    Each term is one distance (``"lattice"``: exact) or one bin of distances
    (``"histogram"``) of one element pair.

    Attributes
    ----------
    elements : list of str
        The model's elements; pair types index pairs of them.
    pairs : list of (str, str)
        Element pair of each pair type (``a <= b`` in ``elements`` order).
    pair_type : (M,) int ndarray
        Pair type of each term, non-decreasing.
    distance : (M,) ndarray
        Distance in Å: exact, or the mean of the bin's distances weighted by
        ``o_i o_j / d``.
    weight : (M,) ndarray
        ``sum o_i o_j`` over the unordered pairs (i < j) of the term.
    amplitude : (M,) ndarray
        ``sum o_i o_j / d_ij`` (Å⁻¹): the weight of ``sin(Q d)`` in the sum.
    variance : (M,) ndarray
        Spread of the distances inside the term (Å², ``1/d``-weighted); zero
        for exact distances.
    coincident : (P,) ndarray
        Pair weight at zero distance (atoms on the same spot), per pair type.
    self_weight : (E,) ndarray
        ``sum o_j^2`` per element (the self-scattering term).
    n_atoms : (E,) ndarray
        ``sum o_j`` per element (effective number of atoms).
    method : str
    bin_width : float or None
        Å (``"histogram"``) or None (exact distances).
    """

    elements: list
    pairs: list
    pair_type: np.ndarray
    distance: np.ndarray
    weight: np.ndarray
    amplitude: np.ndarray
    variance: np.ndarray
    coincident: np.ndarray
    self_weight: np.ndarray
    n_atoms: np.ndarray
    method: str
    bin_width: float | None = None
    grid_step: float | None = None
    _pair_index: dict = field(default_factory=dict, repr=False)

    def partial(self, element_a: str, element_b: str):
        """Distances (Å) and pair weights of one element pair.

        Returns
        -------
        distance, weight : (K,) ndarrays
        """
        key = tuple(sorted((element_a, element_b), key=self.elements.index)) if (
            element_a in self.elements and element_b in self.elements
        ) else None
        if key is None or key not in self._pair_index:
            raise ValueError(f"no pair {element_a}-{element_b} in this model; its elements are {self.elements}")
        m = self.pair_type == self._pair_index[key]
        return self.distance[m], self.weight[m]


def _make_histogram(model, tp, dist, weight, amp, var, coincident, method, bin_width=None, grid_step=None):
    ne = model.n_types
    self_w = np.array([np.sum(model.occupancy[model.types == a] ** 2) for a in range(ne)])
    n_at = np.array([np.sum(model.occupancy[model.types == a]) for a in range(ne)])
    pairs = [(model.symbols[a], model.symbols[b]) for a, b in model.pairs]
    h = PairHistogram(
        elements=list(model.symbols),
        pairs=pairs,
        pair_type=np.ascontiguousarray(tp, dtype=np.int64),
        distance=np.ascontiguousarray(dist, dtype=float),
        weight=np.ascontiguousarray(weight, dtype=float),
        amplitude=np.ascontiguousarray(amp, dtype=float),
        variance=np.ascontiguousarray(var, dtype=float),
        coincident=np.asarray(coincident, dtype=float),
        self_weight=self_w,
        n_atoms=n_at,
        method=method,
        bin_width=bin_width,
        grid_step=grid_step,
    )
    h._pair_index = {p: k for k, p in enumerate(pairs)}
    return h


def _row_blocks(n: int, n_blocks: int):
    """Split rows 0..n-1 of the upper triangle into blocks of about equal pair counts."""
    if n <= 1:
        return [(0, n)]
    n_blocks = max(1, min(n_blocks, n))
    total = n * (n - 1) / 2.0
    edges = [0]
    for b in range(1, n_blocks):
        # rows before i hold i n - i (i + 1) / 2 pairs
        target = total * b / n_blocks
        i = int(n - 0.5 - math.sqrt(max((n - 0.5) ** 2 - 2.0 * target, 0.0)))
        if i > edges[-1]:
            edges.append(i)
    edges.append(n)
    return list(zip(edges[:-1], edges[1:]))


def _warn_coincident(model, coincident) -> None:
    if np.any(np.asarray(coincident) > 0):
        warnings.warn(
            f"{np.sum(coincident):g} pair(s) of atoms sit on the same spot (closer than {COINCIDENT_DISTANCE:g} Å); "
            "they are summed as a pair at distance zero (sin(x)/x = 1). Remove duplicated atoms if that is not intended.",
            UserWarning,
            stacklevel=4,
        )


def _histogram_binned(model: _Model, bin_width: float, progress=None) -> PairHistogram:
    if not (np.isfinite(bin_width) and bin_width > 0):
        raise ValueError(f"bin_width must be a positive number of Å; got {bin_width!r}")
    pos = model.positions
    r_max = float(np.linalg.norm(pos.max(axis=0) - pos.min(axis=0)))
    nbins = int(r_max / bin_width) + 2
    if nbins > MAX_HISTOGRAM_BINS:
        raise ValueError(
            f"the model spans {r_max:.4g} Å, {nbins} bins of {bin_width:g} Å: too many for method='histogram'; "
            "use a larger bin_width or method='exact'"
        )
    ns = _n_slots()
    npair = model.n_pairs
    mom = np.zeros((ns, npair, nbins + 1, 3))
    n = pos.shape[0]
    x, y, z = (np.ascontiguousarray(pos[:, c]) for c in range(3))
    blocks = _row_blocks(n, 16 if progress is not None else 1)
    for b, (i0, i1) in enumerate(blocks):
        with _PARALLEL_LOCK:
            _bin_rows(
                x, y, z, model.types, model.occupancy, model.type_starts, model.pair_index,
                float(bin_width), i0, i1, mom, 256,
            )
        if progress is not None:
            progress((b + 1) / len(blocks))
    mom = mom.sum(axis=0)
    coincident = mom[:, nbins, 0].copy()
    mom = mom[:, :nbins]
    tp, kk = np.nonzero(mom[:, :, 0] > 0)
    m = mom[tp, kk]
    a = m[:, 0]
    mean_u = m[:, 1] / a
    var = np.maximum(m[:, 2] / a - mean_u**2, 0.0)
    dist = kk * bin_width + mean_u
    return _make_histogram(model, tp, dist, a * dist, a, var, coincident, "histogram", bin_width=bin_width)


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
    v = d[near]
    lengths = r[near]
    # every triple of neighbour vectors: the smallest well-conditioned volume is a primitive cell
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
    cell = v[best].T  # columns: primitive vectors (Å)
    try:
        inv = np.linalg.inv(cell)
    except np.linalg.LinAlgError:
        return None
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
            return _fit_affine(model, g, tol)
    return None


def _lattice_shape(g: np.ndarray):
    g = g - g.min(axis=0)
    gcd = int(np.gcd.reduce(g.ravel())) if g.size else 0
    if gcd > 1:
        g = g // gcd
    else:
        gcd = 1
    extent = g.max(axis=0) + 1
    shape = tuple(int(sfft.next_fast_len(int(2 * e - 1), real=True)) for e in extent)
    return g, gcd, extent, shape


@njit(parallel=True, cache=True)
def _bin_displacements(corr, extent, basis, dshift, width, noise, mom, acc_0):
    """Bin the correlation of two occupancy grids by the length of basis @ d + dshift.

    corr[i, j, k] holds the pair weight at the integer displacement d whose
    components are i (or i - shape) etc.; moments as in _bin_rows, per slot.
    """
    nslots = mom.shape[0]
    nbins = mom.shape[1]
    n0, n1, n2 = corr.shape
    inv = 1.0 / width
    eps = 1e-6
    for s in prange(nslots):
        for i in range(s, n0, nslots):
            if i < extent[0]:
                dx = i
            elif i > n0 - extent[0]:
                dx = i - n0
            else:
                continue
            for j in range(n1):
                if j < extent[1]:
                    dy = j
                elif j > n1 - extent[1]:
                    dy = j - n1
                else:
                    continue
                vx0 = basis[0, 0] * dx + basis[0, 1] * dy + dshift[0]
                vy0 = basis[1, 0] * dx + basis[1, 1] * dy + dshift[1]
                vz0 = basis[2, 0] * dx + basis[2, 1] * dy + dshift[2]
                for k in range(n2):
                    if k < extent[2]:
                        dz = k
                    elif k > n2 - extent[2]:
                        dz = k - n2
                    else:
                        continue
                    w = corr[i, j, k]
                    if abs(w) <= noise:
                        continue
                    vx = vx0 + basis[0, 2] * dz
                    vy = vy0 + basis[1, 2] * dz
                    vz = vz0 + basis[2, 2] * dz
                    r = math.sqrt(vx * vx + vy * vy + vz * vz)
                    if r < eps:
                        acc_0[s] += w
                        continue
                    b = int(r * inv)
                    if b >= nbins:
                        b = nbins - 1
                    u = r - b * width
                    aa = w / r
                    mom[s, b, 0] += aa
                    mom[s, b, 1] += aa * u
                    mom[s, b, 2] += aa * u * u


def _histogram_lattice(
    model: _Model, grid: _Grid, progress=None, workers=None, bin_width: float = DEFAULT_BIN_WIDTH
) -> PairHistogram:
    g, gcd, extent, shape = _lattice_shape(grid.g)
    size = int(np.prod(shape))
    if size > MAX_LATTICE_CELLS:
        raise ValueError(
            f"the lattice method would correlate a grid of {shape} cells ({size:.3g} > {MAX_LATTICE_CELLS:.3g}); "
            "use method='histogram' for a model this sparse or this extended"
        )
    if workers is None:
        workers = _n_slots()
    ne = model.n_types
    flat = (g[:, 0] * shape[1] + g[:, 1]) * shape[2] + g[:, 2]
    spectra = []
    norms = []
    n_steps = ne + model.n_pairs
    done = 0
    for a in range(ne):
        sl = slice(model.type_starts[a], model.type_starts[a + 1])
        occ_grid = np.bincount(flat[sl], weights=model.occupancy[sl], minlength=size).reshape(shape)
        norms.append(float(np.sqrt(np.sum(occ_grid * occ_grid))))
        spectra.append(sfft.rfftn(occ_grid, workers=workers))
        del occ_grid
        done += 1
        if progress is not None:
            progress(done / n_steps)
    eps = np.finfo(float).eps
    self_weights = [float(np.sum(model.occupancy[model.type_starts[a] : model.type_starts[a + 1]] ** 2)) for a in range(ne)]
    coincident = np.zeros(model.n_pairs)

    if grid.cubic:
        step = grid.step * gcd
        # squared length of each displacement held by the padded grid; cells
        # that no displacement reaches get the sentinel n_max + 1
        n_max = int(np.sum((extent - 1) ** 2))
        n2 = None
        for ax in range(3):
            idx = np.arange(shape[ax])
            disp = np.where(idx < extent[ax], idx, idx - shape[ax])
            valid = np.abs(disp) <= extent[ax] - 1
            sq = np.where(valid, disp * disp, n_max + 1).astype(np.int64)
            sq = sq.reshape([-1 if k == ax else 1 for k in range(3)])
            n2 = sq if n2 is None else n2 + sq
        n2 = np.minimum(n2, n_max + 1).astype(np.intp).ravel()
        tps, dists, weights = [], [], []
        for p, (a, b) in enumerate(model.pairs):
            corr = sfft.irfftn(np.conj(spectra[a]) * spectra[b], s=shape, workers=workers)
            h = np.bincount(n2, weights=corr.ravel(), minlength=n_max + 2)[: n_max + 1]
            del corr
            noise = 64.0 * eps * norms[a] * norms[b] * math.sqrt(size)
            if a == b:
                c0 = (h[0] - self_weights[a]) / 2.0
                h = h / 2.0
            else:
                c0 = h[0]
            coincident[p] = c0 if c0 > noise else 0.0
            nn = np.nonzero(np.abs(h[1:]) > noise)[0] + 1
            tps.append(np.full(nn.size, p, dtype=np.int64))
            dists.append(step * np.sqrt(nn.astype(float)))
            weights.append(h[nn])
            done += 1
            if progress is not None:
                progress(done / n_steps)
        tp = np.concatenate(tps)
        dist = np.concatenate(dists)
        w = np.concatenate(weights)
        return _make_histogram(model, tp, dist, w, w / dist, np.zeros_like(dist), coincident, "lattice", grid_step=step)

    # a strained lattice with shifted sublattices: bin the exact displacement lengths
    basis = np.ascontiguousarray(grid.basis * gcd)
    shift = grid.shift if grid.shift is not None else np.zeros((ne, 3))
    span = float(np.linalg.norm(model.positions.max(axis=0) - model.positions.min(axis=0)))
    r_max = span + 2.0 * float(np.abs(shift - shift.mean(axis=0)).max()) * math.sqrt(3.0) + 1.0
    nbins = int(r_max / bin_width) + 2
    if nbins > MAX_HISTOGRAM_BINS:
        raise ValueError(f"{nbins} distance bins of {bin_width:g} Å: use a larger bin_width")
    ns = _n_slots()
    mom_all = np.zeros((model.n_pairs, nbins, 3))
    for p, (a, b) in enumerate(model.pairs):
        corr = sfft.irfftn(np.conj(spectra[a]) * spectra[b], s=shape, workers=workers)
        noise = 64.0 * eps * norms[a] * norms[b] * math.sqrt(size)
        mom = np.zeros((ns, nbins, 3))
        acc0 = np.zeros(ns)
        dshift = np.ascontiguousarray(shift[b] - shift[a])
        with _PARALLEL_LOCK:
            _bin_displacements(corr, np.asarray(extent, dtype=np.int64), basis, dshift, float(bin_width), noise, mom, acc0)
        del corr
        mom = mom.sum(axis=0)
        c0 = float(acc0.sum())
        if a == b:
            c0 = (c0 - self_weights[a]) / 2.0
            mom = mom / 2.0
        coincident[p] = c0 if c0 > noise else 0.0
        mom_all[p] = mom
        done += 1
        if progress is not None:
            progress(done / n_steps)
    tp, kk = np.nonzero(mom_all[:, :, 0] != 0.0)
    m = mom_all[tp, kk]
    amp = m[:, 0]
    mean_u = m[:, 1] / amp
    var = np.maximum(m[:, 2] / amp - mean_u**2, 0.0)
    dist = kk * bin_width + mean_u
    return _make_histogram(model, tp, dist, amp * dist, amp, var, coincident, "lattice", bin_width=bin_width)


# ---------------------------------------------------------------------------
# Method choice
# ---------------------------------------------------------------------------


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


def _resolve_grid(model: _Model, lattice_parameter, grid_step, grid_tolerance, sites=None):
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


def _choose_method(model, nq, method, lattice_parameter, grid_step, grid_tolerance, bin_width, sites=None):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    grid = None
    if method in ("auto", "lattice"):
        grid, step = _resolve_grid(model, lattice_parameter, grid_step, grid_tolerance, sites)
        if method == "lattice" and grid is None:
            where = f"the grid of step {step:g} Å" if step is not None else "any grid (step detected from the positions)"
            extra = (
                "; with sites= the positions must be one linear map of the sites plus one offset per element"
                if sites is not None
                else " nor on a strained lattice (one linear map of integer coordinates plus one offset per "
                "element) detected from the positions"
            )
            raise ValueError(
                f"method='lattice' needs atoms on a lattice, and these are not on {where} within "
                f"{grid_tolerance:g} Å{extra}; pass lattice_parameter= or grid_step= if the grid was "
                "mis-detected, or use method='histogram'"
            )
    if method != "auto":
        return method, grid
    if model.positions.shape[0] == 1:
        return "exact", grid
    costs = _estimate_costs(model, nq, grid, bin_width)
    return min(costs, key=costs.get), grid


# ---------------------------------------------------------------------------
# Sums
# ---------------------------------------------------------------------------


def _partial_sums_exact(model: _Model, q: np.ndarray, progress=None):
    """S[p, k] = sum_{pairs of type p} o_i o_j sin(q_k d)/(q_k d), and the coincident weights."""
    ns = _n_slots()
    npair = model.n_pairs
    nq = q.size
    uniform, q0, dq = _uniform_step(q)
    acc = np.zeros((ns, npair, nq))
    acc_w = np.zeros((ns, npair))
    acc_0 = np.zeros((ns, npair))
    n = model.positions.shape[0]
    blocks = _row_blocks(n, 16 if progress is not None else 1)
    for b, (i0, i1) in enumerate(blocks):
        with _PARALLEL_LOCK:
            _exact_rows(
                model.positions, model.types, model.occupancy, model.type_starts, model.pair_index,
                q, uniform, q0, dq, i0, i1, acc, acc_w, acc_0, _CHUNK,
            )
        if progress is not None:
            progress((b + 1) / len(blocks))
    sums = acc.sum(axis=0)
    total = acc_w.sum(axis=0)
    coincident = acc_0.sum(axis=0)
    return _finish_sums(sums, total, coincident, q), coincident


def _partial_sums_histogram(h: PairHistogram, q: np.ndarray, npair: int):
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


def _assemble(model: _Model, f: np.ndarray, t: np.ndarray, sums: np.ndarray) -> np.ndarray:
    ne = model.n_types
    self_w = np.array([np.sum(model.occupancy[model.types == a] ** 2) for a in range(ne)])
    intensity = np.sum((np.abs(f) ** 2) * self_w[:, None], axis=0)
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
    progress=None,
) -> np.ndarray:
    """Powder scattering intensity of an atomistic model by the Debye equation.

    ``I(Q) = sum_j |f_j|^2 o_j^2 + 2 sum_{i<j} Re(f_i f_j*) T_i T_j o_i o_j sin(Q d_ij)/(Q d_ij)``
    (see the module docstring for units and conventions).

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
        How to evaluate the pair sum (see the module docstring).
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
        the module docstring); ``sites`` skips the detection.
    bin_width : float
        Bin width (Å) of the histogram method (and of the lattice method with
        ``sites`` on a distorted lattice).
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
    """
    model = _prepare(positions, elements, occupancy, radiation)
    q = _check_q(q)
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
        if chosen == "lattice":
            h = _histogram_lattice(model, grid, progress, bin_width=bin_width)
        else:
            h = _histogram_binned(model, bin_width, progress)
        _warn_coincident(model, h.coincident)
        sums = _partial_sums_histogram(h, q, model.n_pairs)
    if progress is not None:
        progress(1.0)
    return _assemble(model, f, t, sums)


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

    Returns
    -------
    str
        ``"exact"``, ``"histogram"`` or ``"lattice"``.
    """
    model = _prepare(positions, elements, None, "constant")
    return _choose_method(model, int(n_q), "auto", lattice_parameter, grid_step, grid_tolerance, bin_width, sites)[0]


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
    """
    if method == "exact":
        raise ValueError("pair_distance_histogram bins distances: use method='histogram' (with a small bin_width) or 'lattice'")
    model = _prepare(positions, elements, occupancy, "constant")
    chosen, grid = _choose_method(model, 1, method, lattice_parameter, grid_step, grid_tolerance, bin_width, sites)
    if chosen == "exact":
        chosen = "lattice" if grid is not None and "lattice" in _estimate_costs(model, 1, grid, bin_width) else "histogram"
    if chosen == "lattice":
        h = _histogram_lattice(model, grid, progress, bin_width=bin_width)
    else:
        h = _histogram_binned(model, bin_width, progress)
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
    f0 = scattering_factors(h.elements, np.zeros(1), radiation, energy_keV)[:, 0]
    n = float(np.sum(h.n_atoms))
    if n <= 0:
        raise ValueError("the model has no occupied sites (all occupancies are zero)")
    mean_f = np.sum(h.n_atoms * f0) / n
    norm = abs(mean_f) ** 2
    if norm == 0:
        raise ValueError("the mean scattering factor is zero (neutron lengths cancel); G(r) is undefined for this model")
    index = {s: k for k, s in enumerate(h.elements)}
    coef = np.array([2.0 / n * np.real(f0[index[a]] * np.conj(f0[index[b]])) / norm for a, b in h.pairs])
    out = np.zeros(rr.size)
    if h.distance.size:
        with _PARALLEL_LOCK:
            _pdf_kernel(
                rr, h.pair_type, h.distance, h.amplitude, h.variance, coef,
                float(q_max) if q_max is not None else 0.0, float(sigma) if sigma is not None else 0.0, out,
            )
    return out
