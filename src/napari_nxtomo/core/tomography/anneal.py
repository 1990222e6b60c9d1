"""Simulated annealing and Metropolis sampling of the site problem (the drivers of the numba kernels).

One annealing run (:func:`_anneal_one`) or one sampling chain
(:func:`_sample_one`) is a plain function of the problem and a seed, so that
runs can go to threads or to dask workers and give the same result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ._anneal_kernels import _sweeps
from .problem import _column_counts, _energy_parts, _occupied_neighbours, _Problem


@dataclass
class _RunParams:
    n_sweeps: int
    n_quench: int
    n_sample: int
    t_start: float
    t_end: float
    temperature: float
    p_flip: float
    p_move: float
    chunk: int = 25


def _default_sweeps(K: int) -> int:
    """Annealing sweeps per run: 400 + 30 √K, and at least 3 million moves (at most 20 000 sweeps)."""
    return int(min(max(400 + 30 * np.sqrt(K), 3e6 / max(K, 1)), 20000))


def _initial_state(pb: _Problem, rng):
    """Random model that meets the first projection's counts."""
    K = pb.n_sites
    state = np.zeros(K, dtype=np.uint8)
    view0 = np.flatnonzero(pb.col_view == 0)
    for c in view0:
        members = pb.col_members[pb.col_ptr[c] : pb.col_ptr[c + 1]]
        t = pb.target[c]
        if len(members) == 0 or t == 0:
            continue
        if t < 0:
            t = len(members) // 2
        pick = rng.choice(members, size=min(int(t), len(members)), replace=False)
        state[pick] = 1
    return state


def _kernel_args(pb: _Problem):
    return (
        pb.nbr,
        pb.col,
        pb.target,
        pb.cweight,
        (pb.q // 2).astype(np.int64),
        pb.grid,
        pb.grid_lo,
        pb.dirs,
        pb.mmax,
        pb.col_ptr,
        pb.col_members,
    )


def _chain(pb: _Problem, state, rng, temps, params, stop, sample):
    """Run sweeps at the temperatures ``temps`` from ``state`` in chunks; None if stopped."""
    state = state.astype(np.uint8).copy()
    occ = _occupied_neighbours(state, pb).astype(np.int64)
    ncount = _column_counts(state, pb).astype(np.int64)
    s, m, _ = _energy_parts(state, pb)
    energy = np.array([s + m])
    best_state = state.copy()
    best_energy = energy.copy()
    acc = np.zeros(pb.n_sites, dtype=np.float64)
    args = _kernel_args(pb)
    n_acc = 0
    for i in range(0, len(temps), params.chunk):
        if stop is not None and stop.is_set():
            return None
        n_acc += _sweeps(state, occ, ncount, energy, rng, *args, temps[i : i + params.chunk], params.p_flip,
                         params.p_move, best_state, best_energy, acc, sample)
    return best_state.astype(bool), acc, n_acc


def _anneal_one(pb: _Problem, params: _RunParams, seed_int: int, stop=None):
    """One annealing run from a random model.

    The run starts from a random model that meets the first projection's
    counts (each of its columns filled at random sites) and anneals the
    energy with Metropolis moves (:func:`._anneal_kernels._sweeps`), the
    temperature falling geometrically from ``params.t_start`` (6) to
    ``params.t_end`` (0.05, surface-edge units) over ``params.n_sweeps``
    sweeps, then ``params.n_quench`` (30) sweeps at zero temperature.  The
    kernel draws from a private xorshift generator seeded from ``seed_int``.

    Returns a dict: ``best`` (K,) bool, the lowest-energy model met, its
    ``energy``, the acceptance ratio ``accept`` and ``time`` (s); None when
    ``stop`` (a threading.Event) was set.
    """
    t0 = time.perf_counter()
    gen = np.random.default_rng(seed_int)
    state = _initial_state(pb, gen)
    rng = np.array([gen.integers(1, 2**63 - 1)], dtype=np.uint64)
    p = params
    temps = np.concatenate(
        [
            p.t_start * (p.t_end / p.t_start) ** (np.arange(p.n_sweeps) / max(p.n_sweeps - 1, 1)),
            np.zeros(p.n_quench),
        ]
    )
    out = _chain(pb, state, rng, temps, p, stop, False)
    if out is None:
        return None
    best, _, n_acc = out
    s, m, _ = _energy_parts(best, pb)
    return dict(best=best, energy=float(s + m), accept=n_acc / max(1, len(temps) * pb.n_sites),
                time=time.perf_counter() - t0)


def _sample_one(pb: _Problem, params: _RunParams, seed_int: int, start, stop=None):
    """Metropolis sampling at ``params.temperature`` from the model ``start`` (K,) bool.

    The chain samples the posterior ``p(x) ∝ exp(-E(x) / T)`` with the
    moves of the annealing; the mean occupancy over its sweeps, averaged
    over all chains, is the calibrated certainty of every site: a site that
    every model within a few ``T`` of the optimum holds has certainty 1, a
    site that an alternative ``ΔE`` higher leaves empty about
    ``1 / (1 + exp(-ΔE / T))``.

    Returns the mean occupancy over ``params.n_sample`` sweeps, (K,) float,
    or None when stopped.
    """
    gen = np.random.default_rng(seed_int)
    rng = np.array([gen.integers(1, 2**63 - 1)], dtype=np.uint64)
    temps = np.full(params.n_sample, params.temperature)
    out = _chain(pb, np.asarray(start), rng, temps, params, stop, True)
    if out is None:
        return None
    return out[1] / max(params.n_sample, 1)


def _sampling_starts(n_runs, runs, exact):
    """The start of every sampling chain: its run's model, or the exact optimum where that is lower.

    With only the exact optimum (no annealing runs) every chain starts from it.
    """
    starts = []
    for i in range(n_runs):
        cands = []
        if runs:
            cands.append((runs[i]["energy"], runs[i]["best"]))
        if exact is not None and exact.occupancy is not None:
            cands.append((exact.energy + 1e-9, exact.occupancy))  # a run's own optimum on a tie
        if cands:
            starts.append(min(cands, key=lambda c: c[0])[1])
    return starts


def _run_params(n_sites, n_sweeps, n_sample_sweeps, temperature) -> _RunParams:
    """The annealing schedule and the move mix (5 % single sites, 45 % column moves, the rest switching)."""
    if n_sweeps is None:
        n_sweeps = _default_sweeps(n_sites)
    return _RunParams(
        n_sweeps=int(n_sweeps), n_quench=30, n_sample=int(n_sample_sweeps), t_start=6.0, t_end=0.05,
        temperature=float(temperature), p_flip=0.05, p_move=0.45,
    )


def _run_seeds(seed, n_runs):
    """Per run two seeds (annealing, sampling) from ``numpy.random.SeedSequence(seed)``.

    Runs are independent: the same input and seed give the same result
    whether the runs go to threads or to a dask cluster.
    """
    children = np.random.SeedSequence(seed).spawn(max(n_runs, 0))
    return [[int(g.generate_state(1, dtype=np.uint64)[0] % (2**62)) for g in c.spawn(2)] for c in children]
