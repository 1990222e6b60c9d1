"""The iterations of a column fit: Gauss-Newton steps, noise weighting, sandwich standard errors.

Pixel units throughout.  Given the positions and widths the model is linear
in the background and the volumes (:meth:`~napari_nxtomo.core.fitting.problem._Problem.solve_linear`);
every estimate here carries that linear solution, its model image and its
residual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .noise import _noise_model
from .problem import _invert_blocks
from .profile_kernels import _inverse_variance

#: a column has converged when its position step is below the fit's ``tol``
#: or below this fraction of its position standard error
STEP_OF_ERROR = 0.1
#: a column whose position standard error exceeds this fraction of its width
#: is not determined by the image (its volume is below about 3 standard
#: errors): it does not hold back convergence, and is left out after the
#: first pass
UNDETERMINED = 0.5


@dataclass
class _Estimate:
    """One estimate of every parameter of a fit (pixel units), its model image and residual."""

    ys: np.ndarray  #: (N,) rows of the centres
    xs: np.ndarray  #: (N,) columns of the centres
    ss_t: np.ndarray  #: (T,) width of each type
    ss: np.ndarray  #: (N,) width of each column
    vols: np.ndarray  #: (N,) volumes
    b: float | np.ndarray  #: background: a float, or the (H, W) image of a polynomial background
    tab: tuple  #: the columns' windows and profiles (see ``_tabulate``)
    model: np.ndarray  #: (H, W) model image
    rss: float  #: (weighted) residual sum of squares
    coef: np.ndarray | None = None  #: the polynomial background's coefficients (None for a flat one)


def _evaluate(problem, ys, xs, ss_t, tcode):
    """The estimate at these positions and type widths, with the least-squares volumes and background."""
    ss = np.ascontiguousarray(ss_t[tcode])
    vols, b, tab = problem.solve_linear(ys, xs, ss)
    model = problem.model(ys, xs, vols, ss, b)
    coef = problem.coef.copy() if problem.basis is not None and problem.fit_background else None
    return _Estimate(ys, xs, ss_t, ss, vols, b, tab, model, problem.rss(model), coef)


def _least_squares(problem, est, tcode, n_types, fit_width, weighting, max_iter, tol_px, progress, bounds):
    """Gauss-Newton iterations from ``est``: unweighted, then (``weighting="noise"``) noise-weighted.

    The second pass is skipped when the fitted noise variance does not grow
    with the signal (uniform weights are then right).  Columns undetermined
    (:func:`_determined`) at the start or after the first pass are left out
    of what follows.  Returns the final estimate, whether the last pass converged,
    the mask of the columns kept and :func:`_weighting_shift` (NaN without a weighted pass).
    """

    def gauss_newton(start, codes):
        return _gauss_newton(problem, start, codes, n_types, fit_width, max_iter, tol_px, progress, bounds)

    keep = np.ones(len(est.ys), dtype=bool)
    shift = float("nan")
    for stage in range(2):  # at the starts, then after the first pass
        if stage:
            est, converged = gauss_newton(est, tcode)
        kept = _determined(problem, est)
        if not kept.all():  # starts where the image holds no column of their own: left out
            keep[np.flatnonzero(keep)[~kept]] = False
            tcode = tcode[kept]
            est = _evaluate(problem, est.ys[kept], est.xs[kept], est.ss_t, tcode)
            if stage and weighting != "noise":
                est, converged = gauss_newton(est, tcode)
    if weighting == "noise":
        vol_err = _standard_errors(problem, est)[0][:, 2]
        weighted = _reweight(problem, est, tcode)
        if weighted is not None:
            west, wconv = gauss_newton(weighted, tcode)
            shift = _weighting_shift(est, west, vol_err)
            est, converged = west, wconv
            for _ in range(3):  # a volume the weighted pass turned negative: its start left out, the rest refitted
                neg = est.vols <= 0
                if not neg.any():
                    break
                keep[np.flatnonzero(keep)[neg]] = False
                tcode = tcode[~neg]
                est = _evaluate(problem, est.ys[~neg], est.xs[~neg], est.ss_t, tcode)
                est, converged = gauss_newton(est, tcode)
    return est, converged, keep, shift


def _weighting_shift(unweighted, weighted, vol_err):
    """Median over the columns of |V_w - V_u| / se_u: how far the weighted pass moved the volumes, in standard errors.

    When the Gaussian model describes the peaks both passes estimate the same
    volumes and the difference has a variance below the unweighted one's (a
    median below 0.67); on real and multislice images, whose peaks have
    heavier tails than a Gaussian, it is 1-2: the two estimators then measure
    different things, and a library must be compared with the fit it was
    computed for.
    """
    d = np.abs(weighted.vols - unweighted.vols) / vol_err
    return float(np.median(d[np.isfinite(d)]))


def _determined(problem, est):
    """Mask of the columns the image determines: a positive volume and a position error below the width.

    A start with no column of its own under it (a noise peak, a second start
    on one column, a start in the vacuum) gets a volume near or below zero,
    or shares a column with a neighbour so that its position is not
    determined to better than half the width of a column.
    """
    hh, _, _ = problem.normals(est.model, est.vols, est.tab)
    ok = est.vols > 0
    se = _position_errors(hh, ok, est.rss / max(problem.n_pixels - 3 * len(est.ys) - 1, 1))
    return ok & (se <= UNDETERMINED * est.ss)


def _reweight(problem, est, tcode):
    """Weight the pixels by the inverse of the fitted variance ``α + β · model``; the estimate re-solved.

    None (and the weights left alone) when the variance does not grow with
    the signal.
    """
    alpha, beta = _noise_model(problem, est.model, est.vols, est.tab)
    top = alpha + beta * float(np.abs(est.model).max())
    if not (beta > 0 and top > 0):
        return None
    w = _inverse_variance(est.model, alpha, beta, 1e-6 * top)
    w *= 1.0 / float(w.mean())
    problem.set_weights(w)
    return _evaluate(problem, est.ys, est.xs, est.ss_t, tcode)


def _gauss_newton(problem, est, tcode, n_types, fit_width, max_iter, tol_px, progress, bounds):
    """At most ``max_iter`` damped Gauss-Newton steps; returns the estimate and whether it converged.

    Converged: every column's position step is below ``tol_px`` or below
    :data:`STEP_OF_ERROR` of its own standard error (or the image does not
    determine its position, :data:`UNDETERMINED`), and the widths move by
    less than 1e-5 relative; or no step (halved 5 times) lowers the residual
    (the minimum to numerical precision).  The standard-error clauses keep a
    start where the image holds no column of its own (a second start on one
    column, a noise peak) from holding back the others.
    """
    for _ in range(int(max_iter)):
        progress.check_cancel()
        res = _line_search(problem, est, tcode, n_types, fit_width, bounds)
        progress.tick()
        if res is None:
            return est, True
        trial, pos_se = res
        step = np.maximum(np.abs(trial.ys - est.ys), np.abs(trial.xs - est.xs))
        moving = (step >= np.maximum(tol_px, STEP_OF_ERROR * pos_se)) & (pos_se <= UNDETERMINED * trial.ss)
        rel_ds = float(np.max(np.abs(trial.ss_t - est.ss_t) / est.ss_t))
        est = trial
        if not moving.any() and rel_ds < 1e-5:
            return est, True
    return est, False


def _line_search(problem, est, tcode, n_types, fit_width, bounds):
    """The Gauss-Newton step from ``est``, halved until the residual does not grow; None if it still does.

    Positions move by at most half a width and stay on the image; widths
    stay within ``bounds`` (pixels, the smallest and largest of each type).  Returns the new estimate and each column's
    position standard error (pixels, the larger of y and x; infinite where
    its block is singular).
    """
    hh, gg, _ = problem.normals(est.model, est.vols, est.tab)
    dpos, ds, ok = _gauss_newton_step(hh, gg, est.vols, tcode, n_types, fit_width, est.ss_t)
    pos_se = _position_errors(hh, ok, est.rss / max(problem.n_pixels - 3 * len(est.ys) - 1, 1))
    lim_step = 0.5 * est.ss
    dpos = np.clip(dpos, -lim_step[:, None], lim_step[:, None])
    h, w = problem.shape
    scale = 1.0
    for _halving in range(6):
        ny = np.clip(est.ys + scale * dpos[:, 0], -0.5, h - 0.5)
        nx = np.clip(est.xs + scale * dpos[:, 1], -0.5, w - 0.5)
        nst = np.clip(est.ss_t + scale * ds, bounds[0], bounds[1])
        trial = _evaluate(problem, ny, nx, nst, tcode)
        if trial.rss <= est.rss * (1 + 1e-12) or not np.isfinite(est.rss):
            return trial, pos_se
        scale *= 0.5
    return None


def _position_errors(hh, ok, sigma2):
    """Each column's position standard error (pixels, the larger of y and x) from its (y, x, V) block.

    ``sigma2`` is the residual variance per (weighted) pixel; infinite where
    the block is singular or the column's volume is not positive.
    """
    se = np.full(len(hh), np.inf)
    pinv, good = _invert_blocks(hh[:, :3, :3], ok)
    se[good] = np.sqrt(np.clip(np.maximum(pinv[good, 0, 0], pinv[good, 1, 1]) * sigma2, 0, None))
    return se


def _gauss_newton_step(hh, gg, vols, tcode, n_types, fit_width, ss_t):
    """Position steps (N, 2) and width steps (T,) from the per-column normal blocks.

    Each column's (y, x, V) step is solved with its neighbours' contributions
    in the residual (block Jacobi, all columns at once).  Widths are shared
    per type: their step comes from the Schur complement of the per-column
    (y, x, V) blocks; each column's (y, x, V) step then accounts for the
    width step.
    """
    p = hh[:, :3, :3].copy()
    # Levenberg-Marquardt-like safeguard on tiny diagonals
    k3 = np.arange(3)
    p[:, k3, k3] *= 1.0 + 1e-9
    pinv, ok = _invert_blocks(p, vols > 0)
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


def _standard_errors(problem, est):
    """Standard errors (N, 3) of each column's (y, x, V) and the noise model α, β they assume.

    The sandwich ``(JᵀWJ)⁻¹ JᵀW Σ W J (JᵀWJ)⁻¹`` per column, with its
    neighbours, the background and the widths held fixed, and ``Σ`` the
    pixel variance ``α + β · model`` fitted to the leverage-corrected squared
    residuals.  NaN where a column's block is singular.
    """
    alpha, beta = _noise_model(problem, est.model, est.vols, est.tab)
    hh, _, mm = problem.normals(est.model, est.vols, est.tab, alpha, beta, True)
    cov = _sandwich(hh[:, :3, :3], mm)
    return np.sqrt(np.clip(np.einsum("nii->ni", cov), 0, None)), alpha, beta


def _sandwich(p3, m3):
    """(P⁻¹ M P⁻¹) per column; NaN where P is singular."""
    cov = np.full_like(p3, np.nan)
    pinv, ok = _invert_blocks(p3)
    if ok.any():
        cov[ok] = pinv[ok] @ m3[ok] @ pinv[ok]
    return cov
