"""Ground-truth inputs for the tests and the benchmarks.

* The abTEM multislice images stored with the tests (``tests/core/data/
  multislice``, made by ``benchmarks/multislice/make_images.py``): each view
  is a noise-free image (the fraction of the incident probe reaching the
  detector per pixel), its true columns and a JSON sidecar;
  :func:`load_multislice_view` reads one from the folder it is given (the
  bundled cuboctahedron at the top, other particles, :data:`MULTISLICE_PARTICLES`,
  in sub-folders) and :func:`noisy_image` draws Poisson noise at a dose.
* :func:`projections_from_truth`: the true columns of a sample particle's
  images as :class:`~napari_nxtomo.core.tomography.Projection` objects,
  exact or with a fraction of the counts off by one;
  :func:`counted_tables_from_truth`: the same columns as counted tables.
* The starter set of another particle (``shared/data/multislice/
  pbse_truncated_octahedron``: ``haadf_<axis>.npz`` and ``truth.npz``):
  :func:`load_starter_view` reads one view with its true columns, and
  :func:`empirical_library` fits its images and takes the mean fitted
  cross-section per true count and column type: a cross-section library for
  :func:`~napari_nxtomo.core.counting.count_atoms` until simulated ones exist.

Lengths in Å, doses in electrons per Å².
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .geometry import ProjectionGeometry

__all__ = [
    "MULTISLICE_DOSE",
    "MULTISLICE_MIN_DISTANCE",
    "MULTISLICE_PARTICLES",
    "MULTISLICE_VIEWS",
    "SAMPLE_MULTISLICE_DIR",
    "MultisliceView",
    "counted_tables_from_truth",
    "counting_ceiling",
    "empirical_library",
    "fit_and_match",
    "library_from_json",
    "library_to_json",
    "load_starter_view",
    "load_multislice_view",
    "noisy_image",
    "STARTER_VIEWS",
    "projections_from_truth",
]

#: the views of the bundled cuboctahedron the tests count on: [100] (mixed Pb/Se columns) and [110]
#: the bundled cuboctahedron's multislice images (package data: the images of the
#: sample :func:`napari_nxtomo.core.multislice_sample.pbse_cuboctahedron_multislice`)
SAMPLE_MULTISLICE_DIR = Path(__file__).resolve().parents[1] / "data" / "samples" / "pbse_cuboctahedron"
#: (Pb and Se columns); [010] is stored too (``haadf_010.*``)
MULTISLICE_VIEWS = ("100", "110")
#: other particles stored, each in its own sub-folder of the data folder, to the views stored
MULTISLICE_PARTICLES = {"pbse_irregular": ("100", "010", "110"), "pbse_cuboctahedron_3nm": ("100", "010", "110"),
                        "pbse_truncated_octahedron_3nm": ("100", "010", "110"),
                        "pbse_truncated_cube_3nm": ("100", "010", "110"), "pbse_cuboid_3nm": ("100", "010", "110"),
                        "pbse_rhombic_3nm": ("100", "010", "110"), "pbse_elongated_4nm": ("100", "010", "110"),
                        "pbse_octahedral_4nm": ("100", "010", "110"), "pbse_stepped_4nm": ("100", "010", "110")}
#: electrons per Å² of the tests' and the benchmark's noisy realisations
MULTISLICE_DOSE = 1e5
#: the starter set's views (``haadf_<name>.npz``) and their zone axes
STARTER_VIEWS = {"100": (1, 0, 0), "010": (0, 1, 0), "110": (1, 1, 0)}
#: smallest column spacing × ~0.7 (Å): a/2 = 3.06 Å along [100], a/(2√2) = 2.16 Å along [110]
MULTISLICE_MIN_DISTANCE = {"100": 2.1, "010": 2.1, "110": 1.5}


@dataclass
class MultisliceView:
    """One stored multislice view.

    Attributes
    ----------
    name : str
        The zone axis as text, e.g. ``"110"``.
    image : (H, W) float32 ndarray
        Noise-free: fraction of the incident probe reaching the detector, per pixel.
    pixel_size : float
        Å.
    zone_axis : tuple of int
    origin : (2,) ndarray
        Image position (Å) of the particle's centre.
    columns : pandas.DataFrame
        The true columns: ``y, x`` (Å), ``type``, ``n_atoms``, ``n_Pb``, ``n_Se``.
    meta : dict
        The JSON sidecar (every setting of the simulation).
    """

    name: str
    image: np.ndarray
    pixel_size: float
    zone_axis: tuple
    origin: np.ndarray
    columns: pd.DataFrame
    meta: dict

    @property
    def geometry(self) -> ProjectionGeometry:
        """The projection geometry (zone axis and tilt axis of the sidecar)."""
        return ProjectionGeometry(self.zone_axis, tuple(self.meta["tilt_axis"]))


def load_multislice_view(folder, name: str, particle: str | None = None) -> MultisliceView:
    """Read one stored multislice view (``haadf_<name>.json`` and the files it names).

    Parameters
    ----------
    folder : str or Path
        The data folder (``tests/core/data/multislice`` in the repository).
    name : str
        The view, e.g. ``"110"`` (:data:`MULTISLICE_VIEWS`, or ``"010"``).
    particle : str, optional
        A particle stored in its own sub-folder of ``folder`` (one of
        :data:`MULTISLICE_PARTICLES`); by default the bundled cuboctahedron at
        the top of ``folder``.

    Returns
    -------
    MultisliceView

    Examples
    --------
    A view folder as ``benchmarks/multislice/make_images.py`` writes it (here a
    tiny stand-in written on the spot):

    >>> import json, tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> np.save(folder / "haadf_110.npy", np.zeros((30, 40)))
    >>> pd.DataFrame({"y": [1.0], "x": [2.0], "n_Pb": [5]}).to_csv(folder / "columns_110.csv", index=False)
    >>> meta = {"pixel_size_A": 0.2, "zone_axis": [1, 1, 0], "origin_A": [3.0, 4.0], "columns_file": "columns_110.csv"}
    >>> _ = (folder / "haadf_110.json").write_text(json.dumps(meta))
    >>> view = load_multislice_view(folder, "110")
    >>> view.zone_axis, view.pixel_size, view.image.shape, len(view.columns)
    ((1, 1, 0), 0.2, (30, 40), 1)

    Another particle lives in a sub-folder of its name:

    >>> import shutil
    >>> _ = shutil.copytree(folder, folder / "pbse_irregular", ignore=shutil.ignore_patterns("pbse_*"))
    >>> load_multislice_view(folder, "110", particle="pbse_irregular").image.shape
    (30, 40)
    """
    folder = Path(folder) if particle is None else Path(folder) / particle
    if not (folder / f"haadf_{name}.json").is_file():
        raise FileNotFoundError(
            f"no multislice view {name!r} in {folder}: run benchmarks/multislice/make_images.py "
            f"(--particle, --views) to make it"
        )
    meta = json.loads((folder / f"haadf_{name}.json").read_text())
    return MultisliceView(
        name=name,
        image=np.load(folder / f"haadf_{name}.npy"),
        pixel_size=float(meta["pixel_size_A"]),
        zone_axis=tuple(meta["zone_axis"]),
        origin=np.asarray(meta["origin_A"], dtype=float),
        columns=pd.read_csv(folder / meta["columns_file"]),
        meta=meta,
    )


def noisy_image(view, dose: float, seed: int) -> np.ndarray:
    """Poisson noise at ``dose`` e/Å²: counts = Poisson(image · dose · pixel²), back in image units.

    Parameters
    ----------
    view : MultisliceView
        Or anything with ``image`` (fraction of the beam per pixel) and
        ``pixel_size`` (Å).
    dose : float
        Incident electrons per Å².
    seed : int

    Returns
    -------
    (H, W) ndarray

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> view = SimpleNamespace(image=np.full((2, 2), 0.5), pixel_size=0.2)
    >>> noisy_image(view, 100.0, seed=0).shape
    (2, 2)
    """
    per_pixel = dose * view.pixel_size**2
    rng = np.random.default_rng(seed)
    return rng.poisson(np.clip(view.image, 0, None).astype(float) * per_pixel) / per_pixel


def projections_from_truth(particle, n_views: int = 3, miscount_fraction: float = 0.0, seed: int = 0, **kwargs):
    """Projections of a sample particle's true Pb columns, a fraction of their counts off by ±1.

    Parameters
    ----------
    particle : SampleParticle
        Its views' true columns (positions with each view's random shift,
        so the offsets are left to find) and Pb counts are used; along [110]
        only the columns that hold Pb.
    n_views : int
        The first ``n_views`` views.
    miscount_fraction : float
        Each column's count is off by one (up or down, at least 0) with this
        probability.
    seed : int
        Seed of the miscounts.
    **kwargs
        Passed to :class:`~napari_nxtomo.core.tomography.Projection`.

    Returns
    -------
    projections : list of Projection
    miscounted : list of (N,) bool ndarray
        Which columns of each projection were miscounted.

    Examples
    --------
    >>> from napari_nxtomo.core.samples import pbse_cuboctahedron
    >>> projections, wrong = projections_from_truth(pbse_cuboctahedron(noise=False, n_half=2), 2, 0.2)
    >>> [p.name for p in projections], [int(w.sum()) for w in wrong]
    (['[100]', '[010]'], [7, 4])
    """
    from .tomography import Projection

    rng = np.random.default_rng(seed)
    projections, miscounted = [], []
    for view in particle.views[:n_views]:
        c = view.columns[view.columns.n_Pb > 0]  # along [110] only the Pb columns, as documented
        counts = c.n_Pb.to_numpy().copy()
        m = rng.random(len(counts)) < miscount_fraction
        counts[m] += rng.choice([-1, 1], m.sum())
        projections.append(Projection(view.geometry.zone_axis, c[["y", "x"]].to_numpy(), np.maximum(counts, 0),
                                      **kwargs))
        miscounted.append(m)
    return projections, miscounted


def counted_tables_from_truth(particle, element: str = "Pb") -> list:
    """The true columns of a sample particle's views as counted column tables.

    Parameters
    ----------
    particle : SampleParticle
    element : str
        Whose count goes into ``count``.

    Returns
    -------
    list of (coords, features, metadata)
        Per view: ``(N, 2)`` positions ``(y, x)`` in Å, a table with ``type``
        and ``count`` (the true number of ``element`` atoms), and the view's
        layer metadata (zone axis, tilt direction, ...), as
        :func:`~napari_nxtomo.core.workflow.projections_from_tables` takes them.

    Examples
    --------
    >>> from napari_nxtomo.core.samples import pbse_cuboctahedron
    >>> tables = counted_tables_from_truth(pbse_cuboctahedron(noise=False, n_half=2))
    >>> [(len(coords), list(features.columns), metadata["zone_axis"]) for coords, features, metadata in tables][2]
    (33, ['type', 'count'], (1, 1, 0))
    """
    tables = []
    for view in particle.views:
        cols = view.columns
        features = pd.DataFrame({"type": cols["type"].to_numpy(), "count": cols[f"n_{element}"].to_numpy()})
        tables.append((cols[["y", "x"]].to_numpy(), features, view.layer_metadata()))
    return tables


def _columns_of_atoms(positions, numbers, tol: float = 0.5) -> pd.DataFrame:
    """True columns of atoms given in a view frame (beam along z): atoms within ``tol`` Å in (x, y) share one.

    Rows ``y, x`` (Å) are the image's (row, column) position: the starter set's
    ``image[i, j]`` is the probe at x = i·s0, y = j·s1 of the view frame.
    """
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    xy = np.asarray(positions, dtype=float)[:, :2]
    pairs = np.array(sorted(cKDTree(xy).query_pairs(tol)), dtype=int).reshape(-1, 2)
    from scipy.sparse import coo_matrix

    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(xy), len(xy)))
    _, lab = connected_components(graph, directed=False)
    df = pd.DataFrame({"row": xy[:, 0], "col": xy[:, 1], "Pb": numbers == 82, "Se": numbers == 34, "lab": lab})
    g = df.groupby("lab")
    cols = pd.DataFrame({"y": g["row"].mean(), "x": g["col"].mean(), "n_Pb": g["Pb"].sum().astype(int),
                         "n_Se": g["Se"].sum().astype(int)}).reset_index(drop=True)
    cols["n_atoms"] = cols["n_Pb"] + cols["n_Se"]
    cols["type"] = np.where((cols.n_Pb > 0) & (cols.n_Se > 0), "Pb+Se", np.where(cols.n_Pb > 0, "Pb", "Se"))
    return cols


def load_starter_view(folder, name: str) -> MultisliceView:
    """One view of the starter set (``haadf_<name>.npz``) with its true columns.

    Parameters
    ----------
    folder : str or Path
        The folder of ``haadf_<name>.npz`` (``shared/data/multislice/pbse_truncated_octahedron``).
    name : str
        ``"100"``, ``"010"`` or ``"110"`` (:data:`STARTER_VIEWS`).

    Returns
    -------
    MultisliceView
        ``image`` (fraction of the beam per pixel), ``pixel_size`` (Å, the
        mean of the two scan steps, which differ by < 0.4 %), ``zone_axis``,
        ``columns`` (``y, x`` in Å of the image, ``n_Pb``, ``n_Se``,
        ``n_atoms``, ``type``), ``origin`` (0, 0), ``meta`` (``sampling``,
        ``tilt_axis``).

    Examples
    --------
    A stand-in file with two atoms in one column:

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> np.savez(folder / "haadf_110.npz", image=np.zeros((20, 20), np.float32), sampling=np.array([0.25, 0.25]),
    ...          positions=np.array([[2.0, 3.0, 1.0], [2.05, 3.0, 5.0]]), numbers=np.array([82, 34]))
    >>> view = load_starter_view(folder, "110")
    >>> view.zone_axis, view.columns[["n_Pb", "n_Se", "type"]].values.tolist()
    ((1, 1, 0), [[1, 1, 'Pb+Se']])
    """
    d = np.load(Path(folder) / f"haadf_{name}.npz")
    sampling = np.asarray(d["sampling"], dtype=float)
    return MultisliceView(
        name=name, image=np.asarray(d["image"]), pixel_size=float(np.mean(sampling)), zone_axis=STARTER_VIEWS[name],
        origin=np.zeros(2), columns=_columns_of_atoms(d["positions"], d["numbers"]),
        meta={"sampling": sampling.tolist(), "tilt_axis": [0, 0, 1]},
    )


def empirical_library(folder, views=tuple(STARTER_VIEWS), fill: bool = True) -> dict:
    """A cross-section library from multislice images of a known particle: the mean fitted σ per true count.

    Every view's noise-free image is fitted as a user would
    (:func:`~napari_nxtomo.core.fitting.find_columns`, then
    :func:`~napari_nxtomo.core.columns.fit_typed_columns` with the zone axis,
    rule "auto"); each fitted column is matched to its nearest true column,
    and the fitted volumes (fraction of the beam × Å², the images being in
    fraction of the beam) are averaged per fitted type and true count over all
    views: ``count -> σ`` for "Pb" and "Se" columns, ``(n_Pb, n_Se) -> σ``
    for "Pb+Se" columns.  With ``fill``, the counts of a one-element type
    from 1 to its largest measured count that the particle lacks (the
    starter set has no [110] column thinner than 3 Pb or 4 Se) are linearly
    interpolated between σ(0) = 0, σ(1) = the lone atom of a mixed view's
    corner column when there is one, and the measured class means; without
    ``fill`` they are absent.

    Parameters
    ----------
    folder : str or Path
        The starter set's folder (``haadf_<name>.npz``).
    views : sequence of str
        The views to use.
    fill : bool
        Fill the missing counts of one-element types (see above).

    Returns
    -------
    dict
        ``{type: {count or (n_Pb, n_Se): σ}}``, σ in fraction of the beam × Å².

    Examples
    --------
    A stand-in view: Pb columns of 3, 5 and 5 atoms, drawn as Gaussian peaks
    of volume 0.02, 0.04 and 0.04 Å² on a 0.25 Å grid.  The lattice-parity
    typing of this tiny stand-in calls the 3-atom column "Se" (it holds no
    Se, so it is left out): counts 1..4 are interpolated from σ(0) = 0 to
    the measured 5.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> yy, xx = np.mgrid[0:40, 0:40] * 0.25
    >>> peak = lambda y, x, v: v / (2 * np.pi * 0.4**2) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 0.4**2))
    >>> image = (peak(4.0, 4.0, 0.02) + peak(4.0, 6.5, 0.04) + peak(6.5, 5.0, 0.04)).astype(np.float32)
    >>> atoms = np.array([[4.0, 4.0, z] for z in range(3)] + [[4.0, 6.5, z] for z in range(5)]
    ...                  + [[6.5, 5.0, z] for z in range(5)])
    >>> np.savez(folder / "haadf_110.npz", image=image, sampling=np.array([0.25, 0.25]), positions=atoms,
    ...          numbers=np.full(13, 82))
    >>> lib = empirical_library(folder, views=["110"])
    >>> {t: {k: round(v, 3) for k, v in d.items()} for t, d in lib.items()}
    {'Pb': {1: 0.008, 2: 0.016, 3: 0.024, 4: 0.032, 5: 0.04}}
    """
    rows = []
    for name in views:
        view = load_starter_view(folder, name)
        table, truth = fit_and_match(view, view.image)
        rows.append(pd.DataFrame({"type": table["type"].to_numpy(), "v": table["volume"].to_numpy(),
                                  "pb": truth["n_Pb"].to_numpy(), "se": truth["n_Se"].to_numpy()}))
    return _class_means(pd.concat(rows, ignore_index=True), fill)


def _class_means(df: pd.DataFrame, fill: bool) -> dict:
    """Mean ``v`` per type and true class (``pb``, ``se``): the library dict of :func:`empirical_library`."""
    lib = {}
    # a lone atom of a mixed view's column is the one-atom column of that element in any view
    lone = {}
    for (pb, se), v in df[df.type.str.contains("+", regex=False)].groupby(["pb", "se"])["v"]:
        if pb + se == 1:
            lone["Pb" if pb else "Se"] = float(v.mean())
    for t, g in df.groupby("type"):
        if "+" in t:
            lib[t] = {(int(a), int(b)): float(v) for (a, b), v in g.groupby(["pb", "se"])["v"].mean().items()}
            continue
        key = "se" if t == "Se" else "pb"
        by = g[g[key] > 0].groupby(key)["v"]
        lib[t] = {int(k): float(v) for k, v in by.mean().items()}
        if not lib[t]:
            del lib[t]
            continue
        if fill:
            lib[t] = _filled(lib[t], lone.get(t))
    return lib


def _filled(lib: dict, lone) -> dict:
    """Counts 1..max of a one-element library, the missing ones linearly interpolated from σ(0) = 0 (and σ(1) = the
    lone atom's cross-section of a mixed view, when known) to the measured ones."""
    n = np.array(sorted(lib), dtype=float)
    v = np.array([lib[k] for k in sorted(lib)])
    anchors_n, anchors_v = [0.0], [0.0]
    if lone is not None and 1 not in lib:
        anchors_n.append(1.0)
        anchors_v.append(float(lone))
    n, v = np.concatenate([anchors_n, n]), np.concatenate([anchors_v, v])
    return {k: float(lib.get(k, np.interp(k, n, v))) for k in range(1, int(n.max()) + 1)}


def library_to_json(library: dict, path) -> None:
    """Write a library dict (``{type: {count or (n_heavy, n_light): σ}}``) as JSON rows (count, n_minor, cross_section).

    Parameters
    ----------
    library : dict
    path : str or Path

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "lib.json"
    >>> library_to_json({"Pb": {1: 0.007, 2: 0.016}, "Pb+Se": {(1, 0): 0.007}}, path)
    >>> library_from_json(path)
    {'Pb': {1: 0.007, 2: 0.016}, 'Pb+Se': {(1, 0): 0.007}}
    """
    from .tables import atomic_open

    rows = {t: [{"count": int(k[0] if isinstance(k, tuple) else k),
                 "n_minor": int(k[1]) if isinstance(k, tuple) else None, "cross_section": float(v)}
                for k, v in sorted(d.items())] for t, d in library.items()}
    with atomic_open(path, "w") as f:
        json.dump(rows, f, indent=1)


def library_from_json(path) -> dict:
    """Read a library written by :func:`library_to_json`: ``{type: {count or (n_heavy, n_light): σ}}``.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict

    Examples
    --------
    See :func:`library_to_json`.

    >>> callable(library_from_json)
    True
    """
    rows = json.loads(Path(path).read_text())
    return {t: {(r["count"] if r["n_minor"] is None else (r["count"], r["n_minor"])): float(r["cross_section"])
                for r in d} for t, d in rows.items()}


def fit_and_match(view, image):
    """The plugin's fit of one view's image as a user runs it, and the true column nearest each fitted one.

    :func:`~napari_nxtomo.core.fitting.find_columns` (minimum distance
    :data:`MULTISLICE_MIN_DISTANCE`) → :func:`~napari_nxtomo.core.columns.fit_typed_columns`
    (rule "auto", the view's zone axis) → nearest true column.

    Parameters
    ----------
    view : MultisliceView
    image : (H, W) array
        The view's image (noise-free or noisy, any units: the volumes follow them).

    Returns
    -------
    table : pandas.DataFrame
        The fitted, typed columns (``volume`` in image units × Å²).
    truth : pandas.DataFrame
        The matched true column of each row of ``table`` (same order).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> yy, xx = np.mgrid[0:30, 0:30] * 0.25
    >>> peak = lambda y, x: 0.02 / (2 * np.pi * 0.16) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 0.32)
    >>> image = peak(3.5, 3.5) + peak(3.5, 6.0) + peak(6.0, 4.5)
    >>> atoms = np.array([[3.5, 3.5, 0.0], [3.5, 3.5, 4.0], [3.5, 6.0, 0.0], [6.0, 4.5, 0.0]])
    >>> np.savez(folder / "haadf_110.npz", image=image, sampling=np.array([0.25, 0.25]), positions=atoms,
    ...          numbers=np.full(4, 82))
    >>> table, truth = fit_and_match(load_starter_view(folder, "110"), image)
    >>> len(table), truth["n_Pb"].tolist(), table["volume"].round(3).tolist()
    (3, [1, 2, 1], [0.02, 0.02, 0.02])
    """
    from .columns import fit_typed_columns
    from .evaluation import match_columns
    from .fitting import find_columns

    pos = find_columns(image, view.pixel_size, MULTISLICE_MIN_DISTANCE[view.name])
    table = fit_typed_columns(image, view.pixel_size, pos, rule="auto", zone_axis=view.zone_axis)
    idx, _ = match_columns(table, view.columns)
    return table, view.columns.iloc[idx].reset_index(drop=True)


def counting_ceiling(true_counts, volumes) -> float:
    """Issue 17's counting ceiling: the fraction of columns right when each gets the true count of nearest class mean.

    The class means are the mean cross-sections of the columns of each true
    count in the same image: what a perfect library for this image would
    count.  The depth of the atoms and their neighbours spread a count's
    cross-sections, so that even it is not always right.

    Parameters
    ----------
    true_counts : (N,) int array
    volumes : (N,) array
        The fitted cross-sections of the same columns.

    Returns
    -------
    float

    Examples
    --------
    >>> counting_ceiling([1, 1, 2, 2], [0.010, 0.016, 0.014, 0.020])
    0.5
    """
    n = np.asarray(true_counts)
    v = np.asarray(volumes, dtype=float)
    ks = np.unique(n)
    means = np.array([v[n == k].mean() for k in ks])
    nearest = ks[np.argmin(np.abs(v[:, None] - means[None, :]), axis=1)]
    return float(np.mean(nearest == n))
