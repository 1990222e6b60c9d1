"""Lattice frequencies of an image and where in the image they are: Fourier peaks and local lock-in power.

A crystal seen along a zone axis puts its column lattice into sharp peaks of
the image's power spectrum; vacuum, an amorphous support and noise spread
their power over all frequencies.  :func:`lattice_peaks` finds the sharp peaks
(frequency vectors in Å⁻¹, cycles per Å); :func:`local_power` measures, at
every pixel, the power of the image at one frequency within a Gaussian window
(a lock-in: the spectrum around that frequency, windowed and transformed
back, on a coarse grid), so a region can be told crystalline when its power
at the lattice frequencies stands far above its power at other frequencies of
the same magnitude.
"""

from __future__ import annotations

import math

import numpy as np

#: a Fourier peak is kept when its power stands this many times above the median power at its radius
PEAK_CONTRAST = 12.0
#: the Hann window's side lobes stay below this share of a peak's power
SIDE_LOBE = 1e-3
#: frequencies considered, cycles/Å: spacings between 0.8 Å and 12 Å
FREQ_RANGE = (1.0 / 12.0, 1.0 / 0.8)


def _spectrum(image, mask=None):
    """Power spectrum (fftshifted) of the image minus its mean, Hann-windowed (or mask-weighted)."""
    img = np.asarray(image, dtype=float)
    if mask is not None:
        from scipy.ndimage import gaussian_filter

        w = gaussian_filter(np.asarray(mask, dtype=float), 2.0)
    else:
        w = np.outer(np.hanning(img.shape[0]), np.hanning(img.shape[1]))
    mean = float((img * w).sum() / max(w.sum(), 1e-12))
    f = np.fft.fftshift(np.fft.fft2((img - mean) * w))
    return np.abs(f) ** 2


def _frequencies(shape, pixel_size):
    """Frequency of every pixel of an fftshifted spectrum, (H, W, 2) cycles/Å as (row, col)."""
    fy = np.fft.fftshift(np.fft.fftfreq(shape[0], pixel_size))
    fx = np.fft.fftshift(np.fft.fftfreq(shape[1], pixel_size))
    return np.stack(np.meshgrid(fy, fx, indexing="ij"), axis=-1)


