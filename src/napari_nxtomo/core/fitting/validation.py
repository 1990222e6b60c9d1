"""Input checks of column finding and fitting, with messages that say what to do."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..simulate import FWHM_TO_SIGMA

#: half the probe FWHM, in units of the Gaussian standard deviation
MIN_SEPARATION_SIGMAS = 0.5 / FWHM_TO_SIGMA
#: start positions closer than this many Gaussian widths are merged: two
#: equal Gaussians closer than two widths make a single peak (Sparrow's limit)
MERGE_SIGMAS = 2.0


def _check_inputs(image, pixel_size, positions, types, weighting, fit_background, background):
    """The inputs of :func:`fit_columns`, checked.

    Returns the image (float64), the pixel size (Å), the positions in pixels
    ``ys``, ``xs`` (no two closer than one pixel), the type labels, their
    integer codes and the sorted distinct labels.
    """
    img = _check_image(image)
    p = _check_pixel_size(pixel_size)
    pos = _check_positions(positions, img.shape, p)
    _check_options(weighting, fit_background, background)
    labels, tcode, tnames = _check_types(types, len(pos))
    ys = np.ascontiguousarray(pos[:, 0] / p)
    xs = np.ascontiguousarray(pos[:, 1] / p)
    _check_separation(ys, xs, p, 1.0, "one pixel")
    return img, p, ys, xs, labels, tcode, tnames


def _check_image(image) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        raise ValueError(
            f"the image is an RGB(A) colour image of shape {a.shape}; column fitting needs the raw "
            "2D intensity image (load the original microscope file, or pick one channel)"
        )
    if a.ndim != 2:
        raise ValueError(
            f"column finding and fitting need one 2D image (rows, cols), got shape {a.shape}; "
            "pick one frame of a stack"
        )
    if a.dtype.kind == "c":
        raise ValueError("the image is complex; fit its magnitude or real part")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"the image must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if min(a.shape) < 3:
        raise ValueError(f"the image of shape {a.shape} is too small (at least 3 x 3 pixels)")
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(
            f"the image has {int(bad.sum())} NaN or infinite pixels; replace them (for example "
            "with numpy.nan_to_num or the median of their neighbours) or crop them away"
        )
    if a.max() == a.min():
        raise ValueError(f"the image is constant (every pixel is {a.flat[0]!r}); there are no columns to find or fit")
    return np.ascontiguousarray(a)


def _check_pixel_size(pixel_size) -> float:
    try:
        p = float(pixel_size)
    except (TypeError, ValueError):
        raise ValueError(f"pixel_size must be a number (Å per pixel), got {pixel_size!r}") from None
    if not (p > 0 and math.isfinite(p)):
        raise ValueError(f"pixel_size must be a positive finite number of Å per pixel, got {pixel_size!r}")
    return p


def _check_positions(positions, shape, pixel_size) -> np.ndarray:
    pos = np.asarray(positions, dtype=np.float64)
    if pos.size == 0:
        raise ValueError("there are no columns to fit (empty positions); find them with find_columns or add points")
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"positions must be an (N, 2) array of (row, col) in Å, got shape {pos.shape}")
    if not np.isfinite(pos).all():
        raise ValueError("some positions are NaN or infinite; remove those points")
    px = pos / pixel_size
    lo = -0.5
    outside = (px[:, 0] < lo) | (px[:, 1] < lo) | (px[:, 0] > shape[0] - 0.5) | (px[:, 1] > shape[1] - 0.5)
    if outside.any():
        idx = np.flatnonzero(outside)
        h, w = (np.asarray(shape) - 0.5) * pixel_size
        raise ValueError(
            f"{len(idx)} column position(s) lie outside the image (first: index {idx[0]} at "
            f"({pos[idx[0], 0]:.3f}, {pos[idx[0], 1]:.3f}) Å; the image spans "
            f"[{-0.5 * pixel_size:.3f}, {h:.3f}] x [{-0.5 * pixel_size:.3f}, {w:.3f}] Å); "
            "delete them, or check that the positions are in Å and the pixel size is right"
        )
    return pos


def _check_options(weighting, fit_background, background):
    if weighting not in ("uniform", "noise"):
        raise ValueError(f"weighting must be 'uniform' or 'noise', got {weighting!r}")
    if not fit_background and background is None:
        raise ValueError("fit_background=False needs the background value: pass background=")


def _check_types(types, n):
    """The type labels (one per column), their integer codes and the sorted distinct labels."""
    if types is None:
        labels = np.zeros(n, dtype=np.int64)
    else:
        labels = np.asarray(types)
        if labels.shape != (n,):
            raise ValueError(f"types must have one label per column ({n}), got shape {labels.shape}")
    tcode, tnames = pd.factorize(pd.Series(labels), sort=True)
    if np.any(tcode < 0):
        raise ValueError(
            f"{int((tcode < 0).sum())} column(s) have no type label (NaN or None); give every column a type"
        )
    return labels, np.ascontiguousarray(tcode, dtype=np.int64), tnames


def _given_widths(width, fit_width, tnames, pixel_size):
    """The widths (pixels) per type that ``width`` gives, or None when they are to be estimated."""
    if width is None:
        if not fit_width:
            raise ValueError("fit_width=False needs width= (Å)")
        return None
    if isinstance(width, dict):
        missing = [t for t in tnames if t not in width]
        if missing:
            raise ValueError(f"width has no value for the type(s) {missing}; give one width (Å) per type")
        ss_t = np.array([float(width[t]) for t in tnames]) / pixel_size
    else:
        ss_t = np.full(len(tnames), float(width) / pixel_size)
    if not np.all(np.isfinite(ss_t) & (ss_t > 0)):
        raise ValueError(f"width must be positive (Å), got {width!r}")
    return ss_t


def _close_pairs(pos_px, limit_px):
    """Pairs (i < j) of columns closer than ``limit_px`` and their distances (pixels)."""
    if len(pos_px) < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    pairs = cKDTree(pos_px).query_pairs(float(limit_px), output_type="ndarray")
    d = np.linalg.norm(pos_px[pairs[:, 0]] - pos_px[pairs[:, 1]], axis=1) if len(pairs) else np.zeros(0)
    return pairs, d


def _check_separation(ys, xs, pixel_size, limit_px, why):
    """Refuse columns closer than ``limit_px`` pixels (``why`` names the limit in the message)."""
    pairs, d = _close_pairs(np.column_stack([ys, xs]), limit_px)
    if len(pairs):
        _raise_close(pairs, d, pixel_size, limit_px * pixel_size, why)


def _check_resolution(ys, xs, ss_t, min_separation, pixel_size):
    """Refuse columns closer than ``min_separation`` Å (when given); merge starts closer than the resolution.

    By default starts closer than :data:`MERGE_SIGMAS` widths of the
    narrowest type (two Gaussians that close make one peak: the image cannot
    tell them apart, and fitting both only slows the fit) are merged into one
    at their mean position.  Returns the kept starts' positions (pixels), the
    mask of the starts kept, and the merge distance (pixels).
    """
    keep = np.ones(len(ys), dtype=bool)
    if min_separation is not None:
        lim = float(min_separation) / pixel_size
        _check_separation(ys, xs, pixel_size, lim, "min_separation")
        return ys, xs, keep, lim
    lim = MERGE_SIGMAS * float(ss_t.min())
    pos = np.column_stack([ys, xs])
    pairs, _ = _close_pairs(pos, lim)
    if len(pairs) == 0:
        return ys, xs, keep, lim
    n = len(ys)
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    first = np.full(label.max() + 1, n)
    np.minimum.at(first, label, np.arange(n))
    keep = np.arange(n) == first[label]
    size = np.bincount(label)
    mean = np.column_stack([np.bincount(label, w) / size for w in (ys, xs)])
    merged = mean[label[keep]]
    return np.ascontiguousarray(merged[:, 0]), np.ascontiguousarray(merged[:, 1]), keep, lim


def _raise_close(pairs, d, pixel_size, limit_A, why):
    order = np.argsort(d)
    shown = ", ".join(f"{pairs[k, 0]} and {pairs[k, 1]} ({d[k] * pixel_size:.3f} Å)" for k in order[:5])
    raise ValueError(
        f"{len(pairs)} pair(s) of columns are closer than {limit_A:.3f} Å ({why}), e.g. {shown}; "
        "the fit cannot separate them: delete one of each pair (or run find_columns with a larger "
        "min_distance)"
    )
