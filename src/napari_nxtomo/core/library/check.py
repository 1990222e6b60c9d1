"""A library against a noise-free multislice image of a whole particle: each column's Voronoi-cell signal over the
library's value for its true composition (no fitted model in between).

A bulk library and a particle's image are two simulations; where the library is right, its values are the
particles' cell signal up to a few per cent (the particle's thin columns see less cross-talk).  Along ⟨100⟩ a column
of 2n + 1 atoms is (n + 1, n) Pb/Se (Pb at both ends) or (n, n + 1); only its end atoms tell them apart, so a mixed
library's two entries of one length must stand in the particles' ratio (:func:`ended_ratios`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ..fitting import cell_cross_sections
from .cell import atomic_number


def cell_signal_ratios(view, library) -> pd.DataFrame:
    """Per column of ``view`` (a :class:`~napari_nxtomo.core.groundtruth.MultisliceView`, noise-free) that holds the
    library's heavy element and whose composition the library holds: ``row`` (in ``view.columns``), ``n_heavy``,
    ``n_light``, ``ratio`` (cell signal / library value) and ``interior`` (four neighbours at the column spacing).

    The library's mixed type (e.g. ``"Pb+Se"``) is used when it has one, else its heaviest type; the heavy element
    is the first of the type's name.

    Examples
    --------
    The bundled sample's [110] view against the shipped library for its optics (22 mrad, 60-140 mrad):

    >>> from napari_nxtomo.core.groundtruth import SAMPLE_MULTISLICE_DIR, load_multislice_view
    >>> from napari_nxtomo.core.library import load_library
    >>> view = load_multislice_view(SAMPLE_MULTISLICE_DIR, "110")
    >>> lib = load_library("PbSe", (1, 1, 0), energy_keV=300.0, convergence_mrad=22.0, detector_mrad=(60.0, 140.0))
    >>> r = cell_signal_ratios(view, lib)
    >>> len(r), round(float(r["ratio"].mean()), 2)
    (61, 1.01)
    """
    kind = next((t for t in library.types if library.is_mixed(t)), None) or max(library.types, key=atomic_number)
    heavy, light = (kind.split("+") + [None])[:2]
    pos = view.columns[["y", "x"]].to_numpy()
    dist = cKDTree(pos).query(pos, k=5)[0][:, 1:]
    spacing = float(np.median(dist[:, 0]))
    cs, _ = cell_cross_sections(view.image, view.pixel_size, pos, max_radius=0.75 * spacing)
    values = library.values(kind)
    n_heavy = view.columns[f"n_{heavy}"].to_numpy()
    n_light = view.columns[f"n_{light}"].to_numpy() if light else np.zeros_like(n_heavy)
    keys = [(int(a), int(b)) if light else int(a) for a, b in zip(n_heavy, n_light)]
    rows = np.array([i for i, k in enumerate(keys) if n_heavy[i] > 0 and k in values], dtype=int)
    return pd.DataFrame({"row": rows, "n_heavy": n_heavy[rows], "n_light": n_light[rows],
                         "ratio": [cs[i] / values[keys[i]] for i in rows],
                         "interior": (dist[rows] < 1.05 * spacing).sum(axis=1) == 4})


def ended_ratios(view, library, min_atoms: int = 5) -> tuple:
    """Interior mixed columns of odd length ≥ ``min_atoms``: the cell signal / library value of the heavy-ended
    (n + 1, n) ones and of the light-ended (n, n + 1) ones (two arrays).

    Examples
    --------
    The bundled sample's [100] view against the library the plugin takes for its optics: how many columns of each
    kind, and whether both kinds hold the same fraction of the library within 10 % (a right library: within a
    few per cent; ``benchmarks/multislice/check_ended.py`` prints the figures):

    >>> from napari_nxtomo.core.groundtruth import SAMPLE_MULTISLICE_DIR, load_multislice_view
    >>> from napari_nxtomo.core.library import load_library
    >>> view = load_multislice_view(SAMPLE_MULTISLICE_DIR, "100")
    >>> lib = load_library("PbSe", (1, 0, 0), energy_keV=300.0, convergence_mrad=22.0, detector_mrad=(60.0, 140.0))
    >>> pb, se = ended_ratios(view, lib)
    >>> len(pb), len(se), bool(abs(pb.mean() / se.mean() - 1) < 0.1)
    (23, 5, True)
    """
    r = cell_signal_ratios(view, library)
    d = r["n_heavy"] - r["n_light"]
    odd = r["interior"] & (r["n_heavy"] + r["n_light"] >= min_atoms)
    return r.loc[odd & (d == 1), "ratio"].to_numpy(), r.loc[odd & (d == -1), "ratio"].to_numpy()
