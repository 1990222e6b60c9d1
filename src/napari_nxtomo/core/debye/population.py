"""Powder pattern of a population of core-shell nanocrystals (the second seed paper's DSE model).

:class:`PopulationModel` holds the parameters (size distribution, shape,
lattice, α_RH, Δr_Pb, core/shell occupancies, B, scale, background);
:func:`population_intensity` gives its pattern, the number-weighted mean of
the Debye patterns of its particles, scaled, plus a Chebyshev background.

How the sum over sizes is made cheap (the idea of Debussy's sampled-distance
databases): the particles of all size classes are nested (same centre, same
shape scaled), so every pair of atoms of the largest one is visited once
(:mod:`._population_kernels`) and binned by distance (``bin_width``, with the
first two moments of the distances in each bin, as the ``"histogram"``
method of :func:`debye_intensity`), by group pair (element x core/shell)
and by the run of size classes that contain it.  A pattern for a new size
distribution then costs one weighted sum over classes and one sin-sum over
the occupied bins; occupancies and B only reweight the ten group-pair sums.

**Cell edge by rescaling.**  The database is built at one lattice parameter
``a0``; the pattern at ``a`` uses every distance times ``a/a0``
(``sinc(Q d a/a0)``, exact for a uniformly scaled crystal), and the size
class diameters scale by ``a/a0`` too.  Approximation: the shell thickness
and Δr_Pb also scale by ``a/a0`` (0.1 Å of a 10 Å shell for a 1 % change of
``a``), and the atoms of each size class are those inside its nominal
diameter at ``a0`` (fixed in lattice units); :func:`refine_pattern` rebuilds
at the refined ``a`` and refines again when ``a`` leaves ``a0`` by more than
``REBUILD_STRAIN`` (2e-4).
``tests/core/test_population.py`` checks the pattern at ``a != a0`` against
the exact Debye sum of the same particle built at ``a``.  α_RH, Δr_Pb and the
shell thickness change the set of distances: a change of them rebuilds the
database (cached).

**Cost.**  Building the database visits every pair of the largest particle
once (N² / 2, one core: about 1 s for the 7 000 atoms of a 6.8 nm PbS
sphere); its memory is 10 group pairs x size classes x distance bins x 3
moments (8 bytes each: 53 MB for 20 classes up to 11 nm at 0.01 Å).  A new
pattern costs one weighted sum over classes and one sin-sum over the occupied
bins (about 0.05-0.1 s for the 20-size 5 nm population at 1101 Q points).

**Shell.**  An atom is in the shell of a particle of diameter ``D`` when it
lies less than ``shell_thickness`` inside the surface (the builder's
definition, :func:`napari_nxtomo.core.nanocrystal.build_nanocrystal`; for
polyhedra with facets at different depths, the cuboctahedron, the
thickness is measured from the nearest facets).  Occupancies follow the
paper's Pb_yS/PbS_x model: ``occupancy_core`` of the cation in the core,
``occupancy_shell`` of the anion in the shell, the other sites full.

**Self term.**  Eq. (1) of the seed paper weights an atom's self-scattering
by ``o²``; the average over random vacancies (each site full with
probability ``o``) gives ``o`` (``<n²> = <n> = o`` for ``n`` in {0, 1}).
``self_term="occupancy"`` (``o``, the default: the pattern of a real
particle with random vacancies) or ``"squared"`` (``o²``, eq. (1)), as
:func:`debye_intensity`'s ``self_term``.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import ndtr

from .._memory import check_memory
from .._parallel import NUMBA_LOCK
from ..nanocrystal import _shape_facets, build_nanocrystal
from ._population_kernels import _bin_population
from ._sum_kernels import _sin_sums
from .form_factors import _debye_waller, scattering_factors
from .intensity import _CHUNK
from .model import _check_self_term, _n_slots, _uniform_step

__all__ = ["PopulationModel", "population_intensity", "size_weights"]

#: refine_pattern resets the reference a0 and refines again when a leaves it by more than this (relative)
REBUILD_STRAIN = 2e-4
_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 6
_CACHE_LOCK = threading.Lock()


@dataclass
class PopulationModel:
    """A population of nanocrystals and what the pattern needs besides (all lengths in Å).

    Attributes
    ----------
    structure : {"rocksalt", "zincblende"}
    elements : (str, str)
        Cation, anion, e.g. ``("Pb", "S")``.
    lattice_parameter : float
        Cubic-equivalent cell edge a, Å.
    shape : str
        One of the builder's shapes (``"sphere"``, ``"cube"``, ...).
    mean_diameter, width : float
        Log-normal number distribution of the equal-volume-sphere diameter:
        mean (Å) and relative standard deviation (0.08 = 8 %).
    sizes, size_weights : sequence of float, optional
        An explicit distribution instead (diameters in Å, number weights);
        then ``mean_diameter`` and ``width`` are not used.
    n_sizes : int
        Size classes of the log-normal distribution.
    size_range : (float, float), optional
        Smallest and largest class diameter (Å at ``lattice_parameter``);
        default ``mean * exp(±3.5 s)``, s the log-normal sigma.
        :func:`refine_pattern` fixes it at the start value.
    alpha_rh : float
        Primitive rhombohedral angle, degrees (60: cubic).
    delta_r_pb : float
        Off-centring of the cation along +[111] (the rhombohedral axis), Å.
    shell_thickness : float
        Å (0: all core).
    occupancy_core, occupancy_shell : float
        Cation site occupancy in the core, anion site occupancy in the shell.
    b_iso : float or dict
        Debye-Waller B (Å²), one for all elements or per element.
    scale : float
        Multiplies the mean pattern per particle (e² per particle).
    background : sequence of float
        Chebyshev coefficients over the pattern's Q range mapped to [-1, 1].
    self_term : {"occupancy", "squared"}
        Self-scattering weight ``o`` or ``o²`` (module docstring).
    radiation : {"xray", "neutron", "constant"}
    energy_keV : float, optional
        Anomalous X-ray terms at this energy.
    bin_width : float
        Distance bin of the database, Å.
    reference_lattice_parameter : float, optional
        The a0 (Å) at which the pair database is built (default: the
        lattice parameter); other values of ``lattice_parameter`` rescale it
        (module docstring).  :func:`refine_pattern` fixes it at the start.

    Examples
    --------
    >>> m = PopulationModel(elements=("Pb", "S"), lattice_parameter=5.936, mean_diameter=20.0, width=0.1,
    ...                     n_sizes=4)
    >>> m.parameter("b_iso"), m.with_parameters(mean_diameter=22.0).mean_diameter
    (0.0, 22.0)
    """

    structure: str = "rocksalt"
    elements: tuple = ("Pb", "S")
    lattice_parameter: float = 5.936
    shape: str = "sphere"
    mean_diameter: float = 50.0
    width: float = 0.1
    sizes: tuple | None = None
    size_weights: tuple | None = None
    n_sizes: int = 20
    size_range: tuple | None = None
    alpha_rh: float = 60.0
    delta_r_pb: float = 0.0
    shell_thickness: float = 0.0
    occupancy_core: float = 1.0
    occupancy_shell: float = 1.0
    b_iso: float | dict = 0.0
    scale: float = 1.0
    background: tuple = (0.0,)
    self_term: str = "occupancy"
    radiation: str = "xray"
    energy_keV: float | None = None
    bin_width: float = 0.01
    reference_lattice_parameter: float | None = None

    def __post_init__(self):
        self.elements = tuple(str(e) for e in self.elements)
        if not isinstance(self.b_iso, dict):
            self.b_iso = {e: float(self.b_iso) for e in self.elements}
        self.background = tuple(float(c) for c in np.atleast_1d(self.background))
        _check_self_term(self.self_term)
        for name in ("occupancy_core", "occupancy_shell"):
            v = float(getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} = {v!r}: an occupancy lies between 0 and 1")
        if self.sizes is None and not (self.mean_diameter > 0 and self.width > 0):
            raise ValueError("mean_diameter (Å) and width (relative, e.g. 0.08) must be positive; "
                             "or give sizes= and size_weights=")

    def parameter(self, name: str) -> float:
        """The value of a refinable parameter (see :data:`napari_nxtomo.core.debye.refine.PARAMETERS`)."""
        if name == "b_iso":
            return float(np.mean(list(self.b_iso.values())))
        if name.startswith("b_iso_"):
            return float(self.b_iso[name[6:]])
        if name.startswith("background_"):
            return float(self.background[int(name[11:])])
        return float(getattr(self, name))

    def with_parameters(self, **values) -> PopulationModel:
        """A copy with some parameters changed (names as :meth:`parameter`)."""
        plain, b, bkg = {}, dict(self.b_iso), list(self.background)
        for k, v in values.items():
            if k == "b_iso" and not isinstance(v, dict):
                b = {e: float(v) for e in b}
            elif k.startswith("b_iso_"):
                b[k[6:]] = float(v)
            elif k.startswith("background_"):
                bkg[int(k[11:])] = float(v)
            elif k == "background":
                bkg = list(np.atleast_1d(np.asarray(v, dtype=float)))
            elif k == "b_iso" and isinstance(v, dict):
                b = {e: float(x) for e, x in v.items()}
            else:
                plain[k] = v
        return replace(self, b_iso=b, background=tuple(bkg), **plain)


def size_weights(model: PopulationModel, diameters) -> np.ndarray:
    """Number fraction of each size class (classes centred on ``diameters``, Å).

    Log-normal: the probability mass between the midpoints of neighbouring
    class diameters (the end classes take the tails); explicit weights:
    normalised.

    Examples
    --------
    >>> w = size_weights(PopulationModel(mean_diameter=50.0, width=0.08), [40.0, 45, 50, 55, 60])
    >>> round(float(w.sum()), 6), int(np.argmax(w))
    (1.0, 2)
    """
    d = np.asarray(diameters, dtype=float)
    if model.sizes is not None:
        w = np.asarray(model.size_weights if model.size_weights is not None else np.ones(len(d)), dtype=float)
        if w.shape != d.shape or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("size_weights must be one non-negative number per size, not all zero")
        return w / w.sum()
    s = math.sqrt(math.log1p(model.width**2))
    mu = math.log(model.mean_diameter) - 0.5 * s * s
    edges = np.concatenate(([0.0], 0.5 * (d[1:] + d[:-1]), [np.inf]))
    z = np.full(edges.shape, -np.inf)
    z[1:] = (np.log(edges[1:]) - mu) / s
    cdf = ndtr(z)
    return np.diff(cdf)


def class_diameters(model: PopulationModel) -> np.ndarray:
    """Nominal diameters (Å) of the size classes, at the reference lattice parameter a0.

    Explicit ``sizes`` sorted; else ``n_sizes`` evenly spaced over ``size_range``
    (default ``mean * exp(±3.5 s)``).

    Examples
    --------
    >>> class_diameters(PopulationModel(mean_diameter=50.0, width=0.08, n_sizes=3, size_range=(40.0, 60.0))).tolist()
    [40.0, 50.0, 60.0]
    """
    if model.sizes is not None:
        d = np.sort(np.asarray(model.sizes, dtype=float))
        if d.size == 0 or np.any(d <= 0):
            raise ValueError("sizes must be positive diameters in Å")
        return d
    if model.size_range is not None:
        lo, hi = (float(v) for v in model.size_range)
    else:
        s = math.sqrt(math.log1p(model.width**2))
        lo, hi = model.mean_diameter * math.exp(-3.5 * s), model.mean_diameter * math.exp(3.5 * s)
    if not (0 < lo < hi or (0 < lo == hi and model.n_sizes <= 1)):
        raise ValueError(f"size_range must be (smallest, largest) diameter in Å, smallest < largest; got {(lo, hi)}")
    return np.linspace(lo, hi, max(int(model.n_sizes), 1)) if model.n_sizes > 1 else np.array([0.5 * (lo + hi)])


@dataclass
class _Database:
    a0: float
    diameters: np.ndarray  # (K,) at a0
    elements: tuple
    mom: np.ndarray  # (10, K, bins, 3)
    counts: np.ndarray  # (K, 4) atoms per group (cation core, cation shell, anion core, anion shell)
    pairs: list  # group pairs of each pair type
    bin_width: float


def _gauge(ideal: np.ndarray, shape: str, d_ref: float):
    """Smallest diameter of the shape that holds each site, and the shell depth factor (thickness t -> t/c)."""
    normals, dist, _ = _shape_facets(shape, d_ref)
    if normals is None:
        return 2.0 * np.linalg.norm(ideal, axis=1), 0.5
    rho = d_ref * np.max(ideal @ normals.T / dist[None, :], axis=1)
    return rho, float(dist.min()) / d_ref


def _group_pairs():
    pidx = np.zeros((4, 4), dtype=np.int64)
    pairs = []
    for g in range(4):
        for h in range(g, 4):
            pidx[g, h] = pidx[h, g] = len(pairs)
            pairs.append((g, h))
    return pidx, pairs


def _build_database(model: PopulationModel, diameters: np.ndarray) -> _Database:
    """Bin every pair of the largest particle by distance, group pair and run of size classes."""
    a0 = _a0(model)
    big = build_nanocrystal(model.structure, model.elements, a0, float(diameters[-1]) * (1 + 1e-9), model.shape,
                            alpha_rh=model.alpha_rh, delta_r_pb=model.delta_r_pb)
    ideal = big.sites * (a0 / 4.0)
    rho, c = _gauge(ideal, model.shape, float(diameters[-1]))
    tol = 1e-9 * diameters[-1]
    first = np.searchsorted(diameters, rho - tol, side="left").astype(np.int64)
    depth = model.shell_thickness / c
    core_from = (np.searchsorted(diameters - depth, rho - tol, side="left") if model.shell_thickness > 0
                 else first).astype(np.int64)
    keep = first < len(diameters)
    element = (big.elements != model.elements[0]).astype(np.int64)
    pos, element, first, core_from = (np.ascontiguousarray(v[keep]) for v in (big.positions, element, first, core_from))
    span = float(np.linalg.norm(pos.max(axis=0) - pos.min(axis=0))) if len(pos) else 0.0
    n_bins = int(span / model.bin_width) + 2
    pidx, pairs = _group_pairs()
    check_memory(8.0 * len(pairs) * len(diameters) * n_bins * 3, f"the pair database of {len(diameters)} sizes up "
                 f"to {diameters[-1]:g} Å", "use fewer size classes (n_sizes), a larger bin_width or smaller particles")
    mom = np.zeros((len(pairs), len(diameters), n_bins, 3))
    with NUMBA_LOCK:
        _bin_population(pos, element, first, core_from, pidx, float(model.bin_width), mom)
    counts = np.zeros((len(diameters) + 1, 4))
    np.add.at(counts, (first, 2 * element + 1), 1.0)
    np.add.at(counts, (core_from, 2 * element + 1), -1.0)
    np.add.at(counts, (core_from, 2 * element), 1.0)
    counts = np.cumsum(counts, axis=0)[:-1]
    return _Database(a0, diameters, model.elements, mom, counts, pairs, float(model.bin_width))


def _a0(model: PopulationModel) -> float:
    a0 = model.reference_lattice_parameter
    return float(model.lattice_parameter if a0 is None else a0)


def _database(model: PopulationModel) -> _Database:
    """The (cached) database of the model's structure, sizes, distortion and reference a0."""
    d = class_diameters(model)
    key = (model.structure, model.elements, model.shape, round(model.alpha_rh, 9), round(model.delta_r_pb, 9),
           round(model.shell_thickness, 9), model.bin_width, _a0(model), tuple(np.round(d, 9).tolist()))
    with _CACHE_LOCK:
        db = _CACHE.get(key)
        if db is not None:
            _CACHE.move_to_end(key)
            return db
    db = _build_database(model, d)
    with _CACHE_LOCK:
        _CACHE[key] = db
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return db


