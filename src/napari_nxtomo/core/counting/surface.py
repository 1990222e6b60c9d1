"""A view's own surface slope: the library's values as this particle's columns read them, fitted per view.

A library in the fit's units is fitted on a bulk slab; a particle's short
columns lie at its surface and read low, V · (V / V(pivot))^b of the bulk's
value V (:data:`~napari_nxtomo.core.library.table.FITTED_SURFACE`).  b spreads
from particle to particle (0.019-0.042 on the four calibration particles), so
one pooled b over-corrects some views' thick columns and under-corrects
others'.  Here each view's count profiles b: counted at the pooled b, the
classes of the counts it found are refitted (scale free about the same prior,
or held where it is given; weights and extra spread free) at b on a grid of
±2 prior widths (on a thread per core), and the b of largest likelihood times the
log-normal prior on b is kept; where it is not the pooled one the view is counted again at it.
"""

from __future__ import annotations

import numpy as np

from .._parallel import thread_map
from ..library.table import with_surface
from .hybrid import _fit_window, _positive_errors, _prior_penalty

#: the slopes tried, in prior widths about the pooled slope
GRID = np.linspace(-2.0, 2.0, 9)
#: fewest classes whose spacing can say anything about the slope
MIN_CLASSES = 4


def count_with_slope(x, errors, spec, count, scale=None, prior=None):
    """The count of ``count(values)`` at the view's most likely surface slope.

    Parameters
    ----------
    x, errors : ndarray
        The columns' cross-sections and their errors (or None).
    spec : tuple
        (bulk values {count: cross-section}, pooled slope, its sd, pivot count):
        ``CrossSectionLibrary.surface_prior``.
    count : callable
        values dict → CountResult (the hybrid count with everything else fixed).
    scale, prior
        The count's given scale (held in the profile) or the prior on its fitted scale.

    Returns
    -------
    CountResult
        With ``params["surface_slope"]``, the slope the count was made at.

    Examples
    --------
    Columns of 1-11 atoms read with a slope 0.045, 1 % scatter, in the library's units:

    >>> import numpy as np
    >>> from napari_nxtomo.core.counting.hybrid import _count_hybrid
    >>> bulk = {n: 0.007 * n + 0.0004 * n * n for n in range(1, 13)}
    >>> truth = np.repeat(np.arange(1, 12), 8)
    >>> read = with_surface(bulk, 0.045, 6)
    >>> x = np.array([read[n] for n in truth]) * (1 + 0.01 * np.random.default_rng(0).standard_normal(truth.size))
    >>> res = count_with_slope(x, 0.01 * x, (bulk, 0.026, 0.011, 6),
    ...                        lambda v: _count_hybrid(x, v, errors=0.01 * x, scale=1.0), scale=1.0)
    >>> round(res.params["surface_slope"], 3), bool(np.all(res.counts == truth))
    (0.048, True)
    """
    bulk, b0, sd, pivot = spec
    res = count(with_surface(bulk, b0, pivot))
    lo, hi = res.params["window"]
    keys = [k for k in sorted(bulk) if lo <= k <= hi]
    if len(keys) < MIN_CLASSES:
        res.params["surface_slope"] = b0
        return res
    e2 = np.zeros(x.size) if errors is None else np.square(_positive_errors(errors))
    slopes = b0 + sd * GRID
    costs = thread_map(lambda b: _cost(x, e2, with_surface(bulk, b, pivot), keys, res.params["scale"], scale, prior)
                       + ((b - b0) / sd) ** 2, slopes)
    best = float(slopes[int(np.argmin(costs))])
    if best != b0:
        res = count(with_surface(bulk, best, pivot))
    res.params["surface_slope"] = best
    res.notes.append(f"the library's values as this particle's columns read them: V · (V / V({pivot}))^b, b {best:.3f} "
                     f"fitted on this view (prior {b0:.3f} ± {sd:.3f}, the particles' spread)")
    return res


def _cost(x, e2, values, keys, c, scale, prior) -> float:
    """-2 ln L of the classes ``keys`` of ``values`` fitted to the columns (scale held where given, else free from
    ``c``), plus the prior on the scale; +inf where the fit fails."""
    vals = np.array([values[k] for k in keys])
    fit = _fit_window(x, e2, vals, scale, c_start=None if scale is not None else c)
    if fit is None:
        return np.inf
    return -2.0 * fit[3] + _prior_penalty(fit[0], prior)
