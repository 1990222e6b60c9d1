"""The 'Count atoms' dock: atom counts from the fitted cross-sections.

Glue only: a feature of the points layer of fitted columns goes to
:func:`napari_nxtomo.core.counting.count_atoms` (Gaussian mixture with ICL, or
a library) in a thread worker; the counts come back as features (the points
coloured by count) and :func:`napari_nxtomo.core.plots.plot_counts` draws the
histogram, the components and the ICL curve in the dock.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox, Container, FileEdit, PushButton, SpinBox, create_widget
from qtpy.QtWidgets import QPlainTextEdit

from ..core.workflow import read_count_library, with_counts
from . import notify
from .dock import Dock, chosen_path, figure_canvas, stack
from .layers import COUNT_CMAP, colour_by


def counting_metadata(result, feature: str) -> dict:
    """What the points layer's ``metadata["counting"]`` records of a counting."""
    return {
        "feature": feature,
        "method": result.method,
        "n_components": int(result.n_components),
        "sigma": np.atleast_1d(np.asarray(result.sigma, dtype=float)).tolist(),
        "means": np.asarray(result.means).tolist(),
        "notes": list(result.notes),
    }


class CountAtomsWidget(Dock):
    """Atom counts from the fitted cross-sections: Gaussian mixture with ICL, or a library."""

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer, "Fit the columns first; their volumes are counted here.")
        self.result = None
        self.form = Container(widgets=self._options_panel())
        self.figure, self.canvas = figure_canvas((4, 5), min_height=320)
        self._summary_panel()
        stack(self, self.form, self.runner, (self.canvas, 1), self.status, self.notes)
        self.points.changed.connect(lambda *_: self.feature.reset_choices())
        self.run_button.changed.connect(self.run)

    def _options_panel(self) -> list:
        """Points layer, cross-section feature, number of components, lowest count, library, 'Count atoms'."""
        self.points = create_widget(annotation="napari.layers.Points", label="columns")
        self.feature = ComboBox(choices=self._feature_choices, label="cross-section")
        self.max_components = SpinBox(value=20, min=1, max=100, label="max components")
        self.n_components = SpinBox(value=0, min=0, max=100, label="components (0 = ICL)")
        self.lowest = SpinBox(value=0, min=0, max=1000, label="lowest count (0 = auto)")
        self.library = FileEdit(mode="r", filter="*.csv", label="library CSV (optional)")
        self.run_button = PushButton(text="Count atoms")
        return [self.points, self.feature, self.max_components, self.n_components, self.lowest, self.library,
                self.run_button]

    def _summary_panel(self) -> None:
        """The summary line (three lines kept) and a scrolling box for the counting's notes."""
        # a wrapped label's height is not kept when the dock is squeezed: reserve the summary's three lines
        self.status.setMinimumHeight(3 * self.status.fontMetrics().lineSpacing() + 4)
        # the counting's notes (choice of K, inferred lowest count, ...) can run to many lines: a scrolling box
        # keeps them readable when the dock is short, where a wrapped label would be squeezed over the plot
        self.notes = QPlainTextEdit()
        self.notes.setReadOnly(True)
        self.notes.setMaximumHeight(96)
        self.notes.setPlaceholderText("notes on the counting appear here")

    def _feature_choices(self, *_):
        pts = getattr(self, "points", None)
        layer = pts.value if pts is not None else None
        if layer is None:
            return ["volume"]
        cols = [c for c in layer.features.columns if pd.api.types.is_numeric_dtype(layer.features[c])]
        return cols or ["volume"]

    def _count_inputs(self, pts, feature):
        """Cross-sections and ``count_atoms`` keyword arguments (ValueError, OSError on bad input)."""
        volumes = pts.features[feature].to_numpy(dtype=float)
        path = chosen_path(self.library)
        library = read_count_library(path) if path is not None and path.is_file() else None
        types = pts.features["type"].astype(str).to_numpy() if "type" in pts.features else None
        kwargs = {"max_components": int(self.max_components.value), "library": library, "types": types}
        if feature == "volume" and "volume_err" in pts.features:
            kwargs["errors"] = pts.features["volume_err"].to_numpy(dtype=float)
        if self.n_components.value:
            kwargs["n_components"] = int(self.n_components.value)
        if self.lowest.value:
            kwargs["lowest_count"] = int(self.lowest.value)
        return volumes, kwargs

    def run(self):
        """Count the chosen feature of the chosen points layer in a thread worker."""
        from ..core.counting import count_atoms

        pts = self.chosen_layer(self.points, "choose the points layer of fitted columns")
        if pts is None:
            return
        feature = self.feature.value
        if feature not in pts.features:
            notify.error(f"'{pts.name}' has no feature '{feature}': fit the columns first")
            return
        try:
            volumes, kwargs = self._count_inputs(pts, feature)
        except (ValueError, OSError) as exc:
            notify.error(exc)
            return
        self.notes.clear()

        def job(progress, cancel):
            progress(0, 1)
            res = count_atoms(volumes, **kwargs)
            progress(1, 1)
            return res

        self.start(job, lambda res: self._show(pts, feature, volumes, res), "atom counting")

    def _show(self, pts, feature, volumes, res):
        """The counts into the layer (features, colour, metadata), the plot, the summary and the notes."""
        self.result = res
        pts.features = with_counts(pts.features, res)
        lo, hi = res.count_range()
        colour_by(pts, "count", COUNT_CMAP, (lo, max(hi, lo + 1)))
        pts.metadata["counting"] = counting_metadata(res, feature)
        self.plot(volumes, res)
        what = "Pb" if res.minor_counts is not None else "atoms"
        self.status.setText(
            f"{len(volumes)} columns, {res.n_components} classes ({res.method}), {what} per column {lo}-{hi}; "
            f"written to the 'count' feature of '{pts.name}' (colour = count, legend above)."
        )
        self.notes.setPlainText("\n".join(f"• {n}" for n in res.notes))

    def plot(self, volumes, res):
        """Histogram with the mixture and its components, the ICL curve with its minimum, a count legend."""
        from ..core.plots import plot_counts

        self.figure.clear()
        plot_counts(self.figure, volumes, res, cmap=COUNT_CMAP)
        self.canvas.draw_idle()
