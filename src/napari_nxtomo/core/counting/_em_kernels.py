"""numba kernels of the 1D Gaussian mixtures: the E-step and the EM iteration.

One E-step serves every mixture of the package: each point has its own
known variance e_i² (zeros for a common width) and a multiplicity (ones for
raw data, cell counts for binned data, :mod:`.binning`).  The drivers are
:func:`.mixture.fit_gmm` and the curve mixtures of :mod:`.curve`.  The kernels
release the GIL (``nogil``), so independent fits run on threads
(:func:`napari_nxtomo.core._parallel.thread_map`).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _e_step_nb(x, e2, cw, means, weights, s2, post, logp):
    """Fill ``post`` with t_ik and ``logp`` with ln p(x_i) for component variances s² + e_i²; return Σ_i cw_i ln p(x_i).

    ``e2`` are the points' known variances (zeros for the common-width
    mixture of width sqrt(s2)); ``cw`` their multiplicities (ones for raw
    data, counts for binned data).
    """
    n, k = post.shape
    lw = np.empty(k)
    for j in range(k):
        lw[j] = np.log(weights[j]) if weights[j] > 0.0 else -np.inf
    ll = 0.0
    for i in range(n):
        v = s2 + e2[i]
        c = -0.5 * np.log(2.0 * np.pi * v)
        mx = -np.inf
        for j in range(k):
            if weights[j] > 0.0:
                d = x[i] - means[j]
                val = lw[j] - 0.5 * d * d / v + c
            else:
                val = -np.inf
            post[i, j] = val
            if val > mx:
                mx = val
        tot = 0.0
        for j in range(k):
            ex = np.exp(post[i, j] - mx) if post[i, j] > -np.inf else 0.0
            post[i, j] = ex
            tot += ex
        for j in range(k):
            post[i, j] /= tot
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
        extra = s2 * e2[i] / v
        for j in range(means.size):
            d = shrink * (x[i] - means[j])
            acc += cw[i] * post[i, j] * (d * d + extra)
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
def _scaled_em_nb(x, e2, values, c, s2, weights, max_iter, tol, s2_floor, fix_c):
    """EM of the hybrid mixture: class means c · values_k (one scale c), variances s² + e_i², free weights.

    Starts from the weights given (summing to one) and s².
    Each iteration: E-step; τ_k = mean of t_ik; c = Σ t_ik x_i L_k / v_i / Σ t_ik L_k² / v_i (v_i = s² + e_i²,
    the exact maximiser at the current s²) unless ``fix_c``; s² from the posterior moments as in :func:`_em_nb`.
    Returns c, weights, s², ln L, posterior, iterations, converged.
    """
    n = x.size
    k = values.size
    cw = np.ones(n)
    weights = weights.copy()
    post = np.empty((n, k))
    logp = np.empty(n)
    ll_old = -np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        ll = _e_step_nb(x, e2, cw, c * values, weights, s2, post, logp)
        for j in range(k):
            nk = 0.0
            for i in range(n):
                nk += post[i, j]
            weights[j] = nk / n
        if not fix_c:
            num = 0.0
            den = 0.0
            for i in range(n):
                v = s2 + e2[i]
                for j in range(k):
                    num += post[i, j] * x[i] * values[j] / v
                    den += post[i, j] * values[j] * values[j] / v
            if den > 0.0:
                c = num / den
        s2 = max(_s2_moment(x, e2, cw, post, c * values, s2) / n, s2_floor)
        if abs(ll - ll_old) <= tol * (1.0 + abs(ll)):
            converged = True
            break
        ll_old = ll
    ll = _e_step_nb(x, e2, cw, c * values, weights, s2, post, logp)
    return c, weights, s2, ll, post, it, converged
