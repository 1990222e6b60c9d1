"""Pb-ended against Se-ended <100> columns: a mixed PbSe library against seven stored particles.

    PYTHONPATH=src python benchmarks/multislice/check_ended.py [LIBRARY.json ...]

Along <100> a column of 2n + 1 atoms is (n + 1, n) Pb/Se or (n, n + 1); only its end atoms tell them apart. For
each library (default: the one the plugin takes for the particles' optics, 22 mrad, 60-140 mrad) and each noise-free
22 mrad particle (the bundled sample, the 3 nm cuboctahedron, the irregular particle, the 3 nm truncated octahedron,
the 3.1 nm truncated cube, the cuboid and the particle with {110} bevels; [100] and [010] pooled), the interior odd columns of 5 atoms and more: their
Voronoi-cell signal over the library's value, Pb-ended and Se-ended (mean ± standard error), and the ratio of the
two (1 where the library's gap is the particles'). Then the library's own (n + 1, n) / (n, n + 1) ratios with their
standard errors. No fit, no noise: the library against the images' physics only (napari_nxtomo.core.library.check).

Measured 2026-12-06 (1.4 s) with the shipped library: Pb / Se 1.073, 1.056, 1.059, 1.062, 1.062, 1.069 and 1.084 in
that order (Pb-ended 1.013-1.036, Se-ended 0.953-0.966 × the library, standard errors 0.004-0.014), the last on the
particle simulated that day after the counting's rules: every particle's Pb-ended columns lie 6-8 % further above
its Se-ended ones than the library's (n + 1, n) / (n, n + 1) ratios (1.056 ± 0.053 at n = 5) say.  Seven particles
agree within ±0.015 where the library's own ratios carry ±0.04-0.06 (8 configurations of one column of each kind):
the gap is the library's, not the particles'.  The counts' misses that remain are mostly Se-ended columns read a Pb
high (``benchmarks/bench_counting_sets.py``), but that gap is not what the fitted volumes need: counted with the
library's (n + 1, n) entries × 1.03 and (n, n + 1) ÷ 1.03 (a diagnostic, the eight sets' cached fits of that
benchmark), 32 of 382 view-counts missed where the shipped library misses 17 of 384 (the cuboid 0 -> 11, the new
particle 6 -> 12).  The fit holds a share of each column's cell signal that differs between the two ends too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from napari_nxtomo.core.groundtruth import SAMPLE_MULTISLICE_DIR, load_multislice_view
from napari_nxtomo.core.library import CrossSectionLibrary, load_library
from napari_nxtomo.core.library.check import ended_ratios

TESTS = Path(__file__).resolve().parents[2] / "tests" / "core" / "data" / "multislice"
PARTICLES = {"sample": (SAMPLE_MULTISLICE_DIR, None)} | {
    p: (TESTS, p) for p in ("pbse_cuboctahedron_3nm", "pbse_irregular", "pbse_truncated_octahedron_3nm",
                            "pbse_truncated_cube_3nm", "pbse_cuboid_3nm", "pbse_rhombic_3nm")}
OPTICS = dict(energy_keV=300.0, convergence_mrad=22.0, detector_mrad=(60.0, 140.0))


def _mean_se(a):
    return f"{a.mean():.3f} ± {a.std(ddof=1) / np.sqrt(a.size):.3f} ({a.size:3d})"


def report(lib, views):
    print(f"{'particle':32s} {'Pb-ended':>19s} {'Se-ended':>19s}  Pb / Se")
    for name, vs in views.items():
        pb, se = (np.concatenate(a) for a in zip(*(ended_ratios(v, lib) for v in vs)))
        print(f"{name:32s} {_mean_se(pb)} {_mean_se(se)}  {pb.mean() / se.mean():.3f}")
    t = lib.tables["Pb+Se"].set_index(["count", "n_minor"])
    for n in range(2, 8):
        if (n + 1, n) in t.index and (n, n + 1) in t.index:
            a, b = t.loc[(n + 1, n)], t.loc[(n, n + 1)]
            sd = np.hypot(a.cross_section_sd / a.cross_section, b.cross_section_sd / b.cross_section)
            print(f"  ({n + 1},{n})/({n},{n + 1}) = {a.cross_section / b.cross_section:.3f} ± {sd:.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("libraries", nargs="*", help="library JSON files (default: the plugin's for these optics)")
    args = ap.parse_args(argv)
    views = {name: [load_multislice_view(folder, v, particle=p) for v in ("100", "010")]
             for name, (folder, p) in PARTICLES.items()}
    libs = [CrossSectionLibrary.read(f) for f in args.libraries] or [load_library("PbSe", (1, 0, 0), **OPTICS)]
    for f, lib in zip(args.libraries or ["the plugin's"], libs):
        s = lib.settings
        print(f"\n{f}: {s.get('n_phonons')} configurations, seed {s.get('seed')}, every column: "
              f"{bool(s.get('every_column'))}")
        report(lib, views)


if __name__ == "__main__":
    main()
