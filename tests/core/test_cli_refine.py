"""The ``refine`` subcommand on a 2θ file of a known population: the refined size and the files it writes."""

import json

import numpy as np
import pandas as pd

from napari_nxtomo.cli.main import main
from napari_nxtomo.core.debye import debye_intensity, q_to_two_theta
from napari_nxtomo.core.nanocrystal import build_nanocrystal

WAVELENGTH = 0.5  # Å: 2θ up to 57° for Q 1.5-10 Å⁻¹


def test_refine_subcommand_recovers_the_size_of_a_2theta_pattern(tmp_path, capsys):
    q = np.linspace(1.5, 10.0, 600)
    p = build_nanocrystal("rocksalt", ("Pb", "S"), 5.936, 24.0 * (1 + 1e-9))
    clean = debye_intensity(p.positions, p.elements, q, b_iso=0.7)
    clean = 5e4 * clean / clean.max() + 100.0
    y = np.random.default_rng(0).poisson(clean).astype(float)
    path = tmp_path / "pbs.xye"
    rows = "\n".join(f"{t:.6f} {i:g} {np.sqrt(max(i, 1.0)):.4f}" for t, i in zip(q_to_two_theta(q, WAVELENGTH), y))
    path.write_text("# 2theta intensity esd\n" + rows + "\n")
    assert main(["refine", str(path), "--quiet"]) == 2
    assert "wavelength" in capsys.readouterr().err
    out = tmp_path / "out"
    args = ["refine", str(path), "--wavelength", str(WAVELENGTH), "--out", str(out), "--quiet",
            "--mean-diameter", "22", "--width", "0.05", "--n-sizes", "5", "--b", "0.6", "--background-terms", "1",
            "--free", "mean_diameter,b_iso,scale,background"]
    assert main(args) == 0
    summary = json.loads((out / "pbs_refined.json").read_text())
    assert summary["converged"]
    # one 24 Å particle: the narrow distribution's mean lands within a class spacing of it
    assert abs(summary["params"]["mean_diameter"] - 24.0) < 1.0
    assert abs(summary["params"]["b_iso"] - 0.7) < 0.05
    assert (out / "pbs_refined.png").stat().st_size > 5000
    table = pd.read_csv(out / "pbs_refined.csv", comment="#")
    np.testing.assert_allclose(table["q_inv_A"], q, rtol=1e-6)
    np.testing.assert_allclose(table["difference"], table["measured"] - table["model"], atol=1e-3)
