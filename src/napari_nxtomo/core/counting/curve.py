"""Classes on a cross-section curve: one class per count n with mean g(n) = c_1 n + c_2 n².

g goes through zero and is mildly concave; one common width, free weights.
A noise split of one class, which the free mixture sometimes prefers, cannot
happen, and the absolute count needs no guess.  ``model="curve"`` of
:func:`count_atoms`; step 1 of :func:`pb_counts_mixed`.
"""

from __future__ import annotations

import numpy as np

from ._em_kernels import _e_step_nb
from .binning import _compress
from .gmm import _count_gmm
from .inputs import _typical_error
from .mixture import _e_step, icl_criterion
from .result import CountResult


def _poly(u, coef):
    """g(u) = Σ_j c_j u^(j+1): a curve through the origin."""
    out = np.zeros_like(np.asarray(u, dtype=float))
    for j, c in enumerate(coef):
        out = out + c * np.asarray(u, dtype=float) ** (j + 1)
    return out


def _in_range(means, x, sigma):
    """Classes whose mean lies within the data ± 3 widths."""
    return (means >= x.min() - 3 * sigma) & (means <= x.max() + 3 * sigma)


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


def _curve_em(x, means, sigma, weights, m_step, *, max_iter, tol):
    """EM of a common-width mixture whose class means are refitted by ``m_step(xbar, nk) -> means``.

    ``means`` (L,) start the classes; ``weights`` None: equal for the classes
    within the data ± 3 widths, 1e-6 for the others.  The M-step fits the
    means to the posterior-weighted class means x̄_j of the N_j columns (exact
    for one common width: Σ_i t_ij (x_i - μ_j)² = const + N_j (x̄_j - μ_j)²).
    Returns sigma, weights, means, ln L ("ll") and the posterior ("post") of
    the raw data.
    """
    xv, _, cw = _compress(x)
    n = float(cw.sum())
    if weights is None:
        w = np.where(_in_range(means, x, sigma), 1.0, 1e-6)
    else:
        w = np.maximum(np.asarray(weights, dtype=float), 1e-12)
    w = w / w.sum()
    floor = 1e-6 * max(float(np.abs(x).max()), 1e-300)
    post = np.empty((xv.size, means.size))
    logp = np.empty(xv.size)
    e0 = np.zeros(xv.size)  # common width: no per-column variance
    ll_old = -np.inf
    for _ in range(max_iter):
        ll = _e_step_nb(xv, e0, cw, means, w, sigma * sigma, post, logp)
        pw = post * cw[:, None]
        nk = pw.sum(axis=0)
        w = nk / n
        with np.errstate(invalid="ignore", divide="ignore"):
            xbar = np.where(nk > 1e-12, pw.T @ xv / np.where(nk > 1e-12, nk, 1.0), 0.0)
        means = m_step(xbar, nk)
        d = xv[:, None] - means[None, :]
        sigma = max(float(np.sqrt((pw * d * d).sum() / n)), floor)
        if abs(ll - ll_old) <= tol * (1.0 + abs(ll)):
            break
        ll_old = ll
    post, _, ll = _e_step(x, means, w, sigma * sigma)
    return {"sigma": sigma, "weights": w, "means": means, "ll": ll, "post": post}


def _fit_curve_mixture(x, u, coef, sigma, *, degree, min_step_ratio=0.7, weights=None, max_iter=1000, tol=1e-8):
    """EM of a common-width mixture whose class means lie on a curve g(u_j) through zero.

    ``u`` (L,) are the classes' positions on the count axis (the count);
    the weights are free; the M-step refits g (:func:`_fit_curve`).
    Returns :func:`_curve_em`'s dict with the curve ``coef``.
    """
    coef = np.asarray(coef, dtype=float).copy()
    if coef.size < degree:
        coef = np.concatenate([coef, np.zeros(degree - coef.size)])
    fitted = {"coef": coef}

    def m_step(xbar, nk):
        fitted["coef"] = _fit_curve(u, xbar, nk, degree, min_step_ratio)
        return _poly(u, fitted["coef"])

    fit = _curve_em(x, _poly(u, coef), sigma, weights, m_step, max_iter=max_iter, tol=tol)
    fit["coef"] = fitted["coef"]
    return fit


