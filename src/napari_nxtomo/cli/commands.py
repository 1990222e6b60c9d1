"""The batch subcommands: fit, count, reconstruct, debye.

Each reads files, calls the workflow step (:mod:`napari_nxtomo.core.workflow`)
and writes tables the plugin's reader opens again as layers, with a figure
beside them.  ``quiet=False`` prints a progress bar and one line per file.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

from ..core import workflow
from .figures import count_figure, model_figures, pattern_figure

__all__ = ["InputsFailed", "for_each_input", "progress_bar", "refuse_same_outputs", "run_count", "run_debye", "run_fit", "run_reconstruct"]

#: the metadata of an image that its column table keeps
_IMAGE_KEYS = ("pixel_size_A", "zone_axis", "tilt_axis", "tilt_direction", "image_rotation_deg", "source",
               *workflow.OPTICS_KEYS)


def progress_bar(desc: str, quiet: bool, *, leave: bool = False, unit: str = "it"):
    """A tqdm bar on stdout and its ``progress(i, n)`` callback (nothing shown when ``quiet``).

    Examples
    --------
    >>> bar, progress = progress_bar("work", quiet=True)
    >>> progress(3, 4)
    >>> bar.n, bar.total
    (3, 4)
    >>> bar.close()
    """
    from tqdm import tqdm

    bar = tqdm(total=1, desc=desc, disable=quiet, file=sys.stdout, leave=leave, unit=unit)

    def progress(i, n):
        bar.total = n
        bar.n = i
        bar.refresh()

    return bar, progress


def run_fit(images, out: Path, *, min_distance: float | None = None, types: str = "auto", elements=("Pb", "Se"),
            zone_axis=None, assume_unit=None, pixel_size=None, quiet=False, particles=False) -> list[Path]:
    """Find and fit the columns of each image; write ``<image>_columns.csv`` per image.

    Parameters
    ----------
    images : sequence of paths
        Any format the plugin reads; every 2D image in a file is fitted.
    out : Path
        Output folder (made if missing).
    min_distance : float, optional
        Smallest column spacing to keep, Å; None: from each image's zone axis
        and lattice parameter (:func:`~napari_nxtomo.core.columns.min_distance_for`).
    types : {"auto", "one", "mixed", "parity", "intensity"}
        Column types (:func:`~napari_nxtomo.core.workflow.find_and_fit`).
    elements : (str, str)
        Heavy and light element.
    zone_axis : (3,) ints, optional
        For files that do not say theirs.
    assume_unit : str, optional
        Length unit of files whose axes carry none.
    pixel_size : float, optional
        Å per pixel, for files that carry no calibration (overrides theirs).
    quiet : bool
    particles : bool
        Find the columns particle by particle, guided by each particle's
        lattice (:func:`~napari_nxtomo.core.particles.find_particle_columns`):
        none in vacuum, on the support or on particles off their zone axis.

    Returns
    -------
    list of Path
        The tables written.

    Examples
    --------
    >>> import tempfile
    >>> from napari_nxtomo.core.samples import pbse_cuboctahedron
    >>> from napari_nxtomo.core.tables import read_points_csv, write_image_tiff
    >>> folder = Path(tempfile.mkdtemp())
    >>> view = pbse_cuboctahedron(noise=False, n_half=2).views[2]
    >>> image = write_image_tiff(folder / "haadf_110.tif", view.image, view.pixel_size, view.layer_metadata())
    >>> [table] = run_fit([image], folder, min_distance=1.4, quiet=True)
    >>> coords, features, metadata, name = read_points_csv(table)
    >>> table.name, len(coords) == len(view.columns), metadata["column_types"]
    ('haadf_110_columns.csv', True, 'parity')
    """
    from ..core.io import read_images

    refuse_same_outputs(images, lambda p: f"{p.stem}_columns.csv")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def fit_file(path):
        for im in read_images(path, assume_unit=assume_unit):
            if pixel_size is not None:
                im.metadata.update(pixel_size_A=float(pixel_size), calibrated=True)
            target = _fit_image(path, im, out, min_distance, types, elements, zone_axis, quiet, written,
                                particles=particles)
            written.append(target)

    for_each_input("fit", images, fit_file)
    return written


def _particle_columns(data, pixel, zone, md, quiet, name):
    """Columns of the image's particles (lattice-guided) and a one-line report of the particles."""
    from ..core.particles import find_particle_columns

    res = find_particle_columns(data, pixel, zone_axis=zone, lattice_parameter=md.get("lattice_parameter"),
                                structure=md.get("structure") or "fcc")
    lines = []
    for _, r in res.report.iterrows():
        lines.append(f"particle {r['label']}: " + (f"{r['columns']} columns, lattice {r['a1']:.2f} x {r['a2']:.2f} Å "
                                                   f"at {r['angle']:.1f}°" if r["resolved"] else r["note"]))
    if not quiet:
        print(f"{name}: " + "; ".join(lines), file=sys.stderr)
    if len(res.positions) == 0:
        raise ValueError(f"{name}: no particle with a resolved lattice (off zone axis?); fit without --particles "
                         "or check the image")
    return res.positions, "; ".join(lines)


