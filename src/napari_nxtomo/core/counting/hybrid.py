"""Hybrid counting: a simulated library with one scale factor, the classes chosen by the mixture statistics.

De wael et al.'s hybrid statistics–simulation counting, as done here: the
cross-sections x_i are draws from

    p(x_i) = Σ_k τ_k N(x_i | c · L_k, s² + e_i²),

where L_k are the library's cross-sections of a *window* of consecutive
counts, c is one scale factor between the library's
units and the image's, s a common extra spread and e_i the columns' own
standard errors.  For every window the EM fits c, s and the weights τ: the
scale screened on a grid (:func:`._em_kernels._screen_scales_nb`), then the
full fit from two starts (:func:`._em_kernels._scaled_squarem_nb`, the EM
accelerated by SQUAREM); the window of smallest ICL
(d = K - 1 weights + s + c) is kept: the data choose the number of classes
and the lowest count, the library the spacing of the classes.

Mixed columns ((n_Pb, n_Se) entries, n_Pb ≥ 1: a column typed mixed holds
the heavy element; this also bars the alias that halves the counts): the window and c are chosen on the
ladder of Pb counts (each the mean of its entries; the ±1 Se spread goes into
s), since the dense comb of Se sub-classes would let a wrong scale fit as
well; then, for the ladder's best ``N_PAIR_CANDIDATES`` windows of distinct
scales (the aliases of a shifted count lie ~1/n apart), at those scales, every (n_Pb, n_Se) entry of the window's Pb counts is a class
(weights and s refitted), the window of smallest ICL of these classes is
kept.  A column's Pb count is then the one of largest likelihood summed over
its Se sub-classes, every Pb count equally likely a priori and its Se
sub-classes in the shares the pair fit gave them (:func:`_pair_prior`): the
fitted weights of the Pb counts themselves are loose (~100 columns on a comb
of classes 3-5 % apart), and a count fitted too rare hands its columns to
its neighbours.  Where the columns' positions are known (``parity``: their
place on the projected lattice, :mod:`.ends`) each odd column's Se sub-classes
also take the end (Pb or Se) its place and the particle's mid-plane give, with a
share fitted to the data.

Units: a library holds cross-sections in *fraction of the incident beam ×
Å²*.  An image in fraction of the beam per pixel gives fitted volumes in
those units (c = 1).  An image of detected electrons per pixel at an incident
dose D (e/Å²) and pixel size p (Å) holds fraction × D · p² per pixel, so a
column's fitted volume (image units × Å²) is σ · D · p²: c = D · p².
"""

from __future__ import annotations

import numpy as np

from .._parallel import thread_map
from ._em_kernels import _scaled_em_nb, _scaled_squarem_nb, _screen_scales_nb, _start_nb
from .ends import end_log_prior, ends_note
from .gmm import RESOLVED_FACTOR
from .library import _parse_library
from .mixture import icl_criterion
from .result import CountResult

#: mixed columns: the extra spread of a Pb-count class may be at most this fraction of the ladder's median spacing
LADDER_WIDTH = 0.5
#: mixed columns: the ladder windows of smallest ICL whose (n_heavy, n_light) classes are compared
N_PAIR_CANDIDATES = 3
#: the spread of the scale about the library's units (1) when the columns lie in its range and no dose is given
UNITS_SIGMA = 0.03
#: a dose is refused when the scale the columns need lies more than this many prior widths from the dose's
DOSE_MAX_SIGMA = 3.0
#: with a dose, an interior class left empty costs this many ln N (N columns) in the window's BIC (-2 ln of a prior
#: chance of 1/N that a count between the thinnest and thickest column holds no column).  Without a dose a hole ranks
#: first (a scale sliding to an alias skips counts); with one the prior pins the scale to within a count of the
#: thickest column, and a class between populated ones may be truly near-empty where few columns spread over the
#: counts (a shell's [110] Cd: 29 of its 51 columns of one Cd, two of two, read low; ranked first, the hole
#: pushed its scale to 1.08 × the dose's with every count from 3 Cd on one low)
HOLE_COST_LN_N = 2.0


