"""Atom counting from scattering cross-sections (step 3 of the workflow).

The fitted volume of a column's Gaussian peak is its *scattering
cross-section* σ (Å²), which grows with the number of atoms in the column.
This module turns a set of cross-sections into integer atom counts.  Entry
point: :func:`count_atoms`; mixed Pb/Se columns: :func:`pb_counts_mixed`.

Gaussian mixture with one common width (StatSTEM's method, the default)
-----------------------------------------------------------------------
The cross-sections ``x_i`` (i = 1..N) are modelled as draws from

    p(x) = Σ_k τ_k N(x | μ_k, s²),      k = 1..K

(one mean per class of columns with equal counts, weights τ_k summing to one,
and *one* standard deviation ``s`` for all components: the spread comes from
the noise and the fit, not from the class).  For every K = 1..``max_components``
the mixture is fitted by expectation-maximisation from several deterministic
starts: quantiles of the data, evenly spaced means, three k-means++ draws from
a generator seeded with ``seed``, and the best (K-1)-component fit grown by
one component (at the worst-explained value, or by splitting one of the three
components with the largest scatter).  Every start runs 40 EM iterations; the
two most likely run to convergence; the most likely is kept.

Choice of K: integrated classification likelihood
-------------------------------------------------
With the posterior probabilities ``t_ik = τ_k N(x_i|μ_k,s²) / p(x_i)`` the
criterion is

    ICL(K) = -2 ln L + d ln N - 2 Σ_i Σ_k z_ik ln t_ik ,      d = 2K

where ``ln L = Σ_i ln p(x_i)`` (natural logarithms throughout),
``d = K means + (K-1) weights + 1 width = 2K`` free parameters, and

* ``entropy="soft"`` (default): ``z_ik = t_ik``, so the last term is twice the
  classification entropy EN = -Σ Σ t_ik ln t_ik ≥ 0 (McLachlan & Peel's
  form, as we read De Backer et al., Ultramicroscopy 2013, for StatSTEM);
* ``entropy="hard"``: ``z_ik`` is 1 for the most probable component of x_i
  and 0 otherwise (Biernacki, Celeux & Govaert 2000: -2 × the classification
  log-likelihood at the MAP labels, plus the BIC penalty).

The K with the smallest ICL is chosen unless ``n_components`` forces one;
other local minima within 10 of the smallest are named in ``notes``.

Error-aware mixture (when the columns' standard errors are known)
-----------------------------------------------------------------
With the fitted standard error e_i of each cross-section (``volume_err`` of
the fit table, which :func:`count_atoms` takes by itself) the components
are N(μ_k, s² + e_i²): each column its own known variance plus one common
extra variance s² (scatter the fit does not see: unconverged frozen-phonon
averages, strain, surface relaxation), fitted by the EM of "extreme
deconvolution" (Bovy, Hogg & Roweis 2011) in one dimension.  d = 2K as
above.  A fit whose extra spread is far above the errors has classes several
count steps wide, so K is the ICL minimum among the fits with
s ≤ ``RESOLVED_FACTOR`` (2) × the median error (all K when none does); on a
few dozen columns in many classes the unrestricted ICL prefers one broad
class (``_count_gmm`` gives the reasoning).
Components are sorted by mean; column i gets the component of largest
``t_ik``; ``count = lowest_count + component index`` (the components are
assumed to be consecutive counts, as in StatSTEM).  When ``lowest_count`` is
not given it is inferred from the proportionality of σ to the count near
zero (:func:`infer_lowest_count`), 1 when that is ambiguous.

Classes on a cross-section curve (``model="curve"``, and mixed columns)
-----------------------------------------------------------------------
One class per count n with mean g(n) = c_1 n + c_2 n² (g(0) = 0, mildly
concave), one common width, free weights; see :func:`pb_counts_mixed`.  A
noise split of one class, which the free mixture sometimes prefers, cannot
happen, and the absolute count needs no guess.

Library
-------
With ``library`` (simulated cross-sections per atom count) no mixture is
fitted: each column gets the count whose library value is nearest (for one
common noise width this is also the maximum-likelihood count with equal
prior weights); the width reported is the RMS residual.

Speed
-----
The EM kernels are numba-compiled (cached).  Above 3000 columns the EM runs on
the data binned into 2048 bins (bin means with their counts: the bin width is
far below any resolvable class width); posteriors, likelihood and ICL are
always computed on the raw values.  10 000 columns take a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numba
import numpy as np
import pandas as pd

__all__ = [
    "CountResult",
    "count_atoms",
    "fit_gmm",
    "GMMFit",
    "icl_criterion",
    "infer_lowest_count",
    "local_minima",
    "pb_counts_mixed",
    "SE_RATIO_Z2",
    "SE_RATIO_BOUNDS",
    "RESOLVED_FACTOR",
]

_LOG_2PI = np.log(2.0 * np.pi)


# --------------------------------------------------------------------------
# validation


def _as_volumes(volumes, what: str = "volumes") -> np.ndarray:
    """1D float array of cross-sections, or a ValueError saying what is wrong."""
    if isinstance(volumes, pd.DataFrame):
        if "volume" not in volumes.columns:
            raise ValueError(
                f"the table given as {what} has no 'volume' column (columns: {list(volumes.columns)}); "
                "pass the fitted cross-sections (Å²) as an array or a table from fit_columns"
            )
        volumes = volumes["volume"]
    try:
        x = np.asarray(volumes, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be numbers (cross-sections in Å²): {exc}") from exc
    if x.ndim == 0:
        x = x.reshape(1)
    if x.ndim != 1:
        x = np.squeeze(x)
        if x.ndim != 1:
            raise ValueError(f"{what} must be one value per column (a 1D array), got shape {np.shape(volumes)}")
    if x.size == 0:
        raise ValueError(f"no {what} to count: fit some columns first (the points layer or the array is empty)")
    bad = ~np.isfinite(x)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise ValueError(
            f"{bad.sum()} of {x.size} {what} are NaN or infinite (first at index {idx[0]}): "
            "refit or delete those columns before counting"
        )
    neg = x < 0
    if neg.any():
        idx = np.flatnonzero(neg)
        raise ValueError(
            f"{neg.sum()} of {x.size} {what} are negative (first at index {idx[0]}: {x[idx[0]]:.4g} Å²); "
            "a cross-section is a scattered fraction and cannot be negative: check the fit "
            "(background, a column off the particle) and delete or refit those columns"
        )
    return x


def _check_k(n: int, k: int, label: str = "") -> None:
    if k < 1:
        raise ValueError(f"the number of mixture components must be at least 1, got {k}")
    if n < k:
        raise ValueError(
            f"{n} columns{label} cannot be split into {k} mixture components: "
            "use fewer components (max_components / n_components) or fit more columns"
        )


# --------------------------------------------------------------------------
# Gaussian mixture with a common width, by EM


@dataclass
class GMMFit:
    """A 1D Gaussian mixture with one common standard deviation.

    Attributes
    ----------
    means : (K,) ndarray
        Component means, sorted ascending (units of the data, Å²).
    weights : (K,) ndarray
        Mixing proportions τ_k, summing to one.
    sigma : float
        Common standard deviation (units of the data).
    log_likelihood : float
        ln L = Σ_i ln p(x_i).
    posterior : (N, K) ndarray
        t_ik, the probability that x_i belongs to component k.
    n_iter : int
        EM iterations of the kept start.
    converged : bool
    extra_sigma : float or None
        Error-aware fits (``fit_gmm(..., errors=e)``): the common extra
        standard deviation s; column i's component width is sqrt(s² + e_i²)
        and ``sigma`` is then the typical width sqrt(s² + median(e²)).
        None for the plain common-width mixture.
    """

    means: np.ndarray
    weights: np.ndarray
    sigma: float
    log_likelihood: float
    posterior: np.ndarray
    n_iter: int = 0
    converged: bool = True
    extra_sigma: float | None = None

    @property
    def n_components(self) -> int:
        return int(self.means.size)


@numba.njit(cache=True)
def _e_step_nb(x, e2, cw, means, weights, s2, post):
    """Fill ``post`` with t_ik for component variances s² + e_i²; return Σ_i cw_i ln p(x_i) (numba kernel).

    ``e2`` are the points' known variances (zeros for the common-width
    mixture of width sqrt(s2)); ``cw`` their multiplicities (ones for raw
    data, counts for binned data).
    """
    n, k = post.shape
    ll = 0.0
    for i in range(n):
        v = s2 + e2[i]
        c = -0.5 * np.log(2.0 * np.pi * v)
        mx = -np.inf
        for j in range(k):
            if weights[j] > 0.0:
                d = x[i] - means[j]
                val = np.log(weights[j]) - 0.5 * d * d / v + c
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
        ll += cw[i] * (mx + np.log(tot))
    return ll


@numba.njit(cache=True)
def _em_nb(x, e2, cw, means, weights, s2, max_iter, tol, s2_floor, fixed_means):
    """EM for a 1D mixture with per-point known variances e_i² plus one common extra variance s² (numba).

    "Extreme deconvolution" in one dimension: x_i = v_i + ε_i with ε_i ~
    N(0, e_i²) known and the true value v_i ~ Σ_k τ_k N(μ_k, s²).  Each
    iteration: E-step (t_ik); τ_k = mean of t_ik; μ_k the t_ik/(s² + e_i²)-
    weighted mean of x (the exact maximiser for the current s²); s² from the
    posterior moments of v_i (b_ik - μ_k = s²/(s²+e_i²) (x_i - μ_k), posterior
    variance s² e_i²/(s² + e_i²)).  Every step raises the likelihood.
    ``cw`` are multiplicities (1 for raw data; cell counts for binned data).
    With e_i = 0 this is the plain common-width mixture (width s); with
    ``fixed_means`` only the weights and s² are fitted.

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
    ll_old = -np.inf
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        ll = _e_step_nb(x, e2, cw, means, weights, s2, post)
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
        acc = 0.0
        for i in range(n):
            v = s2 + e2[i]
            shrink = s2 / v
            for j in range(k):
                d = shrink * (x[i] - means[j])
                acc += cw[i] * post[i, j] * (d * d + s2 * e2[i] / v)
        s2 = max(acc / ntot, s2_floor)
        if abs(ll - ll_old) <= tol * (1.0 + abs(ll)):
            converged = True
            break
        ll_old = ll
    ll = _e_step_nb(x, e2, cw, means, weights, s2, post)
    return means, weights, s2, ll, post, it, converged


