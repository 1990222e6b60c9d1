"""numba kernels of the simulated annealing: random numbers, flips and Metropolis sweeps.

Every kernel is ``njit(cache=True, nogil=True)``: runs go to threads, each
with its own xorshift generator (a one-element ``uint64`` array), and no
``parallel=True`` kernel is used, so
:data:`napari_nxtomo.core._parallel.NUMBA_LOCK` is not needed.  The drivers
are in :mod:`.anneal`; the moves are explained in :func:`_sweeps`.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def _next_u64(rng):
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    return x * np.uint64(2685821657736338717)


@numba.njit(cache=True, nogil=True, inline="always")
def _uniform(rng):
    return (_next_u64(rng) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _randint(rng, n):
    k = np.int64(_uniform(rng) * n)
    return k if k < n else n - 1


@numba.njit(cache=True, nogil=True)
def _flip(i, state, occ, ncount, nbr, col, target, cw):
    """Flip site i; update neighbour and column counts; return the energy change."""
    s = 1 - 2 * np.int64(state[i])
    dE = float(s * (12 - 2 * occ[i]))
    for k in range(col.shape[1]):
        c = col[i, k]
        t = target[c]
        n = ncount[c]
        if t >= 0:
            dE += cw[c] * (abs(t - n - s) - abs(t - n))
        ncount[c] = n + s
    for m in range(12):
        j = nbr[i, m]
        if j >= 0:
            occ[j] += s
    state[i] = 1 - state[i]
    return dE


@numba.njit(cache=True, nogil=True)
def _delta(i, skip, state, occ, ncount, col, target, cw):
    """Energy change of flipping site i alone, leaving out projection ``skip``'s column (-1: none)."""
    s = 1 - 2 * np.int64(state[i])
    dE = float(s * (12 - 2 * occ[i]))
    for k in range(col.shape[1]):
        if k == skip:
            continue
        c = col[i, k]
        t = target[c]
        if t >= 0:
            n = ncount[c]
            dE += cw[c] * (abs(t - n - s) - abs(t - n))
    return dE


@numba.njit(cache=True, nogil=True)
def _accept(dE, T, rng):
    if dE <= 0.0:
        return True
    if T <= 0.0:
        return False
    return _uniform(rng) < math.exp(-dE / T)


