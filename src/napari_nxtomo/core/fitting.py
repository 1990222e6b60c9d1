"""Atomic column finding and model-based fitting (StatSTEM-like), numerics only.

The image model
---------------
An image ``I`` (H, W) with square pixels of ``pixel_size`` Å is modelled as

    M(pixel) = b + Σ_c V_c P_c(pixel)

with a constant background ``b`` and one isotropic Gaussian per atomic
column: ``P_c`` is the probability mass of a 2D Gaussian of centre
``(y_c, x_c)`` and standard deviation ``s_t`` (one width per column *type*
``t``) integrated over the pixel (exact error-function integrals, pixel ``i``
spanning ``[i - 0.5, i + 0.5]`` in pixel units), truncated to a square window
of ``n_sigma`` standard deviations.  It is the same Gaussian as the synthetic
image generator's :func:`~napari_nxtomo.core.simulate.render_gaussians`,
which :func:`model_image` calls to draw a fitted model; the fitter evaluates
the same closed form (and its derivatives) inline (a test checks that the
two agree to 1e-15).  Because the model is integrated over the pixel, the
fitted width of a generator image is the width of the continuous Gaussian,
and ``Σ_pixels P_c = 1`` makes ``V_c`` exactly the integrated peak volume.

A real STEM image samples the probe-blurred object at points (scan
positions) rather than integrating it over pixels.  Fitted with this model,
such a peak comes out with ``width² = σ² - pixel² / 12`` (the variance of a
uniform pixel is ``pixel² / 12``), about 1-2 % narrower for the usual 3-5
pixels per width; its volume is not biased, because the sum over pixels of a
point-sampled Gaussian equals its integral to within
``exp(-2 π² σ² / pixel²)`` (negligible for σ above half a pixel).

The *volume* of a column is reported in image units × Å² (``V_c`` times the
pixel area).  For an image normalised to the incident beam (the fraction of
the beam per pixel, as the project's generator writes it) that is the
column's scattering cross-section in Å².

The fit (least squares)
-----------------------
Least squares in two passes by default (``weighting="noise"``): first
unweighted, as StatSTEM does, then with each pixel weighted by the inverse
of a noise variance model ``α + β M`` fitted to the first pass's residuals.
For Poisson noise (``α = 0``) the weighted fit is the maximum-likelihood
estimator and reaches the Cramér-Rao bound; the unweighted one is about
1.15 × the bound for bright columns on a faint background.
``weighting="uniform"`` stops after the first pass (about 1.6 × faster).
Given the positions and widths the model is linear in ``b`` and the
volumes: they are the solution of a sparse set of normal equations (the
Gram matrix of overlapping Gaussians, solved by diagonally preconditioned
conjugate gradients, with a sparse LU factorisation as the fallback; the
background is eliminated by a Schur complement).  Positions and widths are
updated by Gauss-Newton steps: each column's (y, x, V) block is solved with
its neighbours' contributions included in the residual (block Jacobi, all
columns at once), and the shared width of each type is updated jointly with
them through the Schur complement of the per-column blocks.  A step that
does not lower the residual sum of squares is halved.  A few iterations
reach convergence; every pass costs a few operations per pixel of each
column's window, so the cost grows linearly with the number of columns.

Standard errors
---------------
Per column, from the Gauss-Newton covariance of its own (y, x, V) with the
neighbours, background and widths held fixed: the sandwich
``(JᵀWJ)⁻¹ JᵀW Σ W J (JᵀWJ)⁻¹`` with ``Σ`` the pixel noise variance
``α + β M`` fitted to the squared residuals, each divided by ``1 - h`` with
``h`` the pixel's leverage (this covers Poisson noise, where ``α = 0`` and
``β = 1 / (dose · pixel area)``, and detectors with read noise and gain).
The errors leave out the uncertainty of the shared widths and of the
background, which many columns determine together.

Threads
-------
A fit holds a module lock while it runs, so two threads (for example
napari thread workers) never run this module's parallel kernels at the same
time (numba's default ``workqueue`` threading layer does not allow it).  The
lock does not cover other modules' parallel kernels: a caller that runs
those in another thread at the same time must serialise them itself.
Small fits run single-threaded (see ``n_threads`` of :func:`fit_columns`).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pandas as pd
from numba import prange
from scipy import sparse
from scipy.sparse.linalg import splu
from scipy.spatial import cKDTree

from .simulate import FWHM_TO_SIGMA, render_gaussians

__all__ = [
    "FitCancelled",
    "find_columns",
    "fit_columns",
    "model_image",
    "estimate_noise",
]

#: Gaussians are truncated to a square window of this many standard deviations
N_SIGMA = 5.0
#: half the probe FWHM, in units of the Gaussian standard deviation: columns
#: closer than this are refused as unresolvable
MIN_SEPARATION_SIGMAS = 0.5 / FWHM_TO_SIGMA
#: a column whose centre is closer than this many widths to the image edge is
#: flagged ``border`` (more than 0.13 % of its peak falls outside the image)
BORDER_SIGMAS = 3.0

_SQRT_PI = math.sqrt(math.pi)
from ._parallel import NUMBA_LOCK as _LOCK  # noqa: E402
#: below this many pixel evaluations per pass (columns × window area) the
#: kernels run on one thread: starting the parallel region costs more than it
#: saves, all the more so on a busy machine
PARALLEL_MIN_WORK = 2_000_000


def _default_threads(work):
    """Threads for a fit of ``work`` pixel evaluations per pass.

    One for small fits; else as many as the machine has idle cores (from the
    1-minute load average, counting this process as one), at most numba's.
    A parallel region waits for its slowest thread: a thread that shares a
    core with another busy process makes every pass several times slower
    than one thread would.
    """
    if work < PARALLEL_MIN_WORK:
        return 1
    n_max = numba.config.NUMBA_NUM_THREADS
    try:
        import os

        idle = (os.cpu_count() or 1) - os.getloadavg()[0] + 1.0
    except (AttributeError, OSError):  # no load average (Windows)
        return n_max
    return int(max(1, min(n_max, math.floor(idle + 0.25))))


class _threads:
    """Run numba's parallel kernels on ``n`` threads inside the block (thread-local setting)."""

    def __init__(self, n):
        self.n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))

    def __enter__(self):
        self.old = numba.get_num_threads()
        numba.set_num_threads(self.n)

    def __exit__(self, *exc):
        numba.set_num_threads(self.old)