#: above this many columns the EM runs on the data binned into this many bins
_BIN_ABOVE = 3000
_N_BINS = 2048


#: quantile groups of the errors when the error-aware EM bins its data
_N_ERR_GROUPS = 8


def _compress(x, e2=None):
    """(values, variances, multiplicities) for the EM: the data, or for large N cell means and counts.

    Above ``_BIN_ABOVE`` values the data go into cells.  Without variances
    (common-width mixture): ``_N_BINS`` equal bins of x, far narrower than any
    resolvable class (the within-bin spread adds h²/12 to the variance).
    With variances e² (error-aware mixture): x in equal bins of a quarter of
    the median error (at most ``_N_BINS``; at most e²/192 added) times
    ``_N_ERR_GROUPS`` quantile groups of e², each cell carrying its mean e².
    The final posteriors and likelihood are always computed on the raw data.
    """
    x = np.ascontiguousarray(x, dtype=float)
    e2 = None if e2 is None else np.ascontiguousarray(e2, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    if x.size <= _BIN_ABOVE or hi <= lo:
        return x, e2, np.ones(x.size)
    if e2 is None:
        nbx, groups, ie = _N_BINS, 1, 0
    else:
        h = 0.25 * float(np.sqrt(np.median(e2)))
        nbx = int(min(_N_BINS, max(1, np.ceil((hi - lo) / h))))
        groups = _N_ERR_GROUPS
        ie = np.searchsorted(np.quantile(e2, np.arange(1, groups) / groups), e2, side="right")
    ix = np.clip(((x - lo) / (hi - lo) * nbx).astype(np.int64), 0, nbx - 1)
    uniq, inv, cnt = np.unique(ix * groups + ie, return_inverse=True, return_counts=True)
    cnt = cnt.astype(float)
    xm = np.bincount(inv, weights=x, minlength=uniq.size) / cnt
    em = None if e2 is None else np.bincount(inv, weights=e2, minlength=uniq.size) / cnt
    return xm, em, cnt


def _e_step(x, means, weights, sigma):
    """Posterior t_ik (N, K) and ln p(x_i) (N,) for a common-width mixture."""
    with np.errstate(divide="ignore"):
        logw = np.log(weights)
    z = (x[:, None] - means[None, :]) / sigma
    logp = logw[None, :] - 0.5 * z * z - np.log(sigma) - 0.5 * _LOG_2PI
    mx = logp.max(axis=1, keepdims=True)
    lse = mx[:, 0] + np.log(np.exp(logp - mx).sum(axis=1))
    post = np.exp(logp - lse[:, None])
    return post, lse


def _em(x, means, weights, sigma, *, max_iter, tol, sigma_floor, fixed_means=False, cw=None):
    """EM iterations of the common-width mixture from one start; returns (means, weights, sigma, loglik, post,
    n_iter, converged)."""
    x = np.ascontiguousarray(x, dtype=float)
    m, w, s2, ll, post, it, conv = _em_nb(
        x,
        np.zeros(x.size),
        np.ones(x.size) if cw is None else np.ascontiguousarray(cw, dtype=float),
        np.asarray(means, dtype=float),
        np.asarray(weights, dtype=float),
        float(sigma) ** 2,
        int(max_iter),
        float(tol),
        float(sigma_floor) ** 2,
        bool(fixed_means),
    )
    return m, w, float(np.sqrt(s2)), float(ll), post, int(it), bool(conv)


def _kmeanspp(x, k, rng):
    """k-means++ seeding of k centres among the 1D data x."""
    centres = [x[rng.integers(x.size)]]
    for _ in range(1, k):
        d2 = np.min((x[:, None] - np.asarray(centres)[None, :]) ** 2, axis=1)
        tot = d2.sum()
        if tot <= 0:
            centres.append(x[rng.integers(x.size)])
        else:
            centres.append(x[rng.choice(x.size, p=d2 / tot)])
    return np.sort(np.asarray(centres, dtype=float))


def _starts(x, k, rng, n_random):
    """Deterministic initial means: quantiles, even spacing, k-means++ draws."""
    q = np.quantile(x, (np.arange(k) + 0.5) / k)
    lo, hi = x.min(), x.max()
    even = lo + (np.arange(k) + 0.5) * (hi - lo) / k if k > 1 else np.array([x.mean()])
    starts = [q, even]
    for _ in range(n_random):
        starts.append(_kmeanspp(x, k, rng))
    return starts


def fit_gmm(
    x,
    n_components: int,
    *,
    seed: int = 0,
    n_random_starts: int = 3,
    max_iter: int = 1000,
    tol: float = 1e-8,
    init_means=None,
    n_screen: int = 40,
    n_keep: int = 2,
    errors=None,
) -> GMMFit:
    """Fit a 1D Gaussian mixture with one common standard deviation by EM.

    With ``errors`` (one known standard error e_i per value) the mixture is
    error-aware ("extreme deconvolution"): component k of value i is
    N(μ_k, s² + e_i²), with one common extra variance s² fitted by EM
    (:func:`_em_nb`); ``GMMFit.extra_sigma`` is s.

    Parameters
    ----------
    x : (N,) array
        Data (cross-sections, Å²).
    n_components : int
        K, the number of components (N ≥ K).
    seed : int
        Seed of the k-means++ starts; the same data and seed give the same fit.
    n_random_starts : int
        Number of k-means++ starts besides the quantile and evenly-spaced ones.
    max_iter : int
        Most EM iterations per start.
    tol : float
        Stop when the log-likelihood changes by less than ``tol * (1 + |ln L|)``.
    init_means : (K,) array or list of (K,) arrays, optional
        More starts with these means.
    n_screen, n_keep : int
        Every start runs ``n_screen`` EM iterations; the ``n_keep`` most
        likely then run to convergence.
    errors : (N,) array, optional
        Standard errors of the values (same units), all finite and > 0.

    Returns
    -------
    GMMFit
        The start with the highest likelihood, components sorted by mean.
    """
    x = np.asarray(x, dtype=float)
    k = int(n_components)
    _check_k(x.size, k)
    rng = np.random.default_rng(seed)
    spread = float(x.std())
    scale = max(spread, float(np.abs(x).max()), 1e-300)
    sigma_floor = 1e-6 * scale
    starts = _starts(x, k, rng, n_random_starts if k > 1 else 0)
    if init_means is not None:
        extra = init_means if isinstance(init_means, (list, tuple)) else [init_means]
        for mu in extra:
            mu = np.sort(np.asarray(mu, dtype=float).ravel())
            if mu.size != k:
                raise ValueError(f"init_means must hold {k} means, got {mu.size}")
            starts.append(mu)
    if errors is not None:
        e = np.asarray(errors, dtype=float).ravel()
        if e.size != x.size:
            raise ValueError(f"errors must give one standard error per value: {e.size} errors for {x.size} values")
        if not np.all(np.isfinite(e) & (e > 0)):
            raise ValueError("errors must be finite and positive")
        return _fit_gmm_err(x, e, k, starts, spread, sigma_floor, max_iter=max_iter, tol=tol,
                            n_screen=n_screen, n_keep=n_keep)
    # every start runs a few iterations; the most likely ones run to convergence
    xv, _, cw = _compress(x)
    screened = []
    for mu0 in starts:
        # initial width: the spread inside the hard clusters of the start
        lab = np.argmin(np.abs(xv[:, None] - mu0[None, :]), axis=1)
        s0 = np.sqrt(np.average((xv - mu0[lab]) ** 2, weights=cw))
        s0 = max(s0, spread / (2.0 * k), sigma_floor * 10)
        w0 = np.full(k, 1.0 / k)
        screened.append(_em(xv, mu0.copy(), w0, s0, max_iter=n_screen, tol=tol, sigma_floor=sigma_floor, cw=cw))
    screened.sort(key=lambda r: -r[3])
    best = None
    for res in screened[:n_keep]:
        if not res[6]:
            more = _em(xv, res[0], res[1], res[2], max_iter=max_iter, tol=tol, sigma_floor=sigma_floor, cw=cw)
            res = more[:5] + (res[5] + more[5], more[6])
        if best is None or res[3] > best[3] + 1e-12 * abs(best[3]):
            best = res
    means, weights, sigma, ll, post, n_iter, conv = best
    if xv.size != x.size:
        post, lse = _e_step(x, means, np.maximum(weights, 0.0), sigma)
        ll = float(lse.sum())
    order = np.argsort(means, kind="stable")
    return GMMFit(
        means=means[order],
        weights=weights[order],
        sigma=float(sigma),
        log_likelihood=ll,
        posterior=post[:, order],
        n_iter=n_iter,
        converged=conv,
    )


def _fit_gmm_err(x, e, k, starts, spread, sigma_floor, *, max_iter, tol, n_screen, n_keep) -> GMMFit:
    """The error-aware mixture from the given starts (see :func:`fit_gmm`)."""
    x = np.ascontiguousarray(x, dtype=float)
    e2 = np.ascontiguousarray(e * e)
    s2_floor = sigma_floor**2
    med_e2 = float(np.median(e2))
    xv, ev, cw = _compress(x, e2)
    screened = []
    for mu0 in starts:
        lab = np.argmin(np.abs(xv[:, None] - mu0[None, :]), axis=1)
        # initial extra variance: the spread inside the hard clusters beyond the errors
        s2 = float(np.average((xv - mu0[lab]) ** 2, weights=cw) - med_e2)
        s2 = max(s2, (spread / (4.0 * k)) ** 2, 100 * s2_floor)
        r = _em_nb(xv, ev, cw, np.asarray(mu0, dtype=float).copy(), np.full(k, 1.0 / k), s2, int(n_screen),
                   float(tol), float(s2_floor), False)
        screened.append(r)
    screened.sort(key=lambda r: -r[3])
    best = None
    for res in screened[:n_keep]:
        if not res[6]:
            more = _em_nb(xv, ev, cw, res[0], res[1], res[2], int(max_iter), float(tol), float(s2_floor), False)
            res = more[:5] + (res[5] + more[5], more[6])
        if best is None or res[3] > best[3] + 1e-12 * abs(best[3]):
            best = res
    means, weights, s2, ll, post, n_iter, conv = best
    if xv.size != x.size:
        post = np.empty((x.size, k))
        ll = _e_step_nb(x, e2, np.ones(x.size), means, np.maximum(weights, 0.0), s2, post)
    order = np.argsort(means, kind="stable")
    return GMMFit(
        means=means[order],
        weights=weights[order],
        sigma=float(np.sqrt(s2 + med_e2)),
        log_likelihood=float(ll),
        posterior=post[:, order],
        n_iter=int(n_iter),
        converged=bool(conv),
        extra_sigma=float(np.sqrt(s2)),
    )


def icl_criterion(log_likelihood: float, posterior, n_params: int, entropy: str = "soft") -> float:
    """Integrated classification likelihood of a fitted mixture (smaller is better).

    ``ICL = -2 ln L + n_params ln N - 2 Σ_i Σ_k z_ik ln t_ik`` with
    ``z_ik = t_ik`` (``entropy="soft"``, twice the classification entropy) or
    the MAP indicator (``entropy="hard"``).

    Parameters
    ----------
    log_likelihood : float
        ln L of the fit.
    posterior : (N, K) array
        Posterior probabilities t_ik.
    n_params : int
        Free parameters (2K for a common-width 1D mixture).
    entropy : {"soft", "hard"}
    """
    t = np.asarray(posterior, dtype=float)
    n = t.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        logt = np.where(t > 0, np.log(np.where(t > 0, t, 1.0)), 0.0)
    if entropy == "soft":
        term = -2.0 * float((t * logt).sum())
    elif entropy == "hard":
        term = -2.0 * float(logt[np.arange(n), np.argmax(t, axis=1)].sum())
    else:
        raise ValueError(f"entropy must be 'soft' or 'hard', got {entropy!r}")
    return -2.0 * float(log_likelihood) + n_params * np.log(n) + term


def local_minima(icl) -> list:
    """Numbers of components K (1-based) at the local minima of an ICL curve, smallest ICL first."""
    v = np.asarray(icl, dtype=float)
    ks = []
    for j in range(v.size):
        if not np.isfinite(v[j]):
            continue
        left = v[j - 1] if j > 0 and np.isfinite(v[j - 1]) else np.inf
        right = v[j + 1] if j + 1 < v.size and np.isfinite(v[j + 1]) else np.inf
        if v[j] < left and v[j] < right:
            ks.append(j + 1)
    return sorted(ks, key=lambda k: v[k - 1])


def _grow_starts(x, prev: GMMFit | None, k: int):
    """Starts for K components built from the best (K-1)-component fit.

    One new mean at the worst-explained value (lowest mixture density), and one
    start per old component split in two at ± its width.
    """
    if prev is None or prev.n_components != k - 1:
        return []
    starts = []
    post, lse = _e_step(x, prev.means, np.maximum(prev.weights, 1e-300), prev.sigma)
    starts.append(np.sort(np.append(prev.means, x[np.argmin(lse)])))
    # split the components that hold the largest scatter (at most three)
    scatter = (post * (x[:, None] - prev.means[None, :]) ** 2).sum(axis=0)
    d = max(prev.sigma, 1e-12)
    for j in np.argsort(scatter)[::-1][:3]:
        mu = np.delete(prev.means, j)
        starts.append(np.sort(np.concatenate([mu, [prev.means[j] - d, prev.means[j] + d]])))
    return starts


# --------------------------------------------------------------------------
# lowest count


def infer_lowest_count(means, weights=None, *, tolerance: float = 0.3, max_count: int = 1000):
    """Count of the lowest component, from the proportionality of σ to the count.

    The cross-section of a column of n atoms goes through zero at n = 0 and
    grows (less than linearly, through channelling) with n.  With the
    component means sorted and assumed to be consecutive counts
    ``c, c+1, ..., c+K-1``, a smooth curve of the means against the index
    k = 0..K-1 is extrapolated down to zero cross-section: a straight line
    through the two lowest means for K = 2 and 3, a weighted quadratic
    through all means (weights: the component weights) for K ≥ 4 whose zero
    is taken on the branch the data lie on.  The zero falls at k0 = -c, so
    ``c = round(-k0)``.

    Parameters
    ----------
    means : (K,) array
        Component means (Å²), any order.
    weights : (K,) array, optional
        Component weights (default equal).
    tolerance : float
        The estimate must lie within this distance of an integer ≥ 1 to be
        accepted.
    max_count : int
        Estimates above this are rejected.

    Returns
    -------
    lowest : int
        The inferred count of the lowest component, or 1 when ambiguous.
    inferred : bool
        False when the estimate was rejected (a single component, an estimate
        far from an integer, below 1, or the means not increasing) and 1 was
        returned by default: then set ``lowest_count`` yourself.
    estimate : float
        The continuous estimate (NaN when none could be made).
    """
    m = np.asarray(means, dtype=float).ravel()
    order = np.argsort(m)
    m = m[order]
    w = np.ones_like(m) if weights is None else np.asarray(weights, dtype=float).ravel()[order]
    k = m.size
    if k < 2 or np.any(np.diff(m) <= 0) or m[0] <= 0:
        return 1, False, float("nan")
    idx = np.arange(k, dtype=float)
    est = float("nan")
    if k >= 4:
        c2, c1, c0 = np.polyfit(idx, m, 2, w=np.sqrt(np.maximum(w, 1e-12)))
        if abs(c2) < 1e-15:
            est = c0 / c1 if c1 > 0 else float("nan")
        else:
            disc = c1 * c1 - 4 * c2 * c0
            if disc >= 0:
                roots = np.array([(-c1 + np.sqrt(disc)) / (2 * c2), (-c1 - np.sqrt(disc)) / (2 * c2)])
                # the zero on the data's branch: the slope there must be positive
                ok = (2 * c2 * roots + c1 > 0) & (roots < 0)
                if ok.any():
                    est = float(-roots[ok].max())
    if not np.isfinite(est):
        step = m[1] - m[0]
        est = m[0] / step
    c = int(round(est))
    if c < 1 or c > max_count or abs(est - c) > tolerance:
        return 1, False, float(est)
    return c, True, float(est)


# --------------------------------------------------------------------------
# results


@dataclass
class CountResult:
    """Atom counts of a set of columns and the model they came from.

    Attributes
    ----------
    counts : (N,) int ndarray
        Atom count of each column (for ``method == "mixed"``: the number of
        Pb, i.e. of the heavy element).
    n_components : int
        Number of classes of the model used (mixture components; library
        entries; lattice classes for mixed columns).
    icl : (max_components,) ndarray
        ICL of the common-width mixture for K = 1..max_components (NaN where
        not computed, e.g. for a library).  For several types, one row per
        type (order of ``by_type``).
    means : (K,) ndarray
        Class means, ascending, Å².
    sigma : float
        The common standard deviation of the classes, Å² (for several types:
        an array, one value per component).
    weights : (K,) ndarray
        Mixing proportions (sum to one over all columns counted).
    labels : (N,) int ndarray
        Class of each column (index into ``means``).
    posterior : (N, K) ndarray
        Probability that column i belongs to class k (``responsibilities``).
    component_counts : (K,) int ndarray
        Count of each class.
    lowest_count : int
        Count of the lowest class.
    lowest_count_inferred : bool
        True when ``lowest_count`` was inferred from the data rather than given
        or defaulted (see :func:`infer_lowest_count`).
    method : str
        ``"gmm"`` (free mixture, ICL), ``"curve"`` (classes on a cross-section
        curve), ``"library"`` (nearest library value) or ``"mixed"`` (Pb
        counts of mixed Pb/Se columns, :func:`pb_counts_mixed`); several
        types: their methods joined by "+".
    volumes : (N,) ndarray
        The cross-sections counted, Å².
    log_likelihood : float
        ln L of the model at the result.
    n_components_icl : int
        The K at the ICL minimum (differs from ``n_components`` when forced).
    notes : list of str
        Plain-language remarks: what was inferred, what was ambiguous.
    entropy : str
        The ICL's entropy convention.
    library : dict or None
        The library used (count → Å²).
    classes, minor_counts, count_posterior, count_values
        Mixed columns: (n_Pb, n_Se) of each class, most probable n_Se of each
        column, (N, P) probability of each Pb count, those Pb counts.
    gmm : CountResult or None
        ``"curve"``/``"mixed"``: the free mixture fitted first (its ICL curve
        is ``icl``).
    params : dict
        ``"curve"``/``"mixed"``: the fitted curve ``c`` (Å²), ``pb_step`` =
        g(1), ``se_ratio``, the starts tried.  ``"gmm"`` with errors:
        ``extra_sigma`` (s of the chosen fit, Å²), ``median_error``,
        ``extra_sigma_by_k`` (s for K = 1..), ``resolved_k`` (the K with
        s ≤ ``resolved_factor`` × the median error).
    component_sigma, component_type : (K,) ndarray
        Width and type of each component (several types).
    types : (N,) ndarray of str or None
    by_type : dict of str to CountResult
        One result per column type when ``types`` was given.

    Methods
    -------
    pdf(x)
        Mixture density and its components, for drawing over a histogram.
    to_frame()
        Per-column table (volume, count, class, probability).
    """

    counts: np.ndarray
    n_components: int
    icl: np.ndarray
    means: np.ndarray
    sigma: float
    weights: np.ndarray
    labels: np.ndarray
    posterior: np.ndarray
    component_counts: np.ndarray
    lowest_count: int
    lowest_count_inferred: bool
    method: str
    volumes: np.ndarray
    log_likelihood: float = float("nan")
    n_components_icl: int = 0
    entropy: str = "soft"
    notes: list = field(default_factory=list)
    library: dict | None = None
    #: for ``method == "mixed"`` (or a library keyed by pairs): (L, 2) int, (n_Pb, n_Se) of each class
    classes: np.ndarray | None = None
    #: for ``method == "mixed"``: (N,) most probable number of Se (weakly determined)
    minor_counts: np.ndarray | None = None
    #: for ``method == "mixed"``: (N, P) probability of each Pb count ``count_values`` (summed over n_Se)
    count_posterior: np.ndarray | None = None
    count_values: np.ndarray | None = None
    #: for ``method == "mixed"``: the plain common-width mixture fitted first (its ICL curve)
    gmm: "CountResult | None" = None
    #: for ``method == "mixed"``: the fitted cross-section curve and the Se/Pb ratio used
    params: dict = field(default_factory=dict)
    #: (K,) standard deviation of each component (equal within a type)
    component_sigma: np.ndarray | None = None
    #: (K,) type of each component, for several types
    component_type: np.ndarray | None = None
    types: np.ndarray | None = None
    by_type: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.component_sigma is None:
            self.component_sigma = np.full(len(self.means), float(np.mean(self.sigma)))

    @property
    def responsibilities(self) -> np.ndarray:
        """Alias of ``posterior``: (N, K) class probabilities."""
        return self.posterior

    @property
    def probability(self) -> np.ndarray:
        """(N,) posterior probability of the count given to each column (mixed: of its Pb count)."""
        if self.count_posterior is not None:
            return self.count_posterior.max(axis=1)
        return self.posterior[np.arange(len(self.labels)), self.labels]

    def pdf(self, x):
        """The fitted mixture density and its components at cross-sections ``x``.

        Parameters
        ----------
        x : array
            Cross-sections, Å².

        Returns
        -------
        total : ndarray, shape of ``x``
            Σ_k τ_k N(x | μ_k, s_k²), in 1/Å² (integrates to one; multiply by
            the number of columns and the bin width to draw over a histogram of
            counts).
        components : ndarray, shape ``x.shape + (K,)``
            τ_k N(x | μ_k, s_k²) for each class.
        """
        x = np.asarray(x, dtype=float)
        s = np.asarray(self.component_sigma, dtype=float)
        z = (x[..., None] - self.means) / s
        comp = self.weights * np.exp(-0.5 * z * z) / (s * np.sqrt(2.0 * np.pi))
        return comp.sum(axis=-1), comp

    def to_frame(self) -> pd.DataFrame:
        """Per-column table: volume, count, class, probability (and n_minor for mixed)."""
        df = pd.DataFrame(
            {
                "volume": self.volumes,
                "count": self.counts,
                "class": self.labels,
                "probability": self.probability,
            }
        )
        if self.minor_counts is not None:
            df["n_minor"] = self.minor_counts
        if self.types is not None:
            df["type"] = self.types
        return df

    def __repr__(self) -> str:
        return (
            f"CountResult(method={self.method!r}, n_columns={len(self.counts)}, n_components={self.n_components}, "
            f"counts {int(self.counts.min()) if len(self.counts) else '-'}..{int(self.counts.max()) if len(self.counts) else '-'}, "
            f"lowest_count={self.lowest_count}{' (inferred)' if self.lowest_count_inferred else ''})"
        )


# --------------------------------------------------------------------------
# library


def _parse_library(library):
    """Library → (counts (L,) int, minor (L,) int or None, values (L,) float), sorted by value."""
    minor = None
    if isinstance(library, pd.Series):
        library = library.to_dict()
    if isinstance(library, Mapping):
        if len(library) == 0:
            raise ValueError("the library is empty: give simulated cross-sections (Å²) per atom count")
        keys = list(library.keys())
        if all(isinstance(k, tuple) and len(k) == 2 for k in keys):
            counts = np.array([int(k[0]) for k in keys])
            minor = np.array([int(k[1]) for k in keys])
        else:
            try:
                counts = np.array([int(k) for k in keys])
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    "library keys must be atom counts (int) or (n_heavy, n_light) pairs; "
                    f"got {keys[:3]}"
                ) from exc
        values = np.array([float(library[k]) for k in keys])
    else:
        values = np.asarray(library, dtype=float).ravel()
        counts = np.arange(values.size)
        keep = np.isfinite(values)
        values, counts = values[keep], counts[keep]
        if values.size == 0:
            raise ValueError("the library is empty: give simulated cross-sections (Å²) indexed by atom count")
    if not np.all(np.isfinite(values)):
        raise ValueError("the library holds NaN or infinite cross-sections: give finite values in Å²")
    if np.any(values < 0):
        raise ValueError("the library holds negative cross-sections: give values in Å² (≥ 0)")
    order = np.argsort(values, kind="stable")
    values, counts = values[order], counts[order]
    if minor is not None:
        minor = minor[order]
    if np.any(np.diff(values) <= 0):
        raise ValueError("two library entries have the same cross-section: each count needs its own value")
    if minor is None and np.any(np.diff(counts) <= 0):
        raise ValueError("library cross-sections must increase with the atom count")
    return counts, minor, values


