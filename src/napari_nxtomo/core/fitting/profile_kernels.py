"""numba kernels of the column model: pixel-integrated Gaussian profiles, the linear terms.

Pixel units throughout.  Each column's Gaussian is separable: the outer
product of two 1D profiles (value, d/dcentre, d/dwidth), tabulated once per
set of positions and widths by :func:`_tabulate` and read by every other
kernel of the fit.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

_SQRT_PI = math.sqrt(math.pi)


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
def _weighted_rss(img, model, w, use_w):
    """Σ w (img - model)² over all pixels (w = 1 when not ``use_w``)."""
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
def _inverse_variance(model, alpha, beta, floor):
    """Pixel weights 1 / (alpha + beta * model), the variance floored at ``floor``."""
    h, wd = model.shape
    out = np.empty((h, wd))
    for i in prange(h):
        for j in range(wd):
            v = alpha + beta * model[i, j]
            out[i, j] = 1.0 / (v if v > floor else floor)
    return out



@numba.njit(parallel=True, cache=True)
def _basis_terms(w, use_w, win, offy, offx, ty, tx, py, px, ay, ax):
    """Per column c and background term k: Σ w g_c φ_k over c's window, φ_k(y, x) = py[ay[k], y] · px[ax[k], x]."""
    n = win.shape[0]
    nk = ay.shape[0]
    out = np.zeros((n, nk))
    for c in prange(n):
        y0, y1, x0, x1 = win[c, 0], win[c, 1], win[c, 2], win[c, 3]
        oy, ox = offy[c], offx[c]
        for k in range(nk):
            a, b = ay[k], ax[k]
            acc = 0.0
            if use_w:
                for i in range(y1 - y0):
                    pyi = ty[0, oy + i] * py[a, y0 + i]
                    for j in range(x1 - x0):
                        acc += w[y0 + i, x0 + j] * pyi * tx[0, ox + j] * px[b, x0 + j]
            else:
                sy = 0.0
                for i in range(y1 - y0):
                    sy += ty[0, oy + i] * py[a, y0 + i]
                sx = 0.0
                for j in range(x1 - x0):
                    sx += tx[0, ox + j] * px[b, x0 + j]
                acc = sy * sx
            out[c, k] = acc
    return out
