"""GUI: the 'Fit columns' and 'Count atoms' docks in a real viewer, on the PbSe sample, against the truth."""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from napari_nxtomo.core.samples import pbse_cuboctahedron

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def truth():
    """The Gaussian generator's PbSe cuboctahedron (its cross-sections and noise model are known exactly; the
    File > Open Sample images are multislice ones, tested in test_widgets_tomo)."""
    return pbse_cuboctahedron()


def _docks(viewer):
    _, fit = viewer.window.add_plugin_dock_widget("napari-nxtomo", "1 Fit columns")
    _, count = viewer.window.add_plugin_dock_widget("napari-nxtomo", "2 Count atoms")
    return fit, count


def _wait(qtbot, widget, timeout=120_000):
    qtbot.waitUntil(lambda: widget.runner.worker is None, timeout=timeout)


def _match(points_layer, view):
    """Index of the true column nearest each fitted column, and the distances (Å)."""
    feats = points_layer.features
    fitted = feats[["y", "x"]].to_numpy()
    d, idx = cKDTree(view.columns[["y", "x"]].to_numpy()).query(fitted)
    return idx, d


@pytest.mark.parametrize("k, expect_types", [(2, {"Pb", "Se"}), (0, {"Pb+Se"})])
def test_fit_and_count_sample_view(make_napari_viewer, qtbot, truth, errors, k, expect_types):
    """[110]: Pb and Se columns by parity; [100]: mixed columns. Pb counts ≥ 95 % exact (one noise realisation, 5e4 e/Å²)."""
    viewer = make_napari_viewer(show=True)
    from napari_nxtomo._sample_data import particle_layers

    for data, kwargs, _ in particle_layers(truth):
        viewer.add_image(data, **kwargs)
    fit, count = _docks(viewer)
    image = viewer.layers[k]
    view = truth.views[k]
    np.testing.assert_array_equal(image.data, view.image)

    fit.image.value = image
    fit.min_distance.value = 1.4
    fit.find()
    pts = viewer.layers[f"{image.name} columns"]
    assert len(pts.data) == len(view.columns)

    # the user deletes one column and adds it back by hand, 0.3 Å off: the fit puts it right
    data = np.asarray(pts.data)
    moved = data[10] + [0.3, -0.2]
    pts.data = np.vstack([np.delete(data, 10, axis=0), moved])
    fit.points.value = pts
    fit.fit()
    _wait(qtbot, fit)
    assert not errors, errors

    feats = pts.features
    for col in ("y", "x", "volume", "height", "width", "type", "y_err", "x_err", "volume_err"):
        assert col in feats, col
    assert set(feats["type"]) == expect_types
    idx, d = _match(pts, view)
    assert len(np.unique(idx)) == len(view.columns)  # every column, none twice
    assert np.sqrt(np.mean(d**2)) < 0.05, "positions off the truth (Å)"
    # points sit on the image's columns in world coordinates too
    world = np.asarray(pts.data) * pts.scale + pts.translate
    np.testing.assert_allclose(world, feats[["y", "x"]].to_numpy() + image.translate, atol=1e-9)
    if k == 2:
        assert np.all(feats["type"].to_numpy() == view.columns["type"].to_numpy()[idx])
    # cross-sections: relative to the generator's, within a few %
    rel = feats["volume"].to_numpy() / view.columns["cross_section"].to_numpy()[idx] - 1
    assert np.median(np.abs(rel)) < 0.02
    model = viewer.layers[f"{image.name} model"]
    residual = viewer.layers[f"{image.name} residual"]
    np.testing.assert_allclose(model.scale, image.scale)
    np.testing.assert_allclose(residual.data, image.data - model.data)
    # residual at the noise level: Poisson, variance = model / (dose · pixel area)
    pixel_var = model.data / (view.dose * view.pixel_size**2)
    assert 0.9 < np.mean(residual.data**2) / np.mean(pixel_var) < 1.1

    count.points.value = pts
    count.feature.value = "volume"
    count.run()
    _wait(qtbot, count)
    assert not errors, errors
    feats = pts.features
    assert "count" in feats and "count_probability" in feats
    pb = feats["type"].isin(["Pb", "Pb+Se"]).to_numpy()
    true_pb = view.columns["n_Pb"].to_numpy()[idx]
    frac = np.mean(feats["count"].to_numpy()[pb] == true_pb[pb])
    print(f"view {k}: {pb.sum()} Pb columns, counts exact {frac:.3f}")
    assert frac >= 0.95
    if k == 2:  # Se's lowest count (2 here) inferred from its Pb neighbours: counts right by default
        se = (feats["type"] == "Se").to_numpy()
        true_se = view.columns["n_Se"].to_numpy()[idx]
        assert np.mean(feats["count"].to_numpy()[se] == true_se[se]) >= 0.9
        assert any("Se 2 inferred from the neighbouring columns" in n for n in count.result.notes)
    # colour by count, legend drawn in the dock, ICL curve with its minimum
    colours = np.asarray(pts.face_color)
    c = feats["count"].to_numpy()
    assert not np.allclose(colours[c == c.min()][0], colours[c == c.max()][0])
    axes = count.figure.axes
    assert any(a.get_ylabel() == "count (points colour)" for a in axes)
    icl_ax = [a for a in axes if a.get_ylabel() == "ICL"][0]
    assert len(icl_ax.lines) >= 2
    # the star marks the K each type's counting chose (with the fit's errors not always the ICL's minimum)
    res = count.result
    chosen = sorted(int(r.n_components_icl) for r in (res.by_type.values() if res.by_type else [res]))
    stars = sorted(int(ln.get_xdata()[0]) for ln in icl_ax.lines if ln.get_marker() == "*" and len(ln.get_xdata()))
    assert stars == chosen
    # the counting's notes are listed in the dock's notes box, one per line
    assert count.notes.toPlainText().splitlines() == [f"• {n}" for n in count.result.notes]