def known_scale(dose=None, pixel_size=None, scale=None):
    """The scale c between library units (fraction of beam × Å²) and fitted volumes, or None to fit it.

    Parameters
    ----------
    dose : float, optional
        Incident electrons per Å² of an image in detected electrons per pixel.
    pixel_size : float, optional
        Å; needed with ``dose``.
    scale : float or "fit", optional
        c itself (1 for an image already in fraction of the beam), or "fit".

    Returns
    -------
    float, "fit" or None
        ``dose · pixel_size²``, or ``scale``, or None.

    Examples
    --------
    >>> from napari_nxtomo.core.counting.hybrid import known_scale
    >>> round(known_scale(1e5, 0.2), 6), known_scale(scale=1.0), known_scale()
    (4000.0, 1.0, None)
    """
    if dose is not None and scale is not None:
        raise ValueError("give either dose (with pixel_size) or scale, not both")
    if isinstance(scale, str):
        if scale != "fit":
            raise ValueError(f"scale must be a number or 'fit' (every column type fits its own), got {scale!r}")
        return scale
    if isinstance(scale, dict):  # one per column type
        return {t: known_scale(scale=v) for t, v in scale.items()}
    if scale is not None:
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive number (library units to image units), got {scale}")
        return float(scale)
    if dose is None:
        return None
    if pixel_size is None:
        raise ValueError("a dose needs the pixel size (Å): count_atoms(..., dose=D, pixel_size=p); "
                         "the library's cross-sections are then multiplied by D · p²")
    if not (np.isfinite(dose) and dose > 0 and np.isfinite(pixel_size) and pixel_size > 0):
        raise ValueError(f"dose (e/Å²) and pixel_size (Å) must be positive numbers, got {dose}, {pixel_size}")
    return float(dose) * float(pixel_size) ** 2


def _windows(counts_l):
    """Index arrays of the library entries of every window of consecutive counts."""
    ks = np.unique(counts_l)
    out = []
    for a in range(ks.size):
        for b in range(a, ks.size):
            if b > a and ks[b] - ks[b - 1] != 1:
                break
            out.append((int(ks[a]), int(ks[b]), np.flatnonzero((counts_l >= ks[a]) & (counts_l <= ks[b]))))
    return out


def _fit_window(x, e2, vals, c_fixed, max_iter=500, tol=1e-9, c_start=None, prior=None):
    """Most likely scaled-library mixture on one window: (c, weights, s², ln L, posterior, ...) or None.

    The likelihood is multimodal in c (the classes can slide by whole
    spacings), so c is first profiled on a grid (weights and s fitted at each
    c: 5 % steps from 0.6 to 1.65 × the scale that matches the medians, then
    1.25 % steps about the best; 30 and 60 EM steps of the weights and s at
    each), then the best grid point runs the full EM, SQUAREM-accelerated
    (the plain EM left most windows of a [110] view unconverged after 500
    steps, on the flat likelihood of overlapping classes).
    """
    floor = (1e-6 * max(float(x.max()), 1e-300)) ** 2

    def run(c0, fix):
        # the start of _start_nb at c0, with two starts of s²: the spread about the nearest class beyond the errors,
        # and all of it (the EM's s² step is slow when s² starts far below the errors)
        w, r2, s2_min = _start_nb(x, vals, float(c0), floor)
        fits = [_scaled_squarem_nb(x, e2, vals, float(c0), max(s2, s2_min), w, max_iter, tol, floor, fix)
                for s2 in (r2 - float(np.median(e2)), r2)]
        return max(fits, key=lambda f: f[3])

    if c_fixed is not None:
        return run(c_fixed, True)
    if c_start is not None:  # free c from a known start, no grid
        fit = run(c_start, False)
        return fit if fit[0] > 0 else None
    if prior is None:  # ±50 % about the scale that matches the medians, 5 % steps
        grid = float(np.median(x) / np.median(vals)) * np.exp(np.arange(-0.5, 0.5 + 1e-9, 0.05))
    else:  # ±3 widths about the dose's scale
        grid = prior[0] * np.exp(np.linspace(-3.0, 3.0, 13) * prior[1])
    c0 = grid[np.argmax(_screen_scales_nb(x, e2, vals, grid, 30, tol, floor))]
    fine = c0 * np.exp(np.arange(-0.04, 0.04 + 1e-9, 0.0125))
    c0 = fine[np.argmax(_screen_scales_nb(x, e2, vals, fine, 60, tol, floor))]
    fit = run(c0, False)
    return fit if fit[0] > 0 else None


