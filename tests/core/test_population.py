"""The population pattern against the exact Debye sum of the same particles built one by one."""

import numpy as np
import pytest
from scipy.stats import lognorm

from napari_nxtomo.core.debye import debye_intensity, scattering_factors
from napari_nxtomo.core.debye.population import (
    PopulationModel,
    class_diameters,
    population_intensity,
    size_weights,
)
from napari_nxtomo.core.nanocrystal import build_nanocrystal

Q = np.linspace(1.0, 12.0, 551)
DISTORTED = dict(alpha_rh=59.1, delta_r_pb=0.12, shell_thickness=5.0)


def exact_population(a, diameters, weights, *, alpha_rh, delta_r_pb, shell_thickness, occ_core=0.9,
                     occ_shell=0.7, b_iso=None, q=Q, shape="sphere"):
    """Σ w_k I_k(Q): each particle built by build_nanocrystal and summed over all pairs."""
    total = 0.0
    for d, w in zip(diameters, weights):
        p = build_nanocrystal("rocksalt", ("Pb", "S"), a, d * (1 + 1e-9), shape, alpha_rh=alpha_rh,
                              delta_r_pb=delta_r_pb, shell_thickness=shell_thickness,
                              core_occupancy={"Pb": occ_core}, shell_occupancy={"S": occ_shell})
        total = total + w * debye_intensity(p.positions, p.elements, q, b_iso=b_iso, occupancy=p.occupancy,
                                            method="exact", self_term="squared")
    return total


@pytest.mark.parametrize("shape", ["sphere", "cube"])
def test_population_equals_exact_sum_over_particles(shape):
    m = PopulationModel(mean_diameter=24.0, width=0.1, n_sizes=4, size_range=(18.0, 30.0), shape=shape,
                        occupancy_core=0.9, occupancy_shell=0.7, b_iso={"Pb": 0.8, "S": 1.1},
                        self_term="squared", **DISTORTED)
    d = class_diameters(m)
    w = size_weights(m, d)
    ref = exact_population(5.936, d, w, b_iso={"Pb": 0.8, "S": 1.1}, shape=shape, **DISTORTED)
    np.testing.assert_allclose(population_intensity(m, Q), ref, rtol=2e-6)


def test_cell_edge_by_rescaling_matches_particles_built_at_that_edge():
    """The database at a0 = 5.936 Å evaluated at a = 1.008 a0 equals the particles built at a, with the class
    diameters, the shell thickness and Δr_Pb scaled by a/a0 (the documented approximation)."""
    r = 1.008
    m = PopulationModel(mean_diameter=24.0, width=0.1, n_sizes=3, size_range=(20.0, 28.0), occupancy_core=0.9,
                        occupancy_shell=0.7, self_term="squared", lattice_parameter=5.936 * r,
                        reference_lattice_parameter=5.936, **DISTORTED)
    d = class_diameters(m) * r
    ref = exact_population(5.936 * r, d, size_weights(m, d), alpha_rh=59.1, delta_r_pb=0.12 * r,
                           shell_thickness=5.0 * r)
    np.testing.assert_allclose(population_intensity(m, Q), ref, rtol=2e-6)


def test_lognormal_class_weights_are_the_distribution():
    m = PopulationModel(mean_diameter=50.0, width=0.08)
    d = np.linspace(30.0, 70.0, 81)
    s = np.sqrt(np.log1p(0.08**2))
    dist = lognorm(s, scale=50.0 * np.exp(-0.5 * s * s))
    w = size_weights(m, d)
    np.testing.assert_allclose(w[1:-1], dist.cdf(d[1:-1] + 0.25) - dist.cdf(d[1:-1] - 0.25), atol=1e-12)
    assert abs(np.sum(w * d) - 50.0) < 0.01


def test_self_term_occupancy_versus_squared():
    """o (random vacancies) and o² (eq. 1) differ by Σ_j f_j² (o_j - o_j²) only."""
    kw = dict(sizes=[20.0], size_weights=[1.0], occupancy_core=0.8, occupancy_shell=0.6, shell_thickness=4.0)
    lin = population_intensity(PopulationModel(self_term="occupancy", **kw), Q)
    sq = population_intensity(PopulationModel(self_term="squared", **kw), Q)
    p = build_nanocrystal("rocksalt", ("Pb", "S"), 5.936, 20.0 * (1 + 1e-9), shell_thickness=4.0,
                          core_occupancy={"Pb": 0.8}, shell_occupancy={"S": 0.6})
    f = np.abs(scattering_factors(["Pb", "S"], Q)) ** 2
    o = p.occupancy
    extra = sum(np.sum((o - o**2)[p.elements == e]) * f[k] for k, e in enumerate(["Pb", "S"]))
    np.testing.assert_allclose(lin - sq, extra, rtol=1e-9)


def test_bad_model_input():
    with pytest.raises(ValueError, match="between 0 and 1"):
        PopulationModel(occupancy_core=1.2)
    with pytest.raises(ValueError, match="self_term"):
        PopulationModel(self_term="o3")
    with pytest.raises(ValueError, match="positive Q"):
        population_intensity(PopulationModel(sizes=[20.0], size_weights=[1.0]), [0.0, 1.0])
