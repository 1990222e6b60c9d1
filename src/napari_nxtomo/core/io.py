"""Read calibrated microscope images into numpy arrays (no Qt, no napari).

Every reader returns arrays in napari order: the two image axes (row, col) =
(y, x) are the last two axes of the array; any other axes (frames of a
stack, a scan position of a 4D data set, ...) come first. Lengths are
converted to ångström (Å), reciprocal lengths to Å⁻¹.

Supported files
---------------
============================  ==========================================
extension                     read with
============================  ==========================================
``.dm3``, ``.dm4``            ``rsciio.digitalmicrograph`` (Gatan)
``.emd``                      ``rsciio.emd`` (Thermo Fisher Velox and
                              Berkeley/NCEM variants)
``.ser``                      ``rsciio.tia`` (FEI TIA)
``.mrc``                      ``rsciio.mrc``
``.hspy``, ``.hdf5``          ``rsciio.hspy`` (HyperSpy HDF5); an
                              ``.hdf5`` in Berkeley EMD layout is read
                              with ``rsciio.emd``
``.tif``, ``.tiff``           ``tifffile``: ImageJ calibration
                              (XResolution/YResolution and the ImageJ
                              ``unit``) and OME-TIFF calibration
                              (``PhysicalSizeX/Y/Z``)
``.npy``                      ``numpy.load`` (uncalibrated)
============================  ==========================================

Everything that goes wrong (unknown extension, missing or damaged file, no
image in the file, complex or colour data) raises :class:`ValueError` with a
message that names the file, the reason and what to do.
"""

from __future__ import annotations

import json

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ImageData",
    "SUPPORTED_EXTENSIONS",
    "is_supported",
    "length_unit_factor",
    "load_image",
    "read_images",
]

#: File extensions :func:`read_images` understands (lower case, with dot).
SUPPORTED_EXTENSIONS: tuple[str, ...] = (
    ".dm3",
    ".dm4",
    ".emd",
    ".ser",
    ".mrc",
    ".hspy",
    ".hdf5",
    ".tif",
    ".tiff",
    ".npy",
)

#: Unit string used for axes in ångström, in reciprocal ångström, and for
#: axes without a length calibration.
UNIT_LENGTH = "Å"
UNIT_RECIPROCAL = "1/Å"
UNIT_PIXEL = "pixel"

# Size of one unit in ångström. Keys are normalised by `_normalise_unit`
# (lower case, no spaces, micro sign -> 'u', ångström sign -> 'a').
_LENGTH_IN_ANGSTROM = {
    "m": 1e10,
    "meter": 1e10,
    "meters": 1e10,
    "metre": 1e10,
    "metres": 1e10,
    "cm": 1e8,
    "mm": 1e7,
    "millimeter": 1e7,
    "millimetre": 1e7,
    "um": 1e4,
    "micron": 1e4,
    "microns": 1e4,
    "micrometer": 1e4,
    "micrometers": 1e4,
    "micrometre": 1e4,
    "micrometres": 1e4,
    "nm": 10.0,
    "nanometer": 10.0,
    "nanometers": 10.0,
    "nanometre": 10.0,
    "nanometres": 10.0,
    "a": 1.0,
    "ang": 1.0,
    "angstrom": 1.0,
    "angstroms": 1.0,
    "pm": 1e-2,
    "picometer": 1e-2,
    "picometers": 1e-2,
    "picometre": 1e-2,
    "picometres": 1e-2,
    "fm": 1e-5,
}

# Unit strings that mean "no calibration".
_NO_UNIT = {"", "<undefined>", "undefined", "[]", "none", "pixel", "pixels", "px", "pix"}

_FORMAT_NAMES = {
    ".dm3": "Gatan DigitalMicrograph 3",
    ".dm4": "Gatan DigitalMicrograph 4",
    ".emd": "EMD",
    ".ser": "FEI TIA (.ser)",
    ".mrc": "MRC",
    ".hspy": "HyperSpy HDF5",
    ".hdf5": "HyperSpy HDF5",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".npy": "NumPy .npy",
}