def _fit_image(path: Path, im, out: Path, min_distance, types, elements, zone_axis, quiet, written=(), *,
               particles=False) -> Path:
    """Fit one image of a file and write its table (refused if one of ``written`` has its name)."""
    from ..core.tables import write_points_csv

    data = np.asarray(im.data, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"{path.name}: {data.shape} is a stack; fit its frames one by one (napari does)")
    md = im.metadata
    from ..core.io import check_real_space

    check_real_space(md, path.name)
    if not md.get("calibrated", True):
        if min_distance is not None:
            raise ValueError(f"{path.name} carries no pixel size, so --min-distance {min_distance:g} would mean "
                             f"{min_distance:g} pixels, not Å: give --pixel-size (Å per pixel)")
        print(f"warning: {path.name} carries no pixel size; distances are in pixels (give --pixel-size in Å)",
              file=sys.stderr)
    pixel = float(md["pixel_size_A"])
    zone = zone_axis if zone_axis is not None else md.get("zone_axis")
    bar, progress = progress_bar(f"fit {path.name}", quiet)
    if min_distance is None:
        from ..core.columns import min_distance_for

        min_distance, _ = min_distance_for({**md, "zone_axis": zone})
    positions, report = _particle_columns(data, pixel, zone, md, quiet, path.name) if particles else (None, "")
    try:
        table = workflow.find_and_fit(data, pixel, min_distance, positions=positions, zone_axis=zone, types=types,
                                      elements=elements,
                                      lattice_parameter=md.get("lattice_parameter"), structure=md.get("structure"),
                                      progress=progress)
    except ValueError as exc:  # the option as the command line spells it
        raise ValueError(str(exc).replace("min_distance (", "--min-distance (")) from None
    finally:
        bar.close()
    keep = {k: md[k] for k in _IMAGE_KEYS if k in md}
    keep.update(column_types=table.attrs.get("type_rule"), background=table.attrs.get("background"))
    if report:
        keep["particles"] = report
    suffix = f"_{md['index']}" if md.get("index") else ""
    target = out / f"{path.stem}{suffix}_columns.csv"
    if target in written:  # image 1 of s.tif and the image of s_1.tif
        raise ValueError(f"{path.name} would overwrite {target.name}, written for another input of this run: "
                         "rename the file, or run it separately with a different --out folder")
    write_points_csv(target, table[["y", "x"]].to_numpy(), table, metadata=keep, name=f"{path.stem} columns")
    if not quiet:
        kinds = ", ".join(f"{k} {v}" for k, v in table["type"].value_counts().items())
        dropped = table.attrs.get("dropped_columns", 0)
        merged, left = len(table.attrs.get("merged_starts", [])), len(table.attrs.get("left_out_starts", []))
        print(f"{path.name}: {len(table)} columns ({kinds}), zone axis {zone}, rule {table.attrs.get('type_rule')}, "
              f"min distance {min_distance:g} Å" + (f", {dropped} noise peak(s) dropped" if dropped else "")
              + (f", {merged} start(s) merged, {left} left out (no column of their own)" if merged or left else "")
              + f" -> {target}")
    return target