def _pair_sums(db: _Database, cum: np.ndarray, q_eff: np.ndarray) -> np.ndarray:
    """sum over pairs of each group-pair type of sinc(Q d), weighted by the class fractions ``cum``."""
    mom = np.tensordot(cum, db.mom, axes=(0, 1))
    amp = mom[:, :, 0]
    thresh = 1e-12 * max(float(np.abs(amp).max()), 1e-300)
    tp, kk = np.nonzero(amp > thresh)
    m = mom[tp, kk]
    mean_u = m[:, 1] / m[:, 0]
    var = np.maximum(m[:, 2] / m[:, 0] - mean_u**2, 0.0)
    dist = kk * db.bin_width + mean_u
    out = np.zeros((_n_slots(), len(db.pairs), q_eff.size))
    uniform, q0, dq = _uniform_step(q_eff)
    if dist.size:
        with NUMBA_LOCK:
            _sin_sums(tp.astype(np.int64), np.ascontiguousarray(dist), np.ascontiguousarray(m[:, 0]),
                      np.ascontiguousarray(m[:, 0] * var), True, q_eff, uniform, q0, dq, out, _CHUNK)
    return out.sum(axis=0) / q_eff[None, :]


def _structure_sums(model: PopulationModel, q: np.ndarray):
    """(pair sums (10, M), atoms per group (4,)) of the population, mean per particle."""
    db = _database(model)
    ratio = float(model.lattice_parameter) / db.a0
    w = size_weights(model, db.diameters * ratio)
    cum = np.cumsum(w[::-1])[::-1]
    return _pair_sums(db, cum, np.ascontiguousarray(q * ratio)), w @ db.counts, db