@dataclass
class ImageData:
    """One image (or stack of images) read from a file.

    Attributes
    ----------
    data : numpy.ndarray, shape (..., n_rows, n_cols)
        The pixel values; the last two axes are the image (y, x), any
        leading axes are frames or scan positions.
    scale : tuple of float, length ``data.ndim``
        Size of one pixel along each array axis: Å for length axes, Å⁻¹ for
        reciprocal-length axes, 1 for axes without a length calibration.
        This is what a napari layer's ``scale`` should be.
    units : tuple of str, length ``data.ndim``
        ``'Å'``, ``'1/Å'`` or ``'pixel'`` per axis.
    name : str
        Title of the image in the file (the file stem when it has none).
    metadata : dict
        See :func:`read_images` for the keys.
    """

    data: np.ndarray
    scale: tuple[float, ...]
    units: tuple[str, ...]
    name: str
    metadata: dict = field(default_factory=dict)


# --------------------------------------------------------------------------
# units


def _normalise_unit(unit: Any) -> str:
    if unit is None:
        return ""
    if isinstance(unit, bytes):
        unit = unit.decode("utf-8", "replace")
    s = str(unit).strip()
    # ImageJ writes non-ASCII characters as literal escapes, e.g. '\u00B5m'.
    s = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), s)
    s = s.replace("\u00b5", "u").replace("\u03bc", "u")  # micro sign, mu
    s = s.replace("\u00c5", "A").replace("\u212b", "A")  # Å, ångström sign
    s = s.replace(" ", "").replace("(", "").replace(")", "")
    return s.lower()


def length_unit_factor(unit: Any) -> tuple[float, str] | None:
    """Conversion factor of a length or reciprocal-length unit.

    Parameters
    ----------
    unit : str
        A unit as files write it: ``'m'``, ``'mm'``, ``'µm'``, ``'um'``,
        ``'micron'``, ``'nm'``, ``'pm'``, ``'Å'``, ``'A'``, ``'angstrom'``
        (and ImageJ's ``'\\u00B5m'``), or the reciprocal of any of these
        written ``'1/nm'``, ``'1 / nm'``, ``'nm^-1'``, ``'nm-1'``,
        ``'nm**-1'`` or ``'nm⁻¹'``.

    Returns
    -------
    (factor, unit) or None
        ``value_in_unit * factor`` is the value in Å (``unit == 'Å'``) or in
        Å⁻¹ (``unit == '1/Å'``). None when `unit` is not a length (time,
        energy, pixel, empty, unknown).

    Examples
    --------
    >>> length_unit_factor("nm")
    (10.0, 'Å')
    >>> length_unit_factor("1/nm")
    (0.1, '1/Å')
    """
    s = _normalise_unit(unit)
    if s in _NO_UNIT:
        return None
    reciprocal = False
    if s.startswith("1/"):
        s, reciprocal = s[2:], True
    else:
        for suffix in ("^-1", "**-1", "\u207b\u00b9", "-1"):
            if s.endswith(suffix):
                s, reciprocal = s[: -len(suffix)], True
                break
    factor = _LENGTH_IN_ANGSTROM.get(s)
    if factor is None:
        return None
    if reciprocal:
        return 1.0 / factor, UNIT_RECIPROCAL
    return float(factor), UNIT_LENGTH


def is_supported(path: str | Path) -> bool:
    """True when the extension of `path` is one :func:`read_images` reads."""
    return Path(str(path)).suffix.lower() in SUPPORTED_EXTENSIONS


# --------------------------------------------------------------------------
# error messages


def _supported_text() -> str:
    return ", ".join(SUPPORTED_EXTENSIONS)


def _fail(path: Path, reason: str, advice: str = "") -> ValueError:
    msg = f"Cannot read {path.name!r}: {reason}"
    if advice:
        msg += f". {advice}"
    return ValueError(msg)


# --------------------------------------------------------------------------
# raw signals: one per image/spectrum/... in a file, before calibration


@dataclass
class _Axis:
    name: str
    size: int
    scale: float
    offset: float
    units: str
    navigate: bool | None


@dataclass
class _Signal:
    data: Any
    axes: list[_Axis]
    title: str
    fmt: str
    reader: str
    original_metadata: dict


def _clean_title(title: Any) -> str:
    if title is None:
        return ""
    title = str(title).strip()
    return "" if title in ("__unnamed__", "<undefined>") else title


