"""Cross-section libraries from frozen-phonon multislice (abTEM, an optional extra).

A periodic bulk supercell of the crystal, oriented along the zone axis, is
scanned over one projected cell; exit planes after every atomic layer give
the whole thickness series in one run, and the detector signal summed over
each column's (Voronoi) cell times the scan pixel area is that column's
cross-section at that depth (fraction of the incident beam × Å²).
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np
import pandas as pd

from .cell import (
    canonical_zone, cell_owner, column_composition, column_type_names, elements_by_weight, integrate_cells, oriented_cell,
    representative_columns, resolve_crystal, scan_grid, tiled_cell,
)
from .fitted import column_types, fitted_volumes, in_fitted_units
from .table import CrossSectionLibrary

INSTALL_HINT = 'computing a cross-section library needs abTEM: pip install "napari-nxtomo[multislice]"'
#: 1D rms thermal displacements (Å) at room temperature; U_iso ≈ 0.018 Å² for Pb, 0.012 Å² for chalcogens
THERMAL_SIGMA = {"Pb": 0.134, "Se": 0.110, "S": 0.110, "Te": 0.110, "Cd": 0.120, "Zn": 0.110}


class LibraryCancelled(Exception):
    """Raised by :func:`simulate_library` when its ``cancel`` callback returns True.

    Examples
    --------
    >>> str(LibraryCancelled("library cancelled after 2 of 8 configurations"))
    'library cancelled after 2 of 8 configurations'
    """


def electron_wavelength(energy_keV: float) -> float:
    """Relativistic electron wavelength (Å) at ``energy_keV``.

    Examples
    --------
    >>> round(electron_wavelength(300.0), 5)
    0.01969
    """
    return float(12.398419843 / np.sqrt(energy_keV * (2 * 510.99895 + energy_keV)))


def _import_abtem():
    try:
        import abtem
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return abtem


def library_settings(crystal, zone_axis, *, energy_keV=300.0, convergence_mrad=24.0, detector_mrad=(60.0, 130.0),
                     lattice_parameter=None, max_count=15, n_phonons=8, thermal_sigma=None, scan_step_A=0.25,
                     lateral_size_A=12.0, seed=0, every_column=False, units="cell") -> dict:
    """Every setting that changes a library's numbers (the cache key), with the derived sampling.

    Examples
    --------
    >>> s = library_settings("PbSe", (1, 1, 0))
    >>> s["crystal"], s["zone_axis"], s["lattice_parameter_A"], round(s["slice_thickness_A"], 3), s["gpts"]
    ('PbSe', [1, 1, 0], 6.12, 2.164, [272, 256])
    """
    name, cr = resolve_crystal(crystal, lattice_parameter)
    zone = canonical_zone(zone_axis)
    cell = oriented_cell(cr, zone)
    inner, outer = (float(v) for v in detector_mrad)
    if not 0 <= inner < outer:
        raise ValueError(f"detector_mrad is (inner, outer) with 0 ≤ inner < outer, in mrad; got {detector_mrad}")
    reps = [int(np.ceil(lateral_size_A / L)) for L in cell.lengths[:2]]
    lam = electron_wavelength(float(energy_keV))
    # antialiased maximum angle λ/(3 s) must reach the detector's outer angle, with 2 % to spare
    s_max = lam / (3 * outer * 1e-3) / 1.02
    gpts = [int(16 * np.ceil(r * L / s_max / 16)) for r, L in zip(reps, cell.lengths[:2])]
    sigma = {e: float((thermal_sigma or {}).get(e, THERMAL_SIGMA.get(e, 0.1))) for e in elements_by_weight(cell.elements)}
    if units not in ("cell", "fitted"):
        raise ValueError(f"units is 'cell' (each column's cell-integrated signal) or 'fitted' (the plugin's fitted "
                         f"volumes), got {units!r}")
    if units == "fitted" and not every_column:
        raise ValueError("a library in fitted units fits the whole scanned supercell: give every_column=True")
    scanned = {"every_column": True, "columns_per_kind": _columns_per_kind(cell, reps)} if every_column else {}
    if units == "fitted":  # only then a key: the cell-integrated libraries keep their settings (and cache names)
        scanned["units"] = "fitted"
    return scanned | {
        "crystal": name, "zone_axis": list(zone), "basis_quarters": {e: list(b) for e, b in cr.basis.items()},
        "lattice_parameter_A": float(cr.lattice_parameter), "energy_keV": float(energy_keV),
        "convergence_mrad": float(convergence_mrad), "detector_mrad": [inner, outer], "aberrations": "none",
        "max_count": int(max_count), "n_phonons": int(n_phonons), "thermal_sigma_A": sigma,
        "scan_step_A": float(scan_step_A), "supercell_repeats": reps,
        "supercell_A": [float(r * L) for r, L in zip(reps, cell.lengths[:2])], "gpts": gpts,
        "sampling_A": [float(r * L / g) for r, L, g in zip(reps, cell.lengths[:2], gpts)],
        "slice_thickness_A": float(cell.layer_spacing), "parametrization": "lobato", "projection": "infinite",
        "seed": int(seed), "cell": "Voronoi cell of the column in projection (periodic bulk), scanned whole for one column of each kind",
    }


def _columns_per_kind(cell, repeats) -> int:
    """Columns of each kind in the supercell (each frozen-phonon configuration's samples of a kind, scanned whole)."""
    return int(len(cell.columns) // len(representative_columns(cell)) * int(np.prod(repeats[:2])))


def samples_per_kind(settings: dict) -> int:
    """How many columns of each kind a library's values average: configurations × columns scanned per kind.

    Examples
    --------
    >>> samples_per_kind(library_settings("PbSe", (1, 0, 0), n_phonons=8)), samples_per_kind(
    ...     library_settings("PbSe", (1, 0, 0), n_phonons=8, every_column=True))
    (8, 64)
    """
    return int(settings.get("n_phonons", 0)) * int(settings.get("columns_per_kind", 1))


def room_vibration(crystal) -> float:
    """Room temperature's rms thermal displacement (Å) of the crystal's heaviest element (:data:`THERMAL_SIGMA`).

    Examples
    --------
    >>> room_vibration("PbSe"), room_vibration("CdSe")
    (0.134, 0.12)
    """
    _, cr = resolve_crystal(crystal)
    return THERMAL_SIGMA.get(elements_by_weight(list(cr.basis))[0], 0.1)


def scaled_vibrations(crystal, heaviest_sigma: float):
    """Thermal displacements (Å per element) with the heaviest element's at ``heaviest_sigma``, the others scaled alike.

    In the classical (Debye) limit every element's mean square displacement
    grows in proportion to the temperature, so one number (the heaviest
    element's rms displacement) sets them all.  None when it is room
    temperature's (:func:`room_vibration`, then the shipped libraries apply).

    Examples
    --------
    >>> scaled_vibrations("PbSe", 0.09)
    {'Pb': 0.09, 'Se': 0.0739}
    >>> scaled_vibrations("PbSe", 0.134) is None
    True
    """
    if not heaviest_sigma > 0:
        raise ValueError(f"the rms thermal displacement must be positive (Å), got {heaviest_sigma}")
    factor = float(heaviest_sigma) / room_vibration(crystal)
    if abs(factor - 1) < 1e-6:
        return None
    _, cr = resolve_crystal(crystal)
    return {e: round(THERMAL_SIGMA.get(e, 0.1) * factor, 4) for e in elements_by_weight(list(cr.basis))}


def settings_key(settings: dict) -> str:
    """A short hash of the settings (the on-disk cache's file name).

    Examples
    --------
    >>> len(settings_key({"energy_keV": 300.0}))
    16
    """
    keep = {k: v for k, v in settings.items() if k not in ("abtem_version", "run_time_s", "machine")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def simulate_library(crystal, zone_axis, *, energy_keV=300.0, convergence_mrad=24.0, detector_mrad=(60.0, 130.0),
                     lattice_parameter=None, max_count=15, n_phonons=8, thermal_sigma=None, scan_step_A=0.25,
                     seed=0, every_column=False, units="cell", cache=True, progress=None,
                     cancel=None) -> CrossSectionLibrary:
    """Cross-sections per atom count of every column type, from frozen-phonon multislice (abTEM).

    Parameters
    ----------
    crystal : str or Crystal
        ``"PbSe"``, ``"PbS"``, ``"PbTe"`` or a :class:`~napari_nxtomo.core.lattice.Crystal`
        (e.g. ``ROCKSALT_PBSE``).
    zone_axis : 3 ints
        A ⟨100⟩ or ⟨110⟩ axis.
    energy_keV, convergence_mrad : float
        Beam energy (keV) and probe semi-convergence angle (mrad); aberration-free probe.
    detector_mrad : (float, float)
        Inner and outer angle of the annular detector, mrad.
    lattice_parameter : float, optional
        Å; the crystal's own by default.
    max_count : int
        Largest count of the column's heavy (or only) element.
    n_phonons : int
        Frozen-phonon configurations (Gaussian displacements, ``thermal_sigma``).
    thermal_sigma : dict, optional
        1D rms displacement (Å) per element; :data:`THERMAL_SIGMA` by default.
    scan_step_A : float
        Largest probe step, Å (0.25 Å: the cross-sections of Pb columns within
        0.5 % of those with 0.2 Å steps, Se within 1.5 %).
    seed : int
        Seed of the displacements.
    every_column : bool
        Scan every column of the supercell, not one of each kind: each configuration then gives one sample per
        column of each kind (8 along ⟨100⟩ and ⟨110⟩ in the ~12 Å supercell of PbSe).  A single column's
        cell-integrated signal scatters by ~15 % from one configuration to the next (its own thermal
        displacements), so 8 configurations of one column leave ~5 % on each value, as large as what tells (n, n + 1)
        from (n + 1, n) Pb/Se columns apart; with every column ~2 %.  Costs ~3.4 × the time per configuration at
        0.4 Å steps (``scan_step_A``; 0.4 Å steps integrate a cell within 0.7 % of 0.2 Å ones).  The shipped
        libraries scan one column of each kind: measured 2026-12-05 (``benchmarks/bench_end_to_end.py``'s
        docstring), an every-column PbSe library for 22 mrad, 60-140 mrad matches the stored particles' cell signal
        better (Se-ended (n, n + 1) columns 1-5 % under Pb-ended ones against it, 2-8 % against the shipped one) but
        counts their fitted volumes worse (the fit holds a share of a column's signal that grows with its count,
        which the shipped library's shape happens to follow better).
    units : {"cell", "fitted"}
        ``"cell"``: each column's signal summed over its cell (fraction of the beam × Å²; the plugin's fit holds a
        share of it, :data:`~napari_nxtomo.core.library.table.FIT_CAPTURE`).  ``"fitted"`` (needs
        ``every_column``): the plugin's Gaussians fitted to the configurations' mean scanned supercell after every
        layer (:mod:`~napari_nxtomo.core.library.fitted`; a particle's image is such a mean), so the values are
        what the fit of an image normalised to the beam measures.  Shipped for PbSe ⟨100⟩ at 22 mrad, 60-140 mrad
        (``count_core_shell_table(..., mixed_units="fitted")``).
    cache : bool
        Read and write the on-disk cache (:func:`~napari_nxtomo.core.library.cache_dir`).
    progress : callable, optional
        ``progress(i, n)`` after each configuration.
    cancel : callable, optional
        Returns True to stop: :class:`LibraryCancelled` is raised.

    Returns
    -------
    CrossSectionLibrary
        Cross-sections in fraction of the incident beam × Å².

    Raises
    ------
    ImportError
        abTEM is not installed (the message says how to install it).

    Examples
    --------
    A cached or shipped library comes back without abTEM; computing one needs it:

    >>> from napari_nxtomo.core.library import load_library
    >>> load_library("PbSe", (1, 1, 0)).settings["n_phonons"] >= 1
    True
    """
    settings = library_settings(
        crystal, zone_axis, energy_keV=energy_keV, convergence_mrad=convergence_mrad, detector_mrad=detector_mrad,
        lattice_parameter=lattice_parameter, max_count=max_count, n_phonons=n_phonons,
        thermal_sigma=thermal_sigma, scan_step_A=scan_step_A, seed=seed, every_column=every_column, units=units,
    )
    from .shipped import cached_library, store_in_cache

    if cache:
        hit = cached_library(settings)
        if hit is not None:
            return hit
    abtem = _import_abtem()
    t0 = time.time()
    lib = _run(abtem, crystal, lattice_parameter, settings, progress, cancel)
    lib.settings.update(abtem_version=abtem.__version__, run_time_s=round(time.time() - t0, 1),
                        machine=f"{os.cpu_count()} CPUs")
    if cache:
        store_in_cache(lib)
    return lib


def _layers_needed(cell, max_count):
    """Layers until every column holds ``max_count`` atoms of its heaviest element, plus one."""
    per_cell = int(round(cell.lengths[2] / cell.layer_spacing))
    comp = column_composition(cell, per_cell * (max_count + 2))
    first = 0
    for k in range(comp.shape[1]):
        heavy = comp[:, k, int(np.argmax(comp[-1, k] > 0))]
        first = max(first, int(np.argmax(heavy >= max_count)) + 2)
    return int(per_cell * np.ceil(first / per_cell))


def _run(abtem, crystal, lattice_parameter, s, progress, cancel) -> CrossSectionLibrary:
    """The multislice runs, one per phonon configuration, and the tables."""
    abtem.config.set({"fftw.threads": 1, "diagnostics.progress_bar": False})
    _, cr = resolve_crystal(crystal, lattice_parameter)
    cell = oriented_cell(cr, s["zone_axis"])
    n_layers = _layers_needed(cell, s["max_count"])
    every = bool(s.get("every_column"))
    if every:
        cell = tiled_cell(cell, s["supercell_repeats"])
    scan = _cell_scan(abtem, cell, s, every)
    rng = np.random.default_rng(s["seed"])
    per_config, maps = [], 0.0
    for c in range(s["n_phonons"]):
        if cancel is not None and cancel():
            raise LibraryCancelled(f"library cancelled after {c} of {s['n_phonons']} configurations")
        signal, config_maps = _phonon_signal(abtem, _supercell(cell, s, n_layers, every), s, scan, rng)
        per_config.append(signal)
        maps = maps + config_maps / s["n_phonons"]
        if progress is not None:
            progress(c + 1, s["n_phonons"])
    comp = column_composition(cell, n_layers)[:, scan["keep"]]
    elements = elements_by_weight(cell.elements)
    tables = library_tables(np.stack(per_config), comp, elements, s["max_count"])
    if s.get("units") == "fitted":  # the image a particle gives is the mean over configurations: fitted as such
        volumes = fitted_volumes(maps, scan["spacing"], cell.lengths, cell.columns, column_types(cell))
        tables = in_fitted_units(tables, library_tables(volumes[None][:, :, scan["keep"]], comp, elements,
                                                        s["max_count"]))
    return CrossSectionLibrary(s["crystal"], tuple(s["zone_axis"]), dict(s), tables)


def _supercell(cell, s, n_layers, tiled=False):
    """The periodic bulk supercell (``ase.Atoms``) of ``n_layers`` atomic layers along the beam, static (``cell``
    already the supercell across the beam when ``tiled``)."""
    import ase

    per_cell = int(round(cell.lengths[2] / cell.layer_spacing))
    base = ase.Atoms(symbols=list(cell.elements), positions=cell.positions, cell=cell.lengths, pbc=True)
    return base.repeat(([1, 1] if tiled else s["supercell_repeats"]) + [n_layers // per_cell])


def _cell_scan(abtem, cell, s, every=False) -> dict:
    """The probe positions over the whole cell of one column of each kind (``every``: of every column of ``cell``;
    no edge noise), and the detector."""
    keep = np.arange(len(cell.columns)) if every else representative_columns(cell)
    n_full = [2 * int(np.ceil(L / s["scan_step_A"] / 2)) for L in cell.lengths[:2]]
    h = [L / n for L, n in zip(cell.lengths[:2], n_full)]
    owner = cell_owner(n_full, h, cell.lengths, cell.columns)
    positions, shape, spacing, mask = scan_grid(cell.lengths, s["scan_step_A"], owner, keep)
    det = abtem.AnnularDetector(inner=s["detector_mrad"][0], outer=s["detector_mrad"][1])
    return {"cell": cell, "keep": keep, "positions": positions, "shape": shape, "spacing": spacing, "mask": mask,
            "detector": det}


def _phonon_signal(abtem, atoms, s, scan, rng):
    """One frozen-phonon configuration of ``atoms`` (displaced in place, ``s["thermal_sigma_A"]``): the signal
    after every layer summed over each kept column's cell, (layers, kept columns), fraction of the beam × Å²; and
    the scanned signal on the full grid after every layer (layers, n0, n1), fraction of the beam."""
    cell, n_layers = scan["cell"], int(round(atoms.cell.lengths()[2] / scan["cell"].layer_spacing))
    sig = np.array([s["thermal_sigma_A"][e] for e in atoms.get_chemical_symbols()])
    atoms.positions = atoms.positions + rng.normal(size=atoms.positions.shape) * sig[:, None]
    full = np.zeros((n_layers, scan["mask"].size))
    full[:, scan["mask"]] = _scan(abtem, atoms, s, scan["positions"], scan["detector"])
    maps = full.reshape((n_layers,) + scan["shape"])
    return integrate_cells(maps, scan["shape"], scan["spacing"], cell.lengths, cell.columns)[:, scan["keep"]], maps


def _scan(abtem, atoms, s, scan_pos, det):
    """The detector signal after every slice at the scan positions: (slices, positions), fraction of the beam."""
    depth = float(atoms.cell.lengths()[2])  # one slice per layer, their number fixed (not depth / thickness, which
    n = int(round(depth / s["slice_thickness_A"]))  # can round up to one slice more: 22 layers of PbSe [100] gave 23)
    pot = abtem.Potential(atoms, gpts=s["gpts"], slice_thickness=(depth / n,) * n, exit_planes=1,
                          projection=s["projection"], parametrization=s["parametrization"])
    probe = abtem.Probe(energy=s["energy_keV"] * 1e3, semiangle_cutoff=s["convergence_mrad"])
    probe.grid.match(pot)
    m = probe.scan(pot, scan=abtem.CustomScan(scan_pos), detectors=det).compute(
        scheduler="threads", num_workers=os.cpu_count() or 1, progress_bar=False)
    return np.asarray(m.array, dtype=float)[1:]  # the first plane is the entrance surface


def library_tables(cs, comp, elements, max_count) -> dict:
    """Per-type tables from the cross-sections ``cs`` (configs, layers, columns) and the compositions.

    ``comp`` (layers, columns, elements) counts each element's atoms of each
    column after each layer (elements heaviest first).  A column's type is
    its element, or ``"A+B"`` (heavy first) when it holds two; all (layer,
    column) pairs with the same type and counts are averaged per
    configuration, then over the configurations (sd: their spread / √n).

    Examples
    --------
    >>> comp = np.array([[[1, 0]], [[1, 1]], [[2, 1]]])
    >>> cs = np.array([[[0.01], [0.02], [0.035]], [[0.012], [0.022], [0.033]]])
    >>> library_tables(cs, comp, ["Pb", "Se"], 2)["Pb+Se"]["count"].tolist()
    [1, 1, 2]
    """
    groups: dict = {}
    types = column_type_names(comp[-1], elements)
    for k, t in enumerate(types):
        present = comp[-1, k] > 0
        mixed = "+" in t
        i_heavy = int(np.argmax(present))
        i_light = len(elements) - 1 - int(np.argmax(present[::-1]))
        for j in range(comp.shape[0]):
            n, minor = int(comp[j, k, i_heavy]), (int(comp[j, k, i_light]) if mixed else 0)
            if n > max_count or n + minor == 0 or (not mixed and n == 0):
                continue
            groups.setdefault((t, n, minor), []).append(cs[:, j, k])
    tables = {}
    for (t, n, minor), vals in sorted(groups.items()):
        per_config = np.mean(vals, axis=0)
        sd = float(np.std(per_config, ddof=1) / np.sqrt(per_config.size)) if per_config.size > 1 else 0.0
        tables.setdefault(t, []).append((n, minor, float(per_config.mean()), sd))
    return {t: pd.DataFrame(rows, columns=["count", "n_minor", "cross_section", "cross_section_sd"])
            for t, rows in tables.items()}
