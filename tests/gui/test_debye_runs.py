"""GUI: a reconstruction from two views (runs that disagree) → the Debye dock's pattern averaged over the runs.

Truth: every run's model (the Reconstruct 3D dock's result), completed with Se here and summed by the core's
exact Debye sum one run at a time, the patterns averaged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_nxtomo.core.debye import debye_intensity
from napari_nxtomo.core.nanocrystal import complete_sublattice
from napari_nxtomo.core.samples import pbse_cuboctahedron
from napari_nxtomo.core.workflow import RUNS_KEY

pytestmark = pytest.mark.gui

TIMEOUT = 300_000


def _wait(qtbot, widget):
    qtbot.waitUntil(lambda: widget.runner.worker is None, timeout=TIMEOUT)


def test_debye_dock_averages_the_reconstruction_runs(make_napari_viewer, qtbot, notifications, tmp_path):
    sample = pbse_cuboctahedron(seed=0)
    viewer = make_napari_viewer(show=True)
    _, tomo = viewer.window.add_plugin_dock_widget("napari-nxtomo", "3 Reconstruct 3D")
    layers = []
    rng = np.random.default_rng(1)
    for k in (0, 2):  # [100] and [110] only, four counts off by one in each: the runs disagree on a few sites
        view = sample.views[k]
        cols = view.columns[view.columns["n_Pb"] > 0]
        counts = cols["n_Pb"].to_numpy().copy()
        off = rng.choice(len(counts), 4, replace=False)
        counts[off] = np.maximum(counts[off] + rng.choice([-1, 1], 4), 1)
        feats = pd.DataFrame({"count": counts, "type": cols["type"].to_numpy()})
        layers.append(viewer.add_points(cols[["y", "x"]].to_numpy(), features=feats, name=view.name,
                                        metadata=view.layer_metadata()))
    tomo.reset_choices()
    tomo.layers.value = layers
    tomo.n_runs.value = 4
    tomo.run()
    _wait(qtbot, tomo)
    assert not notifications["error"], notifications["error"]
    model = viewer.layers["Pb model"]
    runs, sites = model.metadata[RUNS_KEY]["runs"], model.metadata[RUNS_KEY]["sites"]
    assert runs.shape == (4, len(sites)) and np.any(runs.any(axis=0) & ~runs.all(axis=0))  # they disagree
    # the runs stay in the session: a CSV of the layer does not carry them
    from napari_nxtomo._writer import write_points_csv_layer

    out = write_points_csv_layer(str(tmp_path / "m.csv"), model.data, {"metadata": model.metadata, "name": "m"})
    assert RUNS_KEY not in open(out[0]).read()

    _, w = viewer.window.add_plugin_dock_widget("napari-nxtomo", "4 Debye scattering")
    w.reset_choices()  # follows the reconstruction: the layer, the Se sublattice completed
    assert w.layer.value is model and w.complete.value and w.average_runs.enabled
    w.min_neighbours.value = 4
    w.x_min.value, w.x_max.value, w.x_step.value = 1.0, 8.0, 0.05
    w.radiation.value = "X-ray: f0(Q) only (no anomalous terms)"
    w.compute()  # certainty as occupancy
    _wait(qtbot, w)
    occupancy_pattern = w.lines["simulated"].get_ydata().copy()
    w.average_runs.value = True
    w.compute()
    _wait(qtbot, w)
    assert not notifications["error"], notifications["error"]
    q = np.linspace(1.0, 8.0, 141)
    each = []
    for r in runs:
        se, se_el = complete_sublattice(sites[r], 6.12, anion="Se", structure="rocksalt", min_neighbours=4)
        each.append(debye_intensity(np.vstack([sites[r], se]), ["Pb"] * int(r.sum()) + list(se_el), q,
                                    method="exact"))
    truth = np.mean(each, axis=0)
    got = w.lines["simulated"].get_ydata()
    np.testing.assert_allclose(got, truth, rtol=1e-9)
    assert "mean over 4 annealing runs" in w.status.text()
    assert np.max(np.abs(occupancy_pattern - truth) / truth) > 1e-3  # certainty-as-occupancy is not the same (2 % here)
