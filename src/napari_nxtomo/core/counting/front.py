"""The entry point :func:`count_atoms`: check the input, count each column type, assemble."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .curve import _count_curve
from .ends import lattice_parity
from .gmm import _count_gmm
from .inputs import _as_volumes, _column_errors
from .hybrid import _count_hybrid, known_scale
from .mixed import SE_RATIO_Z2, _count_mixed, _se_ratio_bounds
from .result import CountResult
from .surface import count_with_slope

_COLLECTIONS = (list, tuple, set, frozenset)
#: a table whose noise-weighted volumes moved by more than this many standard errors from least squares gets a note
#: when counted with a plain library (for Gaussian peaks the median shift is below 0.67)
WEIGHTING_SHIFT_NOTE = 1.0


def count_atoms(
    volumes,
    max_components: int = 20,
    library=None,
    *,
    n_components=None,
    lowest_count=None,
    types=None,
    mixed="auto",
    model: str = "gmm",
    seed: int = 0,
    entropy: str = "soft",
    se_ratio=SE_RATIO_Z2,
    errors=None,
    dose=None,
    pixel_size=None,
    dose_sd=None,
    scale=None,
    assignment: str = "likelihood",
    progress=None,
    ends: bool = True,
) -> CountResult:
    """Atom counts from column cross-sections (StatSTEM's mixture-model counting).

    The fitted volume of a column's Gaussian peak is its scattering
    cross-section (Å²), which grows with the number of atoms in the column.
    By default the cross-sections are fitted with a Gaussian mixture of one
    common width for K = 1..``max_components`` (:func:`fit_gmm`), K is the
    minimum of the integrated classification likelihood
    (:func:`icl_criterion`), components sorted by mean are consecutive counts
    from the lowest count, and each column gets the count of its most probable
    component.

    Parameters
    ----------
    volumes : (N,) array or pandas.DataFrame
        Scattering cross-sections (fitted peak volumes) of the columns, Å², or
        the table of :func:`fit_columns` (its ``volume`` column; its ``type``
        column is used when ``types`` is None).
    max_components : int or dict
        Largest number of mixture components K tried (the ICL is computed for
        K = 1..max_components; K above the number of columns is skipped).
    library : dict, array, object or None
        Simulated cross-sections per atom count, in fraction of the incident
        beam × Å²: ``{1: 0.020, 2: 0.039, ...}``, an array indexed by the
        count (NaN for counts not simulated), or ``{(n_Pb, n_Se): σ}`` for
        mixed columns; a dict keyed by column type gives one library per type,
        and an object with ``.values(type)`` gives each type's dict.  The
        columns are counted by HYBRID counting (:mod:`.hybrid`): the class
        means are ``c × library`` for a window of consecutive counts, the
        window (number of classes and lowest count) chosen by the ICL, the
        columns' ``errors`` entering as in the free mixture; ``c`` comes from
        ``dose``/``scale`` or is fitted (``params["scale"]``,
        ``params["scale_err"]`` of each type's result).  By default mixed
        types (``"Pb+Se"``) take the scale fitted on the table's heaviest
        one-element type, or, with none, the library's own units (checked:
        give the dose or use :func:`count_views` otherwise).  A library keyed
        by types that lacks one of the table's types is an error.
    dose : float, optional
        Incident electrons per Å² of an image in detected electrons per
        pixel: a column's fitted volume is then σ · dose · pixel_size² (σ in
        fraction of the beam × Å²), so ``c = dose · pixel_size²`` times the
        fraction of a column's simulated cross-section the fit holds (a
        library's ``fit_capture``; 1 ± 3 % for a dict).  Each type's scale is
        fitted about that value (a log-normal prior, which picks among the
        scale's aliases a count apart); when the columns need a scale more
        than 3 prior widths away (the dose's classes fall between theirs), a
        ValueError says so.  The prior's width is the spread of that
        fraction (``fit_capture``), narrower (``CALIBRATED_DOSE_SD``) for the
        one type whose fraction was measured on particles' own fitted columns
        (``library.capture_calibrated``: Pb along ⟨110⟩ in a library in the
        fit's units).
    pixel_size : float, optional
        Å; needed with ``dose``.
    dose_sd : float, optional
        The dose's own relative uncertainty (sd of its ln): the prior about it
        is at least this wide (for a dose known to ±10 %: 0.1).  Default: a
        measured dose, the fraction's spread alone.
    scale : float, dict or "fit", optional
        ``c`` itself (1 for an image in fraction of the beam; a dict: one per
        column type, the others as without), or "fit": every type fits its
        own (mixed types' free scale is weakly determined).
    assignment : {"likelihood", "posterior", "nearest"}
        With a library, how one-element columns get their count once the
        scale and the window of classes are fitted: ``"likelihood"``
        (default) the class of highest likelihood, every class equally
        likely a priori (each column's width: the classes' spread and its
        own error); ``"posterior"`` the most probable class of the hybrid
        mixture with its fitted class fractions (which shift the boundaries
        toward the rarer count: worse where physical classes overlap);
        ``"nearest"`` the count of the nearest scaled library value, as
        StatSTEM's library counting does.  Mixed columns: ``"likelihood"``
        likewise over their heavy counts (each count's light sub-classes in
        the shares the fit gave them), ``"flat"`` likewise with every
        sub-class equally likely (one-element columns: as ``"likelihood"``),
        ``"posterior"`` the mixture's.
    n_components : int or dict, optional
        Force K instead of the ICL minimum.
    lowest_count : int or dict, optional
        Count of the lowest component (a dict: per column type).  Default:
        inferred (see :func:`infer_lowest_count`), 1 when that is ambiguous;
        with a library the lowest count of the window the ICL chooses (given:
        only windows starting there).
    types : (N,) array of str, optional
        Column type of each column (e.g. ``"Pb"``, ``"Se"``, ``"Pb+Se"``):
        each type is counted on its own.
    mixed : bool, "auto" or collection of str
        Count columns as mixed Pb/Se columns (Pb count, :func:`pb_counts_mixed`):
        True for all, a collection of type names, or "auto" (default): the
        types whose name holds a "+" (as ``"Pb+Se"``).
    model : {"gmm", "curve"}
        For plain (not mixed) columns: ``"gmm"`` (default) is StatSTEM's free
        common-width mixture, K at the ICL minimum, counts numbered from
        ``lowest_count``; ``"curve"`` puts one class per count on a smooth
        cross-section curve through zero (the model of
        :func:`pb_counts_mixed`, without Se sub-classes): no component can be
        spent on a noise split, and the absolute count needs no guess.
        Mixed columns always use the curve.
    seed : int
        Seed of the mixture's random starts: the same input and seed give the
        same result.
    entropy : {"soft", "hard"}
        The classification term of the ICL (:func:`icl_criterion`).
    se_ratio : float, (low, high) or None
        Se/Pb single-atom cross-section ratio of mixed columns' Se sub-classes
        (see :func:`pb_counts_mixed`).
    errors : (N,) array, optional
        Standard errors of the cross-sections (Å², ``volume_err`` of
        :func:`fit_columns`; taken from the table when it has that column).
        The free mixture (``model="gmm"``) is then error-aware: column i's
        component width is sqrt(s² + e_i²) with one fitted extra spread s,
        and K is the ICL minimum among the fits with s ≤ 2 × the median error
        (``RESOLVED_FACTOR``; see :func:`.gmm._count_gmm`); ``params`` holds s
        per K.  Errors that are NaN or ≤ 0 get the median error.  The curve
        model prefers fits whose class width is at most 3× the median error
        (a width far above the precision means unresolved classes).  Without
        errors, StatSTEM's common-width mixture.
    ends : bool
        Where ``volumes`` is a table with the columns' positions (``y``,
        ``x``) and mixed columns are counted with a library: each odd
        column's end (Pb or Se) from the parity of its place on the projected
        lattice (:mod:`.ends`; default).  False: from its cross-section alone.

    Returns
    -------
    CountResult
        ``.counts`` (N,) int, ``.n_components``, ``.icl`` (ICL per K, NaN
        where not computed), ``.means``, ``.sigma``, ``.weights``, ``.labels``,
        ``.posterior``, ``.pdf(x)``, ``.notes``.  With several types, the
        per-type results are in ``.by_type``; the top level then concatenates
        their components (``weights`` as fractions of all columns,
        ``sigma`` and ``component_sigma`` one value per component, ``icl`` one
        row per type).

    Raises
    ------
    ValueError
        Empty input, NaN/inf or negative cross-sections, fewer columns than
        forced components, a malformed library.

    Examples
    --------
    Columns of 3, 4 and 5 atoms (0.02 Å² per atom, noise 0.002 Å²), 40 of each:

    >>> import numpy as np
    >>> from napari_nxtomo.core.counting import count_atoms
    >>> rng = np.random.default_rng(0)
    >>> truth = np.repeat([3, 4, 5], 40)
    >>> res = count_atoms(0.02 * truth + rng.normal(0, 0.002, truth.size), max_components=5)
    >>> res.n_components, res.lowest_count, res.counts[:3], res.counts[-3:]
    (3, 3, array([3, 3, 3]), array([5, 5, 5]))
    >>> bool(np.all(res.counts == truth))
    True
    """
    x, types, errors = _checked_input(volumes, types, errors, entropy, model)
    if assignment not in ("likelihood", "flat", "posterior", "nearest"):
        raise ValueError(f"assignment must be 'likelihood', 'flat', 'posterior' or 'nearest' (StatSTEM's library "
                         f"counting), got {assignment!r}")
    if assignment == "nearest" and library is None:
        raise ValueError("assignment='nearest' assigns each column the nearest library value: give a library")
    given = known_scale(dose, pixel_size, scale)
    if dose_sd is not None and not (np.isfinite(dose_sd) and dose_sd >= 0):
        raise ValueError(f"dose_sd is the dose's relative uncertainty (sd of its ln, e.g. 0.1), got {dose_sd}")
    if given is not None and not isinstance(given, str) and library is None:
        raise ValueError("a dose or scale converts a library's cross-sections to image units: give a library too")
    options = dict(max_components=max_components, n_components=n_components, lowest_count=lowest_count,
                   model=model, seed=seed, entropy=entropy, se_ratio=se_ratio, assignment=assignment,
                   scale=None if dose is not None else given, dose_scale=given if dose is not None else None,
                   dose_sd=dose_sd)
    if types is None:
        if _keyed_by_type(library) or _library_object(library):
            raise ValueError("the library is keyed by column type: give types too (or a table with a 'type' column)")
        scale, dose_scale, dose_sd = options.pop("scale"), options.pop("dose_scale"), options.pop("dose_sd")
        source = "fitted" if isinstance(scale, str) or dose_scale is not None else None
        scale = None if isinstance(scale, str) else scale
        res = _count_one(x, library=library, mixed=_is_mixed(mixed, None), errors=errors, scale=scale,
                         prior=_dose_prior(dose_scale, library, None, dose_sd), scale_source=source, **options)
    else:
        yx = volumes[["y", "x"]].to_numpy(float) if ends and isinstance(volumes, pd.DataFrame) and {"y", "x"} <= set(
            volumes.columns) else None
        res = _assemble(x, types, _count_by_type(x, types, errors, library, mixed, options, progress, yx), entropy)
    if library is not None and not _library_object(library) and isinstance(volumes, pd.DataFrame):
        res.notes.extend(_fit_settings_notes(volumes.attrs))
    return res


def _fit_settings_notes(attrs):
    """What a fit's settings mean for a library of plain cross-sections (a StatSTEM-like table of least-squares
    volumes): a note when the table was fitted with noise weighting that moved the volumes."""
    shift = attrs.get("weighting_shift", float("nan"))
    if attrs.get("weighting") != "noise" or not shift > WEIGHTING_SHIFT_NOTE:
        return []
    return [f"the volumes were fitted with noise weighting, which moved them by {shift:.1f} standard errors (median) "
            "from the least-squares fit: these peaks are not Gaussians, so the two fits measure different "
            "cross-sections. A library of least-squares cross-sections (StatSTEM's, and any table computed "
            "for its uniform weighting) is compared with a least-squares fit: refit with weighting='uniform' "
            "(and, for a library computed with the background fixed, fit_background=False, background=that value)"]


def _checked_input(volumes, types, errors, entropy, model):
    """Cross-sections (N,), types (N,) str or None and errors from the arguments (or the table), checked."""
    if isinstance(volumes, pd.DataFrame):
        if types is None and "type" in volumes.columns:
            types = volumes["type"].to_numpy()
        if errors is None and "volume_err" in volumes.columns:
            errors = volumes["volume_err"].to_numpy()
    x = _as_volumes(volumes)
    if entropy not in ("soft", "hard"):
        raise ValueError(f"entropy must be 'soft' or 'hard', got {entropy!r}")
    if model not in ("gmm", "curve"):
        raise ValueError(f"model must be 'gmm' (free mixture, StatSTEM) or 'curve', got {model!r}")
    if types is not None:
        types = np.asarray(types).astype(str)
        if types.shape != x.shape:
            raise ValueError(f"types must give one type per column: {types.size} types for {x.size} columns")
        if errors is not None:
            errors = _column_errors(errors, x.size)
    return x, types, errors


def _keyed_by_type(library) -> bool:
    """Whether a library is a dict of libraries keyed by column type."""
    return isinstance(library, Mapping) and bool(library) and all(isinstance(k, str) for k in library)


def _is_mixed(mixed, name) -> bool:
    """Whether columns of type ``name`` (None: untyped) are mixed Pb/Se columns (see count_atoms' ``mixed``)."""
    if isinstance(mixed, _COLLECTIONS):
        return name is not None and name in mixed
    if isinstance(mixed, str) and mixed == "auto":
        return name is not None and "+" in name
    return bool(mixed)


def _per_type(value, key):
    """A per-type setting: a dict keyed by type, or one value for all types."""
    return value.get(key) if isinstance(value, Mapping) else value


def _library_object(library) -> bool:
    """Whether a library is an object that gives each type's dict through ``.values(type)``."""
    return library is not None and not isinstance(library, Mapping) and callable(getattr(library, "values", None))


def _library_of(library, t):
    """The library of column type ``t`` (dict form), or a ValueError naming the types the library has."""
    if _library_object(library):
        try:
            return library.values(t)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"the library has no column type {t!r} ({exc}): use a library of this crystal and "
                             "zone axis (its column types must be the table's)") from exc
    if not _keyed_by_type(library):
        return library
    if t not in library:
        raise ValueError(f"the library has column types {sorted(library)}, not {t!r}: use a library of this "
                         "crystal and zone axis (its column types must be the table's)")
    return library[t]


def _surface_prior(library, t):
    """The library's ``surface_prior(t)`` where it has one (a view then fits its own surface slope), else None."""
    prior = getattr(library, "surface_prior", None) if _library_object(library) else None
    return prior(t) if prior is not None else None


def _dose_prior(dose_scale, library, t, dose_sd=None):
    """(c0, sigma_ln) of the scale a dose gives a type: dose · pixel² × the fraction of a library's cross-section
    the fit holds (``library.fit_capture(t)`` of a simulated library; 1 ± 3 % for a plain dict, e.g. a library of
    fitted cross-sections); None without a dose.  The width: that fraction's spread, the calibrated type's
    (``library.capture_calibrated(t)``) :data:`~napari_nxtomo.core.library.table.CALIBRATED_DOSE_SD`; at least
    ``dose_sd``, the dose's own."""
    from ..library.table import CALIBRATED_DOSE_SD

    if dose_scale is None:
        return None
    capture, sigma = library.fit_capture(t) if _library_object(library) and t is not None else (1.0, 0.03)
    if _library_object(library) and t is not None and library.capture_calibrated(t):
        sigma = CALIBRATED_DOSE_SD
    return dose_scale * capture, max(sigma, dose_sd or 0.0)


def _count_one(x, *, max_components, library, n_components, lowest_count, mixed, model, seed, entropy, se_ratio,
               errors=None, label="", scale=None, prior=None, scale_source=None, assignment="likelihood", units=None,
               parity=None, surface=None):
    """Counts of one set of columns: by library, on the curve (mixed or ``model="curve"``), or by the free mixture.
    ``surface``: a library's ``surface_prior`` of the type, whose slope the view then fits (:mod:`.surface`)."""
    if library is not None:
        if n_components is not None:
            raise ValueError("give either a library or n_components, not both")

        def hybrid(values):
            return _count_hybrid(x, values, errors=errors, scale=scale, entropy=entropy, label=label,
                                 mixed=bool(mixed) if label else None, prior=prior, lowest=lowest_count,
                                 scale_source=scale_source or ("given" if scale is not None else "default"),
                                 assignment=assignment, units=units, parity=parity)
        if surface is None:
            return hybrid(library)
        return count_with_slope(x, errors, surface, hybrid, scale=scale, prior=prior)
    if not (mixed or model == "curve"):
        return _count_gmm(x, max_components, n_components, lowest_count, seed, entropy, errors)
    if n_components is not None:
        what = "mixed columns" if mixed else "the curve model"
        raise ValueError(
            f"n_components cannot be forced for {what}{label}: the classes are the counts found on the "
            "cross-section curve; set lowest_count, or use model='gmm' on plain columns (mixed=False)"
        )
    options = dict(lowest_count=lowest_count, max_components=max_components, seed=seed, entropy=entropy,
                   errors=errors)
    if mixed:
        return _count_mixed(x, se_ratio=se_ratio, **options)
    _se_ratio_bounds(se_ratio)  # checked for plain columns too, though only mixed columns use it
    return _count_curve(x, **options)


def _dose_judge(names, library, mixed):
    """The type whose free scale may contradict a given dose: the one-element type of the heaviest library.

    Light columns (Se) and mixed columns fit a free scale too loosely to judge it.
    """
    from .library import _parse_library

    plain = [t for t in names if not _is_mixed(mixed, t)]
    if not plain:
        return None
    return max(plain, key=lambda t: _parse_library(_library_of(library, t))[2].max())


def _count_by_type(x, types, errors, library, mixed, options, progress=None, yx=None):
    """One result per column type, in the order of first appearance; per-type settings picked from dicts;
    ``progress(i, n)`` after each of the n types; ``yx``: the columns' positions, whose lattice parity sets the ends
    of odd mixed columns counted with a library (:mod:`.ends`)."""
    by_type = {}
    names = list(dict.fromkeys(types.tolist()))
    judge = _dose_judge(names, library, mixed) if library is not None else None
    if progress is not None:
        progress(0, len(names))
    for t in sorted(names, key=lambda name: name != judge):  # the judge first: mixed types may take its scale
        sel = types == t
        scale, source = _type_scale(_per_type(options["scale"], t), library, _is_mixed(mixed, t), by_type.get(judge),
                                    judge, options["dose_scale"])
        try:
            by_type[t] = _count_one(
                x[sel],
                max_components=_per_type(options["max_components"], t) or 20,
                library=None if library is None else _library_of(library, t),
                n_components=_per_type(options["n_components"], t),
                lowest_count=_per_type(options["lowest_count"], t),
                mixed=_is_mixed(mixed, t),
                model=_per_type(options["model"], t) or "gmm",
                seed=options["seed"],
                entropy=options["entropy"],
                se_ratio=options["se_ratio"],
                assignment=options["assignment"],
                errors=None if errors is None else errors[sel],
                label=f" of type {t!r}",
                scale=scale,
                units=library.fit_capture(t) if _library_object(library) else None,
                surface=_surface_prior(library, t),
                parity=lattice_parity(yx[sel]) if yx is not None and library is not None and _is_mixed(mixed, t)
                else None,
                **_prior_and_source(library, t, source, options["dose_scale"], by_type.get(judge), judge, mixed,
                                    given=scale is not None, dose_sd=options["dose_sd"]),
            )
        except ValueError as exc:
            raise ValueError(f"type {t!r} ({sel.sum()} columns): {exc}") from exc
        if progress is not None:
            progress(len(by_type), len(names))
    return {t: by_type[t] for t in names}


def _prior_and_source(library, t, source, dose_scale, judge_result, judge, mixed, given=False,
                      dose_sd=None) -> dict:
    """``prior`` and ``scale_source`` of one type's hybrid count: the dose's prior; or, for a lighter one-element
    type of a simulated library (Se beside Pb along <110>), the scale fitted on the ``judge`` (heaviest) type times
    the ratio of the two types' fit captures (:data:`~napari_nxtomo.core.library.table.FIT_CAPTURE_RATIO_SIGMA`):
    one image, one dose, so the light columns' classes do not fit a scale of their own, which aliases by a count."""
    if library is None:
        return {"prior": None, "scale_source": source}
    from ..library.table import FIT_CAPTURE_RATIO_SIGMA

    if (given or source == "fitted" or judge_result is None or t == judge or _is_mixed(mixed, t)
            or not _library_object(library) or "scale" not in judge_result.params):  # "fitted": scale="fit" asked
        return {"prior": _dose_prior(dose_scale, library, t, dose_sd), "scale_source": source}
    ratio = library.fit_capture(t)[0] / library.fit_capture(judge)[0]
    return {"prior": (judge_result.params["scale"] * ratio, FIT_CAPTURE_RATIO_SIGMA),
            "scale_source": f"fitted about the {judge!r} columns' scale × {ratio:.3f} (their fit captures)"}


def _type_scale(scale, library, is_mixed, judge_result, judge, dose_scale=None):
    """(scale, how it was set) of one type: given; fitted ("fit", a dose (about its scale), or a one-element type by
    default); for mixed types by default the scale fitted on the table's heaviest one-element type, else the
    library's own units."""
    if library is None:
        return None, None
    if dose_scale is not None:
        return None, "fitted about the dose's"
    if isinstance(scale, str):  # "fit": every type fits its own
        return None, "fitted"
    if scale is not None:
        return scale, "given"
    if not is_mixed:
        return None, "default"
    if judge_result is not None:
        return judge_result.params["scale"], f"fitted on the {judge!r} columns"
    return 1.0, "library units"


def _assemble(x, types, by_type, entropy) -> CountResult:
    """The result of all columns: one type's result as it is, or the components of all types side by side."""
    names = list(by_type)
    if len(names) == 1:
        res = by_type[names[0]]
        res.types = types
        res.by_type = by_type
        return res
    results = list(by_type.values())
    n = x.size
    counts = np.empty(n, dtype=int)
    labels = np.empty(n, dtype=int)
    icl = np.full((len(names), max(r.icl.size for r in results)), np.nan)
    post = np.zeros((n, sum(r.n_components for r in results)))
    offs = 0
    for j, (t, r) in enumerate(by_type.items()):
        sel = np.flatnonzero(types == t)
        counts[sel] = r.counts
        labels[sel] = r.labels + offs
        post[np.ix_(sel, offs + np.arange(r.n_components))] = r.posterior
        icl[j, : r.icl.size] = r.icl
        offs += r.n_components
    comp_sigma = np.concatenate([np.asarray(r.component_sigma, dtype=float) for r in results])
    return CountResult.from_classes(
        x, post, np.concatenate([r.means for r in results]), comp_sigma,
        np.concatenate([r.weights * (np.sum(types == t) / n) for t, r in by_type.items()]),
        np.concatenate([r.component_counts for r in results]), labels=labels, counts=counts,
        method="+".join(dict.fromkeys(r.method for r in results)), icl=icl,
        lowest_count=min(r.lowest_count for r in results),
        lowest_count_inferred=all(r.lowest_count_inferred for r in results),
        log_likelihood=sum(r.log_likelihood for r in results),
        n_components_icl=int(sum(r.n_components_icl for r in results)), entropy=entropy,
        notes=[f"{t}: {m}" for t, r in by_type.items() for m in r.notes], component_sigma=comp_sigma,
        component_type=np.array([t for t, r in by_type.items() for _ in range(r.n_components)]),
        types=types, by_type=by_type,
    )