def lattice_peaks(image, pixel_size, mask=None, *, contrast=PEAK_CONTRAST, max_peaks=24):
    """Sharp peaks of an image's power spectrum: the frequencies of its lattice(s).

    Parameters
    ----------
    image : (H, W) array
    pixel_size : float
        Å per pixel.
    mask : (H, W) bool array, optional
        Only this region (a particle); default the whole image, Hann-windowed.
    contrast : float
        A peak must hold this many times the median power of all frequencies
        of its magnitude (a ring of the spectrum): noise and amorphous texture
        give ~1, a resolved lattice tens to thousands.
    max_peaks : int
        At most this many peaks (one of each ±g pair), strongest first.

    Returns
    -------
    g : (K, 2) float ndarray
        Frequency vectors (row, col) in cycles/Å, one of each ±g pair, strongest first.
    strength : (K,) float ndarray
        Their contrast (power over the ring's median power).

    Examples
    --------
    A square lattice of 2.5 Å:

    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:128, 0:128] * 0.25
    >>> img = np.cos(2 * np.pi * yy / 2.5) + np.cos(2 * np.pi * xx / 2.5)
    >>> g, s = lattice_peaks(img, 0.25)
    >>> sorted(np.round(1 / np.linalg.norm(g, axis=1), 2).tolist())
    [2.5, 2.5]
    """
    from skimage.feature import peak_local_max

    p = float(pixel_size)
    spec = _spectrum(image, mask)
    freq = _frequencies(spec.shape, p)
    rad = np.hypot(freq[..., 0], freq[..., 1])
    df = 1.0 / (max(spec.shape) * p)
    ring = np.round(rad / df).astype(int)
    med = _ring_median(spec, ring)
    lo, hi = FREQ_RANGE
    outside = (rad < max(lo, 3 * df)) | (rad > min(hi, 0.5 / p))
    # a floor under the ring's median: the window's side lobes of a strong peak (Hann: < 1e-3 of it) are no peaks
    floor = SIDE_LOBE * float(np.where(outside, 0.0, spec).max())
    rel = spec / np.maximum(med[ring], max(floor, 1e-300))
    rel[outside] = 0.0
    pk = peak_local_max(rel, min_distance=2, threshold_abs=contrast, exclude_border=False)
    if len(pk) == 0:
        return np.zeros((0, 2)), np.zeros(0)
    strength = rel[pk[:, 0], pk[:, 1]]
    g = _refine_frequency(spec, pk) * np.array([1.0 / (spec.shape[0] * p), 1.0 / (spec.shape[1] * p)])
    g -= np.array([spec.shape[0] // 2 / (spec.shape[0] * p), spec.shape[1] // 2 / (spec.shape[1] * p)])
    # one of each ±g pair: the half-plane row > 0 (or row == 0, col > 0)
    half = (g[:, 0] > 1e-12) | ((np.abs(g[:, 0]) <= 1e-12) & (g[:, 1] > 0))
    g, strength = g[half], strength[half]
    order = np.argsort(-strength, kind="stable")[:max_peaks]
    return g[order], strength[order]


def _ring_median(spec, ring):
    """Median power of each ring (integer radius index) of the spectrum."""
    flat_r, flat_s = ring.ravel(), spec.ravel()
    order = np.argsort(flat_r, kind="stable")
    r_sorted, s_sorted = flat_r[order], flat_s[order]
    bounds = np.searchsorted(r_sorted, np.arange(ring.max() + 2))
    med = np.zeros(ring.max() + 1)
    for r in range(ring.max() + 1):
        seg = s_sorted[bounds[r] : bounds[r + 1]]
        if len(seg):
            med[r] = np.median(seg)
    return med


def _refine_frequency(spec, pk):
    """Sub-pixel peak positions (pixels of the spectrum): a parabola through the log power along each axis."""
    h, w = spec.shape
    logp = np.log(np.maximum(spec, 1e-300))
    out = pk.astype(float)
    for ax, n in ((0, h), (1, w)):
        e = np.zeros(2, dtype=int)
        e[ax] = 1
        i, j = pk[:, 0], pk[:, 1]
        f0 = logp[i, j]
        fm = logp[(i - e[0]) % h, (j - e[1]) % w]
        fp = logp[(i + e[0]) % h, (j + e[1]) % w]
        den = fm - 2 * f0 + fp
        with np.errstate(divide="ignore", invalid="ignore"):
            off = np.where(den < 0, 0.5 * (fm - fp) / den, 0.0)
        out[:, ax] += np.clip(off, -0.5, 0.5)
    return out


def local_power(image, pixel_size, g, window):
    """Power of the image at frequency ``g`` within a Gaussian window around every pixel.

    The lock-in amplitude ``|Σ image · exp(-2πi g·r) · w(r - r₀)|²`` with a
    Gaussian window ``w`` of standard deviation ``window`` Å, computed in
    Fourier space (the spectrum around ``g`` times the window's transform,
    transformed back on a grid coarse enough for the window) and brought
    back to the image's size.

    Parameters
    ----------
    image : (H, W) array
    pixel_size : float
        Å per pixel.
    g : (K, 2) array
        Frequencies (row, col), cycles/Å.
    window : float
        Standard deviation of the window, Å.

    Returns
    -------
    (K, H, W) float ndarray
        The local power at each frequency (image units² per pixel², relative values matter).

    Examples
    --------
    Stripes of 2.5 Å in the left half only:

    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:128, 0:128] * 0.25
    >>> img = np.where(xx < 16, np.cos(2 * np.pi * yy / 2.5), 0.0)
    >>> pw = local_power(img, 0.25, [[0.4, 0.0]], window=3.0)[0]
    >>> bool(pw[64, 20] > 100 * pw[64, 110])
    True
    """
    maps, upsample = lock_in(image, pixel_size, g, window)
    return np.stack([upsample(m) for m in maps])


def lock_in(image, pixel_size, g, window):
    """The local power of :func:`local_power` on a coarse grid, and the function that brings a coarse map to the image.

    Maps combined on the coarse grid (a maximum, a ratio) need one upsampling
    instead of one per frequency.

    Returns
    -------
    maps : (K, m, n) ndarray
        Local power at each frequency on the coarse grid (edges renormalised).
    upsample : callable
        ``upsample(coarse_map) -> (H, W) ndarray`` (bilinear).

    Examples
    --------
    >>> import numpy as np
    >>> maps, up = lock_in(np.random.default_rng(0).normal(size=(64, 64)), 0.2, [[0.5, 0.0]], 2.0)
    >>> maps.ndim, up(maps[0]).shape
    (3, (64, 64))
    """
    from scipy.ndimage import map_coordinates

    src = np.asarray(image, dtype=float)
    p = float(pixel_size)
    pad = int(math.ceil(3.0 * float(window) / p))
    # zero padding (about the mean) and a window renormalised by the part of it inside the image:
    # the FFT's wrap-around would otherwise mix the lattice of opposite edges
    img = np.pad(src - src.mean(), pad)
    h, w = img.shape
    f = np.fft.fft2(img)
    sk = 1.0 / (2.0 * math.pi * float(window))  # the window's width in frequency, cycles/Å
    # a coarse grid whose spectrum holds ±6 σ_k of the window around g
    m_y = int(min(h, max(8, 2 * math.ceil(6 * sk * h * p))))
    m_x = int(min(w, max(8, 2 * math.ceil(6 * sk * w * p))))
    off_y, off_x = np.fft.fftfreq(m_y, 1.0 / m_y).astype(int), np.fft.fftfreq(m_x, 1.0 / m_x).astype(int)
    # the share of the Gaussian window inside the image at each coarse point (separable: a product of erfs)
    sig = float(window) / p
    cover = [_inside_share(np.arange(m) * (n / m) - pad, size, sig) for m, n, size in ((m_y, h, src.shape[0]),
                                                                                      (m_x, w, src.shape[1]))]
    norm = np.maximum(np.outer(*cover), 1e-3) ** 2
    out = np.empty((len(np.asarray(g).reshape(-1, 2)), m_y, m_x))
    for k, (gy, gx) in enumerate(np.asarray(g, dtype=float).reshape(-1, 2)):
        ky, kx = gy * h * p, gx * w * p  # g in pixels of the spectrum
        iy, ix = (int(round(ky)) + off_y) % h, (int(round(kx)) + off_x) % w
        ry = (int(round(ky)) + off_y - ky) / (h * p)  # frequency relative to g, cycles/Å
        rx = (int(round(kx)) + off_x - kx) / (w * p)
        win = np.exp(-0.5 * (ry[:, None] ** 2 + rx[None, :] ** 2) / sk**2)
        out[k] = np.abs(np.fft.ifft2(f[np.ix_(iy, ix)] * win)) ** 2 / norm
    rows = np.arange(pad, pad + src.shape[0]) * (m_y / h)
    cols = np.arange(pad, pad + src.shape[1]) * (m_x / w)
    coords = np.stack(np.meshgrid(rows, cols, indexing="ij"))

    def upsample(coarse):
        return map_coordinates(coarse, coords, order=1, mode="grid-wrap")

    return out, upsample


def _inside_share(t, size, sigma):
    """Share of a Gaussian (standard deviation ``sigma`` pixels) centred at pixel ``t`` that falls on pixels 0..size-1."""
    from scipy.special import erf

    r = math.sqrt(2.0) * sigma
    return 0.5 * (erf((size - 0.5 - t) / r) - erf((-0.5 - t) / r))
