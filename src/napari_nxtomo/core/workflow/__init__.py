"""The chain image → columns → counts → 3D model → pattern, one plain function per step.

The command line, the demo and the napari docks call these functions; they
hold no Qt.  Each step takes arrays and tables and returns arrays, tables and
the core's result objects; the long ones take ``progress(i, n)`` and
``cancel() -> bool`` callbacks, so that a dock can run them in a thread
worker with a progress bar and a cancel button.  One module per step:

1. :mod:`.columns`: :func:`find_and_fit`, image → table of fitted, typed
   columns; :func:`check_fit`, the model image and the residual.
2. :mod:`.counts`: :func:`count_table`, that table → the same table with atom
   counts (:func:`with_counts` adds a counting to any table).
3. :mod:`.reconstruction`: :func:`projections_from_tables`,
   :func:`reconstruct_tables`, counted tables of two or more zone axes → a 3D
   model with certainty; :func:`reprojection_table` compares every projection
   with the model.
4. :mod:`.pattern`: :func:`pattern_model`, :func:`q_grid` (or
   :func:`q_range`), :func:`compute_pattern`, a model (built, or read, with
   the anion sublattice completed if asked) → its Debye pattern and G(r);
   :mod:`.run_pattern`: :func:`run_averaged_pattern`, the pattern of a
   reconstruction averaged over its annealing runs
   (:func:`reconstruction_runs`).

Lengths in Å, Q in Å⁻¹, 2θ in degrees, energies in keV.
"""

from .columns import FitCheck, check_fit, find_and_fit
from .count_library import OPTICS_KEYS, choose_library, describe_library
from .core_shell_views import count_core_shell_views
from .counts import count_table, count_views_tables, parse_lowest_count, read_count_library, with_counts
from .pattern import (
    AXES,
    MAX_POINTS,
    PatternCancelled,
    PatternModel,
    PatternResult,
    compute_pattern,
    pattern_model,
    q_grid,
    q_range,
)
from .reconstruction import projections_from_tables, reconstruct_tables, reprojection_per_column, reprojection_table
from .run_pattern import RUNS_KEY, reconstruction_runs, run_averaged_pattern, runs_metadata

__all__ = [
    "AXES",
    "FitCheck",
    "MAX_POINTS",
    "OPTICS_KEYS",
    "PatternCancelled",
    "PatternModel",
    "PatternResult",
    "check_fit",
    "choose_library",
    "compute_pattern",
    "count_core_shell_views",
    "count_table",
    "parse_lowest_count",
    "count_views_tables",
    "describe_library",
    "find_and_fit",
    "pattern_model",
    "projections_from_tables",
    "q_grid",
    "q_range",
    "read_count_library",
    "reconstruct_tables",
    "reconstruction_runs",
    "reprojection_per_column",
    "reprojection_table",
    "RUNS_KEY",
    "run_averaged_pattern",
    "runs_metadata",
    "with_counts",
]
