"""The end (Pb or Se) of odd mixed ⟨100⟩ columns from the projected lattice's parity (counting.ends).

Unit tests of the mechanism on synthetic lattices; its effect on counting is measured on multislice images in
test_end_to_end_multislice.py and benchmarks/bench_counting_sets.py.
"""

from __future__ import annotations

import numpy as np

from napari_nxtomo.core.counting.ends import end_log_prior, lattice_parity


def _lattice(n=9, step=3.06, angle_deg=17.0, stretch=0.02, jitter=0.1, seed=0):
    """Sites (i, j) of a square lattice and their positions (Å), rotated, stretched along one axis by up to
    ``stretch`` across the field (a slow scan distortion) and jittered by ``jitter`` × the step."""
    rng = np.random.default_rng(seed)
    ij = np.array([(i, j) for i in range(n) for j in range(n)])
    x = ij[:, 0] * step * (1 + stretch * ij[:, 0] / n)
    y = ij[:, 1] * step
    t = np.radians(angle_deg)
    xy = np.stack([x * np.cos(t) - y * np.sin(t), x * np.sin(t) + y * np.cos(t)], axis=1)
    xy += rng.normal(0, jitter * step, xy.shape)
    return ij, xy[:, ::-1]  # (y, x)


def test_parity_of_a_rotated_distorted_lattice_with_gaps_and_an_island():
    ij, yx = _lattice()
    keep = np.ones(len(ij), bool)
    keep[[3, 17, 40, 41, 62]] = False  # missing columns
    island = (ij[:, 0] >= 7) & (ij[:, 1] <= 2)
    keep &= ~((ij[:, 0] == 6) & (ij[:, 1] <= 3))  # a gap of one column separates the island
    ij, yx = ij[keep], yx[keep]
    truth = (ij.sum(axis=1) - ij[0].sum()) % 2
    parity = lattice_parity(yx)
    np.testing.assert_array_equal(parity, truth)
    assert island[keep].sum() >= 6


def test_no_parity_off_a_square_lattice():
    """A hexagonal lattice's steps do not round to a square one: no parity, rather than a wrong one."""
    a = 3.0
    yx = np.array([[j * a * np.sqrt(3) / 2, (i + 0.5 * (j % 2)) * a] for i in range(8) for j in range(8)])
    assert lattice_parity(yx) is None
    assert lattice_parity(yx[:5]) is None  # too few columns


def _pb_counts(lp, entries):
    """Each column's Pb count of largest posterior, summed over its Se sub-classes (as the counting does)."""
    post = np.exp(lp - lp.max(axis=1, keepdims=True))
    heavy = np.unique(entries[:, 0])
    return heavy[np.argmax(np.stack([post[:, entries[:, 0] == h].sum(axis=1) for h in heavy], axis=1), axis=1)]


def _centred_particle(seed, broken, noise=0.3, phase=1):
    """A 12 × 12 ⟨100⟩ projection of columns of 7-13 atoms centred on one mid-plane, ``broken`` of the odd ones
    with the other end; their cross-sections in Pb units (a Se adds 0.22 of a Pb) with ``noise``; the ln likelihood
    of each (n_Pb, n_Se) entry of a comb where (m + 1, m) and (m, m + 1) lie 0.56 apart."""
    rng = np.random.default_rng(seed)
    ij, _ = _lattice(n=12, jitter=0.0)
    parity = ij.sum(axis=1) % 2
    length = rng.integers(7, 14, size=len(ij))
    m, odd = (length - 1) // 2, length % 2 == 1
    heavy_ended = ((parity - m + phase) % 2 == 0) ^ (odd & (rng.random(len(ij)) < broken))
    heavy = np.where(odd, np.where(heavy_ended, m + 1, m), length // 2)
    entries = np.array([(h, l) for h in range(2, 9) for l in (h - 1, h, h + 1)])
    x = heavy + 0.22 * (length - heavy) + rng.normal(0, noise, len(ij))
    lp = -0.5 * (x[:, None] - (entries[:, 0] + 0.22 * entries[:, 1])[None, :]) ** 2 / noise**2
    return parity, heavy, entries, lp


def test_phase_share_and_counts_from_cross_sections_alone():
    """Columns that follow the centred model: the fitted phase is the true one, the share of the prior on the
    parity's end ≥ 0.85, and the Pb counts improve (here 0.93 -> 0.96 exact over three particles).  Where half the
    odd columns break the model the share falls to ≤ 0.65 (the prior weakens itself)."""
    exact = {False: [], True: []}
    for seed in (1, 2, 3):
        parity, heavy, entries, lp = _centred_particle(seed, broken=0.0)
        prior, fitted = end_log_prior(lp, parity, entries[:, 0], entries[:, 1])
        assert fitted["phase"] == 1 and fitted["share"] >= 0.85, fitted
        exact[False].append(np.mean(_pb_counts(lp, entries) == heavy))
        exact[True].append(np.mean(_pb_counts(lp + prior, entries) == heavy))
        parity, heavy, entries, lp = _centred_particle(seed, broken=0.5)
        _, fitted = end_log_prior(lp, parity, entries[:, 0], entries[:, 1])
        assert fitted["share"] <= 0.65, fitted
    assert np.mean(exact[True]) >= np.mean(exact[False]) + 0.02, exact


def test_recount_with_the_ends_keeps_the_counts_own_notes():
    """A view of mixed columns and, at its corners, pure Pb ones (two column types), counted at a given scale, then
    given a note of the count as a whole (as an alias's recount or the dose's scale add): recounted with each odd
    column's end from the lattice's parity, the ends are set (share ≥ 0.9, every mixed column's Pb count exact) and
    that note is still there (the recount reassembles the result from its types)."""
    import pandas as pd

    from napari_nxtomo.core.counting import count_atoms
    from napari_nxtomo.core.counting.views import _with_ends

    rng = np.random.default_rng(1)
    ij, yx = _lattice(n=12, jitter=0.0)
    parity = ij.sum(axis=1) % 2
    length = rng.integers(7, 14, size=len(ij))
    m = (length - 1) // 2
    heavy = np.where(length % 2 == 1, np.where((parity - m + 1) % 2 == 0, m + 1, m), length // 2)
    types = np.full(len(ij), "Pb+Se")
    types[[0, 11, 132, 143]] = "Pb"  # the corners: 2 Pb each
    x = 1000 * np.where(types == "Pb", 2.0, heavy + 0.22 * (length - heavy)) + rng.normal(0, 20, len(ij))
    table = pd.DataFrame({"y": yx[:, 0], "x": yx[:, 1], "volume": x, "volume_err": 20.0, "type": types})
    library = {"Pb+Se": {(h, lt): h + 0.22 * lt for h in range(1, 9) for lt in (h - 1, h, h + 1)},
               "Pb": {n: float(n) for n in range(1, 12)}}
    res = count_atoms(table, library=library, scale={"Pb+Se": 1000.0, "Pb": 1000.0}, ends=False)
    res.notes.append("a note of the count as a whole")
    out = _with_ends(table, library, res, "soft")
    assert out.by_type["Pb+Se"].params["ends"]["share"] >= 0.9
    assert np.isfinite(out.by_type["Pb+Se"].params["ends"]["ln_l"])
    assert np.all(out.counts == np.where(types == "Pb", 2, heavy))
    assert "a note of the count as a whole" in out.notes