class InputsFailed(Exception):
    """Some inputs of a batch failed; each was reported in one line and the others were processed.

    ``failed`` lists the inputs that failed, ``total`` how many were given and
    ``status`` the exit status (the highest of the failures').
    """

    def __init__(self, command, failed, total, status):
        self.failed, self.total, self.status = list(failed), int(total), int(status)
        names = ", ".join(str(p) for p in self.failed[:5]) + (", ..." if len(self.failed) > 5 else "")
        super().__init__(f"{len(self.failed)} of {total} input(s) failed ({names}); "
                         f"the other {total - len(self.failed)} were processed")


def for_each_input(command: str, paths, work) -> None:
    """Run ``work(path)`` for each input: a failure is one line on stderr naming the input, and the batch goes on.

    Raises :class:`InputsFailed` at the end when any input failed (the exit
    status of the worst); Ctrl-C stops the batch at once.  With
    ``NAPARI_NXTOMO_DEBUG`` set each failure's traceback is printed too.

    Examples
    --------
    >>> import contextlib, io
    >>> def work(path):
    ...     if path.name == "bad.csv":
    ...         raise ValueError("bad.csv has no 'volume' column")
    ...     print("done", path.name)
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     try:
    ...         for_each_input("count", ["a.csv", "bad.csv", "c.csv"], work)
    ...     except InputsFailed as exc:
    ...         print(exc, exc.status)
    done a.csv
    done c.csv
    1 of 3 input(s) failed (bad.csv); the other 2 were processed 2
    >>> print(err.getvalue().strip())
    napari-nxtomo count: bad.csv: bad.csv has no 'volume' column
    """
    import os
    import traceback

    from .main import DEBUG_VARIABLE, _failure

    failed, status = [], 0
    paths = list(map(Path, paths))
    for path in paths:
        try:
            work(path)
        except Exception as exc:  # noqa: BLE001 - one line per failed input, the batch goes on
            if os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
                traceback.print_exc()
            message, code = _failure(exc)
            print(f"napari-nxtomo {command}: {path}: {message}", file=sys.stderr, flush=True)
            failed.append(path)
            status = max(status, code)
    if failed:
        raise InputsFailed(command, failed, len(paths), status)


def _stem(path: Path, suffix: str) -> str:
    """The file's stem without the suffix a previous subcommand gave it."""
    return path.stem[: -len(suffix)] if path.stem.endswith(suffix) else path.stem


def refuse_same_outputs(paths, output_name) -> None:
    """Refuse inputs that would write the same output file (``output_name(path)``): only the last would survive.

    Two inputs of one stem in different folders (``day1/s.tif day2/s.tif``)
    are refused before anything is computed, naming both and the file they
    would share; so is a file given twice.

    Examples
    --------
    >>> refuse_same_outputs(["a/s.tif", "b/t.tif"], lambda p: f"{p.stem}_columns.csv")
    >>> try:
    ...     refuse_same_outputs(["day1/s.tif", "day2/s.tif"], lambda p: f"{p.stem}_columns.csv")
    ... except ValueError as exc:
    ...     print(exc)
    day1/s.tif and day2/s.tif would both write s_columns.csv (only the last would be kept): rename one of them, or run them one at a time with different --out folders
    """
    seen = {}
    for path in map(Path, paths):
        name = output_name(path)
        if name in seen:
            first = seen[name]
            if first.resolve() == path.resolve():
                raise ValueError(f"{path} is given twice: give each file once")
            raise ValueError(f"{first} and {path} would both write {name} (only the last would be kept): rename one "
                             "of them, or run them one at a time with different --out folders")
        seen[name] = path


