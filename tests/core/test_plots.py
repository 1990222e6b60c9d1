"""The counting figure (core.plots.plot_counts, drawn by the Count dock and the demo): legend, star and ticks agree
with the counting, and the legends leave the data in sight."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from napari_nxtomo.core.counting import count_atoms
from napari_nxtomo.core.library import load_library
from napari_nxtomo.core.plots import chosen_k, plot_counts
from napari_nxtomo.core.workflow import count_table


def _drawn(volumes, res):
    fig = Figure(figsize=(5, 6), constrained_layout=True)
    FigureCanvasAgg(fig)
    plot_counts(fig, volumes, res)
    fig.canvas.draw()
    hist_ax = [a for a in fig.axes if a.get_ylabel() == "columns per bin"][0]
    icl_ax = [a for a in fig.axes if a.get_ylabel() == "ICL"][0]
    bar_ax = [a for a in fig.axes if a.get_ylabel() == "count (points colour)"][0]
    return fig, hist_ax, icl_ax, bar_ax


def _stars(icl_ax):
    return {ln.get_label(): int(ln.get_xdata()[0]) for ln in icl_ax.lines if ln.get_marker() == "*"}


def _check_layout(fig, hist_ax, icl_ax, bar_ax):
    """The legends above and below the plots (not over the bars or the curves); integer ticks for counts and
    columns."""
    renderer = fig.canvas.get_renderer()
    top, bottom = sorted(fig.legends, key=lambda lg: -lg.get_window_extent(renderer).y0)
    assert top.get_window_extent(renderer).y0 >= hist_ax.get_window_extent(renderer).y1 - 1  # above the bars
    assert bottom.get_window_extent(renderer).y1 <= icl_ax.get_window_extent(renderer).y0 + 1  # under the curves
    ticks = [t for t in bar_ax.get_yticks() if bar_ax.get_ylim()[0] <= t <= bar_ax.get_ylim()[1]]
    assert ticks and np.allclose(ticks, np.round(ticks))
    assert np.allclose(hist_ax.get_yticks(), np.round(hist_ax.get_yticks()))


def test_library_counting_legend_star_and_truth_agree():
    """Pb and Se columns of 2..7 atoms at the shipped [110] library's values × 1800 × the fit's capture of each type
    (Se holds less of its library value than Pb, measured on multislice images: library.table.FIT_CAPTURE), 1 %
    noise: the legend names the true window, counts 2–7, K = 6 per type, and the ICL panel stars the same K (not
    the library's 15 counts)."""
    lib = load_library("PbSe", (1, 1, 0), convergence_mrad=22, detector_mrad=(60, 140))
    rng = np.random.default_rng(0)
    rows = [(t, n) for t in ("Pb", "Se") for n in range(2, 8) for _ in range(15)]
    v = np.array([1800 * lib.fit_capture(t)[0] * lib.values(t)[n] for t, n in rows])
    table = pd.DataFrame({"volume": v + rng.normal(0, 0.01 * v), "volume_err": 0.01 * v,
                          "type": [t for t, _ in rows]})
    counted, res = count_table(table, library=lib)
    np.testing.assert_array_equal(counted["count"], [n for _, n in rows])
    fig, hist_ax, icl_ax, bar_ax = _drawn(table["volume"].to_numpy(), res)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "library classes\nPb: counts 2–7, K = 6\nSe: counts 2–7, K = 6" in texts
    assert _stars(icl_ax) == {"chosen: Pb K = 6": 6, "chosen: Se K = 6": 6}
    assert chosen_k(res) == {"Pb": 6, "Se": 6}
    _check_layout(fig, hist_ax, icl_ax, bar_ax)


@pytest.mark.parametrize("types", [None, np.repeat(["Pb", "Se"], 60)])
def test_mixture_legend_and_star_give_the_true_number_of_classes(types):
    """Three classes of columns (3, 4, 5 atoms; per type when typed): legend and star both say K = 3."""
    truth = np.tile(np.repeat([3, 4, 5], 20), 2)
    volumes = 0.02 * truth * np.where(types == "Se", 0.5, 1.0) if types is not None else 0.02 * truth
    volumes = volumes + np.random.default_rng(1).normal(0, 0.0015, truth.size)
    res = count_atoms(volumes, max_components=6, types=types)
    fig, hist_ax, icl_ax, bar_ax = _drawn(volumes, res)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    expected = "mixture\nK = 3" if types is None else "mixture\nPb: K = 3\nSe: K = 3"
    assert expected in texts
    assert set(_stars(icl_ax).values()) == {3}
    _check_layout(fig, hist_ax, icl_ax, bar_ax)
