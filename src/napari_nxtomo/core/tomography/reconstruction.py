""":func:`reconstruct`: the front of the tomography, in named stages."""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._memory import available_memory
from .anneal import _anneal_one, _run_params, _run_seeds, _sample_one, _sampling_starts
from .exact import _solve_exact
from .indexing import _common_tilt_axis, _place
from .offsets import _choose_offsets
from .problem import (
    _BYTES_PER_SITE,
    DEFAULT_COUNT_WEIGHT,
    _build_problem,
    _miscount_rate,
    _weight_from_error_rate,
)
from .projections import Projection
from .result import ReconstructionCancelled, ReconstructionResult, _assemble
from .runners import _Runner, _Ticker

#: temperature (surface edges) of the posterior sampled for the certainty
DEFAULT_TEMPERATURE = 1.0


def reconstruct(
    projections,
    lattice_parameter: float,
    lattice: str = "fcc",
    n_runs: int = 10,
    seed: int = 0,
    *,
    method: str = "both",
    count_weight: float | None = None,
    count_error_rate: float | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    n_sweeps: int | None = None,
    n_sample_sweeps: int = 200,
    time_limit: float = 60.0,
    n_workers: int | None = None,
    client=None,
    progress=None,
    cancel=None,
    max_sites: int = 2_000_000,
    filled=None,
    filled_radius: float | None = None,
) -> ReconstructionResult:
    """Reconstruct a 3D atomic model on the fcc lattice from atom counts in two or more projections.

    Parameters
    ----------
    projections : sequence of Projection
        Two or more images along different zone axes about one tilt axis.
    lattice_parameter : float
        Cubic lattice parameter *a* in Å; for PbSe
        ``ROCKSALT_PBSE.lattice_parameter`` (:data:`napari_nxtomo.core.lattice.ROCKSALT_PBSE`).
    lattice : {"fcc"}
        The lattice of the reconstructed sublattice.
    n_runs : int
        Independent annealing runs (each seeded from ``seed``).
    seed : int
        Seed of the runs' random numbers.
    method : {"both", "anneal", "exact"}
        ``"anneal"``: simulated annealing runs only; ``"exact"``: the
        mixed-integer optimum only (``n_runs`` sampling chains from it give
        the certainty, no annealing); ``"both"``: the optimum certifies the
        runs and the model is the lowest energy found.
    count_weight : float, optional
        ``w``: surface edges per atom of count mismatch.  Default: from
        ``count_error_rate`` as ``ln(2 (1 - ε) / ε)``, between 1.5 and 6
        (Notes).
    count_error_rate : float, optional
        Expected fraction ``ε`` of columns miscounted by ±1 (e.g. from the
        counting step's class overlap).  Default: estimated from how well
        the projections' slice totals agree.
    temperature : float
        Temperature (surface edges) of the posterior that gives the
        calibrated certainty; 1 makes ``exp(-E)`` the posterior.
    n_sweeps : int, optional
        Annealing sweeps per run (a sweep = one move per candidate site);
        default ``400 + 30 √K`` for ``K`` candidate sites, at least 3
        million moves (2950 sweeps for 7000 sites, 8450 for 355).
    n_sample_sweeps : int
        Sweeps of sampling at ``temperature`` per run.
    time_limit : float
        Seconds for the exact solver; past it the best model and its gap are
        reported.
    n_workers : int, optional
        Threads for the runs; default: every core (``os.cpu_count()``).
    client : dask.distributed.Client, optional
        Run the annealing runs on this cluster instead of threads.
    progress : callable, optional
        ``progress(i, n)`` at the start (``i = 0``) and after each finished
        step: every annealing run is a step, then the exact solve, then the
        certainty sampling (all chains together).
    cancel : callable, optional
        Polled several times a second while runs or sampling chains go on,
        and after the exact solve; when it returns True the remaining work
        stops (within a fraction of a second) and
        :class:`ReconstructionCancelled` is raised, carrying in ``.partial``
        the result from the finished runs (and the exact solve, if done; its
        certainty is then the run frequency), or None when nothing had
        finished.
    max_sites : int
        Refuse problems with more candidate sites (about 8 kB each; a
        problem larger than 80 % of the free memory is refused too).
    filled : (M, 3) array, optional
        Positions (Å, this reconstruction's crystal frame: give every
        projection's ``offset``) of another species' atoms, e.g. the Pb core
        when the Cd of its shell is reconstructed.  The lattice sites within
        ``filled_radius`` of one hold no atom and count as occupied
        neighbours (the whole particle compact: no surface between shell
        and core).
    filled_radius : float, optional
        Å; default ``√3 a / 4`` (a tetrahedral site beside an octahedral
        one) plus 0.1 Å.

    Returns
    -------
    ReconstructionResult

    Raises
    ------
    ValueError
        Fewer than two projections, projections without a common tilt axis,
        bad counts, totals that disagree by more than 10 %, columns off the
        lattice, or a problem too large for memory; the message says what to
        change.
    ReconstructionCancelled
        When ``cancel()`` returned True.

    Notes
    -----
    The counts of one species (Pb in PbSe) in every atomic column of two or
    more HAADF-STEM images along zone axes that share one tilt axis ([100],
    [010] and [110] about [001]) are combined into a 3D model on the fcc
    lattice.  The stages: the views are indexed on the projected lattice and
    oriented jointly (:func:`._place`), the lattice offsets chosen
    (:func:`._choose_offsets`), the candidate sites and columns built
    (:func:`._build_problem`), then annealing runs (:func:`._anneal_one`),
    the exact optimum (:func:`._solve_exact`, which certifies the runs:
    ``exact.status``, the proven bound and the gap are reported) and
    sampling chains for the certainty (:func:`._sample_one`).

    Frame.  Reconstructed positions are in the crystal frame ``(x, y, z)``
    along the cube axes, in Å, ``q * a / 4`` with ``q`` the integer
    quarter-lattice coordinates; the origin is an fcc site near the
    particle's centre of mass unless offsets are given (then it is the site
    that the offsets put at the given image positions).  napari's 3D order
    is ``(z, y, x)``: ``positions[:, ::-1]``.

    Energy.  One energy for both solvers (:func:`._energy_parts`): the
    number of surface edges (nearest-neighbour pairs occupied/empty) plus
    ``w`` times the weighted count mismatch.  ``exp(-E)`` is the posterior
    of the model under the prior ``exp(-surface)`` and independent ±1
    miscounts (:func:`._weight_from_error_rate`).  Inconsistent counts
    (miscounted or missing columns) give the lowest-energy model and a
    residual per column (``ReconstructionResult.reprojection``); every
    result says whether its model is connected and how many empty sites it
    encloses.

    Certainty.  ``frequency`` is the paper's certainty, the fraction of the
    annealing runs whose final model holds the site; when every run reaches
    the optimum it is 0 or 1 everywhere and says nothing about the data's
    ambiguity.  ``certainty`` (calibrated) is the probability of the site
    under the posterior ``p(x) ∝ exp(-E(x) / T)`` at ``temperature`` ``T``,
    the mean occupancy over all samples of ``n_runs`` Metropolis chains,
    each starting from its run's model or from the exact optimum where that
    is lower (with ``method="exact"`` all from the optimum).  The
    calibration is measured on the sample particles in
    ``tests/core/test_tomography.py`` and ``benchmarks/bench_tomography.py``
    (among sites at certainty ≥ 0.9 at least 97 % are true atoms, among
    those ≤ 0.1 at most 3 %, with counts exact or with 5 % or 20 % of the
    columns miscounted).

    Runs are seeded from ``numpy.random.SeedSequence(seed)``: the same input
    and seed give the same result whether the runs go to threads (default:
    one per core) or to a dask.distributed cluster (``client``).

    Examples
    --------
    A small cuboctahedron of Pb sites, counted along [100] and [010]:

    >>> import numpy as np
    >>> from napari_nxtomo.core.geometry import ProjectionGeometry
    >>> from napari_nxtomo.core.lattice import ROCKSALT_PBSE, cuboctahedron_mask
    >>> from napari_nxtomo.core.tomography import Projection, reconstruct
    >>> a = ROCKSALT_PBSE.lattice_parameter
    >>> q, _ = ROCKSALT_PBSE.sites(a, "Pb")
    >>> q = q[cuboctahedron_mask(q * a / 4, a / 2)]
    >>> views = []
    >>> for zone in [(1, 0, 0), (0, 1, 0)]:
    ...     labels, centres = ProjectionGeometry(zone).group_columns(q * a / 4)
    ...     views.append(Projection(zone, centres + 20.0, np.bincount(labels)))
    >>> result = reconstruct(views, a, n_runs=2, seed=0)
    >>> print(result.n_atoms, len(q), result.surface_edges, result.count_mismatch, result.exact.status)
    13 13 84 0 optimal
    >>> print(round(float(result.certainty.min()), 2), result.connected)
    1.0 True
    """
    t0 = time.perf_counter()
    projections, a, n_runs = _validate_inputs(projections, lattice_parameter, lattice, n_runs, method,
                                               count_weight, count_error_rate, temperature)
    placed = _index_views(projections, a, max_sites)
    offsets, notes = _choose_offsets(placed, a, count_weight or DEFAULT_COUNT_WEIGHT, max_sites, time_limit)
    eps, count_weight = _count_weight(placed, offsets, count_weight, count_error_rate)
    notes = notes + _weighted_note(projections)
    filled_q = _sites_near(filled, a, filled_radius) if filled is not None else None
    pb = _build_problem(placed, offsets, count_weight, max_sites, filled_q)
    _check_memory(pb)
    params = _run_params(pb.n_sites, n_sweeps, n_sample_sweeps, temperature)

    def assemble(runs, exact, marginals):
        return _assemble(pb, placed, offsets, a, runs, exact, n_runs, params, count_weight, notes, t0, eps,
                         marginals)

    do_exact = method in ("both", "exact")
    anneal = method in ("both", "anneal")
    sample = n_runs > 0 and params.n_sample > 0
    ticker = _Ticker(progress, (n_runs if anneal else 0) + (1 if do_exact else 0) + (1 if sample else 0))
    ticker.tick(0)
    seeds = _run_seeds(seed, n_runs)
    runner = _Runner(pb, client, n_workers, cancel)
    runs = _run_annealing(runner, params, seeds, ticker, assemble) if anneal else []
    exact = _run_exact(pb, time_limit, runs, notes, ticker, cancel, assemble) if do_exact else None
    marginals = _run_sampling(runner, params, seeds, runs, exact, ticker, assemble) if sample else []
    res = assemble(runs, exact, marginals)
    _note_runs_above_optimum(res, exact)
    _check_reprojection(res, projections)
    return res


