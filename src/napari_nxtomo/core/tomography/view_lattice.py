"""The projected fcc lattice along one zone axis, and its fit to the columns of one image.

The fcc sites seen along ``[u v w]`` form a 2D lattice of columns
(:class:`_ViewLattice`, in quarter-lattice units of the ideal image frame:
along the tilt axis and across it).  :func:`_orientation_candidates` and
:func:`_fit_lattice` find how an image's columns sit on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..geometry import ProjectionGeometry
from ..lattice import FCC_TRANSLATIONS_Q
from .projections import _zone_name

#: primitive fcc translations in quarter-lattice units
_FCC_PRIMITIVE_Q = FCC_TRANSLATIONS_Q[1:]


def _is_fcc(q) -> np.ndarray:
    q = np.asarray(q)
    return np.all(q % 2 == 0, axis=-1) & (q.sum(axis=-1) % 4 == 0)


def _rot(theta):
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def _encode(n) -> np.ndarray:
    """One int64 key per 2D lattice coordinate pair (for sorting and matching)."""
    n = np.asarray(n, dtype=np.int64)
    return (n[..., 0] + (1 << 20)) * (1 << 21) + (n[..., 1] + (1 << 20))


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
        L = _projected_basis(B, zone)
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


def _projected_basis(B, zone):
    """A basis (columns, q-units) of the projected fcc lattice: the shortest vector and the next one that,
    with it, generates every projected fcc translation."""
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
            return L
    raise ValueError(f"cannot find the projected lattice along {_zone_name(zone)}")  # pragma: no cover


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


def _rotation_peaks(dv, V, dnn, thetas):
    """Rotations (indices into ``thetas``) voted for by pairs of measured and ideal vectors of similar length.

    Every (measured, ideal) pair whose lengths agree within 12 % of the
    neighbour distance votes for the rotation that aligns them; the votes
    are smoothed by 1.5° and the peaks within 60 % of the highest returned.
    """
    lm = np.hypot(dv[:, 0], dv[:, 1])
    lv = np.hypot(V[:, 0], V[:, 1])
    close = np.abs(lm[:, None] - lv[None, :]) < 0.12 * dnn
    ang = (np.arctan2(dv[:, 1], dv[:, 0])[:, None] - np.arctan2(V[:, 1], V[:, 0])[None, :])[close]
    hist = np.bincount(np.floor((ang % (2 * np.pi)) / (2 * np.pi) * len(thetas)).astype(np.int64) % len(thetas),
                       minlength=len(thetas)).astype(float)
    kern = np.exp(-0.5 * (np.arange(-12, 13) / 3.0) ** 2)  # 1.5 degree smoothing
    sc = np.real(np.fft.ifft(np.fft.fft(hist) * np.fft.fft(np.roll(np.pad(kern, (0, len(thetas) - 25)), -12))))
    return np.flatnonzero((sc >= np.roll(sc, 1)) & (sc > np.roll(sc, -1)) & (sc >= 0.6 * sc.max()))


def _orientation_candidates(pos, vl: _ViewLattice, a: float):
    """Lattice orientations (rad) that match the nearest-neighbour vectors, best first, and the scale.

    The scale ``s0`` is the median nearest-neighbour distance over the
    shortest ideal column spacing.  The measured neighbour vectors (up to
    1.6 neighbour distances) vote for rotations (:func:`_rotation_peaks`);
    every peak is refined on a 0.1° grid by a Gaussian overlap score with
    the ideal vectors (up to 1.7 spacings), and the orientations within
    80 % of the best score are returned as ``(theta, score)``, best first,
    with ``s0`` and the neighbour distance ``dnn`` (Å).
    """
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

    out = []
    for p in _rotation_peaks(dv, V, dnn, thetas):
        fine = thetas[p] + np.deg2rad(np.linspace(-1.0, 1.0, 21))
        fs = [score(t) for t in fine]
        out.append((float(fine[int(np.argmax(fs))]) % (2 * np.pi), float(max(fs))))
    if out:
        top = max(o[1] for o in out)
        out = [o for o in out if o[1] >= 0.8 * top]
    out.sort(key=lambda t: -t[1])
    return out, s0, dnn


def _index_columns(pos, vl: _ViewLattice, A, o, quarter):
    """Lattice coordinates of the columns ``pos`` under the similarity ``A`` (2x2) and origin ``o`` (Å).

    Returns ``(n_rel (N, 2) int, ideal positions (N, 2) Å, residual (N,) Å, on-lattice (N,) bool)``:
    a column is on the lattice when it is less than a third of the shortest
    column spacing from its lattice position.
    """
    u = (pos - o) @ np.linalg.inv(A).T / quarter
    nrel = np.rint(u @ vl.Linv.T).astype(np.int64)
    ideal = vl.ideal(nrel) * quarter
    res = np.hypot(*(pos - (ideal @ A.T + o)).T)
    return nrel, ideal, res, res < vl.spacing * quarter * 0.33


def _fit_lattice(pos, counts, vl: _ViewLattice, a: float, theta0: float, s0: float, name: str):
    """Refine rotation, scale and the reference column; index every column on the lattice.

    Starting from the orientation ``theta0`` and scale ``s0`` at the column
    nearest the count-weighted centre, a linear similarity fit (rotation
    ``θ``, a common scale ``s``, i.e. the image calibration against the
    given lattice parameter, and the position of the reference column) is
    refined by least squares over growing radii, so that a small scale error
    cannot mis-index far columns; then every column has integer lattice
    coordinates.  Columns off the lattice by more than a third of the
    shortest column spacing are outliers (``keep`` False).
    """
    quarter = a / 4.0
    n = len(pos)
    centre = np.average(pos, axis=0, weights=np.maximum(counts, 0) + 1e-3)
    ref = int(np.argmin(((pos - centre) ** 2).sum(1)))
    A = s0 * _rot(theta0)
    o = pos[ref].copy()
    keep = np.ones(n, dtype=bool)
    dist = np.hypot(*(pos - pos[ref]).T)
    radii = np.unique(np.concatenate([np.quantile(dist, [0.15, 0.35, 0.6]), [dist.max()]]))
    for rad in list(radii) + [dist.max()] * 2:
        use = dist <= rad + 1e-9
        nrel, ideal, res, keep = _index_columns(pos, vl, A, o, quarter)
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
    nrel, _, res, keep = _index_columns(pos, vl, A, o, quarter)
    scale = float(np.hypot(A[1, 0], A[0, 0]))
    theta = float(math.atan2(A[1, 0], A[0, 0]))
    rms = float(np.sqrt(np.mean(res[keep] ** 2))) if keep.any() else float("inf")
    return _LatticeFit(theta, scale, o, nrel, keep, rms)