class FitCancelled(Exception):
    """Raised by :func:`fit_columns` when its ``cancel`` callback returns True."""


# --------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------


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


def _close_pairs(pos_px, limit_px):
    """Pairs (i < j) of columns closer than ``limit_px`` and their distances (pixels)."""
    if len(pos_px) < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    pairs = cKDTree(pos_px).query_pairs(float(limit_px), output_type="ndarray")
    d = np.linalg.norm(pos_px[pairs[:, 0]] - pos_px[pairs[:, 1]], axis=1) if len(pairs) else np.zeros(0)
    return pairs, d


def _raise_close(pairs, d, pixel_size, limit_A, why):
    order = np.argsort(d)
    shown = ", ".join(f"{pairs[k, 0]} and {pairs[k, 1]} ({d[k] * pixel_size:.3f} Å)" for k in order[:5])
    raise ValueError(
        f"{len(pairs)} pair(s) of columns are closer than {limit_A:.3f} Å ({why}), e.g. {shown}; "
        "the fit cannot separate them: delete one of each pair (or run find_columns with a larger "
        "min_distance)"
    )


# --------------------------------------------------------------------------
# numba kernels (pixel units throughout)
# --------------------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def _window(c, s, n_sigma, n):
    """Pixel range [lo, hi) drawn around a centre ``c`` (same window as render_gaussians)."""
    r = int(math.ceil(n_sigma * s)) + 1
    ci = int(math.floor(c + 0.5))
    return max(ci - r, 0), min(ci + r + 1, n)


@numba.njit(cache=True)
def _profile(c, s, lo, hi, p, dp, ds, want_d):
    """Pixel-integrated 1D Gaussian of unit mass on pixels [lo, hi), with d/dc and d/ds."""
    k = 1.0 / (math.sqrt(2.0) * s)
    for i in range(lo, hi):
        a = (i + 0.5 - c) * k
        b = (i - 0.5 - c) * k
        p[i - lo] = 0.5 * (math.erf(a) - math.erf(b))
        if want_d:
            ea = math.exp(-a * a)
            eb = math.exp(-b * b)
            dp[i - lo] = -(k / _SQRT_PI) * (ea - eb)
            ds[i - lo] = -(a * ea - b * eb) / (s * _SQRT_PI)


@numba.njit(parallel=True, cache=True)
def _tabulate(h, wd, ys, xs, ss, n_sigma):
    """Windows and 1D profiles (value, d/dcentre, d/dwidth) of every column.

    Returns ``win`` (N, 4) = (y0, y1, x0, x1), offsets ``offy``, ``offx``
    (N + 1,) into the tables ``ty`` (3, Σ ny) and ``tx`` (3, Σ nx).
    """
    n = ys.shape[0]
    win = np.empty((n, 4), dtype=np.int64)
    offy = np.zeros(n + 1, dtype=np.int64)
    offx = np.zeros(n + 1, dtype=np.int64)
    for c in range(n):
        y0, y1 = _window(ys[c], ss[c], n_sigma, h)
        x0, x1 = _window(xs[c], ss[c], n_sigma, wd)
        y1 = max(y1, y0)
        x1 = max(x1, x0)
        win[c, 0] = y0
        win[c, 1] = y1
        win[c, 2] = x0
        win[c, 3] = x1
        offy[c + 1] = offy[c] + (y1 - y0)
        offx[c + 1] = offx[c] + (x1 - x0)
    ty = np.empty((3, offy[n]))
    tx = np.empty((3, offx[n]))
    for c in prange(n):
        a, b = offy[c], offy[c + 1]
        _profile(ys[c], ss[c], win[c, 0], win[c, 1], ty[0, a:b], ty[1, a:b], ty[2, a:b], True)
        a, b = offx[c], offx[c + 1]
        _profile(xs[c], ss[c], win[c, 2], win[c, 3], tx[0, a:b], tx[1, a:b], tx[2, a:b], True)
    return win, offy, offx, ty, tx


@numba.njit(parallel=True, cache=True)
def _linear_terms(img, w, use_w, win, offy, offx, ty, tx):
    """Per column: Σ w g I, Σ w g and Σ w g² over its window."""
    n = win.shape[0]
    rhs = np.zeros(n)
    asum = np.zeros(n)
    diag = np.zeros(n)
    for c in prange(n):
        y0, y1, x0, x1 = win[c, 0], win[c, 1], win[c, 2], win[c, 3]
        oy, ox = offy[c], offx[c]
        r_ = 0.0
        a_ = 0.0
        d_ = 0.0
        if use_w:
            for i in range(y1 - y0):
                pyi = ty[0, oy + i]
                for j in range(x1 - x0):
                    g = pyi * tx[0, ox + j]
                    wij = w[y0 + i, x0 + j]
                    r_ += wij * g * img[y0 + i, x0 + j]
                    a_ += wij * g
                    d_ += wij * g * g
        else:
            sy = 0.0
            sy2 = 0.0
            for i in range(y1 - y0):
                pyi = ty[0, oy + i]
                sy += pyi
                sy2 += pyi * pyi
                acc = 0.0
                for j in range(x1 - x0):
                    acc += img[y0 + i, x0 + j] * tx[0, ox + j]
                r_ += pyi * acc
            sx = 0.0
            sx2 = 0.0
            for j in range(x1 - x0):
                sx += tx[0, ox + j]
                sx2 += tx[0, ox + j] ** 2
            a_ = sy * sx
            d_ = sy2 * sx2
        rhs[c] = r_
        asum[c] = a_
        diag[c] = d_
    return rhs, asum, diag


