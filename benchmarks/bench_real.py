"""Real images against their peer (issue 16): StatSTEM's Pt/Ir example, Atomap's SrTiO3, and the fit time of a
2000-column image at a real image's sampling.

Run from the repository root:

    python benchmarks/bench_real.py

What it prints
--------------
1. StatSTEM's Pt/Ir example (../shared/data/real/statstem_ptir.npz: the image, StatSTEM's fit of it and its
   simulated library; no ground truth, StatSTEM is the peer).  From the plugin's own ``find_columns``
   (min distance 1.6 Å), for the default fit (noise weighted), StatSTEM's estimator (uniform least squares),
   that with the background fixed at 0 as StatSTEM does, and least squares with a quadratic background: the
   fit time, the width, the columns matched to StatSTEM's within 0.5 Å, our / StatSTEM's cross-sections
   (median, IQR), the median shift between the weightings (``attrs["weighting_shift"]``), and the fraction of
   the matched columns whose count agrees with StatSTEM's library count (the count of the library value nearest
   to StatSTEM's cross-section): counted with no library (the default mixture), with StatSTEM's library read
   from a CSV a user would write (the hybrid's posterior) and with ``assignment="nearest"`` (StatSTEM's own
   library counting).  Also the residual over the particle (the pixels whose neighbours differ: the image's
   vacuum is flat) against the white noise there (neighbour differences / √2), and that of StatSTEM's own model
   of the image (its Gaussians, background 0), side by side.  Measured 2026-12-04: StatSTEM's model 1.75, ours
   1.75 (least squares, background 0); the residual of both is correlated from pixel to pixel (0.86 along the
   rows, 0.49 across): structure the Gaussians of either tool do not describe, not noise, so issue 16's "residual
   within 10 % of the noise level" is out of reach of a Gaussian-per-column model on this image.
2. Atomap's SrTiO3 ADF image: fit time, width, negative cross-sections.
3. A synthetic [100] PbSe slab of 45 × 45 = 2025 columns at 0.075 Å/px (1900² pixels, the sampling of a real
   2048² frame), default fit and with a quadratic background: wall time (issue 16 asks ≤ 10 s on a 2-core
   machine) and the cross-sections against the generator's truth.

Timings are wall-clock after a warm-up fit that compiles the numba kernels; the machine's load matters.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from napari_nxtomo import count_atoms, find_columns, fit_columns, load_image, model_image
from napari_nxtomo.core.workflow import read_count_library

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"

FITS = {
    "default (noise weighted)": {},
    "least squares": {"weighting": "uniform"},
    "least squares, background 0 (StatSTEM)": {"weighting": "uniform", "fit_background": False, "background": 0.0},
    "least squares, quadratic background": {"weighting": "uniform", "background_degree": 2},
}


def timed(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def white_ratio(image, model):
    """Residual std over the non-flat pixels / the white noise there (neighbour differences / √2)."""
    flat = np.zeros(image.shape, bool)
    flat[:, 1:] |= np.diff(image, axis=1) == 0
    flat[1:] |= np.diff(image, axis=0) == 0
    r = np.where(flat, np.nan, image - model)
    d = np.concatenate([np.diff(r, axis=0).ravel(), np.diff(r, axis=1).ravel()])
    return float(np.nanstd(r) / (np.nanstd(d) / np.sqrt(2)))


def statstem_model(d) -> np.ndarray:
    """StatSTEM's own model of its Pt/Ir image: its Gaussians (positions, width ρ, heights η), background 0."""
    p = float(d["pixel_size"])
    rows, cols = np.mgrid[0:d["image"].shape[0], 0:d["image"].shape[1]] * p
    model = np.zeros(d["image"].shape)
    for (x, y), rho, eta in zip(d["statstem_xy"] - p, d["statstem_rho"], d["statstem_eta"]):
        model += eta * np.exp(-((rows - y) ** 2 + (cols - x) ** 2) / (2 * rho**2))
    return model


