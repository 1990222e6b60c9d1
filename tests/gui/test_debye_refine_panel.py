"""GUI: the Debye dock's Refine panel in a real viewer refines a known population and scans χ²."""

from __future__ import annotations

import numpy as np
import pytest

from napari_nxtomo._qt.debye_dock import DebyeWidget
from napari_nxtomo.core.debye.population import PopulationModel, population_intensity

pytestmark = pytest.mark.gui

TIMEOUT = 180_000  # ms; the first call may compile numba kernels


@pytest.fixture
def pattern_file(tmp_path):
    """A known population (mean 18 Å, 8 %, 3 size classes) with Poisson noise, as Q I σ."""
    q = np.linspace(1.5, 8.0, 400)
    truth = PopulationModel(mean_diameter=18.0, width=0.08, n_sizes=3, size_range=(15.0, 21.0), b_iso=0.6)
    unit = population_intensity(truth, q)
    y = np.random.default_rng(0).poisson(2e4 * unit / unit.max() + 50.0).astype(float)
    path = tmp_path / "pbs.xye"
    path.write_text("# Q I sigma\n" + "\n".join(f"{a:.5f} {b:g} {np.sqrt(max(b, 1)):.4f}" for a, b in zip(q, y)))
    return path


def test_refine_panel_recovers_the_population_and_scans(make_napari_viewer, qtbot, pattern_file, notifications,
                                                        refine_start):
    viewer = make_napari_viewer()
    w = DebyeWidget(viewer)
    viewer.window.add_dock_widget(w, name="Debye scattering")
    refine_start(w)
    worker = w.refine(pattern_file)
    assert worker is not None
    qtbot.waitUntil(lambda: w.runner.worker is None, timeout=TIMEOUT)
    res = w.refined
    assert res is not None and res.converged
    assert abs(res.params["mean_diameter"] - 18.0) < 0.36  # 2 %
    assert abs(res.params["b_iso"] - 0.6) < 3 * res.uncertainties["b_iso"] + 0.02
    assert abs(w.refine_mean_diameter.value - res.params["mean_diameter"]) < 0.1  # the fields show the result
    assert {"refine measured", "refine model", "refine difference"} <= set(w.lines)
    assert "χ²_red" in w.status.text()
    w.scan_name.value = "lattice_parameter"
    w.scan_values.value = "5.90, 5.936, 5.97"
    w.scan()
    qtbot.waitUntil(lambda: w.runner.worker is None, timeout=TIMEOUT)
    assert w.scanned is not None and w.scanned.best == 5.936
    assert "scan" in w.lines
    w.scan_values.value = "60"
    assert w.scan() is None and any("at least two" in str(m) for m in notifications["error"])
