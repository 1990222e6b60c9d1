"""Tests of the file reader (core.io) and the npe2 reader hook (no display).

The expected shapes and pixel sizes of the instrument files were read once
from the files themselves (RosettaSciIO / h5py / mrcfile) and are written
here as literal numbers with the unit the file uses, so that these tests
check the unit conversion rather than repeat the code.
"""

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_nxtomo import load_image
from napari_nxtomo._reader import napari_get_reader
from napari_nxtomo.core.io import (
    SUPPORTED_EXTENSIONS,
    ImageData,
    length_unit_factor,
    read_images,
)

# The repository is checked out next to shared/ (see shared/DESIGN.md).
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FORMATS = DATA / "formats"
REAL = DATA / "real"

needs_data = pytest.mark.skipif(
    not FORMATS.is_dir() or not REAL.is_dir(),
    reason=f"instrument test files not found in {DATA} "
    "(the repository must be checked out next to shared/)",
)

REQUIRED_KEYS = {
    "scale",
    "units",
    "pixel_size_A",
    "calibrated",
    "source",
    "format",
    "title",
    "original_metadata",
    "skipped",
}

# file name -> (shape, scale in Å (or Å⁻¹) per axis, units per axis, calibrated)
INSTRUMENT_FILES = {
    # file: 0.24853801727294922 nm/px
    "test_STEM_image.dm3": ((68, 68), (2.4853801727294922, 2.4853801727294922), ("Å", "Å"), True),
    # file: scale 1, unit '' (uncalibrated)
    "test-2D.dm4": ((2, 2), (1.0, 1.0), ("pixel", "pixel"), False),
    # file: scale 1, unit '' on all three axes (z navigation axis + image)
    "test-3D.dm4": ((2, 2, 2), (1.0, 1.0, 1.0), ("pixel", "pixel", "pixel"), False),
    # file: dims [0, 1] with unit '[]' (uncalibrated)
    "example_image.emd": ((3, 3), (1.0, 1.0), ("pixel", "pixel"), False),
    # file: frames 0.8 s apart (time -> 1 'pixel'), 8.172883192297851 pm/px
    "fei_example_tem_stack.emd": (
        (2, 3, 3),
        (1.0, 0.08172883192297851, 0.08172883192297851),
        ("pixel", "Å", "Å"),
        True,
    ),
    # file: HAADF image, 3.5992492559614684 nm/px
    "velox_si_16x16.emd": ((16, 16), (35.992492559614684, 35.992492559614684), ("Å", "Å"), True),
    # file: 2.1479317511461325e-08 m/px (rsciio reports 21.479317511461325 nm)
    "128x128_TEM_acquire-sum1_1.ser": (
        (128, 128),
        (214.79317511461325, 214.79317511461325),
        ("Å", "Å"),
        True,
    ),
    # file: 0.17443285882472992 1/nm per px (a diffraction pattern)
    "example2_v3.1.hspy": (
        (16, 16),
        (0.017443285882472992, 0.017443285882472992),
        ("1/Å", "1/Å"),
        True,
    ),
    # file: cell 908.661 Å over 16 px (float32), rsciio reports 5.679131317138672 nm
    "HAADFscan.mrc": ((16, 16), (56.79131317138672, 56.79131317138672), ("Å", "Å"), True),
}


# --------------------------------------------------------------------------
# real instrument files


@needs_data
def test_every_format_file_is_covered():
    files = {
        p.name
        for p in FORMATS.iterdir()
        if p.suffix.lower() in SUPPORTED_EXTENSIONS
    }
    assert files == set(INSTRUMENT_FILES)


