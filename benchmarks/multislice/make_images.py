"""Multislice HAADF-STEM images of small PbSe particles (abTEM), stored small as test data.

The project's own image generator (:mod:`napari_nxtomo.core.simulate`) draws one
Gaussian per column with a cross-section from a smooth model.  Real images are
not like that: the probe channels along a column and spreads to its
neighbours, and thermal diffuse scattering (frozen phonons) feeds the annular
detector.  This script makes HAADF images with a full multislice calculation
(abTEM) so that ``tests/core/test_multislice.py`` can check column finding,
fitting and counting beyond the project's model.  abTEM is only needed here,
not by the tests.

Run (16 minutes per view on this 2-core machine with the defaults and both
cores: 964 s for [100], 950 s for [110]; on one thread of the shared machine,
[010] 2216 s, and ``--particle pbse_irregular`` [100] 1652 s, [110] 1665 s,
[010] 1577 s: ``tests/core/data/multislice/README.md`` lists every run)::

    pip install abtem
    python benchmarks/multislice/make_images.py                  # the three views
    python benchmarks/multislice/make_images.py --views 100      # one view
    python benchmarks/multislice/make_images.py --particle pbse_irregular   # another particle
    python benchmarks/multislice/make_images.py --quick --out /tmp/ms   # small smoke test
    python benchmarks/multislice/make_images.py --particle pbse_truncated_octahedron_3nm \
        --one-thread --workers 16                                    # tiles shared by 16 processes

``--append --phonon-seed S --configs N`` adds N configurations drawn with seed ``[S, u, v, w]`` to a view already
stored with the same settings (the mean is then over all; the JSON lists every seed and how many configurations each
gave): a particle first simulated with few configurations is brought to more without redoing them.

``--workers N`` shares each view's scan tiles among N processes (one core each with
``--one-thread``); the images are the same as with one (checked: a ``--quick`` view with 1 and 2
workers, largest difference 0.0).

The stored files were made with exactly these commands (run from the
repository root, abTEM 1.0.11; ``--one-thread`` and the environment keep the
run on one core so that other work can use the other)::

    python benchmarks/multislice/make_images.py --views 100 110        # [100], [110] (both cores)
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \\
        nice -n 5 python benchmarks/multislice/make_images.py --views 010 --one-thread
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \\
        nice -n 5 python benchmarks/multislice/make_images.py --particle pbse_irregular \\
        --views 100 110 010 --one-thread

Each view's JSON records its settings and run time, and (pbse_irregular) its command.

What is simulated
-----------------
* Particles (``--particle``):

  - ``cuboctahedron`` (default; files at the top of ``--out``):
    ``napari_nxtomo.core.samples.pbse_cuboctahedron(seed=0, n_half=4)``:
    rocksalt PbSe (a = 6.12 Å), cuboctahedron 4 a/2 from the centre to its
    {100} facets, with a partial layer (island) on the +x facet and 5 Pb
    surface vacancies: 583 atoms (315 Pb, 268 Se).
  - ``pbse_irregular`` (sub-folder ``pbse_irregular/``): :func:`pbse_irregular`,
    an elongated, unevenly truncated rocksalt PbSe particle, 2.4 × 2.4 ×
    3.1 nm between atom centres, {100}, {110} and {111} facets of unequal
    sizes, an island (partial layer) on the +x facet, 4 Pb and 4 Se surface
    vacancies: 606 atoms (302 Pb, 304 Se).
  - ``pbse_cdse_core_shell`` (sub-folder; the bundled core–shell sample):
    ``napari_nxtomo.core.samples.core_shell_model(*CORE_SHELL_SAMPLE)``, a
    PbSe core (155 Pb, island on its (010) facet) in a zincblende CdSe rod,
    one Se sublattice: 611 atoms.  Made with ``--configs 3 --scan-step 0.25``
    (see ``tests/core/data/multislice/README.md``).
  - ``pbse_cdse_cube`` (sub-folder): ``core_shell_model(*CORE_SHELL_CUBE)``, a cubic
    PbSe core (177 Pb, island) moved off the centre of a wider, shorter CdSe rod (a thicker
    shell): 814 atoms.  Made with ``--configs 3 --scan-step 0.25``.
  - ``pbse_cdse_truncated`` (sub-folder): ``core_shell_model(*CORE_SHELL_TRUNCATED)``, a small
    truncated-octahedral core (85 Pb, island) moved off the centre of a CdSe rod: 570 atoms.
    Made with ``--configs 3 --scan-step 0.25``.
  - ``pbse_cdse_cut_cube`` (sub-folder): ``core_shell_model(*CORE_SHELL_CUT_CUBE)``, a cube with
    its corners cut by {111} (154 Pb, island) moved 1 a/2 along -x and down y in a CdSe rod of
    radius 15 Å: 670 atoms.  Made with ``--configs 3 --scan-step 0.25`` on 2026-12-04 to measure the
    counting untuned.
  - ``pbse_cdse_wide`` (sub-folder): ``core_shell_model(*CORE_SHELL_WIDE)``, a core between
    truncated octahedron and cuboctahedron (120 Pb, island) moved along a wider CdSe rod (radius
    15.5 Å): 740 atoms.  Made with ``--configs 3 --scan-step 0.25``, untuned, after the fifth.
  - ``pbse_cdse_large`` (sub-folder): ``core_shell_model(*CORE_SHELL_LARGE)``, a larger
    truncated-octahedral core (213 Pb, island) moved up y and down a rod of radius 16 Å (a thin side
    shell): 787 atoms; and ``pbse_cdse_small``: ``core_shell_model(*CORE_SHELL_SMALL)``, a small
    cuboctahedral core (59 Pb, island) in a long rod of radius 14 Å (a thick shell): 619 atoms.  Both
    made with ``--configs 3 --scan-step 0.25`` at the start of the session of 2026-12-04 22:00 UTC,
    before its changes, to measure them untuned.
  - ``pbse_cuboctahedron_3nm`` (sub-folder): ``pbse_cuboctahedron(seed=3,
    n_half=5)``, 3.1 nm between {100} facets, an island and 5 Pb vacancies
    placed by its own seed: 1069 atoms (568 Pb, 501 Se); a cuboctahedron
    unlike the sample for issue 17's untuned checks.
  - ``pbse_truncated_octahedron_3nm`` (sub-folder): :func:`pbse_truncated_octahedron`, 3.1 nm
    between its small {100} facets, large {111} facets, an island on a {100} facet, 4 Pb and 3 Se
    vacancies: 719 atoms (404 Pb, 315 Se).  Made with ``--configs 8`` (twice the others) after the
    counting's rules of 2026-12-04, to measure them on a particle they were not chosen on; its [100]
    view on a 16-core machine with ``--workers 16``, the others here (see the data README).
  - ``pbse_truncated_cube_3nm`` (sub-folder): :func:`pbse_truncated_cube`, a cube 3.1 nm across with {110}
    bevels on its vertical edges and {111} corners, flattened to 2.4 nm along the tilt axis, an island on its +x
    facet, 3 Pb and 2 Se vacancies: 964 atoms (472 Pb, 492 Se).  Made with ``--configs 3 --scan-step 0.25`` on
    2026-12-05, after that day's counting rules, to measure them untuned; then 5 configurations more
    (``--append --phonon-seed 2025``).
  - ``pbse_rhombic_3nm`` (sub-folder): :func:`pbse_rhombic`, 3.1 × 2.4 × 3.1 nm with {110} bevels on all twelve
    edges of the box and {111} corners, an island on its -y facet, 5 Pb and 3 Se vacancies: 869 atoms (432 Pb, 437
    Se).  Made with ``--configs 3 --scan-step 0.25`` on 2026-12-06, after the counting rules of cb5964a, to measure
    them untuned (see the data README).
  - ``pbse_octahedral_4nm`` (sub-folder): :func:`pbse_octahedral`, 3.7 × 3.1 × 2.4 nm between octahedron and cube,
    large {111} facets (more Se than Pb: 390 Pb, 466 Se), one {110} bevel, an island on its -x facet, 5 Pb and 4 Se
    vacancies.  Made with ``--configs 5 --scan-step 0.25`` on 2026-12-07, after 326c31e, to measure the counting
    untuned (see the data README).
  - ``pbse_cuboctahedron_5nm`` (sub-folder): ``pbse_cuboctahedron(seed=0,
    n_half=8)``, 4.9 nm between {100} facets.  Not run: about 28 × 28 tiles
    of 26 slices per view, ~6 times the cost of the others (~3 h per view on
    one core of this machine).

* Views: [100], [010] and [110] about the tilt axis [001]
  (:class:`~napari_nxtomo.core.geometry.ProjectionGeometry`).  The atoms are
  rotated with ``ProjectionGeometry.basis`` so that abTEM's x is the image row
  (along [001]), y the image column and z the beam; a column at crystal
  position ``p`` appears at image position ``geometry.project(p) + origin``
  (Å; pixel (0, 0) centred at image position (0, 0)), ``origin`` in the JSON.
* Microscope: 300 kV, aberration-free probe, semi-convergence 22 mrad, annular
  detector 60-140 mrad (the outer angle is bounded by the potential sampling,
  see below; at these angles the signal falls off roughly as θ⁻³, so
  140-200 mrad would add only ~10 %), scan step 0.2 Å (Nyquist for 22 mrad
  is λ/(4α) = 0.22 Å).
* Potential: Lobato parametrisation, infinite projection, slices 2 Å thick,
  sampling 11 Å / 240 = 0.0458 Å (antialiased maximum angle 143 mrad).
  ``--slicing layers`` cuts one slice per atomic layer along the beam instead,
  each layer mid-slice, as the libraries do; on the elongated particle's [100]
  and [010] views it changed single columns by ~2 % either way and their mean
  by < 0.3 % (``check_slicing.py``'s docstring).
* Frozen phonons: 4 configurations, isotropic Gaussian displacements with
  1D rms 0.134 Å for Pb and 0.110 Å for Se (U_iso ≈ 0.018 and 0.012 Å², about
  room-temperature PbSe); every configuration displaces all atoms of the
  particle at once (seeded), and every scan tile sees the same configuration.

How far the phonon average has converged
----------------------------------------
Four configurations are what the time allows (each costs ~4 minutes per view
here), and they are not enough for column-by-column accuracy: a column's
fitted cross-section scatters by ~10-11 % (median; RMS 12-14 %) from one
configuration to the next, so ~5 % remains in the mean of four, more than the
Poisson noise of a 1e5 e/Å² image (1.3 % for Pb columns).  The images of
the single configurations are stored (``haadf_<uvw>_configs.npz``) so that
this can be measured; ``tests/core/test_multislice.py`` reports it.  (Drawing
fresh configurations per tile and per pixel subset instead, 10 per tile and
2 per pixel for the same run time, was tried and did not help: a column then
sees its atoms displaced differently from pixel to pixel, which adds as much
scatter to its integral as it removes.)

How it is made fast enough for 2 cores: scan tiles
--------------------------------------------------
A probe only touches atoms within a few Å of its position, so the scan is
cut into tiles of 10 × 10 probe positions (1.8 Å × 1.8 Å); each tile is run in
its own 11 Å × 11 Å cell holding the atoms within that cell (≥ 4.6 Å around
every probe of the tile), instead of one cell around the whole particle
(about 25 times fewer pixels per probe).
Every tile has the same cell and the same probe offsets inside it, so the
(discretised) probe is identical everywhere.  Checked against a 24 Å cell on
the [100] view (no phonons, 0.0375 Å sampling): cropping the atoms to an
11 Å box changes the signal on the particle's thickest columns by 0.03 % of
the maximum and the tile's mean by 0.2 %; the small 11 Å cell itself (its
coarser reciprocal sampling of the probe aperture and the probe's own periodic
images) changes it by ≤ 1.1 % of the maximum (the same probe for every tile);
at the particle's edge, where the signal is 2 % of the maximum, the 11 Å cell
is off by 6 % of that weak signal (0.1 % of the maximum).  Tiles whose cell
holds no atom are left at 0 (vacuum: no scattering onto the detector).  The
scan covers the projected particle and 2.6 Å around it.

Output (``--out``, default ``tests/core/data/multislice``; a particle other
than the bundled cuboctahedron in the sub-folder of its name)
--------------------------------------------------------------------------
The bundled cuboctahedron's files were then moved into the package
(``src/napari_nxtomo/data/samples/pbse_cuboctahedron``: the plugin's sample,
``napari_nxtomo.pbse_cuboctahedron_multislice``), all but its
``haadf_<uvw>_configs.npz``, which stay with the tests.

``haadf_<uvw>.npy``
    float32 (H, W): the frozen-phonon mean HAADF signal, as the fraction of
    the incident probe intensity that reaches the detector (no noise).  For
    a dose D (e/Å²) the expected number of detected electrons in a pixel is
    ``image · D · pixel_size²``.
``haadf_<uvw>_configs.npz``
    ``configs``: float32 (C, H, W), one image per frozen-phonon configuration
    (their mean is ``haadf_<uvw>.npy``), to judge how far the phonon average
    has converged.
``haadf_<uvw>.json``
    Pixel size, zone and tilt axes, origin, abTEM version, every setting, the
    run time and threads, the particle (function, seed, composition) and
    (from ``pbse_irregular`` on) the command line.
``columns_<uvw>.csv``
    The true columns: ``y``, ``x`` (Å, image position of the static
    column), ``n_Pb``, ``n_Se``, ``n_atoms``, ``type`` ("Pb", "Se" or
    "Pb+Se").
``atoms.csv``
    The static model: element, ``x``, ``y``, ``z`` (Å, crystal frame).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from napari_nxtomo.core.geometry import ProjectionGeometry
from napari_nxtomo.core.lattice import ROCKSALT_PBSE
from napari_nxtomo.core.samples import (CORE_SHELL_BURIED, CORE_SHELL_CUBE, CORE_SHELL_CUT_CUBE, CORE_SHELL_HELD_OUT,
                                        CORE_SHELL_HELD_OUT_2, CORE_SHELL_LARGE, CORE_SHELL_OCTAHEDRAL,
                                        CORE_SHELL_EXPOSED, CORE_SHELL_THIN_SIDE,
                                        CORE_SHELL_OTHER, CORE_SHELL_SAMPLE, CORE_SHELL_SMALL, CORE_SHELL_TRUNCATED,
                                        CORE_SHELL_WIDE,
                                        _remove_surface_vacancies, core_shell_model, pbse_cuboctahedron, unbonded)
from napari_nxtomo.core.tables import atomic_open

REPO = Path(__file__).resolve().parents[2]

#: 1D rms thermal displacement, Å (U_iso ≈ 0.018 Å² for Pb, 0.012 Å² for Se: room-temperature PbSe, roughly)
THERMAL_SIGMA = {"Pb": 0.134, "Se": 0.110, "Cd": 0.120}  # Cd: U_iso ≈ 0.0145 Å² (room-temperature CdSe, roughly)

DEFAULTS = dict(
    n_half=4,
    particle_seed=0,
    energy_eV=300e3,
    semiangle_mrad=22.0,
    detector_mrad=(60.0, 140.0),
    scan_step_A=0.2,
    tile_px=10,
    cell_A=11.0,
    gpts=240,
    slice_thickness_A=2.0,
    slicing="fixed",
    n_configs=4,
    phonon_seed=2024,
    scan_margin_A=2.6,
    depth_pad_A=1.0,
    parametrization="lobato",
    projection="infinite",
)

QUICK = dict(DEFAULTS, n_half=2, n_configs=1, gpts=192, detector_mrad=(60.0, 100.0), cell_A=10.0)


def zone_name(zone) -> str:
    return "".join(str(int(v)) for v in zone)


def true_columns(geometry, positions, elements, origin):
    """The particle's columns in the image: (y, x) Å, counts per element, type."""
    labels, centres = geometry.group_columns(positions)
    m = len(centres)
    order = [e for e in ("Pb", "Cd", "Se") if e in set(elements)]  # heaviest first, as the column types
    n = {e: np.bincount(labels[elements == e], minlength=m) for e in order}
    kind = ["+".join(e for e in order if n[e][k] > 0) for k in range(m)]
    yx = centres + origin
    cols = pd.DataFrame({"y": yx[:, 0], "x": yx[:, 1], **{f"n_{e}": n[e] for e in order}})
    cols["n_atoms"] = sum(n.values())
    cols["type"] = kind
    return cols


