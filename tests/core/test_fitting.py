"""Column finding and model-based fitting against the synthetic generator's ground truth.

Every image here comes from :func:`napari_nxtomo.core.simulate.simulate_haadf`
(pixel-integrated Gaussian columns on a constant background, Poisson noise at
a stated dose), whose ``columns`` table holds the true positions (Å) and
cross-sections (Å²).
"""

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from napari_nxtomo.core.fitting import (
    FitCancelled,
    _profile,
    find_columns,
    fit_columns,
    model_image,
)
from napari_nxtomo.core.geometry import ProjectionGeometry
from napari_nxtomo.core.samples import SAMPLE_DOSE, pbse_cuboctahedron
from napari_nxtomo.core.simulate import render_gaussians, simulate_haadf

PIXEL = 0.2  # Å
FWHM = 1.0  # Å
DOSE = 5e4  # e / Å²
BACKGROUND = 0.01
GEOM = ProjectionGeometry((1, 0, 0), (0, 0, 1))  # beam along x; image (row, col) = (z, -y)


def _columns_image(columns, shape, *, seed=None, noise=True, dose=DOSE):
    """Image of Pb columns: ``columns`` is a list of (row Å, col Å, number of Pb atoms)."""
    atoms = []
    for row, col, n in columns:
        for k in range(int(n)):
            atoms.append((3.0 * k, -col, row))
    return simulate_haadf(
        np.array(atoms),
        ["Pb"] * len(atoms),
        GEOM,
        pixel_size=PIXEL,
        shape=shape,
        origin=(0.0, 0.0),
        probe_fwhm=FWHM,
        dose=dose,
        background=BACKGROUND,
        noise=noise,
        seed=seed,
    )


def _match(found, truth, tol):
    """Indices of truth matched by found points (within tol Å); asserts one-to-one."""
    d, idx = cKDTree(truth).query(found)
    assert d.max() < tol, f"a found column is {d.max():.3f} Å from every true column"
    assert len(np.unique(idx)) == len(idx), "a true column was found twice"
    assert len(found) == len(truth), f"{len(truth) - len(found)} true columns were not found"
    return idx


def test_fitter_gaussian_is_render_gaussians():
    """The fitter's pixel-integrated profile is the generator's Gaussian (one Gaussian for the project)."""
    y, x, s = 10.3, 7.8, 2.1
    img = render_gaussians(21, 17, np.array([y]), np.array([x]), np.array([1.0]), np.array([s]), 5.0)
    r = int(math.ceil(5.0 * s)) + 1
    y0, y1 = max(int(math.floor(y + 0.5)) - r, 0), min(int(math.floor(y + 0.5)) + r + 1, 21)
    x0, x1 = max(int(math.floor(x + 0.5)) - r, 0), min(int(math.floor(x + 0.5)) + r + 1, 17)
    py, dpy, spy = np.empty(y1 - y0), np.empty(y1 - y0), np.empty(y1 - y0)
    px, dpx, spx = np.empty(x1 - x0), np.empty(x1 - x0), np.empty(x1 - x0)
    _profile(y, s, y0, y1, py, dpy, spy, True)
    _profile(x, s, x0, x1, px, dpx, spx, True)
    mine = np.zeros((21, 17))
    mine[y0:y1, x0:x1] = np.outer(py, px)
    np.testing.assert_allclose(mine, img, rtol=0, atol=1e-15)
    # analytic derivatives against central differences
    h = 1e-6
    for c, dp, sp in ((y, dpy, spy),):
        a, b = np.empty(y1 - y0), np.empty(y1 - y0)
        _profile(c + h, s, y0, y1, a, a, a, False)
        _profile(c - h, s, y0, y1, b, b, b, False)
        np.testing.assert_allclose(dp, (a - b) / (2 * h), atol=1e-8)
        _profile(c, s + h, y0, y1, a, a, a, False)
        _profile(c, s - h, y0, y1, b, b, b, False)
        np.testing.assert_allclose(sp, (a - b) / (2 * h), atol=1e-8)


