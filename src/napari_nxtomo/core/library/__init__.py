"""Cross-section libraries: simulated column cross-sections per atom count (frozen-phonon multislice).

:func:`simulate_library` computes one with abTEM (optional extra:
``pip install "napari-nxtomo[multislice]"``) and caches it on disk;
:func:`load_library` finds a shipped or cached one; a
:class:`CrossSectionLibrary` gives ``count_atoms`` its values
(:meth:`CrossSectionLibrary.values`).  Cross-sections are in fraction of the
incident beam × Å².
"""

from .multislice import (
    INSTALL_HINT, THERMAL_SIGMA, LibraryCancelled, library_settings, room_vibration, scaled_vibrations,
    simulate_library,
)
from .shipped import (
    SHIPPED_DIR, cache_dir, cached_library, library_files, load_library, shipped_libraries, store_in_cache,
)
from .table import CrossSectionLibrary

__all__ = [
    "CrossSectionLibrary",
    "INSTALL_HINT",
    "LibraryCancelled",
    "SHIPPED_DIR",
    "THERMAL_SIGMA",
    "cache_dir",
    "cached_library",
    "library_files",
    "library_settings",
    "load_library",
    "room_vibration",
    "scaled_vibrations",
    "shipped_libraries",
    "simulate_library",
    "store_in_cache",
]
