"""Measured powder patterns beside a simulated one: reading, scale + background fit, CSV export.

Plain functions over numpy arrays (no Qt), used by the Debye dock and usable
from a script:

* :func:`load_pattern` reads a two-column text file (x, intensity) with ``#``
  comments, as written by most beamline and laboratory software (``.xy``,
  ``.xye``, ``.dat``, ``.csv``).
* :func:`fit_scale_background` puts a simulated pattern on the scale of a
  measured one, ``I_meas ≈ scale · I_sim + background``, by weighted linear
  least squares over the Q range both cover, and reports the reduced χ².
* :func:`write_pattern_csv` writes a simulated pattern, and optionally the
  measured one with the fitted curve, to one CSV file.
* :func:`parse_element_values` reads ``"Pb=1.2, S=0.9"`` (a number per
  element, e.g. Debye-Waller B or site occupancies) from a line of text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .tables import atomic_open

__all__ = [
    "PatternFit",
    "WEIGHTINGS",
    "fit_scale_background",
    "load_pattern",
    "parse_element_values",
    "write_pattern_csv",
]

#: how the measured points are weighted in :func:`fit_scale_background`
WEIGHTINGS = ("poisson", "unit")



# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def load_pattern(path, columns=None):
    """Read a measured powder pattern (x, intensity) from a text file.

    The file holds one point a line: the abscissa (Q in Å⁻¹ or 2θ in degrees;
    the file does not say which, the caller does) and the intensity,
    separated by spaces, tabs, commas or semicolons.  Anything after ``#`` is
    a comment; blank lines are skipped.  The first non-comment line may be a
    header of column names (no number in it); any other line that is not
    numbers is an error.  With a header the columns are found by name (the
    first of ``q``/``q_inv_A``/``2theta``/``two_theta_deg`` ..., then
    ``intensity*``/``I``/``counts``/``measured``), so that the Debye dock's
    own CSV export (``q_inv_A, two_theta_deg, intensity_e2, ...``) reads back
    as Q and intensity; without one, columns 0 and 1.  Further columns (an
    uncertainty) are ignored here; :func:`napari_nxtomo.core.pattern_io.read_pattern`
    reads them as weights.

    Parameters
    ----------
    path : str or Path
        The file.
    columns : (int, int), optional
        Indices (from 0) of the abscissa and intensity columns; by default
        chosen from the header as above, else (0, 1).

    Returns
    -------
    x, y : (M,) ndarray
        Sorted by increasing x.

    Raises
    ------
    ValueError
        If a line holds text, has too few columns, a value is not finite, an
        abscissa is repeated or there are fewer than two points.

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> path = Path(mkdtemp()) / "measured.xy"
    >>> _ = path.write_text("# Q (1/A)  I\\nQ I\\n2.0 40\\n1.0 10\\n1.5 25\\n", encoding="utf-8")
    >>> x, y = load_pattern(path)
    >>> x.tolist(), y.tolist()
    ([1.0, 1.5, 2.0], [10.0, 25.0, 40.0])
    """
    from .pattern_io import _columns, read_table

    path = Path(path)
    names, values, lines, counts = read_table(path)
    ix, iy = (int(c) for c in columns) if columns is not None else _columns(names, values.shape[1])[:2]
    need = max(ix, iy) + 1
    if values.shape[1] >= need:
        present = ~(np.isnan(values[:, ix]) & np.isnan(values[:, iy]) & (counts < values.shape[1]))
        values, lines, counts = values[present], lines[present], counts[present]
    short = counts < need
    if values.shape[1] < need or np.any(short):
        i = int(np.argmax(short)) if np.any(short) else 0
        raise ValueError(
            f"{path.name}, line {lines[i]}: {counts[i]} column(s), but column {need - 1} (from 0) is needed; "
            "the file must hold at least two columns: x (Q in Å⁻¹ or 2θ in °) and intensity"
        )
    if len(values) < 2:
        raise ValueError(f"{path.name} holds {len(values)} data point(s); a pattern needs at least two")
    data = values[:, [ix, iy]]
    if not np.all(np.isfinite(data)):
        bad = int(np.argmin(np.all(np.isfinite(data), axis=1)))
        raise ValueError(f"{path.name}: data point {bad + 1} is not finite ({data[bad].tolist()}); remove it")
    order = np.argsort(data[:, 0], kind="stable")
    x, y = data[order, 0], data[order, 1]
    if np.any(np.diff(x) == 0):
        dup = x[1:][np.diff(x) == 0][0]
        raise ValueError(f"{path.name}: the abscissa {dup:g} appears twice; one intensity per x, please")
    return x, y


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------


@dataclass
class PatternFit:
    """Result of :func:`fit_scale_background`.

    Attributes
    ----------
    scale, background : float
        ``I_meas ≈ scale · I_sim + background`` (background in measured
        units; 0 when not fitted).
    scale_err, background_err : float
        Standard errors from the least-squares covariance (scaled by the
        reduced χ² when the weights are relative, i.e. unit weights).
    chi2_red : float
        ``sum w (I_meas - fitted)^2 / (n - p)``, ``p`` the number of fitted
        parameters.
    n_points : int
        Measured points in the overlap (used in the fit).
    weighting : str
        ``"poisson"`` (w = 1/max(I_meas, floor), variance ∝ counts),
        ``"unit"`` (w = 1) or ``"sigma"`` (w = 1/σ², σ given).
    x : (n,) ndarray
        The measured abscissae in the overlap, in the simulated pattern's
        unit (Q in Å⁻¹ when both are Q).
    measured : (n,) ndarray
        The measured intensities there.
    simulated : (n,) ndarray
        The simulated pattern interpolated (linearly) at ``x``.
    fitted : (n,) ndarray
        ``scale * simulated + background``.
    weights : (n,) ndarray
    overlap : (float, float)
        The range of x used.

    Examples
    --------
    >>> fit = fit_scale_background([1, 2, 3, 4], [1.0, 4.0, 2.0, 3.0], [1, 2, 3, 4], [12.0, 18.0, 14.0, 16.0],
    ...                            weighting="unit")
    >>> round(fit.scale, 6), round(fit.background, 6), fit.apply([0.0, 1.0]).round(6).tolist()
    (2.0, 10.0, [10.0, 12.0])
    """

    scale: float
    background: float
    scale_err: float
    background_err: float
    chi2_red: float
    n_points: int
    weighting: str
    x: np.ndarray
    measured: np.ndarray
    simulated: np.ndarray
    fitted: np.ndarray
    weights: np.ndarray
    overlap: tuple
    notes: list = field(default_factory=list)

    @property
    def residual(self) -> np.ndarray:
        """``measured - fitted`` over the overlap."""
        return self.measured - self.fitted

    def apply(self, intensity):
        """The simulated intensity on the measured scale: ``scale * I + background``."""
        return self.scale * np.asarray(intensity, dtype=float) + self.background

    def describe(self) -> str:
        """One line for a status label."""
        w = {
            "poisson": "Poisson-like weights 1/I",
            "unit": "unit weights",
            "sigma": "weights 1/σ²",
        }[self.weighting]
        return (
            f"scale {self.scale:.6g} ± {self.scale_err:.2g}, background {self.background:.6g} ± "
            f"{self.background_err:.2g}; reduced χ² = {self.chi2_red:.4g} ({w}, {self.n_points} points, "
            f"x {self.overlap[0]:.4g}–{self.overlap[1]:.4g})"
        )


def fit_scale_background(
    x_sim,
    i_sim,
    x_meas,
    i_meas,
    *,
    weighting: str = "poisson",
    sigma=None,
    background: bool = True,
    poisson_floor: float = 1e-3,
) -> PatternFit:
    """Fit ``I_meas ≈ scale · I_sim + background`` over the range both patterns cover.

    The simulated pattern is interpolated linearly at the measured
    abscissae that lie inside its range; scale (and the flat background) are
    the weighted linear least-squares solution there.

    Parameters
    ----------
    x_sim, i_sim : (M,) arrays
        Simulated pattern (x increasing or not; the unit is the caller's: Q
        in Å⁻¹ or 2θ in degrees, the same as ``x_meas``).
    x_meas, i_meas : (K,) arrays
        Measured pattern, the same x unit.
    weighting : {"poisson", "unit"}
        ``"poisson"``: variance proportional to the measured intensity (as
        for counts), ``w = 1 / max(I_meas, floor)`` with ``floor =
        poisson_floor · max(I_meas)``; χ² is then absolute when the intensity
        is in counts.  ``"unit"``: every point weighs the same (χ² in
        squared intensity units).  Ignored when ``sigma`` is given.
    sigma : (K,) array, optional
        Standard uncertainty of each measured intensity (w = 1/σ²).
    background : bool
        Fit the flat background too (else it is 0).
    poisson_floor : float
        Relative floor of the Poisson-like variance (keeps weak or negative
        points from dominating).

    Returns
    -------
    PatternFit

    Raises
    ------
    ValueError
        If the patterns do not overlap in x (with at least one point more
        than parameters), or the simulated pattern is flat there.

    Examples
    --------
    >>> q = np.linspace(1.0, 5.0, 41)
    >>> simulated = 1.0 + np.cos(3 * q) ** 2
    >>> fit = fit_scale_background(q, simulated, q[::2], 3.0 * simulated[::2] + 0.5)
    >>> round(fit.scale, 6), round(fit.background, 6), fit.n_points, fit.weighting
    (3.0, 0.5, 21, 'poisson')
    """
    xs = np.asarray(x_sim, dtype=float).ravel()
    ys = np.asarray(i_sim, dtype=float).ravel()
    xm = np.asarray(x_meas, dtype=float).ravel()
    ym = np.asarray(i_meas, dtype=float).ravel()
    if xs.shape != ys.shape or xs.size < 2:
        raise ValueError("the simulated pattern needs matching x and intensity arrays of at least two points")
    if xm.shape != ym.shape or xm.size < 2:
        raise ValueError("the measured pattern needs matching x and intensity arrays of at least two points")
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys)) and np.all(np.isfinite(xm)) and np.all(np.isfinite(ym))):
        raise ValueError("the patterns must be finite numbers")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}; got {weighting!r}")
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    n_par = 2 if background else 1
    inside = _overlap(xs, xm, n_par)
    x = xm[inside]
    meas = ym[inside]
    sim = np.interp(x, xs, ys)
    w, kind, notes = _fit_weights(meas, xm, inside, sigma, weighting, poisson_floor)
    coef, err, fitted, chi2_red = _weighted_linear_fit(sim, meas, w, background, kind)
    return PatternFit(
        scale=float(coef[0]),
        background=float(coef[1]) if background else 0.0,
        scale_err=float(err[0]),
        background_err=float(err[1]) if background else 0.0,
        chi2_red=chi2_red,
        n_points=int(x.size),
        weighting=kind,
        x=x,
        measured=meas,
        simulated=sim,
        fitted=fitted,
        weights=w,
        overlap=(float(x.min()), float(x.max())),
        notes=notes,
    )


def _overlap(xs, xm, n_par: int) -> np.ndarray:
    """The measured points inside the (sorted) simulated range; an error when too few to fit ``n_par`` parameters."""
    lo, hi = max(xs[0], xm.min()), min(xs[-1], xm.max())
    inside = (xm >= xs[0]) & (xm <= xs[-1])
    if not np.any(inside) or lo > hi or inside.sum() <= n_par:
        raise ValueError(
            f"the measured pattern (x {xm.min():.4g}–{xm.max():.4g}) and the simulated one "
            f"(x {xs[0]:.4g}–{xs[-1]:.4g}) overlap in {int(inside.sum())} measured point(s), too few to fit "
            f"{'scale and background' if n_par == 2 else 'a scale'}; compute the pattern over the measured range "
            "(and check that both use the same axis, Q in Å⁻¹ or 2θ in °, and the same wavelength)"
        )
    return inside


def _fit_weights(meas, xm, inside, sigma, weighting: str, poisson_floor: float):
    """(weights, their kind, notes) of the measured points in the overlap."""
    notes = []
    if sigma is not None:
        s = np.asarray(sigma, dtype=float).ravel()
        if s.shape != xm.shape or np.any(~np.isfinite(s)) or np.any(s <= 0):
            raise ValueError("sigma must hold one positive, finite uncertainty per measured point")
        return 1.0 / s[inside] ** 2, "sigma", notes
    if weighting == "poisson":
        floor = poisson_floor * float(np.max(np.abs(meas)))
        if floor <= 0:
            raise ValueError("the measured intensities are all zero in the overlap; nothing to fit")
        n_low = int(np.sum(meas < floor))
        if n_low:
            notes.append(f"{n_low} point(s) below {poisson_floor:g}·max weighted as the floor")
        return 1.0 / np.maximum(meas, floor), "poisson", notes
    return np.ones_like(meas), "unit", notes


def _weighted_linear_fit(sim, meas, w, background: bool, kind: str):
    """Weighted least squares of ``meas ≈ scale · sim (+ background)``: (coef, standard errors, fitted, χ²_red)."""
    n_par = 2 if background else 1
    design = np.column_stack([sim, np.ones_like(sim)]) if background else sim[:, None]
    sw = np.sqrt(w)
    a = design * sw[:, None]
    b = meas * sw
    # centre and scale the columns so that a pattern of 1e8 e² and a constant stay well conditioned
    norms = np.linalg.norm(a, axis=0)
    if np.any(norms == 0):
        raise ValueError("the simulated pattern is zero over the overlap; nothing to scale")
    coef_n, _, rank, _ = np.linalg.lstsq(a / norms, b, rcond=None)
    if rank < n_par:
        raise ValueError(
            "the simulated pattern is flat over the overlap, so scale and background cannot be told apart; "
            "widen the Q range or fit without background"
        )
    coef = coef_n / norms
    fitted = design @ coef
    dof = sim.size - n_par
    chi2 = float(np.sum(w * (meas - fitted) ** 2))
    chi2_red = chi2 / dof
    cov = np.linalg.pinv(a.T @ a)
    if kind == "unit":
        cov = cov * chi2_red
    err = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return coef, err, fitted, chi2_red


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------


def _fmt(v, digits: int = 10) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}g}"


def write_pattern_csv(path, columns: dict, extra: dict | None = None, comments=(), *, digits: int = 10) -> Path:
    """Write pattern columns to a CSV file (the one writer of patterns: dock, CLI, demo).

    Parameters
    ----------
    path : str or Path
        The file (``.csv``).
    columns : dict
        Column name -> (M,) array: the simulated pattern (e.g. ``q_inv_A``,
        ``two_theta_deg``, ``intensity``, ``fitted``).
    extra : dict, optional
        Column name -> (K,) array on another grid (the measured pattern and
        the fit at its points).  Written beside ``columns``; the shorter
        block's cells are left empty below its end.
    comments : sequence of str
        Lines written first, each after ``# `` (pandas reads the file back
        with ``pd.read_csv(path, comment="#")``).
    digits : int
        Significant digits of the numbers (``%g`` format).

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "pattern.csv"
    >>> _ = write_pattern_csv(path, {"q_inv_A": [1.0, 1.5, 2.0], "intensity": [10.0, 5.0, 2.5]},
    ...                       {"measured": [9.5, 5.2]}, ["a test pattern"], digits=4)
    >>> print(path.read_text(encoding="utf-8"), end="")
    # a test pattern
    q_inv_A,intensity,measured
    1,10,9.5
    1.5,5,5.2
    2,2.5,
    """
    path = Path(path)
    blocks = dict(columns)
    blocks.update(extra or {})
    arrays = {k: np.asarray(v, dtype=float).ravel() for k, v in blocks.items()}
    if not arrays:
        raise ValueError("nothing to write: no pattern columns")
    for k in arrays:
        if "," in k or "#" in k:
            raise ValueError(f"column name {k!r} may hold neither ',' nor '#'")
    n = max(a.size for a in arrays.values())
    lines = [f"# {c}" for c in comments]
    lines.append(",".join(arrays))
    for i in range(n):
        lines.append(",".join(_fmt(float(a[i]), digits) if i < a.size else "" for a in arrays.values()))
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------
# Text input
# ---------------------------------------------------------------------------


def parse_element_values(text, what: str = "value", *, allow_single: bool = True, lo=None, hi=None):
    """``"Pb=1.2, S=0.9"`` -> ``{"Pb": 1.2, "S": 0.9}``; ``"0.8"`` -> ``0.8``; ``""`` -> None.

    Parameters
    ----------
    text : str
        Element=number pairs separated by commas or semicolons, or (with
        ``allow_single``) one number for every element.
    what : str
        What the numbers are, for the error messages (e.g. ``"B (Å²)"``).
    allow_single : bool
        Accept one bare number.
    lo, hi : float, optional
        Allowed range (inclusive).

    Returns
    -------
    None, float or dict

    Raises
    ------
    ValueError
        On anything else, with an example of the expected form.

    Examples
    --------
    >>> parse_element_values("Pb=1.2, S=0.9", "B (Å²)", lo=0.0)
    {'Pb': 1.2, 'S': 0.9}
    >>> parse_element_values("0.8"), parse_element_values("")
    (0.8, None)
    """
    text = "" if text is None else str(text).strip()
    if not text:
        return None
    example = "e.g. 'Pb=1.2, S=0.9'" + (" or one number for all" if allow_single else "")

    def number(s, el=None):
        try:
            v = float(s)
        except ValueError:
            where = f" for {el}" if el else ""
            raise ValueError(f"{what}{where}: {s.strip()!r} is not a number ({example})") from None
        if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f" between {lo:g} and {hi:g}" if lo is not None and hi is not None else (
                f" >= {lo:g}" if lo is not None else (f" <= {hi:g}" if hi is not None else ""))
            where = f" for {el}" if el else ""
            raise ValueError(f"{what}{where} must be a finite number{rng}; got {s.strip()!r}")
        return v

    if "=" not in text:
        if not allow_single:
            raise ValueError(f"{what}: give element=value pairs ({example}), not {text!r}")
        return number(text)
    out = {}
    for part in re.split(r"[,;]", text):
        part = part.strip()
        if not part:
            continue
        el, sep, val = part.partition("=")
        el = el.strip()
        if not sep or not re.fullmatch(r"[A-Z][a-z]?", el):
            raise ValueError(f"{what}: {part!r} is not element=value ({example})")
        if el in out:
            raise ValueError(f"{what}: {el} is given twice")
        out[el] = number(val, el)
    return out
