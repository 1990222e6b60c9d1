"""Measured patterns: reading, scale + background fit with reduced χ², CSV export, element=value input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_nxtomo.core.nanocrystal import build_nanocrystal
from napari_nxtomo.core.patterns import (
    fit_scale_background,
    load_pattern,
    parse_element_values,
    write_pattern_csv,
)


@pytest.fixture(scope="module")
def simulated():
    model = build_nanocrystal("rocksalt", ("Pb", "S"), 5.936, 20.0, "cuboctahedron")
    q = np.arange(0.5, 12.0 + 1e-9, 0.01)
    return q, model.intensity(q, b_iso={"Pb": 1.0, "S": 0.8})


# ---------------------------------------------------------------- fit


@pytest.mark.parametrize("weighting", ["poisson", "unit"])
def test_scale_and_background_recovered_exactly_on_the_same_grid(simulated, weighting):
    q, i_sim = simulated
    scale, bg = 3.7e-4, 125.0
    # measured: every other Q point of a narrower range, no noise
    qm, im = q[100:900:2], scale * i_sim[100:900:2] + bg
    fit = fit_scale_background(q, i_sim, qm, im, weighting=weighting)
    assert fit.scale == pytest.approx(scale, rel=1e-9)
    assert fit.background == pytest.approx(bg, rel=1e-9)
    assert fit.chi2_red < 1e-12
    assert fit.n_points == qm.size and fit.weighting == weighting
    np.testing.assert_allclose(fit.fitted, im, rtol=1e-10)
    np.testing.assert_allclose(fit.apply(i_sim[100:900:2]), im, rtol=1e-10)
    assert fit.overlap == (qm[0], qm[-1])


def test_poisson_noise_gives_reduced_chi2_near_one(simulated):
    q, i_sim = simulated
    scale, bg = 5e-3, 400.0
    rng = np.random.default_rng(1)
    qm = np.linspace(0.8, 11.5, 2000)  # another grid: linear interpolation of a fine pattern
    lam = scale * np.interp(qm, q, i_sim) + bg
    im = rng.poisson(lam).astype(float)
    fit = fit_scale_background(q, i_sim, qm, im, weighting="poisson")
    assert fit.chi2_red == pytest.approx(1.0, abs=0.1)
    assert abs(fit.scale - scale) < 4 * fit.scale_err
    assert abs(fit.background - bg) < 4 * fit.background_err
    unit = fit_scale_background(q, i_sim, qm, im, weighting="unit")
    assert unit.scale == pytest.approx(scale, rel=0.02)
    assert unit.chi2_red == pytest.approx(np.mean(lam), rel=0.2)  # unit weights: variance in counts²


def test_only_the_overlap_is_fitted_and_without_background(simulated):
    q, i_sim = simulated
    qm = np.linspace(-2.0, 30.0, 3201)  # measured reaches beyond the simulation on both sides
    im = 2.5 * np.interp(qm, q, i_sim)
    fit = fit_scale_background(q, i_sim, qm, im, background=False, weighting="unit")
    assert fit.background == 0.0
    assert fit.scale == pytest.approx(2.5, rel=1e-9)
    assert fit.x.min() >= q[0] and fit.x.max() <= q[-1]
    assert fit.n_points == np.sum((qm >= q[0]) & (qm <= q[-1]))


def test_sigma_weights(simulated):
    q, i_sim = simulated
    im = 2.0 * i_sim + 10.0
    fit = fit_scale_background(q, i_sim, q, im, sigma=np.full(q.size, 0.5))
    assert fit.weighting == "sigma"
    assert fit.scale == pytest.approx(2.0, rel=1e-10)
    assert "weights 1/σ²" in fit.describe()


def test_fit_errors(simulated):
    q, i_sim = simulated
    with pytest.raises(ValueError, match="overlap in 0 measured point"):
        fit_scale_background(q, i_sim, q + 50.0, i_sim)
    with pytest.raises(ValueError, match="overlap in 2 measured point"):
        fit_scale_background(q, i_sim, np.array([11.99, 12.0, 13.0]), np.ones(3))
    with pytest.raises(ValueError, match="weighting"):
        fit_scale_background(q, i_sim, q, i_sim, weighting="chi")
    with pytest.raises(ValueError, match="flat"):
        fit_scale_background(q, np.ones_like(q), q, i_sim)
    with pytest.raises(ValueError, match="all zero"):
        fit_scale_background(q, i_sim, q, np.zeros_like(q))
    with pytest.raises(ValueError, match="sigma"):
        fit_scale_background(q, i_sim, q, i_sim, sigma=np.zeros_like(q))


# ---------------------------------------------------------------- reading


def test_load_pattern_comments_header_separators_and_sorting(tmp_path):
    p = tmp_path / "m.xy"
    p.write_text(
        "# beamline X04SA, 22 keV\n"
        "2theta  intensity  esd\n"
        "\n"
        "3.0\t30.5\t1\n"
        "1.0, 10.5 # a comment after the numbers\n"
        "2.0;20.5;1\n"
        "4e0 4.05e1\n"
    )
    x, y = load_pattern(p)
    np.testing.assert_array_equal(x, [1, 2, 3, 4])
    np.testing.assert_array_equal(y, [10.5, 20.5, 30.5, 40.5])


@pytest.mark.parametrize("content, message", [
    ("# ok\n1 2\n2 3\nthis is not data\n", r"line 4: 'this is not data' is not numbers"),
    ("1 2\n2 abc\n", "line 2"),
    ("1 2 3\n2 3 4\n5\n", "line 3: 1 column"),
    ("# nothing\n1 2\n", "at least two"),
    ("1 2\n1 3\n2 4\n", "appears twice"),
    ("1 2\n2 nan\n3 4\n", "not finite"),
    (b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "not a text file"),
    (None, "no measured pattern"),
])
def test_load_pattern_errors(tmp_path, content, message):
    path = tmp_path / "pattern.dat"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_pattern(path)


# ---------------------------------------------------------------- export


def test_write_pattern_csv_round_trip(tmp_path):
    q = np.linspace(0.5, 2.0, 7)
    i = q**2 * 1e6
    qm = np.array([0.6, 1.0])
    path = write_pattern_csv(
        tmp_path / "p.csv",
        {"q_inv_A": q, "intensity": i},
        {"measured_q_inv_A": qm, "measured_intensity": [1.0, 2.0]},
        comments=["model: test", "scale 1"],
    )
    assert path.read_text().startswith("# model: test\n# scale 1\nq_inv_A,intensity,")
    back = pd.read_csv(path, comment="#")
    assert list(back.columns) == ["q_inv_A", "intensity", "measured_q_inv_A", "measured_intensity"]
    np.testing.assert_allclose(back["intensity"], i, rtol=1e-9)
    np.testing.assert_allclose(back["measured_q_inv_A"].dropna(), qm)
    assert back["measured_intensity"].isna().sum() == 5
    x, y = load_pattern(path)  # its own export reads back as a measured pattern (header allowed)
    np.testing.assert_allclose(x, q)
    with pytest.raises(ValueError, match="nothing to write"):
        write_pattern_csv(tmp_path / "e.csv", {})


# ---------------------------------------------------------------- element=value


def test_parse_element_values():
    assert parse_element_values("") is None
    assert parse_element_values("0.8", "B") == 0.8
    assert parse_element_values("Pb=1.2, S=0.9; Se = 0.5", "B") == {"Pb": 1.2, "S": 0.9, "Se": 0.5}
    with pytest.raises(ValueError, match="'abc' is not a number"):
        parse_element_values("abc", "B (Å²)")
    with pytest.raises(ValueError, match="B for Pb must be a finite number >= 0"):
        parse_element_values("Pb=-1", "B", lo=0.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        parse_element_values("Pb=1.5", "occupancy", lo=0.0, hi=1.0)
    with pytest.raises(ValueError, match="not element=value"):
        parse_element_values("pb=1", "B")
    with pytest.raises(ValueError, match="given twice"):
        parse_element_values("Pb=1, Pb=2", "B")
    with pytest.raises(ValueError, match="element=value pairs"):
        parse_element_values("0.9", "occupancy", allow_single=False)