# --------------------------------------------------------------------------
# choice among the starting scales


def _scale_starts(x, gmm_means, max_count):
    """Starting scales g(1): the two lowest free-mixture means taken as 1..5 atoms, and a 4 % geometric grid
    between x_max / max_count and x_max (candidates closer than 1.5 % to an earlier one dropped)."""
    cands = []
    grid = float(x.max()) * np.exp(-np.arange(0.0, np.log(max_count), np.log(1.04)))
    anchored = (gmm_means[:2, None] / np.arange(1, 6)[None, :]).ravel()
    for a1 in list(anchored) + list(grid):
        if a1 <= 0 or x.max() / a1 > max_count:
            continue
        if all(abs(a1 - c) > 0.015 * c for c in cands):
            cands.append(float(a1))
    return cands


def _score(fit, x, *, degree, entropy, sparse_class):
    """Add the ICL, the counts and the number of interior sparse counts ("gaps") to a curve fit."""
    d = int(_in_range(fit["means"], x, fit["sigma"]).sum()) - 1 + degree + 1
    fit.update(icl=icl_criterion(fit["ll"], fit["post"], d, entropy), n_params=d)
    fit["count"] = fit["u"][np.argmax(fit["post"], axis=1)].astype(int)
    # counts strictly inside the range held by (almost) no column: holes in the thickness profile
    occ = np.bincount(fit["count"])
    lo, hi = int(fit["count"].min()), int(fit["count"].max())
    fit["gaps"] = int(np.sum(occ[lo + 1 : hi] <= sparse_class))
    return fit


def _select_curve_fit(x, gmm, *, degree, min_step_ratio, entropy, n_screen, n_keep, max_count, sparse_class,
                      lowest_count, max_width=None):
    """Fit the count-curve mixture from many scales; return the chosen fit, the classes to keep, all fits, notes.

    Fits are ranked by (width above ``max_width``, interior sparse classes, ICL).
    """

    def run(u, coef, sigma, a1_start, **kw):
        fit = _fit_curve_mixture(x, u, coef, sigma, degree=degree, min_step_ratio=min_step_ratio, **kw)
        fit.update(u=u, a1_start=a1_start)
        return _score(fit, x, degree=degree, entropy=entropy, sparse_class=sparse_class)

    def converged(f):
        return run(f["u"], f["coef"], f["sigma"], f["a1_start"], weights=f["weights"])

    def rank(f):
        return (max_width is not None and f["sigma"] > max_width, f["gaps"], f["icl"])

    fits = []
    for a1 in _scale_starts(x, gmm.means, max_count):
        u = np.arange(1, int(np.ceil(1.5 * x.max() / a1)) + 3, dtype=float)
        # start narrower than the class spacing, or EM may merge every class from the first step
        fits.append(run(u, [a1], min(float(gmm.sigma), a1 / 4.0), a1, max_iter=n_screen))
    fits.sort(key=rank)
    fits[:n_keep] = sorted((converged(f) for f in fits[:n_keep]), key=rank)
    chosen = None
    if lowest_count is not None:
        ok = [f for f in fits if int(f["count"].min()) == int(lowest_count)]
        if ok:
            chosen = min(ok, key=rank)
            if not any(chosen is g for g in fits[:n_keep]):
                chosen = converged(chosen)
    if chosen is None:
        chosen = fits[0]
    notes = []
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
    return chosen, _populated(chosen, x), fits, notes


def _populated(fit, x):
    """Classes worth reporting: holding columns (weight × N > 1e-3) or with the mean within the data ± 3 widths."""
    return (fit["weights"] * x.size > 1e-3) | _in_range(fit["means"], x, fit["sigma"])


# --------------------------------------------------------------------------
# counting


