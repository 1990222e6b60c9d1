"""Binning of large data sets for the EM: cell means with their multiplicities.

Above ``_BIN_ABOVE`` values the EM runs on cells far narrower than any
resolvable class; posteriors, likelihood and ICL are always computed on the
raw values afterwards.
"""

from __future__ import annotations

import numpy as np

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
