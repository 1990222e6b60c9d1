"""The napari side of napari-nxtomo: one module per dock, and what the docks share.

The docks (named in ``napari.yaml``):

* :class:`~.fit_dock.FitColumnsWidget`: find atomic columns and fit them;
* :class:`~.count_dock.CountAtomsWidget`: atom counts from the fitted cross-sections;
* :class:`~.tomo_dock.ReconstructWidget`: discrete tomography from counted columns;
* :class:`~.debye_dock.DebyeWidget`: Debye scattering pattern of an atom model.

Shared: :mod:`.tasks` (long work in a thread worker, progress, cancel),
:mod:`.layers` (layers to arrays and back, how points layers look),
:mod:`.notify` (messages to the user) and :mod:`.dock` (the docks' common base).
The docks hold no numerics: they call :mod:`napari_nxtomo.core`, mostly
:mod:`napari_nxtomo.core.workflow` (one plain function per step).

The docks are imported on first use, so that the reader can use
:mod:`.layers` without loading the widgets.
"""

from importlib import import_module

_DOCKS = {
    "FitColumnsWidget": ".fit_dock",
    "CountAtomsWidget": ".count_dock",
    "ReconstructWidget": ".tomo_dock",
    "DebyeWidget": ".debye_dock",
    "TaskRunner": ".tasks",
}

__all__ = list(_DOCKS)


def __getattr__(name):
    if name in _DOCKS:
        return getattr(import_module(_DOCKS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
