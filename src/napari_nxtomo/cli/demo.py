"""``napari-nxtomo demo``: the whole workflow on the bundled sample particles, compared with their truth.

For both samples the demo writes the images (calibrated TIFF, readable by the
plugin's reader) and their ground truth; on the PbSe cuboctahedron it runs
every step of :mod:`napari_nxtomo.core.workflow` (fit, count, reconstruct,
the Debye pattern of the reconstructed core) and scores each one with
:mod:`napari_nxtomo.core.evaluation` (``summary.json``).  ``demo --gui``
opens napari with a sample and the four docks instead.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from ..core import evaluation, workflow
from ..core.tables import atomic_open
from .commands import progress_bar
from .figures import overview_figure, pipeline_figures

__all__ = ["DOCKS", "docked_session", "run_demo", "run_gui", "run_pipeline"]

#: the plugin's docks, in workflow order
DOCKS = ("1 Fit columns", "2 Count atoms", "3 Reconstruct 3D", "4 Debye scattering")

#: Debye-Waller B (Å²) of the demo's patterns
_DEMO_B = {"Pb": 1.0, "Cd": 0.9, "Se": 0.8}


def run_pipeline(particle, folder: Path, *, n_runs: int = 10, seed: int = 0, min_distance: float | None = None,
                 quiet: bool = False) -> dict:
    """Fit, count, reconstruct and compute the Debye pattern of one sample particle; compare with its truth.

    Writes into ``folder`` the counted columns of every view (with the true
    Pb count of the nearest true column), the 3D model, the patterns of the
    reconstructed core and of the true model, and the figures.

    Parameters
    ----------
    particle : SampleParticle
    folder : Path
    n_runs, seed
        Of the reconstruction.
    min_distance : float
        Smallest column spacing to keep, Å.
    quiet : bool

    Returns
    -------
    dict
        The demo's summary of the particle: ``images`` (fit and count per
        view), ``reconstruction``, ``debye`` and ``seconds``.
    """
    t0 = time.perf_counter()
    tables, counts, images = _fit_and_count(particle, folder, min_distance, quiet)
    bar, progress = progress_bar("reconstruct (runs, exact optimum, certainty)", quiet, leave=True, unit="step")
    counted = [(t[["y", "x"]].to_numpy(), t, {"zone_axis": v.geometry.zone_axis}) for t, v in zip(tables, particle.views)]
    result = workflow.reconstruct_tables(counted, particle.lattice_parameter, names=[v.name for v in particle.views],
                                         n_runs=n_runs, seed=seed, progress=progress)
    bar.close()
    result.to_csv(folder / "model.csv", name="Pb model")
    true_pb = particle.q[particle.elements == "Pb"]
    summary = {"images": images, "reconstruction": evaluation.score_reconstruction(result, true_pb, n_runs=n_runs)}
    shell = _shell(particle, tables, result, folder, n_runs, seed, summary) if "Cd" in particle.elements else None
    if shell is None:
        result.write_xyz(folder / "model.xyz")
    q, i_model, i_true, summary["debye"] = _patterns(particle, result, folder, shell)
    pipeline_figures(folder, particle.views, tables, counts, result, (q, i_model), i_true)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return summary


def _fit_and_count(particle, folder: Path, min_distance: float, quiet: bool):
    """Fit and count every view; write ``columns_<zone>.csv``; score them against the true columns."""
    from tqdm import tqdm

    from ..core.tables import write_points_csv

    views = particle.views
    fitted = [_fit_view(v, min_distance) for v in tqdm(views, desc="fit", unit="image", disable=quiet, file=sys.stdout)]
    counted, results, joint = _count(views, fitted)
    tables, images = [], []
    for view, table, with_counts, res in zip(views, fitted, counted, results):
        zone = "".join(str(v) for v in view.geometry.zone_axis)
        for column in ("count", "count_probability", "count_Cd", "count_Cd_probability"):  # the fit and the counts
            if column in with_counts:
                table[column] = with_counts[column]
        truth = view.columns
        match = evaluation.match_columns(table, truth)
        table["true_n_Pb"] = truth["n_Pb"].to_numpy()[match[0]]
        if "count_Cd" in table:
            table["true_n_Cd"] = truth["n_Cd"].to_numpy()[match[0]]
        md = view.layer_metadata()
        md.update(column_types=table.attrs.get("type_rule"), counting_method=res.method)
        write_points_csv(folder / f"columns_{zone}.csv", table[["y", "x"]].to_numpy(), table, metadata=md,
                         name=f"{view.name} columns")
        images.append(evaluation.score_columns(table, truth, res, view.geometry.zone_axis, match=match))
        if "count_Cd" in table:
            cd = table["type"].astype(str).to_numpy() == "Cd"
            images[-1]["cd_exact_fraction"] = round(float(np.mean(table["count_Cd"][cd] == table["true_n_Cd"][cd])), 4)
        images[-1]["counting"] = {"library": with_counts.attrs.get("counting_library"),
                                  "scale": f"{res.params['scale']:.5g}" if "scale" in res.params else None,
                                  "joint": joint}
        tables.append(table)
    return tables, results, images


def _shell(particle, tables, core, folder: Path, n_runs: int, seed: int, summary: dict):
    """The shell's Cd in 3D around the core (``model.xyz`` with both, ``shell_model.csv``); its score in ``summary``.

    Returns ``(shell result, shift_q)``, or None when the views' Cd were not counted (no library of the shell)."""
    from ..core.workflow.core_shell_model import reconstruct_shell, write_whole_xyz

    if not all("count_Cd" in t for t in tables):
        summary["shell"] = {"note": "the shell's Cd were not counted (no library of the shell crystal)"}
        return None
    result, shift_q = reconstruct_shell(tables, core, particle.lattice_parameter, names=[v.name for v in particle.views],
                                        n_runs=n_runs, seed=seed)
    write_whole_xyz(folder / "model.xyz", core, result, shift_q)
    result.to_csv(folder / "shell_model.csv", name="Cd shell")
    cations = particle.elements != "Se"
    s = evaluation.score_species({"Pb": core.q, "Cd": result.q + shift_q}, particle.q[cations],
                                 particle.elements[cations])
    n_true, n_model, n_shared = s["per_element"]["Cd"]
    summary["shell"] = {"model_Cd": n_model, "true_Cd": n_true,
                        "true_Cd_sites_recovered_fraction": round(n_shared / max(n_true, 1), 4),
                        "model_Cd_that_are_true_fraction": round(n_shared / max(n_model, 1), 4),
                        "cation_sites_recovered_fraction": round(s["recall"], 4),
                        "model_cations_that_are_true_fraction": round(s["precision"], 4)}
    return result, shift_q