def run_count(tables, out: Path, *, max_components: int = 20, n_components=None, lowest_count=None,
              library="auto", dose=None, joint=False, quiet=False, assignment="likelihood",
              mixed_units="cell") -> list[Path]:
    """Count the atoms of each column table; write ``<table>_counts.csv`` and ``<table>_counts.png``.

    Parameters
    ----------
    tables : sequence of paths
        Column tables written by ``fit`` (or the napari writer).
    out : Path
    max_components, n_components, lowest_count
        As :func:`~napari_nxtomo.core.counting.count_atoms` (None: chosen).
    library : "auto", "none" or path
        ``"auto"``: the shipped or cached cross-section library for the
        crystal, zone axis and optics each table's metadata names (the
        mixture, with a warning on stderr, when there is none); ``"none"``:
        the mixture; a path: a library JSON (``CrossSectionLibrary.write``)
        or a CSV with columns ``count`` and ``cross_section``.
    dose : float, optional
        Incident e/Å² of images in detected electrons: the library's scale is
        then fitted about dose × pixel² × the fit's capture; by default the
        dose in the table's metadata, else a free fit.
    joint : bool
        The tables are views of one particle: counted together
        (:func:`~napari_nxtomo.core.workflow.count_views_tables`: one scale,
        one Pb total).
    quiet : bool
        No progress; the warnings still go to stderr.
    assignment : {"likelihood", "posterior", "nearest"}
        How a library counts one-element columns
        (:func:`~napari_nxtomo.core.counting.count_atoms`); ``--joint``
        counts by likelihood (its totals move columns by their probabilities).
    mixed_units : {"cell", "fitted"}
        Core–shell ⟨100⟩ views counted ``joint``: the units of the library
        of the core's Pb/Se columns
        (:func:`~napari_nxtomo.core.workflow.count_core_shell_views`).

    Returns
    -------
    list of Path
        The counted tables (``<table>_counts.csv``).

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> from napari_nxtomo.core.tables import read_points_csv, write_points_csv
    >>> folder = Path(tempfile.mkdtemp())
    >>> volumes = np.repeat([1.0, 2.0, 3.0], 20) + np.tile(np.linspace(-0.05, 0.05, 20), 3)
    >>> table = write_points_csv(folder / "a_columns.csv", np.zeros((60, 2)), pd.DataFrame({"volume": volumes}))
    >>> [counted] = run_count([table], folder, max_components=4, lowest_count=1, library="none", quiet=True)
    >>> _, features, metadata, _ = read_points_csv(counted)
    >>> counted.name, sorted(set(features["count"])), metadata["counting"]["n_components"]
    ('a_counts.csv', [1, 2, 3], 3)
    """
    from ..core.tables import read_points_csv
    from ..core.workflow.count_library import read_library

    if library is not None and str(library).strip().lower() not in ("auto", "none", ""):
        library = read_library(library)  # read once, checked against each table
    refuse_same_outputs(tables, lambda p: f"{_stem(p, '_columns')}_counts.csv")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if joint:
        if lowest_count is not None or n_components is not None:
            print("warning: --joint takes each type's classes from the library with one scale for all views: "
                  "--lowest-count and --n-components are not used (count without --joint to use them)",
                  file=sys.stderr)
        if assignment != "likelihood":
            print(f"warning: --joint counts by likelihood (the totals move columns by their probabilities): "
                  f"--assignment {assignment} is not used (count without --joint to use it)", file=sys.stderr)
        return _count_jointly(list(map(Path, tables)), out, library, dose, quiet, mixed_units)
    if mixed_units != "cell":
        print(f"warning: --mixed-units {mixed_units} is for core-shell views counted together: add --joint",
              file=sys.stderr)
    written = []

    def count_file(path):
        coords, feats, md, name = read_points_csv(path)
        if "volume" not in feats:
            raise ValueError(f"{path.name} has no 'volume' column: run 'napari-nxtomo fit' first")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            feats, res = workflow.count_table(feats, max_components=max_components, library=library, dose=dose,
                                              metadata=md, n_components=n_components, lowest_count=lowest_count,
                                              assignment=assignment)
        for w in caught:
            print(f"warning: {path.name}: {w.message}", file=sys.stderr)
        md["counting"] = _counting_metadata(feats, res, dose)
        target = _write_counted(path, out, coords, feats, md, name, res)
        written.append(target)
        if not quiet:
            print(f"{path.name}: {len(feats)} columns, {_classes_phrase(res)}, counts "
                  f"{int(res.counts.min())}-{int(res.counts.max())} -> {target}")
            print(f"  {_library_line(feats)}")

    for_each_input("count", tables, count_file)
    return written