@numba.njit(parallel=True, cache=True)
def _gram_pairs(w, use_w, win, offy, offx, ty, tx, pa, pb):
    """Σ w g_c g_d over the overlap of the windows of each pair (c, d)."""
    out = np.zeros(pa.shape[0])
    for k in prange(pa.shape[0]):
        c = pa[k]
        d = pb[k]
        y0, y1 = max(win[c, 0], win[d, 0]), min(win[c, 1], win[d, 1])
        x0, x1 = max(win[c, 2], win[d, 2]), min(win[c, 3], win[d, 3])
        if y0 >= y1 or x0 >= x1:
            continue
        oyc = offy[c] + y0 - win[c, 0]
        oyd = offy[d] + y0 - win[d, 0]
        oxc = offx[c] + x0 - win[c, 2]
        oxd = offx[d] + x0 - win[d, 2]
        if not use_w:
            sy = 0.0
            for i in range(y1 - y0):
                sy += ty[0, oyc + i] * ty[0, oyd + i]
            sx = 0.0
            for j in range(x1 - x0):
                sx += tx[0, oxc + j] * tx[0, oxd + j]
            out[k] = sy * sx
        else:
            acc = 0.0
            for i in range(y1 - y0):
                a = ty[0, oyc + i] * ty[0, oyd + i]
                for j in range(x1 - x0):
                    acc += w[y0 + i, x0 + j] * a * tx[0, oxc + j] * tx[0, oxd + j]
            out[k] = acc
    return out


@numba.njit(parallel=True, cache=True)
def _column_normals(img, model, w, use_w, vols, win, offy, offx, ty, tx, alpha, beta, want_meat):
    """Per-column Gauss-Newton blocks for (y, x, V, s).

    Returns H (N, 4, 4) = Jᵀ W J, g (N, 4) = Jᵀ W r with r = img - model, and
    (when ``want_meat``) M (N, 3, 3) = Jᵀ W Σ W J for (y, x, V) with the pixel
    variance Σ = alpha + beta * model.  Without weights and without M, the
    separable structure of the Gaussians turns the 2D sums into 1D ones.
    """
    n = win.shape[0]
    hh = np.zeros((n, 4, 4))
    gg = np.zeros((n, 4))
    mm = np.zeros((n, 3, 3)) if want_meat else np.zeros((1, 3, 3))
    for c in prange(n):
        y0, y1, x0, x1 = win[c, 0], win[c, 1], win[c, 2], win[c, 3]
        ny = y1 - y0
        nx = x1 - x0
        if ny <= 0 or nx <= 0:
            continue
        py = ty[0, offy[c] : offy[c + 1]]
        dpy = ty[1, offy[c] : offy[c + 1]]
        spy = ty[2, offy[c] : offy[c + 1]]
        px = tx[0, offx[c] : offx[c + 1]]
        dpx = tx[1, offx[c] : offx[c + 1]]
        spx = tx[2, offx[c] : offx[c + 1]]
        v = vols[c]
        a = np.zeros((4, 4))
        gv = np.zeros(4)
        if not use_w and not want_meat:
            # u_k(i) = Σ_j r_ij b_k(j) for b = px, dpx, spx
            sy = np.zeros((3, 3))
            sx = np.zeros((3, 3))
            g00 = 0.0  # Σ py u_p
            g10 = 0.0  # Σ dpy u_p
            g20 = 0.0  # Σ spy u_p
            g01 = 0.0  # Σ py u_d
            g02 = 0.0  # Σ py u_s
            for i in range(ny):
                up = 0.0
                ud = 0.0
                us = 0.0
                for j in range(nx):
                    r = img[y0 + i, x0 + j] - model[y0 + i, x0 + j]
                    up += r * px[j]
                    ud += r * dpx[j]
                    us += r * spx[j]
                g00 += py[i] * up
                g10 += dpy[i] * up
                g20 += spy[i] * up
                g01 += py[i] * ud
                g02 += py[i] * us
                t0, t1, t2 = py[i], dpy[i], spy[i]
                sy[0, 0] += t0 * t0
                sy[0, 1] += t0 * t1
                sy[0, 2] += t0 * t2
                sy[1, 1] += t1 * t1
                sy[1, 2] += t1 * t2
                sy[2, 2] += t2 * t2
            for j in range(nx):
                t0, t1, t2 = px[j], dpx[j], spx[j]
                sx[0, 0] += t0 * t0
                sx[0, 1] += t0 * t1
                sx[0, 2] += t0 * t2
                sx[1, 1] += t1 * t1
                sx[1, 2] += t1 * t2
                sx[2, 2] += t2 * t2
            for p in range(3):
                for q in range(p):
                    sy[p, q] = sy[q, p]
                    sx[p, q] = sx[q, p]
            gv[0] = v * g10
            gv[1] = v * g01
            gv[2] = g00
            gv[3] = v * (g20 + g02)
            v2 = v * v
            a[0, 0] = v2 * sy[1, 1] * sx[0, 0]
            a[0, 1] = v2 * sy[1, 0] * sx[0, 1]
            a[0, 2] = v * sy[1, 0] * sx[0, 0]
            a[0, 3] = v2 * (sy[1, 2] * sx[0, 0] + sy[1, 0] * sx[0, 2])
            a[1, 1] = v2 * sy[0, 0] * sx[1, 1]
            a[1, 2] = v * sy[0, 0] * sx[1, 0]
            a[1, 3] = v2 * (sy[0, 2] * sx[1, 0] + sy[0, 0] * sx[1, 2])
            a[2, 2] = sy[0, 0] * sx[0, 0]
            a[2, 3] = v * (sy[0, 2] * sx[0, 0] + sy[0, 0] * sx[0, 2])
            a[3, 3] = v2 * (sy[2, 2] * sx[0, 0] + 2.0 * sy[2, 0] * sx[0, 2] + sy[0, 0] * sx[2, 2])
        else:
            m3 = np.zeros((3, 3))
            jj = np.empty(4)
            for i in range(ny):
                for j in range(nx):
                    jj[0] = v * dpy[i] * px[j]
                    jj[1] = v * py[i] * dpx[j]
                    jj[2] = py[i] * px[j]
                    jj[3] = v * (spy[i] * px[j] + py[i] * spx[j])
                    mod = model[y0 + i, x0 + j]
                    r = img[y0 + i, x0 + j] - mod
                    wij = w[y0 + i, x0 + j] if use_w else 1.0
                    for p in range(4):
                        wp = wij * jj[p]
                        gv[p] += wp * r
                        for q in range(p, 4):
                            a[p, q] += wp * jj[q]
                    if want_meat:
                        var = alpha + beta * mod
                        if var < 0.0:
                            var = 0.0
                        f = wij * wij * var
                        for p in range(3):
                            for q in range(p, 3):
                                m3[p, q] += f * jj[p] * jj[q]
            if want_meat:
                for p in range(3):
                    for q in range(p, 3):
                        mm[c, p, q] = m3[p, q]
                        mm[c, q, p] = m3[p, q]
        for p in range(4):
            gg[c, p] = gv[p]
            for q in range(p, 4):
                hh[c, p, q] = a[p, q]
                hh[c, q, p] = a[p, q]
    return hh, gg, mm


