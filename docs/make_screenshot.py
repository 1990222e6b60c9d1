"""Make docs/screenshot.png: the PbSe sample's three views in napari (run under Xvfb on a headless machine).

    xvfb-run -a python docs/make_screenshot.py
"""

from pathlib import Path

import napari


def main(out=Path(__file__).with_name("screenshot.png")):
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1500, 800)
    viewer.open_sample("napari-nxtomo", "pbse_cuboctahedron")
    for layer in viewer.layers:
        layer.visible = True
    viewer.grid.enabled = True
    viewer.grid.shape = (1, 3)
    viewer.scale_bar.visible = True
    from napari.qt import get_qapp

    for _ in range(5):  # let the window take its size before fitting the view
        get_qapp().processEvents()
    viewer.reset_view()
    # close start-up toasts (e.g. napari's note on the Qt backend) so they do not cover the picture
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
    for _ in range(5):
        get_qapp().processEvents()
    viewer.screenshot(str(out), canvas_only=False, flash=False)
    viewer.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