def _count_library(x, library) -> CountResult:
    counts_l, minor_l, values = _parse_library(library)
    # nearest value: the maximum-likelihood class for one common Gaussian width and equal priors
    edges = 0.5 * (values[1:] + values[:-1])
    lab = np.searchsorted(edges, x)
    resid = x - values[lab]
    n = x.size
    sigma = float(np.sqrt(np.mean(resid**2))) if n > 1 else 0.0
    sigma = max(sigma, 1e-6 * max(values.max(), 1e-300))
    weights = np.bincount(lab, minlength=values.size) / n
    post, lse = _e_step(x, values, np.maximum(weights, 0.0), sigma)
    notes = [
        "counts from the library: each column gets the count of the nearest simulated cross-section "
        f"(= maximum likelihood for a common width; width from the residuals: {sigma:.3g} Å²)"
    ]
    if x.max() > values.max() + 3 * sigma or x.min() < values.min() - 3 * sigma:
        notes.append("some cross-sections lie outside the library's range: extend the library")
    res = CountResult(
        counts=counts_l[lab].astype(int),
        n_components=int(values.size),
        icl=np.full(1, np.nan),
        means=values,
        sigma=sigma,
        weights=weights,
        labels=lab.astype(int),
        posterior=post,
        component_counts=counts_l.astype(int),
        lowest_count=int(counts_l.min()),
        lowest_count_inferred=False,
        method="library",
        volumes=x,
        log_likelihood=float(lse.sum()),
        notes=notes,
        library={(int(c), int(m)) if minor_l is not None else int(c): float(v)
                 for c, m, v in zip(counts_l, minor_l if minor_l is not None else counts_l, values)},
    )
    if minor_l is not None:
        res.classes = np.stack([counts_l, minor_l], axis=1)
        res.minor_counts = minor_l[lab].astype(int)
    return res


