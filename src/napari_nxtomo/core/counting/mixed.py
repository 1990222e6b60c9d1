"""Mixed Pb/Se columns (rocksalt PbSe along <100>): the Pb count of columns with Se sub-classes.

Classes (n_Pb, n_Se) with n_Se - n_Pb ∈ {-1, 0, 1} on the Pb curve of
:mod:`.curve`; the Pb count of a column sums the posterior over its Se
sub-classes.  Entry point: :func:`pb_counts_mixed`.
"""

from __future__ import annotations

import numpy as np

from .curve import _check_curve_options, _count_classes, _curve_em, _fit_curve, _poly, _populated, _shift
from .inputs import _as_volumes
from .result import CountResult

#: Se/Pb single-atom cross-section ratio from the Z² rule of thumb, (34/82)²
SE_RATIO_Z2 = (34.0 / 82.0) ** 2
#: range of that ratio for HAADF Z-exponents between 2.2 and 1.2: (34/82)^2.2 .. (34/82)^1.2
SE_RATIO_BOUNDS = ((34.0 / 82.0) ** 2.2, (34.0 / 82.0) ** 1.2)


def _se_ratio_bounds(se_ratio):
    """(low, high) bounds of the Se/Pb ratio and its start, or a ValueError unless 0 < low ≤ high < 1."""
    if se_ratio is None:
        r_bounds = SE_RATIO_BOUNDS
    elif np.ndim(se_ratio) == 0:
        r_bounds = (float(se_ratio), float(se_ratio))
    else:
        r_bounds = (float(np.min(se_ratio)), float(np.max(se_ratio)))
    if not (0 < r_bounds[0] <= r_bounds[1] < 1):
        raise ValueError(
            "se_ratio (one Se's cross-section over one Pb's) must lie in (0, 1), or be a (low, high) pair there; "
            f"got {se_ratio}"
        )
    r0 = SE_RATIO_Z2 if r_bounds[0] <= SE_RATIO_Z2 <= r_bounds[1] else float(np.sqrt(r_bounds[0] * r_bounds[1]))
    return r_bounds, r0


def _mixed_classes(max_heavy: int):
    """(n_heavy, n_light) pairs with n_light - n_heavy in {-1, 0, 1}, at least one atom."""
    cp, cs = [], []
    for a in range(0, int(max_heavy) + 1):
        for d in (-1, 0, 1):
            b = a + d
            if b < 0 or a + b == 0:
                continue
            cp.append(a)
            cs.append(b)
    return np.array(cp, dtype=int), np.array(cs, dtype=int)


def _fit_lattice(x, cp, cs, coef, sigma, r0, r_bounds, *, degree, min_step_ratio, weights=None,
                 max_iter=1000, tol=1e-8):
    """EM of the (n_Pb, n_Se) class mixture, means on the Pb curve: μ = g((p + r s) / (1 + r)).

    Starts from a fitted Pb-class curve g; the M-step refits g (same
    constraints) and, when ``r_bounds`` is an interval, the Se/Pb ratio r by a
    bounded 1D search, to the posterior-weighted class means.  Returns
    :func:`.curve._curve_em`'s dict with ``coef`` and ``r``.
    """
    from scipy.optimize import minimize_scalar

    fitted = {"coef": np.asarray(coef, dtype=float).copy(), "r": float(r0)}

    def place(rr):
        return (cp + rr * cs) / (1 + rr)

    def rss(rr, xbar, nk):
        c = _fit_curve(place(rr), xbar, nk, degree, min_step_ratio)
        d = xbar - _poly(place(rr), c)
        return float((nk * d * d).sum()), c

    def m_step(xbar, nk):
        if r_bounds[1] > r_bounds[0]:
            fitted["r"] = float(minimize_scalar(lambda rr: rss(rr, xbar, nk)[0], bounds=r_bounds, method="bounded",
                                                options={"xatol": 1e-4}).x)
        fitted["coef"] = rss(fitted["r"], xbar, nk)[1]
        return _poly(place(fitted["r"]), fitted["coef"])

    fit = _curve_em(x, _poly(place(fitted["r"]), fitted["coef"]), sigma, weights, m_step, max_iter=max_iter,
                    tol=tol)
    fit.update(fitted)
    return fit


