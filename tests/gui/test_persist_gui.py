"""GUI: points layers saved through the plugin's writers open again with features, position and colours."""

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.gui


def test_columns_csv_round_trip(make_napari_viewer, tmp_path):
    from napari_nxtomo._qt.layers import COUNT_CMAP, colour_by, columns_kwargs

    viewer = make_napari_viewer(show=True)
    rng = np.random.default_rng(0)
    yx = rng.uniform(0, 40, (30, 2))
    feats = pd.DataFrame({"y": yx[:, 0], "x": yx[:, 1], "volume": rng.uniform(0.1, 1.0, 30),
                          "type": rng.choice(["Pb", "Se"], 30), "count": rng.integers(2, 9, 30)})
    layer = viewer.add_points(yx, **columns_kwargs(feats, "PbSe [110] columns", {"zone_axis": (1, 1, 0)}, (3.5, -2.0)))
    colour_by(layer, "count", COUNT_CMAP)
    path = tmp_path / "columns.csv"
    written = layer.save(str(path), plugin="napari-nxtomo")
    assert written and path.is_file()
    back = viewer.open(str(path), plugin="napari-nxtomo")[0]
    assert back.name.startswith("PbSe [110] columns")  # napari numbers a second layer of the same name
    np.testing.assert_allclose(back.data, layer.data, rtol=1e-9)
    np.testing.assert_allclose(back.translate, (3.5, -2.0))
    pd.testing.assert_frame_equal(back.features.reset_index(drop=True), feats, check_exact=False, rtol=1e-9,
                                  check_dtype=False, check_categorical=False)
    assert back.metadata["zone_axis"] == [1, 1, 0]
    np.testing.assert_allclose(back.face_color, layer.face_color, atol=1e-6)


def test_atom_model_xyz_round_trip(make_napari_viewer, tmp_path):
    from napari_nxtomo._qt.layers import atoms_kwargs

    viewer = make_napari_viewer(show=True)
    rng = np.random.default_rng(1)
    zyx = rng.normal(0, 8, (50, 3))
    feats = pd.DataFrame({"element": ["Pb"] * 50, "certainty": rng.uniform(0, 1, 50)})
    layer = viewer.add_points(zyx, **atoms_kwargs(feats, "reconstruction", {"lattice_parameter": 6.12}))
    path = tmp_path / "model.xyz"
    layer.save(str(path), plugin="napari-nxtomo")
    back = viewer.open(str(path), plugin="napari-nxtomo")[0]
    assert back.ndim == 3 and back.name.startswith("reconstruction")
    np.testing.assert_allclose(back.data, zyx, atol=1e-6)
    np.testing.assert_allclose(back.features["certainty"], feats["certainty"], rtol=1e-5)
    assert set(back.features["element"]) == {"Pb"}
    assert back.metadata["lattice_parameter"] == 6.12
    np.testing.assert_allclose(back.face_color, layer.face_color, atol=1e-3)
    np.testing.assert_allclose(back.size, 2 * 1.19)
    # a 2D layer cannot go to .xyz: a message, not a broken file
    flat = viewer.add_points(zyx[:, :2], name="flat")
    with pytest.raises(ValueError, match="3D points"):
        from napari_nxtomo._writer import write_points_xyz_layer

        write_points_xyz_layer(str(tmp_path / "flat.xyz"), flat.data, {"name": "flat"})
