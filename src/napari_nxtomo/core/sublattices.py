"""Which sublattice a column sits on, from its position: the column types of a core–shell image.

In a PbSe core grown into a CdSe shell by cation exchange the Se sublattice
is one fcc lattice through core and shell, Pb sits on the rocksalt
(octahedral) cation sites and Cd on the zincblende (tetrahedral) ones.  In
projection the three never mix in an unexpected way: along ⟨100⟩ Pb and Se
share the columns of one square lattice (``"Pb+Se"``: Pb in the core, Se all
through) and Cd columns sit at the centres of its squares; along ⟨110⟩ Pb, Se
and Cd columns lie on three different sublattices.  So a column's type
follows from where it sits relative to the Pb lattice, whatever its
intensity (a thin Pb column and a thick Cd column may scatter alike).

:func:`assign_sublattices` registers the projected lattice of all predicted
sites to the columns (rotation, mirror and origin; the spacing is the
crystal's: a wrong lattice parameter or pixel size is refused), lets the
brightest columns decide which sublattice is Pb's (positions alone cannot
tell sublattices of one lattice apart), then gives every column the
element(s) of the nearest predicted site, or ``"off-lattice"`` when no site is near.
"""

from __future__ import annotations

import numpy as np

from .geometry import ProjectionGeometry
from .lattice import ROCKSALT_PBSE, ZINCBLENDE_CDSE

#: the cation-exchange pair of the seed paper: which crystal each element's sites come from
CORE_SHELL_SITES = {"Pb": ROCKSALT_PBSE, "Se": ROCKSALT_PBSE, "Cd": ZINCBLENDE_CDSE}

#: a column further than this from every predicted site is "off-lattice", as a share of the nearest site spacing
OFF_LATTICE_SHARE = 0.3


def projected_sites(zone_axis, lattice_parameter: float, sites=None, tilt_axis=(0, 0, 1)) -> dict:
    """Projected column positions of each element in a block of cells (Å, image frame).

    Parameters
    ----------
    zone_axis : 3 ints
    lattice_parameter : float
        Å (one cell edge for all the crystals of ``sites``).
    sites : dict, optional
        ``{element: Crystal}`` (default :data:`CORE_SHELL_SITES`).
    tilt_axis : 3 ints
        As :class:`~napari_nxtomo.core.geometry.ProjectionGeometry`.

    Returns
    -------
    dict ``{element: (M, 2) ndarray}`` of distinct projected positions (row, col).

    Examples
    --------
    >>> s = projected_sites((1, 0, 0), 6.12)
    >>> sorted(s), len(s["Pb"]) > 10
    (['Cd', 'Pb', 'Se'], True)
    """
    sites = CORE_SHELL_SITES if sites is None else sites
    geometry = ProjectionGeometry(tuple(int(v) for v in zone_axis), tuple(tilt_axis))
    out = {}
    for element, crystal in sites.items():
        q, _ = crystal.sites(2.0 * lattice_parameter, element)
        yx = geometry.project(q * (lattice_parameter / 4.0))
        out[element] = np.unique(np.round(yx, 4), axis=0)
    return out


def reference_basis(zone_axis, lattice_parameter: float, reference: str = "Pb", sites=None) -> np.ndarray:
    """The two shortest independent vectors of the projected lattice of ``reference`` (rows, Å).

    Examples
    --------
    >>> (reference_basis((1, 0, 0), 6.12).round(2) + 0.0).tolist()
    [[3.06, 0.0], [0.0, 3.06]]
    """
    yx = projected_sites(zone_axis, lattice_parameter, sites)[reference]
    d = (yx - yx[np.argmin(np.linalg.norm(yx, axis=1))])
    d = d[np.linalg.norm(d, axis=1) > 1e-6]
    d = d[np.lexsort((d[:, 1], d[:, 0], np.round(np.linalg.norm(d, axis=1), 3)))]
    a1 = d[0]
    cross = np.abs(a1[0] * d[:, 1] - a1[1] * d[:, 0])
    a2 = d[np.flatnonzero(cross > 1e-6)[0]]
    out = np.array([a1, a2])
    first = out[np.arange(2), np.argmax(np.abs(out) > 1e-6, axis=1)]
    return out * np.sign(first)[:, None]


def element_offsets(zone_axis, lattice_parameter: float, reference: str = "Pb", sites=None) -> dict:
    """Fractional offsets (mod 1) of each element's projected sites in the reference lattice's basis.

    Examples
    --------
    >>> off = element_offsets((1, 0, 0), 6.12)
    >>> {e: v.round(2).tolist() for e, v in off.items()}
    {'Pb': [[0.0, 0.0]], 'Se': [[0.0, 0.0]], 'Cd': [[0.5, 0.5]]}
    """
    yx = projected_sites(zone_axis, lattice_parameter, sites)
    basis = reference_basis(zone_axis, lattice_parameter, reference, sites)
    origin = yx[reference][np.argmin(np.linalg.norm(yx[reference], axis=1))]
    inv = np.linalg.inv(basis.T)
    out = {}
    for element, p in yx.items():
        f = (inv @ (p - origin).T).T
        f = np.round(f * 48.0) / 48.0 % 1.0  # sites of cubic crystals sit at simple fractions
        out[element] = np.unique(f, axis=0)
    return out


