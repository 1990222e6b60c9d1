"""numba kernels that bin pair distances: moments of the distances per bin and element pair.

The moments of a bin are ``sum a``, ``sum a u`` and ``sum a u^2`` with
``a = o_i o_j / d`` and ``u`` the offset of ``d`` from the bin's lower edge.
Drivers (and the parallel lock around each call) live in :mod:`.histogram`
and :mod:`.lattice`.  The kernels hold the coincident distance 1e-6 Å
(``COINCIDENT_DISTANCE``) as a literal, so that their cache stays valid.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._sum_kernels import _partners


@njit(parallel=True, cache=True, fastmath=True)
def _bin_rows(x, y, z, types, occ, starts, pidx, width, i0, i1, mom, chunk):
    """Bin the pairs of rows i0 <= i < i1 (j > i): per slot, pair type and bin the
    moments sum a, sum a u, sum a u^2 with a = o_i o_j / d and u the offset of d
    from the bin's lower edge (sum o_i o_j = (sum a) * mean d needs no moment).

    ``mom`` is (slots, pair types, bins + 1, 3); the extra last bin collects the
    weight o_i o_j of coincident pairs (closer than COINCIDENT_DISTANCE) in its
    first moment.  Per chunk of partners, a branch-free vectorised loop computes
    bin index and moments, then a scalar loop scatters them (about 95 % of the
    histogram method's time goes here, dominated by the scatter).
    """
    nslots = mom.shape[0]
    nb = mom.shape[2] - 1
    ne = starts.shape[0] - 1
    inv = 1.0 / width
    eps = 1e-6
    for s in prange(nslots):
        # thread-local buffers: LLVM sees that they alias nothing, and vectorises
        kb = np.empty(chunk, dtype=np.int64)
        ab = np.empty(chunk)
        ub = np.empty(chunk)
        vb = np.empty(chunk)
        for i in range(i0 + s, i1, nslots):
            xi = x[i]
            yi = y[i]
            zi = z[i]
            oi = occ[i]
            if oi == 0.0:
                continue
            ti = types[i]
            for b in range(ne):
                jstart, jend = _partners(starts, b, i)
                h = mom[s, pidx[ti, b]]
                for j0 in range(jstart, jend, chunk):
                    m = min(jend - j0, chunk)
                    xs = x[j0 : j0 + m]
                    ys = y[j0 : j0 + m]
                    zs = z[j0 : j0 + m]
                    os_ = occ[j0 : j0 + m]
                    for t in range(m):
                        dx = xs[t] - xi
                        dy = ys[t] - yi
                        dz = zs[t] - zi
                        r = math.sqrt(dx * dx + dy * dy + dz * dz)
                        w = oi * os_[t]
                        near = r < eps
                        k = min(int(r * inv), nb - 1)
                        u = r - k * width
                        a = w / max(r, eps)
                        kb[t] = nb if near else k
                        ab[t] = w if near else a
                        au = 0.0 if near else a * u
                        ub[t] = au
                        vb[t] = au * u
                    for t in range(m):
                        k = kb[t]
                        h[k, 0] += ab[t]
                        h[k, 1] += ub[t]
                        h[k, 2] += vb[t]


@njit(cache=True, inline="always")
def _displacement(i, n, e):
    """The displacement that index i of a padded grid axis of n cells holds, for atoms spanning
    e cells: i or i - n, or the sentinel n where no displacement of the atoms lands."""
    if i < e:
        return i
    if i > n - e:
        return i - n
    return n


@njit(parallel=True, cache=True)
def _bin_displacements(corr, extent, basis, dshift, width, noise, mom, acc_0):
    """Bin the correlation of two occupancy grids by the length of basis @ d + dshift.

    corr[i, j, k] holds the pair weight at the integer displacement d whose
    components are i (or i - shape) etc.; moments as in _bin_rows, per slot.
    """
    nslots = mom.shape[0]
    nbins = mom.shape[1]
    n0, n1, n2 = corr.shape
    inv = 1.0 / width
    eps = 1e-6
    for s in prange(nslots):
        for i in range(s, n0, nslots):
            dx = _displacement(i, n0, extent[0])
            if dx == n0:
                continue
            for j in range(n1):
                dy = _displacement(j, n1, extent[1])
                if dy == n1:
                    continue
                vx0 = basis[0, 0] * dx + basis[0, 1] * dy + dshift[0]
                vy0 = basis[1, 0] * dx + basis[1, 1] * dy + dshift[1]
                vz0 = basis[2, 0] * dx + basis[2, 1] * dy + dshift[2]
                for k in range(n2):
                    dz = _displacement(k, n2, extent[2])
                    if dz == n2:
                        continue
                    w = corr[i, j, k]
                    if abs(w) <= noise:
                        continue
                    vx = vx0 + basis[0, 2] * dz
                    vy = vy0 + basis[1, 2] * dz
                    vz = vz0 + basis[2, 2] * dz
                    r = math.sqrt(vx * vx + vy * vy + vz * vz)
                    if r < eps:
                        acc_0[s] += w
                        continue
                    b = int(r * inv)
                    if b >= nbins:
                        b = nbins - 1
                    u = r - b * width
                    aa = w / r
                    mom[s, b, 0] += aa
                    mom[s, b, 1] += aa * u
                    mom[s, b, 2] += aa * u * u