@numba.njit(parallel=True, cache=True)
def _weighted_rss(img, model, w, use_w):
    h, wd = img.shape
    acc = np.zeros(h)
    for i in prange(h):
        s = 0.0
        for j in range(wd):
            r = img[i, j] - model[i, j]
            s += (w[i, j] if use_w else 1.0) * r * r
        acc[i] = s
    return acc.sum()


@numba.njit(parallel=True, cache=True)
def _noise_moments(img, model, lev, use_lev):
    """Sums of 1, m, m², r²/(1-h), m r²/(1-h) over all pixels (for r² ≈ α + β m).

    ``h`` is the pixel's leverage (how much of its own noise the fit absorbs);
    dividing by ``1 - h`` makes the squared residual an unbiased variance.
    """
    h, wd = img.shape
    acc = np.zeros((h, 5))
    for i in prange(h):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        s4 = 0.0
        for j in range(wd):
            m = model[i, j]
            r = img[i, j] - m
            r2 = r * r
            if use_lev:
                lv = lev[i, j]
                if lv > 0.9:
                    lv = 0.9
                r2 /= 1.0 - lv
            s0 += 1.0
            s1 += m
            s2 += m * m
            s3 += r2
            s4 += m * r2
        acc[i, 0] = s0
        acc[i, 1] = s1
        acc[i, 2] = s2
        acc[i, 3] = s3
        acc[i, 4] = s4
    return acc.sum(axis=0)


@numba.njit(cache=True)
def _leverage_map(h, wd, w, use_w, vols, win, offy, offx, ty, tx, pinv):
    """Leverage of each pixel, w J P⁻¹ Jᵀ summed over the columns whose window covers it.

    ``pinv`` (N, 3, 3) is the inverse of each column's (y, x, V) block.
    """
    out = np.zeros((h, wd))
    jj = np.empty(3)
    for c in range(win.shape[0]):
        y0, y1, x0, x1 = win[c, 0], win[c, 1], win[c, 2], win[c, 3]
        oy, ox = offy[c], offx[c]
        v = vols[c]
        for i in range(y1 - y0):
            for j in range(x1 - x0):
                jj[0] = v * ty[1, oy + i] * tx[0, ox + j]
                jj[1] = v * ty[0, oy + i] * tx[1, ox + j]
                jj[2] = ty[0, oy + i] * tx[0, ox + j]
                acc = 0.0
                for p in range(3):
                    for q in range(3):
                        acc += jj[p] * pinv[c, p, q] * jj[q]
                out[y0 + i, x0 + j] += (w[y0 + i, x0 + j] if use_w else 1.0) * acc
    return out


@numba.njit(parallel=True, cache=True)
def _inverse_variance(model, alpha, beta, floor):
    h, wd = model.shape
    out = np.empty((h, wd))
    for i in prange(h):
        for j in range(wd):
            v = alpha + beta * model[i, j]
            out[i, j] = 1.0 / (v if v > floor else floor)
    return out


# --------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------


def _render(shape, ys, xs, vols, ss, background, n_sigma=N_SIGMA):
    out = render_gaussians(int(shape[0]), int(shape[1]), ys, xs, vols, ss, float(n_sigma))
    out += background
    return out


def _overlap_pairs(ys, xs, ss, n_sigma):
    """Candidate pairs of columns whose square windows may overlap."""
    if len(ys) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    r = np.ceil(n_sigma * ss.max()) + 1
    pts = np.column_stack([np.floor(ys + 0.5), np.floor(xs + 0.5)])
    pairs = cKDTree(pts).query_pairs(2 * r + 0.5, p=np.inf, output_type="ndarray")
    if len(pairs) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.ascontiguousarray(pairs[:, 0], dtype=np.int64), np.ascontiguousarray(pairs[:, 1], dtype=np.int64)


