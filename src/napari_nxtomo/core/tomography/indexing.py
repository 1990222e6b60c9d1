"""Indexing the views: the common tilt axis, every projection's lattice fit and orientation.

:func:`_place` fits the projected lattice to every projection's columns
(:mod:`.view_lattice`) and chooses the orientations jointly; the lattice
offsets are chosen afterwards (:mod:`.offsets`).  :class:`ProjectionFit`
reports how a projection was placed.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..geometry import ProjectionGeometry
from .projections import Projection, _zone_name
from .view_lattice import _encode, _fit_lattice, _LatticeFit, _orientation_candidates, _ViewLattice


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


def _tilt_frame(theta):
    """Unit image directions ``(row, col)`` along the tilt axis at angle ``theta`` (rad) and across it."""
    return np.array([math.cos(theta), math.sin(theta)]), np.array([-math.sin(theta), math.cos(theta)])


def _common_tilt_axis(projections):
    """The common tilt axis (3 ints) of the projections; a ValueError that says what to change if none.

    The given ``crystal_tilt_axis`` (one for all), else ``[001]`` when it is
    perpendicular to every zone axis, else the common perpendicular of the
    first two zone axes.
    """
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


# --------------------------------------------------------------------------
# slice profiles: the atom total of every fcc layer across the tilt axis
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# placing the projections
# --------------------------------------------------------------------------


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


def _lattice_fits(p: Projection, t, a, prefer_down):
    """The view lattice of ``p`` about the tilt axis ``t`` and one lattice fit per orientation it allows.

    A given ``tilt_axis`` picks the orientation nearest to it (within 40°);
    ``prefer_down`` keeps the orientations whose tilt axis points down the
    image (positive row component).
    """
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
    elif prefer_down:
        down = [c for c in cands if math.cos(c[0]) > 1e-6 or (abs(math.cos(c[0])) <= 1e-6 and math.sin(c[0]) > 0)]
        cands = down or cands
    return vl, [_fit_lattice(p.positions, p.counts, vl, a, th, s0, p.name) for th, _ in cands]


def _choose_fits(options, projections):
    """One fit per projection (indices): slice profiles agree, then orientations agree, then near image rows.

    Among the combinations whose slice profiles (best shift along the tilt
    axis) agree to within 2 atoms + 0.5 % of the best, those whose
    orientations agree between images (within 10°: one tilt series shares
    one scan direction) come first, then the best profile agreement, then
    the orientations nearest the image rows.
    """

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
    return near[0][3]


def _placed_from_fit(p: Projection, vl, f, a):
    """The projection's columns on the lattice fit ``f``; off-lattice columns with atoms warned or refused."""
    nbad = int(np.sum(~f.keep & (p.counts > 0)))
    if nbad > 0.05 * np.sum(p.counts > 0):
        raise ValueError(
            f"projection {p.name}: {nbad} of {len(p.counts)} columns with atoms are off the projected fcc lattice "
            f"along {_zone_name(p.zone_axis)} (a = {a:.4g} Å): check the zone axis, the lattice parameter, and "
            "that only columns of the reconstructed sublattice are passed (along [110] of rocksalt: the Pb columns)"
        )
    if nbad:
        # stacklevel: _placed_from_fit, _place, _index_views, reconstruct, the caller
        warnings.warn(
            f"projection {p.name}: {nbad} column(s) with atoms are off the lattice and were left out", stacklevel=5
        )
    keep = _without_duplicates(p, f.keep.copy(), f.n_rel)
    idx = np.flatnonzero(keep)
    return _Placed(p, vl, f, p.counts[idx], p.weights[idx], p.positions[idx], idx, f.n_rel[idx])


