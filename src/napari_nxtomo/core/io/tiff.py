"""TIFF files: ImageJ calibration (resolution tags, ``unit``) and OME-TIFF (``PhysicalSize``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .files import _check_size
from .signals import _Axis, _Signal, _clean_title


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
    _check_size(Path(series.parent.filehandle.path), float(np.prod(series.shape, dtype=float)) * series.dtype.itemsize,
                f"the {tuple(series.shape)} {series.dtype} image")
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
