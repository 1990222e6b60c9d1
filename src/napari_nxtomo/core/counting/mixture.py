"""The 1D Gaussian mixture of the counting: fit by EM from many starts, and its ICL.

The cross-sections x_i are modelled as draws from p(x) = Σ_k τ_k N(x | μ_k, s²)
(one mean per class of columns with equal counts, one common width), or,
with known standard errors e_i, from components N(μ_k, s² + e_i²).  The EM
itself is the numba kernel of :mod:`._em_kernels`; this module chooses its
starts and keeps the most likely fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._em_kernels import _e_step_nb, _em_nb
from .binning import _compress
from .inputs import _check_k


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

    Examples
    --------
    >>> import numpy as np
    >>> from napari_nxtomo.core.counting import GMMFit
    >>> f = GMMFit(means=np.array([1.0, 2.0]), weights=np.array([0.5, 0.5]), sigma=0.1,
    ...            log_likelihood=-3.0, posterior=np.eye(2))
    >>> f.n_components
    2
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


def _e_step(x, means, weights, s2, e2=None):
    """E-step of raw data: posterior t_ik (N, K), ln p(x_i) (N,) and ln L, for component variances s² + e_i².

    ``e2`` None: the common-width mixture of variance ``s2``.
    """
    x = np.ascontiguousarray(x, dtype=float)
    e2 = np.zeros(x.size) if e2 is None else np.ascontiguousarray(e2, dtype=float)
    means = np.asarray(means, dtype=float)
    post = np.empty((x.size, means.size))
    logp = np.empty(x.size)
    ll = _e_step_nb(x, e2, np.ones(x.size), means, np.asarray(weights, dtype=float), float(s2), post, logp)
    return post, logp, float(ll)


# --------------------------------------------------------------------------
# starts


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


def _starts(x, k, rng, n_random, init_means=None):
    """Initial means: quantiles, even spacing, ``n_random`` k-means++ draws, then the given ``init_means``."""
    q = np.quantile(x, (np.arange(k) + 0.5) / k)
    lo, hi = x.min(), x.max()
    even = lo + (np.arange(k) + 0.5) * (hi - lo) / k if k > 1 else np.array([x.mean()])
    starts = [q, even]
    for _ in range(n_random):
        starts.append(_kmeanspp(x, k, rng))
    if init_means is not None:
        for mu in init_means if isinstance(init_means, (list, tuple)) else [init_means]:
            mu = np.sort(np.asarray(mu, dtype=float).ravel())
            if mu.size != k:
                raise ValueError(f"init_means must hold {k} means, got {mu.size}")
            starts.append(mu)
    return starts


def _grow_starts(x, prev: GMMFit | None, k: int):
    """Starts for K components built from the best (K-1)-component fit.

    One new mean at the worst-explained value (lowest mixture density), and one
    start per old component split in two at ± its width.
    """
    if prev is None or prev.n_components != k - 1:
        return []
    starts = []
    post, logp, _ = _e_step(x, prev.means, np.maximum(prev.weights, 1e-300), prev.sigma**2)
    starts.append(np.sort(np.append(prev.means, x[np.argmin(logp)])))
    # split the components that hold the largest scatter (at most three)
    scatter = (post * (x[:, None] - prev.means[None, :]) ** 2).sum(axis=0)
    d = max(prev.sigma, 1e-12)
    for j in np.argsort(scatter)[::-1][:3]:
        mu = np.delete(prev.means, j)
        starts.append(np.sort(np.concatenate([mu, [prev.means[j] - d, prev.means[j] + d]])))
    return starts


def _cluster_variance(xv, cw, mu0):
    """Mean squared distance of the (weighted) data to the nearest start mean: the spread inside hard clusters."""
    lab = np.argmin(np.abs(xv[:, None] - mu0[None, :]), axis=1)
    return np.average((xv - mu0[lab]) ** 2, weights=cw)


# --------------------------------------------------------------------------
# fit


def _best_run(means0, start, run, *, n_screen, n_keep, max_iter):
    """EM from every start; the most likely result (means, weights, width, ln L, posterior, iterations, converged).

    ``start(mu0)`` gives (means, weights, width) from the start means ``mu0``;
    ``run(means, weights, width, n_iter)`` runs EM and returns the tuple
    above.  Every start runs ``n_screen`` iterations; the ``n_keep`` most
    likely run on to convergence.
    """
    screened = sorted((run(*start(mu0), n_screen) for mu0 in means0), key=lambda r: -r[3])
    best = None
    for res in screened[:n_keep]:
        if not res[6]:
            more = run(res[0], res[1], res[2], max_iter)
            res = more[:5] + (res[5] + more[5], more[6])
        if best is None or res[3] > best[3] + 1e-12 * abs(best[3]):
            best = res
    return best


def _common_width_em(xv, cw, k, spread, sigma_floor, tol):
    """(start, run) for :func:`_best_run`: the common-width mixture, its width carried as σ."""

    def start(mu0):
        # initial width: the spread inside the hard clusters of the start
        s0 = np.sqrt(_cluster_variance(xv, cw, mu0))
        return mu0.copy(), np.full(k, 1.0 / k), max(s0, spread / (2.0 * k), sigma_floor * 10)

    def run(means, weights, sigma, n_iter):
        m, w, s2, ll, post, it, conv = _em_nb(xv, np.zeros(xv.size), cw, np.asarray(means, dtype=float),
                                              np.asarray(weights, dtype=float), float(sigma) ** 2, int(n_iter),
                                              float(tol), float(sigma_floor) ** 2, False)
        return m, w, float(np.sqrt(s2)), float(ll), post, int(it), bool(conv)

    return start, run


def _error_aware_em(xv, ev, cw, k, spread, s2_floor, med_e2, tol):
    """(start, run) for :func:`_best_run`: the error-aware mixture, its extra variance carried as s²."""

    def start(mu0):
        # initial extra variance: the spread inside the hard clusters beyond the errors
        s2 = float(_cluster_variance(xv, cw, mu0) - med_e2)
        return np.asarray(mu0, dtype=float).copy(), np.full(k, 1.0 / k), max(s2, (spread / (4.0 * k)) ** 2,
                                                                              100 * s2_floor)

    def run(means, weights, s2, n_iter):
        return _em_nb(xv, ev, cw, means, weights, s2, int(n_iter), float(tol), float(s2_floor), False)

    return start, run


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

    The data are modelled as draws from p(x) = Σ_k τ_k N(x | μ_k, s²), k =
    1..K: one mean per class, weights τ_k summing to one and *one* standard
    deviation s for all components (the spread comes from the noise and the
    fit, not from the class).  EM runs from several deterministic starts:
    quantiles of the data, evenly spaced means, ``n_random_starts`` k-means++
    draws from a generator seeded with ``seed``, and ``init_means``.  Every
    start runs ``n_screen`` EM iterations; the ``n_keep`` most likely run to
    convergence; the most likely is kept.  Above 3000 values the EM runs on
    the data binned into 2048 bins (:mod:`.binning`); the posteriors and the
    likelihood are those of the raw values.

    With ``errors`` (one known standard error e_i per value) the mixture is
    error-aware ("extreme deconvolution", Bovy, Hogg & Roweis 2011):
    component k of value i is N(μ_k, s² + e_i²), with one common extra
    variance s² fitted by EM; ``GMMFit.extra_sigma`` is s.

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

    Examples
    --------
    Three classes of cross-sections 0.02 Å² apart with a spread of 0.002 Å²:

    >>> import numpy as np
    >>> from napari_nxtomo.core.counting import fit_gmm
    >>> rng = np.random.default_rng(0)
    >>> x = np.repeat([0.02, 0.04, 0.06], 50) + rng.normal(0, 0.002, 150)
    >>> f = fit_gmm(x, 3)
    >>> [round(float(m), 2) for m in f.means], round(f.sigma, 3), f.posterior.shape
    ([0.02, 0.04, 0.06], 0.002, (150, 3))
    """
    x = np.asarray(x, dtype=float)
    k = int(n_components)
    _check_k(x.size, k)
    rng = np.random.default_rng(seed)
    spread = float(x.std())
    sigma_floor = 1e-6 * max(spread, float(np.abs(x).max()), 1e-300)
    means0 = _starts(x, k, rng, n_random_starts if k > 1 else 0, init_means)
    options = {"n_screen": n_screen, "n_keep": n_keep, "max_iter": max_iter}
    if errors is None:
        xv, _, cw = _compress(x)
        em = _common_width_em(xv, cw, k, spread, sigma_floor, tol)
        means, weights, sigma, ll, post, n_iter, conv = _best_run(means0, *em, **options)
        s2, e2, extra_sigma = sigma**2, None, None
    else:
        e2 = _error_variances(errors, x.size)
        med_e2 = float(np.median(e2))
        xv, ev, cw = _compress(x, e2)
        em = _error_aware_em(xv, ev, cw, k, spread, sigma_floor**2, med_e2, tol)
        means, weights, s2, ll, post, n_iter, conv = _best_run(means0, *em, **options)
        sigma, extra_sigma = np.sqrt(s2 + med_e2), float(np.sqrt(s2))
    if xv.size != x.size:  # binned: the posteriors and likelihood of the raw values
        post, _, ll = _e_step(x, means, np.maximum(weights, 0.0), s2, e2)
    order = np.argsort(means, kind="stable")
    return GMMFit(means=means[order], weights=weights[order], sigma=float(sigma), log_likelihood=float(ll),
                  posterior=post[:, order], n_iter=int(n_iter), converged=bool(conv), extra_sigma=extra_sigma)


