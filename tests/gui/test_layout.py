"""GUI: the four docks together fit a 1920×1080 screen and leave the canvas at least half the window's width."""

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
