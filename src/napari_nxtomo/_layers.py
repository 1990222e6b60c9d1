"""How the plugin's points layers look: atomic columns over an image, atoms in 3D.

One place for the styling so that the widgets, the reader (tables read back)
and the sample/builder models all show the same thing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: ionic radii, Å (Shannon, six-fold coordination): the size of an atom drawn in 3D
IONIC_RADIUS = {"Pb": 1.19, "Se": 1.98, "S": 1.84, "Cd": 0.95, "Te": 2.21, "Zn": 0.74, "O": 1.40}
#: colours of elements in 3D views
ELEMENT_COLOUR = {"Pb": "#4a6fe3", "Se": "#f2a900", "S": "#ffd92f", "Cd": "#d62728", "Te": "#8c564b"}
COUNT_CMAP = "viridis"
CERTAINTY_CMAP = "plasma"


def colour_by(layer, feature: str, cmap: str, limits=None) -> None:
    """Colour the faces of a points layer by a numeric feature through a colormap."""
    values = np.asarray(layer.features[feature], dtype=float)
    if limits is None:
        lo, hi = (float(np.nanmin(values)), float(np.nanmax(values))) if values.size else (0.0, 1.0)
        limits = (lo, hi if hi > lo else lo + 1.0)
    layer.face_colormap = cmap
    layer.face_color = feature
    layer.face_color_mode = "colormap"
    layer.face_contrast_limits = tuple(limits)
    layer.refresh_colors()


def mapped_colours(values, cmap: str, limits=None) -> np.ndarray:
    """RGBA colours of numeric values through a napari colormap (the same colours ``colour_by`` gives)."""
    from napari.utils.colormaps import ensure_colormap

    v = np.asarray(values, dtype=float)
    lo, hi = limits if limits is not None else (float(np.nanmin(v)), float(np.nanmax(v)))
    hi = hi if hi > lo else lo + 1.0
    return ensure_colormap(cmap).map(np.clip((v - lo) / (hi - lo), 0.0, 1.0))


def atoms_kwargs(features: pd.DataFrame, name: str, metadata: dict | None = None) -> dict:
    """Layer kwargs for a 3D points layer of atoms (z, y, x in Å)."""
    elements = features["element"].astype(str).to_numpy() if "element" in features else None
    if elements is not None:
        size = np.array([2 * IONIC_RADIUS.get(e, 1.2) for e in elements])
        colours = [ELEMENT_COLOUR.get(e, "#aaaaaa") for e in elements]
    else:
        size, colours = 2.4, "#aaaaaa"
    kwargs = {
        "name": name,
        "features": features,
        "size": size,
        "face_color": colours,
        "border_width": 0,
        "shading": "spherical",
        "units": ("angstrom",) * 3,
        "metadata": dict(metadata or {}),
        "out_of_slice_display": True,
    }
    if "certainty" in features and len(features):
        kwargs["face_color"] = mapped_colours(features["certainty"], CERTAINTY_CMAP, (0.0, 1.0))
    return kwargs


def columns_kwargs(features: pd.DataFrame, name: str, metadata: dict | None = None, translate=(0.0, 0.0)) -> dict:
    """Layer kwargs for a points layer of atomic columns (y, x in Å) drawn over an image."""
    kwargs = {
        "name": name,
        "translate": tuple(translate),
        "features": features,
        "size": 0.6,
        "border_color": "yellow",
        "face_color": "transparent",
        "border_width": 0.15,
        "units": ("angstrom", "angstrom"),
        "metadata": dict(metadata or {}),
    }
    if "count" in features and len(features):
        kwargs["face_color"] = mapped_colours(features["count"], COUNT_CMAP)
    return kwargs
