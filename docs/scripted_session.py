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

from napari_nxtomo._qt.layers import camera
from napari_nxtomo.cli import docked_session


def main(screenshot=None, quit_after=False, sample="pbse_cuboctahedron"):
    viewer = napari.Viewer(title="napari-nxtomo: scripted session")
    viewer.window.resize(1920, 1080)
    fit, count, tomo, debye = docked_session(viewer, sample)   # sample + the four docks
    images = [ly for ly in viewer.layers]

    # 1: find and fit the columns of every image
    columns = []
    for image in images:
        fit.image.value = image
        fit.find()                                             # -> "<image> columns" points layer
        pts = viewer.layers[f"{image.name} columns"]
        fit.points.value = pts
        fit.fit()                                              # -> features y, x, volume, ...; model, residual
        fit.runner.wait()
        columns.append(pts)

    # 2: count them: with several fitted views the Count dock counts them together (one scale, one Pb total)
    count.reset_choices()
    count.points.value = columns[-1]
    count.run()                                                # -> feature "count" of every view, coloured by count
    count.runner.wait()
    for pts in columns:
        print(f"{pts.name}: {len(pts.data)} columns, Pb counts {pts.features['count'].min()}"
              f"-{pts.features['count'].max()}, total {pts.features['count'][pts.features['type'].str.contains('Pb')].sum()}")

    # 3: discrete tomography from the three counted layers
    tomo.reset_choices()
    tomo.layers.value = [ly for ly in tomo.layers.choices if ly.name in {c.name for c in columns}]
    tomo.run()
    tomo.runner.wait()
    if "Pb model" not in viewer.layers:                       # the dock said why (e.g. core-shell: issue 12)
        print(f"no 3D model: {tomo.status.text()}")
        _finish(viewer, tomo, None, screenshot, quit_after)
        return
    model = viewer.layers["Pb model"]                          # 3D points, feature "certainty"
    print(f"3D model: {len(model.data)} Pb atoms, certainty >= 0.9 for {tomo.result.certain_fraction(0.9):.1%}")

    # 4: Debye pattern of the reconstructed core: the dock starts on the newest model, Se completed
    #    around the Pb where a site has >= 4 of its 6 Pb neighbours (the defaults)
    debye.reset_choices()
    debye.compute()
    debye.runner.wait()
    print(f"Debye: {debye.status.text()}")
    _finish(viewer, tomo, model, screenshot, quit_after)


def _finish(viewer, tomo, model, screenshot, quit_after):
    """Show the model (or, without one, the images) beside the Reconstruct tab; screenshot; quit or run."""
    tomo.show_tab()                                            # bring the Reconstruct tab to the front
    if model is not None:
        for ly in viewer.layers:
            ly.visible = ly is model or ly.metadata.get("core_layer") == model.name  # the model (and its shell)
        viewer.dims.ndisplay = 3
    from napari.qt import get_qapp

    for _ in range(10):
        get_qapp().processEvents()
    viewer.reset_view()
    if model is not None:
        cam = camera(viewer)                                   # viewer.scene.camera (napari >= 0.9)
        cam.angles = (10, -30, 60)
        cam.zoom *= 0.8
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
    ap.add_argument("--sample", default="pbse_cuboctahedron", choices=["pbse_cuboctahedron", "pbse_cdse_core_shell"])
    args = ap.parse_args()
    main(args.screenshot, args.quit, args.sample)