def scan_frame(rc, step, tile, margin):
    """Scan grid covering the projected atoms ``rc`` (N, 2) with ``margin`` Å, whole tiles, particle centred.

    Returns the image shape (H, W) and the image-frame position (row, col, Å)
    of pixel (0, 0) in the rotated crystal frame, ``start``; the image origin is ``-start``.
    """
    lo, hi = rc.min(axis=0) - margin, rc.max(axis=0) + margin
    n = np.ceil((hi - lo) / step).astype(int) + 1
    n = (np.ceil(n / tile) * tile).astype(int)
    centre = 0.5 * (lo + hi)
    start = centre - (n - 1) * step / 2
    return tuple(int(v) for v in n), start


def depth_slicing(depths, s):
    """Where the potential's cell starts along the beam (Å, frame of ``depths``), its depth and the slice thickness.

    ``s["slicing"]`` "fixed": slices of ``slice_thickness_A`` from ``depth_pad_A`` above the first atom (each atom in
    the slice it falls in); "layers": one slice per atomic layer along the beam, each layer in the middle of its
    slice, as the libraries are sliced (``napari_nxtomo.core.library.cell``).  On the elongated particle the two
    read the same columns alike on average (0.9998 / 1.0000 ×, ``check_slicing.py``'s docstring).
    """
    if s["slicing"] == "fixed":
        return depths.min() - s["depth_pad_A"], float(np.ptp(depths) + 2 * s["depth_pad_A"]), s["slice_thickness_A"]
    layers = np.unique(np.round(depths, 2))
    spacing = float(np.min(np.diff(layers)))
    steps = np.diff(layers) / spacing
    if not np.allclose(steps, np.round(steps), atol=0.02):
        raise ValueError("the particle's atomic layers along the beam are not equally spaced: use --slicing fixed")
    n_layers = int(round(np.ptp(layers) / spacing)) + 1
    spacing = float(np.ptp(depths)) / (n_layers - 1)  # not the rounded depths' spacing: no drift over the layers
    return depths.min() - spacing / 2, n_layers * spacing, spacing


