"""A scripted napari session: the four steps of napari-nxtomo driven from Python on a viewer.

    python docs/scripted_session.py                 # opens napari, runs, leaves the window open
    xvfb-run -a -s "-screen 0 1920x1080x24" python docs/scripted_session.py --screenshot docs/docked_session.png --quit

Every step is the dock a user would click, run from Python: the layers and
features it leaves are the same.  Replace the sample by your own images with
``viewer.open("particle_100.dm4")`` (one image per zone axis; give each layer's
``metadata["zone_axis"]`` if the file does not carry it).
"""

import argparse

import napari

from napari_nxtomo.cli import docked_session


def main(screenshot=None, quit_after=False):
    viewer = napari.Viewer(title="napari-nxtomo: scripted session")
    viewer.window.resize(1920, 1080)
    fit, count, tomo, debye = docked_session(viewer)           # sample + the four docks
    images = [ly for ly in viewer.layers]

    # 1 + 2: find and fit the columns of every image, then count them
    columns = []
    for image in images:
        fit.image.value = image
        fit.find()                                             # -> "<image> columns" points layer
        pts = viewer.layers[f"{image.name} columns"]
        fit.points.value = pts
        fit.fit()                                              # -> features y, x, volume, ...; model, residual
        fit.runner.wait()
        count.points.value = pts
        count.run()                                            # -> feature "count", coloured by count
        count.runner.wait()
        columns.append(pts)
        print(f"{image.name}: {len(pts.data)} columns, Pb counts {pts.features['count'].min()}"
              f"-{pts.features['count'].max()}")

    # 3: discrete tomography from the three counted layers
    tomo.reset_choices()
    tomo.layers.value = [ly for ly in tomo.layers.choices if ly.name in {c.name for c in columns}]
    tomo.run()
    tomo.runner.wait()
    model = viewer.layers["Pb model"]                          # 3D points, feature "certainty"
    print(f"3D model: {len(model.data)} Pb atoms, certainty >= 0.9 for {tomo.result.certain_fraction(0.9):.1%}")

    # 4: Debye pattern of the reconstructed core: the dock starts on the newest model, Se completed
    #    around the Pb where a site has >= 4 of its 6 Pb neighbours (the defaults)
    debye.reset_choices()
    debye.compute()
    debye.runner.wait()
    print(f"Debye: {debye.status.text()}")

    tomo.show_tab()                                            # bring the Reconstruct tab to the front
    for ly in viewer.layers:
        ly.visible = False
    model.visible = True
    viewer.dims.ndisplay = 3
    from napari.qt import get_qapp

    for _ in range(10):
        get_qapp().processEvents()
    viewer.reset_view()
    viewer.camera.angles = (10, -30, 60)
    viewer.camera.zoom *= 0.8
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
    for _ in range(10):
        get_qapp().processEvents()
    if screenshot:
        viewer.screenshot(screenshot, canvas_only=False, flash=False)
        print(f"wrote {screenshot}")
    if quit_after:
        viewer.close()
    else:
        napari.run()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--screenshot", default=None)
    ap.add_argument("--quit", action="store_true")
    args = ap.parse_args()
    main(args.screenshot, args.quit)
