"""Column finding: local maxima of a lightly smoothed image, above a noise-aware threshold."""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from .noise import _pixel_noise, _quantum
from .validation import _check_image, _check_pixel_size

#: the default threshold of :func:`find_columns`, in standard deviations of the smoothed noise above the
#: background's mean (Gaussian white noise: < 1 spurious column per 4096² pixels at any smoothing)
SIGNIFICANCE = 6.0
_P2_TO_MEAN = 2.054  # the 2nd percentile of a normal distribution is 2.054 sd below its mean


def find_columns(image, pixel_size, min_distance, threshold=None, *, smooth=None, mask=None):
    """Find atomic columns as local maxima of a lightly smoothed image.

    Parameters
    ----------
    image : (H, W) array
        The image (any real dtype).
    pixel_size : float
        Å per pixel.
    min_distance : float
        Smallest distance between two columns, Å (a peak closer than this to
        a brighter one is dropped).  About 0.7 × the smallest column spacing
        works well.
    threshold : float, optional
        Smallest value of a peak in the smoothed image (image units).
        Default: the background's mean plus :data:`SIGNIFICANCE` (6) × the
        noise of the smoothed image there, and at least 0.1 % of the
        smoothed image's range above the background.  The pixel noise is
        the mean absolute difference of neighbouring pixels in the dimmest
        quarter of the image (the vacuum, not the columns' shot noise); the
        background's mean is the smoothed image's 2nd percentile plus 2.054
        of those standard deviations.  On white noise this gives no column:
        fewer than one spurious column per 4096² pixels at any smoothing
        (Gaussian and Poisson noise).
        For a quantised image (every value an integer multiple of a quantum
        q ≥ 0: detected electron counts, possibly divided by the dose per
        pixel) the noise at a peak also holds its own shot noise: pixel
        variance ``noise² + q · (value - background)`` (Poisson), so a peak
        must stand 6 of its own standard deviations above the background.
        This keeps an empty vacuum of zero counts, where the neighbour
        differences are zero, from giving a column at every stray electron.
    smooth : float, optional
        Standard deviation of the Gaussian smoothing, Å.  Default
        ``min_distance / 6`` (at least half a pixel).
    mask : (H, W) bool array, optional
        Keep only the columns whose pixel is True (a particle of
        :func:`napari_nxtomo.core.particles.segment_particles`).  The
        threshold is still set by the whole image (its vacuum).

    Returns
    -------
    (N, 2) float ndarray
        Column positions ``(row, col)`` in Å (pixel ``(0, 0)`` centred at the
        origin), refined to sub-pixel precision by a parabola through the
        maximum and its neighbours along each axis; sorted by row, then col.

    Raises
    ------
    ValueError
        For a non-2D, colour, constant or non-finite image, a non-positive
        pixel size, or ``min_distance`` below one pixel.

    Examples
    --------
    Four columns on an image of 0.2 Å pixels with Poisson noise:

    >>> import numpy as np
    >>> import pandas as pd
    >>> from napari_nxtomo.core.fitting import find_columns, model_image
    >>> truth = pd.DataFrame({"y": [1.5, 3.0, 5.0, 6.5], "x": [2.0, 6.0, 2.5, 5.5],
    ...                       "volume": [2.0, 3.0, 3.0, 2.0], "width": [0.4] * 4})
    >>> clean = model_image((40, 40), 0.2, truth, background=0.01)
    >>> dose = 1e5 * 0.2**2  # electrons per pixel
    >>> image = np.random.default_rng(0).poisson(clean * dose) / dose
    >>> find_columns(image, 0.2, min_distance=2.0).round(1)
    array([[1.5, 2. ],
           [3. , 6. ],
           [5. , 2.5],
           [6.5, 5.5]])
    """
    from scipy.ndimage import gaussian_filter
    from skimage.feature import peak_local_max

    img = _check_image(image)
    p = _check_pixel_size(pixel_size)
    md = float(min_distance) / p
    if not md >= 1.0:
        raise ValueError(
            f"min_distance ({min_distance} Å) must be at least one pixel ({p:.4g} Å); give it in Å"
        )
    keep = None if mask is None else _check_mask(mask, img.shape)
    sig = max(0.5, md / 6.0) if smooth is None else max(float(smooth) / p, 0.0)
    sm = gaussian_filter(img, sig, mode="nearest") if sig > 0 else img
    if threshold is None:
        thr_map = _threshold_map(img, sm, sig)
    else:
        thr_map = np.full(sm.shape, float(threshold))
    peaks = peak_local_max(sm, min_distance=1, threshold_abs=float(thr_map.min()), exclude_border=False)
    if len(peaks):
        peaks = peaks[sm[peaks[:, 0], peaks[:, 1]] > thr_map[peaks[:, 0], peaks[:, 1]]]
    peaks = _suppress(peaks, sm[peaks[:, 0], peaks[:, 1]] if len(peaks) else np.zeros(0), md)
    if keep is not None and len(peaks):
        peaks = peaks[keep[peaks[:, 0], peaks[:, 1]]]
    if len(peaks) == 0:
        return np.zeros((0, 2))
    pos = _refine_peaks(sm, peaks) * p
    return pos[np.lexsort((pos[:, 1], pos[:, 0]))]


def _check_mask(mask, shape):
    """A boolean mask of the image's shape, or a ValueError that says what to give."""
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"the mask has shape {m.shape}, the image {tuple(shape)}: give a mask of the image's shape "
                         "(a Labels layer of the same image)")
    return m.astype(bool)