def _crlb_single(truth_rc, n_pb, shape):
    """Cramér-Rao bound (std, Å) of (row, col) of one isolated column, Poisson noise at DOSE.

    Fisher information F = Σ_pixels (∂λ/∂θ)(∂λ/∂θ)ᵀ / λ over θ = (y, x, σ, width, b),
    λ the expected electrons per pixel; the derivatives are central differences of
    the generator's noise-free image (independent of the fitter's code).
    """
    ne = DOSE * PIXEL**2

    def expected(dy=0.0, dx=0.0, fwhm=FWHM, bg=BACKGROUND):
        atoms = np.array([(3.0 * k, -truth_rc[1] - dx, truth_rc[0] + dy) for k in range(n_pb)])
        return simulate_haadf(
            atoms, ["Pb"] * n_pb, GEOM, pixel_size=PIXEL, shape=shape, origin=(0.0, 0.0),
            probe_fwhm=fwhm, background=bg, noise=False,
        )

    ref = expected()
    lam = ref.expected * ne
    h = 1e-4
    d_y = (expected(dy=h).expected - expected(dy=-h).expected) / (2 * h)
    d_x = (expected(dx=h).expected - expected(dx=-h).expected) / (2 * h)
    d_w = (expected(fwhm=FWHM + h).expected - expected(fwhm=FWHM - h).expected) / (2 * h)
    d_v = (ref.expected - BACKGROUND) / ref.columns.cross_section[0]
    d_b = np.ones(shape)
    jac = np.stack([d.ravel() * ne for d in (d_y, d_x, d_v, d_w, d_b)], axis=1)
    fisher = jac.T @ (jac / lam.ravel()[:, None])
    cov = np.linalg.inv(fisher)
    return np.sqrt(np.diag(cov)[:3]), ref.columns.cross_section[0]


@pytest.mark.parametrize("weighting, bound", [("uniform", 1.5), ("noise", 1.25)])
def test_position_precision_near_cramer_rao_bound(weighting, bound):
    """Spread of fitted positions vs the Poisson CRLB: one Pb column (8 atoms, σ = 0.148 Å²)
    in a 48×48 image at 0.2 Å/px, dose 5e4 e/Å², background 0.01, 50 noise realisations.

    Ordinary least squares (StatSTEM's estimator) reaches about 1.15 × the bound (it is not
    the maximum-likelihood estimator for Poisson noise); the noise-weighted fit about 1.0 ×.
    The reported standard errors agree with the observed spread.
    """
    shape = (48, 48)
    truth = np.array([4.63, 4.71])
    (crlb_y, crlb_x, crlb_v), cs = _crlb_single(truth, 8, shape)
    fits = []
    for seed in range(50):
        img = _columns_image([(truth[0], truth[1], 8)], shape, seed=1000 + seed)
        df = fit_columns(img.image, PIXEL, [truth + 0.05], weighting=weighting)
        fits.append(df.loc[0, ["y", "x", "volume", "y_err", "x_err", "volume_err"]].to_numpy(float))
    fits = np.array(fits)
    spread = np.sqrt(0.5 * (fits[:, 0].var(ddof=1) + fits[:, 1].var(ddof=1)))
    crlb = math.hypot(crlb_y, crlb_x) / math.sqrt(2)
    assert 0.75 < spread / crlb < bound, f"position spread {spread:.5f} Å vs CRLB {crlb:.5f} Å"
    # unbiased position
    assert abs(fits[:, 0].mean() - truth[0]) < 4 * spread / math.sqrt(50)
    assert abs(fits[:, 1].mean() - truth[1]) < 4 * spread / math.sqrt(50)
    # the standard errors describe the spread
    assert 0.75 < np.mean(fits[:, 4]) / spread < 1.25
    assert abs(fits[:, 2].mean() / cs - 1) < 0.02
    assert 0.7 < np.mean(fits[:, 5]) / fits[:, 2].std(ddof=1) < 1.3