def ptir():
    d = np.load(REAL / "statstem_ptir.npz")
    img, p = d["image"], float(d["pixel_size"])
    peer_yx, peer_v = d["statstem_xy"][:, ::-1] - p, d["statstem_volume"]
    lc, lv = d["library_counts"], d["library_volume"]
    peer_counts = lc[np.abs(peer_v[:, None] - lv[None]).argmin(1)]
    path = Path(tempfile.mkdtemp()) / "PtIr library.csv"
    path.write_text("N atoms, SCS (Å²)\n" + "".join(f"{int(c)}, {v:.6g}\n" for c, v in zip(lc, lv)), encoding="utf-8")
    library = read_count_library(path)
    found, t_find = timed(find_columns, img, p, min_distance=1.6)
    print(f"Pt/Ir (StatSTEM's example, {img.shape[0]}x{img.shape[1]}, {p} Å/px): {len(found)} columns found in "
          f"{t_find:.2f} s; StatSTEM: 140 columns, width {d['statstem_rho'][0]:.3f} Å, library counts total "
          f"{peer_counts.sum()}")
    print(f"  StatSTEM's own model (the peer): residual / white noise {white_ratio(img, statstem_model(d)):.2f}")
    timed(fit_columns, img, p, found)  # warm-up: numba compilation
    for name, kw in FITS.items():
        tab, t = timed(fit_columns, img, p, found, **kw)
        dist, idx = cKDTree(tab[["y", "x"]].to_numpy()).query(peer_yx)
        m = dist < 0.5
        ratio = tab.volume.to_numpy()[idx[m]] / peer_v[m]
        q25, q50, q75 = np.percentile(ratio, [25, 50, 75])

        def agree(res):
            return f"{np.mean(res.counts[idx[m]] == peer_counts[m]):.3f} (total {res.counts.sum()})"

        plain, _ = timed(count_atoms, tab)
        hyb, _ = timed(count_atoms, tab, library=library)
        near, _ = timed(count_atoms, tab, library=library, assignment="nearest")
        print(f"  {name}: fit {t:.2f} s, {len(tab)} columns, width {tab.attrs['widths'][0]:.3f} Å, matched {m.sum()}"
              f"/140, volume / StatSTEM's median {q50:.4f} IQR {q75 - q25:.4f}, negative {(tab.volume <= 0).sum()}, "
              f"weighting shift {tab.attrs['weighting_shift']:.2f}, residual / white noise "
              f"{white_ratio(img, model_image(img.shape, p, tab)):.2f}")
        print(f"    counts agreeing with StatSTEM's library counts: no library (K={plain.n_components}) "
              f"{agree(plain)}; "
              f"library CSV, hybrid (scale {hyb.params['scale']:.3f}) {agree(hyb)}; library CSV, nearest "
              f"{agree(near)}")


def srtio3():
    img, p, _ = load_image(REAL / "srtio3_adf_atomap.hdf5", assume_unit="nm")
    found = find_columns(img, p, min_distance=1.5)
    for name, kw in (("default", {}), ("quadratic background", {"background_degree": 2})):
        tab, t = timed(fit_columns, img, p, found, **kw)
        print(f"SrTiO3 (Atomap's, {img.shape[0]}x{img.shape[1]}), {name}: fit {t:.2f} s, {len(tab)} columns, width "
              f"{tab.attrs['widths'][0]:.3f} Å, negative {(tab.volume <= 0).sum()}, residual / white noise "
              f"{white_ratio(img, model_image(img.shape, p, tab)):.2f}")


def slab_2000():
    from bench_fitting import pbse_slab  # the benchmarks' synthetic slab (run from this folder)

    sim = pbse_slab(45, (1900, 1900), pixel_size=0.075)
    found, t_find = timed(find_columns, sim.image, 0.075, min_distance=1.5)
    truth = sim.columns
    for name, kw in (("default", {}), ("quadratic background", {"background_degree": 2})):
        tab, t = timed(fit_columns, sim.image, 0.075, found, **kw)
        _, i = cKDTree(truth[["y", "x"]].to_numpy()).query(tab[["y", "x"]].to_numpy())
        rel = tab.volume.to_numpy() / truth.cross_section.to_numpy()[i] - 1
        print(f"2025-column slab (1900², 0.075 Å/px), {name}: find {t_find:.2f} s, fit {t:.2f} s (target ≤ 10 s), "
              f"{len(tab)} columns, median |volume error| {np.median(np.abs(rel)):.4f}")


if __name__ == "__main__":
    ptir()
    srtio3()
    slab_2000()
