"""Command line: ``napari-nxtomo demo [--out DIR]`` and batch subcommands.

``fit``: images → column tables (CSV); ``count``: column tables → the same
tables with atom counts (and a histogram figure); ``reconstruct``: counted
tables → a 3D model with certainty (.xyz, CSV) and re-projection tables;
``debye``: .xyz models → scattering patterns.  They call the same core
functions as the napari widgets, and their tables open in napari through the
plugin's reader.

The demo runs the whole workflow headless on the bundled PbSe sample (fit,
count, reconstruct, Debye pattern) and compares every step with the sample's
ground truth; it also writes both samples' images (calibrated TIFF, readable
by the plugin's reader) and their ground truth.
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


def best_fcc_translation(q, reference, max_shift: int = 8):
    """The fcc translation (quarter-lattice units) that puts most of ``q`` on ``reference``.

    A reconstruction's crystal origin is an fcc site near the particle's centre;
    the true model has its own.  Returns ``(T, n_shared)``.
    """
    ref = set(map(tuple, np.asarray(reference, dtype=np.int64).tolist()))
    q = np.asarray(q, dtype=np.int64)
    best = (np.zeros(3, dtype=np.int64), -1)
    r = range(-max_shift, max_shift + 1, 2)
    for dx in r:
        for dy in r:
            for dz in r:
                if (dx + dy + dz) % 4:
                    continue
                n = len(set(map(tuple, (q + (dx, dy, dz)).tolist())) & ref)
                if n > best[1]:
                    best = (np.array([dx, dy, dz]), n)
    return best


def _pipeline_figures(folder: Path, views, tables, counts, result, is_true, pattern, true_pattern) -> None:
    """The demo's figures: columns by count, histograms + ICL, the 3D model, re-projection, pattern."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .core.plots import plot_counts

    n = len(views)
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 4.6), constrained_layout=True)
    for ax, view, table in zip(np.atleast_1d(axes), views, tables):
        h, w = view.image.shape
        p = view.pixel_size
        ax.imshow(view.image, cmap="gray", extent=(-0.5 * p, (w - 0.5) * p, (h - 0.5) * p, -0.5 * p))
        pb = table["type"].isin(["Pb", "Pb+Se"]).to_numpy()
        sc = ax.scatter(table.x[pb], table.y[pb], c=table["count"][pb], s=7, cmap="viridis")
        ax.set_title(f"{view.name}: fitted Pb columns by count", fontsize=9)
        ax.set_xlabel("x (Å)")
        ax.set_ylabel("y (Å)")
        fig.colorbar(sc, ax=ax, shrink=0.8, label="Pb atoms")
    fig.savefig(folder / "columns_by_count.png", dpi=100)
    plt.close(fig)

    fig = plt.figure(figsize=(5.2 * n, 5.5), constrained_layout=True)
    for sub, view, table, res in zip(fig.subfigures(1, n), views, tables, counts):
        plot_counts(sub, table["volume"].to_numpy(), res)
        sub.suptitle(view.name, fontsize=9)
    fig.savefig(folder / "count_histograms.png", dpi=100)
    plt.close(fig)

    _model_figures(folder, result, [v.name for v in views])

    q, i_model = pattern
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    ax.plot(q, true_pattern, "k", lw=1.2, label="true model (Pb + Se)")
    ax.plot(q, i_model, "C1", lw=1, ls="--", label="reconstructed Pb + completed Se")
    ax.set_yscale("log")
    ax.set_xlabel("Q (Å⁻¹)")
    ax.set_ylabel("I(Q) (e² per particle)")
    ax.legend()
    fig.savefig(folder / "debye_pattern.png", dpi=100)
    plt.close(fig)


