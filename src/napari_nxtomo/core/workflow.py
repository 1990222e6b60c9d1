"""The chain image → columns → counts → 3D model → pattern, one plain function per step.

The command line, the demo and the napari docks call these functions; they
hold no Qt.  Each step takes arrays and tables and returns arrays, tables and
the core's result objects; the long ones take ``progress(i, n)`` and
``cancel() -> bool`` callbacks, so that a dock can run them in a thread
worker with a progress bar and a cancel button.

1. :func:`find_and_fit`: image → table of fitted, typed columns.
2. :func:`count_table`: that table → the same table with atom counts.
3. :func:`projections_from_tables`, :func:`reconstruct_tables`: counted
   tables of two or more zone axes → a 3D model with certainty;
   :func:`reprojection_table` compares every projection with the model.
4. :func:`pattern_model`, :func:`q_grid` (or :func:`q_range`),
   :func:`compute_pattern`: a model (built, or read, with the anion
   sublattice completed if asked) → its Debye pattern and G(r).

Lengths in Å, Q in Å⁻¹, 2θ in degrees, energies in keV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "AXES",
    "MAX_POINTS",
    "PatternCancelled",
    "PatternModel",
    "PatternResult",
    "compute_pattern",
    "count_table",
    "find_and_fit",
    "pattern_model",
    "projections_from_tables",
    "q_grid",
    "q_range",
    "read_count_library",
    "reconstruct_tables",
    "reprojection_per_column",
    "reprojection_table",
]

#: the abscissae a pattern can be computed on: Q (Å⁻¹) or 2θ (°)
AXES = ("q", "two_theta")
#: most points of a pattern asked for by range and step (:func:`q_grid`)
MAX_POINTS = 200_000


# ---------------------------------------------------------------- 1. columns


def find_and_fit(image, pixel_size: float, min_distance: float | None = None, *, positions=None, zone_axis=None,
                 types: str = "auto", elements=("Pb", "Se"), given_types=None, progress=None, cancel=None):
    """Find the atomic columns of an image (unless given) and fit them with their types.

    Parameters
    ----------
    image : (H, W) array
    pixel_size : float
        Å per pixel.
    min_distance : float, optional
        Smallest column spacing to keep, Å (:func:`~napari_nxtomo.core.fitting.find_columns`);
        needed when ``positions`` is None.
    positions : (N, 2) array, optional
        Column positions ``(y, x)`` in Å to fit instead of finding them
        (e.g. points edited by hand).
    zone_axis : (3,) ints, optional
        Chooses the column types when ``types="auto"``.
    types : {"auto", "one", "mixed", "parity", "intensity", "given"}
        The rule of :func:`~napari_nxtomo.core.columns.fit_typed_columns`.
    elements : (str, str)
        Heavy and light element.
    given_types : (N,) array of str, optional
        The types for ``types="given"``.
    progress, cancel : callable, optional
        ``progress(i, n)`` and ``cancel() -> bool`` of the fit.

    Returns
    -------
    pandas.DataFrame
        One row per column: ``y, x, volume, height, width, type, y_err,
        x_err, volume_err`` (Å, Å²); ``attrs["type_rule"]`` and
        ``attrs["background"]``.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:60, 0:60] * 0.2
    >>> image = sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 0.4**2)) for y in (3, 6, 9) for x in (3, 6, 9))
    >>> table = find_and_fit(image, 0.2, 1.5, types="one")
    >>> len(table), sorted(set(table["type"])), round(float(table["x"].min()), 2)
    (9, ['column'], 3.0)
    """
    from .columns import fit_typed_columns
    from .fitting import find_columns

    if positions is None:
        if min_distance is None:
            raise ValueError("give min_distance (Å) to find the columns, or their positions")
        positions = find_columns(image, pixel_size, min_distance)
    return fit_typed_columns(image, pixel_size, positions, types, zone_axis=zone_axis, names=elements,
                             types=given_types, progress=progress, cancel=cancel)


# ---------------------------------------------------------------- 2. counts


def read_count_library(path) -> dict:
    """A counting library from a CSV file with columns ``count`` and ``cross_section`` (Å²).

    Returns
    -------
    dict
        Count -> cross-section, for ``count_atoms(..., library=...)``.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "library.csv"
    >>> _ = path.write_text("# cross-sections\\ncount,cross_section\\n1,0.01\\n2,0.021\\n", encoding="utf-8")
    >>> read_count_library(path)
    {1: 0.01, 2: 0.021}
    """
    table = pd.read_csv(path, comment="#")
    if not {"count", "cross_section"} <= set(table.columns):
        raise ValueError(f"the library {Path(path).name} needs columns 'count' and 'cross_section'")
    return {int(k): float(v) for k, v in zip(table["count"].astype(int), table["cross_section"].astype(float))}


def count_table(table, *, feature: str = "volume", max_components: int = 20, library=None, n_components=None,
                lowest_count=None, progress=None):
    """Count the atoms of every column of a fitted table.

    The ``volume`` feature is counted with the table's ``type`` and
    ``volume_err`` (the error-aware mixture); another feature with the types
    only.

    Parameters
    ----------
    table : pandas.DataFrame
        Fitted columns (:func:`find_and_fit`).
    feature : str
        The cross-section to count.
    max_components, library, n_components, lowest_count
        As :func:`~napari_nxtomo.core.counting.count_atoms` (None: chosen).
    progress : callable, optional
        ``progress(i, n)``: 0 of 1 before, 1 of 1 after.

    Returns
    -------
    counted : pandas.DataFrame
        A copy of ``table`` with ``count``, ``count_probability`` and, for
        mixed columns, ``n_minor`` (the light element's count).
    result : CountResult

    Examples
    --------
    >>> spread = np.tile(np.linspace(-0.05, 0.05, 20), 3)
    >>> table = pd.DataFrame({"volume": np.repeat([1.0, 2.0, 3.0], 20) + spread})
    >>> counted, result = count_table(table, n_components=3, lowest_count=1)
    >>> sorted(set(counted["count"].tolist())), result.n_components
    ([1, 2, 3], 3)
    """
    from .counting import count_atoms

    if feature not in table:
        raise ValueError(f"the table has no '{feature}' column: fit the columns first")
    if progress is not None:
        progress(0, 1)
    values = table if feature == "volume" else table[feature].to_numpy(dtype=float)
    types = None if feature == "volume" or "type" not in table else table["type"].astype(str).to_numpy()
    result = count_atoms(values, max_components=max_components, library=library, n_components=n_components,
                         lowest_count=lowest_count, types=types)
    if progress is not None:
        progress(1, 1)
    counted = table.copy()
    frame = result.to_frame()
    counted["count"] = result.counts
    counted["count_probability"] = frame["probability"].to_numpy()
    if "n_minor" in frame:
        counted["n_minor"] = frame["n_minor"].to_numpy()
    return counted, result


# ---------------------------------------------------------------- 3. 3D model


def _table_of(item, i, names):
    """(coords, features, metadata, name) of a path or a (coords, features[, metadata]) tuple."""
    from .tables import read_points_csv

    if isinstance(item, (str, Path)):
        path = Path(item)
        coords, features, metadata, _ = read_points_csv(path)
        name = path.name
    else:
        coords, features = item[0], item[1]
        metadata = dict(item[2]) if len(item) > 2 and item[2] is not None else {}
        name = f"table {i + 1}"
    if names is not None:
        name = names[i]
    return np.asarray(coords, dtype=float), features, metadata, name


def projections_from_tables(tables, zone_axes=None, *, element: str = "Pb", names=None, missing_zone_hint: str = ""):
    """Projections for discrete tomography from counted column tables, one per zone axis.

    Parameters
    ----------
    tables : sequence
        Each a points CSV path (written by ``napari-nxtomo count`` or the
        napari writer) or a tuple ``(coords, features, metadata)``: ``(N, 2)``
        positions ``(y, x)`` in Å, a table with ``count`` (and ``type``), and
        a dict with ``zone_axis`` (and ``tilt_direction``).
    zone_axes : sequence of (3,) ints or None, optional
        One per table, overriding the table's own (None: the table's).
    element : str
        The reconstructed species: only its columns are used.
    names : sequence of str, optional
        Labels of the projections (default: the file names).
    missing_zone_hint : str
        Added to the message when a table has no zone axis (e.g. the option
        that gives it).

    Returns
    -------
    projections : list of Projection
    kept : list of (N_i,) int ndarray
        The rows of each table that the projection uses.

    Examples
    --------
    >>> from napari_nxtomo.core.groundtruth import counted_tables_from_truth
    >>> from napari_nxtomo.core.samples import pbse_cuboctahedron
    >>> tables = counted_tables_from_truth(pbse_cuboctahedron(noise=False, n_half=2))
    >>> projections, kept = projections_from_tables(tables)
    >>> [p.name for p in projections], [len(k) for k in kept]
    (['table 1', 'table 2', 'table 3'], [25, 27, 19])
    """
    from .tomography import projection_from_table

    if len(tables) < 2:
        raise ValueError("give at least two counted column tables, one per zone axis")
    if zone_axes is not None and len(zone_axes) != len(tables):
        raise ValueError(f"{len(zone_axes)} zone axes for {len(tables)} tables: give one per table")
    projections, kept = [], []
    for i, item in enumerate(tables):
        coords, features, metadata, name = _table_of(item, i, names)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise ValueError(f"{name} holds 3D points, not the columns of an image")
        zone = zone_axes[i] if zone_axes is not None and zone_axes[i] is not None else metadata.get("zone_axis")
        try:
            proj, rows = projection_from_table(coords, features, zone, element,
                                               tilt_direction=metadata.get("tilt_direction"), name=name)
        except ValueError as exc:
            raise ValueError(f"{exc}" + (missing_zone_hint if zone is None else "")) from None
        projections.append(proj)
        kept.append(rows)
    return projections, kept


def reconstruct_tables(tables, lattice_parameter: float, *, zone_axes=None, element: str = "Pb", names=None,
                       lattice: str = "fcc", n_runs: int = 10, seed: int = 0, method: str = "both", progress=None,
                       cancel=None):
    """Discrete tomography from counted column tables: a 3D model with certainty.

    Parameters
    ----------
    tables, zone_axes, element, names
        As :func:`projections_from_tables`.
    lattice_parameter : float
        Cubic *a*, Å.
    lattice, n_runs, seed, method, progress, cancel
        As :func:`~napari_nxtomo.core.tomography.reconstruct` (``progress(i,
        n)`` per finished step; ``cancel()`` stops it, keeping the finished
        runs in the exception's ``partial`` result).

    Returns
    -------
    ReconstructionResult

    Examples
    --------
    >>> from napari_nxtomo.core.groundtruth import counted_tables_from_truth
    >>> from napari_nxtomo.core.samples import pbse_cuboctahedron
    >>> particle = pbse_cuboctahedron(noise=False, n_half=2)
    >>> tables = counted_tables_from_truth(particle)
    >>> result = reconstruct_tables(tables, particle.lattice_parameter, n_runs=0, method="exact")
    >>> result.n_atoms == int(np.sum(particle.elements == "Pb")), result.exact.status
    (True, 'optimal')
    """
    from .tomography import reconstruct

    projections, _ = projections_from_tables(tables, zone_axes, element=element, names=names)
    return reconstruct(projections, lattice_parameter, lattice=lattice, n_runs=n_runs, seed=seed, method=method,
                       progress=progress, cancel=cancel)


def reprojection_table(result, names=None, kept=None) -> pd.DataFrame:
    """Measured against re-projected counts, one row per projection.

    Parameters
    ----------
    result : ReconstructionResult
    names : sequence of str, optional
        Projection labels (default: 1, 2, ...).
    kept : sequence of (N_i,) int arrays, optional
        The rows of each table the projection used
        (:func:`projections_from_tables`); their number is ``columns``.

    Returns
    -------
    pandas.DataFrame
        ``projection``; ``columns``; ``measured`` and ``model``: total counts
        of the measured columns; ``columns_off``: columns whose model count
        differs; ``rms_residual``: RMS of model − measured; ``unmeasured``:
        model columns the image did not measure.

    Examples
    --------
    >>> from napari_nxtomo.core import groundtruth, samples
    >>> tables = groundtruth.counted_tables_from_truth(samples.pbse_cuboctahedron(noise=False, n_half=2))
    >>> result = reconstruct_tables(tables, 6.12, n_runs=0, method="exact")
    >>> reprojection_table(result, ["100", "010", "110"])[["projection", "columns", "columns_off"]]
      projection  columns  columns_off
    0        100       25            0
    1        010       27            0
    2        110       19            0
    """
    rows = []
    for i, rep in enumerate(result.reprojection):
        measured_rows = rep[rep["input_index"] >= 0]
        measured = measured_rows["measured"].to_numpy(dtype=float)
        model = measured_rows["reconstructed"].to_numpy(dtype=float)
        resid = model - measured
        rows.append({
            "projection": names[i] if names is not None else str(i + 1),
            "columns": len(kept[i]) if kept is not None else len(measured_rows),
            "measured": int(measured.sum()),
            "model": int(model.sum()),
            "columns_off": int(np.count_nonzero(resid)),
            "rms_residual": float(np.sqrt(np.mean(resid**2))),
            "unmeasured": int(rep["missing"].sum()) if "missing" in rep else 0,
        })
    return pd.DataFrame(rows)


def reprojection_per_column(result, kept, n_rows) -> list:
    """The model's count and the residual of every row of each counted table.

    Parameters
    ----------
    result : ReconstructionResult
    kept : sequence of (N_i,) int arrays
        The rows of each table the projection used (:func:`projections_from_tables`).
    n_rows : sequence of int
        The number of rows of each table.

    Returns
    -------
    list of pandas.DataFrame
        One per table, ``n_rows[i]`` rows: ``model_count`` and ``residual``
        (model − measured), NaN in the rows the projection did not use.

    Examples
    --------
    >>> from napari_nxtomo.core.groundtruth import counted_tables_from_truth as true_tables
    >>> from napari_nxtomo.core.samples import pbse_cuboctahedron as sample
    >>> tables = true_tables(sample(noise=False, n_half=2))
    >>> projections, kept = projections_from_tables(tables)
    >>> result = reconstruct_tables(tables, 6.12, n_runs=0, method="exact")
    >>> per_column = reprojection_per_column(result, kept, [len(t[0]) for t in tables])
    >>> len(per_column[2]), int(per_column[2]["residual"].isna().sum()), float(per_column[2]["residual"].abs().max())
    (33, 14, 0.0)
    """
    out = []
    for idx, rep, n in zip(kept, result.reprojection, n_rows):
        measured_rows = rep[rep["input_index"] >= 0]
        rows = np.asarray(idx)[measured_rows["input_index"].to_numpy(dtype=int)]
        model = measured_rows["reconstructed"].to_numpy(dtype=float)
        frame = pd.DataFrame({"model_count": np.full(int(n), np.nan), "residual": np.full(int(n), np.nan)})
        frame.loc[rows, "model_count"] = model
        frame.loc[rows, "residual"] = model - measured_rows["measured"].to_numpy(dtype=float)
        out.append(frame)
    return out


# ---------------------------------------------------------------- 4. pattern


class PatternCancelled(Exception):
    """The pattern's computation was cancelled (``cancel()`` returned True)."""


@dataclass
class PatternModel:
    """The arrays handed to :func:`~napari_nxtomo.core.debye.debye_intensity`, with a description.

    Attributes
    ----------
    positions : (N, 3) ndarray
        x, y, z in Å.
    elements : (N,) ndarray of str
    occupancy : (N,) ndarray
    sites : (N, 3) int ndarray or None
        Lattice sites of a builder model (its lattice method uses them).
    lattice_parameter : float or None
        Cubic *a* (Å) of an on-grid model, handed to ``debye_intensity``.
    description : str
    nanocrystal : NanocrystalModel or None
        The builder's model.
    n_added : int
        Anion sites added by the completion.
    """

    positions: np.ndarray
    elements: np.ndarray
    occupancy: np.ndarray
    sites: np.ndarray | None
    lattice_parameter: float | None
    description: str
    nanocrystal: object = None
    n_added: int = 0


def _builder_description(params: dict) -> str:
    b = params
    return (
        f"{''.join(b['elements'])} {b['structure']} {b['shape'].replace('_', ' ')}, d = {b['diameter']:g} Å, "
        f"a = {b['a']:g} Å" + (f", α_RH = {b['alpha_rh']:g}°" if b["alpha_rh"] != 60 else "")
        + (f", Δr = {b['delta_r_pb']:g} Å" if b["delta_r_pb"] else "")
    )


def pattern_model(builder: dict | None = None, *, positions=None, elements=None, occupancy=None,
                  lattice_parameter=None, complete: dict | None = None, name: str = "") -> PatternModel:
    """Build (builder) or assemble (given atoms, with optional anion completion) a model for the Debye equation.

    Parameters
    ----------
    builder : dict, optional
        Keyword arguments of :func:`~napari_nxtomo.core.nanocrystal.build_nanocrystal`;
        when given, the other arguments are ignored.
    positions : (N, 3) array
        x, y, z in Å (e.g. a reconstructed model).
    elements : (N,) sequence of str
    occupancy : (N,) array, optional
        Site occupancies (1 when not given).
    lattice_parameter : float, optional
        Cubic *a* (Å) of the atoms' lattice, if known.
    complete : dict, optional
        Add the anion sublattice around the cations
        (:func:`~napari_nxtomo.core.nanocrystal.add_anion_sublattice`):
        ``anion``, ``structure``, ``lattice_parameter``, and optionally
        ``min_neighbours`` (1) and ``cation`` (every non-anion atom).
    name : str
        Where the atoms come from (a layer's or a file's name).

    Returns
    -------
    PatternModel

    Examples
    --------
    >>> m = pattern_model({"structure": "rocksalt", "elements": ("Pb", "S"), "a": 5.936, "diameter": 12.0,
    ...                    "shape": "cube"})
    >>> m.description, len(m.positions), m.lattice_parameter
    ('PbS rocksalt cube, d = 12 Å, a = 5.936 Å', 27, 5.936)
    >>> core = pattern_model(positions=[[0.0, 0.0, 0.0]], elements=["Pb"], name="one atom",
    ...                      complete={"anion": "Se", "structure": "rocksalt", "lattice_parameter": 6.12})
    >>> core.description, core.n_added, sorted(set(core.elements.tolist()))
    ("layer 'one atom' + 6 Se (rocksalt sublattice)", 6, ['Pb', 'Se'])
    """
    from .nanocrystal import add_anion_sublattice, build_nanocrystal

    if builder is not None:
        m = build_nanocrystal(**builder)
        return PatternModel(m.positions, m.elements, m.occupancy, m.sites, m.lattice_parameter if m.on_grid else None,
                            _builder_description(m.parameters), m)
    pos = np.asarray(positions, dtype=float)
    els = np.asarray(elements).astype(str)
    occ = np.ones(len(pos)) if occupancy is None else np.asarray(occupancy, dtype=float)
    desc = f"layer '{name}'"
    a = lattice_parameter
    n_added = 0
    if complete:
        anion = complete["anion"]
        a = complete["lattice_parameter"]
        pos, els, occ, n_added = add_anion_sublattice(
            pos, els, a, anion=anion, structure=complete["structure"], occupancy=occ,
            cation=complete.get("cation"), min_neighbours=complete.get("min_neighbours", 1),
        )
        desc += f" + {n_added} {anion} ({complete['structure']} sublattice)"
    return PatternModel(pos, els, occ, None, a, desc, n_added=n_added)


def q_grid(x_min: float, x_max: float, step: float, wavelength: float, axis: str = "q"):
    """The points of a pattern asked for by range and step on the Q or the 2θ axis.

    Parameters
    ----------
    x_min, x_max, step : float
        In the axis unit (Å⁻¹ or °); ``x_max`` is reached to within half a step.
    wavelength : float
        Å (converts between Q and 2θ).
    axis : {"q", "two_theta"}

    Returns
    -------
    x : (M,) ndarray
        In the axis unit.
    q : (M,) ndarray
        Å⁻¹.
    two_theta : (M,) ndarray or None
        °; None on the Q axis where a Q exceeds 4π/λ.

    Raises
    ------
    ValueError
        An empty range, more than :data:`MAX_POINTS` points, 2θ beyond 180°.

    Examples
    --------
    >>> x, q, tt = q_grid(1.0, 2.0, 0.25, 0.7)
    >>> x.tolist(), [round(float(v), 3) for v in tt]
    ([1.0, 1.25, 1.5, 1.75, 2.0], [6.387, 7.986, 9.586, 11.188, 12.793])
    >>> x, q, tt = q_grid(10.0, 20.0, 5.0, 0.7, axis="two_theta")
    >>> [round(float(v), 4) for v in q]
    [1.5646, 2.3432, 3.1173]
    """
    from .debye import q_to_two_theta, two_theta_to_q

    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}; got {axis!r}")
    lo, hi, step = float(x_min), float(x_max), float(step)
    if not hi > lo:
        raise ValueError(f"the range {lo:g} to {hi:g} is empty: 'to' must be larger than 'from'")
    if not step > 0:
        raise ValueError(f"the step must be positive; got {step:g}")
    n = int(round((hi - lo) / step)) + 1
    if n > MAX_POINTS:
        raise ValueError(f"{n} points is too many (at most {MAX_POINTS}); use a larger step")
    x = np.linspace(lo, lo + (n - 1) * step, n)
    if axis == "two_theta":
        if hi > 180:
            raise ValueError("2θ goes up to 180°")
        return x, two_theta_to_q(x, wavelength), x
    try:
        tt = q_to_two_theta(x, wavelength)
    except ValueError:
        tt = None  # Q beyond 4π/λ: no 2θ column
    return x, x, tt


