"""Step 1 of the workflow: an image → a table of fitted, typed columns, and what the fit leaves unexplained."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np



def find_and_fit(image, pixel_size: float, min_distance: float | None = None, *, positions=None, zone_axis=None,
                 types: str = "auto", elements=("Pb", "Se"), given_types=None, lattice_parameter=None,
                 structure=None, progress=None, cancel=None, fit_options=None):
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
    lattice_parameter, structure : optional
        Å and e.g. ``"core-shell"``: a core–shell image's columns are typed
        by the sublattice they sit on (rule ``"sublattice"``).
    progress, cancel : callable, optional
        ``progress(i, n)`` and ``cancel() -> bool`` of the fit.
    fit_options : dict, optional
        Further keywords of the fit (:func:`~napari_nxtomo.core.fitting.fit_columns`), e.g.
        ``{"weighting": "uniform", "background_degree": 2}``.

    Returns
    -------
    pandas.DataFrame
        One row per column: ``y, x, volume, height, width, type, y_err,
        x_err, volume_err`` (Å, Å²); ``attrs["type_rule"]``,
        ``attrs["background"]`` and, for found columns,
        ``attrs["dropped_columns"]``: peaks whose fitted cross-section was
        not above zero by twice its error (noise), dropped before a refit.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:60, 0:60] * 0.2
    >>> image = sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 0.4**2)) for y in (3, 6, 9) for x in (3, 6, 9))
    >>> table = find_and_fit(image, 0.2, 1.5, types="one")
    >>> len(table), sorted(set(table["type"])), round(float(table["x"].min()), 2)
    (9, ['column'], 3.0)
    """
    from ..columns import fit_typed_columns
    from ..fitting import find_columns

    if positions is None:
        if min_distance is None:
            raise ValueError("give min_distance (Å) to find the columns, or their positions")
        positions = find_columns(image, pixel_size, min_distance)
        if len(positions) == 0:
            from ..fitting.finding import SIGNIFICANCE

            raise ValueError(_NO_COLUMNS.format(sig=SIGNIFICANCE, min_distance=min_distance))
        lattice = {"lattice_parameter": lattice_parameter, "structure": structure, "fit_options": fit_options}
        table = fit_typed_columns(image, pixel_size, positions, types, zone_axis=zone_axis, names=elements,
                                  progress=progress, cancel=cancel, **lattice)
        return _without_empty_peaks(table, image, pixel_size, types, zone_axis, elements, cancel, lattice)
    return fit_typed_columns(image, pixel_size, positions, types, zone_axis=zone_axis, names=elements,
                             types=given_types, lattice_parameter=lattice_parameter, structure=structure,
                             progress=progress, cancel=cancel, fit_options=fit_options)


def _without_empty_peaks(table, image, pixel_size, types, zone_axis, elements, cancel, lattice):
    """Found columns whose fitted cross-section is not above zero by 2 of its errors are noise peaks: dropped and
    the rest refitted once; ``attrs["dropped_columns"]`` says how many (positions the user gives are kept)."""
    from ..columns import fit_typed_columns

    err = table["volume_err"].to_numpy()
    empty = table["volume"].to_numpy() <= 2.0 * np.where(np.isfinite(err), err, 0.0)
    if not empty.any() or empty.all():
        table.attrs["dropped_columns"] = 0
        return table
    kept = table.loc[~empty, ["y", "x"]].to_numpy()
    refit = fit_typed_columns(image, pixel_size, kept, types, zone_axis=zone_axis, names=elements, cancel=cancel,
                              **lattice)
    refit.attrs["dropped_columns"] = int(empty.sum())
    if "off_lattice_columns" in table.attrs:
        refit.attrs["off_lattice_columns"] = table.attrs["off_lattice_columns"] + refit.attrs.get("off_lattice_columns", 0)
    return refit


#: the message when the default threshold finds nothing (pure noise, an empty frame)
_NO_COLUMNS = ("no column stands out of the noise (none {sig:g} σ of the smoothed noise above the background, "
               "at min_distance {min_distance} Å): the image shows no lattice of columns; check that it is the "
               "right image, or give the column positions")


@dataclass
class FitCheck:
    """A fitted image beside its model: what the fit leaves unexplained (:func:`check_fit`).

    Attributes
    ----------
    model : (H, W) ndarray
        The background plus every column's Gaussian, image units.
    residual : (H, W) ndarray
        Image − model.
    residual_rms : float
        RMS of the residual, image units.
    median_volume : float
        Median column volume, image units × Å².
    """

    model: np.ndarray
    residual: np.ndarray
    residual_rms: float
    median_volume: float


def check_fit(image, pixel_size: float, table) -> FitCheck:
    """The model image of a fitted table (its background included), the residual and its RMS.

    Parameters
    ----------
    image : (H, W) array
        The image fitted.
    pixel_size : float
        Å per pixel.
    table : pandas.DataFrame
        The fit (:func:`find_and_fit`); ``attrs["background"]`` is the
        background (0 when absent).

    Returns
    -------
    FitCheck

    Examples
    --------
    >>> yy, xx = np.mgrid[0:40, 0:40] * 0.2
    >>> image = 2.0 + sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 0.4**2)) for y in (3, 5) for x in (3, 5))
    >>> check = check_fit(image, 0.2, find_and_fit(image, 0.2, 1.5, types="one"))
    >>> check.model.shape, check.residual_rms < 1e-3, round(check.median_volume, 2)
    ((40, 40), True, 1.01)
    """
    from ..fitting import model_image

    image = np.asarray(image, dtype=float)
    model = model_image(image.shape, pixel_size, table, table.attrs.get("background", 0.0))
    residual = image - model
    return FitCheck(model, residual, float(np.sqrt(np.mean(residual**2))), float(np.median(table["volume"])))
