"""numba kernel of the population database: every pair of the largest particle binned once.

Driver: :mod:`.population`.  Each atom belongs to the particles of size class
``first[i]`` and larger, and is a core atom from class ``core_from[i]`` on
(a shell atom before).  A pair therefore contributes, with its group pair
(element x core/shell) of each class, to a few runs of consecutive classes;
each run ``[s, e)`` is stored as +1 at class ``s`` and -1 at class ``e`` so
that the population histogram is ``sum_k C_k mom[:, k]`` with ``C_k`` the
number fraction of particles of class ``k`` or larger.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, inline="always")
def _add(mom, p, k, b, sign, inv_d, u):
    mom[p, k, b, 0] += sign * inv_d
    mom[p, k, b, 1] += sign * inv_d * u
    mom[p, k, b, 2] += sign * inv_d * u * u


@njit(cache=True, inline="always")
def _run(mom, p, s, e, n_classes, b, inv_d, u):
    if e > s:
        _add(mom, p, s, b, 1.0, inv_d, u)
        if e < n_classes:
            _add(mom, p, e, b, -1.0, inv_d, u)


@njit(cache=True)
def _bin_population(pos, element, first, core_from, pidx, width, mom):
    """Bin the pairs i < j of ``pos`` into ``mom[pair type, class, bin, moment]``.

    Groups: ``2 * element`` (core) and ``2 * element + 1`` (shell); ``pidx``
    maps two groups to a pair type.  Moments of ``1/d``: sum 1/d, sum u/d,
    sum u^2/d with ``u = d - bin * width``.
    """
    n = pos.shape[0]
    n_classes = mom.shape[1]
    n_bins = mom.shape[2]
    for i in range(n):
        xi = pos[i, 0]
        yi = pos[i, 1]
        zi = pos[i, 2]
        gi = 2 * element[i]
        for j in range(i + 1, n):
            dx = pos[j, 0] - xi
            dy = pos[j, 1] - yi
            dz = pos[j, 2] - zi
            d = math.sqrt(dx * dx + dy * dy + dz * dz)
            b = int(d / width)
            if b >= n_bins or d < 1e-6:
                continue
            u = d - b * width
            inv_d = 1.0 / d
            gj = 2 * element[j]
            a = max(first[i], first[j])
            ci = min(max(core_from[i], a), n_classes)
            cj = min(max(core_from[j], a), n_classes)
            lo = min(ci, cj)
            hi = max(ci, cj)
            # both shell, then the earlier one core, then both core
            _run(mom, pidx[gi + 1, gj + 1], a, lo, n_classes, b, inv_d, u)
            if ci < cj:
                _run(mom, pidx[gi, gj + 1], lo, hi, n_classes, b, inv_d, u)
            else:
                _run(mom, pidx[gi + 1, gj], lo, hi, n_classes, b, inv_d, u)
            _run(mom, pidx[gi, gj], hi, n_classes, n_classes, b, inv_d, u)
