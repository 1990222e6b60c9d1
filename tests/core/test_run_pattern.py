"""The pattern of a reconstruction averaged over its annealing runs, against each run's own pattern.

Truth: every run's model summed over all pairs here (f = Z, Debye-Waller factors), the patterns
averaged; the frequency-as-occupancy pattern misses the runs' pair correlations where they disagree.
"""

import numpy as np
import pytest

from napari_nxtomo.core.debye import debye_intensity
from napari_nxtomo.core.nanocrystal import build_nanocrystal, complete_sublattice
from napari_nxtomo.core.workflow import compute_pattern, reconstruction_runs, run_averaged_pattern

Q = np.linspace(0.5, 8.0, 76)
A = 6.12
Z = {"Pb": 82.0, "Se": 34.0}
B = 0.8


def brute_pattern(pos, els):
    """Σ_i Z_i² + Σ_{i≠j} Z_i Z_j T² sinc(Q d_ij), f = Z, T = exp(-B Q² / 16π²)."""
    z = np.array([Z[e] for e in els])
    t2 = np.exp(-2 * B * Q**2 / (16 * np.pi**2))
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    i, j = np.nonzero(np.triu(np.ones_like(d, dtype=bool), 1))
    x = Q[None, :] * d[i, j][:, None]
    return np.sum(z**2) + 2 * t2 * np.sum((z[i] * z[j])[:, None] * np.sin(x) / x, axis=0)


@pytest.fixture(scope="module")
def disagreeing_runs():
    """A 14 Å Pb cuboctahedron's sites plus a shell of surface candidates, five runs taking different ones."""
    core = build_nanocrystal("fcc", ("Pb",), A, 14.0, "cuboctahedron").positions
    shell = build_nanocrystal("fcc", ("Pb",), A, 20.0, "cuboctahedron").positions
    extra = shell[np.linalg.norm(shell[:, None] - core[None], axis=-1).min(axis=1) > 1e-6]
    sites = np.vstack([core, extra])
    rng = np.random.default_rng(3)
    runs = np.zeros((5, len(sites)), dtype=bool)
    runs[:, : len(core)] = True
    for r in range(5):  # each run a different set of surface atoms, in patches (correlated)
        seed = extra[rng.integers(len(extra))]
        runs[r, len(core):] = np.linalg.norm(extra - seed, axis=1) < 7.0
    return runs, sites


def test_run_average_is_the_mean_of_the_runs_patterns(disagreeing_runs):
    runs, sites = disagreeing_runs
    truth = np.mean([brute_pattern(sites[r], ["Pb"] * int(r.sum())) for r in runs], axis=0)
    got = run_averaged_pattern(runs, sites, Q, lattice_parameter=A, radiation="constant", b_iso=B)
    np.testing.assert_allclose(got.intensity, truth, rtol=1e-9)
    # the frequency-as-occupancy pattern of the same atoms: the same self term, the pairs without their
    # correlations; it differs where the runs disagree ...
    freq = compute_pattern(got.model, Q, radiation="constant", b_iso=B).intensity
    assert set(np.round(got.model.occupancy, 6)) > {1.0}
    assert np.max(np.abs(freq - truth) / truth) > 0.01
    # ... and not where they agree
    same = np.repeat(runs[:1], 3, axis=0)
    one = run_averaged_pattern(same, sites, Q, lattice_parameter=A, radiation="constant", b_iso=B)
    np.testing.assert_allclose(one.intensity, brute_pattern(sites[runs[0]], ["Pb"] * int(runs[0].sum())), rtol=1e-9)
    np.testing.assert_allclose(compute_pattern(one.model, Q, radiation="constant", b_iso=B).intensity,
                               one.intensity, rtol=1e-9)


def test_each_run_completed_with_its_own_anions(disagreeing_runs):
    runs, sites = disagreeing_runs
    runs = runs[:3]
    complete = {"anion": "Se", "structure": "rocksalt", "lattice_parameter": A, "min_neighbours": 2}
    patterns = []
    for r in runs:
        se, se_el = complete_sublattice(sites[r], A, anion="Se", structure="rocksalt", min_neighbours=2)
        patterns.append(brute_pattern(np.vstack([sites[r], se]), ["Pb"] * int(r.sum()) + list(se_el)))
    got = run_averaged_pattern(runs, sites, Q, lattice_parameter=A, complete=complete, radiation="constant",
                               b_iso=B)
    np.testing.assert_allclose(got.intensity, np.mean(patterns, axis=0), rtol=1e-9)
    assert set(got.model.elements.tolist()) == {"Pb", "Se"}


def test_from_a_reconstruction_and_bad_input():
    from napari_nxtomo.core.groundtruth import projections_from_truth
    from napari_nxtomo.core.samples import pbse_cuboctahedron
    from napari_nxtomo.core.tomography import reconstruct

    views, _ = projections_from_truth(pbse_cuboctahedron(noise=False, n_half=2), 2)
    result = reconstruct(views, A, n_runs=3, method="anneal", seed=1)
    runs, sites = reconstruction_runs(result)
    assert runs.shape == (3, len(sites))
    got = run_averaged_pattern(runs, sites, Q, lattice_parameter=A, energy_keV=None)
    each = [debye_intensity(sites[r], "Pb", Q, method="exact") for r in runs]
    np.testing.assert_allclose(got.intensity, np.mean(each, axis=0), rtol=1e-9)
    with pytest.raises(ValueError, match="no atom"):
        run_averaged_pattern(np.zeros((2, len(sites)), bool), sites, Q)
    with pytest.raises(ValueError, match="K sites"):
        run_averaged_pattern(runs, sites[:-1], Q)
    with pytest.raises(ValueError, match="n_runs"):
        reconstruction_runs(type("R", (), {"runs": np.zeros((0, 3), bool), "sites": None})())
