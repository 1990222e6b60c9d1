"""Command line: ``napari-nxtomo demo [--out DIR]`` and batch subcommands.

``fit``: images → column tables (CSV); ``count``: column tables → the same
tables with atom counts (and a histogram figure).  They call the same core
functions as the napari widgets, and their tables open in napari through the
plugin's reader.

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


def _zone(text):
    if text is None:
        return None
    digits = [int(c) for c in text.replace(",", " ").replace("-", " -").split()] if " " in text or "," in text \
        else [int(c) for c in text]
    if len(digits) != 3:
        raise argparse.ArgumentTypeError(f"a zone axis is three integers like 110 or 1,1,0; got {text!r}")
    return tuple(digits)


def _progress_bar(desc, quiet):
    from tqdm import tqdm

    bar = tqdm(total=1, desc=desc, disable=quiet, file=sys.stdout, leave=False)

    def progress(i, n):
        bar.total = n
        bar.n = i
        bar.refresh()

    return bar, progress


def run_fit(images, out: Path, *, min_distance: float, types: str = "auto", elements=("Pb", "Se"),
            zone_axis=None, assume_unit=None, quiet=False) -> list[Path]:
    """Find and fit the columns of each image; write ``<image>_columns.csv`` per image."""
    from .core.columns import fit_typed_columns
    from .core.fitting import find_columns
    from .core.io import read_images
    from .core.tables import write_points_csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in images:
        path = Path(path)
        for im in read_images(path, assume_unit=assume_unit):
            data = np.asarray(im.data, dtype=float)
            if data.ndim != 2:
                raise ValueError(f"{path.name}: {data.shape} is a stack; fit its frames one by one (napari does)")
            md = im.metadata
            if not md.get("calibrated", True):
                print(f"warning: {path.name} carries no pixel size; distances are in pixels", file=sys.stderr)
            pixel = float(md["pixel_size_A"])
            zone = zone_axis if zone_axis is not None else md.get("zone_axis")
            bar, progress = _progress_bar(f"fit {path.name}", quiet)
            pos = find_columns(data, pixel, min_distance)
            table = fit_typed_columns(data, pixel, pos, types, zone_axis=zone, names=elements, progress=progress)
            bar.close()
            keep = {k: md[k] for k in ("pixel_size_A", "zone_axis", "tilt_axis", "tilt_direction",
                                       "image_rotation_deg", "source") if k in md}
            keep.update(column_types=table.attrs.get("type_rule"), background=table.attrs.get("background"))
            suffix = f"_{md['index']}" if md.get("index") else ""
            target = out / f"{path.stem}{suffix}_columns.csv"
            write_points_csv(target, table[["y", "x"]].to_numpy(), table, metadata=keep,
                             name=f"{path.stem} columns")
            written.append(target)
            if not quiet:
                kinds = ", ".join(f"{k} {v}" for k, v in table["type"].value_counts().items())
                print(f"{path.name}: {len(table)} columns ({kinds}), zone axis {zone}, rule "
                      f"{table.attrs.get('type_rule')} -> {target}")
    return written


def run_count(tables, out: Path, *, max_components: int = 20, n_components=None, lowest_count=None,
              library=None, quiet=False) -> list[Path]:
    """Count the atoms of each column table; write ``<table>_counts.csv`` and ``<table>_counts.png``."""
    import pandas as pd

    from .core.counting import count_atoms
    from .core.tables import read_points_csv, write_points_csv

    lib = None
    if library is not None:
        lt = pd.read_csv(library, comment="#")
        if not {"count", "cross_section"} <= set(lt.columns):
            raise ValueError(f"the library {Path(library).name} needs columns 'count' and 'cross_section'")
        lib = dict(zip(lt["count"].astype(int), lt["cross_section"].astype(float)))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in tables:
        path = Path(path)
        coords, feats, md, name = read_points_csv(path)
        if "volume" not in feats:
            raise ValueError(f"{path.name} has no 'volume' column: run 'napari-nxtomo fit' first")
        res = count_atoms(feats, max_components=max_components, library=lib, n_components=n_components,
                          lowest_count=lowest_count)
        feats = feats.copy()
        frame = res.to_frame()
        feats["count"] = res.counts
        feats["count_probability"] = frame["probability"].to_numpy()
        if "n_minor" in frame:
            feats["n_minor"] = frame["n_minor"].to_numpy()
        md["counting"] = {"method": res.method, "n_components": int(res.n_components), "notes": list(res.notes)}
        stem = path.stem[:-len("_columns")] if path.stem.endswith("_columns") else path.stem
        target = out / f"{stem}_counts.csv"
        write_points_csv(target, coords, feats, metadata=md, name=name)
        _count_figure(feats["volume"].to_numpy(), res, out / f"{stem}_counts.png", title=stem)
        written.append(target)
        if not quiet:
            print(f"{path.name}: {len(feats)} columns, {res.n_components} classes ({res.method}), counts "
                  f"{int(res.counts.min())}-{int(res.counts.max())} -> {target}")
    return written


def run_debye(models, out: Path, *, q_min=0.5, q_max=25.0, q_step=0.01, energy_keV=None, wavelength=None,
              b_iso=None, radiation="xray", complete=None, lattice_parameter=None, use_certainty=False,
              quiet=False) -> list[Path]:
    """Debye pattern of each .xyz model; write ``<model>_pattern.csv`` and ``.png``."""
    import pandas as pd

    from .core.debye import debye_intensity, energy_to_wavelength, q_to_two_theta, wavelength_to_energy
    from .core.nanocrystal import complete_sublattice
    from .core.tables import read_xyz

    if q_step <= 0 or q_max <= q_min:
        raise ValueError(f"the Q range {q_min}..{q_max} Å⁻¹ with step {q_step} is empty")
    q = np.arange(q_min, q_max + 0.5 * q_step, q_step)
    if wavelength is None and energy_keV is not None:
        wavelength = energy_to_wavelength(energy_keV)
    if energy_keV is None and wavelength is not None:
        energy_keV = wavelength_to_energy(wavelength)
    two_theta = q_to_two_theta(q, wavelength) if wavelength is not None else None  # checks the range first
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in models:
        path = Path(path)
        pos, els, props, info = read_xyz(path)
        occ = None
        if use_certainty:
            if "certainty" not in props:
                raise ValueError(f"{path.name} has no per-atom 'certainty' to use as occupancy")
            occ = np.clip(np.asarray(props["certainty"], dtype=float), 0.0, 1.0)
        if complete:
            a = lattice_parameter or info.get("lattice_parameter")
            if a is None:
                raise ValueError(f"give --lattice-parameter: {path.name} does not say it")
            cat_el, _, anion = complete.partition(":")
            cations = pos[els == cat_el]
            if len(cations) == 0:
                raise ValueError(f"{path.name} has no {cat_el} atoms to complete around")
            apos, aels = complete_sublattice(cations, float(a), anion=anion or "Se")
            pos = np.vstack([pos, apos])
            els = np.concatenate([els, aels])
            if occ is not None:
                occ = np.concatenate([occ, np.ones(len(apos))])
        bar, progress = _progress_bar(f"Debye {path.name}", quiet)
        intensity = debye_intensity(pos, els, q, b_iso=b_iso, occupancy=occ, radiation=radiation,
                                    energy_keV=energy_keV if radiation == "xray" else None,
                                    progress=lambda f: progress(int(1000 * f), 1000))
        bar.close()
        table = pd.DataFrame({"q_inv_A": q, "intensity": intensity})
        if two_theta is not None:
            table.insert(1, "two_theta_deg", two_theta)
        target = out / f"{path.stem}_pattern.csv"
        with open(target, "w", encoding="utf-8", newline="") as fh:
            fh.write(f"# Debye pattern of {path.name}: {len(pos)} atoms, radiation {radiation}"
                     + (f", {energy_keV:.4g} keV ({wavelength:.5g} Å)" if wavelength else "")
                     + f", B {b_iso or 0} Å²; intensity in electrons² per particle\n")
            table.to_csv(fh, index=False, float_format="%.8g")
        _pattern_figure(q, intensity, out / f"{path.stem}_pattern.png", title=f"{path.stem}, {len(pos)} atoms")
        written.append(target)
        if not quiet:
            print(f"{path.name}: {len(pos)} atoms, {len(q)} Q points -> {target}")
    return written


def _pattern_figure(q, intensity, path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), constrained_layout=True)
    ax = fig.subplots()
    ax.plot(q, intensity, lw=1)
    ax.set_xlabel("Q (Å⁻¹)")
    ax.set_ylabel("I(Q) (e² per particle)")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=110)


def _count_figure(volumes, res, path: Path, title: str = "") -> None:
    """Histogram with the mixture and the ICL curve, as the Count atoms dock draws it."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from .core.plots import plot_counts

    fig = Figure(figsize=(6, 6), constrained_layout=True)
    plot_counts(fig, volumes, res)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110)


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

    fit = sub.add_parser("fit", help="find and fit the atomic columns of images; one CSV table per image")
    fit.add_argument("images", nargs="+", help="image files (any format the plugin reads)")
    fit.add_argument("--out", default=".", help="output folder (default: here)")
    fit.add_argument("--min-distance", type=float, default=1.5, help="smallest column spacing to keep, Å (default 1.5)")
    fit.add_argument("--types", default="auto", choices=["auto", "one", "mixed", "parity", "intensity"],
                     help="column types: auto from the zone axis (rocksalt <100> mixed, <110> parity)")
    fit.add_argument("--elements", default="Pb,Se", help="heavy and light element (default Pb,Se)")
    fit.add_argument("--zone-axis", type=_zone, default=None, help="zone axis when the file does not say, e.g. 110")
    fit.add_argument("--assume-unit", default=None, help="length unit of files whose axes carry no unit (e.g. nm)")
    fit.add_argument("--quiet", action="store_true")

    count = sub.add_parser("count", help="count atoms per column from fitted tables (Gaussian mixture + ICL)")
    count.add_argument("tables", nargs="+", help="column tables written by 'fit' (or the napari writer)")
    count.add_argument("--out", default=".", help="output folder (default: here)")
    count.add_argument("--max-components", type=int, default=20)
    count.add_argument("--n-components", type=int, default=None, help="force the number of classes")
    count.add_argument("--lowest-count", type=int, default=None, help="count of the lowest class")
    count.add_argument("--library", default=None, help="CSV with columns count, cross_section (Å²)")
    count.add_argument("--quiet", action="store_true")

    debye = sub.add_parser("debye", help="Debye scattering pattern of atom models (.xyz)")
    debye.add_argument("models", nargs="+", help=".xyz files (x y z in Å, element symbols)")
    debye.add_argument("--out", default=".", help="output folder (default: here)")
    debye.add_argument("--q-min", type=float, default=0.5, help="Å⁻¹ (default 0.5)")
    debye.add_argument("--q-max", type=float, default=25.0, help="Å⁻¹ (default 25)")
    debye.add_argument("--q-step", type=float, default=0.01, help="Å⁻¹ (default 0.01)")
    src = debye.add_mutually_exclusive_group()
    src.add_argument("--energy", type=float, default=None, help="X-ray energy, keV (anomalous f', f'' and 2θ)")
    src.add_argument("--wavelength", type=float, default=None, help="X-ray wavelength, Å")
    debye.add_argument("--b", default=None, help="Debye-Waller B in Å²: one number or Pb=1.2,Se=0.9")
    debye.add_argument("--radiation", default="xray", choices=["xray", "constant", "neutron"])
    debye.add_argument("--complete", default=None, metavar="CATION:ANION",
                       help="add the rocksalt anion sublattice around the cations, e.g. Pb:Se")
    debye.add_argument("--lattice-parameter", type=float, default=None, help="Å, for --complete")
    debye.add_argument("--certainty-as-occupancy", action="store_true",
                       help="use the model's per-atom certainty as site occupancy")
    debye.add_argument("--quiet", action="store_true")

    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            run_demo(Path(args.out), seed=args.seed, quiet=args.quiet)
        elif args.command == "fit":
            els = tuple(e.strip() for e in args.elements.split(","))
            if len(els) != 2:
                parser.error("--elements needs two symbols, e.g. Pb,Se")
            run_fit(args.images, Path(args.out), min_distance=args.min_distance, types=args.types, elements=els,
                    zone_axis=args.zone_axis, assume_unit=args.assume_unit, quiet=args.quiet)
        elif args.command == "count":
            run_count(args.tables, Path(args.out), max_components=args.max_components,
                      n_components=args.n_components, lowest_count=args.lowest_count, library=args.library,
                      quiet=args.quiet)
        elif args.command == "debye":
            from .core.patterns import parse_element_values

            run_debye(args.models, Path(args.out), q_min=args.q_min, q_max=args.q_max, q_step=args.q_step,
                      energy_keV=args.energy, wavelength=args.wavelength, b_iso=parse_element_values(args.b, "B (Å²)", lo=0.0),
                      radiation=args.radiation, complete=args.complete, lattice_parameter=args.lattice_parameter,
                      use_certainty=args.certainty_as_occupancy, quiet=args.quiet)
    except (ValueError, OSError) as exc:
        print(f"napari-nxtomo {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
