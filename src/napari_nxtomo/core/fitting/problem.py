"""The column model of one image: background plus pixel-integrated Gaussians, and its linear solve."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu
from scipy.spatial import cKDTree

from ..simulate import render_gaussians
from .normal_kernels import _column_normals
from .background import _Background, background_image
from .profile_kernels import _basis_terms, _gram_pairs, _linear_terms, _tabulate, _weighted_rss
from .validation import _check_pixel_size

#: Gaussians are truncated to a square window of this many standard deviations
N_SIGMA = 5.0


def _render(shape, ys, xs, vols, ss, background, n_sigma=N_SIGMA):
    """The model image (pixel units): ``background`` plus the columns' Gaussians."""
    out = render_gaussians(int(shape[0]), int(shape[1]), ys, xs, vols, ss, float(n_sigma))
    out += background
    return out


def _overlap_pairs(ys, xs, ss, n_sigma):
    """Candidate pairs of columns whose square windows may overlap."""
    if len(ys) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    r = np.ceil(n_sigma * ss.max()) + 1
    pts = np.column_stack([np.floor(ys + 0.5), np.floor(xs + 0.5)])
    pairs = cKDTree(pts).query_pairs(2 * r + 0.5, p=np.inf, output_type="ndarray")
    if len(pairs) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.ascontiguousarray(pairs[:, 0], dtype=np.int64), np.ascontiguousarray(pairs[:, 1], dtype=np.int64)


class _Problem:
    """The image, its weights and the fixed settings of one fit (pixel units).

    The model is the one of :func:`model_image`: a background plus one
    pixel-integrated Gaussian per column.  Given the positions and widths it
    is linear in the background and the volumes (:meth:`solve_linear`).
    """

    def __init__(self, img, n_sigma, fit_background, background, degree=0, region=None):
        self.img = img
        self.region = None if region is None else np.ascontiguousarray(region, dtype=np.float64)
        self.n_pixels = int(img.size if region is None else np.count_nonzero(region))
        self.shape = img.shape
        self.n_sigma = float(n_sigma)
        self.fit_background = bool(fit_background)
        self.background = float(background) if background is not None else 0.0
        self.basis = _Background(self.shape, degree) if degree else None
        self.set_weights(None)

    def set_weights(self, w):
        """Weight each pixel by ``w`` (H, W) from now on; None for uniform weights (times ``region``, when set)."""
        if self.region is not None:
            w = self.region if w is None else w * self.region
        self.use_w = w is not None
        self.w = w if w is not None else np.ones((1, 1))
        if w is None:
            self.sum_w = float(self.img.size)
            self.sum_wi = float(self.img.sum())
        else:
            self.sum_w = float(w.sum())
            self.sum_wi = float((w * self.img).sum())
        if self.basis is not None:
            self.bg_normals = self.basis.normals(self.img, w)

    def tabulate(self, ys, xs, ss):
        """Windows and profiles of the columns: (win, offy, offx, ty, tx), see :func:`_tabulate`."""
        return _tabulate(self.shape[0], self.shape[1], ys, xs, ss, self.n_sigma)

    def normals(self, model, vols, tab, alpha=0.0, beta=0.0, want_meat=False):
        """Per-column normal blocks H, gradients g and meat M, see :func:`_column_normals`."""
        return _column_normals(self.img, model, self.w, self.use_w, vols, *tab, alpha, beta, want_meat)

    def solve_linear(self, ys, xs, ss):
        """Least-squares volumes (pixel units) and background for fixed positions and widths.

        Returns the volumes, the background (a float, or for a polynomial
        background its (H, W) image with the coefficients in ``self.coef``)
        and the columns' tabulated profiles.
        """
        tab = self.tabulate(ys, xs, ss)
        rhs, asum, diag = _linear_terms(self.img, self.w, self.use_w, *tab)
        if np.any(diag <= 0):
            bad = np.flatnonzero(diag <= 0)
            raise ValueError(
                f"{len(bad)} column(s) have no pixel of the image under them (first: index {bad[0]}); delete them"
            )
        a = self._gram(ys, xs, ss, tab, diag)
        if not self.fit_background:
            vols = _solve_gram(a, diag, (rhs - self.background * asum)[:, None])[:, 0]
            return vols, float(self.background), tab
        if self.basis is None:
            cross, bgram, brhs = asum[:, None], np.array([[self.sum_w]]), np.array([self.sum_wi])
        else:
            b = self.basis
            cross = _basis_terms(self.w, self.use_w, *tab, b.py, b.px, b.ay, b.ax)
            bgram, brhs = self.bg_normals
        # the background eliminated (Schur complement): V = u - U β with A u = rhs, A U = cross
        x = _solve_gram(a, diag, np.column_stack([rhs, cross]))
        u, um = x[:, 0], x[:, 1:]
        schur = bgram - cross.T @ um
        coef = _solve_background(schur, brhs - cross.T @ u, bgram)
        vols = u - um @ coef
        if self.basis is None:
            return vols, float(coef[0]), tab
        self.coef = coef
        return vols, self.basis.image(coef), tab

    def _gram(self, ys, xs, ss, tab, diag):
        """The sparse Gram matrix Σ w g_c g_d of the columns' Gaussians (``diag``: its diagonal)."""
        n = len(ys)
        pa, pb = _overlap_pairs(ys, xs, ss, self.n_sigma)
        off = _gram_pairs(self.w, self.use_w, *tab, pa, pb)
        keep = off != 0.0
        pa, pb, off = pa[keep], pb[keep], off[keep]
        idx = np.arange(n)
        return sparse.csr_matrix(
            (np.concatenate([diag, off, off]), (np.concatenate([idx, pa, pb]), np.concatenate([idx, pb, pa]))),
            shape=(n, n),
        )

    def model(self, ys, xs, vols, ss, b):
        """The model image for these positions, volumes, widths (pixels) and background."""
        return _render(self.shape, ys, xs, vols, ss, b, self.n_sigma)

    def rss(self, model):
        """The (weighted) residual sum of squares of a model image."""
        return float(_weighted_rss(self.img, model, self.w, self.use_w))



