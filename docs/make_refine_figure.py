"""docs/refine_example.png: a 3 nm PbS population refined against its noisy pattern, with a χ²(α_RH) scan.

Run from the repository root: ``python docs/make_refine_figure.py`` (about a minute on 2 cores).
The "measured" pattern is the model's own (known truth, Poisson noise at 1e5 counts at the strongest peak).
"""

from pathlib import Path

import numpy as np

import napari_nxtomo as nx
from napari_nxtomo.cli.figures import refine_figure

q = np.linspace(1.0, 12.0, 1101)
truth = nx.PopulationModel(elements=("Pb", "S"), lattice_parameter=5.936, mean_diameter=30.0, width=0.08,
                           n_sizes=8, size_range=(21.0, 41.0), alpha_rh=59.1, delta_r_pb=0.12, shell_thickness=5.0,
                           occupancy_core=0.9, occupancy_shell=0.7, b_iso=0.8, background=(200.0, 0.0))
unit = nx.population_intensity(truth.with_parameters(background=(0.0, 0.0)), q)
truth = truth.with_parameters(scale=1e5 / unit.max())
y = np.random.default_rng(0).poisson(nx.population_intensity(truth, q)).astype(float)
sigma = np.sqrt(np.maximum(y, 1.0))
start = truth.with_parameters(mean_diameter=33.0, width=0.088, lattice_parameter=5.95, b_iso=0.9, scale=1.0,
                              background=(0.0, 0.0))
free = ("mean_diameter", "width", "lattice_parameter", "b_iso", "scale", "background")
res = nx.refine_pattern(q, y, sigma, model=start, free=free)
scan = nx.scan_parameter(q, y, sigma, model=res.model, name="alpha_rh", values=[60.0, 59.7, 59.4, 59.1, 58.8, 58.5],
                         free=free)
print({k: (round(v, 4), round(res.uncertainties[k], 4)) for k, v in res.params.items()}, res.chi2_red)
print(dict(zip(scan.values.tolist(), np.round(scan.chi2_red, 3).tolist())))
refine_figure(q, y, res.intensity, Path(__file__).with_name("refine_example.png"),
              f"PbS, 3.0 nm ± 8 %: refined {res.params['mean_diameter'] / 10:.2f} nm, χ²_red {res.chi2_red:.2f}",
              scan=(scan.values, scan.chi2_red, "α_RH (°)"))
