"""Refinement of a population against a pattern made from known particles (exact Debye sums, Poisson noise)."""

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy.stats import lognorm

from napari_nxtomo.core.debye import debye_intensity
from napari_nxtomo.core.debye.population import PopulationModel, population_intensity
from napari_nxtomo.core.debye.refine import RefineCancelled, refine_pattern, scan_parameter
from napari_nxtomo.core.nanocrystal import build_nanocrystal

Q = np.linspace(1.0, 12.0, 1101)
#: the known population: PbS, log-normal 2.8 nm ± 8 %, the seed paper's distortion and core/shell occupancies
TRUTH = dict(mean_diameter=28.0, width=0.08, lattice_parameter=5.936, alpha_rh=59.1, delta_r_pb=0.12,
             occupancy_core=0.9, occupancy_shell=0.7)
B = {"Pb": 0.8, "S": 1.0}
SHELL = 5.0
CLASSES = dict(size_range=(20.0, 38.0), n_sizes=7)
COUNTS = 1e5  # at the strongest peak
BACKGROUND = 200.0
FREE = ("mean_diameter", "width", "lattice_parameter", "alpha_rh", "delta_r_pb", "occupancy_core",
        "occupancy_shell", "b_iso_Pb", "b_iso_S", "scale", "background")


def measured_pattern(alpha_rh, delta_r_pb, seed):
    """Counts of the truth population: each size class built and summed over all its pairs, log-normal
    number fractions (scipy), scaled to 1e5 counts at the strongest peak, flat background, Poisson noise."""
    d = np.linspace(*CLASSES["size_range"], CLASSES["n_sizes"])
    s = np.sqrt(np.log1p(TRUTH["width"] ** 2))
    dist = lognorm(s, scale=TRUTH["mean_diameter"] * np.exp(-0.5 * s * s))
    edges = np.concatenate(([0.0], 0.5 * (d[1:] + d[:-1]), [np.inf]))
    w = np.diff(dist.cdf(edges))
    total = 0.0
    for dk, wk in zip(d, w):
        p = build_nanocrystal("rocksalt", ("Pb", "S"), TRUTH["lattice_parameter"], dk * (1 + 1e-9),
                              alpha_rh=alpha_rh, delta_r_pb=delta_r_pb, shell_thickness=SHELL,
                              core_occupancy={"Pb": TRUTH["occupancy_core"]},
                              shell_occupancy={"S": TRUTH["occupancy_shell"]})
        total = total + wk * debye_intensity(p.positions, p.elements, Q, b_iso=B, occupancy=p.occupancy,
                                              self_term="squared")
    scale = COUNTS / total.max()
    clean = scale * total + BACKGROUND
    y = np.random.default_rng(seed).poisson(clean).astype(float)
    return y, np.sqrt(np.maximum(y, 1.0)), scale


def start_model(**changes):
    """10 % off the truth (cell edge 0.3 %, α_RH 0.3°: 10 % of a would be 0.6 Å, far outside any basin)."""
    kw = dict(mean_diameter=28.0 * 1.1, width=0.08 * 1.1, lattice_parameter=5.936 * 1.003, alpha_rh=58.8,
              delta_r_pb=0.12 * 1.1, occupancy_core=0.9 * 0.9, occupancy_shell=0.7 * 1.1,
              b_iso={"Pb": 0.88, "S": 1.1}, background=(0.0, 0.0))
    kw.update(changes)
    return PopulationModel(shell_thickness=SHELL, self_term="squared", **CLASSES, **kw)


@pytest.fixture(scope="module")
def distorted():
    return measured_pattern(59.1, 0.12, seed=1)


def test_refinement_recovers_the_known_population(distorted):
    y, sigma, scale = distorted
    res = refine_pattern(Q, y, sigma, model=start_model(), free=FREE)
    assert res.converged, res.message
    p, u = res.params, res.uncertainties
    assert abs(p["mean_diameter"] / 28.0 - 1) < 0.02
    assert abs(p["width"] / 0.08 - 1) < 0.10
    assert abs(p["lattice_parameter"] - 5.936) < 0.002
    assert abs(p["alpha_rh"] - 59.1) < 0.1
    assert abs(p["delta_r_pb"] - 0.12) < 0.02
    assert abs(p["occupancy_core"] - 0.9) < 0.03 and abs(p["occupancy_shell"] - 0.7) < 0.03
    for name, true in list(TRUTH.items()) + [("b_iso_Pb", 0.8), ("b_iso_S", 1.0), ("scale", scale)]:
        assert abs(p[name] - true) < 3 * u[name], (name, p[name], true, u[name])
    assert 0.8 < res.chi2_red < 1.2  # Poisson noise and the right model: χ²_red ≈ 1
    assert res.correlations.shape == (12, 12) and np.allclose(np.diag(res.correlations), 1.0)
    np.testing.assert_allclose(res.difference, y - res.intensity)