def test_volumes_unbiased_isolated_and_overlapping():
    """Mean fitted cross-section vs truth within 2 % for isolated columns and for pairs at
    1.5 × the probe FWHM (1.5 Å; the Gaussians overlap), dose 5e4 e/Å², 20 noise realisations
    of a 128×128 image (0.2 Å/px) with 4 isolated columns and 4 pairs of 3 to 12 Pb atoms.
    Without noise the volumes are exact (0.1 %).
    """
    d = 1.5 * FWHM
    cols = [(5.0, 5.0, 4), (5.0, 19.3, 12), (12.2, 5.1, 7), (12.1, 19.0, 3)]  # isolated
    for r0, c0, n1, n2 in ((4.9, 11.8, 5, 9), (12.0, 12.2, 10, 10), (19.7, 5.4, 3, 8), (19.8, 17.0, 12, 6)):
        cols += [(r0, c0 - d / 2, n1), (r0 + 0.1, c0 + d / 2, n2)]
    shape = (128, 128)
    clean = _columns_image(cols, shape, noise=False)
    truth = clean.columns
    order = cKDTree(truth[["y", "x"]].to_numpy()).query(np.array(cols)[:, :2])[1]
    cs = truth.cross_section.to_numpy()[order]
    start = np.array(cols)[:, :2] + 0.05

    df = fit_columns(clean.image, PIXEL, start)
    np.testing.assert_allclose(df.volume, cs, rtol=1e-3)
    np.testing.assert_allclose(df[["y", "x"]].to_numpy(), truth[["y", "x"]].to_numpy()[order], atol=1e-4)

    vols = []
    for seed in range(20):
        img = _columns_image(cols, shape, seed=2000 + seed)
        vols.append(fit_columns(img.image, PIXEL, start).volume.to_numpy())
    rel = np.mean(vols, axis=0) / cs - 1
    assert np.all(np.abs(rel[:4]) < 0.02), f"isolated columns: relative bias {rel[:4]}"
    assert np.all(np.abs(rel[4:]) < 0.02), f"overlapping pairs: relative bias {rel[4:]}"


@pytest.fixture(scope="module")
def samples():
    return pbse_cuboctahedron(seed=0), pbse_cuboctahedron(seed=0, noise=False)


def test_sample_images_find_and_fit(samples):
    """All three views of the PbSe cuboctahedron sample (0.2 Å/px, probe FWHM 1 Å, dose
    5e4 e/Å², one noise realisation, seed 0): every column found once, positions within
    0.03 Å RMS, cross-sections within 3 % (median) and their errors consistent with the
    reported standard errors; without noise, cross-sections within 0.5 %.
    """
    noisy, clean = samples
    assert noisy.views[0].dose == SAMPLE_DOSE
    for view, ideal in zip(noisy.views, clean.views):
        truth = view.columns
        yx = truth[["y", "x"]].to_numpy()
        found = find_columns(view.image, view.pixel_size, min_distance=1.5)
        _match(found, yx, 0.5)

        df = fit_columns(view.image, view.pixel_size, found)
        idx = _match(df[["y", "x"]].to_numpy(), yx, 0.2)
        err = np.hypot(df.y - yx[idx, 0], df.x - yx[idx, 1])
        rms = float(np.sqrt(np.mean(err**2)))
        assert rms < 0.03, f"{view.name}: position RMS error {rms:.4f} Å"
        rel = df.volume.to_numpy() / truth.cross_section.to_numpy()[idx] - 1
        assert np.median(np.abs(rel)) < 0.03, f"{view.name}: median |relative volume error| {np.median(np.abs(rel)):.4f}"
        assert abs(df.width.iloc[0] / truth.width.iloc[0] - 1) < 0.01
        assert abs(df.attrs["background"] - view.background) < 2e-4
        assert not df.border.any()
        # standard errors: the observed scatter matches the predicted one.  The standard deviation of N unit
        # pulls scatters by 1/sqrt(2N) (5.4 % for the 169 columns of [100]): 3 of those (measured 0.88-1.13
        # over seeds 0-2 and the three views)
        tol = 3.0 / np.sqrt(2 * len(df))
        pull = (df.x - yx[idx, 1]) / df.x_err
        assert abs(pull.std() - 1) < tol, (view.name, pull.std())
        pull_v = (df.volume - truth.cross_section.to_numpy()[idx]) / df.volume_err
        assert abs(pull_v.std() - 1) < tol, (view.name, pull_v.std())

        found0 = find_columns(ideal.image, ideal.pixel_size, min_distance=1.5)
        _match(found0, yx, 0.5)
        df0 = fit_columns(ideal.image, ideal.pixel_size, found0)
        idx0 = _match(df0[["y", "x"]].to_numpy(), yx, 0.01)
        rel0 = df0.volume.to_numpy() / truth.cross_section.to_numpy()[idx0] - 1
        assert np.max(np.abs(rel0)) < 0.005, f"{view.name}: noise-free volume error {np.max(np.abs(rel0)):.2e}"
        model = model_image(ideal.image.shape, ideal.pixel_size, df0)
        assert np.abs(model - ideal.expected).max() < 1e-5 * ideal.expected.max()