def simulate_view(zone, positions, elements, displacements, s, log=print, scheduler="threads", workers=1):
    """HAADF images (one per phonon configuration) of one view, by scan tiles.

    Parameters
    ----------
    zone : (3,) ints
    positions : (N, 3) Å, crystal frame, static model
    elements : (N,) str
    displacements : (C, N, 3) Å, crystal frame, one set per configuration
    s : dict of settings (``DEFAULTS``)
    log : callable taking a progress line
    scheduler : str
        dask scheduler of each tile's computation ("threads", or "synchronous" for one thread)
    workers : int
        processes that share the tiles (1: all in this process); the images do not depend on it

    Returns
    -------
    configs : (C, H, W) float32
    info : dict (origin, shape, timings, ...)
    geometry : ProjectionGeometry
    """
    geometry = ProjectionGeometry(tuple(zone), (0, 0, 1))
    basis = geometry.basis  # rows: image row, image column, beam (right-handed)
    rcb = positions @ basis.T
    assert np.allclose(rcb[:, :2], geometry.project(positions))
    step, tile, cell = s["scan_step_A"], s["tile_px"], s["cell_A"]
    shape, start = scan_frame(rcb[:, :2], step, tile, s["scan_margin_A"])
    origin = -start
    b_lo, depth, thickness = depth_slicing(rcb[:, 2], s)
    moved = [(positions + d) @ basis.T for d in displacements]  # (C) × (N, 3) in the image frame
    n_conf = len(moved)
    out = np.zeros((n_conf,) + shape, dtype=np.float32)
    ti_n, tj_n = shape[0] // tile, shape[1] // tile
    firsts = [np.array([ti * tile, tj * tile]) for ti in range(ti_n) for tj in range(tj_n)]
    job = dict(zone=zone, elements=elements, rcb=rcb, moved=moved, start=start, b_lo=b_lo, depth=depth,
               s=dict(s, slice_thickness_A=thickness), scheduler=scheduler)
    t0 = time.time()
    n_run = n_skip = 0
    probe_sampling = None
    for done, (first, arr, sampling) in enumerate(_map_tiles(job, firsts, workers), start=1):
        if arr is None:
            n_skip += 1
            continue
        out[:, first[0] : first[0] + tile, first[1] : first[1] + tile] = arr
        probe_sampling = sampling
        n_run += 1
        if n_run % 10 == 1 or done == len(firsts):
            el = time.time() - t0
            left = el / done * (len(firsts) - done)
            log(f"  [{zone_name(zone)}] tile {done}/{len(firsts)} ({n_skip} vacuum)  {el:6.0f} s, ~{left:5.0f} s left")
    info = dict(
        origin=origin.tolist(),
        shape=list(shape),
        n_tiles=ti_n * tj_n,
        n_tiles_vacuum=n_skip,
        n_slices=int(round(depth / thickness)) if s["slicing"] == "layers" else int(math.ceil(depth / thickness)),
        slice_thickness_A=thickness,
        cell_depth_A=depth,
        potential_sampling_A=float(cell / s["gpts"]),
        probe_sampling_A=probe_sampling,
        run_time_s=round(time.time() - t0, 1),
    )
    return out, info, geometry


