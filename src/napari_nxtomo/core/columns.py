"""Column types: split the atomic columns of one image into two kinds.

Along [110] of rocksalt PbSe, pure Pb columns and pure Se columns alternate
in a chequerboard on the projected (rectangular) lattice: every nearest
neighbour of a Pb column is a Se column.  Two ways tell them apart:

``"parity"``
    Index every column on the projected 2D lattice found from the columns
    themselves (the two shortest independent neighbour vectors), walking the
    neighbour graph so that a slowly varying scan distortion does not break
    the indexing, and split by the parity ``(i + j) mod 2``.  The sublattice
    with the larger median cross-section is the heavy element.  Works however
    thick the particle is (a thick Se column can outshine a thin Pb one).
``"intensity"``
    Two classes of the cross-section (or peak height): a split at the largest
    gap in log-volume found by a two-class Otsu threshold.  Works for thin
    crystals and mixed supports, fails where the ranges overlap.

Along [100] every column holds Pb and Se in turn: one type, mixed ("Pb+Se"),
no split (see :func:`napari_nxtomo.core.counting.count_atoms`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.spatial import cKDTree


def lattice_vectors(positions, *, max_neighbours: int = 6):
    """The two shortest independent nearest-neighbour vectors of a set of columns.

    Parameters
    ----------
    positions : (N, 2) array
        Column positions ``(row, col)`` in Å, N ≥ 3.
    max_neighbours : int
        Neighbours per column that are looked at.

    Returns
    -------
    (2, 2) ndarray
        Rows are the lattice vectors ``a1``, ``a2`` in Å (``|a1| <= |a2|``),
        each the median of the neighbour vectors of its direction.

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.stack(np.meshgrid(np.arange(4), np.arange(5), indexing="ij"), -1).reshape(-1, 2)
    >>> lattice_vectors(grid * [3.06, 4.33]).round(2).tolist()  # Å
    [[3.06, 0.0], [0.0, 4.33]]
    """
    p = _check_positions(positions, 3)
    k = min(max_neighbours, len(p) - 1)
    d, idx = cKDTree(p).query(p, k + 1)
    d, idx = d[:, 1:], idx[:, 1:]
    nn = float(np.median(d[:, 0]))
    if not nn > 0:
        raise ValueError("several columns sit on the same spot: remove the duplicates first")
    vec = (p[idx] - p[:, None, :]).reshape(-1, 2)
    vec = vec[(np.linalg.norm(vec, axis=1) < 1.6 * nn)]
    # fold v and -v together
    flip = (vec[:, 0] < 0) | ((vec[:, 0] == 0) & (vec[:, 1] < 0))
    vec[flip] *= -1
    ang = np.arctan2(vec[:, 1], vec[:, 0])  # in (-pi/2, pi/2]
    # cluster the directions (bins of 10°, merged around the peak)
    found = []
    remaining = np.ones(len(vec), dtype=bool)
    for _ in range(2):
        if not remaining.any():
            break
        hist, edges = np.histogram(ang[remaining], bins=36, range=(-np.pi / 2, np.pi / 2))
        centre = 0.5 * (edges[np.argmax(hist)] + edges[np.argmax(hist) + 1])
        dang = np.angle(np.exp(2j * (ang - centre))) / 2  # wrap by pi
        member = remaining & (np.abs(dang) < np.deg2rad(12))
        v = vec[member]
        # align the signs with the cluster direction before the median
        ref = np.array([np.cos(centre), np.sin(centre)])
        v = v * np.sign(v @ ref)[:, None]
        found.append(np.median(v, axis=0))
        remaining &= np.abs(dang) >= np.deg2rad(25)
    if len(found) < 2:
        raise ValueError("the columns do not form a 2D lattice (all neighbours lie along one line)")
    a = np.array(sorted(found, key=np.linalg.norm))
    return a


def index_columns(positions, vectors=None):
    """Integer lattice indices ``(i, j)`` of every column.

    The indices are propagated along the nearest-neighbour graph (each step
    rounds a neighbour's displacement in the local lattice basis), so a scan
    distortion that bends the lattice slowly does not break them.

    Parameters
    ----------
    positions : (N, 2) array
        Column positions ``(row, col)``, Å.
    vectors : (2, 2) array, optional
        Lattice vectors (rows), Å.  Default :func:`lattice_vectors`.

    Returns
    -------
    ij : (N, 2) int ndarray
        Lattice indices; columns not connected to the largest group of
        neighbours are indexed from the global lattice.
    vectors : (2, 2) ndarray

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.stack(np.meshgrid(np.arange(4), np.arange(5), indexing="ij"), -1).reshape(-1, 2)
    >>> ij, vectors = index_columns(grid * [3.06, 4.33] + [1.0, 2.0])
    >>> (ij - ij[0]).max(axis=0).tolist(), len(np.unique(ij, axis=0))
    ([3, 4], 20)
    """
    p = _check_positions(positions, 3)
    a = lattice_vectors(p) if vectors is None else np.asarray(vectors, dtype=float)
    inv = np.linalg.inv(a.T)
    reach = 1.25 * float(np.linalg.norm(a[1]))
    pairs = cKDTree(p).query_pairs(reach, output_type="ndarray")
    n = len(p)
    ij = np.full((n, 2), np.iinfo(np.int64).min, dtype=np.int64)
    if len(pairs):
        g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
        g = g + g.T
    else:
        g = coo_matrix((n, n)).tocsr()
    n_comp, comp = connected_components(g, directed=False)
    for c in range(n_comp):
        members = np.flatnonzero(comp == c)
        start = members[0]
        order, pred = breadth_first_order(g, start, directed=False, return_predecessors=True)
        ij[start] = np.rint(inv @ (p[start] - p[0])).astype(np.int64)
        for node in order[1:]:
            parent = pred[node]
            step = np.rint(inv @ (p[node] - p[parent])).astype(np.int64)
            ij[node] = ij[parent] + step
    return ij, a


def split_types(positions, volumes, method: str = "parity", names=("Pb", "Se")) -> np.ndarray:
    """Split columns into a heavy and a light type.

    Parameters
    ----------
    positions : (N, 2) array
        Column positions ``(row, col)``, Å.
    volumes : (N,) array
        Cross-sections (peak volumes) of the columns (fitted, or a proxy such
        as the peak height), used to tell which class is the heavy one.
    method : {"parity", "intensity"}
        See the module docstring.
    names : (str, str)
        Names of the heavy and of the light type.

    Returns
    -------
    (N,) ndarray of str

    Examples
    --------
    A 4 × 4 chequerboard of heavy (volume 4) and light (1.5) columns, 3 Å apart:

    >>> import numpy as np
    >>> from napari_nxtomo.core.columns import split_types
    >>> ij = np.array([(i, j) for i in range(4) for j in range(4)])
    >>> volumes = np.where(ij.sum(axis=1) % 2 == 0, 4.0, 1.5)
    >>> print(split_types(3.0 * ij, volumes).reshape(4, 4))
    [['Pb' 'Se' 'Pb' 'Se']
     ['Se' 'Pb' 'Se' 'Pb']
     ['Pb' 'Se' 'Pb' 'Se']
     ['Se' 'Pb' 'Se' 'Pb']]
    """
    p = _check_positions(positions, 3)
    v = np.asarray(volumes, dtype=float).ravel()
    if v.shape != (len(p),):
        raise ValueError(f"{len(p)} positions but {v.size} volumes")
    if not np.all(np.isfinite(v)):
        raise ValueError("some cross-sections are NaN or infinite: fit the columns again")
    heavy, light = names
    if method == "parity":
        ij, _ = index_columns(p)
        parity = (ij.sum(axis=1) % 2).astype(bool)
        if parity.all() or not parity.any():
            raise ValueError("lattice parity gives one class only: the columns do not alternate")
        first_heavy = np.median(v[parity]) > np.median(v[~parity])
        is_heavy = parity if first_heavy else ~parity
    elif method == "intensity":
        from skimage.filters import threshold_otsu

        lv = np.log(np.clip(v, np.max(v) * 1e-6 if np.max(v) > 0 else 1e-12, None))
        if np.ptp(lv) == 0:
            raise ValueError("all columns have the same cross-section: nothing to split by intensity")
        is_heavy = lv > threshold_otsu(lv)
    else:
        raise ValueError(f"method must be 'parity' or 'intensity', not {method!r}")
    return np.where(is_heavy, heavy, light).astype(object).astype(str)


def _check_positions(positions, n_min: int) -> np.ndarray:
    p = np.asarray(positions, dtype=float)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"positions must be an (N, 2) array of (row, col) in Å, got shape {p.shape}")
    if len(p) < n_min:
        raise ValueError(f"at least {n_min} columns are needed, got {len(p)}")
    if not np.all(np.isfinite(p)):
        raise ValueError("some column positions are NaN or infinite")
    return p


#: rules for the column types of one image
TYPE_RULES = ("auto", "one", "mixed", "parity", "intensity", "given", "sublattice")


def type_rule_for_zone(zone_axis) -> str:
    """The column-type rule a rocksalt zone axis implies.

    ``<100>``: every column holds both elements in turn (``"mixed"``);
    ``<110>``: pure columns of either element alternate (``"parity"``);
    otherwise, or without a zone axis, ``"one"``.

    Examples
    --------
    >>> type_rule_for_zone((1, 0, 0)), type_rule_for_zone((1, 1, 0)), type_rule_for_zone((1, 1, 1))
    ('mixed', 'parity', 'one')
    """
    if zone_axis is None or len(zone_axis) != 3:
        return "one"
    family = tuple(sorted(abs(int(v)) for v in zone_axis))
    return {(0, 0, 1): "mixed", (0, 1, 1): "parity"}.get(family, "one")


#: sites of one cubic cell in quarter-lattice units: cations on fcc, anions shifted by (2,0,0) or (1,1,1)
_FCC_Q = np.array([[0, 0, 0], [0, 2, 2], [2, 0, 2], [2, 2, 0]])
_STRUCTURE_SHIFT = {"rocksalt": [(2, 0, 0)], "zincblende": [(1, 1, 1)], "fcc": [],
                    # a rocksalt core in a zincblende shell on one anion sublattice (PbSe/CdSe): cations of both
                    "core-shell": [(2, 0, 0), (3, 1, 1)]}

#: the peak finder's minimum distance as a share of the nearest projected column spacing
MIN_DISTANCE_SHARE = 0.65


#: the smallest column spacing kept when the image does not say its zone axis and lattice parameter, Å
DEFAULT_MIN_DISTANCE = 1.4


def min_distance_for(metadata: dict) -> tuple[float, str]:
    """The smallest column spacing (Å) to keep when finding the columns of an image, and why.

    ``MIN_DISTANCE_SHARE`` × the projected column spacing when the metadata give
    ``zone_axis`` and ``lattice_parameter`` (and ``structure``, default rocksalt),
    else :data:`DEFAULT_MIN_DISTANCE`.

    Examples
    --------
    >>> min_distance_for({"zone_axis": (1, 0, 0), "lattice_parameter": 6.12})[0]
    1.99
    >>> min_distance_for({})
    (1.4, 'the default (the image does not give its zone axis and lattice parameter)')
    """
    try:
        spacing = column_spacing(metadata["zone_axis"], float(metadata["lattice_parameter"]),
                                 metadata.get("structure", "rocksalt"))
    except (KeyError, TypeError, ValueError):
        return DEFAULT_MIN_DISTANCE, "the default (the image does not give its zone axis and lattice parameter)"
    return round(MIN_DISTANCE_SHARE * spacing, 2), f"{MIN_DISTANCE_SHARE} × the {spacing:.2f} Å column spacing"


def column_spacing(zone_axis, lattice_parameter: float, structure: str = "rocksalt") -> float:
    """Nearest distance (Å) between two projected atomic columns of a cubic crystal along a zone axis.

    Parameters
    ----------
    zone_axis : 3 ints, e.g. (1, 1, 0)
    lattice_parameter : float
        Cubic cell edge, Å.
    structure : {"rocksalt", "zincblende", "fcc", "core-shell"}
        ``"core-shell"``: a rocksalt core in a zincblende shell that shares
        its anion sublattice (both cation sublattices).

    Examples
    --------
    >>> round(column_spacing((1, 0, 0), 6.12), 3), round(column_spacing((1, 1, 0), 6.12), 3)
    (3.06, 2.164)
    >>> round(column_spacing((1, 1, 0), 6.12, "core-shell"), 3)  # the Cd-Se dumbbell
    1.53
    >>> round(column_spacing((1, 0, 0), 6.08, "zincblende"), 3)
    2.15
    """
    flat = projected_columns(zone_axis, lattice_parameter, structure)
    d, _ = cKDTree(flat).query(flat, k=2)
    return float(d[:, 1].min())


def projected_columns(zone_axis, lattice_parameter: float, structure: str = "rocksalt") -> np.ndarray:
    """The distinct projected column positions of a few cells of a cubic crystal along a zone axis, (N, 3) Å.

    The positions are in the plane normal to the zone axis (3D coordinates,
    x, y, z), centred on a column; :func:`column_spacing` is their nearest
    distance.

    Examples
    --------
    >>> flat = projected_columns((1, 0, 0), 4.0, "fcc")
    >>> sorted({round(float(np.linalg.norm(v)), 2) for v in flat})[:3]
    [0.0, 2.0, 2.83]
    """
    if structure not in _STRUCTURE_SHIFT:
        raise ValueError(f"structure must be one of {sorted(_STRUCTURE_SHIFT)}; got {structure!r}")
    zone = np.asarray(zone_axis, dtype=float)
    if zone.shape != (3,) or not np.any(zone):
        raise ValueError(f"the zone axis must be three integers such as (1, 1, 0); got {zone_axis!r}")
    cells = np.stack(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij"), -1).reshape(-1, 1, 3) * 4
    q = (cells + _FCC_Q).reshape(-1, 3)
    q = np.vstack([q] + [q + np.asarray(shift) for shift in _STRUCTURE_SHIFT[structure]])
    zone /= np.linalg.norm(zone)
    xyz = q * (lattice_parameter / 4.0)
    return np.unique(np.round(xyz - np.outer(xyz @ zone, zone), 6), axis=0)


def holds_element(types, element: str) -> np.ndarray:
    """Which columns hold ``element``: type ``element`` or a mixed ``element+...`` type.

    Examples
    --------
    >>> holds_element(["Pb", "Se", "Pb+Se"], "Pb").tolist()
    [True, False, True]
    """
    t = pd.Series(np.asarray(types).astype(str))
    return ((t == element) | t.str.startswith(element + "+")).to_numpy()


def fit_typed_columns(image, pixel_size, positions, rule="auto", *, zone_axis=None, names=("Pb", "Se"),
                      types=None, lattice_parameter=None, structure=None, progress=None, cancel=None,
                      fit_options=None):
    """Fit the columns of one image with the column types a rule gives.

    Parameters
    ----------
    image, pixel_size, positions
        As :func:`napari_nxtomo.core.fitting.fit_columns`.
    rule : {"auto", "one", "mixed", "parity", "intensity", "given", "sublattice"}
        ``"auto"``: ``"sublattice"`` for a core–shell particle
        (``structure="core-shell"``) with its zone axis and lattice parameter,
        else :func:`type_rule_for_zone` of ``zone_axis`` (``"given"``
        when ``types`` holds several types and there is no zone axis).
        ``"one"``: one type ``"column"``; ``"mixed"``: one type
        ``"<heavy>+<light>"`` (counted as mixed columns by
        :func:`~napari_nxtomo.core.counting.count_atoms`); ``"parity"`` /
        ``"intensity"``: fit with one type, split by :func:`split_types`, fit
        again with one width per type; ``"given"``: the ``types`` passed;
        ``"sublattice"``: fit with one type, type every column by the
        sublattice it sits on (:func:`~napari_nxtomo.core.sublattices.assign_sublattices`:
        ``"Pb+Se"``, ``"Cd"`` along ⟨100⟩; ``"Pb"``, ``"Se"``, ``"Cd"`` along
        ⟨110⟩), drop the columns on no site (``attrs["off_lattice_columns"]``)
        and fit again with one width per type.
    zone_axis : (3,) ints, optional
    names : (str, str)
        Heavy and light element.
    types : (N,) array of str, optional
        The columns' own types, for ``"given"``.
    lattice_parameter : float, optional
        Å, for ``"sublattice"``.
    structure : str, optional
        ``"core-shell"`` makes ``"auto"`` choose ``"sublattice"``.
    fit_options : dict, optional
        Further keywords of every :func:`~napari_nxtomo.core.fitting.fit_columns`
        call, e.g. ``{"weighting": "uniform", "background_degree": 2}``.

    Returns
    -------
    pandas.DataFrame
        The table of :func:`~napari_nxtomo.core.fitting.fit_columns`; its
        ``attrs["type_rule"]`` says which rule was applied.

    Examples
    --------
    A [110]-like chequerboard of heavy (Pb: volume 4 Å², width 0.45 Å) and
    light (Se: 1.5 Å², 0.4 Å) columns, split by lattice parity and fitted
    with one width per type:

    >>> import numpy as np
    >>> import pandas as pd
    >>> from napari_nxtomo.core.columns import fit_typed_columns
    >>> from napari_nxtomo.core.fitting import model_image
    >>> ij = np.array([(i, j) for i in range(4) for j in range(4)])
    >>> positions = 2.0 + 3.0 * ij  # Å
    >>> heavy = ij.sum(axis=1) % 2 == 0
    >>> truth = pd.DataFrame({"y": positions[:, 0], "x": positions[:, 1],
    ...                       "volume": np.where(heavy, 4.0, 1.5), "width": np.where(heavy, 0.45, 0.4)})
    >>> clean = model_image((65, 65), 0.2, truth, background=0.01)
    >>> dose = 1e5 * 0.2**2  # electrons per pixel
    >>> image = np.random.default_rng(0).poisson(clean * dose) / dose
    >>> table = fit_typed_columns(image, 0.2, positions + 0.05, rule="parity")
    >>> table.attrs["type_rule"]
    'parity'
    >>> {t: round(w, 2) for t, w in table.attrs["widths"].items()}
    {'Pb': 0.45, 'Se': 0.4}
    >>> table.groupby("type")["volume"].mean().round(1).to_dict()
    {'Pb': 4.0, 'Se': 1.5}
    """
    from .fitting import fit_columns
    from .fitting.fit import _carry_starts

    if rule not in TYPE_RULES:
        raise ValueError(f"column type rule must be one of {TYPE_RULES}, not {rule!r}")
    heavy, light = names
    if rule == "auto":
        rule = type_rule_for_zone(zone_axis)
        if zone_axis is None and types is not None and len(set(np.asarray(types).tolist())) > 1:
            rule = "given"
        if structure == "core-shell" and zone_axis is not None and lattice_parameter:
            rule = "sublattice"
    extra = dict(fit_options or {})
    if rule == "sublattice":
        return _fit_by_sublattice(image, pixel_size, positions, zone_axis, lattice_parameter, progress, cancel, extra)
    n = len(np.asarray(positions))
    if rule == "given":
        if types is None:
            raise ValueError("the rule 'given' needs the columns' types (a 'type' feature)")
        fit_types = np.asarray(types).astype(str)
    elif rule == "mixed":
        fit_types = np.full(n, f"{heavy}+{light}")
    else:
        fit_types = None
    table = fit_columns(image, pixel_size, positions, types=fit_types, progress=progress, cancel=cancel, **extra)
    if rule in ("parity", "intensity"):
        split = split_types(table[["y", "x"]].to_numpy(), table["volume"], rule, names=(heavy, light))
        table = _carry_starts(table, fit_columns(image, pixel_size, table[["y", "x"]].to_numpy(), types=split,
                                                 progress=progress, cancel=cancel, **extra))
    elif fit_types is None:
        table["type"] = "column"
    table["type"] = table["type"].astype(str)
    table.attrs["type_rule"] = rule
    return table


def _fit_by_sublattice(image, pixel_size, positions, zone_axis, lattice_parameter, progress, cancel, extra):
    """Fit with one type, type by sublattice, drop off-lattice peaks, fit again per type (rule "sublattice")."""
    from .fitting import fit_columns
    from .sublattices import assign_sublattices

    if zone_axis is None or not lattice_parameter:
        raise ValueError("the column types of a core-shell image follow from its lattice: give the zone axis and "
                         "the lattice parameter (the image's metadata 'zone_axis' and 'lattice_parameter')")
    first = fit_columns(image, pixel_size, positions, progress=progress, cancel=cancel, **extra)
    kinds, info = assign_sublattices(first[["y", "x"]].to_numpy(), first["volume"], zone_axis, lattice_parameter)
    on = kinds != "off-lattice"
    table = fit_columns(image, pixel_size, first.loc[on, ["y", "x"]].to_numpy(), types=kinds[on],
                        progress=progress, cancel=cancel, **extra)
    table["type"] = table["type"].astype(str)
    table.attrs.update(type_rule="sublattice", off_lattice_columns=int((~on).sum()),
                       lattice_coherence=round(float(info["score"]), 3),
                       lattice_rms_A=round(float(info["rms_distance"]), 3))
    return table