def _without_duplicates(p: Projection, keep, n_rel):
    """``keep`` with, of two or more columns on one lattice column, only the one of most atoms (a noise peak beside a
    column); warned when they are at most 5 % of the columns, refused (ValueError) when more."""
    rows = np.flatnonzero(keep)
    _, inv, cnt = np.unique(_encode(n_rel[keep]), return_inverse=True, return_counts=True)
    if not np.any(cnt > 1):
        return keep
    dup = rows[cnt[inv] > 1]
    if dup.size > max(2, 0.05 * rows.size):
        raise ValueError(
            f"projection {p.name}: columns {dup[:6].tolist()} ({dup.size} in all) fall on the same lattice columns "
            "(closer than a column spacing): remove duplicate columns (a larger min distance when finding them)"
        )
    best = {}
    for r, g in zip(rows, inv):
        if cnt[g] > 1 and (g not in best or p.counts[r] > p.counts[best[g]]):
            best[g] = r
    dropped = [int(r) for r, g in zip(rows, inv) if cnt[g] > 1 and best[g] != r]
    keep[dropped] = False
    # stacklevel: _without_duplicates, _placed_from_fit, _place, _index_views, reconstruct, the caller
    warnings.warn(f"projection {p.name}: column(s) {dropped} share a lattice column with a column of more atoms "
                  "(a noise peak beside it) and were left out", stacklevel=6)
    return keep


def _place(projections, a, t):
    """Fit every projection's lattice and choose the orientations; returns _Placed per projection.

    For every image the rotation, the scale and a reference column are
    refined from the column positions (:func:`._fit_lattice`) for every
    orientation the projected lattice allows (four directions in a square
    [100] projection, two in a [110] one) unless ``tilt_axis`` is given;
    the choice is made jointly for all projections (:func:`_choose_fits`):
    the atom total of every slice across the tilt axis (one fcc layer
    ``a/2`` thick for the [001] axis) must be the same in all projections.
    When no projection gives its tilt axis, the first projection's tilt axis
    is taken to point down the image: the projections cannot tell a
    particle from its inversion through the centre when the sense of the
    tilt axis in the images is unknown.  Columns off the lattice with a
    count of zero are dropped, otherwise they are dropped with a warning
    (more than 5 % of the columns with atoms is an error).
    """
    any_given = any(p.tilt_axis is not None for p in projections)
    options = []
    for k, p in enumerate(projections):
        vl, fits = _lattice_fits(p, t, a, prefer_down=not any_given and k == 0)
        options.append((p, vl, fits))
    combo = _choose_fits(options, projections)
    placed = []
    for (p, vl, fits), j in zip(options, combo):  # a loop, not a comprehension: the warnings' stacklevel
        placed.append(_placed_from_fit(p, vl, fits[j], a))
    return placed


def _projection_fit(pl: _Placed, N, a, n_missing) -> ProjectionFit:
    """The :class:`ProjectionFit` of a placed projection at the lattice offset ``N``."""
    f = pl.fit
    tdir, perp = _tilt_frame(f.theta)
    origin = f.o_ref - f.A @ pl.vl.ideal(np.asarray(N)) * (a / 4.0)
    dropped = ~np.isin(np.arange(len(pl.proj.counts)), pl.index)
    ncoords = pl.fit.n_rel + np.asarray(N)[None, :]
    return ProjectionFit(pl.proj.name, tuple(int(v) for v in pl.vl.zone), tuple(int(v) for v in pl.vl.tilt), tdir,
                         float(np.rad2deg(f.theta)), f.scale, origin, np.array([origin @ tdir, origin @ perp]), f.rms,
                         dropped, ncoords, int(n_missing))


def _aligned_layers(projections, a, reference: int):
    """Every projection's columns on its lattice with their fcc layer across the tilt axis, numbered as the
    ``reference`` projection's (slice profiles lined up, :func:`_best_shift_mismatch`).

    Returns ``(placed, totals)``: per projection ``(rows, layers)`` (rows: indices into its columns; off-lattice
    and duplicate columns left out), and the reference's atom total of every layer (dict).
    """
    placed = _place(projections, a, _common_tilt_axis(projections))
    ref = placed[reference]
    lo0, p0 = _profile(ref.vl.layer(ref.n_rel), ref.counts)
    out = []
    for pl in placed:
        layers = pl.vl.layer(pl.n_rel)
        lo, prof = _profile(layers, pl.counts)
        shift = 0 if pl is ref else _best_shift_mismatch(lo0, p0, lo, prof)[1]
        out.append((pl.index, layers + shift))
    return out, {lo0 + i: int(round(v)) for i, v in enumerate(p0)}
