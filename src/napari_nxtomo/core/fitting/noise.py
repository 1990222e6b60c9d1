"""Pixel noise: the variance model ``α + β · model`` of a fit, and robust estimates from the image alone."""

from __future__ import annotations

import math

import numpy as np

from .normal_kernels import _leverage_map, _noise_moments
from .problem import _invert_blocks


def estimate_noise(image, model, leverage=None):
    """Fit the pixel noise variance as ``α + β · model`` to the squared residuals.

    Parameters
    ----------
    image, model : (H, W) ndarray
        The image and a fitted model of it (same units).
    leverage : (H, W) ndarray, optional
        Each pixel's leverage ``h`` in the fit; the squared residuals are
        divided by ``1 - h`` (a fit absorbs part of the noise of the pixels
        that determine its parameters, mostly those on the peaks).

    Returns
    -------
    alpha : float
        Variance independent of the signal (read noise, background noise),
        image units².
    beta : float
        Variance per unit of signal (``1 / (dose · pixel area)`` for Poisson
        noise on an image normalised to the incident beam), image units.
        Both are clipped at zero; where the fit is degenerate the variance is
        taken as constant.

    Examples
    --------
    Poisson noise of 50 counts per unit of signal (``β = 1/50``) with a
    read noise of 0.1 (``α = 0.01``):

    >>> import numpy as np
    >>> from napari_nxtomo.core.fitting import estimate_noise
    >>> rng = np.random.default_rng(0)
    >>> model = np.tile(np.linspace(1.0, 9.0, 200), (200, 1))
    >>> image = rng.poisson(model * 50) / 50 + rng.normal(0.0, 0.1, model.shape)
    >>> alpha, beta = estimate_noise(image, model)
    >>> print(f"alpha {alpha:.3f}, beta {beta:.3f}")
    alpha 0.010, beta 0.020
    """
    image = np.ascontiguousarray(image, dtype=np.float64)
    model = np.ascontiguousarray(model, dtype=np.float64)
    use_lev = leverage is not None
    lev = np.ascontiguousarray(leverage, dtype=np.float64) if use_lev else np.zeros((1, 1))
    n, sm, smm, sr, smr = _noise_moments(image, model, lev, use_lev)
    det = n * smm - sm * sm
    const = sr / n
    if det <= 1e-12 * max(n * smm, 1e-300):
        return float(const), 0.0
    alpha = (smm * sr - sm * smr) / det
    beta = (n * smr - sm * sr) / det
    if beta <= 0:
        return float(const), 0.0
    if alpha < 0:
        alpha = 0.0
        beta = smr / smm if smm > 0 else 0.0
    return float(alpha), float(beta)



def _noise_model(problem, model, vols, tab):
    """α, β of the pixel variance of the current fit, with the leverage of its (y, x, V) blocks."""
    hh, _, _ = problem.normals(model, vols, tab)
    pinv, _ = _invert_blocks(hh[:, :3, :3])
    lev = _leverage_map(problem.shape[0], problem.shape[1], problem.w, problem.use_w, vols, *tab, pinv)
    if problem.region is None:
        return estimate_noise(problem.img, model, lev)
    inside = problem.region > 0  # the pixels the fit describes
    return estimate_noise(problem.img[inside][None], model[inside][None], lev[inside][None])


def _quantum(img, max_level=1000, max_quanta=2**20):
    """The quantum q of a quantised image (all values integer multiples of q ≥ 0), else 0.

    Counted electrons, as stored or divided by the dose per pixel, are such
    images.  q is the smallest step between the distinct values; the test is
    made on the pixels up to ``max_level`` quanta (the upper ones carry the
    rounding error of a float32 division), which must all lie within 1 % of
    a multiple of q.  A continuous-valued (noise-free, filtered, background-
    subtracted) image fails it, as does one with negative values, and so
    does a step finer than 2⁻²⁰ of the largest value (the spacing of the
    floating-point numbers, not a count).
    """
    v = np.asarray(img, dtype=float).ravel()
    if v.size < 2 or v.min() < 0:
        return 0.0
    u = np.unique(v)
    if u.size < 2:
        return 0.0
    q = float(np.diff(u).min())
    if not q > 0 or u[-1] > max_quanta * q:
        # no step, or the spacing of the float grid rather than a quantum of the signal
        return 0.0
    low = u[u <= u[0] + max_level * q]
    r = (low - u[0]) / q
    if np.all(np.abs(r - np.rint(r)) < 1e-2) and np.all(np.abs(u[0] / q - np.rint(u[0] / q)) < 1e-2):
        return q
    return 0.0


def _pixel_noise(img):
    """Robust standard deviation of the pixel noise from differences of neighbouring pixels."""
    d = np.concatenate([np.diff(img, axis=0).ravel(), np.diff(img, axis=1).ravel()])
    mad = np.median(np.abs(d - np.median(d)))
    sd = 1.4826 * mad / math.sqrt(2.0)
    if sd == 0:  # mostly flat (noise-free) image: fall back on the mean absolute difference
        sd = float(np.mean(np.abs(d))) * 1e-3
    return float(sd)
