"""Pb counts of several views of one particle that agree layer by layer across their common tilt axis.

The views of a tilt series share the tilt axis, so every fcc layer across it
holds the same number of Pb atoms in every view.  Each view's columns give a
cost for every count (:func:`pb_count_costs`: how far the column's
cross-section lies from that count's); :func:`counts_with_common_totals`
chooses, layer by layer, the one total for all views and the counts adding up
to it that cost least in all views together (a dynamic programme over the
columns of the layer), :func:`counts_with_totals` the counts that add up to
given totals.

Where this matters: a ⟨100⟩ column of a core–shell particle holds Pb, the
core's Se and the shell's Se; the shell's Se is estimated from the Cd beside
the column (:mod:`.core_shell`), which misses the Se where the core nears the
surface or the Cd sites next to the interface are empty.  One Pb less with
two Se more reads nearly the same, so a ⟨100⟩ column's cost stays low over
``n_Pb - 1`` … ``n_Pb + 2`` Se (:data:`EXTRA_SE`), and the ⟨110⟩ view, whose
Pb has columns of its own, settles the layer's total.
"""

from __future__ import annotations

import numpy as np

#: a ⟨100⟩ column's core may hold from n_Pb - 1 up to n_Pb + this many Se that the Cd neighbours do not show (truth of
#: the stored multislice core–shell particles: a column's shell Se minus its Cd neighbours' mean lies in -1 … +2.5)
EXTRA_SE = 2


def pb_count_costs(volumes, library: dict, scale: float, sigma: float, extra_se: int = EXTRA_SE, shell=None,
                   shell_weight=None):
    """The cost of every Pb count for every column: how far its cross-section is from that count's.

    Parameters
    ----------
    volumes : (N,) array
        Cross-sections (image units; ⟨100⟩ core–shell columns: shell-corrected, or whole with ``shell``).
    library : dict
        ``n -> value`` (pure columns) or ``(n_Pb, n_Se) -> value`` (mixed
        columns), library units.
    scale : float
        Image units per library unit.
    sigma : float
        Width of a class (image units).
    extra_se : int
        Mixed columns: a count of ``n`` Pb may come with ``n - 1`` to
        ``n + extra_se`` Se (beyond the library's pairs: its last Se step
        repeated); 0 Pb with 0 … ``extra_se`` Se (the Se step of the
        columns of one Pb).
    shell : (N,) array, optional
        Each column's shell share in shell-only units (⟨100⟩ core–shell columns: what their Cd neighbours show),
        added to every count's value × ``shell_weight(count)``.
    shell_weight : callable, optional
        ``count -> weight`` of the shell on a core of that many Pb (default 1).

    Returns
    -------
    counts : (P,) int ndarray
        0 … the library's largest Pb count.
    cost : (N, P) ndarray
        ``min over n_Se of (volume - w(n)·shell - scale·value(n, n_Se))² / (2 σ²)``.

    Examples
    --------
    >>> lib = {(0, 1): 0.2, (1, 0): 1.0, (1, 1): 1.2, (1, 2): 1.4, (2, 1): 2.2, (2, 2): 2.4, (2, 3): 2.6}
    >>> counts, cost = pb_count_costs([0.1, 1.3, 2.3, 2.8], lib, scale=1.0, sigma=0.1)
    >>> counts.tolist(), counts[cost.argmin(axis=1)].tolist()
    ([0, 1, 2], [0, 1, 2, 2])
    >>> counts, cost = pb_count_costs([0.1, 2.1], {1: 1.0, 2: 2.0}, scale=1.0, sigma=0.1)
    >>> counts[cost.argmin(axis=1)].tolist()
    [0, 2]

    A column of 1 Pb under a shell of 0.3 that weighs 3 × on a core (1.9 in all) reads 2 when the shell counts once:

    >>> lib = {1: 1.0, 2: 2.0}
    >>> [int(counts[pb_count_costs([1.9], lib, 1.0, 0.1, shell=[0.3], shell_weight=w)[1].argmin()])
    ...  for w in (None, lambda n: 1.0 if n == 0 else 3.0)]
    [2, 1]
    """
    v = np.asarray(volumes, dtype=float)
    sh = np.zeros(len(v)) if shell is None else np.asarray(shell, dtype=float)
    mixed = all(isinstance(k, tuple) for k in library)
    if mixed:
        pairs = {(int(n), int(s)): float(val) for (n, s), val in library.items()}
        means = {n: _pair_means(pairs, n, extra_se) for n in range(max(n for n, _ in pairs) + 1)}
    else:
        means = {0: [0.0], **{int(n): [float(val)] for n, val in library.items()}}
    counts = np.arange(max(means) + 1)
    cost = np.full((len(v), len(counts)), np.inf)
    for n, m in means.items():
        if m:
            w = 1.0 if shell_weight is None else shell_weight(n)
            d = (v[:, None] - w * sh[:, None] - scale * np.array(m)[None, :]) / sigma
            cost[:, n] = 0.5 * np.min(d * d, axis=1)
    return counts, cost


