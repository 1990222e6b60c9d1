"""Length units as files write them, and their size in ångström (Å) or Å⁻¹."""

from __future__ import annotations

import re
from typing import Any

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


def check_real_space(metadata: dict, name: str = "the image") -> None:
    """Refuse an image whose axes are reciprocal lengths (a diffraction pattern): columns live in real space.

    Parameters
    ----------
    metadata : dict
        An image's metadata (:func:`~napari_nxtomo.core.io.load_image`):
        ``units`` of its axes (image axes last).
    name : str
        The image, for the message.

    Raises
    ------
    ValueError
        When either image axis is in Å⁻¹ (``1/nm``, ``1/Å``, … in the file).

    Examples
    --------
    >>> check_real_space({"units": ("Å", "Å")})
    >>> try:
    ...     check_real_space({"units": ("1/Å", "1/Å"), "pixel_size_A": 0.0125}, "dp.dm4")
    ... except ValueError as exc:
    ...     print(exc)
    dp.dm4 is calibrated in reciprocal space (axes in 1/Å, 0.0125 1/Å per pixel): a diffraction pattern, not a real-space image; columns are found and fitted in HAADF-STEM images in Å (a diffraction pattern goes to the Debye pattern dock as a measured pattern)
    """
    units = tuple(metadata.get("units") or ())[-2:]
    if UNIT_RECIPROCAL in units:
        step = metadata.get("pixel_size_A")
        per = f", {step:.4g} {UNIT_RECIPROCAL} per pixel" if step is not None else ""
        raise ValueError(
            f"{name} is calibrated in reciprocal space (axes in {UNIT_RECIPROCAL}{per}): a diffraction pattern, not "
            "a real-space image; columns are found and fitted in HAADF-STEM images in Å (a diffraction pattern "
            "goes to the Debye pattern dock as a measured pattern)"
        )
