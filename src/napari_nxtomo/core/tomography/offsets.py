"""Automatic lattice offsets: which lattice column every projection's columns start from.

:func:`_choose_offsets` puts the crystal origin at a lattice site near the
particle's centre of mass and lines the projections up with each other.
"""

from __future__ import annotations

import itertools

import numpy as np

from .exact import _count_lp, _solve_exact
from .indexing import _Placed, _profile, _profile_mismatch, _tilt_frame
from .problem import _build_problem
from .view_lattice import _is_fcc, _ViewLattice


def _lattice_points_near(vl: _ViewLattice, centre, radius):
    """Integer lattice coordinates N with |L N - centre| <= radius (q-units)."""
    m = int(np.ceil(radius / min(np.linalg.svd(vl.L, compute_uv=False)))) + 1
    r = np.arange(-m, m + 1)
    g = np.stack(np.meshgrid(r, r, indexing="ij"), -1).reshape(-1, 2)
    c0 = np.rint(vl.Linv @ centre).astype(np.int64)
    g = g + c0
    d = np.hypot(*(vl.ideal(g) - centre).T)
    return g[d <= radius]


def _offset_from_user(pl: _Placed, a):
    """The lattice offset that puts the crystal origin at the projection's given ``offset`` (snapped)."""
    quarter = a / 4.0
    tdir, perp = _tilt_frame(pl.fit.theta)
    p0 = pl.proj.offset[0] * tdir + pl.proj.offset[1] * perp
    u = np.linalg.solve(pl.fit.A, p0 - pl.fit.o_ref) / quarter
    n_origin = np.rint(pl.vl.Linv @ u).astype(np.int64)
    return -n_origin


def _offset_candidates(placed, a):
    """Per projection: the count-weighted centre of its columns (ideal frame) and the candidate offsets.

    A given offset is the only candidate; without any given offset the first
    projection's origin is the lattice column nearest its centre of mass;
    every other projection may start from any lattice column within about
    two column spacings of its centre of mass.
    """
    coms, cands = [], []
    any_given = any(pl.proj.offset is not None for pl in placed)
    for k, pl in enumerate(placed):
        w = np.maximum(pl.counts, 0).astype(float)
        com = (pl.vl.ideal(pl.n_rel) * w[:, None]).sum(0) / max(w.sum(), 1e-12)
        coms.append(com)
        if pl.proj.offset is not None:
            cands.append(_offset_from_user(pl, a)[None, :])
        elif k == 0 and not any_given:
            g = _lattice_points_near(pl.vl, -com, 3 * pl.vl.spacing)
            d = np.hypot(*(pl.vl.ideal(g) + com).T)
            cands.append(g[[int(np.argmin(d))]])
        else:
            cands.append(_lattice_points_near(pl.vl, -com, 2.2 * max(np.hypot(*pl.vl.L.T))))
    return coms, cands


def _score_combinations(placed, coms, cands):
    """Score every combination of candidate offsets: ``(profile mismatch, centre residual, |centre|, combo, centre)``.

    The slice profiles of all pairs of projections must line up along the
    tilt axis (L1 mismatch); across it, the projections' centres of mass
    must come from one 3D point (least-squares residual, which only
    constrains three or more projections); the 3D centre (q-units) is
    returned too.
    """
    P = len(placed)
    profs = [_profile(pl.vl.layer(pl.n_rel), pl.counts) for pl in placed]
    # plane basis perpendicular to the tilt axis, and each projection's across direction in it
    t = placed[0].vl.tilt / np.linalg.norm(placed[0].vl.tilt)
    e1 = placed[0].vl.B[1]
    e2 = np.cross(t, e1)
    Cmat = np.array([[pl.vl.B[1] @ e1, pl.vl.B[1] @ e2] for pl in placed])
    scored = []
    for combo in itertools.product(*[range(len(c)) for c in cands]):
        Ns = [cands[k][combo[k]] for k in range(P)]
        mism = 0.0
        for i in range(P):
            for j in range(i):
                li = profs[i][0] + int(placed[i].vl.layer(Ns[i]))
                lj = profs[j][0] + int(placed[j].vl.layer(Ns[j]))
                mism += _profile_mismatch(lj, profs[j][1], li, profs[i][1])
        across = np.array([coms[k][1] + placed[k].vl.ideal(Ns[k])[1] for k in range(P)])
        along = np.mean([coms[k][0] + placed[k].vl.ideal(Ns[k])[0] for k in range(P)])
        rp, *_ = np.linalg.lstsq(Cmat, across, rcond=None)
        res = float(np.sqrt(np.mean((Cmat @ rp - across) ** 2)))
        r3 = along * t + rp[0] * e1 + rp[1] * e2
        scored.append((mism, res, float(np.linalg.norm(r3)), combo, r3))
    return scored


