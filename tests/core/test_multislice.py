"""Column finding, fitting and counting on multislice HAADF images (beyond the project's own model).

The images in ``tests/core/data/multislice`` were made by
``benchmarks/multislice/make_images.py`` with abTEM 1.0.11 (frozen-phonon
multislice: channelling, probe spreading to neighbouring columns, thermal
diffuse scattering) of a 583-atom PbSe cuboctahedron
(``pbse_cuboctahedron(seed=0, n_half=4)``) along [100] (81 mixed Pb/Se
columns) and [110] (61 Pb and 52 Se columns) about [001]: 300 kV, 22 mrad,
detector 60-140 mrad, 0.2 Å pixels, mean of 4 frozen-phonon configurations.
See that script and the JSON sidecars for every setting.  abTEM is not needed
here: the tests read the stored noise-free images and their true columns.

Noise: the stored image is the fraction of the incident probe that reaches the
detector, per pixel; at a dose D (e/Å²) a pixel receives ``D · p²`` incident
electrons (p = pixel size, Å), so the detected count is
``Poisson(image · D · p²)`` and the noisy image is that count over ``D · p²``
(the units of the stored image).  Dose: 1e5 e/Å² (4000 e per pixel), seeded
realisations; no background is added.

Pipeline under test: ``find_columns`` → ``fit_typed_columns`` (rule "auto":
mixed Pb+Se columns along [100], Pb/Se split by lattice parity along [110]) →
``count_atoms`` with its defaults (along [110] the error-aware Gaussian
mixture, per type: the table's ``volume_err`` gives each column its own
error, K at the ICL minimum among the fits that resolve the classes; along
[100] the Pb-count curve model of mixed columns).

What was measured (``python tests/core/test_multislice.py`` prints it all, 10
realisations at 1e5 e/Å²) and what the tests assert, with a small margin:

* every true column is found, none twice (10/10 realisations); along [110] a
  spurious extra peak in the raised floor between columns appeared in 2 of 10
  realisations (fitted volume 0.001 Å², 6 % of the median column);
* fitted positions within 0.14 Å ([100]) and 0.18 Å ([110]) of the static
  columns, RMS 0.052 and 0.046 Å (the noise-free images alone give 0.13/0.17 Å
  and RMS 0.052/0.044 Å: the error is systematic, not Poisson);
* [110]: the parity split types every column right;
* the mean cross-section of the columns with a given true count increases
  with it, and more than linearly: one Pb atom gives 0.0073 Å², a 9-atom Pb
  column 0.0122 Å² per atom (the generator's ``CrossSectionModel`` is linear
  to concave); along [100] the lone Pb of a corner column gives 0.0074 Å²
  while each Pb+Se pair adds ~0.018 Å² in the thick columns;
* counting with a library of the multislice cross-sections (class means of the
  noise-free image: an oracle for this particle) gets ≥ 0.92 ([110] Pb) and
  0.975 ([100] Pb) of the columns exactly: the fitted cross-sections do
  separate the counts;
* counting with the project's defaults: [110] Pb columns 0.951-0.967 exact
  (5 realisations, K = 9 every time) with the error-aware mixture that the
  fitted table's ``volume_err`` switches on; the plain common-width mixture
  got 0.033 (its ICL minimum is at K = 1 in every realisation; K forced to
  the true 9 gives 0.93-0.95 in 8 of 10).  [100] Pb counts of the mixed
  columns do not yet reach issue 17's target (an expected failure below):
  0.012-0.333 (the curve model either numbers the right classes from 0, or
  takes an alias at 0.6 × the true step and counts up to 8).  ``python
  benchmarks/bench_counting.py`` prints both methods side by side.
* the counting ceiling of each noisy image (issue 17: every column gets the
  true count whose mean cross-section over that image's columns is nearest)
  is 0.975-0.988 ([100] Pb of the mixed columns) and 0.951-0.967 ([110] Pb
  columns), seeds 0-4; the tests assert issue 17's target, the ceiling minus
  0.03 at 1e5 e/Å², against it.

* at a lower dose, 2e4 e/Å², the [110] image is more than half vacuum pixels
  with exactly zero counts; the neighbour differences then give zero noise,
  and ``find_columns`` returned 52 single-electron peaks in the vacuum until
  it learnt to add a counted image's Poisson noise at each peak (now every
  column is found and nothing else).  The project's own images always carry a
  background (0.01 of the beam), which hid this.

The spread of the cross-sections within one count is mostly the frozen-phonon
average not having converged: a column's cross-section scatters by ~10-11 %
(median) between configurations, so ~5 % remains in the mean of 4, against
1.3 % (Pb, mixed) to 2.6 % (Se) from Poisson noise at 1e5 e/Å².  With the
class means and Poisson scatter only (the report's "phonon-converged
estimate") the plain GMM + ICL counts 0.90 of the [110] Pb columns (0.57 at
worst), while the [100] curve model still numbers every column one too low.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from napari_nxtomo.core.columns import fit_typed_columns
from napari_nxtomo.core.counting import count_atoms
from napari_nxtomo.core.evaluation import match_columns
from napari_nxtomo.core.fitting import find_columns
from napari_nxtomo.core.groundtruth import SAMPLE_MULTISLICE_DIR
from napari_nxtomo.core.groundtruth import MULTISLICE_DOSE as DOSE
from napari_nxtomo.core.groundtruth import MULTISLICE_MIN_DISTANCE as MIN_DISTANCE
from napari_nxtomo.core.groundtruth import MULTISLICE_VIEWS as VIEWS
from napari_nxtomo.core.groundtruth import MultisliceView as View
from napari_nxtomo.core.groundtruth import counting_ceiling, load_multislice_view
from napari_nxtomo.core.groundtruth import noisy_image as noisy

DATA = SAMPLE_MULTISLICE_DIR  # the bundled cuboctahedron (package data)
TEST_DATA = Path(__file__).resolve().parent / "data" / "multislice"
#: noise realisations run by the tests (the report runs more)
TEST_SEEDS = (0, 1, 2)

# ---- measured over 10 realisations at 1e5 e/Å² (module docstring); asserted with a margin
#: largest distance (Å) of a true (static) column from its nearest fitted column (measured 0.140, 0.179)
MAX_POSITION_ERROR = {"100": 0.16, "110": 0.20}
#: RMS of that distance, Å (measured 0.052, 0.046)
RMS_POSITION_ERROR = {"100": 0.06, "110": 0.055}
#: issue 17's allowance below the counting ceiling at 1e5 e/Å² ("Pb-bearing columns counted exactly for at
#: least the ceiling minus 0.03"); the counting ceiling is measured on each image against its truth (ceiling())
CEILING_MARGIN = 0.03
#: per-atom cross-section of the thick Pb columns over that of the thinnest, [110] (measured 1.5)
MIN_PER_ATOM_GAIN_110 = 1.3


def load_view(name: str) -> View:
    return load_multislice_view(DATA, name)


def truth_of(view: View, table: pd.DataFrame):
    """Nearest true column of every fitted column: (index, distance Å)."""
    return match_columns(table, view.columns)


def class_library(view: View, table: pd.DataFrame, idx) -> dict:
    """Mean fitted cross-section per true class, keyed by column type (a library for ``count_atoms``)."""
    truth = view.columns.iloc[idx]
    lib = {}
    for t, g in pd.DataFrame({"type": table["type"].to_numpy(), "v": table["volume"].to_numpy(),
                              "pb": truth["n_Pb"].to_numpy(), "se": truth["n_Se"].to_numpy()}).groupby("type"):
        if t == "Pb+Se":
            lib[t] = {(int(a), int(b)): float(v) for (a, b), v in g.groupby(["pb", "se"])["v"].mean().items()}
        else:
            key = "pb" if t == "Pb" else "se"
            lib[t] = {int(k): float(v) for k, v in g.groupby(key)["v"].mean().items()}
    return lib


def analyse(view: View, image: np.ndarray, library=None) -> dict:
    """find → fit (typed) → count, and the comparison with the truth."""
    pos = find_columns(image, view.pixel_size, MIN_DISTANCE[view.name])
    table = fit_typed_columns(image, view.pixel_size, pos, rule="auto", zone_axis=view.zone_axis)
    idx, d = truth_of(view, table)
    # the other way round: the nearest found column of every true column
    e, nearest = cKDTree(table[["y", "x"]].to_numpy()).query(view.columns[["y", "x"]].to_numpy())
    extras = np.setdiff1d(np.arange(len(table)), nearest)
    out = {
        "positions": pos, "table": table, "idx": idx, "dist": d,
        "true_dist": e, "nearest": nearest, "extras": extras,
    }
    res = count_atoms(table)
    out["count_result"] = res
    types = table["type"].to_numpy()
    truth = view.columns.iloc[idx]
    if view.name == "100":
        # the default for mixed columns: the Pb count
        out["exact"] = {"Pb (mixed model)": res.counts == truth["n_Pb"].to_numpy()}
        # the plain mixture on all columns against the total count
        plain = count_atoms(table["volume"].to_numpy(), mixed=False)
        out["plain_total"] = plain
        out["exact"]["total (plain GMM)"] = plain.counts == truth["n_atoms"].to_numpy()
    else:
        ok = {}
        for t in ("Pb", "Se"):
            sel = types == t
            ok[t] = res.counts[sel] == truth[f"n_{t}"].to_numpy()[sel]
        out["exact"] = ok
        out["type_ok"] = (types == truth["type"].to_numpy())[nearest]  # of the true columns' matches
    if library is not None:
        lib = count_atoms(table, library=library)
        sel = types == "Pb" if view.name == "110" else np.ones(len(types), dtype=bool)
        out["exact_library"] = lib.counts[sel] == truth["n_Pb"].to_numpy()[sel]
    return out


def counted_fraction(view_name: str, out: dict) -> float:
    """The default pipeline's fraction: [110] Pb columns (plain GMM + ICL); [100] Pb count of the mixed columns."""
    key = "Pb" if view_name == "110" else "Pb (mixed model)"
    return float(np.mean(out["exact"][key]))