def q_range(q_min: float, q_max: float, q_step: float) -> np.ndarray:
    """Q from ``q_min`` to ``q_max`` (included) in steps of ``q_step``, Å⁻¹ (the command line's grid).

    Examples
    --------
    >>> q_range(0.5, 1.0, 0.1).round(2).tolist()
    [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    """
    if q_step <= 0 or q_max <= q_min:
        raise ValueError(f"the Q range {q_min}..{q_max} Å⁻¹ with step {q_step} is empty")
    return np.arange(q_min, q_max + 0.5 * q_step, q_step)


@dataclass
class PatternResult:
    """A computed pattern (:func:`compute_pattern`).

    Attributes
    ----------
    x : (M,) ndarray
        The abscissae in the axis unit.
    q : (M,) ndarray
        Å⁻¹.
    two_theta : (M,) ndarray or None
        ° (None where Q exceeds 4π/λ or no wavelength was given).
    intensity : (M,) ndarray
        Electrons² (X-rays) or fm² (neutrons) per particle.
    axis : str
        ``"q"`` or ``"two_theta"``.
    radiation : str
    wavelength : float or None
        Å.
    energy_keV : float or None
        The energy of the anomalous terms (None: without them).
    b_iso : float, dict or None
        Debye-Waller B, Å².
    method : str
        As asked (``"auto"``, ``"exact"``, ``"histogram"``, ``"lattice"``).
    model : PatternModel
    r, g : (K,) ndarray or None
        G(r) (Å, Å⁻²), when asked.
    """

    x: np.ndarray
    q: np.ndarray
    two_theta: np.ndarray | None
    intensity: np.ndarray
    axis: str
    radiation: str
    wavelength: float | None
    energy_keV: float | None
    b_iso: object
    method: str
    model: PatternModel
    r: np.ndarray | None = None
    g: np.ndarray | None = None