def _fit_view(view, min_distance):
    """Find and fit one view with what its metadata say (zone axis, lattice, structure); ``min_distance`` None:
    from the zone axis and the lattice parameter."""
    from ..core.columns import min_distance_for

    md = view.layer_metadata()
    if min_distance is None:
        min_distance, _ = min_distance_for(md)
    table = workflow.find_and_fit(view.image, view.pixel_size, min_distance, zone_axis=view.geometry.zone_axis,
                                  lattice_parameter=md.get("lattice_parameter"), structure=md.get("structure"))
    table.attrs.update(md, pixel_size_A=view.pixel_size)
    return table


def _count(views, tables):
    """The views counted together (one library scale, one Pb total) when their metadata name their optics (the
    multislice sample; core-shell: one Pb total per layer across the tilt axis in all views); else each with the
    free mixture (the Gaussian generator's images carry no optics)."""
    mds = [v.layer_metadata() for v in views]
    if any(md.get("structure") == "core-shell" for md in mds):  # one Pb total per layer in all views
        counted, info = workflow.count_core_shell_views(tables, mds, names=[v.name for v in views])
        return counted, info["results"], {"Pb_totals_independent": info["totals_single"], "Pb_totals": info["totals"]}
    if all(md.get("energy_keV") for md in mds):
        counted, joint = workflow.count_views_tables(tables, mds)
        for warning in joint.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        return counted, joint.results, {"Pb_totals_independent": joint.totals_independent, "Pb_totals": joint.totals,
                                        "warnings": list(joint.warnings)}
    pairs = [workflow.count_table(t, metadata=md, library="none") for t, md in zip(tables, mds)]
    return [c for c, _ in pairs], [r for _, r in pairs], None


