"""Particles apart from vacuum and support: where the image shows a resolved lattice, and bright regions that do not.

:func:`segment_particles` labels the particles of an image.  A region is a
*resolved* particle where the image's power at its lattice frequencies (the
sharp peaks of its spectrum, :func:`~.spectrum.lattice_peaks`) is both strong
(a share of the strongest lattice region's) and far above its power at other
frequencies of the same magnitude (an amorphous support or noise spread their
power evenly; a crystal concentrates it).  A region brighter than vacuum and
support (the smoothed intensity, mass-thickness contrast) without a resolved
lattice is an *unresolved* particle: off its zone axis, or no crystal at all;
columns are not looked for there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..fitting.validation import _check_image, _check_pixel_size
from .spectrum import lattice_peaks, lock_in

#: a resolved particle's lattice power is at least this share of the strongest lattice region's
#: (the edge of a crystal seen through the Gaussian window has ~1/4 of its interior's power)
POWER_SHARE = 0.2
#: and at least this many times its power at other frequencies of the same magnitude
LATTICE_CONTRAST = 10.0
#: the lock-in window, in spacings of the largest lattice spacing
WINDOW_SPACINGS = 2.0
#: a resolved particle's rim: pixels (smoothed over half a spacing) this share of the way from the background to
#: the particle's median, within one window of its lattice
RIM_SHARE = 0.2
#: a peak joins the lattice frequencies when it holds at least this share of the strongest peak's contrast
PEAK_SHARE = 0.05


@dataclass
class ParticleMap:
    """Particles of an image (see :func:`segment_particles`).

    Attributes
    ----------
    labels : (H, W) int32 ndarray
        0 off the particles, 1..n one label per particle (a napari Labels layer).
    regions : pandas.DataFrame
        One row per label: ``label``, ``area`` (Å²), ``y``, ``x`` (centroid, Å),
        ``resolved`` (a lattice is seen), ``lattice_contrast`` (median power
        ratio, lattice / other frequencies, in the region), ``intensity``
        (mean of the image there).
    frequencies : (K, 2) ndarray
        The lattice frequencies used (row, col), cycles/Å.
    window : float
        The lock-in window, Å.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> pm = ParticleMap(np.zeros((4, 4), np.int32), pd.DataFrame(
    ...     {"label": [], "resolved": []}), np.zeros((0, 2)), 5.0)
    >>> pm.unresolved
    []
    """

    labels: np.ndarray
    regions: pd.DataFrame
    frequencies: np.ndarray
    window: float

    @property
    def unresolved(self) -> list:
        """Labels of the regions without a resolved lattice (off zone axis, or not crystalline)."""
        return self.regions.loc[~self.regions["resolved"], "label"].astype(int).tolist()


def segment_particles(image, pixel_size, *, window=None, min_area=None, power_share=POWER_SHARE,
                      lattice_contrast=LATTICE_CONTRAST):
    """Label the particles of an image: regions with a resolved lattice, and bright regions without one.

    Parameters
    ----------
    image : (H, W) array
        HAADF image (brighter is more scattering).
    pixel_size : float
        Å per pixel.
    window : float, optional
        Standard deviation (Å) of the window over which the local lattice
        power is measured (the intensity is smoothed over a quarter of it).
        Default 2 × the largest lattice spacing found (≈ 4–8 Å).
    min_area : float, optional
        Smallest particle, Å²; default (2 windows)².
    power_share, lattice_contrast : float
        A pixel is on a resolved particle when its lattice power is at least
        ``power_share`` × the 99th percentile of the image's and at least
        ``lattice_contrast`` × its power at other frequencies of the same magnitude.

    Returns
    -------
    ParticleMap
        ``labels`` (0 off the particles), ``regions`` (one row per
        particle; ``resolved`` False for bright regions without a lattice).

    Examples
    --------
    A lattice in a disc on an empty, noisy image:

    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:200, 0:200] * 0.2
    >>> disc = (yy - 20) ** 2 + (xx - 20) ** 2 < 10**2
    >>> lattice = 1 + np.cos(2 * np.pi * yy / 2.5) * np.cos(2 * np.pi * xx / 2.5)
    >>> img = disc * lattice + np.random.default_rng(0).normal(0, 0.05, disc.shape)
    >>> pm = segment_particles(img, 0.2)
    >>> pm.regions[["label", "resolved"]].values.tolist()
    [[1, True]]
    >>> round(float(np.sqrt(pm.regions["area"][0] / np.pi)), 1)  # Å (the disc: 10 Å; the window blurs its edge)
    10.7
    """
    img, p = _check_image(image), _check_pixel_size(pixel_size)
    g, strength = lattice_peaks(img, p)
    if len(g):
        g = g[strength >= PEAK_SHARE * strength.max()][:12]
    win = float(window) if window is not None else (
        WINDOW_SPACINGS / float(np.linalg.norm(g, axis=1).min()) if len(g) else 5.0)
    area_min = float(min_area) if min_area is not None else (2.0 * win) ** 2
    if len(g):
        power, contrast = _lattice_maps(img, p, g, win)
        crystal = (power >= power_share * np.percentile(power, 99.0)) & (contrast >= lattice_contrast)
    else:
        contrast = np.zeros(img.shape)
        crystal = np.zeros(img.shape, dtype=bool)
    crystal = _clean(crystal, area_min / p**2)
    light = _smoothed(img, p, win / (2 * WINDOW_SPACINGS))  # over half a lattice spacing
    bright = _bright(light, crystal)
    # a resolved particle reaches out to its dim rim columns: the bright pixels within one window of its lattice
    fine = _bright(light, crystal, RIM_SHARE)
    crystal = _clean(crystal | (fine & _grow(crystal, win / p)), area_min / p**2)
    bright = _clean(bright & ~_grow(crystal, win / p), area_min / p**2)
    labels, regions = _label_regions(img, p, crystal, bright, contrast)
    return ParticleMap(labels, regions, g, win)


def _smoothed(img, p, window):
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img, window / p, mode="nearest")


def _lattice_maps(img, p, g, window):
    """Lattice power (max over the lattice frequencies) and its contrast over other frequencies of each magnitude."""
    offs = [_off_peak(gi, g, window) for gi in g]
    maps, upsample = lock_in(img, p, np.vstack([g, *offs]), window)
    power, rest = maps[: len(g)], maps[len(g) :]
    bounds = np.cumsum([0] + [len(o) for o in offs])
    refs = np.stack([rest[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])
    ratio = power / np.maximum(refs, 1e-300)
    best = np.argmax(power, axis=0)
    return upsample(power.max(axis=0)), upsample(np.take_along_axis(ratio, best[None], axis=0)[0])


def _off_peak(gi, g, window, n=4):
    """``n`` frequencies of the magnitude of ``gi`` away from every lattice frequency (±g) by 5 window widths."""
    sk = 1.0 / (2.0 * math.pi * window)
    allg = np.vstack([g, -g])
    rad, ang = float(np.linalg.norm(gi)), math.atan2(gi[0], gi[1])
    out = []
    for da in np.radians(np.arange(5.0, 180.0, 5.0)):
        for a in (ang + da, ang - da):
            v = rad * np.array([math.sin(a), math.cos(a)])
            if np.min(np.linalg.norm(allg - v, axis=1)) > 5 * sk:
                out.append(v)
    if not out:  # a dense set of peaks: the ring 1.5× further out
        return _off_peak(1.5 * np.asarray(gi), g, window, n)
    return np.array(out[:: max(1, len(out) // n)][:n])


def _bright(smooth, crystal, share=0.5):
    """Regions as bright as the resolved particles: ``share`` of the way from the rest's median to theirs (Otsu if none)."""
    from skimage.filters import threshold_otsu

    if crystal.any() and (~crystal).any():
        low = np.median(smooth[~crystal])
        thr = low + share * (np.median(smooth[crystal]) - low)
    else:
        thr = threshold_otsu(smooth)
    return smooth > thr