_JOB = {}


def _init_worker(job):
    import abtem

    abtem.config.set({"fftw.threads": 1, "diagnostics.progress_bar": False})
    _JOB.update(job)


def _map_tiles(job, firsts, workers):
    """``(first, configs (C, tile, tile) or None for vacuum, probe sampling)`` per tile, in ``firsts`` order."""
    if workers <= 1:
        _JOB.update(job)
        yield from map(_simulate_tile, firsts)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(job,)) as pool:
        yield from pool.map(_simulate_tile, firsts, chunksize=1)


def _tile_atoms(first):
    """The atoms of one scan tile's cell, one ``ase.Atoms`` per phonon configuration (none: vacuum)."""
    import ase

    j = _JOB
    s, moved, rcb = j["s"], j["moved"], j["rcb"]
    step, tile, cell, n_conf = s["scan_step_A"], s["tile_px"], s["cell_A"], len(j["moved"])
    centre = j["start"] + (first + (tile - 1) / 2) * step  # centre of the tile's probes, image frame
    lo = centre - cell / 2
    sel = [np.all((p[:, :2] >= lo) & (p[:, :2] < lo + cell), axis=1) for p in moved]
    if 0 < sum(v.any() for v in sel) < n_conf or any((v != sel[0]).any() for v in sel):
        # an atom near the cell's edge (>= 4.6 Å from every probe) crosses it in some
        # configurations: take the same atoms in all of them, those whose static position
        # lies 0.5 Å inside the cell (the displaced ones then stay inside: 0.5 Å > 3.7 rms)
        keep = np.all((rcb[:, :2] >= lo + 0.5) & (rcb[:, :2] < lo + cell - 0.5), axis=1)
        sel = [keep] * n_conf
    ens = [
        ase.Atoms(symbols=list(j["elements"][inside]), positions=p[inside] - np.r_[lo, j["b_lo"]],
                  cell=[cell, cell, j["depth"]], pbc=True)
        for p, inside in zip(moved, sel) if inside.any()
    ]  # fmt: skip
    if 0 < len(ens) < n_conf:
        raise RuntimeError("a tile holds atoms in some phonon configurations only: increase cell_A")
    return ens


def _simulate_tile(first):
    """One scan tile in its own small cell (see the module's docstring)."""
    import abtem

    s = _JOB["s"]
    step, tile, cell = s["scan_step_A"], s["tile_px"], s["cell_A"]
    ens = _tile_atoms(first)
    if not ens:
        return first, None, None
    atoms = abtem.AtomsEnsemble(ens, ensemble_mean=False) if len(ens) > 1 else ens[0]
    thickness = s["slice_thickness_A"]
    if s["slicing"] == "layers":  # exactly one slice per layer (a float would let rounding add a sliver)
        thickness = (thickness,) * int(round(_JOB["depth"] / thickness))
    pot = abtem.Potential(atoms, gpts=s["gpts"], slice_thickness=thickness,
                          parametrization=s["parametrization"], projection=s["projection"])  # fmt: skip
    probe = abtem.Probe(energy=s["energy_eV"], semiangle_cutoff=s["semiangle_mrad"])
    probe.grid.match(pot)
    if probe.cutoff_angles[0] < s["detector_mrad"][1]:
        raise ValueError(
            f"the detector's outer angle {s['detector_mrad'][1]} mrad is beyond the potential's "
            f"antialiased maximum {probe.cutoff_angles[0]:.0f} mrad: raise gpts"
        )
    det = abtem.AnnularDetector(inner=s["detector_mrad"][0], outer=s["detector_mrad"][1])
    p0 = (cell - (tile - 1) * step) / 2  # first probe inside the cell
    scan = abtem.GridScan(start=(p0, p0), end=(p0 + tile * step, p0 + tile * step), gpts=tile, endpoint=False)
    res = probe.scan(pot, scan=scan, detectors=det).compute(scheduler=_JOB["scheduler"], progress_bar=False)
    arr = np.asarray(res.array, dtype=np.float32).reshape(len(ens), tile, tile)
    return first, arr, [float(v) for v in probe.sampling]


# ---------------------------------------------------------------- particles

#: {110} and {111} truncations of :func:`pbse_irregular`: normal (h, k, l) -> largest n·(x, y, z), units a/2
IRREGULAR_CUTS = {
    (1, 1, 0): 6, (1, -1, 0): 6, (-1, 1, 0): 6, (-1, -1, 0): 5,
    (1, 0, 1): 7, (-1, 0, 1): 8, (0, 1, 1): 8, (0, -1, 1): 9,
    (1, 0, -1): 7, (-1, 0, -1): 7, (0, 1, -1): 6, (0, -1, -1): 8,
    (1, 1, 1): 9, (-1, -1, -1): 9,
}  # fmt: skip


def pbse_irregular(seed: int = 1):
    """An irregular rocksalt PbSe particle, 2.4 × 2.4 × 3.1 nm (atom centres), elongated along [001].

    Sites in units of a/2 (x, y, z integers; Pb where x + y + z is even):
    the box -4 ≤ x ≤ 3, |y| ≤ 4, |z| ≤ 5, cut by the unequal {110} and {111} planes of :data:`IRREGULAR_CUTS`
    (so no two opposite facets are alike), plus an island (a partial layer)
    at x = 4 over -2 ≤ y ≤ 1, -1 ≤ z ≤ 3, then 4 Pb and 4 Se surface vacancies
    drawn (``seed``) among facet sites (8-11 of 12 fcc neighbours of the same
    sublattice).

    Returns
    -------
    q : (N, 3) int ndarray, quarter-lattice units (Å = q · a / 4)
    elements : (N,) str ndarray
    """
    q, el, h = _half_sites(5)
    x, y, z = h.T
    box = (x >= -4) & (x <= 3) & (np.abs(y) <= 4) & (np.abs(z) <= 5)
    island = (x == 4) & (y >= -2) & (y <= 1) & (z >= -1) & (z <= 3)
    cut = np.ones(len(h), dtype=bool)
    for normal, d in IRREGULAR_CUTS.items():
        cut &= h @ np.asarray(normal) <= d
    return _kept_with_vacancies(q, el, (box | island) & cut, seed, n_pb=4, n_se=4)


def _half_sites(n_cells):
    """Rocksalt PbSe sites within ``n_cells`` lattice parameters of the centre: quarter-lattice units q, elements,
    and q // 2 (units of a/2, the integers the particle builders cut with)."""
    q, el = ROCKSALT_PBSE.sites(n_cells * ROCKSALT_PBSE.lattice_parameter)
    return q, el, q // 2


def _kept_with_vacancies(q, el, keep, seed, n_pb, n_se):
    """The sites ``keep`` of ``(q, el)`` less ``n_pb`` Pb and then ``n_se`` Se facet sites drawn with ``seed``."""
    q, el = q[keep], el[keep]
    rng = np.random.default_rng(seed)
    q, el = _remove_surface_vacancies(q, el, "Pb", n_pb, rng)
    return _remove_surface_vacancies(q, el, "Se", n_se, rng)


