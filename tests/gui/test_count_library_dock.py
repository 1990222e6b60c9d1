"""GUI: the Count dock's library box, dose and 'Compute library…' (plumbing; the numbers are the workflow's)."""

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.gui

OPTICS = {"crystal": "PbSe", "zone_axis": (1, 1, 0), "energy_keV": 300.0, "convergence_mrad": 22.0,
          "detector_mrad": [60.0, 140.0], "pixel_size_A": 0.2}


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NXTOMO_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def messages(notifications):
    """The notifications collected (tests/conftest.py)."""
    return notifications


def _table(scale):
    """Pb and Se columns of counts 2..7 at the values × scale of the shipped [110] library that "auto" takes (in the
    fit's units), 1 % noise."""
    from napari_nxtomo.core.library import load_library

    lib = load_library("PbSe", (1, 1, 0), convergence_mrad=22, detector_mrad=(60, 140), units="fitted")
    rng = np.random.default_rng(0)
    rows = [(t, n) for t in ("Pb", "Se") for n in range(2, 8) for _ in range(12)]
    v = np.array([scale * lib.values(t)[n] for t, n in rows])
    err = 0.01 * v
    return pd.DataFrame({"volume": v + rng.normal(0, err), "volume_err": err, "type": [t for t, _ in rows],
                         "true": [n for _, n in rows]})


def _count(viewer, qtbot, table, metadata, **settings):
    _, dock = viewer.window.add_plugin_dock_widget("napari-nxtomo", "2 Count atoms")
    pts = viewer.add_points(np.zeros((len(table), 2)), features=table, metadata=dict(metadata), name="columns")
    dock.reset_choices()
    dock.points.value = pts
    dock.feature.value = "volume"
    for name, value in settings.items():
        getattr(dock, name).value = value
    dock.run()
    qtbot.waitUntil(lambda: dock.runner.worker is None, timeout=60_000)
    return dock, pts


@pytest.mark.parametrize("dose", [0.0, 1e5])
def test_library_box_and_dose_count_as_the_workflow(make_napari_viewer, qtbot, messages, dose):
    from napari_nxtomo.core.workflow import count_table

    table = _table(1e5 * 0.2**2)  # an image in detected electrons at 1e5 e/Å², 0.2 Å pixels
    viewer = make_napari_viewer(show=False)
    dock, pts = _count(viewer, qtbot, table, OPTICS, dose=dose)
    assert not messages["error"], messages
    assert dock.library.value == "auto"
    counted, res = count_table(table, metadata=OPTICS, dose=dose or None)
    np.testing.assert_array_equal(pts.features["count"], counted["count"])
    assert np.mean(counted["count"] == table["true"]) > 0.95
    assert pts.metadata["counting"]["library"].startswith("PbSe ⟨110⟩, 300 keV, 22 mrad")
    assert pts.metadata["counting"]["scale"] == pytest.approx(res.params["scale"])
    # the table holds the library × 4000 exactly: the scale is found (with a dose it is fitted about the dose's)
    assert res.params["scale"] == pytest.approx(1e5 * 0.2**2, rel=0.01)
    # the histogram draws the library × scale as dashed lines with the classes
    dashed = [ln for ax in dock.figure.axes for ln in ax.lines if ln.get_linestyle() == "--"]
    assert dashed and "PbSe ⟨110⟩" in dock.status.text()


def test_library_box_lists_shipped_file_and_none(make_napari_viewer, qtbot, messages):
    from napari_nxtomo._qt.library_panel import _named_choices

    table = _table(1.0)
    viewer = make_napari_viewer(show=False)
    dock, pts = _count(viewer, qtbot, table, {}, library="none")
    names = [n for n, _ in _named_choices(dock.library)]
    assert names[0].startswith("auto") and names[-2:] == ["file…", "none (mixture only)"]
    assert any(n.startswith("PbSe ⟨110⟩, 300 keV, 22 mrad") and n.endswith("(shipped)") for n in names)
    assert pts.metadata["counting"]["library"] == "mixture" and not messages["error"]
    # auto without optics: counted by the mixture and a notification says why
    dock.library.value = "auto"
    dock.run()
    qtbot.waitUntil(lambda: dock.runner.worker is None, timeout=60_000)
    assert any("free mixture" in m and "--library" in m for m in messages["info"]), messages
    # "file…" without a file: a message, nothing run
    dock.library.value = "file"
    assert not dock.library_panel.file.native.isHidden()
    dock.run()
    assert "choose the library file" in messages["error"][-1]


