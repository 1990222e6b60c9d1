"""GUI: the Debye scattering dock in a real viewer: builder model, pattern vs the core, measured fit, CSV, layer source."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_nxtomo._qt.debye_dock import AXIS_TT, SOURCE_LAYER, DebyeWidget
from napari_nxtomo.core.debye import (
    debye_intensity,
    energy_to_wavelength,
    pair_distribution,
    q_to_two_theta,
    two_theta_to_q,
)
from napari_nxtomo.core.nanocrystal import build_nanocrystal, complete_sublattice

pytestmark = pytest.mark.gui

TIMEOUT = 180_000  # ms; the first call may compile numba kernels


@pytest.fixture
def notes(notifications):
    """The notifications collected (tests/conftest.py)."""
    return notifications


def _dock(viewer) -> DebyeWidget:
    """The dock as napari opens it from the manifest when it is listed there, else added directly."""
    from npe2 import PluginManager

    pm = PluginManager.instance()
    names = []
    try:
        mf = pm.get_manifest("napari-nxtomo")
        cmds = {c.id: c.python_name for c in mf.contributions.commands or []}
        names = [w.display_name for w in mf.contributions.widgets or [] if cmds.get(w.command, "").endswith(":DebyeWidget")]
    except KeyError:
        pass
    if names:
        _, widget = viewer.window.add_plugin_dock_widget("napari-nxtomo", names[0])
    else:
        widget = DebyeWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Debye scattering")
    assert isinstance(widget, DebyeWidget)
    return widget


def _wait(qtbot, widget):
    qtbot.waitUntil(lambda: widget.runner.worker is None, timeout=TIMEOUT)


def _set_builder(w, **kw):
    w.source.value = "builder (below)"
    w.structure.value = kw.get("structure", "rocksalt")
    w.elements.value = kw.get("elements", "Pb, S")
    w.a.value = kw.get("a", 5.936)
    w.diameter.value = kw.get("diameter", 20.0)
    w.shape.value = kw.get("shape", "cuboctahedron")
    w.core_occ.value = kw.get("core", "")
    w.shell_occ.value = kw.get("shell", "")
    w.shell.value = kw.get("shell_thickness", 0.0)
    w.alpha_rh.value = kw.get("alpha_rh", 60.0)
    w.delta_r.value = kw.get("delta_r", 0.0)


def test_builder_model_pattern_measured_fit_and_export(make_napari_viewer, qtbot, notes, tmp_path):
    viewer = make_napari_viewer(show=True)
    w = _dock(viewer)
    _set_builder(w, core="Pb=0.9", shell="S=0.8", shell_thickness=3.0)
    truth = build_nanocrystal(
        "rocksalt", ("Pb", "S"), 5.936, 20.0, "cuboctahedron",
        core_occupancy={"Pb": 0.9}, shell_occupancy={"S": 0.8}, shell_thickness=3.0,
    )

    # Show model: a 3D points layer, one point per site, element and occupancy features, sized by ion
    layer = w.show_model()
    assert not notes["error"], notes["error"]
    # napari hands plugin docks a proxy of the viewer: compare layers by name
    assert layer.name == viewer.layers[-1].name and layer.ndim == 3
    assert len(layer.data) == len(truth) > 100
    np.testing.assert_allclose(layer.data, truth.positions[:, ::-1])
    np.testing.assert_array_equal(layer.features["element"], truth.elements)
    np.testing.assert_allclose(layer.features["occupancy"], truth.occupancy)
    assert set(layer.features["element"]) == {"Pb", "S"}
    pb = (layer.features["element"] == "Pb").to_numpy()
    assert np.allclose(layer.size[pb], 2 * 1.19) and np.allclose(layer.size[~pb], 2 * 1.84)
    assert not np.allclose(layer.face_color[pb][0], layer.face_color[~pb][0])  # coloured by element
    assert layer.metadata["lattice_parameter"] == 5.936 and layer.metadata["structure"] == "rocksalt"
    assert viewer.dims.ndisplay == 3
    w.show_model()  # again: the layer is updated, not duplicated
    assert sum(ly.name == layer.name for ly in viewer.layers) == 1

    # Compute: X-ray at 22 keV with anomalous terms, B per element, Q 0.5..15 step 0.01, and G(r)
    w.energy.value = 22.0
    w.x_min.value, w.x_max.value, w.x_step.value = 0.5, 15.0, 0.01
    w.b_iso.value = "Pb=1.1, S=0.7"
    w.with_gr.value = True
    assert w.compute() is not None
    _wait(qtbot, w)
    assert not notes["error"], notes["error"]
    q = np.linspace(0.5, 15.0, 1451)
    line = w.lines["simulated"]
    np.testing.assert_allclose(line.get_xdata(), q, rtol=0, atol=1e-12)
    b = {"Pb": 1.1, "S": 0.7}
    direct = debye_intensity(truth.positions, truth.elements, q, b_iso=b, occupancy=truth.occupancy,
                             energy_keV=22.0, sites=truth.sites)
    np.testing.assert_allclose(line.get_ydata(), direct, rtol=1e-12)
    exact = debye_intensity(truth.positions, truth.elements, q, b_iso=b, occupancy=truth.occupancy,
                            energy_keV=22.0, method="exact")
    np.testing.assert_allclose(line.get_ydata(), exact, rtol=1e-3)
    ax = w.figure.axes[0]
    assert ax.get_xlabel() == "Q (Å⁻¹)" and "e² per particle" in ax.get_ylabel()
    np.testing.assert_allclose(w.pattern.two_theta, q_to_two_theta(q, energy_to_wavelength(22.0)))
    # G(r): the core's pair distribution of the same model, terminated at the pattern's Q max
    g = w.lines["G(r)"]
    ref = pair_distribution(truth.positions, truth.elements, g.get_xdata(), truth.occupancy, q_max=15.0,
                            energy_keV=22.0, sites=truth.sites)
    np.testing.assert_allclose(g.get_ydata(), ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
    r_peak = g.get_xdata()[np.argmax(g.get_ydata())]
    assert abs(r_peak - 5.936 / np.sqrt(2)) < 0.05  # Pb-Pb nearest neighbours dominate (Z² weights)
    assert w.figure_gr.axes[0].get_xlabel() == "r (Å)"

    # a measured pattern: the simulation scaled and offset, on every third Q point of 1.0..12, with comments
    scale, bg = 2.5e-3, 40.0
    qm = q[50:1151:3]
    im = scale * direct[50:1151:3] + bg
    measured = tmp_path / "measured.xy"
    with open(measured, "w") as fh:
        fh.write("# synthetic PbS pattern\n# Q (1/A)  intensity\n")
        for a, v in zip(qm, im):
            fh.write(f"{a:.17g} {v:.17g}\n")
    fit = w.load_measured(measured)
    assert not notes["error"], notes["error"]
    assert fit is w.fit and fit.weighting == "poisson"
    assert fit.scale == pytest.approx(scale, rel=1e-6)
    assert fit.background == pytest.approx(bg, rel=1e-6)
    assert fit.chi2_red < 1e-8
    assert fit.n_points == qm.size
    np.testing.assert_allclose(w.lines["fitted"].get_ydata(), scale * direct + bg, rtol=1e-6)
    np.testing.assert_allclose(w.lines["measured"].get_ydata(), im)
    assert "reduced χ²" in w.status.text() and "Poisson-like" in w.status.text()
    w.weights.value = "unit weights"
    unit = w.load_measured()
    assert unit.weighting == "unit" and unit.scale == pytest.approx(scale, rel=1e-6)

    # export and read back
    out = w.export_csv(tmp_path / "pattern.csv")
    assert out is not None and out.is_file()
    back = pd.read_csv(out, comment="#")  # blocks on different grids side by side, empty cells below the shorter
    sim = back[["q_inv_A", "two_theta_deg", "intensity_e2", "fitted"]].dropna()
    np.testing.assert_allclose(sim["q_inv_A"], q, rtol=1e-9)
    np.testing.assert_allclose(sim["intensity_e2"], direct, rtol=1e-9)
    np.testing.assert_allclose(sim["fitted"], scale * direct + bg, rtol=1e-6)
    np.testing.assert_allclose(sim["two_theta_deg"], w.pattern.two_theta, rtol=1e-9)
    meas = back[["measured_q_inv_A", "measured"]].dropna()
    np.testing.assert_allclose(meas["measured_q_inv_A"], qm, rtol=1e-9)
    np.testing.assert_allclose(meas["measured"], im, rtol=1e-9)
    assert np.abs(back["measured_residual"].dropna()).max() < 1e-6 * im.max()
    np.testing.assert_allclose(back["r_A"].dropna(), g.get_xdata(), atol=1e-9)
    header = out.read_text().splitlines()[:6]
    assert any("scale" in h and "reduced χ²" in h for h in header)

    # a measured file with text in it, and one outside the Q range: errors reach the user, the fit stays
    bad = tmp_path / "bad.xy"
    bad.write_text("1.0 2.0\n1.1 3.0\nnot a number\n")
    assert w.load_measured(bad) is None
    assert "line 3" in notes["error"][-1] and "not numbers" in notes["error"][-1]
    far = tmp_path / "far.xy"
    far.write_text("".join(f"{x} 1.0\n" for x in np.linspace(20, 30, 50)))
    assert w.load_measured(far) is None
    assert "overlap" in notes["error"][-1]
    assert w.fit is None and "simulated" in w.lines


def test_two_theta_axis_and_measured_in_two_theta(make_napari_viewer, qtbot, notes, tmp_path):
    viewer = make_napari_viewer(show=True)
    w = _dock(viewer)
    _set_builder(w, structure="zincblende", elements="Cd, Se", a=6.05, diameter=16.0, shape="sphere")
    w.radiation.value = "constant f = Z (as ASE XrDebye)"
    w.beam.value = "wavelength (Å)"
    w.wavelength.value = 1.5406
    assert w.energy.value == pytest.approx(12.398419843320026 / 1.5406, abs=1e-3)
    w.axis.value = AXIS_TT
    w.x_min.value, w.x_max.value, w.x_step.value = 10.0, 90.0, 0.05
    w.compute()
    _wait(qtbot, w)
    assert not notes["error"], notes["error"]
    model = build_nanocrystal("zincblende", ("Cd", "Se"), 6.05, 16.0, "sphere")
    tt = np.linspace(10.0, 90.0, 1601)
    q = two_theta_to_q(tt, 1.5406)
    direct = debye_intensity(model.positions, model.elements, q, radiation="constant", sites=model.sites,
                             occupancy=model.occupancy)
    line = w.lines["simulated"]
    np.testing.assert_allclose(line.get_xdata(), tt, atol=1e-12)
    np.testing.assert_allclose(line.get_ydata(), direct, rtol=1e-12)
    assert w.figure.axes[0].get_xlabel() == "2θ (°)"

    # measured in 2θ; the same file read as Q (wrong column choice) does not overlap: a clear error
    m = tmp_path / "m.csv"
    m.write_text("two_theta,intensity\n" + "".join(f"{a:.17g},{7.0 * v + 3.0:.17g}\n" for a, v in zip(tt[::2], direct[::2])))
    assert w.measured_x.value == AXIS_TT  # follows the axis
    fit = w.load_measured(m)
    assert fit.scale == pytest.approx(7.0, rel=1e-6) and fit.background == pytest.approx(3.0, rel=1e-6)
    assert fit.chi2_red < 1e-8
    w.measured_x.value = "Q (Å⁻¹)"
    assert w.load_measured(m) is None
    assert "beyond" in notes["error"][-1] or "exceeds" in notes["error"][-1] or "overlap" in notes["error"][-1]


def test_points_layer_source_with_certainty_and_completed_sublattice(make_napari_viewer, qtbot, notes):
    """A reconstructed Pb particle (features element, certainty; lattice in metadata): Se completed around it."""
    viewer = make_napari_viewer(show=True)
    a = 6.12
    pb = build_nanocrystal("fcc", ("Pb",), a, 18.0, "cuboctahedron").positions + np.array([30.0, -12.0, 5.0])
    rng = np.random.default_rng(0)
    certainty = rng.uniform(0.4, 1.0, len(pb))
    viewer.add_points(
        pb[:, ::-1], ndim=3, name="reconstruction",
        features={"element": ["Pb"] * len(pb), "certainty": certainty},
        metadata={"lattice_parameter": a, "structure": "rocksalt"},
    )
    w = _dock(viewer)
    w.reset_choices()
    w.source.value = SOURCE_LAYER
    w.layer.value = viewer.layers["reconstruction"]
    assert w.use_certainty.value  # a certainty and no occupancy: used by default
    assert w.layer_a.value == pytest.approx(a)
    w.complete.value = True
    w.anion.value = "Se"
    w.min_neighbours.value = 3
    w.x_min.value, w.x_max.value, w.x_step.value = 0.5, 10.0, 0.02
    w.compute()
    _wait(qtbot, w)
    assert not notes["error"], notes["error"]
    se, se_el = complete_sublattice(pb, a, anion="Se", structure="rocksalt", min_neighbours=3)
    pos = np.vstack([pb, se])
    els = np.concatenate([np.full(len(pb), "Pb"), se_el])
    occ = np.concatenate([certainty, np.ones(len(se))])
    q = np.linspace(0.5, 10.0, 476)
    direct = debye_intensity(pos, els, q, occupancy=occ, energy_keV=22.0, lattice_parameter=a)
    assert len(w.pattern.model.positions) == len(pos)
    np.testing.assert_allclose(w.lines["simulated"].get_ydata(), direct, rtol=1e-10)
    assert "Se (rocksalt sublattice)" in w.status.text()

    # the o² self term of eq. (1): lower by Σ f² o (1 - o) over the uncertain Pb
    w.self_term.value = "o²: eq. (1) of the seed paper"
    w.compute()
    _wait(qtbot, w)
    squared = debye_intensity(pos, els, q, occupancy=occ, energy_keV=22.0, lattice_parameter=a, self_term="squared")
    np.testing.assert_allclose(w.lines["simulated"].get_ydata(), squared, rtol=1e-10)
    assert w.pattern.self_term == "squared" and np.all(squared < direct)
    w.self_term.value = "o: mean over random vacancies"

    # without the certainty: every Pb fully occupied
    w.use_certainty.value = False
    w.complete.value = False
    w.compute()
    _wait(qtbot, w)
    np.testing.assert_allclose(w.lines["simulated"].get_ydata(),
                               debye_intensity(pb, "Pb", q, energy_keV=22.0, lattice_parameter=a), rtol=1e-10)

    # a points layer without elements, and a 2D one: clear errors, nothing computed
    viewer.add_points(pb[:, ::-1], ndim=3, name="no elements")
    viewer.add_points(np.zeros((3, 2)), name="flat")
    w.reset_choices()
    for name, expect in (("no elements", "no 'element' feature"), ("flat", "not a 3D points layer")):
        w.layer.value = viewer.layers[name]
        assert w.compute() is None
        assert expect in notes["error"][-1]


def test_errors_and_cancel_reach_the_user(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer(show=True)
    w = _dock(viewer)
    _set_builder(w, elements="Pb, Xx", diameter=12.0)
    w.x_max.value = 5.0
    w.compute()
    _wait(qtbot, w)
    assert w.pattern is None
    assert any("unknown element" in e and "Xx" in e for e in notes["error"]), notes["error"]

    _set_builder(w, core="Pb=1.4")
    assert w.compute() is None
    assert "between 0 and 1" in notes["error"][-1]
    _set_builder(w, diameter=12.0)
    w.b_iso.value = "Pb=-1"
    assert w.compute() is None
    assert "B (Å²) for Pb" in notes["error"][-1]
    w.b_iso.value = ""
    w.x_min.value, w.x_max.value = 5.0, 1.0
    assert w.compute() is None and "empty" in notes["error"][-1]
    w.x_min.value, w.x_max.value = 0.5, 5.0
    assert w.export_csv("unused.csv") is None and "compute a pattern first" in notes["error"][-1]

    # cancel before the first progress report: the task stops, no pattern, an info instead of an error
    n_err = len(notes["error"])
    _set_builder(w, diameter=40.0)
    w.method.value = "exact"  # slow enough that Cancel comes before the end
    worker = w.compute()
    assert worker is not None
    w.runner.cancel()
    _wait(qtbot, w)
    assert w.pattern is None
    assert len(notes["error"]) == n_err
    assert any("cancelled" in i for i in notes["info"])
    # and afterwards it runs
    _set_builder(w, diameter=12.0)
    w.method.value = "auto"
    w.compute()
    _wait(qtbot, w)
    assert w.pattern is not None and len(notes["error"]) == n_err
