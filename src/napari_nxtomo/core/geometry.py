"""Projection geometry: crystal frame to image frame along a zone axis.

One geometry serves the synthetic image generator, the tomography solver and
its re-projection check.

Conventions
-----------
The beam runs along the zone axis ``[u v w]``.  The common tilt axis (for
example ``[001]``) is perpendicular to it and, with ``image_rotation = 0``,
points along the image rows (napari's first axis, *y*, downwards).  The
image column direction (*x*) completes a right-handed frame
``(row, col, beam)``: ``col = beam x row``.  ``image_rotation`` (degrees)
turns the crystal in the image plane, counter-clockwise as seen on screen.
Positions are in Å; projected positions are ``(row, col)`` = ``(y, x)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    n = np.linalg.norm(v)
    if v.shape != (3,) or n == 0:
        raise ValueError(f"a direction needs three numbers, not all zero; got {v.tolist()}")
    return v / n


@dataclass(frozen=True)
class ProjectionGeometry:
    """Orientation of one image relative to the crystal.

    Parameters
    ----------
    zone_axis : tuple of 3 ints
        Beam direction ``[u v w]`` in crystal coordinates.
    tilt_axis : tuple of 3 ints
        Common tilt axis, perpendicular to the zone axis (default ``[001]``).
    image_rotation : float
        In-plane rotation of the crystal in the image, degrees.

    Examples
    --------
    Along [110] with the tilt axis [001] on the image rows:

    >>> g = ProjectionGeometry((1, 1, 0), (0, 0, 1))
    >>> g.project([[0, 0, 6.12], [3.06, -3.06, 0]]).round(3).tolist()  # (row, col), Å
    [[6.12, 0.0], [0.0, 4.327]]
    >>> labels, centres = g.group_columns([[0, 0, 0], [3.06, 3.06, 0], [3.06, -3.06, 0]])
    >>> labels.tolist()  # the first two atoms share a column along the beam
    [0, 0, 1]
    """

    zone_axis: tuple = (1, 0, 0)
    tilt_axis: tuple = (0, 0, 1)
    image_rotation: float = 0.0

    def __post_init__(self):
        b, t = _unit(self.zone_axis), _unit(self.tilt_axis)
        if abs(b @ t) > 1e-9:
            raise ValueError(
                f"the tilt axis {list(self.tilt_axis)} must be perpendicular to the zone axis "
                f"{list(self.zone_axis)} (their dot product is {np.dot(self.zone_axis, self.tilt_axis)})"
            )

    @property
    def basis(self) -> np.ndarray:
        """(3, 3) array whose rows are the row, column and beam unit vectors in crystal coordinates."""
        b = _unit(self.zone_axis)
        r = _unit(self.tilt_axis)
        c = np.cross(b, r)
        phi = np.deg2rad(self.image_rotation)
        # rotate (r, c) in the image plane
        r2 = np.cos(phi) * r - np.sin(phi) * c
        c2 = np.sin(phi) * r + np.cos(phi) * c
        return np.stack([r2, c2, b])

    @property
    def tilt_direction(self) -> np.ndarray:
        """Unit vector of the tilt axis in the image, as ``(row, col)``."""
        phi = np.deg2rad(self.image_rotation)
        return np.array([np.cos(phi), np.sin(phi)])

    def project(self, positions) -> np.ndarray:
        """Project 3D positions (Å, crystal frame ``(x, y, z)``) to ``(row, col)`` in Å."""
        p = np.asarray(positions, dtype=float).reshape(-1, 3)
        return p @ self.basis[:2].T

    def depth(self, positions) -> np.ndarray:
        """Coordinate along the beam (Å) of 3D positions."""
        p = np.asarray(positions, dtype=float).reshape(-1, 3)
        return p @ self.basis[2]

    def group_columns(self, positions, tolerance: float = 0.05):
        """Group atoms into columns along the beam.

        Atoms whose projected positions lie within ``tolerance`` (Å) of each
        other (transitively) form one column.

        Parameters
        ----------
        positions : (N, 3) array
            Atom positions in Å.
        tolerance : float
            Projected distance in Å under which two atoms share a column.

        Returns
        -------
        labels : (N,) int ndarray
            Column index of each atom, numbered in order of first appearance
            after sorting the columns by (row, col).
        centres : (M, 2) ndarray
            Mean projected position ``(row, col)`` of each column, Å.
        """
        yx = self.project(positions)
        n = len(yx)
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 2))
        pairs = cKDTree(yx).query_pairs(tolerance, output_type="ndarray")
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        m, labels = connected_components(graph, directed=False)
        centres = np.zeros((m, 2))
        np.add.at(centres, labels, yx)
        centres /= np.bincount(labels, minlength=m)[:, None]
        order = np.lexsort((centres[:, 1], centres[:, 0]))
        rank = np.empty(m, dtype=np.int64)
        rank[order] = np.arange(m)
        return rank[labels], centres[order]
