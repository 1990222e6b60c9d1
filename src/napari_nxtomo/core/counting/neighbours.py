"""The lowest count of a column type from its neighbours of another type: one thickness, one count (±1).

Along a zone axis with pure columns of two elements side by side (rocksalt
⟨110⟩: Pb and Se columns 2.2 Å apart) a column and its nearest neighbours of
the other type run through the same thickness of the particle, so their counts
differ by at most one.  When the mixture could not infer the lowest count of
the light type (its classes too close to extrapolate to zero), the count of its
neighbours of a type whose lowest count is known fixes it: the shift of the
light type's counts that makes them agree with their neighbours' best.
"""

from __future__ import annotations

import numpy as np

#: neighbours of another type within this factor of the nearest such neighbour's distance
NEIGHBOUR_REACH = 1.2


def lowest_from_neighbours(yx, types, counts, known, *, max_shift: int = 5) -> dict:
    """Lowest counts of the types not in ``known``, from their neighbours of the known types.

    For each column of an unknown type the mean count of its nearest columns
    of the known types (within :data:`NEIGHBOUR_REACH` × the nearest one's
    distance) is its neighbours' thickness in atoms; the unknown type's counts
    are shifted by the integer (within ±``max_shift``) whose median difference
    from that is nearest zero.

    Parameters
    ----------
    yx : array (n, 2)
        Column positions (Å).
    types : array of str (n,)
        Column types.
    counts : array of int (n,)
        Counts as first found (each type numbered from its first lowest count).
    known : dict
        Type -> its lowest count, of the types whose counts are trusted (given or inferred).
    max_shift : int
        Largest shift tried.

    Returns
    -------
    dict
        Type -> lowest count, for every type not in ``known`` that has known
        neighbours (the others are left out).

    Examples
    --------
    Pb and Se columns side by side, the Se counted 2 and 3 beside Pb of 3 and 4 atoms (one too low):

    >>> yx = np.array([[0.0, 0.0], [0.0, 2.2], [0.0, 4.4], [0.0, 6.6]])
    >>> lowest_from_neighbours(yx, np.array(["Pb", "Se", "Pb", "Se"]), np.array([3, 2, 4, 3]), {"Pb": 1})
    {'Se': 3}
    """
    from scipy.spatial import cKDTree

    yx, types, counts = np.asarray(yx, float), np.asarray(types).astype(str), np.asarray(counts, int)
    anchor = np.isin(types, list(known))
    out = {}
    if anchor.sum() < 1:
        return out
    tree = cKDTree(yx[anchor])
    anchor_counts = counts[anchor]
    for t in dict.fromkeys(types[~anchor].tolist()):
        sel = types == t
        k = min(4, int(anchor.sum()))
        d, idx = tree.query(yx[sel], k=k)
        d, idx = d.reshape(sel.sum(), k), idx.reshape(sel.sum(), k)
        near = d <= NEIGHBOUR_REACH * d[:, :1]
        thickness = (anchor_counts[idx] * near).sum(axis=1) / near.sum(axis=1)
        diff = np.median(counts[sel] - thickness)
        shift = int(np.clip(np.round(-diff), -max_shift, max_shift))
        out[t] = max(1, int(counts[sel].min()) + shift)  # a column holds at least one atom
    return out