class _Problem:
    """The image, its weights and the fixed settings of one fit (pixel units)."""

    def __init__(self, img, n_sigma, fit_background, background):
        self.img = img
        self.shape = img.shape
        self.n_sigma = float(n_sigma)
        self.fit_background = bool(fit_background)
        self.background = float(background) if background is not None else 0.0
        self.set_weights(None)

    def set_weights(self, w):
        self.use_w = w is not None
        self.w = w if w is not None else np.ones((1, 1))
        if w is None:
            self.sum_w = float(self.img.size)
            self.sum_wi = float(self.img.sum())
        else:
            self.sum_w = float(w.sum())
            self.sum_wi = float((w * self.img).sum())

    def tabulate(self, ys, xs, ss):
        """Windows and profiles of the columns: (win, offy, offx, ty, tx), see :func:`_tabulate`."""
        return _tabulate(self.shape[0], self.shape[1], ys, xs, ss, self.n_sigma)

    def normals(self, model, vols, tab, alpha=0.0, beta=0.0, want_meat=False):
        return _column_normals(self.img, model, self.w, self.use_w, vols, *tab, alpha, beta, want_meat)

    def solve_linear(self, ys, xs, ss):
        """Least-squares volumes (pixel units) and background for fixed positions and widths.

        Returns the volumes, the background and the columns' tabulated profiles.
        """
        n = len(ys)
        tab = self.tabulate(ys, xs, ss)
        rhs, asum, diag = _linear_terms(self.img, self.w, self.use_w, *tab)
        pa, pb = _overlap_pairs(ys, xs, ss, self.n_sigma)
        off = _gram_pairs(self.w, self.use_w, *tab, pa, pb)
        keep = off != 0.0
        pa, pb, off = pa[keep], pb[keep], off[keep]
        if np.any(diag <= 0):
            bad = np.flatnonzero(diag <= 0)
            raise ValueError(
                f"{len(bad)} column(s) have no pixel of the image under them (first: index {bad[0]}); delete them"
            )
        idx = np.arange(n)
        a = sparse.csr_matrix(
            (np.concatenate([diag, off, off]), (np.concatenate([idx, pa, pb]), np.concatenate([idx, pb, pa]))),
            shape=(n, n),
        )
        rhs_all = np.column_stack([rhs, asum]) if self.fit_background else (rhs - self.background * asum)[:, None]
        x = self._solve_gram(a, diag, rhs_all)
        if self.fit_background:
            u, v = x[:, 0], x[:, 1]
            den = self.sum_w - asum @ v
            if not den > 1e-12 * self.sum_w:
                raise ValueError(
                    "the background cannot be told apart from the columns (the columns cover the image "
                    "completely); pass background= to fix it"
                )
            b = (self.sum_wi - asum @ u) / den
            vols = u - b * v
        else:
            b = self.background
            vols = x[:, 0]
        return vols, float(b), tab

    @staticmethod
    def _solve_gram(a, diag, rhs):
        """Solve the (symmetric positive definite) Gram system for each column of ``rhs``.

        Conjugate gradients with a diagonal preconditioner (the Gram matrix of
        resolvable columns is close to diagonal), falling back on a sparse LU
        factorisation when they do not converge.
        """
        from scipy.sparse.linalg import LinearOperator, cg

        n = a.shape[0]
        precond = LinearOperator((n, n), matvec=lambda r: r.ravel() / diag, dtype=np.float64)
        out = np.empty_like(rhs)
        for k in range(rhs.shape[1]):
            sol, info = cg(a, rhs[:, k], rtol=1e-13, atol=0.0, maxiter=300, M=precond)
            if info != 0 or not np.all(np.isfinite(sol)):
                break
            out[:, k] = sol
        else:
            return out
        try:
            lu = splu(a.tocsc(), permc_spec="MMD_AT_PLUS_A")
        except RuntimeError as exc:  # exactly singular Gram matrix
            raise ValueError(
                "the columns' Gaussians are linearly dependent (columns on top of each other or a width "
                "far too large); delete duplicate columns"
            ) from exc
        out = lu.solve(rhs)
        if not np.all(np.isfinite(out)):
            raise ValueError(
                "the columns' Gaussians are linearly dependent (columns on top of each other or a width "
                "far too large); delete duplicate columns"
            )
        return out

    def model(self, ys, xs, vols, ss, b):
        return _render(self.shape, ys, xs, vols, ss, b, self.n_sigma)

    def rss(self, model):
        return float(_weighted_rss(self.img, model, self.w, self.use_w))


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


def _noise_model(problem, model, hh, vols, tab):
    """α, β of the pixel variance, with the leverage of the current fit."""
    p3 = hh[:, :3, :3]
    pinv = np.zeros_like(p3)
    ok = np.all(np.isfinite(p3), axis=(1, 2)) & (np.linalg.det(p3) > 0)
    pinv[ok] = np.linalg.inv(p3[ok])
    lev = _leverage_map(problem.shape[0], problem.shape[1], problem.w, problem.use_w, vols, *tab, pinv)
    return estimate_noise(problem.img, model, lev)


def _scan_width(problem, ys, xs, tcode, n_types, cancel, max_columns=400):
    """Initial common width (pixels): the minimum of the least-squares residual over a grid of widths.

    Uses the ``max_columns`` columns nearest to the middle of the column set
    (and the image crop around them) to keep it cheap.
    """
    h, wd = problem.shape
    n = len(ys)
    pts = np.column_stack([ys, xs])
    if n >= 2:
        d_nn = float(np.median(cKDTree(pts).query(pts, k=2)[0][:, 1]))
    else:
        d_nn = float(min(h, wd)) / 2.0
    s_hi = max(min(0.35 * d_nn, min(h, wd) / 6.0), 0.6)
    s_lo = min(0.4, 0.5 * s_hi)
    cands = np.geomspace(s_lo, s_hi, 14)
    sub_img = problem.img
    sub_y, sub_x = ys, xs
    if n > max_columns:
        mid = np.median(pts, axis=0)
        _, near = cKDTree(pts).query(mid, k=max_columns)
        margin = N_SIGMA * s_hi + 2
        lo = np.floor(pts[near].min(axis=0) - margin).astype(int).clip(0)
        hi = np.ceil(pts[near].max(axis=0) + margin).astype(int) + 1
        hi = np.minimum(hi, [h, wd])
        inside = np.all((pts >= lo) & (pts <= hi - 1), axis=1)
        sub_img = np.ascontiguousarray(problem.img[lo[0] : hi[0], lo[1] : hi[1]])
        sub_y, sub_x = ys[inside] - lo[0], xs[inside] - lo[1]
    sub = _Problem(sub_img, problem.n_sigma, problem.fit_background, problem.background)
    rss = np.empty(len(cands))
    for k, s in enumerate(cands):
        if cancel is not None and cancel():
            raise FitCancelled("column fit cancelled while estimating the width")
        ss = np.full(len(sub_y), s)
        vols, b, _ = sub.solve_linear(sub_y, sub_x, ss)
        rss[k] = sub.rss(sub.model(sub_y, sub_x, vols, ss, b))
    k = int(np.argmin(rss))
    if 0 < k < len(cands) - 1:
        # parabola through the three points around the minimum, in log(width)
        x3 = np.log(cands[k - 1 : k + 2])
        c = np.polyfit(x3, rss[k - 1 : k + 2], 2)
        s0 = float(np.exp(-c[1] / (2 * c[0]))) if c[0] > 0 else float(cands[k])
        s0 = float(np.clip(s0, cands[k - 1], cands[k + 1]))
    else:
        s0 = float(cands[k])
    return np.full(n_types, s0)


