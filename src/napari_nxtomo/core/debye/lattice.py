"""The ``"lattice"`` method: pair weights of atoms on a grid by FFT cross-correlation.

For atoms on an integer grid (see :mod:`.grid`), the pair weight at each
integer displacement is the cross-correlation of the per-element occupancy
grids, computed by FFT; the cost grows with the grid (``G log G``) instead
of with N².  On a cubic grid the distances are exact, ``step * sqrt(n)`` with
n an integer; on a strained lattice with shifted sublattices each
displacement's length ``|B d + shift_b - shift_a|`` is binned as in the
histogram method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from .._parallel import NUMBA_LOCK as _PARALLEL_LOCK
from ._bin_kernels import _bin_displacements
from .grid import _Grid
from .histogram import (
    DEFAULT_BIN_WIDTH,
    MAX_HISTOGRAM_BINS,
    PairHistogram,
    _make_histogram,
    _terms_from_moments,
)
from .model import _Model, _n_slots

__all__ = ["MAX_LATTICE_CELLS"]

#: most grid cells the ``"lattice"`` method correlates (about 0.5 GB a grid)
MAX_LATTICE_CELLS = 64_000_000


def _lattice_shape(g: np.ndarray):
    """Grid coordinates from 0 and divided by their common factor, that factor, the extent of the
    occupied grid and the (fast FFT) shape of the padded grid that holds every displacement."""
    g = g - g.min(axis=0)
    gcd = int(np.gcd.reduce(g.ravel())) if g.size else 0
    if gcd > 1:
        g = g // gcd
    else:
        gcd = 1
    extent = g.max(axis=0) + 1
    shape = tuple(int(sfft.next_fast_len(int(2 * e - 1), real=True)) for e in extent)
    return g, gcd, extent, shape


def _progress_steps(progress, n_steps: int):
    """A callable that counts one step done and reports the fraction done to ``progress``."""
    done = 0

    def step():
        nonlocal done
        done += 1
        if progress is not None:
            progress(done / n_steps)

    return step


@dataclass
class _Correlator:
    """Fourier transforms of the per-element occupancy grids: pair weights at every displacement."""

    spectra: list  # rfftn of each element's occupancy grid
    norms: list  # 2-norm of each element's occupancy grid
    shape: tuple  # the padded grid
    workers: int  # FFT threads
    self_weights: np.ndarray  # sum o_j^2 per element

    @classmethod
    def of(cls, model: _Model, g: np.ndarray, shape: tuple, workers: int, step) -> _Correlator:
        size = int(np.prod(shape))
        flat = (g[:, 0] * shape[1] + g[:, 1]) * shape[2] + g[:, 2]
        spectra, norms = [], []
        for a in range(model.n_types):
            sl = slice(model.type_starts[a], model.type_starts[a + 1])
            occ_grid = np.bincount(flat[sl], weights=model.occupancy[sl], minlength=size).reshape(shape)
            norms.append(float(np.sqrt(np.sum(occ_grid * occ_grid))))
            spectra.append(sfft.rfftn(occ_grid, workers=workers))
            del occ_grid
            step()
        return cls(spectra, norms, shape, workers, model.self_weights())

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def correlate(self, a: int, b: int):
        """Pair weight of elements a, b at each displacement of the padded grid, and the round-off
        level of the FFT below which a weight counts as zero."""
        corr = sfft.irfftn(np.conj(self.spectra[a]) * self.spectra[b], s=self.shape, workers=self.workers)
        noise = 64.0 * np.finfo(float).eps * self.norms[a] * self.norms[b] * math.sqrt(self.size)
        return corr, noise

    def unordered(self, a: int, b: int, c0, values, noise: float):
        """Coincident weight and ``values`` with each unordered pair counted once.

        The correlation of an element with itself counts every pair twice
        (i-j and j-i) and every atom with itself at displacement zero
        (weight ``o^2``); ``c0`` is the weight at zero distance, kept only
        above the round-off ``noise``.
        """
        if a == b:
            c0 = (c0 - self.self_weights[a]) / 2.0
            values = values / 2.0
        return (c0 if c0 > noise else 0.0), values


def _histogram_lattice(
    model: _Model, grid: _Grid, progress=None, workers=None, bin_width: float = DEFAULT_BIN_WIDTH
) -> PairHistogram:
    """The ``"lattice"`` method: exact distances on a cubic grid, binned ones on a strained lattice."""
    g, gcd, extent, shape = _lattice_shape(grid.g)
    size = int(np.prod(shape))
    if size > MAX_LATTICE_CELLS:
        raise ValueError(
            f"the lattice method would correlate a grid of {shape} cells ({size:.3g} > {MAX_LATTICE_CELLS:.3g}); "
            "use method='histogram' for a model this sparse or this extended"
        )
    if workers is None:
        workers = _n_slots()
    step = _progress_steps(progress, model.n_types + model.n_pairs)
    corr = _Correlator.of(model, g, shape, workers, step)
    if grid.cubic:
        return _cubic_lattice_histogram(model, corr, extent, grid.step * gcd, step)
    return _strained_lattice_histogram(model, corr, extent, grid, gcd, bin_width, step)


def _squared_lengths(shape: tuple, extent: np.ndarray, n_max: int) -> np.ndarray:
    """Squared length (in grid steps²) of the displacement each cell of the padded grid holds,
    flattened; cells that no displacement reaches get the sentinel ``n_max + 1``."""
    n2 = None
    for ax in range(3):
        idx = np.arange(shape[ax])
        disp = np.where(idx < extent[ax], idx, idx - shape[ax])
        valid = np.abs(disp) <= extent[ax] - 1
        sq = np.where(valid, disp * disp, n_max + 1).astype(np.int64)
        sq = sq.reshape([-1 if k == ax else 1 for k in range(3)])
        n2 = sq if n2 is None else n2 + sq
    return np.minimum(n2, n_max + 1).astype(np.intp).ravel()


def _cubic_lattice_histogram(model: _Model, corr: _Correlator, extent, step_A: float, step) -> PairHistogram:
    """Exact distances ``step_A * sqrt(n)`` (Å): the pair weights summed per squared length n."""
    n_max = int(np.sum((extent - 1) ** 2))
    n2 = _squared_lengths(corr.shape, extent, n_max)
    coincident = np.zeros(model.n_pairs)
    tps, dists, weights = [], [], []
    for p, (a, b) in enumerate(model.pairs):
        c, noise = corr.correlate(a, b)
        h = np.bincount(n2, weights=c.ravel(), minlength=n_max + 2)[: n_max + 1]
        del c
        coincident[p], h = corr.unordered(a, b, h[0], h, noise)
        nn = np.nonzero(np.abs(h[1:]) > noise)[0] + 1
        tps.append(np.full(nn.size, p, dtype=np.int64))
        dists.append(step_A * np.sqrt(nn.astype(float)))
        weights.append(h[nn])
        step()
    tp = np.concatenate(tps)
    dist = np.concatenate(dists)
    w = np.concatenate(weights)
    return _make_histogram(model, tp, dist, w, w / dist, np.zeros_like(dist), coincident, "lattice", grid_step=step_A)


def _strained_lattice_histogram(
    model: _Model, corr: _Correlator, extent, grid: _Grid, gcd: int, bin_width: float, step
) -> PairHistogram:
    """Displacement lengths ``|basis @ d + shift_b - shift_a|`` binned by ``bin_width`` Å (numba)."""
    basis = np.ascontiguousarray(grid.basis * gcd)
    shift = grid.shift if grid.shift is not None else np.zeros((model.n_types, 3))
    span = float(np.linalg.norm(model.positions.max(axis=0) - model.positions.min(axis=0)))
    r_max = span + 2.0 * float(np.abs(shift - shift.mean(axis=0)).max()) * math.sqrt(3.0) + 1.0
    nbins = int(r_max / bin_width) + 2
    if nbins > MAX_HISTOGRAM_BINS:
        raise ValueError(f"{nbins} distance bins of {bin_width:g} Å: use a larger bin_width")
    ns = _n_slots()
    extent = np.asarray(extent, dtype=np.int64)
    mom_all = np.zeros((model.n_pairs, nbins, 3))
    coincident = np.zeros(model.n_pairs)
    for p, (a, b) in enumerate(model.pairs):
        c, noise = corr.correlate(a, b)
        mom = np.zeros((ns, nbins, 3))
        acc0 = np.zeros(ns)
        dshift = np.ascontiguousarray(shift[b] - shift[a])
        with _PARALLEL_LOCK:
            _bin_displacements(c, extent, basis, dshift, float(bin_width), noise, mom, acc0)
        del c
        coincident[p], mom_all[p] = corr.unordered(a, b, float(acc0.sum()), mom.sum(axis=0), noise)
        step()
    tp, dist, weight, amp, var = _terms_from_moments(mom_all, bin_width)
    return _make_histogram(model, tp, dist, weight, amp, var, coincident, "lattice", bin_width=bin_width)
