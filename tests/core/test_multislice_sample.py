"""The bundled PbSe sample as abTEM multislice images, and the command line on them with no option a user would not know.

Truth: the particle's atoms (583, 315 Pb) stored with the images.  The command line is
run as a user runs it on the demo's TIFF images: ``fit`` → ``count`` (per view, and
``--joint``) → ``reconstruct``; the library, the dose and the zone axes come from the
images' metadata.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_nxtomo.cli.main import main
from napari_nxtomo.core.evaluation import best_fcc_translation, match_columns
from napari_nxtomo.core.multislice_sample import pbse_cuboctahedron_multislice
from napari_nxtomo.core.tables import read_points_csv, read_xyz, write_image_tiff, write_points_csv


def test_sample_images_are_counted_electrons_with_their_optics():
    """Poisson noise at the dose: mean and variance of the noisy image match the expected counts; metadata complete."""
    noisy = pbse_cuboctahedron_multislice(seed=3, dose=2e4)
    assert noisy.composition() == {"Pb": 315, "Se": 268}
    for view in noisy.views:
        md = view.layer_metadata()
        assert md["intensity_units"] == "detected electrons per pixel" and md["dose_e_per_A2"] == 2e4
        assert (md["energy_keV"], md["convergence_mrad"], md["detector_mrad"]) == (300.0, 22.0, [60.0, 140.0])
        assert int(view.columns["n_Pb"].sum()) == 315
        resid = view.image - view.expected
        assert abs(resid.mean()) < 3 * np.sqrt(view.expected.mean() / view.image.size)
        assert np.mean(resid**2) / view.expected.mean() == pytest.approx(1.0, rel=0.05)  # Poisson: var = mean
    with pytest.raises(ValueError, match="dose must be a positive"):
        pbse_cuboctahedron_multislice(dose=0)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """fit → count --joint → reconstruct on the sample's three TIFFs, every setting from the files."""
    folder = tmp_path_factory.mktemp("chain")
    sample = pbse_cuboctahedron_multislice(seed=0)
    images = []
    for view in sample.views:
        zone = "".join(map(str, view.geometry.zone_axis))
        images.append(write_image_tiff(folder / f"haadf_{zone}.tif", view.image, view.pixel_size,
                                       view.layer_metadata()))
    assert main(["fit", *map(str, images), "--out", str(folder), "--quiet"]) in (0, None)
    tables = [folder / f"{p.stem}_columns.csv" for p in images]
    assert main(["count", *map(str, tables), "--out", str(folder / "joint"), "--joint", "--quiet"]) in (0, None)
    counted = sorted((folder / "joint").glob("*_counts.csv"))
    assert main(["reconstruct", *map(str, counted), "--out", str(folder / "joint"), "--runs", "2",
                 "--quiet"]) in (0, None)
    return sample, folder


def test_joint_counts_of_the_sample_views(chain):
    """One Pb total within 3 % of 315; Pb counts of every view ≥ 0.93 exact (measured 0.951-0.965)."""
    sample, folder = chain
    totals = []
    for view in sample.views:
        zone = "".join(map(str, view.geometry.zone_axis))
        _, feats, md, _ = read_points_csv(folder / "joint" / f"haadf_{zone}_counts.csv")
        assert md["counting"]["joint"] and md["counting"]["library"].startswith("PbSe")
        idx, _ = match_columns(feats, view.columns)
        n_pb = view.columns["n_Pb"].to_numpy()[idx]
        heavy = feats["type"].str.contains("Pb").to_numpy()
        totals.append(int(feats["count"].to_numpy()[heavy].sum()))
        assert np.mean(feats["count"].to_numpy()[n_pb > 0] == n_pb[n_pb > 0]) >= 0.93, zone
    assert len(set(totals)) == 1 and abs(totals[0] - 315) <= 0.03 * 315


def test_joint_count_warns_when_a_view_sees_less_of_the_particle(chain, tmp_path, capsys):
    """``count --joint`` warns on stderr when the [110] table is cropped (its leftmost columns, holding 10 % of the
    Pb it counted, cut off), so that its total lies further from the other views' than miscounts explain; the
    counted tables are still written, the warning in their metadata."""
    sample, folder = chain
    capsys.readouterr()
    tables = [folder / f"haadf_{z}_columns.csv" for z in ("100", "010")]
    coords, feats, md, name = read_points_csv(folder / "haadf_110_columns.csv")
    _, counted, _, _ = read_points_csv(folder / "joint" / "haadf_110_counts.csv")
    order = np.argsort(feats["x"].to_numpy())
    heavy = np.where(counted["type"].str.contains("Pb"), counted["count"], 0).astype(float)
    cut = order[: int(np.searchsorted(np.cumsum(heavy[order]), 0.1 * heavy.sum())) + 1]
    keep = np.setdiff1d(np.arange(len(feats)), cut)
    tables.append(write_points_csv(tmp_path / "haadf_110_columns.csv", coords[keep],
                                   feats.iloc[keep].reset_index(drop=True), metadata=md, name=name))
    assert main(["count", *map(str, tables), "--out", str(tmp_path / "joint"), "--joint", "--quiet"]) in (0, None)
    err = capsys.readouterr().err
    assert "warning: the views' own Pb totals" in err and "apart" in err, err
    assert len(list((tmp_path / "joint").glob("*_counts.csv"))) == 3
    _, _, md, _ = read_points_csv(tmp_path / "joint" / "haadf_110_counts.csv")
    assert md["counting"]["warnings"] and "apart" in md["counting"]["warnings"][0]
    _, _, md, _ = read_points_csv(folder / "joint" / "haadf_110_counts.csv")
    assert md["counting"]["warnings"] == []  # the uncropped views agree: nothing to warn of


def test_reconstruction_from_the_command_line(chain):
    """The model of `reconstruct`: ≥ 95 % of the true Pb sites, ≥ 95 % of its atoms true (measured 100 %)."""
    sample, folder = chain
    positions, _, _, _ = read_xyz(folder / "joint" / "model.xyz")
    q = np.rint(np.asarray(positions, float) / (sample.lattice_parameter / 4)).astype(int)
    truth = sample.q[sample.elements == "Pb"]
    _, shared = best_fcc_translation(q, truth)
    assert shared >= 0.95 * len(truth) and shared >= 0.95 * len(q)