@needs_data
@pytest.mark.parametrize("name", sorted(INSTRUMENT_FILES))
def test_instrument_file_shape_and_scale(name):
    shape, scale, units, calibrated = INSTRUMENT_FILES[name]
    data, pixel_size, md = load_image(FORMATS / name)
    assert isinstance(data, np.ndarray)
    assert data.shape == shape
    assert md["scale"] == pytest.approx(scale, rel=1e-9)
    assert pixel_size == pytest.approx(scale[-1], rel=1e-9)
    assert isinstance(pixel_size, float)
    assert md["units"] == units
    assert md["calibrated"] is calibrated
    assert md["pixel_size_A"] == pixel_size
    assert REQUIRED_KEYS <= set(md)
    assert md["source"] == name
    # the file's own metadata is kept (rsciio: 'metadata' and 'original_metadata')
    assert {"metadata", "original_metadata"} <= set(md["original_metadata"])


@needs_data
def test_real_image_without_unit_is_uncalibrated_unless_unit_given():
    path = REAL / "srtio3_adf_atomap.hdf5"
    # file: 520 x 599, float16, scale 0.009326270238006416 with NO unit
    # on either axis (the README says nm/pixel)
    data, pixel_size, md = load_image(path)
    assert data.shape == (520, 599)
    assert data.dtype == np.float32  # float16 storage widened
    assert md["calibrated"] is False
    assert pixel_size == 1.0
    assert md["scale"] == (1.0, 1.0)
    assert any("assume_unit" in w for w in md["warnings"])
    assert md["axes"][0]["file_scale"] == pytest.approx(0.009326270238006416)

    data, pixel_size, md = load_image(path, assume_unit="nm")
    assert data.shape == (520, 599)
    assert md["calibrated"] is True
    assert pixel_size == pytest.approx(0.09326270238006416, rel=1e-9)
    assert md["scale"] == pytest.approx((0.09326270238006416,) * 2, rel=1e-9)
    assert md["units"] == ("Å", "Å")


@needs_data
@pytest.mark.parametrize(
    "name, frames",
    [("fei_example_tem_stack.emd", 2), ("test-3D.dm4", 2)],
)
def test_stack_opens_as_stack(name, frames):
    data, _, md = load_image(FORMATS / name)
    assert data.ndim == 3
    assert data.shape[0] == frames
    assert len(md["scale"]) == 3
    assert md["units"][0] == "pixel"


@needs_data
def test_velox_stack_keeps_time_axis_in_metadata():
    _, _, md = load_image(FORMATS / "fei_example_tem_stack.emd")
    time_axis = md["axes"][0]
    assert time_axis["file_units"] == "s"
    assert time_axis["file_scale"] == pytest.approx(0.8)
    assert time_axis["scale"] == 1.0


@needs_data
def test_velox_spectrum_image_file_opens_haadf():
    path = FORMATS / "velox_si_16x16.emd"
    data, pixel_size, md = load_image(path)
    assert md["title"] == "HAADF"
    assert data.ndim == 2
    assert data.shape == (16, 16)
    assert pixel_size == pytest.approx(35.992492559614684, rel=1e-9)  # file: 3.599... nm
    assert any("spectrum image" in s for s in md["skipped"])

    images = read_images(path)
    assert all(isinstance(im, ImageData) for im in images)
    # only images (four EDS element maps and the HAADF), no spectra
    assert all(im.data.ndim == 2 for im in images)
    assert [im.name for im in images] == ["C", "Ca", "O", "Cu", "HAADF"]
    for im in images:
        assert im.scale == pytest.approx((35.992492559614684,) * 2, rel=1e-9)
        assert im.units == ("Å", "Å")
        assert len(im.scale) == len(im.units) == im.data.ndim


# --------------------------------------------------------------------------
# TIFF written here


def _image(shape=(12, 10)):
    return np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)


@pytest.mark.parametrize(
    "unit, pixel, expected_A",
    [
        ("nm", 0.25, 2.5),
        ("micron", 0.002, 20.0),
        ("\\u00B5m", 0.002, 20.0),  # ImageJ escapes µ in its ASCII description
        ("um", 0.002, 20.0),
        ("pm", 50.0, 0.5),
        ("\\u00C5", 0.7, 0.7),  # Å
    ],
)
def test_imagej_tiff_calibration(tmp_path, unit, pixel, expected_A):
    path = tmp_path / "imagej.tif"
    data = _image()
    tifffile.imwrite(
        path, data, imagej=True, resolution=(1 / pixel, 1 / pixel), metadata={"unit": unit}
    )
    out, pixel_size, md = load_image(path)
    np.testing.assert_array_equal(out, data)
    assert pixel_size == pytest.approx(expected_A, rel=1e-6)
    assert md["scale"] == pytest.approx((expected_A, expected_A), rel=1e-6)
    assert md["units"] == ("Å", "Å")
    assert md["calibrated"] is True
    assert md["format"] == "ImageJ TIFF"


