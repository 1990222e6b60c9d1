"""GUI: the four docks together fit a 1920×1080 screen and leave the canvas at least half the window's width."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def _settle(qtbot, n=20):
    from napari.qt import get_qapp

    for _ in range(n):
        get_qapp().processEvents()
    qtbot.wait(50)


def test_four_docks_fit_a_1080p_screen(make_napari_viewer, qtbot):
    from napari_nxtomo.cli import docked_session

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1920, 1080)
    docked_session(viewer)
    _settle(qtbot)
    window.resize(1920, 1080)
    _settle(qtbot)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1920 and hint.height() <= 1080, (hint.width(), hint.height())
    assert window.width() <= 1920 and window.height() <= 1080, (window.width(), window.height())
    canvas = viewer.window._qt_viewer.canvas.native
    assert canvas.width() >= window.width() / 2, (canvas.width(), window.width())
    # every dock's form fits its dock's width (a long layer name in a combo box once pushed the Fit dock's right
    # edge out of sight): the scroll area's content needs no more than its viewport
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QScrollArea

    for name, dock in viewer.window._dock_widgets.items():
        if "napari-nxtomo" not in name:
            continue
        dock.widget().show_tab() if hasattr(dock.widget(), "show_tab") else None
        _settle(qtbot)
        for scroll in dock.widget().findChildren(QScrollArea):
            if scroll.horizontalScrollBarPolicy() != Qt.ScrollBarAlwaysOff:
                continue  # it scrolls sideways: nothing is cut off
            need, have = scroll.widget().minimumSizeHint().width(), scroll.viewport().width()
            assert need <= have + 1, (name, need, have)


def test_defaults_follow_the_layers(make_napari_viewer, qtbot):
    """Fit: min distance from zone axis + lattice parameter (0.65 × 2.16 Å along rocksalt [110]), else 1.4 Å;
    Debye: starts on the newest reconstruction, completing Se with ≥ 4 Pb neighbours."""
    import numpy as np
    import pandas as pd

    viewer = make_napari_viewer(show=True)
    _, fit = viewer.window.add_plugin_dock_widget("napari-nxtomo", "1 Fit columns")
    _, debye = viewer.window.add_plugin_dock_widget("napari-nxtomo", "4 Debye scattering")
    viewer.add_image(np.zeros((8, 8)), name="plain")
    fit.reset_choices()
    fit.image.value = viewer.layers["plain"]
    assert fit.min_distance.value == 1.4 and "default" in fit.status.text()
    viewer.add_image(np.zeros((8, 8)), name="known", metadata={"zone_axis": (1, 1, 0), "lattice_parameter": 6.12})
    fit.reset_choices()
    fit.image.value = viewer.layers["known"]
    assert fit.min_distance.value == pytest.approx(0.65 * 6.12 / 8**0.5, abs=0.01)
    assert "metadata" in fit.status.text()

    assert debye.source.value != "3D points layer"
    feats = pd.DataFrame({"element": ["Pb", "Pb"], "certainty": [1.0, 0.5]})
    model = viewer.add_points(np.zeros((2, 3)), features=feats, name="Pb model")
    debye.reset_choices()
    assert debye.source.value == "3D points layer" and debye.layer.value is model
    assert debye.complete.value and debye.min_neighbours.value == 4


def test_colouring_by_an_integer_count_raises_no_napari_warning():
    """Issue 14: no warning of the plugin's own making reaches the user (napari's 'looks like categorical')."""
    import warnings

    from napari.layers import Points

    from napari_nxtomo._qt.layers import COUNT_CMAP, colour_by

    pts = Points(np.zeros((3, 2)), features={"count": np.array([1, 2, 5])})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        colour_by(pts, "count", COUNT_CMAP)
    assert [str(w.message) for w in caught] == []
    assert pts.face_color_mode == "colormap"
    assert tuple(pts.face_contrast_limits) == (1.0, 5.0)


#: warnings a user would see that the plugin's own calls cause (napari's and matplotlib's words for them)
PLUGIN_MADE = ("looks like categorical data", "constrained_layout not applied", "deprecated")


def _plugin_warnings(recorded) -> list:
    """The warnings attributed to the plugin's code (or the README's snippet), or naming what its calls cause."""
    return [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in recorded
            if "napari_nxtomo" in w.filename or w.filename == "README.md"
            or (any(m in str(w.message) for m in PLUGIN_MADE[:2]))]


def test_readme_scripted_session_snippet_runs_as_written(make_napari_viewer, monkeypatch, capsys, recwarn):
    """The README's scripted-session snippet, run as written (napari.run() aside): the sample's 315 Pb atoms
    reconstructed exactly in number, and Se completed around them within 5 % of the true 268, as the README says;
    no warning of the plugin's making on the way (deprecated napari calls, napari's categorical guess on the counts,
    matplotlib's layout in a hidden dock)."""
    import warnings

    warnings.simplefilter("always")
    import re
    from pathlib import Path

    import napari

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## A scripted napari session"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    viewer = make_napari_viewer(show=True)
    monkeypatch.setattr(napari, "Viewer", lambda *a, **k: viewer)
    monkeypatch.setattr(napari, "run", lambda *a, **k: None)
    exec(compile(code, "README.md", "exec"), {})
    line = capsys.readouterr().out.strip().splitlines()[-1]
    m = re.match(r"layer 'Pb model' \+ (\d+) Se", line)
    assert m and abs(int(m.group(1)) - 268) <= 0.05 * 268, line
    assert len(viewer.layers["Pb model"].data) == 315
    assert not _plugin_warnings(recwarn.list)