# --------------------------------------------------------------------------
# common-width mixture


def _typical_error(errors, n):
    """Median of the columns' cross-section standard errors (Å²), or None when not given or unusable."""
    if errors is None:
        return None
    e = np.asarray(errors, dtype=float).ravel()
    if e.size != n:
        raise ValueError(f"errors must give one standard error per column: {e.size} errors for {n} columns")
    e = e[np.isfinite(e) & (e > 0)]
    if e.size == 0:
        return None
    return float(np.median(e))


#: error-aware counting: a fit resolves the classes when its extra spread s is at most this × the median error
RESOLVED_FACTOR = 2.0


def _usable_errors(errors, n):
    """Per-column standard errors for the error-aware mixture, or None.

    Errors that are NaN, infinite or ≤ 0 (a failed fit) are replaced by the
    median of the others; with none usable, None (the plain mixture is used).
    """
    if errors is None:
        return None, 0
    e = np.asarray(errors, dtype=float).ravel()
    if e.size != n:
        raise ValueError(f"errors must give one standard error per column: {e.size} errors for {n} columns")
    ok = np.isfinite(e) & (e > 0)
    if not ok.any():
        return None, 0
    e = np.where(ok, e, np.median(e[ok]))
    return e, int((~ok).sum())


def _count_gmm(x, max_components, n_components, lowest_count, seed, entropy, errors=None) -> CountResult:
    """Free mixture, K by the ICL; with ``errors`` the error-aware mixture and K among resolving fits.

    Without errors: StatSTEM's common-width mixture, K at the ICL minimum.

    With errors e_i (standard errors of the cross-sections, e.g. ``volume_err``
    of :func:`fit_columns`): component k of column i is N(μ_k, s² + e_i²)
    (:func:`fit_gmm` with ``errors``), s² one common extra variance.  The
    premise of counting is that columns with equal counts have equal
    cross-sections up to their measurement error; s measures the scatter
    beyond it.  A fit with s well above the errors describes classes several
    count steps wide: merged counts, not count classes.  On small sets (tens
    of columns, many classes) the ICL's penalty of d ln N makes exactly such a
    fit, K = 1, the overall minimum (multislice [110] Pb columns: 61 columns
    in 9 classes).  K is therefore the ICL minimum among the fits that
    *resolve* the classes, s ≤ ``RESOLVED_FACTOR`` (2) × the median error
    (the factor allows for errors somewhat underestimated and for a little
    scatter the fit does not see, e.g. an unconverged frozen-phonon average).
    s decreases with K, so this is a lower bound on K; the ICL still keeps K
    from growing past what the data support.  When no K up to
    ``max_components`` resolves, the overall ICL minimum is taken (noted).
    When the ICL's overall minimum is a resolving fit the choice is the same
    as without the bound.  Errors underestimated by much more than 2× would
    push K up (splits of true classes): the note names s and the errors.
    """
    n = x.size
    if n_components is not None:
        _check_k(n, int(n_components))
    kmax = int(max_components)
    if kmax < 1:
        raise ValueError(f"max_components must be at least 1, got {max_components}")
    kmax_fit = min(kmax, n)
    if n_components is None and n < 2:
        raise ValueError("one column cannot be counted with a mixture: give a library or more columns")
    e, n_bad = _usable_errors(errors, n)
    icl = np.full(kmax, np.nan)
    fits = {}
    prev = None

    def fit(k, prev):
        return fit_gmm(x, k, seed=seed, init_means=_grow_starts(x, prev, k) or None, errors=e)

    for k in range(1, kmax_fit + 1):
        f = fit(k, prev)
        fits[k] = f
        icl[k - 1] = icl_criterion(f.log_likelihood, f.posterior, 2 * k, entropy)
        prev = f
    k_icl = int(np.nanargmin(icl)) + 1
    notes = []
    params = {}
    k_pick = k_icl
    if e is not None:
        med_e = float(np.median(e))
        extra = np.array([fits[j].extra_sigma for j in range(1, kmax_fit + 1)])
        resolved = [j for j in range(1, kmax_fit + 1) if extra[j - 1] <= RESOLVED_FACTOR * med_e]
        params = {"median_error": med_e, "extra_sigma_by_k": extra, "resolved_k": resolved,
                  "resolved_factor": RESOLVED_FACTOR}
        if n_bad:
            notes.append(f"{n_bad} columns without a usable error got the median error ({med_e:.3g} Å²)")
        if resolved:
            k_pick = min(resolved, key=lambda j: icl[j - 1])
            if k_pick != k_icl:
                notes.append(
                    f"error-aware mixture: K = {k_pick}, the ICL minimum among the fits that resolve the classes "
                    f"(extra spread s ≤ {RESOLVED_FACTOR:g} × the median error {med_e:.3g} Å², K ≥ {min(resolved)}); "
                    f"the overall ICL minimum, K = {k_icl}, has s = {extra[k_icl - 1]:.3g} Å² "
                    f"({extra[k_icl - 1] / med_e:.1f}× the error): merged classes"
                )
        else:
            notes.append(
                f"error-aware mixture: no K up to {kmax_fit} brings the extra spread s down to "
                f"{RESOLVED_FACTOR:g} × the median error ({med_e:.3g} Å²; smallest s {extra.min():.3g} Å²): "
                f"K = {k_icl} at the ICL minimum; the errors may be underestimated, or raise max_components"
            )
    if n_components is not None:
        k = int(n_components)
        if k not in fits:
            fits[k] = fit(k, fits.get(k - 1))
        notes.append(f"{k} components forced (the ICL {'choice' if e is not None else 'minimum'} is at {k_pick})")
    else:
        k = k_pick
        if k == kmax_fit and kmax_fit > 1:
            notes.append(
                f"the ICL is smallest at the largest number of components tried ({k}): raise max_components"
            )
    f = fits[k]
    best = icl[k_pick - 1]  # the ICL of the fit the data chose (the minimum without errors)
    others = [j for j in local_minima(icl) if j != k and icl[j - 1] - best < 10.0
              and (e is None or j in params["resolved_k"])]
    if others:
        notes.append(
            "the ICL has other local minima at K = "
            + ", ".join(f"{j} ({icl[j - 1] - best:+.1f})" for j in others[:4])
            + ": the choice may be ambiguous"
        )
    if lowest_count is None:
        low, inferred, est = infer_lowest_count(f.means, f.weights)
        if inferred:
            notes.append(f"lowest count {low} inferred (means extrapolated to zero at {est:.2f})")
        else:
            notes.append(
                "lowest count could not be inferred from the means "
                f"(estimate {est:.2f}); 1 assumed: set lowest_count"
            )
    else:
        low, inferred = int(lowest_count), False
        if low < 0:
            raise ValueError(f"lowest_count must be ≥ 0, got {lowest_count}")
    if e is not None:
        params["extra_sigma"] = float(f.extra_sigma)
        if f.extra_sigma > RESOLVED_FACTOR * params["median_error"]:
            notes.append(
                f"the extra spread s ({f.extra_sigma:.3g} Å²) is {f.extra_sigma / params['median_error']:.1f}× the "
                f"columns' median fitted error ({params['median_error']:.3g} Å²): classes are merged or the errors "
                "are underestimated; try model='curve' or a library"
            )
    labels = np.argmax(f.posterior, axis=1)
    comp_counts = low + np.arange(k)
    return CountResult(
        counts=comp_counts[labels].astype(int),
        n_components=k,
        icl=icl,
        means=f.means,
        sigma=f.sigma,
        weights=f.weights,
        labels=labels.astype(int),
        posterior=f.posterior,
        component_counts=comp_counts.astype(int),
        lowest_count=low,
        lowest_count_inferred=inferred,
        method="gmm",
        volumes=x,
        log_likelihood=f.log_likelihood,
        n_components_icl=k_pick,
        entropy=entropy,
        notes=notes,
        params=params,
    )


