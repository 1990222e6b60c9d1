"""npe2 writers: points layers with their features (CSV), 3D atom models (extended XYZ).

The tables are written by :mod:`napari_nxtomo.core.tables`; the plugin's
reader opens them again as points layers with their features and colours.
Coordinates are written in Å (``data × scale``); the layer's translate (the
origin of the image the columns were fitted on) goes into the metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .core.tables import write_points_csv, write_xyz
from .core.workflow.run_pattern import RUNS_KEY


def _physical(data, meta) -> np.ndarray:
    data = np.asarray(data, dtype=float)
    scale = np.asarray(meta.get("scale", np.ones(data.shape[1])), dtype=float)[-data.shape[1]:]
    return data * scale


def _layer_metadata(meta) -> dict:
    md = dict(meta.get("metadata") or {})
    md.pop(RUNS_KEY, None)  # the annealing runs' arrays stay in the session
    md["translate"] = [float(v) for v in meta.get("translate", ())]
    return md


def write_points_csv_layer(path: str, data, meta: dict) -> list[str]:
    """Write a points layer and its features as CSV (coordinates in Å)."""
    features = meta.get("features")
    if features is None:
        features = pd.DataFrame(meta.get("properties") or {})
    out = write_points_csv(path, _physical(data, meta), features, metadata=_layer_metadata(meta), name=meta.get("name"))
    return [str(out)]


def write_points_xyz_layer(path: str, data, meta: dict) -> list[str]:
    """Write a 3D points layer (z, y, x) as extended XYZ (x, y, z in Å), its features as per-atom values."""
    coords = _physical(data, meta)
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise ValueError("only a 3D points layer (an atomic model) can be written as .xyz; use .csv for columns")
    coords = coords + np.asarray(meta.get("translate", np.zeros(3)), dtype=float)[-3:]
    features = meta.get("features")
    features = pd.DataFrame() if features is None else features
    elements = features["element"].astype(str).to_numpy() if "element" in features else np.full(len(coords), "X")
    props = {
        c: features[c].to_numpy()
        for c in features.columns
        if c != "element" and (pd.api.types.is_numeric_dtype(features[c]) or pd.api.types.is_bool_dtype(features[c]))
    }
    info = {"name": meta.get("name", ""), **{k: v for k, v in (meta.get("metadata") or {}).items()
                                            if isinstance(v, (int, float, str, list, tuple))}}
    out = write_xyz(Path(path), coords[:, ::-1], elements, props, info=info)
    return [str(out)]
