"""The front: read every image of a file, or the main one."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .calibration import _calibrate
from .files import _check_path, _damaged, _fail, _too_large
from .npy import _read_npy
from .rosetta import _read_rsciio
from .signals import ImageData, _describe, _image_axis_positions
from .tiff import _read_tiff


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

    Examples
    --------
    A two-frame ImageJ stack calibrated in pm: one image, frames first.

    >>> import pathlib, tempfile
    >>> import tifffile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "stack.tif"
    >>> tifffile.imwrite(path, np.zeros((2, 16, 16), np.uint16), imagej=True, resolution=(1 / 25, 1 / 25),
    ...                  metadata={"unit": "pm", "axes": "ZYX"})
    >>> [im] = read_images(path)
    >>> im.data.shape, [round(s, 3) for s in im.scale[1:]], im.units[1:], im.metadata["format"]
    ((2, 16, 16), [0.25, 0.25], ('Å', 'Å'), 'ImageJ TIFF')
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
    except MemoryError as exc:  # a valid file too large for the free memory
        raise _too_large(p, exc) from exc
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


def _preference(title: str) -> int:
    """Rank of an image title for :func:`load_image`: 0 HAADF, 1 ADF/DF, 2 other."""
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
