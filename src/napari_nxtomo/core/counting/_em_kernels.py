"""numba kernels of the 1D Gaussian mixtures: the E-step and the EM iteration.

One E-step serves every mixture of the package: each point has its own
known variance e_i² (zeros for a common width) and a multiplicity (ones for
raw data, cell counts for binned data, :mod:`.binning`).  The drivers are
:func:`.mixture.fit_gmm` and the curve mixtures of :mod:`.curve`.  The kernels
release the GIL (``nogil``), so independent fits run on threads
(:func:`napari_nxtomo.core._parallel.thread_map`).  The hybrid's mixture (one
scale over a library's values) has its screen of scales and a SQUAREM
acceleration of its EM here too.
"""

from __future__ import annotations

import numba
import numpy as np

#: a class whose term lies this far below a point's largest adds less than half an ulp to the point's sum (e^-37 <
#: 2^-53): its exp is skipped, and its posterior set to 0
EXP_FLOOR = -37.0


@numba.njit(cache=True, nogil=True)
def _e_step_nb(x, e2, cw, means, weights, s2, post, logp):
    """Fill ``post`` with t_ik and ``logp`` with ln p(x_i) for component variances s² + e_i²; return Σ_i cw_i ln p(x_i).

    ``e2`` are the points' known variances (zeros for the common-width
    mixture of width sqrt(s2)); ``cw`` their multiplicities (ones for raw
    data, counts for binned data).
    """
    n, k = post.shape
    lw = np.empty(k)
    for j in range(k):  # an empty class: ln 0 = -inf, whose exp below is 0
        lw[j] = np.log(weights[j]) if weights[j] > 0.0 else -np.inf
    ll = 0.0
    for i in range(n):
        v = s2 + e2[i]
        half_iv = 0.5 / v
        c = -0.5 * np.log(2.0 * np.pi * v)
        mx = -np.inf
        for j in range(k):
            d = x[i] - means[j]
            val = lw[j] - d * d * half_iv + c
            post[i, j] = val
            mx = max(mx, val)
        tot = 0.0
        for j in range(k):
            u = post[i, j] - mx
            ex = np.exp(u) if u > EXP_FLOOR else 0.0
            post[i, j] = ex
            tot += ex
        inv = 1.0 / tot
        for j in range(k):
            post[i, j] *= inv
        logp[i] = mx + np.log(tot)
        ll += cw[i] * logp[i]
    return ll


@numba.njit(cache=True, nogil=True)
def _s2_moment(x, e2, cw, post, means, s2):
    """Σ_i cw_i Σ_k t_ik E[(y_i - μ_k)² | x_i]: the posterior second moment behind the M-step of s²
    (y_i the column's true value, shrunk towards μ_k by s² / (s² + e_i²))."""
    acc = 0.0
    for i in range(x.size):
        v = s2 + e2[i]
        shrink = s2 / v
        sq = 0.0
        mass = 0.0
        for j in range(means.size):
            d = x[i] - means[j]
            sq += post[i, j] * d * d
            mass += post[i, j]
        acc += cw[i] * (shrink * shrink * sq + s2 * e2[i] / v * mass)
    return acc


@numba.njit(cache=True, nogil=True)
def _em_nb(x, e2, cw, means, weights, s2, max_iter, tol, s2_floor, fixed_means):
    """EM for a 1D mixture with per-point known variances e_i² plus one common extra variance s².

    "Extreme deconvolution" (Bovy, Hogg & Roweis 2011) in one dimension:
    x_i = v_i + ε_i with ε_i ~ N(0, e_i²) known and the true value v_i ~
    Σ_k τ_k N(μ_k, s²).  Each iteration: E-step (t_ik); τ_k = mean of t_ik;
    μ_k the t_ik/(s² + e_i²)-weighted mean of x (the exact maximiser for the
    current s²); s² from the posterior moments of v_i (b_ik - μ_k =
    s²/(s²+e_i²) (x_i - μ_k), posterior variance s² e_i²/(s² + e_i²)).  Every
    step raises the likelihood.  ``cw`` are multiplicities (1 for raw data;
    cell counts for binned data).  With e_i = 0 this is the plain
    common-width mixture (width s); with ``fixed_means`` only the weights and
    s² are fitted.

    Returns means, weights, s², ln L, posterior, iterations, converged.
    """
    n = x.size
    k = means.size
    ntot = 0.0
    for i in range(n):
        ntot += cw[i]
    means = means.copy()
    weights = weights.copy()
    post = np.empty((n, k))
    logp = np.empty(n)
    ll_old = -np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        ll = _e_step_nb(x, e2, cw, means, weights, s2, post, logp)
        for j in range(k):
            nk = 0.0
            sw = 0.0
            sx = 0.0
            for i in range(n):
                t = cw[i] * post[i, j]
                w = t / (s2 + e2[i])
                nk += t
                sw += w
                sx += w * x[i]
            weights[j] = nk / ntot
            if not fixed_means and sw > 0.0 and nk > 1e-12:
                means[j] = sx / sw
        s2 = max(_s2_moment(x, e2, cw, post, means, s2) / ntot, s2_floor)
        if abs(ll - ll_old) <= tol * (1.0 + abs(ll)):
            converged = True
            break
        ll_old = ll
    ll = _e_step_nb(x, e2, cw, means, weights, s2, post, logp)
    return means, weights, s2, ll, post, it, converged