def _patterns(particle, result, folder: Path, shell=None):
    """Debye patterns of the reconstructed model with Se completed and of the true model; ``debye_pattern.csv``.

    Core–shell: the whole particle (core and shell, :func:`whole_completion`) when the shell was reconstructed,
    else the core against the true core."""
    from ..core.patterns import write_pattern_csv
    from ..core.workflow.core_shell_model import whole_completion, whole_model

    q = workflow.q_range(0.5, 12.0, 0.01)
    # a Se site is kept when at least 4 reconstructed Pb surround it (facet and edge sites, not corners)
    complete = {"anion": "Se", "structure": "rocksalt", "lattice_parameter": particle.lattice_parameter,
                "min_neighbours": 4}
    if shell is not None:
        pos, elements, _ = whole_model(result, *shell)
        complete = whole_completion(particle.lattice_parameter, shell[1])
        core = workflow.pattern_model(positions=pos, elements=elements, name="reconstructed core and shell",
                                      complete=complete)
        true = workflow.pattern_model(positions=particle.positions, elements=particle.elements, name="true model")
    else:
        core = workflow.pattern_model(positions=result.positions, elements=np.full(len(result.positions), "Pb"),
                                      name="reconstructed Pb", complete=complete)
    if shell is None and "Cd" in set(particle.elements.tolist()):  # the core alone: compare with the true core
        pb = particle.elements == "Pb"
        true = workflow.pattern_model(positions=particle.positions[pb], elements=particle.elements[pb], name="true core",
                                      complete=complete)
    elif shell is None:
        true = workflow.pattern_model(positions=particle.positions, elements=particle.elements, name="true model")
    # the demo has always let debye_intensity find the grid itself (lattice_hint=False)
    i_model = workflow.compute_pattern(core, q, b_iso=_DEMO_B, lattice_hint=False).intensity
    i_true = workflow.compute_pattern(true, q, b_iso=_DEMO_B, lattice_hint=False).intensity
    write_pattern_csv(
        folder / "debye_pattern.csv", {"q_inv_A": q, "intensity_model": i_model, "intensity_true": i_true},
        comments=[f"Debye pattern (X-ray, Waasmaier-Kirfel, B Pb 1.0 Cd 0.9 Se 0.8 Å2) of the {core.description}, "
                  "and of the true model"],
        digits=8,
    )
    summary = {
        "se_completion": core.description.split("+", 1)[-1].strip(),
        "se_model": int(core.n_added),
        "se_true": int(np.sum(true.elements == "Se")),
        "atoms_model": int(len(core.positions)),
        "atoms_true": int(len(true.positions)),
        "model": core.description.split(" + ")[0].replace("layer ", ""),
        "reference": true.description.replace("layer ", ""),
        "r_factor_vs_true": round(evaluation.r_factor(i_model, i_true), 5),
    }
    return q, i_model, i_true, summary


def _write_sample(particle, folder: Path) -> list:
    """The particle's true model, images (TIFF) and true columns; returns the views' summary."""
    from ..core.tables import write_image_tiff

    particle.write_xyz(folder / "true_model.xyz")
    views = []
    for view in particle.views:
        zone = "".join(str(v) for v in view.geometry.zone_axis)
        md = view.layer_metadata()
        write_image_tiff(folder / f"haadf_{zone}.tif", view.image, view.pixel_size, md)
        with atomic_open(folder / f"true_columns_{zone}.csv", "w", encoding="utf-8", newline="") as fh:
            view.columns.to_csv(fh, index=False, float_format="%.5f")
        views.append({
            "zone_axis": md["zone_axis"],
            "image": f"haadf_{zone}.tif",
            "shape": list(view.image.shape),
            "pixel_size_A": view.pixel_size,
            "n_columns": int(len(view.columns)),
            "column_types": {str(k): int(v) for k, v in view.columns.type.value_counts().items()},
            "max_Pb_per_column": int(view.columns.get("n_Pb", view.columns.n_atoms).max()),
        })
    overview_figure(particle, folder / "overview.png")
    return views


#: the demo's samples: ``--sample`` names → the bundled particles' keys
DEMO_SAMPLES = {"all": ("pbse_cuboctahedron", "pbse_cdse_core_shell"), "pbse": ("pbse_cuboctahedron",),
                "core-shell": ("pbse_cdse_core_shell",)}