def pbse_truncated_octahedron(seed: int = 7):
    """A rocksalt PbSe truncated octahedron, 3.1 nm between its {100} facets, with an island and vacancies.

    Sites in units of a/2 (Pb where x + y + z is even): ``|x|, |y|, |z| <= 5`` and
    ``|x| + |y| + |z| <= 8`` (small {100} squares, large {111} hexagons), plus an island
    (part of the next layer) on the -y {100} facet, 1 ≤ x ≤ 2, -2 ≤ z ≤ 1, |x| + |z| ≤ 3, then 4 Pb and
    3 Se surface vacancies drawn (``seed``) among facet sites.  Made for issue 17's untuned
    checks after the counting's rules of 2026-12-04, unlike every other particle here.

    Returns
    -------
    q : (N, 3) int ndarray, quarter-lattice units (Å = q · a / 4)
    elements : (N,) str ndarray
    """
    q, el, h = _half_sites(4)
    x, y, z = h.T
    body = (np.abs(h) <= 5).all(axis=1) & (np.abs(h).sum(axis=1) <= 8)
    island = (y == -6) & (x >= 1) & (x <= 2) & (z >= -2) & (z <= 1) & (np.abs(x) + np.abs(z) <= 3)
    return _kept_with_vacancies(q, el, body | island, seed, n_pb=4, n_se=3)


def pbse_truncated_cube(seed: int = 11):
    """A rocksalt PbSe cube with bevelled vertical edges and cut corners, 3.1 × 3.1 × 2.4 nm, island, vacancies.

    Sites in units of a/2 (Pb where x + y + z is even): ``|x|, |y| <= 5``, ``|z| <= 4`` (flattened along the tilt
    axis), ``|x| + |y| <= 8`` ({110} facets along the vertical edges) and ``|x| + |y| + |z| <= 11`` ({111} corners),
    plus an island (part of the next layer) on the +x {100} facet, 0 ≤ y ≤ 2, -2 ≤ z ≤ 1, then 3 Pb and 2 Se
    surface vacancies drawn (``seed``) among facet sites.  Made for issue 17's untuned checks on 2026-12-05,
    after the counting's rules of that day, unlike every other particle here.

    Returns
    -------
    q : (N, 3) int ndarray, quarter-lattice units (Å = q · a / 4)
    elements : (N,) str ndarray
    """
    q, el, h = _half_sites(4)
    x, y, z = h.T
    body = (np.abs(x) <= 5) & (np.abs(y) <= 5) & (np.abs(z) <= 4) & (np.abs(x) + np.abs(y) <= 8) \
        & (np.abs(x) + np.abs(y) + np.abs(z) <= 11)
    island = (x == 6) & (y >= 0) & (y <= 2) & (z >= -2) & (z <= 1)
    return _kept_with_vacancies(q, el, body | island, seed, n_pb=3, n_se=2)



def pbse_cuboid(seed: int = 5):
    """A rocksalt PbSe cuboid, 2.4 × 3.7 × 2.4 nm, its corners cut by {111} facets, an island and vacancies.

    Sites in units of a/2 (Pb where x + y + z is even): ``|x| <= 4``, ``|y| <= 6``, ``|z| <= 4`` and
    ``|x| + |y| + |z| <= 11``, plus an island (part of the next layer) on the +y {100} facet, 0 ≤ x ≤ 2,
    -2 ≤ z ≤ 1, then 4 Pb and 3 Se surface vacancies drawn (``seed``) among facet sites.  Flat {100} faces end
    both ⟨100⟩ views' columns, 9 and 13 sites long (odd): Pb-ended and Se-ended columns side by side, as in the
    truncated cube but of other lengths.  Made on 2026-12-05 (evening) to measure the alias rule of
    ``napari_nxtomo.core.counting.aliases`` on a particle it was not developed on.

    Returns
    -------
    q : (N, 3) int ndarray, quarter-lattice units (Å = q · a / 4)
    elements : (N,) str ndarray
    """
    q, el, h = _half_sites(4)
    x, y, z = h.T
    body = (np.abs(x) <= 4) & (np.abs(y) <= 6) & (np.abs(z) <= 4) & (np.abs(x) + np.abs(y) + np.abs(z) <= 11)
    island = (y == 7) & (x >= 0) & (x <= 2) & (z >= -2) & (z <= 1)
    return _kept_with_vacancies(q, el, body | island, seed, n_pb=4, n_se=3)

def pbse_rhombic(seed: int = 13):
    """A rocksalt PbSe particle with {110} bevels on all twelve edges, 3.1 × 2.4 × 3.1 nm, island, vacancies.

    Sites in units of a/2 (Pb where x + y + z is even): ``|x| <= 5``, ``|y| <= 4``, ``|z| <= 5``, the unequal {110}
    bevels ``|x| + |y| <= 7``, ``|y| + |z| <= 8``, ``|x| + |z| <= 8`` (a rhombicuboctahedron-like shape: every edge
    of the box cut, unlike the truncated cube, whose horizontal edges are square) and ``|x| + |y| + |z| <= 11``,
    plus an island (part of the next layer) on the -y {100} facet, -2 ≤ x ≤ 1, -1 ≤ z ≤ 2, then 5 Pb and 3 Se
    surface vacancies drawn (``seed``) among facet sites.  Made on 2026-12-06, after the counting rules of
    edfc677, to measure them on a particle they were not chosen on.

    Returns
    -------
    q : (N, 3) int ndarray, quarter-lattice units (Å = q · a / 4)
    elements : (N,) str ndarray
    """
    q, el, h = _half_sites(4)
    x, y, z = np.abs(h).T
    body = (x <= 5) & (y <= 4) & (z <= 5) & (x + y <= 7) & (y + z <= 8) & (x + z <= 8) & (x + y + z <= 11)
    hx, hy, hz = h.T
    island = (hy == -5) & (hx >= -2) & (hx <= 1) & (hz >= -1) & (hz <= 2)
    return _kept_with_vacancies(q, el, body | island, seed, n_pb=5, n_se=3)


def pbse_elongated(seed: int = 17):
    """A rocksalt PbSe particle elongated along x, 3.7 × 2.4 × 2.4 nm: {111} corners, one {110} edge bevel, island,
    vacancies.

    Sites in units of a/2 (Pb where x + y + z is even): ``|x| <= 6``, ``|y| <= 4``, ``|z| <= 4``,
    ``|x| + |y| + |z| <= 11`` ({111} corner facets) and the one bevel ``x + y <= 8`` (a {110} facet on the
    +x+y edge only), plus an island (part of the next layer) on the +z {100} facet, -3 ≤ x ≤ 2, -1 ≤ y ≤ 1, then 4
    Pb and 4 Se surface vacancies drawn (``seed``) among facet sites.  Longer along [100] than any other stored
    particle (13 atoms in its thickest [100] columns), made on 2026-12-06 after the pure-column alias rule of
    ``counting/aliases.py``, to measure the counting on a particle it was not chosen on.

    Returns
    -------
    q : (N, 3) int ndarray, quarter-lattice units (Å = q · a / 4)
    elements : (N,) str ndarray
    """
    q, el, h = _half_sites(4)
    hx, hy, hz = h.T
    x, y, z = np.abs(h).T
    body = (x <= 6) & (y <= 4) & (z <= 4) & (x + y + z <= 11) & (hx + hy <= 8)
    island = (hz == 5) & (hx >= -3) & (hx <= 2) & (hy >= -1) & (hy <= 1)
    return _kept_with_vacancies(q, el, body | island, seed, n_pb=4, n_se=4)


