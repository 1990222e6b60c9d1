"""The scale alias of a family of mixed-column views, chosen by the heavy-element total the other views count.

Mixed rocksalt columns along ⟨100⟩ hold (n_Pb, n_Se) with n_Se - n_Pb ∈ {-1, 0, 1}: their classes form a dense
comb (one Se more: +3-5 %; a Pb-ended column against a Se-ended one of the same length: +11 %), and with free
class weights that comb fits a scale about 8-12 % off nearly as well as the true one.  The ladder of Pb counts
(:mod:`.hybrid`: one class per Pb count, the mean of its Se sub-classes) chooses the scale on most particles, but
where the columns are mostly of one odd length it sits between the ladder's classes: the 3.1 nm truncated cube
(flat {100} facets at both ends, Pb-ended (6, 5) and Se-ended (5, 6) columns side by side) took a scale 0.92 × the
dose's, every Se-ended column read a Pb more and its [100] view counted 521 Pb of 472 (its [110] view, of pure
columns, 471).

Every view sees the same atoms.  When a view's total disagrees with the other views' by more than ``APART`` ×
``TOTALS_AGREE`` (:mod:`.views`), the peaks of its family's pair-class likelihood over the scale (plus the dose's
prior; :func:`pair_scale_peaks`) are its other aliases, and the one at which the family's views agree with the
others within ``TOTALS_AGREE`` on average (each within ``APART`` × that) replaces the ladder's.  The same scales,
and the ladder's own, are also tried with every (n_heavy, n_light) sub-class equally likely (``assignment="flat"``
of :func:`count_atoms`): the pair fit's shares of Pb- and Se-ended columns, which decide between classes 3-5 %
apart, are loose on ~100 columns, and on the cube at 2e4 e/Å² (seed 2) they gave the Se-ended (5, 6) sub-class
none within 1 % of the scale: [100] read 514 Pb and [010] 501 against [110]'s 471, at every alias; with equal
shares 484 and 480.  Equal shares are not the default: the columns of {111}-ended particles are mostly of one end,
which the shares know (every sub-class equally likely everywhere: the 3 nm cuboctahedron's view-counts under
target went 2 -> 16).  Of every recount that agrees, the one nearest the others' total is kept.  Where none does,
the family is recounted at the scale the views are counted about (the dose's, or the views' common scale, through
the fit captures), kept where it agrees: the elongated particle (8 configurations) at 2e4 e/Å² without the dose,
seeds 0 and 2, had its ⟨100⟩ pair 0.93 × that scale, reading 525 / 527 and 523 / 528 Pb against [110]'s 472 and 475
of 471, and its peaks 0.97 and 1.07 × brought one view within 3 % but not both (500 / 479); recounted at the common
scale, 479 / 474, and every view on target (0.738 / 0.707 / 0.735 -> on target at seed 0).  Where that disagrees
too, the ladder's scale stays (the totals step of :func:`.views.count_views` then decides).  The rule leans on the other
views' total: a view of pure columns ([110]) counts it well on the stored 22 mrad particles (the cube's 467-474 of
472), less so on the starter set (661-718 of 704), where no alias of its ⟨100⟩ views came within 3 % of a wrong
[110] total.

So, after the mixed families, a family of one-element columns whose total still lies more than ``APART`` ×
``agree`` from the others' is recounted at the likeliest peak of its classes' likelihood over the scale (every
count of the library a class, the dose's prior added) that brings it within that (:func:`_pure_alias_for`).  Not
the nearest to the others' total: the starter set's ⟨100⟩ views read 2-3 % high (716 and 722 of 704 at 1e5 e/Å²,
seed 3), and a [110] recount agreeing with them (721) left two views under target after the common total; the
likeliest (696) put all three on it.  Measured with ``benchmarks/bench_counting_sets.py`` (eight sets, 384
view-counts): 17 -> 13 under target, 4 better ([110]: the starter 0.653-0.693 -> 0.802 at 1e5 seeds 2 and 3; the 3
nm cuboctahedron at 2e4 seed 3 without the dose 0.758 -> 0.813), none worse.

Last, with a dose the user gave, a mixed family still that far from the others whose scale lies further from the
dose's (in spreads of its fit capture) than every other family's is recounted at the scale within ``CAPTURE_BAND``
spreads of the dose's whose total comes nearest the others' (:func:`_within_capture`): the comb's flat likelihood
lets it drift where the other views' classes hold.  The 3.7 nm elongated particle at 1e5 e/Å², seed 3: its ⟨100⟩
pair fitted 0.934 × the dose's scale (1.7 spreads; its [110] Pb 0.4) and read 515 and 539 Pb against [110]'s 477 of
471; recounted at 1.010 ×, 479 and 480, [100] / [010] 0.690 / 0.740 -> 0.810 / 0.805 exact (targets 0.768 / 0.783).
Only with a user's dose: without one the views' common scale stands for it and is itself drawn from them (the 3 nm
cuboctahedron at 2e4, seed 3, had its ⟨100⟩ pair 1.3 spreads below a common scale 1.037 × the true one and right,
its [110] 4 % low: recounted, [010] and [110] fell to 0.730 and 0.714 exact).  The family that moves is the one
that left the dose: at 2e4, seed 0, the same particle's [110] Pb lay 1.25 spreads above it and read 546 of 568,
its ⟨100⟩ pair 0.25 and right; moved anyway, the pair fell to 0.835 / 0.841 exact.  Measured with
``benchmarks/bench_counting_sets.py`` (nine sets, 432 view-counts): 32 -> 30 under target, none worse.
"""

