"""The beam: energy (keV), wavelength (Å) and the scattering angle they fix.

The one place where energy and wavelength are converted: X-ray photons (and
``radiation="constant"``, X-rays with f = Z) obey ``lambda = h c / E``,
neutrons ``lambda = h / sqrt(2 m_n E)``.  The momentum transfer is
``Q = 4 pi sin(theta) / lambda`` in Å⁻¹, with 2θ the scattering angle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "HC_KEV_ANGSTROM",
    "NEUTRON_KEV_ANGSTROM2",
    "RADIATIONS",
    "Beam",
    "energy_to_wavelength",
    "q_to_two_theta",
    "two_theta_to_q",
    "wavelength_to_energy",
]

#: h c in keV Å (CODATA 2018), for photon energy <-> wavelength
HC_KEV_ANGSTROM = 12.398419843320026

#: h² / (2 m_n) in keV Å² (CODATA 2018): a neutron of wavelength λ (Å) has
#: the kinetic energy ``NEUTRON_KEV_ANGSTROM2 / λ²`` keV (81.8 meV at 1 Å)
NEUTRON_KEV_ANGSTROM2 = 8.180421035828021e-05

#: the kinds of radiation the Debye calculation knows (see scattering_factors)
RADIATIONS = ("xray", "constant", "neutron")


def _check_radiation(radiation: str) -> str:
    if radiation not in RADIATIONS:
        raise ValueError(f"radiation must be one of {RADIATIONS}; got {radiation!r}")
    return radiation


def _positive(values, what: str, unit: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if np.any(~np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"{what} must be a positive number of {unit}; got {values!r}")
    return v


def energy_to_wavelength(energy_keV, radiation: str = "xray"):
    """Energy (keV) to wavelength (Å).

    Parameters
    ----------
    energy_keV : float or array
        Photon energy, or the neutron's kinetic energy, in keV (> 0).
    radiation : {"xray", "constant", "neutron"}
        Photons (``"xray"``, ``"constant"``): ``lambda = h c / E``;
        neutrons: ``lambda = h / sqrt(2 m_n E)``.

    Returns
    -------
    wavelength : float or ndarray
        Å, the shape of ``energy_keV``.

    Examples
    --------
    >>> from napari_nxtomo.core.debye import energy_to_wavelength
    >>> print(f"{energy_to_wavelength(12.0):.5f}")
    1.03320
    >>> print(f"{energy_to_wavelength(25.3e-6, 'neutron'):.3f}")  # thermal neutrons
    1.798
    """
    neutron = _check_radiation(radiation) == "neutron"
    e = _positive(energy_keV, "the neutron energy" if neutron else "the photon energy", "keV")
    if neutron:
        return np.sqrt(NEUTRON_KEV_ANGSTROM2 / e)
    return HC_KEV_ANGSTROM / e


def wavelength_to_energy(wavelength, radiation: str = "xray"):
    """Wavelength (Å) to energy (keV), the inverse of :func:`energy_to_wavelength`.

    Parameters
    ----------
    wavelength : float or array
        Å (> 0).
    radiation : {"xray", "constant", "neutron"}
        Photons: ``E = h c / lambda``; neutrons: ``E = h^2 / (2 m_n lambda^2)``.

    Returns
    -------
    energy_keV : float or ndarray
        keV, the shape of ``wavelength``.

    Examples
    --------
    >>> from napari_nxtomo.core.debye import wavelength_to_energy
    >>> print(f"{wavelength_to_energy(1.5406):.4f}")  # Cu K-alpha1
    8.0478
    >>> print(f"{wavelength_to_energy(1.8, 'neutron') * 1e6:.2f} meV")
    25.25 meV
    """
    w = _positive(wavelength, "the wavelength", "Å")
    if _check_radiation(radiation) == "neutron":
        return NEUTRON_KEV_ANGSTROM2 / (w * w)
    return HC_KEV_ANGSTROM / w


def _check_wavelength(wavelength) -> float:
    try:
        lam = float(wavelength)
    except (TypeError, ValueError):
        raise ValueError(f"the wavelength must be one positive number of Å; got {wavelength!r}") from None
    if not (np.isfinite(lam) and lam > 0):
        raise ValueError(f"the wavelength must be a positive number of Å; got {wavelength!r}")
    return lam


def two_theta_to_q(two_theta, wavelength):
    """Scattering angle to momentum transfer.

    Parameters
    ----------
    two_theta : float or array
        Scattering angle 2θ in degrees, 0 to 180.
    wavelength : float
        Wavelength λ in Å.

    Returns
    -------
    q : float or ndarray
        ``Q = 4 pi sin(theta) / lambda`` in Å⁻¹, the shape of ``two_theta``.

    Examples
    --------
    >>> from napari_nxtomo.core.debye import two_theta_to_q
    >>> print(two_theta_to_q([0.0, 30.0, 180.0], 1.0).round(4))
    [ 0.      3.2524 12.5664]
    """
    lam = _check_wavelength(wavelength)
    tt = np.asarray(two_theta, dtype=float)
    if np.any(~np.isfinite(tt)) or np.any(tt < 0) or np.any(tt > 180):
        raise ValueError("2θ must lie between 0 and 180 degrees")
    return 4.0 * np.pi * np.sin(np.radians(tt) / 2.0) / lam


def q_to_two_theta(q, wavelength):
    """Momentum transfer to scattering angle.

    Parameters
    ----------
    q : float or array
        ``Q = 4 pi sin(theta) / lambda`` in Å⁻¹.
    wavelength : float
        Wavelength λ in Å.

    Returns
    -------
    two_theta : float or ndarray
        2θ in degrees, the shape of ``q``.

    Raises
    ------
    ValueError
        If a Q exceeds ``4 pi / lambda``, which no angle reaches at this
        wavelength: use a shorter wavelength (higher energy) or a smaller Q.

    Examples
    --------
    >>> from napari_nxtomo.core.debye import q_to_two_theta
    >>> print(q_to_two_theta([0.0, 2.0, 4.0], 1.5406).round(3))
    [ 0.    28.387 58.732]
    """
    lam = _check_wavelength(wavelength)
    qq = np.asarray(q, dtype=float)
    if np.any(~np.isfinite(qq)) or np.any(qq < 0):
        raise ValueError("Q must be finite and non-negative (Å⁻¹)")
    qmax = 4.0 * np.pi / lam
    if np.any(qq > qmax * (1 + 1e-12)):
        raise ValueError(
            f"Q = {qq.max():.4g} Å⁻¹ exceeds 4π/λ = {qmax:.4g} Å⁻¹, which no 2θ reaches at λ = {lam:g} Å; "
            "use a shorter wavelength (higher energy) or a smaller Q range"
        )
    return 2.0 * np.degrees(np.arcsin(np.clip(qq * lam / (4.0 * np.pi), 0.0, 1.0)))


@dataclass(frozen=True)
class Beam:
    """A monochromatic beam: its energy, its wavelength and its kind.

    Make one with :meth:`from_energy` or :meth:`from_wavelength`; the two
    fields always describe the same beam (a direct call checks that they do).

    Attributes
    ----------
    energy_keV : float
        Photon energy, or the neutron's kinetic energy, in keV.
    wavelength : float
        Å.
    radiation : {"xray", "constant", "neutron"}
        As for :func:`~napari_nxtomo.core.debye.debye_intensity`
        (``"constant"``: X-rays with f = Z).

    Examples
    --------
    >>> from napari_nxtomo.core.debye import Beam
    >>> beam = Beam.from_energy(12.0)
    >>> print(f"{beam.wavelength:.5f} Å")
    1.03320 Å
    >>> print(f"{beam.two_theta(3.0):.3f}")
    28.560
    >>> print(f"{beam.q(28.56):.3f}")
    3.000
    >>> neutrons = Beam.from_wavelength(1.8, "neutron")
    >>> print(f"{neutrons.energy_keV * 1e6:.2f} meV")
    25.25 meV
    """

    energy_keV: float
    wavelength: float
    radiation: str = "xray"

    def __post_init__(self):
        try:
            energy = float(self.energy_keV)
        except (TypeError, ValueError):
            raise ValueError(f"energy_keV must be one positive number of keV; got {self.energy_keV!r}") from None
        expected = float(energy_to_wavelength(energy, self.radiation))  # checks energy and radiation
        lam = _check_wavelength(self.wavelength)
        if not math.isclose(lam, expected, rel_tol=1e-9):
            raise ValueError(
                f"{energy:g} keV and {lam:g} Å are not one {self.radiation} beam ({energy:g} keV is {expected:.6g} Å); "
                "make the beam with Beam.from_energy or Beam.from_wavelength"
            )
        object.__setattr__(self, "energy_keV", energy)
        object.__setattr__(self, "wavelength", lam)

    @classmethod
    def from_energy(cls, energy_keV: float, radiation: str = "xray") -> Beam:
        """The beam of this energy (keV)."""
        return cls(energy_keV, float(energy_to_wavelength(energy_keV, radiation)), radiation)

    @classmethod
    def from_wavelength(cls, wavelength: float, radiation: str = "xray") -> Beam:
        """The beam of this wavelength (Å)."""
        return cls(float(wavelength_to_energy(wavelength, radiation)), wavelength, radiation)

    def q(self, two_theta):
        """Q (Å⁻¹) at the scattering angle 2θ (degrees); see :func:`two_theta_to_q`."""
        return two_theta_to_q(two_theta, self.wavelength)

    def two_theta(self, q):
        """2θ (degrees) at Q (Å⁻¹); see :func:`q_to_two_theta`."""
        return q_to_two_theta(q, self.wavelength)
