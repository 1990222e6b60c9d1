"""Least-squares refinement of a :class:`PopulationModel` against a measured pattern, and χ² scans.

:func:`refine_pattern` refines the parameters the user frees (scipy's
``least_squares``, trust-region reflective, within bounds) and reports
reduced χ², R_wp, uncertainties and correlations from the Jacobian.
:func:`scan_parameter` refines at each value of one parameter (α_RH, Δr_Pb,
the shell thickness, a size ...) and returns χ² against it, as Fig. 1c of
the seed paper; its points are independent and run on a Dask cluster (a
``dask.distributed`` Client or LocalCluster), a ``concurrent.futures``
executor, or one after the other.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from .population import (
    REBUILD_STRAIN,
    PopulationModel,
    _structure_sums,
    chebyshev_background,
    class_diameters,
    population_intensity,
)

__all__ = ["PARAMETERS", "RefineCancelled", "RefineResult", "ScanResult", "refine_pattern", "scan_parameter"]

#: refinable parameters (``"b_iso_<element>"`` and ``"background_<n>"`` too) and their default bounds
PARAMETERS = {
    "mean_diameter": (5.0, 1000.0),
    "width": (0.005, 0.6),
    "lattice_parameter": (2.0, 20.0),
    "alpha_rh": (57.0, 63.0),
    "delta_r_pb": (0.0, 0.6),
    "occupancy_core": (0.0, 1.0),
    "occupancy_shell": (0.0, 1.0),
    "b_iso": (0.0, 10.0),
    "scale": (0.0, np.inf),
    "background": (-np.inf, np.inf),
}
#: forward-difference steps of the Jacobian: (absolute, relative to the value)
_STEPS = {
    "mean_diameter": (0.0, 2e-4), "width": (2e-4, 0.0), "lattice_parameter": (0.0, 4e-6),
    "alpha_rh": (0.01, 0.0), "delta_r_pb": (0.003, 0.0), "occupancy_core": (1e-4, 0.0),
    "occupancy_shell": (1e-4, 0.0), "b_iso": (1e-3, 0.0), "scale": (0.0, 1e-6), "background": (1e-6, 1e-6),
}
#: parameters that change the set of distances (each new value rebuilds the pair database)
_STRUCTURAL = ("alpha_rh", "delta_r_pb", "shell_thickness")


class RefineCancelled(Exception):
    """Raised by :func:`refine_pattern` and :func:`scan_parameter` when their ``cancel()`` returns True."""


@dataclass
class RefineResult:
    """Outcome of :func:`refine_pattern`.

    Attributes
    ----------
    model : PopulationModel
        The refined model (the last good one when not converged).
    params, uncertainties : dict
        Refined value and standard uncertainty (1σ, from ``(JᵀJ)⁻¹ χ²_red``)
        of each free parameter.
    correlations : (n, n) ndarray
        Correlation matrix of the free parameters, in ``free_names`` order.
    free_names : list of str
    chi2_red : float
        ``Σ ((I_obs - I_calc) / σ)² / (N - n_free)``.
    r_wp : float
        ``sqrt(Σ w (I_obs - I_calc)² / Σ w I_obs²)``, w = 1/σ².
    q, intensity, difference : (M,) ndarray
        The measured Q, the model at them and ``I_obs - I_calc``.
    converged : bool
    message : str
    n_evaluations : int
    """

    model: PopulationModel
    params: dict
    uncertainties: dict
    correlations: np.ndarray
    free_names: list
    chi2_red: float
    r_wp: float
    q: np.ndarray
    intensity: np.ndarray
    difference: np.ndarray
    converged: bool
    message: str
    n_evaluations: int = 0


@dataclass
class ScanResult:
    """χ² over one parameter (:func:`scan_parameter`): ``values``, ``chi2_red`` and each point's RefineResult."""

    name: str
    values: np.ndarray
    chi2_red: np.ndarray
    results: list = field(default_factory=list)

    @property
    def best(self) -> float:
        """The scanned value of the lowest χ²."""
        return float(self.values[int(np.argmin(self.chi2_red))])