def _model_figures(folder: Path, result, names) -> None:
    """The 3D model seen along the cube axes, coloured by certainty; measured against re-projected counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(names)
    sites = result.sites
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6), constrained_layout=True)
    occ = sites["occupied"].to_numpy()
    for ax, (i, j, seen) in zip(axes, [(0, 1, "along z [001]"), (0, 2, "along y [010]"), (1, 2, "along x [100]")]):
        xyz = sites[["x", "y", "z"]].to_numpy()[occ]
        depth = 3 - i - j
        order = np.argsort(xyz[:, depth])
        sc = ax.scatter(xyz[order, i], xyz[order, j], c=sites["certainty"].to_numpy()[occ][order], cmap="plasma",
                        vmin=0, vmax=1, s=25, edgecolors="k", linewidths=0.2)
        ax.set_aspect("equal")
        ax.set_xlabel(f"{'xyz'[i]} (Å)")
        ax.set_ylabel(f"{'xyz'[j]} (Å)")
        ax.set_title(f"reconstructed Pb, seen {seen}", fontsize=9)
    fig.colorbar(sc, ax=axes, shrink=0.8, label="certainty")
    fig.savefig(folder / "model_certainty.png", dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4), constrained_layout=True)
    for ax, rep, name in zip(np.atleast_1d(axes), result.reprojection, names):
        m = rep[rep["input_index"] >= 0]
        ax.scatter(m["measured"], m["reconstructed"], s=10, alpha=0.6)
        top = float(max(m["measured"].max(), m["reconstructed"].max())) + 1
        ax.plot([0, top], [0, top], "k--", lw=0.8)
        off = int((m["residual"] != 0).sum())
        ax.set_title(f"{name}: re-projection, {off} of {len(m)} columns off", fontsize=9)
        ax.set_xlabel("measured Pb count")
        ax.set_ylabel("model Pb count")
    fig.savefig(folder / "reprojection.png", dpi=100)
    plt.close(fig)


def run_pipeline(particle, folder: Path, *, n_runs: int = 10, seed: int = 0, min_distance: float = 1.4,
                 quiet: bool = False) -> dict:
    """Fit, count, reconstruct and compute the Debye pattern of one sample particle; compare with its truth."""
    from scipy.spatial import cKDTree
    from tqdm import tqdm

    from .core.columns import fit_typed_columns
    from .core.counting import count_atoms
    from .core.debye import debye_intensity
    from .core.fitting import find_columns
    from .core.nanocrystal import complete_sublattice
    from .core.tables import write_points_csv
    from .core.tomography import Projection, reconstruct

    t0 = time.perf_counter()
    summary = {"images": []}
    tables, counts, projections = [], [], []
    for view in tqdm(particle.views, desc="fit + count", unit="image", disable=quiet, file=sys.stdout):
        zone = "".join(str(v) for v in view.geometry.zone_axis)
        pos = find_columns(view.image, view.pixel_size, min_distance)
        table = fit_typed_columns(view.image, view.pixel_size, pos, zone_axis=view.geometry.zone_axis)
        res = count_atoms(table)
        table["count"] = res.counts
        table["count_probability"] = res.to_frame()["probability"].to_numpy()
        truth = view.columns
        d, idx = cKDTree(truth[["y", "x"]].to_numpy()).query(table[["y", "x"]].to_numpy())
        table["true_n_Pb"] = truth["n_Pb"].to_numpy()[idx]
        pb = table["type"].isin(["Pb", "Pb+Se"]).to_numpy()
        exact = float(np.mean(table["count"].to_numpy()[pb] == table["true_n_Pb"].to_numpy()[pb]))
        md = view.layer_metadata()
        md.update(column_types=table.attrs.get("type_rule"), counting_method=res.method)
        write_points_csv(folder / f"columns_{zone}.csv", table[["y", "x"]].to_numpy(), table, metadata=md,
                         name=f"{view.name} columns")
        summary["images"].append({
            "zone_axis": list(view.geometry.zone_axis),
            "columns_found": int(len(table)),
            "true_columns": int(len(truth)),
            "each_true_column_found_once": bool(len(np.unique(idx)) == len(truth) == len(table)),
            "position_rms_A": round(float(np.sqrt(np.mean(d**2))), 4),
            "column_types": table.attrs.get("type_rule"),
            "count_classes": int(res.n_components),
            "pb_columns": int(pb.sum()),
            "pb_counts_exact_fraction": round(exact, 4),
        })
        tables.append(table)
        counts.append(res)
        projections.append(Projection(view.geometry.zone_axis, table[["y", "x"]].to_numpy()[pb],
                                      table["count"].to_numpy()[pb], name=view.name))

    bar = tqdm(total=n_runs, desc="reconstruct (runs, exact optimum, certainty)", unit="step", disable=quiet,
               file=sys.stdout)

    def progress(i, n):
        bar.total = n
        bar.n = i
        bar.refresh()

    result = reconstruct(projections, particle.lattice_parameter, n_runs=n_runs, seed=seed, progress=progress)
    bar.close()
    result.write_xyz(folder / "model.xyz")
    result.to_csv(folder / "model.csv", name="Pb model")

    true_pb = particle.q[particle.elements == "Pb"]
    shift, shared = best_fcc_translation(result.q, true_pb)
    true_set = set(map(tuple, true_pb.tolist()))
    site_q = result.sites[["qx", "qy", "qz"]].to_numpy() + shift
    is_true = np.array([tuple(v) in true_set for v in site_q.tolist()])
    cert = result.sites["certainty"].to_numpy()
    hi, lo = cert >= 0.9, cert <= 0.1
    summary["reconstruction"] = {
        "model_atoms": int(len(result.positions)),
        "true_Pb_atoms": int(len(true_pb)),
        "true_sites_recovered_fraction": round(shared / len(true_pb), 4),
        "model_atoms_that_are_true_fraction": round(shared / max(len(result.positions), 1), 4),
        "energy": float(result.energy),
        "surface_edges": int(result.surface_edges),
        "model_source": result.model_source,
        "exact_status": None if result.exact is None else result.exact.status,
        "connected": bool(result.connected),
        "holes": int(result.n_holes),
        "n_runs": int(n_runs),
        "certainty_calibration": {
            "sites_at_certainty_ge_0.9": int(hi.sum()),
            "true_atoms_among_sites_ge_0.9_fraction": round(float(is_true[hi].mean()), 4) if hi.any() else None,
            "sites_at_certainty_le_0.1": int(lo.sum()),
            "true_atoms_among_sites_le_0.1_fraction": round(float(is_true[lo].mean()), 4) if lo.any() else None,
        },
    }

    # Debye pattern of the reconstructed core (Se completed around the Pb) and of the true model
    q = np.arange(0.5, 12.0 + 1e-9, 0.01)
    # a Se site is kept when at least 4 reconstructed Pb surround it (facet and edge sites, not corners)
    se, se_el = complete_sublattice(result.positions, particle.lattice_parameter, anion="Se", min_neighbours=4)
    model_pos = np.vstack([result.positions, se])
    model_el = np.concatenate([np.full(len(result.positions), "Pb"), se_el])
    i_model = debye_intensity(model_pos, model_el, q, b_iso={"Pb": 1.0, "Se": 0.8})
    i_true = debye_intensity(particle.positions, particle.elements, q, b_iso={"Pb": 1.0, "Se": 0.8})
    import pandas as pd

    with open(folder / "debye_pattern.csv", "w", encoding="utf-8", newline="") as fh:
        fh.write("# Debye pattern (X-ray, Waasmaier-Kirfel, B Pb 1.0 Se 0.8 Å2) of the reconstructed Pb with the "
                 "Se sublattice completed, and of the true model\n")
        pd.DataFrame({"q_inv_A": q, "intensity_model": i_model, "intensity_true": i_true}).to_csv(
            fh, index=False, float_format="%.8g")
    summary["debye"] = {
        "se_completion": "rocksalt Se sites with >= 4 reconstructed Pb neighbours",
        "se_model": int(len(se)),
        "se_true": int(np.sum(particle.elements == "Se")),
        "atoms_model": int(len(model_pos)),
        "atoms_true": int(len(particle.positions)),
        "r_factor_vs_true": round(float(np.sum(np.abs(i_model - i_true)) / np.sum(i_true)), 5),
    }
    _pipeline_figures(folder, particle.views, tables, counts, result, is_true, (q, i_model), i_true)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary


def run_demo(out: Path, seed: int = 0, quiet: bool = False, n_runs: int = 10) -> dict:
    """Run the demo; returns the summary it writes to ``summary.json``.

    For both sample particles: the images (calibrated TIFF) and their ground
    truth.  For the PbSe cuboctahedron, the whole method: fit, count,
    reconstruct (``n_runs`` annealing runs + the exact optimum), the Debye
    pattern of the reconstructed core, figures, and every step compared with
    the truth.
    """
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
        if key == "pbse_cuboctahedron":
            summary["samples"][key]["workflow"] = run_pipeline(particle, folder, n_runs=n_runs, seed=seed,
                                                               quiet=quiet)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if not quiet:
        for key, s in summary["samples"].items():
            print(f"{key}: {s['composition']}")
            for v in s["views"]:
                print(f"  {v['zone_axis']}: {v['shape']} px at {v['pixel_size_A']} Å/px, {v['n_columns']} columns {v['column_types']}")
            wf = s.get("workflow")
            if wf:
                for im in wf["images"]:
                    print(f"  fit+count {im['zone_axis']}: {im['columns_found']}/{im['true_columns']} columns, "
                          f"position RMS {im['position_rms_A']} Å, Pb counts exact {100 * im['pb_counts_exact_fraction']:.1f} %")
                r = wf["reconstruction"]
                cal = r["certainty_calibration"]
                print(f"  reconstruction: {100 * r['true_sites_recovered_fraction']:.2f} % of the {r['true_Pb_atoms']} "
                      f"true Pb sites, {100 * r['model_atoms_that_are_true_fraction']:.2f} % of the model's atoms true "
                      f"({r['model_source']}, exact {r['exact_status']}); certainty ≥ 0.9: {cal['sites_at_certainty_ge_0.9']} sites")
                print(f"  Debye pattern of the reconstructed core vs the true model: R = {wf['debye']['r_factor_vs_true']}")
        print(f"wrote {out} in {summary['seconds']} s")
    return summary


DOCKS = ("1 Fit columns", "2 Count atoms", "3 Reconstruct 3D", "4 Debye scattering")


def docked_session(viewer, sample: str = "pbse_cuboctahedron") -> list:
    """Load a sample into a viewer and dock the four widgets in workflow order; returns the widgets."""
    viewer.open_sample("napari-nxtomo", sample)
    widgets = []
    for name in DOCKS:
        dock, widget = viewer.window.add_plugin_dock_widget("napari-nxtomo", name, tabify=False)
        widgets.append(widget)
    return widgets


def run_gui(sample: str = "pbse_cuboctahedron") -> None:
    """Open napari with the sample loaded and the four widgets docked (``demo --gui``)."""
    import napari

    viewer = napari.Viewer(title="napari-nxtomo demo")
    docked_session(viewer, sample)
    napari.run()


def _zone(text):
    from .core.tomography import parse_zone_axis

    try:
        return parse_zone_axis(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        md["counting"] = {"method": res.method, "n_components": int(res.n_components), "notes": list(res.notes),
                          # the fit's standard errors make the free mixture error-aware (count_atoms takes them)
                          "errors": "volume_err" if "volume_err" in feats else None}
        stem = path.stem[:-len("_columns")] if path.stem.endswith("_columns") else path.stem
        target = out / f"{stem}_counts.csv"
        write_points_csv(target, coords, feats, metadata=md, name=name)
        _count_figure(feats["volume"].to_numpy(), res, out / f"{stem}_counts.png", title=stem)
        written.append(target)
        if not quiet:
            print(f"{path.name}: {len(feats)} columns, {res.n_components} classes ({res.method}), counts "
                  f"{int(res.counts.min())}-{int(res.counts.max())} -> {target}")
    return written


def run_reconstruct(tables, out: Path, *, lattice_parameter: float, element: str = "Pb", zone_axes=None,
                    n_runs: int = 10, method: str = "both", seed: int = 0, quiet=False) -> list[Path]:
    """Discrete tomography from counted column tables (one per zone axis).

    Writes ``model.xyz`` and ``model.csv`` (the 3D model with certainty),
    ``<table>_reprojection.csv`` per table (measured and re-projected counts,
    residual), ``model_certainty.png`` and ``reprojection.png``.
    """
    from .core.tables import read_points_csv, write_points_csv
    from .core.tomography import projection_from_table, reconstruct

    if len(tables) < 2:
        raise ValueError("give at least two counted column tables, one per zone axis")
    if zone_axes is not None and len(zone_axes) != len(tables):
        raise ValueError(f"{len(zone_axes)} zone axes for {len(tables)} tables: give one per table")
    out = Path(out)
    projections, stems = [], []
    for i, path in enumerate(tables):
        path = Path(path)
        coords, feats, md, _ = read_points_csv(path)
        if coords.shape[1] != 2:
            raise ValueError(f"{path.name} holds 3D points, not the columns of an image")
        zone = zone_axes[i] if zone_axes is not None else md.get("zone_axis")
        try:
            proj, _ = projection_from_table(coords, feats, zone, element, tilt_direction=md.get("tilt_direction"),
                                            name=path.name)
        except ValueError as exc:
            raise ValueError(f"{exc}" + (" (--zone-axes)" if zone is None else "")) from None
        projections.append(proj)
        stems.append(path.stem[:-len("_counts")] if path.stem.endswith("_counts") else path.stem)
    out.mkdir(parents=True, exist_ok=True)
    bar, progress = _progress_bar("reconstruct (runs, exact optimum, certainty)", quiet)
    result = reconstruct(projections, lattice_parameter, n_runs=n_runs, seed=seed, method=method, progress=progress)
    bar.close()
    written = [result.write_xyz(out / "model.xyz", element=element),
               result.to_csv(out / "model.csv", name=f"{element} model")]
    for stem, proj, rep in zip(stems, projections, result.reprojection):
        written.append(write_points_csv(out / f"{stem}_reprojection.csv", rep[["y", "x"]].to_numpy(),
                                        rep.drop(columns=["y", "x"]),
                                        metadata={"zone_axis": list(proj.zone_axis), "element": element},
                                        name=f"{stem} residual"))
    _model_figures(out, result, stems)
    if not quiet:
        ex = result.exact
        print(f"{result.n_atoms} {element} atoms, {result.surface_edges} surface edges, count mismatch "
              f"{result.count_mismatch}, from {result.model_source}"
              + (f" (exact solver: {ex.status})" if ex is not None else "")
              + f"; connected {result.connected}, {result.n_holes} holes -> {out / 'model.xyz'}")
        for note in result.notes:
            print(f"  note: {note}")
    return written


def run_debye(models, out: Path, *, q_min=0.5, q_max=25.0, q_step=0.01, energy_keV=None, wavelength=None,
              b_iso=None, radiation="xray", complete=None, lattice_parameter=None, use_certainty=False,
              min_neighbours=1, quiet=False) -> list[Path]:
    """Debye pattern of each .xyz model; write ``<model>_pattern.csv`` and ``.png``."""
    import pandas as pd

    from .core.debye import debye_intensity, energy_to_wavelength, q_to_two_theta, wavelength_to_energy
    from .core.nanocrystal import add_anion_sublattice
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
            pos, els, occ_all, n_added = add_anion_sublattice(
                pos, els, float(a), anion=anion or "Se", occupancy=occ, cation=cat_el, min_neighbours=min_neighbours
            )
            if occ is not None:
                occ = occ_all
            if not quiet:
                print(f"{path.name}: {n_added} {anion or 'Se'} added around {int(np.sum(els == cat_el))} {cat_el}"
                      f" (sites with >= {min_neighbours} {cat_el} neighbours)")
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
    demo.add_argument("--runs", type=int, default=10, help="annealing runs of the reconstruction (default 10)")
    demo.add_argument("--gui", action="store_true",
                      help="open napari with the sample loaded and the four widgets docked instead")

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

    rec = sub.add_parser("reconstruct", help="3D model on the fcc grid from counted column tables (discrete tomography)")
    rec.add_argument("tables", nargs="+", help="counted column tables written by 'count' (one per zone axis)")
    rec.add_argument("--out", default=".", help="output folder (default: here)")
    rec.add_argument("--lattice-parameter", type=float, default=6.12, help="Å (default 6.12, PbSe)")
    rec.add_argument("--element", default="Pb", help="the reconstructed species (default Pb)")
    rec.add_argument("--zone-axes", type=_zone, nargs="+", default=None,
                     help="one per table when the tables do not say, e.g. 100 010 110")
    rec.add_argument("--runs", type=int, default=10, help="annealing runs (default 10)")
    rec.add_argument("--solver", default="both", choices=["both", "anneal", "exact"],
                     help="annealing runs and the exact optimum (default), or one of them")
    rec.add_argument("--seed", type=int, default=0)
    rec.add_argument("--quiet", action="store_true")

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
    debye.add_argument("--min-neighbours", type=int, default=1,
                       help="with --complete: keep anion sites with at least this many cation neighbours (default 1: "
                            "every site touching a cation; 4 of 6 keeps well-coordinated sites only)")
    debye.add_argument("--lattice-parameter", type=float, default=None, help="Å, for --complete")
    debye.add_argument("--certainty-as-occupancy", action="store_true",
                       help="use the model's per-atom certainty as site occupancy")
    debye.add_argument("--quiet", action="store_true")

    args = parser.parse_args(argv)
    try:
        if args.command == "demo" and args.gui:
            run_gui()
        elif args.command == "demo":
            run_demo(Path(args.out), seed=args.seed, quiet=args.quiet, n_runs=args.runs)
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
        elif args.command == "reconstruct":
            run_reconstruct(args.tables, Path(args.out), lattice_parameter=args.lattice_parameter,
                            element=args.element, zone_axes=args.zone_axes, n_runs=args.runs, method=args.solver,
                            seed=args.seed, quiet=args.quiet)
        elif args.command == "debye":
            from .core.patterns import parse_element_values

            run_debye(args.models, Path(args.out), q_min=args.q_min, q_max=args.q_max, q_step=args.q_step,
                      energy_keV=args.energy, wavelength=args.wavelength, b_iso=parse_element_values(args.b, "B (Å²)", lo=0.0),
                      radiation=args.radiation, complete=args.complete, lattice_parameter=args.lattice_parameter,
                      min_neighbours=args.min_neighbours,
                      use_certainty=args.certainty_as_occupancy, quiet=args.quiet)
    except (ValueError, OSError) as exc:
        print(f"napari-nxtomo {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
