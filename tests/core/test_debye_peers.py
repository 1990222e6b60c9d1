"""Debye scattering against ASE's XrDebye, beyond tests/test_debye.py (which compares Q mode on the PbSe sample).

Here: ASE's XRD mode (2θ at a wavelength, our ``two_theta_to_q``), the builder's
distorted and zincblende models (the lattice method with ``sites``), and the
Debye-Waller convention.

ASE's conventions (ase/utils/xrdebye.py): ``method=None`` (any value but
'Iwasa') gives f = Z and no angular factor; the intensity is
``exp(-damping s²/2) Σ_i Σ_j f_i f_j sinc(2 s d_ij)`` with ``s = 2 sin θ / λ =
Q / 2π`` and numpy's ``sinc(x) = sin(πx)/(πx)``, i.e. the same double sum as
ours (self terms included) times ``exp(-damping Q² / 8π²)`` on *every* term.
Ours puts ``T_i T_j = exp(-B Q² / 8π²)`` (for one B) on the pair terms only,
so with ``damping = 0`` and ``B = 0`` the two agree, and with ``damping = B``
they differ by ``(1 - exp(-B Q² / 8π²)) Σ Z²`` exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_nxtomo.core.debye import debye_intensity, energy_to_wavelength, two_theta_to_q
from napari_nxtomo.core.nanocrystal import build_nanocrystal

ase = pytest.importorskip("ase")
from ase.data import atomic_numbers  # noqa: E402
from ase.utils.xrdebye import XrDebye  # noqa: E402

TWO_THETA = np.linspace(5.0, 120.0, 47)


def max_rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.abs(np.asarray(b))))


def _ase_xrd(model, wavelength, two_theta, damping=0.0):
    atoms = ase.Atoms(symbols=list(model.elements), positions=model.positions)
    xrd = XrDebye(atoms, wavelength=wavelength, damping=damping, method=None)
    return np.asarray(xrd.calc_pattern(x=two_theta, mode="XRD"), dtype=float)


MODELS = {
    "PbS sphere, cubic": dict(structure="rocksalt", elements=("Pb", "S"), a=5.936, diameter=24.0, shape="sphere"),
    "PbS rhombohedral + Pb off-centred": dict(
        structure="rocksalt", elements=("Pb", "S"), a=5.936, diameter=24.0, shape="sphere", alpha_rh=59.1, delta_r_pb=0.12
    ),
    "CdSe zincblende octahedron": dict(structure="zincblende", elements=("Cd", "Se"), a=6.05, diameter=24.0, shape="octahedron"),
    "Au rhombic dodecahedron": dict(structure="fcc", elements=("Au",), a=4.078, diameter=20.0, shape="rhombic_dodecahedron"),
}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("wavelength", [1.5406, float(energy_to_wavelength(22.0))], ids=["CuKa1", "22keV"])
def test_xrd_mode_two_theta_matches_ase(name, wavelength):
    model = build_nanocrystal(**MODELS[name])
    assert 100 < len(model) < 1000
    ref = _ase_xrd(model, wavelength, TWO_THETA)
    q = two_theta_to_q(TWO_THETA, wavelength)
    b0 = {el: 0.0 for el in np.unique(model.elements)}
    methods = ["exact", "histogram"] + (["lattice"] if model.on_grid or model.sites is not None else [])
    for method in methods:
        ours = debye_intensity(model.positions, model.elements, q, b_iso=b0, method=method, radiation="constant",
                               sites=model.sites if method == "lattice" else None)
        assert max_rel(ours, ref) <= 1e-3, (method, max_rel(ours, ref))
    # the exact sum agrees far better than the requirement: same physics, rounding only
    exact = debye_intensity(model.positions, model.elements, q, method="exact", radiation="constant")
    assert max_rel(exact, ref) <= 1e-9


@pytest.mark.parametrize("b", [0.5, 1.6])
def test_debye_waller_convention_against_ase_damping(b):
    """ASE damps every term by exp(-B Q²/8π²); ours only the pairs (T_i T_j), the self term keeps Σ Z²."""
    model = build_nanocrystal(**MODELS["PbS sphere, cubic"])
    wavelength = 0.7
    ref = _ase_xrd(model, wavelength, TWO_THETA, damping=b)
    q = two_theta_to_q(TWO_THETA, wavelength)
    ours = debye_intensity(model.positions, model.elements, q, b_iso=b, method="exact", radiation="constant")
    self_term = float(sum(atomic_numbers[e] ** 2 for e in model.elements))
    damp = np.exp(-b * q**2 / (8.0 * np.pi**2))
    assert max_rel(ours - (1.0 - damp) * self_term, ref) <= 1e-9
    # and the difference is real: at high angle the undamped self term is most of our intensity
    assert max_rel(ours, ref) > 0.05
