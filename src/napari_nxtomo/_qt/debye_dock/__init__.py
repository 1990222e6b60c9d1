"""The 'Debye scattering' dock and its panels.

:class:`DebyeWidget` (:mod:`.widget`) composes the model panels
(:mod:`.model_panels`: a 3D points layer or the builder), the beam and axis
panel (:mod:`.beam_panel`), the measured-pattern and export panels
(:mod:`.measured_panel`) and the plots (:mod:`.plot`).  The model and its
pattern come from :mod:`napari_nxtomo.core.workflow` (``pattern_model``,
``compute_pattern``), the beam from :class:`napari_nxtomo.core.debye.Beam`.
"""

from .beam_panel import AXIS_Q, AXIS_TT, BEAM_ENERGY, BEAM_WAVELENGTH, RADIATION_CHOICES
from .measured_panel import WEIGHT_CHOICES
from .model_panels import SHAPE_CHOICES, SOURCE_BUILDER, SOURCE_LAYER
from .widget import DebyeWidget

__all__ = [
    "DebyeWidget",
    "AXIS_Q",
    "AXIS_TT",
    "BEAM_ENERGY",
    "BEAM_WAVELENGTH",
    "RADIATION_CHOICES",
    "WEIGHT_CHOICES",
    "SHAPE_CHOICES",
    "SOURCE_BUILDER",
    "SOURCE_LAYER",
]