def _signal_from_rsciio(path: Path, d: dict, fmt: str, reader: str) -> _Signal:
    data = d["data"]
    shape = tuple(int(n) for n in data.shape)
    raw_axes = [dict(a) for a in d.get("axes", [])]
    if raw_axes and all("index_in_array" in a for a in raw_axes):
        raw_axes.sort(key=lambda a: int(a["index_in_array"]))
    if len(raw_axes) != len(shape):
        raise _fail(
            path,
            f"the reader returned {len(raw_axes)} axes for an array of shape "
            f"{shape}",
            "The file's axis description is inconsistent; re-export it from "
            "the instrument software",
        )
    sizes = tuple(int(a.get("size", n)) for a, n in zip(raw_axes, shape))
    if sizes != shape:
        if tuple(reversed(sizes)) == shape:
            raw_axes = raw_axes[::-1]
        else:
            raise _fail(
                path,
                f"axis sizes {sizes} do not match the data shape {shape}",
                "The file's axis description is inconsistent; re-export it "
                "from the instrument software",
            )
    axes = []
    for i, a in enumerate(raw_axes):
        nav = a.get("navigate")
        axes.append(
            _Axis(
                name=str(a.get("name") or f"axis{i}"),
                size=shape[i],
                scale=float(1.0 if a.get("scale") is None else a["scale"]),
                offset=float(0.0 if a.get("offset") is None else a["offset"]),
                units=str(a.get("units") or ""),
                navigate=None if nav is None else bool(nav),
            )
        )
    md = d.get("metadata") or {}
    title = _clean_title(md.get("General", {}).get("title"))
    return _Signal(
        data=data,
        axes=axes,
        title=title,
        fmt=fmt,
        reader=reader,
        original_metadata={
            "metadata": md,
            "original_metadata": d.get("original_metadata") or {},
        },
    )


def _emd_velox_info(path: Path) -> tuple[bool, list[str]]:
    """Whether an EMD file is a Velox file, and its non-image data groups."""
    import h5py

    skipped = []
    with h5py.File(path, "r") as f:
        velox = "Version" in f and isinstance(f.get("Data"), h5py.Group)
        if not velox:
            return False, skipped
        for key, group in f["Data"].items():
            if key in ("Image", "Text") or len(group) == 0:
                continue  # Text: Velox annotations, not data
            what = {
                "SpectrumImage": "EDS spectrum image",
                "EelsSpectrumImage": "EELS spectrum image",
                "Spectrum": "EDS spectra",
                "SpectrumStream": "raw EDS event stream",
            }.get(key, "non-image data")
            skipped.append(f"Velox group Data/{key} ({what}): not an image")
    return True, skipped


def _hdf5_layout(path: Path) -> str:
    import h5py

    with h5py.File(path, "r") as f:
        if str(f.attrs.get("file_format", "")).lower() == "hyperspy":
            return "hspy"
        if "version_major" in f.attrs or "Version" in f:
            return "emd"
    return "unknown"