def _gauss_newton_step(hh, gg, vols, tcode, n_types, fit_width, ss_t):
    """Position steps (N, 2) and width steps (T,) from the per-column normal blocks.

    Widths are shared per type: their step comes from the Schur complement of
    the per-column (y, x, V) blocks; each column's (y, x, V) step then
    accounts for the width step.
    """
    n = len(vols)
    p = hh[:, :3, :3].copy()
    # Levenberg-Marquardt-like safeguard on tiny diagonals
    k3 = np.arange(3)
    p[:, k3, k3] *= 1.0 + 1e-9
    ok = (vols > 0) & np.all(np.isfinite(p), axis=(1, 2))
    det = np.linalg.det(p)
    ok &= det > 0
    pinv = np.zeros_like(p)
    pinv[ok] = np.linalg.inv(p[ok])
    q = hh[:, :3, 3]
    g3 = gg[:, :3]
    pq = np.einsum("nij,nj->ni", pinv, q)
    pg = np.einsum("nij,nj->ni", pinv, g3)
    ds = np.zeros(n_types)
    if fit_width:
        sc = hh[:, 3, 3] - np.einsum("ni,ni->n", q, pq)
        gc = gg[:, 3] - np.einsum("ni,ni->n", q, pg)
        for t in range(n_types):
            m = ok & (tcode == t)
            den = sc[m].sum()
            if m.any() and den > 0:
                ds[t] = gc[m].sum() / den
        # no more than 20 % per step
        ds = np.clip(ds, -0.2 * ss_t, 0.2 * ss_t)
    step = pg - pq * ds[tcode][:, None]
    step[~ok] = 0.0
    return step[:, :2], ds, ok


# --------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------


def find_columns(image, pixel_size, min_distance, threshold=None, *, smooth=None):
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
        Default: a background level (the 2nd percentile of the smoothed
        image) plus 6 × the noise of the smoothed image (the pixel noise is
        estimated robustly from differences of neighbouring pixels), and at
        least 0.1 % of the smoothed image's range above the background.
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
    sig = max(0.5, md / 6.0) if smooth is None else max(float(smooth) / p, 0.0)
    sm = gaussian_filter(img, sig, mode="nearest") if sig > 0 else img
    if threshold is None:
        noise = _pixel_noise(img)
        bg = float(np.percentile(sm, 2.0))
        rng = float(sm.max() - bg)
        # variance gain of the smoothing, pixel by pixel (larger near the edges)
        gain = np.outer(_smoothing_gain(sm.shape[0], sig), _smoothing_gain(sm.shape[1], sig))
        var_s = noise**2 * gain
        q = _quantum(img)
        if q > 0:
            # counts: Poisson variance q × (mean above the background) on top of the background's noise;
            # the smoothed image is the local mean (Var Σ k_j X_j = Σ k_j² q m_j ≈ q m Σ k_j²)
            var_s = var_s + q * np.maximum(sm - bg, 0.0) * gain
        thr_map = bg + np.maximum(6.0 * np.sqrt(var_s), 1e-3 * rng)
    else:
        thr_map = np.full(sm.shape, float(threshold))
    peaks = peak_local_max(sm, min_distance=1, threshold_abs=float(thr_map.min()), exclude_border=False)
    if len(peaks):
        peaks = peaks[sm[peaks[:, 0], peaks[:, 1]] > thr_map[peaks[:, 0], peaks[:, 1]]]
    peaks = _suppress(peaks, sm[peaks[:, 0], peaks[:, 1]] if len(peaks) else np.zeros(0), md)
    if len(peaks) == 0:
        return np.zeros((0, 2))
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
    pos *= p
    return pos[np.lexsort((pos[:, 1], pos[:, 0]))]


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