def _expand(model: PopulationModel, free) -> list:
    names = []
    for name in free:
        if name == "background":
            names += [f"background_{k}" for k in range(len(model.background))]
        elif name == "shell_thickness":
            raise ValueError("shell_thickness moves atoms between core and shell in steps: it has no gradient; "
                             "scan it with scan_parameter(..., 'shell_thickness', values) instead of freeing it")
        elif name in PARAMETERS or (name.startswith("b_iso_") and name[6:] in model.elements):
            names.append(name)
        else:
            raise ValueError(f"unknown parameter {name!r}; refinable: {sorted(PARAMETERS)} and b_iso_<element>")
        if name in ("mean_diameter", "width") and model.sizes is not None:
            raise ValueError(f"{name} applies to the log-normal distribution; this model has explicit sizes=")
    if len(set(names)) != len(names):
        raise ValueError(f"a parameter is freed twice: {names}")
    return names


def _family(name: str) -> str:
    return "background" if name.startswith("background_") else ("b_iso" if name.startswith("b_iso") else name)


def _bounds(model, names, bounds):
    lo, hi = [], []
    for n in names:
        b = (bounds or {}).get(n, PARAMETERS[_family(n)])
        if n == "lattice_parameter" and n not in (bounds or {}):
            b = (0.97 * model.lattice_parameter, 1.03 * model.lattice_parameter)
        if n == "mean_diameter" and n not in (bounds or {}):
            d = class_diameters(model)
            b = (max(b[0], d[0]), min(b[1], d[-1]))
        lo.append(float(b[0]))
        hi.append(float(b[1]))
    return np.array(lo), np.array(hi)


def _check_data(q, y, sigma):
    q, y = np.asarray(q, dtype=float), np.asarray(y, dtype=float)
    sigma = np.sqrt(np.maximum(y, 1.0)) if sigma is None else np.asarray(sigma, dtype=float)
    if not (q.ndim == 1 and q.shape == y.shape == sigma.shape):
        raise ValueError(f"q, intensity and sigma must be 1-D arrays of one length; got {q.shape}, {y.shape}, "
                         f"{sigma.shape}")
    if np.any(~np.isfinite(q)) or np.any(q <= 0) or np.any(np.diff(q) <= 0):
        raise ValueError("q must be positive, finite and strictly increasing (Å⁻¹); read the file with read_pattern")
    if q.max() > 4 * math.pi * 6.0:
        raise ValueError(f"Q reaches {q.max():g} Å⁻¹, beyond the X-ray form factors' range (4π·6 = 75 Å⁻¹); "
                         "cut the pattern, or is the first column 2θ?")
    if np.any(~np.isfinite(y)) or np.any(~np.isfinite(sigma)) or np.any(sigma <= 0):
        raise ValueError("intensities must be finite and uncertainties positive (σ > 0)")
    return q, y, sigma


