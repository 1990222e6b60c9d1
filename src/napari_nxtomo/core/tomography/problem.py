"""The site problem: candidate fcc sites, the columns that see them, and the one energy of both solvers.

Sites are in the quarter-lattice integer grid of :mod:`napari_nxtomo.core.lattice`
(a site is ``q * a / 4``; the fcc sites are the ``q`` with even components
whose sum is a multiple of 4).  :func:`_build_problem` turns the placed
projections into a :class:`_Problem`; :func:`_energy_parts` evaluates its
energy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull

from ..lattice import FCC_NEIGHBOURS_Q, FCC_TRANSLATIONS_Q
from .view_lattice import _encode

#: the 12 nearest neighbours in half-lattice units (q / 2)
_NB_H = (FCC_NEIGHBOURS_Q // 2).astype(np.int64)
#: bytes of memory per candidate site, with the MILP (about 6 kB measured for 7000 to 17000 sites)
_BYTES_PER_SITE = 8000
#: the count weight of consistent counts (no miscount expected)
DEFAULT_COUNT_WEIGHT = 6.0
#: the least weight of one column's count (:func:`weight_from_probability`: a count right with probability ≤ 0.45)
MIN_COLUMN_WEIGHT = 0.5


@dataclass
class _Problem:
    """Arrays that define one reconstruction (picklable: sent to dask workers)."""

    q: np.ndarray  # (K, 3) int64 quarter-lattice coordinates of the candidates
    nbr: np.ndarray  # (K, 12) int32 neighbour candidate index or -1
    n_out: np.ndarray  # (K,) int: neighbours that are not candidates (empty), the filled ones left out
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
    n_fixed: np.ndarray | None = None  # (K,) int: neighbours filled by another species (count as occupied)

    def __post_init__(self):
        if self.n_fixed is None:
            self.n_fixed = np.zeros(len(self.q), dtype=np.int64)

    @property
    def n_sites(self) -> int:
        return len(self.q)

    @property
    def n_views(self) -> int:
        return self.col.shape[1]


# --------------------------------------------------------------------------
# candidate sites and columns
# --------------------------------------------------------------------------


def _fcc_in_box(lo, hi):
    """fcc sites (q-units) with lo <= q <= hi componentwise."""
    out = []
    for tr in FCC_TRANSLATIONS_Q:
        rng = [np.arange(int(np.ceil((lo[d] - tr[d]) / 4.0)) * 4 + tr[d], hi[d] + 1, 4) for d in range(3)]
        g = np.stack(np.meshgrid(*rng, indexing="ij"), -1).reshape(-1, 3)
        out.append(g)
    return np.concatenate(out).astype(np.int64)


def _missing_and_inner_zero(pl, n_abs):
    """Missing columns and columns measured empty strictly inside the hull of the columns with atoms.

    Missing columns are the lattice points inside that hull that were not
    measured (no count constraint); the inner empty columns stay candidates
    (their zero may be a miscount).  Returns ``(missing (M, 2), inner_zero (N,) bool)``.
    """
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
    return missing, inner_zero


def _view_tables(placed, offsets):
    """Per projection: a table of its columns (measured and missing) in absolute lattice coordinates.

    ``open`` marks the columns whose sites may hold atoms: measured above
    zero, measured empty but strictly inside the hull of the columns with
    atoms, measured empty by a count the counting was unsure of (weight
    below 1: a core–shell island's lone Pb under its shell), or missing (see
    :func:`_missing_and_inner_zero`).
    """
    tables = []
    for pl, N in zip(placed, offsets):
        n_abs = pl.n_rel + np.asarray(N)[None, :]
        ideal = pl.vl.ideal(n_abs)
        missing, inner_zero = _missing_and_inner_zero(pl, n_abs)
        tables.append(
            dict(
                n=np.concatenate([n_abs, missing]),
                target=np.concatenate([pl.counts, -np.ones(len(missing), np.int64)]),
                open=np.concatenate([(pl.counts > 0) | inner_zero | (pl.weights < 1), np.ones(len(missing), bool)]),
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


def _candidate_sites(vls, tables, qs):
    """The sites ``qs`` that lie in an open column of every projection, and their column per projection.

    Returns ``(q (K, 3), col (K, P) global column indices)``; columns are
    numbered projection after projection in the order of ``tables``.
    """
    col_ids = []
    base = 0
    for vl, tb in zip(vls, tables):
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
        base += len(tb["target"])
    return qs, np.stack(col_ids, axis=1).astype(np.int32)


def _neighbour_grid(q):
    """Nearest neighbours of the candidates through a dense grid over half-lattice units.

    Returns ``(grid, lo, nbr, n_out)``: the grid of candidate indices (-1
    where none), the half-units of ``grid[0, 0, 0]``, the (K, 12) neighbour
    indices (-1: not a candidate) and the number of such outside neighbours.
    """
    h = q // 2
    lo = h.min(0) - 1
    hi = h.max(0) + 1
    shape = tuple(int(v) for v in hi - lo + 1)
    grid = -np.ones(shape, dtype=np.int32)
    grid[tuple((h - lo).T)] = np.arange(len(q), dtype=np.int32)
    nbh = h[:, None, :] + _NB_H[None, :, :] - lo
    nbr = grid[nbh[..., 0], nbh[..., 1], nbh[..., 2]]
    n_out = (nbr < 0).sum(1).astype(np.int64)
    return grid, lo, nbr, n_out


def _column_members(col, n_columns):
    """CSR (``ptr (C+1,)``, ``members``) of the candidate sites of every column."""
    flat = col.ravel()
    sites = np.repeat(np.arange(len(col)), col.shape[1])
    order = np.argsort(flat, kind="stable")
    col_ptr = np.zeros(n_columns + 1, dtype=np.int64)
    np.add.at(col_ptr, flat + 1, 1)
    col_ptr = np.cumsum(col_ptr)
    return col_ptr, sites[order].astype(np.int32)


def _check_size(K, max_sites):
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


def _build_problem(placed, offsets, count_weight, max_sites, filled_q=None):
    """The candidate sites, columns and neighbours of the placed projections at the lattice ``offsets``.

    A site can hold an atom when in every projection its column was
    measured with a count above zero, was measured empty but lies strictly
    inside the convex hull of the columns with atoms (the zero may be a
    miscount), or lies inside that hull but was not measured (a *missing*
    column: no count constraint; its reconstructed count is reported).
    Sites outside a projection's columns, or in columns measured empty on
    its border, are empty.  The fcc sites searched are those of the box
    around the visual hull (:func:`_visual_hull_box`).  Every column's count
    carries the weight ``count_weight`` times the projection's column weight.
    ``filled_q`` (quarter-lattice sites of this lattice held by another
    species, e.g. those beside a core's atoms) are no candidates and count
    as occupied neighbours (:func:`_fixed_neighbours`).
    """
    tables = _view_tables(placed, offsets)
    vls = [pl.vl for pl in placed]
    lo_q, hi_q = _visual_hull_box(vls, tables)
    n_box = float(np.prod((hi_q - lo_q) / 4.0 + 1)) * 4
    if n_box > 4e8:
        raise ValueError(
            f"the reconstruction volume would hold about {n_box:.3g} lattice sites: too large for memory. "
            "Crop the images to one particle, or check the positions' units (Å)"
        )
    q, col = _candidate_sites(vls, tables, _fcc_in_box(lo_q, hi_q))
    q, col, n_fixed = _fixed_neighbours(q, col, filled_q)
    _check_size(len(q), max_sites)
    target = np.concatenate([tb["target"] for tb in tables]).astype(np.int64)
    grid, lo, nbr, n_out = _neighbour_grid(q)
    n_out = n_out - n_fixed
    col_ptr, col_members = _column_members(col, len(target))
    mmax = np.array([max(1, int(np.diff(col_ptr)[col[:, k]].max()) - 1) for k in range(col.shape[1])], np.int64)
    return _Problem(
        q=q,
        nbr=nbr.astype(np.int32),
        n_out=n_out,
        col=col,
        target=target,
        cweight=np.concatenate([count_weight * tb["weight"] for tb in tables]).astype(float),
        col_view=np.concatenate([np.full(len(tb["target"]), k) for k, tb in enumerate(tables)]).astype(np.int64),
        col_n=np.concatenate([tb["n"] for tb in tables]).astype(np.int64),
        col_input=np.concatenate([tb["input"] for tb in tables]).astype(np.int64),
        col_ptr=col_ptr,
        col_members=col_members,
        grid=grid,
        grid_lo=lo.astype(np.int64),
        dirs=np.stack([vl.step // 2 for vl in vls]).astype(np.int64),
        mmax=mmax,
        view_columns=tables,
        n_fixed=n_fixed,
    )


def _fixed_neighbours(q, col, filled_q):
    """Candidates less the ``filled_q`` sites, and how many filled sites each keeps among its 12 neighbours.

    Examples
    --------
    >>> q = np.array([[0, 0, 0], [2, 2, 0], [4, 4, 0]])
    >>> q2, col2, n_fixed = _fixed_neighbours(q, np.zeros((3, 1), np.int32), [[4, 4, 0]])
    >>> q2.tolist(), n_fixed.tolist()
    ([[0, 0, 0], [2, 2, 0]], [0, 1])
    """
    if filled_q is None or len(filled_q) == 0:
        return q, col, np.zeros(len(q), dtype=np.int64)
    filled = np.asarray(filled_q, dtype=np.int64).reshape(-1, 3)
    keys = np.unique(_encode3(filled))
    keep = ~np.isin(_encode3(q), keys)
    q, col = q[keep], col[keep]
    nb = (q[:, None, :] + FCC_NEIGHBOURS_Q[None, :, :]).reshape(-1, 3)
    n_fixed = np.isin(_encode3(nb), keys).reshape(len(q), -1).sum(1).astype(np.int64)
    return q, col, n_fixed


def _encode3(q):
    """One int64 key per quarter-lattice site (|components| < 2**20)."""
    q = np.asarray(q, dtype=np.int64) + (1 << 20)
    return (q[:, 0] << 42) | (q[:, 1] << 21) | q[:, 2]


# --------------------------------------------------------------------------
# the energy, surface edges, topology
# --------------------------------------------------------------------------


def _occupied_neighbours(state, pb: _Problem):
    """Occupied neighbours of every candidate, the ones filled by another species (``n_fixed``) included."""
    s = np.concatenate([state.astype(np.int64), [0]])
    return s[pb.nbr].sum(1) + pb.n_fixed  # index -1 picks the appended 0


def _column_counts(state, pb: _Problem):
    return np.bincount(pb.col[state.astype(bool)].ravel(), minlength=len(pb.target))


def _energy_parts(state, pb: _Problem):
    """(surface edges, weighted count mismatch, unweighted |mismatch| sum) of an occupancy.

    The energy of an occupancy ``x_i ∈ {0, 1}`` of the candidate sites is
    one for both solvers::

        E(x) = S(x) + Σ_c w ω_c |n_c - Σ_{i ∈ c} x_i|

    where ``S`` is the number of *surface edges* (:func:`surface_edges`;
    sites outside the candidates are empty), ``n_c`` the measured count of
    column ``c`` (missing columns have none), ``ω_c`` its weight
    (``Projection.weights``) and ``w`` the count weight
    (:func:`_weight_from_error_rate`); ``pb.cweight`` holds ``w ω_c``.
    Minimal surface is the prior knowledge: the particle compact, connected
    and without holes.  Sites filled by another species (``pb.n_fixed``)
    count as occupied: an empty candidate beside one is a surface edge.
    """
    x = state.astype(bool)
    occ = _occupied_neighbours(x, pb)
    surface = int((12 - occ[x]).sum()) + int(pb.n_fixed[~x].sum())
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

    Examples
    --------
    One atom has 12 empty neighbours; two neighbouring atoms 11 each:

    >>> from napari_nxtomo.core.tomography import surface_edges
    >>> surface_edges([[0, 0, 0]])
    12
    >>> surface_edges([[0, 0, 0], [2, 2, 0]])
    22
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
# the count weight
# --------------------------------------------------------------------------


def _miscount_rate(placed, offsets) -> float:
    """Fraction of miscounted columns estimated from the disagreement of the slice totals.

    Every slice across the tilt axis holds the same atoms in every
    projection.  With a fraction ε of the columns off by ±1 at random, the
    difference of two projections' totals of a slice has variance
    ``ε (n_A + n_B)`` (``n`` the slice's columns with atoms), so
    ``ε̂ = Σ d² / Σ (n_A + n_B)`` over slices and pairs of projections.
    Consistent counts give ``ε̂ = 0``.
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


def weight_from_probability(p) -> np.ndarray:
    """Relative count weights (of :data:`DEFAULT_COUNT_WEIGHT`) of columns whose counts are right with probability ``p``.

    The per-column form of :func:`_weight_from_error_rate` with ``ε = 1 - p``:
    ``ln(2 p / (1 - p))``, between :data:`MIN_COLUMN_WEIGHT` and 6, rounded
    to a quarter and divided by 6 (so that with the default count weight
    every energy stays a multiple of 1/4).  A count the counting was sure of
    weighs as before; one it hesitated over (a core–shell ⟨100⟩ column that
    reads as one Pb less with two Se more) weighs less, and the other views
    and the prior decide it.  NaN counts as 0.5.

    Examples
    --------
    >>> weight_from_probability([0.999, 0.9, 0.6, 0.2]).round(3).tolist()
    [1.0, 0.5, 0.167, 0.083]
    """
    p = np.asarray(p, dtype=float)
    p = np.clip(np.where(np.isfinite(p), p, 0.5), 1e-9, 1 - 1e-9)
    w = np.clip(np.log(2 * p / (1 - p)), MIN_COLUMN_WEIGHT, DEFAULT_COUNT_WEIGHT)
    return np.round(4 * w) / 4 / DEFAULT_COUNT_WEIGHT


def _weight_from_error_rate(eps: float) -> float:
    """Count weight ``w = ln(2 (1 - ε) / ε)`` (a ±1 miscount's log-odds), between 1.5 and 6.

    With this weight ``exp(-E)`` is the posterior of the model under the
    prior ``exp(-S)`` and independent ±1 miscounts of a fraction ``ε`` of
    the columns.  Consistent counts (``ε = 0``) give ``w = 6``: an atom
    removed from the surface saves at most ``12 - 2k`` edges (``k``
    occupied neighbours) and costs ``w`` in every projection, 12 or more in
    all, so no count is traded for surface.  Rounded to a quarter: every
    energy is then a multiple of 1/4, so a proven bound less than 1/4 below
    a model's energy certifies it.
    """
    if eps <= 0:
        return DEFAULT_COUNT_WEIGHT
    w = float(np.clip(math.log(2 * (1 - eps) / eps), 1.5, DEFAULT_COUNT_WEIGHT))
    return round(4 * w) / 4
