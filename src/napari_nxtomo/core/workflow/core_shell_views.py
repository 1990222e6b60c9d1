"""The Pb of a core–shell particle's views counted together: the ⟨110⟩ view's layer totals bind the ⟨100⟩ views.

One ⟨100⟩ column's cross-section cannot tell its Pb from the Se that the Cd
beside it does not show (where the core nears the particle's surface, or the
Cd sites next to the interface are empty): one Pb less with two Se more
reads nearly the same.  The views share the tilt axis, so every fcc layer
across it holds the same Pb in every view, and along ⟨110⟩ Pb has its own
columns, counted without the shell (:mod:`napari_nxtomo.core.counting.core_shell`).
:func:`count_core_shell_views` counts every view on its own, lines the views'
layers up (:func:`napari_nxtomo.core.tomography.indexing._aligned_layers`:
the slice profiles along the tilt axis), and gives each ⟨100⟩ layer's
columns the Pb counts of least cost whose sum is the ⟨110⟩ view's total of
that layer (:func:`~napari_nxtomo.core.counting.core_shell.counts_with_totals`;
every count may come with n_Pb - 1 … n_Pb + 2 Se:
:func:`~napari_nxtomo.core.counting.core_shell.pb_count_costs`).
"""

from __future__ import annotations

import numpy as np


def count_core_shell_views(tables, metadata=None, *, library="auto", dose=None, names=None):
    """Pb per column of two or three views of one core–shell particle, the ⟨100⟩ views bound to the ⟨110⟩ one.

    Parameters
    ----------
    tables : list of pandas.DataFrame
        Fitted tables typed by sublattice (as for
        :func:`~napari_nxtomo.core.workflow.counts.count_core_shell_table`),
        one per view; their ``attrs`` (laid under ``metadata``) give the
        zone axis, the lattice parameter, the pixel size and the dose.
    metadata : list of dict, optional
    library, dose
        As :func:`~napari_nxtomo.core.workflow.counts.count_core_shell_table`.
    names : list of str, optional
        The views' names for the notes.

    Returns
    -------
    counted : list of pandas.DataFrame
        As ``count_core_shell_table``'s, with ``count_single_view`` (the
        view's own counts) and ``layer`` (the fcc layer across the tilt axis,
        numbered as in the ⟨110⟩ view; -999 off the lattice) for the ⟨100⟩
        views bound to the ⟨110⟩ one; ``count_probability`` of a changed
        column is the view's own probability of its new count.
    info : dict
        ``reference`` (the ⟨110⟩ view's index or None), ``totals_single`` and
        ``totals`` (Pb per view before and after), ``moved`` (columns
        changed per view), ``notes``.

    Examples
    --------
    The core–shell sample's three views (noise-free, 1e5 e/Å²), found and fitted by sublattice:

    >>> from napari_nxtomo.core.columns import min_distance_for
    >>> from napari_nxtomo.core.multislice_sample import pbse_cdse_core_shell_multislice
    >>> from napari_nxtomo.core.workflow import find_and_fit
    >>> particle = pbse_cdse_core_shell_multislice(noise=False, dose=1e5)
    >>> tables = []
    >>> for v in particle.views:
    ...     md = v.layer_metadata()
    ...     t = find_and_fit(v.image, v.pixel_size, min_distance_for(md)[0], zone_axis=md["zone_axis"],
    ...                      lattice_parameter=md["lattice_parameter"], structure=md["structure"])
    ...     t.attrs.update(md, pixel_size_A=v.pixel_size)
    ...     tables.append(t)
    >>> counted, info = count_core_shell_views(tables)
    >>> info["totals"], int(np.sum(particle.elements == "Pb"))
    ([157, 157, 157], 155)
    """
    from .counts import count_core_shell_table

    metadata = list(metadata) if metadata is not None else [{}] * len(tables)
    mds = [{**t.attrs, **(m or {})} for t, m in zip(tables, metadata)]
    libs = library if isinstance(library, (list, tuple)) else [library] * len(tables)
    names = list(names) if names is not None else [f"view {i + 1}" for i in range(len(tables))]
    pairs = [count_core_shell_table(t, md, library=lib, dose=dose) for t, md, lib in zip(tables, mds, libs)]
    counted, results = [p[0] for p in pairs], [p[1] for p in pairs]
    info = {"reference": None, "totals_single": [int(c["count"].sum()) for c in counted], "moved": [0] * len(tables),
            "results": results, "notes": []}
    families = [tuple(sorted(abs(int(v)) for v in md["zone_axis"])) for md in mds]
    refs = [i for i, f in enumerate(families) if f == (0, 1, 1)]
    if not refs or (0, 0, 1) not in families:
        info["notes"].append("no ⟨110⟩ and ⟨100⟩ views to bind: every view's counts stand alone")
    else:
        _bind_layers(counted, results, mds, names, refs[0], info)
    info["totals"] = [int(c["count"].sum()) for c in counted]
    return counted, info


def _bind_layers(counted, results, mds, names, ref, info):
    """Give the ⟨100⟩ views' columns the Pb counts whose layer sums are the ⟨110⟩ view's (``counted`` changed)."""
    from ..counting.core_shell import counts_with_totals, pb_count_costs
    from ..tomography.indexing import _aligned_layers
    from .reconstruction import projections_from_tables

    items = [(c[["y", "x"]].to_numpy(), c, md) for c, md in zip(counted, mds)]
    try:
        projections, kept = projections_from_tables(items, names=names)
        placed, totals = _aligned_layers(projections, float(mds[ref]["lattice_parameter"]), ref)
    except ValueError as exc:
        info["notes"].append(f"the views' layers could not be lined up ({exc}): every view's counts stand alone")
        return
    info["reference"] = ref
    for k, (c, res, md) in enumerate(zip(counted, results, mds)):
        family = tuple(sorted(abs(int(v)) for v in md["zone_axis"]))
        if family != (0, 0, 1):
            continue
        if not isinstance(res.library, dict) or "scale" not in (res.params or {}):
            info["notes"].append(f"{names[k]}: counted without a library scale; its counts stand alone")
            continue
        rows_in, layers = placed[k]
        rows = kept[k][rows_in]
        core = c["volume"].to_numpy(dtype=float)[rows] - c["shell_cross_section"].to_numpy(dtype=float)[rows]
        counts, cost = pb_count_costs(core, res.library, float(res.params["scale"]), float(np.max(res.sigma)))
        new = counts_with_totals(cost, counts, layers, {int(g): totals.get(int(g), 0) for g in np.unique(layers)})
        old = c["count"].to_numpy().copy()
        c["count_single_view"] = old
        layer_col = np.full(len(c), -999, dtype=int)
        layer_col[rows] = layers
        c["layer"] = layer_col
        changed = new != old[rows]
        prob = np.exp(-(cost - cost.min(axis=1, keepdims=True)))
        prob /= prob.sum(axis=1, keepdims=True)
        col = c["count_probability"].to_numpy(dtype=float).copy()
        col[rows[changed]] = prob[changed, np.searchsorted(counts, new[changed])]
        c["count"] = old
        c.loc[c.index[rows], "count"] = new
        c["count_probability"] = col
        info["moved"][k] = int(changed.sum())
        c.attrs["layer_totals_from"] = names[ref]
    info["notes"].append(f"the ⟨100⟩ views' Pb counts bound, layer by layer across the tilt axis, to the totals of "
                         f"{names[ref]} (its Pb columns hold no Se nor Cd); columns changed per view: {info['moved']}")