def _count_jointly(paths, out: Path, library, dose, quiet, mixed_units="cell") -> list[Path]:
    """``count --joint``: the tables counted together as views of one particle; one counted table per input."""
    from ..core.tables import read_points_csv

    if len(paths) < 2:
        raise ValueError("--joint counts two or three views of one particle together: give their tables")
    read = [read_points_csv(p) for p in paths]
    for p, (_, feats, _, _) in zip(paths, read):
        if "volume" not in feats or "type" not in feats:
            raise ValueError(f"{p.name} has no 'volume'/'type' columns: run 'napari-nxtomo fit' first")
    if any(r[2].get("structure") == "core-shell" for r in read):
        return _count_core_shell_jointly(paths, read, out, library, dose, quiet, mixed_units)
    if mixed_units != "cell":
        print(f"warning: --mixed-units {mixed_units} is for core-shell views: not used", file=sys.stderr)
    counted, joint = workflow.count_views_tables([r[1] for r in read], [r[2] for r in read], library=library,
                                                  dose=dose)
    written = []
    for path, (coords, _, md, name), feats, res in zip(paths, read, counted, joint.results):
        md["counting"] = _counting_metadata(feats, res, dose)
        md["counting"].update(joint=True, joint_totals=joint.totals, columns_moved=int(joint.moved[len(written)]),
                              warnings=list(joint.warnings))
        written.append(_write_counted(path, out, coords, feats, md, name, res))
    if not quiet:
        print(f"{len(paths)} views counted jointly: Pb totals {joint.totals_independent} -> {joint.totals}; "
              + "; ".join(joint.notes))
    for warning in joint.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return written


def _count_core_shell_jointly(paths, read, out: Path, library, dose, quiet, mixed_units="cell") -> list[Path]:
    """``count --joint`` on core-shell views: one Pb total per layer across the tilt axis in all views."""
    counted, info = workflow.count_core_shell_views([r[1] for r in read], [r[2] for r in read], library=library,
                                                    dose=dose, names=[p.name for p in paths], mixed_units=mixed_units)
    written = []
    for k, (path, (coords, _, md, name), feats, res) in enumerate(zip(paths, read, counted, info["results"])):
        md["counting"] = _counting_metadata(feats, res, dose)
        md["counting"].update(joint=True, joint_totals=info["totals"], columns_moved=int(info["moved"][k]),
                              mixed_units=mixed_units)
        written.append(_write_counted(path, out, coords, feats, md, name, res))
    if not quiet:
        print(f"{len(paths)} core-shell views counted jointly: Pb totals {info['totals_single']} -> {info['totals']}; "
              + "; ".join(info["notes"]))
    return written


def _classes_phrase(res) -> str:
    """How many classes a counting used, in words: the Pb counts for mixed (n_Pb, n_Se) classes."""
    if res.classes is not None and len(res.classes):
        n_pb = len(np.unique(np.asarray(res.classes)[:, 0]))
        return f"{n_pb} Pb classes ({len(res.classes)} (n_Pb, n_Se) pairs, {res.method})"
    return f"{res.n_components} classes ({res.method})"


def _write_counted(path: Path, out: Path, coords, feats, md, name, res) -> Path:
    """``<table>_counts.csv`` (the counted table with its metadata) and ``<table>_counts.png``; returns the CSV."""
    from ..core.tables import write_points_csv

    stem = _stem(path, "_columns")
    target = out / f"{stem}_counts.csv"
    write_points_csv(target, coords, feats, metadata=md, name=name)
    count_figure(feats["volume"].to_numpy(), res, out / f"{stem}_counts.png", title=stem)
    return target


def _counting_metadata(counted, res, dose) -> dict:
    """What a counted table's metadata records of its counting (library, scale, notes)."""
    return {"method": res.method, "n_components": int(res.n_components), "notes": list(res.notes),
            # the fit's standard errors make the free mixture error-aware (count_atoms takes them)
            "errors": "volume_err" if "volume_err" in counted else None,
            "library": counted.attrs.get("counting_library"), "dose_e_per_A2": dose,
            "scale": res.params.get("scale"), "scale_err": res.params.get("scale_err")}