SCAN_FREE = ("mean_diameter", "width", "lattice_parameter", "occupancy_core", "occupancy_shell", "b_iso",
             "scale", "background")
#: the scans on every second point (Q step 0.02 Å⁻¹, still 10 points a peak) from the true cell edge, for time
SCAN = slice(None, None, 2)


def test_alpha_scan_minimum_at_the_true_angle(distorted):
    y, sigma, _ = distorted
    scan = scan_parameter(Q[SCAN], y[SCAN], sigma[SCAN], model=start_model(delta_r_pb=0.12, lattice_parameter=5.936),
                          name="alpha_rh", values=[60.0, 59.5, 59.1, 58.7], free=SCAN_FREE)
    assert scan.best == 59.1
    assert scan.chi2_red[0] > 2 * scan.chi2_red[2]


def test_alpha_scan_of_a_cubic_population_invents_no_distortion():
    y, sigma, _ = measured_pattern(60.0, 0.0, seed=2)
    scan = scan_parameter(Q[SCAN], y[SCAN], sigma[SCAN], model=start_model(delta_r_pb=0.0, lattice_parameter=5.936),
                          name="alpha_rh", values=[60.0, 59.7, 59.4], free=SCAN_FREE)
    assert scan.best == 60.0
    assert scan.chi2_red[0] < 1.2


def test_no_convergence_is_said_and_the_best_parameters_kept(distorted):
    y, sigma, _ = distorted
    with pytest.warns(UserWarning, match="did not converge"):
        res = refine_pattern(Q, y, sigma, model=start_model(), free=("mean_diameter", "scale"), max_evaluations=2)
    assert not res.converged
    start = refine_pattern(Q, y, sigma, model=start_model(), free=("scale",))
    assert res.chi2_red <= start.chi2_red  # never worse than where it started


@pytest.mark.parametrize("change, message", [
    (dict(q=Q[::-1]), "strictly increasing"),
    (dict(sigma=np.zeros(Q.size)), "positive"),
    (dict(q=Q * 10), "beyond the X-ray form factors"),
    (dict(free=("shell_thickness",)), "scan it"),
    (dict(free=("lattice",)), "unknown parameter"),
])
def test_bad_refinement_input(distorted, change, message):
    y, sigma, _ = distorted
    kw = dict(q=Q, intensity=y, sigma=sigma, model=start_model(), free=("scale",))
    kw.update(change)
    with pytest.raises(ValueError, match=message):
        refine_pattern(kw.pop("q"), kw.pop("intensity"), kw.pop("sigma"), **kw)


def test_scan_gives_the_same_numbers_on_dask_and_an_executor():
    """Serial, a concurrent.futures executor and a Dask cluster (threads here; benchmarks/bench_refine.py runs
    a process LocalCluster, 15 s to start) give the same χ² to the last digit."""
    distributed = pytest.importorskip("dask.distributed")
    q = np.linspace(1.5, 8.0, 300)
    true = PopulationModel(mean_diameter=18.0, width=0.1, n_sizes=3, size_range=(14.0, 22.0), scale=1e-3)
    y = np.random.default_rng(3).poisson(population_intensity(true, q)).astype(float)
    kw = dict(model=true, name="lattice_parameter", values=[5.92, 5.936, 5.95], free=("scale", "width"))
    serial = scan_parameter(q, y, None, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            on_dask = scan_parameter(q, y, None, client=client, **kw)
    with ThreadPoolExecutor(2) as pool:
        on_pool = scan_parameter(q, y, None, client=pool, **kw)
    np.testing.assert_allclose(on_dask.chi2_red, serial.chi2_red, rtol=1e-12)
    np.testing.assert_allclose(on_pool.chi2_red, serial.chi2_red, rtol=1e-12)
    assert serial.best == 5.936


def test_progress_and_cancel():
    q = np.linspace(1.5, 6.0, 120)
    true = PopulationModel(mean_diameter=18.0, width=0.1, n_sizes=3, size_range=(14.0, 22.0), scale=1e-3)
    y = population_intensity(true, q)
    seen = []
    refine_pattern(q, y, None, model=true.with_parameters(scale=2e-3), free=("scale",),
                   progress=lambda i, n: seen.append((i, n)))
    assert seen and seen[0] == (1, 400) and all(n == 400 for _, n in seen)
    with pytest.raises(RefineCancelled):
        scan_parameter(q, y, None, model=true, name="width", values=[0.1, 0.2], free=("scale",),
                       cancel=lambda: True)
    points = []
    scan_parameter(q, y, None, model=true, name="width", values=[0.1, 0.2], free=("scale",),
                   progress=lambda i, n: points.append((i, n)))
    assert points == [(1, 2), (2, 2)]
