"""The 2D lattice of the columns of one particle: two basis vectors, an origin and a motif.

:func:`estimate_lattice` reads the basis off the sharp peaks of the
particle's spectrum (the two shortest non-collinear frequencies span the
reciprocal lattice); :func:`fit_lattice` places it on found columns (the
motif: the positions in the cell the columns occupy, clustered on the
torus of fractional coordinates, as Atomap's sublattices), refines basis,
origin and motif by linear least squares and says which columns sit on it;
:func:`match_crystal` compares it with the projected columns of a named
crystal and zone axis.  Lengths in Å, vectors (row, col).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: a column sits on the lattice when it is within this share of the nearest site distance of a site
SITE_TOLERANCE = 0.2
#: a motif site needs at least this share of the columns of the most populated one
MOTIF_SHARE = 0.25
#: the least-squares basis may differ from the spectrum's by at most this share (else the spectrum's is kept)
BASIS_DRIFT = 0.05
#: a peak takes part in choosing the basis when it holds this share of the strongest peak's contrast
BASIS_SHARE = 0.25


@dataclass
class ImageLattice:
    """A 2D lattice with a motif, in the image (Å, (row, col)).

    Attributes
    ----------
    basis : (2, 2) ndarray
        Rows a₁, a₂, Å.
    origin : (2,) ndarray
        Position of the first motif site of cell (0, 0), Å.
    motif : (M, 2) ndarray
        Offsets of the motif sites from the origin, Å (the first is 0).
    """

    basis: np.ndarray
    origin: np.ndarray = field(default_factory=lambda: np.zeros(2))
    motif: np.ndarray = field(default_factory=lambda: np.zeros((1, 2)))

    @property
    def spacings(self) -> tuple:
        """|a₁|, |a₂| in Å."""
        return tuple(float(v) for v in np.linalg.norm(self.basis, axis=1))

    @property
    def angle(self) -> float:
        """Angle between a₁ and a₂, degrees."""
        a, b = self.basis
        return float(np.degrees(np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))))

    def site_distances(self, n: int = 3) -> np.ndarray:
        """The ``n`` shortest distinct distances between sites (Å, rounded to 0.01 Å).

        Examples
        --------
        >>> ImageLattice(np.array([[2.0, 0.0], [0.0, 3.0]])).site_distances(3).tolist()
        [2.0, 3.0, 3.61]
        """
        pts = self.sites_in_box(np.array([-3.0, -3.0]) * max(self.spacings), np.array([3.0, 3.0]) * max(self.spacings))
        d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
        return np.unique(np.round(d[d > 1e-6], 2))[:n]

    def sites_in_box(self, lo, hi) -> np.ndarray:
        """All sites (origin + motif + integer combinations of the basis) with lo ≤ position ≤ hi, (N, 2) Å."""
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        inv = np.linalg.inv(self.basis)
        corners = np.array([[lo[0], lo[1]], [lo[0], hi[1]], [hi[0], lo[1]], [hi[0], hi[1]]]) - self.origin
        f = corners @ inv
        n0, n1 = np.floor(f.min(0)) - 1, np.ceil(f.max(0)) + 1
        ii, jj = np.meshgrid(np.arange(n0[0], n1[0] + 1), np.arange(n0[1], n1[1] + 1), indexing="ij")
        cells = np.stack([ii.ravel(), jj.ravel()], 1) @ self.basis + self.origin
        pts = (cells[:, None, :] + self.motif[None]).reshape(-1, 2)
        return pts[np.all((pts >= lo) & (pts <= hi), axis=1)]


def estimate_lattice(image, pixel_size, mask=None):
    """The basis of a particle's lattice from the sharp peaks of its spectrum.

    Parameters
    ----------
    image : (H, W) array
    pixel_size : float
        Å per pixel.
    mask : (H, W) bool array, optional
        The particle (default the whole image).

    Returns
    -------
    ImageLattice or None
        Basis a₁, a₂ (reduced: shortest, then shortest non-collinear), origin
        0, one motif site; None when the spectrum shows no lattice (fewer than
        two non-collinear peaks).

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:128, 0:128] * 0.2
    >>> img = np.cos(2 * np.pi * yy / 2.0) + np.cos(2 * np.pi * xx / 3.0)
    >>> lat = estimate_lattice(img, 0.2)
    >>> [round(s, 2) for s in lat.spacings], round(lat.angle, 1)
    ([2.0, 3.0], 90.0)
    """
    from .spectrum import lattice_peaks

    g, strength = lattice_peaks(image, pixel_size, mask)
    if len(g) < 2:
        return None
    best = _index_basis(g[strength >= 0.1 * BASIS_SHARE * strength.max()][:16], strength)
    return None if best is None else ImageLattice(_reduce(np.linalg.inv(best).T))


def _index_basis(g, strength, n_try=8, tol=0.12):
    """The reciprocal basis (2, 2) that indexes the most peaks: among pairs of the ``n_try`` strongest peaks.

    A lattice puts its peaks at integer combinations of two of them; a stray
    peak (scan noise, a streak) indexes few others.  Ties go to the coarser
    reciprocal cell (a finer one indexes by chance), then to the stronger pair.
    """
    best, key = None, None
    for i in range(min(n_try, len(g))):
        for j in range(i + 1, min(n_try, len(g))):
            pair = np.stack([g[i], g[j]])
            cos = abs(pair[0] @ pair[1]) / (np.linalg.norm(pair[0]) * np.linalg.norm(pair[1]))
            if cos > math.cos(math.radians(20.0)):
                continue
            c = g @ np.linalg.inv(pair)
            indexed = int(np.sum(np.all(np.abs(c - np.round(c)) < tol, axis=1)))
            k = (indexed, abs(np.linalg.det(pair)), strength[i] + strength[j])
            if key is None or k > key:
                best, key = _reduce(pair), k
    return best


def _reduce(basis):
    """Lagrange-Gauss reduction of a 2D basis: a₁ shortest, a₂ shortest non-collinear, angle in [60°, 120°]."""
    a, b = np.array(basis[0], float), np.array(basis[1], float)
    for _ in range(100):
        if a @ a > b @ b:
            a, b = b, a
        m = round(float(a @ b) / float(a @ a))
        if m == 0:
            break
        b = b - m * a
    return np.stack([a, b])


def fit_lattice(lattice, positions, tolerance=None, iterations=3):
    """Place a lattice on found columns: motif, origin and basis refined; which columns sit on it.

    Parameters
    ----------
    lattice : ImageLattice
        A first guess (its basis from :func:`estimate_lattice`).
    positions : (N, 2) array
        Found columns, Å (row, col).
    tolerance : float, optional
        Largest distance (Å) of a column from its site; default
        :data:`SITE_TOLERANCE` × the shortest basis vector.
    iterations : int
        Rounds of assignment and least squares.

    Returns
    -------
    lattice : ImageLattice
        With the refined basis, origin and motif.
    on_lattice : (N,) bool ndarray
        Columns within ``tolerance`` of a site.
    residual : (N,) float ndarray
        Distance of each column from its nearest site, Å.

    Examples
    --------
    A centred rectangular pattern with one stray column:

    >>> import numpy as np
    >>> ii, jj = np.mgrid[0:6, 0:6]
    >>> corners = np.stack([ii.ravel() * 4.0, jj.ravel() * 3.0], 1)
    >>> pos = np.vstack([corners, corners + [2.0, 1.5], [[1.0, 0.2]]]) + 5.0
    >>> lat, on, res = fit_lattice(ImageLattice(np.array([[4.0, 0.0], [0.0, 3.0]])), pos)
    >>> len(lat.motif), int(on.sum()), bool(on[-1])
    (2, 72, False)
    """
    pos = np.asarray(positions, dtype=float)
    lat = ImageLattice(np.array(lattice.basis, float), pos[np.argmin(np.linalg.norm(pos - np.median(pos, 0), axis=1))])
    tol = float(tolerance) if tolerance is not None else SITE_TOLERANCE * min(lat.spacings)
    lat.motif = _motif(lat, pos, tol)
    for _ in range(iterations):
        cell, site, res = _assign(lat, pos)
        on = res <= tol
        if on.sum() < 3 + len(lat.motif):
            break
        new = _least_squares(lat, pos[on], cell[on], site[on])
        # a distorted image (drift, scan) can make the global least squares jump to another lattice: keep the
        # refinement only while the basis stays within BASIS_DRIFT of the spectrum's
        if np.linalg.norm(new.basis - lattice.basis) > BASIS_DRIFT * np.linalg.norm(lattice.basis):
            break
        lat = new
    cell, site, res = _assign(lat, pos)
    return lat, res <= tol, res


def _torus_delta(frac_a, frac_b, basis):
    """Shortest displacement (Å) between fractional positions on the torus of the cell."""
    d = frac_a - frac_b
    d -= np.round(d)
    return d @ basis


def _motif(lat, pos, tol):
    """Motif offsets (Å): clusters of the columns' fractional positions in the cell, most populated first."""
    frac = ((pos - lat.origin) @ np.linalg.inv(lat.basis)) % 1.0
    near = np.zeros((len(frac), len(frac)), dtype=bool)
    for k in range(0, len(frac), 512):
        d = _torus_delta(frac[k : k + 512, None, :], frac[None], lat.basis)
        near[k : k + 512] = np.linalg.norm(d, axis=-1) <= tol
    free = np.ones(len(frac), dtype=bool)
    sites, first = [], None
    while free.any():
        counts = (near & free[None]).sum(1) * free
        k = int(np.argmax(counts))
        if first is None:
            first = counts[k]
        if counts[k] < max(3, MOTIF_SHARE * first):
            break
        members = near[k] & free
        d = _torus_delta(frac[members], frac[k], lat.basis)  # about the seed, unwrapped
        sites.append(frac[k] @ lat.basis + d.mean(0))
        free &= ~np.any(np.linalg.norm(_torus_delta(frac[:, None], frac[members][None], lat.basis), axis=-1)
                         <= 2 * tol, axis=1)
    if not sites:
        return np.zeros((1, 2))
    sites = np.array(sites)
    return sites - sites[0]


