"""The result of :func:`reconstruct`: the model, its certainty, the re-projection, and its files."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .exact import ExactSolution
from .indexing import _projection_fit
from .problem import _column_counts, _energy_parts, _topology


class ReconstructionCancelled(Exception):
    """Raised by :func:`reconstruct` when its ``cancel`` callback returns True.

    Attributes
    ----------
    partial : ReconstructionResult or None
        The result from the runs (and the exact solve) that finished before
        the cancel; None when nothing had finished.

    Examples
    --------
    >>> from napari_nxtomo.core.groundtruth import projections_from_truth
    >>> from napari_nxtomo.core.samples import pbse_cuboctahedron
    >>> from napari_nxtomo.core.tomography import ReconstructionCancelled, reconstruct
    >>> views, _ = projections_from_truth(pbse_cuboctahedron(noise=False, n_half=2), 2)
    >>> try:
    ...     reconstruct(views, 6.12, n_runs=2, cancel=lambda: True)
    ... except ReconstructionCancelled as exc:
    ...     print(exc.partial is None)
    True
    """

    def __init__(self, message, partial=None):
        super().__init__(message)
        self.partial = partial


@dataclass
class ReconstructionResult:
    """A 3D model from discrete tomography.

    Attributes
    ----------
    positions : (M, 3) ndarray
        Atom positions in Å, crystal frame ``(x, y, z)`` along the cube axes
        (napari order is ``positions[:, ::-1]``).
    q : (M, 3) int ndarray
        The same in quarter-lattice units (``positions = q * a / 4``).
    certainty : (M,) ndarray
        Calibrated probability that each atom is there: the mean occupancy
        of the Metropolis chains at ``temperature`` (see :func:`reconstruct`).
    frequency : (M,) ndarray
        Fraction of the annealing runs whose model holds the atom (the
        paper's certainty); NaN without annealing runs.
    energy : float
        Energy of the model: surface edges + weighted count mismatch.
    surface_edges : int
    count_mismatch : int
        Σ |measured - reconstructed| over the measured columns.
    model_source : str
        ``"exact"`` or ``"anneal run i"``: where the model comes from (the
        lowest energy found).
    sites : pandas.DataFrame
        Every candidate site (K rows): ``x, y, z`` (Å), ``qx, qy, qz``,
        ``occupied`` (in the model), ``frequency``, ``certainty``.
    runs : (n_runs, K) bool ndarray
        Final model of every annealing run over the candidate sites.
    run_energies : (n_runs,) ndarray
    exact : ExactSolution or None
    reprojection : list of pandas.DataFrame
        Per projection, one row per column (measured or missing): ``y, x``
        (Å in the image), ``measured`` (NaN for a missing column),
        ``reconstructed``, ``residual`` (reconstructed - measured),
        ``expected`` (Σ certainty along the column), ``missing``,
        ``input_index`` (row of the projection's input, -1 if missing),
        ``n_sites`` (candidate sites in the column).
    fits : list of ProjectionFit
        Orientation, scale and offset found for every projection.
    lattice_parameter : float
        Å.
    connected : bool
        The model is one piece (fcc nearest neighbours).
    n_holes : int
        Empty fcc sites enclosed by the model.
    temperature, count_weight : float
    elapsed : float
        Seconds.
    count_error_rate : float
        Fraction of miscounted columns, estimated from the slice totals (or
        as given); it sets the count weight when that is not given.
    notes : list of str

    Examples
    --------
    The Pb sites of a cube one lattice parameter wide (an fcc site and its
    12 neighbours) seen along [100] and [010], solved exactly:

    >>> import numpy as np
    >>> from napari_nxtomo.core.geometry import ProjectionGeometry
    >>> from napari_nxtomo.core.lattice import ROCKSALT_PBSE
    >>> from napari_nxtomo.core.tomography import Projection, reconstruct
    >>> a = ROCKSALT_PBSE.lattice_parameter
    >>> q, _ = ROCKSALT_PBSE.sites(a / 2, "Pb")
    >>> columns = [ProjectionGeometry(z).group_columns(q * a / 4) for z in [(1, 0, 0), (0, 1, 0)]]
    >>> result = reconstruct([Projection(z, yx + 10.0, np.bincount(lab)) for z, (lab, yx) in
    ...                       zip([(1, 0, 0), (0, 1, 0)], columns)], a, n_runs=0, method="exact")
    >>> result.n_atoms, result.exact.status, result.to_frame().shape, result.certain_fraction()
    (13, 'optimal', (13, 8), 1.0)
    >>> result.reprojection[0][["measured", "reconstructed"]].sum().tolist()
    [13.0, 13.0]
    """

    positions: np.ndarray
    q: np.ndarray
    certainty: np.ndarray
    frequency: np.ndarray
    energy: float
    surface_edges: int
    count_mismatch: int
    model_source: str
    sites: pd.DataFrame
    runs: np.ndarray
    run_energies: np.ndarray
    exact: ExactSolution | None
    reprojection: list
    fits: list
    lattice_parameter: float
    connected: bool
    n_holes: int
    temperature: float
    count_weight: float
    elapsed: float = 0.0
    count_error_rate: float = float("nan")
    notes: list = field(default_factory=list)

    @property
    def n_atoms(self) -> int:
        """Number of atoms in the model."""
        return len(self.positions)

    def certain_fraction(self, threshold: float = 0.9) -> float:
        """The share of the model's atoms whose certainty is at least ``threshold`` (0..1)."""
        return float(np.mean(np.asarray(self.certainty) >= threshold))

    def run_positions(self, i: int) -> np.ndarray:
        """Atom positions (Å, crystal frame) of annealing run ``i``."""
        return self.sites[["x", "y", "z"]].to_numpy()[self.runs[i]]

    def residual_columns(self, projection: int) -> pd.DataFrame:
        """Rows of ``reprojection[projection]`` whose reconstructed count differs from the measured one."""
        t = self.reprojection[projection]
        return t[t["residual"].fillna(0) != 0]

    def to_frame(self) -> pd.DataFrame:
        """One row per atom: ``x, y, z`` (Å), ``qx, qy, qz``, ``certainty``, ``frequency``."""
        return pd.DataFrame(
            {
                "x": self.positions[:, 0],
                "y": self.positions[:, 1],
                "z": self.positions[:, 2],
                "qx": self.q[:, 0],
                "qy": self.q[:, 1],
                "qz": self.q[:, 2],
                "certainty": self.certainty,
                "frequency": self.frequency,
            }
        )

    def metadata(self) -> dict:
        """What belongs to the whole model (for a layer's metadata or a file header)."""
        md = {
            "lattice_parameter_A": self.lattice_parameter,
            "frame": "crystal x, y, z along the cube axes, Å",
            "energy": self.energy,
            "surface_edges": self.surface_edges,
            "count_mismatch": self.count_mismatch,
            "model_source": self.model_source,
            "n_runs": int(len(self.runs)),
            "temperature": self.temperature,
            "count_weight": self.count_weight,
            "connected": self.connected,
            "n_holes": self.n_holes,
            "projections": [
                {"name": f.name, "zone_axis": list(f.zone_axis), "tilt_axis": list(f.crystal_tilt_axis),
                 "image_rotation_deg": f.image_rotation, "scale": f.scale, "offset_A": f.offset.tolist()}
                for f in self.fits
            ],
        }
        if self.exact is not None:
            md["exact"] = {"status": self.exact.status, "energy": self.exact.energy, "bound": self.exact.bound,
                           "gap": self.exact.gap, "time_s": self.exact.time}
        return md

    def write_xyz(self, path, element: str = "Pb") -> Path:
        """Write the model as extended XYZ (x, y, z in Å, with certainty and frequency)."""
        from ..tables import write_xyz

        info = {"lattice_parameter": self.lattice_parameter, "energy": self.energy, "source": "napari-nxtomo tomography"}
        return write_xyz(path, self.positions, np.full(self.n_atoms, element),
                         {"certainty": self.certainty, "frequency": np.nan_to_num(self.frequency, nan=-1.0)}, info=info)

    def to_csv(self, path, name: str = "tomography") -> Path:
        """Write the model as a points CSV (``z, y, x`` in Å, napari order, with features and metadata)."""
        from ..tables import write_points_csv

        frame = self.to_frame()
        return write_points_csv(path, self.positions[:, ::-1], frame.drop(columns=["x", "y", "z"]),
                                metadata=self.metadata(), name=name)

    def __repr__(self) -> str:
        ex = "" if self.exact is None else f", exact {self.exact.status} E={self.exact.energy:g}"
        return (f"ReconstructionResult({self.n_atoms} atoms, E={self.energy:g} ({self.surface_edges} surface edges, "
                f"mismatch {self.count_mismatch}), {len(self.runs)} runs{ex})")


# --------------------------------------------------------------------------
# assembling a result
# --------------------------------------------------------------------------


def _best_model(runs, exact):
    """``(energy, source, occupancy)`` of the lowest-energy model (the exact one on a tie), or None."""
    candidates = []
    if exact is not None and exact.occupancy is not None:
        candidates.append((exact.energy, -1, exact.occupancy))
    for i, r in enumerate(runs):
        candidates.append((r["energy"], i, r["best"]))
    if not candidates:
        return None
    candidates.sort(key=lambda c: (c[0], c[1]))
    E_model, src, model = candidates[0]
    return E_model, ("exact" if src < 0 else f"anneal run {src}"), np.asarray(model, bool)


def _reprojection(pb, k, pl, fit, a, n_model, expected):
    """The re-projection table of projection ``k`` (see :attr:`ReconstructionResult.reprojection`)."""
    sel = np.flatnonzero(pb.col_view == k)
    miss = pb.target[sel] < 0
    yx = pl.vl.ideal(pb.col_n[sel]) * (a / 4.0) @ pl.fit.A.T + fit.origin
    inp = pb.col_input[sel]
    yx[inp >= 0] = pl.proj.positions[inp[inp >= 0]]
    measured = np.where(miss, np.nan, pb.target[sel].astype(float))
    rec = n_model[sel]
    return pd.DataFrame(
        {"y": yx[:, 0], "x": yx[:, 1], "measured": measured, "reconstructed": rec,
         "residual": rec - measured, "expected": expected[sel], "missing": miss, "input_index": inp,
         "n_sites": np.diff(pb.col_ptr)[sel]}
    )


def _fits_and_reprojection(pb, placed, offsets, a, model, certainty):
    """Per projection its :class:`ProjectionFit` and its re-projection table."""
    n_model = _column_counts(model, pb)
    expected = np.bincount(pb.col.ravel(), weights=np.repeat(certainty, pb.n_views), minlength=len(pb.target))
    fits, reproj = [], []
    for k, (pl, N) in enumerate(zip(placed, offsets)):
        fit = _projection_fit(pl, N, a, int((pb.target[pb.col_view == k] < 0).sum()))
        fits.append(fit)
        reproj.append(_reprojection(pb, k, pl, fit, a, n_model, expected))
    return fits, reproj


def _assemble(pb, placed, offsets, a, runs, exact, n_runs_planned, params, count_weight, notes, t0, eps=float("nan"),
              marginals=()):
    """Build the result from finished runs (a list of dicts) and the exact solution; None without any model.

    The model is the lowest energy found; the certainty is the mean of the
    sampling chains' ``marginals``, or without them the run frequency (or
    the model itself).
    """
    K = pb.n_sites
    best = _best_model(runs, exact)
    if best is None:
        return None
    _, source, model = best
    run_states = np.array([r["best"] for r in runs], dtype=bool).reshape(len(runs), K)
    freq = run_states.mean(0) if len(runs) else np.full(K, np.nan)
    notes = list(notes)
    if len(marginals):
        certainty = np.mean(marginals, axis=0)
    else:
        certainty = freq.copy() if len(runs) else model.astype(float)
        if n_runs_planned and params.n_sample:
            notes.append("certainty not sampled: it is the run frequency (or the model)")
    s, m, dev = _energy_parts(model, pb)
    pos_all = pb.q * (a / 4.0)
    sites = pd.DataFrame(
        {"x": pos_all[:, 0], "y": pos_all[:, 1], "z": pos_all[:, 2], "qx": pb.q[:, 0], "qy": pb.q[:, 1],
         "qz": pb.q[:, 2], "occupied": model, "frequency": freq, "certainty": certainty}
    )
    fits, reproj = _fits_and_reprojection(pb, placed, offsets, a, model, certainty)
    pieces, holes = _topology(pb.q[model])
    if pieces > 1:
        notes.append(f"the model is in {pieces} pieces")
    if holes:
        notes.append(f"the model encloses {holes} empty site(s)")
    if len(runs) < n_runs_planned and (len(runs) or exact is None):
        notes.append(f"{len(runs)} of {n_runs_planned} annealing runs finished")
    return ReconstructionResult(
        positions=pos_all[model], q=pb.q[model], certainty=certainty[model], frequency=freq[model],
        energy=float(s + m), surface_edges=int(s), count_mismatch=int(dev), model_source=source, sites=sites,
        runs=run_states, run_energies=np.array([r["energy"] for r in runs], dtype=float), exact=exact,
        reprojection=reproj, fits=fits, lattice_parameter=float(a), connected=pieces <= 1, n_holes=holes,
        temperature=float(params.temperature), count_weight=float(count_weight), elapsed=time.perf_counter() - t0,
        notes=notes, count_error_rate=float(eps),
    )
