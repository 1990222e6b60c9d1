"""Checks of what is to be counted: cross-sections, numbers of components, standard errors."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _as_volumes(volumes, what: str = "volumes") -> np.ndarray:
    """1D float array of cross-sections, or a ValueError saying what is wrong."""
    if isinstance(volumes, pd.DataFrame):
        if "volume" not in volumes.columns:
            raise ValueError(
                f"the table given as {what} has no 'volume' column (columns: {list(volumes.columns)}); "
                "pass the fitted cross-sections (Å²) as an array or a table from fit_columns"
            )
        volumes = volumes["volume"]
    try:
        x = np.asarray(volumes, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be numbers (cross-sections in Å²): {exc}") from exc
    if x.ndim == 0:
        x = x.reshape(1)
    if x.ndim != 1:
        x = np.squeeze(x)
        if x.ndim != 1:
            raise ValueError(f"{what} must be one value per column (a 1D array), got shape {np.shape(volumes)}")
    if x.size == 0:
        raise ValueError(f"no {what} to count: fit some columns first (the points layer or the array is empty)")
    bad = ~np.isfinite(x)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise ValueError(
            f"{bad.sum()} of {x.size} {what} are NaN or infinite (first at index {idx[0]}): "
            "refit or delete those columns before counting"
        )
    neg = x < 0
    if neg.any():
        idx = np.flatnonzero(neg)
        raise ValueError(
            f"{neg.sum()} of {x.size} {what} are negative (first at index {idx[0]}: {x[idx[0]]:.4g} Å²); "
            "a cross-section is a scattered fraction and cannot be negative: check the fit "
            "(background, a column off the particle) and delete or refit those columns"
        )
    return x


def _check_k(n: int, k: int, label: str = "") -> None:
    """A ValueError unless n values can be split into k ≥ 1 mixture components."""
    if k < 1:
        raise ValueError(f"the number of mixture components must be at least 1, got {k}")
    if n < k:
        raise ValueError(
            f"{n} columns{label} cannot be split into {k} mixture components: "
            "use fewer components (max_components / n_components) or fit more columns"
        )


def _column_errors(errors, n) -> np.ndarray:
    """The standard errors as a flat float array of one value per column, or a ValueError."""
    e = np.asarray(errors, dtype=float).ravel()
    if e.size != n:
        raise ValueError(f"errors must give one standard error per column: {e.size} errors for {n} columns")
    return e


def _usable_errors(errors, n):
    """Per-column standard errors (Å²) for the error-aware mixture and how many were replaced; (None, 0) if none.

    Errors that are NaN, infinite or ≤ 0 (a failed fit) are replaced by the
    median of the others; with none usable, None (the plain mixture is used).
    """
    if errors is None:
        return None, 0
    e = _column_errors(errors, n)
    ok = np.isfinite(e) & (e > 0)
    if not ok.any():
        return None, 0
    e = np.where(ok, e, np.median(e[ok]))
    return e, int((~ok).sum())


def _typical_error(errors, n):
    """Median of the columns' usable cross-section standard errors (Å²), or None when not given or unusable."""
    e, _ = _usable_errors(errors, n)
    return None if e is None else float(np.median(e))