def _assign(lat, pos):
    """Each column's cell (integers), motif site and distance (Å) to that site, the nearest site."""
    inv = np.linalg.inv(lat.basis)
    best = np.full(len(pos), np.inf)
    cell = np.zeros((len(pos), 2))
    site = np.zeros(len(pos), dtype=int)
    for m, off in enumerate(lat.motif):
        f = (pos - lat.origin - off) @ inv
        n = np.round(f)
        d = np.linalg.norm((f - n) @ lat.basis, axis=1)
        better = d < best
        best[better], cell[better], site[better] = d[better], n[better], m
    return cell, site, best


def _least_squares(lat, pos, cell, site):
    """Basis, origin and motif offsets from columns with known cell and site: one linear least squares."""
    m = len(lat.motif)
    n = len(pos)
    # unknowns: a1 (2), a2 (2), origin (2), motif offsets 1..m-1 (2 each); rows and cols separately
    design = np.zeros((n, 3 + (m - 1)))
    design[:, 0], design[:, 1], design[:, 2] = cell[:, 0], cell[:, 1], 1.0
    for k in range(1, m):
        design[site == k, 2 + k] = 1.0
    sol, *_ = np.linalg.lstsq(design, pos, rcond=None)
    motif = np.vstack([np.zeros((1, 2)), sol[3:]]) if m > 1 else np.zeros((1, 2))
    return ImageLattice(sol[:2].copy(), sol[2].copy(), motif)


