"""Discrete tomography of an fcc sublattice from atom counts in two or more projections.

Step 4 of the workflow (see the first seed paper): the numbers of atoms of one
species (Pb in PbSe) counted in every atomic column of two or more HAADF-STEM
images, taken along zone axes that share one tilt axis ([100], [010] and
[110] about [001]), are combined into a 3D atomic model on the fcc lattice.
Entry point: :func:`reconstruct`; input: one :class:`Projection` per image.

Frames and units
----------------
* Lengths in ångström.  Image positions are ``(row, col)`` = ``(y, x)`` in Å,
  as the column fit gives them.
* The model is built on the quarter-lattice integer grid of
  :mod:`napari_nxtomo.core.lattice`: a site is ``q * a / 4`` with ``q`` an
  integer 3-vector; the fcc sites are the ``q`` with even components whose
  sum is a multiple of 4.  Reconstructed positions are in the **crystal
  frame** ``(x, y, z)`` along the cube axes, in Å; its origin is an fcc site
  near the particle's centre of mass unless offsets are given (then it is the
  site that the offsets put at the given image positions).  napari's 3D
  order is ``(z, y, x)``: ``positions[:, ::-1]``.
* The projection geometry is :class:`~napari_nxtomo.core.geometry.ProjectionGeometry`:
  in an image the crystal tilt axis ``t`` points along the image direction
  ``(cos θ, sin θ)`` (``θ`` = ``image_rotation``) and ``b × t`` (``b`` the
  zone axis, the beam) along ``(-sin θ, cos θ)``.  The sign of the zone axis
  fixes the handedness: an image seen along ``-b`` is the mirror image of one
  along ``b``.

Indexing the columns on the projected lattice
---------------------------------------------
The fcc sites seen along ``[u v w]`` form a 2D lattice of columns.  For
every image the rotation ``θ``, a common scale ``s`` (the image calibration
against the given lattice parameter) and the position of one lattice column
are refined by least squares from the column positions (nearest-neighbour
vectors give the orientation, a linear similarity fit then takes all
columns); every column then has integer lattice coordinates.  Columns that
are off the lattice by more than a third of the shortest column spacing are
outliers: with a count of zero they are dropped, otherwise they are dropped
with a warning (more than 5 % of the columns is an error).

Orientation.  Where ``tilt_axis`` (the image direction of the tilt axis) is
given, the lattice orientation nearest to it is taken.  Where it is None the
lattice leaves a choice (four directions in a square [100] projection, two
in a [110] one); the choice is made jointly for all projections: the atom
total of every slice across the tilt axis (one fcc layer ``a/2`` thick for
the [001] axis) must be the same in all projections, so among the
orientations whose slice profiles agree to within 2 atoms + 0.5 % of the
best, those that agree between images are preferred (one tilt series shares
one scan direction), then the best profile agreement, then the orientation
nearest the image rows.  When no projection gives its tilt axis, the
first projection's tilt axis is taken to point down the image (positive row
component): the projections cannot tell a particle from its inversion
through the centre when the sense of the tilt axis in the images is unknown.

Offsets.  Which lattice column the image's columns start from is found
automatically for every projection (unless ``offset`` is given): the crystal
origin is put at a lattice site near the particle's centre of mass; every
projection's slice profile must line up with the first projection's (along
the tilt axis); with three or more projections the centres of mass across
the tilt axis must come from one 3D point; the few remaining choices (the
fcc parity: shifts by half a lattice parameter that move the sites onto the
other fcc sublattice of the rocksalt structure) are ranked by the least
count mismatch a fractional model can reach (a small linear program), ties
by the linear-programming relaxation of the whole energy below.  Choices
that differ by an fcc translation of the whole model are the same model.

Rocksalt.  Along [100] every column holds Pb and Se in turn; the counts given
are the Pb counts and the Pb sublattice (fcc) is reconstructed, so columns
are placed on the projected fcc Pb lattice.  Along [110] the Pb and the Se
columns are separate: pass only the Pb columns (Se-only columns with a count
of zero are off the Pb lattice and dropped).

Candidate sites and missing columns
-----------------------------------
A site can hold an atom when in every projection its column was measured
with a count above zero, was measured empty but lies strictly inside the
convex hull of the columns with atoms (the zero may be a miscount), or lies
inside that hull but was not measured (a *missing* column: no count
constraint; its reconstructed count is reported).  Sites outside a
projection's columns, or in columns measured empty on its border, are
empty.

The energy (one energy for both solvers)
----------------------------------------
For an occupancy ``x_i ∈ {0, 1}`` of the candidate sites

    E(x) = S(x) + w Σ_c ω_c |n_c - Σ_{i ∈ c} x_i|

where ``S`` is the number of *surface edges*, pairs of nearest-neighbour fcc
sites of which one is occupied and the other empty (sites outside the
candidates are empty), ``n_c`` the measured count of column ``c``, ``ω_c``
its weight (``Projection.weights``, default 1) and ``w`` the count weight.
Minimal surface is the paper's prior knowledge (the particle compact,
connected and without holes; every result reports whether its model is
connected and how many empty sites it encloses).

``w`` is the log-odds of a ±1 miscount, ``w = ln(2 (1 - ε) / ε)`` for a
fraction ``ε`` of miscounted columns (``count_error_rate``), kept between
1.5 and 6 and rounded to a quarter; ``exp(-E)`` is then the posterior of the model under the prior
``exp(-S)`` and independent ±1 miscounts.  By default ``ε`` is estimated
from the data: every slice across the tilt axis holds the same atoms in
every projection, and with independent ±1 miscounts the squared difference
of two projections' slice totals has the expectation ``ε`` × their number
of columns (``ReconstructionResult.count_error_rate``).  Consistent counts
give ``ε = 0`` and ``w = 6``: an atom removed from the surface saves at most
``12 - 2k`` edges (``k`` occupied neighbours) and costs ``w`` in every
projection, 12 or more in all, so no count is traded for surface.
Inconsistent counts (miscounted or missing columns) give the lowest-energy
model and a residual per column (``ReconstructionResult.reprojection``).

Exact optimum (``method="exact"`` or ``"both"``)
-------------------------------------------------
A mixed-integer linear program solved by HiGHS (:func:`scipy.optimize.milp`):
one binary per candidate site, one continuous ``e_ij ≥ |x_i - x_j|`` per
nearest-neighbour pair of candidates (two inequalities), the outside
neighbours of a site counted directly as ``n_out,i x_i``, and per
constrained column one equality ``Σ x_i - s⁺_c + s⁻_c = n_c`` with
non-negative slacks weighted ``w ω_c``.  Before solving, sites whose value
an optimal model can be given are fixed (a site is fixed occupied when
adding it to any model without it cannot raise ``E``: surface cost at most
``12 - 2k`` for ``k`` neighbours already fixed, count mismatch falling in
every projection whose column asks for all its candidate sites; likewise
fixed empty), which leaves the optimum unchanged and shrinks the program
(two thirds of the sites for consistent counts in three projections).  Then
the LP relaxation is solved by HiGHS's interior-point method
(:func:`scipy.optimize.linprog`) and its duals give a rigorous lower bound
(a Lagrangian bound, valid for any multipliers); when the best model known
(the rounded LP solution or an annealing run's model) is less than one
energy step above that bound it is certified optimal (energies are
multiples of 1/4 with the default weights).  Otherwise the binaries whose
reduced cost exceeds the gap are fixed as well and HiGHS's branch and bound
(:func:`scipy.optimize.milp`) solves the rest.  The optimum certifies the
annealing: ``exact.status``, the proven bound and the gap are reported; a
time limit gives the best model found and its gap.

Simulated annealing (``method="anneal"`` or ``"both"``)
--------------------------------------------------------
Each run starts from a random model that meets the first projection's counts
(each of its columns filled at random sites) and anneals ``E`` with
Metropolis moves, the temperature falling geometrically from 6 to 0.05
(surface-edge units) over ``n_sweeps`` sweeps (one sweep = one attempted
move per candidate site), then 30 sweeps at zero temperature.  Moves:

* an atom moves along a column of a random projection (that projection's
  counts are kept, the others' change and are penalised by ``w``),
* a *switching move* keeps every projection's counts: for random
  multipliers ``m_k`` the ``2^P`` sites ``s + Σ_{k ∈ K} m_k d_k`` (``d_k``
  the fcc step along projection k's beam, ``K`` any subset of the ``P``
  projections) with sign ``(-1)^|K|`` are all flipped when the positive ones
  share one state and the negative ones the other (a rectangle for two
  projections, the corners of a parallelepiped or a hexagon for three:
  ``Π_k (1 - X^{m_k d_k})`` projects to zero along every beam),
* a single site is added or removed (every count changes).

The hot loop is numba (``njit(cache=True, nogil=True)``, a private
xorshift generator per run); runs are independent and seeded from
``numpy.random.SeedSequence(seed)``: the same input and seed give the same
result whether the runs go to threads (default: one per core) or to a
dask.distributed cluster (``client``).  No ``parallel=True`` kernel is used,
so :data:`napari_nxtomo.core._parallel.NUMBA_LOCK` is not needed.

Certainty
---------
``frequency``: the paper's certainty, the fraction of the annealing runs
whose final model holds the site.  When every run reaches the optimum it is
0 or 1 everywhere and says nothing about the data's ambiguity.

``certainty`` (calibrated): the probability of the site under the posterior
``p(x) ∝ exp(-E(x) / T)`` at ``temperature`` ``T`` (default 1, where
``exp(-E)`` is the posterior of the energy section), estimated by Markov
chain Monte Carlo: after the annealing runs and the exact solve, one chain
per run samples ``n_sample_sweeps`` sweeps at ``T`` with the same moves
(Metropolis), starting from the run's model, or from the exact optimum
where that is lower, and the certainty is the mean occupancy over all
samples of all chains.  A
site that every model within a few ``T`` of the optimum holds has certainty
1; a site that an alternative ``ΔE`` higher leaves empty has about
``1 / (1 + exp(-ΔE / T))``.  With ``method="exact"`` the ``n_runs`` chains
start from the exact optimum.  The calibration is measured on the sample
particles in ``tests/test_tomography.py`` and
``benchmarks/bench_tomography.py`` (among sites at certainty ≥ 0.9 at least
97 % are true atoms, among those ≤ 0.1 at most 3 %, with counts exact or
with 5 % or 20 % of the columns miscounted).
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import ConvexHull, cKDTree

from .geometry import ProjectionGeometry
from .lattice import FCC_NEIGHBOURS_Q

__all__ = [
    "Projection",
    "ProjectionFit",
    "ExactSolution",
    "ReconstructionResult",
    "ReconstructionCancelled",
    "reconstruct",
    "surface_edges",
]

#: primitive fcc translations in quarter-lattice units
_FCC_PRIMITIVE_Q = np.array([[0, 2, 2], [2, 0, 2], [2, 2, 0]], dtype=np.int64)
#: the 12 nearest neighbours in half-lattice units (q / 2)
_NB_H = (FCC_NEIGHBOURS_Q // 2).astype(np.int64)

DEFAULT_COUNT_WEIGHT = 6.0
DEFAULT_TEMPERATURE = 1.0
#: bytes of memory per candidate site, with the MILP (about 6 kB measured for 7000 to 17000 sites)
_BYTES_PER_SITE = 8000


class ReconstructionCancelled(Exception):
    """Raised by :func:`reconstruct` when its ``cancel`` callback returns True.

    Attributes
    ----------
    partial : ReconstructionResult or None
        The result from the runs (and the exact solve) that finished before
        the cancel; None when nothing had finished.
    """

    def __init__(self, message, partial=None):
        super().__init__(message)
        self.partial = partial


# --------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------


def _int_vector(v, what):
    a = np.asarray(v, dtype=float).ravel()
    if a.shape != (3,) or not np.all(np.isfinite(a)) or np.any(a != np.round(a)) or not np.any(a):
        raise ValueError(f"{what} must be three integers, not all zero (like (1, 1, 0)); got {v!r}")
    a = a.astype(np.int64)
    return a // np.gcd.reduce(np.abs(a))


def _zone_name(v) -> str:
    return "[" + "".join(f"{int(c)}" if c >= 0 else f"-{-int(c)}" for c in v) + "]"


def parse_zone_axis(text) -> tuple:
    """A zone axis from text: ``110``, ``[1-10]``, ``1 1 0`` or ``1,-1,0`` -> ``(1, 1, 0)``."""
    t = str(text).strip().replace("[", "").replace("]", "")
    parts = t.replace(",", " ").split()
    if len(parts) == 1 and len(parts[0].lstrip("-")) >= 3:
        out, sign = [], 1
        for ch in parts[0]:
            if ch == "-":
                sign = -1
                continue
            if not ch.isdigit():
                raise ValueError(f"a zone axis is three integers such as 110 or 1 1 0, not {text!r}")
            out.append(sign * int(ch))
            sign = 1
        parts = out
    try:
        vals = [int(v) for v in parts]
    except ValueError:
        vals = []
    if len(vals) != 3:
        raise ValueError(f"a zone axis is three integers such as 110 or 1 1 0, not {text!r}")
    return tuple(vals)


def projection_from_table(positions, features, zone_axis, element="Pb", tilt_direction=None, name=""):
    """A :class:`Projection` from a table of counted columns (a points layer's features, a CSV table).

    Parameters
    ----------
    positions : (N, 2) array
        Column positions ``(y, x)`` in Å.
    features : pandas.DataFrame
        One row per column with ``count`` and optionally ``type``.  Only the
        columns that hold ``element`` are used: type ``element`` (pure
        columns, rocksalt [110]) or ``element+...`` (mixed columns, [100]);
        a table with one untyped kind of column is used whole.  ``count``
        is the number of ``element`` atoms.
    zone_axis : (3,) ints or None
    tilt_direction : (2,) array, optional
        Approximate tilt-axis direction ``(row, col)`` in the image.

    Returns
    -------
    (Projection, kept) : the projection and the row indices it uses.
    """
    label = name or "the table"
    if len(features) == 0:
        raise ValueError(f"{label} has no columns")
    if "count" not in features:
        raise ValueError(f"{label} has no 'count' column: count the atoms first (2 Count atoms, or 'napari-nxtomo count')")
    if zone_axis is None:
        raise ValueError(f"{label} does not say its zone axis: give it (e.g. 110)")
    keep = np.ones(len(features), dtype=bool)
    if "type" in features:
        t = features["type"].astype(str)
        kinds = set(t)
        if len(kinds) > 1 or kinds & {element} or any(k.startswith(element + "+") for k in kinds):
            keep = ((t == element) | t.str.startswith(element + "+")).to_numpy()
        if not keep.any():
            raise ValueError(f"{label} has no {element} columns (types: {sorted(kinds)})")
    pos = np.asarray(positions, dtype=float)[:, -2:]
    counts = np.asarray(features["count"], dtype=float)[keep]
    proj = Projection(tuple(int(v) for v in zone_axis), pos[keep], counts,
                      tilt_axis=None if tilt_direction is None else tuple(tilt_direction), name=name)
    return proj, np.flatnonzero(keep)


@dataclass
class Projection:
    """The counted columns of one image.

    Parameters
    ----------
    zone_axis : (3,) ints
        Beam direction ``[u v w]`` in crystal coordinates.  Its sign fixes
        the handedness of the image (see the module notes).
    positions : (N, 2) array
        Column positions ``(row, col)`` in Å in the image (pixel (0, 0) at the
        origin), as :func:`~napari_nxtomo.fit_columns` gives them.
    counts : (N,) array of non-negative integers
        Atoms of the reconstructed species (Pb) in every column.  Along [110]
        of rocksalt pass only the Pb columns.
    tilt_axis : (2,) array, optional
        Direction ``(row, col)`` of the common tilt axis in this image,
        approximately (within 40°); refined from the lattice.  None: found
        from the lattice and the other projections.
    crystal_tilt_axis : (3,) ints, optional
        The common tilt axis in crystal coordinates, perpendicular to the
        zone axis.  None: ``[001]`` when it is perpendicular to every zone
        axis, else the common perpendicular of the zone axes.
    offset : (2,) array, optional
        Where the crystal origin (a site of the reconstructed lattice)
        projects in the image: Å from the image origin along the tilt axis
        direction and across it (along ``(-sin θ, cos θ)``, the image of
        ``zone_axis × tilt axis``); snapped to the nearest lattice column.
        For an image without rotation this is ``(row, col)``.  None: found
        automatically.
    weights : (N,) array, optional
        Relative weight (> 0) of every column's count in the energy,
        e.g. the inverse of its counting uncertainty; default 1.
    name : str
        A label used in messages and tables (default: the zone axis).
    """

    zone_axis: tuple
    positions: np.ndarray
    counts: np.ndarray
    tilt_axis: tuple | None = None
    crystal_tilt_axis: tuple | None = None
    offset: tuple | None = None
    weights: np.ndarray | None = None
    name: str = ""

    def __post_init__(self):
        self.zone_axis = tuple(int(v) for v in _int_vector(self.zone_axis, "zone_axis"))
        if not self.name:
            self.name = _zone_name(self.zone_axis)
        pos = np.asarray(self.positions, dtype=float)
        if pos.size == 0:
            raise ValueError(
                f"projection {self.name} has no columns: pass the (row, col) positions and counts of its "
                "counted columns (or leave the projection out)"
            )
        if pos.ndim != 2 or pos.shape[1] != 2:
            raise ValueError(f"projection {self.name}: positions must be (N, 2) (row, col) in Å, got shape {pos.shape}")
        if not np.all(np.isfinite(pos)):
            raise ValueError(f"projection {self.name}: positions contain NaN or infinite values")
        cnt = np.asarray(self.counts, dtype=float).ravel()
        if cnt.shape != (len(pos),):
            raise ValueError(f"projection {self.name}: {len(pos)} positions but {cnt.size} counts")
        bad = np.flatnonzero(~np.isfinite(cnt) | (cnt < 0) | (np.abs(cnt - np.round(cnt)) > 1e-6))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"projection {self.name}: counts must be non-negative integers (atoms per column); column {i} "
                f"has {self.counts[i]!r} ({bad.size} such column(s)). Round or re-count them."
            )
        self.positions = pos
        self.counts = np.round(cnt).astype(np.int64)
        if self.weights is None:
            self.weights = np.ones(len(pos))
        else:
            w = np.asarray(self.weights, dtype=float).ravel()
            if w.shape != (len(pos),) or not np.all(np.isfinite(w)) or np.any(w <= 0):
                raise ValueError(f"projection {self.name}: weights must be {len(pos)} positive numbers")
            self.weights = w
        if self.tilt_axis is not None:
            t = np.asarray(self.tilt_axis, dtype=float).ravel()
            if t.shape != (2,) or not np.all(np.isfinite(t)) or np.hypot(*t) == 0:
                raise ValueError(f"projection {self.name}: tilt_axis is an image direction (row, col), not zero")
            self.tilt_axis = tuple(float(v) for v in t / np.hypot(*t))
        if self.crystal_tilt_axis is not None:
            self.crystal_tilt_axis = tuple(int(v) for v in _int_vector(self.crystal_tilt_axis, "crystal_tilt_axis"))
        if self.offset is not None:
            o = np.asarray(self.offset, dtype=float).ravel()
            if o.shape != (2,) or not np.all(np.isfinite(o)):
                raise ValueError(f"projection {self.name}: offset is (along, across) in Å")
            self.offset = tuple(float(v) for v in o)

    @classmethod
    def from_frame(cls, frame, zone_axis, counts="count", **kwargs):
        """A projection from a per-column table with ``y``, ``x`` (Å) and a count column.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per column; ``y`` and ``x`` in Å.
        zone_axis : (3,) ints
        counts : str
            Name of the column of atom counts (e.g. ``"count"`` or ``"n_Pb"``).
        **kwargs
            Passed to :class:`Projection`.
        """
        for c in ("y", "x", counts):
            if c not in frame.columns:
                raise ValueError(f"the table has no column {c!r}; it has {list(frame.columns)}")
        return cls(zone_axis, frame[["y", "x"]].to_numpy(float), frame[counts].to_numpy(), **kwargs)

    @property
    def total(self) -> int:
        """Sum of the counts."""
        return int(self.counts.sum())


# --------------------------------------------------------------------------
# the projected lattice of one zone axis
# --------------------------------------------------------------------------


def _is_fcc(q) -> np.ndarray:
    q = np.asarray(q)
    return np.all(q % 2 == 0, axis=-1) & (q.sum(axis=-1) % 4 == 0)


@dataclass
class _ViewLattice:
    """The fcc lattice seen along one zone axis, in quarter-lattice units (ideal image frame)."""

    zone: np.ndarray  # (3,) int
    tilt: np.ndarray  # (3,) int
    B: np.ndarray  # (2, 3): rows t̂, ĉ = b̂ × t̂
    L: np.ndarray  # (2, 2): columns are the 2D lattice basis, q-units
    Linv: np.ndarray
    step: np.ndarray  # (3,) int, the fcc translation along the beam
    layer_step: int  # fcc layers along t are layer_step / |t| q-units apart

    @classmethod
    def make(cls, zone, tilt):
        geom = ProjectionGeometry(tuple(int(v) for v in zone), tuple(int(v) for v in tilt))
        B = geom.basis[:2]
        r = np.arange(-4, 5)
        c = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
        v = c @ _FCC_PRIMITIVE_Q @ B.T
        n = np.hypot(v[:, 0], v[:, 1])
        v, n = v[n > 1e-9], n[n > 1e-9]
        order = np.lexsort((np.round(np.arctan2(v[:, 1], v[:, 0]), 9), np.round(n, 9)))
        v, n = v[order], n[order]
        v1 = v[0]
        gens = _FCC_PRIMITIVE_Q @ B.T
        for w in v[1:]:
            if abs(v1[0] * w[1] - v1[1] * w[0]) < 1e-9:
                continue
            L = np.stack([v1, w], axis=1)
            coords = np.linalg.solve(L, gens.T)
            if np.allclose(coords, np.round(coords), atol=1e-7):
                break
        else:  # pragma: no cover - a rational zone axis always has a 2D lattice
            raise ValueError(f"cannot find the projected lattice along {_zone_name(zone)}")
        if L[0, 0] * L[1, 1] - L[0, 1] * L[1, 0] < 0:
            L[:, 1] *= -1
        b = np.asarray(zone, dtype=np.int64)
        for m in (1, 2, 4):
            if _is_fcc(m * b):
                step = m * b
                break
        layer_step = int(np.gcd.reduce(np.abs(_FCC_PRIMITIVE_Q @ np.asarray(tilt))))
        return cls(np.asarray(zone), np.asarray(tilt), B, L, np.linalg.inv(L), step.astype(np.int64), layer_step)

    def coords(self, q) -> np.ndarray:
        """Integer 2D lattice coordinates of the column through sites ``q`` (K, 3)."""
        f = np.asarray(q, dtype=float) @ self.B.T @ self.Linv.T
        return np.rint(f).astype(np.int64)

    def ideal(self, n) -> np.ndarray:
        """Ideal-frame position (along, across) in q-units of lattice coordinates ``n``."""
        return np.asarray(n, dtype=float) @ self.L.T

    def layer(self, n) -> np.ndarray:
        """Index of the fcc layer across the tilt axis of lattice coordinates ``n``."""
        along = self.ideal(n)[..., 0]
        return np.rint(along * np.linalg.norm(self.tilt) / self.layer_step).astype(np.int64)

    @property
    def spacing(self) -> float:
        """Shortest column spacing, q-units."""
        return float(np.hypot(*self.L[:, 0]))


def _rot(theta):
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def _encode(n) -> np.ndarray:
    n = np.asarray(n, dtype=np.int64)
    return (n[..., 0] + (1 << 20)) * (1 << 21) + (n[..., 1] + (1 << 20))


# --------------------------------------------------------------------------
# fitting the projected lattice to the columns of one image
# --------------------------------------------------------------------------


@dataclass
class _LatticeFit:
    theta: float  # rad, tilt axis direction in the image
    scale: float
    o_ref: np.ndarray  # image position (Å) of lattice coordinates n_rel = 0
    n_rel: np.ndarray  # (N, 2) int lattice coordinates relative to the reference column
    keep: np.ndarray  # (N,) bool, on the lattice
    rms: float  # Å

    @property
    def A(self):
        return self.scale * _rot(self.theta)


def _orientation_candidates(pos, vl: _ViewLattice, a: float):
    """Lattice orientations (rad) that match the nearest-neighbour vectors, best first, and the scale."""
    quarter = a / 4.0
    n = len(pos)
    tree = cKDTree(pos)
    k = min(7, n)
    d, idx = tree.query(pos, k=k)
    dnn = float(np.median(d[:, 1]))
    ideal_short = vl.spacing * quarter
    s0 = dnn / ideal_short
    # measured neighbour vectors
    mask = (d[:, 1:] > 0) & (d[:, 1:] < 1.6 * dnn)
    src = np.repeat(np.arange(n)[:, None], k - 1, axis=1)[mask]
    dv = pos[idx[:, 1:][mask]] - pos[src]
    # ideal vectors up to 1.7 x the shortest
    r = np.arange(-4, 5)
    g = np.stack(np.meshgrid(r, r, indexing="ij"), -1).reshape(-1, 2)
    V = vl.ideal(g) * quarter * s0
    ln = np.hypot(V[:, 0], V[:, 1])
    V = V[(ln > 1e-9) & (ln < 1.7 * ideal_short * s0)]
    sig = 0.12 * dnn
    thetas = np.deg2rad(np.arange(0.0, 360.0, 0.5))

    def score(th):
        R = _rot(-th)
        w = dv @ R.T
        dd = ((w[:, None, :] - V[None, :, :]) ** 2).sum(-1).min(axis=1)
        return float(np.exp(-dd / (2 * sig**2)).sum())

    # every (measured, ideal) pair of similar length votes for the rotation that aligns them
    lm = np.hypot(dv[:, 0], dv[:, 1])
    lv = np.hypot(V[:, 0], V[:, 1])
    close = np.abs(lm[:, None] - lv[None, :]) < 0.12 * dnn
    ang = (np.arctan2(dv[:, 1], dv[:, 0])[:, None] - np.arctan2(V[:, 1], V[:, 0])[None, :])[close]
    hist = np.bincount(np.floor((ang % (2 * np.pi)) / (2 * np.pi) * len(thetas)).astype(np.int64) % len(thetas),
                       minlength=len(thetas)).astype(float)
    kern = np.exp(-0.5 * (np.arange(-12, 13) / 3.0) ** 2)  # 1.5 degree smoothing
    sc = np.real(np.fft.ifft(np.fft.fft(hist) * np.fft.fft(np.roll(np.pad(kern, (0, len(thetas) - 25)), -12))))
    peaks = np.flatnonzero((sc >= np.roll(sc, 1)) & (sc > np.roll(sc, -1)) & (sc >= 0.6 * sc.max()))
    out = []
    for p in peaks:
        fine = thetas[p] + np.deg2rad(np.linspace(-1.0, 1.0, 21))
        fs = [score(t) for t in fine]
        out.append((float(fine[int(np.argmax(fs))]) % (2 * np.pi), float(max(fs))))
    if out:
        top = max(o[1] for o in out)
        out = [o for o in out if o[1] >= 0.8 * top]
    out.sort(key=lambda t: -t[1])
    return out, s0, dnn


def _fit_lattice(pos, counts, vl: _ViewLattice, a: float, theta0: float, s0: float, name: str):
    """Refine rotation, scale and the reference column; index every column on the lattice."""
    quarter = a / 4.0
    n = len(pos)
    centre = np.average(pos, axis=0, weights=np.maximum(counts, 0) + 1e-3)
    ref = int(np.argmin(((pos - centre) ** 2).sum(1)))
    A = s0 * _rot(theta0)
    o = pos[ref].copy()
    keep = np.ones(n, dtype=bool)
    # grow from the reference outwards so that a small scale error cannot mis-index far columns
    dist = np.hypot(*(pos - pos[ref]).T)
    radii = np.unique(np.concatenate([np.quantile(dist, [0.15, 0.35, 0.6]), [dist.max()]]))
    for rad in list(radii) + [dist.max()] * 2:
        use = dist <= rad + 1e-9
        u = (pos - o) @ np.linalg.inv(A).T / quarter
        nrel = np.rint(u @ vl.Linv.T).astype(np.int64)
        ideal = vl.ideal(nrel) * quarter
        pred = ideal @ A.T + o
        res = np.hypot(*(pos - pred).T)
        keep = res < vl.spacing * quarter * 0.33
        sel = use & keep
        if sel.sum() < 3:
            sel = use
        M = np.zeros((2 * sel.sum(), 4))
        ur, uc = ideal[sel, 0], ideal[sel, 1]
        M[0::2, 0], M[0::2, 1], M[0::2, 2] = ur, -uc, 1.0
        M[1::2, 0], M[1::2, 1], M[1::2, 3] = uc, ur, 1.0
        rhs = pos[sel].reshape(-1)
        sol, *_ = np.linalg.lstsq(M, rhs, rcond=None)
        alpha, beta = sol[0], sol[1]
        A = np.array([[alpha, -beta], [beta, alpha]])
        o = sol[2:4]
    u = (pos - o) @ np.linalg.inv(A).T / quarter
    nrel = np.rint(u @ vl.Linv.T).astype(np.int64)
    pred = vl.ideal(nrel) * quarter @ A.T + o
    res = np.hypot(*(pos - pred).T)
    keep = res < vl.spacing * quarter * 0.33
    scale = float(np.hypot(A[1, 0], A[0, 0]))
    theta = float(math.atan2(A[1, 0], A[0, 0]))
    rms = float(np.sqrt(np.mean(res[keep] ** 2))) if keep.any() else float("inf")
    return _LatticeFit(theta, scale, o, nrel, keep, rms)


# --------------------------------------------------------------------------
# orientation and offsets for all projections
# --------------------------------------------------------------------------


@dataclass
class ProjectionFit:
    """How one projection was placed on the lattice.

    Attributes
    ----------
    name : str
    zone_axis, crystal_tilt_axis : tuple of int
    tilt_direction : (2,) ndarray
        Unit image direction ``(row, col)`` of the crystal tilt axis.
    image_rotation : float
        Its angle, degrees (``ProjectionGeometry.image_rotation``).
    scale : float
        Measured column spacing over the ideal one (1 = the calibration
        matches the lattice parameter).
    origin : (2,) ndarray
        Image position ``(row, col)`` in Å of the crystal origin.
    offset : (2,) ndarray
        The same as ``(along, across)`` the tilt axis (Å), the form
        :class:`Projection` takes.
    rms : float
        RMS distance (Å) of the columns from the fitted lattice.
    dropped : (N,) bool ndarray
        Input columns off the lattice, not used.
    lattice_coords : (N, 2) int ndarray
        Lattice coordinates of every input column.
    n_missing : int
        Lattice columns inside the measured area that were not measured
        (no count constraint).
    """

    name: str
    zone_axis: tuple
    crystal_tilt_axis: tuple
    tilt_direction: np.ndarray
    image_rotation: float
    scale: float
    origin: np.ndarray
    offset: np.ndarray
    rms: float
    dropped: np.ndarray
    lattice_coords: np.ndarray
    n_missing: int = 0

    @property
    def geometry(self) -> ProjectionGeometry:
        """The :class:`ProjectionGeometry` of this image."""
        return ProjectionGeometry(self.zone_axis, self.crystal_tilt_axis, self.image_rotation)

    def to_image(self, positions) -> np.ndarray:
        """Image positions ``(row, col)`` (Å) of crystal-frame positions (Å, x y z)."""
        return self.scale * self.geometry.project(positions) + self.origin


def _common_tilt_axis(projections):
    zones = [np.asarray(p.zone_axis) for p in projections]
    given = {p.crystal_tilt_axis for p in projections if p.crystal_tilt_axis is not None}
    if len(given) > 1:
        raise ValueError(
            f"the projections name different crystal tilt axes {sorted(given)}: tomography needs one common "
            "tilt axis (give the same crystal_tilt_axis to all, or leave it None)"
        )
    for i in range(len(zones)):
        for j in range(i):
            c = np.cross(zones[i], zones[j])
            if not np.any(c):
                raise ValueError(
                    f"projections {projections[j].name} and {projections[i].name} are along the same "
                    f"zone axis {_zone_name(zones[i])}: every projection must add a new direction"
                )
    if given:
        t = np.asarray(next(iter(given)))
    elif all(z @ np.array([0, 0, 1]) == 0 for z in zones):
        t = np.array([0, 0, 1])
    else:
        c = np.cross(zones[0], zones[1])
        t = c // np.gcd.reduce(np.abs(c))
        if t[np.flatnonzero(t)[0]] < 0:
            t = -t
    bad = [p for p, z in zip(projections, zones) if z @ t != 0]
    if bad:
        c = np.cross(zones[0], zones[1])
        hint = c // np.gcd.reduce(np.abs(c))
        common = all(z @ hint == 0 for z in zones)
        raise ValueError(
            "the zone axes "
            + ", ".join(_zone_name(z) for z in zones)
            + f" do not share the tilt axis {_zone_name(t)} (zone axis {_zone_name(bad[0].zone_axis)} is not "
            "perpendicular to it): discrete tomography needs projections about one common tilt axis. "
            + (
                f"They are all perpendicular to {_zone_name(hint)}: pass crystal_tilt_axis={tuple(int(v) for v in hint)}."
                if common
                else "No single axis is perpendicular to all of them: use projections from one tilt series."
            )
        )
    return t


def _profile(layers, counts):
    lo = int(layers.min())
    prof = np.bincount(layers - lo, weights=counts)
    return lo, prof


def _profile_mismatch(lo0, p0, lo1, p1):
    """L1 distance between two slice profiles given their first layer indices."""
    lo = min(lo0, lo1)
    hi = max(lo0 + len(p0), lo1 + len(p1))
    a = np.zeros(hi - lo)
    b = np.zeros(hi - lo)
    a[lo0 - lo : lo0 - lo + len(p0)] = p0
    b[lo1 - lo : lo1 - lo + len(p1)] = p1
    return float(np.abs(a - b).sum())


def _best_shift_mismatch(lo0, p0, lo1, p1, max_shift=None):
    n = len(p0) + len(p1)
    best = (np.inf, 0)
    for s in range(-n, n + 1):
        m = _profile_mismatch(lo0, p0, lo1 + s, p1)
        if m < best[0]:
            best = (m, s)
    return best


@dataclass
class _Placed:
    """One projection with its orientation chosen (offset still free)."""

    proj: Projection
    vl: _ViewLattice
    fit: _LatticeFit
    counts: np.ndarray  # kept columns
    weights: np.ndarray
    pos: np.ndarray
    index: np.ndarray  # input row of each kept column
    n_rel: np.ndarray


def _place(projections, a, t):
    """Fit every projection's lattice and choose the orientations; returns _Placed per projection."""
    options = []
    any_given = any(p.tilt_axis is not None for p in projections)
    first_free = True
    for p in projections:
        vl = _ViewLattice.make(p.zone_axis, t)
        if len(p.positions) < 3:
            raise ValueError(
                f"projection {p.name} has {len(p.positions)} column(s): at least 3 are needed to find its lattice"
            )
        # orientation from the columns that hold atoms (zero-count columns may be off the sublattice)
        use = p.counts > 0 if np.sum(p.counts > 0) >= 3 else np.ones(len(p.counts), bool)
        cands, s0, dnn = _orientation_candidates(p.positions[use], vl, a)
        if not cands:
            raise ValueError(f"projection {p.name}: the columns do not form a lattice")
        if not (0.75 < s0 < 1.33):
            raise ValueError(
                f"projection {p.name}: the columns are {dnn:.3g} Å apart but the projected fcc lattice of a = "
                f"{a:.4g} Å along {_zone_name(p.zone_axis)} has columns {vl.spacing * a / 4:.3g} Å apart: check the "
                "lattice parameter, the zone axis and the image calibration (pixel size)"
            )
        if p.tilt_axis is not None:
            want = math.atan2(p.tilt_axis[1], p.tilt_axis[0])
            diff = [abs((c[0] - want + np.pi) % (2 * np.pi) - np.pi) for c in cands]
            j = int(np.argmin(diff))
            if diff[j] > np.deg2rad(40):
                raise ValueError(
                    f"projection {p.name}: no lattice direction of {_zone_name(p.zone_axis)} lies within 40° of the "
                    f"given tilt axis {p.tilt_axis}: check the tilt axis direction (row, col) and the zone axis"
                )
            cands = [cands[j]]
        elif first_free and not any_given:
            # the global inversion: the first projection's tilt axis points down the image
            down = [c for c in cands if math.cos(c[0]) > 1e-6 or (abs(math.cos(c[0])) <= 1e-6 and math.sin(c[0]) > 0)]
            cands = down or cands
            first_free = False
        fits = []
        for th, _ in cands:
            f = _fit_lattice(p.positions, p.counts, vl, a, th, s0, p.name)
            fits.append(f)
        options.append((p, vl, fits))

    # choose one fit per projection: slice profiles agree, then orientations agree, then near image rows
    import itertools

    def profile_of(p, vl, f):
        layers = vl.layer(f.n_rel[f.keep])
        return _profile(layers, p.counts[f.keep])

    profs = [[profile_of(p, vl, f) for f in fits] for p, vl, fits in options]
    total = np.median([p.total for p in projections])
    scored = []
    for combo in itertools.product(*[range(len(o[2])) for o in options]):
        lo0, p0 = profs[0][combo[0]]
        mism = 0.0
        for k in range(1, len(options)):
            lo1, p1 = profs[k][combo[k]]
            mism += _best_shift_mismatch(lo0, p0, lo1, p1)[0]
        thetas = [options[k][2][combo[k]].theta for k in range(len(options))]
        spread = max(abs((th - thetas[0] + np.pi) % (2 * np.pi) - np.pi) for th in thetas)
        rows = sum(abs((th + np.pi) % (2 * np.pi) - np.pi) for th in thetas)
        scored.append((mism, spread < np.deg2rad(10), rows, combo))
    mmin = min(sc[0] for sc in scored)
    near = [sc for sc in scored if sc[0] <= mmin + 2.0 + 0.005 * total]
    near.sort(key=lambda sc: (not sc[1], sc[0], round(sc[2], 6)))
    best = (None, near[0][3])
    combo = best[1]
    placed = []
    for (p, vl, fits), j in zip(options, combo):
        f = fits[j]
        nbad = int(np.sum(~f.keep & (p.counts > 0)))
        if nbad > 0.05 * np.sum(p.counts > 0):
            raise ValueError(
                f"projection {p.name}: {nbad} of {len(p.counts)} columns with atoms are off the projected fcc lattice "
                f"along {_zone_name(p.zone_axis)} (a = {a:.4g} Å): check the zone axis, the lattice parameter, and "
                "that only columns of the reconstructed sublattice are passed (along [110] of rocksalt: the Pb columns)"
            )
        if nbad:
            warnings.warn(
                f"projection {p.name}: {nbad} column(s) with atoms are off the lattice and were left out", stacklevel=3
            )
        keep = f.keep.copy()
        # two columns on one lattice site: an error in the column list
        keys = _encode(f.n_rel[keep])
        u, inv, cnt = np.unique(keys, return_inverse=True, return_counts=True)
        if np.any(cnt > 1):
            rows = np.flatnonzero(keep)[cnt[inv] > 1]
            raise ValueError(
                f"projection {p.name}: columns {rows[:6].tolist()} fall on the same lattice column (closer than "
                "a column spacing): remove duplicate columns"
            )
        idx = np.flatnonzero(keep)
        placed.append(
            _Placed(p, vl, f, p.counts[idx], p.weights[idx], p.positions[idx], idx, f.n_rel[idx])
        )
    return placed


# --------------------------------------------------------------------------
# the problem: candidate sites, columns and neighbours
# --------------------------------------------------------------------------


@dataclass
class _Problem:
    """Arrays that define one reconstruction (picklable: sent to dask workers)."""

    q: np.ndarray  # (K, 3) int64 quarter-lattice coordinates of the candidates
    nbr: np.ndarray  # (K, 12) int32 neighbour candidate index or -1
    n_out: np.ndarray  # (K,) int: neighbours that are not candidates
    col: np.ndarray  # (K, P) int32 global column index per projection
    target: np.ndarray  # (C,) int64 measured count, -1 for missing (unconstrained)
    cweight: np.ndarray  # (C,) float: w * weight
    col_view: np.ndarray  # (C,) int
    col_n: np.ndarray  # (C, 2) int absolute lattice coordinates
    col_input: np.ndarray  # (C,) int input row, -1 for missing
    col_ptr: np.ndarray  # (C+1,) CSR over candidates
    col_members: np.ndarray
    grid: np.ndarray  # dense index over half-lattice units
    grid_lo: np.ndarray  # (3,) half-units of grid[0, 0, 0]
    dirs: np.ndarray  # (P, 3) int64 beam steps, half-lattice units
    mmax: np.ndarray  # (P,) int64 longest column, in steps
    view_columns: list  # per projection: the full column table (all columns incl. zero and outside)

    @property
    def n_sites(self) -> int:
        return len(self.q)

    @property
    def n_views(self) -> int:
        return self.col.shape[1]


def _fcc_in_box(lo, hi):
    """fcc sites (q-units) with lo <= q <= hi componentwise."""
    out = []
    for tr in [(0, 0, 0), (0, 2, 2), (2, 0, 2), (2, 2, 0)]:
        rng = [np.arange(int(np.ceil((lo[d] - tr[d]) / 4.0)) * 4 + tr[d], hi[d] + 1, 4) for d in range(3)]
        g = np.stack(np.meshgrid(*rng, indexing="ij"), -1).reshape(-1, 3)
        out.append(g)
    return np.concatenate(out).astype(np.int64)


def _view_tables(placed, offsets):
    """Per projection: a table of its columns (measured and missing) in absolute lattice coordinates."""
    tables = []
    for pl, N in zip(placed, offsets):
        n_abs = pl.n_rel + np.asarray(N)[None, :]
        ideal = pl.vl.ideal(n_abs)
        # missing columns: lattice points inside the hull of the columns with atoms that were not measured;
        # columns measured empty strictly inside that hull stay candidates (their zero may be a miscount)
        missing = np.zeros((0, 2), dtype=np.int64)
        inner_zero = np.zeros(len(n_abs), dtype=bool)
        pts = n_abs[pl.counts > 0]
        if len(pts) >= 3 and np.linalg.matrix_rank(pts - pts[0]) == 2:
            hull = ConvexHull(pl.vl.ideal(pts))

            def inside(n, tol):
                return np.all(pl.vl.ideal(n) @ hull.equations[:, :2].T + hull.equations[:, 2] <= tol, axis=1)

            lo, hi = pts.min(0), pts.max(0)
            g = np.stack(np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij"), -1)
            g = g.reshape(-1, 2)
            g = g[~np.isin(_encode(g), _encode(n_abs))]
            if len(g):
                missing = g[inside(g, 1e-6)]
            inner_zero = (pl.counts == 0) & inside(n_abs, -1e-6)
        tables.append(
            dict(
                n=np.concatenate([n_abs, missing]),
                target=np.concatenate([pl.counts, -np.ones(len(missing), np.int64)]),
                open=np.concatenate([(pl.counts > 0) | inner_zero, np.ones(len(missing), bool)]),
                weight=np.concatenate([pl.weights, np.ones(len(missing))]),
                input=np.concatenate([pl.index, -np.ones(len(missing), np.int64)]),
                ideal=np.concatenate([ideal, pl.vl.ideal(missing)]),
            )
        )
    return tables


def _visual_hull_box(vls, tables):
    """Integer bounds (q-units, crystal frame) of the region every projection's columns cover."""
    t = vls[0].tilt / np.linalg.norm(vls[0].tilt)
    e1 = vls[0].B[1]
    e2 = np.cross(t, e1)
    # each projection: a strip lo_k <= c_k . r <= hi_k in the plane across the tilt axis
    lines = []
    for vl, tb in zip(vls, tables):
        cdir = np.array([vl.B[1] @ e1, vl.B[1] @ e2])
        across = tb["ideal"][:, 1]
        lines.append((cdir, float(across.min()) - 1.0))
        lines.append((cdir, float(across.max()) + 1.0))
    verts = []
    for i in range(len(lines)):
        for j in range(i):
            M = np.array([lines[i][0], lines[j][0]])
            if abs(np.linalg.det(M)) < 1e-9:
                continue
            v = np.linalg.solve(M, [lines[i][1], lines[j][1]])
            inside = True
            for k in range(0, len(lines), 2):
                d = lines[k][0] @ v
                if d < lines[k][1] - 1e-6 or d > lines[k + 1][1] + 1e-6:
                    inside = False
                    break
            if inside:
                verts.append(v)
    verts = np.array(verts)
    along = np.concatenate([tb["ideal"][:, 0] for tb in tables])
    a_lo, a_hi = float(along.min()) - 1.0, float(along.max()) + 1.0
    pts = np.concatenate([verts[:, :1] * e1 + verts[:, 1:] * e2 + a * t for a in (a_lo, a_hi)])
    return np.floor(pts.min(0)).astype(np.int64) - 2, np.ceil(pts.max(0)).astype(np.int64) + 2


def _build_problem(placed, offsets, count_weight, max_sites):
    tables = _view_tables(placed, offsets)
    vls = [pl.vl for pl in placed]
    lo_q, hi_q = _visual_hull_box(vls, tables)
    n_box = float(np.prod((hi_q - lo_q) / 4.0 + 1)) * 4
    if n_box > 4e8:
        raise ValueError(
            f"the reconstruction volume would hold about {n_box:.3g} lattice sites: too large for memory. "
            "Crop the images to one particle, or check the positions' units (Å)"
        )
    qs = _fcc_in_box(lo_q, hi_q)
    col_ids = []
    base = 0
    targets, cw, cview, cn, cinput = [], [], [], [], []
    for k, (vl, tb) in enumerate(zip(vls, tables)):
        keys = _encode(tb["n"])
        order = np.argsort(keys)
        sk = keys[order]
        kq = _encode(vl.coords(qs))
        pos = np.clip(np.searchsorted(sk, kq), 0, len(sk) - 1)
        hit = sk[pos] == kq
        cid = np.where(hit, order[pos], -1)
        ok = hit & np.where(hit, tb["open"][np.maximum(cid, 0)], False)
        # keep only the sites every projection so far allows
        qs = qs[ok]
        col_ids = [c[ok] for c in col_ids] + [cid[ok] + base]
        tgt = tb["target"]
        targets.append(tgt)
        cw.append(count_weight * tb["weight"])
        cview.append(np.full(len(tgt), k))
        cn.append(tb["n"])
        cinput.append(tb["input"])
        base += len(tgt)
    q = qs
    ok = slice(None)
    K = len(q)
    if K == 0:
        raise ValueError(
            "no lattice site lies in a counted column of every projection: the projections do not overlap. "
            "Check the zone axes, the tilt axis and the offsets"
        )
    if K > max_sites:
        raise ValueError(
            f"{K} candidate sites is more than max_sites = {max_sites} (about {K * _BYTES_PER_SITE / 1e9:.2g} GB): "
            "crop the images to one particle or raise max_sites if the machine has the memory"
        )
    col = np.stack([c[ok] for c in col_ids], axis=1).astype(np.int32)
    target = np.concatenate(targets).astype(np.int64)
    C = len(target)
    # neighbours through a dense grid over half-lattice units
    h = q // 2
    lo = h.min(0) - 1
    hi = h.max(0) + 1
    shape = tuple(int(v) for v in hi - lo + 1)
    grid = -np.ones(shape, dtype=np.int32)
    grid[tuple((h - lo).T)] = np.arange(K, dtype=np.int32)
    nbh = h[:, None, :] + _NB_H[None, :, :] - lo
    nbr = grid[nbh[..., 0], nbh[..., 1], nbh[..., 2]]
    n_out = (nbr < 0).sum(1).astype(np.int64)
    # CSR of candidates per column
    flat = col.ravel()
    sites = np.repeat(np.arange(K), col.shape[1])
    order = np.argsort(flat, kind="stable")
    col_ptr = np.zeros(C + 1, dtype=np.int64)
    np.add.at(col_ptr, flat + 1, 1)
    col_ptr = np.cumsum(col_ptr)
    col_members = sites[order].astype(np.int32)
    dirs = np.stack([vl.step // 2 for vl in vls]).astype(np.int64)
    mmax = np.array([max(1, int(np.diff(col_ptr)[col[:, k]].max()) - 1) for k in range(col.shape[1])], np.int64)
    return _Problem(
        q=q,
        nbr=nbr.astype(np.int32),
        n_out=n_out,
        col=col,
        target=target,
        cweight=np.concatenate(cw).astype(float),
        col_view=np.concatenate(cview).astype(np.int64),
        col_n=np.concatenate(cn).astype(np.int64),
        col_input=np.concatenate(cinput).astype(np.int64),
        col_ptr=col_ptr,
        col_members=col_members,
        grid=grid,
        grid_lo=lo.astype(np.int64),
        dirs=dirs,
        mmax=mmax,
        view_columns=tables,
    )


# --------------------------------------------------------------------------
# energy (numpy), surface edges, topology
# --------------------------------------------------------------------------


def _occupied_neighbours(state, pb: _Problem):
    s = np.concatenate([state.astype(np.int64), [0]])
    return s[pb.nbr].sum(1)  # index -1 picks the appended 0


def _column_counts(state, pb: _Problem):
    return np.bincount(pb.col[state.astype(bool)].ravel(), minlength=len(pb.target))


def _energy_parts(state, pb: _Problem):
    """(surface edges, weighted count mismatch, unweighted |mismatch| sum) of an occupancy."""
    x = state.astype(bool)
    occ = _occupied_neighbours(x, pb)
    surface = int((12 - occ[x]).sum())
    n = _column_counts(x, pb)
    c = pb.target >= 0
    dev = np.abs(pb.target[c] - n[c])
    return surface, float((pb.cweight[c] * dev).sum()), int(dev.sum())


def surface_edges(q) -> int:
    """Number of nearest-neighbour pairs (occupied, empty) of a set of fcc sites.

    Parameters
    ----------
    q : (N, 3) int array
        Occupied fcc sites in quarter-lattice units (``position = q a / 4``).

    Returns
    -------
    int
        The surface energy of :func:`reconstruct` without count mismatch.
    """
    q = np.asarray(q, dtype=np.int64).reshape(-1, 3)
    if len(q) == 0:
        return 0
    keys = set(map(tuple, q.tolist()))
    nb = q[:, None, :] + FCC_NEIGHBOURS_Q[None, :, :]
    occ = np.array([[tuple(v) in keys for v in row] for row in nb.tolist()])
    return int((~occ).sum())


def _topology(q):
    """(number of connected pieces, number of enclosed empty fcc sites) of occupied sites q (q-units)."""
    from scipy import ndimage

    if len(q) == 0:
        return 0, 0
    h = np.asarray(q) // 2
    lo = h.min(0) - 2
    shape = tuple(h.max(0) - lo + 3)
    occ = np.zeros(shape, bool)
    occ[tuple((h - lo).T)] = True
    idx = np.indices(shape)
    site = ((idx + lo[:, None, None, None]).sum(0) % 2) == 0
    st = np.zeros((3, 3, 3), bool)
    st[1, 1, 1] = True
    for v in _NB_H:
        st[tuple(v + 1)] = True
    _, n_pieces = ndimage.label(occ, structure=st)
    lab, n_e = ndimage.label(site & ~occ, structure=st)
    border = np.unique(np.concatenate([lab[0].ravel(), lab[-1].ravel(), lab[:, 0].ravel(), lab[:, -1].ravel(),
                                       lab[:, :, 0].ravel(), lab[:, :, -1].ravel()]))
    holes = (lab > 0) & ~np.isin(lab, border)
    return int(n_pieces), int(holes.sum())


# --------------------------------------------------------------------------
# simulated annealing kernel (numba)
# --------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, inline="always")
def _next_u64(rng):
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    return x * np.uint64(2685821657736338717)


@numba.njit(cache=True, nogil=True, inline="always")
def _uniform(rng):
    return (_next_u64(rng) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _randint(rng, n):
    k = np.int64(_uniform(rng) * n)
    return k if k < n else n - 1


@numba.njit(cache=True, nogil=True)
def _flip(i, state, occ, ncount, nbr, col, target, cw):
    """Flip site i; update neighbour and column counts; return the energy change."""
    s = 1 - 2 * np.int64(state[i])
    dE = float(s * (12 - 2 * occ[i]))
    for k in range(col.shape[1]):
        c = col[i, k]
        t = target[c]
        n = ncount[c]
        if t >= 0:
            dE += cw[c] * (abs(t - n - s) - abs(t - n))
        ncount[c] = n + s
    for m in range(12):
        j = nbr[i, m]
        if j >= 0:
            occ[j] += s
    state[i] = 1 - state[i]
    return dE


@numba.njit(cache=True, nogil=True)
def _delta(i, skip, state, occ, ncount, col, target, cw):
    """Energy change of flipping site i alone, leaving out projection ``skip``'s column (-1: none)."""
    s = 1 - 2 * np.int64(state[i])
    dE = float(s * (12 - 2 * occ[i]))
    for k in range(col.shape[1]):
        if k == skip:
            continue
        c = col[i, k]
        t = target[c]
        if t >= 0:
            n = ncount[c]
            dE += cw[c] * (abs(t - n - s) - abs(t - n))
    return dE


@numba.njit(cache=True, nogil=True)
def _accept(dE, T, rng):
    if dE <= 0.0:
        return True
    if T <= 0.0:
        return False
    return _uniform(rng) < math.exp(-dE / T)


@numba.njit(cache=True, nogil=True)
def _sweeps(state, occ, ncount, energy, rng, nbr, col, target, cw, qh, grid, glo, dirs, mmax,
            col_ptr, col_members, temps, p_flip, p_move, best_state, best_energy, acc, sample):
    """Run ``len(temps)`` sweeps of Metropolis moves, one temperature per sweep.

    ``energy``, ``best_energy`` are 1-element arrays updated in place;
    ``acc`` accumulates the occupancy after every sweep when ``sample``.
    Returns the number of accepted moves.
    """
    K = state.shape[0]
    P = col.shape[1]
    npts = 1 << P
    sites = np.empty(npts, np.int64)
    coef = np.empty(npts, np.int64)
    mult = np.empty(P, np.int64)
    nx, ny, nz = grid.shape
    E = energy[0]
    accepted = 0
    for sw in range(temps.shape[0]):
        T = temps[sw]
        for it in range(K):
            u = _uniform(rng)
            if u < p_flip:
                i = _randint(rng, K)
                dE = _delta(i, -1, state, occ, ncount, col, target, cw)
                if _accept(dE, T, rng):
                    _flip(i, state, occ, ncount, nbr, col, target, cw)
                    E += dE
                    accepted += 1
            elif u < p_flip + p_move:
                k = _randint(rng, P)
                i = _randint(rng, K)
                c = col[i, k]
                n = col_ptr[c + 1] - col_ptr[c]
                if n < 2:
                    continue
                j = col_members[col_ptr[c] + _randint(rng, n)]
                if j == i or state[i] == state[j]:
                    continue
                # the atom moves between i and j along projection k's column: that column's count is kept
                dE = _delta(i, k, state, occ, ncount, col, target, cw) + _delta(j, k, state, occ, ncount, col, target, cw)
                for m in range(12):
                    if nbr[i, m] == j:
                        dE += 2.0  # neighbours: the pair's own edge is counted in both flips
                        break
                if _accept(dE, T, rng):
                    _flip(i, state, occ, ncount, nbr, col, target, cw)
                    _flip(j, state, occ, ncount, nbr, col, target, cw)
                    E += dE
                    accepted += 1
            else:
                a = _randint(rng, K)
                small = _uniform(rng) < 0.5
                for k in range(P):
                    mm = mmax[k]
                    if small and mm > 2:
                        mm = 2
                    m = _randint(rng, 2 * mm) - mm
                    if m >= 0:
                        m += 1
                    mult[k] = m
                npos = 0
                bad = False
                for mask in range(npts):
                    x = qh[a, 0]
                    y = qh[a, 1]
                    z = qh[a, 2]
                    par = 0
                    for k in range(P):
                        if (mask >> k) & 1:
                            x += mult[k] * dirs[k, 0]
                            y += mult[k] * dirs[k, 1]
                            z += mult[k] * dirs[k, 2]
                            par += 1
                    gx = x - glo[0]
                    gy = y - glo[1]
                    gz = z - glo[2]
                    if gx < 0 or gy < 0 or gz < 0 or gx >= nx or gy >= ny or gz >= nz:
                        bad = True
                        break
                    idx = grid[gx, gy, gz]
                    if idx < 0:
                        bad = True
                        break
                    sg = 1 if par % 2 == 0 else -1
                    found = False
                    for r in range(npos):
                        if sites[r] == idx:
                            coef[r] += sg
                            found = True
                            break
                    if not found:
                        sites[npos] = idx
                        coef[npos] = sg
                        npos += 1
                if bad:
                    continue
                ref = -1
                for r in range(npos):
                    if coef[r] > 1 or coef[r] < -1:
                        bad = True
                        break
                    if coef[r] == 1 and ref < 0:
                        ref = state[sites[r]]
                if bad or ref < 0:
                    continue
                for r in range(npos):
                    if coef[r] == 1 and state[sites[r]] != ref:
                        bad = True
                        break
                    if coef[r] == -1 and state[sites[r]] == ref:
                        bad = True
                        break
                if bad:
                    continue
                dE = 0.0
                for r in range(npos):
                    if coef[r] != 0:
                        dE += _flip(sites[r], state, occ, ncount, nbr, col, target, cw)
                if _accept(dE, T, rng):
                    E += dE
                    accepted += 1
                else:
                    for r in range(npos - 1, -1, -1):
                        if coef[r] != 0:
                            _flip(sites[r], state, occ, ncount, nbr, col, target, cw)
        if E < best_energy[0] - 1e-9:
            best_energy[0] = E
            best_state[:] = state
        if sample:
            for i in range(K):
                acc[i] += state[i]
    energy[0] = E
    return accepted


# --------------------------------------------------------------------------
# one annealing run
# --------------------------------------------------------------------------


@dataclass
class _RunParams:
    n_sweeps: int
    n_quench: int
    n_sample: int
    t_start: float
    t_end: float
    temperature: float
    p_flip: float
    p_move: float
    chunk: int = 25


def _initial_state(pb: _Problem, rng):
    """Random model that meets the first projection's counts."""
    K = pb.n_sites
    state = np.zeros(K, dtype=np.uint8)
    view0 = np.flatnonzero(pb.col_view == 0)
    for c in view0:
        members = pb.col_members[pb.col_ptr[c] : pb.col_ptr[c + 1]]
        t = pb.target[c]
        if len(members) == 0 or t == 0:
            continue
        if t < 0:
            t = len(members) // 2
        pick = rng.choice(members, size=min(int(t), len(members)), replace=False)
        state[pick] = 1
    return state


def _kernel_args(pb: _Problem):
    return (
        pb.nbr,
        pb.col,
        pb.target,
        pb.cweight,
        (pb.q // 2).astype(np.int64),
        pb.grid,
        pb.grid_lo,
        pb.dirs,
        pb.mmax,
        pb.col_ptr,
        pb.col_members,
    )


def _chain(pb: _Problem, state, rng, temps, params, stop, sample):
    """Run sweeps at the temperatures ``temps`` from ``state`` in chunks; None if stopped."""
    state = state.astype(np.uint8).copy()
    occ = _occupied_neighbours(state, pb).astype(np.int64)
    ncount = _column_counts(state, pb).astype(np.int64)
    s, m, _ = _energy_parts(state, pb)
    energy = np.array([s + m])
    best_state = state.copy()
    best_energy = energy.copy()
    acc = np.zeros(pb.n_sites, dtype=np.float64)
    args = _kernel_args(pb)
    n_acc = 0
    for i in range(0, len(temps), params.chunk):
        if stop is not None and stop.is_set():
            return None
        n_acc += _sweeps(state, occ, ncount, energy, rng, *args, temps[i : i + params.chunk], params.p_flip,
                         params.p_move, best_state, best_energy, acc, sample)
    return best_state.astype(bool), acc, n_acc


def _anneal_one(pb: _Problem, params: _RunParams, seed_int: int, stop=None):
    """One annealing run from a random model.

    Returns a dict: ``best`` (K,) bool, the lowest-energy model met, its
    ``energy``, the acceptance ratio ``accept`` and ``time`` (s); None when
    ``stop`` (a threading.Event) was set.
    """
    t0 = time.perf_counter()
    gen = np.random.default_rng(seed_int)
    state = _initial_state(pb, gen)
    rng = np.array([gen.integers(1, 2**63 - 1)], dtype=np.uint64)
    p = params
    temps = np.concatenate(
        [
            p.t_start * (p.t_end / p.t_start) ** (np.arange(p.n_sweeps) / max(p.n_sweeps - 1, 1)),
            np.zeros(p.n_quench),
        ]
    )
    out = _chain(pb, state, rng, temps, p, stop, False)
    if out is None:
        return None
    best, _, n_acc = out
    s, m, _ = _energy_parts(best, pb)
    return dict(best=best, energy=float(s + m), accept=n_acc / max(1, len(temps) * pb.n_sites),
                time=time.perf_counter() - t0)


def _sample_one(pb: _Problem, params: _RunParams, seed_int: int, start, stop=None):
    """Metropolis sampling at ``params.temperature`` from the model ``start`` (K,) bool.

    Returns the mean occupancy over ``params.n_sample`` sweeps, (K,) float,
    or None when stopped.
    """
    gen = np.random.default_rng(seed_int)
    rng = np.array([gen.integers(1, 2**63 - 1)], dtype=np.uint64)
    temps = np.full(params.n_sample, params.temperature)
    out = _chain(pb, np.asarray(start), rng, temps, params, stop, True)
    if out is None:
        return None
    return out[1] / max(params.n_sample, 1)


# --------------------------------------------------------------------------
# the exact optimum: a mixed-integer linear program (HiGHS)
# --------------------------------------------------------------------------


@dataclass
class ExactSolution:
    """The optimum of the energy by mixed-integer programming.

    Attributes
    ----------
    status : str
        ``"optimal"`` (certified), ``"time limit"`` (best model found and a
        gap), ``"failed"``.
    optimal : bool
        True when the optimum is certified.
    energy : float
        Energy of the model found (surface edges + weighted count mismatch).
    bound : float
        Lower bound on the energy proven by the solver (the dual bound).
    gap : float
        Relative gap ``(energy - bound) / energy`` (0 when optimal).
    surface_edges : int
    count_mismatch : int
        Σ |measured - reconstructed| over the constrained columns.
    occupancy : (K,) bool ndarray or None
        The model, over the candidate sites (``ReconstructionResult.sites``).
    time : float
        Seconds.
    message : str
        The solver's message.
    n_variables, n_constraints : int
    """

    status: str
    optimal: bool
    energy: float
    bound: float
    gap: float
    surface_edges: int
    count_mismatch: int
    occupancy: np.ndarray | None
    time: float
    message: str = ""
    n_variables: int = 0
    n_constraints: int = 0


def _fix_sites(pb: _Problem) -> np.ndarray:
    """Sites whose value some optimal model has: 1 or 0 (-1 free).

    A site is fixed occupied when adding it to any model that leaves it
    empty cannot raise the energy: its surface cost is at most
    ``12 - 2 k`` (``k`` its neighbours already fixed occupied), and in every
    projection whose column asks for at least as many atoms as it has
    candidate sites the mismatch falls by the column's weight (it can rise by
    at most the weight elsewhere).  Fixed empty likewise, for columns that
    already hold more fixed atoms than their count.  Applied until nothing
    changes; each step keeps an optimal model, so the fixed problem has the
    same optimum.
    """
    K = pb.n_sites
    size = np.diff(pb.col_ptr)
    cons = pb.target >= 0
    cw = np.where(cons, pb.cweight, 0.0)
    fixed = -np.ones(K, dtype=np.int64)
    full = cons & (pb.target >= size)
    for _ in range(100):
        f1 = np.concatenate([(fixed == 1).astype(np.int64), [0]])
        f0 = np.concatenate([(fixed == 0).astype(np.int64), [0]])
        occ_lo = f1[pb.nbr].sum(1)
        occ_hi = 12 - pb.n_out - f0[pb.nbr].sum(1)
        n_fixed1 = np.bincount(pb.col.ravel(), weights=np.repeat((fixed == 1).astype(float), pb.n_views),
                               minlength=len(pb.target))
        over = cons & (n_fixed1 >= pb.target + 1)
        cwc = cw[pb.col]
        up = 12 - 2 * occ_lo - np.where(full[pb.col], cwc, -cwc).sum(1)
        # removing a site from a column that holds at least target + 1 fixed atoms (the site among them or not)
        down = 2 * occ_hi - 12 - np.where(over[pb.col], cwc, -cwc).sum(1)
        new1 = (fixed < 0) & (up <= 1e-9)
        new0 = (fixed < 0) & ~new1 & (down <= 1e-9)
        if not new1.any() and not new0.any():
            break
        fixed[new1] = 1
        fixed[new0] = 0
    return fixed


def _milp_arrays(pb: _Problem, fixed=None):
    """Objective, constraint matrices and bounds of the MILP over the free sites; and the constant energy."""
    K = pb.n_sites
    if fixed is None:
        fixed = -np.ones(K, dtype=np.int64)
    free = np.flatnonzero(fixed < 0)
    nf = len(free)
    fidx = -np.ones(K + 1, dtype=np.int64)
    fidx[free] = np.arange(nf)
    ii, mm = np.nonzero(pb.nbr >= 0)
    jj = pb.nbr[ii, mm].astype(np.int64)
    sel = jj > ii
    pi, pj = ii[sel], jj[sel]
    fi, fj = fixed[pi], fixed[pj]
    both = (fi < 0) & (fj < 0)
    const = float(pb.n_out[fixed == 1].sum()) + float(np.sum(((fi == 1) & (fj == 0)) | ((fi == 0) & (fj == 1))))
    lin = pb.n_out[free].astype(float)
    # pairs with one fixed end: |x - 1| = 1 - x, |x - 0| = x
    for a, b in ((pi, pj), (pj, pi)):
        m = (fixed[a] < 0) & (fixed[b] >= 0)
        one = fixed[b][m] == 1
        np.add.at(lin, fidx[a[m]], np.where(one, -1.0, 1.0))
        const += float(one.sum())
    pi, pj = fidx[pi[both]], fidx[pj[both]]
    npair = len(pi)
    cons = np.flatnonzero(pb.target >= 0)
    nc = len(cons)
    nvar = nf + npair + 2 * nc
    c = np.concatenate([lin, np.ones(npair), pb.cweight[cons], pb.cweight[cons]])
    e = nf + np.arange(npair)
    r = np.arange(npair)
    # e - x_i + x_j >= 0 ; e + x_i - x_j >= 0
    rows = np.concatenate([r, r, r, npair + r, npair + r, npair + r])
    cols = np.concatenate([e, pi, pj, e, pi, pj])
    vals = np.concatenate([np.ones(npair), -np.ones(npair), np.ones(npair), np.ones(npair), np.ones(npair), -np.ones(npair)])
    A1 = sparse.csr_matrix((vals, (rows, cols)), shape=(2 * npair, nvar))
    # column equalities: free sites + fixed atoms - s+ + s- = count
    pos = np.full(len(pb.target), -1)
    pos[cons] = np.arange(nc)
    colr = pos[pb.col[free].ravel()]
    sites = np.repeat(np.arange(nf), pb.n_views)
    ok = colr >= 0
    rows2 = np.concatenate([colr[ok], np.arange(nc), np.arange(nc)])
    cols2 = np.concatenate([sites[ok], nf + npair + np.arange(nc), nf + npair + nc + np.arange(nc)])
    vals2 = np.concatenate([np.ones(ok.sum()), -np.ones(nc), np.ones(nc)])
    A2 = sparse.csr_matrix((vals2, (rows2, cols2)), shape=(nc, nvar))
    n1 = np.bincount(pb.col[fixed == 1].ravel(), minlength=len(pb.target))
    t = (pb.target[cons] - n1[cons]).astype(float)
    lb = np.zeros(nvar)
    ub = np.concatenate([np.ones(nf + npair), np.full(2 * nc, np.inf)])
    integ = np.zeros(nvar)
    integ[:nf] = 1
    return c, A1, A2, t, lb, ub, integ, free, const


def _objective_step(pb: _Problem) -> float:
    """The energy's granularity g (every energy is a multiple of it), or 0 when there is none."""
    w = pb.cweight[pb.target >= 0]
    for den in (1, 2, 4, 8, 16, 32, 64):
        if np.allclose(w * den, np.round(w * den), atol=1e-9):
            return 1.0 / den
    return 0.0


def _lp_relaxation(c, A1, A2, t, lb, ub, time_limit):
    """Interior-point solution of the LP relaxation and a rigorous lower bound from its duals.

    Returns ``(x, bound, reduced_costs)`` or None.  For any multipliers
    ``μ ≥ 0`` (rows ``A1 x ≥ 0``) and ``ν`` (rows ``A2 x = t``, clipped to
    ``|ν_c| ≤`` the slack weights so that no unbounded slack has a negative
    cost) every feasible ``x`` has ``c x ≥ ν t + Σ_j min(d_j l_j, d_j u_j)``
    with ``d = c - A1ᵀ μ - A2ᵀ ν``; approximate duals still give a valid
    bound.
    """
    from scipy.optimize import OptimizeWarning, linprog

    opts = {"time_limit": float(time_limit), "run_crossover": "off"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            res = linprog(c, A_ub=-A1, b_ub=np.zeros(A1.shape[0]), A_eq=A2, b_eq=t, bounds=np.stack([lb, ub], 1),
                          method="highs-ipm", options=opts)
        except (AttributeError, TypeError, ValueError):  # a HiGHS without the option
            opts.pop("run_crossover")
            res = linprog(c, A_ub=-A1, b_ub=np.zeros(A1.shape[0]), A_eq=A2, b_eq=t, bounds=np.stack([lb, ub], 1),
                          method="highs-ipm", options=opts)
    if res.x is None or res.status != 0:
        return None
    mu = np.maximum(-np.asarray(res.ineqlin.marginals), 0.0)  # multipliers of -A1 x <= 0
    nu = np.asarray(res.eqlin.marginals)  # multipliers of A2 x = t (scipy's sign)
    nvar = len(c)
    nc = A2.shape[0]
    wslack = c[nvar - nc :]
    nu = np.clip(nu, -wslack, wslack)
    d = c - A1.T @ mu - A2.T @ nu
    d[nvar - 2 * nc :] = np.maximum(d[nvar - 2 * nc :], 0.0)  # exact: w - ν and w + ν are >= 0
    bound = float(nu @ t + np.minimum(d * lb, d * np.where(np.isfinite(ub), ub, 0.0)).sum())
    return res.x, bound, d


def _solve_exact(pb: _Problem, time_limit: float, relax: bool = False, incumbents=()) -> ExactSolution:
    """The optimum of the energy, certified (see the module notes).

    Steps: sites fixed by :func:`_fix_sites`; the LP relaxation by an
    interior-point method with a rigorous bound from its duals; when the
    best model known (the rounded LP solution or one of ``incumbents``,
    ``(occupancy, energy)`` pairs such as the annealing runs' models) is
    within one energy step of that bound it is the certified optimum.
    Otherwise binaries whose reduced cost exceeds the gap are fixed too and
    HiGHS's branch and bound (``scipy.optimize.milp``) solves the rest.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    t0 = time.perf_counter()
    if relax:
        c, A1, A2, t, lb, ub, integ, free, const = _milp_arrays(pb, None)
        lp = _lp_relaxation(c, A1, A2, t, lb, ub, time_limit)
        dt = time.perf_counter() - t0
        if lp is None:
            return ExactSolution("failed", False, float("inf"), -float("inf"), float("inf"), 0, 0, None, dt)
        val = float(c @ lp[0])
        return ExactSolution("relaxation", False, val + const, lp[1] + const, 0.0, 0, 0, lp[0][: len(free)], dt)

    step = _objective_step(pb)
    fixed = _fix_sites(pb)
    c, A1, A2, t, lb, ub, integ, free, const = _milp_arrays(pb, fixed)
    nrow = A1.shape[0] + A2.shape[0]

    def energy_of(xfree):
        x = fixed == 1
        x[free] = xfree > 0.5
        s, m, dev = _energy_parts(x, pb)
        return x, s, m, dev

    def tolerance(energy):
        return (0.999 * step) if step > 0 else 1e-7 * max(1.0, abs(energy))

    lp = _lp_relaxation(c, A1, A2, t, lb, ub, time_limit) if len(free) else None
    message = ""
    if len(free) == 0:
        x, s, m, dev = energy_of(np.zeros(0))
        return ExactSolution("optimal", True, float(s + m), float(s + m), 0.0, s, dev, x,
                             time.perf_counter() - t0, "every site fixed", len(c), nrow)
    # the best model known: the incumbents, then the rounded LP solution
    best = None
    for xin, _ in incumbents:
        xin = np.asarray(xin, bool)
        si, mi, di = _energy_parts(xin, pb)
        if best is None or si + mi < best[1] + best[2] - 1e-9:
            best = (xin, si, mi, di, "an annealing run")
    if lp is not None:
        xlp, lbound, d = lp
        lbound += const
        x, s, m, dev = energy_of(xlp[: len(free)])
        if best is None or s + m < best[1] + best[2] - 1e-9:
            best = (x, s, m, dev, "the LP relaxation is integral")
        x, s, m, dev, source = best
        if s + m - lbound < tolerance(s + m):
            return ExactSolution("optimal", True, float(s + m), float(lbound), 0.0, s, dev, x,
                                 time.perf_counter() - t0, f"LP bound {lbound:.8g}: certified by {source}",
                                 len(c), nrow)
        # reduced-cost fixing: a binary whose flip costs more than the gap keeps its LP value
        ub_energy = s + m
        dfree = d[: len(free)]
        xr = xlp[: len(free)]
        flip = lbound + np.abs(dfree) > ub_energy + 1e-6
        at0 = flip & (xr < 1e-6) & (dfree > 0)
        at1 = flip & (xr > 1 - 1e-6) & (dfree < 0)
        if at0.any() or at1.any():
            fixed = fixed.copy()
            fixed[free[at0]] = 0
            fixed[free[at1]] = 1
            c, A1, A2, t, lb, ub, integ, free, const = _milp_arrays(pb, fixed)
        message = f"LP bound {lbound:.6g}, {int(at0.sum() + at1.sum())} binaries fixed by reduced cost; "
    remaining = max(0.1, time_limit - (time.perf_counter() - t0))
    opts = {"time_limit": float(remaining), "presolve": True, "mip_rel_gap": 1e-9}
    cons = [LinearConstraint(A1, 0, np.inf), LinearConstraint(A2, t, t)]
    res = milp(c, integrality=integ, bounds=Bounds(lb, ub), constraints=cons, options=opts)
    dt = time.perf_counter() - t0
    if res.x is None:
        status = "time limit" if res.status == 1 else "failed"
        if best is None:
            return ExactSolution(status, False, float("inf"), -float("inf"), float("inf"), 0, 0, None, dt,
                                 message + str(res.message), len(c), nrow)
        x, s, m, dev = best[:4]
        bound = lbound if lp is not None else -float("inf")
        gap = (s + m - bound) / max(abs(s + m), 1e-12)
        return ExactSolution(status, False, float(s + m), float(bound), float(gap), s, dev, x, dt,
                             message + "no better model found: " + str(res.message), len(c), nrow)
    x, s, m, dev = energy_of(res.x[: len(free)])
    energy = s + m
    bound = float(getattr(res, "mip_dual_bound", np.nan))
    bound = bound + const if np.isfinite(bound) else (energy if res.status == 0 else -float("inf"))
    if lp is not None:
        bound = max(bound, lbound) if np.isfinite(bound) else lbound
    if best is not None and best[1] + best[2] < energy - 1e-9:  # branch and bound stopped early
        x, s, m, dev = best[:4]
        energy = s + m
    optimal = bool(res.status == 0 or energy - bound < tolerance(energy))
    gap = 0.0 if optimal else (energy - bound) / max(abs(energy), 1e-12)
    status = "optimal" if optimal else ("time limit" if res.status == 1 else f"stopped ({res.status})")
    return ExactSolution(status, optimal, float(energy), float(bound), float(gap), s, dev, x, dt,
                         message + str(res.message), len(c), nrow)


# --------------------------------------------------------------------------
# offsets of all projections
# --------------------------------------------------------------------------


def _count_lp(pb: _Problem, time_limit: float) -> float:
    """Least weighted count mismatch of a fractional occupancy (a small LP: no surface term)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    K = pb.n_sites
    cons = np.flatnonzero(pb.target >= 0)
    nc = len(cons)
    pos = np.full(len(pb.target), -1)
    pos[cons] = np.arange(nc)
    sites = np.repeat(np.arange(K), pb.n_views)
    colr = pos[pb.col.ravel()]
    ok = colr >= 0
    rows = np.concatenate([colr[ok], np.arange(nc), np.arange(nc)])
    cols = np.concatenate([sites[ok], K + np.arange(nc), K + nc + np.arange(nc)])
    vals = np.concatenate([np.ones(ok.sum()), -np.ones(nc), np.ones(nc)])
    A = sparse.csr_matrix((vals, (rows, cols)), shape=(nc, K + 2 * nc))
    t = pb.target[cons].astype(float)
    c = np.concatenate([np.zeros(K), pb.cweight[cons], pb.cweight[cons]])
    ub = np.concatenate([np.ones(K), np.full(2 * nc, np.inf)])
    res = milp(c, bounds=Bounds(np.zeros(K + 2 * nc), ub), constraints=[LinearConstraint(A, t, t)],
               options={"time_limit": float(min(time_limit, 10.0)), "presolve": True})
    return float(res.fun) if res.x is not None else float("inf")


def _miscount_rate(placed, offsets) -> float:
    """Fraction of miscounted columns estimated from the disagreement of the slice totals.

    Every slice across the tilt axis holds the same atoms in every
    projection.  With a fraction ε of the columns off by ±1 at random, the
    difference of two projections' totals of a slice has variance
    ``ε (n_A + n_B)`` (``n`` the slice's columns with atoms), so
    ``ε̂ = Σ d² / Σ (n_A + n_B)`` over slices and pairs of projections.
    """
    tots = []
    for pl, N in zip(placed, offsets):
        lay = pl.vl.layer(pl.n_rel + np.asarray(N)[None, :])
        tots.append((lay, pl.counts))
    lo = min(int(t[0].min()) for t in tots)
    hi = max(int(t[0].max()) for t in tots)
    sums = [np.bincount(l - lo, weights=c, minlength=hi - lo + 1) for l, c in tots]
    ncol = [np.bincount(l - lo, weights=(c > 0).astype(float), minlength=hi - lo + 1) for l, c in tots]
    num = den = 0.0
    for i in range(len(tots)):
        for j in range(i):
            num += float(((sums[i] - sums[j]) ** 2).sum())
            den += float((ncol[i] + ncol[j]).sum())
    return min(num / den, 0.5) if den > 0 else 0.0


def _weight_from_error_rate(eps: float) -> float:
    """Count weight ``w = ln(2 (1 - ε) / ε)`` (a ±1 miscount's log-odds), between 1.5 and 6.

    Rounded to a quarter: every energy is then a multiple of 1/4, so a
    proven bound less than 1/4 below a model's energy certifies it.
    """
    if eps <= 0:
        return DEFAULT_COUNT_WEIGHT
    w = float(np.clip(math.log(2 * (1 - eps) / eps), 1.5, DEFAULT_COUNT_WEIGHT))
    return round(4 * w) / 4


def _lattice_points_near(vl: _ViewLattice, centre, radius):
    """Integer lattice coordinates N with |L N - centre| <= radius (q-units)."""
    m = int(np.ceil(radius / min(np.linalg.svd(vl.L, compute_uv=False)))) + 1
    r = np.arange(-m, m + 1)
    g = np.stack(np.meshgrid(r, r, indexing="ij"), -1).reshape(-1, 2)
    c0 = np.rint(vl.Linv @ centre).astype(np.int64)
    g = g + c0
    d = np.hypot(*(vl.ideal(g) - centre).T)
    return g[d <= radius]


def _offset_from_user(pl: _Placed, a):
    quarter = a / 4.0
    th = pl.fit.theta
    tdir = np.array([math.cos(th), math.sin(th)])
    perp = np.array([-math.sin(th), math.cos(th)])
    p0 = pl.proj.offset[0] * tdir + pl.proj.offset[1] * perp
    u = np.linalg.solve(pl.fit.A, p0 - pl.fit.o_ref) / quarter
    n_origin = np.rint(pl.vl.Linv @ u).astype(np.int64)
    return -n_origin


def _choose_offsets(placed, a, count_weight, max_sites, time_limit):
    """Integer lattice offsets N_k (absolute = relative + N_k) for every projection, and notes."""
    P = len(placed)
    notes = []
    coms, cands = [], []
    any_given = any(pl.proj.offset is not None for pl in placed)
    for k, pl in enumerate(placed):
        w = np.maximum(pl.counts, 0).astype(float)
        com = (pl.vl.ideal(pl.n_rel) * w[:, None]).sum(0) / max(w.sum(), 1e-12)
        coms.append(com)
        if pl.proj.offset is not None:
            cands.append(_offset_from_user(pl, a)[None, :])
        elif k == 0 and not any_given:
            g = _lattice_points_near(pl.vl, -com, 3 * pl.vl.spacing)
            d = np.hypot(*(pl.vl.ideal(g) + com).T)
            cands.append(g[[int(np.argmin(d))]])
        else:
            cands.append(_lattice_points_near(pl.vl, -com, 2.2 * max(np.hypot(*pl.vl.L.T))))
    # profiles per projection with N = 0
    profs = []
    for pl in placed:
        lo, p = _profile(pl.vl.layer(pl.n_rel), pl.counts)
        profs.append((lo, p))
    # plane basis perpendicular to the tilt axis, and each projection's across direction in it
    t = placed[0].vl.tilt / np.linalg.norm(placed[0].vl.tilt)
    e1 = placed[0].vl.B[1]
    e2 = np.cross(t, e1)
    Cmat = np.array([[pl.vl.B[1] @ e1, pl.vl.B[1] @ e2] for pl in placed])
    total = float(np.median([pl.counts.sum() for pl in placed]))
    import itertools

    scored = []
    for combo in itertools.product(*[range(len(c)) for c in cands]):
        Ns = [cands[k][combo[k]] for k in range(P)]
        mism = 0.0
        for i in range(P):
            for j in range(i):
                li = profs[i][0] + int(placed[i].vl.layer(Ns[i]))
                lj = profs[j][0] + int(placed[j].vl.layer(Ns[j]))
                mism += _profile_mismatch(lj, profs[j][1], li, profs[i][1])
        across = np.array([coms[k][1] + placed[k].vl.ideal(Ns[k])[1] for k in range(P)])
        along = np.mean([coms[k][0] + placed[k].vl.ideal(Ns[k])[0] for k in range(P)])
        rp, *_ = np.linalg.lstsq(Cmat, across, rcond=None)
        res = float(np.sqrt(np.mean((Cmat @ rp - across) ** 2)))
        r3 = along * t + rp[0] * e1 + rp[1] * e2
        scored.append((mism, res, float(np.linalg.norm(r3)), combo, r3))
    mmin = min(s[0] for s in scored)
    tol = 2.0 + 0.005 * total
    keep = [s for s in scored if s[0] <= mmin + tol]
    rmin = min(s[1] for s in keep)
    keep = [s for s in keep if s[1] <= rmin + 0.35 * placed[0].vl.spacing]
    keep.sort(key=lambda s: (s[0], s[1], s[2]))
    # drop choices that are the same model moved by an fcc translation
    distinct = []
    for s in keep:
        dup = False
        for d in distinct:
            dv = s[4] - d[4]
            if np.allclose(dv, np.rint(dv), atol=1e-6) and _is_fcc(np.rint(dv).astype(np.int64)):
                dup = True
                break
        if not dup:
            distinct.append(s)
    distinct = distinct[:4]
    if len(distinct) == 1:
        s = distinct[0]
        return [cands[k][s[3][k]] for k in range(P)], notes
    # rank the remaining placements: first by the least count mismatch any (fractional) model can reach,
    # then, among equals, by the LP relaxation of the whole energy
    built = []
    for s in distinct:
        Ns = [cands[k][s[3][k]] for k in range(P)]
        try:
            pb = _build_problem(placed, Ns, count_weight, max_sites)
        except ValueError:
            continue
        built.append((_count_lp(pb, time_limit), Ns, pb))
    if not built:
        raise ValueError(
            "no placement of the projections on one lattice is consistent: check the zone axes, the tilt axis "
            "and the counts"
        )
    lo = min(b[0] for b in built)
    tied = [b for b in built if b[0] <= lo + 1e-6 * max(1.0, lo) + 1e-6]
    if len(tied) == 1:
        best = (tied[0][0], tied[0][1])
    else:
        best = None
        for val0, Ns, pb in tied:
            lp = _solve_exact(pb, min(time_limit, 10.0), relax=True)
            val = lp.energy if lp.occupancy is not None else np.inf
            if best is None or val < best[0] - 1e-6:
                best = (val, Ns)
    notes.append(f"offsets chosen among {len(distinct)} lattice-consistent placements by the LP relaxation")
    return best[1], notes


# --------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------


@dataclass
class ReconstructionResult:
    """A 3D model from discrete tomography.

    Attributes
    ----------
    positions : (M, 3) ndarray
        Atom positions in Å, crystal frame ``(x, y, z)`` along the cube axes
        (napari order is ``positions[:, ::-1]``).
    q : (M, 3) int ndarray
        The same in quarter-lattice units (``positions = q * a / 4``).
    certainty : (M,) ndarray
        Calibrated probability that each atom is there (module notes).
    frequency : (M,) ndarray
        Fraction of the annealing runs whose model holds the atom (the
        paper's certainty); NaN without annealing runs.
    energy : float
        Energy of the model: surface edges + weighted count mismatch.
    surface_edges : int
    count_mismatch : int
        Σ |measured - reconstructed| over the measured columns.
    model_source : str
        ``"exact"`` or ``"anneal run i"``: where the model comes from (the
        lowest energy found).
    sites : pandas.DataFrame
        Every candidate site (K rows): ``x, y, z`` (Å), ``qx, qy, qz``,
        ``occupied`` (in the model), ``frequency``, ``certainty``.
    runs : (n_runs, K) bool ndarray
        Final model of every annealing run over the candidate sites.
    run_energies : (n_runs,) ndarray
    exact : ExactSolution or None
    reprojection : list of pandas.DataFrame
        Per projection, one row per column (measured or missing): ``y, x``
        (Å in the image), ``measured`` (NaN for a missing column),
        ``reconstructed``, ``residual`` (reconstructed - measured),
        ``expected`` (Σ certainty along the column), ``missing``,
        ``input_index`` (row of the projection's input, -1 if missing),
        ``n_sites`` (candidate sites in the column).
    fits : list of ProjectionFit
        Orientation, scale and offset found for every projection.
    lattice_parameter : float
    connected : bool
        The model is one piece (fcc nearest neighbours).
    n_holes : int
        Empty fcc sites enclosed by the model.
    temperature, count_weight : float
    elapsed : float
    count_error_rate : float
        Fraction of miscounted columns, estimated from the slice totals (or
        as given); it sets the count weight when that is not given.
        Seconds.
    notes : list of str
    """

    positions: np.ndarray
    q: np.ndarray
    certainty: np.ndarray
    frequency: np.ndarray
    energy: float
    surface_edges: int
    count_mismatch: int
    model_source: str
    sites: pd.DataFrame
    runs: np.ndarray
    run_energies: np.ndarray
    exact: ExactSolution | None
    reprojection: list
    fits: list
    lattice_parameter: float
    connected: bool
    n_holes: int
    temperature: float
    count_weight: float
    elapsed: float = 0.0
    count_error_rate: float = float("nan")
    notes: list = field(default_factory=list)

    @property
    def n_atoms(self) -> int:
        """Number of atoms in the model."""
        return len(self.positions)

    def run_positions(self, i: int) -> np.ndarray:
        """Atom positions (Å, crystal frame) of annealing run ``i``."""
        return self.sites[["x", "y", "z"]].to_numpy()[self.runs[i]]

    def residual_columns(self, projection: int) -> pd.DataFrame:
        """Rows of ``reprojection[projection]`` whose reconstructed count differs from the measured one."""
        t = self.reprojection[projection]
        return t[t["residual"].fillna(0) != 0]

    def to_frame(self) -> pd.DataFrame:
        """One row per atom: ``x, y, z`` (Å), ``qx, qy, qz``, ``certainty``, ``frequency``."""
        return pd.DataFrame(
            {
                "x": self.positions[:, 0],
                "y": self.positions[:, 1],
                "z": self.positions[:, 2],
                "qx": self.q[:, 0],
                "qy": self.q[:, 1],
                "qz": self.q[:, 2],
                "certainty": self.certainty,
                "frequency": self.frequency,
            }
        )

    def metadata(self) -> dict:
        """What belongs to the whole model (for a layer's metadata or a file header)."""
        md = {
            "lattice_parameter_A": self.lattice_parameter,
            "frame": "crystal x, y, z along the cube axes, Å",
            "energy": self.energy,
            "surface_edges": self.surface_edges,
            "count_mismatch": self.count_mismatch,
            "model_source": self.model_source,
            "n_runs": int(len(self.runs)),
            "temperature": self.temperature,
            "count_weight": self.count_weight,
            "connected": self.connected,
            "n_holes": self.n_holes,
            "projections": [
                {"name": f.name, "zone_axis": list(f.zone_axis), "tilt_axis": list(f.crystal_tilt_axis),
                 "image_rotation_deg": f.image_rotation, "scale": f.scale, "offset_A": f.offset.tolist()}
                for f in self.fits
            ],
        }
        if self.exact is not None:
            md["exact"] = {"status": self.exact.status, "energy": self.exact.energy, "bound": self.exact.bound,
                           "gap": self.exact.gap, "time_s": self.exact.time}
        return md

    def write_xyz(self, path, element: str = "Pb") -> Path:
        """Write the model as extended XYZ (x, y, z in Å, with certainty and frequency)."""
        from .tables import write_xyz

        info = {"lattice_parameter": self.lattice_parameter, "energy": self.energy, "source": "napari-nxtomo tomography"}
        return write_xyz(path, self.positions, np.full(self.n_atoms, element),
                         {"certainty": self.certainty, "frequency": np.nan_to_num(self.frequency, nan=-1.0)}, info=info)

    def to_csv(self, path, name: str = "tomography") -> Path:
        """Write the model as a points CSV (``z, y, x`` in Å, napari order, with features and metadata)."""
        from .tables import write_points_csv

        frame = self.to_frame()
        return write_points_csv(path, self.positions[:, ::-1], frame.drop(columns=["x", "y", "z"]),
                                metadata=self.metadata(), name=name)

    def __repr__(self) -> str:
        ex = "" if self.exact is None else f", exact {self.exact.status} E={self.exact.energy:g}"
        return (f"ReconstructionResult({self.n_atoms} atoms, E={self.energy:g} ({self.surface_edges} surface edges, "
                f"mismatch {self.count_mismatch}), {len(self.runs)} runs{ex})")


# --------------------------------------------------------------------------
# reconstruct
# --------------------------------------------------------------------------


def _default_sweeps(K: int) -> int:
    """Annealing sweeps per run: 400 + 30 √K, and at least 3 million moves (at most 20 000 sweeps)."""
    return int(min(max(400 + 30 * np.sqrt(K), 3e6 / max(K, 1)), 20000))


def _assemble(pb, placed, offsets, a, runs, exact, n_runs_planned, params, count_weight, notes, t0, eps=float("nan"),
              marginals=()):
    """Build the result from finished runs (a list of dicts) and the exact solution."""
    K = pb.n_sites
    quarter = a / 4.0
    run_states = np.array([r["best"] for r in runs], dtype=bool).reshape(len(runs), K)
    run_E = np.array([r["energy"] for r in runs], dtype=float)
    candidates = []
    if exact is not None and exact.occupancy is not None:
        candidates.append((exact.energy, -1, exact.occupancy))
    for i, r in enumerate(runs):
        candidates.append((r["energy"], i, r["best"]))
    if not candidates:
        return None
    candidates.sort(key=lambda c: (c[0], c[1]))
    E_model, src, model = candidates[0]
    model = np.asarray(model, bool)
    source = "exact" if src < 0 else f"anneal run {src}"
    freq = run_states.mean(0) if len(runs) else np.full(K, np.nan)
    notes = list(notes)
    if len(marginals):
        certainty = np.mean(marginals, axis=0)
    else:
        certainty = freq.copy() if len(runs) else model.astype(float)
        if n_runs_planned and params.n_sample:
            notes.append("certainty not sampled: it is the run frequency (or the model)")
    s, m, dev = _energy_parts(model, pb)
    pos_all = pb.q * quarter
    sites = pd.DataFrame(
        {"x": pos_all[:, 0], "y": pos_all[:, 1], "z": pos_all[:, 2], "qx": pb.q[:, 0], "qy": pb.q[:, 1],
         "qz": pb.q[:, 2], "occupied": model, "frequency": freq, "certainty": certainty}
    )
    # fits and reprojection
    fits = []
    n_model = _column_counts(model, pb)
    expected = np.bincount(pb.col.ravel(), weights=np.repeat(certainty, pb.n_views), minlength=len(pb.target))
    n_sites_col = np.diff(pb.col_ptr)
    reproj = []
    for k, (pl, N) in enumerate(zip(placed, offsets)):
        f = pl.fit
        th = f.theta
        tdir = np.array([math.cos(th), math.sin(th)])
        perp = np.array([-math.sin(th), math.cos(th)])
        origin = f.o_ref - f.A @ pl.vl.ideal(np.asarray(N)) * quarter
        dropped = ~np.isin(np.arange(len(pl.proj.counts)), pl.index)
        ncoords = pl.fit.n_rel + np.asarray(N)[None, :]
        sel = np.flatnonzero(pb.col_view == k)
        miss = pb.target[sel] < 0
        fits.append(
            ProjectionFit(pl.proj.name, tuple(int(v) for v in pl.vl.zone), tuple(int(v) for v in pl.vl.tilt), tdir,
                          float(np.rad2deg(th)), f.scale, origin, np.array([origin @ tdir, origin @ perp]), f.rms,
                          dropped, ncoords, int(miss.sum()))
        )
        ideal_img = pl.vl.ideal(pb.col_n[sel]) * quarter @ f.A.T + origin
        yx = ideal_img.copy()
        inp = pb.col_input[sel]
        yx[inp >= 0] = pl.proj.positions[inp[inp >= 0]]
        measured = np.where(miss, np.nan, pb.target[sel].astype(float))
        rec = n_model[sel]
        reproj.append(
            pd.DataFrame(
                {"y": yx[:, 0], "x": yx[:, 1], "measured": measured, "reconstructed": rec,
                 "residual": rec - measured, "expected": expected[sel], "missing": miss, "input_index": inp,
                 "n_sites": n_sites_col[sel]}
            )
        )
    pieces, holes = _topology(pb.q[model])
    if pieces > 1:
        notes.append(f"the model is in {pieces} pieces")
    if holes:
        notes.append(f"the model encloses {holes} empty site(s)")
    if len(runs) < n_runs_planned and (len(runs) or exact is None):
        notes.append(f"{len(runs)} of {n_runs_planned} annealing runs finished")
    return ReconstructionResult(
        positions=pos_all[model],
        q=pb.q[model],
        certainty=certainty[model],
        frequency=freq[model],
        energy=float(s + m),
        surface_edges=int(s),
        count_mismatch=int(dev),
        model_source=source,
        sites=sites,
        runs=run_states,
        run_energies=run_E,
        exact=exact,
        reprojection=reproj,
        fits=fits,
        lattice_parameter=float(a),
        connected=pieces <= 1,
        n_holes=holes,
        temperature=float(params.temperature),
        count_weight=float(count_weight),
        elapsed=time.perf_counter() - t0,
        notes=notes,
        count_error_rate=float(eps),
    )


def _check_totals(projections):
    totals = np.array([p.total for p in projections], dtype=float)
    if np.any(totals == 0):
        p = projections[int(np.argmin(totals))]
        raise ValueError(f"projection {p.name} counts no atoms at all: every projection must see the particle")
    med = float(np.median(totals))
    spread = np.abs(totals - med)
    worst = int(np.argmax(spread))
    if spread[worst] > max(5.0, 0.1 * med):
        raise ValueError(
            "the projections count very different numbers of atoms ("
            + ", ".join(f"{p.name}: {p.total}" for p in projections)
            + "): each image shows the whole particle, so the totals must agree (here to within 10 %). "
            "Check the counting of each image, that all images show the same particle, and that only the "
            "reconstructed species is counted"
        )
    if spread[worst] > max(2.0, 0.02 * med):
        warnings.warn(
            "the projections' atom totals differ by more than 2 % ("
            + ", ".join(f"{p.name}: {p.total}" for p in projections)
            + "): the model will not meet every count",
            stacklevel=3,
        )


def _available_memory():
    """Bytes of memory available to this process, or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def reconstruct(
    projections,
    lattice_parameter: float,
    lattice: str = "fcc",
    n_runs: int = 10,
    seed: int = 0,
    *,
    method: str = "both",
    count_weight: float | None = None,
    count_error_rate: float | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    n_sweeps: int | None = None,
    n_sample_sweeps: int = 200,
    time_limit: float = 60.0,
    n_workers: int | None = None,
    client=None,
    progress=None,
    cancel=None,
    max_sites: int = 2_000_000,
) -> ReconstructionResult:
    """Reconstruct a 3D atomic model on the fcc lattice from atom counts in two or more projections.

    Parameters
    ----------
    projections : sequence of Projection
        Two or more images along different zone axes about one tilt axis.
    lattice_parameter : float
        Cubic lattice parameter *a* in Å (6.12 for PbSe).
    lattice : {"fcc"}
        The lattice of the reconstructed sublattice.
    n_runs : int
        Independent annealing runs (each seeded from ``seed``).
    seed : int
        Seed of the runs' random numbers.
    method : {"both", "anneal", "exact"}
        ``"anneal"``: simulated annealing runs only; ``"exact"``: the
        mixed-integer optimum only (``n_runs`` sampling chains from it give
        the certainty, no annealing); ``"both"``: the optimum certifies the
        runs and the model is the lowest energy found.
    count_weight : float, optional
        ``w``: surface edges per atom of count mismatch.  Default: from
        ``count_error_rate`` as ``ln(2 (1 - ε) / ε)``, between 1.5 and 6
        (module notes).
    count_error_rate : float, optional
        Expected fraction ``ε`` of columns miscounted by ±1 (e.g. from the
        counting step's class overlap).  Default: estimated from how well
        the projections' slice totals agree.
    temperature : float
        Temperature (surface edges) of the posterior that gives the
        calibrated certainty; 1 makes ``exp(-E)`` the posterior.
    n_sweeps : int, optional
        Annealing sweeps per run (a sweep = one move per candidate site);
        default ``400 + 30 √K`` for ``K`` candidate sites, at least 3
        million moves (2950 sweeps for 7000 sites, 8450 for 355).
    n_sample_sweeps : int
        Sweeps of sampling at ``temperature`` per run.
    time_limit : float
        Seconds for the exact solver; past it the best model and its gap are
        reported.
    n_workers : int, optional
        Threads for the runs; default: every core (``os.cpu_count()``).
    client : dask.distributed.Client, optional
        Run the annealing runs on this cluster instead of threads.
    progress : callable, optional
        ``progress(i, n)`` at the start (``i = 0``) and after each finished
        step: every annealing run is a step, then the exact solve, then the
        certainty sampling (all chains together).
    cancel : callable, optional
        Polled several times a second while runs or sampling chains go on,
        and after the exact solve; when it returns True the remaining work
        stops (within a fraction of a second) and
        :class:`ReconstructionCancelled` is raised, carrying in ``.partial``
        the result from the finished runs (and the exact solve, if done; its
        certainty is then the run frequency), or None when nothing had
        finished.
    max_sites : int
        Refuse problems with more candidate sites (about 8 kB each; a
        problem larger than 80 % of the free memory is refused too).

    Returns
    -------
    ReconstructionResult

    Raises
    ------
    ValueError
        Fewer than two projections, projections without a common tilt axis,
        bad counts, totals that disagree by more than 10 %, columns off the
        lattice, or a problem too large for memory; the message says what to
        change.
    ReconstructionCancelled
        When ``cancel()`` returned True.
    """
    t0 = time.perf_counter()
    if lattice != "fcc":
        raise ValueError(f"lattice {lattice!r} is not supported: only 'fcc' (e.g. the Pb sublattice of rocksalt PbSe)")
    if method not in ("both", "anneal", "exact"):
        raise ValueError(f"method must be 'both', 'anneal' or 'exact', not {method!r}")
    a = float(lattice_parameter)
    if not (np.isfinite(a) and a > 0):
        raise ValueError(f"lattice_parameter must be a positive length in Å, got {lattice_parameter!r}")
    if isinstance(projections, Projection):
        projections = [projections]
    projections = list(projections)
    if len(projections) < 2:
        raise ValueError(
            f"discrete tomography needs at least two projections along different zone axes, got {len(projections)}: "
            "add images along other zone axes about the same tilt axis (e.g. [100], [010], [110] about [001])"
        )
    for p in projections:
        if not isinstance(p, Projection):
            raise ValueError(f"every projection must be a Projection, got {type(p).__name__}")
    n_runs = int(n_runs)
    if n_runs < 0 or (method == "anneal" and n_runs < 1):
        raise ValueError(f"n_runs must be at least 1 for annealing, got {n_runs}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive (surface edges), got {temperature!r}")
    if count_weight is not None and not count_weight > 0:
        raise ValueError(f"count_weight must be positive (surface edges per atom of mismatch), got {count_weight!r}")
    if count_error_rate is not None and not 0 <= count_error_rate < 1:
        raise ValueError(f"count_error_rate is a fraction of columns, 0 to 1, got {count_error_rate!r}")
    t = _common_tilt_axis(projections)
    _check_totals(projections)
    early = max(p.total for p in projections)
    if early > max_sites:
        raise ValueError(
            f"the projections count {early} atoms, more than max_sites = {max_sites} candidate sites "
            f"(about {early * _BYTES_PER_SITE / 1e9:.2g} GB): too large for memory; crop the images to one particle "
            "or raise max_sites if the machine has the memory"
        )
    placed = _place(projections, a, t)
    offsets, notes = _choose_offsets(placed, a, count_weight or DEFAULT_COUNT_WEIGHT, max_sites, time_limit)
    eps_hat = _miscount_rate(placed, offsets)
    eps = eps_hat if count_error_rate is None else float(count_error_rate)
    if count_weight is None:
        count_weight = _weight_from_error_rate(eps)
    pb = _build_problem(placed, offsets, count_weight, max_sites)
    need = pb.n_sites * _BYTES_PER_SITE
    avail = _available_memory()
    if avail is not None and need > 0.8 * avail:
        raise ValueError(
            f"the problem has {pb.n_sites} candidate sites and needs about {need / 1e9:.2g} GB, more than the "
            f"{avail / 1e9:.2g} GB of free memory: crop the images to one particle"
        )

    if n_sweeps is None:
        n_sweeps = _default_sweeps(pb.n_sites)
    params = _RunParams(
        n_sweeps=int(n_sweeps), n_quench=30, n_sample=int(n_sample_sweeps), t_start=6.0, t_end=0.05,
        temperature=float(temperature), p_flip=0.05, p_move=0.45,
    )
    do_exact = method in ("both", "exact")
    anneal = method in ("both", "anneal")
    sample = n_runs > 0 and params.n_sample > 0
    n_steps = (n_runs if anneal else 0) + (1 if do_exact else 0) + (1 if sample else 0)
    ticker = _Ticker(progress, n_steps)
    ticker.tick(0)
    children = np.random.SeedSequence(seed).spawn(max(n_runs, 0))
    seeds = [[int(g.generate_state(1, dtype=np.uint64)[0] % (2**62)) for g in c.spawn(2)] for c in children]
    runner = _Runner(pb, client, n_workers, cancel)

    def cancelled(what, runs, exact, marginals):
        partial = _assemble(pb, placed, offsets, a, runs, exact, n_runs, params, count_weight, notes, t0, eps,
                            marginals)
        raise ReconstructionCancelled(f"reconstruction cancelled {what}", partial)

    # 1. annealing runs
    runs = []
    if anneal:
        results, stopped = runner.map(_anneal_one, [(params, sd[0]) for sd in seeds], ticker)
        runs = [r for r in results if r is not None]
        if stopped:
            cancelled(f"after {len(runs)} of {n_runs} annealing runs", runs, None, [])
    # 2. the exact optimum, with the runs' models as incumbents
    exact = None
    if do_exact:
        exact = _solve_exact(pb, time_limit, incumbents=[(r["best"], r["energy"]) for r in runs])
        if exact.occupancy is None:
            notes.append(f"the exact solver failed: {exact.message}")
        ticker.tick()
        if cancel is not None and cancel():
            cancelled("after the exact solve", runs, exact, [])
    # 3. sampling chains for the certainty, each from the best model its run knows
    marginals = []
    if sample:
        starts = []
        for i in range(n_runs):
            cands = []
            if anneal:
                cands.append((runs[i]["energy"], runs[i]["best"]))
            if exact is not None and exact.occupancy is not None:
                cands.append((exact.energy + 1e-9, exact.occupancy))  # a run's own optimum on a tie
            if cands:
                starts.append(min(cands, key=lambda c: c[0])[1])
        if starts:
            results, stopped = runner.map(_sample_one, [(params, sd[1], st) for sd, st in zip(seeds, starts)], None)
            marginals = [r for r in results if r is not None]
            if stopped:
                cancelled("while sampling the certainty", runs, exact, marginals)
        ticker.tick()
    res = _assemble(pb, placed, offsets, a, runs, exact, n_runs, params, count_weight, notes, t0, eps, marginals)
    if exact is not None and exact.occupancy is not None and len(res.run_energies):
        worse = int(np.sum(res.run_energies > exact.energy + 1e-6))
        if worse:
            res.notes.append(f"{worse} of {len(res.run_energies)} annealing runs ended above the exact optimum")
    return res


class _Ticker:
    """Counts finished steps and reports them as ``progress(i, n)``."""

    def __init__(self, progress, n):
        self.progress, self.n, self.done = progress, n, 0

    def tick(self, k=1):
        self.done += k
        if self.progress is not None:
            self.progress(self.done, self.n)


class _Runner:
    """Runs independent jobs ``fn(pb, *args, stop)`` in threads or on a dask cluster, polling ``cancel``."""

    def __init__(self, pb, client, n_workers, cancel):
        self.pb, self.client, self.cancel = pb, client, cancel
        self.n_workers = max(1, int(n_workers or os.cpu_count() or 1))
        self._pb_future = None

    def map(self, fn, jobs, ticker):
        if not jobs:
            return [], False
        if self.cancel is not None and self.cancel():  # cancelled before this stage started
            return [None] * len(jobs), True
        if self.client is not None:
            return self._map_dask(fn, jobs, ticker)
        return self._map_threads(fn, jobs, ticker)

    def _map_threads(self, fn, jobs, ticker):
        stop = threading.Event()
        results = [None] * len(jobs)
        stopped = False
        with ThreadPoolExecutor(max_workers=min(self.n_workers, len(jobs))) as pool:
            futs = {pool.submit(fn, self.pb, *args, stop): i for i, args in enumerate(jobs)}
            pending = set(futs)
            while pending:
                fin, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for f in fin:
                    r = f.result()
                    if r is not None:
                        results[futs[f]] = r
                        if ticker is not None:
                            ticker.tick()
                if pending and self.cancel is not None and self.cancel():
                    stopped = True
                    stop.set()
                    for f in pending:
                        f.cancel()
                    wait(pending)
                    for f in pending:
                        if not f.cancelled() and f.exception() is None and f.result() is not None:
                            results[futs[f]] = f.result()
                    break
        return results, stopped

    def _map_dask(self, fn, jobs, ticker):
        from distributed import wait as dwait

        if self._pb_future is None:
            self._pb_future = self.client.scatter(self.pb, broadcast=True)
        futs = [self.client.submit(fn, self._pb_future, *args, None, pure=False) for args in jobs]
        index = {f.key: i for i, f in enumerate(futs)}
        results = [None] * len(jobs)
        pending = set(futs)
        stopped = False
        while pending:
            try:
                fin = dwait(list(pending), timeout=0.3, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                fin = set()
            except Exception as exc:  # distributed's own TimeoutError on older versions
                if "Timeout" not in type(exc).__name__:
                    raise
                fin = set()
            for f in fin:
                results[index[f.key]] = f.result()
                if ticker is not None:
                    ticker.tick()
            pending -= set(fin)
            if pending and self.cancel is not None and self.cancel():
                stopped = True
                self.client.cancel(list(pending))
                break
        return results, stopped
