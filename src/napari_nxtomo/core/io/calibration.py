"""From a raw signal to a calibrated image: numeric pixels, image axes last, axes in Å."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .files import _fail
from .signals import ImageData, _Axis, _image_axis_positions, _Signal
from .units import _NO_UNIT, UNIT_PIXEL, _normalise_unit, length_unit_factor


def _to_gray(path: Path, data: np.ndarray, what: str) -> np.ndarray:
    """A colour image whose channels are all equal -> one channel."""
    channels = [data[..., c] for c in range(min(data.shape[-1], 3))]
    if all(np.array_equal(channels[0], c) for c in channels[1:]):
        return np.ascontiguousarray(channels[0])
    raise _fail(
        path,
        f"{what} is a colour (RGB) image, not a detector signal",
        "Export the raw grayscale image from the instrument software "
        "(e.g. .dm4, .emd or a 16/32-bit grayscale TIFF)",
    )


def _as_numeric_array(path: Path, sig: _Signal, what: str) -> tuple[np.ndarray, list[_Axis], list[str]]:
    """The pixels as a numeric numpy array (grey from equal RGB, float16 -> float32), its axes and notes."""
    notes: list[str] = []
    data = sig.data
    if type(data) is not np.ndarray:  # memmap, dask, h5py dataset ...
        data = np.array(data)
    axes = list(sig.axes)
    if data.dtype.names:  # structured dtype: DM RGB(A) images
        names = [n for n in data.dtype.names if n.upper() in ("R", "G", "B")]
        if len(names) != 3:
            raise _fail(
                path,
                f"{what} has an unsupported compound pixel type {data.dtype}",
                "Export the image as a plain grayscale image",
            )
        rgb = np.stack([data[n] for n in names], axis=-1)
        data = _to_gray(path, rgb, what)
        notes.append("RGB image with equal channels read as grayscale")
    elif axes and axes[-1].name == "S":  # TIFF samples axis (RGB)
        if data.shape[-1] == 1:
            data = data[..., 0]
        else:
            data = _to_gray(path, data, what)
            notes.append("RGB image with equal channels read as grayscale")
        axes = axes[:-1]
    if np.iscomplexobj(data):
        raise _fail(
            path,
            f"{what} holds complex numbers (an FFT or a wave function?), "
            "not an intensity image",
            "Open the real-space intensity image instead, or convert it "
            "(e.g. np.abs) and save it as .npy/.tif",
        )
    if data.dtype == object or not (
        np.issubdtype(data.dtype, np.number) or data.dtype == bool
    ):
        raise _fail(
            path,
            f"{what} has a non-numeric pixel type {data.dtype}",
            "Export the image as a plain grayscale image",
        )
    if data.dtype == np.float16:  # storage format only; napari/numba dislike it
        data = data.astype(np.float32)
        notes.append("float16 pixels converted to float32")
    return data, axes, notes


def _image_axes_last(
    path: Path, data: np.ndarray, axes: list[_Axis], what: str, notes: list[str]
) -> tuple[np.ndarray, list[_Axis]]:
    """Move the two image axes to the end of the array (noted in `notes` when they move)."""
    pos = _image_axis_positions(axes)
    if pos is None:  # pragma: no cover - filtered before
        raise _fail(path, f"{what} is not an image")
    order = [i for i in range(len(axes)) if i not in pos] + pos
    if order != list(range(len(axes))):
        data = np.moveaxis(data, pos, [-2, -1])
        axes = [axes[i] for i in order]
        notes.append("image axes moved to the end of the array")
    return data, axes


def _axis_in_angstrom(
    ax: _Axis,
    is_image_axis: bool,
    assume_unit: str | None,
    warnings: list[str],
    unitless: list[str],
) -> tuple[float, str, bool]:
    """Pixel size and unit of one axis in Å (or Å⁻¹), else (1, 'pixel').

    Returns (scale, unit, assumed), ``assumed`` True when `assume_unit` was
    used. A problem is appended to `warnings`; an image axis with a scale
    but no unit goes to `unitless` (reported once for all axes).
    """
    unit = ax.units
    assumed = False
    if (
        assume_unit is not None
        and is_image_axis
        and _normalise_unit(unit) in _NO_UNIT
        and not math.isclose(ax.scale, 1.0)
    ):
        unit, assumed = assume_unit, True
    conv = length_unit_factor(unit)
    if conv is not None and np.isfinite(ax.scale) and ax.scale > 0:
        factor, u = conv
        return float(ax.scale * factor), u, assumed
    norm = _normalise_unit(unit)
    if is_image_axis and norm in _NO_UNIT and not math.isclose(ax.scale, 1.0):
        unitless.append(f"{ax.name!r} ({ax.scale!r})")
    elif is_image_axis and norm not in _NO_UNIT:
        warnings.append(
            f"image axis {ax.name!r} has unit {unit!r}, which is not a "
            "length; treated as uncalibrated (1 pixel)"
        )
    elif conv is not None:
        warnings.append(
            f"axis {ax.name!r} has an invalid scale {ax.scale!r}; "
            "treated as uncalibrated (1 pixel)"
        )
    return 1.0, UNIT_PIXEL, assumed


def _calibrate_axes(
    data: np.ndarray, axes: list[_Axis], assume_unit: str | None
) -> tuple[list[float], list[str], list[dict], list[str]]:
    """Per-axis scale and unit in Å, the ``metadata['axes']`` entries, and the warnings."""
    warnings: list[str] = []
    unitless: list[str] = []
    scale, units, axes_md = [], [], []
    for k, ax in enumerate(axes):
        s, u, assumed = _axis_in_angstrom(ax, k >= len(axes) - 2, assume_unit, warnings, unitless)
        scale.append(s)
        units.append(u)
        axes_md.append(
            {
                "name": ax.name,
                "size": int(data.shape[k]),
                "navigate": ax.navigate,
                "file_scale": ax.scale,
                "file_offset": ax.offset,
                "file_units": ax.units,
                "assumed_units": assume_unit if assumed else None,
                "scale": s,
                "units": u,
            }
        )
    if unitless:
        warnings.append(
            f"image axes {', '.join(unitless)} carry a scale but no unit; "
            "treated as uncalibrated (1 pixel). If you know the unit, pass "
            "assume_unit='nm' (or the right unit) to load_image/read_images"
        )
    sy, sx = scale[-2], scale[-1]
    if not math.isclose(sy, sx, rel_tol=1e-6):
        warnings.append(
            f"pixels are not square ({sy!r} x {sx!r} {units[-1]}); "
            "pixel_size_A is the column (x) size, use metadata['scale']"
        )
    return scale, units, axes_md, warnings


def _calibrate(
    path: Path,
    sig: _Signal,
    index: int,
    assume_unit: str | None,
) -> ImageData:
    """The image `index` of a file from its raw signal: numeric, image axes last, in Å."""
    what = f"image {index}" + (f" ({sig.title!r})" if sig.title else "")
    data, axes, notes = _as_numeric_array(path, sig, what)
    data, axes = _image_axes_last(path, data, axes, what, notes)
    scale, units, axes_md, warnings = _calibrate_axes(data, axes, assume_unit)
    calibrated = units[-1] != UNIT_PIXEL and units[-2] != UNIT_PIXEL
    title = sig.title
    metadata = {
        "scale": tuple(scale),
        "units": tuple(units),
        "pixel_size_A": float(scale[-1]),
        "calibrated": bool(calibrated),
        "source": path.name,
        "path": str(path),
        "format": sig.fmt,
        "reader": sig.reader,
        "title": title,
        "index": index,
        "axes": axes_md,
        "notes": notes,
        "warnings": warnings,
        "skipped": [],
        "original_metadata": sig.original_metadata,
    }
    metadata.update(_geometry_from_info(sig.original_metadata))
    return ImageData(
        data=data,
        scale=tuple(scale),
        units=tuple(units),
        name=title or path.stem,
        metadata=metadata,
    )


#: geometry keys of the plugin's own files (ImageJ "Info" JSON written by the demo and the CLI)
GEOMETRY_KEYS = ("zone_axis", "tilt_axis", "tilt_direction", "image_rotation_deg")
#: what the image says of its crystal, optics and dose (same Info JSON; the counting's library is chosen by them):
#: energy_keV, convergence_mrad (semi-angle), detector_mrad [inner, outer], dose_e_per_A2 (e/Å²), elements
#: (["Pb", "Se"]), crystal ("PbSe"), intensity_units ("detected electrons per pixel" makes the dose usable),
#: lattice_parameter (Å) and structure ("rocksalt"; with the zone axis they give the column spacing); a core-shell
#: particle's shell_crystal ("CdSe": the library its shell's columns are counted with)
OPTICS_KEYS = ("energy_keV", "convergence_mrad", "detector_mrad", "dose_e_per_A2", "elements", "crystal",
               "intensity_units", "lattice_parameter", "structure", "shell_crystal")


def _geometry_from_info(original: dict) -> dict:
    """Geometry (zone axis, tilt axis, image rotation) and optics of the image, from its file's metadata.

    The plugin's own ImageJ TIFFs store :data:`GEOMETRY_KEYS` and
    :data:`OPTICS_KEYS` in their Info JSON; RosettaSciIO files (EMD, DM, ...)
    give the beam energy (keV) and convergence semi-angle (mrad) of their
    ``Acquisition_instrument.TEM`` metadata.
    """
    out = _optics_from_rsciio(original)
    info = ((original or {}).get("imagej") or {}).get("Info")
    if not isinstance(info, str) or not info.lstrip().startswith("{"):
        return out
    try:
        d = json.loads(info)
    except ValueError:
        return out
    for k in GEOMETRY_KEYS + OPTICS_KEYS:
        if k in d and d[k] is not None:
            v = d[k]
            out[k] = tuple(v) if isinstance(v, list) and k in GEOMETRY_KEYS else v
    return out


def _optics_from_rsciio(original: dict) -> dict:
    """``energy_keV`` and ``convergence_mrad`` of a RosettaSciIO signal's ``Acquisition_instrument.TEM``."""
    tem = (((original or {}).get("metadata") or {}).get("Acquisition_instrument") or {}).get("TEM") or {}
    out = {}
    for key, name in (("beam_energy", "energy_keV"), ("convergence_angle", "convergence_mrad")):
        try:
            value = float(tem[key])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(value) and value > 0:
            out[name] = value
    return out
