"""Step 4 of the workflow: an atom model (built, or given and completed) → its Debye pattern and G(r)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._memory import check_memory

#: the abscissae a pattern can be computed on: Q (Å⁻¹) or 2θ (°)
AXES = ("q", "two_theta")
#: most points of a pattern asked for by range and step (:func:`q_grid`)
MAX_POINTS = 200_000


class PatternCancelled(Exception):
    """The pattern's computation was cancelled (``cancel()`` returned True)."""


@dataclass
class PatternModel:
    """The arrays handed to :func:`~napari_nxtomo.core.debye.debye_intensity`, with a description.

    Attributes
    ----------
    positions : (N, 3) ndarray
        x, y, z in Å.
    elements : (N,) ndarray of str
    occupancy : (N,) ndarray
    sites : (N, 3) int ndarray or None
        Lattice sites of a builder model (its lattice method uses them).
    lattice_parameter : float or None
        Cubic *a* (Å) of an on-grid model, handed to ``debye_intensity``.
    description : str
    nanocrystal : NanocrystalModel or None
        The builder's model.
    n_added : int
        Anion sites added by the completion.
    """

    positions: np.ndarray
    elements: np.ndarray
    occupancy: np.ndarray
    sites: np.ndarray | None
    lattice_parameter: float | None
    description: str
    nanocrystal: object = None
    n_added: int = 0


def _builder_description(params: dict) -> str:
    b = params
    return (
        f"{''.join(b['elements'])} {b['structure']} {b['shape'].replace('_', ' ')}, d = {b['diameter']:g} Å, "
        f"a = {b['a']:g} Å" + (f", α_RH = {b['alpha_rh']:g}°" if b["alpha_rh"] != 60 else "")
        + (f", Δr = {b['delta_r_pb']:g} Å" if b["delta_r_pb"] else "")
    )


def pattern_model(builder: dict | None = None, *, positions=None, elements=None, occupancy=None, certainty=None,
                  lattice_parameter=None, complete: dict | None = None, name: str = "") -> PatternModel:
    """Build (builder) or assemble (given atoms, with optional anion completion) a model for the Debye equation.

    Parameters
    ----------
    builder : dict, optional
        Keyword arguments of :func:`~napari_nxtomo.core.nanocrystal.build_nanocrystal`;
        when given, the other arguments are ignored.
    positions : (N, 3) array
        x, y, z in Å (e.g. a reconstructed model).
    elements : (N,) sequence of str
    occupancy : (N,) array, optional
        Site occupancies (1 when not given).
    certainty : (N,) array, optional
        Each atom's certainty (e.g. of a reconstruction), clipped to 0..1,
        multiplies its occupancy.
    lattice_parameter : float, optional
        Cubic *a* (Å) of the atoms' lattice, if known.
    complete : dict or list of dict, optional
        Add the anion sublattice around the cations
        (:func:`~napari_nxtomo.core.nanocrystal.add_anion_sublattice`):
        ``anion``, ``structure``, ``lattice_parameter``, and optionally
        ``min_neighbours`` (1), ``cation`` (every non-anion atom) and
        ``polarity``; a list completes in turn (a core–shell model: around
        the core's Pb, then the shell's Cd, one anion lattice).
    name : str
        Where the atoms come from (a layer's or a file's name).

    Returns
    -------
    PatternModel

    Examples
    --------
    >>> m = pattern_model({"structure": "rocksalt", "elements": ("Pb", "S"), "a": 5.936, "diameter": 12.0,
    ...                    "shape": "cube"})
    >>> m.description, len(m.positions), m.lattice_parameter
    ('PbS rocksalt cube, d = 12 Å, a = 5.936 Å', 27, 5.936)
    >>> core = pattern_model(positions=[[0.0, 0.0, 0.0]], elements=["Pb"], name="one atom",
    ...                      complete={"anion": "Se", "structure": "rocksalt", "lattice_parameter": 6.12})
    >>> core.description, core.n_added, sorted(set(core.elements.tolist()))
    ("layer 'one atom' + 6 Se (rocksalt sublattice)", 6, ['Pb', 'Se'])
    >>> pattern_model(positions=[[0.0, 0, 0], [3.06, 3.06, 0]], elements=["Pb", "Pb"], certainty=[0.5, 1.2]).occupancy
    array([0.5, 1. ])
    """
    from ..nanocrystal import add_anion_sublattice, build_nanocrystal

    if builder is not None:
        m = build_nanocrystal(**builder)
        return PatternModel(m.positions, m.elements, m.occupancy, m.sites, m.lattice_parameter if m.on_grid else None,
                            _builder_description(m.parameters), m)
    pos = np.asarray(positions, dtype=float)
    els = np.asarray(elements).astype(str)
    occ = np.ones(len(pos)) if occupancy is None else np.asarray(occupancy, dtype=float)
    if certainty is not None:
        occ = occ * np.clip(np.asarray(certainty, dtype=float), 0.0, 1.0)
    desc = f"layer '{name}'"
    a = lattice_parameter
    n_added = 0
    for step in ([complete] if isinstance(complete, dict) else complete or []):
        anion = step["anion"]
        a = step["lattice_parameter"]
        pos, els, occ, added = add_anion_sublattice(
            pos, els, a, anion=anion, structure=step["structure"], occupancy=occ, cation=step.get("cation"),
            min_neighbours=step.get("min_neighbours", 1), polarity=step.get("polarity", 1),
        )
        n_added += added
        around = f" around {step['cation']}" if step.get("cation") else ""
        desc += f" + {added} {anion} ({step['structure']} sublattice{around})"
    return PatternModel(pos, els, occ, None, a, desc, n_added=n_added)


