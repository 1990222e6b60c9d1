"""Tables on disk: points CSV with metadata, extended XYZ; round trips and a peer reader (ASE)."""

import numpy as np
import pandas as pd
import pytest

from napari_nxtomo.core.tables import is_points_csv, read_points_csv, read_xyz, write_points_csv, write_xyz


def test_points_csv_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    coords = rng.uniform(0, 50, (40, 2))
    feats = pd.DataFrame({
        "volume": rng.uniform(0.1, 1, 40),
        "type": rng.choice(["Pb", "Se"], 40),
        "count": rng.integers(1, 12, 40),
    })
    md = {"zone_axis": (1, 1, 0), "pixel_size_A": 0.2, "arr": np.arange(3), "obj": object}
    path = write_points_csv(tmp_path / "cols.csv", coords, feats, metadata=md, name="PbSe [110] columns")
    assert is_points_csv(path)
    c, f, m, name = read_points_csv(path)
    np.testing.assert_allclose(c, coords, rtol=1e-9)
    pd.testing.assert_frame_equal(f, feats, check_exact=False, rtol=1e-9)
    assert m["zone_axis"] == [1, 1, 0] and m["arr"] == [0, 1, 2] and isinstance(m["obj"], str)
    assert name == "PbSe [110] columns"
    # plain CSV readers see the table
    assert list(pd.read_csv(path, comment="#").columns) == ["y", "x", "volume", "type", "count"]


def test_points_csv_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\(N, 2\) or \(N, 3\)"):
        write_points_csv(tmp_path / "a.csv", np.zeros((3, 4)))
    with pytest.raises(ValueError, match="rows of features"):
        write_points_csv(tmp_path / "a.csv", np.zeros((3, 2)), pd.DataFrame({"v": [1, 2]}))
    bad = tmp_path / "b.csv"
    bad.write_text("# napari-nxtomo points v1\na,b\n1,2\n")
    with pytest.raises(ValueError, match="coordinate column"):
        read_points_csv(bad)
    assert not is_points_csv(tmp_path / "missing.csv")


def test_xyz_round_trip_and_ase_reads_it(tmp_path):
    rng = np.random.default_rng(2)
    pos = rng.normal(0, 10, (25, 3))
    els = rng.choice(["Pb", "Se"], 25)
    cert = rng.uniform(0, 1, 25)
    runs = rng.integers(0, 10, 25)
    path = write_xyz(tmp_path / "m.xyz", pos, els, {"certainty": cert, "runs": runs},
                     info={"lattice_parameter": 6.12, "name": "PbSe core model"})
    p, e, props, info = read_xyz(path)
    np.testing.assert_allclose(p, pos, atol=1e-6)
    assert list(e) == list(els)
    np.testing.assert_allclose(props["certainty"], cert, rtol=1e-5)
    np.testing.assert_array_equal(props["runs"], runs)
    assert info["lattice_parameter"] == 6.12 and info["name"] == "PbSe core model"

    ase_io = pytest.importorskip("ase.io")
    atoms = ase_io.read(path, format="extxyz")
    np.testing.assert_allclose(atoms.positions, pos, atol=1e-6)
    assert list(atoms.get_chemical_symbols()) == list(els)
    np.testing.assert_allclose(atoms.arrays["certainty"], cert, rtol=1e-5)


def test_xyz_errors(tmp_path):
    bad = tmp_path / "bad.xyz"
    bad.write_text("five\n\nPb 0 0 0\n")
    with pytest.raises(ValueError, match="number of atoms"):
        read_xyz(bad)
    bad.write_text("3\n\nPb 0 0 0\n")
    with pytest.raises(ValueError, match="says 3 atoms"):
        read_xyz(bad)
    with pytest.raises(ValueError, match="one value per atom"):
        write_xyz(tmp_path / "x.xyz", np.zeros((2, 3)), ["Pb", "Pb"], {"c": [1.0]})
