"""The self term with occupancy: debye_intensity against the exact mean over random vacancies.

Truth by brute force: every vacancy configuration of a small PbS particle (each partial site
full with probability o, independently) is enumerated, its pattern summed over all pairs with
xraydb's f0 here in the test, and the patterns averaged with their probabilities.
"""

import itertools

import numpy as np
import pytest
import xraydb

from napari_nxtomo.core.debye import debye_intensity

Q = np.linspace(0.5, 10.0, 96)
A = 5.936
B = {"Pb": 0.9, "S": 1.3}


def small_particle():
    """A 3 x 3 x 2 block of rocksalt PbS sites (quarter lattice a/2 apart), 9 of them partly occupied."""
    ijk = np.array(list(itertools.product(range(3), range(3), range(2))))
    pos = ijk * (A / 2.0)
    els = np.where(ijk.sum(axis=1) % 2 == 0, "Pb", "S")
    occ = np.ones(len(pos))
    partial = np.arange(0, len(pos), 2)[:9]
    occ[partial] = np.linspace(0.35, 0.9, partial.size)
    return pos, els, occ


def pattern_of(pos, els, weights_self, weights_pair):
    """Σ_j f_j² w_j + Σ_{i≠j} f_i f_j T_i T_j w_ij sinc(Q d_ij), by brute force."""
    f = {e: np.asarray(xraydb.f0(e, Q / (4 * np.pi)), dtype=float) for e in set(els)}
    t = {e: np.exp(-B[e] * Q**2 / (16 * np.pi**2)) for e in set(els)}
    total = np.zeros_like(Q)
    for i in range(len(pos)):
        total += f[els[i]] ** 2 * weights_self[i]
        for j in range(len(pos)):
            if i != j and weights_pair[i, j] != 0:
                x = Q * np.linalg.norm(pos[i] - pos[j])
                total += f[els[i]] * f[els[j]] * t[els[i]] * t[els[j]] * weights_pair[i, j] * np.sin(x) / x
    return total


def mean_over_vacancies(pos, els, occ):
    """The probability-weighted mean pattern over all 2^k vacancy configurations of the k partial sites."""
    partial = np.flatnonzero(occ < 1)
    mean = np.zeros_like(Q)
    for present in itertools.product((0, 1), repeat=partial.size):
        n = np.ones(len(pos))
        n[partial] = present
        prob = np.prod(np.where(np.array(present) == 1, occ[partial], 1 - occ[partial]))
        mean += prob * pattern_of(pos, els, n, np.outer(n, n))
    return mean


@pytest.fixture(scope="module")
def particle():
    pos, els, occ = small_particle()
    return pos, els, occ, mean_over_vacancies(pos, els, occ)


@pytest.mark.parametrize("method", ["exact", "histogram", "lattice"])
def test_default_self_term_is_the_mean_over_random_vacancies(particle, method):
    pos, els, occ, truth = particle
    got = debye_intensity(pos, els, Q, b_iso=B, occupancy=occ, method=method, lattice_parameter=A)
    np.testing.assert_allclose(got, truth, rtol=1e-6)


def test_squared_self_term_is_eq1_and_differs_from_the_mean(particle):
    pos, els, occ, truth = particle
    eq1 = pattern_of(pos, els, occ**2, np.outer(occ, occ))
    got = debye_intensity(pos, els, Q, b_iso=B, occupancy=occ, self_term="squared", method="exact")
    np.testing.assert_allclose(got, eq1, rtol=1e-9)
    # the two differ by Σ f_j² o_j (1 - o_j): several per cent of this small particle's pattern
    assert np.max(np.abs(truth - got) / truth) > 0.02
    with pytest.raises(ValueError, match="self_term"):
        debye_intensity(pos, els, Q, occupancy=occ, self_term="o3")


def test_command_line_self_term(tmp_path, particle):
    """debye --certainty-as-occupancy [--self-term squared]: the CSV holds debye_intensity with that self term."""
    import pandas as pd

    from napari_nxtomo.cli.main import main
    from napari_nxtomo.core.tables import write_xyz

    pos, els, occ, _ = particle
    model = write_xyz(tmp_path / "p.xyz", pos, els, {"certainty": occ})
    q = np.arange(1.0, 5.0 + 0.05, 0.1)
    for extra, term in (([], "occupancy"), (["--self-term", "squared"], "squared")):
        out = tmp_path / term
        assert main(["debye", str(model), "--out", str(out), "--q-min", "1", "--q-max", "5", "--q-step", "0.1",
                     "--certainty-as-occupancy", "--quiet", *extra]) == 0
        table = pd.read_csv(out / "p_pattern.csv", comment="#")
        np.testing.assert_allclose(table["intensity"], debye_intensity(pos, els, q, occupancy=occ, self_term=term),
                                   rtol=1e-6)
