"""The periodic bulk cell of a library: the crystal oriented along a zone axis, its columns and their cells.

Pure numpy (no abTEM): :func:`oriented_cell` lays the crystal's periodic cell
with the beam along z, :func:`column_composition` says which atoms each
projected column holds after each atomic layer, and
:func:`integrate_cells` sums a scanned signal over the (Voronoi) cell of each
column.  Lengths in Å.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lattice import FCC_TRANSLATIONS_Q, ROCKSALT_PBSE, ZINCBLENDE_CDSE, Crystal

#: atomic numbers of the elements the shipped crystals hold (others are looked up in ASE)
ATOMIC_NUMBERS = {"S": 16, "Zn": 30, "Se": 34, "Cd": 48, "Te": 52, "Pb": 82}
#: rocksalt lattice parameters (Å) of the crystals known by name
KNOWN_CRYSTALS = {"PbSe": ("Pb", "Se", 6.12), "PbS": ("Pb", "S", 5.936), "PbTe": ("Pb", "Te", 6.46)}
#: zincblende crystals known by name: the core-shell particles' shell, its Se lattice the PbSe core's
ZINCBLENDE_CRYSTALS = {"CdSe": ZINCBLENDE_CDSE}


def atomic_number(element: str) -> int:
    """Atomic number of ``element`` (a small table, then ASE's).

    Examples
    --------
    >>> atomic_number("Pb"), atomic_number("Se")
    (82, 34)
    """
    if element in ATOMIC_NUMBERS:
        return ATOMIC_NUMBERS[element]
    try:
        from ase.data import atomic_numbers
    except ImportError as exc:  # pragma: no cover - ASE comes with abTEM
        raise ValueError(f"unknown element {element!r}: install ase or use Pb, Se, S, Cd, Te, Zn") from exc
    return int(atomic_numbers[element])


def resolve_crystal(crystal, lattice_parameter=None) -> tuple[str, Crystal]:
    """(name, Crystal) from a name ("PbSe", "PbS", "PbTe"; "CdSe" zincblende) or a :class:`~napari_nxtomo.core.lattice.Crystal`.

    Examples
    --------
    >>> name, c = resolve_crystal("PbS")
    >>> name, c.lattice_parameter, sorted(c.basis)
    ('PbS', 5.936, ['Pb', 'S'])
    >>> resolve_crystal(ROCKSALT_PBSE, lattice_parameter=6.124)[1].lattice_parameter
    6.124
    >>> resolve_crystal("CdSe")[1].basis
    {'Se': (2, 0, 0), 'Cd': (3, 1, 1)}
    """
    if isinstance(crystal, Crystal):
        a = crystal.lattice_parameter if lattice_parameter is None else float(lattice_parameter)
        name = "".join(sorted(crystal.basis, key=lambda e: -atomic_number(e)))
        return name, Crystal(crystal.name, a, dict(crystal.basis))
    if isinstance(crystal, str) and crystal in KNOWN_CRYSTALS:
        cation, anion, a0 = KNOWN_CRYSTALS[crystal]
        a = a0 if lattice_parameter is None else float(lattice_parameter)
        return crystal, Crystal(f"{crystal} (rocksalt)", a, {cation: (0, 0, 0), anion: (2, 0, 0)})
    if isinstance(crystal, str) and crystal in ZINCBLENDE_CRYSTALS:
        return resolve_crystal(ZINCBLENDE_CRYSTALS[crystal], lattice_parameter)
    raise ValueError(
        f"unknown crystal {crystal!r}: give one of {sorted({**KNOWN_CRYSTALS, **ZINCBLENDE_CRYSTALS})} or a napari_nxtomo.core.lattice.Crystal "
        "(e.g. ROCKSALT_PBSE)"
    )


def canonical_zone(zone_axis) -> tuple[int, int, int]:
    """The zone axis family of a cubic crystal: ⟨100⟩ → (1, 0, 0), ⟨110⟩ → (1, 1, 0).

    Examples
    --------
    >>> canonical_zone((0, 1, 0)), canonical_zone([-1, 0, 1])
    ((1, 0, 0), (1, 1, 0))
    """
    z = np.abs(np.asarray(zone_axis, dtype=int).ravel())
    if z.size != 3 or not z.any():
        raise ValueError(f"a zone axis is three integers such as (1, 1, 0); got {zone_axis!r}")
    z = z // np.gcd.reduce(z[z > 0])
    out = tuple(int(v) for v in sorted(z, reverse=True))
    if out not in ((1, 0, 0), (1, 1, 0)):
        raise ValueError(f"libraries are made along ⟨100⟩ and ⟨110⟩ zone axes; got {tuple(zone_axis)}")
    return out


#: rows: the cell's x, y and beam (z) directions in the crystal frame, and the cell lengths in units of a
_FRAMES = {
    (1, 0, 0): (np.array([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]]), (1.0, 1.0, 1.0)),
    (1, 1, 0): (np.array([[1.0, -1, 0] / np.sqrt(2), [0, 0, 1], [1, 1, 0] / np.sqrt(2)]),
                (1 / np.sqrt(2), 1.0, 1 / np.sqrt(2))),
}


@dataclass
class OrientedCell:
    """The crystal's periodic cell with the beam along z.

    ``positions`` (N, 3) Å inside ``lengths``; ``elements`` (N,); ``layers``
    the atomic layers' depths (Å, equally spaced, each in the middle of its
    slice); ``columns`` (M, 2) the projected column positions (Å).
    """

    positions: np.ndarray
    elements: np.ndarray
    lengths: np.ndarray
    layer_spacing: float
    columns: np.ndarray


def oriented_cell(crystal: Crystal, zone_axis) -> OrientedCell:
    """The smallest orthorhombic periodic cell of an fcc crystal with ``zone_axis`` along z.

    Atomic layers sit in the middle of slices of one layer spacing, so an
    exit plane after every slice gives the signal after every layer.

    Examples
    --------
    >>> cell = oriented_cell(ROCKSALT_PBSE, (1, 1, 0))
    >>> len(cell.positions), cell.columns.shape, round(cell.layer_spacing, 3)
    (4, (4, 2), 2.164)
    """
    rot, units = _FRAMES[canonical_zone(zone_axis)]
    a = crystal.lattice_parameter
    lengths = np.array(units) * a
    q = np.array([[i, j, k] for i in range(-2, 3) for j in range(-2, 3) for k in range(-2, 3)]) * 4
    pos, els = [], []
    for el, b in crystal.basis.items():
        sites = (q[:, None, :] + FCC_TRANSLATIONS_Q[None] + np.asarray(b)).reshape(-1, 3) * (a / 4)
        p = np.mod(np.round(sites @ rot.T, 6), np.round(lengths, 6))
        p = np.unique(np.round(p, 4) % np.round(lengths, 4), axis=0)
        pos.append(p)
        els += [el] * len(p)
    pos = np.concatenate(pos)
    depths = np.unique(np.round(pos[:, 2], 3))
    spacing = float(lengths[2] / depths.size)
    if not np.allclose(np.diff(depths), spacing, atol=1e-2):
        raise ValueError("the crystal's atomic layers along this zone axis are not equally spaced")
    pos[:, 2] = pos[:, 2] - depths[0] + 0.5 * spacing
    cols = np.unique(np.round(pos[:, :2], 3), axis=0)
    return OrientedCell(pos, np.array(els), lengths, spacing, cols)


def column_composition(cell: OrientedCell, n_layers: int) -> np.ndarray:
    """Atoms of each element in each column after each layer: (n_layers, n_columns, n_elements) int.

    Elements in the order of :func:`elements_by_weight`.

    Examples
    --------
    >>> cell = oriented_cell(ROCKSALT_PBSE, (1, 0, 0))
    >>> column_composition(cell, 3)[:, 0].tolist()
    [[1, 0], [1, 1], [2, 1]]
    """
    order = elements_by_weight(cell.elements)
    per_cell = cell.positions.shape[0]
    n_in_cell = int(round(cell.lengths[2] / cell.layer_spacing))
    layer = np.round((cell.positions[:, 2] / cell.layer_spacing) - 0.5).astype(int)
    col = np.argmin(np.abs(cell.positions[:, None, :2] - cell.columns[None]).sum(-1), axis=1)
    out = np.zeros((n_layers, len(cell.columns), len(order)), dtype=int)
    for i in range(per_cell):
        e = order.index(cell.elements[i])
        for j in range(layer[i], n_layers, n_in_cell):
            out[j:, col[i], e] += 1
    return out


def column_type_names(held, elements) -> list:
    """Each column's type from the atoms it holds (``held``: (columns, elements), elements heaviest first): its element,
    or ``"A+B"`` (heavy first) when it holds two, as the library's tables and the plugin name them.

    Examples
    --------
    >>> column_type_names(np.array([[1, 0], [0, 2], [3, 3]]), ["Pb", "Se"])
    ['Pb', 'Se', 'Pb+Se']
    """
    return ["+".join(e for e, h in zip(elements, row) if h > 0) for row in np.asarray(held)]


def elements_by_weight(elements) -> list:
    """The distinct elements, heaviest first.

    Examples
    --------
    >>> elements_by_weight(["Se", "Pb", "Se"])
    ['Pb', 'Se']
    """
    return sorted(set(np.asarray(elements).tolist()), key=lambda e: -atomic_number(e))


def tiled_cell(cell: OrientedCell, repeats) -> OrientedCell:
    """The cell repeated ``repeats`` = (r0, r1) times across the beam (the supercell a library scans whole).

    Examples
    --------
    >>> big = tiled_cell(oriented_cell(ROCKSALT_PBSE, (1, 0, 0)), (2, 2))
    >>> len(big.positions), big.columns.shape, big.lengths.tolist()
    (32, (16, 2), [12.24, 12.24, 6.12])
    """
    r0, r1 = (int(r) for r in repeats[:2])
    shifts = np.array([[i * cell.lengths[0], j * cell.lengths[1], 0.0] for i in range(r0) for j in range(r1)])
    positions = (cell.positions[None] + shifts[:, None]).reshape(-1, 3)
    columns = (cell.columns[None] + shifts[:, None, :2]).reshape(-1, 2)
    lengths = np.array([cell.lengths[0] * r0, cell.lengths[1] * r1, cell.lengths[2]])
    return OrientedCell(positions, np.tile(cell.elements, r0 * r1), lengths, cell.layer_spacing, columns)


def representative_columns(cell: OrientedCell) -> np.ndarray:
    """One column of each kind: columns whose atom sequences along z agree up to a depth shift are one kind.

    Returns the indices (into ``cell.columns``) of the column of each kind
    whose first atom lies in the earliest layer.

    Examples
    --------
    >>> representative_columns(oriented_cell(ROCKSALT_PBSE, (1, 1, 0))).tolist()
    [0, 1]
    >>> representative_columns(oriented_cell(ROCKSALT_PBSE, (1, 0, 0))).tolist()
    [0, 1]
    """
    per_cell = int(round(cell.lengths[2] / cell.layer_spacing))
    layer = np.round((cell.positions[:, 2] / cell.layer_spacing) - 0.5).astype(int)
    owner = np.argmin(np.abs(cell.positions[:, None, :2] - cell.columns[None]).sum(-1), axis=1)
    kinds, out = {}, []
    for k in range(len(cell.columns)):
        seq = [""] * per_cell
        for i in np.flatnonzero(owner == k):
            seq[layer[i]] = str(cell.elements[i])
        first = min(j for j in range(per_cell) if seq[j])
        key = tuple(seq[first:] + seq[:first])
        if key not in kinds or first < kinds[key][0]:
            kinds[key] = (first, k)
    return np.array(sorted(k for _, k in kinds.values()))


def cell_owner(shape, spacing, lengths, columns) -> np.ndarray:
    """The column owning each point of the midpoint grid (n0 · n1,): the nearest one, periodically.

    Examples
    --------
    >>> cell_owner((2, 1), (1.0, 1.0), (2.0, 1.0), np.array([[0.5, 0.5], [1.5, 0.5]])).tolist()
    [0, 1]
    """
    gx, gy = np.meshgrid((np.arange(shape[0]) + 0.5) * spacing[0], (np.arange(shape[1]) + 0.5) * spacing[1],
                         indexing="ij")
    d = np.stack([gx.ravel(), gy.ravel()], axis=1)[:, None, :] - np.asarray(columns)[None]
    d -= np.round(d / np.asarray(lengths[:2])) * np.asarray(lengths[:2])
    # ties (a point on a cell boundary) go to the lower index, the same way every time
    return np.argmin(np.round((d**2).sum(-1), 9), axis=1)


def scan_grid(lengths, step: float, owner=None, keep=None):
    """Midpoint scan grid over the projected cell: (positions (P, 2) Å, full grid shape, spacing, mask).

    With ``owner`` (:func:`cell_owner`) and ``keep`` (column indices) only the
    points in the cells of those columns are scanned; ``mask`` marks them on
    the full grid.

    Examples
    --------
    >>> pos, shape, h, mask = scan_grid((4.0, 6.0), 0.5)
    >>> pos.shape, shape, h, int(mask.sum())
    ((96, 2), (8, 12), (0.5, 0.5), 96)
    """
    n = [2 * int(np.ceil(L / step / 2)) for L in lengths[:2]]
    h = (float(lengths[0] / n[0]), float(lengths[1] / n[1]))
    gx, gy = np.meshgrid((np.arange(n[0]) + 0.5) * h[0], (np.arange(n[1]) + 0.5) * h[1], indexing="ij")
    pos = np.stack([gx.ravel(), gy.ravel()], axis=1)
    mask = np.ones(len(pos), dtype=bool) if owner is None else np.isin(owner, keep)
    return pos[mask], tuple(n), h, mask


def integrate_cells(signal, shape, spacing, lengths, columns) -> np.ndarray:
    """Sum of a full-grid signal (..., n0, n1) over each column's periodic Voronoi cell × the pixel area.

    Returns (..., n_columns) in signal units × Å².

    Examples
    --------
    >>> s = np.ones((4, 2))
    >>> integrate_cells(s, (4, 2), (0.5, 0.5), (2.0, 1.0), np.array([[0.5, 0.5], [1.5, 0.5]])).tolist()
    [1.0, 1.0]
    """
    owner = cell_owner(shape, spacing, lengths, columns)
    flat = np.asarray(signal).reshape(np.shape(signal)[:-2] + (-1,))
    onehot = np.eye(len(columns))[owner]
    return flat @ onehot * (spacing[0] * spacing[1])
