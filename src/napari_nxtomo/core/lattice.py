"""Crystal lattices and particle shapes on an integer grid.

Every structure the project handles (rocksalt PbSe, zincblende CdSe with a Se
sublattice coherent with the rocksalt one) is built on the cubic grid of
quarter lattice parameters: an atom sits at ``q * a / 4`` with ``q`` an
integer 3-vector.  Integer coordinates make column membership along any
low-index zone axis exact (see :mod:`napari_nxtomo.core.geometry`) and are the
lattice the discrete tomography later works on.

Lengths are in ångström.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: fcc translations in quarter-lattice units
FCC_TRANSLATIONS_Q = np.array([[0, 0, 0], [0, 2, 2], [2, 0, 2], [2, 2, 0]], dtype=np.int64)


@dataclass(frozen=True)
class Crystal:
    """A cubic crystal with an fcc Bravais lattice.

    Parameters
    ----------
    name : str
        Human-readable name, e.g. ``"PbSe (rocksalt)"``.
    lattice_parameter : float
        Cubic lattice parameter *a* in Å.
    basis : dict of str to tuple of int
        Element symbol to its basis position in quarter-lattice units
        (``(2, 0, 0)`` is ``(a/2, 0, 0)``).  Each basis atom is repeated by the
        fcc translations.

    Examples
    --------
    >>> q, elements = ROCKSALT_PBSE.sites(3.1)
    >>> len(q), sorted(set(elements.tolist())), ROCKSALT_PBSE.to_angstrom(q[:1]).shape
    (27, ['Pb', 'Se'], (1, 3))
    """

    name: str
    lattice_parameter: float
    basis: dict = field(default_factory=dict)

    @property
    def quarter(self) -> float:
        """Length of one grid step, a/4, in Å."""
        return self.lattice_parameter / 4.0

    def sites(self, half_extent: float, element: str | None = None):
        """All sites of the crystal inside a cube centred on the origin.

        Parameters
        ----------
        half_extent : float
            Half the edge of the cube, in Å.
        element : str, optional
            Only the sites of this element.

        Returns
        -------
        q : (N, 3) int64 ndarray
            Grid coordinates in quarter-lattice units (x, y, z).
        elements : (N,) ndarray of str
            Element symbol of each site.
        """
        n = int(np.ceil(half_extent / self.lattice_parameter)) + 1
        cells = np.arange(-n, n + 1) * 4
        cx, cy, cz = np.meshgrid(cells, cells, cells, indexing="ij")
        origins = np.stack([cx.ravel(), cy.ravel(), cz.ravel()], axis=1)
        lim = half_extent / self.quarter
        qs, els = [], []
        for el, b in self.basis.items():
            if element is not None and el != element:
                continue
            q = (origins[:, None, :] + FCC_TRANSLATIONS_Q[None, :, :] + np.asarray(b)).reshape(-1, 3)
            q = q[np.all(np.abs(q) <= lim, axis=1)]
            qs.append(q)
            els.append(np.full(len(q), el))
        if not qs:
            raise ValueError(f"{self.name} has no element {element!r}; it has {sorted(self.basis)}")
        return np.concatenate(qs).astype(np.int64), np.concatenate(els)

    def to_angstrom(self, q) -> np.ndarray:
        """Quarter-lattice grid coordinates to positions in Å (x, y, z)."""
        return np.asarray(q, dtype=float) * self.quarter


#: PbSe, rocksalt: Pb on the fcc sites, Se on the octahedral sites.
ROCKSALT_PBSE = Crystal("PbSe (rocksalt)", 6.12, {"Pb": (0, 0, 0), "Se": (2, 0, 0)})

#: CdSe, zincblende, set on the same Se sublattice as :data:`ROCKSALT_PBSE`
#: (the coherent Se sublattice of cation-exchanged PbSe/CdSe): Cd on the
#: tetrahedral sites a(1/4, 1/4, 1/4) away from Se.
ZINCBLENDE_CDSE = Crystal("CdSe (zincblende)", 6.12, {"Se": (2, 0, 0), "Cd": (3, 1, 1)})


#: outward unit normals of the six {100} facets (x, y, z)
CUBE_NORMALS = np.concatenate([np.eye(3), -np.eye(3)])

#: outward unit normals of the eight {111} facets
OCTAHEDRON_NORMALS = np.array(
    [(sx, sy, sz) for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float
) / np.sqrt(3.0)

#: how far (Å) outside a facet a site still counts as inside (sites on a facet are in)
FACET_TOLERANCE = 1e-6


def facets_mask(positions, normals, distances, depth: float = 0.0) -> np.ndarray:
    """Sites inside a convex polyhedron given by its facets, at least ``depth`` Å deep.

    Parameters
    ----------
    positions : (N, 3) array
        Positions in Å relative to the particle centre.
    normals : (K, 3) array
        Outward unit normals of the facets.
    distances : (K,) array
        Distance (Å) of each facet from the centre.
    depth : float
        Keep only sites at least this far (Å) inside every facet (0: the whole
        polyhedron, its surface included).

    Returns
    -------
    (N,) bool ndarray

    Examples
    --------
    >>> cube = facets_mask([[0.0, 0.0, 0.9], [0.0, 0.0, 1.1]], CUBE_NORMALS, np.ones(6))
    >>> cube.tolist()
    [True, False]
    """
    p = np.asarray(positions, dtype=float)
    d = np.asarray(distances, dtype=float)
    return np.all(p @ np.asarray(normals, dtype=float).T <= d[None, :] - depth + FACET_TOLERANCE, axis=1)


def cuboctahedron_facets(half_width: float, half_diagonal: float | None = None):
    """The {100} and {111} facets of a cuboctahedron: ``(normals, distances)``.

    Parameters
    ----------
    half_width : float
        Distance from the centre to the {100} facets, in Å.
    half_diagonal : float, optional
        The {111} facets are ``|x| + |y| + |z| <= half_diagonal`` (Å); the
        default ``2 * half_width`` gives the regular cuboctahedron.

    Returns
    -------
    normals : (14, 3) ndarray
        The six {100} normals, then the eight {111} ones.
    distances : (14,) ndarray
        Å.

    Examples
    --------
    >>> normals, distances = cuboctahedron_facets(3.0)
    >>> normals.shape, [round(float(d), 4) for d in distances[[0, 6]]]
    ((14, 3), [3.0, 3.4641])
    """
    if half_diagonal is None:
        half_diagonal = 2.0 * half_width
    distances = np.concatenate([np.full(6, float(half_width)), np.full(8, half_diagonal / np.sqrt(3.0))])
    return np.concatenate([CUBE_NORMALS, OCTAHEDRON_NORMALS]), distances


def cuboctahedron_mask(positions, half_width: float, half_diagonal: float | None = None) -> np.ndarray:
    """Sites inside a cuboctahedron bounded by {100} and {111} planes (:func:`cuboctahedron_facets`).

    Parameters
    ----------
    positions : (N, 3) array
        Positions in Å relative to the particle centre.
    half_width, half_diagonal : float
        As :func:`cuboctahedron_facets` (Å).

    Returns
    -------
    (N,) bool ndarray

    Examples
    --------
    >>> q, _ = ROCKSALT_PBSE.sites(10.0, "Pb")
    >>> int(cuboctahedron_mask(ROCKSALT_PBSE.to_angstrom(q), 6.12).sum())
    55
    """
    return facets_mask(positions, *cuboctahedron_facets(half_width, half_diagonal))


def capsule_mask(positions, radius: float, half_length: float, axis: int = 2) -> np.ndarray:
    """Sites inside a rod: a cylinder of ``radius`` with hemispherical caps.

    Parameters
    ----------
    positions : (N, 3) array
        Positions in Å relative to the rod centre.
    radius : float
        Rod radius in Å.
    half_length : float
        Half the length of the cylindrical part (Å); the rod is
        ``2 * (half_length + radius)`` long.
    axis : int
        Rod axis, 0, 1 or 2 for x, y, z.

    Examples
    --------
    >>> capsule_mask([[0.0, 0.0, 6.0], [0.0, 0.0, 8.0], [2.5, 0.0, 0.0]], radius=2.0, half_length=5.0).tolist()
    [True, False, False]
    """
    p = np.asarray(positions, dtype=float)
    along = np.clip(p[:, axis], -half_length, half_length)
    d = p.copy()
    d[:, axis] -= along
    return np.einsum("ij,ij->i", d, d) <= radius**2 + 1e-6


def coordination(q, neighbour_vectors) -> np.ndarray:
    """Number of occupied neighbours of every site of an integer grid set.

    Parameters
    ----------
    q : (N, 3) int array
        Occupied grid sites.
    neighbour_vectors : (K, 3) int array
        Offsets of the neighbours in the same grid units.

    Returns
    -------
    (N,) int ndarray

    Examples
    --------
    >>> q = np.array([[0, 0, 0], [2, 2, 0], [2, 0, 2], [8, 8, 8]])
    >>> coordination(q, FCC_NEIGHBOURS_Q).tolist()
    [2, 2, 2, 0]
    """
    q = np.asarray(q, dtype=np.int64)
    occupied = {tuple(v) for v in q}
    out = np.zeros(len(q), dtype=np.int64)
    for k, v in enumerate(q):
        out[k] = sum((v[0] + d[0], v[1] + d[1], v[2] + d[2]) in occupied for d in neighbour_vectors)
    return out


#: the 6 nearest neighbours of a rocksalt site on the other sublattice (a cation's anions), in quarter-lattice units
ROCKSALT_NEIGHBOURS_Q = np.array([(2, 0, 0), (-2, 0, 0), (0, 2, 0), (0, -2, 0), (0, 0, 2), (0, 0, -2)], dtype=np.int64)

#: the 12 nearest neighbours of an fcc site, in quarter-lattice units
FCC_NEIGHBOURS_Q = np.array(
    [
        (sx * 2, sy * 2, 0)
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]
    + [(sx * 2, 0, sz * 2) for sx in (-1, 1) for sz in (-1, 1)]
    + [(0, sy * 2, sz * 2) for sy in (-1, 1) for sz in (-1, 1)],
    dtype=np.int64,
)