# --------------------------------------------------------------------------
# mixed columns (rocksalt PbSe along <100>)

#: Se/Pb single-atom cross-section ratio from the Z² rule of thumb, (34/82)²
SE_RATIO_Z2 = (34.0 / 82.0) ** 2
#: range of that ratio for HAADF Z-exponents between 2.2 and 1.2: (34/82)^2.2 .. (34/82)^1.2
SE_RATIO_BOUNDS = ((34.0 / 82.0) ** 2.2, (34.0 / 82.0) ** 1.2)


def _poly(u, coef):
    """g(u) = Σ_j c_j u^(j+1): a curve through the origin."""
    out = np.zeros_like(np.asarray(u, dtype=float))
    for j, c in enumerate(coef):
        out = out + c * np.asarray(u, dtype=float) ** (j + 1)
    return out


def _fit_curve(u, xbar, nk, degree, min_step_ratio=0.7):
    """Weighted least squares of class means on a curve through zero, increasing, mildly concave.

    Minimises Σ_j N_j (x̄_j - g(u_j))² with g(u) = c_1 u + c_2 u² under

    * c_2 ≤ 0: the cross-section grows less than linearly (channelling);
    * g'(u_max) ≥ ``min_step_ratio`` · g'(0), u_max the largest populated
      class: the last atom adds at least that fraction of what the first adds
      (saturation is mild over the counts of a nanocrystal; without this a
      strongly bent curve can slide an extra class in between).

    The feasible set is the cone -β c_1 ≤ c_2 ≤ 0 (β = (1 - ratio) / (2 u_max));
    when the free optimum lies outside, the constrained one lies on the
    violated edge, a one-parameter fit.
    """
    use = nk > 1e-9
    sw = np.sqrt(nk[use])
    uu = u[use]
    b = xbar[use] * sw
    if degree == 1:
        a1 = uu * sw
        return np.array([float(b @ a1 / (a1 @ a1))])
    a = np.stack([uu, uu**2], axis=1) * sw[:, None]
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    beta = (1.0 - float(min_step_ratio)) / (2.0 * uu.max())
    if coef[1] > 0 or coef[0] <= 0:
        a1 = uu * sw
        coef = np.array([float(b @ a1 / (a1 @ a1)), 0.0])
    elif coef[1] < -beta * coef[0]:
        a1 = (uu - beta * uu**2) * sw
        c1 = float(b @ a1 / (a1 @ a1))
        coef = np.array([c1, -beta * c1])
    return coef


def _fit_curve_mixture(x, u, coef, sigma, *, degree, min_step_ratio=0.7, weights=None, max_iter=1000, tol=1e-8):
    """EM of a common-width mixture whose class means lie on a curve g(u_j) through zero.

    ``u`` (L,) are the classes' positions on the count axis (the count);
    the weights are free.  The M-step fits g to the posterior-weighted class
    means (exact for one common width: Σ_i t_ij (x_i - μ_j)² = const +
    N_j (x̄_j - μ_j)²).
    """
    xv, _, cw = _compress(x)
    n = float(cw.sum())
    coef = np.asarray(coef, dtype=float).copy()
    if coef.size < degree:
        coef = np.concatenate([coef, np.zeros(degree - coef.size)])
    mu = _poly(u, coef)
    if weights is None:
        lo, hi = x.min() - 3 * sigma, x.max() + 3 * sigma
        w = np.where((mu >= lo) & (mu <= hi), 1.0, 1e-6)
    else:
        w = np.maximum(np.asarray(weights, dtype=float), 1e-12)
    w = w / w.sum()
    floor = 1e-6 * max(float(np.abs(x).max()), 1e-300)
    post = np.empty((xv.size, u.size))
    e0 = np.zeros(xv.size)  # common width: no per-column variance
    ll_old = -np.inf
    for _ in range(max_iter):
        ll = _e_step_nb(xv, e0, cw, mu, w, sigma * sigma, post)
        pw = post * cw[:, None]
        nk = pw.sum(axis=0)
        w = nk / n
        with np.errstate(invalid="ignore", divide="ignore"):
            xbar = np.where(nk > 1e-12, pw.T @ xv / np.where(nk > 1e-12, nk, 1.0), 0.0)
        coef = _fit_curve(u, xbar, nk, degree, min_step_ratio)
        mu = _poly(u, coef)
        d = xv[:, None] - mu[None, :]
        sigma = max(float(np.sqrt((pw * d * d).sum() / n)), floor)
        if abs(ll - ll_old) <= tol * (1.0 + abs(ll)):
            break
        ll_old = ll
    post = np.empty((x.size, u.size))
    xr = np.ascontiguousarray(x, dtype=float)
    ll = _e_step_nb(xr, np.zeros(x.size), np.ones(x.size), mu, w, sigma * sigma, post)
    return {"coef": coef, "sigma": sigma, "weights": w, "means": mu, "ll": float(ll), "post": post}


def _mixed_classes(max_heavy: int):
    """(n_heavy, n_light) pairs with n_light - n_heavy in {-1, 0, 1}, at least one atom."""
    cp, cs = [], []
    for a in range(0, int(max_heavy) + 1):
        for d in (-1, 0, 1):
            b = a + d
            if b < 0 or a + b == 0:
                continue
            cp.append(a)
            cs.append(b)
    return np.array(cp, dtype=int), np.array(cs, dtype=int)