def _stage_reporter(progress, cancel):
    """``report(lo, hi)``: a ``progress(fraction)`` callback for the part lo..hi of the work (per mille)."""

    def report(lo, hi):
        def f(frac):
            if cancel is not None and cancel():
                raise PatternCancelled("cancelled")
            if progress is not None:
                progress(int(round(1000 * (lo + (hi - lo) * float(frac)))), 1000)

        return f

    return report


def compute_pattern(model: PatternModel, q, *, x=None, two_theta=None, axis: str = "q", radiation: str = "xray",
                    wavelength: float | None = None, energy_keV: float | None = None, b_iso=None,
                    method: str = "auto", with_gr: bool = False, r_max: float = 0.0, lattice_hint: bool = True,
                    progress=None, cancel=None) -> PatternResult:
    """The Debye pattern of a model (and its G(r)).

    Parameters
    ----------
    model : PatternModel
        :func:`pattern_model`.
    q : (M,) array
        Å⁻¹ (:func:`q_grid` or :func:`q_range`).
    x, two_theta : (M,) array, optional
        The abscissae in the axis unit (default ``q``) and 2θ (°), kept in
        the result.
    axis : {"q", "two_theta"}
    radiation : {"xray", "constant", "neutron"}
    wavelength : float, optional
        Å, kept in the result.
    energy_keV : float, optional
        X-rays: the energy of the anomalous terms f′ + i f″ (None: f0 only).
    b_iso : float or dict, optional
        Debye-Waller B per element, Å².
    method : {"auto", "exact", "histogram", "lattice"}
    with_gr : bool
        Also the pair distribution G(r) on 0..r_max in steps of 0.01 Å.
    r_max : float
        Å; 0: the model's size plus 1 Å.
    lattice_hint : bool
        Hand the model's lattice parameter to ``debye_intensity`` (its grid
        is then a/4); False lets it detect the grid from the positions (the
        two agree to ~1e-13 relative).
    progress : callable, optional
        ``progress(i, 1000)``: per mille of the work done.
    cancel : callable, optional
        ``cancel() -> bool``, polled with the progress; True stops the
        computation with :class:`PatternCancelled`.

    Returns
    -------
    PatternResult

    Examples
    --------
    >>> gold = pattern_model({"structure": "fcc", "elements": ("Au",), "a": 4.08, "diameter": 10.0})
    >>> x, q, tt = q_grid(1.0, 4.0, 0.5, 0.7)
    >>> p = compute_pattern(gold, q, x=x, two_theta=tt, wavelength=0.7, b_iso=0.5, with_gr=True, r_max=10.0)
    >>> p.intensity.shape, p.g.shape, bool(np.all(p.intensity > 0))
    ((7,), (1001,), True)
    """
    from .debye import debye_intensity, pair_distance_histogram, pair_distribution

    q = np.asarray(q, dtype=float)
    report = _stage_reporter(progress, cancel)
    report(0.0, 0.0)(0.0)
    split = 0.8 if with_gr else 1.0
    grid_a = model.lattice_parameter if (lattice_hint and model.sites is None) else None
    intensity = debye_intensity(
        model.positions, model.elements, q, b_iso=b_iso, occupancy=model.occupancy, method=method,
        radiation=radiation, energy_keV=energy_keV, lattice_parameter=grid_a, sites=model.sites,
        progress=report(0.0, split),
    )
    result = PatternResult(q if x is None else np.asarray(x, dtype=float), q, two_theta, intensity, axis, radiation,
                           wavelength, energy_keV, b_iso, method, model)
    if with_gr:
        centre = model.positions.mean(axis=0)
        size = 2.0 * float(np.max(np.linalg.norm(model.positions - centre, axis=1))) + 1.0
        rmax = r_max if r_max > 0 else size
        h = pair_distance_histogram(
            model.positions, model.elements, model.occupancy,
            "histogram" if method in ("exact", "histogram") else method,
            lattice_parameter=grid_a, sites=model.sites, progress=report(split, 1.0),
        )
        result.r = np.arange(0.0, rmax + 1e-9, 0.01)
        result.g = pair_distribution(
            model.positions, model.elements, result.r, model.occupancy, q_max=float(q.max()),
            radiation=radiation, energy_keV=energy_keV, histogram=h,
        )
    if progress is not None:
        progress(1000, 1000)
    return result
