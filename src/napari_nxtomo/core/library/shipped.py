"""Where libraries live: the shipped ones (package data) and the on-disk cache of computed ones."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .cell import canonical_zone, resolve_crystal
from .table import CrossSectionLibrary

#: the libraries shipped with the package (JSON), made by benchmarks/multislice/make_libraries.py
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "data" / "libraries"


def cache_dir() -> Path:
    """The folder of computed libraries: ``$NXTOMO_CACHE``, else the user cache folder (``…/napari-nxtomo/libraries``).

    Examples
    --------
    >>> cache_dir().name
    'libraries'
    """
    env = os.environ.get("NXTOMO_CACHE")
    if env:
        return Path(env) / "libraries"
    try:
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("napari-nxtomo")) / "libraries"
    except ImportError:  # pragma: no cover - platformdirs comes with napari
        return Path.home() / ".cache" / "napari-nxtomo" / "libraries"


def _file_name(settings: dict) -> str:
    from .multislice import settings_key

    zone = "".join(str(v) for v in settings["zone_axis"])
    return f"{settings['crystal']}_{zone}_{settings_key(settings)}.json"


def cached_library(settings: dict):
    """The cached library computed with exactly ``settings``, or None.

    Examples
    --------
    >>> from napari_nxtomo.core.library.multislice import library_settings
    >>> cached_library(library_settings("PbSe", (1, 0, 0), n_phonons=1, max_count=1, seed=12345)) is None
    True
    """
    for folder in (cache_dir(), SHIPPED_DIR):
        path = folder / _file_name(settings)
        if path.is_file():
            return CrossSectionLibrary.read(path)
    return None


def store_in_cache(library: CrossSectionLibrary, folder=None) -> Path:
    """Write ``library`` into the cache (or ``folder``) under its settings' hash.  Returns the path.

    Examples
    --------
    >>> import tempfile
    >>> from napari_nxtomo.core.library.multislice import library_settings
    >>> lib = CrossSectionLibrary("PbSe", (1, 1, 0), library_settings("PbSe", (1, 1, 0)), {})
    >>> store_in_cache(lib, tempfile.mkdtemp()).name.startswith("PbSe_110_")
    True
    """
    folder = Path(folder) if folder is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return library.write(folder / _file_name(library.settings))


def shipped_libraries() -> list:
    """The libraries shipped with napari-nxtomo (sorted by crystal, zone axis, optics).

    Examples
    --------
    >>> sorted({(lib.crystal, lib.zone_axis) for lib in shipped_libraries()})
    [('CdSe', (1, 0, 0)), ('CdSe', (1, 1, 0)), ('PbSe', (1, 0, 0)), ('PbSe', (1, 1, 0))]
    """
    libs = [CrossSectionLibrary.read(p) for p in sorted(SHIPPED_DIR.glob("*.json"))]
    return sorted(libs, key=lambda lib: (lib.crystal, lib.zone_axis, _optics(lib.settings)))


def library_files() -> list:
    """The JSON files of the shipped libraries, then those of the cache (:func:`cache_dir`), each sorted by name.

    Examples
    --------
    >>> files = library_files()
    >>> files[0].parent == SHIPPED_DIR, files[0].suffix
    (True, '.json')
    """
    files = sorted(SHIPPED_DIR.glob("*.json"))
    folder = cache_dir()
    if folder.is_dir():
        files += sorted(folder.glob("*.json"))
    return files


def _optics(s: dict) -> tuple:
    return (float(s["energy_keV"]), float(s["convergence_mrad"]), *(float(v) for v in s["detector_mrad"]))


def load_library(crystal, zone_axis, *, energy_keV=300.0, convergence_mrad=24.0, detector_mrad=(60.0, 130.0),
                 lattice_parameter=None, thermal_sigma=None, tolerance=0.02, units="cell") -> CrossSectionLibrary:
    """A shipped or cached library for this crystal, zone axis and optics (no computation).

    Parameters
    ----------
    crystal : str or Crystal
    zone_axis : 3 ints
    energy_keV, convergence_mrad : float
    detector_mrad : (float, float)
    lattice_parameter : float, optional
        Å; when given the library's must agree within ``tolerance``.
    thermal_sigma : dict, optional
        1D rms thermal displacement (Å) per element the library's frozen
        phonons must have had (within ``tolerance``); by default room
        temperature's (:data:`~napari_nxtomo.core.library.THERMAL_SIGMA`).  It
        changes the shape of the library, not only its scale: PbSe along
        ⟨110⟩ with Pb 0.09 Å instead of 0.134 Å scatters 10 % more at 3–7
        atoms than at 10–11, relative to the other.
    tolerance : float
        Largest relative difference of the optics (and lattice parameter, thermal displacements).
    units : {"cell", "fitted"}
        The units preferred (``simulate_library(units=...)``): a library in the other units is taken only when none
        in these matches.

    Returns
    -------
    CrossSectionLibrary
        The best match (in the preferred units, then most samples of each column kind, configurations × columns
        scanned, then the closest optics).

    Raises
    ------
    ValueError
        No library matches: the message lists those there are and says to compute one.

    Examples
    --------
    >>> lib = load_library("PbSe", (0, 1, 0))
    >>> lib.types, lib.settings["detector_mrad"]
    (['Pb+Se'], [60.0, 130.0])
    """
    from .multislice import samples_per_kind

    name, _ = resolve_crystal(crystal, lattice_parameter)
    zone = canonical_zone(zone_axis)
    want = np.array([energy_keV, convergence_mrad, *detector_mrad], dtype=float)
    candidates = [CrossSectionLibrary.read(p) for p in library_files()]
    best, best_key = None, None
    for lib in candidates:
        if lib.crystal != name or canonical_zone(lib.zone_axis) != zone:
            continue
        rel = np.abs(np.array(_optics(lib.settings)) - want) / np.maximum(want, 1.0)
        a = lib.settings.get("lattice_parameter_A")
        if rel.max() > tolerance or (lattice_parameter is not None and abs(a / lattice_parameter - 1) > tolerance):
            continue
        if not _same_vibrations(lib.settings.get("thermal_sigma_A", {}), thermal_sigma, tolerance):
            continue
        key = (lib.settings.get("units", "cell") != units, -samples_per_kind(lib.settings), float(rel.sum()))
        if best_key is None or key < best_key:
            best, best_key = lib, key
    if best is None:
        have = ", ".join(f"{lib.crystal} ⟨{''.join(map(str, lib.zone_axis))}⟩ {_optics(lib.settings)} "
                         f"σ {lib.settings.get('thermal_sigma_A', '?')}" for lib in candidates) or "none"
        vib = f", thermal displacements {thermal_sigma} Å" if thermal_sigma else ""
        raise ValueError(
            f"no cross-section library for {name} along {tuple(zone_axis)} at {energy_keV} keV, "
            f"{convergence_mrad} mrad, detector {tuple(detector_mrad)} mrad{vib} (libraries there are: {have}); "
            "compute one with napari_nxtomo.simulate_library(...) (needs abTEM: "
            'pip install "napari-nxtomo[multislice]")'
        )
    return best


def _same_vibrations(have: dict, want, tolerance: float) -> bool:
    """Whether a library's thermal displacements (``have``, Å per element) are ``want``'s (default: room temperature's).

    Examples
    --------
    >>> _same_vibrations({"Pb": 0.134, "Se": 0.11}, None, 0.02), _same_vibrations({"Pb": 0.09, "Se": 0.08}, None, 0.02)
    (True, False)
    >>> _same_vibrations({"Pb": 0.09, "Se": 0.08}, {"Pb": 0.09, "Se": 0.08}, 0.02)
    True
    """
    from .multislice import THERMAL_SIGMA

    for element, sigma in have.items():
        target = (want or {}).get(element, THERMAL_SIGMA.get(element, 0.1))
        if abs(float(sigma) / float(target) - 1) > tolerance:
            return False
    return True