def _occupancies(model: PopulationModel) -> np.ndarray:
    return np.array([model.occupancy_core, 1.0, 1.0, model.occupancy_shell])


def chebyshev_background(coefficients, q) -> np.ndarray:
    """Σ c_n T_n(x), x the Q values mapped linearly onto [-1, 1] (constant for one point).

    Examples
    --------
    >>> chebyshev_background([1.0, 2.0], [1.0, 2.0, 3.0]).tolist()
    [-1.0, 1.0, 3.0]
    """
    q = np.asarray(q, dtype=float)
    span = q.max() - q.min()
    x = (2.0 * (q - q.min()) / span - 1.0) if span > 0 else np.zeros_like(q)
    return np.polynomial.chebyshev.chebval(x, np.asarray(coefficients, dtype=float))


def population_intensity(model: PopulationModel, q, *, background: bool = True, sums=None) -> np.ndarray:
    """Powder pattern of the population: ``scale * <I_particle(Q)> + background(Q)``.

    Parameters
    ----------
    model : PopulationModel
    q : (M,) array
        Q in Å⁻¹, > 0.
    background : bool
        Add the Chebyshev background.
    sums : tuple, optional
        Precomputed ``_structure_sums(model, q)`` (refinement internals).

    Returns
    -------
    (M,) ndarray
        Per particle (number-weighted mean) times ``scale``, e² for X-rays.

    Examples
    --------
    A single 2 nm PbS sphere equals its own Debye pattern (``self_term="squared"``):

    >>> import numpy as np
    >>> from napari_nxtomo.core.debye import debye_intensity
    >>> from napari_nxtomo.core.nanocrystal import build_nanocrystal
    >>> q = np.linspace(1.0, 6.0, 6)
    >>> m = PopulationModel(mean_diameter=20.0, sizes=[20.0], size_weights=[1.0], self_term="squared")
    >>> p = build_nanocrystal("rocksalt", ("Pb", "S"), 5.936, 20.0)
    >>> ref = debye_intensity(p.positions, p.elements, q)
    >>> bool(np.allclose(population_intensity(m, q), ref, rtol=1e-5))
    True
    """
    q = np.asarray(q, dtype=float)
    if q.ndim != 1 or q.size == 0 or np.any(~np.isfinite(q)) or np.any(q <= 0):
        raise ValueError("q must be a 1-D array of positive Q values in Å⁻¹")
    s, n_atoms, db = sums if sums is not None else _structure_sums(model, q)
    els = list(db.elements)
    f = scattering_factors(els, q, model.radiation, model.energy_keV)
    t = _debye_waller(els, q, model.b_iso)
    o = _occupancies(model)
    el_of = [0, 0, 1, 1]
    self_w = o if model.self_term == "occupancy" else o**2
    inten = sum(n_atoms[g] * self_w[g] * np.abs(f[el_of[g]]) ** 2 for g in range(4))
    for p, (g, h) in enumerate(db.pairs):
        a, b = el_of[g], el_of[h]
        inten = inten + 2.0 * o[g] * o[h] * np.real(f[a] * np.conj(f[b])) * t[a] * t[b] * s[p]
    out = model.scale * inten
    if background:
        out = out + chebyshev_background(model.background, q)
    return out
