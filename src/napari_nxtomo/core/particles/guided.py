"""Columns of particles, one particle at a time, guided by each particle's lattice.

:func:`find_particle_columns` finds the local maxima inside each particle
(:func:`~napari_nxtomo.core.fitting.find_columns` with the particle as mask),
estimates the particle's lattice from its spectrum, places it on the maxima
(:func:`~.lattice2d.fit_lattice`: basis, origin and motif), keeps the maxima
that sit on a lattice site, and adds the sites the maxima missed where the
image stands above its noise threshold there.  A particle whose spectrum
shows no lattice (off zone axis) gets no columns and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ..fitting.finding import _check_mask, _suppress, _threshold_map, find_columns
from ..fitting.validation import _check_image, _check_pixel_size
from .lattice2d import SITE_TOLERANCE, estimate_lattice, fit_lattice, match_crystal
from .segment import ParticleMap, segment_particles

#: the peak search's minimum distance, as a share of the shortest lattice vector (permissive: the lattice sorts)
SEARCH_SHARE = 0.6
#: the peak search smooths the image over this share of the shortest lattice vector (noisy images need more
#: than find_columns' default of min_distance / 6)
SMOOTH_SHARE = 0.125
#: two columns on one site: the fainter goes when closer than this share of the nearest site distance
KEEP_SHARE = 0.65
#: a nearest-neighbour distance is "a lattice distance" within this relative tolerance
DISTANCE_TOLERANCE = 0.1


@dataclass
class ParticleColumns:
    """Columns found particle by particle (see :func:`find_particle_columns`).

    Attributes
    ----------
    positions : (N, 2) ndarray
        Columns (row, col), Å.
    particle : (N,) int ndarray
        The label of each column's particle.
    added : (N,) bool ndarray
        True for a lattice site added where no maximum was found.
    lattices : dict
        Label → :class:`~.lattice2d.ImageLattice` of each particle with a lattice.
    report : pandas.DataFrame
        One row per particle: ``label``, ``resolved``, ``columns``, ``peaks``
        (maxima found), ``off_lattice`` (maxima dropped), ``added``,
        ``a1``, ``a2`` (Å), ``angle`` (degrees), ``motif`` (sites per
        cell), ``lattice_distance_fraction`` (columns whose nearest
        neighbour is at a lattice distance, on the maxima found: check it
        again on the fitted positions, the maxima of the smoothed image lean
        towards brighter neighbours), ``crystal_mismatch`` (largest
        relative difference from the named crystal's column distances, NaN
        without one), ``note``.

    Examples
    --------
    >>> import numpy as np
    >>> res = ParticleColumns(np.zeros((0, 2)), np.zeros(0, int), np.zeros(0, bool))
    >>> len(res.positions)
    0
    """

    positions: np.ndarray
    particle: np.ndarray
    added: np.ndarray
    lattices: dict = field(default_factory=dict)
    report: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def unresolved(self) -> list:
        """Labels of the particles that show no lattice: no columns were looked for there."""
        return self.report.loc[~self.report["resolved"], "label"].astype(int).tolist()


def find_particle_columns(image, pixel_size, particles=None, *, labels=None, min_distance=None,
                          zone_axis=None, lattice_parameter=None, structure="fcc", add_missing=False):
    """Find the columns of each particle of an image, guided by the particle's lattice.

    Parameters
    ----------
    image : (H, W) array
    pixel_size : float
        Å per pixel.
    particles : ParticleMap or (H, W) int array, optional
        The particles: :func:`~.segment.segment_particles`'s result or a label
        image (0 off the particles; a user's edited Labels layer).  Default:
        :func:`~.segment.segment_particles` of the image.
    labels : list of int, optional
        Only these particles (default all).
    min_distance : float, optional
        The peak search's minimum distance, Å; default
        :data:`SEARCH_SHARE` × the particle's shortest lattice vector.
    zone_axis, lattice_parameter, structure
        The crystal the user names: each lattice is compared with its
        projected columns (:func:`~.lattice2d.match_crystal`).
    add_missing : bool
        Add lattice sites inside the particle where no maximum was found and
        the smoothed image stands above :func:`~napari_nxtomo.core.fitting.find_columns`'s
        threshold.

    Returns
    -------
    ParticleColumns

    Examples
    --------
    A square lattice of 2.5 Å columns in a disc, noise everywhere:

    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:200, 0:200] * 0.2
    >>> sites = [(y, x) for y in np.arange(1.25, 40, 2.5) for x in np.arange(1.25, 40, 2.5)
    ...          if (y - 20) ** 2 + (x - 20) ** 2 < 12**2]
    >>> img = sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 0.4**2)) for y, x in sites)
    >>> img = img + np.random.default_rng(0).normal(0, 0.03, img.shape)
    >>> res = find_particle_columns(img, 0.2)
    >>> [round(a, 1) for a in res.report.loc[0, ["a1", "a2", "angle"]]]
    [2.5, 2.5, 90.0]
    >>> len(sites), len(res.positions), float(res.report.loc[0, "lattice_distance_fraction"])
    (76, 76, 1.0)
    """
    img, p = _check_image(image), _check_pixel_size(pixel_size)
    if particles is None:
        particles = segment_particles(img, p)
    lab = _label_image(particles, img.shape)
    todo = [int(v) for v in np.unique(lab) if v > 0] if labels is None else [int(v) for v in labels]
    crystal = (zone_axis, lattice_parameter, structure) if zone_axis is not None and lattice_parameter else None
    pos, part, added, lattices, rows = [], [], [], {}, []
    missing = sorted(set(todo) - set(np.unique(lab).tolist()))
    if missing:
        raise ValueError(f"no particle labelled {missing} in the label image (it holds {sorted(int(v) for v in np.unique(lab) if v > 0)}"
                         "): choose among those")
    for label in todo:
        mask = lab == label
        out = _one_particle(img, p, mask, min_distance, crystal, add_missing)
        row = {"label": label, **out["row"]}
        rows.append(row)
        if out["lattice"] is not None:
            lattices[label] = out["lattice"]
            pos.append(out["positions"])
            part.append(np.full(len(out["positions"]), label))
            added.append(out["added"])
    report = pd.DataFrame(rows, columns=["label", "resolved", "columns", "peaks", "off_lattice", "added", "a1", "a2",
                                         "angle", "motif", "lattice_distance_fraction", "crystal_mismatch", "note"])
    if not pos:
        return ParticleColumns(np.zeros((0, 2)), np.zeros(0, int), np.zeros(0, bool), lattices, report)
    return ParticleColumns(np.vstack(pos), np.concatenate(part), np.concatenate(added), lattices, report)


def _label_image(particles, shape):
    """The particles as an int label image of the image's shape (a ParticleMap's labels or a given array)."""
    lab = particles.labels if isinstance(particles, ParticleMap) else np.asarray(particles)
    _check_mask(lab, shape)  # the shape, with a message that says what to give
    if not np.issubdtype(lab.dtype, np.integer) and not np.issubdtype(lab.dtype, np.bool_):
        raise ValueError(f"the particles must be a label image of integers (0 off the particles), not {lab.dtype}")
    return lab.astype(np.int64)


def _empty_row(note):
    return {"resolved": False, "columns": 0, "peaks": 0, "off_lattice": 0, "added": 0, "a1": np.nan,
            "a2": np.nan, "angle": np.nan, "motif": 0, "lattice_distance_fraction": np.nan,
            "crystal_mismatch": np.nan, "note": note}


def _one_particle(img, p, mask, min_distance, crystal, add_missing):
    """Lattice, columns and report row of one particle."""
    none = {"lattice": None, "positions": None, "added": None}
    (r0, r1), (c0, c1) = [(int(np.flatnonzero(mask.any(axis=a)).min()), int(np.flatnonzero(mask.any(axis=a)).max()))
                          for a in (1, 0)]
    box = (slice(r0, r1 + 1), slice(c0, c1 + 1))
    guess = estimate_lattice(img[box], p, mask[box])
    if guess is None:
        return {**none, "row": _empty_row("no lattice resolved (off zone axis or not crystalline): no columns")}
    md = float(min_distance) if min_distance is not None else max(SEARCH_SHARE * min(guess.spacings), 1.01 * p)
    peaks = find_columns(img, p, md, mask=mask, smooth=SMOOTH_SHARE * min(guess.spacings))
    if len(peaks) < 4:
        return {**none, "row": _empty_row(f"{len(peaks)} maxima above the noise: too few for a lattice")}
    lat, _, _ = fit_lattice(guess, peaks)
    d_site = float(lat.site_distances(1)[0])
    tol = SITE_TOLERANCE * d_site
    vectors = _neighbour_vectors(lat)
    on = _on_lattice(peaks, vectors, tol)
    kept = _keep_brightest(img, p, peaks[on], KEEP_SHARE * d_site)
    extra = (_missing_sites(img, p, mask, kept, vectors, md, KEEP_SHARE * d_site, tol) if add_missing
             else np.zeros((0, 2)))
    cols = np.vstack([kept, extra])
    is_added = np.r_[np.zeros(len(kept), bool), np.ones(len(extra), bool)]
    order = np.lexsort((cols[:, 1], cols[:, 0]))
    dist = lat.site_distances(3)
    row = {"resolved": True, "columns": len(cols), "peaks": len(peaks), "off_lattice": int((~on).sum()),
           "added": len(extra), "a1": lat.spacings[0], "a2": lat.spacings[1], "angle": lat.angle,
           "motif": len(lat.motif), "lattice_distance_fraction": lattice_distance_fraction(cols, dist),
           "crystal_mismatch": match_crystal(lat, *crystal)["mismatch"] if crystal else np.nan, "note": ""}
    return {"lattice": lat, "positions": cols[order], "added": is_added[order], "row": row}


def _keep_brightest(img, p, pos, min_distance):
    """Of maxima closer than ``min_distance`` (Å), the brightest (in the image at their pixel)."""
    if len(pos) < 2:
        return pos
    px = np.clip(np.round(pos / p).astype(int), 0, np.array(img.shape) - 1)
    kept = _suppress(px, img[px[:, 0], px[:, 1]], min_distance / p)
    index = {tuple(v): k for k, v in enumerate(px)}
    return pos[[index[tuple(v)] for v in kept]]


def _neighbour_vectors(lat):
    """Vectors (Å) from a site to its neighbouring sites, up to 1.05 × the longest basis vector."""
    reach = 1.05 * max(lat.spacings)
    v = np.vstack([lat.sites_in_box(off - reach - 1e-9, off + reach + 1e-9) - off
                   for off in (lat.origin + m for m in lat.motif)])
    n = np.linalg.norm(v, axis=1)
    return np.unique(np.round(v[(n > 1e-6) & (n <= reach)], 6), axis=0)


def _on_lattice(pos, vectors, tol, need=1):
    """Maxima with at least ``need`` other maximum (maxima) at a lattice vector (± ``tol`` Å) from them: local, as
    Atomap's zone vectors, so that a slowly distorted lattice (drift, scan) is followed."""
    tree = cKDTree(pos)
    hits = np.zeros(len(pos), int)
    for v in vectors:
        d, _ = tree.query(pos + v, distance_upper_bound=tol)
        hits += np.isfinite(d)
    return hits >= need