def register_lattice(positions, weights, basis, *, step_deg: float = 0.25):
    """Rotation (and mirror) and origin that put weighted columns on a lattice of known basis.

    The score of a trial orientation is the lattice's two Fourier components
    of the weighted columns, ``|Σ w exp(2πi f_k)| / Σ w`` (1 when every
    column sits on a lattice point).

    Returns
    -------
    basis : (2, 2) ndarray
        The rotated (and possibly mirrored) basis, rows in Å.
    origin : (2,) ndarray
        A lattice point (Å).
    score : float
        Mean of the two components' coherences.

    Examples
    --------
    >>> b = np.array([[0.0, 3.06], [3.06, 0.0]])
    >>> ij = np.stack(np.meshgrid(np.arange(5), np.arange(5), indexing="ij"), -1).reshape(-1, 2)
    >>> th = np.deg2rad(20.0); rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    >>> p = ij @ (b @ rot.T) + [1.0, 2.0]
    >>> fitted, origin, score = register_lattice(p, np.ones(len(p)), b)
    >>> round(score, 3), bool(np.allclose(np.linalg.solve(fitted.T, (p - origin).T) % 1 % 0.999, 0, atol=0.02))
    (1.0, True)
    """
    p = np.asarray(positions, dtype=float)
    w = np.asarray(weights, dtype=float)
    best = (-1.0, None, None)
    for mirror in (False, True):
        b0 = basis[:, ::-1] if mirror else basis
        for th in np.deg2rad(np.arange(0.0, 360.0, step_deg)):
            rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
            b = b0 @ rot.T
            f = np.linalg.solve(b.T, p.T).T
            z = (w[:, None] * np.exp(2j * np.pi * f)).sum(axis=0) / w.sum()
            score = float(np.abs(z).mean())
            if score > best[0] + 1e-9:
                best = (score, b, z)
    score, b, z = best
    origin = (np.angle(z) / (2 * np.pi)) @ b
    return b, origin, score


def assign_sublattices(positions, volumes, zone_axis, lattice_parameter: float, *, sites=None,
                       reference: str = "Pb") -> tuple[np.ndarray, dict]:
    """Each column's type from the sublattice it sits on.

    Parameters
    ----------
    positions : (N, 2) array
        Column positions (row, col), Å.
    volumes : (N,) array
        Cross-sections (or peak heights).  Every column fixes the orientation
        and origin of the lattice of all predicted sites; among the sublattices
        that fit the positions alike, the one holding the brightest columns
        (90th percentile) is the ``reference`` element's.
    zone_axis : 3 ints
    lattice_parameter : float
        Å.
    sites : dict, optional
        ``{element: Crystal}``, default :data:`CORE_SHELL_SITES`.

    Returns
    -------
    types : (N,) ndarray of str
        The element(s) of the nearest predicted site, heaviest first and
        joined by ``+`` where elements share a column (``"Pb+Se"`` along
        ⟨100⟩), or ``"off-lattice"``.
    info : dict
        ``score`` (lattice coherence of the bright columns, 0-1), ``basis``,
        ``origin``, ``distance`` (N,) Å to the nearest site, ``tolerance`` Å,
        ``rms_distance`` (Å, of the columns on sites: how well the crystal's
        lattice parameter and the pixel size fit the image).

    Raises
    ------
    ValueError
        Fewer than 8 columns, or the bright columns do not sit on the
        predicted lattice (wrong zone axis, lattice parameter or pixel size).

    Examples
    --------
    The Gaussian core–shell sample along [110]: Pb, Se and Cd columns told apart by position.

    >>> from napari_nxtomo.core.samples import pbse_cdse_core_shell
    >>> view = pbse_cdse_core_shell(noise=False).views[2]
    >>> cols = view.columns
    >>> proxy = cols["n_Pb"] * 82**1.7 + cols["n_Cd"] * 48**1.7 + cols["n_Se"] * 34**1.7
    >>> types, info = assign_sublattices(cols[["y", "x"]].to_numpy(), proxy, (1, 1, 0), 6.12)
    >>> truth = cols["type"].to_numpy()
    >>> round(info["score"], 2), float((types == truth).mean())
    (1.0, 1.0)
    """
    p = np.asarray(positions, dtype=float)
    v = np.asarray(volumes, dtype=float)
    if len(p) < 8:
        raise ValueError(f"at least 8 columns are needed to find the lattice, got {len(p)}")
    basis = reference_basis(zone_axis, lattice_parameter, reference, sites)
    offsets = element_offsets(zone_axis, lattice_parameter, reference, sites)
    group = _offset_group(offsets)
    fine = _fine_basis(basis, group)
    b_fine, origin, score = register_lattice(p, np.ones(len(p)), fine)
    if score < 0.5:
        raise ValueError(
            f"the columns do not sit on the projected lattice of zone axis {list(zone_axis)} with "
            f"a = {lattice_parameter} Å (coherence {score:.2f} < 0.5): check the zone axis, the lattice "
            "parameter and the pixel size"
        )
    # the reference basis in the registered orientation
    b = np.linalg.solve(fine.T, basis.T).T.round(6) @ b_fine
    spacing = min(np.linalg.norm(basis, axis=1).min(), _nearest_offset_spacing(offsets, b))
    tol = OFF_LATTICE_SHARE * spacing
    origin, names, dist = _choose_origin(p, v, b, origin, offsets, group, tol, reference)
    on = dist <= tol
    types = np.where(on, names, "off-lattice")
    info = {"score": score, "basis": b, "origin": origin, "distance": dist, "tolerance": tol,
            "rms_distance": float(np.sqrt(np.mean(dist[on] ** 2))) if on.any() else float("nan")}
    return types, info


