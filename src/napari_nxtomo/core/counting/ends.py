"""Which element ends an odd mixed column: the parity of the projected rocksalt lattice.

Along ⟨100⟩ of a rocksalt crystal (PbSe) every column alternates Pb and Se.  A
column of 2m + 1 atoms is (m + 1, m) (Pb at both ends) or (m, m + 1); its
cross-section tells the two apart only by one Pb against one Se at its ends
(~5-10 %), while (m + 1, m) and (m, m + 1) differ by a whole Pb count.

The lattice tells them apart.  With the crystal's sites at integer (i, j, k)
in units of a/2 along the cube axes, a site is Pb where i + j + k is even (or
odd: one choice per crystal).  A column at (i, j) that runs from k₀ to
k₀ + L - 1 is Pb-ended where i + j + k₀ is even.  A faceted nanocrystal's
columns are centred on one mid-plane (each facet has its opposite), so
k₀ = k_c - (L - 1) / 2 and the end is fixed by i + j - (L - 1) / 2 and one
parity (the *phase*) common to the particle.  Measured on the truth of the
nine multislice PbSe particles stored with the tests (both ⟨100⟩ views): this
model gives the end of 96-100 % of the odd columns of the faceted particles
and 77-91 % of the irregular one's (an island, vacancies).

So each column's prior puts a share ``p`` on the odd classes of its parity
and 1 - ``p`` on the others (even classes are untouched); the phase and ``p``
are fitted to the data (the phase by likelihood, ``p`` by EM), so a particle
that does not follow the model weakens its own prior.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

#: a lattice whose nearest-neighbour steps round to integers worse than this (in steps, median) gives no parity
STEP_TOLERANCE = 0.2
#: a square lattice: its two vectors' lengths within this fraction, their angle within this many degrees of 90°
SQUARE_LENGTHS, SQUARE_DEG = 0.1, 8.0
#: the share of the odd classes of the column's parity starts here and is fitted in these bounds
START_SHARE, SHARE_BOUNDS = 0.9, (0.5, 0.99)
#: too few columns to see a lattice
MIN_COLUMNS = 8


def lattice_parity(yx):
    """(N,) parity (0 / 1) of i + j of each column on the projected square lattice, or None when the columns do not
    lie on one (too few, another lattice, or steps that do not round to it).

    The indices are :func:`napari_nxtomo.core.columns.index_columns`' (propagated along the nearest-neighbour
    graph, so a slowly distorted lattice keeps its parity; separate islands placed from the global lattice).

    Examples
    --------
    >>> import numpy as np
    >>> yx = np.array([[y, x] for y in range(4) for x in range(4)], float) * 3.06
    >>> lattice_parity(yx).reshape(4, 4).tolist()[:2]
    [[0, 1, 0, 1], [1, 0, 1, 0]]
    """
    from scipy.spatial import cKDTree

    from ..columns import index_columns, lattice_vectors

    yx = np.asarray(yx, float)
    if len(yx) < MIN_COLUMNS:
        return None
    try:
        vectors = lattice_vectors(yx)
    except ValueError:  # duplicates, or all on one line
        return None
    lengths = np.linalg.norm(vectors, axis=1)
    cos = abs(vectors[0] @ vectors[1]) / lengths.prod()
    if lengths[1] > (1 + SQUARE_LENGTHS) * lengths[0] or cos > np.sin(np.radians(SQUARE_DEG)):
        return None
    pairs = cKDTree(yx).query_pairs(1.25 * lengths[1], output_type="ndarray")
    frac = (yx[pairs[:, 1]] - yx[pairs[:, 0]]) @ np.linalg.inv(vectors.T).T
    if not len(pairs) or np.median(np.abs(frac - np.rint(frac)).max(axis=1)) > STEP_TOLERANCE:
        return None
    ij, _ = index_columns(yx, vectors)
    return (ij.sum(axis=1) % 2).astype(int)


def _of_parity(parity, heavy, light, phase):
    """(N, K) whether entry k's end suits column i's parity under ``phase``; (K,) whether entry k is odd."""
    length = heavy + light
    odd = length % 2 == 1
    heavy_ended = heavy > light
    expect = (parity[:, None] - (length[None, :] - 1) // 2 + phase) % 2 == 0
    return expect == heavy_ended[None, :], odd


def end_log_prior(lp, parity, heavy, light, max_iter: int = 50):
    """(N, K) ln prior of each column's odd classes from the lattice's parity, and what was fitted.

    ``lp``: (N, K) ln likelihood (+ ln prior) of each column in each (heavy, light) class, -inf where not allowed.
    For each phase the share ``p`` is fitted by EM (the classes' posterior share of the odd classes that suit the
    parity); the phase of larger marginal likelihood is kept.  Returns (log prior, {"phase", "share", "gain",
    "ln_l"}): gain is the ln-likelihood gained over no parity prior (p = 1/2), ln_l the columns' marginal ln
    likelihood with the prior (summed over their classes).

    Examples
    --------
    Four columns of 11 atoms in a row (parity 0, 1, 0, 1), each as likely (6, 5) as (5, 6) but the first leaning to
    (6, 5), the others a little towards the alternating ends: the phase that alternates them wins, and the prior
    then gives each column the end its neighbours' parity implies.

    >>> import numpy as np
    >>> heavy, light = np.array([6, 5]), np.array([5, 6])
    >>> lp = np.log(np.array([[0.8, 0.2], [0.4, 0.6], [0.6, 0.4], [0.4, 0.6]]))
    >>> prior, fitted = end_log_prior(lp, np.array([0, 1, 0, 1]), heavy, light)
    >>> fitted["phase"], round(fitted["share"], 2), np.argmax(lp + prior, axis=1).tolist()
    (1, 0.99, [0, 1, 0, 1])
    """
    heavy, light = np.asarray(heavy, int), np.asarray(light, int)
    base = logsumexp(lp, axis=1)
    best = None
    for phase in (0, 1):
        suits, odd = _of_parity(np.asarray(parity, int), heavy, light, phase)
        p = START_SHARE
        for _ in range(max_iter):
            prior = _prior(suits, odd, p)
            post = np.exp(lp + prior - logsumexp(lp + prior, axis=1)[:, None])
            on_odd = post[:, odd].sum()
            p_new = float(np.clip((post * suits)[:, odd].sum() / on_odd, *SHARE_BOUNDS)) if on_odd > 0 else 0.5
            if abs(p_new - p) < 1e-6:
                break
            p = p_new
        prior = _prior(suits, odd, p)
        ln_l = logsumexp(lp + prior, axis=1)
        gain = float(np.sum(ln_l - base))
        if best is None or gain > best[1]["gain"]:
            best = (prior, {"phase": phase, "share": p, "gain": gain, "ln_l": float(ln_l.sum())})
    return best


def ends_note(fitted) -> str:
    """What :func:`end_log_prior` fitted, in words.

    Examples
    --------
    >>> ends_note({"phase": 1, "share": 0.93, "gain": 12.3}).split(": ")[1]
    "0.93 of the odd columns' prior on the end their position gives, fitted (ln L +12.3)"
    """
    return (f"each odd column's end (Pb or Se) from the lattice's parity (counting.ends): {fitted['share']:.2f} of "
            f"the odd columns' prior on the end their position gives, fitted (ln L {fitted['gain']:+.1f})")


def _prior(suits, odd, p):
    """ln of 2p for the odd classes that suit the parity, 2(1 - p) for the others, 0 for even classes."""
    return np.where(odd[None, :], np.where(suits, np.log(2 * p), np.log(2 * (1 - p))), 0.0)