def _count_mixed(x, *, se_ratio=SE_RATIO_Z2, lowest_count=None, degree: int = 2, min_step_ratio: float = 0.7,
                 max_components: int = 20, seed: int = 0, entropy: str = "soft", gmm: CountResult | None = None,
                 errors=None, refine: bool = True, **options) -> CountResult:
    """Pb counts of mixed columns: the Pb-class curve, then the (n_Pb, n_Se) classes on it (see pb_counts_mixed)."""
    degree = _check_curve_options(degree, min_step_ratio)
    r_bounds, r0 = _se_ratio_bounds(se_ratio)
    step1, notes = _count_classes(x, lowest_count=lowest_count, degree=degree, min_step_ratio=min_step_ratio,
                                  max_components=max_components, seed=seed, entropy=entropy, gmm=gmm,
                                  errors=errors, **options)
    cp, cs = _mixed_classes(int(step1["u"].max()) + 1)
    lat = _fit_lattice(x, cp, cs, step1["coef"], step1["sigma"], r0, r_bounds, degree=degree,
                       min_step_ratio=min_step_ratio)
    # probability of each Pb count: the posterior summed over its Se sub-classes
    tp = np.zeros((x.size, int(cp.max()) + 1))
    np.add.at(tp.T, cp, lat["post"].T)
    pb = np.argmax(tp, axis=1) if refine else step1["count"]
    agree = float(np.mean(pb == step1["count"]))
    step1["summary"]["agreement"] = agree
    shift = _shift(pb.min(), lowest_count, notes)
    cp, cs, means, weights, post = _reported_classes(lat, cp, cs, x)
    # the Se sub-class of each column within its Pb count
    labels = np.argmax(np.where(cp[None, :] == pb[:, None], post, -1.0), axis=1)
    used = tp.sum(axis=0) > 1e-9
    notes.append(
        "mixed Pb/Se columns: classes (n_Pb, n_Se), n_Se - n_Pb in (-1, 0, 1), at g((n_Pb + r n_Se)/(1 + r)) "
        "on the Pb curve g(n) = " + " + ".join(f"{c:.4g} n^{j + 1}" for j, c in enumerate(lat["coef"]))
        + f" Å², r = {lat['r']:.3f}; Pb count = largest posterior summed over the Se sub-classes "
        f"({100 * agree:.1f} % as the Pb-class fit alone); n_Se is weakly determined"
    )
    if r_bounds[1] > r_bounds[0] and min(abs(lat["r"] - r_bounds[0]), abs(lat["r"] - r_bounds[1])) < 1e-3:
        notes.append(f"the Se/Pb ratio ran to its bound ({lat['r']:.3f}): the Se sub-classes are poorly resolved")
    gmm = step1["gmm"]
    return CountResult.from_classes(
        x, post, means, float(lat["sigma"]), weights, cp + shift, method="mixed", icl=gmm.icl, labels=labels,
        counts=pb + shift, lowest_count=pb.min() + shift, lowest_count_inferred=lowest_count is None,
        log_likelihood=lat["ll"], n_components_icl=gmm.n_components_icl, entropy=entropy, notes=notes,
        classes=np.stack([cp + shift, cs], axis=1).astype(int), minor_counts=cs[labels].astype(int),
        count_posterior=tp[:, used], count_values=(np.arange(tp.shape[1])[used] + shift).astype(int), gmm=gmm,
        params={
            "c": [float(c) for c in lat["coef"]],
            "pb_step": float(_poly(np.array([1.0]), lat["coef"])[0]),
            "se_ratio": float(lat["r"]),
            "pb_class_fit": step1["summary"],
            "starts": step1["starts"],
        },
    )


def _reported_classes(lat, cp, cs, x):
    """The populated classes of the lattice fit sorted by mean: n_Pb, n_Se, means, weights, posterior (renormalised)."""
    keep = _populated(lat, x)
    cp, cs = cp[keep], cs[keep]
    means, weights, post = lat["means"][keep], lat["weights"][keep], lat["post"][:, keep]
    weights = weights / weights.sum()
    post = post / post.sum(axis=1, keepdims=True)
    order = np.argsort(means, kind="stable")
    return cp[order], cs[order], means[order], weights[order], post[:, order]


