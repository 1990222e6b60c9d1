"""numba kernels of the Gauss-Newton normal equations, the leverage and the noise moments.

Pixel units throughout; the columns' windows and profiles come from
:func:`~napari_nxtomo.core.fitting.profile_kernels._tabulate`.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange


@numba.njit(parallel=True, cache=True)
def _column_normals(img, model, w, use_w, vols, win, offy, offx, ty, tx, alpha, beta, want_meat):
    """Per-column Gauss-Newton blocks for (y, x, V, s).

    Returns H (N, 4, 4) = Jᵀ W J, g (N, 4) = Jᵀ W r with r = img - model, and
    (when ``want_meat``) M (N, 3, 3) = Jᵀ W Σ W J for (y, x, V) with the pixel
    variance Σ = alpha + beta * model.  Without weights and without M, the
    separable structure of the Gaussians turns the 2D sums into 1D ones
    (:func:`_separable_block`); else every pixel is visited (:func:`_pixel_block`).
    """
    n = win.shape[0]
    hh = np.zeros((n, 4, 4))
    gg = np.zeros((n, 4))
    mm = np.zeros((n, 3, 3)) if want_meat else np.zeros((1, 3, 3))
    for c in prange(n):
        y0, y1, x0, x1 = win[c, 0], win[c, 1], win[c, 2], win[c, 3]
        if y1 - y0 <= 0 or x1 - x0 <= 0:
            continue
        py = ty[0, offy[c] : offy[c + 1]]
        dpy = ty[1, offy[c] : offy[c + 1]]
        spy = ty[2, offy[c] : offy[c + 1]]
        px = tx[0, offx[c] : offx[c + 1]]
        dpx = tx[1, offx[c] : offx[c + 1]]
        spx = tx[2, offx[c] : offx[c + 1]]
        a = np.zeros((4, 4))
        gv = np.zeros(4)
        if not use_w and not want_meat:
            _separable_block(img, model, y0, x0, py, dpy, spy, px, dpx, spx, vols[c], a, gv)
        else:
            m3 = np.zeros((3, 3))
            _pixel_block(
                img, model, w, use_w, y0, x0, py, dpy, spy, px, dpx, spx, vols[c], alpha, beta, want_meat, a, gv, m3
            )
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


@numba.njit(cache=True)
def _profile_moments(p, dp, sp):
    """Symmetric (3, 3) sums Σ_i t_k(i) t_l(i) of a column's 1D profiles t = (p, dp, sp)."""
    s = np.zeros((3, 3))
    for i in range(p.shape[0]):
        t0, t1, t2 = p[i], dp[i], sp[i]
        s[0, 0] += t0 * t0
        s[0, 1] += t0 * t1
        s[0, 2] += t0 * t2
        s[1, 1] += t1 * t1
        s[1, 2] += t1 * t2
        s[2, 2] += t2 * t2
    for k in range(3):
        for m in range(k):
            s[k, m] = s[m, k]
    return s


@numba.njit(cache=True)
def _separable_block(img, model, y0, x0, py, dpy, spy, px, dpx, spx, v, a, gv):
    """Unweighted normal block ``a`` (upper triangle) and gradient ``gv`` of one column, from 1D sums.

    ``py``, ``dpy``, ``spy`` (ny,) and ``px``, ``dpx``, ``spx`` (nx,) are the
    column's profiles (value, d/dcentre, d/dwidth) over its window, which
    starts at pixel (y0, x0); ``v`` is its volume.
    """
    # u_k(i) = Σ_j r_ij b_k(j) for b = px, dpx, spx
    g00 = 0.0  # Σ py u_p
    g10 = 0.0  # Σ dpy u_p
    g20 = 0.0  # Σ spy u_p
    g01 = 0.0  # Σ py u_d
    g02 = 0.0  # Σ py u_s
    for i in range(py.shape[0]):
        up = 0.0
        ud = 0.0
        us = 0.0
        for j in range(px.shape[0]):
            r = img[y0 + i, x0 + j] - model[y0 + i, x0 + j]
            up += r * px[j]
            ud += r * dpx[j]
            us += r * spx[j]
        g00 += py[i] * up
        g10 += dpy[i] * up
        g20 += spy[i] * up
        g01 += py[i] * ud
        g02 += py[i] * us
    sy = _profile_moments(py, dpy, spy)
    sx = _profile_moments(px, dpx, spx)
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


@numba.njit(cache=True)
def _pixel_block(img, model, w, use_w, y0, x0, py, dpy, spy, px, dpx, spx, v, alpha, beta, want_meat, a, gv, m3):
    """Weighted normal block ``a`` (upper triangle), gradient ``gv`` and meat ``m3`` of one column, pixel by pixel.

    Arguments as :func:`_separable_block`; ``m3`` (upper triangle) is filled
    only when ``want_meat``.
    """
    jj = np.empty(4)
    for i in range(py.shape[0]):
        for j in range(px.shape[0]):
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

