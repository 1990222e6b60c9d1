"""Measured powder / total-scattering patterns from text files: :func:`read_pattern`.

Formats: ``.xy``, ``.xye``, ``.dat``, ``.csv`` (two or three columns of
numbers separated by spaces, tabs, commas or semicolons, ``#`` comments, an
optional header line of column names, plain or as the last comment line) and Fit2D's ``.chi`` (title, x label,
y label and point count on the first four lines).  The abscissa is Q in Å⁻¹
or 2θ in degrees (then a wavelength or a photon energy converts it to Q).
The third column, when there is one, is the standard uncertainty of the
intensity and becomes the weights of a refinement; without it the intensity
is taken as counts and ``sigma = sqrt(max(I, 1))`` (counting statistics).

The table itself is read by pandas (:func:`read_table`), which also serves
:func:`napari_nxtomo.core.patterns.load_pattern` (the Debye dock's reader).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .debye.beam import energy_to_wavelength, two_theta_to_q

__all__ = ["MeasuredPattern", "PATTERN_KEY", "PATTERN_SUFFIXES", "PatternColumns", "read_pattern", "read_pattern_columns", "read_table"]

#: the suffixes the plugin's reader opens as measured patterns (.dat and .csv are left to other readers: they
#: are as often tables of other data)
PATTERN_SUFFIXES = (".xy", ".xye", ".chi")
#: the metadata key of a measured pattern's napari layer (the reader writes it, the Debye dock looks for it)
PATTERN_KEY = "measured_pattern"

_TWO_THETA = re.compile(r"(2[\s_-]*th|tth|two[\s_-]*theta|2θ|angle|deg)", re.I)
_Q_NAME = re.compile(r"^(q|q_.*|q\s*\(.*|.*inv_a.*|.*1/a.*|.*å⁻¹.*)$", re.I)
_SIGMA_NAME = re.compile(r"(sig|esd|err|uncert|^e$|^di$|^d_i$|std)", re.I)
_INTENSITY_NAME = re.compile(r"^(i|y|int.*|counts?|measured)($|[\s_(].*)", re.I)
#: abscissa values above this cannot be Q in Å⁻¹ from a diffractometer: 2θ in degrees
_Q_MAX_PLAUSIBLE = 60.0


@dataclass
class MeasuredPattern:
    """A measured pattern on Q, with the uncertainty of each point.

    Attributes
    ----------
    q : (M,) ndarray
        Q = 4π sinθ/λ in Å⁻¹, strictly increasing.
    intensity : (M,) ndarray
        Measured intensity (counts or arbitrary units).
    sigma : (M,) ndarray
        Standard uncertainty of each intensity (> 0).
    sigma_source : str
        ``"file"`` (the file's third column) or ``"counting"`` (sqrt(max(I, 1))).
    two_theta : (M,) ndarray or None
        The file's 2θ in degrees when it held 2θ.
    wavelength : float or None
        Å, used for the conversion.
    name : str
        The file name.
    """

    q: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray
    sigma_source: str
    two_theta: np.ndarray | None = None
    wavelength: float | None = None
    name: str = ""

    @property
    def weights(self) -> np.ndarray:
        """1/σ² of each point (the least-squares weights)."""
        return 1.0 / self.sigma**2


def _text(path: Path) -> str:
    if not path.is_file():
        raise ValueError(f"no measured pattern at {str(path)!r}: choose an existing text file (x, intensity)")
    try:
        return path.read_text(encoding="utf-8-sig", errors="strict")
    except UnicodeDecodeError:
        raise ValueError(
            f"{path.name} is not a text file; export the measured pattern as two or three columns of numbers "
            "(x, intensity[, uncertainty]), e.g. .xy, .xye or .csv"
        ) from None


def _chi_labels(lines):
    """Fit2D .chi: the x label (line 2) and the data lines after the point count (line 4)."""
    if len(lines) >= 4 and re.fullmatch(r"\s*\d+\s*", lines[3][1]):
        return lines[1][1].strip(), lines[4:]
    return None, lines


def read_table(path):
    """The numbers of a pattern file: column names (or None), values and the file's line number of each row.

    Returns
    -------
    names : list of str or None
        The header line's names (or those of the comment line just before
        the data, ``# 2theta I esd``, when they are as many as the columns),
        or the .chi x label as ``[label]``, or None.
    values : (R, C) float ndarray
        NaN where a CSV cell is empty (blocks of different lengths).
    line_numbers : (R,) int ndarray
        1-based line of each row in the file.
    counts : (R,) int ndarray
        Number of non-empty cells of each row.

    Raises
    ------
    ValueError
        For a missing or binary file, text in a column of numbers, or no data.

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> path = Path(mkdtemp()) / "p.xye"
    >>> _ = path.write_text("# Q I sigma\\n1.0 10 3\\n1.5 25 5\\n", encoding="utf-8")
    >>> names, values, lines, counts = read_table(path)
    >>> names, values.tolist(), lines.tolist()
    (['Q', 'I', 'sigma'], [[1.0, 10.0, 3.0], [1.5, 25.0, 5.0]], [2, 3])
    """
    path = Path(path)
    text = _text(path)
    raw_lines = text.splitlines()
    lines = [(k, raw.split("#", 1)[0]) for k, raw in enumerate(raw_lines, start=1)]
    lines = [(k, s) for k, s in lines if s.strip()]
    comment_names = _comment_header(raw_lines, lines[0][0] if lines else 0)
    names = None
    if path.suffix.lower() == ".chi":
        label, lines = _chi_labels(lines)
        names = [label] if label else None
    first = [f for f in re.split(r"[\s,;]+", lines[0][1].strip()) if f] if lines else []
    if first and all(_number(f) is None for f in first):
        names = first
        lines = lines[1:]
    if names is None and comment_names and lines:
        if len(comment_names) == len([f for f in re.split(r"[\s,;]+", lines[0][1].strip()) if f]):
            names = comment_names
    if not lines:
        raise ValueError(f"{path.name} holds no data points; a pattern needs at least two lines of numbers")
    body = "\n".join(s.strip() for _, s in lines)
    sep = r"\s*[,;]\s*|\s+"  # commas or semicolons (empty cells kept) or white space
    width = max(len(re.split(sep, s.strip())) for _, s in lines)
    table = pd.read_csv(io.StringIO(body), sep=sep, header=None, engine="python", dtype=str,
                        skipinitialspace=True, names=range(width), keep_default_na=False)
    table = table.apply(lambda col: col.str.strip())
    values = table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    text_cells = table.notna().to_numpy() & (table != "").to_numpy() & np.isnan(values)
    text_cells &= ~table.isin(["nan", "NaN", "inf", "-inf"]).to_numpy()
    if np.any(text_cells):
        row = int(np.argmax(text_cells.any(axis=1)))
        k, raw = lines[row]
        raise ValueError(
            f"{path.name}, line {k}: {raw.strip()[:60]!r} is not numbers; a measured pattern is columns of "
            "numbers (x, intensity[, uncertainty]) with comments after '#' and at most one header line"
        )
    counts = (table.notna() & (table != "")).sum(axis=1).to_numpy()
    return names, values, np.array([k for k, _ in lines]), counts


def _comment_header(raw_lines, first_data_line: int):
    """Column names in the comment line just before the data (``# 2theta I esd``), or None."""
    for raw in reversed(raw_lines[: max(first_data_line - 1, 0)]):
        text = raw.strip()
        if not text:
            continue
        if not text.startswith("#"):
            return None
        fields = [f for f in re.split(r"[\s,;]+", text.lstrip("#").strip()) if f]
        if len(fields) >= 2 and all(_number(f) is None for f in fields):
            return fields
        return None
    return None


def _number(field):
    try:
        return float(field)
    except ValueError:
        return None


def _pick(names, pattern, default):
    if names:
        for i, n in enumerate(names):
            if pattern.search(n):
                return i
    return default


def _columns(names, ncol):
    """Indices of the x, intensity and sigma columns (sigma None when absent)."""
    if names and len(names) == ncol:
        ix = _pick(names, _Q_NAME, None)
        ix = _pick(names, _TWO_THETA, 0) if ix is None else ix
        iy = next((i for i, n in enumerate(names) if i != ix and _INTENSITY_NAME.search(n)), 1 if ix == 0 else 0)
        isg = next((i for i, n in enumerate(names) if i not in (ix, iy) and _SIGMA_NAME.search(n)), None)
        return ix, iy, isg
    return 0, 1, (2 if ncol >= 3 else None)


def _x_kind(names, ix, x, x_unit, wavelength, path, guess=False):
    if x_unit in ("q", "two_theta"):
        return x_unit
    if x_unit != "auto":
        raise ValueError(f"x_unit must be 'auto', 'q' or 'two_theta'; got {x_unit!r}")
    if names and ix < len(names):
        if _Q_NAME.search(names[ix]) or re.search(r"\bq\b", names[ix], re.I):
            return "q"
        if _TWO_THETA.search(names[ix]):
            return "two_theta"
    if wavelength is not None:
        return "two_theta"
    if np.nanmax(x) > _Q_MAX_PLAUSIBLE:
        if guess:
            return "two_theta"
        raise ValueError(
            f"{path.name}: the abscissa reaches {np.nanmax(x):g}, too large for Q in Å⁻¹: it looks like 2θ in "
            "degrees; give the wavelength (wavelength= in Å) or the photon energy (energy_keV=) to convert it"
        )
    return "q"


def _wavelength(wavelength, energy_keV):
    if wavelength is not None and energy_keV is not None:
        raise ValueError("give the wavelength (Å) or the photon energy (keV), not both")
    if energy_keV is not None:
        return float(energy_to_wavelength(energy_keV))
    return None if wavelength is None else float(wavelength)


def _check_monotonic(x, lines, path):
    d = np.diff(x)
    if np.all(d < 0):
        return slice(None, None, -1)
    bad = np.nonzero(d <= 0)[0]
    if bad.size:
        i = int(bad[0])
        what = "repeats" if d[i] == 0 else "goes back to"
        raise ValueError(
            f"{path.name}, line {lines[i + 1]}: the abscissa {what} {x[i + 1]:g} after {x[i]:g} (line {lines[i]}); "
            "a pattern's x must increase (or decrease) strictly: remove duplicated points or sort the file"
        )
    return slice(None)


def _sigma(y, s, lines, path):
    if s is None:
        return np.sqrt(np.maximum(y, 1.0)), "counting"
    bad = ~(np.isfinite(s) & (s > 0))
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(
            f"{path.name}, line {lines[i]}: the uncertainty (third column) is {s[i]:g}; every uncertainty must be "
            "a positive number (a zero or negative σ gives an infinite or meaningless weight). Fix the file or "
            "drop the third column to weight by counting statistics"
        )
    return s, "file"


def read_pattern(path, *, x_unit: str = "auto", wavelength: float | None = None,
                 energy_keV: float | None = None) -> MeasuredPattern:
    """Read a measured pattern (Q or 2θ, intensity, optional uncertainty) from a text file.

    Parameters
    ----------
    path : str or Path
        ``.xy``, ``.xye``, ``.dat``, ``.chi``, ``.csv`` or any such text file.
    x_unit : {"auto", "q", "two_theta"}
        What the first column is.  ``"auto"``: the header (``Q``, ``q_inv_A``,
        ``2theta``, ``two_theta_deg`` ...) or the .chi label says; without one,
        2θ when a wavelength or energy is given, else Q in Å⁻¹.
    wavelength : float, optional
        Å, to convert 2θ (degrees) to Q.
    energy_keV : float, optional
        Photon energy instead of the wavelength.

    Returns
    -------
    MeasuredPattern
        Q strictly increasing (a decreasing file is reversed).

    Raises
    ------
    ValueError
        Text in a column, fewer than two points, non-finite values,
        duplicate or non-monotonic abscissae, a zero or negative uncertainty,
        2θ without wavelength or energy: each with the line and what to do.

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> path = Path(mkdtemp()) / "pbs.xye"
    >>> _ = path.write_text("# 2theta I esd\\n20.0 100 10\\n30.0 400 20\\n", encoding="utf-8")
    >>> p = read_pattern(path, wavelength=1.5418)
    >>> p.q.round(4).tolist(), p.sigma.tolist(), p.sigma_source
    ([1.4153, 2.1095], [10.0, 20.0], 'file')
    """
    path = Path(path)
    lam = _wavelength(wavelength, energy_keV)
    return _measured(_read_columns(path, x_unit, lam, guess=False), lam, path)


@dataclass
class PatternColumns:
    """A pattern file's columns as they are, before any conversion (:func:`read_pattern_columns`).

    Attributes
    ----------
    x : (M,) ndarray
        The abscissa, increasing: Q in Å⁻¹ or 2θ in degrees (``x_kind``).
    x_kind : str
        ``"q"`` or ``"two_theta"``.
    x_named : bool
        The kind comes from the file (a header or the .chi label), not from
        the values.
    intensity, sigma : (M,) ndarray
    sigma_source : str
        ``"file"`` or ``"counting"``.
    name : str
        The file name.
    """

    x: np.ndarray
    x_kind: str
    x_named: bool
    intensity: np.ndarray
    sigma: np.ndarray
    sigma_source: str
    name: str = ""

    def to_pattern(self, *, x_unit: str = "auto", wavelength: float | None = None,
                   energy_keV: float | None = None) -> MeasuredPattern:
        """The :class:`MeasuredPattern` on Q (2θ converted with the wavelength or energy).

        ``x_unit`` ``"auto"`` keeps the file's kind, except that a file
        without column names is 2θ when a wavelength is given (as
        :func:`read_pattern`); ``"q"`` or ``"two_theta"`` overrides it.

        Examples
        --------
        >>> c = PatternColumns(np.array([20.0, 30.0]), "two_theta", True, np.array([1.0, 4.0]), np.ones(2), "file")
        >>> c.to_pattern(wavelength=1.5418).q.round(4).tolist()
        [1.4153, 2.1095]
        """
        if x_unit not in ("auto", "q", "two_theta"):
            raise ValueError(f"x_unit must be 'auto', 'q' or 'two_theta'; got {x_unit!r}")
        lam = _wavelength(wavelength, energy_keV)
        kind = self.x_kind
        if x_unit != "auto":
            kind = x_unit
        elif not self.x_named and lam is not None:
            kind = "two_theta"
        return _measured(replace(self, x_kind=kind), lam, Path(self.name or "pattern"))


def read_pattern_columns(path, *, x_unit: str = "auto") -> PatternColumns:
    """Read a pattern file's columns without converting them (no wavelength needed): the plugin's reader.

    Parameters
    ----------
    path : str or Path
        A pattern file, as :func:`read_pattern`.
    x_unit : {"auto", "q", "two_theta"}
        ``"auto"``: the header or .chi label says; without one, 2θ when the
        abscissa exceeds 60 (no Q in Å⁻¹ does), else Q.

    Returns
    -------
    PatternColumns
        Convert with :meth:`PatternColumns.to_pattern`.

    Raises
    ------
    ValueError
        As :func:`read_pattern`, except for the missing wavelength.

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> path = Path(mkdtemp()) / "pbs.xy"
    >>> _ = path.write_text("20.0 100\\n30.0 400\\n90.0 50\\n", encoding="utf-8")
    >>> c = read_pattern_columns(path)
    >>> c.x_kind, c.x_named, c.sigma.tolist()
    ('two_theta', False, [10.0, 20.0, 7.0710678118654755])
    """
    return _read_columns(Path(path), x_unit, None, guess=True)


def _read_columns(path: Path, x_unit, lam, guess) -> PatternColumns:
    """The checked columns of a pattern file (x increasing), the kind of x decided."""
    names, values, lines, _ = read_table(path)
    ix, iy, isg = _columns(names, values.shape[1])
    if values.shape[1] < 2:
        raise ValueError(f"{path.name}: one column only; a pattern needs x (Q or 2θ) and intensity columns")
    keep = np.isfinite(values[:, ix]) | np.isfinite(values[:, iy])
    values, lines = values[keep], lines[keep]
    x, y = values[:, ix], values[:, iy]
    s = values[:, isg] if isg is not None else None
    finite = np.isfinite(x) & np.isfinite(y)
    if not np.all(finite):
        i = int(np.argmin(finite))
        raise ValueError(f"{path.name}, line {lines[i]}: x or intensity is missing or not finite; remove the line")
    if x.size < 2:
        raise ValueError(f"{path.name} holds {x.size} data point(s); a pattern needs at least two")
    order = _check_monotonic(x, lines, path)
    x, y, lines = x[order], y[order], lines[order]
    s = None if s is None else s[order]
    kind = _x_kind(names, ix, x, x_unit, lam, path, guess)
    named = x_unit in ("q", "two_theta") or bool(names and ix < len(names) and (
        _Q_NAME.search(names[ix]) or re.search(r"\bq\b", names[ix], re.I) or _TWO_THETA.search(names[ix])))
    sigma, source = _sigma(y, s, lines, path)
    return PatternColumns(x, kind, named, y, sigma, source, path.name)


def _measured(c: PatternColumns, lam, path: Path) -> MeasuredPattern:
    """The MeasuredPattern of checked columns: 2θ converted to Q with the wavelength ``lam`` (Å)."""
    x, y, sigma, source = c.x, c.intensity, c.sigma, c.sigma_source
    if c.x_kind == "two_theta":
        if lam is None:
            raise ValueError(
                f"{path.name} holds 2θ (degrees): give the wavelength (wavelength= in Å, e.g. 1.5418 for Cu Kα) "
                "or the photon energy (energy_keV=) to convert it to Q"
            )
        q = np.asarray(two_theta_to_q(x, lam), dtype=float)
        return MeasuredPattern(q, y, sigma, source, two_theta=x, wavelength=lam, name=path.name)
    if np.any(x < 0):
        raise ValueError(f"{path.name}: negative Q ({x.min():g} Å⁻¹); is the first column Q in Å⁻¹?")
    return MeasuredPattern(x, y, sigma, source, wavelength=lam, name=path.name)