def _solve_background(schur, rhs, bgram):
    """The background coefficients from their Schur complement system, or a ValueError when the columns cover
    the image so that the background cannot be told apart from them (the complement, relative to the
    background terms' own Gram matrix ``bgram``, nearly singular)."""
    scale = np.sqrt(np.diag(bgram))
    if np.all(scale > 0):
        m = schur / np.outer(scale, scale)
        ev = np.linalg.eigvalsh(0.5 * (m + m.T))
        if ev.min() > 1e-12:
            return np.linalg.solve(m, rhs / scale) / scale
    raise ValueError(
        "the background cannot be told apart from the columns (the columns cover the image completely, or "
        "the background's degree is too high for the free pixels left); pass background= to fix it, or lower "
        "background_degree"
    )


_DEPENDENT = (
    "the columns' Gaussians are linearly dependent (columns on top of each other or a width "
    "far too large); delete duplicate columns"
)


def _solve_gram(a, diag, rhs):
    """Solve the (symmetric positive definite) Gram system ``a`` for each column of ``rhs``.

    Conjugate gradients with a diagonal preconditioner (the Gram matrix of
    resolvable columns is close to diagonal), falling back on a sparse LU
    factorisation when they do not converge.
    """
    from scipy.sparse.linalg import LinearOperator, cg

    n = a.shape[0]
    precond = LinearOperator((n, n), matvec=lambda r: r.ravel() / diag, dtype=np.float64)
    out = np.empty_like(rhs)
    for k in range(rhs.shape[1]):
        sol, info = cg(a, rhs[:, k], rtol=1e-13, atol=0.0, maxiter=300, M=precond)
        if info != 0 or not np.all(np.isfinite(sol)):
            break
        out[:, k] = sol
    else:
        return out
    try:
        lu = splu(a.tocsc(), permc_spec="MMD_AT_PLUS_A")
    except RuntimeError as exc:  # exactly singular Gram matrix
        raise ValueError(_DEPENDENT) from exc
    out = lu.solve(rhs)
    if not np.all(np.isfinite(out)):
        raise ValueError(_DEPENDENT)
    return out


