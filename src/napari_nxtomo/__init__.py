"""napari-nxtomo: 3D atomic models of nanocrystals from HAADF-STEM images.

The public API (see DESIGN.md) is re-exported here; numerics live in
:mod:`napari_nxtomo.core` and never import Qt or napari.
"""

__version__ = "0.1.0"

from .core.io import load_image
from .core.lattice import Crystal, ROCKSALT_PBSE, ZINCBLENDE_CDSE
from .core.geometry import ProjectionGeometry
from .core.simulate import (
    CrossSectionModel,
    SimulatedImage,
    simulate_haadf,
)
from .core.samples import SampleParticle, pbse_cuboctahedron, pbse_cdse_core_shell

__all__ = [
    "load_image",
    "Crystal",
    "ROCKSALT_PBSE",
    "ZINCBLENDE_CDSE",
    "ProjectionGeometry",
    "CrossSectionModel",
    "SimulatedImage",
    "simulate_haadf",
    "SampleParticle",
    "pbse_cuboctahedron",
    "pbse_cdse_core_shell",
]
