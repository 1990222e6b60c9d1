"""Issue 15, item 6: inputs that contradict each other are refused or warned about, with the numbers.

The element against the tables' column types; the lattice parameter against the
measured column spacing of each view; a gross re-projection mismatch; unknown
keys of per-element options; reciprocal-space images in ``fit``; a distance
option on an uncalibrated image.
"""

import warnings

import numpy as np
import pytest

from napari_nxtomo.cli.main import main
from napari_nxtomo.core.groundtruth import counted_tables_from_truth
from napari_nxtomo.core.samples import pbse_cuboctahedron
from napari_nxtomo.core.tomography import reconstruct
from napari_nxtomo.core.workflow import projections_from_tables


@pytest.fixture(scope="module")
def truth_tables():
    """The small cuboctahedron's counted tables from the truth ([100], [010], [110]; 55 Pb atoms)."""
    particle = pbse_cuboctahedron(noise=False, n_half=2)
    return counted_tables_from_truth(particle), int(np.sum(particle.elements == "Pb"))


def test_element_that_the_tables_do_not_count_is_refused(truth_tables):
    """--element Se on tables whose [100] columns are Pb+Se (the count is of Pb) would relabel the Pb counts as
    Se; Xx is no element. Both refused, naming the types and how many columns each has; Pb is used."""
    tables, _ = truth_tables
    types = tables[0][1]["type"].value_counts()
    with pytest.raises(ValueError) as exc:
        projections_from_tables(tables, element="Se")
    msg = str(exc.value)
    assert msg.startswith("table 1 counts no Se: its columns are ")
    assert f"{types['Pb']} of type Pb, {types['Pb+Se']} of type Pb+Se" in msg
    assert "count is of the first element of its type (Pb); reconstruct Pb" in msg
    with pytest.raises(ValueError, match=r"'Xx' is not an element symbol"):
        projections_from_tables(tables, element="Xx")
    projections, kept = projections_from_tables(tables, element="Pb")
    assert [int(p.counts.sum()) for p in projections] == [int(t[1]["count"].sum()) for t in tables]


def test_lattice_parameter_contradicted_by_the_column_spacing_is_refused(truth_tables):
    """a = 5.0 Å for PbSe (6.12 Å): the [100] Pb columns would be 2.50 Å apart, they are 3.06 Å apart: refused
    with both numbers and the lattice parameter the spacing suggests; 6.12 Å reconstructs the 55 atoms."""
    tables, n_pb = truth_tables
    projections, _ = projections_from_tables(tables)
    with pytest.raises(ValueError) as exc:
        reconstruct(projections, 5.0, n_runs=1, method="exact")
    msg = str(exc.value)
    assert "the lattice parameter 5 Å puts the [100] columns of table 1 2.500 Å apart" in msg
    assert "measured 3.060 Å apart (median nearest neighbour of 25 columns; ratio 1.224" in msg
    assert "this spacing suggests 6.12 Å" in msg
    res = reconstruct(projections, 6.12, n_runs=1, method="exact")
    assert res.n_atoms == n_pb and res.count_mismatch == 0


def test_gross_reprojection_mismatch_is_warned_with_the_numbers(truth_tables):
    """10⁴ atoms added to one column of each view (the totals still agree): the model cannot meet them; the
    warning (and a note) gives the mismatch, its share of the counted atoms and the worst column of each view."""
    tables, n_pb = truth_tables
    projections, _ = projections_from_tables(tables)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the true counts: no warning
        assert reconstruct(projections, 6.12, n_runs=1, method="exact").count_mismatch == 0
    for p in projections:
        c = p.counts.copy()
        c[len(c) // 2] += 10_000
        p.counts = c
    with pytest.warns(UserWarning, match="re-projection misses the measured counts") as record:
        res = reconstruct(projections, 6.12, n_runs=1, method="exact")
    msg = str(record[0].message)
    measured = sum(int(p.counts.sum()) for p in projections)
    assert res.count_mismatch >= 3 * 10_000 - 3 * 14  # no column of this particle holds more than 14 Pb
    assert f"by {res.count_mismatch} atoms in all, {res.count_mismatch / measured:.0%} of the {measured} counted" in msg
    for k, p in enumerate(projections):
        assert f"table {k + 1}: measured {int(p.counts.max())}," in msg
    assert msg in res.notes


def test_unknown_keys_of_per_element_options_are_refused():
    """b_iso={"Xx": 1} was ignored (B = 0 used); now refused. A B for an element the model lacks is warned about
    and unused: the pattern is the one of the model's own B."""
    from napari_nxtomo.core.debye import debye_intensity

    pos = np.array([[0, 0, 0], [3.06, 3.06, 0], [3.06, 0, 3.06], [0, 3.06, 3.06]])
    els = ["Pb"] * 4
    q = np.linspace(1.0, 5.0, 9)
    with pytest.raises(ValueError, match=r"b_iso names \['Xx'\], which is not element symbols? .*holds \['Pb'\]"):
        debye_intensity(pos, els, q, b_iso={"Xx": 1.0})
    with pytest.warns(UserWarning, match=r"b_iso gives values for \['Se'\], which the model does not hold"):
        both = debye_intensity(pos, els, q, b_iso={"Pb": 1.2, "Se": 0.9})
    np.testing.assert_allclose(both, debye_intensity(pos, els, q, b_iso=1.2), rtol=1e-12)
    assert not np.allclose(both, debye_intensity(pos, els, q, b_iso=0.0))


def test_fit_refuses_a_diffraction_pattern_and_pixels_for_angstrom(tmp_path, capsys):
    """An image calibrated in 1/nm (a diffraction pattern) is refused by fit, naming it and its 1/Å step; an
    uncalibrated image with --min-distance is refused naming the flags (1.5 would mean 1.5 pixels)."""
    import tifffile

    rng = np.random.default_rng(0)
    dp = tmp_path / "dp.tif"
    tifffile.imwrite(dp, rng.random((64, 64)).astype(np.float32), imagej=True, resolution=(20.0, 20.0),
                     metadata={"unit": "1/nm"})
    assert main(["fit", str(dp), "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"napari-nxtomo fit: {dp}: dp.tif is calibrated in reciprocal space (axes in 1/Å, 0.005 1/Å per "
                   "pixel): a diffraction pattern, not a real-space image; columns are found and fitted in HAADF-STEM "
                   "images in Å (a diffraction pattern goes to the Debye pattern dock as a measured pattern)")
    raw = tmp_path / "raw.npy"
    np.save(raw, rng.random((64, 64)))
    assert main(["fit", str(raw), "--min-distance", "1.5", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("raw.npy carries no pixel size, so --min-distance 1.5 would mean 1.5 pixels, not Å: give "
                        "--pixel-size (Å per pixel)")
    assert not list(tmp_path.glob("*_columns.csv"))
