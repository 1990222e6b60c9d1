"""The pattern of a reconstruction averaged over its annealing runs (each run's model a sample of the posterior).

Beside the certainty-as-occupancy pattern (one model, each atom weighted by
its certainty, :func:`~.pattern.pattern_model` with ``certainty=``), the
mean of the runs' own patterns carries the certainty exactly: its pair term
weighs a pair by the share of runs holding both atoms, so correlations
between atoms (two runs putting a surface atom on one of two sites) are kept,
whereas the occupancy pattern weighs it by the product of the two shares.
The two agree where the runs agree.
"""

from __future__ import annotations

import numpy as np

from .._memory import check_memory
from .pattern import PatternCancelled, PatternModel, PatternResult, _stage_reporter, compute_pattern, pattern_model


#: the metadata key under which a model layer carries its reconstruction's runs (the Debye dock averages over them)
RUNS_KEY = "annealing_runs"
#: runs larger than this (bytes of the bool array) are not put on a layer
MAX_LAYER_RUNS_BYTES = 64e6


def runs_metadata(result) -> dict:
    """``{RUNS_KEY: {"runs": (n_runs, K) bool, "sites": (K, 3) Å}}`` for a model layer, or ``{}``.

    Empty when the reconstruction has no annealing runs or they are larger
    than :data:`MAX_LAYER_RUNS_BYTES`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from types import SimpleNamespace
    >>> fake = SimpleNamespace(runs=np.array([[True, False]]), sites=pd.DataFrame({"x": [0.0, 1], "y": [0.0, 0],
    ...                                                                            "z": [0.0, 0]}))
    >>> sorted(runs_metadata(fake)[RUNS_KEY]), runs_metadata(SimpleNamespace(runs=np.zeros((0, 2), bool)))
    (['runs', 'sites'], {})
    """
    try:
        runs, sites = reconstruction_runs(result)
    except (AttributeError, ValueError):  # no runs kept, or none made
        return {}
    return {} if runs.nbytes > MAX_LAYER_RUNS_BYTES else {RUNS_KEY: {"runs": runs, "sites": sites}}


def reconstruction_runs(result):
    """``(runs, sites)`` of a reconstruction: each annealing run's model over the candidate sites.

    Parameters
    ----------
    result : ReconstructionResult
        Of :func:`napari_nxtomo.core.tomography.reconstruct` with
        ``n_runs >= 1``.

    Returns
    -------
    runs : (n_runs, K) bool ndarray
        Site k is in run r's model.
    sites : (K, 3) ndarray
        x, y, z of the candidate sites, Å (the frame of ``result.positions``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from types import SimpleNamespace
    >>> fake = SimpleNamespace(runs=np.array([[True, False]]), sites=pd.DataFrame({"x": [0.0, 1], "y": [0.0, 0],
    ...                                                                            "z": [0.0, 0]}))
    >>> runs, sites = reconstruction_runs(fake)
    >>> runs.shape, sites.shape
    ((1, 2), (2, 3))
    """
    runs = np.asarray(result.runs, dtype=bool)
    if runs.ndim != 2 or runs.shape[0] == 0:
        raise ValueError("the reconstruction has no annealing runs; reconstruct with n_runs >= 1 "
                         "(method 'anneal' or 'both') to average the pattern over its runs")
    sites = result.sites[["x", "y", "z"]].to_numpy(dtype=float)
    return runs, sites


def _run_models(runs, sites, element, lattice_parameter, complete, name):
    """One :class:`PatternModel` per run (its atoms fully occupied, completed as asked)."""
    runs = np.asarray(runs, dtype=bool)
    sites = np.asarray(sites, dtype=float)
    if runs.ndim != 2 or sites.ndim != 2 or sites.shape != (runs.shape[1], 3):
        raise ValueError(f"runs must be (n_runs, K) booleans over K sites given as (K, 3) x, y, z in Å; got "
                         f"{runs.shape} and {sites.shape}")
    if runs.shape[0] == 0:
        raise ValueError("no runs to average: give at least one run's model")
    for r, held in enumerate(runs):
        if not held.any():
            raise ValueError(f"run {r} holds no atom; its model has no pattern")
        yield pattern_model(positions=sites[held], elements=np.full(int(held.sum()), element),
                            lattice_parameter=lattice_parameter, complete=complete, name=f"{name} run {r}")


