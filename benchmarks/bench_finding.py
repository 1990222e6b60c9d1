"""Column finding's default threshold (issue 15, item 2): false alarms in pure noise, recall on truth.

    PYTHONPATH=src python benchmarks/bench_finding.py [--size 4096] [--seeds 0 1]

Printed: the columns found in ``size``² frames of white noise (Gaussian, and
Poisson counts of 3 and 0.3 per pixel) at 0.2 Å pixels with the lightest
smoothing (min_distance 0.6 Å: 0.5 px) and the usual one (1.5 Å: 1.25 px):
the stated false-alarm rate is < 1 per 4096²; then the 25-column particle in a
noisy 1024² frame (found, spurious), and the recall (true columns found within
0.5 Å) and spurious columns on the bundled samples and the stored multislice
images at several doses.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from napari_nxtomo.core.fitting import find_columns
from napari_nxtomo.core.groundtruth import MULTISLICE_MIN_DISTANCE, load_multislice_view, noisy_image
from napari_nxtomo.core.samples import pbse_cdse_core_shell, pbse_cuboctahedron
from napari_nxtomo.core.simulate import render_gaussians

P = 0.2  # Å per pixel
DATA = Path(__file__).resolve().parents[1] / "tests" / "core" / "data" / "multislice"


def _score(found, truth, tol=0.5):
    """(recall, spurious): true columns with a found one within tol Å; found ones with no true one."""
    if len(found) == 0:
        return 0.0, 0
    d_true, _ = cKDTree(found).query(truth)
    d_found, _ = cKDTree(truth).query(found)
    return float(np.mean(d_true < tol)), int(np.sum(d_found >= tol))


def noise_frames(size, seeds):
    for seed in seeds:
        rng = np.random.default_rng(seed)
        frames = {"gauss": 1.0 + 0.1 * rng.normal(size=(size, size)),
                  "poisson 3/px": rng.poisson(3.0, (size, size)).astype(float),
                  "poisson 0.3/px": rng.poisson(0.3, (size, size)).astype(float)}
        for name, img in frames.items():
            for md in (0.6, 1.5):
                t0 = time.perf_counter()
                n = len(find_columns(img, P, md))
                print(f"{size}² {name:15s} seed {seed} min_distance {md} Å: {n} columns ({time.perf_counter() - t0:.1f} s)")


def particle_in_frame(seeds, n=1024):
    g = (np.arange(5) - 2) * 4.0 + n * P / 2
    yy, xx = np.meshgrid(g, g, indexing="ij")
    true = np.c_[yy.ravel(), xx.ravel()]
    lam = render_gaussians(n, n, true[:, 0] / P, true[:, 1] / P, np.full(25, 1.0), np.full(25, 2.0)) + 0.01
    per_pixel = 2e4 * P**2
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for name, img in (("gauss σ 0.005", lam + rng.normal(0.0, 0.005, lam.shape)),
                          ("poisson 2e4 e/Å²", rng.poisson(lam * per_pixel) / per_pixel)):
            found = find_columns(img, P, 1.5)
            recall, spurious = _score(found, true)
            print(f"25-column particle, {n}², {name}, seed {seed}: {len(found)} found, recall {recall:.3f}, "
                  f"{spurious} spurious")


def truth_images(seeds):
    for make in (pbse_cuboctahedron, pbse_cdse_core_shell):
        for noise in (True, False):
            for view in make(seed=0, noise=noise).views:
                recall, spurious = _score(find_columns(view.image, view.pixel_size, 1.5),
                                          view.columns[["y", "x"]].to_numpy())
                print(f"{view.name}{' noisy' if noise else ''}: recall {recall:.3f}, {spurious} spurious "
                      f"({len(view.columns)} true)")
    for name in ("100", "110"):
        view = load_multislice_view(DATA, name)
        truth = view.columns[["y", "x"]].to_numpy()
        for dose in (None, 1e5, 2e4, 5e3):
            for seed in ((0,) if dose is None else seeds):
                img = view.image if dose is None else noisy_image(view, dose, seed)
                recall, spurious = _score(find_columns(img, view.pixel_size, MULTISLICE_MIN_DISTANCE[name]), truth)
                print(f"multislice [{name}] {'noise-free' if dose is None else f'{dose:.0e} e/Å² seed {seed}'}: "
                      f"recall {recall:.3f}, {spurious} spurious ({len(truth)} true)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    noise_frames(args.size, args.seeds)
    particle_in_frame(args.seeds)
    truth_images(args.seeds)


if __name__ == "__main__":
    main()
