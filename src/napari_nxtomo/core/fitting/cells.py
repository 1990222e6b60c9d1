"""Cell-integrated cross-sections: the image summed over each column's Voronoi cell (no model).

The probe-integrated scattering cross-section of a column (E et al.,
Ultramicroscopy 2013) is the signal of every probe position nearer to that
column than to any other, times the pixel area.  It is what a simulated
library (:mod:`napari_nxtomo.core.library`) integrates over the column's cell
of a bulk crystal, so it measures the same thing with no fitted shape: a check
of the Gaussian volumes (which hold less of a thin column's signal than of a
thick one's) and of a library against an image.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def cell_cross_sections(image, pixel_size: float, positions, max_radius: float, background: float = 0.0):
    """The image summed over each column's Voronoi cell, minus the background, times the pixel area.

    Parameters
    ----------
    image : (H, W) array
        Pixel ``[i, j]`` is the probe at ``(y, x) = (i, j) · pixel_size``.
    pixel_size : float
        Å.
    positions : (N, 2) array
        Column positions ``(y, x)``, Å: every column of the image (all types), or the cells of those left out go to
        their neighbours.
    max_radius : float
        Å; pixels farther than this from every column belong to no cell (vacuum around a particle).  The corner of a
        bulk cell lies √2/2 of the column spacing from its column on a square lattice.
    background : float
        Image units per pixel, subtracted from every pixel of a cell.

    Returns
    -------
    cross_sections : (N,) ndarray
        Image units × Å² (fraction of the beam × Å² for an image in fraction of the beam per pixel).
    areas : (N,) ndarray
        Cell areas, Å².

    Examples
    --------
    Two columns of 1 and 3 units, each spread over a 3 × 3 patch, 0.5 Å pixels:

    >>> img = np.zeros((6, 12)); img[1:4, 1:4] = 1 / 9; img[1:4, 7:10] = 3 / 9
    >>> cs, area = cell_cross_sections(img, 0.5, [[1.0, 1.0], [1.0, 4.0]], max_radius=2.0)
    >>> np.round(cs / 0.25, 6).tolist()
    [1.0, 3.0]
    """
    image = np.asarray(image, dtype=float)
    pos = np.asarray(positions, dtype=float).reshape(-1, 2)
    if image.ndim != 2 or pos.shape[0] == 0:
        raise ValueError("cell_cross_sections needs a 2D image and at least one column position (y, x) in Å")
    if not (pixel_size > 0 and max_radius > 0):
        raise ValueError(f"pixel_size and max_radius must be positive (Å), got {pixel_size}, {max_radius}")
    h, w = image.shape
    yy, xx = np.mgrid[0:h, 0:w]
    dist, owner = cKDTree(pos).query(np.column_stack([yy.ravel(), xx.ravel()]) * pixel_size)
    inside = dist <= max_radius
    values = image.ravel()[inside] - background
    n = pos.shape[0]
    cs = np.bincount(owner[inside], weights=values, minlength=n) * pixel_size**2
    areas = np.bincount(owner[inside], minlength=n) * pixel_size**2
    return cs, areas