@numba.njit(cache=True, nogil=True)
def _sweeps(state, occ, ncount, energy, rng, nbr, col, target, cw, qh, grid, glo, dirs, mmax,
            col_ptr, col_members, temps, p_flip, p_move, best_state, best_energy, acc, sample):
    """Run ``len(temps)`` sweeps of Metropolis moves, one temperature per sweep.

    A sweep is one attempted move per candidate site.  Each move is, with
    probability ``p_flip``, a single site added or removed (every count
    changes); with ``p_move``, an atom moved along a column of a random
    projection (that projection's counts are kept, the others' change and
    are penalised by the count weight); otherwise a *switching move* that
    keeps every projection's counts: for random multipliers ``m_k`` (half
    the time at most 2) the ``2^P`` sites ``s + Σ_{k ∈ K} m_k d_k``
    (``d_k`` the fcc step along projection k's beam, ``K`` any subset of
    the ``P`` projections) with sign ``(-1)^|K|`` are all flipped when the
    positive ones share one state and the negative ones the other (a
    rectangle for two projections, the corners of a parallelepiped or a
    hexagon for three: ``Π_k (1 - X^{m_k d_k})`` projects to zero along
    every beam).

    ``energy``, ``best_energy`` are 1-element arrays updated in place;
    ``acc`` accumulates the occupancy after every sweep when ``sample``.
    Returns the number of accepted moves.
    """
    # One function on purpose: the three moves as separate njit functions (inlined or not) were measured
    # 1.5 to 2.5 times slower, numba passing every array argument with reference counting at each call.
    K = state.shape[0]
    P = col.shape[1]
    npts = 1 << P
    sites = np.empty(npts, np.int64)
    coef = np.empty(npts, np.int64)
    mult = np.empty(P, np.int64)
    nx, ny, nz = grid.shape
    E = energy[0]
    accepted = 0
    for sw in range(temps.shape[0]):
        T = temps[sw]
        for it in range(K):
            u = _uniform(rng)
            if u < p_flip:
                i = _randint(rng, K)
                dE = _delta(i, -1, state, occ, ncount, col, target, cw)
                if _accept(dE, T, rng):
                    _flip(i, state, occ, ncount, nbr, col, target, cw)
                    E += dE
                    accepted += 1
            elif u < p_flip + p_move:
                k = _randint(rng, P)
                i = _randint(rng, K)
                c = col[i, k]
                n = col_ptr[c + 1] - col_ptr[c]
                if n < 2:
                    continue
                j = col_members[col_ptr[c] + _randint(rng, n)]
                if j == i or state[i] == state[j]:
                    continue
                # the atom moves between i and j along projection k's column: that column's count is kept
                dE = _delta(i, k, state, occ, ncount, col, target, cw) + _delta(j, k, state, occ, ncount, col, target, cw)
                for m in range(12):
                    if nbr[i, m] == j:
                        dE += 2.0  # neighbours: the pair's own edge is counted in both flips
                        break
                if _accept(dE, T, rng):
                    _flip(i, state, occ, ncount, nbr, col, target, cw)
                    _flip(j, state, occ, ncount, nbr, col, target, cw)
                    E += dE
                    accepted += 1
            else:
                a = _randint(rng, K)
                small = _uniform(rng) < 0.5
                for k in range(P):
                    mm = mmax[k]
                    if small and mm > 2:
                        mm = 2
                    m = _randint(rng, 2 * mm) - mm
                    if m >= 0:
                        m += 1
                    mult[k] = m
                npos = 0
                bad = False
                for mask in range(npts):
                    x = qh[a, 0]
                    y = qh[a, 1]
                    z = qh[a, 2]
                    par = 0
                    for k in range(P):
                        if (mask >> k) & 1:
                            x += mult[k] * dirs[k, 0]
                            y += mult[k] * dirs[k, 1]
                            z += mult[k] * dirs[k, 2]
                            par += 1
                    gx = x - glo[0]
                    gy = y - glo[1]
                    gz = z - glo[2]
                    if gx < 0 or gy < 0 or gz < 0 or gx >= nx or gy >= ny or gz >= nz:
                        bad = True
                        break
                    idx = grid[gx, gy, gz]
                    if idx < 0:
                        bad = True
                        break
                    sg = 1 if par % 2 == 0 else -1
                    found = False
                    for r in range(npos):
                        if sites[r] == idx:
                            coef[r] += sg
                            found = True
                            break
                    if not found:
                        sites[npos] = idx
                        coef[npos] = sg
                        npos += 1
                if bad:
                    continue
                ref = -1
                for r in range(npos):
                    if coef[r] > 1 or coef[r] < -1:
                        bad = True
                        break
                    if coef[r] == 1 and ref < 0:
                        ref = state[sites[r]]
                if bad or ref < 0:
                    continue
                for r in range(npos):
                    if coef[r] == 1 and state[sites[r]] != ref:
                        bad = True
                        break
                    if coef[r] == -1 and state[sites[r]] == ref:
                        bad = True
                        break
                if bad:
                    continue
                dE = 0.0
                for r in range(npos):
                    if coef[r] != 0:
                        dE += _flip(sites[r], state, occ, ncount, nbr, col, target, cw)
                if _accept(dE, T, rng):
                    E += dE
                    accepted += 1
                else:
                    for r in range(npos - 1, -1, -1):
                        if coef[r] != 0:
                            _flip(sites[r], state, occ, ncount, nbr, col, target, cw)
        if E < best_energy[0] - 1e-9:
            best_energy[0] = E
            best_state[:] = state
        if sample:
            for i in range(K):
                acc[i] += state[i]
    energy[0] = E
    return accepted