def q_grid(x_min: float, x_max: float, step: float, wavelength: float, axis: str = "q"):
    """The points of a pattern asked for by range and step on the Q or the 2θ axis.

    Parameters
    ----------
    x_min, x_max, step : float
        In the axis unit (Å⁻¹ or °); ``x_max`` is reached to within half a step.
    wavelength : float
        Å (converts between Q and 2θ).
    axis : {"q", "two_theta"}

    Returns
    -------
    x : (M,) ndarray
        In the axis unit.
    q : (M,) ndarray
        Å⁻¹.
    two_theta : (M,) ndarray or None
        °; None on the Q axis where a Q exceeds 4π/λ.

    Raises
    ------
    ValueError
        An empty range, more than :data:`MAX_POINTS` points, 2θ beyond 180°.

    Examples
    --------
    >>> x, q, tt = q_grid(1.0, 2.0, 0.25, 0.7)
    >>> x.tolist(), [round(float(v), 3) for v in tt]
    ([1.0, 1.25, 1.5, 1.75, 2.0], [6.387, 7.986, 9.586, 11.188, 12.793])
    >>> x, q, tt = q_grid(10.0, 20.0, 5.0, 0.7, axis="two_theta")
    >>> [round(float(v), 4) for v in q]
    [1.5646, 2.3432, 3.1173]
    """
    from ..debye import q_to_two_theta, two_theta_to_q

    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}; got {axis!r}")
    lo, hi, step = float(x_min), float(x_max), float(step)
    if not hi > lo:
        raise ValueError(f"the range {lo:g} to {hi:g} is empty: 'to' must be larger than 'from'")
    if not step > 0:
        raise ValueError(f"the step must be positive; got {step:g}")
    n = int(round((hi - lo) / step)) + 1
    if n > MAX_POINTS:
        raise ValueError(f"{n} points is too many (at most {MAX_POINTS}); use a larger step")
    x = np.linspace(lo, lo + (n - 1) * step, n)
    if axis == "two_theta":
        if hi > 180:
            raise ValueError("2θ goes up to 180°")
        return x, two_theta_to_q(x, wavelength), x
    try:
        tt = q_to_two_theta(x, wavelength)
    except ValueError:
        tt = None  # Q beyond 4π/λ: no 2θ column
    return x, x, tt


