"""The figures the command line and the demo write (PNG, matplotlib's Agg backend).

Lengths on the axes in Å, Q in Å⁻¹, intensities in electrons² per particle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.columns import holds_element
from ..core.workflow import reprojection_table

__all__ = ["count_figure", "model_figures", "overview_figure", "pattern_figure", "pipeline_figures"]


def _pyplot():
    """pyplot on the Agg backend (files only, no window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(**kwargs):
    """A matplotlib Figure not attached to pyplot (Agg unless a backend is already chosen)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _save(fig, path, dpi: int) -> None:
    """Write a figure as PNG atomically (a temporary file beside ``path``, renamed when complete)."""
    from ..core.tables import atomic_open

    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, dpi=dpi, format=Path(path).suffix.lstrip(".").lower() or "png")


def _extent(image, pixel_size: float) -> tuple:
    """imshow extent (left, right, bottom, top) in Å of an image whose pixel centres sit at multiples of the pixel."""
    h, w = image.shape
    p = pixel_size
    return (-0.5 * p, (w - 0.5) * p, (h - 0.5) * p, -0.5 * p)


def overview_figure(particle, path: Path) -> None:
    """Each view of a sample particle with its true columns coloured by Pb count.

    Examples
    --------
    >>> import tempfile
    >>> from napari_nxtomo.core.samples import pbse_cuboctahedron
    >>> path = Path(tempfile.mkdtemp()) / "overview.png"
    >>> overview_figure(pbse_cuboctahedron(noise=False, n_half=2), path)
    >>> path.stat().st_size > 10_000
    True
    """
    plt = _pyplot()
    n = len(particle.views)
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 5), constrained_layout=True)
    for ax, view in zip(np.atleast_1d(axes), particle.views):
        ax.imshow(view.image, cmap="gray", extent=_extent(view.image, view.pixel_size))
        col = view.columns
        sc = ax.scatter(col.x, col.y, c=col.get("n_Pb", col.n_atoms), s=6, cmap="viridis")
        ax.set_title(f"{view.name}\ntrue columns coloured by Pb count")
        ax.set_xlabel("x (Å)")
        ax.set_ylabel("y (Å)")
    fig.colorbar(sc, ax=axes, shrink=0.8, label="Pb atoms in column")
    _save(fig, path, 110)
    plt.close(fig)


def pipeline_figures(folder: Path, views, tables, counts, result, pattern, true_pattern) -> None:
    """The demo's figures: columns by count, histograms + ICL, the 3D model, re-projection, pattern.

    Parameters
    ----------
    folder : Path
    views : list of SimulatedImage
    tables : list of pandas.DataFrame
        The fitted and counted columns of each view.
    counts : list of CountResult
    result : ReconstructionResult
    pattern : (q, intensity)
        The reconstructed model's pattern.
    true_pattern : (M,) array
        The true model's pattern on the same Q.
    """
    _columns_by_count(folder, views, tables)
    _count_histograms(folder, views, tables, counts)
    model_figures(folder, result, [v.name for v in views])
    _pattern_against_truth(folder, pattern, true_pattern)


def _columns_by_count(folder: Path, views, tables) -> None:
    plt = _pyplot()
    n = len(views)
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 4.6), constrained_layout=True)
    for ax, view, table in zip(np.atleast_1d(axes), views, tables):
        ax.imshow(view.image, cmap="gray", extent=_extent(view.image, view.pixel_size))
        pb = holds_element(table["type"], "Pb")
        sc = ax.scatter(table.x[pb], table.y[pb], c=table["count"][pb], s=7, cmap="viridis")
        ax.set_title(f"{view.name}: fitted Pb columns by count", fontsize=9)
        ax.set_xlabel("x (Å)")
        ax.set_ylabel("y (Å)")
        fig.colorbar(sc, ax=ax, shrink=0.8, label="Pb atoms")
    _save(fig, folder / "columns_by_count.png", 100)
    plt.close(fig)


def _count_histograms(folder: Path, views, tables, counts) -> None:
    from ..core.plots import plot_counts

    plt = _pyplot()
    n = len(views)
    fig = plt.figure(figsize=(5.2 * n, 5.5), constrained_layout=True)
    for sub, view, table, res in zip(fig.subfigures(1, n), views, tables, counts):
        plot_counts(sub, table["volume"].to_numpy(), res)
        sub.axes[0].set_title(view.name, fontsize=9)  # under the legend the layout puts above the plots
    _save(fig, folder / "count_histograms.png", 100)
    plt.close(fig)


def _pattern_against_truth(folder: Path, pattern, true_pattern) -> None:
    plt = _pyplot()
    q, i_model = pattern
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    ax.plot(q, true_pattern, "k", lw=1.2, label="true model (Pb + Se)")
    ax.plot(q, i_model, "C1", lw=1, ls="--", label="reconstructed Pb + completed Se")
    ax.set_yscale("log")
    ax.set_xlabel("Q (Å⁻¹)")
    ax.set_ylabel("I(Q) (e² per particle)")
    ax.legend()
    _save(fig, folder / "debye_pattern.png", 100)
    plt.close(fig)


def model_figures(folder: Path, result, names) -> None:
    """The 3D model seen along the cube axes, coloured by certainty; measured against re-projected counts.

    Writes ``model_certainty.png`` and ``reprojection.png`` into ``folder``.

    Examples
    --------
    >>> import tempfile
    >>> from napari_nxtomo.core.groundtruth import projections_from_truth
    >>> from napari_nxtomo.core.samples import pbse_cuboctahedron
    >>> from napari_nxtomo.core.tomography import reconstruct
    >>> particle = pbse_cuboctahedron(noise=False, n_half=2)
    >>> projections, _ = projections_from_truth(particle)
    >>> result = reconstruct(projections, particle.lattice_parameter, n_runs=0, method="exact")
    >>> folder = Path(tempfile.mkdtemp())
    >>> model_figures(folder, result, ["100", "010", "110"])
    >>> sorted(p.name for p in folder.iterdir())
    ['model_certainty.png', 'reprojection.png']
    """
    _certainty_views(folder, result)
    _reprojection_scatter(folder, result, names)


def _certainty_views(folder: Path, result) -> None:
    plt = _pyplot()
    sites = result.sites
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6), constrained_layout=True)
    occ = sites["occupied"].to_numpy()
    for ax, (i, j, seen) in zip(axes, [(0, 1, "along z [001]"), (0, 2, "along y [010]"), (1, 2, "along x [100]")]):
        xyz = sites[["x", "y", "z"]].to_numpy()[occ]
        depth = 3 - i - j
        order = np.argsort(xyz[:, depth])
        sc = ax.scatter(xyz[order, i], xyz[order, j], c=sites["certainty"].to_numpy()[occ][order], cmap="plasma",
                        vmin=0, vmax=1, s=25, edgecolors="k", linewidths=0.2)
        ax.set_aspect("equal")
        ax.set_xlabel(f"{'xyz'[i]} (Å)")
        ax.set_ylabel(f"{'xyz'[j]} (Å)")
        ax.set_title(f"reconstructed Pb, seen {seen}", fontsize=9)
    fig.colorbar(sc, ax=axes, shrink=0.8, label="certainty")
    _save(fig, folder / "model_certainty.png", 100)
    plt.close(fig)


def _reprojection_scatter(folder: Path, result, names) -> None:
    import matplotlib as mpl
    import matplotlib.ticker  # noqa: F401  (mpl.ticker below)

    plt = _pyplot()
    n = len(names)
    summary = reprojection_table(result, names)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4), constrained_layout=True)
    for ax, rep, row in zip(np.atleast_1d(axes), result.reprojection, summary.itertuples()):
        m = rep[rep["input_index"] >= 0]
        # many columns share a (measured, model) pair: one disc per pair, its area and label their number
        pairs, n = np.unique(m[["measured", "reconstructed"]].to_numpy(), axis=0, return_counts=True)
        off = pairs[:, 0] != pairs[:, 1]
        ax.scatter(pairs[:, 0], pairs[:, 1], s=12 + 6 * n, c=np.where(off, "C3", "C0"), alpha=0.7)
        for (xm, ym), k in zip(pairs, n):
            ax.annotate(str(k), (xm, ym), textcoords="offset points", xytext=(5, -9), fontsize=7)
        top = float(max(m["measured"].max(), m["reconstructed"].max())) + 1
        ax.plot([0, top], [0, top], "k--", lw=0.8)
        ax.set_title(f"{row.projection}\nre-projection: {row.columns_off} of {row.columns} columns off", fontsize=9)
        ax.set_xlabel("measured Pb count")
        ax.set_ylabel("model Pb count")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))  # counts are whole numbers
    _save(fig, folder / "reprojection.png", 100)
    plt.close(fig)


def pattern_figure(q, intensity, path: Path, title: str = "") -> None:
    """A Debye pattern on a log scale.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "pattern.png"
    >>> q = np.linspace(1.0, 10.0, 50)
    >>> pattern_figure(q, 1.0 + np.sinc(q) ** 2, path, title="a test")
    >>> path.stat().st_size > 5_000
    True
    """
    fig = _figure(figsize=(6, 3.5), constrained_layout=True)
    ax = fig.subplots()
    ax.plot(q, intensity, lw=1)
    ax.set_xlabel("Q (Å⁻¹)")
    ax.set_ylabel("I(Q) (e² per particle)")
    if np.any(np.asarray(intensity, dtype=float) > 0):  # a log axis needs a positive value (an empty model has none)
        ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    _save(fig, path, 110)


def count_figure(volumes, res, path: Path, title: str = "") -> None:
    """Histogram with the mixture and the ICL curve, as the Count atoms dock draws it.

    Examples
    --------
    >>> import tempfile
    >>> from napari_nxtomo.core.counting import count_atoms
    >>> volumes = np.repeat([1.0, 2.0, 3.0], 20) + np.tile(np.linspace(-0.05, 0.05, 20), 3)
    >>> path = Path(tempfile.mkdtemp()) / "counts.png"
    >>> count_figure(volumes, count_atoms(volumes, max_components=4), path, title="three classes")
    >>> path.stat().st_size > 10_000
    True
    """
    from ..core.plots import plot_counts

    fig = _figure(figsize=(6, 6), constrained_layout=True)
    plot_counts(fig, volumes, res)
    if title:
        fig.axes[0].set_title(title, fontsize=9)  # under the legend the layout puts above the plots
    _save(fig, path, 110)


def refine_figure(q, measured, model, path: Path, title: str = "", scan=None) -> None:
    """Measured pattern, refined model and their difference below (the seed paper's Fig. 1b); with
    ``scan`` (values, χ²_red, name) a second panel of χ² against the scanned parameter (Fig. 1c).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "refined.png"
    >>> q = np.linspace(1.0, 10.0, 50)
    >>> refine_figure(q, 1.0 + np.sinc(q) ** 2, 1.01 + np.sinc(q) ** 2, path, "a test",
    ...               scan=([60.0, 59.5, 59.0], [3.0, 1.0, 2.0], "alpha_rh"))
    >>> path.stat().st_size > 5_000
    True
    """
    fig = _figure(figsize=(10 if scan is not None else 6, 4), constrained_layout=True)
    axes = fig.subplots(1, 2 if scan is not None else 1, squeeze=False)[0]
    ax = axes[0]
    diff = np.asarray(measured) - np.asarray(model)
    offset = np.min(measured) - np.max(diff) - 0.05 * np.ptp(measured)
    ax.plot(q, measured, ".", ms=2, color="k", label="measured")
    ax.plot(q, model, lw=1, color="tab:green", label="model")
    ax.plot(q, diff + offset, lw=0.8, color="tab:red", label="difference")
    ax.set_xlabel("Q (Å⁻¹)")
    ax.set_ylabel("intensity")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    if scan is not None:
        values, chi2, name = scan
        axes[1].plot(values, chi2, "o-")
        axes[1].set_xlabel(name)
        axes[1].set_ylabel("reduced χ²")
    _save(fig, path, 110)