def ceiling(view: View, out: dict) -> float:
    """Issue 17's counting ceiling of one image: the fraction of its Pb-bearing columns counted right when each
    gets the true Pb count whose mean fitted cross-section (over that image's columns of that count) is nearest.

    The counted columns are those of ``counted_fraction``: [110] Pb columns, [100] every (mixed) column.
    """
    table = out["table"]
    n_pb = view.columns.iloc[out["idx"]]["n_Pb"].to_numpy()
    sel = n_pb > 0
    if view.name == "110":
        sel &= table["type"].to_numpy() == "Pb"
    return counting_ceiling(n_pb[sel], table["volume"].to_numpy()[sel])


def _fit_noise_free(view):
    pos = find_columns(view.image, view.pixel_size, MIN_DISTANCE[view.name])
    table = fit_typed_columns(view.image, view.pixel_size, pos, rule="auto", zone_axis=view.zone_axis)
    idx, d = truth_of(view, table)
    return table, idx, d


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module", params=VIEWS)
def view(request) -> View:
    if not (DATA / f"haadf_{request.param}.npy").exists():
        pytest.skip(f"no multislice image for [{request.param}]: run benchmarks/multislice/make_images.py")
    return load_view(request.param)


@pytest.fixture(scope="module")
def noise_free(view):
    """The noise-free image's fit and its class-mean library."""
    table, idx, d = _fit_noise_free(view)
    return {"table": table, "idx": idx, "dist": d, "library": class_library(view, table, idx)}