def _union_model(models: list, n_runs: int, description: str) -> PatternModel:
    """Every atom of any run, its occupancy the share of runs holding it (the frequency-as-occupancy model)."""
    pos = np.vstack([m.positions for m in models])
    els = np.concatenate([m.elements for m in models])
    keys = np.round(pos, 6)
    _, first, inverse = np.unique(np.column_stack([keys, np.unique(els, return_inverse=True)[1]]), axis=0,
                                  return_index=True, return_inverse=True)
    counts = np.bincount(inverse.ravel(), minlength=len(first))
    a = models[0].lattice_parameter
    return PatternModel(pos[first], els[first], counts / n_runs, None, a, description)


def run_averaged_pattern(runs, sites, q, *, element: str = "Pb", lattice_parameter: float | None = None,
                         complete: dict | None = None, name: str = "reconstruction", progress=None, cancel=None,
                         **pattern_kwargs) -> PatternResult:
    """The mean of the Debye patterns of a reconstruction's annealing runs (each run's model one sample).

    Parameters
    ----------
    runs : (n_runs, K) bool array
        Each run's model over the candidate sites (:func:`reconstruction_runs`).
    sites : (K, 3) array
        x, y, z of the candidate sites, Å.
    q : (M,) array
        Å⁻¹.
    element : str
        The reconstructed species.
    lattice_parameter : float, optional
        Cubic *a* of the sites' lattice, Å (the fast lattice method).
    complete : dict, optional
        Complete each run's model with the anion sublattice, as
        :func:`~.pattern.pattern_model`'s ``complete``.
    name : str
        Where the runs come from (in the description).
    progress : callable, optional
        ``progress(i, 1000)``: per mille of the work done.
    cancel : callable, optional
        ``cancel() -> bool``; True stops with :class:`PatternCancelled`.
    **pattern_kwargs
        Further arguments of :func:`~.pattern.compute_pattern` (``x``,
        ``two_theta``, ``axis``, ``radiation``, ``wavelength``,
        ``energy_keV``, ``b_iso``, ``method``, ``self_term``); not G(r).

    Returns
    -------
    PatternResult
        ``intensity`` the mean over the runs (per particle, e² for X-rays);
        ``model`` every atom of any run with the share of runs holding it
        as its occupancy: ``compute_pattern`` of that model is the
        frequency-as-occupancy pattern, equal to this one where the runs
        agree.  Memory: one pattern at a time.

    Examples
    --------
    Two runs that put one of two Pb atoms on either side of a third:

    >>> import numpy as np
    >>> sites = np.array([[0.0, 0, 0], [3.0, 0, 0], [-3.0, 0, 0]])
    >>> runs = np.array([[True, True, False], [True, False, True]])
    >>> p = run_averaged_pattern(runs, sites, np.array([1.0, 2.0]), radiation="constant")
    >>> p.intensity.round(1).tolist(), p.model.occupancy.tolist()
    ([14080.6, 12821.7], [0.5, 1.0, 0.5])
    """
    if pattern_kwargs.get("with_gr"):
        raise ValueError("the run-averaged pattern has no G(r); compute G(r) of one model instead")
    runs = np.asarray(runs, dtype=bool)
    check_memory(24.0 * runs.size, f"the {runs.shape[0]} runs' models", "average over fewer runs")
    report = _stage_reporter(progress, cancel)
    total, models, first = None, [], None
    n = runs.shape[0] if runs.ndim == 2 else 0
    for r, model in enumerate(_run_models(runs, sites, element, lattice_parameter, complete, name)):
        if cancel is not None and cancel():
            raise PatternCancelled("cancelled")
        res = compute_pattern(model, q, progress=lambda i, m, r=r: report(r / n, (r + 1) / n)(i / m), **pattern_kwargs)
        total = res.intensity if total is None else total + res.intensity
        models.append(model)
        if first is None:
            first = res
    first.intensity = total / n
    first.model = _union_model(models, n, f"{name}: mean over {n} annealing runs")
    return first
