"""Libraries of simulated cross-sections per atom count: their forms, checked (counting with them: :mod:`.hybrid`)."""

from __future__ import annotations

import re
from pathlib import Path
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


#: header names (lower case, units and punctuation dropped) a library CSV's two columns may carry
COUNT_NAMES = ("count", "counts", "n", "n_atoms", "atoms", "atom_count", "number_of_atoms", "thickness")
CROSS_SECTION_NAMES = ("cross_section", "crosssection", "cross_sections", "scs", "sigma", "cs", "volume",
                       "cross_section_a2", "scattering_cross_section", "library", "value")


def _column_key(name) -> str:
    """A header name reduced for matching: lower case, units in brackets and punctuation dropped."""
    s = re.sub(r"[\(\[].*?[\)\]]", "", str(name).strip().lower())
    return re.sub(r"[^a-z0-9]+", "_", s).strip("_")


def read_library_csv(path) -> dict:
    """A library of cross-sections per atom count from a text table, as a user would write one.

    Two columns, count and cross-section, with or without a header; the
    header may name them as in :data:`COUNT_NAMES` / :data:`CROSS_SECTION_NAMES`
    (any case, units in brackets ignored: ``"Cross-section (Å²)"``), in
    either order; comma, semicolon, tab or spaces between the values; lines
    starting with ``#`` are comments.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    dict
        Count → cross-section, for ``count_atoms(..., library=...)``.

    Raises
    ------
    ValueError
        When the file does not hold two such columns (the message says what it needs).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from napari_nxtomo.core.counting.library import read_library_csv
    >>> path = Path(tempfile.mkdtemp()) / "lib.csv"
    >>> _ = path.write_text("N atoms; SCS (Å²)\\n1; 0.019\\n2; 0.047\\n", encoding="utf-8")
    >>> read_library_csv(path)
    {1: 0.019, 2: 0.047}
    >>> _ = path.write_text("1 0.019\\n2 0.047\\n", encoding="utf-8")
    >>> read_library_csv(path)
    {1: 0.019, 2: 0.047}
    """
    need = ("a library CSV needs two columns, the atom count and the cross-section (image units × Å²: fraction of "
            "the beam × Å² for an image normalised to it), one row per count, with a header such as "
            "'count,cross_section' or none")
    try:
        table = pd.read_csv(path, comment="#", encoding="utf-8-sig", sep=None, engine="python", header=None,
                            dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{need}; {Path(path).name} could not be read ({exc})") from exc
    table = table.dropna(axis=1, how="all")
    header = None
    if len(table) and pd.to_numeric(table.iloc[0], errors="coerce").isna().any():
        header, table = [_column_key(v) for v in table.iloc[0]], table.iloc[1:]
    values = table.apply(pd.to_numeric, errors="coerce")
    if values.shape[1] < 2 or values.isna().to_numpy().any() or len(values) == 0:
        raise ValueError(f"{need}; {Path(path).name} has {values.shape[1]} column(s) with numbers")
    i_count, i_cs = 0, 1
    if header is not None:
        counts = [i for i, h in enumerate(header) if h in COUNT_NAMES]
        cs = [i for i, h in enumerate(header) if h in CROSS_SECTION_NAMES]
        if counts and cs:
            i_count, i_cs = counts[0], cs[0]
        elif values.shape[1] != 2:
            raise ValueError(f"{need}; the header of {Path(path).name} names {header}: call them 'count' and "
                             "'cross_section'")
    n = values.iloc[:, i_count].to_numpy(dtype=float)
    if not np.all(n == np.round(n)):
        raise ValueError(f"{need}; the counts of {Path(path).name} are not whole numbers (are the columns swapped?)")
    return {int(k): float(v) for k, v in zip(n, values.iloc[:, i_cs].to_numpy(dtype=float))}
