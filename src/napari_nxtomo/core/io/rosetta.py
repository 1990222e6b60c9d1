"""DigitalMicrograph, TIA, MRC, EMD and HyperSpy files, read with RosettaSciIO (rsciio)."""

from __future__ import annotations

from pathlib import Path

from .files import _FORMAT_NAMES, _check_size, _fail
from .signals import _Axis, _Signal, _clean_title


def _signal_from_rsciio(path: Path, d: dict, fmt: str, reader: str) -> _Signal:
    """One rsciio signal dictionary as a raw signal, its axes in array order."""
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


def _read_hdf5(path: Path, ext: str) -> tuple[list[dict], str, str, list[str]]:
    """rsciio dictionaries of an ``.emd``/``.hspy``/``.hdf5`` file, its format, reader and skipped groups."""
    skipped: list[str] = []
    layout = "emd" if ext == ".emd" else _hdf5_layout(path)
    if ext == ".hdf5" and layout == "unknown":
        raise _fail(
            path,
            "this HDF5 file is neither HyperSpy nor EMD",
            "Save the image with HyperSpy (s.save('name.hspy')) or as a TIFF",
        )
    if layout != "emd":
        from rsciio.hspy import file_reader

        return file_reader(str(path)), "HyperSpy HDF5", "rsciio.hspy", skipped
    from rsciio.emd import file_reader

    velox, skipped = _emd_velox_info(path)
    if not velox:
        return file_reader(str(path)), "Berkeley EMD (NCEM)", "rsciio.emd", skipped
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
    return dicts, "Thermo Fisher Velox EMD", "rsciio.emd", skipped


def _read_rsciio(path: Path) -> tuple[list[_Signal], list[str]]:
    """The raw signals of a file RosettaSciIO reads, and what in it was skipped."""
    ext = path.suffix.lower()
    skipped: list[str] = []
    # the data once read are at least the file's size (more when it is compressed)
    _check_size(path, float(path.stat().st_size), "its data")
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
        dicts, fmt, reader, skipped = _read_hdf5(path, ext)
    else:  # pragma: no cover - guarded by the caller
        raise _fail(path, f"no rsciio reader for {ext!r}")
    signals = [_signal_from_rsciio(path, d, fmt, reader) for d in dicts]
    return signals, skipped