def _grow(mask, radius_px):
    from scipy.ndimage import distance_transform_edt

    return distance_transform_edt(~mask) <= radius_px if mask.any() else mask


def _clean(mask, min_pixels):
    """Holes filled, regions smaller than ``min_pixels`` removed."""
    from scipy.ndimage import binary_fill_holes
    from skimage.morphology import remove_small_objects

    if not mask.any():
        return mask
    return remove_small_objects(binary_fill_holes(mask), max_size=max(1, int(min_pixels)))


def _label_regions(img, p, crystal, bright, contrast):
    """One label per connected region, resolved ones first, and their table."""
    from skimage.measure import label, regionprops

    lab_c = label(crystal, connectivity=2)
    lab_b = label(bright, connectivity=2)
    labels = np.where(lab_b > 0, lab_b + lab_c.max(), lab_c).astype(np.int32)
    rows = []
    for r in regionprops(labels, intensity_image=img):
        inside = labels == r.label
        rows.append({"label": int(r.label), "area": float(r.area * p**2), "y": float(r.centroid[0] * p),
                     "x": float(r.centroid[1] * p), "resolved": bool(r.label <= lab_c.max()),
                     "lattice_contrast": float(np.median(contrast[inside])),
                     "intensity": float(r.intensity_mean)})
    cols = ["label", "area", "y", "x", "resolved", "lattice_contrast", "intensity"]
    return labels, pd.DataFrame(rows, columns=cols)
