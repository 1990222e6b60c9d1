"""Issue 12 on physics we did not write: the core–shell sample's abTEM multislice images.

A PbSe core (155 Pb, with an island) in a zincblende CdSe rod, imaged along [100], [010]
and [110] (benchmarks/multislice/make_images.py --particle pbse_cdse_core_shell), Poisson
noise at 1e5 e/Å².  The tool alone, with the images' metadata only: find and fit (columns
typed by the sublattice they sit on), count the Pb of every column with the shipped PbSe
library and the dose, reconstruct the Pb core.  Every number is compared with the true
atoms of the particle.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_nxtomo.core.evaluation import match_columns, score_reconstruction
from napari_nxtomo.core.multislice_sample import pbse_cdse_core_shell_multislice
from napari_nxtomo.core.workflow import count_core_shell_views, count_table, reconstruct_tables
from napari_nxtomo.core.workflow.counts import ALONE_100_NOTE

DOSE = 1e5


@pytest.fixture(scope="module")
def counted(fit_view):
    particle = pbse_cdse_core_shell_multislice(seed=3, dose=DOSE)
    out = []
    particle.fitted, particle.results = [], []
    for view in particle.views:
        table = fit_view(view)
        counts, result = count_table(table)
        idx, dist = match_columns(counts, view.columns)
        out.append((view, counts, view.columns.iloc[idx].reset_index(drop=True), dist))
        particle.fitted.append(table)
        particle.results.append(result)
    return particle, out


def test_columns_found_and_typed_by_sublattice(counted):
    """Every true column found once; each on the right sublattice (Pb, Se, Cd along [110];
    Pb/Se and Cd along <100>)."""
    _, views = counted
    for view, table, truth, dist in views:
        assert np.all(dist < 0.5), view.name
        assert len(table) >= 0.97 * len(view.columns), view.name
        t = table["type"].to_numpy()
        has_pb, has_cd = truth["n_Pb"].to_numpy() > 0, truth["n_Cd"].to_numpy() > 0
        if "110" in view.name:
            assert np.mean(t[has_pb] == "Pb") >= 0.98 and np.mean(t[has_cd] == "Cd") >= 0.95, view.name
        else:
            assert np.mean(t[has_pb] == "Pb+Se") >= 0.98 and np.mean(t[has_cd] == "Cd") >= 0.95, view.name


def test_pb_counted_in_every_view(counted):
    """Pb counted exactly in >= 85 % of the Pb-bearing columns of every view; Pb placed in <= 5 %
    of the columns that hold none (the issue's figures)."""
    _, views = counted
    for view, table, truth, _ in views:
        n_pb, count = truth["n_Pb"].to_numpy(), table["count"].to_numpy()
        bearing = n_pb > 0
        assert np.mean(count[bearing] == n_pb[bearing]) >= 0.85, view.name
        assert np.mean(count[~bearing] > 0) <= 0.05, view.name
        assert abs(count.sum() - n_pb.sum()) <= 0.03 * n_pb.sum() + 2, view.name


def test_a_100_view_counted_alone_is_told_its_thin_cores_read_high(counted):
    """A <100> view counted on its own carries the caveat (its shell's Se taken off at what it weighs alone: the
    stored particles' thin cores read ~1 Pb high); the [110] view (pure Pb columns) does not, nor any view counted
    with the others (one Pb total per layer), whose counts meet the issue's 0.85 in every view (the views alone:
    0.38-0.96 over the stored particles; this sample's [010] reads 0.96 alone and 0.90 bound)."""
    particle, views = counted
    for (view, *_), result in zip(views, particle.results):
        assert (ALONE_100_NOTE in result.notes) == ("110" not in view.name), view.name
    tables = [t.copy() for t in particle.fitted]
    bound, info = count_core_shell_views(tables)
    assert info["reference"] is not None and ALONE_100_NOTE not in info["notes"]
    assert not any(ALONE_100_NOTE in r.notes for r in info["results"])
    for (view, _, truth, _), table in zip(views, bound):
        n_pb = truth["n_Pb"].to_numpy()
        bearing = n_pb > 0
        assert np.mean(table["count"].to_numpy()[bearing] == n_pb[bearing]) >= 0.85, view.name


def test_reconstruction_of_the_core(counted):
    """The 3D Pb core from the three views' counts: >= 90 % of the true Pb sites found, >= 90 % of
    the model's Pb true."""
    particle, views = counted
    tables = [(t[["y", "x"]].to_numpy(), t, {"zone_axis": v.geometry.zone_axis}) for v, t, _, _ in views]
    result = reconstruct_tables(tables, particle.lattice_parameter, names=[v.name for v, *_ in views],
                                n_runs=2, seed=0)
    truth_q = particle.q[particle.elements == "Pb"]
    s = score_reconstruction(result, truth_q, n_runs=2)
    assert s["true_sites_recovered_fraction"] >= 0.90
    assert s["model_atoms_that_are_true_fraction"] >= 0.90


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_100_view_alone_gives_no_pb_to_se_its_cd_do_not_show(fit_view, seed):
    """At the demo's dose (5e4 e/Å²) the pure-shell Pb/Se columns at the rod's edge hold up to three Se over Cd
    columns of one: the shell correction leaves 0.5-0.7 of a lone Pb, which the count read as one Pb (2-4 of the
    sample's 91 pure-shell <100> columns per seed, before se_alone).  Counted alone, the two <100> views now put Pb
    in at most one of them, and take it from no column that holds Pb."""
    particle = pbse_cdse_core_shell_multislice(seed=seed, dose=5e4)
    placed, pure, taken = 0, 0, 0
    for view in particle.views[:2]:
        counted, result = count_table(fit_view(view))
        idx, _ = match_columns(counted, view.columns)
        n_pb = view.columns.iloc[idx]["n_Pb"].to_numpy()
        mine = counted["type"].astype(str).to_numpy() == "Pb+Se"
        count = counted["count"].to_numpy()
        placed += int(np.sum(count[mine & (n_pb == 0)] > 0))
        pure += int(np.sum(mine & (n_pb == 0)))
        alone = counted["se_alone"].to_numpy()
        assert np.all(count[alone] == 0) and np.all(counted["count_probability"].to_numpy()[alone] == 0.5)
        taken += int(np.sum(alone & (n_pb > 0)))
    assert pure >= 80 and placed <= 1 and taken == 0, (placed, pure, taken)