def _pair_means(pairs: dict, n: int, extra_se: int) -> list:
    """Library values of ``n`` Pb with ``n - 1`` … ``n + extra_se`` Se (0 Pb: 0 … extra_se Se), extrapolated."""
    known = sorted((s, v) for (m, s), v in pairs.items() if m == n)
    if n == 0:  # 0 … extra_se Se: one Se scatters what one Se adds to a column of one Pb
        one = sorted((s, v) for (m, s), v in pairs.items() if m == 1)
        step = (one[1][1] - one[0][1]) / (one[1][0] - one[0][0]) if len(one) > 1 else 0.0
        return [s * step for s in range(extra_se + 1)] if step > 0 else [0.0]
    if len(known) < 2:
        return [v for _, v in known]
    (s0, v0), (s1, v1) = known[-2], known[-1]
    step = (v1 - v0) / (s1 - s0)
    last = n + extra_se
    return [v for s, v in known if s >= n - 1] + [v1 + (s - s1) * step for s in range(s1 + 1, last + 1)]


def counts_with_totals(cost, counts, groups, totals) -> np.ndarray:
    """The counts of least total cost whose sum over every group is that group's total.

    Parameters
    ----------
    cost : (N, P) array
        Cost of count ``counts[p]`` for column ``i`` (``inf``: not allowed).
    counts : (P,) int array
    groups : (N,) int array
        Group of every column (e.g. its layer across the tilt axis).
    totals : dict
        ``group -> total``; a group without a total, or whose total no
        choice reaches, keeps every column's cheapest count.

    Returns
    -------
    (N,) int ndarray

    Examples
    --------
    Two columns read 4 and 5 on their own (count 3 costs the first 1, the second 4) where their layer holds 6:

    >>> cost = np.array([[9, 1, 0, 4], [9, 4, 0.3, 0]], float)
    >>> counts_with_totals(cost, np.arange(2, 6), np.array([0, 0]), {0: 6}).tolist()
    [3, 3]
    >>> counts_with_totals(cost, np.arange(2, 6), np.array([0, 0]), {}).tolist()
    [4, 5]
    """
    cost = np.asarray(cost, dtype=float)
    counts = np.asarray(counts, dtype=int)
    groups = np.asarray(groups)
    out = counts[np.argmin(cost, axis=1)]
    for g in np.unique(groups):
        if g not in totals:
            continue
        rows = np.flatnonzero(groups == g)
        best, choice = _sum_table(cost[rows], counts, int(totals[g]))
        if np.isfinite(best[-1]):
            out[rows] = _backtrack(choice, counts, int(totals[g]))
    return out


def counts_with_common_totals(views, seen=None, weights=None) -> tuple:
    """Counts for several views whose sums agree in every group: per group the total of least summed cost.

    Parameters
    ----------
    views : list of (cost, counts, groups)
        Per view, as :func:`counts_with_totals` takes them; the groups are
        numbered alike in all views.
    seen : list of sets, optional
        Per view, the groups its image covers.  A view without columns in a
        group it covers holds 0 there (a ⟨110⟩ view of a core–shell
        particle: the shell's layers have no Pb columns); one without
        columns in a group it does not cover (a layer its cropped image
        cuts off) has no say in that group's total.  None: every view
        covers every group.  A group fewer than two views have a say in
        keeps its cheapest counts and gets no total.
    weights : list of float, optional
        Per view, the weight of its cost in a group's total (views that
        share their errors, one zone-axis family, 1 / their number); None: 1.

    Returns
    -------
    counts : list of (N_k,) int ndarray
    totals : dict
        ``group -> total`` chosen.

    Examples
    --------
    Two views of one layer: one sure of 5 (one column), the other torn between 5 and 6 (two columns):

    >>> a = (np.array([[50.0, 0.0, 40.0]]), np.array([4, 5, 6]), np.array([0]))
    >>> b = (np.array([[0.0, 0.0, 9.0], [9.0, 0.6, 0.0]]), np.array([2, 3, 4]), np.array([0, 0]))
    >>> counts, totals = counts_with_common_totals([a, b])
    >>> [c.tolist() for c in counts], totals
    ([[5], [2, 3]], {0: 5})

    A layer (1) that the first view's image does not cover is not forced to 0 Pb:

    >>> c = (np.array([[9.0, 0.0]]), np.array([0, 1]), np.array([0]))
    >>> d = (np.array([[9.0, 0.0], [9.0, 0.0]]), np.array([0, 1]), np.array([0, 1]))
    >>> [[n.tolist() for n in counts_with_common_totals([c, d], seen)[0]] for seen in (None, [{0}, {0, 1}])]
    [[[1], [1, 0]], [[1], [1, 1]]]

    Two views of one family sure of 6 against a third, surer, of 5: each family counts once when weighted:

    >>> e = (np.array([[4.0, 0.0]]), np.array([5, 6]), np.array([0]))
    >>> f = (np.array([[0.0, 6.0]]), np.array([5, 6]), np.array([0]))
    >>> [counts_with_common_totals([e, e, f], weights=w)[1] for w in (None, [0.5, 0.5, 1.0])]
    [{0: 6}, {0: 5}]
    """
    views = [(np.asarray(c, dtype=float), np.asarray(n, dtype=int), np.asarray(g)) for c, n, g in views]
    out = [n[np.argmin(c, axis=1)] for c, n, _ in views]
    groups = np.unique(np.concatenate([g for _, _, g in views]))
    totals = {}
    for g in groups:
        rows = [np.flatnonzero(gv == g) for _, _, gv in views]
        say = [k for k, r in enumerate(rows) if len(r) or seen is None or g in seen[k]]
        if len(say) < 2:
            continue
        top = min(len(rows[k]) * int(views[k][1].max()) for k in say)
        tables = {k: _sum_table(views[k][0][rows[k]], views[k][1], top) for k in say}
        w = [1.0] * len(views) if weights is None else weights
        summed = np.sum([w[k] * best for k, (best, _) in tables.items()], axis=0)
        if not np.isfinite(summed).any():
            continue
        total = int(np.argmin(summed))
        totals[int(g)] = total
        for k, (_, choice) in tables.items():
            if len(rows[k]):
                out[k][rows[k]] = _backtrack(choice, views[k][1], total)
    return out, totals