def _scale_error(x, e2, vals, fit):
    """Standard error of c from the curvature of the profile ln L (weights and s re-fitted at c(1 ± h)) of the fit
    that set c, with its own classes ``vals`` (mixed columns held at the ladder's scale: the ladder's)."""
    c = fit[0]
    h = 0.004
    ll = [_scaled_em_nb(x, e2, vals, c * f, fit[2], fit[1], 300, 1e-10, 1e-300, True)[3] for f in (1 - h, 1 + h)]
    d2 = (ll[0] - 2 * fit[3] + ll[1]) / (c * h) ** 2
    return float(1.0 / np.sqrt(-d2)) if d2 < 0 else float("nan")


def _best_window(x, e2, counts_l, values, c_fixed, entropy, resolve=True, prior=None, lowest=None):
    """[(ICL, lo, hi, library indices, fit)] of every admissible window (of lowest count ``lowest`` when given),
    without a dose fewest holes (:func:`_holes`) then smallest ICL first, with one smallest BIC plus the prior
    penalty on the scale (:func:`_prior_penalty`) and :data:`HOLE_COST_LN_N` · ln N per hole first; the best ICL
    per K."""
    plausible = _plausible(x, counts_l, values, prior)
    windows = [(lo, hi, idx) for lo, hi, idx in _windows(counts_l)
               if idx.size <= x.size and (lowest is None or lo == int(lowest)) and
               (lowest is not None or plausible(lo, hi))]
    fitted = thread_map(lambda w: _fit_window(x, e2, values[w[2]], c_fixed, prior=prior), windows)
    fits = []
    for (lo, hi, idx), fit in zip(windows, fitted):
        if fit is None:
            continue
        d = idx.size + (c_fixed is None)  # K - 1 weights, s, and c when fitted
        fits.append((icl_criterion(fit[3], fit[4], d, entropy), lo, hi, idx, fit))
    if not fits:
        raise ValueError(f"{x.size} columns cannot be counted with this library: no window of its counts fits "
                         "(give more columns, or a library with the counts of these columns)")
    icl_by_k = np.full(max(f[3].size for f in fits), np.nan)
    for f in fits:
        k = f[3].size - 1
        icl_by_k[k] = np.fmin(icl_by_k[k], f[0])
    # as the free mixture (gmm.RESOLVED_FACTOR): with errors, only fits whose extra spread s is at most that many
    # median errors resolve their classes; a few broad classes would otherwise win the ICL (not for the ladder of
    # mixed columns, whose classes are broadened by their ±1 light atom)
    # when no fit qualifies, the fits of the smallest s (within 10 %) are kept
    if resolve and np.any(e2 > 0):
        limit = (RESOLVED_FACTOR**2) * float(np.median(e2))
        fits = [f for f in fits if f[4][2] <= limit] or _narrowest(fits)
    elif not resolve:  # the ladder's classes still stand apart: s at most LADDER_WIDTH of its median spacing
        step = float(np.median(np.diff(values))) if values.size > 1 else float(values[0])
        fits = [f for f in fits if np.sqrt(f[4][2]) <= LADDER_WIDTH * f[4][0] * step] or _narrowest(fits)
    if prior is None:
        return sorted(fits, key=lambda f: (_holes(f[4][1], x.size), f[0])), icl_by_k
    # a window whose scale the dose rules out (it would be refused) does not compete, however few its holes
    fits = [f for f in fits if _prior_penalty(f[4][0], prior) <= DOSE_MAX_SIGMA**2] or fits
    # with a dose the number of classes follows from the scale and the data's range: BIC (no entropy term, which
    # favours fewer, merged classes when the classes of physical columns overlap) plus the prior on the scale and
    # the cost of the holes
    hole_cost = HOLE_COST_LN_N * np.log(x.size)
    return sorted(fits, key=lambda f: _bic(f, x.size) + _prior_penalty(f[4][0], prior)
                  + hole_cost * _holes(f[4][1], x.size)), icl_by_k