def test_lowest_count_per_type_box(make_napari_viewer, qtbot, errors):
    """The box takes 'auto', one number or one per type; a count given for Se reaches Se's counting only, checked
    against the truth of columns drawn at known counts; bad text and unknown types are told, not raised."""
    from napari_nxtomo.core.workflow import parse_lowest_count as lowest_counts

    assert lowest_counts("auto") is None and lowest_counts(" 2 ") == 2
    assert lowest_counts("Pb=1, Se=2") == {"Pb": 1, "Se": 2} and lowest_counts("Se=0") is None
    viewer = make_napari_viewer(show=False)
    _, count = _docks(viewer)
    rng = np.random.default_rng(1)
    true = np.concatenate([np.repeat(np.arange(1, 6), 25), np.repeat(np.arange(3, 8), 25)])
    types = np.repeat(["Pb", "Se"], 125)
    per_atom = np.where(types == "Pb", 1.0, 0.4)
    vol = true * per_atom + 0.02 * rng.standard_normal(true.size)
    pts = viewer.add_points(rng.uniform(0, 100, (true.size, 2)), name="cols",
                            features=pd.DataFrame({"volume": vol, "type": types}))
    count.reset_choices()
    count.points.value = pts
    count.library.value = "none"
    count.lowest.value = "Pb=1, Se=3"
    count.run()
    _wait(qtbot, count)
    assert not errors, errors
    np.testing.assert_array_equal(pts.features["count"].to_numpy(), true)
    for text, said in [("Se=two", "lowest count 'Se=two'"), ("Cd=2", "no column type 'Cd'")]:
        count.lowest.value = text
        count.run()
        assert said in errors[-1]
    assert count.runner.worker is None


def test_bad_input_gives_messages_not_tracebacks(make_napari_viewer, qtbot, errors):
    viewer = make_napari_viewer(show=True)
    fit, count = _docks(viewer)
    fit.find()  # no image
    assert "open an image" in errors[-1]

    img = np.zeros((64, 64))
    img[10, 10] = np.nan
    viewer.add_image(img, name="nan image", scale=(0.2, 0.2))
    fit.image.value = viewer.layers["nan image"]
    fit.find()
    assert "NaN" in errors[-1] or "finite" in errors[-1]
    assert "nan image" in viewer.layers  # nothing lost

    viewer.add_image(np.ones((64, 64)), name="flat", scale=(0.2, 0.2))
    fit.image.value = viewer.layers["flat"]
    fit.find()
    assert "constant" in errors[-1]

    viewer.add_image(np.random.default_rng(0).random((32, 32, 3)), name="rgb", rgb=True)
    fit.image.value = viewer.layers["rgb"]
    fit.find()
    assert "RGB" in errors[-1]

    empty = viewer.add_points(np.zeros((0, 2)), name="nothing")
    fit.image.value = viewer.layers["flat"]
    fit.points.value = empty
    fit.fit()
    assert "empty" in errors[-1]

    # fewer columns than forced mixture components: message from the worker, features untouched
    pts = viewer.add_points(np.array([[1.0, 1.0], [2.0, 3.0], [5.0, 5.0]]), name="three",
                            features=pd.DataFrame({"volume": [1.0, 2.0, 3.0]}))
    count.points.value = pts
    count.feature.value = "volume"
    count.n_components.value = 5
    count.run()
    _wait(qtbot, count)
    assert "component" in errors[-1]
    assert list(pts.features.columns) == ["volume"]