def _check_curve_options(degree, min_step_ratio) -> int:
    """The curve's degree as an int, or a ValueError for a degree or step ratio out of range."""
    if degree not in (1, 2):
        raise ValueError(f"degree must be 1 (proportional) or 2 (with saturation), got {degree!r}")
    if not (0 < min_step_ratio <= 1):
        raise ValueError(f"min_step_ratio must lie in (0, 1], got {min_step_ratio}")
    return int(degree)


def _count_classes(x, *, lowest_count, degree, min_step_ratio, max_components, seed, entropy, gmm, errors,
                   n_screen=30, n_keep=4, max_count=60, sparse_class=2, width_factor=3.0):
    """One class per count on the curve g (step 1 of the curve model); returns the fit's summary and notes.

    ``gmm`` (the free mixture, fitted here when None) gives the starting
    scales; with ``errors``, fits whose class width exceeds ``width_factor``
    × the median error are ranked last.
    """
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
    u, means = f["u"][keep], f["means"][keep]
    weights = f["weights"][keep] / f["weights"][keep].sum()
    post = f["post"][:, keep]
    post = post / post.sum(axis=1, keepdims=True)
    fit = {"gmm": gmm, "u": u, "coef": f["coef"], "sigma": f["sigma"], "means": means, "weights": weights,
           "post": post, "ll": f["ll"], "count": u[np.argmax(post, axis=1)].astype(int),
           "starts": [(float(g["a1_start"]), float(g["icl"]), int(g["count"].min()), int(g["gaps"])) for g in fits],
           "summary": {"c": [float(c) for c in f["coef"]], "sigma": float(f["sigma"]), "means": means,
                       "weights": weights, "counts": u.astype(int), "icl": float(f["icl"]),
                       "n_params": int(f["n_params"])}}
    return fit, notes


def _shift(lowest_found, lowest_count, notes) -> int:
    """Shift that puts the lowest count found at the ``lowest_count`` asked for (noted), 0 if none asked."""
    if lowest_count is None or int(lowest_found) == int(lowest_count):
        return 0
    sh = int(lowest_count) - int(lowest_found)
    notes.append(
        f"no fit had its lowest count at {lowest_count}: counts shifted by {sh:+d} "
        "(the cross-section curve then does not go through zero)"
    )
    return sh


def _count_curve(x, *, lowest_count=None, degree: int = 2, min_step_ratio: float = 0.7, max_components: int = 20,
                 seed: int = 0, entropy: str = "soft", gmm: CountResult | None = None, errors=None,
                 **options) -> CountResult:
    """Counts of plain columns from classes on a cross-section curve through zero (``model="curve"``).

    The method is step 1 of :func:`pb_counts_mixed`; ``options`` are those of
    :func:`_count_classes`.
    """
    degree = _check_curve_options(degree, min_step_ratio)
    fit, notes = _count_classes(x, lowest_count=lowest_count, degree=degree, min_step_ratio=min_step_ratio,
                                max_components=max_components, seed=seed, entropy=entropy, gmm=gmm, errors=errors,
                                **options)
    shift = _shift(fit["count"].min(), lowest_count, notes)
    curve_txt = " + ".join(f"{c:.4g} n^{j + 1}" for j, c in enumerate(fit["coef"]))
    notes.append(
        f"classes on the cross-section curve g(n) = {curve_txt} Å² (through zero, so the counts need no "
        f"lowest-count guess); common width {fit['sigma']:.3g} Å²"
    )
    gmm = fit["gmm"]
    return CountResult.from_classes(
        x, fit["post"], fit["means"], float(fit["sigma"]), fit["weights"], fit["u"] + shift, method="curve",
        icl=gmm.icl, lowest_count=fit["count"].min() + shift, lowest_count_inferred=lowest_count is None,
        log_likelihood=fit["ll"], n_components_icl=gmm.n_components_icl, entropy=entropy, notes=notes, gmm=gmm,
        params={"c": fit["summary"]["c"], "pb_step": float(_poly(np.array([1.0]), fit["coef"])[0]),
                "icl": fit["summary"]["icl"], "starts": fit["starts"]},
    )