def pbse_octahedral(seed: int = 19):
    """A rocksalt PbSe particle between octahedron and cube, 3.7 × 3.1 × 2.4 nm, large {111} facets, one {110}
    bevel, island, vacancies.

    Sites in units of a/2 (Pb where x + y + z is even): ``|x| <= 6``, ``|y| <= 5``, ``|z| <= 4``,
    ``|x| + |y| + |z| <= 9`` (large {111} facets: more Se than Pb, unlike every other particle here) and the one
    bevel ``x - y <= 8`` (a {110} facet on the +x-y edge), plus an island (part of the next layer) on the -x {100}
    facet, ``|y| + |z| <= 1``, then 5 Pb and 4 Se surface vacancies drawn (``seed``) among facet sites.  Made on
    2026-12-07 after the mixed families' scale refinement (326c31e), to measure the counting on a particle it was
    not chosen on.

    Returns
    -------
    q : (N, 3) int ndarray, quarter-lattice units (Å = q · a / 4)
    elements : (N,) str ndarray
    """
    q, el, h = _half_sites(4)
    hx, hy, hz = h.T
    x, y, z = np.abs(h).T
    body = (x <= 6) & (y <= 5) & (z <= 4) & (x + y + z <= 9) & (hx - hy <= 8)
    island = (hx == -7) & (y + z <= 1)
    return _kept_with_vacancies(q, el, body | island, seed, n_pb=5, n_se=4)


def pbse_stepped(seed: int = 23):
    """A larger rocksalt PbSe particle, 4.3 × 4.0 × 2.4 nm: {111} corners, one {110} bevel, a step on its top facet,
    island, vacancies.

    Sites in units of a/2 (Pb where x + y + z is even): ``|x| <= 7``, ``|y| <= 6``, ``|z| <= 4``,
    ``|x| + |y| + |z| <= 12`` ({111} corner facets) and the one bevel ``x + y <= 10`` (a {110} facet on the +x+y
    edge), less the top layer's part ``z = 4, x >= 3`` (a step across the +z {100} facet), plus an island (part of
    the next layer) on the -y {100} facet, -3 ≤ x ≤ 1, -2 ≤ z ≤ 1, then 6 Pb and 5 Se surface vacancies drawn
    (``seed``) among facet sites.  The largest pure PbSe particle here (1442 atoms, [100] columns of 15 sites: the
    libraries' top count), made on 2026-12-07 after b63a519, to measure the counting on a particle it was not
    chosen on.

    Returns
    -------
    q : (N, 3) int ndarray, quarter-lattice units (Å = q · a / 4)
    elements : (N,) str ndarray
    """
    q, el, h = _half_sites(5)
    hx, hy, hz = h.T
    x, y, z = np.abs(h).T
    body = (x <= 7) & (y <= 6) & (z <= 4) & (x + y + z <= 12) & (hx + hy <= 10)
    step = (hz == 4) & (hx >= 3)
    island = (hy == -7) & (hx >= -3) & (hx <= 1) & (hz >= -2) & (hz <= 1)
    return _kept_with_vacancies(q, el, (body & ~step) | island, seed, n_pb=6, n_se=5)


#: the core-shell particles: ``core_shell_model`` arguments and what the JSON says of them
CORE_SHELL_PARTICLES = {
    "pbse_cdse_core_shell": (CORE_SHELL_SAMPLE, "a PbSe core (cuboctahedron with an island) in a zincblende CdSe rod"),
    "pbse_cdse_offcentre": (CORE_SHELL_OTHER, "an off-centre truncated-octahedral PbSe core (with an island) in a thin "
                                              "zincblende CdSe rod"),
    "pbse_cdse_cube": (CORE_SHELL_CUBE, "an off-centre cubic PbSe core (with an island) in a wide zincblende CdSe rod"),
    "pbse_cdse_truncated": (CORE_SHELL_TRUNCATED, "an off-centre truncated-octahedral PbSe core (with an island) in a "
                                                  "zincblende CdSe rod"),
    "pbse_cdse_cut_cube": (CORE_SHELL_CUT_CUBE, "an off-centre PbSe cube with cut corners (with an island) in a "
                                                "zincblende CdSe rod"),
    "pbse_cdse_wide": (CORE_SHELL_WIDE, "a PbSe core moved along a wide zincblende CdSe rod (thick shell, island)"),
    "pbse_cdse_large": (CORE_SHELL_LARGE, "a large truncated-octahedral PbSe core (island) in a CdSe rod, thin side "
                                          "shell"),
    "pbse_cdse_small": (CORE_SHELL_SMALL, "a small cuboctahedral PbSe core (island) in a long CdSe rod (thick shell)"),
    "pbse_cdse_octahedral": (CORE_SHELL_OCTAHEDRAL, "a near-octahedral PbSe core (island) moved off the centre of a "
                                                    "CdSe rod"),
    "pbse_cdse_thin_side": (CORE_SHELL_THIN_SIDE, "a PbSe core (island) against one side of a thin CdSe rod"),
    "pbse_cdse_exposed": (CORE_SHELL_EXPOSED, "a large PbSe core (island) reaching the surface of its CdSe rod"),
    "pbse_cdse_buried": (CORE_SHELL_BURIED, "a near-octahedral PbSe core whose island faces the centre of its CdSe "
                                            "rod (buried under the shell)"),
    "pbse_cdse_held_out": (CORE_SHELL_HELD_OUT, "a truncated-octahedral PbSe core (island) moved down a thin CdSe rod"),
    "pbse_cdse_held_out_2": (CORE_SHELL_HELD_OUT_2, "a PbSe cube with cut corners (island) moved down a CdSe rod"),
}


