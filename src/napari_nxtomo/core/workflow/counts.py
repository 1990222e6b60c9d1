"""Step 2 of the workflow: a fitted column table → the same table with atom counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd



def read_count_library(path) -> dict:
    """A counting library from a CSV file with columns ``count`` and ``cross_section`` (Å²).

    Returns
    -------
    dict
        Count -> cross-section, for ``count_atoms(..., library=...)``.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "library.csv"
    >>> _ = path.write_text("# cross-sections\\ncount,cross_section\\n1,0.01\\n2,0.021\\n", encoding="utf-8")
    >>> read_count_library(path)
    {1: 0.01, 2: 0.021}
    """
    table = pd.read_csv(path, comment="#", encoding="utf-8-sig")
    if not {"count", "cross_section"} <= set(table.columns):
        raise ValueError(f"the library {Path(path).name} needs columns 'count' and 'cross_section'")
    return {int(k): float(v) for k, v in zip(table["count"].astype(int), table["cross_section"].astype(float))}


def count_table(table, *, feature: str = "volume", max_components: int = 20, library=None, n_components=None,
                lowest_count=None, progress=None):
    """Count the atoms of every column of a fitted table.

    The ``volume`` feature is counted with the table's ``type`` and
    ``volume_err`` (the error-aware mixture); another feature with the types
    only.

    Parameters
    ----------
    table : pandas.DataFrame
        Fitted columns (:func:`find_and_fit`).
    feature : str
        The cross-section to count.
    max_components, library, n_components, lowest_count
        As :func:`~napari_nxtomo.core.counting.count_atoms` (None: chosen).
    progress : callable, optional
        ``progress(i, n)``: 0 of 1 before, 1 of 1 after.

    Returns
    -------
    counted : pandas.DataFrame
        A copy of ``table`` with ``count``, ``count_probability`` and, for
        mixed columns, ``n_minor`` (the light element's count).
    result : CountResult

    Examples
    --------
    >>> spread = np.tile(np.linspace(-0.05, 0.05, 20), 3)
    >>> table = pd.DataFrame({"volume": np.repeat([1.0, 2.0, 3.0], 20) + spread})
    >>> counted, result = count_table(table, n_components=3, lowest_count=1)
    >>> sorted(set(counted["count"].tolist())), result.n_components
    ([1, 2, 3], 3)
    """
    from ..counting import count_atoms

    if feature not in table:
        raise ValueError(f"the table has no '{feature}' column: fit the columns first")
    if progress is not None:
        progress(0, 1)
    values = table if feature == "volume" else table[feature].to_numpy(dtype=float)
    types = None if feature == "volume" or "type" not in table else table["type"].astype(str).to_numpy()
    result = count_atoms(values, max_components=max_components, library=library, n_components=n_components,
                         lowest_count=lowest_count, types=types)
    if progress is not None:
        progress(1, 1)
    return with_counts(table, result), result


def with_counts(table, result):
    """A copy of a column table with the counting's ``count``, ``count_probability`` (and ``n_minor``).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per column counted (e.g. a points layer's features).
    result : CountResult
        Its counting (:func:`~napari_nxtomo.core.counting.count_atoms`).

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> from napari_nxtomo.core.counting import count_atoms
    >>> res = count_atoms(np.repeat([1.0, 2.0, 3.0], 20) + np.tile(np.linspace(-0.05, 0.05, 20), 3), max_components=4)
    >>> counted = with_counts(pd.DataFrame({"volume": np.zeros(60)}), res)
    >>> list(counted.columns), sorted(set(counted["count"]))
    (['volume', 'count', 'count_probability'], [1, 2, 3])
    """
    counted = table.copy()
    frame = result.to_frame()
    counted["count"] = np.asarray(result.counts, dtype=int)
    counted["count_probability"] = frame["probability"].to_numpy()
    if "n_minor" in frame:
        counted["n_minor"] = frame["n_minor"].to_numpy()
    return counted
