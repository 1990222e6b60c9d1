"""GUI tests: a real napari viewer (Xvfb on headless machines) opens the samples and the reader's files."""

import numpy as np
import pytest

pytestmark = pytest.mark.gui

SAMPLES = {  # name, elements, pixel size (Å) of the stored multislice images
    "pbse_cuboctahedron": ("PbSe cuboctahedron", {"Pb", "Se"}, 0.2),
    "pbse_cdse_core_shell": ("PbSe/CdSe core-shell rod", {"Pb", "Se", "Cd"}, 0.25),
}


def _settle(viewer):
    """Let the shown window take its size, then fit the view to the data."""
    from napari.qt import get_qapp

    for _ in range(5):
        get_qapp().processEvents()
    viewer.reset_view()
    get_qapp().processEvents()


def _screenshot_gray(viewer):
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot.ndim == 3 and shot.shape[2] == 4
    return shot[..., :3].astype(float).mean(axis=2)


@pytest.mark.parametrize("key", list(SAMPLES))
def test_open_sample_shows_three_calibrated_views(make_napari_viewer, key):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-nxtomo", key)
    name, _, pixel = SAMPLES[key]
    assert len(viewer.layers) == 3
    zones = []
    for layer in viewer.layers:
        assert layer.name.startswith(name)
        assert layer.data.ndim == 2
        np.testing.assert_allclose(layer.scale, (pixel, pixel))
        assert [str(u) for u in layer.units] == ["angstrom", "angstrom"]
        md = layer.metadata
        assert md["tilt_axis"] == (0, 0, 1)
        assert md["pixel_size_A"] == pixel
        zones.append(md["zone_axis"])
        assert f"[{''.join(map(str, md['zone_axis']))}]" in layer.name
    assert zones == [(1, 0, 0), (0, 1, 0), (1, 1, 0)]

    # the screenshot shows the image: bright columns on a dark background ...
    _settle(viewer)
    gray = _screenshot_gray(viewer)
    assert gray.std() > 8, "the canvas looks blank"
    bright = gray > gray.mean() + 2 * gray.std()
    assert 0.002 < bright.mean() < 0.3
    # ... and nothing once the layers are hidden
    for layer in viewer.layers:
        layer.visible = False
    assert _screenshot_gray(viewer).std() < 1.0


def test_reader_opens_a_microscope_file_in_the_viewer(make_napari_viewer, shared_data):
    viewer = make_napari_viewer(show=True)
    layers = viewer.open(str(shared_data / "formats" / "test_STEM_image.dm3"), plugin="napari-nxtomo")
    assert len(layers) == 1
    layer = layers[0]
    assert layer.data.shape == (68, 68)
    assert layer.scale[0] == pytest.approx(layer.metadata["pixel_size_A"])
    assert layer.metadata["calibrated"]
    _settle(viewer)
    assert _screenshot_gray(viewer).std() > 5


def test_stack_frame_follows_the_viewer_with_a_3d_layer_open(make_napari_viewer):
    """Issue 14: a 3-frame stack with a 3D model (Å) open set the world grid, and Find read frame 18 of 3
    (IndexError); the frame shown is now the stack's own, clipped to its frames."""
    from napari_nxtomo._qt.layers import image_array

    viewer = make_napari_viewer(show=False)
    stack = np.stack([np.full((20, 20), k, float) for k in range(3)])
    img = viewer.add_image(stack, scale=(1, 0.2, 0.2), name="stack")
    viewer.add_points(np.random.default_rng(0).uniform(0, 40, (50, 3)), name="model 3D")
    for z, frame in ((25.0, 2), (1.0, 1), (0.0, 0)):
        viewer.dims.set_point(0, z)
        assert image_array(img, viewer)[0][0, 0] == frame


def test_find_on_an_uncalibrated_image_says_so(make_napari_viewer, monkeypatch):
    """Issue 14: an image without a pixel size was silently taken as 1 Å/px; Find now says so and how to set it."""
    import napari_nxtomo._qt.notify as notify

    shown = []
    monkeypatch.setattr(notify, "show_info", shown.append)
    viewer = make_napari_viewer(show=False)
    yy, xx = np.mgrid[0:60, 0:60]
    image = sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 8.0) for y in (15, 30, 45) for x in (15, 30, 45))
    viewer.add_image(image, name="raw")
    _, fit = viewer.window.add_plugin_dock_widget("napari-nxtomo", "1 Fit columns")
    fit.image.value = viewer.layers["raw"]
    fit.min_distance.value = 5.0
    fit.find()
    assert "carries no pixel size" in fit.status.text() and any("carries no pixel size" in m for m in shown)
    # the dock's pixel-size box calibrates the layer
    assert fit.pixel_size.value == 1.0
    fit.pixel_size.value = 0.2
    assert tuple(viewer.layers["raw"].scale) == (0.2, 0.2) and viewer.layers["raw"].metadata["pixel_size_A"] == 0.2
    cal = viewer.add_image(image, name="cal", scale=(0.2, 0.2))
    fit.image.value = cal
    fit.min_distance.value = 1.0
    assert fit.pixel_size.value == pytest.approx(0.2)
    fit.find()
    assert "carries no pixel size" not in fit.status.text()