@pytest.fixture(scope="module")
def runs(view, noise_free):
    return [analyse(view, noisy(view, DOSE, seed), library=noise_free["library"]) for seed in TEST_SEEDS]


# --------------------------------------------------------------------------
# the stored data


def test_stored_data_is_small_and_consistent(view):
    """< 1 MB per file; the true columns follow from atoms.csv, ProjectionGeometry and the stored origin."""
    for f in DATA.iterdir():
        assert f.stat().st_size < 1_000_000, f
    assert view.image.dtype == np.float32 and view.image.shape == tuple(view.meta["shape"])
    assert np.all(np.isfinite(view.image)) and view.image.min() >= 0 and view.image.max() < 1
    atoms = pd.read_csv(DATA / view.meta["particle"]["atoms_file"])
    assert len(atoms) == view.meta["particle"]["n_atoms"] == view.columns["n_atoms"].sum()
    labels, centres = view.geometry.group_columns(atoms[["x", "y", "z"]].to_numpy())
    np.testing.assert_allclose(centres + view.origin, view.columns[["y", "x"]].to_numpy(), atol=1e-3)
    # the image sits where the origin says: the brightest pixel is on a thick Pb-holding column
    # (along [110] on a 7-Pb column, not on the one 9-Pb column: peak heights are not cross-sections)
    cols = view.columns
    peak = np.array(np.unravel_index(np.argmax(view.image), view.image.shape)) * view.pixel_size
    d = np.hypot(*(cols[["y", "x"]].to_numpy() - peak).T)
    assert d.min() < 0.5 * view.pixel_size * np.sqrt(2) + 0.05
    assert cols["n_Pb"].iloc[np.argmin(d)] >= 0.7 * cols["n_Pb"].max()


