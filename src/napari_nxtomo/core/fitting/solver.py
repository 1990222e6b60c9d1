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


@dataclass
class _Estimate:
    """One estimate of every parameter of a fit (pixel units), its model image and residual."""

    ys: np.ndarray  #: (N,) rows of the centres
    xs: np.ndarray  #: (N,) columns of the centres
    ss_t: np.ndarray  #: (T,) width of each type
    ss: np.ndarray  #: (N,) width of each column
    vols: np.ndarray  #: (N,) volumes
    b: float  #: background
    tab: tuple  #: the columns' windows and profiles (see ``_tabulate``)
    model: np.ndarray  #: (H, W) model image
    rss: float  #: (weighted) residual sum of squares


def _evaluate(problem, ys, xs, ss_t, tcode):
    """The estimate at these positions and type widths, with the least-squares volumes and background."""
    ss = np.ascontiguousarray(ss_t[tcode])
    vols, b, tab = problem.solve_linear(ys, xs, ss)
    model = problem.model(ys, xs, vols, ss, b)
    return _Estimate(ys, xs, ss_t, ss, vols, b, tab, model, problem.rss(model))


def _least_squares(problem, est, tcode, n_types, fit_width, weighting, max_iter, tol_px, progress):
    """Gauss-Newton iterations from ``est``: unweighted, then (``weighting="noise"``) noise-weighted.

    The second pass is skipped when the fitted noise variance does not grow
    with the signal (uniform weights are then right).  Returns the final
    estimate and whether the last pass converged.
    """
    est, converged = _gauss_newton(problem, est, tcode, n_types, fit_width, max_iter, tol_px, progress)
    if weighting == "noise":
        weighted = _reweight(problem, est, tcode)
        if weighted is not None:
            est, converged = _gauss_newton(problem, weighted, tcode, n_types, fit_width, max_iter, tol_px, progress)
    return est, converged


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


def _gauss_newton(problem, est, tcode, n_types, fit_width, max_iter, tol_px, progress):
    """At most ``max_iter`` damped Gauss-Newton steps; returns the estimate and whether it converged.

    Converged: the largest position step is below ``tol_px`` and the widths
    move by less than 1e-5 relative, or no step (halved 5 times) lowers the
    residual (the minimum to numerical precision).
    """
    for _ in range(int(max_iter)):
        progress.check_cancel()
        trial = _line_search(problem, est, tcode, n_types, fit_width)
        progress.tick()
        if trial is None:
            return est, True
        max_step = max(
            float(np.max(np.abs(trial.ys - est.ys), initial=0.0)),
            float(np.max(np.abs(trial.xs - est.xs), initial=0.0)),
        )
        rel_ds = float(np.max(np.abs(trial.ss_t - est.ss_t) / est.ss_t))
        est = trial
        if max_step < tol_px and rel_ds < 1e-5:
            return est, True
    return est, False


def _line_search(problem, est, tcode, n_types, fit_width):
    """The Gauss-Newton step from ``est``, halved until the residual does not grow; None if it still does.

    Positions move by at most half a width and stay on the image; widths
    stay at 0.3 pixel or more.
    """
    hh, gg, _ = problem.normals(est.model, est.vols, est.tab)
    dpos, ds, _ok = _gauss_newton_step(hh, gg, est.vols, tcode, n_types, fit_width, est.ss_t)
    lim_step = 0.5 * est.ss
    dpos = np.clip(dpos, -lim_step[:, None], lim_step[:, None])
    h, w = problem.shape
    scale = 1.0
    for _halving in range(6):
        ny = np.clip(est.ys + scale * dpos[:, 0], -0.5, h - 0.5)
        nx = np.clip(est.xs + scale * dpos[:, 1], -0.5, w - 0.5)
        nst = np.maximum(est.ss_t + scale * ds, 0.3)
        trial = _evaluate(problem, ny, nx, nst, tcode)
        if trial.rss <= est.rss * (1 + 1e-12) or not np.isfinite(est.rss):
            return trial
        scale *= 0.5
    return None


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
