"""A library in the fit's units: the plugin's Gaussians fitted to the library's own simulated bulk images.

A column's cell-integrated signal (what :func:`~napari_nxtomo.core.library.simulate_library` integrates by
default) is not what the plugin measures: the fit of one Gaussian per column holds a share of it that depends on the
column's kind and count (~0.76 of a light Se column between Pb ones, 0.87-0.93 of a heavy or mixed one, rising with
the count and falling again beyond ~10 atoms: measured on the 22 mrad, 60-140 mrad PbSe libraries, 2026-12-05).
Fitting the scanned supercell after every layer with :func:`~napari_nxtomo.core.fitting.fit_columns` (the
columns at their known positions, background 0 as in a particle's vacuum) gives each column's *fitted* volume, in the
same units as the table of an image normalised to the incident beam: a library of those needs no capture factor.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.spatial import cKDTree

from .cell import column_composition, column_type_names, elements_by_weight

#: the periodic image is tiled this many times each way, so that the middle copy's columns have every neighbour
TILES = 3


def column_types(cell) -> np.ndarray:
    """Each column's type as the library's tables and the plugin name it: its element, or ``"A+B"`` (heavy first).

    Examples
    --------
    >>> from napari_nxtomo.core.library.cell import oriented_cell
    >>> from napari_nxtomo.core.lattice import ROCKSALT_PBSE
    >>> column_types(oriented_cell(ROCKSALT_PBSE, (1, 1, 0))).tolist()
    ['Pb', 'Se', 'Se', 'Pb']
    >>> set(column_types(oriented_cell(ROCKSALT_PBSE, (1, 0, 0))).tolist())
    {'Pb+Se'}
    """
    per_cell = int(round(cell.lengths[2] / cell.layer_spacing))
    return np.array(column_type_names(column_composition(cell, per_cell)[-1], elements_by_weight(cell.elements)))


def square_tiles(image, spacing, tiles: int = TILES):
    """The periodic cell image ``(n0, n1)`` sampled at ``spacing = (h0, h1)`` Å (points at ``(i + ½) h``), tiled
    ``tiles`` × ``tiles`` and resampled to square pixels of the finer spacing (points at ``(k + ½) px`` likewise):
    (image, pixel size Å).

    Examples
    --------
    >>> img = np.add.outer(np.sin(np.arange(8) * np.pi / 4), np.zeros(6))
    >>> big, px = square_tiles(img, (0.5, 0.5), 2)
    >>> big.shape, px, bool(np.allclose(big[8:16, :6], img))
    ((16, 12), 0.5, True)
    """
    h0, h1 = (float(v) for v in spacing)
    px = min(h0, h1)
    size = [tiles * n * h for n, h in zip(image.shape, (h0, h1))]
    shape = [int(np.floor(s / px + 1e-9)) for s in size]
    y, x = np.meshgrid(np.arange(shape[0]) * px, np.arange(shape[1]) * px, indexing="ij")
    coords = np.stack([(y + 0.5 * px) / h0 - 0.5, (x + 0.5 * px) / h1 - 0.5])
    return map_coordinates(np.asarray(image, float), coords, order=3, mode="grid-wrap"), px


def fitted_volumes(maps, spacing, lengths, columns, types, tiles: int = TILES) -> np.ndarray:
    """Each column's fitted volume after every layer: (layers, columns), signal units × Å².

    Parameters
    ----------
    maps : (layers, n0, n1) array
        The supercell's signal after each layer on the full midpoint scan grid (fraction of the beam).
    spacing : (float, float)
        The grid's spacing, Å.
    lengths : sequence
        The supercell's lengths across the beam, Å.
    columns : (N, 2) array
        The columns' projected positions, Å.
    types : (N,) array of str
        Each column's type as the plugin names it (``"Pb"``, ``"Se"``, ``"Pb+Se"``): one width per type.

    Examples
    --------
    Two Gaussians of volume 1 and 2 in a periodic 6 × 6 Å cell:

    >>> h = 0.25; g = (np.arange(24) + 0.5) * h
    >>> yy, xx = np.meshgrid(g, g, indexing="ij")
    >>> cols = np.array([[1.5, 1.5], [4.5, 4.5]])
    >>> img = sum(v * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 0.4**2)) / (2 * np.pi * 0.4**2)
    ...           for v, (y, x) in zip((1.0, 2.0), cols))
    >>> fitted_volumes(img[None], (h, h), (6.0, 6.0), cols, np.array(["A", "B"])).round(3).tolist()
    [[1.0, 2.0]]
    """
    from ..fitting import fit_columns  # the fitting's kernels load only when a fitted library is computed

    columns = np.asarray(columns, float)
    shifts = np.array([[a * lengths[0], b * lengths[1]] for a in range(tiles) for b in range(tiles)])
    starts = (columns[None] + shifts[:, None]).reshape(-1, 2)  # Å from the first pixel's centre: minus half a pixel
    middle = (tiles // 2) * tiles + tiles // 2
    out = np.full((len(maps), len(columns)), np.nan)
    for j, layer in enumerate(np.asarray(maps, float)):
        image, px = square_tiles(layer, spacing, tiles)
        starts_px = starts - 0.5 * px
        inside = np.all((starts_px >= 0) & (starts_px <= (np.array(image.shape) - 1) * px), axis=1)
        res = fit_columns(image, px, starts_px[inside], np.tile(types, tiles * tiles)[inside], fit_background=False,
                          background=0.0)
        dist, idx = cKDTree(res[["y", "x"]].to_numpy()).query(columns + shifts[middle] - 0.5 * px)
        out[j] = np.where(dist < 0.5, res["volume"].to_numpy()[idx], np.nan)
    return out


def in_fitted_units(cell_tables: dict, fitted_tables: dict) -> dict:
    """The library's tables with the fitted volumes (of the configurations' mean image) as cross-sections, their
    spread over the configurations the cell-integrated one's in proportion.

    Examples
    --------
    >>> import pandas as pd
    >>> cell = {"Pb": pd.DataFrame({"count": [1, 2], "n_minor": [0, 0], "cross_section": [0.010, 0.020],
    ...                             "cross_section_sd": [0.001, 0.001]})}
    >>> fit = {"Pb": cell["Pb"].assign(cross_section=[0.009, 0.019], cross_section_sd=0.0)}
    >>> in_fitted_units(cell, fit)["Pb"][["cross_section", "cross_section_sd"]].round(5).values.tolist()
    [[0.009, 0.0009], [0.019, 0.00095]]
    """
    out = {}
    for t, cell in cell_tables.items():
        fit = fitted_tables[t].set_index(["count", "n_minor"])["cross_section"]
        values = fit.reindex(list(zip(cell["count"], cell["n_minor"]))).to_numpy()
        spread = cell["cross_section_sd"].to_numpy() / cell["cross_section"].to_numpy()
        out[t] = cell.assign(cross_section=values, cross_section_sd=spread * values)
    return out