def _fit_lattice(x, cp, cs, coef, sigma, r0, r_bounds, *, degree, min_step_ratio, weights=None,
                 max_iter=1000, tol=1e-8):
    """EM of the (n_Pb, n_Se) class mixture, means on the Pb curve: μ = g((p + r s) / (1 + r)).

    Starts from a fitted Pb-class curve g; the M-step refits g (same
    constraints) and, when ``r_bounds`` is an interval, the Se/Pb ratio r by a
    bounded 1D search, to the posterior-weighted class means.
    """
    from scipy.optimize import minimize_scalar

    xv, _, cw = _compress(x)
    n = float(cw.sum())
    coef = np.asarray(coef, dtype=float).copy()
    r = float(r0)
    mu = _poly((cp + r * cs) / (1 + r), coef)
    if weights is None:
        w = np.where((mu >= x.min() - 3 * sigma) & (mu <= x.max() + 3 * sigma), 1.0, 1e-6)
    else:
        w = np.maximum(np.asarray(weights, dtype=float), 1e-12)
    w = w / w.sum()
    floor = 1e-6 * max(float(np.abs(x).max()), 1e-300)
    post = np.empty((xv.size, cp.size))
    e0 = np.zeros(xv.size)  # common width: no per-column variance
    free_r = r_bounds[1] > r_bounds[0]

    def rss(rr, xbar, nk):
        uu = (cp + rr * cs) / (1 + rr)
        c = _fit_curve(uu, xbar, nk, degree, min_step_ratio)
        d = xbar - _poly(uu, c)
        return float((nk * d * d).sum()), c

    ll_old = -np.inf
    for _ in range(max_iter):
        ll = _e_step_nb(xv, e0, cw, mu, w, sigma * sigma, post)
        pw = post * cw[:, None]
        nk = pw.sum(axis=0)
        w = nk / n
        with np.errstate(invalid="ignore", divide="ignore"):
            xbar = np.where(nk > 1e-12, pw.T @ xv / np.where(nk > 1e-12, nk, 1.0), 0.0)
        if free_r:
            r = float(minimize_scalar(lambda rr: rss(rr, xbar, nk)[0], bounds=r_bounds, method="bounded",
                                      options={"xatol": 1e-4}).x)
        coef = rss(r, xbar, nk)[1]
        mu = _poly((cp + r * cs) / (1 + r), coef)
        d = xv[:, None] - mu[None, :]
        sigma = max(float(np.sqrt((pw * d * d).sum() / n)), floor)
        if abs(ll - ll_old) <= tol * (1.0 + abs(ll)):
            break
        ll_old = ll
    post = np.empty((x.size, cp.size))
    xr = np.ascontiguousarray(x, dtype=float)
    ll = _e_step_nb(xr, np.zeros(x.size), np.ones(x.size), mu, w, sigma * sigma, post)
    return {"coef": coef, "r": r, "sigma": sigma, "weights": w, "means": mu, "ll": float(ll), "post": post}


def _select_curve_fit(x, gmm, *, degree, min_step_ratio, entropy, n_screen, n_keep, max_count, sparse_class,
                      lowest_count, max_width=None):
    """Fit the count-curve mixture from many scales; return the chosen fit, all fits, notes.

    Fits are ranked by (width above ``max_width``, interior sparse classes, ICL).
    """
    n = x.size
    sigma0 = float(gmm.sigma)
    # starting scales g(1): the two lowest free-mixture means taken as 1..5 atoms, and a 4 % geometric
    # grid between x_max / max_count and x_max
    cands = []
    grid = float(x.max()) * np.exp(-np.arange(0.0, np.log(max_count), np.log(1.04)))
    anchored = (gmm.means[:2, None] / np.arange(1, 6)[None, :]).ravel()
    for a1 in list(anchored) + list(grid):
        if a1 <= 0 or x.max() / a1 > max_count:
            continue
        if all(abs(a1 - c) > 0.015 * c for c in cands):
            cands.append(float(a1))

    def score(fit):
        mu, sig = fit["means"], fit["sigma"]
        in_range = (mu >= x.min() - 3 * sig) & (mu <= x.max() + 3 * sig)
        d = int(in_range.sum()) - 1 + degree + 1
        fit.update(icl=icl_criterion(fit["ll"], fit["post"], d, entropy), n_params=d)
        fit["count"] = fit["u"][np.argmax(fit["post"], axis=1)].astype(int)
        # counts strictly inside the range held by (almost) no column: holes in the thickness profile
        occ = np.bincount(fit["count"])
        lo, hi = int(fit["count"].min()), int(fit["count"].max())
        fit["gaps"] = int(np.sum(occ[lo + 1 : hi] <= sparse_class))
        return fit

    def rank(f):
        too_wide = max_width is not None and f["sigma"] > max_width
        return (too_wide, f["gaps"], f["icl"])

    fits = []
    for a1 in cands:
        u = np.arange(1, int(np.ceil(1.5 * x.max() / a1)) + 3, dtype=float)
        # start narrower than the class spacing, or EM may merge every class from the first step
        s0 = min(sigma0, a1 / 4.0)
        fit = _fit_curve_mixture(x, u, [a1], s0, degree=degree, min_step_ratio=min_step_ratio, max_iter=n_screen)
        fit.update(u=u, a1_start=a1)
        fits.append(score(fit))
    fits.sort(key=rank)
    for j, f0 in enumerate(fits[:n_keep]):
        fit = _fit_curve_mixture(
            x, f0["u"], f0["coef"], f0["sigma"], degree=degree, min_step_ratio=min_step_ratio, weights=f0["weights"]
        )
        fit.update(u=f0["u"], a1_start=f0["a1_start"])
        fits[j] = score(fit)
    fits[:n_keep] = sorted(fits[:n_keep], key=rank)
    notes = []
    chosen = None
    if lowest_count is not None:
        ok = [f for f in fits if int(f["count"].min()) == int(lowest_count)]
        if ok:
            chosen = min(ok, key=rank)
            if not any(chosen is g for g in fits[:n_keep]):
                fit = _fit_curve_mixture(x, chosen["u"], chosen["coef"], chosen["sigma"], degree=degree,
                                         min_step_ratio=min_step_ratio, weights=chosen["weights"])
                fit.update(u=chosen["u"], a1_start=chosen["a1_start"])
                chosen = score(fit)
    if chosen is None:
        chosen = fits[0]
    if max_width is not None and chosen["sigma"] > max_width:
        notes.append(
            f"the class width ({chosen['sigma']:.3g} Å²) exceeds {max_width:.3g} Å² (a few times the fitted "
            "precision) in every fit: the classes are not resolved"
        )
    if chosen["gaps"]:
        notes.append(
            f"{chosen['gaps']} count(s) inside the range hold {sparse_class} columns or fewer: check the result "
            "(set lowest_count, or give a library)"
        )
    n_in = n
    keep = (chosen["weights"] * n_in > 1e-3) | (
        (chosen["means"] >= x.min() - 3 * chosen["sigma"]) & (chosen["means"] <= x.max() + 3 * chosen["sigma"])
    )
    return chosen, keep, fits, notes


