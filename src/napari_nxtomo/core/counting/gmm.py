"""Counting with the free mixture (StatSTEM's method): K by the ICL, counts numbered from the lowest.

For every K = 1..``max_components`` the mixture of :mod:`.mixture` is fitted
(each K also started from the best (K-1)-component fit grown by one
component); K is the ICL minimum, or with known standard errors the ICL
minimum among the fits that resolve the classes.  Components are sorted by
mean and taken as consecutive counts from the lowest count, which is given
or inferred (:func:`infer_lowest_count`).
"""

from __future__ import annotations

import numpy as np

from .inputs import _check_k, _usable_errors
from .mixture import _grow_starts, fit_gmm, icl_criterion, local_minima
from .result import CountResult

#: error-aware counting: a fit resolves the classes when its extra spread s is at most this × the median error
RESOLVED_FACTOR = 2.0


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

    Examples
    --------
    Means of 3, 4 and 5 atoms at 0.02 Å² per atom, and of a single class:

    >>> from napari_nxtomo.core.counting import infer_lowest_count
    >>> low, inferred, est = infer_lowest_count([0.06, 0.08, 0.10])
    >>> low, inferred, round(est, 2)
    (3, True, 3.0)
    >>> infer_lowest_count([0.06])[:2]
    (1, False)
    """
    m = np.asarray(means, dtype=float).ravel()
    order = np.argsort(m)
    m = m[order]
    w = np.ones_like(m) if weights is None else np.asarray(weights, dtype=float).ravel()[order]
    k = m.size
    if k < 2 or np.any(np.diff(m) <= 0) or m[0] <= 0:
        return 1, False, float("nan")
    est = _zero_of_quadratic(m, w) if k >= 4 else float("nan")
    if not np.isfinite(est):
        est = m[0] / (m[1] - m[0])
    c = int(round(est))
    if c < 1 or c > max_count or abs(est - c) > tolerance:
        return 1, False, float(est)
    return c, True, float(est)


def _zero_of_quadratic(m, w):
    """-k0 for the zero k0 < 0 of a weighted quadratic through the means m against k = 0..K-1 (NaN if none).

    The zero is taken on the branch the data lie on: the slope there must be positive.
    """
    c2, c1, c0 = np.polyfit(np.arange(m.size, dtype=float), m, 2, w=np.sqrt(np.maximum(w, 1e-12)))
    if abs(c2) < 1e-15:
        return c0 / c1 if c1 > 0 else float("nan")
    disc = c1 * c1 - 4 * c2 * c0
    if disc < 0:
        return float("nan")
    roots = np.array([(-c1 + np.sqrt(disc)) / (2 * c2), (-c1 - np.sqrt(disc)) / (2 * c2)])
    ok = (2 * c2 * roots + c1 > 0) & (roots < 0)
    return float(-roots[ok].max()) if ok.any() else float("nan")


def _count_gmm(x, max_components, n_components, lowest_count, seed, entropy, errors=None) -> CountResult:
    """Free mixture, K by the ICL; with ``errors`` the error-aware mixture and K among resolving fits.

    Without errors: StatSTEM's common-width mixture, K at the ICL minimum
    (:func:`icl_criterion` with d = 2K: K means, K-1 weights, one width).

    With errors e_i (standard errors of the cross-sections, e.g. ``volume_err``
    of :func:`fit_columns`): component k of column i is N(μ_k, s² + e_i²)
    (:func:`fit_gmm` with ``errors``), s² one common extra variance (scatter
    the fit does not see: unconverged frozen-phonon averages, strain, surface
    relaxation); d = 2K as above.  The premise of counting is that columns
    with equal counts have equal cross-sections up to their measurement
    error; s measures the scatter beyond it.  A fit with s well above the
    errors describes classes several count steps wide: merged counts, not
    count classes.  On small sets (tens of columns, many classes) the ICL's
    penalty of d ln N makes exactly such a fit, K = 1, the overall minimum
    (multislice [110] Pb columns: 61 columns in 9 classes).  K is therefore
    the ICL minimum among the fits that *resolve* the classes, s ≤
    ``RESOLVED_FACTOR`` (2) × the median error (the factor allows for errors
    somewhat underestimated and for a little scatter the fit does not see,
    e.g. an unconverged frozen-phonon average).  s decreases with K, so this
    is a lower bound on K; the ICL still keeps K from growing past what the
    data support.  When no K up to ``max_components`` resolves, the overall
    ICL minimum is taken (noted).  When the ICL's overall minimum is a
    resolving fit the choice is the same as without the bound.  Errors
    underestimated by much more than 2× would push K up (splits of true
    classes): the note names s and the errors.

    Other local minima of the ICL within 10 of the chosen K's are named in
    ``notes``.  Column i gets the component of largest t_ik; ``count =
    lowest_count + component index``.
    """
    n = x.size
    if n_components is not None:
        _check_k(n, int(n_components))
    kmax = int(max_components)
    if kmax < 1:
        raise ValueError(f"max_components must be at least 1, got {max_components}")
    # at least two columns per class on average: K → N lets the common width shrink to nothing (an unbounded
    # likelihood, every column its own "class")
    kmax_fit = min(kmax, max(n // 2, 1))
    if n_components is None and n < 2:
        raise ValueError("one column cannot be counted with a mixture: give a library or more columns")
    e, n_bad = _usable_errors(errors, n)
    if lowest_count is not None and int(lowest_count) < 0:
        raise ValueError(f"lowest_count must be ≥ 0, got {lowest_count}")

    def fit(k, prev):
        return fit_gmm(x, k, seed=seed, init_means=_grow_starts(x, prev, k) or None, errors=e)

    fits, icl = _icl_curve(fit, kmax, kmax_fit, entropy)
    k_pick, params, notes = _icl_choice(fits, icl, e, n_bad)
    if n_components is not None:
        k = int(n_components)
        if k not in fits:
            fits[k] = fit(k, fits.get(k - 1))
        notes.append(f"{k} components forced (the ICL {'choice' if e is not None else 'minimum'} is at {k_pick})")
    else:
        k = k_pick
        if k == kmax_fit and kmax_fit > 1 and kmax_fit < kmax:
            notes.append(f"the ICL is smallest at {k} classes, half the {n} columns, the most the columns can "
                         "support: they show no count classes of their own; count them with a library (or more "
                         "columns)")
        elif k == kmax_fit and kmax_fit > 1:
            notes.append(f"the ICL is smallest at the largest number of components tried ({k}): raise max_components")
    f = fits[k]
    notes += _other_minima(icl, k, k_pick, None if e is None else params["resolved_k"])
    low, inferred, note = _lowest_count(f, lowest_count)
    notes += note
    if e is not None:
        params["extra_sigma"] = float(f.extra_sigma)
        notes += _merged_classes_note(f.extra_sigma, params["median_error"])
    return CountResult.from_classes(
        x, f.posterior, f.means, f.sigma, f.weights, low + np.arange(k), method="gmm", icl=icl,
        lowest_count_inferred=inferred, log_likelihood=f.log_likelihood, n_components_icl=k_pick, entropy=entropy,
        notes=notes, params=params,
    )


#: without errors, classes of fewer than MIN_CLASS_COLUMNS columns (expected) may hold at most LONE_CLASS_SHARE of
#: the columns: one such class (the one thickest column of a particle) is real, several among few columns are the
#: common width collapsing onto single columns (an unbounded likelihood)
MIN_CLASS_COLUMNS = 2.5
LONE_CLASS_SHARE = 0.05


def _icl_curve(fit, kmax, kmax_fit, entropy):
    """The fits for K = 1..kmax_fit, each grown from the one before, and their ICL (kmax,), NaN beyond."""
    icl = np.full(kmax, np.nan)
    fits = {}
    prev = None
    for k in range(1, kmax_fit + 1):
        prev = fits[k] = fit(k, prev)
        icl[k - 1] = icl_criterion(prev.log_likelihood, prev.posterior, 2 * k, entropy)
    return fits, icl


def _icl_choice(fits, icl, e, n_bad):
    """K the data choose, the error-aware parameters and notes.

    Without errors: the ICL minimum.  With errors: the ICL minimum among the
    fits whose extra spread s is at most ``RESOLVED_FACTOR`` × the median error.
    """
    if e is None:  # a class of one column lets the common width shrink to nothing: such fits cannot be chosen
        n = next(iter(fits.values())).posterior.shape[0]
        lone = [k for k, f in fits.items()
                if k > 1 and np.sum(np.asarray(f.weights) * n < MIN_CLASS_COLUMNS) > LONE_CLASS_SHARE * n]
        admissible = np.where(np.isin(np.arange(1, icl.size + 1), lone), np.nan, icl)
        k_icl = int(np.nanargmin(admissible)) + 1
        notes = [f"fits with classes of fewer than {MIN_CLASS_COLUMNS:g} columns were not chosen (K = "
                 f"{', '.join(map(str, sorted(lone)))}; without the fit's errors such a class shrinks the common "
                 "width to nothing); give the errors (volume_err) or a library"] if lone and k_icl < max(lone) else []
        return k_icl, {}, notes
    k_icl = int(np.nanargmin(icl)) + 1
    ks = sorted(fits)
    med_e = float(np.median(e))
    extra = np.array([fits[j].extra_sigma for j in ks])
    resolved = [j for j in ks if extra[j - 1] <= RESOLVED_FACTOR * med_e]
    params = {"median_error": med_e, "extra_sigma_by_k": extra, "resolved_k": resolved,
              "resolved_factor": RESOLVED_FACTOR}
    notes = [f"{n_bad} columns without a usable error got the median error ({med_e:.3g} Å²)"] if n_bad else []
    if not resolved:
        notes.append(
            f"error-aware mixture: no K up to {len(ks)} brings the extra spread s down to "
            f"{RESOLVED_FACTOR:g} × the median error ({med_e:.3g} Å²; smallest s {extra.min():.3g} Å²): "
            f"K = {k_icl} at the ICL minimum; the errors may be underestimated, or raise max_components"
        )
        return k_icl, params, notes
    k_pick = min(resolved, key=lambda j: icl[j - 1])
    if k_pick != k_icl:
        notes.append(
            f"error-aware mixture: K = {k_pick}, the ICL minimum among the fits that resolve the classes "
            f"(extra spread s ≤ {RESOLVED_FACTOR:g} × the median error {med_e:.3g} Å², K ≥ {min(resolved)}); "
            f"the overall ICL minimum, K = {k_icl}, has s = {extra[k_icl - 1]:.3g} Å² "
            f"({extra[k_icl - 1] / med_e:.1f}× the error): merged classes"
        )
    if k_icl == 1 and k_pick > 1:
        notes.append(
            "the cross-sections show no classes of their own (the ICL's minimum is one class: their spread "
            "about any set of classes is well above their errors), so these counts rest on the resolution "
            "rule, not on the data: count with a cross-section library of this crystal and optics (library=, "
            "or the Count dock's library panel)"
        )
    return k_pick, params, notes


def _other_minima(icl, k, k_pick, resolved):
    """A note naming the ICL's other local minima within 10 of the chosen fit's (among ``resolved``, if given)."""
    best = icl[k_pick - 1]  # the ICL of the fit the data chose (the minimum without errors)
    others = [j for j in local_minima(icl) if j != k and icl[j - 1] - best < 10.0
              and (resolved is None or j in resolved)]
    if not others:
        return []
    return ["the ICL has other local minima at K = "
            + ", ".join(f"{j} ({icl[j - 1] - best:+.1f})" for j in others[:4])
            + ": the choice may be ambiguous"]


def _lowest_count(f, lowest_count):
    """(lowest count, inferred, notes): the given one, or inferred from the fit's means (1 when ambiguous)."""
    if lowest_count is not None:
        return int(lowest_count), False, []
    low, inferred, est = infer_lowest_count(f.means, f.weights)
    if inferred:
        return low, True, [f"lowest count {low} inferred (means extrapolated to zero at {est:.2f})"]
    return low, False, ["lowest count could not be inferred from the means "
                        f"(estimate {est:.2f}); 1 assumed: set lowest_count"]


def _merged_classes_note(extra_sigma, median_error):
    """A note when the extra spread of the chosen error-aware fit is far above the columns' errors."""
    if extra_sigma <= RESOLVED_FACTOR * median_error:
        return []
    return [f"the extra spread s ({extra_sigma:.3g} Å²) is {extra_sigma / median_error:.1f}× the "
            f"columns' median fitted error ({median_error:.3g} Å²): classes are merged or the errors "
            "are underestimated; try model='curve' or a library"]
