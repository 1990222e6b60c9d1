"""Reading measured patterns: formats, units, uncertainties and the bad-input messages."""

import numpy as np
import pytest

from napari_nxtomo.core.debye import two_theta_to_q
from napari_nxtomo.core.pattern_io import read_pattern
from napari_nxtomo.core.patterns import load_pattern, write_pattern_csv


def test_xye_with_sigma_and_q(tmp_path):
    p = tmp_path / "a.xye"
    p.write_text("# measured at 22 keV\nQ I sigma\n1.0 100 5\n1.5 400 10\n2.0 90 4\n")
    m = read_pattern(p)
    assert m.sigma_source == "file" and m.q.tolist() == [1.0, 1.5, 2.0]
    np.testing.assert_allclose(m.weights, 1 / np.array([25.0, 100.0, 16.0]))


def test_two_columns_counting_statistics_and_decreasing_file(tmp_path):
    p = tmp_path / "a.xy"
    p.write_text("3.0 0\n2.0 400\n1.0 100\n")
    m = read_pattern(p)
    assert m.q.tolist() == [1.0, 2.0, 3.0] and m.sigma_source == "counting"
    assert m.sigma.tolist() == [10.0, 20.0, 1.0]


def test_two_theta_by_wavelength_energy_and_chi(tmp_path):
    tt = np.array([20.0, 30.0, 40.0])
    p = tmp_path / "a.dat"
    p.write_text("\n".join(f"{t} {10 * t}" for t in tt))
    m = read_pattern(p, wavelength=1.5418)
    np.testing.assert_allclose(m.q, two_theta_to_q(tt, 1.5418))
    m2 = read_pattern(p, energy_keV=12.398419843320026 / 1.5418)
    np.testing.assert_allclose(m2.q, m.q, rtol=1e-6)
    chi = tmp_path / "a.chi"
    chi.write_text("sample.tif\n2-Theta Angle (Degrees)\nIntensity\n       3\n" + "\n".join(f" {t} {t}" for t in tt))
    with pytest.raises(ValueError, match="holds 2θ .*wavelength"):
        read_pattern(chi)
    np.testing.assert_allclose(read_pattern(chi, wavelength=1.5418).q, m.q)
    csv = tmp_path / "a.csv"
    csv.write_text("two_theta_deg,intensity,esd\n20,1,1\n30,2,1\n")
    with pytest.raises(ValueError, match="wavelength"):
        read_pattern(csv)


@pytest.mark.parametrize("content, message", [
    ("1 2\n2 abc\n3 4\n", r"line 2: '2 abc' is not numbers"),
    ("1 2\n3 4\n2 5\n", r"line 3: the abscissa goes back to 2 after 3"),
    ("1 2\n2 4\n2 5\n", r"line 3: the abscissa repeats 2"),
    ("1 2 1\n2 4 0\n3 5 1\n", r"line 2: the uncertainty .* is 0"),
    ("1 2 1\n2 4 -1\n3 5 1\n", r"positive number"),
    ("10 2\n50 4\n90 5\n", r"looks like 2θ"),
    ("1 2\n", "at least two"),
])
def test_bad_input(tmp_path, content, message):
    p = tmp_path / "bad.xye"
    p.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_pattern(p)


def test_dock_export_reads_back_as_q_and_intensity(tmp_path):
    """The Debye dock writes q_inv_A, two_theta_deg, intensity_e2 (+ a longer measured block): x = Q, y = I."""
    q = np.linspace(1.0, 2.0, 3)
    path = write_pattern_csv(tmp_path / "p.csv",
                             {"q_inv_A": q, "two_theta_deg": 10 * q, "intensity_e2": [5.0, 6.0, 7.0]},
                             {"measured_q_inv_A": np.linspace(1, 2, 5), "measured": np.arange(5.0)})
    x, y = load_pattern(path)
    assert x.tolist() == q.tolist() and y.tolist() == [5.0, 6.0, 7.0]
    m = read_pattern(path)
    assert m.q.tolist() == q.tolist() and m.intensity.tolist() == [5.0, 6.0, 7.0]
