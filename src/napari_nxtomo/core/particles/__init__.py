"""Particles in real images: where they are, their lattice, their columns (numerics only).

:func:`segment_particles` labels the particles apart from vacuum and support
(resolved: a lattice is seen; unresolved: bright, without a lattice — off zone
axis); :func:`find_particle_columns` finds each resolved particle's columns
guided by its lattice (:mod:`.lattice2d`: basis from the spectrum, motif and
origin from the maxima, comparison with a named crystal and zone axis);
:func:`lattice_distance_fraction` and :func:`off_particle_fraction` are the
checks a real image without ground truth allows.  Modules: :mod:`.spectrum`
(Fourier peaks, local lock-in power), :mod:`.segment`, :mod:`.lattice2d`,
:mod:`.guided`.
"""

from .guided import ParticleColumns, find_particle_columns, lattice_distance_fraction, off_particle_fraction
from .lattice2d import ImageLattice, estimate_lattice, fit_lattice, match_crystal
from .segment import ParticleMap, segment_particles
from .spectrum import lattice_peaks, local_power, lock_in

__all__ = [
    "ImageLattice",
    "ParticleColumns",
    "ParticleMap",
    "estimate_lattice",
    "find_particle_columns",
    "fit_lattice",
    "lattice_distance_fraction",
    "lattice_peaks",
    "local_power",
    "lock_in",
    "match_crystal",
    "off_particle_fraction",
    "segment_particles",
]