def q_range(q_min: float, q_max: float, q_step: float) -> np.ndarray:
    """Q from ``q_min`` to ``q_max`` (included) in steps of ``q_step``, Å⁻¹ (the command line's grid).

    Examples
    --------
    >>> q_range(0.5, 1.0, 0.1).round(2).tolist()
    [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    """
    if not all(math.isfinite(v) for v in (q_min, q_max, q_step)) or not (q_step > 0 and q_max > q_min):
        raise ValueError(f"the Q range {q_min}..{q_max} Å⁻¹ with step {q_step} is empty")
    from ..debye.intensity import pattern_bytes

    n = math.floor((q_max - q_min) / q_step + 0.5) + 1
    check_memory(pattern_bytes(n), f"the Q grid {q_min:g}..{q_max:g} Å⁻¹ in steps of {q_step:g} ({n:.3g} points)",
                 "use a larger Q step (--q-step) or a smaller Q max (--q-max)")
    return np.arange(q_min, q_max + 0.5 * q_step, q_step)


@dataclass
class PatternResult:
    """A computed pattern (:func:`compute_pattern`).

    Attributes
    ----------
    x : (M,) ndarray
        The abscissae in the axis unit.
    q : (M,) ndarray
        Å⁻¹.
    two_theta : (M,) ndarray or None
        ° (None where Q exceeds 4π/λ or no wavelength was given).
    intensity : (M,) ndarray
        Electrons² (X-rays) or fm² (neutrons) per particle.
    axis : str
        ``"q"`` or ``"two_theta"``.
    radiation : str
    wavelength : float or None
        Å.
    energy_keV : float or None
        The energy of the anomalous terms (None: without them).
    b_iso : float, dict or None
        Debye-Waller B, Å².
    method : str
        As asked (``"auto"``, ``"exact"``, ``"histogram"``, ``"lattice"``).
    model : PatternModel
    r, g : (K,) ndarray or None
        G(r) (Å, Å⁻²), when asked.
    self_term : str
        ``"occupancy"`` or ``"squared"`` (see ``debye_intensity``).
    """

    x: np.ndarray
    q: np.ndarray
    two_theta: np.ndarray | None
    intensity: np.ndarray
    axis: str
    radiation: str
    wavelength: float | None
    energy_keV: float | None
    b_iso: object
    method: str
    model: PatternModel
    r: np.ndarray | None = None
    g: np.ndarray | None = None
    self_term: str = "occupancy"

    @property
    def q_max(self) -> float:
        """The largest Q of the pattern, Å⁻¹ (where G(r) is terminated)."""
        return float(np.max(self.q))

    def on_axis(self, x, axis: str):
        """Abscissae ``x`` given on ``axis`` (``"q"``: Å⁻¹, ``"two_theta"``: °) in this pattern's axis unit.

        Raises
        ------
        ValueError
            Between Q and 2θ without a wavelength, or for a Q no angle
            reaches at it.

        Examples
        --------
        >>> p = PatternResult(np.array([1.0, 2.0]), np.array([1.0, 2.0]), None, np.ones(2), "q", "xray", 1.5406,
        ...                   None, None, "auto", None)
        >>> p.on_axis([28.387], "two_theta").round(3).tolist(), p.q_max
        ([2.0], 2.0)
        """
        from ..debye import Beam

        if axis not in AXES:
            raise ValueError(f"axis must be one of {AXES}; got {axis!r}")
        if axis == self.axis:
            return np.asarray(x, dtype=float)
        if self.wavelength is None:
            raise ValueError("the pattern has no wavelength to convert between Q and 2θ")
        beam = Beam.from_wavelength(self.wavelength, self.radiation)
        return beam.q(x) if axis == "two_theta" else beam.two_theta(x)


def _stage_reporter(progress, cancel):
    """``report(lo, hi)``: a ``progress(fraction)`` callback for the part lo..hi of the work (per mille)."""

    def report(lo, hi):
        def f(frac):
            if cancel is not None and cancel():
                raise PatternCancelled("cancelled")
            if progress is not None:
                progress(int(round(1000 * (lo + (hi - lo) * float(frac)))), 1000)

        return f

    return report