# --------------------------------------------------------------------------
# finding and fitting


def test_every_column_found_once(view, runs):
    """At 1e5 e/Å² every true column is found, none twice; an extra noise peak, if any, is faint.

    Measured over 10 realisations: no extra along [100]; along [110] one extra
    in 2 of 10 (a noise maximum on the raised floor between the columns,
    volume 0.001 Å² against a median column of 0.018 Å²).
    """
    n = len(view.columns)
    for out in runs:
        assert len(np.unique(out["nearest"])) == n  # no found column stands for two true ones
        assert out["true_dist"].max() < 0.5
        assert len(out["extras"]) <= 1
        vol = out["table"]["volume"].to_numpy()
        assert np.all(vol[out["extras"]] < 0.1 * np.median(vol))


def test_low_dose_vacuum_gives_no_false_columns():
    """At 2e4 e/Å² on an empty (zero-count) vacuum, find_columns finds every column and nothing off the particle.

    61 % of the pixels are exactly 0 counts, so the neighbour differences give
    zero noise; find_columns recognises the quantised (counted) image and
    adds each peak's own Poisson noise.  Before that it returned 176 peaks for
    the 113 columns, 52 of them single electrons in the vacuum.  Measured:
    113 found, all within 0.5 Å of a true column, seeds 0-2.
    """
    if not (DATA / "haadf_110.npy").exists():
        pytest.skip("no multislice image for [110]")
    view = load_view("110")
    image = noisy(view, 2e4, 0)
    assert np.mean(image == 0) > 0.5  # the case in point: most pixels are empty vacuum
    pos = find_columns(image, view.pixel_size, MIN_DISTANCE["110"])
    d, _ = cKDTree(view.columns[["y", "x"]].to_numpy()).query(pos)
    assert np.all(d < 0.5) and len(pos) == len(view.columns)


def test_fitted_positions_near_truth(view, runs):
    """Distance of every true (static) column from its fitted column; the stored image is the phonon mean."""
    d = np.concatenate([out["true_dist"] for out in runs])
    assert d.max() < MAX_POSITION_ERROR[view.name]
    assert np.sqrt(np.mean(d**2)) < RMS_POSITION_ERROR[view.name]


