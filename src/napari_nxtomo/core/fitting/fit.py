"""The column fit: a background plus one Gaussian per column, by least squares (StatSTEM-like)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .problem import N_SIGMA, _Problem
from .progress import _Progress
from .solver import _evaluate, _least_squares, _standard_errors
from .threads import _LOCK, _default_threads, _threads
from .validation import _check_inputs, _check_resolution, _given_widths
from .background import MAX_DEGREE
from .widths import _column_region, _scan_width, _width_grid

#: a column whose centre is closer than this many widths to the image edge is
#: flagged ``border`` (more than 0.13 % of its peak falls outside the image)
BORDER_SIGMAS = 3.0

#: the smallest background degree of a fit inside the columns' region (a particle on vacuum, see ``fit_columns``)
REGION_DEGREE = 2


def fit_columns(
    image,
    pixel_size,
    positions,
    types=None,
    *,
    width=None,
    progress=None,
    cancel=None,
    fit_width=True,
    fit_background=True,
    background=None,
    background_degree=0,
    width_range=None,
    weighting="noise",
    max_iter=40,
    tol=1e-4,
    min_separation=None,
    n_sigma=N_SIGMA,
    n_threads=None,
):
    """Fit a constant background plus one Gaussian per atomic column to an image.

    Parameters
    ----------
    image : (H, W) array
        The image (any real dtype; converted to float64).
    pixel_size : float
        Å per pixel.
    positions : (N, 2) array
        Starting positions ``(row, col)`` of the columns, Å (pixel ``(0, 0)``
        centred at the origin), e.g. from :func:`find_columns`.
    types : (N,) array-like, optional
        Column type labels (any hashable); columns of one type share one
        width.  Default: one type, labelled ``0``.
    width : float or dict, optional
        Gaussian standard deviation in Å, for all types (float) or per type
        label (dict): the starting value, or the fixed value with
        ``fit_width=False``.  Default: estimated from the image (the width
        that minimises the residual, on up to 400 central columns).
    progress : callable, optional
        Called as ``progress(i, n)`` after each iteration ``i`` of at most
        ``n``; the last call has ``i == n``.
    cancel : callable, optional
        Called before each iteration; when it returns True the fit stops by
        raising :class:`FitCancelled`.
    fit_width : bool
        Fit the width of each type (default) or keep ``width`` fixed.
    fit_background : bool
        Fit the constant background (default) or keep it at ``background``.
    background : float, optional
        The background (image units) when ``fit_background`` is False.
    background_degree : int
        0 (default): a flat background.  1-4: a smooth background, a 2D
        polynomial of this degree over the image (Legendre terms, see
        :func:`~napari_nxtomo.core.fitting.background.background_image`)
        fitted jointly with the columns: for a support or a thickness that
        varies across the image (fit one particle's crop at a time).
    width_range : (float, float) or dict, optional
        Smallest and largest width (Å) a type may take (one pair for all
        types, or a dict of pairs by type label): the starting estimate
        and every Gauss-Newton step are kept inside it, e.g. the range the
        probe and the column's spread allow.  Default: from 0.3 pixel (below
        that the pixels cannot measure it) up to 0.35 × the median
        nearest-neighbour distance of the columns (wider peaks would be a
        blur of the neighbours, not a column).  A width at either end is
        reported in ``attrs["widths_at_bound"]`` with a warning.  With
        neither ``width`` nor ``width_range`` given, a width estimate at
        the top of that range on a fitted background (a particle on vacuum
        or a support: the Gaussians fill the particle's bright plateau,
        which a flat background cannot follow) moves the fit to the pixels
        within one median column spacing of a column, with a background of
        degree at least 2 (warned of; ``attrs["fit_region"]`` is the
        fraction of the image fitted, 1 otherwise); only a width still at
        the top there refuses the starts as denser than the columns.
    weighting : {"noise", "uniform"}
        ``"noise"`` (default): after an ordinary least-squares fit, refit
        with each pixel weighted by the inverse of the fitted noise variance
        ``α + β · model`` (maximum likelihood for Poisson noise: at the
        Cramér-Rao bound; when the fitted variance does not grow with the
        signal the weights would be uniform and the second pass is skipped).
        ``"uniform"``: ordinary least squares only (StatSTEM's estimator;
        about 1.15 × the bound for bright columns on a faint background).
    max_iter : int
        Largest number of Gauss-Newton iterations.
    tol : float
        Convergence: the largest position step of an iteration, Å.
    min_separation : float, optional
        Columns closer than this (Å) are refused.  Default: start positions
        closer than two widths of the (estimated or given) Gaussian are
        merged into one at their mean position, with a warning: two
        Gaussians that close make one round peak (Sparrow's limit), the
        image cannot tell them apart and fitting both only slows the fit.
        Columns closer than one pixel are always refused.  When ``width`` is
        not given the merge distance uses the width estimated from the start
        positions.
    n_sigma : float
        Half-width of the square window of each Gaussian, in widths.
    n_threads : int, optional
        Threads of the numba kernels.  Default: one for small fits (image
        pixels + 1000 × columns below 2 million), else as many as the
        machine has idle cores by its load average (at most numba's thread
        count): a thread that has to share its core with another busy
        process slows every parallel pass down several times.

    Returns
    -------
    pandas.DataFrame
        One row per column, in input order: one per start position, less
        the starts merged into a neighbour and those left out (below), with
        columns

        ``y``, ``x`` : fitted position, Å.
        ``volume`` : integrated peak volume, image units × Å² (for an image
        normalised to the incident beam: the scattering cross-section, Å²).
        ``height`` : peak height of the continuous Gaussian,
        ``volume / (2π width²)``, image units.
        ``width`` : Gaussian standard deviation of the column's type, Å.
        ``type`` : the type label.
        ``y_err``, ``x_err`` (Å), ``volume_err`` (image units × Å²) :
        standard errors.
        ``border`` : True when the centre is closer than 3 widths to the
        image edge: fitted, but part of its peak (and perhaps unlisted
        neighbours) lie outside the image, so treat it with care.

        ``attrs`` holds ``background`` (image units; for a polynomial
        background its mean over the image, the terms' coefficients in
        ``background_coefficients`` and the degree in ``background_degree``),
        ``fit_region`` (the fraction of the image fitted, see ``width_range``),
        ``pixel_size``, ``width_range`` (type → (smallest, largest) Å),
        ``widths_at_bound`` (the types
        whose width sits at an end of ``width_range``),
        ``weighting_shift`` (the median change of the volumes from the
        unweighted to the noise-weighted pass, in standard errors: below
        0.67 when the Gaussian model describes the peaks; 1-2 on real and
        multislice images, whose peaks have heavier tails: a cross-section
        library must then be compared with volumes of the weighting it was
        computed for, least squares for StatSTEM's),
        ``widths`` (type → Å), ``noise_alpha`` and ``noise_beta`` (the pixel
        variance ``α + β · model``), ``rss``, ``n_iter``, ``converged``,
        ``weighting``, ``n_sigma``, ``merged_starts`` (input indices of the
        starts merged into an earlier one closer than two widths) and
        ``left_out_starts`` (input indices of the starts that hold no column
        of their own: a fitted volume not positive, or a position not
        determined to within half the width, as for a noise peak or a second
        start on one column; they are left out after a first fit and the
        rest refitted, with a warning).  The rows are the input indices
        without those two lists.  Draw the model with :func:`model_image`.

    Raises
    ------
    ValueError
        For a bad image (not 2D, colour, constant, NaN or infinite pixels),
        empty positions, positions outside the image, columns closer than
        ``min_separation`` (or one pixel), starts denser than the columns'
        width allows, or bad options.
    FitCancelled
        When ``cancel()`` returned True.

    Notes
    -----
    The model is the one of :func:`model_image`.  The fit is least squares
    in two passes by default (``weighting="noise"``): first unweighted, as
    StatSTEM does, then with each pixel weighted by the inverse of a noise
    variance model ``α + β M`` fitted to the first pass's residuals
    (:func:`estimate_noise`).  For Poisson noise (``α = 0``) the weighted fit
    is the maximum-likelihood estimator and reaches the Cramér-Rao bound; the
    unweighted one is about 1.15 × the bound for bright columns on a faint
    background.  ``weighting="uniform"`` stops after the first pass (about
    1.6 × faster).

    Given the positions and widths the model is linear in ``b`` and the
    volumes: they are the solution of a sparse set of normal equations (the
    Gram matrix of overlapping Gaussians, solved by diagonally preconditioned
    conjugate gradients, with a sparse LU factorisation as the fallback; the
    background is eliminated by a Schur complement).  Positions and widths
    are updated by Gauss-Newton steps: each column's (y, x, V) block is
    solved with its neighbours' contributions included in the residual (block
    Jacobi, all columns at once), and the shared width of each type is
    updated jointly with them through the Schur complement of the per-column
    blocks.  A step that does not lower the residual sum of squares is
    halved.  A few iterations reach convergence; every pass costs a few
    operations per pixel of each column's window, so the cost grows linearly
    with the number of columns.

    Standard errors are per column, from the Gauss-Newton covariance of its
    own (y, x, V) with the neighbours, background and widths held fixed: the
    sandwich ``(JᵀWJ)⁻¹ JᵀW Σ W J (JᵀWJ)⁻¹`` with ``Σ`` the pixel noise
    variance ``α + β M`` fitted to the squared residuals, each divided by
    ``1 - h`` with ``h`` the pixel's leverage (this covers Poisson noise,
    where ``α = 0`` and ``β = 1 / (dose · pixel area)``, and detectors with
    read noise and gain).  The errors leave out the uncertainty of the shared
    widths and of the background, which many columns determine together.

    A fit holds the package's numba lock while it runs, so two threads (for
    example napari thread workers) never run its parallel kernels at the
    same time (numba's default ``workqueue`` threading layer does not allow
    it); a caller that runs other parallel kernels in another thread must
    take :data:`napari_nxtomo.core._parallel.NUMBA_LOCK` too.

    Examples
    --------
    Three columns (volumes 2, 3 and 4 Å², width 0.4 Å) on an image of
    0.2 Å pixels normalised to the beam, with Poisson noise of 10⁵ e/Å²,
    fitted from start positions 0.1 Å off:

    >>> import numpy as np
    >>> import pandas as pd
    >>> from napari_nxtomo.core.fitting import fit_columns, model_image
    >>> truth = pd.DataFrame({"y": [3.0, 3.0, 6.0], "x": [3.0, 6.0, 4.5],
    ...                       "volume": [2.0, 3.0, 4.0], "width": [0.4, 0.4, 0.4]})
    >>> clean = model_image((45, 45), 0.2, truth, background=0.01)
    >>> dose = 1e5 * 0.2**2  # electrons per pixel
    >>> image = np.random.default_rng(0).poisson(clean * dose) / dose
    >>> start = truth[["y", "x"]].to_numpy() + 0.1
    >>> table = fit_columns(image, 0.2, start)
    >>> for r in table.itertuples():
    ...     print(f"({r.y:.2f}, {r.x:.2f}) Å, {r.volume:.1f} ± {r.volume_err:.3f} Å², width {r.width:.2f} Å")
    (3.00, 3.00) Å, 2.0 ± 0.005 Å², width 0.40 Å
    (3.00, 6.00) Å, 3.0 ± 0.006 Å², width 0.40 Å
    (6.00, 4.50) Å, 4.0 ± 0.007 Å², width 0.40 Å
    >>> print(bool(table["x_err"].max() < 0.01), table.attrs["converged"])
    True True
    """
    img, p, ys, xs, labels, tcode, tnames = _check_inputs(
        image, pixel_size, positions, types, weighting, fit_background, background
    )
    degree = _check_degree(background_degree, fit_background)
    given = _given_widths(width, fit_width, tnames, p)
    problem = _Problem(img, n_sigma, fit_background, background, degree)
    if n_threads is None:
        n_threads = _default_threads(img.size + 1000 * len(ys))  # a window holds ~1000 pixels for 2-4 px widths
    steps = _Progress(progress, cancel, int(max_iter) * (2 if weighting == "noise" else 1))
    with _LOCK, _threads(n_threads):
        bounds = _width_bounds(width_range, ys, xs, img.shape, p, tnames)
        if given is None:
            scan = None if width_range is None else (float(bounds[0].min()), float(bounds[1].max()))
            ss_t = _scan_width(problem, ys, xs, len(tnames), steps, scan)
            if width_range is None and _at_top(ys, xs, ss_t, img.shape) and fit_background:
                degree = max(degree, REGION_DEGREE)
                problem = _Problem(img, n_sigma, fit_background, background, degree, _column_region(ys, xs, img.shape))
                ss_t = _scan_width(problem, ys, xs, len(tnames), steps, scan)
                _warn_region(problem, degree, ss_t, ys, xs, img.shape, p)
            if width_range is None:
                _check_density(ys, xs, ss_t, img.shape, p)
        else:
            ss_t = given
            if width_range is None:  # a given start width is kept, even beyond the default range
                bounds = (np.minimum(bounds[0], given), np.maximum(bounds[1], given))
        ss_t = np.clip(ss_t, bounds[0], bounds[1])
        mys, mxs, unmerged, merge_px = _check_resolution(ys, xs, ss_t, min_separation, p)
        if width_range is None:  # the spacing of the columns left after merging
            bounds = (bounds[0], np.maximum(bounds[1], float(_width_grid(mys, mxs, img.shape)[-1])))
        est = _evaluate(problem, mys, mxs, ss_t, tcode[unmerged])
        est, converged, determined, shift = _least_squares(
            problem, est, tcode[unmerged], len(tnames), fit_width, weighting, max_iter, float(tol) / p, steps, bounds
        )
        err, alpha, beta = _standard_errors(problem, est)
    steps.finish()
    rows = np.flatnonzero(unmerged)[determined]
    merged, left_out = np.flatnonzero(~unmerged), np.flatnonzero(unmerged)[~determined]
    _warn_starts(merged, left_out, ys, xs, p, merge_px * p)
    table = _table(est, err, labels[rows], p, img.shape)
    at_bound = _at_bound(est.ss_t, bounds, tnames, p, fit_width)
    table.attrs.update(
        {
            "background": float(np.mean(est.b)),
            "background_degree": degree,
            "fit_region": 1.0 if problem.region is None else problem.n_pixels / img.size,
            "background_coefficients": [float(c) for c in est.coef] if degree else [float(est.b)],
            "pixel_size": p,
            "widths": {_plain(t): float(s * p) for t, s in zip(tnames, est.ss_t)},
            "width_range": {_plain(t): (float(a * p), float(b * p)) for t, a, b in zip(tnames, *bounds)},
            "widths_at_bound": at_bound,
            "noise_alpha": alpha,
            "noise_beta": beta,
            "rss": float(est.rss),
            "n_iter": int(steps.done),
            "converged": bool(converged),
            "weighting": weighting,
            "weighting_shift": shift,
            "n_sigma": float(n_sigma),
            "merged_starts": [int(i) for i in merged],
            "left_out_starts": [int(i) for i in left_out],
        }
    )
    return table


def _plain(t):
    """A type label as a plain Python value (numpy scalars unwrapped)."""
    return t.item() if hasattr(t, "item") else t


def _check_degree(degree, fit_background):
    """The background degree, checked: an integer 0..MAX_DEGREE, 0 when the background is fixed."""
    if not (isinstance(degree, (int, np.integer)) and 0 <= int(degree) <= MAX_DEGREE):
        raise ValueError(f"background_degree must be an integer from 0 (flat) to {MAX_DEGREE}, got {degree!r}")
    if degree and not fit_background:
        raise ValueError("a fixed background (fit_background=False) is flat: give background_degree=0, or fit it")
    return int(degree)


def _width_bounds(width_range, ys, xs, shape, pixel_size, tnames):
    """(smallest, largest) width of each type, pixels (two (T,) arrays): ``width_range`` (Å; one pair, or a dict
    of pairs by type), or 0.3 pixel up to the top of the width scan."""
    n = len(tnames)
    if width_range is None:
        return np.full(n, 0.3), np.full(n, float(_width_grid(ys, xs, shape)[-1]))
    if isinstance(width_range, dict):
        missing = [t for t in tnames if t not in width_range]
        if missing:
            raise ValueError(f"width_range has no range for the type(s) {missing}; give (smallest, largest) Å "
                             "per type, or one pair for all")
        pairs = [width_range[t] for t in tnames]
    else:
        pairs = [width_range] * n
    lo, hi = np.empty(n), np.empty(n)
    for k, pair in enumerate(pairs):
        try:
            lo[k], hi[k] = (float(v) / pixel_size for v in pair)
        except (TypeError, ValueError):
            raise ValueError(f"width_range must be (smallest, largest) width in Å, got {pair!r}") from None
        if not (np.isfinite(lo[k]) and np.isfinite(hi[k]) and 0 < lo[k] < hi[k]):
            raise ValueError(f"width_range must be two increasing positive widths in Å, got {pair!r}")
    return np.maximum(lo, 0.3), np.maximum(hi, 0.3 + 1e-9)


def _at_bound(ss_t, bounds, tnames, pixel_size, fit_width):
    """The types whose fitted width sits at an end of their allowed range (warned of)."""
    if not fit_width:
        return []
    lo, hi = bounds
    at = (ss_t <= lo * 1.001) | (ss_t >= hi * 0.999)
    out = [_plain(t) for t, a in zip(tnames, at) if a]
    if out:
        ranges = ", ".join(f"{_plain(t)!r}: {a * pixel_size:.3g}-{b * pixel_size:.3g} Å"
                           for t, a, b, x in zip(tnames, lo, hi, at) if x)
        warnings.warn(
            f"the width of column type(s) {out} stopped at an end of its allowed range ({ranges}): the peaks are "
            "not Gaussians of a width in that range (columns in vacuum or on the support, a wrong pixel size, or "
            "a range too narrow for the optics); check the columns and give width_range= for the probe",
            UserWarning,
            stacklevel=3,
        )
    return out


def _carry_starts(first, second):
    """``second`` (a fit from the rows of ``first``) with ``merged_starts`` / ``left_out_starts`` of both fits,
    as indices of the starts ``first`` was given.

    Examples
    --------
    >>> import pandas as pd
    >>> first = pd.DataFrame({"y": [0.0, 1.0, 2.0]})
    >>> first.attrs.update(merged_starts=[1], left_out_starts=[3])
    >>> second = pd.DataFrame({"y": [0.0, 2.0]})
    >>> second.attrs.update(merged_starts=[], left_out_starts=[1])
    >>> _carry_starts(first, second).attrs["left_out_starts"]
    [2, 3]
    """
    gone = {key: list(first.attrs.get(key, [])) for key in ("merged_starts", "left_out_starts")}
    n_starts = len(first) + sum(map(len, gone.values()))
    rows = np.delete(np.arange(n_starts), gone["merged_starts"] + gone["left_out_starts"])
    for key, idx in gone.items():
        second.attrs[key] = sorted(idx + [int(rows[i]) for i in second.attrs.get(key, [])])
    return second


def _at_top(ys, xs, ss_t, shape):
    """Whether the estimated width sits at the top of its scan (0.35 × the columns' spacing)."""
    return len(ys) >= 3 and float(ss_t.max()) >= 0.98 * _width_grid(ys, xs, shape)[-1]


def _check_density(ys, xs, ss_t, shape, pixel_size):
    """Refuse starts denser than the columns: the estimated width at the top of its scan (0.35 × their spacing)."""
    if not _at_top(ys, xs, ss_t, shape):
        return
    grid = _width_grid(ys, xs, shape)
    pts = np.column_stack([ys, xs])
    d_nn = float(np.median(cKDTree(pts).query(pts, k=2)[0][:, 1])) * pixel_size
    raise ValueError(
        f"the {len(ys)} start positions are denser than the columns: {d_nn:.3g} Å apart (median nearest "
        f"neighbour, {d_nn / pixel_size:.3g} pixels) while the peaks are at least {grid[-1] * pixel_size:.3g} Å "
        "wide (Gaussian width), the most their spacing allows; a fit would be slow and meaningless. Check that "
        "the image is not inverted (bright columns on a dark background, not a bright-field image), that the "
        "pixel size is right (an uncalibrated image is read as 1 Å per pixel: give it), and find the columns "
        "with a larger min distance"
    )


def _warn_region(problem, degree, ss_t, ys, xs, shape, pixel_size):
    """Warn that the fit was moved to the columns' region with a smooth background (when that gave a width)."""
    if _at_top(ys, xs, ss_t, shape):
        return
    warnings.warn(
        f"on a flat background over the whole image the columns' Gaussians grew to their largest width (they "
        f"filled the bright plateau of a particle on vacuum or a support); fitted instead on the "
        f"{100 * problem.n_pixels / problem.img.size:.0f} % of the image within one column spacing of a column, "
        f"with a smooth background of degree {degree} (width {float(ss_t.max()) * pixel_size:.3g} Å); "
        "attrs['fit_region'] holds that fraction. Give width_range= or background_degree= to choose yourself",
        UserWarning,
        stacklevel=3,
    )


def _warn_starts(merged, left_out, ys, xs, pixel_size, merge_A):
    """Warn of the starts (input indices) merged into a neighbour, and of those left out of the fit."""
    n = len(ys)

    def shown(idx):
        return ", ".join(f"{i} at ({ys[i] * pixel_size:.2f}, {xs[i] * pixel_size:.2f}) Å" for i in idx[:5])

    if len(merged):
        warnings.warn(
            f"{len(merged)} of {n} start position(s) lie closer than {merge_A:.3f} Å (two column widths: "
            f"one peak, the image cannot tell them apart) to another and were merged into it, e.g. "
            f"{shown(merged)}; their input indices are in the table's attrs['merged_starts'] (pass "
            "min_separation to fit such pairs apart)",
            UserWarning,
            stacklevel=3,
        )
    if len(left_out):
        warnings.warn(
            f"{len(left_out)} of {n} start position(s) hold no column of their own (fitted volume not "
            "positive, or position not determined to within half the column width: a second start on one "
            f"column, a noise peak or the vacuum) and were left out of the fit, e.g. {shown(left_out)}; "
            "their input indices are in the table's attrs['left_out_starts']",
            UserWarning,
            stacklevel=3,
        )


def _table(est, err, labels, pixel_size, shape):
    """The result table of :func:`fit_columns` (Å, image units × Å²) from a final estimate (pixels)."""
    p = pixel_size
    border_px = BORDER_SIGMAS * est.ss
    h, w = shape
    border = (
        (est.ys + 0.5 < border_px)
        | (est.xs + 0.5 < border_px)
        | (h - 0.5 - est.ys < border_px)
        | (w - 0.5 - est.xs < border_px)
    )
    a_pix = p * p
    return pd.DataFrame(
        {
            "y": est.ys * p,
            "x": est.xs * p,
            "volume": est.vols * a_pix,
            "height": est.vols / (2 * np.pi * est.ss**2),
            "width": est.ss * p,
            "type": labels,
            "y_err": err[:, 0] * p,
            "x_err": err[:, 1] * p,
            "volume_err": err[:, 2] * a_pix,
            "border": border,
        }
    )