def _count_curve(
    x,
    *,
    mixed: bool,
    se_ratio=SE_RATIO_Z2,
    lowest_count=None,
    degree: int = 2,
    min_step_ratio: float = 0.7,
    max_components: int = 20,
    seed: int = 0,
    entropy: str = "soft",
    gmm: CountResult | None = None,
    n_screen: int = 30,
    n_keep: int = 4,
    max_count: int = 60,
    sparse_class: int = 2,
    refine: bool = True,
    errors=None,
    width_factor: float = 3.0,
) -> CountResult:
    """Counts from a mixture whose classes lie on a cross-section curve through zero (see pb_counts_mixed)."""
    if degree not in (1, 2):
        raise ValueError(f"degree must be 1 (proportional) or 2 (with saturation), got {degree!r}")
    degree = int(degree)
    if not (0 < min_step_ratio <= 1):
        raise ValueError(f"min_step_ratio must lie in (0, 1], got {min_step_ratio}")
    if se_ratio is None:
        r_bounds = SE_RATIO_BOUNDS
    elif np.ndim(se_ratio) == 0:
        r_bounds = (float(se_ratio), float(se_ratio))
    else:
        r_bounds = (float(np.min(se_ratio)), float(np.max(se_ratio)))
    if not (0 < r_bounds[0] <= r_bounds[1] < 1):
        raise ValueError(
            "se_ratio (one Se's cross-section over one Pb's) must lie in (0, 1), or be a (low, high) pair there; "
            f"got {se_ratio}"
        )
    free_r = r_bounds[1] > r_bounds[0]
    r0 = SE_RATIO_Z2 if r_bounds[0] <= SE_RATIO_Z2 <= r_bounds[1] else float(np.sqrt(r_bounds[0] * r_bounds[1]))
    n = x.size
    if n < 2:
        raise ValueError("one column cannot be counted with a mixture: give a library or more columns")
    if gmm is None:
        gmm = _count_gmm(x, max_components, None, 1, seed, entropy)
    err = _typical_error(errors, n)
    f, keep, fits, notes = _select_curve_fit(
        x, gmm, degree=degree, min_step_ratio=min_step_ratio, entropy=entropy, n_screen=n_screen, n_keep=n_keep,
        max_count=max_count, sparse_class=sparse_class, lowest_count=lowest_count,
        max_width=None if err is None else width_factor * err,
    )
    u, coef, sigma = f["u"][keep], f["coef"], f["sigma"]
    means = f["means"][keep]
    weights = f["weights"][keep] / f["weights"][keep].sum()
    post = f["post"][:, keep]
    post = post / post.sum(axis=1, keepdims=True)
    labels = np.argmax(post, axis=1)
    count = u[labels].astype(int)
    starts = [(float(g["a1_start"]), float(g["icl"]), int(g["count"].min()), int(g["gaps"])) for g in fits]
    curve_fit = {
        "c": [float(c) for c in coef],
        "sigma": float(sigma),
        "means": means,
        "weights": weights,
        "counts": u.astype(int),
        "icl": float(f["icl"]),
        "n_params": int(f["n_params"]),
    }

    def shifted(lowest_found):
        if lowest_count is not None and int(lowest_found) != int(lowest_count):
            sh = int(lowest_count) - int(lowest_found)
            notes.append(
                f"no fit had its lowest count at {lowest_count}: counts shifted by {sh:+d} "
                "(the cross-section curve then does not go through zero)"
            )
            return sh
        return 0

    curve_txt = " + ".join(f"{c:.4g} n^{j + 1}" for j, c in enumerate(coef))
    if not mixed:
        shift = shifted(count.min())
        notes.append(
            f"classes on the cross-section curve g(n) = {curve_txt} Å² (through zero, so the counts need no "
            f"lowest-count guess); common width {sigma:.3g} Å²"
        )
        return CountResult(
            counts=(count + shift).astype(int),
            n_components=int(means.size),
            icl=gmm.icl,
            means=means,
            sigma=float(sigma),
            weights=weights,
            labels=labels.astype(int),
            posterior=post,
            component_counts=(u + shift).astype(int),
            lowest_count=int(count.min() + shift),
            lowest_count_inferred=lowest_count is None,
            method="curve",
            volumes=x,
            log_likelihood=f["ll"],
            n_components_icl=gmm.n_components_icl,
            entropy=entropy,
            notes=notes,
            gmm=gmm,
            params={"c": curve_fit["c"], "pb_step": float(_poly(np.array([1.0]), coef)[0]), "icl": curve_fit["icl"],
                    "starts": starts},
        )

    # mixed: the (n_Pb, n_Se) classes on the Pb curve, refined from the Pb-class fit
    cp, cs = _mixed_classes(int(u.max()) + 1)
    lat = _fit_lattice(x, cp, cs, coef, sigma, r0, r_bounds, degree=degree, min_step_ratio=min_step_ratio)
    tp = np.zeros((n, int(cp.max()) + 1))
    np.add.at(tp.T, cp, lat["post"].T)
    pb = np.argmax(tp, axis=1) if refine else count
    agree = float(np.mean(pb == count))
    curve_fit["agreement"] = agree
    shift = shifted(pb.min())
    ckeep = (lat["weights"] * n > 1e-3) | (
        (lat["means"] >= x.min() - 3 * lat["sigma"]) & (lat["means"] <= x.max() + 3 * lat["sigma"])
    )
    cp, cs = cp[ckeep], cs[ckeep]
    cmeans, cw, cpost = lat["means"][ckeep], lat["weights"][ckeep], lat["post"][:, ckeep]
    cw = cw / cw.sum()
    cpost = cpost / cpost.sum(axis=1, keepdims=True)
    order = np.argsort(cmeans, kind="stable")
    cp, cs, cmeans, cw, cpost = cp[order], cs[order], cmeans[order], cw[order], cpost[:, order]
    within = np.where(cp[None, :] == pb[:, None], cpost, -1.0)
    labels = np.argmax(within, axis=1)
    pvals = np.arange(tp.shape[1])
    used = tp.sum(axis=0) > 1e-9
    notes.append(
        "mixed Pb/Se columns: classes (n_Pb, n_Se), n_Se - n_Pb in (-1, 0, 1), at g((n_Pb + r n_Se)/(1 + r)) "
        "on the Pb curve g(n) = " + " + ".join(f"{c:.4g} n^{j + 1}" for j, c in enumerate(lat["coef"]))
        + f" Å², r = {lat['r']:.3f}; Pb count = largest posterior summed over the Se sub-classes "
        f"({100 * agree:.1f} % as the Pb-class fit alone); n_Se is weakly determined"
    )
    if free_r and min(abs(lat["r"] - r_bounds[0]), abs(lat["r"] - r_bounds[1])) < 1e-3:
        notes.append(f"the Se/Pb ratio ran to its bound ({lat['r']:.3f}): the Se sub-classes are poorly resolved")
    return CountResult(
        counts=(pb + shift).astype(int),
        n_components=int(cmeans.size),
        icl=gmm.icl,
        means=cmeans,
        sigma=float(lat["sigma"]),
        weights=cw,
        labels=labels.astype(int),
        posterior=cpost,
        component_counts=(cp + shift).astype(int),
        lowest_count=int(pb.min() + shift),
        lowest_count_inferred=lowest_count is None,
        method="mixed",
        volumes=x,
        log_likelihood=lat["ll"],
        n_components_icl=gmm.n_components_icl,
        entropy=entropy,
        notes=notes,
        classes=np.stack([cp + shift, cs], axis=1).astype(int),
        minor_counts=cs[labels].astype(int),
        count_posterior=tp[:, used],
        count_values=(pvals[used] + shift).astype(int),
        gmm=gmm,
        params={
            "c": [float(c) for c in lat["coef"]],
            "pb_step": float(_poly(np.array([1.0]), lat["coef"])[0]),
            "se_ratio": float(lat["r"]),
            "pb_class_fit": curve_fit,
            "starts": starts,
        },
    )


def pb_counts_mixed(
    volumes,
    *,
    se_ratio=SE_RATIO_Z2,
    lowest_count=None,
    degree: int = 2,
    min_step_ratio: float = 0.7,
    max_components: int = 20,
    seed: int = 0,
    entropy: str = "soft",
    gmm: CountResult | None = None,
    errors=None,
    **options,
) -> CountResult:
    """Number of Pb atoms in mixed Pb/Se columns (rocksalt PbSe along <100>).

    Along [100] of rocksalt PbSe the atoms of a column are Pb and Se in turn,
    so a column holds (n_Pb, n_Se) with n_Se ∈ {n_Pb - 1, n_Pb, n_Pb + 1}; its
    cross-section classes step by one Se and by one Pb in turn.  The
    tomography needs n_Pb.

    What is identifiable
    --------------------
    The three classes of one Pb count, (n, n-1), (n, n), (n, n+1), lie one Se
    cross-section apart (≈ 0.0045 Å² in the sample model), about two noise
    widths at 5e4 e/Å²: a column's Se count is weakly determined.  The Pb
    count is well determined: even the closest classes of two Pb counts,
    (n, n+1) and (n+1, n), differ by one Pb minus one Se (≈ 0.0155 Å²), and
    the triplets of successive Pb counts lie one Pb + one Se apart.  A free
    mixture (StatSTEM's) spends components on Se sub-classes where they are
    common, and numbering its components consecutively then gives wrong Pb
    counts (``gmm`` in the result holds it, for its ICL curve).

    Method
    ------
    1. *Pb classes on a curve.*  One component per Pb count n, means on a
       smooth curve through zero,

           μ_n = g(n) = c_1 n + c_2 n²,  c_2 ≤ 0,  g'(n_max) ≥ min_step_ratio · c_1

       (``degree=1``: c_2 = 0), one common width that takes up the noise and
       the ±1 Se spread, free weights; g(0) = 0 fixes the absolute count
       (no lowest-count guess).  EM (the M-step fits g to the posterior-
       weighted class means by constrained weighted least squares, exact for
       one common width) is started from ~90 scales g(1) (the lowest two free-
       mixture means as 1..5 Pb, and a 4 % grid between x_max/``max_count``
       and x_max), each run 30 iterations; the 4 best run to convergence.
       The kept fit has the fewest interior Pb counts holding ≤ 2 columns
       ("holes" in the thickness profile; a compact particle has every count
       between its thinnest and thickest column, the assumption StatSTEM makes
       when it numbers components consecutively), then the smallest

           ICL = -2 ln L + d ln N - 2 Σ_i Σ_n t_in ln t_in,
           d = (Pb counts whose g(n) lies within the data ± 3 widths) - 1 + degree + 1.

       Both rules reject aliases with a finer scale (more counts, every other
       one nearly empty), which fit the data about as well.
    2. *Se sub-classes.*  The classes (p, s), s - p ∈ {-1, 0, 1}, are put at
       g((p + r s) / (1 + r)) on the same curve ((n, n) sits at g(n), (n, n±1)
       one Se to either side), with ``r`` the Se/Pb single-atom ratio
       (default (34/82)² = 0.172, the Z² rule; a (low, high) pair fits it, a
       float fixes it); EM from the step-1 fit refines g, the weights of every
       class and the common width (now the noise alone).
    3. *The ±1 Se does not decide the Pb count*: each column gets the Pb count
       p of largest posterior summed over its Se sub-classes, Σ_s t_i(p,s).
       The most probable Se count within that p is ``minor_counts``, for
       information (right for ~0.9 of the sample's columns at 5e4 e/Å²).

    Parameters
    ----------
    volumes : (N,) array
        Cross-sections of the mixed columns, Å².
    se_ratio : float, (low, high) or None
        One Se's cross-section over one Pb's: fixed, fitted within bounds, or
        (None) fitted within (34/82)^2.2 .. (34/82)^1.2.
    lowest_count : int, optional
        Pb count of the lowest class, when you know it: the best start whose
        lowest class has it is kept, or the counts are shifted (with a note).
    degree : {1, 2}
        Degree of g.
    min_step_ratio : float
        Smallest allowed g'(n_max) / g'(0): how much the cross-section per
        atom may drop from the thinnest to the thickest column (channelling).
    max_components, seed, entropy
        Of the free common-width mixture fitted first (``.gmm``; its ICL curve
        is ``.icl``).
    gmm : CountResult, optional
        That free mixture, if already fitted.
    errors : (N,) array, optional
        Standard errors of the cross-sections (Å²): fits whose class width
        exceeds 3× their median are ranked last (unresolved classes).
    **options
        ``n_screen`` (30), ``n_keep`` (4), ``max_count`` (60), ``sparse_class``
        (2), ``refine`` (True: step 2; False: Pb counts from step 1).

    Returns
    -------
    CountResult
        ``method="mixed"``; ``counts`` = n_Pb; components are the (n_Pb, n_Se)
        classes (``classes``, ``means``, ``weights``, ``posterior``,
        ``labels``; ``component_counts`` their n_Pb); ``count_posterior``
        (N, P) over the Pb counts ``count_values``; ``minor_counts`` the most
        probable n_Se; ``params``: ``c`` (Å²), ``pb_step`` = g(1) (Å², one Pb
        with its Se neighbour at the start of the curve), ``se_ratio``,
        ``pb_class_fit`` (step 1), ``starts``.
    """
    x = _as_volumes(volumes)
    return _count_curve(
        x, mixed=True, se_ratio=se_ratio, lowest_count=lowest_count, degree=degree, min_step_ratio=min_step_ratio,
        max_components=max_components, seed=seed, entropy=entropy, gmm=gmm, errors=errors, **options,
    )


