"""numba kernels of the Debye sums: sin(Q d) sums over pairs or over binned terms, and G(r).

Drivers (and the parallel lock around each call) live in
:mod:`.intensity` and :mod:`.pdf`.  The kernels hold the coincident
distance 1e-6 Å (``COINCIDENT_DISTANCE``) as a literal, so that their cache
stays valid.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _partners(starts, b, i):
    """The partners j > i of atom i among the atoms of element block b (sorted by element): [jstart, jend)."""
    return max(starts[b], i + 1), starts[b + 1]


@njit(cache=True, fastmath=True)
def _accumulate(out_row, d, a, av, m, has_var, q, uniform, q0, dq, sn, cs, sd, cd):
    """out_row[k] += sum_t a[t] sin(q_k d[t]) (1 - q_k^2 av[t] / (2 a[t]))  for t < m."""
    nq = q.shape[0]
    if uniform:
        for t in range(m):
            sn[t] = math.sin(q0 * d[t])
            cs[t] = math.cos(q0 * d[t])
            sd[t] = math.sin(dq * d[t])
            cd[t] = math.cos(dq * d[t])
        if has_var:
            for k in range(nq):
                s1 = 0.0
                s2 = 0.0
                for t in range(m):
                    s1 += a[t] * sn[t]
                    s2 += av[t] * sn[t]
                    x = sn[t] * cd[t] + cs[t] * sd[t]
                    cs[t] = cs[t] * cd[t] - sn[t] * sd[t]
                    sn[t] = x
                out_row[k] += s1 - 0.5 * q[k] * q[k] * s2
        else:
            for k in range(nq):
                s1 = 0.0
                for t in range(m):
                    s1 += a[t] * sn[t]
                    x = sn[t] * cd[t] + cs[t] * sd[t]
                    cs[t] = cs[t] * cd[t] - sn[t] * sd[t]
                    sn[t] = x
                out_row[k] += s1
    else:
        for k in range(nq):
            qk = q[k]
            s1 = 0.0
            s2 = 0.0
            for t in range(m):
                s = math.sin(qk * d[t])
                s1 += a[t] * s
                s2 += av[t] * s
            if has_var:
                out_row[k] += s1 - 0.5 * qk * qk * s2
            else:
                out_row[k] += s1


@njit(parallel=True, cache=True)
def _exact_rows(pos, types, occ, starts, pidx, q, uniform, q0, dq, i0, i1, acc, acc_w, acc_0, chunk):
    """Exact pair sums for the rows i0 <= i < i1 (j > i), accumulated per thread slot.

    acc[s, p, k] += sum o_i o_j sin(q_k d)/d; acc_w[s, p] += sum o_i o_j;
    acc_0[s, p] += o_i o_j for pairs closer than COINCIDENT_DISTANCE.
    """
    nslots = acc.shape[0]
    ne = starts.shape[0] - 1
    eps = 1e-6
    for s in prange(nslots):
        d = np.empty(chunk)
        a = np.empty(chunk)
        av = np.zeros(chunk)
        sn = np.empty(chunk)
        cs = np.empty(chunk)
        sd = np.empty(chunk)
        cd = np.empty(chunk)
        for i in range(i0 + s, i1, nslots):
            xi = pos[i, 0]
            yi = pos[i, 1]
            zi = pos[i, 2]
            oi = occ[i]
            if oi == 0.0:
                continue
            ti = types[i]
            for b in range(ne):
                jstart, jend = _partners(starts, b, i)
                if jstart >= jend:
                    continue
                p = pidx[ti, b]
                m = 0
                for j in range(jstart, jend):
                    w = oi * occ[j]
                    if w == 0.0:
                        continue
                    dx = pos[j, 0] - xi
                    dy = pos[j, 1] - yi
                    dz = pos[j, 2] - zi
                    r = math.sqrt(dx * dx + dy * dy + dz * dz)
                    acc_w[s, p] += w
                    if r < eps:
                        acc_0[s, p] += w
                        continue
                    d[m] = r
                    a[m] = w / r
                    m += 1
                    if m == chunk:
                        _accumulate(acc[s, p], d, a, av, m, False, q, uniform, q0, dq, sn, cs, sd, cd)
                        m = 0
                if m > 0:
                    _accumulate(acc[s, p], d, a, av, m, False, q, uniform, q0, dq, sn, cs, sd, cd)


@njit(parallel=True, cache=True)
def _sin_sums(tp, dist, amp, ampvar, has_var, q, uniform, q0, dq, out, chunk):
    """out[s, p, k] += sum over terms t of pair type p of amp sin(q d)(1 - q^2 var / 2).

    Terms are sorted by pair type ``tp``; slot s takes chunks s, s + nslots, ...
    """
    nslots = out.shape[0]
    nt = dist.shape[0]
    nchunks = (nt + chunk - 1) // chunk
    for s in prange(nslots):
        sn = np.empty(chunk)
        cs = np.empty(chunk)
        sd = np.empty(chunk)
        cd = np.empty(chunk)
        for c in range(s, nchunks, nslots):
            j = c * chunk
            jend = min(nt, j + chunk)
            while j < jend:
                p = tp[j]
                e = j
                while e < jend and tp[e] == p:
                    e += 1
                _accumulate(
                    out[s, p], dist[j:e], amp[j:e], ampvar[j:e], e - j, has_var, q, uniform, q0, dq, sn, cs, sd, cd
                )
                j = e


@njit(parallel=True, cache=True)
def _pdf_kernel(r, tp, dist, amp, var, coef, q_max, sigma, out):
    """out[i] = sum_t coef[tp] amp[t] K(r_i, dist[t]) (see pair_distribution)."""
    nr = r.shape[0]
    nt = dist.shape[0]
    inv_pi = 1.0 / math.pi
    for i in prange(nr):
        ri = r[i]
        acc = 0.0
        for t in range(nt):
            d = dist[t]
            c = coef[tp[t]] * amp[t]
            if q_max > 0.0:
                x = ri - d
                if abs(x) < 1e-12:
                    k1 = q_max * inv_pi
                else:
                    k1 = math.sin(q_max * x) / (math.pi * x)
                y = ri + d
                if y < 1e-12:
                    k2 = q_max * inv_pi
                else:
                    k2 = math.sin(q_max * y) / (math.pi * y)
                acc += c * (k1 - k2)
            else:
                s2 = sigma * sigma + var[t]
                if s2 <= 0.0:
                    continue
                sg = math.sqrt(s2)
                x = (ri - d) / sg
                y = (ri + d) / sg
                if x * x < 80.0 or y * y < 80.0:
                    acc += c * (math.exp(-0.5 * x * x) - math.exp(-0.5 * y * y)) / (sg * math.sqrt(2.0 * math.pi))
        out[i] = acc