from __future__ import annotations

import numpy as np

from .._parallel import thread_map
from ..library.table import STAND_IN_SD
from .front import _dose_prior, count_atoms
from .hybrid import _fit_window, _positive_errors, _prior_penalty, known_scale
from .library import _parse_library

#: a family is recounted only when one of its views' totals lies more than this many ``agree`` from the others':
#: at ``agree`` (3 %) alone the 3 nm cuboctahedron's ⟨100⟩ views at 1e5 s2 without the dose (582 and 569 Pb against
#: its [110] view's 557, itself 2 % low) took an alias at which they agreed with 557 and [100] lost its target
#: (0.926 -> 0.884 exact); the cube's aliased totals lie 8-11 % off
APART = 2.0
#: a family of mixed columns no alias reconciles is recounted within this many widths of its fit capture's spread
#: about the dose's (``library.fit_capture``: 0.04 in ln for cell-integrated ⟨100⟩ libraries, whose capture rises
#: from 0.80 at one atom to 0.90 at 9-13), on a grid of 2 × CAPTURE_STEPS + 1 scales
CAPTURE_BAND, CAPTURE_STEPS = 2.0, 8
#: the scale grid of the profile: this step (ln scale) over ± this many prior widths, then refined at each peak
PROFILE_STEP, PROFILE_WIDTHS, REFINE_STEP = 0.01, 3.0, 0.0025


def pair_scale_peaks(x, errors, library, prior, window) -> list:
    """The scales (image units per library unit) at the local maxima of the (n_heavy, n_light) classes' log
    likelihood minus half the dose's prior penalty, best first.

    Parameters
    ----------
    x, errors : array (N,)
        The mixed columns' cross-sections and their standard errors (image units).
    library : dict
        (n_heavy, n_light) -> cross-section (library units).
    prior : (c0, sigma_ln)
        The dose's scale (dose · pixel² × the fit's capture) and its log-normal width.
    window : (lo, hi)
        Heavy counts whose entries are the classes.

    Examples
    --------
    Columns (5, 6) and (6, 5) side by side, 20 each, library × 2 with 1 % errors: the peak is the true scale.

    >>> import numpy as np
    >>> lib = {(a, b): 0.1 * a + 0.03 * b for a in range(3, 8) for b in (a - 1, a, a + 1)}
    >>> rng = np.random.default_rng(1)
    >>> x = 2 * np.repeat([lib[(5, 6)], lib[(6, 5)]], 20) * (1 + 0.01 * rng.standard_normal(40))
    >>> peaks = pair_scale_peaks(x, 0.01 * x, lib, (2.0, 0.04), (4, 7))
    >>> round(peaks[0], 2)
    2.0
    """
    counts, _, values = _parse_library(library)
    idx = np.flatnonzero((counts >= max(1, window[0])) & (counts <= window[1]))
    x = np.asarray(x, float)
    e2 = np.square(_positive_errors(errors))

    def objective(c):
        fit = _fit_window(x, e2, values[idx], float(c), max_iter=200)
        return fit[3] - 0.5 * _prior_penalty(c, prior)

    steps = np.arange(-PROFILE_WIDTHS, PROFILE_WIDTHS + 1e-9, PROFILE_STEP / prior[1]) * prior[1]
    grid = prior[0] * np.exp(steps)
    obj = np.array(thread_map(objective, grid))
    peaks = [i for i in range(grid.size) if (i == 0 or obj[i] >= obj[i - 1]) and
             (i == grid.size - 1 or obj[i] >= obj[i + 1])]
    out = []
    for i in peaks:
        fine = grid[i] * np.exp(np.arange(-PROFILE_STEP, PROFILE_STEP + 1e-9, REFINE_STEP))
        f_obj = thread_map(objective, fine)
        out.append((max(f_obj), float(fine[int(np.argmax(f_obj))])))
    return [c for _, c in sorted(out, reverse=True)]


