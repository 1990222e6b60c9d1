"""Figures shared by the docks and the command line (matplotlib, no Qt)."""

from __future__ import annotations

import numpy as np


def plot_counts(fig, volumes, res, cmap: str = "viridis") -> None:
    """Draw the counting result on a matplotlib figure.

    Top: histogram of the cross-sections with the fitted mixture and its
    components coloured by count (a colour bar gives the count ↔ colour
    legend used for the points); bottom: the ICL against the number of
    components with the K it chose marked (its minimum; with per-column
    errors the minimum among the fits that resolve the classes), one curve
    per column type.  A library's counting also draws the library's values
    times its scale as dashed lines.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    volumes : (N,) array
        Cross-sections, Å².
    res : CountResult
    cmap : str
        Colormap of the counts.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from napari_nxtomo.core.counting import count_atoms
    >>> volumes = np.random.default_rng(0).normal(np.repeat([1.0, 2.0, 3.0], 40), 0.05)
    >>> fig = Figure()
    >>> plot_counts(fig, volumes, count_atoms(volumes, max_components=5))
    >>> len(fig.axes) >= 2
    True
    """
    import matplotlib as mpl
    import matplotlib.ticker  # noqa: F401  (mpl.ticker below)

    volumes = np.asarray(volumes, dtype=float)
    ax, ax2 = fig.subplots(2, 1, height_ratios=[2, 1])
    n = len(volumes)
    edges = np.histogram_bin_edges(volumes, bins=max(20, min(200, n // 3)))
    ax.hist(volumes, bins=edges, color="0.8", label="columns")
    x = np.linspace(edges[0], edges[-1], 1000)
    lo, hi = int(np.min(res.counts)), int(np.max(res.counts))
    norm = mpl.colors.Normalize(lo, max(hi, lo + 1))
    cm = mpl.colormaps[cmap]
    total, parts = res.pdf(x)
    scale = n * (edges[1] - edges[0])
    counts_k = np.asarray(res.component_counts)
    for k in range(parts.shape[-1]):
        ax.plot(x, scale * parts[..., k], color=cm(norm(counts_k[k])), lw=1)
    chosen = chosen_k(res)
    ax.plot(x, scale * total, color="k", lw=1.2, label=_mixture_label(res, chosen))
    _library_lines(ax, res, cm, norm, (edges[0], edges[-1]))
    ax.set_xlabel("cross-section (Å²)")
    ax.set_ylabel("columns per bin")
    ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))  # columns are counted: whole numbers
    # above the plots, not over the bars: the figure's legend, for which the layout makes room above
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", fontsize=7, ncol=3, frameon=False,
               columnspacing=1.0, handlelength=1.5)
    cb = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cm), ax=ax, pad=0.01)
    cb.locator = mpl.ticker.MaxNLocator(integer=True)  # counts are integers: no tick at 2.5
    cb.update_ticks()
    cb.set_label("count (points colour)")
    _icl_panel(ax2, res, chosen)


def chosen_k(res) -> dict:
    """The number of classes each column type's counting chose, as the ICL panel's star and the legend show it.

    A library's: the number of counts in its window (the classes of mixed columns are that many counts with
    their ±1 light-atom sub-classes); else ``res.n_components_icl`` of each type (the ICL's minimum, or with
    per-column errors the minimum among the fits that resolve their classes), else the curve's minimum.

    Returns
    -------
    dict
        Type (``""`` for an untyped counting) -> K.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_nxtomo.core.counting import count_atoms
    >>> chosen_k(count_atoms(np.repeat([1.0, 2.0, 3.0], 30) + np.tile(np.linspace(-0.05, 0.05, 30), 3)))
    {'': 3}
    """
    icl = np.atleast_2d(np.asarray(res.icl, dtype=float))
    names = list(res.by_type) if res.by_type else [""]
    out = {}
    for row, name in zip(icl, names):
        good = np.isfinite(row)
        r = res.by_type[name] if res.by_type else res
        window = r.params.get("window") if "library" in r.method else None
        kc = int(window[1] - window[0] + 1) if window is not None else int(r.n_components_icl)
        if good.any() and not (1 <= kc <= row.size and np.isfinite(row[kc - 1])):
            kc = int(np.arange(1, row.size + 1)[good][np.argmin(row[good])])
        out[name] = kc
    return out


def _icl_panel(ax2, res, chosen) -> None:
    """The ICL against the number of components, one curve per column type, the chosen K starred."""
    import matplotlib as mpl

    icl = np.atleast_2d(np.asarray(res.icl, dtype=float))
    names = list(res.by_type) if res.by_type else [""]
    for row, name in zip(icl, names):
        good = np.isfinite(row)
        if not good.any():
            continue
        k = np.arange(1, row.size + 1)
        ax2.plot(k[good], row[good], "o-", ms=3, label=f"ICL {name}".strip())
        kc = chosen[name]
        ax2.plot(kc, row[kc - 1], "r*", ms=10, label=f"chosen: {name + ' ' if name else ''}K = {kc}")
    if ax2.lines:
        ax2.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        ax2.set_xlabel("number of components")
        ax2.set_ylabel("ICL")
        # below the plots, not over the curves (nor beside them, where it would narrow the plots)
        ax2.figure.legend(*ax2.get_legend_handles_labels(), loc="outside lower center", fontsize=7, frameon=False,
                          ncol=2 * max(1, len(names)), columnspacing=1.0, handlelength=1.5)
    else:
        ax2.set_axis_off()
        ax2.text(0.5, 0.5, "library: no mixture, no ICL", ha="center", va="center", transform=ax2.transAxes)


def _library_lines(ax, res, cm, norm, span) -> None:
    """The library's values times the fitted (or given) scale as dashed vertical lines, coloured by count."""
    parts = list(res.by_type.values()) if res.by_type else [res]
    first = True
    for r in parts:
        if not r.library or "scale" not in r.params:
            continue
        c = float(r.params["scale"])
        for key, v in sorted(r.library.items()):
            if span[0] <= c * v <= span[1]:
                count = key if np.ndim(key) == 0 else key[0]
                ax.axvline(c * v, color=cm(norm(count)), lw=0.8, ls="--", label="library × scale" if first else None)
                first = False


def _mixture_label(res, chosen) -> str:
    """The legend of the mixture curve: the K of each column type, as the ICL panel stars it (a library: also the
    counts of its window)."""
    parts = res.by_type if res.by_type else {"": res}

    def one(name, r):
        window = r.params.get("window") if "library" in r.method else None
        counts = f"counts {window[0]}–{window[1]}, " if window is not None else ""
        sub = " (±1 Se)" if window is not None and r.minor_counts is not None else ""
        return f"{name + ': ' if name else ''}{counts}K = {chosen[name]}{sub}"

    what = "library classes" if "library" in res.method else "mixture"
    return f"{what}\n" + "\n".join(one(t, r) for t, r in parts.items())
