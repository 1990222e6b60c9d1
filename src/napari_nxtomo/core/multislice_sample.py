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

#: the bundled multislice particles: folder and what an image of it says about its crystal
MULTISLICE_SAMPLES = {
    "pbse_cuboctahedron": {
        "folder": SAMPLE_MULTISLICE_DIR, "title": "PbSe cuboctahedron",
        "description": "Rocksalt PbSe cuboctahedron (2.4 nm to its {100} facets) with an island on the (100) facet "
                       "and 5 Pb surface vacancies",
        "metadata": {"crystal": "PbSe", "elements": ["Pb", "Se"], "structure": "rocksalt"},
    },
    "pbse_cdse_core_shell": {
        "folder": SAMPLE_MULTISLICE_DIR.parent / "pbse_cdse_core_shell", "title": "PbSe/CdSe core-shell rod",
        "description": "Zincblende CdSe rod (2.9 nm wide, 3.9 nm long) around a rocksalt PbSe cuboctahedral core "
                       "(1.8 nm between {100} facets) with a Pb island on its (010) facet; one Se sublattice",
        "metadata": {"crystal": "PbSe", "shell_crystal": "CdSe", "elements": ["Pb", "Cd", "Se"],
                     "structure": "core-shell"},
    },
}
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


def multislice_view(zone, *, dose: float = MULTISLICE_SAMPLE_DOSE, seed: int = 0, noise: bool = True,
                    particle="pbse_cuboctahedron") -> SimulatedImage:
    """One stored view of a multislice particle as a microscope image (detected electrons per pixel) with its truth.

    Parameters
    ----------
    zone : 3 ints
        (1, 0, 0), (0, 1, 0) or (1, 1, 0).
    dose : float
        Incident electrons per Å².
    seed : int
        Seed of the Poisson noise.
    noise : bool
    particle : str or dict
        A key of :data:`MULTISLICE_SAMPLES`, or an entry like theirs
        (``folder``, ``title``, ``description``, ``metadata``) for images
        stored elsewhere (the tests' particles).

    Returns
    -------
    SimulatedImage
        ``image`` and ``expected`` in detected electrons per pixel, ``columns``
        the true columns (Å, ``n_Pb``, ``n_Se`` (``n_Cd``), ``type``), ``metadata`` the
        optics, the dose, the crystal and the intensity units.

    Examples
    --------
    >>> v = multislice_view((1, 1, 0), noise=False)
    >>> v.image.shape, v.pixel_size, int(v.columns["n_Pb"].sum()), v.layer_metadata()["convergence_mrad"]
    ((150, 210), 0.2, 315, 22.0)
    """
    if not (np.isfinite(dose) and dose > 0):
        raise ValueError(f"the dose must be a positive number of electrons per Å², got {dose}")
    sample = _sample_entry(particle)
    stored = load_multislice_view(sample["folder"], _view_name(zone))
    image, expected = _image(stored, float(dose), seed, noise)
    md = dict(MULTISLICE_OPTICS, dose_e_per_A2=float(dose), **sample["metadata"],
              lattice_parameter=float(stored.meta["particle"]["lattice_parameter_A"]),
              intensity_units="detected electrons per pixel", synthetic=False,
              simulation="abTEM frozen-phonon multislice (benchmarks/multislice/make_images.py)")
    return SimulatedImage(
        image=image, expected=expected, pixel_size=stored.pixel_size, columns=stored.columns.copy(),
        atom_column=np.empty(0, dtype=int), geometry=stored.geometry, dose=float(dose), background=0.0,
        probe_fwhm=MULTISLICE_PROBE_FWHM, model=None, origin=np.asarray(stored.origin, dtype=float),
        name=f"{sample['title']} [{_view_name(zone)}]", metadata=md,
    )


def _sample_entry(particle) -> dict:
    """The :data:`MULTISLICE_SAMPLES` entry of a key, or a given entry."""
    if isinstance(particle, dict):
        return particle
    if particle not in MULTISLICE_SAMPLES:
        raise ValueError(f"unknown sample particle {particle!r}: one of {sorted(MULTISLICE_SAMPLES)}")
    return MULTISLICE_SAMPLES[particle]


def multislice_particle(particle, seed: int = 0, noise: bool = True,
                        dose: float = MULTISLICE_SAMPLE_DOSE) -> SampleParticle:
    """A multislice particle (a key of :data:`MULTISLICE_SAMPLES` or an entry like theirs) with its views and atoms.

    Examples
    --------
    >>> p = multislice_particle("pbse_cuboctahedron", noise=False)
    >>> p.composition(), [v.name for v in p.views][0], p.views[0].layer_metadata()["intensity_units"]
    ({'Pb': 315, 'Se': 268}, 'PbSe cuboctahedron [100]', 'detected electrons per pixel')
    """
    sample = _sample_entry(particle)
    atoms = pd.read_csv(sample["folder"] / "atoms.csv")
    meta = load_multislice_view(sample["folder"], "100").meta
    a = float(meta["particle"]["lattice_parameter_A"])
    q = np.rint(atoms[["x", "y", "z"]].to_numpy() / (a / 4)).astype(int)
    sim = meta["simulation"]
    description = (
        f"{sample['description']}; abTEM frozen-phonon multislice HAADF-STEM ({sim['energy_eV'] / 1e3:g} kV, "
        f"{sim['semiangle_cutoff_mrad']:g} mrad, {sim['detector_mrad'][0]:g}-{sim['detector_mrad'][1]:g} mrad) "
        f"along [100], [010], [110] about [001], Poisson noise at {dose:g} e/Å²."
    )
    views = [multislice_view(z, dose=dose, seed=seed + k, noise=noise, particle=sample)
             for k, z in enumerate(PAPER_ZONE_AXES)]
    return SampleParticle(name=sample["title"], lattice_parameter=a, q=q, elements=atoms["element"].to_numpy(),
                          views=views, description=description)


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
    return multislice_particle("pbse_cuboctahedron", seed=seed, noise=noise, dose=dose)


def pbse_cdse_core_shell_multislice(seed: int = 0, noise: bool = True,
                                   dose: float = MULTISLICE_SAMPLE_DOSE) -> SampleParticle:
    """The PbSe/CdSe core–shell rod (611 atoms, 155 Pb) in abTEM multislice images along [100], [010], [110].

    ``samples.core_shell_model(*CORE_SHELL_SAMPLE)``: a zincblende CdSe rod
    (radius 14.5 Å, 3.9 nm long) around a rocksalt PbSe cuboctahedral core
    (3 a/2 to its {100} facets) with a Pb island on its (010) facet, one Se
    sublattice through both.  Parameters as :func:`pbse_cuboctahedron_multislice`.

    Examples
    --------
    >>> p = pbse_cdse_core_shell_multislice(noise=False)
    >>> p.composition(), p.views[2].layer_metadata()["structure"]
    ({'Cd': 114, 'Pb': 155, 'Se': 342}, 'core-shell')
    """
    return multislice_particle("pbse_cdse_core_shell", seed=seed, noise=noise, dose=dose)