def test_compute_library_runs_simulate_library_caches_and_selects_it(make_napari_viewer, qtbot, messages,
                                                                     monkeypatch):
    """simulate_library replaced by a tiny fake (the real one needs abTEM and minutes): the plumbing only."""
    import napari_nxtomo._qt.library_panel as panel_module
    from napari_nxtomo.core import library as core_library
    from napari_nxtomo.core.library import INSTALL_HINT, CrossSectionLibrary, cache_dir, library_settings

    calls = []

    def fake(crystal, zone_axis, *, progress=None, cancel=None, **options):
        calls.append((crystal, zone_axis, options))
        settings = library_settings(crystal, zone_axis, **options)
        shipped = core_library.load_library("PbSe", (1, 1, 0))
        progress(1, 1)
        return CrossSectionLibrary("PbS", (1, 1, 0), settings, shipped.tables)

    monkeypatch.setattr(core_library, "simulate_library", fake)
    viewer = make_napari_viewer(show=False)
    _, dock = viewer.window.add_plugin_dock_widget("napari-nxtomo", "2 Count atoms")
    panel = dock.library_panel
    panel.toggle()
    assert panel.expanded and not panel.group.native.isHidden()
    panel.crystal.value, panel.energy.value, panel.max_count.value = "PbS", 200.0, 6
    monkeypatch.setattr(panel_module, "_has_abtem", lambda: False)
    panel.compute()  # without abTEM (and nothing cached for these settings): says how to install it, starts nothing
    assert messages["error"] == [f"napari-nxtomo: {INSTALL_HINT}"] and not calls and dock.runner.worker is None
    assert 'pip install "napari-nxtomo[multislice]"' in INSTALL_HINT

    monkeypatch.setattr(panel_module, "_has_abtem", lambda: True)
    panel.compute()
    qtbot.waitUntil(lambda: dock.runner.worker is None, timeout=30_000)
    assert calls == [("PbS", (1, 1, 0), {"energy_keV": 200.0, "convergence_mrad": 24.0,
                                         "detector_mrad": (60.0, 130.0), "max_count": 6, "thermal_sigma": None})]
    cached = list(cache_dir().glob("PbS_110_*.json"))
    assert len(cached) == 1 and dock.library.value == str(cached[0])
    assert "library computed and cached: PbS ⟨110⟩, 200 keV" in dock.status.text()

    # a colder specimen: the heaviest element's vibration set, the lighter one's scaled alike, and the library's
    # name in the box and the status says so
    panel.crystal.value = "PbSe"
    assert panel.vibration.value == pytest.approx(0.134)  # room temperature's Pb, back with the crystal
    panel.vibration.value = 0.09
    panel.compute()
    qtbot.waitUntil(lambda: dock.runner.worker is None, timeout=30_000)
    assert calls[-1][2]["thermal_sigma"] == {"Pb": 0.09, "Se": pytest.approx(0.0739)}
    assert "vibrations Pb 0.09 Å" in dock.status.text()


