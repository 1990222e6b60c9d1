"""Make docs/real_particles.png: a real image (StatSTEM's Pt/Ir particle) with its particle region and columns.

The Fit dock's particles step at 1920×1080 (run under Xvfb on a headless machine; needs ../shared/data/real/):

    xvfb-run -a -s "-screen 0 1920x1080x24" python docs/make_particles_screenshot.py
"""

from pathlib import Path

import napari
import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "statstem_ptir.npz"


def main(out=Path(__file__).with_name("real_particles.png"), data=DATA):
    from napari.qt import get_qapp

    d = np.load(data)
    p = float(d["pixel_size"])
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.showMaximized()
    viewer.window.resize(1920, 1080)
    image = viewer.add_image(d["image"], name="Pt-Ir", scale=(p, p), colormap="gray",
                             metadata={"pixel_size_A": p, "zone_axis": (1, 1, 0), "lattice_parameter": 3.92,
                                       "structure": "fcc"})
    _, fit = viewer.window.add_plugin_dock_widget("napari-nxtomo", "1 Fit columns")
    fit.image.value = image
    for step in (fit.particles.segment, fit.particles.find):
        step()
        while fit.runner.worker is not None:
            get_qapp().processEvents()
    viewer.layers[f"{image.name} columns"].size = 0.6
    viewer.scale_bar.visible = True
    viewer.scale_bar.unit = "angstrom"
    for _ in range(10):
        get_qapp().processEvents()
    viewer.reset_view()
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
    for _ in range(10):
        get_qapp().processEvents()
    viewer.screenshot(str(out), canvas_only=False, flash=False)
    print(fit.status.text())
    viewer.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