def _bic(f, n):
    """BIC of a ranked window fit (ICL, lo, hi, idx, fit): -2 ln L + d ln n, d = K - 1 weights + s + c."""
    return -2.0 * f[4][3] + (f[3].size + 1) * np.log(n)


def _plausible(x, counts_l, values, prior, slack=2):
    """``plausible(lo, hi)``: whether a window's ends lie within ``slack`` counts of those the prior's scale gives
    the data's extremes (1st and 99th percentile); every window without a prior."""
    if prior is None:
        return lambda lo, hi: True
    c0 = prior[0] * np.exp(np.array([-3.0, 3.0]) * prior[1])
    ends = [counts_l[np.argmin(np.abs(c * values - q))] for q in np.quantile(x, [0.01, 0.99]) for c in c0]
    return lambda lo, hi: (min(ends[:2]) - slack <= lo <= max(ends[:2]) + slack and
                           min(ends[2:]) - slack <= hi <= max(ends[2:]) + slack)


def _holes(weights, n):
    """Interior classes of a fit holding less than one column: a compact particle has every count between its
    thinnest and thickest column (the curve model's rule), while a scale alias skips counts."""
    held = np.flatnonzero(np.asarray(weights) * n >= 1.0)
    if held.size == 0:
        return 0
    return int(np.sum(np.asarray(weights)[held[0]:held[-1] + 1] * n < 1.0))


def _units_prior(x, ladder, capture=None):
    """A log-normal prior (c0, sigma_ln) on the scale about the library's own units, when the columns' median
    cross-section lies within the library's range (an image normalised to the beam, as the library); else None.

    ``capture``: (fraction, sigma_ln) of a column's simulated cross-section the fit holds (a simulated library's
    ``fit_capture``); default (1, :data:`UNITS_SIGMA`), as for a library of fitted cross-sections."""
    med = float(np.median(x))
    if ladder.size < 2 or not ladder.min() <= med <= ladder.max():
        return None
    return capture if capture is not None else (1.0, UNITS_SIGMA)


def _check_units(x, ladder, label):
    """A ValueError unless columns counted in the library's own units (scale 1) lie within its range."""
    ratio = float(np.median(x) / np.median(ladder))
    if not 0.5 <= ratio <= 2.0:
        raise ValueError(
            f"the mixed columns{label} are {ratio:.3g} × the library's cross-sections: their scale is needed; give "
            "the dose (dose=, pixel_size=) or scale=, count them with a view of one-element columns (count_views), "
            "or let them fit their own scale (scale='fit'; weakly determined for mixed columns)"
        )


def _narrowest(fits):
    """The fits whose extra spread s is within 10 % of the smallest (relative to their scale)."""
    rel = np.array([np.sqrt(f[4][2]) / f[4][0] for f in fits])
    return [f for f, r in zip(fits, rel) if r <= 1.1 * rel.min()]


def _check_range(x, c, vals, counts, width, label):
    """A ValueError when columns lie beyond where the count after the library's largest would sit (scale c known).

    ``vals``/``counts``: one value per count (for mixed columns the ladder of heavy counts).  "Beyond" is more
    than one class step above the largest value, plus 3 widths.
    """
    top = c * vals.max()
    step = c * (np.diff(np.sort(vals))[-1] if vals.size > 1 else vals.max())
    far = x > top + step + 3.0 * width
    if far.any():
        raise ValueError(
            f"{far.sum()} columns{label} lie far above the library's largest cross-section ({top:.4g} in image units "
            f"at count {counts[np.argmax(vals)]}; largest column {x.max():.4g}): the library's range of counts is "
            "smaller than the data need; compute a library with a larger max_count"
        )


def _prior_penalty(c, prior):
    """-2 ln of the dose's log-normal prior on the scale: ((ln c - ln c0) / sigma)², 0 without a prior."""
    if prior is None:
        return 0.0
    c0, sigma = prior
    return float((np.log(c / c0) / sigma) ** 2)