def _threshold_map(img, sm, sig):
    """The default threshold of :func:`find_columns` at each pixel of the smoothed image ``sm``.

    A background level plus 6 standard deviations of the smoothed noise
    (with the shot noise of a quantised image), at least 0.1 % of the range.
    """
    noise = _background_noise(img, sig)
    # variance gain of the smoothing, pixel by pixel (larger near the edges)
    gain_y, gain_x = _smoothing_gain(sm.shape[0], sig), _smoothing_gain(sm.shape[1], sig)
    gain = np.outer(gain_y, gain_x)
    var_s = noise**2 * gain
    # the background's mean: its 2nd percentile lies z₀.₀₂ = 2.054 of its standard deviations below it
    bg = float(np.percentile(sm, 2.0)) + _P2_TO_MEAN * noise * math.sqrt(np.median(gain_y) * np.median(gain_x))
    rng = float(sm.max() - bg)
    q = _quantum(img)
    if q > 0:
        # counts: Poisson variance q × (mean above the background) on top of the background's noise;
        # the smoothed image is the local mean (Var Σ k_j X_j = Σ k_j² q m_j ≈ q m Σ k_j²)
        var_s = var_s + q * np.maximum(sm - bg, 0.0) * gain
    return bg + np.maximum(SIGNIFICANCE * np.sqrt(var_s), 1e-3 * rng)


def _background_noise(img, sig, fraction=25.0):
    """Pixel noise of the background: neighbour differences in the dimmest ``fraction`` % of the image.

    The vacuum (or the dimmest part of a particle that fills the frame) sets
    the level a column must stand out from; the noise on the columns (shot
    noise) would make the threshold too high.  The dim part is chosen on an
    image smoothed over ≥ 3 pixels, so that choosing it hardly selects the
    differences themselves (a light smoothing would pick pixels that happen
    to be low, and their differences are small).  Falls back on the whole
    image's estimate where the dim part is too small or flat.
    """
    from scipy.ndimage import gaussian_filter

    wide = gaussian_filter(img, max(3.0, 2.0 * sig), mode="nearest")
    low = wide <= np.percentile(wide, fraction)
    d = np.concatenate([(img[1:] - img[:-1])[low[1:] & low[:-1]], (img[:, 1:] - img[:, :-1])[low[:, 1:] & low[:, :-1]]])
    if d.size >= 100:
        # the mean absolute deviation (not the median one: counts of a few electrons make that a whole
        # number of quanta, ~25 % low at 8 counts per pixel); E|d| = σ_d √(2/π) and σ_d = √2 σ
        sd = float(np.mean(np.abs(d - np.median(d)))) * math.sqrt(math.pi / 2.0) / math.sqrt(2.0)
        if sd > 0:
            return sd
    return _pixel_noise(img)


def _refine_peaks(sm, peaks):
    """Sub-pixel positions (pixels) of integer maxima ``peaks`` (N, 2) of ``sm``.

    A parabola through each maximum and its two neighbours along each axis
    (no shift at the image edge or where the parabola does not open down),
    by at most half a pixel.
    """
    pos = peaks.astype(np.float64)
    h, w = sm.shape
    for ax, n in ((0, h), (1, w)):
        i, j = peaks[:, 0], peaks[:, 1]
        inner = (peaks[:, ax] > 0) & (peaks[:, ax] < n - 1)
        e = np.zeros((len(peaks), 2), dtype=int)
        e[:, ax] = 1
        f0 = sm[i, j]
        fm = np.where(inner, sm[np.clip(i - e[:, 0], 0, h - 1), np.clip(j - e[:, 1], 0, w - 1)], f0)
        fp = np.where(inner, sm[np.clip(i + e[:, 0], 0, h - 1), np.clip(j + e[:, 1], 0, w - 1)], f0)
        den = fm - 2 * f0 + fp
        with np.errstate(divide="ignore", invalid="ignore"):
            off = np.where(inner & (den < 0), 0.5 * (fm - fp) / den, 0.0)
        pos[:, ax] += np.clip(off, -0.5, 0.5)
    return pos


def _smoothing_gain(n, sig):
    """Σ k² of the 1D Gaussian smoothing weights (mode "nearest") at each of n pixels.

    The variance of white noise after the filter is this (per axis) times the
    pixel variance; near an edge fewer pixels are averaged, so it is larger.
    """
    if sig <= 0:
        return np.ones(n)
    from scipy.ndimage import gaussian_filter1d

    m = min(n, 2 * int(math.ceil(4 * sig + 2)) + 1)
    k = gaussian_filter1d(np.eye(m), sig, axis=0, mode="nearest")
    g = (k**2).sum(axis=1)
    if m == n:
        return g
    half = m // 2
    out = np.full(n, g[half])
    out[:half] = g[:half]
    out[n - half :] = g[m - half :]
    return out


def _suppress(peaks, values, min_distance):
    """Keep the brightest peaks, dropping any closer than ``min_distance`` (pixels, Euclidean) to a kept one."""
    if len(peaks) < 2:
        return peaks
    order = np.argsort(-values, kind="stable")
    peaks = peaks[order]
    pairs = cKDTree(peaks).query_pairs(min_distance - 1e-9, output_type="ndarray")
    if len(pairs) == 0:
        return peaks
    nbr = sparse.coo_matrix(
        (np.ones(2 * len(pairs), dtype=bool), (np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]])),
        shape=(len(peaks), len(peaks)),
    ).tocsr()
    keep = np.ones(len(peaks), dtype=bool)
    indptr, indices = nbr.indptr, nbr.indices
    for i in range(len(peaks)):
        if keep[i]:
            nb = indices[indptr[i] : indptr[i + 1]]
            keep[nb[nb > i]] = False
    return peaks[keep]

