"""GUI: a measured pattern opened by the plugin's reader (File > Open) becomes a layer the Debye dock refines."""

from __future__ import annotations

import numpy as np
import pytest

from napari_nxtomo._qt.debye_dock import DebyeWidget
from napari_nxtomo.core.debye import q_to_two_theta
from napari_nxtomo.core.debye.population import PopulationModel, population_intensity

pytestmark = pytest.mark.gui

TIMEOUT = 180_000  # ms; the first call may compile numba kernels
WAVELENGTH = 0.7


@pytest.fixture
def pattern_2theta(tmp_path):
    """A known population (mean 18 Å, 8 %, 3 size classes) with Poisson noise, as 2θ I esd at 0.7 Å."""
    q = np.linspace(1.5, 8.0, 400)
    truth = PopulationModel(mean_diameter=18.0, width=0.08, n_sizes=3, size_range=(15.0, 21.0), b_iso=0.6)
    unit = population_intensity(truth, q)
    y = np.random.default_rng(0).poisson(2e4 * unit / unit.max() + 50.0).astype(float)
    tt = q_to_two_theta(q, WAVELENGTH)
    path = tmp_path / "pbs.xye"
    path.write_text("# 2theta I esd\n" + "\n".join(f"{a:.8f} {b:g} {np.sqrt(max(b, 1)):.4f}" for a, b in zip(tt, y)))
    return path, q, tt, y


def test_pattern_file_opens_as_a_layer_the_dock_refines(make_napari_viewer, qtbot, pattern_2theta, notifications,
                                                         refine_start):
    path, q, tt, y = pattern_2theta
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-nxtomo")
    assert layer.name == "pbs" and layer.metadata["measured_pattern"]["x_kind"] == "two_theta"
    np.testing.assert_allclose(layer.features["x"], tt, atol=1e-8)
    np.testing.assert_allclose(layer.features["intensity"], y)
    np.testing.assert_allclose(layer.data[:, 1], tt, atol=1e-8)  # (row, col) = (-I, 2θ): peaks up
    np.testing.assert_allclose(layer.data[:, 0], -y)

    w = DebyeWidget(viewer)
    viewer.window.add_dock_widget(w, name="Debye scattering")
    w.reset_choices()
    w.refine_layer.value = layer
    # a 2θ layer without a wavelength: a clear message, nothing started
    assert w.refine() is None and any("wavelength" in str(m) for m in notifications["error"])
    w.refine_wavelength.value = WAVELENGTH
    meas = w.refine_panel.read()
    np.testing.assert_allclose(meas.q, q, rtol=1e-7)
    assert meas.sigma_source == "file" and meas.name == "pbs"
    refine_start(w)
    assert w.refine() is not None
    qtbot.waitUntil(lambda: w.runner.worker is None, timeout=TIMEOUT)
    res = w.refined
    assert res is not None and res.converged
    assert abs(res.params["mean_diameter"] - 18.0) < 0.36  # 2 %
    assert abs(res.params["b_iso"] - 0.6) < 3 * res.uncertainties["b_iso"] + 0.02

    # the measured panel takes the layer too: its x column follows the layer's 2θ
    w.measured_layer.value = layer
    got = w.measured_panel.read()
    assert w.measured_x.value == "2θ (°)" and got["name"] == "pbs"
    np.testing.assert_allclose(got["y"], y)


def test_reader_leaves_dat_and_csv_alone_and_reports_bad_files(tmp_path):
    from napari_nxtomo._reader import napari_get_reader

    for name in ("table.dat", "data.csv"):
        (tmp_path / name).write_text("1.0 2.0\n2.0 3.0\n")
        assert napari_get_reader(str(tmp_path / name)) is None
    bad = tmp_path / "bad.xy"
    bad.write_text("1.0 2.0\n1.0 3.0\n")
    reader = napari_get_reader(str(bad))
    with pytest.raises(ValueError, match="repeats"):
        reader(str(bad))