@numba.njit(cache=True, nogil=True)
def _scaled_step(x, e2, cw, values, c, s2, weights, post, logp, fix_c, s2_floor):
    """One EM iteration of the hybrid mixture from (c, s², weights): ln L at them, and the next (c, s²); the weights
    are updated in place.  τ_k = mean of t_ik; c = Σ t_ik x_i L_k / v_i / Σ t_ik L_k² / v_i (v_i = s² + e_i², the
    exact maximiser at the current s²) unless ``fix_c``; s² from the posterior moments as in :func:`_em_nb`."""
    n, k = post.shape
    ll = _e_step_nb(x, e2, cw, c * values, weights, s2, post, logp)
    weights[:] = 0.0
    num = 0.0
    den = 0.0
    for i in range(n):  # τ_k, and the weighted sums of the scale's update, in one pass
        a = 0.0
        b = 0.0
        for j in range(k):
            p = post[i, j]
            weights[j] += p
            a += p * values[j]
            b += p * values[j] * values[j]
        iv = 1.0 / (s2 + e2[i])
        num += x[i] * a * iv
        den += b * iv
    weights /= n
    if not fix_c and den > 0.0:
        c = num / den
    return ll, c, max(_s2_moment(x, e2, cw, post, c * values, s2) / n, s2_floor)


@numba.njit(cache=True, nogil=True)
def _scaled_em_nb(x, e2, values, c, s2, weights, max_iter, tol, s2_floor, fix_c):
    """EM of the hybrid mixture: class means c · values_k (one scale c), variances s² + e_i², free weights.

    Starts from the weights given (summing to one) and s²; iterates :func:`_scaled_step` until ln L changes by at
    most ``tol`` (relative) or ``max_iter`` E-steps.
    Returns c, weights, s², ln L, posterior, iterations, converged.
    """
    n = x.size
    cw = np.ones(n)
    weights = weights.copy()
    post = np.empty((n, values.size))
    logp = np.empty(n)
    ll_old = -np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        ll, c, s2 = _scaled_step(x, e2, cw, values, c, s2, weights, post, logp, fix_c, s2_floor)
        if abs(ll - ll_old) <= tol * (1.0 + abs(ll)):
            converged = True
            break
        ll_old = ll
    ll = _e_step_nb(x, e2, cw, c * values, weights, s2, post, logp)
    return c, weights, s2, ll, post, it, converged