def run_demo(out: Path, seed: int = 0, quiet: bool = False, n_runs: int = 10, sample: str = "all") -> dict:
    """Run the demo; returns the summary it writes to ``summary.json``.

    For each sample particle (``sample``: a key of :data:`DEMO_SAMPLES`):
    the images (calibrated TIFF) and their ground truth, and the whole
    method: fit, count, reconstruct (``n_runs`` annealing runs + the exact
    optimum), the Debye pattern of the reconstructed core, figures, and
    every step compared with the truth.
    """
    from tqdm import tqdm

    from ..core.multislice_sample import multislice_particle

    if sample not in DEMO_SAMPLES:
        raise ValueError(f"unknown demo sample {sample!r}: one of {sorted(DEMO_SAMPLES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    summary = {"output": str(out), "samples": {}}
    steps = tqdm(DEMO_SAMPLES[sample], desc="samples", unit="particle", disable=quiet, file=sys.stdout)
    for key in steps:
        steps.set_postfix_str(key)
        particle = multislice_particle(key, seed=seed)
        folder = out / key
        folder.mkdir(exist_ok=True)
        views = _write_sample(particle, folder)
        summary["samples"][key] = {
            "description": particle.description,
            "composition": particle.composition(),
            "lattice_parameter_A": particle.lattice_parameter,
            "dose_e_per_A2": particle.views[0].dose,
            "probe_fwhm_A": particle.views[0].probe_fwhm,
            "views": views,
            "workflow": run_pipeline(particle, folder, n_runs=n_runs, seed=seed, quiet=quiet),
        }
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    with atomic_open(out / "summary.json", "w", encoding="utf-8") as fh:
        fh.write(json.dumps(summary, indent=2))
    if not quiet:
        _print_summary(summary, out)
    return summary


def _print_summary(summary: dict, out: Path) -> None:
    for key, s in summary["samples"].items():
        print(f"{key}: {s['composition']}")
        for v in s["views"]:
            print(f"  {v['zone_axis']}: {v['shape']} px at {v['pixel_size_A']} Å/px, {v['n_columns']} columns "
                  f"{v['column_types']}")
        wf = s.get("workflow")
        if not wf:
            continue
        for im in wf["images"]:
            print(f"  fit+count {im['zone_axis']}: {im['columns_found']}/{im['true_columns']} columns, "
                  f"position RMS {im['position_rms_A']} Å, Pb counts exact in "
                  f"{100 * im['pb_bearing_exact_fraction']:.1f} % of the {im['pb_bearing_columns']} Pb-bearing columns, "
                  f"Pb placed in {100 * im['pb_placed_in_empty_fraction']:.1f} % of the others"
                  + (f"; Cd exact in {100 * im['cd_exact_fraction']:.1f} % of the Cd columns" if "cd_exact_fraction" in im
                     else ""))
        r = wf["reconstruction"]
        cal = r["certainty_calibration"]
        print(f"  reconstruction: {100 * r['true_sites_recovered_fraction']:.2f} % of the {r['true_Pb_atoms']} "
              f"true Pb sites, {100 * r['model_atoms_that_are_true_fraction']:.2f} % of the model's atoms true "
              f"({r['model_source']}, exact {r['exact_status']}); certainty ≥ 0.9: {cal['sites_at_certainty_ge_0.9']} sites")
        sh = wf.get("shell")
        if sh and "model_Cd" in sh:
            print(f"  shell: {100 * sh['true_Cd_sites_recovered_fraction']:.2f} % of the {sh['true_Cd']} true Cd sites, "
                  f"{100 * sh['model_Cd_that_are_true_fraction']:.2f} % of the model's Cd true; Pb and Cd together "
                  f"{100 * sh['cation_sites_recovered_fraction']:.2f} % / {100 * sh['model_cations_that_are_true_fraction']:.2f} %")
        elif sh:
            print(f"  shell: {sh['note']}")
        print(f"  Debye pattern of the {wf['debye']['model']} vs the {wf['debye']['reference']}: "
              f"R = {wf['debye']['r_factor_vs_true']}")
    print(f"wrote {out} in {summary['seconds']} s")


def docked_session(viewer, sample: str = "pbse_cuboctahedron") -> list:
    """Load a sample into a viewer and dock the four widgets in workflow order; returns the widgets.

    The docks share one tabbed area at the right (the first tab shown), so
    that the window fits a 1920×1080 screen with the canvas at least half its
    width.
    """
    viewer.open_sample("napari-nxtomo", sample)
    widgets = [viewer.window.add_plugin_dock_widget("napari-nxtomo", name, tabify=True)[1] for name in DOCKS]
    widgets[0].show_tab()
    return widgets


#: what to install when napari finds no Qt binding (the plugin, as napari's plugins do, brings none)
QT_HINT = ('napari needs a Qt binding to open its window and none is installed here: pip install "napari[all]" '
           '(napari with its default Qt binding; or "napari[pyqt6]", "napari[pyside6]") in this environment; the '
           'headless demo (napari-nxtomo demo, without --gui) needs none')


def require_qt() -> None:
    """An ImportError saying what to install (:data:`QT_HINT`) when no Qt binding can be imported.

    Examples
    --------
    >>> import sys
    >>> saved = sys.modules.get("qtpy")
    >>> sys.modules["qtpy"] = None  # as if no binding were installed
    >>> try:
    ...     require_qt()
    ... except ImportError as exc:
    ...     print(str(exc).split(":")[1].strip()[:30])
    ... finally:
    ...     _ = sys.modules.pop("qtpy") if saved is None else sys.modules.update(qtpy=saved)
    pip install "napari[all]" (nap
    """
    try:
        import qtpy  # noqa: F401  (raises QtBindingsNotFoundError, an ImportError, without PyQt/PySide)
    except ImportError as exc:
        raise ImportError(QT_HINT) from exc


def run_gui(sample: str = "pbse_cuboctahedron") -> None:
    """Open napari with the sample loaded and the four widgets docked (``demo --gui``); without a Qt binding an
    ImportError says what to install."""
    require_qt()
    import napari

    viewer = napari.Viewer(title="napari-nxtomo demo")
    docked_session(viewer, sample)
    napari.run()