def fit_columns(
    image,
    pixel_size,
    positions,
    types=None,
    *,
    width=None,
    progress=None,
    cancel=None,
    fit_width=True,
    fit_background=True,
    background=None,
    weighting="noise",
    max_iter=40,
    tol=1e-4,
    min_separation=None,
    n_sigma=N_SIGMA,
    n_threads=None,
):
    """Fit a constant background plus one Gaussian per atomic column to an image.

    Parameters
    ----------
    image : (H, W) array
        The image (any real dtype; converted to float64).
    pixel_size : float
        Å per pixel.
    positions : (N, 2) array
        Starting positions ``(row, col)`` of the columns, Å (pixel ``(0, 0)``
        centred at the origin), e.g. from :func:`find_columns`.
    types : (N,) array-like, optional
        Column type labels (any hashable); columns of one type share one
        width.  Default: one type, labelled ``0``.
    width : float or dict, optional
        Gaussian standard deviation in Å, for all types (float) or per type
        label (dict): the starting value, or the fixed value with
        ``fit_width=False``.  Default: estimated from the image (the width
        that minimises the residual, on up to 400 central columns).
    progress : callable, optional
        Called as ``progress(i, n)`` after each iteration ``i`` of at most
        ``n``; the last call has ``i == n``.
    cancel : callable, optional
        Called before each iteration; when it returns True the fit stops by
        raising :class:`FitCancelled`.
    fit_width : bool
        Fit the width of each type (default) or keep ``width`` fixed.
    fit_background : bool
        Fit the constant background (default) or keep it at ``background``.
    background : float, optional
        The background (image units) when ``fit_background`` is False.
    weighting : {"noise", "uniform"}
        ``"noise"`` (default): after an ordinary least-squares fit, refit
        with each pixel weighted by the inverse of the fitted noise variance
        ``α + β · model`` (maximum likelihood for Poisson noise: at the
        Cramér-Rao bound; when the fitted variance does not grow with the
        signal the weights would be uniform and the second pass is skipped).
        ``"uniform"``: ordinary least squares only (StatSTEM's estimator;
        about 1.15 × the bound for bright columns on a faint background).
    max_iter : int
        Largest number of Gauss-Newton iterations.
    tol : float
        Convergence: the largest position step of an iteration, Å.
    min_separation : float, optional
        Columns closer than this (Å) are refused.  Default: half the FWHM of
        the (estimated or given) Gaussian, ``0.5 · 2.355 · width``; two
        Gaussians that close merge into one round peak and their volumes
        cannot be told apart.  Columns closer than one pixel are always
        refused.  When ``width`` is not given the check uses the width
        estimated from the start positions, which start positions far off
        their columns make too large: pass ``width`` or ``min_separation``
        then.
    n_sigma : float
        Half-width of the square window of each Gaussian, in widths.
    n_threads : int, optional
        Threads of the numba kernels.  Default: one for small fits (image
        pixels + 1000 × columns below 2 million), else as many as the
        machine has idle cores by its load average (at most numba's thread
        count): a thread that has to share its core with another busy
        process slows every parallel pass down several times.

    Returns
    -------
    pandas.DataFrame
        One row per input column, in input order, with columns

        ``y``, ``x`` : fitted position, Å.
        ``volume`` : integrated peak volume, image units × Å² (for an image
        normalised to the incident beam: the scattering cross-section, Å²).
        ``height`` : peak height of the continuous Gaussian,
        ``volume / (2π width²)``, image units.
        ``width`` : Gaussian standard deviation of the column's type, Å.
        ``type`` : the type label.
        ``y_err``, ``x_err`` (Å), ``volume_err`` (image units × Å²) :
        standard errors.
        ``border`` : True when the centre is closer than 3 widths to the
        image edge: fitted, but part of its peak (and perhaps unlisted
        neighbours) lie outside the image, so treat it with care.

        ``attrs`` holds ``background`` (image units), ``pixel_size``,
        ``widths`` (type → Å), ``noise_alpha`` and ``noise_beta`` (the pixel
        variance ``α + β · model``), ``rss``, ``n_iter``, ``converged``,
        ``weighting`` and ``n_sigma``.  Draw the model with
        :func:`model_image`.

    Raises
    ------
    ValueError
        For a bad image (not 2D, colour, constant, NaN or infinite pixels),
        empty positions, positions outside the image, columns closer than
        ``min_separation``, or bad options.
    FitCancelled
        When ``cancel()`` returned True.
    """
    img = _check_image(image)
    p = _check_pixel_size(pixel_size)
    pos = _check_positions(positions, img.shape, p)
    n = len(pos)
    if weighting not in ("uniform", "noise"):
        raise ValueError(f"weighting must be 'uniform' or 'noise', got {weighting!r}")
    if not fit_background and background is None:
        raise ValueError("fit_background=False needs the background value: pass background=")
    if types is None:
        labels = np.zeros(n, dtype=np.int64)
    else:
        labels = np.asarray(types)
        if labels.shape != (n,):
            raise ValueError(f"types must have one label per column ({n}), got shape {labels.shape}")
    tcode, tnames = pd.factorize(pd.Series(labels), sort=True)
    if np.any(tcode < 0):
        raise ValueError(f"{int((tcode < 0).sum())} column(s) have no type label (NaN or None); give every column a type")
    tcode = np.ascontiguousarray(tcode, dtype=np.int64)
    n_types = len(tnames)
    ys = np.ascontiguousarray(pos[:, 0] / p)
    xs = np.ascontiguousarray(pos[:, 1] / p)

    pairs, d = _close_pairs(np.column_stack([ys, xs]), 1.0)
    if len(pairs):
        _raise_close(pairs, d, p, p, "one pixel")

    problem = _Problem(img, n_sigma, fit_background, background)
    if n_threads is None:
        n_threads = _default_threads(img.size + 1000 * n)  # a window holds ~1000 pixels for 2-4 px widths
    with _LOCK, _threads(n_threads):
        # widths (pixels) per type
        if width is None:
            if not fit_width:
                raise ValueError("fit_width=False needs width= (Å)")
            ss_t = _scan_width(problem, ys, xs, tcode, n_types, cancel)
        elif isinstance(width, dict):
            missing = [t for t in tnames if t not in width]
            if missing:
                raise ValueError(f"width has no value for the type(s) {missing}; give one width (Å) per type")
            ss_t = np.array([float(width[t]) for t in tnames]) / p
        else:
            ss_t = np.full(n_types, float(width) / p)
        if not np.all(np.isfinite(ss_t) & (ss_t > 0)):
            raise ValueError(f"width must be positive (Å), got {width!r}")
        ss_t = np.maximum(ss_t, 0.3)

        # resolution check
        if min_separation is None:
            lim = MIN_SEPARATION_SIGMAS * float(ss_t.min())
            why = "half the FWHM of the columns' Gaussian"
        else:
            lim = float(min_separation) / p
            why = "min_separation"
        pairs, d = _close_pairs(np.column_stack([ys, xs]), lim)
        if len(pairs):
            _raise_close(pairs, d, p, lim * p, why)

        ss = np.ascontiguousarray(ss_t[tcode])
        vols, b, tab = problem.solve_linear(ys, xs, ss)
        model = problem.model(ys, xs, vols, ss, b)
        rss = problem.rss(model)

        tol_px = float(tol) / p
        n_total = int(max_iter) * (2 if weighting == "noise" else 1)
        it_done = 0
        converged = False
        passes = ["uniform"] + (["noise"] if weighting == "noise" else [])
        for pass_name in passes:
            if pass_name == "noise":
                hh, _, _ = problem.normals(model, vols, tab)
                alpha, beta = _noise_model(problem, model, hh, vols, tab)
                top = alpha + beta * float(np.abs(model).max())
                if not (beta > 0 and top > 0):
                    break  # the variance does not grow with the signal: uniform weights are right
                w = _inverse_variance(model, alpha, beta, 1e-6 * top)
                w *= 1.0 / float(w.mean())
                problem.set_weights(w)
                del w
                vols, b, tab = problem.solve_linear(ys, xs, ss)
                model = problem.model(ys, xs, vols, ss, b)
                rss = problem.rss(model)
            converged = False
            for _ in range(int(max_iter)):
                if cancel is not None and cancel():
                    raise FitCancelled(f"column fit cancelled after {it_done} iterations")
                hh, gg, _ = problem.normals(model, vols, tab)
                dpos, ds, _ok = _gauss_newton_step(hh, gg, vols, tcode, n_types, fit_width, ss_t)
                # no position step larger than half a width
                lim_step = 0.5 * ss
                dpos = np.clip(dpos, -lim_step[:, None], lim_step[:, None])
                scale = 1.0
                accepted = False
                for _halving in range(6):
                    ny = np.clip(ys + scale * dpos[:, 0], -0.5, img.shape[0] - 0.5)
                    nx = np.clip(xs + scale * dpos[:, 1], -0.5, img.shape[1] - 0.5)
                    nst = np.maximum(ss_t + scale * ds, 0.3)
                    nss = np.ascontiguousarray(nst[tcode])
                    nv, nb, ntab = problem.solve_linear(ny, nx, nss)
                    nmodel = problem.model(ny, nx, nv, nss, nb)
                    nrss = problem.rss(nmodel)
                    if nrss <= rss * (1 + 1e-12) or not np.isfinite(rss):
                        accepted = True
                        break
                    scale *= 0.5
                it_done += 1
                if progress is not None:
                    progress(min(it_done, n_total), n_total)
                if not accepted:
                    converged = True  # no step lowers the residual: at the minimum to numerical precision
                    break
                max_step = float(np.max(np.abs(ny - ys), initial=0.0)) if n else 0.0
                max_step = max(max_step, float(np.max(np.abs(nx - xs), initial=0.0)))
                rel_ds = float(np.max(np.abs(nst - ss_t) / ss_t))
                ys, xs, ss_t, ss, vols, b, model, rss, tab = ny, nx, nst, nss, nv, nb, nmodel, nrss, ntab
                if max_step < tol_px and rel_ds < 1e-5:
                    converged = True
                    break

        # standard errors
        hh, _, _ = problem.normals(model, vols, tab)
        alpha, beta = _noise_model(problem, model, hh, vols, tab)
        hh, _, mm = problem.normals(model, vols, tab, alpha, beta, True)
        cov = _sandwich(hh[:, :3, :3], mm)
    if progress is not None:
        progress(n_total, n_total)

    err = np.sqrt(np.clip(np.einsum("nii->ni", cov), 0, None))
    border_px = BORDER_SIGMAS * ss
    h, w = img.shape
    border = (
        (ys + 0.5 < border_px)
        | (xs + 0.5 < border_px)
        | (h - 0.5 - ys < border_px)
        | (w - 0.5 - xs < border_px)
    )
    a_pix = p * p
    width_a = ss * p
    table = pd.DataFrame(
        {
            "y": ys * p,
            "x": xs * p,
            "volume": vols * a_pix,
            "height": vols / (2 * np.pi * ss**2),
            "width": width_a,
            "type": labels,
            "y_err": err[:, 0] * p,
            "x_err": err[:, 1] * p,
            "volume_err": err[:, 2] * a_pix,
            "border": border,
        }
    )
    table.attrs.update(
        {
            "background": float(b),
            "pixel_size": p,
            "widths": {(t.item() if hasattr(t, "item") else t): float(s * p) for t, s in zip(tnames, ss_t)},
            "noise_alpha": alpha,
            "noise_beta": beta,
            "rss": float(rss),
            "n_iter": int(it_done),
            "converged": bool(converged),
            "weighting": weighting,
            "n_sigma": float(n_sigma),
        }
    )
    return table