@numba.njit(cache=True, nogil=True)
def _scaled_squarem_nb(x, e2, values, c, s2, weights, max_iter, tol, s2_floor, fix_c):
    """:func:`_scaled_em_nb` accelerated by SQUAREM (Varadhan & Roland 2008, step length S3).

    Where the classes overlap the plain EM creeps along a flat ridge of the likelihood (a class emptying, the scale
    and s² drifting; hundreds of iterations, many of the hybrid's windows not converged in 500).  Each cycle takes
    two EM steps θ1 = F(θ0), θ2 = F(θ1), extrapolates θ' = θ0 - 2α r + α² v (r = θ1 - θ0, v = θ2 - 2θ1 + θ0,
    α = -|r| / |v|, at most -1), and goes on from F(θ') when ln L(θ') ≥ ln L(θ1), else from θ2 (so ln L never
    falls).  A jump that would empty a class the EM keeps, or leave c > 0 and s² ≥ ``s2_floor``, steps back towards
    θ2 (α halved towards -1).  The fixed points are the EM's; ``max_iter`` counts E-steps.  Returns as
    :func:`_scaled_em_nb`.
    """
    n = x.size
    k = values.size
    cw = np.ones(n)
    w0 = weights.copy()
    w1 = np.empty(k)
    w2 = np.empty(k)
    wx = np.empty(k)
    post = np.empty((n, k))
    logp = np.empty(n)
    converged = False
    it = 0
    while it < max_iter:
        w1[:] = w0
        ll0, c1, s21 = _scaled_step(x, e2, cw, values, c, s2, w1, post, logp, fix_c, s2_floor)
        w2[:] = w1
        ll1, c2, s22 = _scaled_step(x, e2, cw, values, c1, s21, w2, post, logp, fix_c, s2_floor)
        it += 2
        if abs(ll1 - ll0) <= tol * (1.0 + abs(ll1)):
            c, s2, w0[:] = c2, s22, w2
            converged = True
            break
        # the parameters in units of their size: c and s² relative, the weights as they are
        rr = ((c1 - c) / c) ** 2 + ((s21 - s2) / s2) ** 2
        vv = ((c2 - 2 * c1 + c) / c) ** 2 + ((s22 - 2 * s21 + s2) / s2) ** 2
        for j in range(k):
            rr += (w1[j] - w0[j]) ** 2
            vv += (w2[j] - 2 * w1[j] + w0[j]) ** 2
        alpha = min(-np.sqrt(rr / vv), -1.0) if vv > 0.0 else -1.0
        ok = False
        for _ in range(20):  # step back towards θ2 (α = -1) until every weight stays positive, c > 0, s² ≥ floor
            a1, a2 = -2.0 * alpha, alpha * alpha  # θ' = θ0 + a1 r + a2 v
            cx = c + a1 * (c1 - c) + a2 * (c2 - 2 * c1 + c)
            s2x = s2 + a1 * (s21 - s2) + a2 * (s22 - 2 * s21 + s2)
            ok = cx > 0.0 and s2x >= s2_floor
            for j in range(k):
                wx[j] = w0[j] + a1 * (w1[j] - w0[j]) + a2 * (w2[j] - 2 * w1[j] + w0[j]) if w2[j] > 0.0 else 0.0
                ok = ok and (wx[j] > 0.0 or w2[j] <= 0.0)  # a class the EM keeps is not emptied by a jump
            if ok or alpha == -1.0:
                break
            alpha = 0.5 * (alpha - 1.0)
            if alpha > -1.0 - 1e-3:
                alpha = -1.0
        if ok and alpha < -1.0 and it < max_iter:
            wx /= wx.sum()
            llx, cn, s2n = _scaled_step(x, e2, cw, values, cx, s2x, wx, post, logp, fix_c, s2_floor)
            it += 1
            if llx >= ll1:
                c, s2, w0[:] = cn, s2n, wx
                continue
        c, s2, w0[:] = c2, s22, w2
    ll = _e_step_nb(x, e2, cw, c * values, w0, s2, post, logp)
    return c, w0, s2, ll, post, it, converged


@numba.njit(cache=True, nogil=True)
def _start_nb(x, values, c, s2_floor):
    """The hybrid EM's start at scale c: (weights, r², s²_min) with the weights the fractions of columns nearest each
    class (each at least one column), r² the mean squared distance to the nearest class, and s²_min the least start
    of s² (a twentieth of the classes' smallest gap, squared, and ``s2_floor``)."""
    n = x.size
    k = values.size
    w = np.ones(k)
    r2 = 0.0
    for i in range(n):
        best = np.inf
        jb = 0
        for j in range(k):
            d2 = (x[i] - c * values[j]) ** 2
            if d2 < best:
                best = d2
                jb = j
        w[jb] += 1.0
        r2 += best
    w /= w.sum()
    gap = 0.1 * c * values[0]  # one class
    if k > 1:
        gap = np.inf
        for j in range(1, k):
            gap = min(gap, c * values[j] - c * values[j - 1])
    return w, r2 / n, max((0.05 * gap) ** 2, s2_floor)


@numba.njit(cache=True, nogil=True)
def _screen_scales_nb(x, e2, values, grid, n_iter, tol, s2_floor):
    """ln L of the hybrid mixture at each scale of ``grid`` (c held), after ``n_iter`` EM steps of the weights and
    s² from :func:`_start_nb` at that scale (s² = r²).  The screen of :func:`.hybrid._fit_window`."""
    out = np.empty(grid.size)
    for g in range(grid.size):
        w, r2, s2_min = _start_nb(x, values, grid[g], s2_floor)
        out[g] = _scaled_em_nb(x, e2, values, grid[g], max(r2, s2_min), w, n_iter, tol, s2_floor, True)[3]
    return out