def test_types_get_their_own_width():
    """Two column types drawn with different widths (noise-free): each type's width is recovered."""
    p = 0.2
    rng = np.random.default_rng(3)
    yy, xx = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    pos = np.column_stack([yy.ravel() * 3.0 + 3.0, xx.ravel() * 3.0 + 3.0]) + rng.uniform(-0.3, 0.3, (16, 2))
    types = np.where((yy + xx).ravel() % 2 == 0, "A", "B")
    width = np.where(types == "A", 0.40, 0.55)
    vol = rng.uniform(0.05, 0.2, 16)
    img = 0.02 + render_gaussians(75, 75, pos[:, 0] / p, pos[:, 1] / p, vol / p**2, width / p)
    df = fit_columns(img, p, pos + 0.05, types=types)
    assert df.attrs["widths"] == pytest.approx({"A": 0.40, "B": 0.55}, rel=1e-5)
    np.testing.assert_allclose(df.width, width, rtol=1e-5)
    np.testing.assert_allclose(df.volume, vol, rtol=1e-5)
    assert list(df.type) == list(types)
    np.testing.assert_allclose(df.height, df.volume / (2 * np.pi * df.width**2))
    # fixed widths are kept
    df2 = fit_columns(img, p, pos, types=types, width={"A": 0.4, "B": 0.55}, fit_width=False)
    np.testing.assert_allclose(df2.width, width)


def test_progress_cancel_and_border():
    """Progress reaches n/n; cancel raises FitCancelled; a column near the edge is fitted and flagged."""
    img = _columns_image([(1.0, 6.0, 6), (6.0, 6.0, 6)], (60, 60), noise=False)
    calls = []
    df = fit_columns(img.image, PIXEL, [(1.05, 6.05), (6.05, 5.95)], progress=lambda i, n: calls.append((i, n)))
    assert calls and calls[-1][0] == calls[-1][1]
    assert list(df.border) == [True, False]
    np.testing.assert_allclose(df.volume, img.columns.cross_section, rtol=1e-4)
    with pytest.raises(FitCancelled):
        fit_columns(img.image, PIXEL, [(1.0, 6.0), (6.0, 6.0)], cancel=lambda: True)


@pytest.mark.parametrize(
    "image, positions, match",
    [
        (np.full((32, 32), np.nan), [(3.0, 3.0)], "NaN or infinite"),
        (np.where(np.eye(32) > 0, np.inf, 1.0), [(3.0, 3.0)], "NaN or infinite"),
        (np.random.default_rng(0).random((32, 32, 3)), [(3.0, 3.0)], "RGB"),
        (np.random.default_rng(0).random((2, 32, 32)), [(3.0, 3.0)], "2D image"),
        (np.full((32, 32), 7.0), [(3.0, 3.0)], "constant"),
        (np.random.default_rng(0).random((32, 32)), np.zeros((0, 2)), "no columns"),
        (np.random.default_rng(0).random((32, 32)), [(3.0, 3.0), (3.0, 7.0)], "outside the image"),
        (np.random.default_rng(0).random((32, 32)), [(3.0, 3.0), (3.1, 3.0)], "closer than"),
    ],
)
def test_bad_input(image, positions, match):
    with pytest.raises(ValueError, match=match):
        fit_columns(image, 0.2, positions)
    if match not in ("no columns", "outside the image", "closer than"):
        with pytest.raises(ValueError, match=match):
            find_columns(image, 0.2, 1.0)


def test_bad_input_resolution_and_options():
    img = _columns_image([(3.0, 3.0, 5), (3.0, 3.45, 5)], (32, 32), noise=False)
    # 0.45 Å apart: less than two widths (0.85 Å), one peak: merged into one column holding both volumes
    with pytest.warns(UserWarning, match=r"1 of 2 start position\(s\) lie closer than 0.849 Å"):
        merged = fit_columns(img.image, PIXEL, [(3.0, 3.0), (3.0, 3.45)], width=0.4247)
    assert len(merged) == 1 and merged.attrs["merged_starts"] == [1]
    assert merged.volume.iloc[0] == pytest.approx(img.columns.cross_section.sum(), rel=0.02)
    assert merged.x.iloc[0] == pytest.approx(3.225, abs=0.02)
    with pytest.raises(ValueError, match="min_separation"):
        fit_columns(img.image, PIXEL, [(3.0, 3.0), (3.0, 3.45)], width=0.4247, min_separation=0.5)
    with pytest.raises(ValueError, match="one label per column"):
        fit_columns(img.image, PIXEL, [(3.0, 3.0)], types=["a", "b"])
    with pytest.raises(ValueError, match="pixel_size"):
        fit_columns(img.image, 0.0, [(3.0, 3.0)])
    with pytest.raises(ValueError, match="min_distance"):
        find_columns(img.image, PIXEL, 0.1)


