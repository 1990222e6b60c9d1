"""Discrete tomography (core.tomography) against the true models of the sample particles.

The inputs are the true columns of the sample images: positions (Å, in the
image frame, so they include each view's random shift: the offsets must be
found) and the true Pb count of every column, exact or with a fraction of
the columns miscounted by ±1.  The reconstruction is compared with the true
Pb sites after the one fcc translation that the choice of origin leaves free.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from napari_nxtomo.core import tomography as tomo
from napari_nxtomo.core.evaluation import score_sites
from napari_nxtomo.core.geometry import ProjectionGeometry
from napari_nxtomo.core.groundtruth import projections_from_truth
from napari_nxtomo.core.lattice import FCC_NEIGHBOURS_Q
from napari_nxtomo.core.samples import pbse_cdse_core_shell, pbse_cuboctahedron
from napari_nxtomo.core.tables import read_points_csv, read_xyz
from napari_nxtomo.core.tomography import (
    Projection,
    ReconstructionCancelled,
    reconstruct,
    surface_edges,
)

A = 6.12


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    return pbse_cuboctahedron(seed=0, noise=False)


def true_pb(sample):
    return sample.q[sample.elements == "Pb"]


def make_projections(sample, n_views=3, frac=0.0, seed=0, **kwargs):
    """Projections from the true columns; a fraction ``frac`` of the columns miscounted by ±1."""
    return projections_from_truth(sample, n_views, frac, seed, **kwargs)


def score(result, truth):
    """(recall, precision, is-true-atom mask over result.sites, translation)."""
    s = score_sites(result, truth)
    return s.recall, s.precision, s.is_true, s.translation


def miscount_rate_sd(sample, projs, eps):
    """Standard deviation of the estimated miscount rate at a true rate ``eps`` (module docstring of tomography).

    The estimate is ``Σ d² / Σ (n_A + n_B)`` over the slices across the tilt axis [001] and the pairs of
    projections, ``d`` the difference of two projections' slice totals and ``n`` a slice's columns with atoms.
    With independent ±1 miscounts a slice's total errors ``e`` (one per projection) have variances ``eps n``;
    ``Σ_pairs d² = eᵀ M e`` with ``M = V I - 1 1ᵀ`` (V projections), whose variance in the normal
    approximation is ``2 tr((M D)²)``, ``D = diag(eps n)``.
    """
    ncol = []
    for v, p in zip(sample.views, projs):
        z = np.zeros(len(v.columns))
        z[v.atom_column] = sample.positions[:, 2]  # every column along [100], [010], [110] lies in one z plane
        layer = np.rint(z[(v.columns.n_Pb > 0).to_numpy()] / (A / 2)).astype(int)
        ncol.append(np.bincount(layer + 50, weights=(p.counts > 0).astype(float), minlength=100))  # |z| < 150 Å
    ncol = np.array(ncol)
    n_views = len(projs)
    m = n_views * np.eye(n_views) - np.ones((n_views, n_views))
    var = sum(2 * np.trace(np.linalg.matrix_power(m @ np.diag(eps * col), 2)) for col in ncol.T)
    den = sum((ncol[i] + ncol[j]).sum() for i in range(n_views) for j in range(i))
    return float(np.sqrt(var) / den)


def residual_hits(result, wrong):
    """(columns with a residual, of those miscounted, miscounted columns) summed over projections."""
    flagged = hit = miscounted = 0
    for rp, w in zip(result.reprojection, wrong):
        rows = rp[(rp["residual"].fillna(0) != 0) & (rp["input_index"] >= 0)]["input_index"].to_numpy()
        flagged += len(rows)
        hit += int(w[rows].sum())
        miscounted += int(w.sum())
    return flagged, hit, miscounted


# --------------------------------------------------------------------------
# exact counts
# --------------------------------------------------------------------------


def test_three_views_exact_counts_give_the_true_model(sample):
    projs, _ = make_projections(sample, 3)
    truth = true_pb(sample)
    r = reconstruct(projs, A, n_runs=4, seed=1)
    recall, precision, is_true, T = score(r, truth)
    assert recall == 1.0 and precision == 1.0 and r.n_atoms == len(truth)
    # the offsets were found: every image origin is the true one moved by the same fcc translation
    assert np.all(T % 2 == 0) and T.sum() % 4 == 0
    for f, v in zip(r.fits, sample.views):
        expect = v.origin + ProjectionGeometry(v.geometry.zone_axis, (0, 0, 1)).project(T * A / 4)[0]
        np.testing.assert_allclose(f.origin, expect, atol=1e-6)
        assert abs(f.scale - 1) < 1e-9 and abs(f.image_rotation) < 1e-6
    # the reprojection reproduces every count
    for rp in r.reprojection:
        assert not rp["missing"].any()
        np.testing.assert_array_equal(rp["reconstructed"], rp["measured"])
        assert (rp["residual"] == 0).all()
    # one energy: the model's is the true model's surface, exact optimum certified, every run reaches it
    assert r.count_error_rate == 0 and r.count_weight == 6
    assert r.energy == r.surface_edges == surface_edges(truth) and r.count_mismatch == 0
    assert r.exact.optimal and r.exact.status == "optimal" and r.exact.gap == 0
    assert r.exact.energy == r.energy
    np.testing.assert_array_equal(r.run_energies, r.exact.energy)
    assert np.all(r.frequency == 1) and np.all(r.certainty > 0.99)
    assert r.connected and r.n_holes == 0
    # frame: crystal x, y, z in Å, q in quarter lattice units
    np.testing.assert_allclose(r.positions, r.q * A / 4)
    frame = r.to_frame()
    assert list(frame.columns[:3]) == ["x", "y", "z"] and len(frame) == r.n_atoms


def test_two_views_exact_counts(sample):
    projs, _ = make_projections(sample, 2)  # [100] and [010]
    truth = true_pb(sample)
    r = reconstruct(projs, A, n_runs=4, seed=2)
    recall, precision, _, _ = score(r, truth)
    assert recall >= 0.995 and precision >= 0.995
    assert r.exact.optimal
    np.testing.assert_array_equal(r.run_energies, r.exact.energy)


def test_core_shell_core(sample):
    s = pbse_cdse_core_shell(noise=False)
    projs, _ = make_projections(s, 3)
    r = reconstruct(projs, A, n_runs=2, seed=0)
    recall, precision, _, _ = score(r, true_pb(s))
    assert recall == 1.0 and precision == 1.0
    assert r.exact.optimal and r.run_energies.min() == r.exact.energy


# --------------------------------------------------------------------------
# miscounted columns
# --------------------------------------------------------------------------

CASES = {
    # name: (views, fraction miscounted, seed)
    "3 views, 5 %": (3, 0.05, 2),
    "3 views, 20 %": (3, 0.20, 1),
    "3 views, 20 % (b)": (3, 0.20, 5),
    "2 views, 5 %": (2, 0.05, 0),
}


@pytest.fixture(scope="module")
def miscounted(sample):
    out = {}
    for name, (nv, frac, seed) in CASES.items():
        projs, wrong = make_projections(sample, nv, frac, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # totals differ by a few atoms: warned
            r = reconstruct(projs, A, n_runs=4, seed=seed)
        out[name] = (r, wrong)
    return out


@pytest.mark.parametrize(
    "name, need, flag",
    [("3 views, 5 %", 0.99, 0.85), ("3 views, 20 %", 0.97, 0.6), ("3 views, 20 % (b)", 0.97, 0.6)],
)
def test_miscounted_columns(sample, miscounted, name, need, flag):
    r, wrong = miscounted[name]
    recall, precision, _, _ = score(r, true_pb(sample))
    assert recall >= need and precision >= need, (recall, precision)
    # the residual points at the miscounted columns
    flagged, hit, n_wrong = residual_hits(r, wrong)
    assert hit / flagged >= flag and hit / n_wrong >= flag, (flagged, hit, n_wrong)
    # the annealing reaches the certified optimum
    assert r.exact.optimal
    assert r.run_energies.min() == pytest.approx(r.exact.energy, abs=1e-6)
    # the estimated miscount rate against the true fraction of miscounted columns, within 3 standard deviations
    # of the estimator (0.015 at 5 %, 0.058 at 20 %; measured within 1.1 of them)
    true_rate = np.concatenate(wrong).mean()
    projs, _ = make_projections(sample, *CASES[name])
    assert abs(r.count_error_rate - true_rate) < 3 * miscount_rate_sd(sample, projs, true_rate), (
        r.count_error_rate, true_rate)
    # and sets the weight as documented: w = ln(2 (1 - ε) / ε), rounded to a quarter (inside its bounds 1.5-6 here)
    eps = r.count_error_rate
    assert r.count_weight == pytest.approx(np.log(2 * (1 - eps) / eps), abs=0.125)


def test_certainty_is_calibrated(sample, miscounted):
    """Among sites at certainty >= 0.9 at least 97 % are true atoms; among those <= 0.1 at most 3 %."""
    truth = true_pb(sample)
    hi = np.zeros(2)
    lo = np.zeros(2)
    for name, (r, _) in miscounted.items():
        _, _, is_true, _ = score(r, truth)
        c = r.sites["certainty"].to_numpy()
        hi += [np.sum(c >= 0.9), np.sum(is_true[c >= 0.9])]
        lo += [np.sum(c <= 0.1), np.sum(is_true[c <= 0.1])]
        # some sites are uncertain: the certainty is not just the model
        if "20 %" in name:
            assert np.sum((c > 0.1) & (c < 0.9)) > 0
    assert hi[1] / hi[0] >= 0.97, hi
    assert lo[1] / lo[0] <= 0.03, lo


def test_missing_column(sample):
    projs, _ = make_projections(sample, 3)
    p0 = projs[0]
    centre = np.average(p0.positions, axis=0, weights=p0.counts)
    drop = int(np.argmin(((p0.positions - centre) ** 2).sum(1)))
    keep = np.arange(len(p0.counts)) != drop
    projs[0] = Projection(p0.zone_axis, p0.positions[keep], p0.counts[keep])
    r = reconstruct(projs, A, n_runs=2, method="exact")
    recall, precision, _, _ = score(r, true_pb(sample))
    assert recall == 1.0 and precision == 1.0
    rp = r.reprojection[0]
    miss = rp[rp["missing"]]
    assert len(miss) == 1 and np.isnan(miss["measured"].iloc[0])
    assert miss["reconstructed"].iloc[0] == p0.counts[drop]
    np.testing.assert_allclose(miss[["y", "x"]].to_numpy()[0], p0.positions[drop], atol=1e-6)
    assert r.fits[0].n_missing == 1


# --------------------------------------------------------------------------
# geometry: orientation, offsets, other zone axes
# --------------------------------------------------------------------------


def projected(truth, zones, rotation, tilt=(0, 0, 1), seed=0, given=False, offsets=False, scale=1.0, jitter=0.0):
    """Projections of a model: columns rotated in the image, scaled (calibration), jittered (fit error, Å)."""
    rng = np.random.default_rng(seed)
    pos = truth * A / 4
    out = []
    for z in zones:
        g = ProjectionGeometry(z, tilt, rotation)
        lab, cen = g.group_columns(pos)
        cen = scale * cen + rng.normal(0, jitter, cen.shape)
        origin = rng.uniform(15, 40, 2)
        kw = {}
        if given:
            kw["tilt_axis"] = tuple(g.tilt_direction)
        if offsets:
            th = np.deg2rad(rotation)
            kw["offset"] = (origin @ [np.cos(th), np.sin(th)], origin @ [-np.sin(th), np.cos(th)])
        out.append(Projection(z, cen + origin, np.bincount(lab), **kw))
    return out


def test_tilt_axis_found_from_the_lattice(sample):
    """Rotated images, a calibration 2 % off, column positions with 0.15 Å of fitting error."""
    truth = true_pb(sample)
    projs = projected(truth, [(1, 0, 0), (0, 1, 0), (1, 1, 0)], rotation=25.0, seed=3, scale=1.02, jitter=0.15)
    r = reconstruct(projs, A, n_runs=0, method="exact")
    for f in r.fits:
        assert f.image_rotation == pytest.approx(25.0, abs=0.2)
        assert f.scale == pytest.approx(1.02, abs=0.002)
        assert f.rms < 0.3 and not f.dropped.any()
        np.testing.assert_allclose(f.tilt_direction, [np.cos(np.deg2rad(25)), np.sin(np.deg2rad(25))], atol=4e-3)
    recall, precision, _, _ = score(r, truth)
    assert recall == 1.0 and precision == 1.0
    np.testing.assert_array_equal(r.certainty, 1.0)  # no sampling chains: the model itself


def test_given_tilt_axis_and_offsets_fix_the_frame(sample):
    truth = true_pb(sample)
    # the tilt axis points up the image here: only the given direction can say so
    projs = projected(truth, [(1, 0, 0), (0, 1, 0), (1, 1, 0)], rotation=-120.0, seed=4, given=True, offsets=True)
    r = reconstruct(projs, A, n_runs=0, method="exact")
    assert all(f.image_rotation == pytest.approx(-120.0, abs=1e-6) for f in r.fits)
    # with the offsets given the crystal origin is the true one: no translation left
    assert set(map(tuple, r.q.tolist())) == set(map(tuple, truth.tolist()))


@pytest.mark.parametrize(
    "zones, tilt",
    [
        ([(1, 0, 0), (1, 1, 0)], (0, 0, 1)),  # two views 45 degrees apart
        ([(0, 0, 1), (1, 1, 2), (1, 1, 0)], (1, -1, 0)),  # about [1-10]: found as the zones' common normal
    ],
)
def test_other_zone_axes(sample, zones, tilt):
    truth = true_pb(sample)
    projs = projected(truth, zones, rotation=10.0, tilt=tilt, seed=5)
    r = reconstruct(projs, A, n_runs=0, method="exact")
    assert r.fits[0].crystal_tilt_axis == tilt
    recall, precision, _, _ = score(r, truth)
    assert recall >= 0.995 and precision >= 0.995


# --------------------------------------------------------------------------
# solvers, runs, parallel execution
# --------------------------------------------------------------------------


def test_fixing_sites_keeps_the_optimum(sample):
    from scipy.optimize import Bounds, LinearConstraint, milp

    projs, _ = make_projections(sample, 3, 0.2, seed=1)
    t = tomo._common_tilt_axis(projs)
    placed = tomo._place(projs, A, t)
    offsets, _ = tomo._choose_offsets(placed, A, 6.0, 10**6, 60)
    pb = tomo._build_problem(placed, offsets, 6.0, 10**6)
    fixed = tomo._fix_sites(pb)
    assert (fixed >= 0).sum() > 0.3 * pb.n_sites
    ex = tomo._solve_exact(pb, 60)
    c, A1, A2, b, lb, ub, integ, _, const = tomo._milp_arrays(pb, None)
    full = milp(c, integrality=integ, bounds=Bounds(lb, ub),
                constraints=[LinearConstraint(A1, 0, np.inf), LinearConstraint(A2, b, b)],
                options={"mip_rel_gap": 1e-9})
    assert const == 0 and ex.energy == pytest.approx(full.fun, abs=1e-6)


def test_annealing_kernel_keeps_its_energy(sample):
    """The energy tracked by the numba moves equals the energy recomputed from scratch."""
    projs, _ = make_projections(sample, 3, 0.2, seed=3)
    t = tomo._common_tilt_axis(projs)
    placed = tomo._place(projs, A, t)
    offsets, _ = tomo._choose_offsets(placed, A, 6.0, 10**6, 60)
    pb = tomo._build_problem(placed, offsets, 2.5, 10**6)
    state = tomo._initial_state(pb, np.random.default_rng(0))
    occ = tomo._occupied_neighbours(state, pb).astype(np.int64)
    n = tomo._column_counts(state, pb).astype(np.int64)
    s, m, _ = tomo._energy_parts(state, pb)
    E = np.array([s + m])
    best, bestE, acc = state.copy(), E.copy(), np.zeros(pb.n_sites)
    rng = np.array([987654321], dtype=np.uint64)
    for T in (5.0, 1.0, 0.0):
        tomo._sweeps(state, occ, n, E, rng, *tomo._kernel_args(pb), np.full(20, T), 0.2, 0.4, best, bestE, acc, False)
        s, m, _ = tomo._energy_parts(state, pb)
        assert E[0] == pytest.approx(s + m, abs=1e-6)
        np.testing.assert_array_equal(occ, tomo._occupied_neighbours(state, pb))
        np.testing.assert_array_equal(n, tomo._column_counts(state, pb))


def test_same_seed_same_result_in_threads(sample):
    projs, _ = make_projections(sample, 2, 0.05, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = reconstruct(projs, A, n_runs=3, seed=11, method="anneal", n_workers=1)
        b = reconstruct(projs, A, n_runs=3, seed=11, method="anneal", n_workers=2)
        c = reconstruct(projs, A, n_runs=3, seed=12, method="anneal", n_workers=2, n_sweeps=50)
    np.testing.assert_array_equal(a.runs, b.runs)
    np.testing.assert_array_equal(a.sites["certainty"], b.sites["certainty"])
    assert a.exact is None and a.model_source.startswith("anneal run")
    assert not np.array_equal(a.sites["certainty"], c.sites["certainty"])


def test_runs_on_a_dask_cluster(sample):
    distributed = pytest.importorskip("distributed")
    projs, _ = make_projections(sample, 3)
    calls = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        with distributed.Client(cl) as client:
            r = reconstruct(projs, A, n_runs=3, seed=3, method="anneal", client=client,
                            progress=lambda i, n: calls.append((i, n)))
            pids = set(client.run(lambda: __import__("os").getpid()).values())
    assert len(pids) == 2
    local = reconstruct(projs, A, n_runs=3, seed=3, method="anneal")
    np.testing.assert_array_equal(r.runs, local.runs)
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]  # three runs, then the certainty sampling


def test_progress_and_cancel(sample):
    projs, _ = make_projections(sample, 3)
    calls = []
    r = reconstruct(projs, A, n_runs=3, progress=lambda i, n: calls.append((i, n)))
    # three annealing runs, the exact solve, the certainty sampling
    assert calls == [(i, 5) for i in range(6)]
    assert len(r.runs) == 3

    # cancel once one run has finished: the finished runs come back in .partial
    done = []
    with pytest.raises(ReconstructionCancelled) as info:
        reconstruct(projs, A, n_runs=6, method="anneal", n_sweeps=3000, n_workers=2,
                    progress=lambda i, n: done.append(i), cancel=lambda: max(done) >= 1)
    part = info.value.partial
    assert part is not None and 1 <= len(part.runs) < 6
    assert part.n_atoms > 0 and any("annealing runs finished" in n for n in part.notes)

    with pytest.raises(ReconstructionCancelled) as info:
        reconstruct(projs, A, n_runs=2, method="anneal", n_sweeps=3000, cancel=lambda: True)
    assert info.value.partial is None


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------


def test_write_xyz_and_csv(sample, tmp_path):
    projs, _ = make_projections(sample, 3)
    r = reconstruct(projs, A, n_runs=2, method="exact")
    pos, els, props, info = read_xyz(r.write_xyz(tmp_path / "model.xyz"))
    np.testing.assert_allclose(pos, r.positions, atol=1e-5)
    assert set(els) == {"Pb"} and np.allclose(props["certainty"], r.certainty, atol=1e-5)
    coords, features, metadata, _ = read_points_csv(r.to_csv(tmp_path / "model.csv"))
    np.testing.assert_allclose(coords, r.positions[:, ::-1], atol=1e-6)  # napari order z, y, x
    assert "certainty" in features and metadata["exact"]["status"] == "optimal"
    assert isinstance(r.reprojection[0], pd.DataFrame) and "residual" in r.reprojection[0]
    assert "atoms" in repr(r)


def test_surface_edges():
    assert surface_edges(np.zeros((1, 3), int)) == 12
    assert surface_edges(np.array([[0, 0, 0], FCC_NEIGHBOURS_Q[0]])) == 22
    assert surface_edges(np.zeros((0, 3), int)) == 0


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------


def test_bad_input(sample):
    projs, _ = make_projections(sample, 3)
    p = projs[0]
    with pytest.raises(ValueError, match="at least two projections"):
        reconstruct([p], A)
    with pytest.raises(ValueError, match="non-negative integers"):
        Projection((1, 0, 0), p.positions, np.where(np.arange(len(p.counts)) == 3, -1, p.counts))
    with pytest.raises(ValueError, match="non-negative integers"):
        Projection((1, 0, 0), p.positions, p.counts + 0.5)
    with pytest.raises(ValueError, match="no columns"):
        Projection((1, 0, 0), np.zeros((0, 2)), [])
    with pytest.raises(ValueError, match="positions but"):
        Projection((1, 0, 0), p.positions, p.counts[:-1])
    # no common tilt axis: [111] is not perpendicular to [001]
    bad = Projection((1, 1, 1), projs[2].positions, projs[2].counts)
    with pytest.raises(ValueError, match="do not share the tilt axis"):
        reconstruct([projs[0], projs[1], bad], A)
    # the same zone axis twice
    with pytest.raises(ValueError, match="same zone axis"):
        reconstruct([projs[0], projs[0]], A)
    # totals that disagree badly
    half = Projection(projs[1].zone_axis, projs[1].positions, projs[1].counts // 2)
    with pytest.raises(ValueError, match="totals must agree"):
        reconstruct([projs[0], half], A)
    zero = Projection(projs[1].zone_axis, projs[1].positions, 0 * projs[1].counts)
    with pytest.raises(ValueError, match="counts no atoms"):
        reconstruct([projs[0], zero], A)
    # a wrong lattice parameter (or calibration)
    with pytest.raises(ValueError, match="lattice parameter"):
        reconstruct(projs, 4.0)
    # too large for memory
    with pytest.raises(ValueError, match="too large"):
        reconstruct(projs, A, max_sites=500)
    with pytest.raises(ValueError, match="method"):
        reconstruct(projs, A, method="magic")
    with pytest.raises(ValueError, match="fcc"):
        reconstruct(projs, A, lattice="bcc")


def test_a_noise_peak_beside_a_column_is_left_out_with_a_warning():
    """Two columns on one lattice column (a noise peak found 0.6 Å beside a real one): the one of most atoms is kept
    and the reconstruction equals the one without the peak; many such pairs are refused."""
    from napari_nxtomo.core.groundtruth import projections_from_truth
    from napari_nxtomo.core.samples import pbse_cuboctahedron
    from napari_nxtomo.core.tomography import Projection, reconstruct

    particle = pbse_cuboctahedron(noise=False, n_half=2)
    projections, _ = projections_from_truth(particle, n_views=3)
    clean = reconstruct(projections, particle.lattice_parameter, n_runs=0, method="exact")
    p = projections[2]
    noisy = Projection(p.zone_axis, np.vstack([p.positions, p.positions[0] + [0.6, 0.0]]), np.append(p.counts, 1))
    with pytest.warns(UserWarning, match="share a lattice column with a column of more atoms"):
        res = reconstruct(projections[:2] + [noisy], particle.lattice_parameter, n_runs=0, method="exact")
    assert res.n_atoms == clean.n_atoms and np.array_equal(np.sort(res.positions, axis=0), np.sort(clean.positions, axis=0))
    many = Projection(p.zone_axis, np.vstack([p.positions, p.positions[:10] + [0.6, 0.0]]),
                      np.append(p.counts, [0] * 10))  # empty noise peaks: the totals still agree
    with pytest.raises(ValueError, match="fall on the same lattice columns"):
        reconstruct(projections[:2] + [many], particle.lattice_parameter, n_runs=0, method="exact")


def test_count_probability_weighs_each_count():
    """A surface atom with 5 Pb neighbours (removing it saves 2 surface edges) is left out of two views' counts,
    each such count with probability 0.4 (``count_probability``, as ``napari-nxtomo count`` writes it), and counted
    in the third with probability 1: the model keeps it (with one weight for every count the two views outvote the
    third and the atom goes)."""
    from napari_nxtomo.core.evaluation import score_reconstruction
    from napari_nxtomo.core.groundtruth import counted_tables_from_truth
    from napari_nxtomo.core.workflow import reconstruct_tables

    particle = pbse_cuboctahedron(noise=False, n_half=2)
    is_pb = particle.elements == "Pb"
    q_pb = particle.q[is_pb]
    occupied = {tuple(v) for v in q_pb}
    neighbours = np.array([sum(tuple(v + d) in occupied for d in FCC_NEIGHBOURS_Q) for v in q_pb])
    atom = np.flatnonzero(is_pb)[np.flatnonzero(neighbours == 5)[0]]
    tables = counted_tables_from_truth(particle)
    for k, (coords, features, _) in enumerate(tables):
        features["count_probability"] = 1.0
        if k < 2:  # the atom's column: the view's columns are the grouped atoms, shifted into the image
            labels, centres = particle.views[k].geometry.group_columns(particle.positions)
            assert len(centres) == len(coords)
            where = centres[labels[atom]] + coords.mean(axis=0) - centres.mean(axis=0)
            i = int(np.argmin(np.linalg.norm(coords - where, axis=1)))
            assert np.linalg.norm(coords[i] - where) < 0.1 and features.at[i, "count"] >= 1
            features.loc[i, ["count", "count_probability"]] = [features.at[i, "count"] - 1, 0.4]
    result = reconstruct_tables(tables, particle.lattice_parameter, n_runs=0, method="exact")
    s = score_reconstruction(result, q_pb, n_runs=0)
    assert s["model_atoms"] == len(q_pb)
    assert s["true_sites_recovered_fraction"] == 1.0
    assert any("1, 1, 0 of 25, 27, 19 columns below full weight" in n for n in result.notes)  # the user is told which counts weighed less


def test_an_unsure_empty_count_at_the_rim_leaves_its_sites_open():
    """An island atom alone in its [010] column at the particle's rim (x beyond every other column) is counted 0
    there with probability 0.3 (a core–shell island's lone Pb under its shell reads so) and counted right, sure, in
    the other two views: the model keeps it.  A sure zero closes the column's sites (outside the hull of the columns
    with atoms); an unsure one must not, or no count of the other views can bring the atom back."""
    from napari_nxtomo.core.evaluation import score_reconstruction
    from napari_nxtomo.core.groundtruth import counted_tables_from_truth
    from napari_nxtomo.core.workflow import reconstruct_tables

    particle = pbse_cuboctahedron(noise=False, n_half=2)
    is_pb = particle.elements == "Pb"
    q_pb = particle.q[is_pb]
    k = next(i for i, v in enumerate(particle.views) if tuple(v.geometry.zone_axis) == (0, 1, 0))
    labels, centres = particle.views[k].geometry.group_columns(particle.positions[is_pb])
    lone = np.bincount(labels) == 1
    atom = int(np.argmax(np.where(lone[labels], q_pb[:, 0], -np.inf)))  # the outermost lone atom along +x
    assert lone[labels[atom]] and q_pb[atom, 0] == q_pb[:, 0].max()
    tables = counted_tables_from_truth(particle)
    coords, features, _ = tables[k]
    features["count_probability"] = 1.0
    lab_all, cen_all = particle.views[k].geometry.group_columns(particle.positions)
    where = cen_all[lab_all[np.flatnonzero(is_pb)[atom]]] + coords.mean(axis=0) - cen_all.mean(axis=0)
    i = int(np.argmin(np.linalg.norm(coords - where, axis=1)))
    assert np.linalg.norm(coords[i] - where) < 0.1 and features.at[i, "count"] == 1
    features.loc[i, ["count", "count_probability"]] = [0, 0.3]
    result = reconstruct_tables(tables, particle.lattice_parameter, n_runs=0, method="exact")
    s = score_reconstruction(result, q_pb, n_runs=0)
    assert s["model_atoms"] == len(q_pb)
    assert s["true_sites_recovered_fraction"] == 1.0
