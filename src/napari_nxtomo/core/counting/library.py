"""Counting against a library of simulated cross-sections per atom count (no mixture fitted)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .mixture import _e_step
from .result import CountResult


def _parse_library(library):
    """Library → (counts (L,) int, minor (L,) int or None, values (L,) float), sorted by value."""
    minor = None
    if isinstance(library, pd.Series):
        library = library.to_dict()
    if isinstance(library, Mapping):
        if len(library) == 0:
            raise ValueError("the library is empty: give simulated cross-sections (Å²) per atom count")
        keys = list(library.keys())
        if all(isinstance(k, tuple) and len(k) == 2 for k in keys):
            counts = np.array([int(k[0]) for k in keys])
            minor = np.array([int(k[1]) for k in keys])
        else:
            try:
                counts = np.array([int(k) for k in keys])
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    "library keys must be atom counts (int) or (n_heavy, n_light) pairs; "
                    f"got {keys[:3]}"
                ) from exc
        values = np.array([float(library[k]) for k in keys])
    else:
        values = np.asarray(library, dtype=float).ravel()
        counts = np.arange(values.size)
        keep = np.isfinite(values)
        values, counts = values[keep], counts[keep]
        if values.size == 0:
            raise ValueError("the library is empty: give simulated cross-sections (Å²) indexed by atom count")
    if not np.all(np.isfinite(values)):
        raise ValueError("the library holds NaN or infinite cross-sections: give finite values in Å²")
    if np.any(values < 0):
        raise ValueError("the library holds negative cross-sections: give values in Å² (≥ 0)")
    order = np.argsort(values, kind="stable")
    values, counts = values[order], counts[order]
    if minor is not None:
        minor = minor[order]
    if np.any(np.diff(values) <= 0):
        raise ValueError("two library entries have the same cross-section: each count needs its own value")
    if minor is None and np.any(np.diff(counts) <= 0):
        raise ValueError("library cross-sections must increase with the atom count")
    return counts, minor, values


def _count_library(x, library) -> CountResult:
    """Each column gets the count of the nearest library value.

    For one common Gaussian width and equal prior weights the nearest value
    is also the maximum-likelihood count; the width reported is the RMS
    residual, and the posteriors are those of the mixture with the library
    values as means, that width and the fractions of columns as weights.
    """
    counts_l, minor_l, values = _parse_library(library)
    edges = 0.5 * (values[1:] + values[:-1])
    lab = np.searchsorted(edges, x)
    resid = x - values[lab]
    n = x.size
    sigma = float(np.sqrt(np.mean(resid**2))) if n > 1 else 0.0
    sigma = max(sigma, 1e-6 * max(values.max(), 1e-300))
    weights = np.bincount(lab, minlength=values.size) / n
    post, _, ll = _e_step(x, values, np.maximum(weights, 0.0), sigma * sigma)
    notes = [
        "counts from the library: each column gets the count of the nearest simulated cross-section "
        f"(= maximum likelihood for a common width; width from the residuals: {sigma:.3g} Å²)"
    ]
    if x.max() > values.max() + 3 * sigma or x.min() < values.min() - 3 * sigma:
        notes.append("some cross-sections lie outside the library's range: extend the library")
    if minor_l is None:
        keys, pairs = [int(c) for c in counts_l], {}
    else:
        keys = [(int(c), int(m)) for c, m in zip(counts_l, minor_l)]
        pairs = {"classes": np.stack([counts_l, minor_l], axis=1), "minor_counts": minor_l[lab].astype(int)}
    return CountResult.from_classes(
        x, post, values, sigma, weights, counts_l, labels=lab, method="library", icl=np.full(1, np.nan),
        log_likelihood=ll, notes=notes, library=dict(zip(keys, (float(v) for v in values))), **pairs,
    )