def _refuse_far_dose(c, prior, label):
    """A ValueError when the scale the data need is more than ``DOSE_MAX_SIGMA`` prior widths from the dose's."""
    z = np.sqrt(_prior_penalty(c, prior))
    if z > DOSE_MAX_SIGMA:
        c0, sigma = prior
        raise ValueError(
            f"the dose puts the class means where the cross-sections{label} do not lie: they need a scale "
            f"{c / c0:.3f} × the dose's (library × {c0:.4g}), {z:.1f} times the {100 * sigma:.0f} % the fit's capture "
            "of a column allows, so the classes would fall between theirs: check the dose (e/Å²) and the pixel "
            "size (Å) and that the image is in detected electrons, or leave dose=None to fit the scale"
        )


def _count_hybrid(x, library, *, errors=None, scale=None, entropy="soft", label="", mixed=False,
                  prior=None, scale_source="given", lowest=None, assignment="likelihood", units=None,
                  parity=None) -> CountResult:
    """Counts from a library with one scale (given, or fitted by the hybrid method); see the module docstring.

    ``prior``: (c0, sigma_ln) of a dose (c0 = dose · pixel² × the fit's capture): the scale is fitted with a
    log-normal prior about c0, which picks among the scale's aliases; a ValueError when the data need one more
    than ``DOSE_MAX_SIGMA`` widths away.
    """
    counts_l, minor_l, values = _parse_library(library)
    if mixed is not None and mixed != (minor_l is not None):
        need, got = ("(n_heavy, n_light) pairs", "single counts") if mixed else ("single counts", "pairs")
        raise ValueError(f"the columns{label} are {'mixed' if mixed else 'of one element'} and need a library keyed by "
                         f"{need}; this one has {got}: use the library of this crystal and zone axis")
    e2 = np.zeros(x.size) if errors is None else np.square(_positive_errors(errors))
    whole, kept = (counts_l, minor_l, values), np.arange(counts_l.size)
    # a mixed column's scale and window come from the entries holding the heavy element; its assignment (below) may
    # also give it none: a lone Se atom at a Se-ended corner of a ⟨100⟩ view, (0, 1), 1/5 of a lone Pb's section
    if minor_l is not None:
        kept = np.flatnonzero(counts_l >= 1)
        counts_l, minor_l, values = counts_l[kept], minor_l[kept], values[kept]
    ladder_counts, ladder = (counts_l, values) if minor_l is None else _ladder(counts_l, values)
    if scale_source == "library units":
        _check_units(x, ladder, label)
    if scale_source == "default":  # no dose, no scale: the library's own units first, when the columns lie in them
        units = _units_prior(x, ladder, units)
        if units is not None:
            try:
                res = _count_hybrid(x, library, errors=errors, entropy=entropy, label=label, mixed=mixed,
                                    prior=units, scale_source="library units", lowest=lowest, assignment=assignment,
                                    parity=parity)
                res.params["scale_prior"] = units
            except ValueError:  # the columns need a scale far from the library's units: fitted freely below
                pass
            else:
                res.notes.append("the columns lie in the library's range: the scale was fitted about its own "
                                 f"units ({units[0]:g} ± {100 * units[1]:.0f} %: the fit's capture of a column, "
                                 "as for an image normalised to the incident beam); give scale='fit' to fit it "
                                 "freely, or the dose")
                return res
        scale_source = "fitted"
    if scale is not None or prior is not None:  # columns beyond the library's largest count at the largest scale
        top = scale if scale is not None else prior[0] * np.exp(DOSE_MAX_SIGMA * prior[1])
        _check_range(x, top, ladder, ladder_counts, float(np.sqrt(np.median(e2))), label)
    ranked, icl_by_k = _best_window(x, e2, ladder_counts, ladder, scale, entropy, resolve=minor_l is None,
                                    prior=prior, lowest=lowest)
    # with a dose's prior the ladder (which the prior ranked) alone chooses the window: the pairs' comb of Se
    # sub-classes fits a scale a count off as well
    if minor_l is None:
        icl, lo, hi, idx, fit = ranked[0]
        scale_from = (values[idx], fit)
    else:  # the scale's error from the fit that set it: the ladder's where the pairs held its scale
        icl, lo, hi, idx, fit, scale_from = _pair_choice(
            x, e2, counts_l, values, ladder, ranked, entropy, fixed=scale is not None, prior=prior,
            n_best=1 if prior is not None else N_PAIR_CANDIDATES)
    c = fit[0]
    by_dose = prior is not None and "columns' scale" not in scale_source
    if by_dose:
        _refuse_far_dose(c, prior, label)
    c_err = _scale_error(x, e2, *scale_from) if scale is None else 0.0
    _, weights, s2, ll, post = fit[:5]
    width = float(np.sqrt(s2 + np.median(e2)))
    ends = None
    if assignment == "nearest":
        if minor_l is not None:
            raise ValueError(f"assignment='nearest' counts columns of one element; the columns{label} are mixed")
        idx, post, weights = _nearest_classes(x, counts_l, values, c, width)
        lo, hi = int(counts_l[idx].min()), int(counts_l[idx].max())
    elif assignment in ("likelihood", "flat"):
        window = f"; scale and width from the classes of counts {lo}..{hi} chosen by the ICL"
        counts_l, minor_l, values = whole  # every entry, (0, 1) too
        idx = kept[idx]
        log_prior = None if minor_l is None or assignment == "flat" else _pair_prior(counts_l, idx, weights)
        if minor_l is not None and parity is not None:  # the lattice's parity sets each odd column's end
            shares = np.zeros(counts_l.size) if log_prior is None else log_prior
            lp = _class_log_probs(x, e2, counts_l, values, c, s2, lowest, hi, shares)
            end_prior, ends = end_log_prior(lp, parity, counts_l, minor_l)
            log_prior = shares[None, :] + end_prior
        idx, post, weights = _likelihood_classes(x, e2, counts_l, values, c, s2, lowest, hi, log_prior)
        lo, hi = int(counts_l[idx].min()), int(counts_l[idx].max())
        window += (f", each column the count of highest likelihood (counts equally likely"
                   + ("" if minor_l is None else ", their Se sub-classes in the shares the fit gave them"
                      if assignment == "likelihood" else ", their Se sub-classes too")
                   + f"): counts {lo}..{hi}")
    vals, cl = values[idx], counts_l[idx]
    heavy = np.unique(cl)
    tp = np.stack([post[:, cl == h].sum(axis=1) for h in heavy], axis=1)
    counts = heavy[np.argmax(tp, axis=1)]
    labels = np.argmax(np.where(cl[None, :] == counts[:, None], post, -1.0), axis=1)
    how = "fitted (hybrid: maximum likelihood over one scale)" if scale is None else scale_source
    if prior is not None and scale_source == "library units":
        how = f"fitted about the library's units ({c / prior[0]:.3f} × 1)"
    elif by_dose:
        how = f"fitted about the dose's ({c / prior[0]:.3f} × dose · pixel² × the fit's capture)"
    elif prior is not None:
        how = f"{scale_source}: {c / prior[0]:.3f} × that"
    notes = [f"counts from the library, class means = scale × library values, scale {c:.5g} {how}"
             + (f" ± {c_err:.2g}" if scale is None else "")
             + (f"; each column the count of the nearest scaled library value (StatSTEM's library counting): "
                f"counts {lo}..{hi}" if assignment == "nearest" else
                window if assignment in ("likelihood", "flat") else
                f"; classes of counts {lo}..{hi} chosen by the ICL")
             + (f" (lowest count {lowest} given)" if lowest is not None else "") + f"; width {width:.3g}"]
    if scale is None and prior is None and minor_l is not None:
        notes.append("mixed columns alone fix the scale weakly (a scale ~1/n off, with the counts shifted by one, "
                     "fits nearly as well): give the dose (dose=, pixel_size=) or count the views together "
                     "(count_views), where the one-element columns of another view set the scale")
    if ends is not None:
        notes.append(ends_note(ends))
    if hi == counts_l.max():
        notes.append(f"the thickest columns take the library's largest count ({hi}): if the particle may be "
                     "thicker, use a library with a larger max_count")
    pairs = {}
    if minor_l is not None:
        pairs = {"classes": np.stack([cl, minor_l[idx]], axis=1), "minor_counts": minor_l[idx][labels].astype(int),
                 "count_posterior": tp, "count_values": heavy}
        keys = [(int(a), int(b)) for a, b in zip(counts_l, minor_l)]
    else:
        keys = [int(a) for a in counts_l]
    return CountResult.from_classes(
        x, post, c * vals, width, weights, cl, method="library", icl=icl_by_k, labels=labels, counts=counts,
        lowest_count=int(counts.min()), lowest_count_inferred=lowest is None, log_likelihood=float(ll),
        n_components_icl=int(idx.size), entropy=entropy, notes=notes,
        library=dict(zip(keys, (float(v) for v in values))), **pairs,
        params={"scale": float(c), "scale_err": float(c_err), "scale_fitted": scale is None, "window": (lo, hi),
                "extra_sigma": float(np.sqrt(s2)), "icl": float(icl), "ends": ends, "assignment": assignment},
    )


