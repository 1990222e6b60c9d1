"""The input of the tomography: one :class:`Projection` (counted columns) per image, and its parsing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..columns import holds_element


def _int_vector(v, what):
    a = np.asarray(v, dtype=float).ravel()
    if a.shape != (3,) or not np.all(np.isfinite(a)) or np.any(a != np.round(a)) or not np.any(a):
        raise ValueError(f"{what} must be three integers, not all zero (like (1, 1, 0)); got {v!r}")
    a = a.astype(np.int64)
    return a // np.gcd.reduce(np.abs(a))


def _zone_name(v) -> str:
    return "[" + "".join(f"{int(c)}" if c >= 0 else f"-{-int(c)}" for c in v) + "]"


def parse_zone_axis(text) -> tuple:
    """A zone axis from text: ``110``, ``[1-10]``, ``1 1 0`` or ``1,-1,0`` -> ``(1, 1, 0)``.

    Parameters
    ----------
    text : str
        Three integers, either as single digits run together (a minus sign
        belongs to the digit after it) or separated by spaces or commas;
        brackets are ignored.

    Returns
    -------
    tuple of 3 int

    Raises
    ------
    ValueError
        When the text is not three integers.

    Examples
    --------
    >>> from napari_nxtomo.core.tomography import parse_zone_axis
    >>> parse_zone_axis("[1-10]")
    (1, -1, 0)
    >>> parse_zone_axis("0, 0, 1")
    (0, 0, 1)
    """
    t = str(text).strip().replace("[", "").replace("]", "")
    parts = t.replace(",", " ").split()
    if len(parts) == 1 and len(parts[0].lstrip("-")) >= 3:
        out, sign = [], 1
        for ch in parts[0]:
            if ch == "-":
                sign = -1
                continue
            if not ch.isdigit():
                raise ValueError(f"a zone axis is three integers such as 110 or 1 1 0, not {text!r}")
            out.append(sign * int(ch))
            sign = 1
        parts = out
    try:
        vals = [int(v) for v in parts]
    except ValueError:
        vals = []
    if len(vals) != 3:
        raise ValueError(f"a zone axis is three integers such as 110 or 1 1 0, not {text!r}")
    return tuple(vals)


def projection_from_table(positions, features, zone_axis, element="Pb", tilt_direction=None, name=""):
    """A :class:`Projection` from a table of counted columns (a points layer's features, a CSV table).

    Parameters
    ----------
    positions : (N, 2) array
        Column positions ``(y, x)`` in Å.
    features : pandas.DataFrame
        One row per column with ``count`` and optionally ``type`` and
        ``count_probability``.  Only the columns that hold ``element`` are
        used: type ``element`` (pure columns, rocksalt [110]) or
        ``element+...`` (mixed columns, [100]); a table with one untyped kind
        of column is used whole.  ``count`` is the number of ``element``
        atoms; ``count_probability`` (as ``napari-nxtomo count`` writes it),
        the probability that it is right, weighs it in the energy
        (:func:`~napari_nxtomo.core.tomography.problem.weight_from_probability`).
    zone_axis : (3,) ints or None
    tilt_direction : (2,) array, optional
        Approximate tilt-axis direction ``(row, col)`` in the image.

    Returns
    -------
    (Projection, kept) : the projection and the row indices it uses.

    Examples
    --------
    The Se-only column is left out:

    >>> import pandas as pd
    >>> from napari_nxtomo.core.tomography import projection_from_table
    >>> features = pd.DataFrame({"count": [3, 4, 0], "type": ["Pb+Se", "Pb+Se", "Se"]})
    >>> proj, kept = projection_from_table([[0, 0], [0, 3.06], [3.06, 0]], features, (1, 0, 0))
    >>> proj.counts.tolist(), kept.tolist()
    ([3, 4], [0, 1])
    """
    label = name or "the table"
    if len(features) == 0:
        raise ValueError(f"{label} has no columns")
    if "count" not in features:
        raise ValueError(f"{label} has no 'count' column: count the atoms first (2 Count atoms, or 'napari-nxtomo count')")
    if zone_axis is None:
        raise ValueError(f"{label} does not say its zone axis: give it (e.g. 110)")
    keep = np.ones(len(features), dtype=bool)
    if "type" in features:
        t = features["type"].astype(str)
        kinds = set(t)
        _check_element(t, element, label)
        if len(kinds) > 1 or kinds & {element} or any(k.startswith(element + "+") for k in kinds):
            keep = holds_element(t, element)
        if not keep.any():
            raise ValueError(f"{label} has no {element} columns (types: {sorted(kinds)})")
    pos = np.asarray(positions, dtype=float)[:, -2:]
    counts = np.asarray(features["count"], dtype=float)[keep]
    from .problem import weight_from_probability  # problem -> view_lattice -> projections

    weights = None
    if "count_probability" in features:
        weights = weight_from_probability(np.asarray(features["count_probability"], dtype=float)[keep])
    proj = Projection(tuple(int(v) for v in zone_axis), pos[keep], counts, weights=weights,
                      tilt_axis=None if tilt_direction is None else tuple(tilt_direction), name=name)
    return proj, np.flatnonzero(keep)


def _check_element(types, element, label):
    """Refuse an element that is no element symbol, or that the table's typed columns do not count.

    A column's ``count`` is of the first element of its type (``Pb`` in
    ``Pb+Se``); a table of untyped columns (``column``) is not checked.
    """
    from ..debye.form_factors import _element_symbols

    symbols = _element_symbols()
    if element not in symbols:
        raise ValueError(f"{element!r} is not an element symbol (case matters, e.g. Pb, Se)")
    n = types.value_counts()
    typed = {k: k.split("+") for k in n.index if all(part in symbols for part in k.split("+"))}
    if typed and not any(parts[0] == element for parts in typed.values()):
        counted = sorted({parts[0] for parts in typed.values()})
        raise ValueError(
            f"{label} counts no {element}: its columns are "
            + ", ".join(f"{int(n[k])} of type {k}" for k in sorted(typed))
            + f" and a column's count is of the first element of its type ({', '.join(counted)}); reconstruct "
            f"{' or '.join(counted)}, or count the {element} columns first"
        )


@dataclass
class Projection:
    """The counted columns of one image.

    Parameters
    ----------
    zone_axis : (3,) ints
        Beam direction ``[u v w]`` in crystal coordinates.  Its sign fixes
        the handedness of the image: an image seen along ``-b`` is the
        mirror image of one along ``b``.
    positions : (N, 2) array
        Column positions ``(row, col)`` in Å in the image (pixel (0, 0) at the
        origin), as :func:`~napari_nxtomo.fit_columns` gives them.
    counts : (N,) array of non-negative integers
        Atoms of the reconstructed species (Pb) in every column.  Along [110]
        of rocksalt pass only the Pb columns.
    tilt_axis : (2,) array, optional
        Direction ``(row, col)`` of the common tilt axis in this image,
        approximately (within 40°); refined from the lattice.  None: found
        from the lattice and the other projections.
    crystal_tilt_axis : (3,) ints, optional
        The common tilt axis in crystal coordinates, perpendicular to the
        zone axis.  None: ``[001]`` when it is perpendicular to every zone
        axis, else the common perpendicular of the zone axes.
    offset : (2,) array, optional
        Where the crystal origin (a site of the reconstructed lattice)
        projects in the image: Å from the image origin along the tilt axis
        direction and across it (along ``(-sin θ, cos θ)``, the image of
        ``zone_axis × tilt axis``); snapped to the nearest lattice column.
        For an image without rotation this is ``(row, col)``.  None: found
        automatically.
    weights : (N,) array, optional
        Relative weight (> 0) of every column's count in the energy,
        e.g. the inverse of its counting uncertainty; default 1.
    name : str
        A label used in messages and tables (default: the zone axis).

    Notes
    -----
    The image geometry is that of
    :class:`~napari_nxtomo.core.geometry.ProjectionGeometry`: the crystal
    tilt axis ``t`` points along the image direction ``(cos θ, sin θ)``
    (``θ`` = ``image_rotation``) and ``b × t`` (``b`` the zone axis, the
    beam) along ``(-sin θ, cos θ)``.

    Rocksalt: along [100] every column holds Pb and Se in turn; the counts
    are the Pb counts and the Pb sublattice (fcc) is reconstructed, so the
    columns are placed on the projected fcc Pb lattice.  Along [110] the Pb
    and the Se columns are separate: pass only the Pb columns (Se-only
    columns with a count of zero are off the Pb lattice and dropped).

    Examples
    --------
    >>> from napari_nxtomo.core.tomography import Projection
    >>> p = Projection((1, 0, 0), [[0.0, 0.0], [0.0, 3.06], [3.06, 0.0]], [2, 3, 1])
    >>> p.name, p.total, p.positions.shape
    ('[100]', 6, (3, 2))
    """

    zone_axis: tuple
    positions: np.ndarray
    counts: np.ndarray
    tilt_axis: tuple | None = None
    crystal_tilt_axis: tuple | None = None
    offset: tuple | None = None
    weights: np.ndarray | None = None
    name: str = ""

    def __post_init__(self):
        self.zone_axis = tuple(int(v) for v in _int_vector(self.zone_axis, "zone_axis"))
        if not self.name:
            self.name = _zone_name(self.zone_axis)
        self._check_columns()
        if self.tilt_axis is not None:
            t = np.asarray(self.tilt_axis, dtype=float).ravel()
            if t.shape != (2,) or not np.all(np.isfinite(t)) or np.hypot(*t) == 0:
                raise ValueError(f"projection {self.name}: tilt_axis is an image direction (row, col), not zero")
            self.tilt_axis = tuple(float(v) for v in t / np.hypot(*t))
        if self.crystal_tilt_axis is not None:
            self.crystal_tilt_axis = tuple(int(v) for v in _int_vector(self.crystal_tilt_axis, "crystal_tilt_axis"))
        if self.offset is not None:
            o = np.asarray(self.offset, dtype=float).ravel()
            if o.shape != (2,) or not np.all(np.isfinite(o)):
                raise ValueError(f"projection {self.name}: offset is (along, across) in Å")
            self.offset = tuple(float(v) for v in o)

    def _check_columns(self):
        """Validate and convert positions, counts and weights."""
        pos = np.asarray(self.positions, dtype=float)
        if pos.size == 0:
            raise ValueError(
                f"projection {self.name} has no columns: pass the (row, col) positions and counts of its "
                "counted columns (or leave the projection out)"
            )
        if pos.ndim != 2 or pos.shape[1] != 2:
            raise ValueError(f"projection {self.name}: positions must be (N, 2) (row, col) in Å, got shape {pos.shape}")
        if not np.all(np.isfinite(pos)):
            raise ValueError(f"projection {self.name}: positions contain NaN or infinite values")
        cnt = np.asarray(self.counts, dtype=float).ravel()
        if cnt.shape != (len(pos),):
            raise ValueError(f"projection {self.name}: {len(pos)} positions but {cnt.size} counts")
        bad = np.flatnonzero(~np.isfinite(cnt) | (cnt < 0) | (np.abs(cnt - np.round(cnt)) > 1e-6))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"projection {self.name}: counts must be non-negative integers (atoms per column); column {i} "
                f"has {self.counts[i]!r} ({bad.size} such column(s)). Round or re-count them."
            )
        self.positions = pos
        self.counts = np.round(cnt).astype(np.int64)
        if self.weights is None:
            self.weights = np.ones(len(pos))
        else:
            w = np.asarray(self.weights, dtype=float).ravel()
            if w.shape != (len(pos),) or not np.all(np.isfinite(w)) or np.any(w <= 0):
                raise ValueError(f"projection {self.name}: weights must be {len(pos)} positive numbers")
            self.weights = w

    @classmethod
    def from_frame(cls, frame, zone_axis, counts="count", **kwargs):
        """A projection from a per-column table with ``y``, ``x`` (Å) and a count column.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per column; ``y`` and ``x`` in Å.
        zone_axis : (3,) ints
        counts : str
            Name of the column of atom counts (e.g. ``"count"`` or ``"n_Pb"``).
        **kwargs
            Passed to :class:`Projection`.
        """
        for c in ("y", "x", counts):
            if c not in frame.columns:
                raise ValueError(f"the table has no column {c!r}; it has {list(frame.columns)}")
        return cls(zone_axis, frame[["y", "x"]].to_numpy(float), frame[counts].to_numpy(), **kwargs)

    @property
    def total(self) -> int:
        """Sum of the counts."""
        return int(self.counts.sum())
