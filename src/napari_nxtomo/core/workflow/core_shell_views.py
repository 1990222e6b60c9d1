"""The Pb of a core–shell particle's views counted together: one Pb total per layer across the tilt axis.

One ⟨100⟩ column's cross-section cannot tell its Pb from the Se that the Cd
beside it does not show (where the core nears the particle's surface, or the
Cd sites next to the interface are empty): one Pb less with two Se more
reads nearly the same.  The views share the tilt axis, so every fcc layer
across it holds the same Pb in every view, and along ⟨110⟩ Pb has columns
of its own, counted without the shell (:mod:`napari_nxtomo.core.counting.core_shell`).
:func:`count_core_shell_views` counts every view on its own, lines the views'
layers up (:func:`napari_nxtomo.core.tomography.indexing._aligned_layers`:
the slice profiles along the tilt axis), and chooses per layer the one Pb
total and the counts adding up to it that cost least in all views together
(:mod:`napari_nxtomo.core.counting.layer_totals`; a ⟨100⟩ count may come
with n_Pb - 1 … n_Pb + 2 Se, so its cost is flat where the ⟨110⟩ view's is
sharp).
"""

from __future__ import annotations

import numpy as np

from ..counting.thickness import dose_shape_check, thickness_ratio

#: with a dose given, the Pb core's counted thickness / seen width (:func:`_core_thickness_ratio`) outside these
#: refuses the dose.  The 14 stored particles' bound counts read 0.92-1.02 at the true dose (1e5 e/Å², seeds 0-3),
#: 0.90-1.04 at 5e4 and 2e4 (five of them); at wrong doses (0.75, 0.85, 1.15, 1.3 ×; 2026-12-06) 111 of 224 runs
#: were counted quietly more than 3 % + 2 off, of which these bounds refuse 73 (free particles' 0.8-1.25: 34)
CORE_DOSE_SHAPE_LIMITS = (0.85, 1.15)
#: cost (in the units of pb_count_costs: half a squared class width) of leaving a column's own single-view count
OWN_COUNT_PREFERENCE = 1.0
#: what one shell Se above a ⟨100⟩ core column of n Pb adds, in units of a Se alone (0 Pb: a shell-only column, the
#: unit the shell correction measures): abTEM, 300 kV, 22 mrad, 60-140 mrad, every column of the supercell, 4
#: configurations (``python benchmarks/multislice/shell_se_weight.py --every-column --phonons 4 --above 1``,
#: 2026-12-05); more Pb than 8: 8's.  The one-column runs of 2026-12-04 (1.3-2.8) were configuration noise.  Other
#: optics use these too (not simulated for them); two or three shell Se weigh less per atom from 3 Pb on (2.8-4.2).
SHELL_SE_WEIGHT = {0: 1.0, 1: 1.87, 2: 2.59, 3: 3.59, 4: 4.46, 5: 4.30, 6: 5.14, 7: 5.51, 8: 5.09}


def shell_se_weight(n: int) -> float:
    """:data:`SHELL_SE_WEIGHT` of a core of ``n`` Pb (beyond the table: its last value).

    Examples
    --------
    >>> shell_se_weight(0), shell_se_weight(3), shell_se_weight(12)
    (1.0, 3.59, 5.09)
    """
    return SHELL_SE_WEIGHT[min(max(int(n), 0), max(SHELL_SE_WEIGHT))]


