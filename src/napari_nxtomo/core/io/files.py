"""Which files are read, and the errors that name the file, the reason and what to do."""

from __future__ import annotations

from pathlib import Path

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


def is_supported(path: str | Path) -> bool:
    """True when the extension of `path` is one :func:`read_images` reads.

    Examples
    --------
    >>> is_supported("scan.DM4"), is_supported("notes.txt")
    (True, False)
    """
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


def _check_path(path: str | Path) -> Path:
    """`path` as a Path to an existing file with a supported extension, else a ValueError."""
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


def _damaged(p: Path, exc: BaseException) -> ValueError:
    fmt = _FORMAT_NAMES.get(p.suffix.lower(), "supported")
    return _fail(
        p,
        f"the file is damaged or is not a valid {fmt} file "
        f"({type(exc).__name__}: {exc})",
        "Check that it was copied completely, or export it again from the "
        "instrument software",
    )
