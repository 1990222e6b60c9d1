"""Speed and accuracy of discrete tomography (core.tomography) on cuboctahedral Pb particles.

Run from the repository root:

    python benchmarks/bench_tomography.py            # three sizes (a few minutes)
    python benchmarks/bench_tomography.py --quick    # the two smaller sizes, fewer repeats

What it does
------------
Rocksalt PbSe cuboctahedra from :func:`napari_nxtomo.core.samples.pbse_cuboctahedron`
(``n_half`` = 4, 8, 12: about 3, 5 and 8 nm across, 315 to 6533 Pb, with an
island and surface vacancies), imaged along [100], [010], [110] about [001].
The inputs are the true columns of the images (positions in Å with each
view's random shift, so the offsets are found) and their true Pb counts,
exact or with a fraction of the columns miscounted by ±1.

1. Speed, exact counts in three projections: the exact optimum
   (``method="exact"``: the solver's own time and the whole call) and ten
   annealing runs (``method="anneal"``, ``n_runs=10`` on every core, without
   the certainty sampling), and how both grow with the number of candidate
   sites (the exponent of a power law between sizes).  numba compiles once
   before timing.
2. Accuracy and certainty (``method="both"``, ten runs): exact counts in
   three and in two projections, 5 % and 20 % of the columns miscounted in
   three: the fraction of true atoms found (recall) and of model atoms that
   are true (precision), whether every run reached the certified optimum,
   and the calibration of the certainty over all candidate sites: the
   fraction of true atoms among sites at certainty >= 0.9, between, and
   <= 0.1 (the paper's run frequency beside it).

Timings are wall-clock on whatever machine runs it; the load of a shared
machine matters (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import quiet

from napari_nxtomo.core.evaluation import score_sites
from napari_nxtomo.core.groundtruth import projections_from_truth
from napari_nxtomo.core.samples import pbse_cuboctahedron
from napari_nxtomo.core.tomography import reconstruct

SIZES = (4, 8, 12)


def projections(sample, n_views=3, frac=0.0, seed=0):
    """The true columns of the first ``n_views`` views, a fraction ``frac`` miscounted by ±1."""
    return projections_from_truth(sample, n_views, frac, seed)[0]


def speed(sizes, repeats):
    print("1. Speed: exact counts along [100], [010], [110]")
    print(f"{'n_half':>6} {'size nm':>7} {'Pb':>5} {'sites':>6} | {'exact solve s':>13} {'exact call s':>12} "
          f"{'10 anneal runs s':>16} {'runs at optimum':>15}")
    rows = []
    for nh in sizes:
        s = pbse_cuboctahedron(seed=0, noise=False, n_half=nh)
        truth = s.q[s.elements == "Pb"]
        projs = projections(s)
        t_ex, t_call, t_an = [], [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = quiet(reconstruct, projs, s.lattice_parameter, n_runs=0, method="exact")
            t_call.append(time.perf_counter() - t0)
            t_ex.append(r.exact.time)
            t0 = time.perf_counter()
            ra = quiet(reconstruct, projs, s.lattice_parameter, n_runs=10, method="anneal", n_sample_sweeps=0)
            t_an.append(time.perf_counter() - t0)
        at_opt = int(np.sum(np.abs(ra.run_energies - r.exact.energy) < 1e-6))
        size = np.ptp(s.positions, axis=0).max() / 10
        rows.append((nh, len(r.sites), min(t_ex), min(t_call), min(t_an)))
        print(f"{nh:>6} {size:>7.1f} {len(truth):>5} {len(r.sites):>6} | {min(t_ex):>13.2f} {min(t_call):>12.2f} "
              f"{min(t_an):>16.2f} {at_opt:>12}/10")
    if len(rows) > 1:
        k = np.log([r[1] for r in rows])
        for j, name in ((2, "exact solve"), (3, "exact call"), (4, "10 anneal runs")):
            alpha = np.polyfit(k, np.log([r[j] for r in rows]), 1)[0]
            ratio = rows[-1][j] / rows[0][j]
            print(f"   {name}: time ~ sites^{alpha:.2f} ({ratio:.1f}x from {rows[0][1]} to {rows[-1][1]} sites)")
    print("   targets for the largest: exact <= 5 s, 10 annealing runs <= 30 s")
    return rows


CASES = (
    ("3 views, exact", 3, 0.0),
    ("2 views, exact", 2, 0.0),
    ("3 views, 5 % miscounted", 3, 0.05),
    ("3 views, 20 % miscounted", 3, 0.20),
)


def accuracy(sizes, seeds):
    print("\n2. Accuracy and certainty (method='both', 10 runs)")
    print(f"{'n_half':>6} {'case':<26} {'recall':>7} {'precision':>9} {'eps est':>7} {'w':>5} | {'runs at opt':>11} "
          f"{'exact':>8} {'time s':>6}")
    pooled = {}
    for nh in sizes:
        s = pbse_cuboctahedron(seed=0, noise=False, n_half=nh)
        truth = s.q[s.elements == "Pb"]
        for name, nv, frac in CASES:
            for seed in seeds if frac > 0 else seeds[:1]:
                t0 = time.perf_counter()
                r = quiet(reconstruct, projections(s, nv, frac, seed), s.lattice_parameter, n_runs=10, seed=seed)
                dt = time.perf_counter() - t0
                is_true = score_sites(r, truth).is_true
                occ = r.sites["occupied"].to_numpy()
                tp = int((occ & is_true).sum())
                at_opt = int(np.sum(np.abs(r.run_energies - r.exact.energy) < 1e-6))
                print(f"{nh:>6} {name:<26} {tp / len(truth):>7.4f} {tp / occ.sum():>9.4f} "
                      f"{r.count_error_rate:>7.3f} {r.count_weight:>5.2f} | {at_opt:>8}/10 {r.exact.status:>8} "
                      f"{dt:>6.1f}")
                p = pooled.setdefault(name, {"c": [], "f": [], "t": []})
                p["c"].append(r.sites["certainty"].to_numpy())
                p["f"].append(r.sites["frequency"].to_numpy())
                p["t"].append(is_true)
    print("\n   Calibration over all candidate sites (fraction that are true atoms, number of sites):")
    print(f"   {'case':<26} {'certainty>=0.9':>18} {'0.1<c<0.9':>16} {'<=0.1':>14} | {'run freq>=0.9':>15} "
          f"{'<=0.1':>14}")
    allc, allt, allf = [], [], []
    for name, p in pooled.items():
        c, f, t = (np.concatenate(p[k]) for k in ("c", "f", "t"))
        allc.append(c), allt.append(t), allf.append(f)
        print("   " + f"{name:<26} " + bins(c, t) + " | " + bins(f, t, mid=False))
    c, f, t = np.concatenate(allc), np.concatenate(allf), np.concatenate(allt)
    print("   " + f"{'all':<26} " + bins(c, t) + " | " + bins(f, t, mid=False))
    print("   targets: >= 0.97 true at certainty >= 0.9; <= 0.03 true at <= 0.1")


def bins(c, t, mid=True):
    out = []
    sel = [c >= 0.9] + ([(c > 0.1) & (c < 0.9)] if mid else []) + [c <= 0.1]
    widths = [18, 16, 14] if mid else [15, 14]
    for m, w in zip(sel, widths):
        txt = f"{t[m].mean():.4f} ({m.sum()})" if m.any() else "- (0)"
        out.append(f"{txt:>{w}}")
    return " ".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the two smaller sizes, one repeat, one seed")
    args = ap.parse_args()
    sizes = SIZES[:2] if args.quick else SIZES
    print(f"cores: {os.cpu_count()}, load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    # compile the numba kernels (cached on disk after the first time)
    s = pbse_cuboctahedron(seed=0, noise=False, n_half=3)
    quiet(reconstruct, projections(s), s.lattice_parameter, n_runs=2, n_sweeps=20, n_sample_sweeps=5)
    speed(sizes, 1 if args.quick else 2)
    accuracy(sizes, (0,) if args.quick else (0, 1))


if __name__ == "__main__":
    main()
