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
from .core.multislice_sample import pbse_cuboctahedron_multislice
from .core.samples import SampleParticle, pbse_cuboctahedron, pbse_cdse_core_shell
from .core.fitting import FitCancelled, find_columns, fit_columns, model_image
from .core.columns import fit_typed_columns, split_types
from .core.tomography import Projection, ReconstructionCancelled, ReconstructionResult, reconstruct
from .core.tables import read_points_csv, read_xyz, write_points_csv, write_xyz
from .core.counting import CountResult, count_atoms
from .core.library import CrossSectionLibrary, load_library, simulate_library
from .core.multislice_sample import pbse_cdse_core_shell_multislice
from .core.sublattices import assign_sublattices
from .core.debye import debye_intensity, pair_distribution, q_to_two_theta, two_theta_to_q
from .core.debye.population import PopulationModel, population_intensity
from .core.debye.refine import refine_pattern, scan_parameter
from .core.pattern_io import read_pattern
from .core.particles import ParticleColumns, ParticleMap, find_particle_columns, segment_particles
from .core.nanocrystal import NanocrystalModel, add_anion_sublattice, build_nanocrystal, complete_sublattice

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
    "pbse_cuboctahedron_multislice",
    "pbse_cdse_core_shell",
    "FitCancelled",
    "find_columns",
    "fit_columns",
    "model_image",
    "split_types",
    "fit_typed_columns",
    "Projection",
    "reconstruct",
    "ReconstructionResult",
    "ReconstructionCancelled",
    "read_points_csv",
    "read_xyz",
    "write_points_csv",
    "write_xyz",
    "CountResult",
    "count_atoms",
    "debye_intensity",
    "pair_distribution",
    "q_to_two_theta",
    "two_theta_to_q",
    "NanocrystalModel",
    "build_nanocrystal",
    "complete_sublattice",
    "add_anion_sublattice",
    "CrossSectionLibrary",
    "simulate_library",
    "load_library",
    "pbse_cdse_core_shell_multislice",
    "assign_sublattices",
    "PopulationModel",
    "population_intensity",
    "refine_pattern",
    "scan_parameter",
    "read_pattern",
    "segment_particles",
    "ParticleMap",
    "find_particle_columns",
    "ParticleColumns",
]
