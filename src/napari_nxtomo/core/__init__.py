"""Numerical core: numpy, numba, scipy only; no Qt, no napari."""
