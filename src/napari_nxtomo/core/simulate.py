"""Synthetic HAADF-STEM images: the ground truth every later step must recover.

Model
-----
An atomistic model (positions in Å, element symbols) is projected along a
zone axis (:class:`~napari_nxtomo.core.geometry.ProjectionGeometry`); atoms
on one line along the beam form a column.  Each column is drawn as a 2D
Gaussian of standard deviation ``probe_fwhm / (2 sqrt(2 ln 2))`` whose
integral is the column's *scattering cross-section* σ (Å²), given by
:class:`CrossSectionModel`:

    S = s0 * Σ_e n_e (Z_e / 82)^γ                       (linear, kinematic)
    σ = σ_sat * (1 - exp(-S / σ_sat))                   (channelling)

so σ grows with the number of atoms and their atomic number Z, and less than
linearly with the count (a heavier or thicker column gains less per added
atom, as channelling along the column makes it).

The image is the fraction of the incident beam scattered onto the detector
per pixel: ``I = b + Σ_c σ_c P_c / A_pix`` where ``P_c`` is the probability
mass of column c's Gaussian integrated over the pixel (exact error-function
integrals, so Σ_pixels (I - b) A_pix = Σ_c σ_c) and ``A_pix`` is the pixel
area.  With noise, the number of detected electrons in a pixel is
Poisson(I · dose · A_pix) and the image returned is that count divided by
``dose · A_pix`` (same units as without noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np
import pandas as pd

from .geometry import ProjectionGeometry

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def atomic_number(symbol: str) -> int:
    """Atomic number of an element symbol (via xraydb).

    Examples
    --------
    >>> atomic_number("Pb"), atomic_number("Se")
    (82, 34)
    """
    import xraydb

    try:
        return int(xraydb.atomic_number(symbol))
    except Exception as exc:  # xraydb raises various errors for unknown symbols
        raise ValueError(f"unknown element symbol {symbol!r}") from exc


@dataclass(frozen=True)
class CrossSectionModel:
    """Scattering cross-section of a column from its atom counts.

    Parameters
    ----------
    s0 : float
        Cross-section of a single atom of Z = 82 (Pb), Å².
    exponent : float
        γ in the Z^γ dependence (1.6-2 for HAADF).
    saturation : float or None
        σ_sat in Å²: the cross-section a very thick column tends to.  None
        makes the model linear in the counts.

    Examples
    --------
    >>> model = CrossSectionModel()
    >>> [round(float(v), 4) for v in model.cross_section({"Pb": [1, 5], "Se": [0, 5]})]  # Å²
    [0.0198, 0.1152]
    >>> round(float(CrossSectionModel(saturation=None).cross_section({"Pb": [10]})[0]), 4)
    0.2
    """

    s0: float = 0.02
    exponent: float = 1.7
    saturation: float | None = 1.0

    def atom_weight(self, symbol: str) -> float:
        """Linear (single-atom) cross-section of one atom, Å²."""
        return self.s0 * (atomic_number(symbol) / 82.0) ** self.exponent

    def cross_section(self, counts: dict) -> np.ndarray:
        """σ (Å²) of columns with the given counts.

        Parameters
        ----------
        counts : dict of str to array
            Element symbol to the number of atoms of that element in each
            column (arrays of one length).
        """
        s = 0.0
        for el, n in counts.items():
            s = s + self.atom_weight(el) * np.asarray(n, dtype=float)
        s = np.asarray(s, dtype=float)
        if self.saturation is None:
            return s
        return self.saturation * -np.expm1(-s / self.saturation)


@numba.njit(cache=True)
def render_gaussians(shape_y, shape_x, ys, xs, volumes, sigmas, n_sigma=7.0):
    """Sum of pixel-integrated 2D Gaussians.

    Parameters
    ----------
    shape_y, shape_x : int
        Image shape in pixels.
    ys, xs : (M,) float arrays
        Centres in pixel units (pixel i spans [i - 0.5, i + 0.5]).
    volumes : (M,) float array
        Integral of each Gaussian over the plane, in (image units · pixel²).
    sigmas : (M,) float array
        Standard deviation of each Gaussian, pixels.
    n_sigma : float
        Half-width of the window drawn around each centre, in sigmas.

    Returns
    -------
    (shape_y, shape_x) float64 ndarray
    """
    out = np.zeros((shape_y, shape_x))
    for m in range(ys.shape[0]):
        s = sigmas[m]
        r = int(math.ceil(n_sigma * s)) + 1
        cy = int(math.floor(ys[m] + 0.5))
        cx = int(math.floor(xs[m] + 0.5))
        y0, y1 = max(cy - r, 0), min(cy + r + 1, shape_y)
        x0, x1 = max(cx - r, 0), min(cx + r + 1, shape_x)
        if y0 >= y1 or x0 >= x1:
            continue
        k = 1.0 / (math.sqrt(2.0) * s)
        py = np.empty(y1 - y0)
        for i in range(y0, y1):
            py[i - y0] = 0.5 * (math.erf((i + 0.5 - ys[m]) * k) - math.erf((i - 0.5 - ys[m]) * k))
        px = np.empty(x1 - x0)
        for j in range(x0, x1):
            px[j - x0] = 0.5 * (math.erf((j + 0.5 - xs[m]) * k) - math.erf((j - 0.5 - xs[m]) * k))
        v = volumes[m]
        for i in range(y1 - y0):
            a = v * py[i]
            for j in range(x1 - x0):
                out[y0 + i, x0 + j] += a * px[j]
    return out


def column_type(elements) -> str:
    """Name of a column type from the elements it holds, heaviest first: ``"Pb+Se"``.

    Examples
    --------
    >>> column_type(["Se", "Pb", "Se"]), column_type(["Cd"])
    ('Pb+Se', 'Cd')
    """
    uniq = sorted(set(elements), key=lambda e: (-atomic_number(e), e))
    return "+".join(uniq)


@dataclass
class SimulatedImage:
    """A synthetic HAADF-STEM image and its ground truth.

    Attributes
    ----------
    image : (H, W) ndarray
        The image, as fraction of the incident beam per pixel (noisy if noise
        was on).
    expected : (H, W) ndarray
        The noise-free image.
    pixel_size : float
        Å per pixel (square pixels).
    columns : pandas.DataFrame
        One row per true column: ``y``, ``x`` (Å in the image, pixel (0, 0)
        at the origin), ``type``, ``n_<El>`` for every element of the model,
        ``n_atoms``, ``cross_section`` (Å²), ``width`` (Gaussian standard
        deviation, Å).
    atom_column : (N,) ndarray of int
        Row of ``columns`` that each atom of the model falls in.
    geometry : ProjectionGeometry
    dose : float
        Electrons per Å² (``inf`` without noise).
    background : float
        Constant background, fraction of the incident beam.
    probe_fwhm : float
        Probe (column) full width at half maximum, Å.
    model : CrossSectionModel
    origin : (2,) ndarray
        Image position (row, col, Å) of the model's origin (0, 0, 0).

    Examples
    --------
    >>> column = [(3.06 * k, 0.0, 0.0) for k in range(6)]  # six Pb atoms along [100]
    >>> sim = simulate_haadf(column, ["Pb"] * 6, ProjectionGeometry((1, 0, 0)), shape=(40, 40), dose=1e4, seed=0)
    >>> sim.image.shape, round(sim.counts_per_pixel)  # incident electrons per 0.2 Å pixel
    ((40, 40), 400)
    >>> sim.columns[["n_Pb", "n_atoms"]].to_numpy().tolist()
    [[6, 6]]
    """

    image: np.ndarray
    expected: np.ndarray
    pixel_size: float
    columns: pd.DataFrame
    atom_column: np.ndarray
    geometry: ProjectionGeometry
    dose: float
    background: float
    probe_fwhm: float
    model: CrossSectionModel
    origin: np.ndarray
    name: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def counts_per_pixel(self) -> float:
        """Incident electrons per pixel: image × this = detected electrons."""
        return self.dose * self.pixel_size**2

    def layer_metadata(self) -> dict:
        """What a napari image layer of this image carries in ``metadata``."""
        md = {
            "zone_axis": tuple(int(v) for v in self.geometry.zone_axis),
            "tilt_axis": tuple(int(v) for v in self.geometry.tilt_axis),
            "tilt_direction": tuple(float(v) for v in self.geometry.tilt_direction),
            "image_rotation_deg": float(self.geometry.image_rotation),
            "pixel_size_A": float(self.pixel_size),
            "dose_e_per_A2": float(self.dose),
            "probe_fwhm_A": float(self.probe_fwhm),
            "background": float(self.background),
            "intensity_units": "fraction of the incident beam per pixel",
            "synthetic": True,
        }
        md.update(self.metadata)
        return md


def simulate_haadf(
    positions,
    elements,
    geometry: ProjectionGeometry,
    *,
    pixel_size: float = 0.2,
    shape: tuple | None = None,
    origin=None,
    margin: float = 10.0,
    probe_fwhm: float = 1.0,
    dose: float = 5e4,
    background: float = 0.01,
    model: CrossSectionModel | None = None,
    noise: bool = True,
    seed=None,
    column_tolerance: float = 0.05,
    name: str = "",
) -> SimulatedImage:
    """Render a synthetic HAADF-STEM image of an atomistic model.

    Parameters
    ----------
    positions : (N, 3) array
        Atom positions in Å, crystal frame (x, y, z).
    elements : (N,) sequence of str
        Element symbols.
    geometry : ProjectionGeometry
        Zone axis, tilt axis and in-plane rotation.
    pixel_size : float
        Å per pixel.
    shape : (H, W), optional
        Image shape in pixels; default: the projected model plus ``margin``
        on every side.
    origin : (row, col), optional
        Where (Å in the image) the model origin (0, 0, 0) lands; default: the
        projected model is centred in the image.
    margin : float
        Empty border around the model when ``shape`` is not given, Å.
    probe_fwhm : float
        FWHM of every column's Gaussian, Å.
    dose : float
        Incident electrons per Å² (only used with noise).
    background : float
        Constant background, fraction of the incident beam.
    model : CrossSectionModel, optional
        Cross-section of a column from its counts (default parameters if None).
    noise : bool
        Poisson noise at ``dose``.
    seed : int or numpy Generator, optional
        Random seed of the noise.
    column_tolerance : float
        Atoms closer than this in projection (Å) share a column.
    name : str
        A label for the image.

    Returns
    -------
    SimulatedImage

    Examples
    --------
    One column of six Pb atoms along [100], without noise: the image integrates
    to the column's cross-section (Å²) above the background.

    >>> column = [(3.06 * k, 0.0, 0.0) for k in range(6)]
    >>> sim = simulate_haadf(column, ["Pb"] * 6, ProjectionGeometry((1, 0, 0)), shape=(40, 40), noise=False)
    >>> round(float(sim.columns["cross_section"][0]), 4)
    0.1131
    >>> round(float((sim.image - sim.background).sum() * sim.pixel_size**2), 4)
    0.1131
    """
    positions = np.asarray(positions, dtype=float).reshape(-1, 3)
    elements = np.asarray(elements).astype(str)
    if len(positions) == 0:
        raise ValueError("the model has no atoms")
    if len(elements) != len(positions):
        raise ValueError(f"{len(positions)} positions but {len(elements)} elements")
    if pixel_size <= 0 or probe_fwhm <= 0:
        raise ValueError("pixel_size and probe_fwhm must be positive (Å)")
    if noise and not dose > 0:
        raise ValueError(f"dose must be positive (electrons per Å²), got {dose}")
    model = model or CrossSectionModel()

    labels, centres = geometry.group_columns(positions, column_tolerance)
    m = len(centres)
    species = sorted(set(elements), key=lambda e: (-atomic_number(e), e))
    counts = {el: np.bincount(labels[elements == el], minlength=m) for el in species}
    sigma_cs = model.cross_section(counts)

    yx = centres
    if shape is None:
        lo, hi = yx.min(axis=0) - margin, yx.max(axis=0) + margin
        shape = tuple(int(v) for v in np.ceil((hi - lo) / pixel_size) + 1)
    shape = tuple(int(v) for v in shape)
    if origin is None:
        mid = 0.5 * (yx.min(axis=0) + yx.max(axis=0))
        origin = (np.asarray(shape) - 1) * pixel_size / 2.0 - mid
    origin = np.asarray(origin, dtype=float)
    yx = yx + origin

    width = probe_fwhm * FWHM_TO_SIGMA
    a_pix = pixel_size**2
    expected = background + render_gaussians(
        shape[0],
        shape[1],
        yx[:, 0] / pixel_size,
        yx[:, 1] / pixel_size,
        sigma_cs / a_pix,
        np.full(m, width / pixel_size),
    )
    if noise:
        rng = np.random.default_rng(seed)
        image = rng.poisson(expected * dose * a_pix) / (dose * a_pix)
    else:
        dose = float("inf")
        image = expected.copy()

    per_column_elements = [[el for el in species if counts[el][c] > 0] for c in range(m)]
    table = {"y": yx[:, 0], "x": yx[:, 1], "type": [column_type(e) for e in per_column_elements]}
    for el in species:
        table[f"n_{el}"] = counts[el]
    table["n_atoms"] = np.bincount(labels, minlength=m)
    table["cross_section"] = sigma_cs
    table["width"] = np.full(m, width)
    columns = pd.DataFrame(table)

    return SimulatedImage(
        image=image,
        expected=expected,
        pixel_size=float(pixel_size),
        columns=columns,
        atom_column=labels,
        geometry=geometry,
        dose=float(dose),
        background=float(background),
        probe_fwhm=float(probe_fwhm),
        model=model,
        origin=origin,
        name=name,
    )