def _read_rsciio(path: Path) -> tuple[list[_Signal], list[str]]:
    ext = path.suffix.lower()
    skipped: list[str] = []
    if ext in (".dm3", ".dm4"):
        from rsciio.digitalmicrograph import file_reader

        dicts = file_reader(str(path))
        fmt, reader = _FORMAT_NAMES[ext], "rsciio.digitalmicrograph"
    elif ext == ".ser":
        from rsciio.tia import file_reader

        dicts = file_reader(str(path))
        fmt, reader = _FORMAT_NAMES[ext], "rsciio.tia"
    elif ext == ".mrc":
        from rsciio.mrc import file_reader

        dicts = file_reader(str(path))
        fmt, reader = _FORMAT_NAMES[ext], "rsciio.mrc"
    elif ext in (".emd", ".hspy", ".hdf5"):
        layout = "emd" if ext == ".emd" else _hdf5_layout(path)
        if ext == ".hdf5" and layout == "unknown":
            raise _fail(
                path,
                "this HDF5 file is neither HyperSpy nor EMD",
                "Save the image with HyperSpy (s.save('name.hspy')) or as a TIFF",
            )
        if layout == "emd":
            from rsciio.emd import file_reader

            velox, skipped = _emd_velox_info(path)
            if velox:
                # Only the images: a spectrum image can be gigabytes.
                # (rsciio's docstring says 'image' but the code wants 'images'.)
                try:
                    dicts = file_reader(str(path), select_type="images")
                except ModuleNotFoundError as exc:
                    raise _fail(
                        path,
                        f"this Velox file holds a spectrum image and rsciio "
                        f"needs a missing package to open it ({exc})",
                        "Install it with: pip install 'rosettasciio[eds-stream]'",
                    ) from exc
                fmt = "Thermo Fisher Velox EMD"
            else:
                dicts = file_reader(str(path))
                fmt = "Berkeley EMD (NCEM)"
            reader = "rsciio.emd"
        else:
            from rsciio.hspy import file_reader

            dicts = file_reader(str(path))
            fmt, reader = "HyperSpy HDF5", "rsciio.hspy"
    else:  # pragma: no cover - guarded by the caller
        raise _fail(path, f"no rsciio reader for {ext!r}")
    signals = [_signal_from_rsciio(path, d, fmt, reader) for d in dicts]
    return signals, skipped


# --- TIFF ------------------------------------------------------------------


def _tiff_resolution(page, tag: str) -> float | None:
    """Pixel size in the file's unit from a TIFF X/YResolution tag."""
    t = page.tags.get(tag)
    if t is None:
        return None
    value = t.value
    try:
        if isinstance(value, tuple):
            num, den = float(value[0]), float(value[1])
        else:
            num, den = float(value), 1.0
    except (TypeError, ValueError, IndexError):
        return None
    if num <= 0 or den <= 0:
        return None
    return den / num


def _ome_pixels(ome_xml: str) -> list[dict[str, str]]:
    """Attributes of every OME ``Pixels`` element, in document order."""
    root = ET.fromstring(ome_xml)
    out = []
    for image in root.iter():
        if image.tag.split("}")[-1] != "Image":
            continue
        for child in image:
            if child.tag.split("}")[-1] == "Pixels":
                attrs = dict(child.attrib)
                attrs["_ImageName"] = image.attrib.get("Name", "")
                out.append(attrs)
    return out


_TIFF_TAGS = ("XResolution", "YResolution", "ResolutionUnit", "ImageDescription", "Software", "ImageWidth",
              "ImageLength", "BitsPerSample", "SampleFormat", "PhotometricInterpretation")


def _tiff_tags(page) -> dict:
    """The calibration and description tags of a TIFF page (enum values by name)."""
    tags = {}
    for t in page.tags.values():
        if t.name in _TIFF_TAGS:
            v = t.value
            tags[t.name] = v.name if hasattr(v, "name") else v
    return tags


def _tiff_signal(series, sizes: dict, title: str, fmt: str, original_metadata: dict) -> _Signal:
    """One TIFF series as a signal; ``sizes`` maps an axis code to (pixel size, unit)."""
    axes = []
    for code, n in zip(series.axes, series.shape):
        size, unit = sizes.get(code, (1.0, ""))
        axes.append(_Axis(code, int(n), size, 0.0, unit, None))
    return _Signal(data=series.asarray(), axes=axes, title=title, fmt=fmt, reader="tifffile",
                   original_metadata=original_metadata)


def _ome_signals(tif, tags: dict) -> list[_Signal]:
    """Every series of an OME-TIFF, with the sizes and units of its ``Pixels`` element."""
    pixels = _ome_pixels(tif.ome_metadata)
    signals = []
    for i, series in enumerate(tif.series):
        px = pixels[i] if i < len(pixels) else {}
        sizes = {}
        for ax in "XYZ":
            value = px.get(f"PhysicalSize{ax}")
            if value is not None:
                # OME default unit is the micrometre.
                sizes[ax] = (float(value), px.get(f"PhysicalSize{ax}Unit", "µm"))
        title = _clean_title(px.get("_ImageName") or series.name)
        signals.append(_tiff_signal(series, sizes, title, "OME-TIFF", {"ome_xml": tif.ome_metadata, "tags": tags}))
    return signals


