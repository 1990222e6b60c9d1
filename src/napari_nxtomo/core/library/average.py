"""One library from several runs of the same settings with other frozen-phonon seeds (:func:`average_libraries`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .table import TABLE_COLUMNS, CrossSectionLibrary

#: settings that may differ between the runs averaged (every other one must agree)
FREE_SETTINGS = {"seed", "max_count", "n_phonons", "run_time_s", "machine", "phonons_per_seed"}


def _check_same(libs):
    first = libs[0]
    for lib in libs[1:]:
        diff = sorted(k for k in set(first.settings) | set(lib.settings)
                      if k not in FREE_SETTINGS and first.settings.get(k) != lib.settings.get(k))
        if diff or lib.crystal != first.crystal or tuple(lib.zone_axis) != tuple(first.zone_axis):
            raise ValueError(f"the libraries differ in {diff or 'crystal or zone axis'}: only runs of the same "
                             "settings (other seeds) can be averaged")


def _mean_table(tables, weights) -> pd.DataFrame:
    """Entries keyed by (count, n_minor): the weighted mean and the standard error the runs give together."""
    rows = {}
    for df, w in zip(tables, weights):
        for n, m, v, s in df[list(TABLE_COLUMNS)].itertuples(index=False):
            rows.setdefault((int(n), int(m)), []).append((w, v, s))
    out = []
    for (n, m), items in sorted(rows.items()):
        w, v, s = (np.array(a, dtype=float) for a in zip(*items))
        out.append((n, m, float(np.sum(w * v) / w.sum()), float(np.sqrt(np.sum((w * s) ** 2)) / w.sum())))
    return pd.DataFrame(out, columns=list(TABLE_COLUMNS))


def average_libraries(libs) -> CrossSectionLibrary:
    """The mean of libraries computed with the same settings but other seeds, each weighing as many configurations
    as it averages (``n_phonons``); an entry that only some hold (a smaller ``max_count``) is the mean of those.
    The result records the seeds and the configurations of each.

    Examples
    --------
    >>> t = lambda v, s: pd.DataFrame({"count": [1], "n_minor": [0], "cross_section": [v], "cross_section_sd": [s]})
    >>> a = CrossSectionLibrary("PbSe", (1, 1, 0), {"n_phonons": 16, "seed": 7, "max_count": 1}, {"Pb": t(0.010, 2e-4)})
    >>> b = CrossSectionLibrary("PbSe", (1, 1, 0), {"n_phonons": 48, "seed": 9, "max_count": 1}, {"Pb": t(0.014, 1e-4)})
    >>> m = average_libraries([a, b])
    >>> round(m.values("Pb")[1], 5), round(float(m.tables["Pb"].cross_section_sd[0]), 6), m.settings["seed"]
    (0.013, 9e-05, [7, 9])
    """
    libs = list(libs)
    _check_same(libs)
    weights = [int(lib.settings["n_phonons"]) for lib in libs]
    types = sorted({t for lib in libs for t in lib.types})
    tables = {t: _mean_table([lib.tables[t] for lib in libs if t in lib.tables],
                             [w for lib, w in zip(libs, weights) if t in lib.tables]) for t in types}
    settings = dict(libs[0].settings)
    settings.update(n_phonons=int(sum(weights)), seed=[lib.settings["seed"] for lib in libs], phonons_per_seed=weights,
                    max_count=max(int(lib.settings["max_count"]) for lib in libs),
                    run_time_s=float(sum(float(lib.settings.get("run_time_s", 0.0)) for lib in libs)))
    return CrossSectionLibrary(libs[0].crystal, tuple(libs[0].zone_axis), settings, tables)
