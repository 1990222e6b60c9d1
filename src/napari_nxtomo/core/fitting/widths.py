"""The starting width of a fit: the minimum of the least-squares residual over a grid of widths."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.spatial import cKDTree

from .problem import N_SIGMA, _Problem


def _scan_width(problem, ys, xs, n_types, progress, bounds=None, max_columns=400):
    """Initial common width (pixels) of every type, from a scan of 14 widths.

    The widths span from 0.4 pixel (or half the largest) up to 0.35 × the
    median nearest-neighbour distance of the columns (at most a sixth of the
    image, at least 0.6 pixel), geometrically;
    the minimum of the residual is refined by a parabola in log(width).  Uses
    the ``max_columns`` columns nearest to the middle of the column set (and
    the image crop around them) to keep it cheap.  ``progress`` is the fit's
    :class:`~napari_nxtomo.core.fitting.progress._Progress` (for cancellation).
    ``bounds`` (pixels, smallest and largest): the scan spans them instead.
    """
    cands = _width_grid(ys, xs, problem.shape) if bounds is None else np.geomspace(bounds[0], bounds[1], 14)
    sub, sub_y, sub_x = _central_crop(problem, ys, xs, cands[-1], max_columns)
    rss = np.empty(len(cands))
    for k, s in enumerate(cands):
        progress.check_cancel("column fit cancelled while estimating the width")
        ss = np.full(len(sub_y), s)
        vols, b, _ = sub.solve_linear(sub_y, sub_x, ss)
        rss[k] = sub.rss(sub.model(sub_y, sub_x, vols, ss, b))
    return np.full(n_types, _parabola_minimum(cands, rss))


def _width_grid(ys, xs, shape):
    """The 14 widths (pixels, geometric) that :func:`_scan_width` tries."""
    h, wd = shape
    if len(ys) >= 2:
        pts = np.column_stack([ys, xs])
        d_nn = float(np.median(cKDTree(pts).query(pts, k=2)[0][:, 1]))
    else:
        d_nn = float(min(h, wd)) / 2.0
    s_hi = max(min(0.35 * d_nn, min(h, wd) / 6.0), 0.6)
    s_lo = min(0.4, 0.5 * s_hi)
    return np.geomspace(s_lo, s_hi, 14)


def _median_spacing(ys, xs):
    """The median nearest-neighbour distance of the columns (pixels; inf for fewer than two)."""
    if len(ys) < 2:
        return float("inf")
    pts = np.column_stack([ys, xs])
    return float(np.median(cKDTree(pts).query(pts, k=2)[0][:, 1]))


def _column_region(ys, xs, shape):
    """The pixels within one median column spacing of a column: the particle, without the vacuum around it.

    Examples
    --------
    >>> ys, xs = np.array([10.0, 10.0, 14.0]), np.array([10.0, 14.0, 12.0])
    >>> region = _column_region(ys, xs, (40, 40))
    >>> int(region.sum()), bool(region[10, 10]), bool(region[30, 30])
    (106, True, False)
    """
    seeds = np.ones(shape, dtype=bool)
    seeds[np.clip(np.round(ys).astype(int), 0, shape[0] - 1), np.clip(np.round(xs).astype(int), 0, shape[1] - 1)] = False
    return distance_transform_edt(seeds) <= _median_spacing(ys, xs)


def _central_crop(problem, ys, xs, s_hi, max_columns):
    """A problem on the crop around the ``max_columns`` most central columns, and their positions in it.

    With no more than ``max_columns`` columns: the whole image, all columns.
    The crop reaches ``N_SIGMA × s_hi + 2`` pixels beyond those columns and
    keeps every column inside it.
    """
    h, wd = problem.shape
    pts = np.column_stack([ys, xs])
    sub_img, sub_region = problem.img, problem.region
    sub_y, sub_x = ys, xs
    if len(ys) > max_columns:
        mid = np.median(pts, axis=0)
        _, near = cKDTree(pts).query(mid, k=max_columns)
        margin = N_SIGMA * s_hi + 2
        lo = np.floor(pts[near].min(axis=0) - margin).astype(int).clip(0)
        hi = np.ceil(pts[near].max(axis=0) + margin).astype(int) + 1
        hi = np.minimum(hi, [h, wd])
        inside = np.all((pts >= lo) & (pts <= hi - 1), axis=1)
        sub_img = np.ascontiguousarray(problem.img[lo[0] : hi[0], lo[1] : hi[1]])
        if sub_region is not None:
            sub_region = sub_region[lo[0] : hi[0], lo[1] : hi[1]]
        sub_y, sub_x = ys[inside] - lo[0], xs[inside] - lo[1]
    degree = problem.basis.degree if problem.basis is not None else 0
    sub = _Problem(sub_img, problem.n_sigma, problem.fit_background, problem.background, degree, sub_region)
    return sub, sub_y, sub_x


def _parabola_minimum(cands, rss):
    """The width of least ``rss`` over ``cands``, refined by a parabola in log(width) through its neighbours."""
    k = int(np.argmin(rss))
    if not 0 < k < len(cands) - 1:
        return float(cands[k])
    x3 = np.log(cands[k - 1 : k + 2])
    c = np.polyfit(x3, rss[k - 1 : k + 2], 2)
    s0 = float(np.exp(-c[1] / (2 * c[0]))) if c[0] > 0 else float(cands[k])
    return float(np.clip(s0, cands[k - 1], cands[k + 1]))
