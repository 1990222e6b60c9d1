"""Command line: ``napari-nxtomo demo [--out DIR]`` and batch subcommands.

``fit``: images → column tables (CSV); ``count``: column tables → the same
tables with atom counts (and a histogram figure); ``reconstruct``: counted
tables → a 3D model with certainty (.xyz, CSV) and re-projection tables;
``debye``: .xyz models → scattering patterns.  They call the same workflow
functions as the napari widgets (:mod:`napari_nxtomo.core.workflow`), and
their tables open in napari through the plugin's reader.

The demo runs the whole workflow headless on the bundled PbSe sample (fit,
count, reconstruct, Debye pattern) and compares every step with the sample's
ground truth; it also writes both samples' images (calibrated TIFF, readable
by the plugin's reader) and their ground truth.

Modules: :mod:`.main` (parser, entry point), :mod:`.commands` (the batch
subcommands), :mod:`.demo` (the demo and the docked GUI session),
:mod:`.figures`.
"""

from ..core.evaluation import best_fcc_translation
from ..core.tables import write_image_tiff as _write_image_tiff
from .commands import progress_bar as _progress_bar
from .commands import run_count, run_debye, run_fit, run_reconstruct
from .demo import DOCKS, docked_session, run_demo, run_gui, run_pipeline
from .figures import count_figure as _count_figure
from .figures import model_figures as _model_figures
from .figures import overview_figure as _overview_figure
from .figures import pattern_figure as _pattern_figure
from .figures import pipeline_figures as _pipeline_figures
from .main import _zone, build_parser, main

__all__ = [
    "DOCKS",
    "best_fcc_translation",
    "build_parser",
    "docked_session",
    "main",
    "run_count",
    "run_debye",
    "run_demo",
    "run_fit",
    "run_gui",
    "run_pipeline",
    "run_reconstruct",
]