# --------------------------------------------------------------------------
# the stages
# --------------------------------------------------------------------------


def _sites_near(positions, a, radius=None):
    """fcc sites (quarter-lattice units) within ``radius`` Å (default √3 a/4 + 0.1) of any of ``positions`` (Å).

    Examples
    --------
    >>> len(_sites_near([[-1.53, 1.53, 1.53]], 6.12))  # a tetrahedral site's four fcc neighbours
    4
    """
    pos = np.asarray(positions, dtype=float).reshape(-1, 3)
    if len(pos) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    r = (np.sqrt(3) * a / 4 + 0.1) if radius is None else float(radius)
    quarter = a / 4.0
    m = int(np.ceil(r / quarter)) + 1
    g = np.arange(-m, m + 1)
    box = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    out = []
    for p in pos / quarter:
        cand = np.rint(p).astype(np.int64) + box
        fcc = (cand % 2 == 0).all(1) & ((cand // 2).sum(1) % 2 == 0)
        near = np.linalg.norm(cand - p, axis=1) * quarter <= r
        out.append(cand[fcc & near])
    return np.unique(np.concatenate(out), axis=0)


def _weighted_note(projections) -> list:
    """A note when some counts weigh less than others (their probability, ``Projection.weights``)."""
    low = [int(np.sum(p.weights < p.weights.max())) for p in projections]
    if not any(low):
        return []
    return [f"counts weighted by their probability: {', '.join(map(str, low))} of "
            f"{', '.join(str(len(p.weights)) for p in projections)} columns below full weight"]


def _validate_inputs(projections, lattice_parameter, lattice, n_runs, method, count_weight, count_error_rate,
                     temperature):
    """Check the arguments of :func:`reconstruct`; returns ``(projections list, a, n_runs)``."""
    if lattice != "fcc":
        raise ValueError(f"lattice {lattice!r} is not supported: only 'fcc' (e.g. the Pb sublattice of rocksalt PbSe)")
    if method not in ("both", "anneal", "exact"):
        raise ValueError(f"method must be 'both', 'anneal' or 'exact', not {method!r}")
    a = float(lattice_parameter)
    if not (np.isfinite(a) and a > 0):
        raise ValueError(f"lattice_parameter must be a positive length in Å, got {lattice_parameter!r}")
    if isinstance(projections, Projection):
        projections = [projections]
    projections = list(projections)
    if len(projections) < 2:
        raise ValueError(
            f"discrete tomography needs at least two projections along different zone axes, got {len(projections)}: "
            "add images along other zone axes about the same tilt axis (e.g. [100], [010], [110] about [001])"
        )
    for p in projections:
        if not isinstance(p, Projection):
            raise ValueError(f"every projection must be a Projection, got {type(p).__name__}")
    n_runs = int(n_runs)
    if n_runs < 0 or (method == "anneal" and n_runs < 1):
        raise ValueError(f"n_runs must be at least 1 for annealing, got {n_runs}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive (surface edges), got {temperature!r}")
    if count_weight is not None and not count_weight > 0:
        raise ValueError(f"count_weight must be positive (surface edges per atom of mismatch), got {count_weight!r}")
    if count_error_rate is not None and not 0 <= count_error_rate < 1:
        raise ValueError(f"count_error_rate is a fraction of columns, 0 to 1, got {count_error_rate!r}")
    return projections, a, n_runs


def _check_totals(projections):
    """Every image shows the whole particle: the projections' atom totals must agree (10 %; warned at 2 %)."""
    totals = np.array([p.total for p in projections], dtype=float)
    if np.any(totals == 0):
        p = projections[int(np.argmin(totals))]
        raise ValueError(f"projection {p.name} counts no atoms at all: every projection must see the particle")
    med = float(np.median(totals))
    spread = np.abs(totals - med)
    worst = int(np.argmax(spread))
    if spread[worst] > max(5.0, 0.1 * med):
        raise ValueError(
            "the projections count very different numbers of atoms ("
            + ", ".join(f"{p.name}: {p.total}" for p in projections)
            + "): each image shows the whole particle, so the totals must agree (here to within 10 %). "
            "Check the counting of each image, that all images show the same particle, and that only the "
            "reconstructed species is counted"
        )
    if spread[worst] > max(2.0, 0.02 * med):
        warnings.warn(
            "the projections' atom totals differ by more than 2 % ("
            + ", ".join(f"{p.name}: {p.total}" for p in projections)
            + "): the model will not meet every count",
            stacklevel=4,  # _check_totals, _index_views, reconstruct, the caller
        )


#: the measured column spacing of a view may differ from the lattice parameter's by this fraction
SPACING_TOLERANCE = 0.1
#: a model whose re-projected counts miss the measured ones by more than this fraction of the counted
#: atoms is warned about (and noted): the counts contradict each other or the lattice
MISMATCH_WARNING = 0.1


def _check_spacing(projections, a):
    """Refuse a lattice parameter that the measured column spacing of a view contradicts (> 10 %).

    The median nearest-neighbour distance of each view's columns (of two
    closer than half the expected spacing, only the one of more atoms)
    against the projected spacing of the fcc lattice along its zone axis.
    """
    from scipy.spatial import cKDTree

    from ..columns import column_spacing

    for p in projections:
        if len(p.positions) < 4:
            continue
        pos = np.asarray(p.positions, dtype=float)
        expected = column_spacing(p.zone_axis, a, "fcc")
        # a noise peak found beside a column (two columns on one lattice column, which the indexing deals
        # with) is no spacing: of two columns closer than half the expected spacing the one of fewer atoms goes
        counts = np.asarray(p.counts, dtype=float)
        pairs = cKDTree(pos).query_pairs(0.5 * expected, output_type="ndarray")
        drop = np.where(counts[pairs[:, 0]] >= counts[pairs[:, 1]], pairs[:, 1], pairs[:, 0]) if len(pairs) else []
        pos = np.delete(pos, np.unique(drop).astype(int), axis=0)
        if len(pos) < 4:
            continue
        measured = float(np.median(cKDTree(pos).query(pos, k=2)[0][:, 1]))
        ratio = measured / expected
        if abs(ratio - 1.0) > SPACING_TOLERANCE:
            zone = "".join(str(v) for v in p.zone_axis)
            raise ValueError(
                f"the lattice parameter {a:g} Å puts the [{zone}] columns of {p.name or 'a view'} {expected:.3f} Å "
                f"apart, but they are measured {measured:.3f} Å apart (median nearest neighbour of {len(pos)} "
                f"columns; ratio {ratio:.3f}, more than {SPACING_TOLERANCE:.0%} off): give the right lattice "
                f"parameter (this spacing suggests {a * ratio:.3g} Å), or check the image's pixel size and zone axis"
            )


def _check_reprojection(res, projections):
    """Warn (and note) when the model's re-projected counts miss the measured ones grossly."""
    measured = int(sum(int(np.sum(p.counts)) for p in projections))
    if measured <= 0 or res.count_mismatch <= MISMATCH_WARNING * measured:
        return
    worst = []
    for p, rep in zip(projections, res.reprojection):
        r = np.abs(rep["residual"].to_numpy(dtype=float))
        if np.isfinite(r).any():
            w = rep.iloc[int(np.nanargmax(r))]
            worst.append(f"{p.name or 'a view'}: measured {w.measured:g}, re-projected {w.reconstructed:g} at "
                         f"({w.y:.1f}, {w.x:.1f}) Å")
    text = (
        f"the model's re-projection misses the measured counts by {res.count_mismatch} atoms in all, "
        f"{res.count_mismatch / measured:.0%} of the {measured} counted (more than {MISMATCH_WARNING:.0%}): the "
        "counts contradict each other or the lattice; check the counting (largest residuals: "
        + "; ".join(worst) + ")"
    )
    res.notes.append(text)
    warnings.warn(text, stacklevel=3)


def _index_views(projections, a, max_sites):
    """The common tilt axis, the totals checked, and every projection placed on its lattice (:func:`._place`)."""
    t = _common_tilt_axis(projections)
    _check_totals(projections)
    _check_spacing(projections, a)
    early = max(p.total for p in projections)
    if early > max_sites:
        raise ValueError(
            f"the projections count {early} atoms, more than max_sites = {max_sites} candidate sites "
            f"(about {early * _BYTES_PER_SITE / 1e9:.2g} GB): too large for memory; crop the images to one particle "
            "or raise max_sites if the machine has the memory"
        )
    return _place(projections, a, t)


def _count_weight(placed, offsets, count_weight, count_error_rate):
    """``(ε, w)``: the miscount rate (estimated unless given) and the count weight (from ε unless given)."""
    eps_hat = _miscount_rate(placed, offsets)
    eps = eps_hat if count_error_rate is None else float(count_error_rate)
    if count_weight is None:
        count_weight = _weight_from_error_rate(eps)
    return eps, count_weight


def _check_memory(pb):
    """Refuse a problem that needs more than 80 % of the free memory."""
    need = pb.n_sites * _BYTES_PER_SITE
    avail = available_memory()
    if avail is not None and need > 0.8 * avail:
        raise ValueError(
            f"the problem has {pb.n_sites} candidate sites and needs about {need / 1e9:.2g} GB, more than the "
            f"{avail / 1e9:.2g} GB of free memory: crop the images to one particle"
        )


def _cancelled(assemble, what, runs, exact, marginals):
    raise ReconstructionCancelled(f"reconstruction cancelled {what}", assemble(runs, exact, marginals))


def _run_annealing(runner, params, seeds, ticker, assemble):
    """1. the annealing runs (a list of :func:`._anneal_one` dicts)."""
    results, stopped = runner.map(_anneal_one, [(params, sd[0]) for sd in seeds], ticker)
    runs = [r for r in results if r is not None]
    if stopped:
        _cancelled(assemble, f"after {len(runs)} of {len(seeds)} annealing runs", runs, None, [])
    return runs


def _run_exact(pb, time_limit, runs, notes, ticker, cancel, assemble):
    """2. the exact optimum, with the runs' models as incumbents."""
    exact = _solve_exact(pb, time_limit, incumbents=[(r["best"], r["energy"]) for r in runs])
    if exact.occupancy is None:
        notes.append(f"the exact solver failed: {exact.message}")
    ticker.tick()
    if cancel is not None and cancel():
        _cancelled(assemble, "after the exact solve", runs, exact, [])
    return exact


def _run_sampling(runner, params, seeds, runs, exact, ticker, assemble):
    """3. the sampling chains for the certainty, each from the best model its run knows."""
    marginals = []
    starts = _sampling_starts(len(seeds), runs, exact)
    if starts:
        results, stopped = runner.map(_sample_one, [(params, sd[1], st) for sd, st in zip(seeds, starts)], None)
        marginals = [r for r in results if r is not None]
        if stopped:
            _cancelled(assemble, "while sampling the certainty", runs, exact, marginals)
    ticker.tick()
    return marginals


def _note_runs_above_optimum(res, exact):
    if exact is not None and exact.occupancy is not None and len(res.run_energies):
        worse = int(np.sum(res.run_energies > exact.energy + 1e-6))
        if worse:
            res.notes.append(f"{worse} of {len(res.run_energies)} annealing runs ended above the exact optimum")
