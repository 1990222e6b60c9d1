"""The 'Count atoms' dock: atom counts from the fitted cross-sections.

Glue only: a feature of the points layer of fitted columns goes to
:func:`napari_nxtomo.core.workflow.count_table` (a cross-section library with
one scale, by default the shipped one for the image's optics, or the Gaussian
mixture with ICL) in a thread worker; the counts come back as features (the
points coloured by count) and :func:`napari_nxtomo.core.plots.plot_counts`
draws the histogram, the classes, the library × scale and the ICL curve in
the dock.  The library box, the dose and "Compute library…" are
:class:`.library_panel.LibraryPanel`.  With two or more fitted views of the
particle in the viewer, Count counts them together (one scale, one Pb total;
per layer for a core–shell particle) unless the user unticked "all views
jointly".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from magicgui.widgets import CheckBox, ComboBox, Container, LineEdit, PushButton, SpinBox, create_widget
from qtpy.QtWidgets import QPlainTextEdit

from . import notify
from .dock import Dock, figure_canvas, stack
from .layers import COUNT_CMAP, colour_by
from .library_panel import LibraryPanel
from ..core.workflow import parse_lowest_count

#: (label, value) of the 'count by' box: how a library's count is given to each column (count_table's assignment)
#: the units of the core's library for core-shell ⟨100⟩ views counted jointly (count_core_shell_views' mixed_units)
MIXED_UNITS = [("cell-integrated library", "cell"), ("library in the fit's units", "fitted")]
ASSIGNMENTS = [("likelihood", "likelihood"), ("mixture posterior", "posterior"),
               ("nearest value (StatSTEM)", "nearest")]


def counting_metadata(result, feature: str, library=None) -> dict:
    """What the points layer's ``metadata["counting"]`` records of a counting (and which library)."""
    return {
        "feature": feature,
        "library": library,
        "scale": result.params.get("scale"),
        "scale_err": result.params.get("scale_err"),
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
        self.counted = None  # the last counted table (its attrs name the library)
        self.form = Container(widgets=self._options_panel())
        self.figure, self.canvas = figure_canvas((4, 5), min_height=320)
        self._summary_panel()
        stack(self, self.form, self.runner, (self.canvas, 1), self.status, self.notes)
        self.points.changed.connect(lambda *_: self.feature.reset_choices())
        self.run_button.changed.connect(self.run)
        self._joint_chosen = False  # the user ticked or unticked 'all views jointly' (else: jointly when 2+ views)
        self._setting_joint = False  # True while the dock itself ticks the box (not the user's choice)
        self.joint.changed.connect(self._joint_toggled)

    def _options_panel(self) -> list:
        """Points layer, feature, number of components, lowest count, library, dose, 'Count atoms'."""
        self.points = create_widget(annotation="napari.layers.Points", label="columns")
        self.feature = ComboBox(choices=self._feature_choices, label="cross-section")
        self.max_components = SpinBox(value=20, min=1, max=100, label="max components")
        self.n_components = SpinBox(value=0, min=0, max=100, label="components (0 = ICL)")
        self.lowest = LineEdit(value="auto", label="lowest count",
                               tooltip="the count of each type's lowest class: 'auto' (inferred: from the classes, "
                                       "else from the neighbouring columns of the other type), one number for every "
                                       "type, or per type, e.g. 'Pb=1, Se=2' (types not named: auto)")
        self.library_panel = LibraryPanel(self)
        self.library, self.dose = self.library_panel.library, self.library_panel.dose
        self.assignment = ComboBox(choices=ASSIGNMENTS, value="likelihood", label="count by",
                                   tooltip="with a library: the count of highest likelihood (default), the "
                                           "mixture's most probable class (its fitted class weights), or the "
                                           "nearest library value (StatSTEM's library counting)")
        self.joint = CheckBox(value=False, text="all views jointly (one scale, one total)",
                              tooltip="count every fitted view of the particle together: one library scale and "
                                      "one Pb total (one per layer for a core-shell particle); ticked when Count "
                                      "finds two or more fitted views, unless you ticked or unticked it")
        self.mixed_units = ComboBox(choices=MIXED_UNITS, value="cell", label="core-shell ⟨100⟩",
                                    tooltip="core-shell views counted jointly: the units of the PbSe library for "
                                            "the core's Pb/Se columns; 'fitted' (the library fitted by the plugin's "
                                            "Gaussians, shipped for 22 mrad, 60-140 mrad): better core counts at "
                                            "1e5 e/Å², more Pb put in the rod's edge shell columns at 5e4")
        self.run_button = PushButton(text="Count atoms")
        return [self.points, self.feature, self.max_components, self.n_components, self.lowest,
                *self.library_panel.widgets(), self.assignment, self.joint, self.mixed_units, self.run_button]

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
        return sorted(cols, key=lambda c: c != "volume") or ["volume"]  # the fitted cross-section first

    def _count_options(self) -> dict:
        """``count_table`` keyword arguments of the form (ValueError on bad input)."""
        return {"max_components": int(self.max_components.value), "library": self.library_panel.choice(),
                "dose": self.library_panel.dose_value(), "n_components": int(self.n_components.value) or None,
                "lowest_count": parse_lowest_count(self.lowest.value), "assignment": self.assignment.value}

    def _checked_options(self):
        """The form's options (None after telling the user what is wrong); clears the notes box."""
        try:
            options = self._count_options()
        except (ValueError, OSError) as exc:
            notify.error(exc)
            return None
        self.notes.clear()
        return options

    def run(self):
        """Count the chosen feature of the chosen points layer in a thread worker."""
        import warnings

        from ..core.workflow import count_table

        if not self._joint_chosen and not self.joint.value and len(self._view_layers()) >= 2:
            self._set_joint(True)  # several fitted views of the particle: by default they are counted together
        if self.joint.value:
            self.run_joint()
            return
        pts = self.chosen_layer(self.points, "choose the points layer of fitted columns")
        if pts is None:
            return
        if self.mixed_units.value != "cell":
            notify.info("the core-shell ⟨100⟩ library units apply to views counted together: tick 'all views "
                        "jointly' to use them (this view is counted with the cell-integrated library)")
        feature = self.feature.value
        if feature not in pts.features:
            notify.error(f"'{pts.name}' has no feature '{feature}': fit the columns first")
            return
        options = self._checked_options()
        if options is None:
            return
        table, metadata = pts.features.copy(), dict(pts.metadata)
        low = options["lowest_count"]
        unknown = sorted(set(low) - set(table["type"].astype(str))) if isinstance(low, dict) and "type" in table \
            else []
        if unknown:
            notify.error(f"lowest count: no column type {unknown[0]!r} in '{pts.name}' (its types: "
                         f"{', '.join(sorted(set(table['type'].astype(str))))})")
            return

        def job(progress, cancel):
            with warnings.catch_warnings():  # the fallback's warning is shown as a notification (counted.attrs)
                warnings.simplefilter("ignore", UserWarning)
                return count_table(table, feature=feature, metadata=metadata, progress=progress, **options)

        self.start(job, lambda out: self._show(pts, feature, table[feature].to_numpy(dtype=float), *out),
                   "atom counting")

    def _joint_toggled(self, *_):
        if not self._setting_joint:
            self._joint_chosen = True

    def _set_joint(self, value: bool) -> None:
        """Tick or untick 'all views jointly' for the user (not taken as their choice)."""
        self._setting_joint = True
        try:
            self.joint.value = value
        finally:
            self._setting_joint = False

    def _view_layers(self) -> list:
        """The points layers of fitted, typed columns with a zone axis: the views of one particle."""
        from napari.layers import Points

        return [ly for ly in self.viewer.layers if isinstance(ly, Points) and {"volume", "type"} <= set(ly.features)
                and (ly.metadata or {}).get("zone_axis") is not None]

    def run_joint(self):
        """Count every view's columns together (workflow.count_views_tables; core-shell views:
        workflow.count_core_shell_views) in a thread worker."""
        from types import SimpleNamespace

        from ..core.workflow import count_core_shell_views, count_views_tables

        layers = self._view_layers()
        if len(layers) < 2:
            notify.error("counting the views together needs the fitted columns of two or three views (points "
                         "layers with 'volume' and 'type' and a zone axis): fit each view first, or untick the box")
            return
        options = self._checked_options()
        if options is None:
            return
        if options.get("assignment", "likelihood") != "likelihood":
            notify.info("the joint count gives each column its count of highest likelihood (moving the uncertain "
                        "ones so that the views' totals agree): the 'count by' choice is not used (untick 'all "
                        "views jointly' to count each view with it)")
        if options["lowest_count"] is not None:
            notify.info("the joint count takes each type's classes from the library with one scale for all "
                           "views: the lowest-count box is not used (untick 'all views jointly' to count each view "
                           "with it)")
        tables, mds = [ly.features.copy() for ly in layers], [dict(ly.metadata) for ly in layers]
        units = self.mixed_units.value

        def job(progress, cancel):
            if any(md.get("structure") == "core-shell" for md in mds):  # one Pb total per layer in all views
                counted, info = count_core_shell_views(tables, mds, library=options["library"], dose=options["dose"],
                                                       names=[ly.name for ly in layers], progress=progress,
                                                       mixed_units=units)
                # no totals warning: a core–shell view's own <100> total is off on right runs (the shell's Se)
                return counted, SimpleNamespace(results=info["results"], totals_independent=info["totals_single"],
                                                totals=info["totals"], notes=info["notes"], warnings=[])
            return count_views_tables(tables, mds, library=options["library"], dose=options["dose"], progress=progress)

        self.start(job, lambda out: self._show_joint(layers, *out), "joint atom counting")

    def _show_joint(self, layers, counted, joint):
        """Each view's counts into its layer; the plot of the chosen (or first) view; the totals in the summary."""
        shown = self.points.value if self.points.value in layers else layers[0]
        for ly, c, res in zip(layers, counted, joint.results):
            self._show(ly, "volume", ly.features["volume"].to_numpy(dtype=float), c, res, quiet=ly is not shown)
        warnings = list(joint.warnings)
        alert = "Warning: the views' own totals disagree beyond miscounts (see the notes). " if warnings else ""
        self.status.setText(f"{alert}{len(layers)} views counted together: Pb totals {joint.totals_independent} -> "
                            f"{joint.totals}; plot: '{shown.name}'. " + self.status.text())
        why = [] if self._joint_chosen else [f"the {len(layers)} fitted views in the viewer were counted together "
                                             "(untick 'all views jointly' to count the chosen view alone)"]
        self.notes.setPlainText("\n".join([f"• warning: {w}" for w in warnings]
                                          + [f"• {n}" for n in why + joint.notes + list(self.result.notes)]))
        for w in warnings:
            notify.warning(w)

    def _show(self, pts, feature, volumes, counted, res, quiet=False):
        """The counts into the layer (features, colour, metadata), the plot, the summary and the notes (``quiet``:
        the layer only)."""
        if not quiet:
            self.result, self.counted = res, counted
        if counted.attrs.get("counting_library") == "mixture" and counted.attrs.get("counting_note"):
            notify.info(f"counted with the free mixture: {counted.attrs['counting_note']}")
        pts.features = counted
        lo, hi = res.count_range()
        colour_by(pts, "count", COUNT_CMAP, (lo, max(hi, lo + 1)))
        pts.metadata["counting"] = counting_metadata(res, feature, counted.attrs.get("counting_library"))
        if quiet:
            return
        self.plot(volumes, res)
        from ..core.plots import chosen_k

        what = "Pb" if res.minor_counts is not None else "atoms"
        classes = ", ".join(f"{t + ' ' if t else ''}K = {k}" for t, k in chosen_k(res).items())
        self.status.setText(
            f"{len(volumes)} columns, classes {classes} ({res.method}), {what} per column {lo}-{hi}; "
            f"library: {counted.attrs.get('counting_library')}; "
            f"written to the 'count' feature of '{pts.name}' (colour = count, legend above)."
            + _shell_line(counted)
        )
        self.notes.setPlainText("\n".join(f"• {n}" for n in res.notes))

    def plot(self, volumes, res):
        """Histogram with the mixture and its components, the ICL curve with its minimum, a count legend."""
        from ..core.plots import plot_counts

        self.figure.clear()
        plot_counts(self.figure, volumes, res, cmap=COUNT_CMAP)
        self.canvas.draw_idle()


def _shell_line(counted) -> str:
    """A core-shell view's shell: its Cd counted (``count_Cd``), said in the status line; else nothing."""
    if "count_Cd" not in counted:
        return ""
    cd = counted["type"].astype(str) == "Cd"
    return (f" The shell's Cd: {int(counted['count_Cd'].sum())} in {int(cd.sum())} columns "
            f"({counted.attrs.get('shell_counting_library', 'shell library')}), in the 'count_Cd' feature.")