def test_imagej_tiff_non_square_pixels(tmp_path):
    path = tmp_path / "rect.tif"
    tifffile.imwrite(
        path, _image(), imagej=True, resolution=(1 / 0.25, 1 / 0.5), metadata={"unit": "nm"}
    )
    _, pixel_size, md = load_image(path)
    assert md["scale"] == pytest.approx((5.0, 2.5), rel=1e-6)  # (y, x) in Å
    assert pixel_size == pytest.approx(2.5, rel=1e-6)
    assert md["warnings"]


def test_imagej_tiff_pixel_unit_is_uncalibrated(tmp_path):
    path = tmp_path / "pixel.tif"
    tifffile.imwrite(path, _image(), imagej=True, resolution=(1.0, 1.0), metadata={"unit": "pixel"})
    _, pixel_size, md = load_image(path)
    assert md["calibrated"] is False
    assert pixel_size == 1.0
    assert md["units"] == ("pixel", "pixel")


def test_imagej_tiff_stack(tmp_path):
    path = tmp_path / "stack.tif"
    data = np.stack([_image(), _image() + 1])
    tifffile.imwrite(
        path, data, imagej=True, resolution=(10.0, 10.0), metadata={"unit": "nm", "axes": "TYX"}
    )
    out, pixel_size, md = load_image(path)
    assert out.shape == (2, 12, 10)
    assert md["scale"] == pytest.approx((1.0, 1.0, 1.0), rel=1e-6)  # 0.1 nm = 1 Å
    assert md["units"] == ("pixel", "Å", "Å")


@pytest.mark.parametrize(
    "size, unit, expected_A",
    [
        (50.0, "pm", 0.5),
        (0.05, "µm", 500.0),
        (0.05, None, 500.0),  # OME default unit: µm
        (0.2, "nm", 2.0),
        (1.5, "Å", 1.5),
    ],
)
def test_ome_tiff_calibration(tmp_path, size, unit, expected_A):
    path = tmp_path / "image.ome.tif"
    md_in = {"PhysicalSizeX": size, "PhysicalSizeY": size}
    if unit is not None:
        md_in.update(PhysicalSizeXUnit=unit, PhysicalSizeYUnit=unit)
    data = _image()
    tifffile.imwrite(path, data, ome=True, metadata=md_in)
    out, pixel_size, md = load_image(path)
    np.testing.assert_array_equal(out, data)
    assert pixel_size == pytest.approx(expected_A, rel=1e-6)
    assert md["scale"] == pytest.approx((expected_A, expected_A), rel=1e-6)
    assert md["calibrated"] is True
    assert md["format"] == "OME-TIFF"


def test_ome_tiff_stack(tmp_path):
    path = tmp_path / "stack.ome.tif"
    data = np.stack([_image(), _image()])
    tifffile.imwrite(
        path,
        data,
        ome=True,
        metadata={
            "axes": "ZYX",
            "PhysicalSizeX": 50.0,
            "PhysicalSizeXUnit": "pm",
            "PhysicalSizeY": 50.0,
            "PhysicalSizeYUnit": "pm",
            "PhysicalSizeZ": 2.0,
            "PhysicalSizeZUnit": "nm",
        },
    )
    out, _, md = load_image(path)
    assert out.shape == (2, 12, 10)
    assert md["scale"] == pytest.approx((20.0, 0.5, 0.5), rel=1e-6)