def count_core_shell_views(tables, metadata=None, *, library="auto", dose=None, names=None, progress=None,
                           mixed_units="cell"):
    """Pb per column of two or three views of one core–shell particle, one Pb total per layer in all views.

    Parameters
    ----------
    tables : list of pandas.DataFrame
        Fitted tables typed by sublattice (as for
        :func:`~napari_nxtomo.core.workflow.counts.count_core_shell_table`),
        one per view; their ``attrs`` (laid under ``metadata``) give the
        zone axis, the lattice parameter, the pixel size and the dose.
    metadata : list of dict, optional
    library, dose, mixed_units
        As :func:`~napari_nxtomo.core.workflow.counts.count_core_shell_table`.
    names : list of str, optional
        The views' names for the notes.
    progress : callable, optional
        ``progress(i, n)``: ``n`` = the views + 1 (the layers bound).

    Returns
    -------
    counted : list of pandas.DataFrame
        As ``count_core_shell_table``'s, with ``count_single_view`` (the
        view's own counts) and ``layer`` (the fcc layer across the tilt axis,
        numbered as in the reference view; -999 off the lattice) when the
        views were bound; ``count_probability`` of a changed column is the
        view's own probability of its new count.
    info : dict
        ``reference`` (the view whose layers number them all: the ⟨110⟩ one
        if any; None when the views stand alone), ``layer_totals`` (layer ->
        Pb), ``totals_single`` and
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
    from .counts import ALONE_100_NOTE, _metadata_dose, count_core_shell_table

    metadata = list(metadata) if metadata is not None else [{}] * len(tables)
    mds = [{**t.attrs, **(m or {})} for t, m in zip(tables, metadata)]
    libs = library if isinstance(library, (list, tuple)) else [library] * len(tables)
    names = list(names) if names is not None else [f"view {i + 1}" for i in range(len(tables))]
    steps = len(tables) + 1
    pairs = []
    for i, (t, md, lib) in enumerate(zip(tables, mds, libs)):
        if progress is not None:
            progress(i, steps)
        pairs.append(count_core_shell_table(t, md, library=lib, dose=dose, alone=len(tables) < 2,
                                            mixed_units=mixed_units))
    counted, results = [p[0] for p in pairs], [p[1] for p in pairs]
    info = {"reference": None, "totals_single": [int(c["count"].sum()) for c in counted], "moved": [0] * len(tables),
            "results": results, "notes": []}
    families = [tuple(sorted(abs(int(v)) for v in md["zone_axis"])) for md in mds]
    refs = [i for i, f in enumerate(families) if f == (0, 1, 1)]
    if len(tables) < 2:
        info["notes"].append("one view: its counts stand alone")
    else:
        _bind_layers(counted, results, mds, names, refs[0] if refs else 0, info)
        if info["reference"] is None and any(f != (0, 1, 1) for f in families):
            info["notes"].append(ALONE_100_NOTE)
    info["totals"] = [int(c["count"].sum()) for c in counted]
    if dose is not None or any(_metadata_dose(md) for md in mds):
        info["notes"].extend(dose_shape_check(_core_thickness_ratio(counted, mds), CORE_DOSE_SHAPE_LIMITS))
    if progress is not None:
        progress(steps, steps)
    return counted, info


def _core_thickness_ratio(counted, mds) -> float:
    """The Pb core's counted thickness over the width an orthogonal view sees (:mod:`..counting.thickness`; NaN
    when no two views tell it).  At a wrong dose the core's counts alias as a free particle's do: the bound counts
    of the 14 stored particles read 1.08-1.38 at 0.75 × the dose (the held-out particle: 114-118 Pb of 87, counted
    quietly before) and 0.72-0.89 at 1.3 × (:data:`CORE_DOSE_SHAPE_LIMITS`)."""
    a = next((md.get("lattice_parameter") for md in mds if md.get("lattice_parameter")), None)
    if a is None or any(md.get("zone_axis") is None for md in mds):
        return float("nan")
    views = [(c[["y", "x"]].to_numpy(), c["count"].to_numpy(), md["zone_axis"], md.get("tilt_direction") or (1.0, 0.0))
             for c, md in zip(counted, mds)]  # columns of 0 Pb (the shell's) are left out by the thickness check
    return thickness_ratio(views, float(a))


def _view_costs(c, res, md, rows):
    """``(counts, cost)`` of a view's placed rows (:func:`~napari_nxtomo.core.counting.layer_totals.pb_count_costs`),
    None without a library scale; ⟨100⟩: each count's library value plus the column's shell (its Cd neighbours'
    estimate, in shell-only units) weighted as shell Se weigh on a core of that count (:data:`SHELL_SE_WEIGHT`: 1.9
    to 5.5 × what they weigh alone, as the core's channelling carries the probe past them; the single-view count
    takes them off at 1 ×, and reads thin cores under a thick shell high)."""
    from ..counting.layer_totals import pb_count_costs

    if not isinstance(res.library, dict) or "scale" not in (res.params or {}):
        return None
    vol = c["volume"].to_numpy(dtype=float)[rows]
    shell = c["shell_cross_section"].to_numpy(dtype=float)[rows] if "shell_cross_section" in c else None
    counts, cost = pb_count_costs(vol, res.library, float(res.params["scale"]), float(np.max(res.sigma)),
                                  shell=shell, shell_weight=shell_se_weight)
    # the view's own count costs a little less: where the costs are flat (a <100> count with more or less Se)
    # the layer's total moves the columns it must, not those the cost model happens to prefer
    own = c["count"].to_numpy()[rows]
    return counts, cost + OWN_COUNT_PREFERENCE * (counts[None, :] != own[:, None])


def _bind_layers(counted, results, mds, names, ref, info):
    """Give every view's columns the Pb counts whose layer sums agree in all views (``counted`` changed); the views
    of one zone-axis family (the ⟨100⟩ pair, one library and one shell model) count as one view in each layer's total,
    for they share their errors (the wide rod's ⟨100⟩ views both read thin cores one Pb high and outvoted [110])."""
    from ..counting.core_shell import zone_family
    from ..counting.layer_totals import counts_with_common_totals
    from ..counting.views import family_weights
    from ..tomography.indexing import _aligned_layers
    from .reconstruction import projections_from_tables

    items = [(c[["y", "x"]].to_numpy(), c, md) for c, md in zip(counted, mds)]
    try:
        projections, kept = projections_from_tables(items, names=names)
        placed, _ = _aligned_layers(projections, float(mds[ref]["lattice_parameter"]), ref)
    except ValueError as exc:
        info["notes"].append(f"the views' layers could not be lined up ({exc}): every view's counts stand alone")
        return
    rows = [kept[k][placed[k][0]] for k in range(len(counted))]
    costs = [_view_costs(c, res, md, r) for c, res, md, r in zip(counted, results, mds, rows)]
    use = [k for k, cc in enumerate(costs) if cc is not None]
    if len(use) < 2:
        info["notes"].append("fewer than two views counted with a library scale: every view's counts stand alone")
        return
    seen = [_covered_layers(counted[k], rows[k], placed[k][1]) for k in use]
    fam = [zone_family(mds[k]["zone_axis"]) for k in use]
    weights = family_weights([[i for i, g in enumerate(fam) if g == f] for f in set(fam)], len(use))
    new, totals = counts_with_common_totals([(costs[k][1], costs[k][0], placed[k][1]) for k in use], seen, weights)
    info["reference"], info["layer_totals"] = ref, totals
    for k, n in zip(use, new):
        _set_counts(counted[k], rows[k], placed[k][1], n, costs[k], info, k)
    info["notes"].append(f"Pb counts of the {len(use)} views bound to one total per layer across the tilt axis "
                         f"(least cost in all views together); columns changed per view: {info['moved']}")
    info["notes"].extend(_cut_layer_notes(totals, seen, [names[k] if names else f"view {k}" for k in use]))


def _cut_layer_notes(totals, seen, names) -> list:
    """One note per view whose image leaves out layers that hold Pb in the others (a cropped image)."""
    notes = []
    for name, cover in zip(names, seen):
        cut = sorted(g for g, n in totals.items() if n > 0 and g not in cover)
        if cut:
            notes.append(f"{name}: layer(s) {cut} outside its image, {sum(totals[g] for g in cut)} Pb there bound "
                         "by the other views only (its total is short by them: image the whole particle)")
    return notes


def _covered_layers(c, rows, layers) -> set:
    """The layers across the tilt axis that a view's image covers: those of all its columns on a layer (every
    type: the fcc sites of Pb and Se lie on the layers, the shell's Cd halfway between them), placed by the straight
    line that takes its placed columns' positions to their layers."""
    yx = c[["y", "x"]].to_numpy(dtype=float)
    design = np.c_[yx, np.ones(len(yx))]
    coef, *_ = np.linalg.lstsq(design[rows], np.asarray(layers, dtype=float), rcond=None)
    at = design @ coef
    on = np.rint(at[np.abs(at - np.rint(at)) < 0.25]).astype(int)
    return set(range(int(on.min()), int(on.max()) + 1)) if on.size else set(int(v) for v in layers)


def _set_counts(c, rows, layers, new, costs, info, k):
    """Write the bound counts into table ``c`` (``count_single_view``, ``layer``, ``count_probability``: of a changed
    column, or one given 0 Pb as Se alone, its count's probability given its layer's total)."""
    from ..counting.layer_totals import probabilities_at_totals

    counts, cost = costs
    old = c["count"].to_numpy().copy()
    c["count_single_view"] = old
    layer_col = np.full(len(c), -999, dtype=int)
    layer_col[rows] = layers
    c["layer"] = layer_col
    changed = new != old[rows]
    prob = probabilities_at_totals(cost, counts, layers, info["layer_totals"], new)
    col = c["count_probability"].to_numpy(dtype=float).copy()
    # a column given 0 Pb as Se alone (even odds in its view) takes its probability at its layer's total too
    fresh = changed | (c["se_alone"].to_numpy()[rows] if "se_alone" in c else False)
    col[rows[fresh]] = prob[fresh]
    c.loc[c.index[rows], "count"] = new
    c["count_probability"] = col
    if "region" in c:
        c["region"] = np.where(c["count"].to_numpy() > 0, "core", "shell")
    info["moved"][k] = int(changed.sum())
