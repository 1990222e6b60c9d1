"""The Debye dock's plots: I(Q) (with the measured pattern, the fit and its residual) and G(r), in two tabs."""

from __future__ import annotations

import textwrap

from magicgui.widgets import CheckBox
from qtpy.QtWidgets import QTabWidget

from ..dock import figure_canvas
from .beam_panel import AXIS_LABELS


class PatternPlot:
    """Two figures in tabs (``figure``: I(Q), ``figure_gr``: G(r)) and a 'log intensity' switch.

    ``lines`` names the curves last drawn: simulated, measured, fitted,
    residual, G(r).
    """

    def __init__(self):
        self.figure, self.canvas = figure_canvas((4, 3.5), min_height=260)
        self.figure_gr, self.canvas_gr = figure_canvas((4, 3.5))
        self.figure_refine, self.canvas_refine = figure_canvas((4, 3.5))
        self.tabs = QTabWidget()
        self.tabs.addTab(self.canvas, "I(Q)")
        self.tabs.addTab(self.canvas_gr, "G(r)")
        self.tabs.addTab(self.canvas_refine, "Refine")
        self.log_y = CheckBox(value=False, text="log intensity")
        self.lines = {}

    def draw(self, pattern, measured, fit, axis, intensity_unit):
        """Draw the pattern (or the measured one alone, or both with the fit and its residual), and G(r).

        ``axis`` is the axis chosen, as labelled (used when there is no pattern yet);
        ``intensity_unit`` labels a pattern drawn without a fit.
        """
        self.figure.clear()
        self.lines = {}
        xlabel = AXIS_LABELS[pattern.axis] if pattern is not None else axis
        if fit is not None and pattern is not None:
            ax = self._draw_fit(pattern, measured, fit, xlabel)
        else:
            ax = self._draw_pattern(pattern, measured, xlabel, intensity_unit)
        if self.log_y.value:
            ax.set_yscale("log")
        self.canvas.draw_idle()
        self._draw_gr(pattern)

    def _draw_fit(self, p, m, fit, xlabel):
        ax, axr = self.figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        (self.lines["measured"],) = ax.plot(m["x_axis"], m["y"], ".", ms=2, color="0.45",
                                            label=f"measured ({m['name']})")
        (self.lines["fitted"],) = ax.plot(p.x, fit.apply(p.intensity), "-", lw=1.0, color="C3",
                                          label="Debye × scale + background")
        ax.set_ylabel("intensity (measured units)")
        ax.legend(fontsize=7)
        (self.lines["residual"],) = axr.plot(fit.x, fit.residual, "-", lw=0.8, color="C0")
        axr.axhline(0.0, color="0.6", lw=0.5)
        axr.set_ylabel("meas. − fit")
        axr.set_xlabel(xlabel)
        w = "Poisson-like weights" if fit.weighting == "poisson" else "unit weights"
        ax.set_title(f"reduced χ² = {fit.chi2_red:.4g} ({w})", fontsize=8)
        return ax

    def _draw_pattern(self, p, m, xlabel, intensity_unit):
        ax = self.figure.subplots()
        if p is not None:
            (self.lines["simulated"],) = ax.plot(p.x, p.intensity, "-", lw=1.0, color="C3", label="Debye")
            ax.set_title(textwrap.fill(p.model.description, 60), fontsize=7)  # the dock is narrow: wrapped
        if m is not None and p is None:
            (self.lines["measured"],) = ax.plot(m["x"], m["y"], ".", ms=2, color="0.45")
            xlabel = m["unit"]
        ax.set_ylabel(f"I ({intensity_unit} per particle)")
        ax.set_xlabel(xlabel)
        return ax

    def draw_refinement(self, refined, scan=None):
        """The refined population over its measured pattern with the difference below, and χ² of a scan
        beside (the seed paper's Fig. 1b, c); ``refined`` a RefineResult (or None), ``scan`` a ScanResult."""
        self.figure_refine.clear()
        panels = (refined is not None) + (scan is not None)
        if panels == 0:
            self.canvas_refine.draw_idle()
            return
        grid = self.figure_refine.add_gridspec(2, panels, height_ratios=[3, 1])
        col = 0
        if refined is not None:
            ax = self.figure_refine.add_subplot(grid[0, 0])
            axr = self.figure_refine.add_subplot(grid[1, 0], sharex=ax)
            (self.lines["refine measured"],) = ax.plot(refined.q, refined.intensity + refined.difference, ".",
                                                       ms=2, color="0.45", label="measured")
            (self.lines["refine model"],) = ax.plot(refined.q, refined.intensity, "-", lw=1.0, color="C2",
                                                    label="population")
            (self.lines["refine difference"],) = axr.plot(refined.q, refined.difference, "-", lw=0.8, color="C3")
            ax.legend(fontsize=7)
            ax.set_title(f"χ²_red {refined.chi2_red:.4g}, R_wp {refined.r_wp:.4g}", fontsize=8)
            axr.set_xlabel("Q (Å⁻¹)")
            axr.set_ylabel("meas. − model")
            col = 1
        if scan is not None:
            axs = self.figure_refine.add_subplot(grid[:, col])
            (self.lines["scan"],) = axs.plot(scan.values, scan.chi2_red, "o-")
            axs.set_xlabel(scan.name)
            axs.set_ylabel("reduced χ²")
            axs.set_title(f"minimum at {scan.best:g}", fontsize=8)
        self.canvas_refine.draw_idle()

    def _draw_gr(self, p):
        self.figure_gr.clear()
        axg = self.figure_gr.subplots()
        if p is not None and p.g is not None:
            (self.lines["G(r)"],) = axg.plot(p.r, p.g, "-", lw=1.0, color="C2")
            axg.axhline(0.0, color="0.6", lw=0.5)
            axg.set_title(f"Q_max = {p.q_max:.3g} Å⁻¹", fontsize=8)
        axg.set_xlabel("r (Å)")
        axg.set_ylabel("G(r) (Å⁻²)")
        self.canvas_gr.draw_idle()