def match_crystal(lattice, zone_axis, lattice_parameter, structure="fcc", n=3):
    """Compare an image lattice with the projected columns of a cubic crystal along a zone axis.

    Parameters
    ----------
    lattice : ImageLattice
    zone_axis : 3 ints
    lattice_parameter : float
        Å.
    structure : str
        As :func:`napari_nxtomo.core.columns.column_spacing` ("fcc", "rocksalt", ...).
    n : int
        How many of the shortest distinct distances to compare.

    Returns
    -------
    dict
        ``measured`` and ``expected`` (the ``n`` shortest distinct
        column distances, Å), ``mismatch`` (largest relative difference of
        the paired distances) and ``scale`` (median measured / expected: a
        calibration or lattice-parameter error shows as a common scale).

    Examples
    --------
    A 2.77 × 1.96 Å rectangular centred lattice is fcc Pt (3.92 Å) along [110]:

    >>> import numpy as np
    >>> lat = ImageLattice(np.array([[3.92, 0.0], [0.0, 2.772]]), motif=np.array([[0, 0], [1.96, 1.386]]))
    >>> m = match_crystal(lat, (1, 1, 0), 3.92)
    >>> m["expected"], round(m["mismatch"], 3)
    ([2.4, 2.77, 3.92], 0.0)
    """
    from ..columns import projected_columns

    flat = projected_columns(zone_axis, lattice_parameter, structure)
    d = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
    expected = np.unique(np.round(d[d > 1e-6], 2))[:n]
    measured = lattice.site_distances(2 * n)
    if len(measured) == 0:
        return {"measured": [], "expected": expected.tolist(), "mismatch": float("nan"), "scale": float("nan")}
    # each expected distance against the nearest measured one (a distortion splits equal distances)
    rel = np.array([measured[np.argmin(np.abs(measured - e))] / e for e in expected])
    return {"measured": measured[:n].tolist(), "expected": expected.tolist(),
            "mismatch": float(np.max(np.abs(rel - 1.0))), "scale": float(np.median(rel))}
