"""NumPy ``.npy`` files (no calibration)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .files import _FORMAT_NAMES, _check_size
from .signals import _Axis, _Signal


def _read_npy(path: Path) -> tuple[list[_Signal], list[str]]:
    """The one uncalibrated signal of a ``.npy`` file (last two axes Y, X; uint8 RGB(A) as Y, X, S)."""
    header = np.load(path, mmap_mode="r", allow_pickle=False)  # the shape and type only, nothing read yet
    shape, dtype = header.shape, header.dtype
    del header
    _check_size(path, float(np.prod(shape, dtype=float)) * dtype.itemsize, f"the {shape} {dtype} array")
    data = np.load(path, allow_pickle=False)
    codes = ["Y", "X"] if data.ndim >= 2 else []
    codes = [f"axis{i}" for i in range(data.ndim - len(codes))] + codes
    if data.ndim == 3 and data.dtype == np.uint8 and data.shape[-1] in (3, 4):
        codes = ["Y", "X", "S"]
    axes = [_Axis(c, int(n), 1.0, 0.0, "", None) for c, n in zip(codes, data.shape)]
    return [_Signal(data, axes, "", _FORMAT_NAMES[".npy"], "numpy", {})], []