def _sandwich(p3, m3):
    """(P⁻¹ M P⁻¹) per column; NaN where P is singular."""
    cov = np.full_like(p3, np.nan)
    ok = np.all(np.isfinite(p3), axis=(1, 2)) & (np.linalg.det(p3) > 0)
    if ok.any():
        pinv = np.linalg.inv(p3[ok])
        cov[ok] = pinv @ m3[ok] @ pinv
    return cov


def model_image(shape, pixel_size, table, background=None, *, n_sigma=None):
    """The model image of a fit: background plus every column's Gaussian.

    Parameters
    ----------
    shape : (H, W)
        Image shape, pixels.
    pixel_size : float
        Å per pixel.
    table : pandas.DataFrame
        A table from :func:`fit_columns` (``y``, ``x``, ``width`` in Å,
        ``volume`` in image units × Å²).
    background : float, optional
        Constant background, image units; default ``table.attrs["background"]``
        (0 when absent).
    n_sigma : float, optional
        Window of each Gaussian, in widths; default the fit's.

    Returns
    -------
    (H, W) float64 ndarray
        The model, drawn with :func:`~napari_nxtomo.core.simulate.render_gaussians`
        (pixel-integrated Gaussians, the same as the fit's).  The residual is
        ``image - model_image(...)``.
    """
    p = _check_pixel_size(pixel_size)
    if background is None:
        background = table.attrs.get("background", 0.0)
    if n_sigma is None:
        n_sigma = table.attrs.get("n_sigma", N_SIGMA)
    ys = np.ascontiguousarray(np.asarray(table["y"], dtype=np.float64) / p)
    xs = np.ascontiguousarray(np.asarray(table["x"], dtype=np.float64) / p)
    vols = np.ascontiguousarray(np.asarray(table["volume"], dtype=np.float64) / (p * p))
    ss = np.ascontiguousarray(np.asarray(table["width"], dtype=np.float64) / p)
    return _render(tuple(int(v) for v in shape), ys, xs, vols, ss, float(background), n_sigma)