def _library_line(counted) -> str:
    """The library that counted (and the scale), or why the mixture did."""
    lib = counted.attrs.get("counting_library")
    if lib == "mixture":
        why = counted.attrs.get("counting_note")
        return "library: none, the free mixture counted" + (f" ({why.split(';')[0]})" if why else "")
    return f"library: {lib}; {counted.attrs.get('counting_scale', '')}"


def run_reconstruct(tables, out: Path, *, lattice_parameter: float, element: str = "Pb", zone_axes=None,
                    n_runs: int = 10, method: str = "both", seed: int = 0, quiet=False) -> list[Path]:
    """Discrete tomography from counted column tables (one per zone axis).

    Writes ``model.xyz`` and ``model.csv`` (the 3D model with certainty; when
    every table has Cd counts, a core–shell particle's, the shell's Cd too:
    ``model.xyz`` with both species and ``shell_model.csv``),
    ``<table>_reprojection.csv`` per table (measured and re-projected counts,
    residual), ``model_certainty.png`` and ``reprojection.png``.

    Parameters
    ----------
    tables : sequence of paths
        Counted column tables (``count``), one per zone axis.
    out : Path
    lattice_parameter : float
        Cubic *a*, Å.
    element : str
        The reconstructed species.
    zone_axes : sequence of (3,) ints, optional
        One per table, for tables that do not say theirs.
    n_runs, method, seed
        As :func:`~napari_nxtomo.core.tomography.reconstruct`.
    quiet : bool

    Returns
    -------
    list of Path
        ``model.xyz``, ``model.csv`` and the re-projection tables.

    Examples
    --------
    >>> import tempfile
    >>> from napari_nxtomo.core.samples import pbse_cuboctahedron
    >>> from napari_nxtomo.core.tables import read_xyz, write_points_csv
    >>> folder = Path(tempfile.mkdtemp())
    >>> particle = pbse_cuboctahedron(noise=False, n_half=2)
    >>> tables = [write_points_csv(folder / f"t{i}_counts.csv", v.columns[["y", "x"]].to_numpy(),
    ...                            v.columns.assign(count=v.columns["n_Pb"]), metadata=v.layer_metadata())
    ...           for i, v in enumerate(particle.views)]
    >>> written = run_reconstruct(tables, folder, lattice_parameter=6.12, n_runs=0, method="exact", quiet=True)
    >>> positions, elements, properties, info = read_xyz(folder / "model.xyz")
    >>> [p.name for p in written][:3], len(positions) == int(np.sum(particle.elements == "Pb"))
    (['model.xyz', 'model.csv', 't0_reprojection.csv'], True)
    """
    from ..core.tables import write_points_csv
    from ..core.tomography import reconstruct

    refuse_same_outputs(tables, lambda p: f"{_stem(p, '_counts')}_reprojection.csv")
    out = Path(out)
    projections, _ = workflow.projections_from_tables(tables, zone_axes, element=element,
                                                      missing_zone_hint=" (--zone-axes)")
    stems = [_stem(Path(path), "_counts") for path in tables]
    out.mkdir(parents=True, exist_ok=True)
    bar, progress = progress_bar("reconstruct (runs, exact optimum, certainty)", quiet)
    result = reconstruct(projections, lattice_parameter, n_runs=n_runs, seed=seed, method=method, progress=progress)
    bar.close()
    shell = _reconstruct_shell(tables, result, lattice_parameter, stems, n_runs, seed, method, quiet)
    if shell is None:
        written = [result.write_xyz(out / "model.xyz", element=element)]
    else:
        from ..core.workflow.core_shell_model import write_whole_xyz

        written = [write_whole_xyz(out / "model.xyz", result, *shell), _shell_csv(out, shell[0])]
    written.append(result.to_csv(out / "model.csv", name=f"{element} model"))
    for stem, proj, rep in zip(stems, projections, result.reprojection):
        written.append(write_points_csv(out / f"{stem}_reprojection.csv", rep[["y", "x"]].to_numpy(),
                                        rep.drop(columns=["y", "x"]),
                                        metadata={"zone_axis": list(proj.zone_axis), "element": element},
                                        name=f"{stem} residual"))
    model_figures(out, result, stems)
    if not quiet:
        ex = result.exact
        print(f"{result.n_atoms} {element} atoms, {result.surface_edges} surface edges, count mismatch "
              f"{result.count_mismatch}, from {result.model_source}"
              + (f" (exact solver: {ex.status})" if ex is not None else "")
              + f"; connected {result.connected}, {result.n_holes} holes -> {out / 'model.xyz'}")
        for note in result.notes:
            print(f"  note: {note}")
    return written