def family_gaps(totals, groups) -> list:
    """Per family of views (index lists into ``totals``): the mean of the other families' totals and the largest
    relative gap of the family's views from it (``(nan, 0.0)`` for a family with no other).

    Examples
    --------
    >>> [(round(r), round(g, 3)) for r, g in family_gaps([523, 501, 474], [[0, 1], [2]])]
    [(474, 0.103), (512, 0.074)]
    """
    out = []
    for group in groups:
        others = [g for g in groups if g is not group]
        if not others:
            out.append((float("nan"), 0.0))
            continue
        ref = float(np.mean([np.mean([totals[k] for k in g]) for g in others]))
        out.append((ref, max(abs(totals[k] - ref) for k in group) / ref if ref > 0 else float("inf")))
    return out


def _agreeing_alias(tables, libraries, results, groups, dose, pixel_size, total_of, *, agree, entropy="soft",
                    element="Pb", given=False):
    """``results`` with each family of mixed-column views recounted at the alias of its scale at which every view's
    heavy-element total agrees with the other views' within ``agree`` (the module docstring), where one lies more
    than ``APART`` × ``agree`` from it; then, where a family of one-element columns (``element``) still lies that
    far from the others, it recounted so (:func:`_pure_alias_for`); the others unchanged.

    ``groups``: the views' families (index lists); ``total_of(result, table)``: a view's heavy-element total;
    ``agree``: the fraction within which totals agree; ``dose, pixel_size``: the scale the views are counted about;
    ``given``: that dose is the user's, then a mixed family still that far is recounted within its fit capture's
    spread of it (:func:`_within_capture`).
    """
    out = list(results)
    dose_sd = None if given else STAND_IN_SD
    for pure in (False, True):  # the mixed families first: their aliases are the likelier
        totals = [total_of(r, t) for r, t in zip(out, tables)]
        for group, (ref, gap) in zip(groups, family_gaps(totals, groups)):
            lib = libraries[group[0]]
            types = list(getattr(lib, "types", []))
            mixed = next((t for t in types if "+" in t), None)
            if len(groups) < 2 or not hasattr(lib, "fit_capture") or gap <= APART * agree:
                continue
            if not pure and mixed is not None:
                found = _alias_for(tables, libraries, out, group, mixed, ref, agree,
                                   _dose_prior(known_scale(dose, pixel_size), lib, mixed, dose_sd), total_of, entropy)
            elif pure and mixed is None and element in types:
                found = _pure_alias_for(tables, libraries, out, group, element, ref, agree,
                                        _dose_prior(known_scale(dose, pixel_size), lib, element, dose_sd), total_of,
                                        entropy)
            else:
                continue
            if found is not None:
                for k, r in zip(group, found):
                    out[k] = r
    if not given:
        return out
    return _within_capture(tables, libraries, out, groups, dose, pixel_size, total_of, agree=agree, entropy=entropy,
                           element=element)


