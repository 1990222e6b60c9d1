"""Particles in real images (issue 16): segmentation, lattice-guided columns and the checks a real image allows.

For every real image (../shared/data/real/, and tests/core/data/real/ when it holds one) it prints the particles
(resolved, unresolved), each particle's lattice, the columns found, the share of them off the particles, the share
whose nearest neighbour is at a lattice distance (10 %) on the maxima found and on the fitted positions, and the
time; on StatSTEM's Pt/Ir example also the recall and precision of the columns against StatSTEM's own fit inside
the particle (within 0.5 Å), next to the plain find_columns(image, p, 1.6) of issue 16.

    PYTHONPATH=src python benchmarks/bench_particles.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from _common import quiet
from napari_nxtomo import find_columns, find_particle_columns, fit_columns, load_image, segment_particles
from napari_nxtomo.core.particles import lattice_distance_fraction, off_particle_fraction

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
SHIPPED = Path(__file__).resolve().parents[1] / "tests" / "core" / "data" / "real"


def _images():
    if (REAL / "statstem_ptir.npz").is_file():
        d = np.load(REAL / "statstem_ptir.npz")
        p = float(d["pixel_size"])
        yield "statstem_ptir.npz", d["image"], p, {"zone_axis": (1, 1, 0), "lattice_parameter": 3.92}, \
            d["statstem_xy"][:, ::-1] - p
    if (REAL / "srtio3_adf_atomap.hdf5").is_file():
        img, p, _ = load_image(REAL / "srtio3_adf_atomap.hdf5", assume_unit="nm")
        yield "srtio3_adf_atomap.hdf5", img, p, {}, None
    d = np.load(SHIPPED / "temul_au_nanoparticle.npz")
    p = float(d["pixel_size_assumed"])
    yield "temul_au_nanoparticle.npz (Atomap's positions as the peer)", d["image"].astype(float), p, \
        {"zone_axis": (1, 1, 0), "lattice_parameter": 4.078}, d["atomap_xy"][:, ::-1] * p


def _recall_precision(found, ref, tol=0.5):
    d_ref, _ = cKDTree(found).query(ref)
    d_found, _ = cKDTree(ref).query(found)
    return float((d_ref <= tol).mean()), float((d_found <= tol).mean()), int((d_ref <= tol).sum())


def main():
    for name, img, p, crystal, ref in _images():
        t0 = time.perf_counter()
        pm = quiet(segment_particles, img, p)
        t1 = time.perf_counter()
        res = quiet(find_particle_columns, img, p, pm, **crystal)
        t2 = time.perf_counter()
        try:
            fitted = quiet(fit_columns, img, p, res.positions)[["y", "x"]].to_numpy()
        except ValueError as exc:  # the fit may refuse starts it finds denser than the columns' width allows
            print(f"  fit refused: {str(exc)[:160]} ...")
            fitted = res.positions
        t3 = time.perf_counter()
        print(f"{name}: {img.shape[0]}×{img.shape[1]} px, {p:.4f} Å/px; {int(pm.regions['resolved'].sum())} resolved "
              f"particle(s), unresolved {pm.unresolved}; segmentation {t1 - t0:.2f} s, columns {t2 - t1:.2f} s, "
              f"fit {t3 - t2:.2f} s")
        for _, r in res.report.iterrows():
            print(f"  particle {r['label']}: lattice {r['a1']:.3f} × {r['a2']:.3f} Å at {r['angle']:.1f}°, motif "
                  f"{r['motif']}, {r['peaks']} maxima, {r['off_lattice']} off the lattice, {r['columns']} columns, "
                  f"crystal mismatch {r['crystal_mismatch']:.3f}")
        dist = [d for lat in res.lattices.values() for d in lat.site_distances(3)]
        print(f"  off the particles: {100 * off_particle_fraction(res.positions, pm.labels, p):.1f} %; nearest "
              f"neighbour at a lattice distance (10 %): maxima {100 * lattice_distance_fraction(res.positions, dist):.1f}"
              f" %, fitted {100 * lattice_distance_fraction(fitted, dist):.1f} %")
        if ref is not None:
            px = np.round(ref / p).astype(int)
            ref_in = ref[pm.labels[px[:, 0], px[:, 1]] > 0]
            rec, prec, n = _recall_precision(res.positions, ref_in)
            print(f"  vs the peer ({len(ref_in)} of its {len(ref)} columns inside the particle): {len(res.positions)}"
                  f" found, {n} match, recall {100 * rec:.1f} %, precision {100 * prec:.1f} % (0.5 Å); the peer's "
                  f"own columns at a lattice distance: {100 * lattice_distance_fraction(ref, dist):.1f} %")
            plain = quiet(find_columns, img, p, 1.6)
            rec, prec, n = _recall_precision(plain, ref)
            print(f"  plain find_columns(image, p, 1.6) over the whole image: {len(plain)} found, {n} match the "
                  f"peer's {len(ref)} (recall {100 * rec:.1f} %, precision {100 * prec:.1f} %)")


if __name__ == "__main__":
    main()