def test_plain_tiff_is_uncalibrated(tmp_path):
    path = tmp_path / "plain.tiff"
    tifffile.imwrite(path, _image())
    _, pixel_size, md = load_image(path)
    assert md["calibrated"] is False
    assert pixel_size == 1.0


def test_gray_rgb_tiff_reads_one_channel_colour_rgb_raises(tmp_path):
    gray = _image().astype(np.uint8)
    path = tmp_path / "gray_rgb.tif"
    tifffile.imwrite(path, np.stack([gray] * 3, axis=-1), photometric="rgb")
    out, _, _ = load_image(path)
    np.testing.assert_array_equal(out, gray)

    colour = np.stack([gray, gray + 1, gray], axis=-1)
    path = tmp_path / "colour.tif"
    tifffile.imwrite(path, colour, photometric="rgb")
    with pytest.raises(ValueError, match="colour.tif"):
        load_image(path)


# --------------------------------------------------------------------------
# npy


def test_npy_roundtrip_is_uncalibrated(tmp_path):
    data = np.random.default_rng(0).normal(size=(7, 9)).astype(np.float32)
    path = tmp_path / "image.npy"
    np.save(path, data)
    out, pixel_size, md = load_image(path)
    np.testing.assert_array_equal(out, data)
    assert out.dtype == np.float32
    assert pixel_size == 1.0
    assert md["scale"] == (1.0, 1.0)
    assert md["units"] == ("pixel", "pixel")
    assert md["calibrated"] is False
    assert md["source"] == "image.npy"


def test_npy_stack(tmp_path):
    path = tmp_path / "stack.npy"
    np.save(path, np.zeros((3, 5, 6)))
    out, _, md = load_image(path)
    assert out.ndim == 3
    assert md["scale"] == (1.0, 1.0, 1.0)


def test_complex_npy_raises(tmp_path):
    path = tmp_path / "wave.npy"
    np.save(path, np.ones((4, 4), dtype=np.complex64))
    with pytest.raises(ValueError, match="wave.npy.*complex"):
        load_image(path)


def test_1d_npy_has_no_image(tmp_path):
    path = tmp_path / "line.npy"
    np.save(path, np.arange(5.0))
    with pytest.raises(ValueError, match="line.npy.*no image"):
        load_image(path)


# --------------------------------------------------------------------------
# units


@pytest.mark.parametrize(
    "unit, factor, kind",
    [
        ("m", 1e10, "Å"),
        ("mm", 1e7, "Å"),
        ("µm", 1e4, "Å"),
        ("\u03bcm", 1e4, "Å"),  # Greek mu
        ("um", 1e4, "Å"),
        ("micron", 1e4, "Å"),
        ("nm", 10.0, "Å"),
        ("pm", 0.01, "Å"),
        ("Å", 1.0, "Å"),
        ("A", 1.0, "Å"),
        ("angstrom", 1.0, "Å"),
        ("1/nm", 0.1, "1/Å"),
        ("1 / nm", 0.1, "1/Å"),
        ("nm^-1", 0.1, "1/Å"),
        ("nm-1", 0.1, "1/Å"),
        ("1/Å", 1.0, "1/Å"),
        ("1/m", 1e-10, "1/Å"),
    ],
)
def test_length_unit_factor(unit, factor, kind):
    got = length_unit_factor(unit)
    assert got is not None
    assert got[0] == pytest.approx(factor, rel=1e-12)
    assert got[1] == kind


@pytest.mark.parametrize("unit", ["", "<undefined>", "[]", "pixel", "s", "keV", "mrad", None])
def test_non_length_units(unit):
    assert length_unit_factor(unit) is None


# --------------------------------------------------------------------------
# errors


def test_unknown_extension_raises(tmp_path):
    path = tmp_path / "notes.abc"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.abc.*unsupported extension '\.abc'.*\.dm3"):
        load_image(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(ValueError, match=r"nothere\.dm3.*no such file"):
        load_image(tmp_path / "nothere.dm3")


@pytest.mark.parametrize("ext", [".dm3", ".dm4", ".emd", ".ser", ".mrc", ".hspy", ".tif"])
def test_corrupt_file_raises(tmp_path, ext):
    path = tmp_path / f"corrupt{ext}"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=f"corrupt\\{ext}.*damaged"):
        load_image(path)