def _missing_sites(img, p, mask, kept, vectors, md, min_distance, tol):
    """Sites one lattice vector from a kept column, inside the particle, away from every kept column, where
    the smoothed image passes :func:`~napari_nxtomo.core.fitting.find_columns`'s threshold; the predictions of
    one site by several neighbours averaged."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    if len(kept) == 0:
        return np.zeros((0, 2))
    cand = (kept[:, None, :] + vectors[None]).reshape(-1, 2)
    px = np.round(cand / p).astype(int)
    inside = np.all((px >= 0) & (px < np.array(mask.shape)), axis=1)
    cand, px = cand[inside], px[inside]
    cand = cand[mask[px[:, 0], px[:, 1]]]
    if len(cand) == 0:
        return cand
    d, _ = cKDTree(kept).query(cand)
    cand = cand[d > min_distance]
    if len(cand) == 0:
        return cand
    from scipy.sparse.csgraph import connected_components

    n, group = connected_components(cKDTree(cand).sparse_distance_matrix(cKDTree(cand), tol), directed=False)
    sites = np.stack([np.bincount(group, cand[:, k], n) / np.bincount(group, None, n) for k in (0, 1)], 1)
    sig = max(0.5, md / p / 6.0)
    sm = gaussian_filter(img, sig, mode="nearest")
    thr = _threshold_map(img, sm, sig)
    coords = (sites / p).T
    above = map_coordinates(sm, coords, order=1) > map_coordinates(thr, coords, order=1)
    return _keep_brightest(img, p, sites[above], min_distance) if above.sum() > 1 else sites[above]


def lattice_distance_fraction(positions, distances, tolerance=DISTANCE_TOLERANCE):
    """Share of columns whose nearest neighbour sits at one of the given lattice distances.

    Parameters
    ----------
    positions : (N, 2) array
        Columns, Å.
    distances : sequence of float
        Lattice distances, Å (e.g. :meth:`~.lattice2d.ImageLattice.site_distances`).
    tolerance : float
        Relative tolerance.

    Returns
    -------
    float
        NaN for fewer than two columns.

    Examples
    --------
    >>> lattice_distance_fraction([[0, 0], [0, 2.0], [0, 4.1], [9, 9]], [2.0, 2.83])
    0.75
    """
    pos = np.asarray(positions, dtype=float)
    if len(pos) < 2:
        return float("nan")
    nn, _ = cKDTree(pos).query(pos, k=2)
    d = np.asarray(distances, dtype=float)
    ok = np.any(np.abs(nn[:, 1:2] - d[None]) <= tolerance * d[None], axis=1)
    return float(ok.mean())


def off_particle_fraction(positions, labels, pixel_size):
    """Share of columns whose pixel lies on no particle (label 0 or outside the image).

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((10, 10), int); lab[:5] = 1
    >>> off_particle_fraction([[1.0, 1.0], [8.0, 8.0]], lab, 1.0)
    0.5
    """
    pos = np.asarray(positions, dtype=float)
    if len(pos) == 0:
        return float("nan")
    lab = np.asarray(labels)
    px = np.round(pos / float(pixel_size)).astype(int)
    inside = np.all((px >= 0) & (px < np.array(lab.shape)), axis=1)
    on = np.zeros(len(pos), bool)
    on[inside] = lab[px[inside, 0], px[inside, 1]] > 0
    return float((~on).mean())