def test_types_110_by_parity(view, runs):
    """[110]: the parity split names every Pb and every Se column right, whatever their thickness."""
    if view.name != "110":
        pytest.skip("one mixed type along [100]")
    for out in runs:
        assert out["type_ok"].all()


def _by_count(view, out):
    """(true counts, cross-sections) of the counted columns: [110] Pb columns, [100] all (total count)."""
    t = out["table"]
    truth = view.columns.iloc[out["idx"]]
    if view.name == "110":
        sel = t["type"].to_numpy() == "Pb"
        sel[out["extras"]] = False
        return truth["n_Pb"].to_numpy()[sel], t["volume"].to_numpy()[sel]
    return truth["n_atoms"].to_numpy(), t["volume"].to_numpy()


def test_cross_section_increases_with_count(view, runs):
    """Mean fitted cross-section per true count increases strictly (Pb columns along [110], total along [100])."""
    for out in runs:
        n, v = _by_count(view, out)
        ks = np.unique(n)
        means = np.array([v[n == k].mean() for k in ks])
        assert np.all(np.diff(means) > 0), dict(zip(ks.tolist(), means.round(4).tolist()))


def test_cross_section_per_atom_grows_with_thickness(view, noise_free):
    """Channelling: the multislice cross-section grows faster than linearly with the count at these thicknesses.

    The project's generator (``CrossSectionModel``: linear, then saturating) has
    the opposite curvature; a count inferred by extrapolating the class means
    to zero, or a curve through zero that may only bend down, is biased by it.
    """
    from napari_nxtomo.core.simulate import CrossSectionModel

    lib = noise_free["library"]
    model = CrossSectionModel()
    if view.name == "110":
        pb = lib["Pb"]
        per_atom = {k: v / k for k, v in pb.items()}
        thin = np.mean([per_atom[k] for k in (1, 2)])
        thick = np.mean([per_atom[k] for k in (7, 8, 9)])
        assert thick / thin > MIN_PER_ATOM_GAIN_110, per_atom
        gen = model.cross_section({"Pb": np.array([1, 9])}) / np.array([1, 9])
        assert gen[1] <= gen[0]  # the generator bends the other way
    else:
        mixed = lib["Pb+Se"]
        single_pb = mixed[(1, 0)]
        pair_step = mixed[(5, 4)] - mixed[(4, 3)]  # one Pb and one Se more in the thickest columns
        assert pair_step > 2.0 * single_pb, (single_pb, pair_step)  # measured 2.5


# --------------------------------------------------------------------------
# counting


def test_library_counts(view, runs):
    """A library of the multislice cross-sections counts the Pb of (nearly) every column: the classes separate.

    The oracle library (class means of the noise-free image) should count as well as the noisy image's own
    class means (its ceiling), within issue 17's 0.03; measured 0.975 against 0.975-0.988 ([100]) and
    0.951-0.967 against 0.951-0.967 ([110]).
    """
    for out in runs:
        assert np.mean(out["exact_library"]) >= ceiling(view, out) - CEILING_MARGIN


def test_default_counting_recovers_counts_110(view, runs):
    """[110] Pb columns with the defaults: the error-aware mixture (``volume_err`` of the fit) reaches the ceiling.

    The plain common-width mixture got 0.033 (ICL minimum at K = 1: the
    frozen-phonon scatter within a class makes the common width large, and
    with 61 columns the ICL's penalty prefers one broad class).  With the
    columns' own errors the mixture's extra spread s tells merged classes from
    resolved ones; K is the ICL minimum among fits with s ≤ 2 × the median
    error.  Measured: K = 9 (the true number) in seeds 0-4, exact 0.951,
    0.951, 0.951, 0.951, 0.967 (``python benchmarks/bench_counting.py``),
    equal to each image's ceiling; asserted: issue 17's target, the ceiling
    minus 0.03.
    """
    if view.name != "110":
        pytest.skip("[100]: mixed columns, see test_default_counting_recovers_counts_100")
    k_true = len(np.unique(view.columns.loc[view.columns["type"] == "Pb", "n_Pb"]))
    for out in runs:
        pb = out["count_result"].by_type["Pb"]
        assert pb.n_components == k_true
        assert counted_fraction(view.name, out) >= ceiling(view, out) - CEILING_MARGIN


