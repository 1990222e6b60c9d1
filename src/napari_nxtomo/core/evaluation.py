"""Comparison with ground truth: fitted columns, counts, 3D sites, certainty, patterns.

Used by the demo (its ``summary.json``), the tests and the benchmarks, so that
every one of them scores a result the same way.  A reconstruction's crystal
origin is an fcc site near the particle's centre and the true model has its
own: sites are compared after the fcc translation that overlaps them most
(:func:`best_fcc_translation`).  Fitted columns are compared with the nearest
true column (:func:`match_columns`).

Positions in Å; 3D sites in quarter-lattice units (integers, ``q * a / 4``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .columns import holds_element

__all__ = [
    "SiteScore",
    "best_fcc_translation",
    "certainty_calibration",
    "holds_element",
    "match_columns",
    "r_factor",
    "score_columns",
    "score_reconstruction",
    "score_sites",
]


def best_fcc_translation(q, reference, max_shift: int = 8):
    """The fcc translation (quarter-lattice units) that puts most of ``q`` on ``reference``.

    Every fcc lattice vector up to ``max_shift`` quarter-lattice units along
    each axis is tried (even components with an even sum over 2, i.e. a sum
    divisible by 4); the first one with the largest overlap wins.

    Parameters
    ----------
    q : (N, 3) int array
        Sites of a model, quarter-lattice units.
    reference : (M, 3) int array
        The true sites, same units.
    max_shift : int
        Largest shift along an axis (quarter-lattice units, even).

    Returns
    -------
    T : (3,) int ndarray
        The translation; ``q + T`` lies on the reference's origin.
    n_shared : int
        Sites of ``q + T`` that are in ``reference``.

    Examples
    --------
    >>> ref = np.array([[0, 0, 0], [2, 2, 0], [2, 0, 2], [0, 2, 2]])
    >>> T, n = best_fcc_translation(ref - [2, 2, 0], ref)
    >>> T.tolist(), n
    ([2, 2, 0], 4)
    """
    ref = set(map(tuple, np.asarray(reference, dtype=np.int64).tolist()))
    q = np.asarray(q, dtype=np.int64)
    best = (np.zeros(3, dtype=np.int64), -1)
    r = range(-max_shift, max_shift + 1, 2)
    for dx in r:
        for dy in r:
            for dz in r:
                if (dx + dy + dz) % 4:
                    continue
                n = len(set(map(tuple, (q + (dx, dy, dz)).tolist())) & ref)
                if n > best[1]:
                    best = (np.array([dx, dy, dz]), n)
    return best


def score_species(model: dict, truth_q, truth_elements, max_shift: int = 8) -> dict:
    """Recall and precision of a model of several species on their own sites, after one common fcc translation.

    Parameters
    ----------
    model : dict of str to (N, 3) int array
        The model's sites per element, quarter-lattice units, one frame
        (e.g. a core's Pb and its shell's Cd).
    truth_q : (M, 3) int array
    truth_elements : (M,) sequence of str
    max_shift : int
        As :func:`best_fcc_translation`.

    Returns
    -------
    dict
        ``translation``; per element ``{element: (n_true, n_model, n_shared)}`` under ``per_element``; and
        ``recall``, ``precision`` of all of them together (a site counts when its element is right).

    Examples
    --------
    >>> truth = np.array([[0, 0, 0], [2, 2, 0], [3, 1, 1]])
    >>> s = score_species({"Pb": np.array([[2, 2, 0], [4, 4, 0]]), "Cd": np.array([[5, 3, 1]])}, truth, ["Pb", "Pb", "Cd"])
    >>> s["translation"].tolist(), s["recall"], s["per_element"]["Cd"]
    ([-2, -2, 0], 1.0, (1, 1, 1))
    """
    truth_q = np.asarray(truth_q, dtype=np.int64)
    truth_el = np.asarray(truth_elements).astype(str)
    species = sorted(set(model) | set(truth_el.tolist()))
    far = np.array([1 << 16, 0, 0])  # keeps the species apart under any translation tried

    def stacked(parts):
        return np.concatenate([np.asarray(q, dtype=np.int64).reshape(-1, 3) + k * far for k, q in parts] or
                              [np.zeros((0, 3), np.int64)])

    mq = stacked([(k, model[e]) for k, e in enumerate(species) if e in model])
    tq = stacked([(k, truth_q[truth_el == e]) for k, e in enumerate(species)])
    shift, shared = best_fcc_translation(mq, tq, max_shift)
    true_set = set(map(tuple, tq.tolist()))
    per = {}
    for k, e in enumerate(species):
        q = np.asarray(model.get(e, np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3) + k * far + shift
        n_shared = sum(tuple(v) in true_set for v in q.tolist())
        per[e] = (int(np.sum(truth_el == e)), len(q), int(n_shared))
    return {"translation": shift, "per_element": per, "recall": shared / max(len(tq), 1),
            "precision": shared / max(len(mq), 1)}


@dataclass
class SiteScore:
    """A 3D model's sites against the true ones (see :func:`score_sites`).

    Attributes
    ----------
    translation : (3,) int ndarray
        The fcc translation (quarter-lattice units) applied to the model.
    n_true, n_model, n_shared : int
        True sites, model atoms, and model atoms on a true site.
    recall : float
        ``n_shared / n_true``: the fraction of the true sites recovered.
    precision : float
        ``n_shared / n_model`` (0 for an empty model): the fraction of the
        model's atoms that are true.
    is_true : (S,) bool ndarray or None
        For every candidate site of the reconstruction (``result.sites``,
        occupied or not): whether it is a true site.
    """

    translation: np.ndarray
    n_true: int
    n_model: int
    n_shared: int
    recall: float
    precision: float
    is_true: np.ndarray | None = None


def score_sites(result, truth, max_shift: int = 8) -> SiteScore:
    """Recall and precision of a reconstruction's atoms after the best fcc translation.

    Parameters
    ----------
    result : ReconstructionResult
        Or any object with ``q`` (the model's sites, (N, 3) int) and
        optionally ``sites`` (a table of candidate sites with ``qx, qy, qz``).
    truth : (M, 3) int array
        The true sites of the reconstructed species, quarter-lattice units.
    max_shift : int
        As :func:`best_fcc_translation`.

    Returns
    -------
    SiteScore

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> truth = np.array([[0, 0, 0], [2, 2, 0], [2, 0, 2], [0, 2, 2]])
    >>> model = SimpleNamespace(q=np.array([[0, 0, 0], [2, 2, 0], [4, 4, 0]]), sites=None)
    >>> s = score_sites(model, truth)
    >>> s.n_shared, round(s.recall, 2), round(s.precision, 2)
    (2, 0.5, 0.67)
    """
    truth = np.asarray(truth, dtype=np.int64)
    q = np.asarray(result.q, dtype=np.int64)
    shift, shared = best_fcc_translation(q, truth, max_shift)
    is_true = None
    sites = getattr(result, "sites", None)
    if sites is not None:
        true_set = set(map(tuple, truth.tolist()))
        site_q = sites[["qx", "qy", "qz"]].to_numpy() + shift
        is_true = np.array([tuple(v) in true_set for v in site_q.tolist()], dtype=bool)
    return SiteScore(shift, len(truth), len(q), int(shared), shared / len(truth), shared / max(len(q), 1), is_true)


def certainty_calibration(certainty, is_true, *, high: float = 0.9, low: float = 0.1, digits: int = 4) -> dict:
    """How many sites are (un)certain, and how many of them are true atoms.

    Parameters
    ----------
    certainty : (S,) array
        Certainty of every candidate site, 0 to 1.
    is_true : (S,) bool array
        Whether each site is a true atom (:attr:`SiteScore.is_true`).
    high, low : float
        Thresholds: sites at certainty >= ``high`` should be true atoms,
        sites at <= ``low`` should not.
    digits : int
        Decimals of the fractions.

    Returns
    -------
    dict
        ``sites_at_certainty_ge_<high>``, ``true_atoms_among_sites_ge_<high>_fraction``
        (None when there is no such site), and the same for ``le_<low>``.

    Examples
    --------
    >>> c = certainty_calibration([1.0, 0.95, 0.5, 0.0], [True, False, True, False])
    >>> c["sites_at_certainty_ge_0.9"], c["true_atoms_among_sites_ge_0.9_fraction"]
    (2, 0.5)
    >>> c["sites_at_certainty_le_0.1"], c["true_atoms_among_sites_le_0.1_fraction"]
    (1, 0.0)
    """
    cert = np.asarray(certainty, dtype=float)
    is_true = np.asarray(is_true, dtype=bool)
    hi, lo = cert >= high, cert <= low
    return {
        f"sites_at_certainty_ge_{high:g}": int(hi.sum()),
        f"true_atoms_among_sites_ge_{high:g}_fraction": round(float(is_true[hi].mean()), digits) if hi.any() else None,
        f"sites_at_certainty_le_{low:g}": int(lo.sum()),
        f"true_atoms_among_sites_le_{low:g}_fraction": round(float(is_true[lo].mean()), digits) if lo.any() else None,
    }


def score_reconstruction(result, truth, *, n_runs: int, element: str = "Pb") -> dict:
    """The demo's summary of a reconstruction against the true sites.

    Parameters
    ----------
    result : ReconstructionResult
    truth : (M, 3) int array
        True sites of the reconstructed species, quarter-lattice units.
    n_runs : int
        Annealing runs the reconstruction was asked for (reported).
    element : str
        The reconstructed species (names the count of true atoms).

    Returns
    -------
    dict
        Model and true atoms, the recovered fraction of true sites and the
        true fraction of the model's atoms (:func:`score_sites`), the
        solver's energy, surface edges, source and status, connectivity,
        holes, and the :func:`certainty_calibration` of all candidate sites.

    Examples
    --------
    >>> from napari_nxtomo.core.groundtruth import projections_from_truth
    >>> from napari_nxtomo.core.samples import pbse_cuboctahedron
    >>> from napari_nxtomo.core.tomography import reconstruct
    >>> particle = pbse_cuboctahedron(noise=False, n_half=2)
    >>> projections, _ = projections_from_truth(particle, n_views=3)
    >>> result = reconstruct(projections, particle.lattice_parameter, n_runs=0, method="exact")
    >>> s = score_reconstruction(result, particle.q[particle.elements == "Pb"], n_runs=0)
    >>> s["true_sites_recovered_fraction"], s["model_atoms_that_are_true_fraction"], s["exact_status"]
    (1.0, 1.0, 'optimal')
    """
    score = score_sites(result, truth)
    return {
        "model_atoms": int(len(result.positions)),
        f"true_{element}_atoms": int(score.n_true),
        "true_sites_recovered_fraction": round(score.n_shared / score.n_true, 4),
        "model_atoms_that_are_true_fraction": round(score.n_shared / max(len(result.positions), 1), 4),
        "energy": float(result.energy),
        "surface_edges": int(result.surface_edges),
        "model_source": result.model_source,
        "exact_status": None if result.exact is None else result.exact.status,
        "connected": bool(result.connected),
        "holes": int(result.n_holes),
        "n_runs": int(n_runs),
        "certainty_calibration": certainty_calibration(result.sites["certainty"].to_numpy(), score.is_true),
    }


def _yx(points) -> np.ndarray:
    if isinstance(points, pd.DataFrame):
        return points[["y", "x"]].to_numpy()
    return np.asarray(points, dtype=float)


def match_columns(found, truth):
    """The nearest true column of every found column.

    Parameters
    ----------
    found, truth : pandas.DataFrame or (N, 2) array
        Column positions (``y``, ``x`` columns of a table, or ``(y, x)``
        rows), Å.

    Returns
    -------
    nearest : (N,) int ndarray
        Row of ``truth`` nearest to each found column.
    distance : (N,) ndarray
        Its distance, Å.

    Examples
    --------
    >>> truth = pd.DataFrame({"y": [0.0, 0.0, 3.0], "x": [0.0, 3.0, 0.0]})
    >>> nearest, d = match_columns(np.array([[0.1, 2.9], [2.8, 0.0]]), truth)
    >>> nearest.tolist(), [round(float(v), 3) for v in d]
    ([1, 2], [0.141, 0.2])
    """
    from scipy.spatial import cKDTree

    distance, nearest = cKDTree(_yx(truth)).query(_yx(found))
    return nearest, distance


def score_columns(table, truth, count_result, zone_axis, *, element: str = "Pb", match=None) -> dict:
    """The demo's summary of one image's fitted and counted columns against the true ones.

    Parameters
    ----------
    table : pandas.DataFrame
        Fitted columns (``y, x, type`` and the ``count`` of ``element``).
    truth : pandas.DataFrame
        The true columns (``y, x`` and ``n_<element>``).
    count_result : CountResult
        The counting (its number of classes is reported).
    zone_axis : (3,) ints
    element : str
        The counted species.
    match : (nearest, distance), optional
        :func:`match_columns` of ``table`` and ``truth``, if already known.

    Returns
    -------
    dict
        Columns found and true, whether every true column was found once,
        the RMS distance to the nearest true column (Å), the column-type
        rule, the number of count classes, the number of ``element`` columns
        and the fraction of them counted exactly; the columns that truly hold
        ``element`` and the fraction of them counted exactly; the fraction of
        the columns of an ``element``-bearing type that hold none and were
        given some.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> truth = pd.DataFrame({"y": [0.0, 0.0, 3.0], "x": [0.0, 3.0, 0.0], "n_Pb": [2, 3, 0]})
    >>> table = pd.DataFrame({"y": [0.1, 0.0, 3.0], "x": [0.0, 3.0, 0.1], "type": ["Pb", "Pb", "Se"],
    ...                       "count": [2, 4, 1]})
    >>> s = score_columns(table, truth, SimpleNamespace(n_components=3), (1, 1, 0))
    >>> s["each_true_column_found_once"], s["position_rms_A"], s["pb_columns"], s["pb_counts_exact_fraction"]
    (True, 0.0816, 2, 0.5)
    """
    nearest, distance = match_columns(table, truth) if match is None else match
    mine = holds_element(table["type"], element)
    true_count = truth[f"n_{element}"].to_numpy()[nearest]
    count = table["count"].to_numpy()
    exact = float(np.mean(count[mine] == true_count[mine]))
    bearing = true_count > 0
    key = element.lower()
    return {
        "zone_axis": list(zone_axis),
        "columns_found": int(len(table)),
        "true_columns": int(len(truth)),
        "each_true_column_found_once": bool(len(np.unique(nearest)) == len(truth) == len(table)),
        "position_rms_A": round(float(np.sqrt(np.mean(distance**2))), 4),
        "column_types": table.attrs.get("type_rule"),
        "count_classes": int(count_result.n_components),
        f"{key}_columns": int(mine.sum()),
        f"{key}_counts_exact_fraction": round(exact, 4),
        f"{key}_bearing_columns": int(bearing.sum()),
        f"{key}_bearing_exact_fraction": round(float(np.mean(count[bearing] == true_count[bearing])), 4),
        f"{key}_placed_in_empty_fraction": (round(float(np.mean(count[mine & ~bearing] > 0)), 4)
                                             if (mine & ~bearing).any() else 0.0),
    }


def r_factor(intensity, reference) -> float:
    """Profile R factor ``sum |I - I_ref| / sum I_ref`` of two patterns on one Q grid.

    Examples
    --------
    >>> round(r_factor([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]), 4)
    0.1429
    """
    i = np.asarray(intensity, dtype=float)
    ref = np.asarray(reference, dtype=float)
    return float(np.sum(np.abs(i - ref)) / np.sum(ref))
