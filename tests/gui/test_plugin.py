"""The npe2 manifest reaches users: shipped in the package, valid, and its contributions listed."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import napari_nxtomo
import napari_nxtomo.core.tables

REPO = Path(__file__).resolve().parents[2]


def installed_manifest() -> Path:
    return Path(napari_nxtomo.__file__).with_name("napari.yaml")


def test_manifest_is_shipped_in_the_package_and_matches_the_repository():
    shipped = installed_manifest()
    assert shipped.is_file(), "napari.yaml is not inside the installed package"
    assert shipped.read_text() == (REPO / "napari.yaml").read_text()
    if os.environ.get("NXTOMO_WHEEL_INSTALL"):
        # scripts/test.sh installs the built wheel, not the source tree
        assert "site-packages" in str(shipped), shipped


def test_npe2_validates_and_lists_the_contributions():
    npe2 = shutil.which("npe2", path=str(Path(sys.executable).parent)) or shutil.which("npe2")
    res = subprocess.run([npe2, "validate", "napari-nxtomo"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "valid" in (res.stdout + res.stderr).lower()

    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    mf = pm.get_manifest("napari-nxtomo")
    readers = mf.contributions.readers
    assert readers and "*.dm4" in readers[0].filename_patterns and "*.emd" in readers[0].filename_patterns
    keys = {s.key for s in mf.contributions.sample_data}
    assert keys == {"pbse_cuboctahedron", "pbse_cdse_core_shell"}
    # every command resolves to a callable in the installed package
    for cmd in mf.contributions.commands:
        module, name = cmd.python_name.split(":")
        mod = __import__(module, fromlist=[name])
        assert callable(getattr(mod, name)), cmd.python_name
    # napari's own plugin listing sees it
    listing = subprocess.run([npe2, "list", "--fields", "name,contributions"], capture_output=True, text=True)
    assert "napari-nxtomo" in listing.stdout


def test_manifest_patterns_match_the_reader(tmp_path):
    from napari_nxtomo._reader import napari_get_reader
    from napari_nxtomo.core.tables import write_points_csv

    mf = yaml.safe_load((REPO / "napari.yaml").read_text())
    for pattern in mf["contributions"]["readers"][0]["filename_patterns"]:
        if pattern == "*.csv":
            continue
        assert callable(napari_get_reader("image" + pattern[1:])), pattern
    # CSV: only the plugin's own tables; any other CSV is left to napari's reader
    ours = write_points_csv(tmp_path / "cols.csv", np.zeros((2, 2)))
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    assert callable(napari_get_reader(str(ours)))
    assert napari_get_reader(str(other)) is None


def test_no_qt_binding_in_runtime_dependencies():
    from importlib.metadata import requires

    runtime = [r for r in requires("napari-nxtomo") if "extra ==" not in r]
    for qt in ("pyqt5", "pyqt6", "pyside2", "pyside6"):
        assert not any(r.lower().startswith(qt) for r in runtime), runtime


def test_demo_command_writes_images_that_read_back_with_their_calibration(tmp_path):
    exe = shutil.which("napari-nxtomo", path=str(Path(sys.executable).parent)) or shutil.which("napari-nxtomo")
    assert exe, "the napari-nxtomo command is not installed"
    res = subprocess.run([exe, "demo", "--out", str(tmp_path / "demo"), "--quiet"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    import json

    import pandas as pd

    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert set(summary["samples"]) == {"pbse_cuboctahedron", "pbse_cdse_core_shell"}
    sample = napari_nxtomo.pbse_cuboctahedron_multislice(seed=0)  # the demo's images: abTEM, 5e4 e/Å²
    folder = tmp_path / "demo" / "pbse_cuboctahedron"
    for view in sample.views:
        zone = "".join(str(v) for v in view.geometry.zone_axis)
        data, pixel, md = napari_nxtomo.load_image(folder / f"haadf_{zone}.tif")
        assert pixel == pytest.approx(0.2, rel=1e-5)
        assert data.shape == view.image.shape
        assert abs(data - view.image).max() < 1e-6 * view.image.max()
        cols = pd.read_csv(folder / f"true_columns_{zone}.csv")
        assert len(cols) == len(view.columns)
        assert (cols.n_Pb.to_numpy() == view.columns.n_Pb.to_numpy()).all()
    xyz = (folder / "true_model.xyz").read_text().splitlines()
    assert int(xyz[0]) == len(sample.q)
    assert (folder / "overview.png").stat().st_size > 10_000
    # the whole workflow on the PbSe sample, measured against its truth
    wf = summary["samples"]["pbse_cuboctahedron"]["workflow"]
    for im in wf["images"]:
        # multislice: peaks sit ~0.05 Å RMS off their atoms' mean (measured 0.047-0.052 Å)
        assert im["each_true_column_found_once"] and im["position_rms_A"] < 0.06
        # joint count with the shipped library, the dose from the metadata: measured 0.951-0.965; issue 17's
        # target is each image's counting ceiling (0.95-0.99 on these images, test_multislice) minus 0.03
        assert im["pb_counts_exact_fraction"] >= 0.93
    rec = wf["reconstruction"]
    assert rec["true_sites_recovered_fraction"] >= 0.95 and rec["model_atoms_that_are_true_fraction"] >= 0.95
    assert rec["connected"] and rec["holes"] == 0
    for name in ("columns_by_count", "count_histograms", "model_certainty", "reprojection", "debye_pattern"):
        assert (folder / f"{name}.png").stat().st_size > 10_000, name
    xyz, els, props, _ = napari_nxtomo.core.tables.read_xyz(folder / "model.xyz")
    assert len(xyz) == rec["model_atoms"] and "certainty" in props
    for zone in ("100", "010", "110"):
        _, feats, md, _ = napari_nxtomo.core.tables.read_points_csv(folder / f"columns_{zone}.csv")
        assert {"volume", "count", "type"} <= set(feats.columns)
    pattern = pd.read_csv(folder / "debye_pattern.csv", comment="#")
    assert pattern["intensity_model"].gt(0).all() and len(pattern) > 1000
    # the core-shell rod (issue 12's figures): Pb in >= 85 % of the Pb-bearing columns exact, in <= 5 % of the
    # others; the 3D core >= 90 % right both ways (measured 0.919-0.963 / 0-0.018 / 100 %, bench_core_shell.py)
    cs = summary["samples"]["pbse_cdse_core_shell"]["workflow"]
    for im in cs["images"]:
        assert im["each_true_column_found_once"], im["zone_axis"]
        assert im["pb_bearing_exact_fraction"] >= 0.85 and im["pb_placed_in_empty_fraction"] <= 0.05, im
    rec = cs["reconstruction"]
    assert rec["true_sites_recovered_fraction"] >= 0.90 and rec["model_atoms_that_are_true_fraction"] >= 0.90
    # its shell: the Cd counted and placed around the core, the whole cation sublattice >= 90 % right both ways
    for im in cs["images"]:
        assert im["cd_exact_fraction"] >= 0.90, im["zone_axis"]
    shell = cs["shell"]
    assert shell["cation_sites_recovered_fraction"] >= 0.90 and shell["model_cations_that_are_true_fraction"] >= 0.90
    xyz, els, props, _ = napari_nxtomo.core.tables.read_xyz(tmp_path / "demo" / "pbse_cdse_core_shell" / "model.xyz")
    assert sorted(set(els.tolist())) == ["Cd", "Pb"] and int((els == "Cd").sum()) == shell["model_Cd"]
