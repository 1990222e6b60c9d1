"""Command line: ``napari-nxtomo demo [--out DIR]``.

The demo runs the workflow headless on the bundled samples.  For now it
writes the sample images (calibrated TIFF, readable by the plugin's reader)
and their ground truth (true columns per image, true 3D model), with an
overview figure; it grows with every capability of the plugin.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _write_image_tiff(path: Path, image: np.ndarray, pixel_size_A: float, metadata: dict) -> None:
    """Write an image as an ImageJ TIFF calibrated in nm (what microscope software does)."""
    import tifffile

    px_nm = pixel_size_A / 10.0
    tifffile.imwrite(
        path,
        image.astype(np.float32),
        imagej=True,
        resolution=(1.0 / px_nm, 1.0 / px_nm),
        metadata={"unit": "nm", "Info": json.dumps(metadata)},
    )


def _overview_figure(particle, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(particle.views)
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 5), constrained_layout=True)
    for ax, view in zip(np.atleast_1d(axes), particle.views):
        h, w = view.image.shape
        ext = (-0.5 * view.pixel_size, (w - 0.5) * view.pixel_size, (h - 0.5) * view.pixel_size, -0.5 * view.pixel_size)
        ax.imshow(view.image, cmap="gray", extent=ext)
        col = view.columns
        sc = ax.scatter(col.x, col.y, c=col.get("n_Pb", col.n_atoms), s=6, cmap="viridis")
        ax.set_title(f"{view.name}\ntrue columns coloured by Pb count")
        ax.set_xlabel("x (Å)")
        ax.set_ylabel("y (Å)")
    fig.colorbar(sc, ax=axes, shrink=0.8, label="Pb atoms in column")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_demo(out: Path, seed: int = 0, quiet: bool = False) -> dict:
    """Run the demo; returns the summary it writes to ``summary.json``."""
    from tqdm import tqdm

    from .core.samples import pbse_cdse_core_shell, pbse_cuboctahedron

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    summary = {"output": str(out), "samples": {}}
    makers = {"pbse_cuboctahedron": pbse_cuboctahedron, "pbse_cdse_core_shell": pbse_cdse_core_shell}
    steps = tqdm(makers.items(), desc="samples", unit="particle", disable=quiet, file=sys.stdout)
    for key, make in steps:
        steps.set_postfix_str(key)
        particle = make(seed=seed)
        folder = out / key
        folder.mkdir(exist_ok=True)
        particle.write_xyz(folder / "true_model.xyz")
        views = []
        for view in particle.views:
            zone = "".join(str(v) for v in view.geometry.zone_axis)
            md = view.layer_metadata()
            _write_image_tiff(folder / f"haadf_{zone}.tif", view.image, view.pixel_size, md)
            view.columns.to_csv(folder / f"true_columns_{zone}.csv", index=False, float_format="%.5f")
            views.append(
                {
                    "zone_axis": md["zone_axis"],
                    "image": f"haadf_{zone}.tif",
                    "shape": list(view.image.shape),
                    "pixel_size_A": view.pixel_size,
                    "n_columns": int(len(view.columns)),
                    "column_types": {str(k): int(v) for k, v in view.columns.type.value_counts().items()},
                    "max_Pb_per_column": int(view.columns.get("n_Pb", view.columns.n_atoms).max()),
                }
            )
        _overview_figure(particle, folder / "overview.png")
        summary["samples"][key] = {
            "description": particle.description,
            "composition": particle.composition(),
            "lattice_parameter_A": particle.lattice_parameter,
            "dose_e_per_A2": particle.views[0].dose,
            "probe_fwhm_A": particle.views[0].probe_fwhm,
            "views": views,
        }
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if not quiet:
        for key, s in summary["samples"].items():
            print(f"{key}: {s['composition']}")
            for v in s["views"]:
                print(f"  {v['zone_axis']}: {v['shape']} px at {v['pixel_size_A']} Å/px, {v['n_columns']} columns {v['column_types']}")
        print(f"wrote {out} in {summary['seconds']} s")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="napari-nxtomo",
        description="3D atomic models of nanocrystals from HAADF-STEM images (napari plugin and command line).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the workflow on the bundled sample particles, headless")
    demo.add_argument("--out", default="nxtomo-demo", help="output folder (default: ./nxtomo-demo)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the samples (default 0)")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    if args.command == "demo":
        run_demo(Path(args.out), seed=args.seed, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