def test_fit_can_be_cancelled_and_keeps_the_points(make_napari_viewer, qtbot, truth, errors, monkeypatch):
    """Cancel right after starting a fit of a 4 × 4 mosaic of the [110] image: nothing changes."""
    import napari_nxtomo._qt.notify as notify

    infos = []
    monkeypatch.setattr(notify, "show_info", infos.append)
    viewer = make_napari_viewer(show=True)
    fit, _ = _docks(viewer)
    view = truth.views[2]
    viewer.add_image(np.tile(view.image, (4, 4)), name="mosaic", scale=(0.2, 0.2))
    fit.image.value = viewer.layers["mosaic"]
    fit.min_distance.value = 1.4
    fit.find()
    pts = viewer.layers["mosaic columns"]
    before = np.array(pts.data)
    assert len(before) > 3000
    fit.points.value = pts
    fit.fit()
    assert fit.runner.busy and fit.runner.cancel_button.isEnabled()
    # while it runs the dock's buttons are disabled (a second press cannot be lost)
    assert not fit.fit_button.native.isEnabled() and not fit.find_button.native.isEnabled()
    fit.runner.cancel()
    _wait(qtbot, fit)
    assert not errors, errors
    assert any("cancelled" in m for m in infos)
    assert "cancelled" in fit.status.text() and "Fitting" not in fit.status.text()
    assert fit.fit_button.native.isEnabled() and fit.find_button.native.isEnabled()
    np.testing.assert_array_equal(pts.data, before)
    assert "volume" not in pts.features
    assert "mosaic model" not in viewer.layers


def test_a_failed_task_replaces_the_status_and_frees_the_buttons(make_napari_viewer, qtbot, errors):
    """A task that raises: the user is told why, the status line says it failed, the buttons work again."""
    viewer = make_napari_viewer(show=True)
    fit, _ = _docks(viewer)
    fit.status.setText("Fitting 3 columns ...")

    def job(progress, cancel):
        raise ValueError("columns closer than 2.5 Å")

    fit.start(job, lambda result: None, "column fit")
    assert not fit.fit_button.native.isEnabled()
    _wait(qtbot, fit)
    assert errors and "columns closer than 2.5 Å" in errors[-1]
    assert fit.status.text() == "column fit failed: columns closer than 2.5 Å"
    assert fit.fit_button.native.isEnabled() and fit.find_button.native.isEnabled()


def test_fitted_features_follow_merged_and_left_out_starts():
    """Issue 15, item 3: a start the fit merges into another (0.3 Å apart) and one in the empty space that holds
    no column are dropped from the points layer's features with their rows: every remaining feature row is the
    one of its own column."""
    import warnings

    from napari_nxtomo._qt.layers import fitted_features
    from napari_nxtomo.core.fitting import fit_columns
    from napari_nxtomo.core.simulate import render_gaussians

    p = 0.2
    truth = np.array([[3.0, 3.0], [3.0, 6.0], [6.0, 3.0], [6.0, 6.0]])
    img = 0.01 + render_gaussians(50, 50, truth[:, 0] / p, truth[:, 1] / p, np.full(4, 2.0 / p**2), np.full(4, 2.0))
    start = np.vstack([truth, [3.0, 3.3], [8.5, 8.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = fit_columns(img, p, start)
    assert table.attrs["merged_starts"] == [4] and table.attrs["left_out_starts"] == [5]
    out = fitted_features(table, pd.DataFrame({"note": ["a", "b", "c", "d", "dup", "empty"]}))
    assert out["note"].tolist() == ["a", "b", "c", "d"]
    np.testing.assert_allclose(out[["y", "x"]].to_numpy(), truth, atol=1e-3)