@needs_data
def test_truncated_file_raises(tmp_path):
    original = (FORMATS / "test_STEM_image.dm3").read_bytes()
    path = tmp_path / "half.dm3"
    path.write_bytes(original[: len(original) // 2])
    with pytest.raises(ValueError, match=r"half\.dm3"):
        load_image(path)


# --------------------------------------------------------------------------
# npe2 reader hook (no viewer)


def _assert_units(kwargs, expected):
    """The layer's units are ``expected``; a napari whose layers take no ``units`` gets none."""
    import inspect

    from napari.layers import Image

    if "units" in inspect.signature(Image.__init__).parameters:
        assert kwargs["units"] == expected
    else:
        assert "units" not in kwargs


def test_get_reader_rejects_unsupported():
    assert napari_get_reader("image.abc") is None
    assert napari_get_reader(["a.dm3", "b.abc"]) is None
    assert napari_get_reader([]) is None


@needs_data
def test_get_reader_dm3_layer_data():
    path = str(FORMATS / "test_STEM_image.dm3")
    reader = napari_get_reader(path)
    assert callable(reader)
    layers = reader(path)
    assert len(layers) == 1
    data, kwargs, layer_type = layers[0]
    assert layer_type == "image"
    assert data.shape == (68, 68)
    assert kwargs["scale"] == pytest.approx((2.4853801727294922,) * 2, rel=1e-9)  # file: nm
    assert kwargs["metadata"]["pixel_size_A"] == pytest.approx(2.4853801727294922, rel=1e-9)
    assert kwargs["metadata"]["calibrated"] is True
    assert kwargs["name"] == "test_STEM_image"
    assert kwargs["colormap"] == "gray"
    _assert_units(kwargs, ("angstrom", "angstrom"))


@needs_data
def test_get_reader_list_and_multi_image_file():
    paths = [str(FORMATS / "velox_si_16x16.emd"), str(FORMATS / "fei_example_tem_stack.emd")]
    reader = napari_get_reader(paths)
    assert callable(reader)
    layers = reader(paths)
    names = [kw["name"] for _, kw, _ in layers]
    assert "velox_si_16x16 HAADF" in names
    assert "fei_example_tem_stack Ceta" in names
    stack = layers[names.index("fei_example_tem_stack Ceta")]
    assert stack[0].ndim == 3
    assert len(stack[1]["scale"]) == 3
    _assert_units(stack[1], ("pixel", "angstrom", "angstrom"))


@needs_data
def test_get_reader_diffraction_units():
    path = str(FORMATS / "example2_v3.1.hspy")
    (_, kwargs, _), = napari_get_reader(path)(path)
    assert kwargs["scale"] == pytest.approx((0.017443285882472992,) * 2, rel=1e-9)  # file: 1/nm
    _assert_units(kwargs, ("1/angstrom", "1/angstrom"))


def test_get_reader_error_propagates(tmp_path):
    path = tmp_path / "broken.dm3"
    path.write_bytes(b"not a dm3 file at all")
    reader = napari_get_reader(str(path))
    assert callable(reader)
    with pytest.raises(ValueError, match=r"broken\.dm3"):
        reader(str(path))


@needs_data
def test_layer_data_builds_napari_layer_without_viewer():
    from napari.layers import Layer

    path = str(FORMATS / "fei_example_tem_stack.emd")
    data, kwargs, layer_type = napari_get_reader(path)(path)[0]
    layer = Layer.create(data, kwargs, layer_type)
    assert layer.ndim == 3
    np.testing.assert_allclose(layer.scale, (1.0, 0.08172883192297851, 0.08172883192297851))
    assert layer.metadata["source"] == "fei_example_tem_stack.emd"
    assert [str(u) for u in layer.units] == ["pixel", "angstrom", "angstrom"]