def probabilities_at_totals(cost, counts, groups, totals, chosen) -> np.ndarray:
    """Each column's probability of its ``chosen`` count given its group's total (the binding's min-marginals).

    Column ``i`` may take any count ``n``; the other columns of its group then take their cheapest counts adding up
    to the group's total minus ``n``.  The probability of ``n`` goes as ``exp(-(cost_i(n) + rest(T - n)))``: a count
    that the total forces (no other column could take the step as cheaply) is sure, one the total could as well have
    put on a neighbour is not.  A column whose group has no total: its own costs alone.

    Parameters
    ----------
    cost, counts, groups, totals
        As :func:`counts_with_totals` (``cost`` in units of ``-ln`` likelihood).
    chosen : (N,) int array
        The counts whose probabilities are wanted.

    Returns
    -------
    (N,) ndarray

    Examples
    --------
    Two columns of a layer holding 5, each as happy with 2 as with 3: which one holds 3 is a coin toss; a third
    column that reads 3 only leaves the other two no choice when the layer holds 7:

    >>> cost = np.array([[0.0, 0.0], [0.0, 0.0]])
    >>> probabilities_at_totals(cost, np.array([2, 3]), np.array([0, 0]), {0: 5}, np.array([2, 3])).round(2).tolist()
    [0.5, 0.5]
    >>> cost = np.array([[0.0, 0.0], [0.0, 0.0], [9.0, 0.0]])
    >>> probabilities_at_totals(cost, np.array([2, 3]), np.array([0, 0, 0]), {0: 7}, np.array([2, 2, 3])).round(3).tolist()
    [1.0, 1.0, 1.0]
    """
    cost = np.asarray(cost, dtype=float)
    counts = np.asarray(counts, dtype=int)
    groups = np.asarray(groups)
    out = np.empty(len(cost))
    for i, row in enumerate(cost):
        m = row.copy()
        if groups[i] in totals:
            total = int(totals[groups[i]])
            group = np.flatnonzero(groups == groups[i])
            best, _ = _sum_table(cost[group[group != i]], counts, total)  # the rest of the layer, every sum
            rest = np.full(len(counts), np.inf)
            fits = counts <= total
            rest[fits] = best[total - counts[fits]]
            m = m + rest
        if not np.isfinite(m).any():
            out[i] = np.nan
            continue
        p = np.exp(-(m - m[np.isfinite(m)].min()))
        out[i] = p[counts == chosen[i]].sum() / p.sum()
    return out


def _sum_table(cost, counts, top: int):
    """Dynamic programme over the columns: the least summed cost of every sum 0 … ``top`` and the choices."""
    best = np.full(top + 1, np.inf)
    best[0] = 0.0
    choice = np.zeros((len(cost), top + 1), dtype=int)
    for i, row in enumerate(cost):
        new = np.full(top + 1, np.inf)
        for p, n in enumerate(counts):
            if n > top or not np.isfinite(row[p]):
                continue
            cand = best[: top + 1 - n] + row[p]
            better = cand < new[n:]
            new[n:][better] = cand[better]
            choice[i, n:][better] = p
        best = new
    return best, choice


def _backtrack(choice, counts, total: int) -> np.ndarray:
    """The counts of the choices :func:`_sum_table` made for the sum ``total``."""
    out, s = np.zeros(len(choice), dtype=int), total
    for i in range(len(choice) - 1, -1, -1):
        out[i] = counts[choice[i, s]]
        s -= out[i]
    return out