def build_particle(name: str, s: dict) -> dict:
    """The static model of a ``--particle``: positions (Å), elements, the JSON's particle record, sub-folder."""
    a = ROCKSALT_PBSE.lattice_parameter
    if name == "cuboctahedron":  # the bundled sample, stored at the top of the data folder
        p = pbse_cuboctahedron(seed=s["particle_seed"], noise=False, n_half=s["n_half"])
        record = {"function": "napari_nxtomo.core.samples.pbse_cuboctahedron", "seed": s["particle_seed"], "n_half": s["n_half"]}
        q, el, sub, what = p.q, p.elements, "", "a PbSe cuboctahedron"
    elif name == "pbse_irregular":
        q, el = pbse_irregular(seed=1)
        record = {"function": "benchmarks/multislice/make_images.py:pbse_irregular", "seed": 1, "cuts_a_half": {
            "".join(str(v) for v in k): d for k, d in IRREGULAR_CUTS.items()}}
        sub, what = name, "an irregular PbSe particle (elongated, truncated, island, vacancies on both sublattices)"
    elif name in CORE_SHELL_PARTICLES:
        args, what = CORE_SHELL_PARTICLES[name]
        q, el = core_shell_model(*args)
        record = {"function": "napari_nxtomo.core.samples.core_shell_model", "args": json.loads(json.dumps(args))}
        sub = name
    elif name == "pbse_cuboctahedron_3nm":  # another cuboctahedron than the sample: larger, other defects
        p = pbse_cuboctahedron(seed=3, noise=False, n_half=5)
        record = {"function": "napari_nxtomo.core.samples.pbse_cuboctahedron", "seed": 3, "n_half": 5}
        q, el, sub, what = p.q, p.elements, name, "a 3.1 nm PbSe cuboctahedron (island, 5 Pb vacancies, seed 3)"
    elif name == "pbse_truncated_octahedron_3nm":  # made after the counting's rules of 2026-12-04: untuned
        q, el = pbse_truncated_octahedron(seed=7)
        record = {"function": "benchmarks/multislice/make_images.py:pbse_truncated_octahedron", "seed": 7}
        sub, what = name, "a 3.1 nm PbSe truncated octahedron (island on a {100} facet, 4 Pb and 3 Se vacancies)"
    elif name == "pbse_truncated_cube_3nm":  # made after the counting's rules of 2026-12-05: untuned
        q, el = pbse_truncated_cube(seed=11)
        record = {"function": "benchmarks/multislice/make_images.py:pbse_truncated_cube", "seed": 11}
        sub, what = name, "a 3.1 nm PbSe cube, bevelled edges and cut corners (island on +x, 3 Pb and 2 Se vacancies)"
    elif name == "pbse_cuboid_3nm":  # made after the alias rule of 2026-12-05 (evening): untuned
        q, el = pbse_cuboid(seed=5)
        record = {"function": "benchmarks/multislice/make_images.py:pbse_cuboid", "seed": 5}
        sub, what = name, "a 2.4 × 3.7 × 2.4 nm PbSe cuboid, {111} corners (island on +y, 4 Pb and 3 Se vacancies)"
    elif name == "pbse_rhombic_3nm":  # made after the counting rules of edfc677 (2026-12-06): untuned
        q, el = pbse_rhombic(seed=13)
        record = {"function": "benchmarks/multislice/make_images.py:pbse_rhombic", "seed": 13}
        sub, what = name, "a 3.1 nm PbSe particle, {110} bevels on every edge (island on -y, 5 Pb and 3 Se vacancies)"
    elif name == "pbse_elongated_4nm":  # made after the pure-column alias rule (2026-12-06): untuned
        q, el = pbse_elongated(seed=17)
        record = {"function": "benchmarks/multislice/make_images.py:pbse_elongated", "seed": 17}
        sub, what = name, ("a 3.7 × 2.4 × 2.4 nm PbSe particle elongated along x ({111} corners, one {110} bevel, "
                           "island on +z, 4 Pb and 4 Se vacancies)")
    elif name == "pbse_octahedral_4nm":  # made after the mixed families' scale refinement (326c31e): untuned
        q, el = pbse_octahedral(seed=19)
        record = {"function": "benchmarks/multislice/make_images.py:pbse_octahedral", "seed": 19}
        sub, what = name, ("a 3.7 × 3.1 × 2.4 nm PbSe particle between octahedron and cube (large {111} facets, one "
                           "{110} bevel, island on -x, 5 Pb and 4 Se vacancies)")
    elif name == "pbse_stepped_4nm":  # made after b63a519 (2026-12-07): untuned
        q, el = pbse_stepped(seed=23)
        record = {"function": "benchmarks/multislice/make_images.py:pbse_stepped", "seed": 23}
        sub, what = name, ("a 4.3 × 4.0 × 2.4 nm PbSe particle ({111} corners, one {110} bevel, a step on +z, island "
                           "on -y, 6 Pb and 5 Se vacancies)")
    elif name == "pbse_cuboctahedron_5nm":
        p = pbse_cuboctahedron(seed=0, noise=False, n_half=8)
        record = {"function": "napari_nxtomo.core.samples.pbse_cuboctahedron", "seed": 0, "n_half": 8}
        q, el, sub, what = p.q, p.elements, name, "a 5 nm PbSe cuboctahedron"
    else:
        raise SystemExit(f"unknown --particle {name!r}: one of {PARTICLE_NAMES}")
    el = np.asarray(el).astype(str)
    names, counts = np.unique(el, return_counts=True)
    record.update(
        n_atoms=int(len(q)),
        composition={str(e): int(k) for e, k in zip(names, counts)},
        lattice_parameter_A=a,
        atoms_file="atoms.csv",
        unbonded_Pb=int(unbonded(q, el).sum()),  # Pb with no Se neighbour: no crystal holds them (use other args)
    )
    return {"positions": q * (a / 4.0), "elements": el, "record": record, "subfolder": sub, "what": what}


PARTICLE_NAMES = ("cuboctahedron", "pbse_irregular", *CORE_SHELL_PARTICLES,
                  "pbse_cuboctahedron_3nm", "pbse_truncated_octahedron_3nm", "pbse_truncated_cube_3nm",
                  "pbse_cuboid_3nm", "pbse_rhombic_3nm", "pbse_elongated_4nm", "pbse_octahedral_4nm",
                  "pbse_stepped_4nm",
                  "pbse_cuboctahedron_5nm")


# ---------------------------------------------------------------- output


def view_meta(view, zone, particle, s, info, cols, one_thread, workers=1):
    """The JSON sidecar of one view: every setting, the particle, the run time."""
    import abtem

    return {
        "description": (
            f"Multislice (abTEM) HAADF-STEM image of {particle['what']}, frozen-phonon mean, no noise; "
            "values are the fraction of the incident probe reaching the annular detector"
        ),
        "made_by": "benchmarks/multislice/make_images.py",
        "command": "python benchmarks/multislice/make_images.py " + " ".join(sys.argv[1:]),
        "pixel_size_A": s["scan_step_A"],
        "shape": info["shape"],
        "zone_axis": list(zone),
        "tilt_axis": [0, 0, 1],
        "origin_A": info["origin"],
        "origin_meaning": "image position (row, col) in \u00c5 = ProjectionGeometry(zone_axis, tilt_axis).project(p) + origin_A; pixel (0, 0) is centred at image position (0, 0)",
        "abtem_version": abtem.__version__,
        "particle": particle["record"],
        "columns_file": f"columns_{view}.csv",
        "configs_file": f"haadf_{view}_configs.npz",
        "n_columns": int(len(cols)),
        "simulation": {
            "energy_eV": s["energy_eV"],
            "semiangle_cutoff_mrad": s["semiangle_mrad"],
            "aberrations": "none (defocus 0, Cs 0)",
            "detector_mrad": list(s["detector_mrad"]),
            "scan_step_A": s["scan_step_A"],
            "potential": {
                "parametrization": s["parametrization"],
                "projection": s["projection"],
                "slice_thickness_A": info["slice_thickness_A"],
                "slicing": s["slicing"],
                "sampling_A": info["potential_sampling_A"],
                "gpts_per_tile": s["gpts"],
                "n_slices": info["n_slices"],
                "cell_depth_A": info["cell_depth_A"],
            },
            "frozen_phonons": {
                "n_configs": s["n_configs"],
                "rms_displacement_1d_A": THERMAL_SIGMA,
                "seed": [s["phonon_seed"], *zone],
                **({"phonon_seeds": s["phonon_seeds"], "configs_per_seed": s["configs_per_seed"],
                    "note": "configurations of each seed in turn, drawn with [seed, u, v, w]"}
                   if "phonon_seeds" in s else {}),
            },
            "tiling": {
                "tile_px": s["tile_px"],
                "cell_A": s["cell_A"],
                "n_tiles": info["n_tiles"],
                "n_tiles_vacuum_skipped": info["n_tiles_vacuum"],
                "note": "each tile of tile_px x tile_px probe positions is simulated in its own cell_A x cell_A cell holding the atoms inside it",
            },
            "scan_margin_A": s["scan_margin_A"],
        },
        "run_time_s": info["run_time_s"],
        "threads": (1 if one_thread else os.cpu_count()) * max(workers, 1),
        "workers": workers,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "dose_note": "expected detected electrons per pixel = image * dose (e/A^2) * pixel_size_A**2",
    }


