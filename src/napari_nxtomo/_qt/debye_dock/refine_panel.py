"""The Debye dock's Refine panel: a nanocrystal population refined against a measured pattern, and χ² scans.

Fields only (prefixed ``refine_`` / ``free_`` / ``scan_`` so that they do not
clash with the other panels' names on the dock); the work is
:func:`napari_nxtomo.core.debye.refine.refine_pattern` and ``scan_parameter``,
run by the dock in a thread worker.
"""

from __future__ import annotations

import re

from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, FloatSpinBox, Label, LineEdit, PushButton, SpinBox

from ..dock import chosen_path
from .measured_panel import pattern_layer_chooser, pattern_layer_columns
from .model_panels import SHAPE_CHOICES, _element_list

#: refinable parameters: name, label, start value, (min, max), step, free by default
PARAMETER_ROWS = (
    ("mean_diameter", "mean diameter (Å)", 50.0, (5.0, 1000.0), 0.1, True),
    ("width", "width (relative)", 0.1, (0.005, 0.6), 0.001, True),
    ("lattice_parameter", "cell edge a (Å)", 5.936, (2.0, 20.0), 0.0001, True),
    ("alpha_rh", "α_RH (°)", 60.0, (57.0, 63.0), 0.01, False),
    ("delta_r_pb", "cation Δr [111] (Å)", 0.0, (0.0, 0.6), 0.001, False),
    ("occupancy_core", "cation occupancy, core", 1.0, (0.0, 1.0), 0.001, False),
    ("occupancy_shell", "anion occupancy, shell", 1.0, (0.0, 1.0), 0.001, False),
    ("b_iso", "B (Å²)", 0.5, (0.0, 10.0), 0.001, True),
)
SCAN_CHOICES = ("alpha_rh", "delta_r_pb", "shell_thickness", "mean_diameter", "lattice_parameter", "width")


class RefinePanel:
    """Pattern file, the population's parameters with 'free' boxes, Refine, and a χ² scan of one parameter."""

    def __init__(self, viewer=None):
        self.refine_layer = pattern_layer_chooser(viewer, "pattern layer")
        self.refine_file = FileEdit(mode="r", filter="*.xy *.xye *.dat *.chi *.csv *.txt", label="pattern file")
        self.refine_x = ComboBox(choices=["auto", "q", "two_theta"], value="auto", label="first column")
        self.refine_wavelength = FloatSpinBox(value=0.0, min=0.0, max=20.0, step=0.0001, label="wavelength (Å)")
        self.refine_wavelength.tooltip = "for a 2θ file (0: none; Cu Kα 1.5418)"
        self.refine_elements = LineEdit(value="Pb, S", label="cation, anion")
        self.refine_shape = ComboBox(choices=list(SHAPE_CHOICES), value="sphere", label="shape")
        self.refine_n_sizes = SpinBox(value=10, min=1, max=60, label="size classes")
        self.refine_size_min = FloatSpinBox(value=0.0, min=0.0, max=2000.0, step=0.5, label="classes from (Å)")
        self.refine_size_max = FloatSpinBox(value=0.0, min=0.0, max=2000.0, step=0.5, label="classes to (Å)")
        self.refine_size_min.tooltip = "smallest and largest class diameter; 0: mean × exp(±3.5 σ) of the start"
        self.refine_shell = FloatSpinBox(value=0.0, min=0.0, max=100.0, step=0.1, label="shell thickness (Å)")
        self.refine_background = SpinBox(value=2, min=1, max=8, label="background terms")
        rows = []
        for name, label, value, (lo, hi), step, free in PARAMETER_ROWS:
            box = FloatSpinBox(value=value, min=lo, max=hi, step=step, label=label)
            tick = CheckBox(value=free, text="free")
            setattr(self, f"refine_{name}", box)
            setattr(self, f"free_{name}", tick)
            rows.append(Container(widgets=[box, tick], layout="horizontal", label=label, labels=False))
        self.refine_button = PushButton(text="Refine")
        self.scan_name = ComboBox(choices=list(SCAN_CHOICES), value="alpha_rh", label="scan")
        self.scan_values = LineEdit(value="60, 59.7, 59.4, 59.1, 58.8", label="values")
        self.scan_button = PushButton(text="Scan χ²")
        self.widgets = [
            Label(value="— refine a population —"), self.refine_layer, self.refine_file, self.refine_x, self.refine_wavelength,
            self.refine_elements, self.refine_shape, self.refine_n_sizes, self.refine_size_min, self.refine_size_max,
            self.refine_shell,
            self.refine_background, *rows, self.refine_button, self.scan_name, self.scan_values, self.scan_button,
        ]

    def read(self, path=None):
        """The measured pattern (MeasuredPattern) of the chosen layer or file; ValueError when there is none or it
        is malformed (a 2θ pattern without the wavelength)."""
        from ...core.pattern_io import read_pattern

        lam = float(self.refine_wavelength.value) or None
        layer = self.refine_layer.value if path is None else None
        if layer is not None:
            meas = pattern_layer_columns(layer).to_pattern(x_unit=self.refine_x.value, wavelength=lam)
            meas.name = layer.name
            return meas
        path = chosen_path(self.refine_file, path)
        if path is None:
            raise ValueError("choose the measured pattern of the refinement first: a pattern layer (File > Open of a "
                             ".xy, .xye or .chi file) or a file (.xy, .xye, .dat, .chi, .csv)")
        return read_pattern(path, x_unit=self.refine_x.value, wavelength=lam)

    def model(self):
        """The start PopulationModel of the fields."""
        from ...core.debye.population import PopulationModel

        els = _element_list(self.refine_elements.value)
        if len(els) != 2:
            raise ValueError("give two elements, cation first, e.g. 'Pb, S'")
        values = {name: float(getattr(self, f"refine_{name}").value) for name, *_ in PARAMETER_ROWS}
        lo, hi = float(self.refine_size_min.value), float(self.refine_size_max.value)
        if (lo > 0) != (hi > 0) or (lo > 0 and lo >= hi):
            raise ValueError("give both class diameters, smallest < largest (or 0 and 0 for the automatic range)")
        return PopulationModel(elements=els, shape=SHAPE_CHOICES[self.refine_shape.value],
                               size_range=(lo, hi) if lo > 0 else None,
                               n_sizes=int(self.refine_n_sizes.value), shell_thickness=float(self.refine_shell.value),
                               background=(0.0,) * int(self.refine_background.value), **values)

    def free(self) -> tuple:
        """The ticked parameters, plus scale and background (always refined)."""
        ticked = tuple(name for name, *_ in PARAMETER_ROWS if getattr(self, f"free_{name}").value)
        return ticked + ("scale", "background")

    def scan(self):
        """(name, values) of the scan; ValueError for a malformed list."""
        try:
            values = [float(v) for v in re.split(r"[\s,;]+", self.scan_values.value.strip()) if v]
        except ValueError:
            values = []
        if len(values) < 2:
            raise ValueError("give at least two scan values, e.g. '60, 59.7, 59.4'")
        return self.scan_name.value, values

    def show(self, model) -> None:
        """Put a refined model's values into the fields."""
        for name, *_ in PARAMETER_ROWS:
            box = getattr(self, f"refine_{name}")
            box.value = min(max(model.parameter(name), box.min), box.max)