def test_joint_count_of_the_sample_views(make_napari_viewer, qtbot, messages):
    """The multislice sample's three views fitted, then counted together from the dock: one Pb total within 3 % of
    the true 315 in every layer, and the counts as the workflow's joint count gives them."""
    from napari_nxtomo.core.multislice_sample import pbse_cuboctahedron_multislice
    from napari_nxtomo.core.workflow import count_views_tables, find_and_fit

    viewer = make_napari_viewer(show=False)
    sample = pbse_cuboctahedron_multislice(seed=0)
    tables = [find_and_fit(v.image, v.pixel_size, 1.4, zone_axis=v.geometry.zone_axis) for v in sample.views]
    layers = [viewer.add_points(t[["y", "x"]].to_numpy(), features=t, metadata=v.layer_metadata(), name=v.name)
              for t, v in zip(tables, sample.views)]
    _, dock = viewer.window.add_plugin_dock_widget("napari-nxtomo", "2 Count atoms")
    dock.reset_choices()
    dock.points.value = layers[2]
    dock.joint.value = True
    dock.assignment.value = "nearest"  # not used jointly: the user is told, the counts are the joint count's
    seen, report = [], dock.runner.progress
    dock.runner.progress = lambda i, n: (seen.append((i, n)), report(i, n))
    dock.run()
    qtbot.waitUntil(lambda: dock.runner.worker is None, timeout=120_000)
    # real progress: a step per view and column type (3 views: 1 + 1 + 2 types, counted once about the dose, then
    # twice without it, the dose's check), then the totals: 3 × 4 + 1 steps
    assert [i for i, _ in seen] == sorted(i for i, _ in seen) and seen[-1] == (13, 13)
    assert {i for i, _ in seen} == set(range(14))
    assert not messages["error"], messages
    assert any("'count by' choice is not used" in m for m in messages["info"]), messages
    expected, joint = count_views_tables(tables, [v.layer_metadata() for v in sample.views])
    totals = []
    for ly, exp in zip(layers, expected):
        np.testing.assert_array_equal(ly.features["count"], exp["count"])
        totals.append(int(ly.features["count"][ly.features["type"].str.contains("Pb")].sum()))
    assert len(set(totals)) == 1 and abs(totals[0] - 315) <= 0.03 * 315
    assert "counted together" in dock.status.text() and f"-> {joint.totals}" in dock.status.text()
    np.testing.assert_array_equal(dock.result.counts, expected[2]["count"])  # the plotted view: the chosen one
    assert not messages["warning"] and "warning" not in dock.notes.toPlainText(), messages["warning"]
    # the [110] view cropped: its leftmost columns holding 10 % of the Pb cut off, its total falls further below the
    # others' than miscounts explain and the dock warns (a notification, and first in the notes)
    order = np.argsort(tables[2]["x"].to_numpy())
    cut = order[: int(np.searchsorted(np.cumsum(expected[2]["count"].to_numpy()[order]), 0.1 * 315)) + 1]
    t = tables[2].drop(index=tables[2].index[cut]).reset_index(drop=True)
    viewer.layers.remove(layers[2])
    cropped = viewer.add_points(t[["y", "x"]].to_numpy(), features=t, metadata=sample.views[2].layer_metadata(),
                                name="cropped [110]")
    dock.reset_choices()
    dock.points.value = cropped
    dock.run()
    qtbot.waitUntil(lambda: dock.runner.worker is None, timeout=120_000)
    assert not messages["error"], messages
    assert len(messages["warning"]) == 1 and "apart" in messages["warning"][0], messages["warning"]
    assert dock.notes.toPlainText().startswith("• warning: the views' own Pb totals")
    assert dock.status.text().startswith("Warning: the views' own totals disagree")