class _Objective:
    """Weighted residuals of a model with some parameters set, with cached structure sums and the best point."""

    def __init__(self, model, names, q, y, sigma, progress=None, cancel=None, max_evaluations=0):
        self.model, self.names, self.q, self.y, self.sigma = model, names, q, y, sigma
        self.progress, self.cancel, self.max_evaluations = progress, cancel, max_evaluations
        self._key, self._sums = None, None
        self.best = (np.inf, None)
        self.n_eval = 0

    def model_at(self, x) -> PopulationModel:
        return self.model.with_parameters(**dict(zip(self.names, map(float, x))))

    def sums(self, m):
        key = (m.mean_diameter, m.width, m.lattice_parameter) + tuple(getattr(m, s) for s in _STRUCTURAL)
        if key != self._key:
            self._key, self._sums = key, _structure_sums(m, self.q)
        return self._sums

    def __call__(self, x):
        if self.cancel is not None and self.cancel():
            raise RefineCancelled("the refinement was cancelled")
        m = self.model_at(x)
        r = (population_intensity(m, self.q, sums=self.sums(m)) - self.y) / self.sigma
        self.n_eval += 1
        if self.progress is not None:
            self.progress(min(self.n_eval, self.max_evaluations), self.max_evaluations)
        cost = float(r @ r)
        if np.isfinite(cost) and cost < self.best[0]:
            self.best = (cost, np.array(x, dtype=float))
        return r

    def jacobian(self, x, lo, hi):
        r0 = self(x)
        jac = np.empty((r0.size, len(x)))
        for k, n in enumerate(self.names):
            ab, rel = _STEPS[_family(n)]
            h = max(ab, rel * abs(x[k])) or 1e-8
            if x[k] + h > hi[k]:
                h = -h
            xk = np.array(x, dtype=float)
            xk[k] += h
            jac[:, k] = (self(xk) - r0) / h
        return jac


def _linear_start(model, names, q, y, sigma):
    """Scale and background coefficients (those free) by weighted linear least squares at the start."""
    lin = [n for n in names if n == "scale" or n.startswith("background_")]
    if not lin:
        return model
    struct = population_intensity(model.with_parameters(scale=1.0), q, background=False)
    rhs, cols = y.copy(), []
    for n in lin:
        if n == "scale":
            cols.append(struct)
        else:
            c = np.zeros(len(model.background))
            c[int(n[11:])] = 1.0
            cols.append(chebyshev_background(c, q))
    if "scale" not in lin:
        rhs = rhs - model.scale * struct
    fixed = [0.0 if f"background_{k}" in lin else c for k, c in enumerate(model.background)]
    rhs = rhs - chebyshev_background(fixed, q)
    sol = np.linalg.lstsq(np.column_stack(cols) / sigma[:, None], rhs / sigma, rcond=None)[0]
    vals = dict(zip(lin, map(float, sol)))
    if "scale" in vals:
        vals["scale"] = max(vals["scale"], 1e-300)
    return model.with_parameters(**vals)


