"""Ground-truth inputs for the tests and the benchmarks.

* The abTEM multislice images stored with the tests (``tests/core/data/
  multislice``, made by ``benchmarks/multislice/make_images.py``): each view
  is a noise-free image (the fraction of the incident probe reaching the
  detector per pixel), its true columns and a JSON sidecar;
  :func:`load_multislice_view` reads one from the folder it is given and
  :func:`noisy_image` draws Poisson noise at a dose.
* :func:`projections_from_truth`: the true columns of a sample particle's
  images as :class:`~napari_nxtomo.core.tomography.Projection` objects,
  exact or with a fraction of the counts off by one;
  :func:`counted_tables_from_truth`: the same columns as counted tables.

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
    "MULTISLICE_VIEWS",
    "MultisliceView",
    "counted_tables_from_truth",
    "load_multislice_view",
    "noisy_image",
    "projections_from_truth",
]

#: the views stored: [100] (mixed Pb/Se columns) and [110] (Pb and Se columns)
MULTISLICE_VIEWS = ("100", "110")
#: electrons per Å² of the tests' and the benchmark's noisy realisations
MULTISLICE_DOSE = 1e5
#: smallest column spacing × ~0.7 (Å): a/2 = 3.06 Å along [100], a/(2√2) = 2.16 Å along [110]
MULTISLICE_MIN_DISTANCE = {"100": 2.1, "110": 1.5}


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


def load_multislice_view(folder, name: str) -> MultisliceView:
    """Read one stored multislice view (``haadf_<name>.json`` and the files it names).

    Parameters
    ----------
    folder : str or Path
        The data folder (``tests/core/data/multislice`` in the repository).
    name : str
        The view, one of :data:`MULTISLICE_VIEWS`.

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
    """
    folder = Path(folder)
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
