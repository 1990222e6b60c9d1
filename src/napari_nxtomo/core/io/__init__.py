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

Modules: :mod:`.reading` (the front: :func:`read_images`, :func:`load_image`),
:mod:`.files` (extensions, path checks, error messages), :mod:`.signals` (the
records), :mod:`.rosetta` (RosettaSciIO), :mod:`.tiff`, :mod:`.npy` (one reader per family of
files), :mod:`.units` and :mod:`.calibration` (from a raw signal to an image in Å).
"""

from .calibration import GEOMETRY_KEYS, OPTICS_KEYS
from .files import SUPPORTED_EXTENSIONS, is_supported
from .reading import load_image, read_images
from .signals import ImageData
from .units import UNIT_LENGTH, UNIT_PIXEL, UNIT_RECIPROCAL, check_real_space, length_unit_factor

__all__ = [
    "ImageData",
    "SUPPORTED_EXTENSIONS",
    "check_real_space",
    "is_supported",
    "length_unit_factor",
    "load_image",
    "read_images",
]