def _shell_csv(out: Path, result) -> Path:
    """The shell's Cd model as a points CSV (``shell_model.csv``)."""
    return result.to_csv(out / "shell_model.csv", name="Cd shell")


def _reconstruct_shell(tables, core, lattice_parameter, stems, n_runs, seed, method, quiet):
    """The shell's Cd around a reconstructed Pb core when every table has Cd counts (``count --joint`` of a
    core–shell particle with a library of its shell): ``(result, shift_q)``, else None."""
    from ..core.tables import read_points_csv
    from ..core.workflow.core_shell_model import reconstruct_shell

    frames = []
    for path in tables:
        coords, features, _, _ = read_points_csv(Path(path))
        if "count_Cd" not in features or "type" not in features:
            return None
        frames.append(features.assign(y=coords[:, 0], x=coords[:, 1]))
    bar, progress = progress_bar("reconstruct the shell's Cd", quiet)
    shell, shift_q = reconstruct_shell(frames, core, lattice_parameter, names=stems, n_runs=n_runs, seed=seed,
                                       method=method, progress=progress)
    bar.close()
    if not quiet:
        print(f"{shell.n_atoms} Cd atoms of the shell around the core (their lattice shifted by {shift_q.tolist()} "
              f"a/4 from the core's); model.xyz holds both")
    return shell, shift_q


def _model_of_file(path: Path, *, use_certainty, complete, lattice_parameter, min_neighbours, quiet):
    """The atoms of an .xyz file as a pattern model (certainty as occupancy, anions completed, if asked)."""
    from ..core.tables import read_xyz

    pos, els, props, info = read_xyz(path)
    certainty = None
    if use_certainty:
        if "certainty" not in props:
            raise ValueError(f"{path.name} has no per-atom 'certainty' to use as occupancy")
        certainty = props["certainty"]
    if not complete:
        return workflow.pattern_model(positions=pos, elements=els, certainty=certainty, name=path.name)
    a = lattice_parameter or info.get("lattice_parameter")
    if a is None:
        raise ValueError(f"give --lattice-parameter: {path.name} does not say it")
    cation, _, anion = complete.partition(":")
    anion = anion or "Se"
    model = workflow.pattern_model(
        positions=pos, elements=els, certainty=certainty, name=path.name,
        complete={"anion": anion, "structure": "rocksalt", "lattice_parameter": float(a), "cation": cation,
                  "min_neighbours": min_neighbours},
    )
    if not quiet:
        print(f"{path.name}: {model.n_added} {anion} added around {int(np.sum(model.elements == cation))} {cation}"
              f" (sites with >= {min_neighbours} {cation} neighbours)")
    return model


def _beam(energy_keV, wavelength, radiation):
    """The beam given by its energy (keV) or its wavelength (Å), or both if they agree; None if neither."""
    from ..core.debye import Beam

    if energy_keV is None and wavelength is None:
        return None
    if wavelength is None:
        return Beam.from_energy(energy_keV, radiation)
    if energy_keV is None:
        return Beam.from_wavelength(wavelength, radiation)
    return Beam(energy_keV, wavelength, radiation)