def _error_variances(errors, n) -> np.ndarray:
    """e² of the values' standard errors, or a ValueError unless there is one finite positive error per value."""
    e = np.asarray(errors, dtype=float).ravel()
    if e.size != n:
        raise ValueError(f"errors must give one standard error per value: {e.size} errors for {n} values")
    if not np.all(np.isfinite(e) & (e > 0)):
        raise ValueError("errors must be finite and positive")
    return np.ascontiguousarray(e * e)


# --------------------------------------------------------------------------
# choice of K


def icl_criterion(log_likelihood: float, posterior, n_params: int, entropy: str = "soft") -> float:
    """Integrated classification likelihood of a fitted mixture (smaller is better).

    With the posterior probabilities t_ik = τ_k N(x_i|μ_k,s²) / p(x_i),

        ICL = -2 ln L + d ln N - 2 Σ_i Σ_k z_ik ln t_ik

    (natural logarithms; d = ``n_params``, 2K for a common-width 1D mixture:
    K means, K-1 weights, one width), where

    * ``entropy="soft"`` (default): z_ik = t_ik, so the last term is twice the
      classification entropy EN = -Σ Σ t_ik ln t_ik ≥ 0 (McLachlan & Peel's
      form, as we read De Backer et al., Ultramicroscopy 2013, for StatSTEM);
    * ``entropy="hard"``: z_ik is 1 for the most probable component of x_i and
      0 otherwise (Biernacki, Celeux & Govaert 2000: -2 × the classification
      log-likelihood at the MAP labels, plus the BIC penalty).

    Parameters
    ----------
    log_likelihood : float
        ln L of the fit.
    posterior : (N, K) array
        Posterior probabilities t_ik.
    n_params : int
        Free parameters d.
    entropy : {"soft", "hard"}

    Returns
    -------
    float

    Examples
    --------
    Four values each certainly in one class: no entropy, ICL = -2 ln L + d ln N.

    >>> import numpy as np
    >>> from napari_nxtomo.core.counting import icl_criterion
    >>> t = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> round(float(icl_criterion(10.0, t, 4)), 3)
    -14.455
    >>> t = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> round(float(icl_criterion(10.0, t, 4) - icl_criterion(10.0, t, 4, entropy="hard")), 3)  # 2 ln 2 in both
    0.0
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
    """Numbers of components K (1-based) at the local minima of an ICL curve, smallest ICL first.

    Parameters
    ----------
    icl : (K,) array
        ICL for K = 1, 2, ...; NaN where not computed (a neighbour that is NaN
        does not count).

    Returns
    -------
    list of int

    Examples
    --------
    >>> from napari_nxtomo.core.counting import local_minima
    >>> local_minima([5.0, 3.0, 4.0, 2.0, 6.0])
    [4, 2]
    """
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