def test_default_counting_recovers_counts_100(view, runs):
    """[100] mixed Pb/Se columns counted as a user's table is (``workflow.count_table``, the defaults): the image
    in detected electrons with its optics and dose in the metadata, so the shipped abTEM library of those optics
    counts it with the scale fitted about the dose.  Issue 17's target: the ceiling minus 0.03.

    (The free mixture's curve model without a library counted 0.012-0.333 against a ceiling of 0.975-0.988.)
    """
    from napari_nxtomo.core.workflow import count_table

    if view.name != "100":
        pytest.skip("[110]: see test_default_counting_recovers_counts_110")
    per_pixel = DOSE * view.pixel_size**2
    md = {"pixel_size_A": view.pixel_size, "zone_axis": list(view.zone_axis), "crystal": "PbSe", "energy_keV": 300.0,
          "convergence_mrad": 22.0, "detector_mrad": [60.0, 140.0], "dose_e_per_A2": DOSE,
          "intensity_units": "detected electrons per pixel"}
    for out in runs:
        table = out["table"]
        electrons = table.assign(volume=table["volume"] * per_pixel, volume_err=table["volume_err"] * per_pixel)
        counted, _ = count_table(electrons, metadata=md)
        n_pb = view.columns["n_Pb"].to_numpy()[out["idx"]]  # the true column of every fitted one
        assert np.mean(counted["count"].to_numpy() == n_pb) >= ceiling(view, out) - CEILING_MARGIN


# --------------------------------------------------------------------------
# measurement report: python tests/core/test_multislice.py [n_realisations]


