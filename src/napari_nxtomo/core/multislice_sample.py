"""The bundled sample of physical images: a PbSe cuboctahedron imaged by frozen-phonon multislice (abTEM).

The images were computed once by ``benchmarks/multislice/make_images.py`` (abTEM
1.0.11, 300 kV, aberration-free probe of 22 mrad, annular detector 60-140 mrad,
4 frozen-phonon configurations, 0.2 Å scan step) and ship with the package as
the noise-free fraction of the incident beam per pixel
(``data/samples/pbse_cuboctahedron``).  :func:`pbse_cuboctahedron_multislice`
turns them into what a microscope gives: detected electrons per pixel at a dose
the user chooses, with Poisson noise drawn at load, and the optics and the dose
in each image's metadata (so that counting finds the matching cross-section
library and the scale without being told).  The particle is
``samples.pbse_cuboctahedron(seed=0, n_half=4)``: 583 atoms, 315 Pb.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .groundtruth import SAMPLE_MULTISLICE_DIR, load_multislice_view
from .samples import PAPER_ZONE_AXES, SampleParticle
from .simulate import SimulatedImage

#: the optics of the stored images (what a counted table needs to find its library)
MULTISLICE_OPTICS = {"energy_keV": 300.0, "convergence_mrad": 22.0, "detector_mrad": [60.0, 140.0]}
#: the default incident dose of the sample, e/Å²
MULTISLICE_SAMPLE_DOSE = 5e4
#: FWHM of the aberration-free 22 mrad probe at 300 kV, 0.51 λ / α (Å)
MULTISLICE_PROBE_FWHM = 0.46


def _view_name(zone) -> str:
    return "".join(str(v) for v in zone)


def _image(view, dose: float, seed: int, noise: bool):
    """(noisy, expected) detected electrons per pixel of a stored view at ``dose``."""
    expected = np.asarray(view.image, dtype=np.float64) * dose * view.pixel_size**2
    if not noise:
        return expected.astype(np.float32), expected
    rng = np.random.default_rng(seed)
    return rng.poisson(expected).astype(np.float32), expected


def multislice_view(zone, *, dose: float = MULTISLICE_SAMPLE_DOSE, seed: int = 0, noise: bool = True) -> SimulatedImage:
    """One stored view of the sample as a microscope image (detected electrons per pixel) with its truth.

    Parameters
    ----------
    zone : 3 ints
        (1, 0, 0), (0, 1, 0) or (1, 1, 0).
    dose : float
        Incident electrons per Å².
    seed : int
        Seed of the Poisson noise.
    noise : bool

    Returns
    -------
    SimulatedImage
        ``image`` and ``expected`` in detected electrons per pixel, ``columns``
        the true columns (Å, ``n_Pb``, ``n_Se``, ``type``), ``metadata`` the
        optics, the dose, the crystal and the intensity units.

    Examples
    --------
    >>> v = multislice_view((1, 1, 0), noise=False)
    >>> v.image.shape, v.pixel_size, int(v.columns["n_Pb"].sum()), v.layer_metadata()["convergence_mrad"]
    ((150, 210), 0.2, 315, 22.0)
    """
    if not (np.isfinite(dose) and dose > 0):
        raise ValueError(f"the dose must be a positive number of electrons per Å², got {dose}")
    stored = load_multislice_view(SAMPLE_MULTISLICE_DIR, _view_name(zone))
    image, expected = _image(stored, float(dose), seed, noise)
    md = dict(MULTISLICE_OPTICS, dose_e_per_A2=float(dose), crystal="PbSe", elements=["Pb", "Se"],
              lattice_parameter=float(stored.meta["particle"]["lattice_parameter_A"]), structure="rocksalt",
              intensity_units="detected electrons per pixel", synthetic=False,
              simulation="abTEM frozen-phonon multislice (benchmarks/multislice/make_images.py)")
    return SimulatedImage(
        image=image, expected=expected, pixel_size=stored.pixel_size, columns=stored.columns.copy(),
        atom_column=np.empty(0, dtype=int), geometry=stored.geometry, dose=float(dose), background=0.0,
        probe_fwhm=MULTISLICE_PROBE_FWHM, model=None, origin=np.asarray(stored.origin, dtype=float),
        name=f"PbSe cuboctahedron [{_view_name(zone)}]", metadata=md,
    )


def pbse_cuboctahedron_multislice(seed: int = 0, noise: bool = True,
                                  dose: float = MULTISLICE_SAMPLE_DOSE) -> SampleParticle:
    """The PbSe cuboctahedron (583 atoms, 315 Pb) in abTEM multislice images along [100], [010], [110].

    Parameters
    ----------
    seed : int
        Seed of the Poisson noise (view k uses ``seed + k``).
    noise : bool
    dose : float
        Incident electrons per Å² (default 5e4).

    Returns
    -------
    SampleParticle

    Examples
    --------
    >>> p = pbse_cuboctahedron_multislice(noise=False)
    >>> p.composition(), [v.name for v in p.views][0], p.views[0].layer_metadata()["intensity_units"]
    ({'Pb': 315, 'Se': 268}, 'PbSe cuboctahedron [100]', 'detected electrons per pixel')
    """
    atoms = pd.read_csv(SAMPLE_MULTISLICE_DIR / "atoms.csv")
    meta = load_multislice_view(SAMPLE_MULTISLICE_DIR, "100").meta["particle"]
    a = float(meta["lattice_parameter_A"])
    q = np.rint(atoms[["x", "y", "z"]].to_numpy() / (a / 4)).astype(int)
    description = (
        "Rocksalt PbSe cuboctahedron (2.4 nm to its {100} facets) with an island on the (100) facet and 5 Pb "
        "surface vacancies; abTEM frozen-phonon multislice HAADF-STEM (300 kV, 22 mrad, 60-140 mrad) along "
        f"[100], [010], [110] about [001], Poisson noise at {dose:g} e/Å²."
    )
    views = [multislice_view(z, dose=dose, seed=seed + k, noise=noise) for k, z in enumerate(PAPER_ZONE_AXES)]
    return SampleParticle(name="PbSe cuboctahedron", lattice_parameter=a, q=q, elements=atoms["element"].to_numpy(),
                          views=views, description=description)
