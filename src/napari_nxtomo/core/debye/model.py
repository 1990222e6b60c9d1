"""The atomistic model as the Debye kernels want it: checked, sorted by element, with pair types."""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .form_factors import _check_elements

#: distances below this (Å) count as two atoms on the same spot (the numba
#: kernels hold the same number as a literal, so that their cache stays valid)
COINCIDENT_DISTANCE = 1e-6
#: weights of an atom's self-scattering: its occupancy o (random vacancies, the default) or o² (eq. 1)
SELF_TERMS = ("occupancy", "squared")


@dataclass
class _Model:
    positions: np.ndarray  # (N, 3) float64, sorted by type
    types: np.ndarray  # (N,) int64, non-decreasing
    occupancy: np.ndarray  # (N,) float64
    symbols: list  # unique element symbols, types index into it
    pair_index: np.ndarray  # (ne, ne) int64, symmetric
    pairs: list  # (a, b) with a <= b, per pair index
    type_starts: np.ndarray  # (ne + 1,) first atom of each type
    order: np.ndarray  # (N,) input index of each (sorted) atom

    @property
    def n_types(self) -> int:
        return len(self.symbols)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    def self_weights(self) -> np.ndarray:
        """``sum o_j^2`` per element (the self-scattering term)."""
        return np.array([np.sum(self.occupancy[self.types == a] ** 2) for a in range(self.n_types)])

    def self_scattering(self, self_term: str) -> np.ndarray:
        """Weight of the self term per element: ``sum o_j`` (``"occupancy"``) or ``sum o_j^2`` (``"squared"``)."""
        if self_term == "squared":
            return self.self_weights()
        return np.array([np.sum(self.occupancy[self.types == a]) for a in range(self.n_types)])


def _check_self_term(self_term: str) -> str:
    if self_term not in SELF_TERMS:
        raise ValueError(f"self_term must be 'occupancy' (o, the mean over random vacancies) or 'squared' "
                         f"(o², the seed's eq. 1); got {self_term!r}")
    return self_term


def _check_positions(positions) -> np.ndarray:
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions must be an (N, 3) array of x, y, z in Å; got shape {pos.shape}")
    if pos.shape[0] == 0:
        raise ValueError("no atoms: positions is empty; pass at least one atom (an (N, 3) array in Å)")
    if not np.all(np.isfinite(pos)):
        raise ValueError("positions contain NaN or infinite values; every atom needs a finite x, y, z in Å")
    return pos


def _per_atom(elements, occupancy, n: int):
    """Element symbol and occupancy of each of ``n`` atoms, checked."""
    if isinstance(elements, str):
        els = np.full(n, elements)
    else:
        els = np.asarray(elements).astype(str).ravel()
    if els.shape[0] != n:
        raise ValueError(f"elements has {els.shape[0]} entries for {n} atoms; give one symbol per atom")
    if occupancy is None:
        return els, np.ones(n)
    occ = np.asarray(occupancy, dtype=float).ravel()
    if occ.size == 1:
        occ = np.full(n, float(occ[0]))
    if occ.shape[0] != n:
        raise ValueError(f"occupancy has {occ.shape[0]} entries for {n} atoms; give one number per atom")
    if np.any(~np.isfinite(occ)) or np.any(occ < 0) or np.any(occ > 1):
        raise ValueError("occupancy must lie between 0 and 1 for every atom")
    return els, occ


def _prepare(positions, elements, occupancy, radiation: str) -> _Model:
    """Check the input and sort the atoms by element, then along lines of a 2 Å grid."""
    pos = _check_positions(positions)
    n = pos.shape[0]
    els, occ = _per_atom(elements, occupancy, n)
    symbols, types = np.unique(els, return_inverse=True)
    symbols = [str(s) for s in symbols]
    _check_elements(symbols, radiation)
    # by element, then along lines of the grid: consecutive atoms are
    # neighbours, so the distances from one atom to the next ones change
    # smoothly and land in nearby bins (cache-friendly histogramming)
    cell = np.floor((pos - pos.min(axis=0)) / 2.0)
    order = np.lexsort((pos[:, 2], cell[:, 1], cell[:, 0], types))
    ne = len(symbols)
    pidx = np.zeros((ne, ne), dtype=np.int64)
    pairs = []
    for a in range(ne):
        for b in range(a, ne):
            pidx[a, b] = pidx[b, a] = len(pairs)
            pairs.append((a, b))
    types = types[order].astype(np.int64)
    starts = np.searchsorted(types, np.arange(ne + 1)).astype(np.int64)
    return _Model(
        np.ascontiguousarray(pos[order]), types, np.ascontiguousarray(occ[order]), symbols, pidx, pairs, starts, order
    )


def _check_q(q) -> np.ndarray:
    qq = np.asarray(q, dtype=float)
    if qq.ndim == 0:
        qq = qq.reshape(1)
    if qq.ndim != 1:
        raise ValueError(f"q must be a 1-D array of Q values in Å⁻¹; got shape {qq.shape}")
    if np.any(~np.isfinite(qq)) or np.any(qq < 0):
        raise ValueError("q must be finite and non-negative (Q = 4π sinθ/λ in Å⁻¹)")
    return np.ascontiguousarray(qq)


def _uniform_step(q: np.ndarray):
    """(True, q0, dq) when q is an evenly spaced grid, else (False, 0, 0)."""
    if q.size < 3:
        return False, 0.0, 0.0
    dq = (q[-1] - q[0]) / (q.size - 1)
    if dq <= 0:
        return False, 0.0, 0.0
    dev = np.abs(q - (q[0] + dq * np.arange(q.size))).max()
    if dev <= 1e-10 * max(1.0, abs(q[-1])):
        return True, float(q[0]), float(dq)
    return False, 0.0, 0.0


def _n_slots() -> int:
    """Threads numba runs on: the number of per-thread accumulators the kernels fill."""
    return max(1, int(numba.get_num_threads()))
