"""GUI: the Count dock counts StatSTEM's Pt/Ir columns with StatSTEM's library, given as a CSV a user writes.

../shared/data/real/statstem_ptir.npz holds the image, StatSTEM's fit and its simulated library (no ground truth:
StatSTEM's library counts, the library value nearest to each of StatSTEM's cross-sections, are the peer's truth).
"""

import warnings

import numpy as np
import pytest
from scipy.spatial import cKDTree

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def ptir(statstem_ptir):
    """StatSTEM's example (tests/conftest.py) with the plugin's least-squares and default fits of its columns."""
    from napari_nxtomo import find_columns, fit_columns

    img, p = statstem_ptir["image"], statstem_ptir["pixel_size"]
    found = find_columns(img, p, min_distance=1.6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # starts left out or merged
        fits = {w: fit_columns(img, p, found, weighting=w) for w in ("uniform", "noise")}
    return {**statstem_ptir, "fits": fits}


def _library_csv(ptir, path):
    """StatSTEM's library as a user writes it: a text table with a header of their own words, tab separated."""
    counts, values = ptir["library"]
    path.write_text("N atoms\tSCS (A^2)\n" + "".join(f"{int(c)}\t{v:.6g}\n" for c, v in zip(counts, values)),
                    encoding="utf-8")
    return path


def _count_layer(viewer, qtbot, dock, ptir, weighting, path, assignment):
    """A points layer of the fit as the Fit dock leaves it (features, the fit's settings in the metadata), counted
    with the library file and the assignment chosen in the dock."""
    from napari_nxtomo.core.workflow.counts import FIT_SETTINGS

    table = ptir["fits"][weighting]
    metadata = {"pixel_size_A": ptir["pixel_size"], **{k: table.attrs[k] for k in FIT_SETTINGS}}
    pts = viewer.add_points(table[["y", "x"]].to_numpy(), features=table.copy(), metadata=metadata,
                            name=f"{weighting} columns")
    dock.reset_choices()
    dock.points.value = pts
    dock.feature.value = "volume"
    dock.library.value = "file"
    dock.library_panel.file.value = path
    dock.assignment.value = assignment
    dock.run()
    qtbot.waitUntil(lambda: dock.runner.worker is None, timeout=60_000)
    return table, pts


def test_count_dock_with_statstem_library_file(make_napari_viewer, qtbot, notifications, ptir, tmp_path):
    path = _library_csv(ptir, tmp_path / "PtIr library.txt")
    viewer = make_napari_viewer(show=False)
    _, dock = viewer.window.add_plugin_dock_widget("napari-nxtomo", "2 Count atoms")
    assert dock.assignment.value == "likelihood"
    assert "*.txt" in dock.library_panel.file.filter and "*.csv" in dock.library_panel.file.filter
    # the least-squares fit (StatSTEM's estimator) counted with StatSTEM's rule: >= 95 % of its library counts
    table, pts = _count_layer(viewer, qtbot, dock, ptir, "uniform", path, "nearest")
    assert not notifications["error"], notifications
    d, idx = cKDTree(table[["y", "x"]].to_numpy()).query(ptir["peer_yx"])
    matched = d < 0.5
    assert matched.sum() >= 137
    agree = np.mean(pts.features["count"].to_numpy()[idx[matched]] == ptir["peer_counts"][matched])
    assert agree >= 0.95, agree
    assert "weighting='uniform'" not in dock.notes.toPlainText()
    assert pts.metadata["counting"]["library"].startswith("count → cross-section table (20 counts)")
    # the default (noise-weighted) fit counted with that plain library: the notes box says to refit
    _count_layer(viewer, qtbot, dock, ptir, "noise", path, "likelihood")
    assert not notifications["error"], notifications
    assert "refit with weighting='uniform'" in dock.notes.toPlainText()


def test_fit_dock_least_squares_then_count_with_the_library(make_napari_viewer, qtbot, notifications, ptir, tmp_path):
    """The StatSTEM-like fit done from the Fit dock (uniform least squares, flat background), then counted in the
    Count dock with StatSTEM's library and rule: the fit is the core's, and >= 95 % agree with StatSTEM."""
    from napari_nxtomo import find_columns

    p = ptir["pixel_size"]
    viewer = make_napari_viewer(show=False)
    image = viewer.add_image(ptir["image"], scale=(p, p), name="PtIr", metadata={"pixel_size_A": p})
    pts = viewer.add_points(find_columns(ptir["image"], p, min_distance=1.6), name="PtIr columns")
    _, fit = viewer.window.add_plugin_dock_widget("napari-nxtomo", "1 Fit columns")
    fit.reset_choices()
    fit.image.value, fit.points.value = image, pts
    fit.types.value = "one type"
    assert fit.weighting.value == "noise" and fit.background.value == 0  # the defaults
    fit.weighting.value = "uniform"
    fit.fit()
    qtbot.waitUntil(lambda: fit.runner.worker is None, timeout=60_000)
    assert not notifications["error"], notifications
    core = ptir["fits"]["uniform"]
    np.testing.assert_allclose(pts.features["volume"], core["volume"], rtol=1e-6)
    assert pts.metadata["weighting"] == "uniform"
    _, dock = viewer.window.add_plugin_dock_widget("napari-nxtomo", "2 Count atoms")
    dock.reset_choices()
    dock.points.value = pts
    dock.feature.value = "volume"
    dock.library.value = "file"
    dock.library_panel.file.value = _library_csv(ptir, tmp_path / "PtIr library.csv")
    dock.assignment.value = "nearest"
    dock.run()
    qtbot.waitUntil(lambda: dock.runner.worker is None, timeout=60_000)
    d, idx = cKDTree(pts.features[["y", "x"]].to_numpy()).query(ptir["peer_yx"])
    matched = d < 0.5
    agree = np.mean(pts.features["count"].to_numpy()[idx[matched]] == ptir["peer_counts"][matched])
    assert agree >= 0.95, agree
    assert "weighting='uniform'" not in dock.notes.toPlainText()