def pb_counts_mixed(
    volumes,
    *,
    se_ratio=SE_RATIO_Z2,
    lowest_count=None,
    degree: int = 2,
    min_step_ratio: float = 0.7,
    max_components: int = 20,
    seed: int = 0,
    entropy: str = "soft",
    gmm: CountResult | None = None,
    errors=None,
    **options,
) -> CountResult:
    """Number of Pb atoms in mixed Pb/Se columns (rocksalt PbSe along <100>).

    Along [100] of rocksalt PbSe the atoms of a column are Pb and Se in turn,
    so a column holds (n_Pb, n_Se) with n_Se ∈ {n_Pb - 1, n_Pb, n_Pb + 1}; its
    cross-section classes step by one Se and by one Pb in turn.  The
    tomography needs n_Pb.

    What is identifiable
    --------------------
    The three classes of one Pb count, (n, n-1), (n, n), (n, n+1), lie one Se
    cross-section apart (≈ 0.0045 Å² in the sample model), about two noise
    widths at 5e4 e/Å²: a column's Se count is weakly determined.  The Pb
    count is well determined: even the closest classes of two Pb counts,
    (n, n+1) and (n+1, n), differ by one Pb minus one Se (≈ 0.0155 Å²), and
    the triplets of successive Pb counts lie one Pb + one Se apart.  A free
    mixture (StatSTEM's) spends components on Se sub-classes where they are
    common, and numbering its components consecutively then gives wrong Pb
    counts (``gmm`` in the result holds it, for its ICL curve).

    Method
    ------
    1. *Pb classes on a curve.*  One component per Pb count n, means on a
       smooth curve through zero,

           μ_n = g(n) = c_1 n + c_2 n²,  c_2 ≤ 0,  g'(n_max) ≥ min_step_ratio · c_1

       (``degree=1``: c_2 = 0), one common width that takes up the noise and
       the ±1 Se spread, free weights; g(0) = 0 fixes the absolute count
       (no lowest-count guess).  EM (the M-step fits g to the posterior-
       weighted class means by constrained weighted least squares, exact for
       one common width) is started from ~90 scales g(1) (the lowest two free-
       mixture means as 1..5 Pb, and a 4 % grid between x_max/``max_count``
       and x_max), each run 30 iterations; the 4 best run to convergence.
       The kept fit has the fewest interior Pb counts holding ≤ 2 columns
       ("holes" in the thickness profile; a compact particle has every count
       between its thinnest and thickest column, the assumption StatSTEM makes
       when it numbers components consecutively), then the smallest

           ICL = -2 ln L + d ln N - 2 Σ_i Σ_n t_in ln t_in,
           d = (Pb counts whose g(n) lies within the data ± 3 widths) - 1 + degree + 1.

       Both rules reject aliases with a finer scale (more counts, every other
       one nearly empty), which fit the data about as well.
    2. *Se sub-classes.*  The classes (p, s), s - p ∈ {-1, 0, 1}, are put at
       g((p + r s) / (1 + r)) on the same curve ((n, n) sits at g(n), (n, n±1)
       one Se to either side), with ``r`` the Se/Pb single-atom ratio
       (default (34/82)² = 0.172, the Z² rule; a (low, high) pair fits it, a
       float fixes it); EM from the step-1 fit refines g, the weights of every
       class and the common width (now the noise alone).
    3. *The ±1 Se does not decide the Pb count*: each column gets the Pb count
       p of largest posterior summed over its Se sub-classes, Σ_s t_i(p,s).
       The most probable Se count within that p is ``minor_counts``, for
       information (right for ~0.9 of the sample's columns at 5e4 e/Å²).

    Parameters
    ----------
    volumes : (N,) array
        Cross-sections of the mixed columns, Å².
    se_ratio : float, (low, high) or None
        One Se's cross-section over one Pb's: fixed, fitted within bounds, or
        (None) fitted within (34/82)^2.2 .. (34/82)^1.2.
    lowest_count : int, optional
        Pb count of the lowest class, when you know it: the best start whose
        lowest class has it is kept, or the counts are shifted (with a note).
    degree : {1, 2}
        Degree of g.
    min_step_ratio : float
        Smallest allowed g'(n_max) / g'(0): how much the cross-section per
        atom may drop from the thinnest to the thickest column (channelling).
    max_components, seed, entropy
        Of the free common-width mixture fitted first (``.gmm``; its ICL curve
        is ``.icl``).
    gmm : CountResult, optional
        That free mixture, if already fitted.
    errors : (N,) array, optional
        Standard errors of the cross-sections (Å²): fits whose class width
        exceeds 3× their median are ranked last (unresolved classes).
    **options
        ``n_screen`` (30), ``n_keep`` (4), ``max_count`` (60), ``sparse_class``
        (2), ``refine`` (True: step 2; False: Pb counts from step 1).

    Returns
    -------
    CountResult
        ``method="mixed"``; ``counts`` = n_Pb; components are the (n_Pb, n_Se)
        classes (``classes``, ``means``, ``weights``, ``posterior``,
        ``labels``; ``component_counts`` their n_Pb); ``count_posterior``
        (N, P) over the Pb counts ``count_values``; ``minor_counts`` the most
        probable n_Se; ``params``: ``c`` (Å²), ``pb_step`` = g(1) (Å², one Pb
        with its Se neighbour at the start of the curve), ``se_ratio``,
        ``pb_class_fit`` (step 1), ``starts``.

    Examples
    --------
    Columns of 2..5 Pb with one Se fewer, as many or one more, at 0.02 Å² per
    Pb and 0.2 of that per Se, noise 0.001 Å²:

    >>> import numpy as np
    >>> from napari_nxtomo.core.counting import pb_counts_mixed
    >>> rng = np.random.default_rng(1)
    >>> n_pb = np.repeat([2, 3, 4, 5], 30)
    >>> n_se = n_pb + rng.integers(-1, 2, n_pb.size)
    >>> x = 0.02 * (n_pb + 0.2 * n_se) + rng.normal(0, 0.001, n_pb.size)
    >>> res = pb_counts_mixed(x, max_components=6)
    >>> res.method, sorted(set(res.counts.tolist())), float(np.mean(res.counts == n_pb))
    ('mixed', [2, 3, 4, 5], 1.0)
    """
    x = _as_volumes(volumes)
    return _count_mixed(
        x, se_ratio=se_ratio, lowest_count=lowest_count, degree=degree, min_step_ratio=min_step_ratio,
        max_components=max_components, seed=seed, entropy=entropy, gmm=gmm, errors=errors, **options,
    )