def report(n_real: int = 10, dose: float = DOSE, views=VIEWS):  # pragma: no cover - a measurement, not a test
    from napari_nxtomo.core.simulate import CrossSectionModel

    model = CrossSectionModel()
    for name in views:
        view = load_view(name)
        print(f"==== [{name}]  {view.image.shape} px of {view.pixel_size} Å, {len(view.columns)} columns, dose {dose:g} e/Å²")
        # noise-free: the cross-section curve
        table, idx, d = _fit_noise_free(view)
        truth = view.columns.iloc[idx]
        print(f"noise-free fit: {len(table)} found, {len(np.unique(idx))} matched; position error max {d.max():.3f} Å, RMS {np.sqrt(np.mean(d**2)):.3f} Å")
        print("widths:", {k: round(float(v), 3) for k, v in table.groupby("type")["width"].first().items()})
        groups = [("Pb", "n_Pb"), ("Se", "n_Se")] if name == "110" else [("Pb+Se", "n_atoms")]
        for t, key in groups:
            sel = table["type"].to_numpy() == t
            n = truth[key].to_numpy()[sel]
            v = table["volume"].to_numpy()[sel]
            print(f"  {t} columns: cross-section (Å²) per true count {key}: count, columns, mean, sd, mean/count, generator model")
            for k in np.unique(n):
                vk = v[n == k]
                if name == "110":
                    gen = float(model.cross_section({t: [k]})[0])
                else:
                    npb = truth["n_Pb"].to_numpy()[sel][n == k]
                    nse = truth["n_Se"].to_numpy()[sel][n == k]
                    gen = float(np.mean(model.cross_section({"Pb": npb, "Se": nse})))
                print(f"    {k:2d} {len(vk):3d}  {vk.mean():.4f}  {vk.std():.4f}  {vk.mean() / k:.4f}   {gen:.4f}")
            if name == "100":
                print("    by composition (n_Pb, n_Se): columns, mean, sd, generator model")
                pairs = truth.loc[sel, ["n_Pb", "n_Se"]].to_numpy()
                for a_, b_ in sorted(set(map(tuple, pairs.tolist()))):
                    m_ = (pairs[:, 0] == a_) & (pairs[:, 1] == b_)
                    gen = float(model.cross_section({"Pb": [a_], "Se": [b_]})[0])
                    print(f"    ({a_}, {b_}) {m_.sum():3d}  {v[m_].mean():.4f}  {v[m_].std():.4f}   {gen:.4f}")
        # class means of the noise-free fit: a library of multislice cross-sections (an oracle for this particle)
        types0 = table["type"].to_numpy()
        if name == "110":
            cls = [(t, int(k)) for t, k in zip(types0, np.where(types0 == "Pb", truth["n_Pb"], truth["n_Se"]))]
        else:
            cls = [(t, (int(a), int(b))) for t, a, b in zip(types0, truth["n_Pb"], truth["n_Se"])]
        means = pd.Series(table["volume"].to_numpy()).groupby(pd.Series(cls)).mean().to_dict()
        library = {}
        for (t, k), m in means.items():
            library.setdefault(t, {})[k] = m
        col_mean = np.array([means[c] for c in cls])
        # how far the frozen-phonon average has converged: the stored image is the mean of the images of
        # a few configurations; the scatter of a column's cross-section over them gives its standard error
        cfg_file = TEST_DATA / view.meta.get("configs_file", "-")
        if cfg_file.is_file():
            configs = np.load(cfg_file)["configs"]
            pos0 = table[["y", "x"]].to_numpy()
            vols = np.array([
                fit_typed_columns(c, view.pixel_size, pos0, rule="auto", zone_axis=view.zone_axis)["volume"].to_numpy()
                for c in configs
            ])
            rel = vols.std(axis=0, ddof=1) / table["volume"].to_numpy()
            print(f"phonon configurations: {len(vols)}; relative scatter of a column's cross-section between "
                  f"configurations: RMS {np.sqrt(np.mean(rel**2)):.2%}, median {np.median(rel):.2%}; divided by "
                  f"sqrt({len(vols)}) for their mean (the stored image)")
            for t in np.unique(types0):
                m_ = types0 == t
                print(f"    {t} columns: median {np.median(rel[m_]):.2%}")
        # Poisson noise alone: the scatter of the cross-sections over realisations at this dose
        pos0 = table[["y", "x"]].to_numpy()
        vp = np.array([
            fit_typed_columns(noisy(view, dose, 100 + k), view.pixel_size, pos0, rule="auto",
                              zone_axis=view.zone_axis)["volume"].to_numpy()
            for k in range(4)
        ])
        rel = vp.std(axis=0, ddof=1) / table["volume"].to_numpy()
        print(f"Poisson noise at {dose:g} e/Å²: relative scatter of a column's cross-section: RMS {np.sqrt(np.mean(rel**2)):.2%}, "
              + ", ".join(f"{t} median {np.median(rel[types0 == t]):.2%}" for t in np.unique(types0)))
        # phonon-converged estimate: every column at its class mean plus Poisson scatter only
        sd_p = vp.std(axis=0, ddof=1)
        conv = []
        for seed in range(n_real):
            rng = np.random.default_rng(1000 + seed)
            x = np.clip(col_mean + rng.normal(size=col_mean.shape) * sd_p, 1e-6, None)
            r = count_atoms(x, types=types0)
            if name == "110":
                sel = types0 == "Pb"
                conv.append(np.mean(r.counts[sel] == truth["n_Pb"].to_numpy()[sel]))
            else:
                conv.append(np.mean(r.counts == truth["n_Pb"].to_numpy()))
            if seed == 0:
                print("  phonon-converged estimate, seed 0:", r, "true vs counted (sorted):",
                      np.c_[truth["n_Pb"].to_numpy(), r.counts][np.argsort(truth["n_Pb"].to_numpy(), kind="stable")].T.tolist()
                      if name == "100" else "")
        what = "Pb columns" if name == "110" else "Pb count of mixed columns"
        print(f"phonon-converged estimate (class means + Poisson scatter only), {what} exact: "
              f"mean {np.mean(conv):.3f}, min {np.min(conv):.3f}")
        # noisy realisations
        fr, pos_err, found_ok, kinds = [], [], [], {}
        for seed in range(n_real):
            out = analyse(view, noisy(view, dose, seed))
            pos_err.append(out["true_dist"])
            found_ok.append(len(out["table"]) == len(view.columns) and len(np.unique(out["idx"])) == len(view.columns))
            if len(out["extras"]):
                vx = out["table"]["volume"].to_numpy()
                print(f"  seed {seed}: {len(out['extras'])} extra column(s), volume "
                      f"{vx[out['extras']].round(4).tolist()} Å² (median column {np.median(vx):.4f}); "
                      f"every true column matched: {len(np.unique(out['nearest'])) == len(view.columns)}, "
                      f"largest true-column distance {out['true_dist'].max():.3f} Å")
            fr.append(counted_fraction(name, out))
            for k, ok in out["exact"].items():
                kinds.setdefault(k, []).append(float(np.mean(ok)))
            lib = count_atoms(out["table"], library=library)
            tr = view.columns.iloc[out["idx"]]
            if name == "110":
                sel = out["table"]["type"].to_numpy() == "Pb"
                kinds.setdefault("Pb, multislice library", []).append(float(np.mean(lib.counts[sel] == tr["n_Pb"].to_numpy()[sel])))
            else:
                kinds.setdefault("Pb (mixed), multislice library", []).append(float(np.mean(lib.counts == tr["n_Pb"].to_numpy())))
            if name == "110":
                k_true = len(np.unique(view.columns.loc[view.columns["type"] == "Pb", "n_Pb"]))
                forced = count_atoms(out["table"]["volume"].to_numpy()[sel], n_components=k_true)
                kinds.setdefault(f"Pb, plain GMM with K forced to the true {k_true}", []).append(
                    float(np.mean(forced.counts == tr["n_Pb"].to_numpy()[sel])))
            else:
                given = count_atoms(out["table"], lowest_count=1)
                kinds.setdefault("Pb (mixed model) with lowest_count=1 given", []).append(
                    float(np.mean(given.counts == tr["n_Pb"].to_numpy())))
            res = out["count_result"]
            extra = ""
            if name == "100":
                p = out["plain_total"]
                extra = f"; plain GMM total: K={p.n_components}, lowest {p.lowest_count}"
                print(f"  seed {seed}: mixed model Pb counts {res.counts.min()}..{res.counts.max()}{extra}; exact " + ", ".join(f"{k} {np.mean(o):.3f}" for k, o in out["exact"].items()))
            else:
                by = res.by_type
                print(f"  seed {seed}: " + "; ".join(f"{t}: K={by[t].n_components} lowest {by[t].lowest_count} exact {np.mean(out['exact'][t]):.3f}" for t in ("Pb", "Se")))
        dd = np.concatenate(pos_err)
        print(f"every column found once, nothing extra, in {sum(found_ok)}/{n_real}; position error of the true "
              f"columns' nearest found column: max {dd.max():.3f} Å, RMS {np.sqrt(np.mean(dd**2)):.3f} Å")
        for k, v in kinds.items():
            print(f"exact fraction, {k}: mean {np.mean(v):.3f}, min {np.min(v):.3f}, max {np.max(v):.3f}")


if __name__ == "__main__":  # pragma: no cover
    import sys

    report(
        int(sys.argv[1]) if len(sys.argv) > 1 else 10,
        float(sys.argv[2]) if len(sys.argv) > 2 else DOSE,
        tuple(sys.argv[3].split(",")) if len(sys.argv) > 3 else VIEWS,
    )