def compute_pattern(model: PatternModel, q, *, x=None, two_theta=None, axis: str = "q", radiation: str = "xray",
                    wavelength: float | None = None, energy_keV: float | None = None, b_iso=None,
                    method: str = "auto", with_gr: bool = False, r_max: float = 0.0, lattice_hint: bool = True,
                    self_term: str = "occupancy", progress=None, cancel=None) -> PatternResult:
    """The Debye pattern of a model (and its G(r)).

    Parameters
    ----------
    model : PatternModel
        :func:`pattern_model`.
    q : (M,) array
        Å⁻¹ (:func:`q_grid` or :func:`q_range`).
    x, two_theta : (M,) array, optional
        The abscissae in the axis unit (default ``q``) and 2θ (°), kept in
        the result.
    axis : {"q", "two_theta"}
    radiation : {"xray", "constant", "neutron"}
    wavelength : float, optional
        Å, kept in the result.
    energy_keV : float, optional
        X-rays: the energy of the anomalous terms f′ + i f″ (None: f0 only).
    b_iso : float or dict, optional
        Debye-Waller B per element, Å².
    method : {"auto", "exact", "histogram", "lattice"}
    with_gr : bool
        Also the pair distribution G(r) on 0..r_max in steps of 0.01 Å.
    r_max : float
        Å; 0: the model's size plus 1 Å.
    lattice_hint : bool
        Hand the model's lattice parameter to ``debye_intensity`` (its grid
        is then a/4); False lets it detect the grid from the positions (the
        two agree to ~1e-13 relative).
    self_term : {"occupancy", "squared"}
        Self-scattering weight of a partly occupied site: ``o`` (the mean
        over random vacancies, default) or ``o²`` (the seed's eq. 1); see
        :func:`~napari_nxtomo.core.debye.debye_intensity`.
    progress : callable, optional
        ``progress(i, 1000)``: per mille of the work done.
    cancel : callable, optional
        ``cancel() -> bool``, polled with the progress; True stops the
        computation with :class:`PatternCancelled`.

    Returns
    -------
    PatternResult

    Examples
    --------
    >>> gold = pattern_model({"structure": "fcc", "elements": ("Au",), "a": 4.08, "diameter": 10.0})
    >>> x, q, tt = q_grid(1.0, 4.0, 0.5, 0.7)
    >>> p = compute_pattern(gold, q, x=x, two_theta=tt, wavelength=0.7, b_iso=0.5, with_gr=True, r_max=10.0)
    >>> p.intensity.shape, p.g.shape, bool(np.all(p.intensity > 0))
    ((7,), (1001,), True)
    """
    from ..debye import debye_intensity

    q = np.asarray(q, dtype=float)
    report = _stage_reporter(progress, cancel)
    report(0.0, 0.0)(0.0)
    split = 0.8 if with_gr else 1.0
    grid_a = model.lattice_parameter if (lattice_hint and model.sites is None) else None
    intensity = debye_intensity(
        model.positions, model.elements, q, b_iso=b_iso, occupancy=model.occupancy, method=method,
        radiation=radiation, energy_keV=energy_keV, lattice_parameter=grid_a, sites=model.sites,
        self_term=self_term, progress=report(0.0, split),
    )
    result = PatternResult(q if x is None else np.asarray(x, dtype=float), q, two_theta, intensity, axis, radiation,
                           wavelength, energy_keV, b_iso, method, model, self_term=self_term)
    if with_gr:
        result.r, result.g = _pair_distribution(model, result.q_max, r_max, grid_a, radiation=radiation,
                                                energy_keV=energy_keV, method=method, progress=report(split, 1.0))
    if progress is not None:
        progress(1000, 1000)
    return result


def _pair_distribution(model: PatternModel, q_max, r_max, grid_a, *, radiation, energy_keV, method, progress):
    """(r, G(r)) of the model on 0..r_max Å in steps of 0.01 Å (r_max 0: its size + 1 Å), terminated at q_max."""
    from ..debye import pair_distance_histogram, pair_distribution

    centre = model.positions.mean(axis=0)
    size = 2.0 * float(np.max(np.linalg.norm(model.positions - centre, axis=1))) + 1.0
    rmax = r_max if r_max > 0 else size
    h = pair_distance_histogram(
        model.positions, model.elements, model.occupancy,
        "histogram" if method in ("exact", "histogram") else method,
        lattice_parameter=grid_a, sites=model.sites, progress=progress,
    )
    r = np.arange(0.0, rmax + 1e-9, 0.01)
    g = pair_distribution(model.positions, model.elements, r, model.occupancy, q_max=q_max, radiation=radiation,
                          energy_keV=energy_keV, histogram=h)
    return r, g