def run_view(view, particle, s, out, one_thread, workers=1, append=False):
    """Simulate one view and write its files (each file atomically, the JSON last); ``append``: add its
    configurations to the stored ones (:func:`_appended`)."""
    pos, el = particle["positions"], particle["elements"]
    zone = tuple(int(c) for c in view)
    sig = np.array([THERMAL_SIGMA[e] for e in el])
    rng = np.random.default_rng([s["phonon_seed"], *zone])
    disp = rng.normal(size=(s["n_configs"], len(pos), 3)) * sig[None, :, None]
    print(f"view [{view}]: {s['n_configs']} phonon configurations", flush=True)
    configs, info, geometry = simulate_view(
        zone, pos, el, disp, s, log=lambda m: print(m, flush=True),
        scheduler="synchronous" if one_thread else "threads", workers=workers,
    )  # fmt: skip
    stem = f"haadf_{view}"
    if append:  # more configurations of the same view: the stored ones first, the mean over all
        configs, s, info = _appended(out, stem, configs, s, info)
    mean = configs.mean(axis=0).astype(np.float32)
    with atomic_open(out / f"{stem}.npy", "wb") as fh:
        np.save(fh, mean)
    with atomic_open(out / f"{stem}_configs.npz", "wb") as fh:
        np.savez_compressed(fh, configs=configs)
    cols = true_columns(geometry, pos, el, np.asarray(info["origin"]))
    with atomic_open(out / f"columns_{view}.csv", "w") as fh:
        cols.to_csv(fh, index=False, float_format="%.4f")
    meta = view_meta(view, zone, particle, s, info, cols, one_thread, workers)
    with atomic_open(out / f"{stem}.json", "w") as fh:
        fh.write(json.dumps(meta, indent=2))
    print(
        f"view [{view}] done in {info['run_time_s']:.0f} s: {info['shape']} px, {len(cols)} columns, "
        f"max {mean.max():.4f}, files {[p.name for p in sorted(out.glob(f'*{view}*'))]}",
        flush=True,
    )


def _appended(out, stem, configs, s, info):
    """The stored configurations of a view followed by new ones (another ``phonon_seed``), the settings with
    every seed and the summed run time.  Refused when the stored view has another image shape or seed."""
    old = np.load(out / f"{stem}_configs.npz")["configs"]
    prev = json.loads((out / f"{stem}.json").read_text())["simulation"]["frozen_phonons"]
    seeds = prev.get("phonon_seeds", [prev["seed"][0]])
    if old.shape[1:] != configs.shape[1:] or s["phonon_seed"] in seeds:
        raise SystemExit(f"{stem}: cannot append {configs.shape} (seed {s['phonon_seed']}) to the stored "
                         f"{old.shape} (seeds {seeds}): same settings and a new --phonon-seed are needed")
    prev_time = json.loads((out / f"{stem}.json").read_text())["run_time_s"]
    s = dict(s, n_configs=len(old) + len(configs), phonon_seeds=[*seeds, s["phonon_seed"]],
             configs_per_seed=[*prev.get("configs_per_seed", [len(old)]), len(configs)])
    return np.concatenate([old, configs]), s, dict(info, run_time_s=round(prev_time + info["run_time_s"], 1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--views", nargs="+", default=["100", "010", "110"], help="zone axes, e.g. 100 110")
    ap.add_argument(
        "--out",
        default=str(REPO / "tests" / "core" / "data" / "multislice"),
        help="data folder; a --particle other than the bundled cuboctahedron goes in a sub-folder of its name",
    )
    ap.add_argument("--particle", default="cuboctahedron", choices=PARTICLE_NAMES)
    ap.add_argument("--configs", type=int, help="number of frozen-phonon configurations")
    ap.add_argument("--phonon-seed", type=int, help="first entry of the configurations' seed [seed, u, v, w] (2024)")
    ap.add_argument("--append", action="store_true",
                    help="add the configurations to those stored for the view (needs another --phonon-seed)")
    ap.add_argument("--scan-step", type=float, help="scan step (pixel size), Å (default 0.2)")
    ap.add_argument("--slicing", choices=["fixed", "layers"], default="fixed",
                    help="fixed: 2 Å slices; layers: one slice per atomic layer, the layer mid-slice (as the libraries)")
    ap.add_argument("--n-half", type=int, help="particle size (pbse_cuboctahedron n_half; --particle cuboctahedron)")
    ap.add_argument("--quick", action="store_true", help="tiny particle, one configuration: a smoke test")
    ap.add_argument(
        "--one-thread",
        action="store_true",
        help="run every tile on one thread (dask scheduler 'synchronous'); also set OMP_NUM_THREADS=1 etc.",
    )
    ap.add_argument("--workers", type=int, default=1,
                    help="processes sharing each view's tiles (with --one-thread: one core each)")
    args = ap.parse_args(argv)

    import abtem

    s = dict(QUICK if args.quick else DEFAULTS)
    if args.configs:
        s["n_configs"] = args.configs
    if args.scan_step:
        s["scan_step_A"] = args.scan_step
    s["slicing"] = args.slicing
    if args.phonon_seed is not None:
        s["phonon_seed"] = args.phonon_seed
    if args.n_half:
        s["n_half"] = args.n_half
    abtem.config.set({"fftw.threads": 1, "diagnostics.progress_bar": False})
    particle = build_particle(args.particle, s)
    out = Path(args.out) / particle["subfolder"]
    out.mkdir(parents=True, exist_ok=True)
    pos, el = particle["positions"], particle["elements"]
    print(f"particle {args.particle}: {len(pos)} atoms {particle['record']['composition']}, abTEM {abtem.__version__}", flush=True)
    if particle["record"]["unbonded_Pb"]:
        print(f"WARNING: {particle['record']['unbonded_Pb']} Pb have none of their six Se neighbours (outside the rod): "
              "no nanocrystal holds such atoms; move the core or widen the rod", flush=True)
    with atomic_open(out / "atoms.csv", "w") as fh:
        pd.DataFrame({"element": el, "x": pos[:, 0], "y": pos[:, 1], "z": pos[:, 2]}).to_csv(
            fh, index=False, float_format="%.4f"
        )
    for view in args.views:
        run_view(view, particle, s, out, args.one_thread, args.workers, append=args.append)


if __name__ == "__main__":
    main()
