"""napari layers to arrays in Å and back, and how the plugin's points layers look.

A dock reads its inputs with :func:`image_array`, :func:`world_coordinates`,
:func:`projection_from_layer` and :func:`atoms_from_layer`, and writes its
results back with the layer keyword arguments (:func:`columns_kwargs`,
:func:`atoms_kwargs`) and the feature tables (:func:`fitted_features`) made
here.  One place for the styling, too, so that the docks, the reader (tables
read back) and the models from the builder all show the same thing.  No Qt here (napari only where a layer is touched).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

#: ionic radii, Å (Shannon, six-fold coordination): the size of an atom drawn in 3D
IONIC_RADIUS = {"Pb": 1.19, "Se": 1.98, "S": 1.84, "Cd": 0.95, "Te": 2.21, "Zn": 0.74, "O": 1.40}
#: colours of elements in 3D views
ELEMENT_COLOUR = {"Pb": "#4a6fe3", "Se": "#f2a900", "S": "#ffd92f", "Cd": "#d62728", "Te": "#8c564b"}
COUNT_CMAP = "viridis"
CERTAINTY_CMAP = "plasma"


# ---------------------------------------------------------------- layers -> arrays


def world_coordinates(layer, ndim: int) -> np.ndarray:
    """Positions of a points layer in world coordinates (Å): ``data × scale + translate``.

    Parameters
    ----------
    layer : napari.layers.Points
    ndim : int
        How many trailing axes to keep: 2 for columns (y, x), 3 for atoms (z, y, x).

    Returns
    -------
    (N, ndim) float array, Å.

    Examples
    --------
    >>> from napari.layers import Points
    >>> pts = Points([[1.0, 2.0]], scale=(0.5, 0.5), translate=(10.0, 0.0))
    >>> world_coordinates(pts, 2).tolist()
    [[10.5, 1.0]]
    """
    data = np.asarray(layer.data, dtype=float)[:, -ndim:]
    return data * np.asarray(layer.scale[-ndim:]) + np.asarray(layer.translate[-ndim:])


def points_to_image_frame(points, origin) -> np.ndarray:
    """Points layer positions as Å in the frame of an image whose pixel (0, 0) sits at ``origin`` (world).

    Examples
    --------
    >>> from napari.layers import Points
    >>> pts = Points([[1.0, 2.0]], translate=(3.0, 3.0))
    >>> points_to_image_frame(pts, np.array([1.0, 1.0])).tolist()
    [[3.0, 4.0]]
    """
    return world_coordinates(points, 2) - origin


def image_array(layer, viewer=None):
    """The 2D image shown by an image layer, its pixel size (Å) and its translate (Å).

    A stack gives the frame the viewer shows (the first frame without a viewer).

    Returns
    -------
    (image, pixel_size, origin) : 2D float array, float (Å), (2,) array (Å).

    Raises
    ------
    ValueError
        For an RGB image or non-square pixels.

    Examples
    --------
    >>> from napari.layers import Image
    >>> img, pixel, origin = image_array(Image(np.zeros((3, 8, 8)), scale=(1.0, 0.2, 0.2)))
    >>> img.shape, pixel, origin.tolist()
    ((8, 8), 0.2, [0.0, 0.0])
    """
    data = np.asarray(layer.data)
    if getattr(layer, "rgb", False):
        raise ValueError(f"'{layer.name}' is an RGB image; open the HAADF image as a single-channel layer")
    if data.ndim > 2:
        idx = (0,) * (data.ndim - 2)
        if viewer is not None:  # the frame at the viewer's position, in this layer's own data coordinates (other
            # layers, e.g. a 3D model in Å, set the world grid: its step index is not this stack's frame)
            world = np.asarray(viewer.dims.point, dtype=float)[-layer.ndim:]
            frame = np.asarray(layer.world_to_data(world), dtype=float)[: data.ndim - 2]
            idx = tuple(int(np.clip(np.round(v), 0, n - 1)) for v, n in zip(frame, data.shape[: data.ndim - 2]))
        data = data[idx]
    scale = np.asarray(layer.scale[-2:], dtype=float)
    if not np.isclose(scale[0], scale[1], rtol=1e-3):
        raise ValueError(f"'{layer.name}' has non-square pixels {tuple(scale)}; resample it to square pixels first")
    return np.asarray(data, dtype=float), float(scale[1]), np.asarray(layer.translate[-2:], dtype=float)


def projection_from_layer(layer, element="Pb", zone_override=None):
    """A core Projection from a points layer of counted columns.

    The columns' world positions (Å) and features go to
    :func:`napari_nxtomo.core.tomography.projection_from_table`; the zone axis
    is ``zone_override`` or the layer's ``metadata["zone_axis"]``.

    Returns
    -------
    (Projection, kept) : the projection and the layer rows it uses.

    Examples
    --------
    >>> from napari.layers import Points
    >>> feats = pd.DataFrame({"count": [3, 4, 5], "type": ["Pb+Se"] * 3})
    >>> pts = Points([[0.0, 0.0], [0.0, 3.06], [3.06, 0.0]], features=feats, metadata={"zone_axis": (1, 0, 0)})
    >>> proj, kept = projection_from_layer(pts)
    >>> proj.name, kept.tolist()
    ('[100]', [0, 1, 2])
    """
    from ..core.tomography import _zone_name, projection_from_table

    if len(layer.data) == 0:
        raise ValueError(f"the points layer '{layer.name}' is empty")
    zone = zone_override if zone_override is not None else layer.metadata.get("zone_axis")
    proj, kept = projection_from_table(world_coordinates(layer, 2), layer.features, zone, element,
                                       tilt_direction=layer.metadata.get("tilt_direction"), name=f"'{layer.name}'")
    proj.name = _zone_name(proj.zone_axis)
    return proj, kept


def atoms_from_layer(layer, use_certainty: bool = False):
    """Positions (x, y, z in Å), elements, occupancy and certainty of a 3D points layer of atoms.

    Parameters
    ----------
    layer : napari.layers.Points
        3D points (z, y, x in Å) with an ``element`` feature; ``occupancy``
        is used when present.
    use_certainty : bool
        Also return the ``certainty`` feature (the core multiplies each
        occupancy by it: :func:`napari_nxtomo.core.workflow.pattern_model`).

    Returns
    -------
    (positions, elements, occupancy, certainty) : (N, 3) float array, (N,)
    str array, (N,) float array or None (every site full), (N,) float array
    or None (not asked).

    Raises
    ------
    ValueError
        For a layer that is not 3D, is empty, or lacks a feature it needs.

    Examples
    --------
    >>> from napari.layers import Points
    >>> pts = Points([[1.0, 2.0, 3.0]], features={"element": ["Pb"], "certainty": [0.5]})
    >>> xyz, els, occ, certainty = atoms_from_layer(pts, use_certainty=True)
    >>> xyz.tolist(), els.tolist(), occ, certainty.tolist()
    ([[3.0, 2.0, 1.0]], ['Pb'], None, [0.5])
    """
    data = np.asarray(layer.data, dtype=float)
    if data.ndim != 2 or data.shape[1] != 3:
        raise ValueError(f"'{layer.name}' is not a 3D points layer; the Debye pattern needs (z, y, x) in Å")
    if len(data) == 0:
        raise ValueError(f"the points layer '{layer.name}' has no atoms")
    feats = layer.features
    if "element" not in feats:
        raise ValueError(
            f"the points layer '{layer.name}' has no 'element' feature; give each point its element symbol "
            "(e.g. layer.features['element'] = 'Pb')"
        )
    occ = feats["occupancy"].to_numpy(dtype=float) if "occupancy" in feats else None
    cert = None
    if use_certainty:
        if "certainty" not in feats:
            raise ValueError(f"the points layer '{layer.name}' has no 'certainty' feature to use as occupancy")
        cert = feats["certainty"].to_numpy(dtype=float)
    return world_coordinates(layer, 3)[:, ::-1].copy(), feats["element"].astype(str).to_numpy(), occ, cert


# ---------------------------------------------------------------- results -> layers


def fitted_features(table: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """The fit's table (one row per column) followed by the layer's other features.

    The rows of the starts the fit merged or left out (``merged_starts``,
    ``left_out_starts`` in the table's attrs) are dropped from the features.

    Examples
    --------
    >>> table = pd.DataFrame({"y": [1.0], "x": [2.0], "type": ["Pb"]})
    >>> list(fitted_features(table, pd.DataFrame({"type": ["column"], "note": ["a"]})).columns)
    ['y', 'x', 'type', 'note']

    A start the fit merged into another (input 1) takes its feature row with it:

    >>> table = pd.DataFrame({"y": [1.0, 5.0], "x": [2.0, 2.0]})
    >>> table.attrs["merged_starts"] = [1]
    >>> fitted_features(table, pd.DataFrame({"note": ["a", "b", "c"]}))["note"].tolist()
    ['a', 'c']
    """
    keep = features.drop(columns=[c for c in features.columns if c in table.columns], errors="ignore")
    gone = set(table.attrs.get("merged_starts", [])) | set(table.attrs.get("left_out_starts", []))
    if gone and len(keep) == len(table) + len(gone):  # the fit merged or left out starts: their rows go
        keep = keep.iloc[[i for i in range(len(keep)) if i not in gone]]
    return pd.concat([table.reset_index(drop=True), keep.reset_index(drop=True)], axis=1)


def add_or_update_points(viewer, data, kwargs: dict, update=("features",)):
    """The points layer named ``kwargs["name"]``: added, or its data and ``update`` attributes replaced.

    Returns the layer.
    """
    name = kwargs["name"]
    if name in viewer.layers:
        layer = viewer.layers[name]
        layer.data = data
        for key in update:
            setattr(layer, key, kwargs[key])
        return layer
    return viewer.add_points(data, **kwargs)


# ---------------------------------------------------------------- styling


def colour_by(layer, feature: str, cmap: str, limits=None) -> None:
    """Colour the faces of a points layer by a numeric feature through a colormap.

    Examples
    --------
    >>> from napari.layers import Points
    >>> pts = Points(np.zeros((2, 2)), features={"count": [1.0, 5.0]})
    >>> colour_by(pts, "count", COUNT_CMAP)
    >>> pts.face_colormap.name, tuple(pts.face_contrast_limits)
    ('viridis', (1.0, 5.0))
    """
    values = np.asarray(layer.features[feature], dtype=float)
    if limits is None:
        lo, hi = (float(np.nanmin(values)), float(np.nanmax(values))) if values.size else (0.0, 1.0)
        limits = (lo, hi if hi > lo else lo + 1.0)
    layer.face_colormap = cmap
    with warnings.catch_warnings():
        # napari guesses "categorical" for an integer feature with few values and warns; the
        # colouring is continuous by intent and the mode is set explicitly on the next line
        warnings.filterwarnings("ignore", message="Feature .* looks like categorical data", category=RuntimeWarning)
        layer.face_color = feature
    layer.face_color_mode = "colormap"
    layer.face_contrast_limits = tuple(limits)
    layer.refresh_colors()


def mapped_colours(values, cmap: str, limits=None) -> np.ndarray:
    """RGBA colours of numeric values through a napari colormap (the same colours ``colour_by`` gives).

    Examples
    --------
    >>> mapped_colours([0.0, 1.0], "gray").round(2).tolist()
    [[0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    from napari.utils.colormaps import ensure_colormap

    v = np.asarray(values, dtype=float)
    lo, hi = limits if limits is not None else (float(np.nanmin(v)), float(np.nanmax(v)))
    hi = hi if hi > lo else lo + 1.0
    return ensure_colormap(cmap).map(np.clip((v - lo) / (hi - lo), 0.0, 1.0))


def atoms_kwargs(features: pd.DataFrame, name: str, metadata: dict | None = None) -> dict:
    """Layer kwargs for a 3D points layer of atoms (z, y, x in Å): sized by ionic radius, coloured by element.

    Atoms with a ``certainty`` feature are coloured by it instead.

    Examples
    --------
    >>> kw = atoms_kwargs(pd.DataFrame({"element": ["Pb", "Se"]}), "model")
    >>> kw["name"], kw["size"].round(2).tolist(), kw["face_color"]
    ('model', [2.38, 3.96], ['#4a6fe3', '#f2a900'])
    """
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
        **_out_of_slice(),
    }
    if "certainty" in features and len(features):
        kwargs["face_color"] = mapped_colours(features["certainty"], CERTAINTY_CMAP, (0.0, 1.0))
    return kwargs


def _out_of_slice() -> dict:
    """Draw atoms cut by the slice plane as smaller discs: ``projection_mode`` (napari ≥ 0.9), else the older flag."""
    from napari.layers.points._points_constants import PointsProjectionMode

    if hasattr(PointsProjectionMode, "RESCALE_LINEAR"):
        return {"projection_mode": "rescale_linear"}
    return {"out_of_slice_display": True}


def camera(viewer):
    """The viewer's camera: ``viewer.scene.camera`` (napari ≥ 0.9, where ``viewer.camera`` is deprecated), else
    ``viewer.camera``.

    Examples
    --------
    >>> from napari.components import ViewerModel
    >>> camera(ViewerModel()).zoom > 0
    True
    """
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def show_in_3d(viewer, layer) -> None:
    """Switch the viewer to 3D and fit the camera to ``layer`` (a 3D model, not the 2D images beside it).

    Examples
    --------
    >>> from napari.components import ViewerModel
    >>> viewer = ViewerModel()
    >>> layer = viewer.add_points([[0.0, 0.0, 0.0], [10.0, 10.0, 10.0]])
    >>> show_in_3d(viewer, layer)
    >>> viewer.dims.ndisplay, [round(c) for c in camera(viewer).center]
    (3, [5, 5, 5])
    """
    viewer.dims.ndisplay = 3
    try:
        viewer.reset_view(layers=[layer])
    except TypeError:  # napari before 0.6 fits every layer: centre on the model by hand
        viewer.reset_view()
        lo, hi = np.asarray(layer.extent.world, dtype=float)
        camera(viewer).center = tuple((lo + hi) / 2)


def place_above(viewer, layer, below) -> None:
    """Move ``layer`` just above ``below`` in the layer list (drawn over it, under the layers above it).

    Examples
    --------
    >>> from napari.components import ViewerModel
    >>> viewer = ViewerModel()
    >>> a, b = viewer.add_points(name="a"), viewer.add_points(name="b")
    >>> c = viewer.add_points(name="c")
    >>> place_above(viewer, c, a)
    >>> [ly.name for ly in viewer.layers]
    ['a', 'c', 'b']
    """
    layers = viewer.layers
    src, dst = layers.index(layer), layers.index(below)
    if src != dst + 1:
        layers.move(src, dst + 1 if src > dst else dst)


def columns_kwargs(features: pd.DataFrame, name: str, metadata: dict | None = None, translate=(0.0, 0.0)) -> dict:
    """Layer kwargs for a points layer of atomic columns (y, x in Å) drawn over an image.

    Columns with a ``count`` feature are filled by count.

    Examples
    --------
    >>> kw = columns_kwargs(pd.DataFrame({"type": ["Pb"]}), "columns", translate=(1.0, 2.0))
    >>> kw["translate"], kw["face_color"], kw["border_color"]
    ((1.0, 2.0), 'transparent', 'yellow')
    """
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