def _lattice_fit(yx):
    """Index 2D positions on a lattice found from their nearest-neighbour vectors.

    Returns the integer indices (N, 2), the positions predicted by a quadratic map from
    indices to positions (which absorbs a slowly varying scan distortion), and that map.
    """
    _, nb = cKDTree(yx).query(yx, k=7)
    vec = yx[nb[:, 1:]] - yx[:, None, :]  # (N, 6, 2)
    length = np.hypot(vec[..., 0], vec[..., 1])
    basis = []
    for _ in range(2):
        ok = np.ones(length.shape, dtype=bool)
        if basis:  # leave out vectors parallel to the first basis vector
            b0 = basis[0] / np.hypot(*basis[0])
            ok = np.abs(vec[..., 0] * b0[1] - vec[..., 1] * b0[0]) > 0.5 * np.hypot(*basis[0])
        typical = np.median(np.where(ok, length, np.inf).min(axis=1))  # each point's shortest, then the median
        short = vec[ok & (np.abs(length - typical) < 0.15 * typical)]
        short = np.where((short @ short[0])[:, None] < 0, -short, short)
        basis.append(np.median(short, axis=0))
    basis = np.column_stack(basis)
    origin = yx[np.argmin(np.hypot(*(yx - yx.mean(axis=0)).T))]
    ij = np.round(np.linalg.solve(basis, (yx - origin).T).T)

    def design(ij):
        i, j = np.asarray(ij, dtype=float).T
        return np.column_stack([np.ones_like(i), i, j, i * i, i * j, j * j])

    coef = np.linalg.lstsq(design(ij), yx, rcond=None)[0]
    return ij, design(ij) @ coef, lambda ij: design(ij) @ coef


def test_real_adf_image(shared_data):
    """The real ADF image (SrTiO3 along a zone axis, Atomap's public test data; no ground truth):
    every column found once (each node of the column lattice inside the image holds exactly
    one found column), the fitted positions of the columns not cut by the image edge on a
    regular lattice apart from a smooth scan distortion (quadratic map, RMS deviation below
    0.08 Å), and the residual at the noise level.
    """
    from napari_nxtomo import load_image

    img, p, _ = load_image(shared_data / "real" / "srtio3_adf_atomap.hdf5", assume_unit="nm")
    found = find_columns(img, p, min_distance=1.5)
    df = fit_columns(img, p, found)
    yx = df[["y", "x"]].to_numpy()
    # columns cut by the image edge are fitted but flagged; judge the lattice on the others
    inner = ~df.border.to_numpy()
    assert 0 < (~inner).sum() < 0.25 * len(df)
    ij, pred, lattice = _lattice_fit(yx[inner])
    dev = np.hypot(*(yx[inner] - pred).T)
    assert len(np.unique(ij, axis=0)) == len(ij), "two columns on one lattice node"
    assert dev.max() < 0.25, f"a column is {dev.max():.3f} Å off its lattice node"
    assert np.sqrt(np.mean(dev**2)) < 0.08
    # every lattice node inside the image (0.5 Å from the edges) holds a column
    lo = ij.min(axis=0) - 3
    hi = ij.max(axis=0) + 3
    gi, gj = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
    nodes = lattice(np.column_stack([gi.ravel(), gj.ravel()]))
    h, w = (np.asarray(img.shape) - 1) * p
    inside = np.all((nodes > 0.5) & (nodes < np.array([h, w]) - 0.5), axis=1)
    d, _ = cKDTree(yx).query(nodes[inside])
    assert d.max() < 0.25, f"{int((d >= 0.25).sum())} lattice nodes inside the image have no column"
    # residual at the noise level (the fitted variance model α + β·model)
    model = model_image(img.shape, p, df)
    noise = np.sqrt(np.mean(df.attrs["noise_alpha"] + df.attrs["noise_beta"] * model))
    assert 0.9 < np.std(img - model) / noise < 1.1


