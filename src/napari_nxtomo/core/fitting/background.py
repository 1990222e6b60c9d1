"""The smooth background of a fit: a low-order 2D polynomial (Legendre terms) fitted jointly with the columns.

Term ``k`` of a background of degree ``D`` is ``P_a(u) P_b(v)`` with ``a + b ≤ D``,
``P`` the Legendre polynomials and ``u = (2 row + 1) / H - 1``,
``v = (2 col + 1) / W - 1`` the pixel centres scaled to (-1, 1): degree 0 is the
flat background, degree 1 a plane, degree 2 a quadratic surface.  The model is
linear in the term coefficients, so they are solved with the volumes
(:meth:`~napari_nxtomo.core.fitting.problem._Problem.solve_linear`).
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import legendre

#: the largest degree a background may have: higher orders begin to take up the columns' own signal
MAX_DEGREE = 4


def _terms(degree):
    """Exponents (ay, ax) of the terms of a background of ``degree``: every a + b ≤ degree, degree 0 first."""
    pairs = [(a, t - a) for t in range(degree + 1) for a in range(t, -1, -1)]
    return np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64)


def _axis_basis(n, degree):
    """(degree + 1, n) Legendre polynomials of the n pixel centres of one axis, scaled to (-1, 1)."""
    u = (2.0 * np.arange(n) + 1.0) / n - 1.0
    return np.ascontiguousarray(legendre.legvander(u, degree).T)


class _Background:
    """The basis of a polynomial background on an (H, W) image and its normal terms for the current weights."""

    def __init__(self, shape, degree):
        self.degree = int(degree)
        self.py = _axis_basis(shape[0], self.degree)
        self.px = _axis_basis(shape[1], self.degree)
        self.ay, self.ax = _terms(self.degree)

    @property
    def n_terms(self):
        return self.ay.size

    def normals(self, img, w):
        """(B, r): B[j, k] = Σ w φ_j φ_k and r[j] = Σ w φ_j I over the image (``w`` None: uniform)."""
        ay, ax, py, px = self.ay, self.ax, self.py, self.px
        wi = img if w is None else w * img
        r = np.einsum("ky,yx,kx->k", py[ay], wi, px[ax])
        nk = ay.size
        b = np.empty((nk, nk))
        for j in range(nk):
            for k in range(j, nk):
                fy, fx = py[ay[j]] * py[ay[k]], px[ax[j]] * px[ax[k]]
                b[j, k] = b[k, j] = fy.sum() * fx.sum() if w is None else float(fy @ w @ fx)
        return b, r

    def image(self, coef):
        """The background image (H, W) of the term coefficients ``coef``."""
        return np.einsum("k,ky,kx->yx", np.asarray(coef, dtype=float), self.py[self.ay], self.px[self.ax])


def background_image(shape, coefficients):
    """The background of a fit with a polynomial background (``attrs["background_coefficients"]``), image units.

    Parameters
    ----------
    shape : (H, W)
        Image shape, pixels.
    coefficients : sequence of float
        The coefficients of the terms, in the order of :mod:`.background`
        (degree 0 first; ``(D + 1)(D + 2) / 2`` of them for degree D).

    Returns
    -------
    (H, W) float64 ndarray

    Examples
    --------
    A plane rising by 0.2 from the left edge to the right one, about a mean of 1:

    >>> from napari_nxtomo.core.fitting.background import background_image
    >>> bg = background_image((4, 5), [1.0, 0.0, 0.1])
    >>> print(bg[0].round(2))
    [0.92 0.96 1.   1.04 1.08]
    """
    coef = np.asarray(coefficients, dtype=float).ravel()
    degree = 0
    while _terms(degree)[0].size < coef.size:
        degree += 1
    if _terms(degree)[0].size != coef.size:
        raise ValueError(f"{coef.size} background coefficients fit no polynomial degree: (D + 1)(D + 2) / 2 are needed")
    return _Background(tuple(int(v) for v in shape), degree).image(coef)