def _finish(obj, x, jac, converged, message):
    m = obj.model_at(x)
    calc = population_intensity(m, obj.q)
    r = (calc - obj.y) / obj.sigma
    dof = max(obj.y.size - len(x), 1)
    chi2 = float(r @ r) / dof
    w = 1.0 / obj.sigma**2
    rwp = float(np.sqrt(np.sum(w * (obj.y - calc) ** 2) / np.sum(w * obj.y**2)))
    try:
        cov = np.linalg.pinv(jac.T @ jac) * chi2
    except np.linalg.LinAlgError:
        cov = np.full((len(x), len(x)), np.nan)
    err = np.sqrt(np.maximum(np.diag(cov), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(err, err)
    params = {n: float(v) for n, v in zip(obj.names, x)}
    unc = {n: float(e) for n, e in zip(obj.names, err)}
    return RefineResult(m, params, unc, corr, list(obj.names), chi2, rwp, obj.q, calc, obj.y - calc,
                        converged, message, obj.n_eval)


def refine_pattern(q, intensity, sigma=None, *, model: PopulationModel, free=("scale", "background"),
                   bounds: dict | None = None, max_evaluations: int = 400, progress=None,
                   cancel=None) -> RefineResult:
    """Refine a population model against a measured pattern by weighted least squares.

    Parameters
    ----------
    q : (M,) array
        Q in Å⁻¹, strictly increasing (:func:`napari_nxtomo.core.pattern_io.read_pattern`).
    intensity : (M,) array
        Measured intensity.
    sigma : (M,) array, optional
        Standard uncertainties (weights 1/σ²); default sqrt(max(I, 1)).
    model : PopulationModel
        The start.  Its size classes (``size_range``, nominal diameters) are
        fixed at the start values; the atoms of each class are fixed in
        lattice units at the reference cell edge a0 (the start's), so when
        the refined cell edge differs from a0 by more than
        ``REBUILD_STRAIN`` the database is rebuilt at the refined edge and
        the refinement run again (at most twice).
    free : sequence of str
        Parameters to refine: ``mean_diameter``, ``width``,
        ``lattice_parameter``, ``alpha_rh``, ``delta_r_pb``,
        ``occupancy_core``, ``occupancy_shell``, ``b_iso`` (one B for all
        elements) or ``b_iso_<element>``, ``scale``, ``background`` (all its
        Chebyshev coefficients) or ``background_<n>``.
    bounds : dict, optional
        Name -> (low, high); defaults in :data:`PARAMETERS` (the cell edge
        ±3 %, the mean diameter within the size classes).
    max_evaluations : int
        Most pattern evaluations of the optimiser.
    progress, cancel : callable, optional
        ``progress(i, n)`` after each pattern evaluation (i of at most n);
        ``cancel() -> bool`` before each: True raises :class:`RefineCancelled`.

    Returns
    -------
    RefineResult
        When the optimiser stops without converging, ``converged`` is False,
        ``message`` says why, a warning is issued and the parameters are the
        best ones met.

    Examples
    --------
    >>> import numpy as np
    >>> q = np.linspace(1.5, 6.0, 120)
    >>> true = PopulationModel(mean_diameter=18.0, width=0.1, n_sizes=3, size_range=(14.0, 22.0), scale=1e-3,
    ...                        b_iso=0.8)
    >>> y = population_intensity(true, q)
    >>> start = true.with_parameters(scale=2e-3)
    >>> res = refine_pattern(q, y, np.sqrt(y), model=start, free=("scale",))
    >>> round(res.params["scale"] * 1e3, 6), res.converged, res.chi2_red < 1e-12
    (1.0, True, True)
    """
    q, y, sigma = _check_data(q, intensity, sigma)
    if model.sizes is None and model.size_range is None:
        d = class_diameters(model)
        model = model.with_parameters(size_range=(float(d[0]), float(d[-1])))
    if model.reference_lattice_parameter is None:
        model = model.with_parameters(reference_lattice_parameter=float(model.lattice_parameter))
    names = _expand(model, free)
    if not names:
        raise ValueError("free is empty: name at least one parameter to refine")
    run = dict(progress=progress, cancel=cancel)
    res = _refine(model, names, q, y, sigma, bounds, max_evaluations, **run)
    for _ in range(2):
        # the size classes' atoms are fixed in lattice units at a0: define them at the refined cell edge
        a0 = res.model.reference_lattice_parameter
        if abs(res.model.lattice_parameter / a0 - 1.0) <= REBUILD_STRAIN or not res.converged:
            break
        rebuilt = res.model.with_parameters(reference_lattice_parameter=res.model.lattice_parameter)
        res = _refine(rebuilt, names, q, y, sigma, bounds, max_evaluations, **run)
    return res


def _refine(model, names, q, y, sigma, bounds, max_evaluations, progress=None, cancel=None):
    lo, hi = _bounds(model, names, bounds)
    model = _linear_start(model, names, q, y, sigma)
    obj = _Objective(model, names, q, y, sigma, progress, cancel, max_evaluations)
    x0 = np.clip([model.parameter(n) for n in names], lo, hi)
    try:
        sol = least_squares(obj, x0, jac=lambda x: obj.jacobian(x, lo, hi), bounds=(lo, hi), x_scale="jac",
                            method="trf", max_nfev=max_evaluations, xtol=1e-10, ftol=1e-10, gtol=1e-10)
        x, converged, message = sol.x, bool(sol.status > 0), str(sol.message)
    except (ValueError, np.linalg.LinAlgError) as exc:
        if obj.best[1] is None:
            raise
        x, converged, message = obj.best[1], False, f"the refinement failed ({exc}); the best parameters met are kept"
    if obj.best[1] is not None and obj.best[0] < float(np.sum(obj(x) ** 2)):
        x = obj.best[1]
    if not converged:
        warnings.warn(f"the refinement did not converge: {message}; the best parameters met are kept. Free fewer "
                      "parameters, start closer or allow more evaluations", UserWarning, stacklevel=3)
    return _finish(obj, x, obj.jacobian(x, lo, hi), converged, message)


def _scan_point(args, cancel=None):
    q, y, sigma, model, name, value, free, bounds, max_evaluations = args
    start = model.with_parameters(**{name: float(value)})
    return refine_pattern(q, y, sigma, model=start, free=free, bounds=bounds, max_evaluations=max_evaluations,
                          cancel=cancel)


def scan_parameter(q, intensity, sigma=None, *, model: PopulationModel, name: str, values, free=("scale", "background"),
                   bounds=None, client=None, max_evaluations: int = 400, progress=None, cancel=None) -> ScanResult:
    """χ² against one parameter, the others in ``free`` refined at each value (the seed paper's Fig. 1c).

    Parameters
    ----------
    q, intensity, sigma, model, free, bounds, max_evaluations
        As for :func:`refine_pattern`; ``name`` must not be in ``free``.
        Each point starts from ``model`` (not from its neighbour), so the
        points are independent and the numbers do not depend on where they run.
    name : str
        The scanned parameter (``alpha_rh``, ``delta_r_pb``,
        ``shell_thickness``, ``mean_diameter`` ...).
    values : sequence of float
    client : optional
        Where the points run: a ``dask.distributed`` Client (or anything with
        ``map``/``gather`` like it), a ``concurrent.futures`` Executor, the
        string ``"local"`` for a new Dask LocalCluster of 2 worker processes
        (closed afterwards; about 15 s to start, and a script that starts one
        must run under ``if __name__ == "__main__":``, as for any process
        pool), or None for one after the other in this process.
    progress, cancel : callable, optional
        One after the other only: ``progress(i, n)`` after each point,
        ``cancel() -> bool`` checked during each refinement
        (:class:`RefineCancelled`).

    Returns
    -------
    ScanResult

    Examples
    --------
    >>> import numpy as np
    >>> q = np.linspace(1.5, 6.0, 120)
    >>> true = PopulationModel(mean_diameter=18.0, width=0.1, n_sizes=3, size_range=(14.0, 22.0), scale=1e-3)
    >>> y = population_intensity(true, q)
    >>> scan = scan_parameter(q, y, np.sqrt(y), model=true, name="lattice_parameter", values=[5.9, 5.936, 5.97],
    ...                       free=("scale",))
    >>> scan.best
    5.936
    """
    q, y, sigma = _check_data(q, intensity, sigma)
    if name in free:
        raise ValueError(f"{name!r} is scanned: take it out of free")
    if model.sizes is None and model.size_range is None:
        d = class_diameters(model)
        model = model.with_parameters(size_range=(float(d[0]), float(d[-1])))
    if model.reference_lattice_parameter is None:
        model = model.with_parameters(reference_lattice_parameter=float(model.lattice_parameter))
    vals = np.asarray(values, dtype=float)
    jobs = [(q, y, sigma, model, name, v, tuple(free), bounds, max_evaluations) for v in vals]
    if client is None:
        results = []
        for k, job in enumerate(jobs):
            results.append(_scan_point(job, cancel))
            if progress is not None:
                progress(k + 1, len(jobs))
    else:
        results = _run_jobs(jobs, client)
    return ScanResult(name, vals, np.array([r.chi2_red for r in results]), results)


def _run_jobs(jobs, client):
    if isinstance(client, str):
        if client != "local":
            raise ValueError(f"client must be a Dask Client, an Executor, 'local' or None; got {client!r}")
        from dask.distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster) as c:
                return c.gather(c.map(_scan_point, jobs, pure=False))
    if hasattr(client, "gather"):
        return client.gather(client.map(_scan_point, jobs, pure=False))
    return list(client.map(_scan_point, jobs))