def _choose_origin(p, v, b, origin, offsets, group, tol, reference):
    """Which predicted site the registered lattice point is: the shift that keeps the most
    columns on sites and, among those, puts the brightest columns on the reference sites
    (positions alone cannot tell sublattices of the same lattice apart)."""
    best = None
    for o in group:
        trial = origin + o @ b
        names, dist = _nearest_site(np.linalg.solve(b.T, (p - trial).T).T, b, offsets)
        on = dist <= tol
        ref = on & np.array([reference in n.split("+") for n in names])
        bright = float(np.quantile(v[ref], 0.9)) if ref.any() else -np.inf
        key = (round(float(on.mean()), 2), bright)
        if best is None or key > best[0]:
            best = (key, trial, names, dist)
    return best[1], best[2], best[3]


def _offset_group(offsets: dict) -> np.ndarray:
    """The sites' fractional offsets closed under addition mod 1 (the finest lattice holding every site)."""
    group = {(0.0, 0.0)}
    frontier = [tuple(np.round(o, 4)) for offs in offsets.values() for o in offs]
    while frontier:
        o = frontier.pop()
        if o in group:
            continue
        group.add(o)
        frontier += [tuple(np.round((np.add(o, g)) % 1.0, 4)) for g in list(group)]
        if len(group) > 64:
            raise ValueError("the predicted sites do not form a lattice with a small cell")
    return np.array(sorted(group))


def _fine_basis(basis, group) -> np.ndarray:
    """A basis (rows, Å) of the lattice ``group + Z²`` in the reference ``basis``."""
    cand = np.vstack([group, np.eye(2)])
    cand = np.vstack([cand, cand - [1, 0], cand - [0, 1], cand - [1, 1]])
    vec = cand @ basis
    n = np.linalg.norm(vec, axis=1)
    vec, n = vec[n > 1e-6], n[n > 1e-6]
    vec = vec[np.argsort(n, kind="stable")]
    a1 = vec[0]
    area = abs(np.linalg.det(basis)) / len(group)
    for a2 in vec[1:]:
        if abs(abs(a1[0] * a2[1] - a1[1] * a2[0]) - area) < 1e-6 * max(area, 1.0):
            return np.array([a1, a2])
    raise ValueError("no basis found for the sites' lattice")


def _site_labels(offsets: dict) -> list:
    """Distinct fractional offsets and the elements (heaviest first, '+'-joined) found at each."""
    from .library.cell import atomic_number

    labels = []
    for element, offs in offsets.items():
        for o in offs:
            for entry in labels:
                if np.allclose(entry[0], o, atol=1e-3):
                    entry[1].append(element)
                    break
            else:
                labels.append((o, [element]))
    return [(o, "+".join(sorted(els, key=atomic_number, reverse=True))) for o, els in labels]


def _nearest_site(f, basis, offsets):
    """Label of and distance (Å) to the nearest predicted site for fractional positions ``f``."""
    labels = _site_labels(offsets)
    dist = np.full(len(f), np.inf)
    names = np.empty(len(f), dtype=object)
    for o, name in labels:
        r = f - o
        r -= np.round(r)
        d = np.linalg.norm(r @ basis, axis=1)
        closer = d < dist
        dist[closer], names[closer] = d[closer], name
    return names.astype(str), dist


def _nearest_offset_spacing(offsets, basis) -> float:
    """Smallest distance (Å) between two distinct predicted sites."""
    pts = np.array([o for o, _ in _site_labels(offsets)])
    if len(pts) < 2:
        return np.inf
    d = pts[:, None, :] - pts[None, :, :]
    d -= np.round(d)
    dd = np.linalg.norm(d @ basis, axis=2)
    return float(dd[dd > 1e-6].min())


