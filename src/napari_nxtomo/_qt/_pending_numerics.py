"""Numerics the docks still hold, waiting for ``napari_nxtomo.core.workflow`` (issue 11).

These pieces move to ``core/workflow.py`` (``pattern_model``,
``compute_pattern``, ``q_grid``, ``reprojection_table``); when they are there,
this module goes and the docks import those instead (the Debye dock and the
Tomo dock are the only users).  Until then they stay here unchanged, in one
place, with no Qt and no napari:

* Debye: the model a pattern is computed for (:class:`ModelParams`,
  :class:`Model`, :func:`make_model`), the Q grid (:func:`q_grid`) and the
  computation of the pattern and G(r) (:func:`compute_pattern`);
* Tomo: the measured against re-projected counts per column
  (:func:`reprojection_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: most points of a pattern
MAX_POINTS = 200_000


class DebyeCancelled(Exception):
    """The user pressed Cancel (the TaskRunner reports it as 'cancelled')."""


# ---------------------------------------------------------------- Debye: the model


@dataclass
class ModelParams:
    """What the Debye dock's model source says, gathered in the main thread.

    Examples
    --------
    >>> ModelParams("layer", positions=np.zeros((2, 3)), elements=np.array(["Pb", "Pb"])).source
    'layer'
    """

    source: str  # "builder" or "layer"
    builder: dict = field(default_factory=dict)  # build_nanocrystal kwargs
    positions: np.ndarray | None = None  # (N, 3) Å, from a layer
    elements: np.ndarray | None = None
    occupancy: np.ndarray | None = None
    lattice_parameter: float | None = None
    complete: dict | None = None  # anion, structure, lattice_parameter, min_neighbours
    name: str = ""


@dataclass
class Model:
    """Arrays handed to ``debye_intensity`` (positions in Å).

    Examples
    --------
    >>> m = Model(np.zeros((1, 3)), np.array(["Pb"]), np.ones(1), None, None, "one atom")
    >>> m.description, m.positions.shape
    ('one atom', (1, 3))
    """

    positions: np.ndarray
    elements: np.ndarray
    occupancy: np.ndarray
    sites: np.ndarray | None
    lattice_parameter: float | None
    description: str
    nanocrystal: object = None  # the builder's NanocrystalModel


def make_model(p: ModelParams) -> Model:
    """Build (builder) or assemble (layer, with optional anion completion) the model.

    Examples
    --------
    >>> p = ModelParams("layer", positions=np.zeros((1, 3)), elements=np.array(["Pb"]), name="one")
    >>> m = make_model(p)
    >>> m.description, m.occupancy.tolist()
    ("layer 'one'", [1.0])
    >>> m = make_model(ModelParams("layer", positions=np.zeros((1, 3)), elements=np.array(["Pb"]), name="Pb",
    ...                            complete={"anion": "Se", "structure": "rocksalt", "lattice_parameter": 6.12}))
    >>> m.description, len(m.positions)
    ("layer 'Pb' + 6 Se (rocksalt sublattice)", 7)
    """
    from ..core.nanocrystal import add_anion_sublattice, build_nanocrystal

    if p.source == "builder":
        m = build_nanocrystal(**p.builder)
        b = p.builder
        desc = (
            f"{''.join(b['elements'])} {b['structure']} {b['shape'].replace('_', ' ')}, d = {b['diameter']:g} Å, "
            f"a = {b['a']:g} Å" + (f", α_RH = {b['alpha_rh']:g}°" if b["alpha_rh"] != 60 else "")
            + (f", Δr = {b['delta_r_pb']:g} Å" if b["delta_r_pb"] else "")
        )
        return Model(m.positions, m.elements, m.occupancy, m.sites, m.lattice_parameter if m.on_grid else None,
                     desc, m)
    pos = np.asarray(p.positions, dtype=float)
    els = np.asarray(p.elements).astype(str)
    occ = np.ones(len(pos)) if p.occupancy is None else np.asarray(p.occupancy, dtype=float)
    desc = f"layer '{p.name}'"
    a = p.lattice_parameter
    if p.complete:
        anion = p.complete["anion"]
        a = p.complete["lattice_parameter"]
        pos, els, occ, n_added = add_anion_sublattice(
            pos, els, a, anion=anion, structure=p.complete["structure"], occupancy=occ,
            min_neighbours=p.complete.get("min_neighbours", 1),
        )
        desc += f" + {n_added} {anion} ({p.complete['structure']} sublattice)"
    return Model(pos, els, occ, None, a, desc)


# ---------------------------------------------------------------- Debye: the pattern


def q_grid(lo: float, hi: float, step: float, wavelength: float, two_theta: bool = False):
    """The abscissae of a pattern from ``lo`` to ``hi`` by ``step``, in Q (Å⁻¹) or in 2θ (°).

    Parameters
    ----------
    lo, hi, step : float
        Range and step in the axis unit (Å⁻¹, or ° when ``two_theta``).
    wavelength : float
        Å, to convert between Q and 2θ.
    two_theta : bool
        The axis is 2θ.

    Returns
    -------
    (x, q, tt) : the abscissae in the axis unit, Q in Å⁻¹, 2θ in ° (None
    where Q exceeds 4π/λ).

    Raises
    ------
    ValueError
        For an empty range, more than ``MAX_POINTS`` points, or 2θ beyond 180°.

    Examples
    --------
    >>> x, q, tt = q_grid(1.0, 2.0, 0.25, 0.5636)
    >>> x.tolist(), round(float(tt[-1]), 3)
    ([1.0, 1.25, 1.5, 1.75, 2.0], 10.293)
    """
    from ..core.debye import q_to_two_theta, two_theta_to_q

    if not hi > lo:
        raise ValueError(f"the range {lo:g} to {hi:g} is empty: 'to' must be larger than 'from'")
    n = int(round((hi - lo) / step)) + 1
    if n > MAX_POINTS:
        raise ValueError(f"{n} points is too many (at most {MAX_POINTS}); use a larger step")
    x = np.linspace(lo, lo + (n - 1) * step, n)
    if two_theta:
        if hi > 180:
            raise ValueError("2θ goes up to 180°")
        return x, two_theta_to_q(x, wavelength), x
    try:
        tt = q_to_two_theta(x, wavelength)
    except ValueError:
        tt = None  # Q beyond 4π/λ: no 2θ column
    return x, x, tt


@dataclass
class PatternResult:
    """A computed pattern as the Debye dock holds it.

    Examples
    --------
    >>> model = Model(np.zeros((1, 3)), np.array(["Pb"]), np.ones(1), None, None, "one atom")
    >>> q = np.array([1.0, 2.0])
    >>> PatternResult(q, q, None, np.ones(2), "Q (Å⁻¹)", "xray", 0.56, None, None, "auto", model).g is None
    True
    """

    x: np.ndarray  # in the axis unit
    q: np.ndarray  # Å⁻¹
    two_theta: np.ndarray | None  # ° (None where Q exceeds 4π/λ)
    intensity: np.ndarray
    axis: str
    radiation: str
    wavelength: float
    energy_keV: float | None
    b_iso: object
    method: str
    model: Model
    r: np.ndarray | None = None
    g: np.ndarray | None = None


def _stage_progress(progress, cancel):
    """``report(lo, hi)``: a callback for a stage that fills the fraction lo..hi of the bar; checks Cancel."""

    def report(lo, hi):
        def f(frac):
            if cancel():
                raise DebyeCancelled("cancelled")
            progress(int(round(1000 * (lo + (hi - lo) * float(frac)))), 1000)
        return f

    return report


def _pair_distribution(model: Model, q, r_max, *, radiation, energy_keV, method, progress):
    """(r, G(r)) of the model up to ``r_max`` Å (0: the model's size), terminated at the pattern's Q max."""
    from ..core.debye import pair_distance_histogram, pair_distribution

    centre = model.positions.mean(axis=0)
    size = 2.0 * float(np.max(np.linalg.norm(model.positions - centre, axis=1))) + 1.0
    rmax = r_max if r_max > 0 else size
    h = pair_distance_histogram(
        model.positions, model.elements, model.occupancy,
        "histogram" if method in ("exact", "histogram") else method,
        lattice_parameter=model.lattice_parameter if model.sites is None else None,
        sites=model.sites, progress=progress,
    )
    r = np.arange(0.0, rmax + 1e-9, 0.01)
    g = pair_distribution(
        model.positions, model.elements, r, model.occupancy, q_max=float(q.max()),
        radiation=radiation, energy_keV=energy_keV, histogram=h,
    )
    return r, g


def compute_pattern(params: ModelParams, grid, *, axis, radiation, wavelength, energy_keV, b_iso, method,
                    with_gr=False, r_max=0.0, progress, cancel) -> PatternResult:
    """The model of ``params``, its Debye pattern on ``grid`` and optionally its G(r).

    Parameters
    ----------
    params : ModelParams
    grid : (x, q, tt)
        From :func:`q_grid`.
    axis : str
        The axis's label, kept with the result.
    radiation : str
        ``"xray"``, ``"constant"`` or ``"neutron"``.
    wavelength, energy_keV : float, float or None
        Å; keV for the anomalous terms (None: none).
    b_iso, method
        As :func:`napari_nxtomo.core.debye.debye_intensity` takes them.
    with_gr, r_max : bool, float
        Also G(r) up to ``r_max`` Å (0: the model's size).
    progress, cancel : callables
        ``progress(i, n)``; ``cancel() -> bool`` (True raises :class:`DebyeCancelled`).

    Examples
    --------
    >>> params = ModelParams("layer", positions=np.array([[0.0, 0, 0], [3.0, 0, 0]]), elements=np.array(["Pb", "Pb"]))
    >>> res = compute_pattern(params, q_grid(1.0, 2.0, 0.5, 0.56), axis="Q (Å⁻¹)", radiation="constant",
    ...                       wavelength=0.56, energy_keV=None, b_iso=None, method="exact",
    ...                       progress=lambda i, n: None, cancel=lambda: False)
    >>> res.intensity.shape, res.g is None
    ((3,), True)
    """
    x, q, tt = grid
    report = _stage_progress(progress, cancel)
    report(0.0, 0.0)(0.0)
    model = make_model(params)
    split = 0.8 if with_gr else 1.0
    intensity = _debye_pattern(model, q, b_iso=b_iso, method=method, radiation=radiation, energy_keV=energy_keV,
                               progress=report(0.0, split))
    result = PatternResult(x, q, tt, intensity, axis, radiation, wavelength, energy_keV, b_iso, method, model)
    if with_gr:
        result.r, result.g = _pair_distribution(model, q, r_max, radiation=radiation, energy_keV=energy_keV,
                                                method=method, progress=report(split, 1.0))
    progress(1000, 1000)
    return result


def _debye_pattern(model: Model, q, *, b_iso, method, radiation, energy_keV, progress=None):
    """I(Q) of a :class:`Model` (the lattice shortcut where the model sits on a grid)."""
    from ..core.debye import debye_intensity

    return debye_intensity(
        model.positions, model.elements, q, b_iso=b_iso, occupancy=model.occupancy, method=method,
        radiation=radiation, energy_keV=energy_keV,
        lattice_parameter=model.lattice_parameter if model.sites is None else None,
        sites=model.sites, progress=progress,
    )


# ---------------------------------------------------------------- Tomo: re-projection


def reprojection_rows(rep, kept):
    """Measured against re-projected counts per column of one projection.

    Parameters
    ----------
    rep : pandas.DataFrame
        One projection's ``reprojection`` table from the reconstruction
        (``input_index``: the column's row in the projection's input, -1 for
        a missing column; ``measured``, ``reconstructed``, ``missing``).
    kept : (M,) int array
        The points layer's row of each input column.

    Returns
    -------
    (rows, model, residual, summary) : the layer rows measured, their model
    counts, model − measured, and the table's row (``columns``,
    ``measured``, ``model``, ``columns_off``, ``rms``, ``unmeasured``).

    Examples
    --------
    >>> import pandas as pd
    >>> rep = pd.DataFrame({"input_index": [0, 1, -1], "measured": [3, 4, np.nan], "reconstructed": [3, 5, 1],
    ...                     "missing": [False, False, True]})
    >>> rows, model, resid, s = reprojection_rows(rep, np.array([7, 9]))
    >>> rows.tolist(), resid.tolist(), s["columns_off"], round(float(s["rms"]), 3), s["unmeasured"]
    ([7, 9], [0.0, 1.0], 1, 0.707, 1)
    """
    measured_rows = rep[rep["input_index"] >= 0]
    rows = kept[measured_rows["input_index"].to_numpy(dtype=int)]
    measured = measured_rows["measured"].to_numpy(dtype=float)
    model = measured_rows["reconstructed"].to_numpy(dtype=float)
    resid = model - measured
    summary = {
        "columns": len(kept),
        "measured": int(measured.sum()),
        "model": int(model.sum()),
        "columns_off": int(np.count_nonzero(resid)),
        "rms": np.sqrt(np.mean(resid ** 2)),
        "unmeasured": int(rep["missing"].sum()) if "missing" in rep else 0,
    }
    return rows, model, resid, summary