def model_image(shape, pixel_size, table, background=None, *, n_sigma=None):
    """The model image of a fit: background plus every column's Gaussian.

    Parameters
    ----------
    shape : (H, W)
        Image shape, pixels.
    pixel_size : float
        Å per pixel.
    table : pandas.DataFrame
        A table from :func:`fit_columns` (``y``, ``x``, ``width`` in Å,
        ``volume`` in image units × Å²).
    background : float or (H, W) array, optional
        Background, image units; default the fit's: ``table.attrs["background"]``
        (0 when absent), or for a polynomial background (``background_degree``
        above 0) the image of its ``background_coefficients`` (``shape`` must
        then be the fitted image's).
    n_sigma : float, optional
        Window of each Gaussian, in widths; default the fit's.

    Returns
    -------
    (H, W) float64 ndarray
        The model, drawn with :func:`~napari_nxtomo.core.simulate.render_gaussians`
        (pixel-integrated Gaussians, the same as the fit's).  The residual is
        ``image - model_image(...)``.

    Notes
    -----
    An image ``I`` (H, W) with square pixels of ``pixel_size`` Å is modelled as

        M(pixel) = b + Σ_c V_c P_c(pixel)

    with a constant background ``b`` and one isotropic Gaussian per atomic
    column: ``P_c`` is the probability mass of a 2D Gaussian of centre
    ``(y_c, x_c)`` and standard deviation ``s_t`` (one width per column *type*
    ``t``) integrated over the pixel (exact error-function integrals, pixel
    ``i`` spanning ``[i - 0.5, i + 0.5]`` in pixel units), truncated to a
    square window of ``n_sigma`` standard deviations.  It is the same Gaussian
    as the synthetic image generator's
    :func:`~napari_nxtomo.core.simulate.render_gaussians`; the fitter
    evaluates the same closed form (and its derivatives) inline (a test checks
    that the two agree to 1e-15).  Because the model is integrated over the
    pixel, the fitted width of a generator image is the width of the
    continuous Gaussian, and ``Σ_pixels P_c = 1`` makes ``V_c`` exactly the
    integrated peak volume.

    A real STEM image samples the probe-blurred object at points (scan
    positions) rather than integrating it over pixels.  Fitted with this
    model, such a peak comes out with ``width² = σ² - pixel² / 12`` (the
    variance of a uniform pixel is ``pixel² / 12``), about 1-2 % narrower for
    the usual 3-5 pixels per width; its volume is not biased, because the sum
    over pixels of a point-sampled Gaussian equals its integral to within
    ``exp(-2 π² σ² / pixel²)`` (negligible for σ above half a pixel).

    The *volume* of a column is reported in image units × Å² (``V_c`` times
    the pixel area).  For an image normalised to the incident beam (the
    fraction of the beam per pixel, as the project's generator writes it)
    that is the column's scattering cross-section in Å².

    Examples
    --------
    Two columns of 1.5 and 3 (image units × Å²) on a background of 0.1: the
    model, less its background, sums to their volumes over the pixel area.

    >>> import pandas as pd
    >>> from napari_nxtomo.core.fitting import model_image
    >>> table = pd.DataFrame({"y": [6.0, 6.0], "x": [4.0, 8.0], "volume": [1.5, 3.0], "width": [0.5, 0.5]})
    >>> model = model_image((60, 60), 0.2, table, background=0.1)
    >>> model.shape
    (60, 60)
    >>> print(round(float((model - 0.1).sum()) * 0.2**2, 3))
    4.5
    """
    p = _check_pixel_size(pixel_size)
    if background is None and table.attrs.get("background_degree", 0):
        background = background_image(shape, table.attrs["background_coefficients"])
    elif background is None:
        background = table.attrs.get("background", 0.0)
    elif np.ndim(background):
        background = np.asarray(background, dtype=np.float64)
    if n_sigma is None:
        n_sigma = table.attrs.get("n_sigma", N_SIGMA)
    ys = np.ascontiguousarray(np.asarray(table["y"], dtype=np.float64) / p)
    xs = np.ascontiguousarray(np.asarray(table["x"], dtype=np.float64) / p)
    vols = np.ascontiguousarray(np.asarray(table["volume"], dtype=np.float64) / (p * p))
    ss = np.ascontiguousarray(np.asarray(table["width"], dtype=np.float64) / p)
    background = background if np.ndim(background) else float(background)
    return _render(tuple(int(v) for v in shape), ys, xs, vols, ss, background, n_sigma)


def _invert_blocks(p, ok=True):
    """Inverses of a stack of small blocks ``p`` (N, k, k); zero where a block is not finite or det ≤ 0.

    Returns the inverses and the mask of the blocks inverted: ``ok`` (a mask
    of the blocks to try, or True) and finite with a positive determinant.
    """
    ok = ok & np.all(np.isfinite(p), axis=(1, 2)) & (np.linalg.det(p) > 0)
    pinv = np.zeros_like(p)
    pinv[ok] = np.linalg.inv(p[ok])
    return pinv, ok