def _plain_tiff_signal(tif, tags: dict) -> _Signal:
    """The first series of an ImageJ or plain TIFF (ImageJ: resolution tags and ``spacing`` as sizes)."""
    series = tif.series[0]
    if not tif.is_imagej:
        return _tiff_signal(series, {}, "", "TIFF", {"tags": tags})
    ij = dict(tif.imagej_metadata or {})
    unit = str(ij.get("unit", ""))
    sizes = {}
    for code, tag in (("X", "XResolution"), ("Y", "YResolution")):
        value = _tiff_resolution(tif.pages[0], tag)
        if value is not None:
            sizes[code] = (value, unit)
    if "spacing" in ij:
        sizes["Z"] = (float(ij["spacing"]), unit)
    return _tiff_signal(series, sizes, "", "ImageJ TIFF", {"imagej": ij, "tags": tags})


def _read_tiff(path: Path) -> tuple[list[_Signal], list[str]]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        tags = _tiff_tags(tif.pages[0])
        if tif.is_ome and tif.ome_metadata:
            return _ome_signals(tif, tags), []
        skipped = [f"TIFF series {s.name!r} {tuple(s.shape)}: only the first series is read" for s in tif.series[1:]]
        return [_plain_tiff_signal(tif, tags)], skipped


# --- npy --------------------------------------------------------------------


def _read_npy(path: Path) -> tuple[list[_Signal], list[str]]:
    data = np.load(path, allow_pickle=False)
    codes = ["Y", "X"] if data.ndim >= 2 else []
    codes = [f"axis{i}" for i in range(data.ndim - len(codes))] + codes
    if data.ndim == 3 and data.dtype == np.uint8 and data.shape[-1] in (3, 4):
        codes = ["Y", "X", "S"]
    axes = [_Axis(c, int(n), 1.0, 0.0, "", None) for c, n in zip(codes, data.shape)]
    return [_Signal(data, axes, "", _FORMAT_NAMES[".npy"], "numpy", {})], []


# --------------------------------------------------------------------------
# from raw signal to calibrated image


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


def _image_axis_positions(axes: list[_Axis]) -> list[int] | None:
    """Array positions of the two image axes, or None if not an image."""
    nav = [a.navigate for a in axes]
    if any(n is not None for n in nav):
        signal = [i for i, n in enumerate(nav) if n is False]
        return signal if len(signal) == 2 else None
    codes = [a.name for a in axes]
    if "Y" in codes and "X" in codes:
        return [codes.index("Y"), codes.index("X")]
    return [len(axes) - 2, len(axes) - 1] if len(axes) >= 2 else None


def _describe(sig: _Signal) -> str:
    title = f"{sig.title!r} " if sig.title else ""
    n_sig = sum(1 for a in sig.axes if a.navigate is False)
    return (
        f"{title}shape {tuple(a.size for a in sig.axes)} with {n_sig} signal "
        f"axis{'es' if n_sig != 1 else ''} (spectrum, spectrum image or "
        "other non-image data)"
    )