def _distinct_consistent(scored, placed):
    """The consistent combinations (at most 4), best first, one per model up to an fcc translation.

    Consistent: profile mismatch within 2 atoms + 0.5 % of the best and
    centre residual within 0.35 column spacings of the best among those.
    """
    total = float(np.median([pl.counts.sum() for pl in placed]))
    mmin = min(s[0] for s in scored)
    tol = 2.0 + 0.005 * total
    keep = [s for s in scored if s[0] <= mmin + tol]
    rmin = min(s[1] for s in keep)
    keep = [s for s in keep if s[1] <= rmin + 0.35 * placed[0].vl.spacing]
    keep.sort(key=lambda s: (s[0], s[1], s[2]))
    # drop choices that are the same model moved by an fcc translation
    distinct = []
    for s in keep:
        dup = False
        for d in distinct:
            dv = s[4] - d[4]
            if np.allclose(dv, np.rint(dv), atol=1e-6) and _is_fcc(np.rint(dv).astype(np.int64)):
                dup = True
                break
        if not dup:
            distinct.append(s)
    return distinct[:4]


def _rank_by_lp(placed, choices, count_weight, max_sites, time_limit):
    """The offsets among ``choices`` whose problem reaches the least count mismatch (:func:`._count_lp`).

    Ties are broken by the LP relaxation of the whole energy.  Choices whose
    problem cannot be built are skipped; none left is an error.
    """
    built = []
    for Ns in choices:
        try:
            pb = _build_problem(placed, Ns, count_weight, max_sites)
        except ValueError:
            continue
        built.append((_count_lp(pb, time_limit), Ns, pb))
    if not built:
        raise ValueError(
            "no placement of the projections on one lattice is consistent: check the zone axes, the tilt axis "
            "and the counts"
        )
    lo = min(b[0] for b in built)
    tied = [b for b in built if b[0] <= lo + 1e-6 * max(1.0, lo) + 1e-6]
    if len(tied) == 1:
        return tied[0][1]
    best = None
    for val0, Ns, pb in tied:
        lp = _solve_exact(pb, min(time_limit, 10.0), relax=True)
        val = lp.energy if lp.occupancy is not None else np.inf
        if best is None or val < best[0] - 1e-6:
            best = (val, Ns)
    return best[1]


def _choose_offsets(placed, a, count_weight, max_sites, time_limit):
    """Integer lattice offsets N_k (absolute = relative + N_k) for every projection, and notes.

    Which lattice column the image's columns start from is found for every
    projection without a given ``offset``: the crystal origin is put at a
    lattice site near the particle's centre of mass
    (:func:`_offset_candidates`); every projection's slice profile must line
    up with the others' along the tilt axis, and with three or more
    projections the centres of mass across the tilt axis must come from one
    3D point (:func:`_score_combinations`).  Choices that differ by an fcc
    translation of the whole model are the same model
    (:func:`_distinct_consistent`).  The few remaining choices (the fcc
    parity: shifts by half a lattice parameter that move the sites onto the
    other fcc sublattice of the rocksalt structure) are ranked by the least
    count mismatch a fractional model can reach (a small linear program),
    ties by the LP relaxation of the whole energy (:func:`_rank_by_lp`).
    """
    coms, cands = _offset_candidates(placed, a)
    distinct = _distinct_consistent(_score_combinations(placed, coms, cands), placed)
    choices = [[cands[k][s[3][k]] for k in range(len(placed))] for s in distinct]
    if len(distinct) == 1:
        return choices[0], []
    best = _rank_by_lp(placed, choices, count_weight, max_sites, time_limit)
    return best, [f"offsets chosen among {len(distinct)} lattice-consistent placements by the LP relaxation"]
