"""Step 2 of the workflow: a fitted column table → the same table with atom counts."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

#: the fit's settings a table's metadata carries to the counting (whose notes say what a library needs of them)
FIT_SETTINGS = ("weighting", "weighting_shift")


def read_count_library(path) -> dict:
    """A counting library from a CSV file of atom counts and cross-sections (Å²).

    Any two-column table a user would write: with a header ``count``,
    ``cross_section`` (or another of
    :func:`~napari_nxtomo.core.counting.library.read_library_csv`'s names) or
    none, comma, semicolon, tab or space separated.

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
    from ..counting.library import read_library_csv

    return read_library_csv(path)


def count_table(table, *, feature: str = "volume", max_components: int = 20, library="auto", dose=None,
                metadata=None, n_components=None, lowest_count=None, progress=None, assignment="likelihood"):
    """Count the atoms of every column of a fitted table.

    The ``volume`` feature is counted with the table's ``type`` and
    ``volume_err``: by default with the cross-section library of the image's
    crystal, zone axis and optics (hybrid counting, one scale between the
    library and the image), else with the error-aware mixture; another
    feature with the mixture and the types only.

    Parameters
    ----------
    table : pandas.DataFrame
        Fitted columns (:func:`find_and_fit`).
    feature : str
        The cross-section to count.
    max_components, n_components, lowest_count
        As :func:`~napari_nxtomo.core.counting.count_atoms` (None: chosen).
        ``n_components`` given with ``library="auto"`` counts with the mixture.
    library : "auto", "none", CrossSectionLibrary, path or dict
        ``"auto"``: the shipped or cached library for the crystal, zone axis
        and optics the table's metadata names (``table.attrs`` and
        ``metadata``, keys :data:`~.count_library.OPTICS_KEYS`); when none
        matches or the optics are unknown the mixture counts and a warning
        (and a note) says what is missing and how to give a library.
        ``"none"`` (or None): the mixture.  A path: a library JSON
        (:meth:`CrossSectionLibrary.write`) or a CSV of ``count``,
        ``cross_section``.
    dose : float, optional
        Incident electrons per Å² of an image in detected electrons per
        pixel: with the table's ``pixel_size_A`` it sets the scale (library
        × dose × pixel² × the fit's capture, fitted about that value); None:
        the metadata's ``dose_e_per_A2`` when its ``intensity_units`` are
        "detected electrons per pixel", else the scale is fitted freely and
        reported (``result.params["scale"]``, ``"scale_err"`` and the notes).
    metadata : dict, optional
        The table's metadata (a CSV's, :func:`read_points_csv`), over ``table.attrs``.
    progress : callable, optional
        ``progress(i, n)``: one step per column type counted, the last after the checks.
    assignment : {"likelihood", "posterior", "nearest"}
        With a library, as :func:`~napari_nxtomo.core.counting.count_atoms`
        (``"nearest"``: StatSTEM's library counting); the mixture ignores it.

    Returns
    -------
    counted : pandas.DataFrame
        A copy of ``table`` with ``count``, ``count_probability`` and, for
        mixed columns, ``n_minor`` (the light element's count);
        ``counted.attrs["counting_library"]`` names the library (or
        "mixture"), ``counted.attrs["counting_note"]`` why the mixture counted
        and ``counted.attrs["counting_scale"]`` the library's scale.
    result : CountResult
        Its first notes name the library and the scale.

    Examples
    --------
    >>> spread = np.tile(np.linspace(-0.05, 0.05, 20), 3)
    >>> table = pd.DataFrame({"volume": np.repeat([1.0, 2.0, 3.0], 20) + spread})
    >>> counted, result = count_table(table, n_components=3, lowest_count=1, library="none")
    >>> sorted(set(counted["count"].tolist())), result.n_components
    ([1, 2, 3], 3)
    """
    from ..counting import count_atoms
    from .count_library import LibraryChoice, choose_library, scale_line

    if feature not in table:
        raise ValueError(f"the table has no '{feature}' column: fit the columns first")
    md = {**table.attrs, **(metadata or {})}
    dose = _metadata_dose(md) if dose is None else dose
    if md.get("structure") == "core-shell" and feature == "volume":
        return count_core_shell_table(table, md, library=library, dose=dose, progress=progress)
    types = None if "type" not in table else table["type"].astype(str).to_numpy()
    auto = isinstance(library, str) and library.strip().lower() == "auto"
    if auto and (feature != "volume" or n_components is not None):
        choice = LibraryChoice(None, "mixture")  # a library counts volumes in its own classes
    else:
        choice = choose_library(library, md, types)
    if choice.note:
        if dose is not None:  # the dose scales a library: the fallback mixture has no use for it
            choice.note += f" (the dose {dose:g} e/Å² is not used by the mixture)"
            dose = None
        warnings.warn(f"counting with the free mixture: {choice.note}", stacklevel=2)
    n_steps = 1 + (len(set(types.tolist())) if types is not None else 1)  # each type, then the last checks
    if progress is not None:
        progress(0, n_steps)
    values = table[feature].to_numpy(dtype=float)
    if feature == "volume":  # the fit's settings (a points layer's metadata) go with it: count_atoms notes them
        values = table.copy(deep=False)
        values.attrs = {**table.attrs, **{k: md[k] for k in FIT_SETTINGS if k in md}}
    options = dict(max_components=max_components, n_components=n_components,
                   types=None if feature == "volume" else types, **_library_options(choice.library, dose, md, types))
    if choice.library is not None:
        options["assignment"] = assignment
    result = count_atoms(values, lowest_count=lowest_count, **options,
                         progress=None if progress is None else (lambda i, _n: progress(i, n_steps)))
    inferred = _neighbours_lowest(table, result, lowest_count, library=choice.library is not None)
    if inferred and choice.library is not None:  # the library's classes are not shifted: the user is told
        off = {t: n - result.by_type[t].lowest_count for t, n in inferred.items() if not _given(lowest_count, t)}
        result.notes.append("the counts of " + ", ".join(f"{t} lie ~{abs(d)} atom(s) {'below' if d > 0 else 'above'}"
                                                         for t, d in off.items() if d)
                            + " those of their neighbouring columns of the heaviest type, which run through the same "
                              "thickness (±1 atom): check the library's values for them, or give their lowest count")
    elif inferred:
        result = count_atoms(values, lowest_count=inferred, **options)
        result.notes.append("lowest count of " + ", ".join(f"{t} {n}" for t, n in inferred.items() if
                                                             not _given(lowest_count, t))
                            + " inferred from the neighbouring columns of the other type (same thickness, ±1 atom)")
    if progress is not None:
        progress(n_steps, n_steps)
    scale = ""
    if choice.library is not None:
        _top_scale(result)
        scale = scale_line(result, dose, md.get("pixel_size_A"))
    lines = [f"library: {choice.description}", f"mixture because {choice.note}" if choice.note else "", scale]
    result.notes[:0] = [line for line in lines if line]
    counted = with_counts(table, result)
    counted.attrs.update(counting_library=choice.description, counting_note=choice.note, counting_scale=scale)
    return counted, result


#: what a ⟨100⟩ core–shell view counted on its own is told (bench_core_shell.py, the six stored particles, seeds 0-3)
ALONE_100_NOTE = ("one <100> view counted alone: the shell's Se above and below a core column is taken off at what it "
                  "weighs alone, so thin cores under a thick shell read ~1 Pb high (Pb columns 0.38-0.96 exact on "
                  "the stored multislice particles, 0.86-1.0 with the views counted together): count every view "
                  "of the particle together (one Pb total per layer)")


def count_core_shell_table(table, md: dict, *, library="auto", dose=None, progress=None, shell_library="auto",
                           alone: bool = True, mixed_units: str = "cell"):
    """Pb atoms per column of a core–shell view's table (:func:`~napari_nxtomo.core.counting.count_core_shell`).

    The library is the core crystal's (``md["crystal"]``) along the zone
    axis, for the Pb-bearing sublattice's columns; the dose, when not
    given, the metadata's (as :func:`count_table`); ``count`` is the number
    of Pb atoms of every column (0 on the Se and Cd sublattices) and
    ``attrs["count_element"]`` says so.

    Returns
    -------
    counted : pandas.DataFrame
        ``table`` with ``count`` (Pb atoms), ``count_probability`` (1 for
        the columns that hold no Pb by their sublattice),
        ``shell_cross_section`` (the shell's share taken off before counting,
        ⟨100⟩; 0 elsewhere), ``se_alone`` (a column counted one Pb and given
        0, as Se alone explains it:
        :func:`~napari_nxtomo.core.counting.core_shell.se_alone`),
        ``region`` ("core" for a column that holds Pb, "shell" for the others) and, when a library of the shell crystal
        (``md["shell_crystal"]``, ``shell_library``) is found, ``count_Cd``
        and ``count_Cd_probability`` (:func:`_with_shell_cd`).
    result : CountResult
        The counting of the Pb-bearing columns; a ⟨100⟩ view counted
        ``alone`` (not to be bound to other views) is told that its thin
        cores read high (:data:`ALONE_100_NOTE`).

    ``mixed_units`` is the units of the library ``"auto"`` takes for a ⟨100⟩ view's mixed core columns
    (:func:`~napari_nxtomo.core.library.load_library`).  ``"fitted"`` compares a core column's remainder (its
    fitted volume minus the shell's share, itself read off fitted Cd columns) with fitted volumes of the bulk: better
    ⟨100⟩ core counts at 1e5 e/Å² but more Pb in pure-shell columns at 5e4, measured in
    ``benchmarks/bench_core_shell.py``'s docstring; not yet the default.

    Examples
    --------
    The [110] view of the core–shell sample (noise-free, 1e5 e/Å²), found and fitted by sublattice:

    >>> from napari_nxtomo.core.multislice_sample import multislice_view
    >>> from napari_nxtomo.core.workflow import find_and_fit
    >>> v = multislice_view((1, 1, 0), particle="pbse_cdse_core_shell", dose=1e5, noise=False)
    >>> md = v.layer_metadata()
    >>> table = find_and_fit(v.image, v.pixel_size, 1.0, zone_axis=md["zone_axis"],
    ...                      lattice_parameter=md["lattice_parameter"], structure=md["structure"])
    >>> counted, result = count_core_shell_table(table, {**md, "pixel_size_A": v.pixel_size})
    >>> int(counted["count"].sum()), int(v.columns["n_Pb"].sum()), counted.attrs["count_element"]
    (157, 155, 'Pb')
    """
    from ..counting.core_shell import SE_ALONE_PROBABILITY, count_core_shell
    from .count_library import choose_library, scale_line

    for key in ("zone_axis", "lattice_parameter"):
        if md.get(key) is None:
            raise ValueError(f"counting a core-shell view needs its {key}: the table's metadata does not say it")
    dose = _metadata_dose(md) if dose is None else dose
    kind = "Pb" if tuple(sorted(abs(int(v)) for v in md["zone_axis"])) == (0, 1, 1) else "Pb+Se"
    choice = choose_library(library, md, np.array([kind]), units=mixed_units if kind == "Pb+Se" else "cell")
    if choice.library is None:
        raise ValueError(f"counting the Pb of a core-shell view needs a cross-section library of its core: "
                         f"{choice.note or 'none given'}")
    if progress is not None:
        progress(0, 1)
    n_pb, result, info = count_core_shell(table, zone_axis=md["zone_axis"], lattice_parameter=float(md["lattice_parameter"]),
                                          **_library_options(choice.library, dose, md, np.array([kind])))
    if progress is not None:
        progress(1, 1)
    _top_scale(result)
    scale = scale_line(result, dose, md.get("pixel_size_A"))
    result.notes[:0] = [f"library: {choice.description}", scale,
                        f"Pb counted on the {int(info['selected'].sum())} {kind} columns; the Se and Cd "
                        "sublattices' columns hold no Pb"]
    if alone and kind == "Pb+Se":
        result.notes.append(ALONE_100_NOTE)
    counted = table.copy()
    counted["count"] = n_pb
    prob = np.ones(len(table))
    prob[info["selected"]] = result.to_frame()["probability"].to_numpy()
    prob[info["se_alone"]] = SE_ALONE_PROBABILITY
    counted["count_probability"] = prob
    counted["se_alone"] = info["se_alone"]
    counted["shell_cross_section"] = info["shell"]
    counted["region"] = np.where(n_pb > 0, "core", "shell")  # a column through the core holds Pb
    counted.attrs.update(counting_library=choice.description, counting_note=choice.note, counting_scale=scale,
                         count_element="Pb", shell_ratio=info["rho"])
    _with_shell_cd(counted, md, result, choice.library, kind, dose, shell_library)
    return counted, result




def _with_shell_cd(counted, md, result, core_library, kind, dose, shell_library="auto"):
    """Add ``count_Cd`` (and its probability) to a counted core–shell table, or a note saying why not.

    The Cd columns are counted with the shell crystal's library (``md["shell_crystal"]``) at the image's dose,
    or, when the image does not say it, at the dose the Pb counting's scale stands for (scale / (pixel² × the
    core library's fit capture)).
    """
    from ..counting.core_shell import count_shell_cd
    from .count_library import choose_library

    pixel = md.get("pixel_size_A")
    if not (counted["type"].astype(str) == "Cd").any():
        return
    if dose is None and hasattr(core_library, "fit_capture") and pixel and "scale" in result.params:
        dose = float(result.params["scale"]) / (float(pixel) ** 2 * core_library.fit_capture(kind)[0])
    shell = md.get("shell_crystal") or _shell_crystal_of(md)
    choice = choose_library(shell_library, {**md, "crystal": shell}, np.array(["Cd"])) if shell else None
    if choice is None or choice.library is None or dose is None or not pixel:
        why = ("the image does not name its shell crystal" if not shell else
               choice.note or "no library" if choice.library is None else "no dose nor library scale")
        result.notes.append(f"Cd columns not counted: {why}")
        return
    n_cd, res_cd, sel = count_shell_cd(counted, library=choice.library, dose=dose, pixel_size=float(pixel))
    counted["count_Cd"] = n_cd
    prob = np.ones(len(counted))
    prob[sel] = res_cd.to_frame()["probability"].to_numpy()
    counted["count_Cd_probability"] = prob
    counted.attrs.update(shell_counting_library=choice.description)
    result.notes.append(f"Cd counted on the {int(sel.sum())} Cd columns ({int(n_cd.sum())} Cd) with "
                        f"{choice.description}")


def _shell_crystal_of(md: dict):
    """A core–shell image's shell crystal from its elements: those not in the core's crystal, with its anion.

    Examples
    --------
    >>> _shell_crystal_of({"crystal": "PbSe", "elements": ["Pb", "Cd", "Se"]})
    'CdSe'
    >>> _shell_crystal_of({"crystal": "PbSe", "elements": ["Pb", "Se"]}) is None
    True
    """
    import re

    core = re.findall(r"[A-Z][a-z]?", str(md.get("crystal") or ""))
    others = [e for e in md.get("elements") or [] if e not in core]
    if len(core) != 2 or len(others) != 1:
        return None
    return others[0] + core[1]


def parse_lowest_count(text):
    """The lowest count a user writes (the Count dock's box, the CLI's ``--lowest-count``) as ``count_table`` takes it.

    Parameters
    ----------
    text : str or int or None
        "auto" or empty (None: inferred), one count for every column type ("2"), or one per type ("Pb=1, Se=2";
        a type given 0 is inferred).

    Returns
    -------
    None, int or dict

    Examples
    --------
    >>> parse_lowest_count("auto") is None, parse_lowest_count(" 2 "), parse_lowest_count("Pb=1; Se=2")
    (True, 2, {'Pb': 1, 'Se': 2})
    """
    text = str(text or "").strip()
    if text.lower() in ("", "auto", "0"):
        return None
    how = "write 'auto', one number (e.g. 2) or one per column type (e.g. 'Pb=1, Se=2')"
    if "=" not in text:
        if not text.isdigit():
            raise ValueError(f"lowest count {text!r}: {how}")
        return int(text)
    out = {}
    for part in text.replace(";", ",").split(","):
        name, _, value = part.partition("=")
        if not name.strip() or not value.strip().isdigit():
            raise ValueError(f"lowest count {part.strip()!r}: {how}")
        if int(value) > 0:
            out[name.strip()] = int(value)
    return out or None


def _given(lowest_count, t) -> bool:
    """Whether the user gave type ``t``'s lowest count (one number for all, or a dict naming it)."""
    return lowest_count is not None and (not isinstance(lowest_count, dict) or lowest_count.get(t) is not None)


def _neighbours_lowest(table, result, lowest_count, library=False):
    """Every type's lowest count when a type's could not be inferred from its means (nor was given) and its neighbours
    of a known type fix it (:func:`~napari_nxtomo.core.counting.lowest_from_neighbours`); else None.  With a
    ``library`` the heaviest type (largest mean cross-section) is the known one."""
    from ..counting import lowest_from_neighbours

    parts = result.by_type or {}
    if len(parts) < 2 or not {"y", "x"} <= set(table.columns):
        return None
    if library:
        heavy = max(parts, key=lambda t: float(table["volume"][table["type"].astype(str) == t].mean()))
        known = {t: int(r.lowest_count) for t, r in parts.items() if _given(lowest_count, t) or t == heavy}
    else:
        known = {t: int(r.lowest_count) for t, r in parts.items()
                 if _given(lowest_count, t) or r.lowest_count_inferred}
    unknown = [t for t in parts if t not in known and "+" not in t]
    if not known or not unknown:
        return None
    found = lowest_from_neighbours(table[["y", "x"]].to_numpy(float), table["type"].astype(str).to_numpy(),
                                   np.asarray(result.counts, int), known)
    found = {t: n for t, n in found.items() if t in unknown and n != int(parts[t].lowest_count)}
    return {**known, **found} if found else None


def _metadata_dose(md: dict):
    """The incident dose (e/Å²) the metadata gives an image in detected electrons, else None.

    Examples
    --------
    >>> _metadata_dose({"dose_e_per_A2": 5e4, "intensity_units": "detected electrons per pixel"})
    50000.0
    >>> _metadata_dose({"dose_e_per_A2": 5e4, "intensity_units": "fraction of the incident beam per pixel"}) is None
    True
    """
    if md.get("intensity_units") != "detected electrons per pixel" or md.get("dose_e_per_A2") is None:
        return None
    return float(md["dose_e_per_A2"])


def _library_options(library, dose, md, types) -> dict:
    """``count_atoms`` keywords of the library and the scale: dose × pixel², or fitted (all types when all mixed)."""
    if library is None:
        if dose is not None:
            raise ValueError("a dose sets the scale of a library's cross-sections: give a library (or no dose)")
        return {}
    options = {"library": library}
    if dose is not None:
        pixel = md.get("pixel_size_A")
        if pixel is None:
            raise ValueError("a dose needs the pixel size: the table does not say its pixel_size_A (fit the "
                             "columns of a calibrated image)")
        options.update(dose=float(dose), pixel_size=float(pixel))
    elif types is not None and all("+" in t for t in set(types.tolist())):
        options["scale"] = "fit"  # mixed columns alone: no one-element type to fit the scale on
    return options


def _top_scale(result) -> None:
    """The scale (and its error) of the result's best-determined type also in its top-level ``params``."""
    if "scale" in result.params:
        return
    parts = [r for r in result.by_type.values() if "scale" in r.params]
    if parts:
        best = min(parts, key=lambda r: (not r.params.get("scale_fitted"), r.params.get("scale_err", np.inf)))
        result.params.update(scale=best.params["scale"], scale_err=best.params.get("scale_err", 0.0))


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


def count_views_tables(tables, metadata=None, *, library="auto", dose=None, element: str = "Pb", progress=None):
    """Count the fitted tables of two or three views of ONE particle jointly: one library scale, one ``element`` total.

    Each table's library is chosen as :func:`count_table` chooses it (``"auto"``: the shipped or cached library of
    its zone axis and optics); the dose comes from ``dose`` or each table's metadata (images in detected
    electrons); then :func:`~napari_nxtomo.core.counting.count_views` counts them together.

    Parameters
    ----------
    tables : list of pandas.DataFrame
        Fitted, typed tables (``volume``, ``volume_err``, ``type``), one per view.
    metadata : list of dict, optional
        Each table's metadata (laid over its ``attrs``).
    library : "auto", a library, or a list of them (one per table)
    dose : float, optional
        e/Å² of all the images.
    element : str
        The element whose totals must agree.
    progress : callable, optional
        ``progress(i, n)`` per view and column type counted (:func:`~napari_nxtomo.core.counting.count_views`).

    Returns
    -------
    counted : list of pandas.DataFrame
        Copies of the tables with ``count``, ``count_probability`` (and ``n_minor``); ``attrs["counting_library"]``
        the library, ``attrs["counting_joint"]`` the joint count's notes (``counting_note`` None: no mixture counted).
    joint : ViewsCount

    Examples
    --------
    Two views of 40 Pb atoms whose cross-sections follow a library at scale 2 (1 % errors):

    >>> lib = {"Pb": {n: 0.007 * n + 0.0006 * n * n for n in range(1, 10)}}
    >>> rng = np.random.default_rng(0)
    >>> def table(n):
    ...     v = 2 * np.array([lib["Pb"][k] for k in n])
    ...     return pd.DataFrame({"volume": v + rng.normal(0, 0.01 * v), "volume_err": 0.01 * v, "type": "Pb"})
    >>> counted, joint = count_views_tables([table(np.repeat([2, 3, 5], [5, 5, 3])), table(np.repeat([3, 4, 6], [2, 4, 3]))],
    ...                                     library=lib)
    >>> joint.totals, [int(c["count"].sum()) for c in counted]
    ([40, 40], [40, 40])
    """
    from ..counting import count_views
    from .count_library import choose_library

    metadata = list(metadata) if metadata is not None else [{}] * len(tables)
    mds = [{**t.attrs, **(m or {})} for t, m in zip(tables, metadata)]
    libs = library if isinstance(library, (list, tuple)) else [library] * len(tables)
    chosen = [choose_library(lib, md, t["type"].astype(str).to_numpy()) for lib, md, t in zip(libs, mds, tables)]
    missing = [f"table {i + 1}: {c.note}" for i, c in enumerate(chosen) if c.library is None]
    if missing:
        raise ValueError("counting views jointly needs a library for every view; " + "; ".join(missing))
    doses = {float(d) for d in ([dose] if dose is not None else [_metadata_dose(md) for md in mds]) if d is not None}
    if len(doses) > 1:
        raise ValueError(f"the views' metadata give different doses {sorted(doses)}: give one dose (e/Å²)")
    pixels = {md.get("pixel_size_A") for md in mds}
    given = {}
    if doses:
        if len(pixels) != 1 or None in pixels:
            raise ValueError("a dose needs the views' common pixel size (pixel_size_A in every table's metadata)")
        given = {"dose": doses.pop(), "pixel_size": float(pixels.pop())}
    views = []
    for t, md in zip(tables, mds):  # the zone axis, tilt direction and lattice for the shape's check of a scale
        views.append(t.copy())
        views[-1].attrs.update({k: md[k] for k in ("zone_axis", "tilt_direction", "lattice_parameter") if k in md})
    joint = count_views(views, [c.library for c in chosen], element=element, progress=progress, **given)
    counted = [with_counts(t, r) for t, r in zip(tables, joint.results)]
    for c, ch in zip(counted, chosen):
        c.attrs.update(counting_library=ch.description, counting_note=None, counting_joint="; ".join(joint.notes))
    return counted, joint