def _likelihood_classes(x, e2, counts_l, values, c, s2, lowest, top, log_prior=None):
    """Each column's probability of each count of the library up to ``top`` at scale c, the counts equally likely
    a priori (the mixture's fitted class fractions left out, and the low end of its window too).

    ``log_prior``: per library entry, ln of its prior share within its count (mixed libraries: the Se
    sub-classes, :func:`_pair_prior`), or (N, K) per column and entry (with the ends' prior, :mod:`.ends`); None:
    every entry equally likely.  Returns the library indices of the
    counts from the smallest of highest likelihood (none below ``lowest`` when given) to ``top``, the
    probabilities (N, K), rows summing to 1, and the classes' mean probabilities.

    Where the classes of physical columns overlap (frozen-phonon spread, channelling) the fitted fractions are
    poorly determined, and a class fitted too rare hands its columns to its neighbours; measured on the multislice
    starter set's [110] view (2 phonon configurations) this took the exact fraction from 0.69-0.72 to 0.46-0.70.
    The ICL's window, which weighs a class by the columns it holds, also leaves out the few thinnest columns of a
    particle (its edges): the starter set's 3 columns of 3 Pb at 1e5 e/Å² (seed 1) were counted 4.  Below the
    window a column takes the count of highest likelihood; above it it does not, because the spread of physical
    columns grows with their count while the fit's is one for all: beyond the top class a thick column is more
    likely a broad top-class column than the common spread says.  Measured with issue 17's benchmark
    (``--dose-given --seeds 0 1``, 1e5 and 2e4 e/Å²), [110] runs on target: starter set 4 of 4 (2 of 4 before),
    3 nm cuboctahedron 0 of 4 (1 column short in 3); both ends extended: 3 of 4 and 2 of 4, but the bundled
    sample's [110] counted alone with another particle's library at 2e4 e/Å² took a column of 9 to 10.
    """
    lp = _class_log_probs(x, e2, counts_l, values, c, s2, lowest, top, log_prior)
    allowed = np.isfinite(lp).any(axis=0)
    idx = np.flatnonzero(allowed & (counts_l >= counts_l[np.argmax(lp, axis=1)].min()))
    lp = lp[:, idx]
    post = np.exp(lp - lp.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    return idx, post, post.mean(axis=0)


def _class_log_probs(x, e2, counts_l, values, c, s2, lowest, top, log_prior=None):
    """(N, K) ln likelihood (+ ``log_prior``: (K,) per entry or (N, K) per column and entry) of each column in each
    library entry at scale c, -inf for the entries outside the counts ``lowest``..``top``."""
    allowed = counts_l <= top if lowest is None else (counts_l >= lowest) & (counts_l <= top)
    var = s2 + e2[:, None]
    lp = -0.5 * (x[:, None] - c * values[None, :]) ** 2 / var - 0.5 * np.log(var)
    if log_prior is not None:
        lp = lp + np.atleast_2d(log_prior)
    return np.where(allowed[None, :], lp, -np.inf)


def _pair_prior(counts_l, window, weights):
    """Mixed libraries: per entry, ln of its share of its heavy count, each count's entries summing to 1: the shares
    the pair fit gave its Se sub-classes (``weights`` of the entries ``window``), equal shares for a count the fit
    gave none (outside its window, or empty).

    Examples
    --------
    >>> import numpy as np
    >>> p = _pair_prior(np.array([2, 2, 3, 3]), np.array([2, 3]), np.array([0.3, 0.1]))
    >>> np.round(np.exp(p), 2).tolist()
    [0.5, 0.5, 0.75, 0.25]
    """
    fitted = np.zeros(counts_l.size)
    fitted[window] = weights
    share = np.empty(counts_l.size)
    for h in np.unique(counts_l):
        m = counts_l == h
        total = fitted[m].sum()
        share[m] = fitted[m] / total if total > 0 else 1.0 / m.sum()
    return np.log(np.maximum(share, 1e-300))


def _nearest_classes(x, counts_l, values, c, width):
    """StatSTEM's library counting at scale c: each column the count of the nearest scaled value.

    Returns the library indices of the counts from the smallest to the largest
    assigned, a posterior (N, K) that is 1 at each column's nearest class
    (its probability under equal classes of ``width`` is not what this
    assignment uses) and the classes' fractions of the columns.
    """
    nearest = np.argmin(np.abs(x[:, None] - c * values[None, :]), axis=1)
    idx = np.arange(nearest.min(), nearest.max() + 1)
    post = np.zeros((x.size, idx.size))
    post[np.arange(x.size), nearest - idx[0]] = 1.0
    return idx, post, post.mean(axis=0)


def _window_of(counts_l, lo, hi):
    return np.flatnonzero((counts_l >= lo) & (counts_l <= hi))


def _pair_choice(x, e2, counts_l, values, ladder, ranked, entropy, fixed, n_best=N_PAIR_CANDIDATES, prior=None):
    """Mixed columns: of the best ladder windows of distinct scales (≥ 5 % apart), the one whose (n_heavy, n_light) classes at its
    scale have the smallest ICL; returns (ICL, lo, hi, pair indices, pair fit, (values, fit) of the fit whose
    likelihood set the scale: the ladder window's where the pairs held its scale, else the pairs').  ``ladder``: the
    values of :func:`_ladder`, which ``ranked``'s windows index."""
    best, scales = None, []
    for _, lo, hi, lidx, lfit in ranked:
        if len(scales) == n_best:
            break
        if any(abs(np.log(lfit[0] / c)) < 0.05 for c in scales):
            continue
        scales.append(lfit[0])
        idx = _window_of(counts_l, lo, hi)
        # with a dose's prior the ladder's scale (found with the prior) is kept: the pairs' free scale is loose and
        # slides to another alias
        hold = fixed or prior is not None
        fit = _fit_window(x, e2, values[idx], lfit[0] if hold else None, c_start=None if hold else lfit[0])
        if fit is None:
            continue
        icl = icl_criterion(fit[3], fit[4], idx.size + (not fixed), entropy)
        if best is None or icl + _prior_penalty(fit[0], prior) < best[0] + _prior_penalty(best[4][0], prior):
            best = (icl, lo, hi, idx, fit, (ladder[lidx], lfit) if hold else (values[idx], fit))
    return best


def _ladder(counts_l, values):
    """Mixed libraries: one value per heavy count, the mean of its (n_heavy, n_light) entries (ascending)."""
    heavy = np.unique(counts_l)
    means = np.array([values[counts_l == h].mean() for h in heavy])
    if np.any(np.diff(means) <= 0):
        raise ValueError("the library's mean cross-section must grow with the heavy count: check the library")
    return heavy, means


def _positive_errors(errors):
    """Errors with NaN / ≤ 0 replaced by the median of the usable ones (zeros when none is usable)."""
    e = np.asarray(errors, dtype=float)
    ok = np.isfinite(e) & (e > 0)
    return np.where(ok, e, np.median(e[ok]) if ok.any() else 0.0)
