"""GUI: the Fit dock's particles step on a real image (StatSTEM's Pt/Ir particle), the peer's fit as the measure."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

pytestmark = pytest.mark.gui


def _wait(qtbot, widget, timeout=60_000):
    qtbot.waitUntil(lambda: widget.runner.worker is None, timeout=timeout)


def test_particles_step_segments_edits_and_finds_the_particle_columns(make_napari_viewer, qtbot, shared_data,
                                                                      errors):
    d = np.load(shared_data / "real" / "statstem_ptir.npz")
    p = float(d["pixel_size"])
    ref = d["statstem_xy"][:, ::-1] - p  # StatSTEM's (x, y) -> (row, col), pixel (1, 1) at (dx, dx)
    viewer = make_napari_viewer(show=True)
    image = viewer.add_image(d["image"], name="PtIr", scale=(p, p),
                             metadata={"pixel_size_A": p, "zone_axis": (1, 1, 0), "lattice_parameter": 3.92,
                                       "structure": "fcc"})
    _, fit = viewer.window.add_plugin_dock_widget("napari-nxtomo", "1 Fit columns")
    fit.image.value = image
    fit.particles.segment()
    _wait(qtbot, fit)
    lab = viewer.layers["PtIr particles"]
    assert lab.data.max() == 1 and "1 particle(s) with a resolved lattice" in fit.status.text()

    fit.particles.find()
    _wait(qtbot, fit)
    assert not errors, errors
    pts = viewer.layers["PtIr columns"]
    pos = np.asarray(pts.data)
    px = np.round(ref / p).astype(int)
    ref_in = ref[lab.data[px[:, 0], px[:, 1]] > 0]
    d_ref, _ = cKDTree(pos).query(ref_in)
    d_found, _ = cKDTree(ref_in).query(pos)
    assert (d_ref <= 0.5).mean() >= 0.95 and (d_found <= 0.5).mean() >= 0.95
    assert set(pts.features["particle"]) == {1}
    assert "lattice" in fit.status.text() and "fcc" in fit.status.text()

    # the user erases the right half of the particle: columns only in what is left
    edited = np.array(lab.data)
    edited[:, 200:] = 0
    lab.data = edited
    fit.particles.find()
    _wait(qtbot, fit)
    pos = np.asarray(viewer.layers["PtIr columns"].data)
    assert len(pos) > 30 and (pos[:, 1] < 200 * p + 0.5).all()

    # a wrong entry in the particle box is refused with a message that says what to type
    fit.particles.which.value = "first"
    fit.particles.find()
    assert errors and "label numbers" in str(errors[-1])