def test_joint_count_of_the_core_shell_views(make_napari_viewer, qtbot, messages):
    """The core-shell sample's three views fitted by sublattice, then counted from the dock with its defaults: it
    counts them together (finding three fitted views; the box was not touched), one Pb total per layer in all views
    (workflow.count_core_shell_views), within 3 % + 2 of the true 155, in every layer; unticked by the user, the
    chosen view is counted alone."""
    from napari_nxtomo.core.columns import min_distance_for
    from napari_nxtomo.core.multislice_sample import pbse_cdse_core_shell_multislice
    from napari_nxtomo.core.workflow import count_core_shell_views, count_table, find_and_fit

    viewer = make_napari_viewer(show=False)
    sample = pbse_cdse_core_shell_multislice(seed=0, dose=1e5)
    tables, layers = [], []
    for v in sample.views:
        md = v.layer_metadata()
        t = find_and_fit(v.image, v.pixel_size, min_distance_for(md)[0], zone_axis=md["zone_axis"],
                         lattice_parameter=md["lattice_parameter"], structure=md["structure"])
        tables.append(t)
        layers.append(viewer.add_points(t[["y", "x"]].to_numpy(), features=t, metadata=md, name=v.name))
    _, dock = viewer.window.add_plugin_dock_widget("napari-nxtomo", "2 Count atoms")
    dock.reset_choices()
    dock.points.value = layers[0]
    assert not dock.joint.value  # not ticked: Count ticks it, finding three fitted views
    dock.run()
    qtbot.waitUntil(lambda: dock.runner.worker is None, timeout=120_000)
    assert not messages["error"], messages
    assert dock.joint.value
    expected, info = count_core_shell_views(tables, [dict(ly.metadata) for ly in layers],
                                            names=[ly.name for ly in layers])
    for ly, exp in zip(layers, expected):
        np.testing.assert_array_equal(ly.features["count"], exp["count"])
        assert abs(int(ly.features["count"].sum()) - 155) <= 0.03 * 155 + 2, ly.name
    assert len(set(info["totals"])) == 1
    assert "counted together" in dock.status.text() and f"-> {info['totals']}" in dock.status.text()
    # the shell's Cd counted too (CdSe library), and the dock says so: the shown view's total against its truth
    shown = layers[0]
    true_cd = int(sample.views[0].columns["n_Cd"].sum())
    assert abs(int(shown.features["count_Cd"].sum()) - true_cd) <= 0.03 * true_cd + 2
    assert f"The shell's Cd: {int(shown.features['count_Cd'].sum())}" in dock.status.text()
    # the core's library in the fit's units, chosen in the dock: the counts are count_core_shell_views' with it
    dock.mixed_units.value = "fitted"
    dock.run()
    qtbot.waitUntil(lambda: dock.runner.worker is None, timeout=120_000)
    assert not messages["error"], messages
    fitted, _ = count_core_shell_views(tables, [dict(ly.metadata) for ly in layers], names=[ly.name for ly in layers],
                                       mixed_units="fitted")
    for ly, exp in zip(layers, fitted):
        np.testing.assert_array_equal(ly.features["count"], exp["count"])
    assert any(not np.array_equal(f["count"], e["count"]) for f, e in zip(fitted, expected))  # the choice counts
    dock.mixed_units.value = "cell"
    # unticked by the user, it stays so: the chosen view alone
    dock.joint.value = False
    dock.run()
    qtbot.waitUntil(lambda: dock.runner.worker is None, timeout=120_000)
    assert not dock.joint.value and "counted together" not in dock.status.text()
    alone, _ = count_table(tables[0], metadata=dict(shown.metadata))
    np.testing.assert_array_equal(shown.features["count"], alone["count"])


def test_a_joint_count_with_the_library_is_not_announced_as_the_mixture(make_napari_viewer, qtbot, messages):
    """Counted together with the shipped library, no view says it was 'counted with the free mixture' (the joint
    notes were passed as the mixture's reason: three such notifications per count)."""
    from napari_nxtomo.core.multislice_sample import pbse_cuboctahedron_multislice
    from napari_nxtomo.core.workflow import find_and_fit

    viewer = make_napari_viewer(show=False)
    sample = pbse_cuboctahedron_multislice(seed=0)
    for v in sample.views:
        t = find_and_fit(v.image, v.pixel_size, 1.4, zone_axis=v.geometry.zone_axis)
        viewer.add_points(t[["y", "x"]].to_numpy(), features=t, metadata=v.layer_metadata(), name=v.name)
    _, dock = viewer.window.add_plugin_dock_widget("napari-nxtomo", "2 Count atoms")
    dock.reset_choices()
    dock.run()
    qtbot.waitUntil(lambda: dock.runner.worker is None, timeout=120_000)
    assert dock.joint.value and "counted together" in dock.status.text()
    assert "untick 'all views jointly'" in dock.notes.toPlainText()
    assert not any("free mixture" in m for m in messages["info"]), messages["info"]
    counted = [ly for ly in viewer.layers if "counting" in ly.metadata]
    assert len(counted) == 3 and all("PbSe" in ly.metadata["counting"]["library"] for ly in counted)