def _within_capture(tables, libraries, results, groups, dose, pixel_size, total_of, *, agree, entropy,
                    element="Pb"):
    """``results`` with a family of mixed-column views that still lies more than ``APART`` × ``agree`` from the
    others' total, and whose scale lies further from the dose's (in its fit capture's spread) than every other
    family's, recounted at the scale within ``CAPTURE_BAND`` spreads of the dose's whose total comes nearest the
    others' (where that brings every view of it within ``APART`` × ``agree``, and not at the band's edge; a note
    added); the others unchanged."""
    out = list(results)
    totals = [total_of(r, t) for r, t in zip(out, tables)]
    drift = [_drift(out, libraries, g, dose, pixel_size, element) for g in groups]
    for j, (group, (ref, gap)) in enumerate(zip(groups, family_gaps(totals, groups))):
        lib = libraries[group[0]]
        mixed = next((t for t in getattr(lib, "types", []) if "+" in t), None)
        others = [d for i, d in enumerate(drift) if i != j]
        if (len(groups) < 2 or mixed is None or gap <= APART * agree or not np.isfinite(drift[j])
                or not all(drift[j] > d for d in others)):
            continue
        c0, sigma = _dose_prior(known_scale(dose, pixel_size), lib, mixed)
        best, grid = None, c0 * np.exp(np.linspace(-CAPTURE_BAND, CAPTURE_BAND, 2 * CAPTURE_STEPS + 1) * sigma)
        for i, c in enumerate(grid):
            done = _recount(tables, libraries, out, group, mixed, c, entropy, "likelihood", ref, total_of)
            if done is not None and max(done[1]) <= APART * agree and (best is None or
                                                                      np.mean(done[1]) < best[0]):
                best = (float(np.mean(done[1])), i, done[0])
        # nearest at the band's edge: the capture does not explain the gap (a wrong dose: 0.75 × the elongated
        # particle's read 582 Pb of 471 there, where its counts at the dose are refused)
        if best is not None and 0 < best[1] < grid.size - 1:
            gap, c, recount = best[0], grid[best[1]], best[2]
            note = (f"the {mixed} columns, whose scale lay {drift[j]:.1f} × their fit capture's spread from the "
                    f"dose's (more than any other view's), were recounted at scale {c:.5g} ({c / c0:.3f} × the "
                    f"dose's), at which this family's totals come nearest the other views' ({ref:.0f}; "
                    f"{100 * gap:.1f} %)")
            for k, r in zip(group, _marked(recount, note)):
                out[k] = r
    return out


def _drift(results, libraries, group, dose, pixel_size, element) -> float:
    """How far the family's scales lie from the dose's, in its fit capture's spreads (the largest over its types
    holding ``element``); NaN without a dose or a simulated library."""
    lib = libraries[group[0]]
    if known_scale(dose, pixel_size) is None or not hasattr(lib, "fit_capture"):
        return float("nan")
    out = []
    for k in group:
        for t, sub in (results[k].by_type or {}).items():
            if element in t and "scale" in (sub.params or {}):
                c0, sigma = _dose_prior(known_scale(dose, pixel_size), lib, t)
                out.append(abs(np.log(sub.params["scale"] / c0)) / sigma)
    return max(out, default=float("nan"))


def _pure_alias_for(tables, libraries, results, group, element, ref, agree, prior, total_of, entropy):
    """The group's views of one-element columns recounted at the peak of their ``element`` classes' likelihood over
    the scale (every count of the library a class; :func:`pair_scale_peaks`) whose totals lie within ``agree`` of
    ``ref`` on average (the nearest such; a note added), or None.

    The window of counts the ICL or BIC chose for a view of pure columns weighs each class by the parameters it
    costs: where the classes of thick columns overlap it may leave the thickest out and fit a scale that reads
    them one count low.  Measured on the starter set's [110] view at 1e5 e/Å² (seed 3): window 4..9 at 1.11 × the
    dose's scale, 661 Pb of 704 (0.653 exact); the likelihood over every count peaks at 1.05 × (696 Pb, 0.752).
    """
    subs = [results[k].by_type.get(element) for k in group if results[k].by_type]
    if len(subs) != len(group) or any(s is None for s in subs):
        return None
    x, err = _columns_of(tables, group, element)
    library = libraries[group[0]].values(element)
    now = subs[0].params["scale"]
    best = None
    for c in pair_scale_peaks(x, err, library, prior, (1, max(library))):
        if abs(np.log(c / now)) < 0.01:
            continue
        tried = _recount(tables, libraries, results, group, element, c, entropy, "likelihood", ref, total_of)
        if tried is None:
            continue
        recount, gaps = tried
        if max(gaps) <= APART * agree:  # the likeliest peak that ends the disagreement
            best = (float(np.mean(gaps)), c, recount)
            break
    if best is None:
        return None
    gap, c, recount = best
    note = (f"the {element} columns were recounted at scale {c:.5g} ({c / now:.3f} × the one first fitted), the "
            f"likeliest peak of their likelihood over every count of the library at which their total lies within "
            f"{100 * APART * agree:.0f} % of the other views' ({ref:.0f}; {100 * gap:.1f} %)")
    return _marked(recount, note)


