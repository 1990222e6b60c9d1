"""Pb atoms per column of a core–shell (PbSe in CdSe) view: the first seed paper's counting.

The columns are typed by the sublattice they sit on
(:func:`napari_nxtomo.core.sublattices.assign_sublattices`).  What a column's
cross-section holds then depends on the zone axis:

⟨110⟩
    Pb sits on its own sublattice (the rocksalt octahedral sites, empty in
    the zincblende shell): a Pb column holds Pb only, in the core, and is
    counted with the library's pure Pb columns.  Se and Cd columns hold no Pb.
⟨100⟩
    Pb and Se share the columns of one square lattice; Se runs through core
    and shell, Pb only through the core.  A column's cross-section is its
    core part (Pb and Se in turn, the library's mixed columns) plus the Se of
    the shell above and below.  The shell's thickness at a column is read off
    its four Cd neighbours (the centres of the squares): in the shell every
    Se has a Cd beside it, in the core none.  The shell Se of a column is
    taken as ``ρ`` × the mean cross-section of its Cd neighbours, ``ρ`` the
    Se/Cd cross-section ratio measured on the image's own shell-only columns
    (those whose cross-section the Cd neighbours explain alone); what remains
    is counted with the mixed library.

The counts of the Pb-bearing columns come from
:func:`~napari_nxtomo.core.counting.count_atoms` (library, dose prior); the
other columns get 0 Pb.  The shell's Cd columns are pure Cd in both zone
axes (the zincblende cation sites, off the PbSe columns): :func:`count_shell_cd`
counts them with the shell crystal's library at the dose the Pb counting
measured.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

#: the Cd neighbours of a ⟨100⟩ Pb/Se column sit a/(2√2) away; they are looked for within this share more
NEIGHBOUR_SLACK = 1.3
#: a ⟨100⟩ column is shell-only when its cross-section is below this multiple of ρ × its Cd neighbours' mean
SHELL_ONLY_RATIO = 1.5


def zone_family(zone_axis) -> tuple:
    """Sorted absolute indices of a zone axis: (0, 0, 1) for ⟨100⟩, (0, 1, 1) for ⟨110⟩.

    Examples
    --------
    >>> zone_family((1, 0, 0)), zone_family([0, -1, 1])
    ((0, 0, 1), (0, 1, 1))
    """
    return tuple(sorted(abs(int(v)) for v in zone_axis))


def shell_cross_section(positions, volumes, types, lattice_parameter: float):
    """The shell's share of each ⟨100⟩ Pb/Se column's cross-section, from its Cd neighbours.

    Parameters
    ----------
    positions : (N, 2) array
        Column positions, Å.
    volumes : (N,) array
        Fitted cross-sections.
    types : (N,) array of str
        ``"Pb+Se"`` (Pb/Se sublattice) and ``"Cd"`` columns (others ignored).
    lattice_parameter : float
        Å.

    Returns
    -------
    shell : (N,) ndarray
        ρ × the mean cross-section of the four Cd sites beside each Pb/Se
        column (a site without a column counts 0); 0 for other columns.
    rho : float
        The Se/Cd ratio measured on the shell-only columns (NaN without any).

    Examples
    --------
    Shell-only columns whose Se scatters 0.6 × their Cd neighbours, and one core column:

    >>> a = 6.12; d = a / 4
    >>> pbse = np.array([[0.0, 0.0], [0.0, a / 2], [a / 2, 0.0], [a / 2, a / 2], [a, a]])
    >>> cd = np.array([[y + sy * d, x + sx * d] for y, x in pbse for sy in (-1, 1) for sx in (-1, 1)])
    >>> cd = np.unique(np.round(cd, 6), axis=0)
    >>> p = np.vstack([pbse, cd]); t = np.array(["Pb+Se"] * 5 + ["Cd"] * len(cd))
    >>> v = np.r_[[0.6, 0.6, 0.6, 0.6, 5.0], np.ones(len(cd))]
    >>> shell, rho = shell_cross_section(p, v, t, a)
    >>> round(rho, 3), shell[:5].round(2).tolist()
    (0.6, [0.6, 0.6, 0.6, 0.6, 0.6])
    """
    p = np.asarray(positions, dtype=float)
    v = np.asarray(volumes, dtype=float)
    t = np.asarray(types).astype(str)
    host, cd = np.flatnonzero(t == "Pb+Se"), np.flatnonzero(t == "Cd")
    shell = np.zeros(len(p))
    if len(host) == 0 or len(cd) == 0:
        return shell, float("nan")
    reach = NEIGHBOUR_SLACK * lattice_parameter / (2 * np.sqrt(2))
    near = cKDTree(p[cd]).query_ball_point(p[host], reach)
    mean_cd = np.array([v[cd[i]].sum() / 4.0 for i in near])
    rho = _shell_ratio(v[host], mean_cd)
    shell[host] = rho * mean_cd if np.isfinite(rho) else 0.0
    return shell, rho


def _shell_ratio(host, mean_cd) -> float:
    """ρ: the median ratio of host to Cd-neighbour cross-section over the shell-only columns.

    Shell-only columns have ratios about ρ, core columns far above (their Pb
    scatters, their Cd sites are empty in the core): the ratios are split at
    :data:`SHELL_ONLY_RATIO` × a first median of the lower half, twice.
    """
    ok = mean_cd > 0.1 * np.median(mean_cd[mean_cd > 0]) if np.any(mean_cd > 0) else np.zeros(len(host), bool)
    if ok.sum() < 3:
        return float("nan")
    ratio = host[ok] / mean_cd[ok]
    rho = np.median(ratio[ratio <= np.median(ratio)])
    for _ in range(2):
        shell_only = ratio <= SHELL_ONLY_RATIO * rho
        rho = float(np.median(ratio[shell_only]))
    return rho


#: the Pb-bearing columns' shell-corrected cross-sections lie at least this factor above the shell-only ones
NO_PB_GAP = 4.0


def without_pb(core, one_pb: float | None = None) -> np.ndarray:
    """Which ⟨100⟩ Pb/Se columns hold no Pb, from their shell-corrected cross-sections.

    With ``one_pb`` (the expected cross-section of a column of one Pb, e.g.
    the library's at the dose): those below half of it.  Without: one Pb
    scatters several times what the few Se left over after the shell
    correction do, so the columns fall into two groups; they are split at
    the largest gap of the sorted log cross-sections when the groups'
    medians lie :data:`NO_PB_GAP` apart, else every column is taken to hold Pb.

    Examples
    --------
    >>> core = np.array([0.0004, 0.0012, -0.0002, 0.0007, 0.011, 0.027, 0.042, 0.061, 0.044, 0.026])
    >>> without_pb(core).tolist()
    [True, True, True, True, False, False, False, False, False, False]
    >>> without_pb(core, one_pb=0.0105).sum(), without_pb(np.array([0.011, 0.027, 0.042, 0.061])).any()
    (np.int64(4), np.False_)
    """
    c = np.asarray(core, dtype=float)
    if one_pb is not None:
        return c < 0.5 * one_pb
    top = np.max(c) if len(c) else 0.0
    if len(c) < 3 or not top > 0:
        return np.zeros(len(c), dtype=bool)
    lc = np.log(np.clip(c, 0.01 * top, None))  # what is left of shell-only columns scatters about 0
    order = np.sort(lc)
    cut = order[np.argmax(np.diff(order))]
    low = lc <= cut
    if low.all() or np.median(c[~low]) < NO_PB_GAP * max(np.median(c[low]), 0.01 * top):
        return np.zeros(len(c), dtype=bool)
    return low


#: the probability given to a column counted one Pb and then taken for Se alone (:func:`se_alone`): even odds
SE_ALONE_PROBABILITY = 0.5


def se_alone(core, counts, one_pb: float, one_se: float) -> np.ndarray:
    """The columns counted one Pb whose remainder Se alone explains as well: below halfway between one lone Pb
    and the :data:`~napari_nxtomo.core.counting.layer_totals.EXTRA_SE` Se that the Cd neighbours need not show.

    The shell correction misses Se where a column's Cd sites are empty or outside the particle (the rod's edge):
    over the stored particles such pure-shell remainders reach 0.7 of a lone Pb, while the columns of one Pb lie
    at 0.78 or more.  The counting itself is not redone (its classes are fitted with these columns in); their
    count becomes 0 at :data:`SE_ALONE_PROBABILITY`.

    Examples
    --------
    >>> se_alone(np.array([0.006, 0.0105, 0.006]), np.array([1, 1, 2]), one_pb=0.0105, one_se=0.0021).tolist()
    [True, False, False]
    """
    from .layer_totals import EXTRA_SE

    c = np.asarray(core, dtype=float)
    return (np.asarray(counts) == 1) & (c < 0.5 * (one_pb + EXTRA_SE * one_se))


def _one_pb(library, dose, pixel_size, kind):
    """The cross-section (image units) of a mixed column of one Pb at the dose, or None when unknown."""
    return _at_dose(library, dose, pixel_size, kind, lambda k: isinstance(k, tuple) and k[0] == 1)


def _one_se(library, dose, pixel_size, kind):
    """The cross-section (image units) of one Se alone at the dose (the library's (0, 1)), or None when unknown."""
    return _at_dose(library, dose, pixel_size, kind, lambda k: k == (0, 1))


def _at_dose(library, dose, pixel_size, kind, which):
    """The least library value of ``kind`` whose key ``which`` accepts, in image units at the dose, or None."""
    if library is None or dose is None or pixel_size is None or not hasattr(library, "fit_capture"):
        return None
    ones = [v for k, v in library.values(kind).items() if which(k)]
    if not ones:
        return None
    return float(dose) * float(pixel_size) ** 2 * library.fit_capture(kind)[0] * min(ones)


def _dose_refusal(exc) -> str | None:
    """What a count that refused the dose says of it (the columns need another scale), or None for another error.

    Examples
    --------
    >>> _dose_refusal(ValueError("type 'Cd' (88 columns): the dose puts the class means where the cross-sections "
    ...                          "do not lie: they need a scale 0.882 × the dose's, so the classes would fall between"))
    "they need a scale 0.882 × the dose's"
    >>> _dose_refusal(ValueError("no column")) is None
    True
    """
    text = str(exc)
    if "dose puts the class means" not in text:
        return None
    return text.split("do not lie: ", 1)[-1].split(", so")[0]


#: a core's shell-corrected Pb/Se columns take the Pb count of largest posterior of the pair mixture (its fitted
#: weight of every (n_Pb, n_Se) class), not the likelihood with every Pb count equally likely that a bare PbSe
#: particle's columns take (``hybrid._pair_prior``).  Measured 2026-12-06 on the 13 stored core–shell particles at
#: 1e5 e/Å², noise seeds 0-3 (156 bound view counts): the likelihood lowered 6 views' exact fraction by 0.015-0.043
#: and raised 2, and left 3 under issue 12's 0.85 where the posterior leaves 1.  A small core's ⟨100⟩ view has many
#: thin columns and few thick ones under shells of different depth, which the fitted weights carry.
MIXED_ASSIGNMENT = "posterior"


def count_core_shell(table, *, zone_axis, lattice_parameter: float, library=None, dose=None, pixel_size=None,
                     **options):
    """Pb atoms of every column of a core–shell view (module docstring).

    Parameters
    ----------
    table : pandas.DataFrame
        Fitted columns typed by sublattice (``y, x, volume, type``, optional
        ``volume_err``): ``"Pb"``, ``"Se"``, ``"Cd"`` along ⟨110⟩; ``"Pb+Se"``,
        ``"Cd"`` along ⟨100⟩.
    zone_axis : 3 ints
    lattice_parameter : float
        Å.
    library, dose, pixel_size, options
        As :func:`~napari_nxtomo.core.counting.count_atoms` (the library of
        the core's crystal, PbSe, along this zone axis).

    Returns
    -------
    n_pb : (N,) int ndarray
        Pb atoms per column (0 for the columns that hold none).
    result : CountResult
        The counting of the Pb-bearing sublattice's columns (``selected``
        says which rows of ``table``).
    info : dict
        ``selected`` (N,) bool, ``shell`` (N,) the shell's share of the
        cross-section subtracted (⟨100⟩), ``rho`` the Se/Cd ratio used,
        ``se_alone`` (N,) bool the columns counted one Pb and then given 0
        (:func:`se_alone`).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"volume": [1.02, 1.97, 3.01] * 4 + [0.5, 0.4] * 4,
    ...                   "type": ["Pb"] * 12 + ["Se", "Cd"] * 4, "y": 0.0, "x": 0.0})
    >>> n_pb, res, info = count_core_shell(t, zone_axis=(1, 1, 0), lattice_parameter=6.12,
    ...                                    library={1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0}, scale=1.0)
    >>> n_pb[:3].tolist(), n_pb[12:].tolist(), int(info["selected"].sum())
    ([1, 2, 3], [0, 0, 0, 0, 0, 0, 0, 0], 12)
    """
    from .front import count_atoms

    types = table["type"].astype(str).to_numpy()
    vol = table["volume"].to_numpy(dtype=float)
    family = zone_family(zone_axis)
    shell, rho = np.zeros(len(table)), float("nan")
    if family == (0, 1, 1):
        kind = "Pb"
    elif family == (0, 0, 1):
        kind = "Pb+Se"
        shell, rho = shell_cross_section(table[["y", "x"]].to_numpy(), vol, types, lattice_parameter)
    else:
        raise ValueError(f"core-shell counting knows the ⟨100⟩ and ⟨110⟩ zone axes, not {list(zone_axis)}")
    selected = types == kind
    if not selected.any():
        raise ValueError(f"no column of type {kind!r} in the table: fit it with the core-shell column types "
                         "(rule 'sublattice': the image's metadata 'structure' = 'core-shell')")
    one, one_se = _one_pb(library, dose, pixel_size, kind), _one_se(library, dose, pixel_size, kind)
    if kind == "Pb+Se":  # shell-only columns: what the Cd neighbours leave is a small part of one Pb
        sel = np.flatnonzero(selected)
        selected[sel[without_pb(vol[sel] - shell[sel], one)]] = False
        options = {"assignment": MIXED_ASSIGNMENT, **options}
    core = vol[selected] - shell[selected]
    floor = 1e-6 * np.abs(vol[selected]).max()
    errors = table["volume_err"].to_numpy(dtype=float)[selected] if "volume_err" in table else None
    x, types_k = np.clip(core, floor, None), np.full(selected.sum(), kind)
    try:
        result = count_atoms(x, library=library, types=types_k, errors=errors, dose=dose, pixel_size=pixel_size,
                             **options)
    except ValueError as exc:
        why = _dose_refusal(exc)
        if kind != "Pb+Se" or one is None or why is None:
            raise
        # a thick shell: its Se beyond what the Cd neighbours show lifts every core column; counted at the dose's
        # scale, for the views together to settle (one Pb total per layer, count_core_shell_views)
        c = float(dose) * float(pixel_size) ** 2 * library.fit_capture(kind)[0]
        result = count_atoms(x, library=library, types=types_k, errors=errors, scale=c, **options)
        result.notes.append(f"at the dose's scale the shell-corrected Pb/Se columns lie between the library's classes "
                            f"({why}): the shell holds more Se than its Cd "
                            "show; counted at the dose's scale, to be bound to the other views' layer totals")
    n_pb = np.zeros(len(table), dtype=int)
    n_pb[selected] = np.asarray(result.counts, dtype=int)
    alone = np.zeros(len(table), dtype=bool)
    if kind == "Pb+Se" and one is not None and one_se is not None:
        alone = se_alone(vol - shell, n_pb, one, one_se)
        n_pb[alone] = 0
        if alone.any():
            result.notes.append(f"{int(alone.sum())} column(s) counted one Pb hold no more than the Se their Cd "
                                "neighbours need not show: given 0 Pb at even odds")
    if np.isfinite(rho):
        result.notes.append(f"shell Se taken off every Pb/Se column: {rho:.3f} × the mean cross-section of its "
                            "four Cd sites (ratio measured on the shell-only columns)")
    return n_pb, result, {"selected": selected, "shell": shell, "rho": rho, "se_alone": alone}


def count_shell_cd(table, *, library, dose: float, pixel_size: float, **options):
    """Cd atoms of every ``"Cd"`` column of a core–shell view (the shell crystal's library, pure Cd columns).

    Parameters
    ----------
    table : pandas.DataFrame
        Fitted columns typed by sublattice (``volume``, ``type``, optional ``volume_err``).
    library : CrossSectionLibrary or dict
        The shell's (CdSe, zincblende) along the view's zone axis, with a ``"Cd"`` type.
    dose, pixel_size : float
        e/Å² and Å: the scale about which the Cd classes are fitted (the
        dose the Pb counting measured when the image does not say it).
    options
        More :func:`~napari_nxtomo.core.counting.count_atoms` keywords.

    Returns
    -------
    n_cd : (N,) int ndarray
        Cd atoms per column (0 off the Cd sublattice).
    result : CountResult or None
        None when the table has no Cd column.
    selected : (N,) bool ndarray

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"volume": [1.0, 2.1, 2.9, 1.1, 2.0, 3.0] * 4 + [9.0], "type": ["Cd"] * 24 + ["Pb"]})
    >>> n_cd, res, sel = count_shell_cd(t, library={"Cd": {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0}}, dose=1.0,
    ...                                 pixel_size=1.0)
    >>> n_cd[:6].tolist(), int(n_cd[-1]), int(sel.sum())
    ([1, 2, 3, 1, 2, 3], 0, 24)
    """
    from .front import count_atoms

    types = table["type"].astype(str).to_numpy()
    selected = types == "Cd"
    n_cd = np.zeros(len(table), dtype=int)
    if not selected.any():
        return n_cd, None, selected
    vol = table["volume"].to_numpy(dtype=float)[selected]
    errors = table["volume_err"].to_numpy(dtype=float)[selected] if "volume_err" in table else None
    floor = 1e-6 * np.abs(vol).max()
    x, types = np.clip(vol, floor, None), np.full(selected.sum(), "Cd")
    try:
        result = count_atoms(x, library=library, types=types, errors=errors, dose=dose, pixel_size=pixel_size,
                             **options)
    except ValueError as exc:
        why = _dose_refusal(exc)
        if why is None:
            raise
        # the Cd columns lie further from the dose's classes than the fit's capture allows (seen on a [100] view,
        # 0.88 × the dose's: the Cd columns squeezed between the Pb/Se ones): their own scale, said in a note, so
        # that the Pb counting does not stop over its shell
        result = count_atoms(x, library=library, types=types, errors=errors, scale="fit", **options)
        result.notes.append(f"Cd counted with their own fitted scale: {why}")
    n_cd[selected] = np.asarray(result.counts, dtype=int)
    return n_cd, result, selected