def _calibrate(
    path: Path,
    sig: _Signal,
    index: int,
    assume_unit: str | None,
) -> ImageData:
    what = f"image {index}" + (f" ({sig.title!r})" if sig.title else "")
    data, axes, notes = _as_numeric_array(path, sig, what)
    pos = _image_axis_positions(axes)
    if pos is None:  # pragma: no cover - filtered before
        raise _fail(path, f"{what} is not an image")
    order = [i for i in range(len(axes)) if i not in pos] + pos
    if order != list(range(len(axes))):
        data = np.moveaxis(data, pos, [-2, -1])
        axes = [axes[i] for i in order]
        notes.append("image axes moved to the end of the array")

    warnings: list[str] = []
    unitless: list[str] = []
    scale, units, axes_md = [], [], []
    for k, ax in enumerate(axes):
        is_image_axis = k >= len(axes) - 2
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
            s = ax.scale * factor
        else:
            s, u = 1.0, UNIT_PIXEL
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
        scale.append(float(s))
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
                "scale": float(s),
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
    calibrated = units[-1] != UNIT_PIXEL and units[-2] != UNIT_PIXEL
    if not math.isclose(sy, sx, rel_tol=1e-6):
        warnings.append(
            f"pixels are not square ({sy!r} x {sx!r} {units[-1]}); "
            "pixel_size_A is the column (x) size, use metadata['scale']"
        )
    title = sig.title
    metadata = {
        "scale": tuple(scale),
        "units": tuple(units),
        "pixel_size_A": float(sx),
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


def _geometry_from_info(original: dict) -> dict:
    """Zone axis, tilt axis and image rotation stored by this plugin in an ImageJ TIFF's Info."""
    info = ((original or {}).get("imagej") or {}).get("Info")
    if not isinstance(info, str) or not info.lstrip().startswith("{"):
        return {}
    try:
        d = json.loads(info)
    except ValueError:
        return {}
    out = {}
    for k in GEOMETRY_KEYS:
        if k in d:
            v = d[k]
            out[k] = tuple(v) if isinstance(v, list) else v
    return out


# --------------------------------------------------------------------------
# public API


def _check_path(path: str | Path) -> Path:
    if isinstance(path, (list, tuple)):
        raise ValueError(
            f"Cannot read {path!r}: expected one file path, got a "
            f"{type(path).__name__}. Call read_images once per file"
        )
    p = Path(str(path)).expanduser()
    ext = p.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise _fail(
            p,
            f"unsupported extension {ext or '(none)'!r}; supported: {_supported_text()}",
            "Convert the file to one of these (for example with the "
            "instrument software, or save it as .npy or .tif)",
        )
    if not p.exists():
        raise _fail(p, f"no such file ({p.resolve()})", "Check the path")
    if p.is_dir():
        raise _fail(p, "it is a folder, not a file", "Choose one image file inside it")
    return p


def read_images(path: str | Path, *, assume_unit: str | None = None) -> list[ImageData]:
    """Read every image in a microscope file, calibrated in ångström.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.dm3``, ``.dm4``, ``.emd``, ``.ser``, ``.mrc``, ``.hspy``,
        ``.hdf5``, ``.tif``, ``.tiff`` or ``.npy`` file.
    assume_unit : str, optional
        Length unit (e.g. ``'nm'``) for image axes that carry a scale other
        than 1 but no unit, as some HyperSpy files written by older code
        do. By default such axes are treated as uncalibrated and a warning
        is put in ``metadata['warnings']``.

    Returns
    -------
    list of ImageData
        One entry per image signal in the file, in file order. An image
        signal has exactly two signal axes; its array has shape
        ``(..., n_rows, n_cols)`` with the image axes (y, x) last and
        frames or scan positions first (a 2-frame stack is
        ``(2, n_rows, n_cols)``). Spectra and spectrum images are not
        returned; they are listed in ``metadata['skipped']``.

        ``metadata`` holds:

        - ``'scale'``: per-axis pixel size (Å, Å⁻¹ or 1), the napari
          layer scale;
        - ``'units'``: per-axis ``'Å'``, ``'1/Å'`` or ``'pixel'``;
        - ``'pixel_size_A'``: float, size of one image pixel in Å (Å⁻¹ for
          a diffraction pattern, 1.0 when uncalibrated);
        - ``'calibrated'``: False when the image axes carry no length
          calibration (then their scale is 1);
        - ``'source'`` (file name), ``'path'``, ``'format'``, ``'reader'``,
          ``'title'``, ``'index'`` (position among the file's images);
        - ``'axes'``: per axis, the file's own name, scale, offset and
          unit next to the converted ones (offsets are kept here only: the
          layer origin stays at pixel (0, 0));
        - ``'skipped'``: what in the file was not read and why;
        - ``'warnings'``, ``'notes'``: calibration problems and
          conversions made;
        - ``'original_metadata'``: the file's own metadata (for files
          read by RosettaSciIO, its ``'metadata'`` and
          ``'original_metadata'`` dictionaries).

    Raises
    ------
    ValueError
        Unsupported extension, missing, damaged or unreadable file, no
        image in the file, complex-valued or colour data. The message
        names the file, the reason and what to do.
    """
    p = _check_path(path)
    ext = p.suffix.lower()
    try:
        if ext in (".tif", ".tiff"):
            signals, skipped = _read_tiff(p)
        elif ext == ".npy":
            signals, skipped = _read_npy(p)
        else:
            signals, skipped = _read_rsciio(p)
    except ValueError as exc:
        if str(exc).startswith(f"Cannot read {p.name!r}"):
            raise
        raise _damaged(p, exc) from exc
    except Exception as exc:  # any reader failure: damaged or foreign file
        raise _damaged(p, exc) from exc

    images: list[ImageData] = []
    skipped = list(skipped)
    for i, sig in enumerate(signals):
        if _image_axis_positions(sig.axes) is None or any(a.size < 1 for a in sig.axes):
            skipped.append(f"signal {i}: {_describe(sig)}")
            continue
        images.append(_calibrate(p, sig, len(images), assume_unit))
    if not images:
        what = "; ".join(skipped) if skipped else "nothing"
        raise _fail(
            p,
            f"no image in the file (it holds: {what})",
            "Open a file that contains a 2D image or an image stack",
        )
    for im in images:
        im.metadata["skipped"] = list(skipped)
        im.metadata["n_images"] = len(images)
    return images


def _damaged(p: Path, exc: BaseException) -> ValueError:
    fmt = _FORMAT_NAMES.get(p.suffix.lower(), "supported")
    return _fail(
        p,
        f"the file is damaged or is not a valid {fmt} file "
        f"({type(exc).__name__}: {exc})",
        "Check that it was copied completely, or export it again from the "
        "instrument software",
    )


def _preference(title: str) -> int:
    t = title.upper()
    if "HAADF" in t:
        return 0
    if re.search(r"(^|[^A-Z])(ADF|DF\d*|DF-[A-Z]+)([^A-Z]|$)", t) or "ADF" in t:
        return 1
    return 2


def load_image(
    path: str | Path, *, assume_unit: str | None = None
) -> tuple[np.ndarray, float, dict]:
    """Read the main image of a microscope file, calibrated in ångström.

    The main image is the first HAADF image of the file (by title), else
    the first ADF/DF image, else the first image. See :func:`read_images`
    for the formats and for `assume_unit`.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    assume_unit : str, optional
        Length unit for image axes that carry a scale but no unit.

    Returns
    -------
    array : numpy.ndarray, shape (n_rows, n_cols) or (..., n_rows, n_cols)
        Pixel values in (row, col) = (y, x) order; frames first for a
        stack.
    pixel_size_A : float
        Size of one pixel in Å (Å⁻¹ for a diffraction pattern; 1.0 when
        the file carries no calibration, then ``metadata['calibrated']`` is
        False). For non-square pixels this is the column (x) size; use
        ``metadata['scale']``.
    metadata : dict
        ``'scale'`` (per-axis, the napari layer scale), ``'units'``,
        ``'pixel_size_A'``, ``'calibrated'``, ``'source'``, ``'format'``,
        ``'title'``, ``'original_metadata'`` and more; see
        :func:`read_images`.

    Raises
    ------
    ValueError
        When the file cannot be read; the message says why and what to do.

    Examples
    --------
    An ImageJ TIFF calibrated in nm (0.02 nm per pixel) opens in Å:

    >>> import pathlib, tempfile
    >>> import numpy as np, tifffile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "haadf.tif"
    >>> tifffile.imwrite(path, np.zeros((64, 48), np.float32), imagej=True, resolution=(1 / 0.02, 1 / 0.02),
    ...                  metadata={"unit": "nm"})
    >>> image, pixel_size, md = load_image(path)
    >>> image.shape, round(pixel_size, 4), md["units"], md["calibrated"]
    ((64, 48), 0.2, ('Å', 'Å'), True)

    A ``.npy`` array carries no calibration: 1 pixel per pixel.

    >>> np.save(path.with_suffix(".npy"), np.ones((8, 8)))
    >>> image, pixel_size, md = load_image(path.with_suffix(".npy"))
    >>> pixel_size, md["calibrated"]
    (1.0, False)
    """
    images = read_images(path, assume_unit=assume_unit)
    best = min(range(len(images)), key=lambda i: (_preference(images[i].metadata["title"]), i))
    im = images[best]
    return im.data, float(im.metadata["pixel_size_A"]), im.metadata