def _alias_for(tables, libraries, results, group, mixed, ref, agree, prior, total_of, entropy):
    """The group's views recounted at the pair-likelihood peak, or with equal sub-class shares (at a peak or the
    scale first fitted), whose views' totals lie within ``agree`` of ``ref`` on average and each within ``APART`` ×
    ``agree`` (the nearest such; a note added), or None."""
    subs = [results[k].by_type.get(mixed) for k in group if results[k].by_type]
    if len(subs) != len(group) or any(s is None for s in subs):
        return None
    x, err = _columns_of(tables, group, mixed)
    window = (min(s.params["window"][0] for s in subs) - 1, max(s.params["window"][1] for s in subs) + 1)
    now = subs[0].params["scale"]
    peaks = pair_scale_peaks(x, err, libraries[group[0]].values(mixed), prior, window)
    tried = [(c, "likelihood") for c in peaks if abs(np.log(c / now)) >= 0.01] + [(c, "flat") for c in [now, *peaks]]
    best = _agreeing_recount(tables, libraries, results, group, mixed, tried, ref, agree, total_of, entropy)
    if best is None and prior is not None and abs(np.log(prior[0] / now)) >= 0.01:  # no peak agrees: the common scale
        tried = [(prior[0], "likelihood"), (prior[0], "flat")]
        best = _agreeing_recount(tables, libraries, results, group, mixed, tried, ref, agree, total_of, entropy)
    if best is None:
        return None
    gap, c, assignment, recount = best
    at_common = prior is not None and c == prior[0] and assignment == "likelihood"
    how = ("the scale the views are counted about (no peak of their comb's likelihood agrees)" if at_common else
           "another alias of their comb of (n_heavy, n_light) classes" if assignment == "likelihood" else
           "every Se sub-class equally likely (the pair fit's shares of Pb- and Se-ended columns set aside)")
    note = (f"the {mixed} columns were recounted at scale {c:.5g} ({c / now:.3f} × the one first fitted), {how}, at "
            f"which this family's totals agree with the other views' ({ref:.0f}) within {100 * gap:.1f} % on average")
    return _marked(recount, note)


def _agreeing_recount(tables, libraries, results, group, kind, tried, ref, agree, total_of, entropy):
    """(mean gap, scale, assignment, recount) of the ``tried`` (scale, assignment) whose views' totals lie within
    ``agree`` of ``ref`` on average and each within ``APART`` × ``agree``, the nearest such; or None."""
    best = None
    for c, assignment in tried:
        done = _recount(tables, libraries, results, group, kind, c, entropy, assignment, ref, total_of)
        if done is None:
            continue
        recount, gaps = done
        gap = float(np.mean(gaps))
        if gap <= agree and max(gaps) <= APART * agree and (best is None or gap < best[0]):
            best = (gap, c, assignment, recount)
    return best


def _recount(tables, libraries, results, group, kind, c, entropy, assignment, ref, total_of):
    """(the group's views recounted with type ``kind`` at scale ``c``, the other types at their scales, and each
    view's relative gap of its total from ``ref``), or None where the count refuses."""
    scales = {t: (c if t == kind else r.params["scale"]) for t, r in results[group[0]].by_type.items()}
    try:
        recount = [count_atoms(tables[k], library=libraries[k], scale=scales, entropy=entropy,
                               assignment=assignment, ends=False) for k in group]
    except ValueError:
        return None
    return recount, [abs(total_of(r, tables[k]) - ref) / ref for k, r in zip(group, recount)]


def _marked(recount, note):
    """``recount`` with ``note`` added and its scales marked as chosen by the totals, not fitted: they estimate no
    dose (:func:`.views._scale_estimates`)."""
    for r in recount:
        r.notes.append(note)
        for sub in r.by_type.values():
            sub.params["scale_from_totals"] = True
    return recount


def _columns_of(tables, group, mixed):
    """The cross-sections and standard errors (NaN where the tables have none) of the group's ``mixed`` columns."""
    rows = [np.asarray(tables[k]["type"]).astype(str) == mixed for k in group]
    x = np.concatenate([tables[k]["volume"].to_numpy(float)[m] for k, m in zip(group, rows)])
    err = np.concatenate([tables[k]["volume_err"].to_numpy(float)[m] if "volume_err" in tables[k] else
                          np.full(m.sum(), np.nan) for k, m in zip(group, rows)])
    return x, err