def run_debye(models, out: Path, *, q_min=0.5, q_max=25.0, q_step=0.01, energy_keV=None, wavelength=None,
              b_iso=None, radiation="xray", complete=None, lattice_parameter=None, use_certainty=False,
              min_neighbours=1, self_term="occupancy", quiet=False) -> list[Path]:
    """Debye pattern of each .xyz model; write ``<model>_pattern.csv`` and ``.png``.

    Parameters
    ----------
    models : sequence of paths
        .xyz files (x y z in Å, element symbols).
    out : Path
    q_min, q_max, q_step : float
        Å⁻¹ (:func:`~napari_nxtomo.core.workflow.q_range`).
    energy_keV, wavelength : float, optional
        The beam (one of them, :class:`~napari_nxtomo.core.debye.Beam` of
        ``radiation``): anomalous terms (X-rays) and a 2θ column.
    b_iso : float or dict, optional
        Debye-Waller B, Å².
    radiation : {"xray", "constant", "neutron"}
    complete : str, optional
        ``"CATION:ANION"``: add the rocksalt anion sublattice around the cations.
    lattice_parameter : float, optional
        Å, for ``complete`` when the file does not say it.
    use_certainty : bool
        Use the per-atom certainty as site occupancy.
    min_neighbours : int
        With ``complete``: keep anion sites with at least this many cations.
    self_term : {"occupancy", "squared"}
        Self-scattering weight of a partly occupied site, ``o`` or ``o²``
        (:func:`~napari_nxtomo.core.debye.debye_intensity`).
    quiet : bool

    Returns
    -------
    list of Path
        The patterns written (``<model>_pattern.csv``).

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> import pandas as pd
    >>> from napari_nxtomo.core.tables import write_xyz
    >>> folder = Path(mkdtemp())
    >>> model = write_xyz(folder / "pb4.xyz", [[0, 0, 0], [3.06, 3.06, 0], [3.06, 0, 3.06], [0, 3.06, 3.06]],
    ...                   ["Pb"] * 4)
    >>> [csv] = run_debye([model], folder, q_min=1.0, q_max=2.0, q_step=0.5, energy_keV=20.0, quiet=True)
    >>> pattern = pd.read_csv(csv, comment="#")
    >>> list(pattern.columns), len(pattern)
    (['q_inv_A', 'two_theta_deg', 'intensity'], 3)
    """
    from ..core.patterns import write_pattern_csv

    refuse_same_outputs(models, lambda p: f"{p.stem}_pattern.csv")
    q = workflow.q_range(q_min, q_max, q_step)
    beam = _beam(energy_keV, wavelength, radiation)
    if beam is not None:
        energy_keV, wavelength = beam.energy_keV, beam.wavelength
    two_theta = beam.two_theta(q) if beam is not None else None  # checks the range first
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def pattern_of_file(path):
        model = _model_of_file(path, use_certainty=use_certainty, complete=complete,
                               lattice_parameter=lattice_parameter, min_neighbours=min_neighbours, quiet=quiet)
        bar, progress = progress_bar(f"Debye {path.name}", quiet)
        # the command line has always let debye_intensity find the grid itself (lattice_hint=False)
        pattern = workflow.compute_pattern(model, q, two_theta=two_theta, radiation=radiation, wavelength=wavelength,
                                           energy_keV=energy_keV if radiation == "xray" else None, b_iso=b_iso,
                                           lattice_hint=False, self_term=self_term, progress=progress)
        bar.close()
        columns = {"q_inv_A": q}
        if two_theta is not None:
            columns["two_theta_deg"] = two_theta
        columns["intensity"] = pattern.intensity
        n = len(model.positions)
        comment = (f"Debye pattern of {path.name}: {n} atoms, radiation {radiation}"
                   + (f", {energy_keV:.4g} keV ({wavelength:.5g} Å)" if wavelength else "")
                   + f", B {b_iso or 0} Å², self term {'o' if self_term == 'occupancy' else 'o²'}"
                   + "; intensity in electrons² per particle")
        target = write_pattern_csv(out / f"{path.stem}_pattern.csv", columns, comments=[comment], digits=8)
        pattern_figure(q, pattern.intensity, out / f"{path.stem}_pattern.png", title=f"{path.stem}, {n} atoms")
        written.append(target)
        if not quiet:
            print(f"{path.name}: {n} atoms, {len(q)} Q points -> {target}")

    for_each_input("debye", models, pattern_of_file)
    return written
