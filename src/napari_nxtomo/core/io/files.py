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


_SIZE_ADVICE = ("Crop or bin it first (in the instrument software or HyperSpy) and save the part to analyse, or set "
                "NAPARI_NXTOMO_MEMORY_LIMIT_GB on a machine with more memory")


def _check_size(p: Path, n_bytes: float, what: str) -> None:
    """Refuse a valid file whose data (``n_bytes`` once read) exceed the memory limit: "too large", not damaged."""
    from .._memory import memory_limit

    limit, how = memory_limit()
    if limit is not None and n_bytes > limit:
        raise _fail(p, f"the file is too large: {what} needs {n_bytes / 1e9:.3g} GB of memory, more than the "
                       f"{limit / 1e9:.3g} GB limit ({how})", _SIZE_ADVICE)


def _too_large(p: Path, exc: MemoryError) -> ValueError:
    """The error for a file whose reading ran out of memory."""
    size = p.stat().st_size if p.exists() else 0
    return _fail(p, f"the file is too large for the free memory ({size / 1e9:.3g} GB on disk; "
                    f"{type(exc).__name__}: {exc or 'no detail'})", _SIZE_ADVICE)
