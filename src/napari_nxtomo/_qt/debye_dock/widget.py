"""The 'Debye scattering' dock: the pattern of an atomistic model, over a measured pattern.

Glue only, composed of panels: the model (a 3D points layer, e.g. the
reconstructed particle with its anion sublattice completed, or the
nanocrystal builder), the beam and axis, a measured pattern fitted with a
scale and a flat background, the plots and the CSV export.  The pattern and
G(r) are computed in a thread worker.
"""

from __future__ import annotations

import pandas as pd
from magicgui.widgets import Container, Widget
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QScrollArea, QSplitter, QWidget

from ...core.workflow import PatternCancelled, PatternResult, compute_pattern, pattern_model, run_averaged_pattern
from .. import notify
from ..dock import Dock, stack
from ..layers import add_or_update_points, atoms_kwargs
from .beam_panel import BeamAxisPanel
from .measured_panel import ExportPanel, MeasuredPanel, pattern_table
from .model_panels import BuilderPanel, ModelSourcePanel
from .plot import PatternPlot
from .refine_panel import RefinePanel


class DebyeWidget(Dock):
    """Debye scattering pattern of an atomistic model (a 3D points layer or the builder), over a measured pattern.

    The panels' fields are attributes of the dock too (``dock.energy``,
    ``dock.layer``, ...), as scripts and tests use them.
    """

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer, "Choose a model (builder or a 3D points layer) and compute its pattern.")
        self.pattern: PatternResult | None = None
        self.measured = None  # dict: x, y, unit, name
        self.fit = None  # PatternFit
        self.refined = None  # RefineResult of the Refine panel
        self.scanned = None  # ScanResult of the Refine panel
        self.builder_panel = BuilderPanel()
        self.source_panel = ModelSourcePanel(self.builder_panel.builder_box)
        self.beam_panel = BeamAxisPanel()
        self.measured_panel = MeasuredPanel(napari_viewer)
        self.export_panel = ExportPanel()
        self.refine_panel = RefinePanel(napari_viewer)
        self.plot_panel = PatternPlot()
        form_panels = (self.source_panel, self.builder_panel, self.beam_panel, self.measured_panel, self.export_panel,
                       self.refine_panel)
        self._expose(*form_panels, self.plot_panel)
        self.form = Container(widgets=[w for panel in form_panels for w in panel.widgets])
        self._lay_out()
        self._connect()
        self.redraw()

    def _expose(self, *panels):
        """Each panel's magicgui fields as attributes of the dock, and the plot's figures and canvases."""
        for panel in panels:
            for name, value in vars(panel).items():
                if isinstance(value, Widget):
                    setattr(self, name, value)
        plot = self.plot_panel
        self.figure, self.canvas, self.figure_gr, self.canvas_gr, self.tabs = (
            plot.figure, plot.canvas, plot.figure_gr, plot.canvas_gr, plot.tabs)

    def _lay_out(self):
        """The form scrolls above; the progress, the plots and the status line below; a splitter between."""
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form.native)
        bottom = QWidget()
        stack(bottom, self.runner, self.log_y, (self.tabs, 1), self.status).setContentsMargins(0, 0, 0, 0)
        split = QSplitter(Qt.Vertical)
        split.addWidget(scroll)
        split.addWidget(bottom)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        stack(self, split)

    def _connect(self):
        self.axis.changed.connect(self._on_axis)
        self.show_button.changed.connect(self.show_model)
        self.compute_button.changed.connect(self.compute)
        self.load_button.changed.connect(lambda *_: self.load_measured())
        self.clear_button.changed.connect(self.clear_measured)
        self.export_button.changed.connect(lambda *_: self.export_csv())
        self.log_y.changed.connect(lambda *_: self.redraw())
        self.refine_button.changed.connect(lambda *_: self.refine())
        self.scan_button.changed.connect(lambda *_: self.scan())

    @property
    def lines(self) -> dict:
        """The curves last drawn, by name: simulated, measured, fitted, residual, G(r)."""
        return self.plot_panel.lines

    def reset_choices(self, *_):
        """Refresh the layer list (napari calls this when layers are added or removed)."""
        super().reset_choices()
        self.source_panel.follow_reconstruction(self.viewer)
        self.source_panel.follow_layer()

    def _on_axis(self, *_):
        if self.beam_panel.carry_range():
            self.measured_x.value = self.axis.value

    # ------------------------------------------------------------ model

    def model_parameters(self) -> dict:
        """``pattern_model`` keyword arguments, gathered in the main thread (layer data copied).

        ValueError on bad input.
        """
        if self.source_panel.from_builder:
            return {"builder": self.builder_panel.parameters()}
        self.reset_choices()
        return self.source_panel.parameters()

    def show_model(self, *_):
        """Add (or update) the builder's model as a 3D points layer coloured by element."""
        from ...core.nanocrystal import build_nanocrystal

        try:
            kwargs = self.builder_panel.parameters()
            model = build_nanocrystal(**kwargs)
        except ValueError as exc:
            notify.error(exc)
            return None
        zyx, lk = model.layer_data()
        features = pd.DataFrame(lk["features"])
        metadata = dict(lk["metadata"])
        if kwargs["structure"] in ("rocksalt", "zincblende"):
            metadata["structure"] = kwargs["structure"]
        name = f"{''.join(kwargs['elements'])} {self.shape.value} {kwargs['diameter']:g} Å (model)"
        layer = add_or_update_points(self.viewer, zyx, atoms_kwargs(features, name, metadata),
                                     update=("features", "size", "face_color"))
        layer.metadata.update(metadata)
        self.viewer.dims.ndisplay = 3
        self.reset_choices()
        comp = ", ".join(f"{k} {v:.1f}" for k, v in model.composition().items())
        self.status.setText(f"'{name}': {len(model)} sites (effective atoms: {comp}).")
        return layer

    # ------------------------------------------------------------ compute

    def compute(self, *_):
        """Compute the pattern (and G(r)) of the model in a thread worker; returns the worker."""
        try:
            params = self.model_parameters()
            request = self.beam_panel.request()
        except ValueError as exc:
            notify.error(exc)
            return None

        runs = params.pop("runs", None)

        def job(progress, cancel):
            if cancel():
                raise PatternCancelled("cancelled")
            if runs is not None:  # the mean of the annealing runs' patterns (no G(r))
                req = {k: v for k, v in request.items() if k not in ("with_gr", "r_max")}
                return run_averaged_pattern(runs["runs"], runs["sites"], **params, **req, progress=progress,
                                            cancel=cancel)
            model = pattern_model(**params)  # built here: a large builder model takes a while
            return compute_pattern(model, **request, progress=progress, cancel=cancel)

        self.status.setText("Computing the Debye pattern ...")
        return self.start(job, self._show_pattern, "Debye pattern")

    def _show_pattern(self, result):
        self.pattern = result
        text = f"{result.model.description}: {len(result.model.positions)} atoms, {len(result.q)} points."
        if self.measured is not None:
            try:
                self._refit()
                text += " Fit: " + self.fit.describe()
            except ValueError as exc:
                self.fit = None
                notify.error(exc)
        self.status.setText(text)
        self.redraw()

    # ------------------------------------------------------------ measured

    def load_measured(self, path=None):
        """Read a measured pattern (x, intensity) and fit scale + background to the computed pattern."""
        try:
            self.measured = self.measured_panel.read(path)
        except ValueError as exc:
            notify.error(exc)
            return None
        name = self.measured["name"]
        if self.pattern is None:
            self.fit = None
            self.status.setText(f"Read {len(self.measured['x'])} points from {name}; compute a pattern to fit it.")
            self.redraw()
            return None
        try:
            self._refit()
        except ValueError as exc:
            self.fit = None
            notify.error(exc)
            self.redraw()
            return None
        self.status.setText(f"{name}: " + self.fit.describe())
        self.redraw()
        return self.fit

    def _refit(self):
        self.fit = self.measured_panel.fit(self.pattern, self.measured)

    def clear_measured(self, *_):
        self.measured = None
        self.fit = None
        self.redraw()

    # ------------------------------------------------------------ drawing and export

    def _intensity_unit(self):
        kind = self.pattern.radiation if self.pattern is not None else self.beam_panel.radiation_kind()[0]
        return "fm²" if kind == "neutron" else "e²"

    def redraw(self):
        """Draw the pattern (and the measured one with the fit and its residual), and G(r)."""
        self.plot_panel.draw(self.pattern, self.measured, self.fit, self.axis.value, self._intensity_unit())

    def export_csv(self, path=None):
        """Write the pattern (and the measured points, the fitted curve, G(r)) to a CSV file."""
        from ...core.patterns import write_pattern_csv

        if self.pattern is None:
            notify.error("compute a pattern first, then export it")
            return None
        try:
            path = self.export_panel.path(path)
        except ValueError as exc:
            notify.error(exc)
            return None
        unit = self._intensity_unit().replace("²", "2")
        name = self.measured["name"] if self.fit is not None else None
        cols, extra, comments = pattern_table(self.pattern, self.fit, name, unit)
        try:
            out = write_pattern_csv(path, cols, extra, comments)
        except (OSError, ValueError) as exc:
            notify.error(f"could not write {path}: {exc}")
            return None
        notify.info(f"pattern written to {out}")
        self.status.setText(f"Pattern written to {out}.")
        return out

    # ------------------------------------------------------------ refine a population

    def _refine_inputs(self):
        """(measured pattern, start model, free names) from the Refine panel, or None after telling why."""
        try:
            return self.refine_panel.read(), self.refine_panel.model(), self.refine_panel.free()
        except ValueError as exc:
            notify.error(exc)
            return None

    def refine(self, path=None):
        """Refine the Refine panel's population against its pattern file in a thread worker; returns the worker."""
        from ...core.debye.refine import refine_pattern

        if path is not None:
            self.refine_file.value = path
            self.refine_layer.value = None  # the file given, not a layer
        inputs = self._refine_inputs()
        if inputs is None:
            return None
        meas, model, free = inputs

        def job(progress, cancel):
            return refine_pattern(meas.q, meas.intensity, meas.sigma, model=model, free=free, progress=progress,
                                  cancel=cancel)

        self.status.setText(f"Refining {', '.join(free)} against {meas.name} ...")
        return self.start(job, self._show_refined, "Refinement")

    def _show_refined(self, res):
        self.refined = res
        self.refine_panel.show(res.model)
        values = ", ".join(f"{n} {v:.5g} ± {res.uncertainties[n]:.2g}" for n, v in res.params.items()
                           if n != "scale" and not n.startswith("background"))
        state = "" if res.converged else f" NOT CONVERGED ({res.message}); the best parameters met are kept."
        self.status.setText(f"χ²_red {res.chi2_red:.4g}, R_wp {res.r_wp:.4g}: {values}.{state}")
        if not res.converged:
            notify.info(f"the refinement did not converge: {res.message}; the best parameters met are kept")
        self.plot_panel.draw_refinement(self.refined, self.scanned)
        self.tabs.setCurrentWidget(self.plot_panel.canvas_refine)

    def scan(self):
        """χ² over the scan parameter's values, the free ones refined at each, in a thread worker."""
        from ...core.debye.refine import scan_parameter

        inputs = self._refine_inputs()
        if inputs is None:
            return None
        meas, model, free = inputs
        try:
            name, values = self.refine_panel.scan()
        except ValueError as exc:
            notify.error(exc)
            return None
        free = tuple(f for f in free if f != name)

        def job(progress, cancel):
            return scan_parameter(meas.q, meas.intensity, meas.sigma, model=model, name=name, values=values,
                                  free=free, progress=progress, cancel=cancel)

        self.status.setText(f"Scanning χ² over {name} ({len(values)} values) ...")
        return self.start(job, self._show_scan, "χ² scan")

    def _show_scan(self, scan):
        self.scanned = scan
        self.status.setText(f"χ² over {scan.name}: minimum {scan.chi2_red.min():.4g} at {scan.best:g}.")
        self.plot_panel.draw_refinement(self.refined, self.scanned)
        self.tabs.setCurrentWidget(self.plot_panel.canvas_refine)
