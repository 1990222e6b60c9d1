"""npe2 reader: open calibrated microscope images as napari image layers (and tables, atom models, patterns).

All reading and unit conversion happens in :mod:`napari_nxtomo.core.io`;
this module only turns its :class:`~napari_nxtomo.core.io.ImageData` into
napari ``LayerData`` tuples. Errors are the core's :class:`ValueError`
(napari shows it as a notification).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence, Union

import pandas as pd

from .core.io import ImageData, is_supported, read_images
from .core.pattern_io import PATTERN_KEY, PATTERN_SUFFIXES, read_pattern_columns
from .core.tables import is_points_csv, read_points_csv, read_xyz

PathLike = Union[str, Path]
LayerData = tuple[Any, dict, str]

# core unit strings -> names pint (napari's unit registry) understands
_NAPARI_UNITS = {"Å": "angstrom", "1/Å": "1/angstrom", "pixel": "pixel"}


def napari_get_reader(path: PathLike | Sequence[PathLike]) -> Callable | None:
    """Return a reader function for `path`, or None if we cannot read it.

    Parameters
    ----------
    path : str, pathlib.Path or list of them
        One file, or several files (accepted only if every one has a
        supported extension).

    Returns
    -------
    callable or None
        ``reader(path) -> list of (data, kwargs, "image")``; None when an
        extension is not supported.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if paths and all(_is_table(p) for p in paths):
        return read_table_layers
    if paths and all(Path(str(p)).suffix.lower() in PATTERN_SUFFIXES for p in paths):
        return read_pattern_layers
    if not paths or not all(is_supported(p) for p in paths):
        return None
    return read_layers


def _is_table(path) -> bool:
    """A points table the plugin wrote (CSV with its header) or an XYZ atom file."""
    suffix = Path(str(path)).suffix.lower()
    return suffix == ".xyz" or (suffix == ".csv" and is_points_csv(path))


def read_table_layers(path: PathLike | Sequence[PathLike]) -> list[LayerData]:
    """Read points tables (CSV written by the plugin, .xyz atom models) as points layers.

    Columns come back over their image (the translate stored with them), with
    their features and the colour by count; atom models come back in 3D
    (z, y, x in Å) with element and certainty.
    """
    from ._qt.layers import atoms_kwargs, columns_kwargs

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        p = Path(str(p))
        if p.suffix.lower() == ".xyz":
            xyz, elements, props, info = read_xyz(p)
            features = pd.DataFrame({"element": elements, **props})
            name = str(info.pop("name", "") or p.stem)
            layers.append((xyz[:, ::-1].copy(), atoms_kwargs(features, name, {"source": str(p), **info}), "points"))
            continue
        coords, features, metadata, name = read_points_csv(p)
        translate = metadata.pop("translate", None) or [0.0] * coords.shape[1]
        name = name or p.stem
        if coords.shape[1] == 3:
            kwargs = atoms_kwargs(features, name, metadata)
            kwargs["translate"] = tuple(translate)
        else:
            kwargs = columns_kwargs(features, name, metadata, translate)
        layers.append((coords, kwargs, "points"))
    return layers


def read_pattern_layers(path: PathLike | Sequence[PathLike]) -> list[LayerData]:
    """Read measured powder patterns (.xy, .xye, .chi) as 2D points layers the Debye dock uses.

    One point per measured point, at (row, col) = (-intensity, x): the
    pattern drawn with its peaks up (napari's rows go down), x being Q in
    Å⁻¹ or 2θ in degrees as in the file; the rows are scaled so that the
    pattern is about as tall as wide.  The features hold the numbers
    (``x``, ``intensity``, ``sigma``), the metadata under
    ``"measured_pattern"`` what they are (``x_kind``, ``x_named``,
    ``sigma_source``, ``name``, ``source``); no wavelength is needed to read
    a 2θ file (the dock converts it with its own).
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        p = Path(str(p))
        c = read_pattern_columns(p)
        span_x = float(c.x[-1] - c.x[0])
        span_y = float(c.intensity.max() - c.intensity.min()) or 1.0
        features = pd.DataFrame({"x": c.x, "intensity": c.intensity, "sigma": c.sigma})
        metadata = {PATTERN_KEY: {"x_kind": c.x_kind, "x_named": c.x_named, "sigma_source": c.sigma_source,
                                  "name": c.name, "source": str(p)}}
        data = pd.concat([-features["intensity"], features["x"]], axis=1).to_numpy(dtype=float)
        kwargs = {"name": p.stem, "features": features, "metadata": metadata, "scale": (span_x / span_y, 1.0),
                  "size": span_x / 200.0, "face_color": "white", "border_width": 0}
        layers.append((data, kwargs, "points"))
    return layers


def read_layers(path: PathLike | Sequence[PathLike]) -> list[LayerData]:
    """Read one or several files into napari image-layer data tuples.

    Parameters
    ----------
    path : str, pathlib.Path or list of them
        The file(s).

    Returns
    -------
    list of (numpy.ndarray, dict, str)
        One ``(data, kwargs, "image")`` per image in each file; ``kwargs``
        holds ``name``, ``scale`` (Å per pixel for length axes),
        ``units``, ``metadata`` (the core's metadata dict) and
        ``colormap='gray'``.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        for image in read_images(p):
            layers.append(_layer_data(Path(str(p)), image))
    return layers


def _layer_data(path: Path, image: ImageData) -> LayerData:
    title = image.metadata.get("title") or ""
    name = path.stem if not title or title == path.stem else f"{path.stem} {title}"
    kwargs: dict[str, Any] = {
        "name": name,
        "scale": tuple(image.scale),
        "metadata": image.metadata,
        "colormap": "gray",
    }
    units = _napari_units(image.units)
    if units is not None:
        kwargs["units"] = units
    return (image.data, kwargs, "image")


def _napari_units(units: Sequence[str]) -> tuple[str, ...] | None:
    """Per-axis unit names for napari, or None if napari would refuse them."""
    try:
        import pint

        registry = pint.get_application_registry()
        names = tuple(_NAPARI_UNITS[u] for u in units)
        for n in names:
            registry.Unit(n)
    except Exception:  # unknown unit, or no pint: leave units out
        return None
    if not _layers_take_units():
        return None
    return names


def _layers_take_units() -> bool:
    """Whether the installed napari's layers accept a ``units`` argument."""
    try:
        import inspect

        from napari.layers import Image

        return "units" in inspect.signature(Image.__init__).parameters
    except Exception:
        return False
