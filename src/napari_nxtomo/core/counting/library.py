"""Libraries of simulated cross-sections per atom count: their forms, checked (counting with them: :mod:`.hybrid`)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd



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
