"""The exact optimum of the energy: a mixed-integer linear program (HiGHS), certified by its LP relaxation.

:func:`_solve_exact` is the solver; :func:`_count_lp` is the small LP of the
count mismatch alone that ranks the lattice offsets.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .problem import _energy_parts, _Problem


@dataclass
class ExactSolution:
    """The optimum of the energy by mixed-integer programming.

    Attributes
    ----------
    status : str
        ``"optimal"`` (certified), ``"time limit"`` (best model found and a
        gap), ``"failed"``.
    optimal : bool
        True when the optimum is certified.
    energy : float
        Energy of the model found (surface edges + weighted count mismatch).
    bound : float
        Lower bound on the energy proven by the solver (the dual bound).
    gap : float
        Relative gap ``(energy - bound) / energy`` (0 when optimal).
    surface_edges : int
    count_mismatch : int
        Σ |measured - reconstructed| over the constrained columns.
    occupancy : (K,) bool ndarray or None
        The model, over the candidate sites (``ReconstructionResult.sites``).
    time : float
        Seconds.
    message : str
        The solver's message.
    n_variables, n_constraints : int
    """

    status: str
    optimal: bool
    energy: float
    bound: float
    gap: float
    surface_edges: int
    count_mismatch: int
    occupancy: np.ndarray | None
    time: float
    message: str = ""
    n_variables: int = 0
    n_constraints: int = 0


def _fix_sites(pb: _Problem) -> np.ndarray:
    """Sites whose value some optimal model has: 1 or 0 (-1 free).

    A site is fixed occupied when adding it to any model that leaves it
    empty cannot raise the energy: its surface cost is at most
    ``12 - 2 k`` (``k`` its neighbours already fixed occupied), and in every
    projection whose column asks for at least as many atoms as it has
    candidate sites the mismatch falls by the column's weight (it can rise by
    at most the weight elsewhere).  Fixed empty likewise, for columns that
    already hold more fixed atoms than their count.  Applied until nothing
    changes; each step keeps an optimal model, so the fixed problem has the
    same optimum (two thirds of the sites are fixed for consistent counts in
    three projections).
    """
    K = pb.n_sites
    size = np.diff(pb.col_ptr)
    cons = pb.target >= 0
    cw = np.where(cons, pb.cweight, 0.0)
    fixed = -np.ones(K, dtype=np.int64)
    full = cons & (pb.target >= size)
    for _ in range(100):
        f1 = np.concatenate([(fixed == 1).astype(np.int64), [0]])
        f0 = np.concatenate([(fixed == 0).astype(np.int64), [0]])
        occ_lo = f1[pb.nbr].sum(1) + pb.n_fixed
        occ_hi = 12 - pb.n_out - f0[pb.nbr].sum(1)
        n_fixed1 = np.bincount(pb.col.ravel(), weights=np.repeat((fixed == 1).astype(float), pb.n_views),
                               minlength=len(pb.target))
        over = cons & (n_fixed1 >= pb.target + 1)
        cwc = cw[pb.col]
        up = 12 - 2 * occ_lo - np.where(full[pb.col], cwc, -cwc).sum(1)
        # removing a site from a column that holds at least target + 1 fixed atoms (the site among them or not)
        down = 2 * occ_hi - 12 - np.where(over[pb.col], cwc, -cwc).sum(1)
        new1 = (fixed < 0) & (up <= 1e-9)
        new0 = (fixed < 0) & ~new1 & (down <= 1e-9)
        if not new1.any() and not new0.any():
            break
        fixed[new1] = 1
        fixed[new0] = 0
    return fixed


def _count_rows(pb: _Problem, sites, slack0, nvar):
    """Per constrained column one row ``Σ_{i ∈ c} x_i - s⁺_c + s⁻_c`` (sparse, ``nvar`` columns).

    ``sites`` are the candidate sites that are variables (variable ``j`` is
    site ``sites[j]``); the slacks ``s⁺``, ``s⁻`` are the variables from
    ``slack0`` on.  Returns ``(A, constrained column indices)``.
    """
    cons = np.flatnonzero(pb.target >= 0)
    nc = len(cons)
    pos = np.full(len(pb.target), -1)
    pos[cons] = np.arange(nc)
    colr = pos[pb.col[sites].ravel()]
    var = np.repeat(np.arange(len(sites)), pb.n_views)
    ok = colr >= 0
    rows = np.concatenate([colr[ok], np.arange(nc), np.arange(nc)])
    cols = np.concatenate([var[ok], slack0 + np.arange(nc), slack0 + nc + np.arange(nc)])
    vals = np.concatenate([np.ones(ok.sum()), -np.ones(nc), np.ones(nc)])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(nc, nvar)), cons


def _milp_arrays(pb: _Problem, fixed=None):
    """Objective, constraint matrices and bounds of the MILP over the free sites; and the constant energy.

    One binary per free candidate site, one continuous ``e_ij ≥ |x_i - x_j|``
    per nearest-neighbour pair of free candidates (two inequalities, rows of
    ``A1 x ≥ 0``), the outside neighbours of a site counted directly as
    ``n_out,i x_i``, pairs with a fixed end as a linear term, and per
    constrained column one equality ``Σ x_i - s⁺_c + s⁻_c = n_c`` (rows of
    ``A2 x = t``, ``t`` less the fixed atoms) with non-negative slacks
    weighted ``w ω_c``.  Returns ``c, A1, A2, t, lb, ub, integrality, free,
    const`` (``const`` the energy of the fixed sites).
    """
    K = pb.n_sites
    if fixed is None:
        fixed = -np.ones(K, dtype=np.int64)
    free = np.flatnonzero(fixed < 0)
    nf = len(free)
    fidx = -np.ones(K + 1, dtype=np.int64)
    fidx[free] = np.arange(nf)
    ii, mm = np.nonzero(pb.nbr >= 0)
    jj = pb.nbr[ii, mm].astype(np.int64)
    sel = jj > ii
    pi, pj = ii[sel], jj[sel]
    fi, fj = fixed[pi], fixed[pj]
    both = (fi < 0) & (fj < 0)
    # a site's edges to non-candidates: n_out empty ones when occupied, n_fixed filled ones when empty
    out = (pb.n_out - pb.n_fixed).astype(float)
    const = float(out[fixed == 1].sum() + pb.n_fixed.sum())
    const += float(np.sum(((fi == 1) & (fj == 0)) | ((fi == 0) & (fj == 1))))
    lin = out[free]
    # pairs with one fixed end: |x - 1| = 1 - x, |x - 0| = x
    for a, b in ((pi, pj), (pj, pi)):
        m = (fixed[a] < 0) & (fixed[b] >= 0)
        one = fixed[b][m] == 1
        np.add.at(lin, fidx[a[m]], np.where(one, -1.0, 1.0))
        const += float(one.sum())
    pi, pj = fidx[pi[both]], fidx[pj[both]]
    npair = len(pi)
    nc = int(np.sum(pb.target >= 0))
    nvar = nf + npair + 2 * nc
    e = nf + np.arange(npair)
    r = np.arange(npair)
    # e - x_i + x_j >= 0 ; e + x_i - x_j >= 0
    rows = np.concatenate([r, r, r, npair + r, npair + r, npair + r])
    cols = np.concatenate([e, pi, pj, e, pi, pj])
    vals = np.concatenate([np.ones(npair), -np.ones(npair), np.ones(npair), np.ones(npair), np.ones(npair), -np.ones(npair)])
    A1 = sparse.csr_matrix((vals, (rows, cols)), shape=(2 * npair, nvar))
    # column equalities: free sites + fixed atoms - s+ + s- = count
    A2, cons = _count_rows(pb, free, nf + npair, nvar)
    c = np.concatenate([lin, np.ones(npair), pb.cweight[cons], pb.cweight[cons]])
    n1 = np.bincount(pb.col[fixed == 1].ravel(), minlength=len(pb.target))
    t = (pb.target[cons] - n1[cons]).astype(float)
    lb = np.zeros(nvar)
    ub = np.concatenate([np.ones(nf + npair), np.full(2 * nc, np.inf)])
    integ = np.zeros(nvar)
    integ[:nf] = 1
    return c, A1, A2, t, lb, ub, integ, free, const


def _count_lp(pb: _Problem, time_limit: float) -> float:
    """Least weighted count mismatch of a fractional occupancy (a small LP: no surface term)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    K = pb.n_sites
    nc = int(np.sum(pb.target >= 0))
    A, cons = _count_rows(pb, np.arange(K), K, K + 2 * nc)
    t = pb.target[cons].astype(float)
    c = np.concatenate([np.zeros(K), pb.cweight[cons], pb.cweight[cons]])
    ub = np.concatenate([np.ones(K), np.full(2 * nc, np.inf)])
    res = milp(c, bounds=Bounds(np.zeros(K + 2 * nc), ub), constraints=[LinearConstraint(A, t, t)],
               options={"time_limit": float(min(time_limit, 10.0)), "presolve": True})
    return float(res.fun) if res.x is not None else float("inf")