# --------------------------------------------------------------------------
# public entry point


def _per_type(value, key, name):
    """A per-type setting: a dict keyed by type, or one value for all types."""
    if isinstance(value, Mapping) and not (name == "library" and not all(isinstance(k, str) for k in value)):
        return value.get(key)
    return value


def _count_one(x, *, max_components, library, n_components, lowest_count, mixed, model, seed, entropy, se_ratio,
               errors=None, label=""):
    if library is not None:
        if n_components is not None:
            raise ValueError("give either a library or n_components, not both")
        res = _count_library(x, library)
        if lowest_count is not None:
            res.notes.append("lowest_count is ignored with a library: the library names the counts")
        return res
    if mixed or model == "curve":
        if n_components is not None:
            what = "mixed columns" if mixed else "the curve model"
            raise ValueError(
                f"n_components cannot be forced for {what}{label}: the classes are the counts found on the "
                "cross-section curve; set lowest_count, or use model='gmm' on plain columns (mixed=False)"
            )
        return _count_curve(
            x, mixed=bool(mixed), se_ratio=se_ratio, lowest_count=lowest_count, max_components=max_components,
            seed=seed, entropy=entropy, errors=errors,
        )
    return _count_gmm(x, max_components, n_components, lowest_count, seed, entropy, errors)


def count_atoms(
    volumes,
    max_components: int = 20,
    library=None,
    *,
    n_components=None,
    lowest_count=None,
    types=None,
    mixed="auto",
    model: str = "gmm",
    seed: int = 0,
    entropy: str = "soft",
    se_ratio=SE_RATIO_Z2,
    errors=None,
) -> CountResult:
    """Atom counts from column cross-sections (StatSTEM's mixture-model counting).

    Parameters
    ----------
    volumes : (N,) array or pandas.DataFrame
        Scattering cross-sections (fitted peak volumes) of the columns, Å², or
        the table of :func:`fit_columns` (its ``volume`` column; its ``type``
        column is used when ``types`` is None).
    max_components : int or dict
        Largest number of mixture components K tried (the ICL is computed for
        K = 1..max_components; K above the number of columns is skipped).
    library : dict, array or None
        Simulated cross-sections (Å²) per atom count instead of the mixture:
        ``{1: 0.020, 2: 0.039, ...}``, an array indexed by the count (NaN for
        counts not simulated), or ``{(n_Pb, n_Se): σ}`` for mixed columns.  A
        dict keyed by column type gives one library per type.  Each column gets
        the count of the nearest library value.
    n_components : int or dict, optional
        Force K instead of the ICL minimum.
    lowest_count : int or dict, optional
        Count of the lowest component.  Default: inferred (see
        :func:`infer_lowest_count`), 1 when that is ambiguous.
    types : (N,) array of str, optional
        Column type of each column (e.g. ``"Pb"``, ``"Se"``, ``"Pb+Se"``):
        each type is counted on its own.
    mixed : bool, "auto" or collection of str
        Count columns as mixed Pb/Se columns (Pb count, :func:`pb_counts_mixed`):
        True for all, a collection of type names, or "auto" (default): the
        types whose name holds a "+" (as ``"Pb+Se"``).
    model : {"gmm", "curve"}
        For plain (not mixed) columns: ``"gmm"`` (default) is StatSTEM's free
        common-width mixture, K at the ICL minimum, counts numbered from
        ``lowest_count``; ``"curve"`` puts one class per count on a smooth
        cross-section curve through zero (the model of
        :func:`pb_counts_mixed`, without Se sub-classes): no component can be
        spent on a noise split, and the absolute count needs no guess.
        Mixed columns always use the curve.
    seed : int
        Seed of the mixture's random starts: the same input and seed give the
        same result.
    entropy : {"soft", "hard"}
        The classification term of the ICL (module docstring).
    se_ratio : float, (low, high) or None
        Se/Pb single-atom cross-section ratio of mixed columns' Se sub-classes
        (see :func:`pb_counts_mixed`).
    errors : (N,) array, optional
        Standard errors of the cross-sections (Å², ``volume_err`` of
        :func:`fit_columns`; taken from the table when it has that column).
        The free mixture (``model="gmm"``) is then error-aware: column i's
        component width is sqrt(s² + e_i²) with one fitted extra spread s,
        and K is the ICL minimum among the fits with s ≤ 2 × the median error
        (``RESOLVED_FACTOR``; see :func:`_count_gmm`); ``params`` holds s per
        K.  Errors that are NaN or ≤ 0 get the median error.  The curve model
        prefers fits whose class width is at most 3× the median error (a
        width far above the precision means unresolved classes).  Without
        errors, StatSTEM's common-width mixture.

    Returns
    -------
    CountResult
        ``.counts`` (N,) int, ``.n_components``, ``.icl`` (ICL per K, NaN
        where not computed), ``.means``, ``.sigma``, ``.weights``, ``.labels``,
        ``.posterior``, ``.pdf(x)``, ``.notes``.  With several types, the
        per-type results are in ``.by_type``; the top level then concatenates
        their components (``weights`` as fractions of all columns,
        ``sigma`` and ``component_sigma`` one value per component, ``icl`` one
        row per type).

    Raises
    ------
    ValueError
        Empty input, NaN/inf or negative cross-sections, fewer columns than
        forced components, a malformed library.
    """
    if isinstance(volumes, pd.DataFrame):
        if types is None and "type" in volumes.columns:
            types = volumes["type"].to_numpy()
        if errors is None and "volume_err" in volumes.columns:
            errors = volumes["volume_err"].to_numpy()
    x = _as_volumes(volumes)
    if entropy not in ("soft", "hard"):
        raise ValueError(f"entropy must be 'soft' or 'hard', got {entropy!r}")
    if model not in ("gmm", "curve"):
        raise ValueError(f"model must be 'gmm' (free mixture, StatSTEM) or 'curve', got {model!r}")
    if types is None:
        is_mixed = bool(mixed) and mixed != "auto" and not isinstance(mixed, (list, tuple, set, frozenset))
        lib = library
        if isinstance(library, Mapping) and library and all(isinstance(k, str) for k in library):
            raise ValueError("the library is keyed by column type: give types too")
        return _count_one(
            x,
            max_components=max_components,
            library=lib,
            n_components=n_components,
            lowest_count=lowest_count,
            mixed=is_mixed,
            model=model,
            seed=seed,
            entropy=entropy,
            se_ratio=se_ratio,
            errors=errors,
        )
    types = np.asarray(types).astype(str)
    if types.shape != x.shape:
        raise ValueError(f"types must give one type per column: {types.size} types for {x.size} columns")
    if errors is not None:
        errors = np.asarray(errors, dtype=float).ravel()
        if errors.size != x.size:
            raise ValueError(f"errors must give one standard error per column: {errors.size} errors for {x.size} columns")
    names = list(dict.fromkeys(types.tolist()))  # order of first appearance
    by_type = {}
    for t in names:
        sel = types == t
        if mixed == "auto":
            t_mixed = "+" in t
        elif isinstance(mixed, (list, tuple, set, frozenset)):
            t_mixed = t in mixed
        else:
            t_mixed = bool(mixed)
        lib = library.get(t) if (isinstance(library, Mapping) and library and all(isinstance(k, str) for k in library)) else library
        try:
            by_type[t] = _count_one(
                x[sel],
                max_components=_per_type(max_components, t, "max_components") or 20,
                library=lib,
                n_components=_per_type(n_components, t, "n_components"),
                lowest_count=_per_type(lowest_count, t, "lowest_count"),
                mixed=t_mixed,
                model=_per_type(model, t, "model") or "gmm",
                seed=seed,
                entropy=entropy,
                se_ratio=se_ratio,
                errors=None if errors is None else errors[sel],
                label=f" of type {t!r}",
            )
        except ValueError as exc:
            raise ValueError(f"type {t!r} ({sel.sum()} columns): {exc}") from exc
    if len(names) == 1:
        res = by_type[names[0]]
        res.types = types
        res.by_type = by_type
        return res
    # assemble: components of all types side by side
    n = x.size
    counts = np.empty(n, dtype=int)
    labels = np.empty(n, dtype=int)
    offs, means, weights, sig, ctype, ccounts = 0, [], [], [], [], []
    kmax = max(r.icl.size for r in by_type.values())
    icl = np.full((len(names), kmax), np.nan)
    total_k = sum(r.n_components for r in by_type.values())
    post = np.zeros((n, total_k))
    ll = 0.0
    notes = []
    for j, t in enumerate(names):
        r = by_type[t]
        sel = np.flatnonzero(types == t)
        frac = sel.size / n
        counts[sel] = r.counts
        labels[sel] = r.labels + offs
        post[np.ix_(sel, offs + np.arange(r.n_components))] = r.posterior
        means.append(r.means)
        weights.append(r.weights * frac)
        sig.append(np.asarray(r.component_sigma, dtype=float))
        ctype += [t] * r.n_components
        ccounts.append(r.component_counts)
        icl[j, : r.icl.size] = r.icl
        ll += r.log_likelihood
        notes += [f"{t}: {m}" for m in r.notes]
        offs += r.n_components
    comp_sigma = np.concatenate(sig)
    return CountResult(
        counts=counts,
        n_components=int(total_k),
        icl=icl,
        means=np.concatenate(means),
        sigma=comp_sigma,
        weights=np.concatenate(weights),
        labels=labels,
        posterior=post,
        component_counts=np.concatenate(ccounts).astype(int),
        lowest_count=int(min(r.lowest_count for r in by_type.values())),
        lowest_count_inferred=all(r.lowest_count_inferred for r in by_type.values()),
        method="+".join(dict.fromkeys(r.method for r in by_type.values())),
        volumes=x,
        log_likelihood=ll,
        n_components_icl=int(sum(r.n_components_icl for r in by_type.values())),
        entropy=entropy,
        notes=notes,
        component_sigma=comp_sigma,
        component_type=np.array(ctype),
        types=types,
        by_type=by_type,
    )
