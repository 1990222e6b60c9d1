"""The Debye dock's measured-pattern panel (read, fit scale and background) and its export panel (CSV)."""

from __future__ import annotations

from pathlib import Path

from magicgui.widgets import CheckBox, ComboBox, FileEdit, Label, PushButton

from ..dock import chosen_path
from .beam_panel import AXIS_KEYS, AXIS_Q, AXIS_TT

WEIGHT_CHOICES = {"Poisson-like, w = 1/I": "poisson", "unit weights": "unit"}
#: the layer choosers' first entry: read the file box instead
FROM_FILE = "(the file below)"


def pattern_layer_chooser(viewer, label: str) -> ComboBox:
    """A chooser of the viewer's measured-pattern layers (opened by the plugin's reader), the file box first."""
    from ...core.pattern_io import PATTERN_KEY

    def choices(*_):
        layers = [] if viewer is None else [ly for ly in viewer.layers if PATTERN_KEY in (ly.metadata or {})]
        return [(FROM_FILE, None)] + [(ly.name, ly) for ly in layers]

    box = ComboBox(choices=choices, label=label)
    box.tooltip = "a pattern opened in napari (File > Open of a .xy, .xye or .chi file), or the file box below"
    return box


def pattern_layer_columns(layer):
    """The PatternColumns of a measured-pattern layer (its features and metadata). ValueError if it is not one."""
    import numpy as np

    from ...core.pattern_io import PatternColumns
    from ...core.pattern_io import PATTERN_KEY

    info = (layer.metadata or {}).get(PATTERN_KEY)
    feats = layer.features
    if info is None or not {"x", "intensity", "sigma"} <= set(feats.columns):
        raise ValueError(f"layer '{layer.name}' is not a measured pattern: open the pattern file (.xy, .xye, .chi) "
                         "in napari, or choose it in the file box")
    return PatternColumns(feats["x"].to_numpy(float), str(info["x_kind"]), bool(info.get("x_named", False)),
                          feats["intensity"].to_numpy(float), np.asarray(feats["sigma"], dtype=float),
                          str(info.get("sigma_source", "file")), str(info.get("name", layer.name)))


class MeasuredPanel:
    """A measured pattern: file, which x it has, fit weights, flat background, 'Load and fit', 'Clear measured'."""

    def __init__(self, viewer=None):
        self.measured_layer = pattern_layer_chooser(viewer, "measured layer")
        self.measured_file = FileEdit(mode="r", label="measured pattern")
        self.measured_x = ComboBox(choices=[AXIS_Q, AXIS_TT], value=AXIS_Q, label="its x column")
        self.weights = ComboBox(choices=list(WEIGHT_CHOICES), value=list(WEIGHT_CHOICES)[0], label="fit weights")
        self.fit_background = CheckBox(value=True, text="fit a flat background")
        self.load_button = PushButton(text="Load and fit")
        self.clear_button = PushButton(text="Clear measured")
        self.widgets = [
            Label(value="— measured pattern —"),
            self.measured_layer, self.measured_file, self.measured_x, self.weights, self.fit_background,
            self.load_button, self.clear_button,
        ]

    def read(self, path=None) -> dict:
        """The measured pattern of the chosen layer, or in the file (``path`` if given): x, y, unit, name.

        ValueError if there is none.  A layer's x is Q or 2θ as its file said (the 'its x column' box follows).
        """
        from ...core.patterns import load_pattern

        layer = self.measured_layer.value if path is None else None
        if layer is not None:
            c = pattern_layer_columns(layer)
            self.measured_x.value = AXIS_TT if c.x_kind == "two_theta" else AXIS_Q
            return {"x": c.x, "y": c.intensity, "unit": self.measured_x.value, "name": layer.name}
        path = chosen_path(self.measured_file, path)
        if path is None:
            raise ValueError("choose the measured pattern file first (two columns: x, intensity)")
        x, y = load_pattern(path)
        return {"x": x, "y": y, "unit": self.measured_x.value, "name": path.name}

    def fit(self, pattern, measured):
        """Scale and flat background of ``pattern`` fitted to ``measured`` (which gets its ``x_axis``)."""
        from ...core.patterns import fit_scale_background

        measured["unit"] = self.measured_x.value
        xm = pattern.on_axis(measured["x"], AXIS_KEYS[measured["unit"]])
        fit = fit_scale_background(
            pattern.x, pattern.intensity, xm, measured["y"],
            weighting=WEIGHT_CHOICES[self.weights.value], background=bool(self.fit_background.value),
        )
        measured["x_axis"] = xm
        return fit


class ExportPanel:
    """The CSV file to write and 'Export CSV'."""

    def __init__(self):
        self.export_file = FileEdit(mode="w", filter="*.csv", label="CSV file")
        self.export_button = PushButton(text="Export CSV")
        self.widgets = [Label(value="— export —"), self.export_file, self.export_button]

    def path(self, path=None) -> Path:
        """The CSV file to write (``path`` if given; the suffix made .csv). ValueError if there is none."""
        path = chosen_path(self.export_file, path)
        if path is None:
            raise ValueError("choose the CSV file to write first")
        path = Path(path)
        return path if path.suffix.lower() == ".csv" else path.with_suffix(".csv")


def pattern_table(p, fit, measured_name, unit):
    """Columns, extra columns (other grids) and comment lines of the CSV of pattern ``p``.

    ``fit`` (a PatternFit or None) adds the fitted curve and the measured
    points; ``unit`` is the intensity unit ("e2" or "fm2").
    """
    cols = {"q_inv_A": p.q}
    if p.two_theta is not None:
        cols["two_theta_deg"] = p.two_theta
    cols[f"intensity_{unit}"] = p.intensity
    extra = {}
    comments = [
        f"Debye pattern of {p.model.description}: {len(p.model.positions)} atoms",
        f"radiation {p.radiation}, wavelength {p.wavelength:.6g} A"
        + (f", anomalous terms at {p.energy_keV:.6g} keV" if p.energy_keV is not None else "")
        + f", B {p.b_iso if p.b_iso is not None else 0} A^2, method {p.method}",
        f"intensity_{unit}: {unit} per particle (no polarisation, absorption or Lorentz factors)",
    ]
    if fit is not None:
        cols["fitted"] = fit.apply(p.intensity)
        xname = "measured_q_inv_A" if p.axis == "q" else "measured_two_theta_deg"
        extra = {xname: fit.x, "measured": fit.measured, "measured_fitted": fit.fitted,
                 "measured_residual": fit.residual}
        comments.append(f"measured {measured_name}: {fit.describe()}")
        comments.append(
            "fitted = scale * intensity + background; measured_* columns: the measured points in the overlap")
    if p.g is not None:
        extra.update({"r_A": p.r, "G_inv_A2": p.g})
    return cols, extra, comments
