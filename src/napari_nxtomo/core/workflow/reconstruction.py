"""Step 3 of the workflow: counted tables of two or more zone axes → a 3D model, and its re-projection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd



def _table_of(item, i, names):
    """(coords, features, metadata, name) of a path or a (coords, features[, metadata]) tuple."""
    from ..tables import read_points_csv

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
    from ..tomography import projection_from_table

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
    from ..tomography import reconstruct

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