def test_counted_image_with_empty_vacuum():
    """A counted (Poisson, integer) image that is mostly zero-count vacuum with stray electrons.

    16 columns of ~60 electrons each (peak ~4 per pixel) in a 24 × 24 Å field of
    0.2 Å pixels, plus a stray-electron floor of 0.003 per pixel (~40
    electrons scattered over the vacuum); more than 80 % of the pixels are 0.
    The neighbour-difference noise is then 0; find_columns must still find
    the 16 columns and no stray electron, as raw counts and divided by the
    dose per pixel (same quantised image in other units).
    """
    from napari_nxtomo.core.fitting import _quantum

    p = 0.2
    g = (np.arange(4) - 1.5) * 3.0 + 12.0
    yy, xx = np.meshgrid(g, g, indexing="ij")
    true = np.c_[yy.ravel(), xx.ravel()]
    lam = render_gaussians(120, 120, true[:, 0] / p, true[:, 1] / p, np.full(16, 60.0), np.full(16, 1.5)) + 0.003
    for seed in range(3):
        counts = np.random.default_rng(seed).poisson(lam).astype(float)
        assert np.mean(counts == 0) > 0.8
        for scale in (1.0, 1.0 / 800.0):
            img = counts * scale
            assert _quantum(img) == pytest.approx(scale)
            found = find_columns(img, p, min_distance=2.0)
            d, _ = cKDTree(true).query(found)
            assert len(found) == 16 and d.max() < 0.5, (seed, scale, len(found))
    # continuous-valued images are not quantised: the noise estimate there is unchanged
    assert _quantum(lam) == 0.0 and _quantum(lam.astype(np.float32)) == 0.0
    assert _quantum(np.random.default_rng(0).poisson(lam) - 0.5) == 0.0  # negative values: not counts


@pytest.mark.parametrize("kind, min_distance", [("gauss", 0.6), ("gauss", 1.5), ("poisson", 1.0)])
def test_no_columns_in_pure_noise(kind, min_distance):
    """Issue 15 (2): white noise holds no column.  A 2048² frame of Gaussian noise (smoothing of 0.5 px, the
    lightest, and 1.25 px) or of Poisson counts (3 per pixel): the default threshold finds 0 columns (before
    it: 186 and 87 per 2048² of Gaussian noise, 387-680 per 4096²)."""
    rng = np.random.default_rng(1)
    shape = (2048, 2048)
    img = 1.0 + 0.1 * rng.normal(size=shape) if kind == "gauss" else rng.poisson(3.0, shape).astype(float)
    assert len(find_columns(img, PIXEL, min_distance)) == 0


@pytest.mark.parametrize("noise", ["gauss", "poisson"])
def test_small_particle_in_noisy_frame(noise):
    """Issue 15 (2): 25 columns (5 × 5, 4 Å apart) in a 1024² frame of 0.2 Å pixels, Gaussian noise (σ 0.005 on a
    peak of 0.04 above 0.01) or Poisson noise (2e4 e/Å²): exactly the 25 true columns, no vacuum column
    (before: 40-47 with Gaussian noise)."""
    n = 1024
    g = (np.arange(5) - 2) * 4.0 + n * PIXEL / 2
    yy, xx = np.meshgrid(g, g, indexing="ij")
    true = np.c_[yy.ravel(), xx.ravel()]
    lam = render_gaussians(n, n, true[:, 0] / PIXEL, true[:, 1] / PIXEL, np.full(25, 1.0), np.full(25, 2.0)) + 0.01
    rng = np.random.default_rng(0)
    per_pixel = 2e4 * PIXEL**2
    img = lam + rng.normal(0.0, 0.005, lam.shape) if noise == "gauss" else rng.poisson(lam * per_pixel) / per_pixel
    _match(find_columns(img, PIXEL, 1.5), true, 0.3)


@pytest.mark.parametrize("name", ["100", "110"])
def test_multislice_columns_all_found(name):
    """The stored multislice images (abTEM, truth from the atoms) keep every true column under the noise-aware
    threshold: noise-free and at 2e4 e/Å² (two seeds), each true column found once within 0.5 Å, none extra."""
    from pathlib import Path

    from napari_nxtomo.core.groundtruth import (
        MULTISLICE_MIN_DISTANCE, SAMPLE_MULTISLICE_DIR, load_multislice_view, noisy_image,
    )

    view = load_multislice_view(SAMPLE_MULTISLICE_DIR, name)
    truth = view.columns[["y", "x"]].to_numpy()
    for image in (view.image, noisy_image(view, 2e4, 0), noisy_image(view, 2e4, 1)):
        _match(find_columns(image, view.pixel_size, MULTISLICE_MIN_DISTANCE[name]), truth, 0.5)
