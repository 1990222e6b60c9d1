"""Records of one file's content: the raw signals a reader returns, the calibrated image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


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

    Examples
    --------
    >>> im = ImageData(np.zeros((2, 8, 8)), (1.0, 0.5, 0.5), ("pixel", "Å", "Å"), "stack")
    >>> im.data.shape, im.scale[-1], im.units[-1], im.metadata
    ((2, 8, 8), 0.5, 'Å', {})
    """

    data: np.ndarray
    scale: tuple[float, ...]
    units: tuple[str, ...]
    name: str
    metadata: dict = field(default_factory=dict)


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