def _objective_step(pb: _Problem) -> float:
    """The energy's granularity g (every energy is a multiple of it), or 0 when there is none."""
    w = pb.cweight[pb.target >= 0]
    for den in (1, 2, 4, 8, 16, 32, 64):
        if np.allclose(w * den, np.round(w * den), atol=1e-9):
            return 1.0 / den
    return 0.0


def _lp_relaxation(c, A1, A2, t, lb, ub, time_limit):
    """Interior-point solution of the LP relaxation and a rigorous lower bound from its duals.

    Returns ``(x, bound, reduced_costs)`` or None.  For any multipliers
    ``μ ≥ 0`` (rows ``A1 x ≥ 0``) and ``ν`` (rows ``A2 x = t``, clipped to
    ``|ν_c| ≤`` the slack weights so that no unbounded slack has a negative
    cost) every feasible ``x`` has ``c x ≥ ν t + Σ_j min(d_j l_j, d_j u_j)``
    with ``d = c - A1ᵀ μ - A2ᵀ ν`` (a Lagrangian bound); approximate duals
    still give a valid bound.
    """
    from scipy.optimize import OptimizeWarning, linprog

    opts = {"time_limit": float(time_limit), "run_crossover": "off"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        try:
            res = linprog(c, A_ub=-A1, b_ub=np.zeros(A1.shape[0]), A_eq=A2, b_eq=t, bounds=np.stack([lb, ub], 1),
                          method="highs-ipm", options=opts)
        except (AttributeError, TypeError, ValueError):  # a HiGHS without the option
            opts.pop("run_crossover")
            res = linprog(c, A_ub=-A1, b_ub=np.zeros(A1.shape[0]), A_eq=A2, b_eq=t, bounds=np.stack([lb, ub], 1),
                          method="highs-ipm", options=opts)
    if res.x is None or res.status != 0:
        return None
    mu = np.maximum(-np.asarray(res.ineqlin.marginals), 0.0)  # multipliers of -A1 x <= 0
    nu = np.asarray(res.eqlin.marginals)  # multipliers of A2 x = t (scipy's sign)
    nvar = len(c)
    nc = A2.shape[0]
    wslack = c[nvar - nc :]
    nu = np.clip(nu, -wslack, wslack)
    d = c - A1.T @ mu - A2.T @ nu
    d[nvar - 2 * nc :] = np.maximum(d[nvar - 2 * nc :], 0.0)  # exact: w - ν and w + ν are >= 0
    bound = float(nu @ t + np.minimum(d * lb, d * np.where(np.isfinite(ub), ub, 0.0)).sum())
    return res.x, bound, d


# --------------------------------------------------------------------------
# the solver, in stages
# --------------------------------------------------------------------------


def _solve_relaxation(pb: _Problem, time_limit: float, t0: float) -> ExactSolution:
    """The LP relaxation of the whole energy (no site fixed): status ``"relaxation"``, fractional occupancy."""
    c, A1, A2, t, lb, ub, integ, free, const = _milp_arrays(pb, None)
    lp = _lp_relaxation(c, A1, A2, t, lb, ub, time_limit)
    dt = time.perf_counter() - t0
    if lp is None:
        return ExactSolution("failed", False, float("inf"), -float("inf"), float("inf"), 0, 0, None, dt)
    val = float(c @ lp[0])
    return ExactSolution("relaxation", False, val + const, lp[1] + const, 0.0, 0, 0, lp[0][: len(free)], dt)


def _best_incumbent(pb: _Problem, incumbents):
    """The lowest-energy ``(occupancy, surface, mismatch, deviation, source)`` among the incumbents, or None."""
    best = None
    for xin, _ in incumbents:
        xin = np.asarray(xin, bool)
        si, mi, di = _energy_parts(xin, pb)
        if best is None or si + mi < best[1] + best[2] - 1e-9:
            best = (xin, si, mi, di, "an annealing run")
    return best


def _reduced_cost_fixing(fixed, free, xlp, d, lbound, ub_energy):
    """Fix the free binaries whose flip away from their LP value costs more than the gap.

    Returns the new ``fixed`` (a copy) and the number fixed.
    """
    dfree = d[: len(free)]
    xr = xlp[: len(free)]
    flip = lbound + np.abs(dfree) > ub_energy + 1e-6
    at0 = flip & (xr < 1e-6) & (dfree > 0)
    at1 = flip & (xr > 1 - 1e-6) & (dfree < 0)
    n = int(at0.sum() + at1.sum())
    if at0.any() or at1.any():
        fixed = fixed.copy()
        fixed[free[at0]] = 0
        fixed[free[at1]] = 1
    return fixed, n


def _solve_exact(pb: _Problem, time_limit: float, relax: bool = False, incumbents=()) -> ExactSolution:
    """The optimum of the energy, certified.

    Steps: sites fixed by :func:`_fix_sites` (the optimum is unchanged, the
    program smaller); the LP relaxation of :func:`_milp_arrays` by HiGHS's
    interior-point method (:func:`scipy.optimize.linprog`) with a rigorous
    bound from its duals (:func:`_lp_relaxation`); when the best model known
    (the rounded LP solution or one of ``incumbents``, ``(occupancy,
    energy)`` pairs such as the annealing runs' models) is less than one
    energy step above that bound (:func:`_objective_step`: energies are
    multiples of 1/4 with the default weights) it is the certified optimum.
    Otherwise the binaries whose reduced cost exceeds the gap are fixed too
    and HiGHS's branch and bound (:func:`scipy.optimize.milp`) solves the
    rest; a time limit gives the best model found and its gap.  With
    ``relax`` only the LP relaxation of the whole problem is returned
    (:func:`_solve_relaxation`).
    """
    t0 = time.perf_counter()
    if relax:
        return _solve_relaxation(pb, time_limit, t0)
    step = _objective_step(pb)
    fixed = _fix_sites(pb)
    c, A1, A2, t, lb, ub, integ, free, const = _milp_arrays(pb, fixed)
    nrow = A1.shape[0] + A2.shape[0]

    def energy_of(xfree):
        x = fixed == 1
        x[free] = xfree > 0.5
        s, m, dev = _energy_parts(x, pb)
        return x, s, m, dev

    def tolerance(energy):
        return (0.999 * step) if step > 0 else 1e-7 * max(1.0, abs(energy))

    lp = _lp_relaxation(c, A1, A2, t, lb, ub, time_limit) if len(free) else None
    message = ""
    if len(free) == 0:
        x, s, m, dev = energy_of(np.zeros(0))
        return ExactSolution("optimal", True, float(s + m), float(s + m), 0.0, s, dev, x,
                             time.perf_counter() - t0, "every site fixed", len(c), nrow)
    best = _best_incumbent(pb, incumbents)
    if lp is not None:
        xlp, lbound, d = lp
        lbound += const
        x, s, m, dev = energy_of(xlp[: len(free)])
        if best is None or s + m < best[1] + best[2] - 1e-9:
            best = (x, s, m, dev, "the LP relaxation is integral")
        x, s, m, dev, source = best
        if s + m - lbound < tolerance(s + m):
            return ExactSolution("optimal", True, float(s + m), float(lbound), 0.0, s, dev, x,
                                 time.perf_counter() - t0, f"LP bound {lbound:.8g}: certified by {source}",
                                 len(c), nrow)
        fixed, n_fixed = _reduced_cost_fixing(fixed, free, xlp, d, lbound, s + m)
        if n_fixed:
            c, A1, A2, t, lb, ub, integ, free, const = _milp_arrays(pb, fixed)
        message = f"LP bound {lbound:.6g}, {n_fixed} binaries fixed by reduced cost; "
    lp_bound = lbound if lp is not None else None
    return _branch_and_bound(pb, (c, A1, A2, t, lb, ub, integ, free, const), fixed, best, lp_bound,
                             max(0.1, time_limit - (time.perf_counter() - t0)), t0, message, nrow, tolerance)


def _branch_and_bound(pb, arrays, fixed, best, lp_bound, remaining, t0, message, nrow, tolerance):
    """HiGHS's branch and bound on the remaining program; the better of its model and ``best``.

    ``lp_bound`` is the LP relaxation's bound (None without one); ``nrow``
    the number of constraints before reduced-cost fixing (reported).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    c, A1, A2, t, lb, ub, integ, free, const = arrays
    opts = {"time_limit": float(remaining), "presolve": True, "mip_rel_gap": 1e-9}
    cons = [LinearConstraint(A1, 0, np.inf), LinearConstraint(A2, t, t)]
    res = milp(c, integrality=integ, bounds=Bounds(lb, ub), constraints=cons, options=opts)
    dt = time.perf_counter() - t0
    if res.x is None:
        status = "time limit" if res.status == 1 else "failed"
        if best is None:
            return ExactSolution(status, False, float("inf"), -float("inf"), float("inf"), 0, 0, None, dt,
                                 message + str(res.message), len(c), nrow)
        x, s, m, dev = best[:4]
        bound = lp_bound if lp_bound is not None else -float("inf")
        gap = (s + m - bound) / max(abs(s + m), 1e-12)
        return ExactSolution(status, False, float(s + m), float(bound), float(gap), s, dev, x, dt,
                             message + "no better model found: " + str(res.message), len(c), nrow)
    x = fixed == 1
    x[free] = res.x[: len(free)] > 0.5
    s, m, dev = _energy_parts(x, pb)
    energy = s + m
    bound = float(getattr(res, "mip_dual_bound", np.nan))
    bound = bound + const if np.isfinite(bound) else (energy if res.status == 0 else -float("inf"))
    if lp_bound is not None:
        bound = max(bound, lp_bound) if np.isfinite(bound) else lp_bound
    if best is not None and best[1] + best[2] < energy - 1e-9:  # branch and bound stopped early
        x, s, m, dev = best[:4]
        energy = s + m
    optimal = bool(res.status == 0 or energy - bound < tolerance(energy))
    gap = 0.0 if optimal else (energy - bound) / max(abs(energy), 1e-12)
    status = "optimal" if optimal else ("time limit" if res.status == 1 else f"stopped ({res.status})")
    return ExactSolution(status, optimal, float(energy), float(bound), float(gap), s, dev, x, dt,
                         message + str(res.message), len(c), nrow)
