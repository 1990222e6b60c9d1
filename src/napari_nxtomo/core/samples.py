"""The bundled sample particles and their synthetic images, with ground truth.

Two particles, both imaged along [100], [010] and [110] around the common
tilt axis [001] (the geometry of the first seed paper):

* :func:`pbse_cuboctahedron`: a free-standing rocksalt PbSe cuboctahedron about
  4 nm across, with an incomplete surface layer (an island on one {100}
  facet) and a few surface vacancies.
* :func:`pbse_cdse_core_shell`: a rod-shaped particle, a PbSe (rocksalt) core
  inside a zincblende CdSe shell whose Se sublattice continues the core's.

Every atom sits on the quarter-lattice grid of
:mod:`napari_nxtomo.core.lattice`, so the true model is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.spatial import cKDTree

from .geometry import ProjectionGeometry
from .lattice import (
    FCC_NEIGHBOURS_Q,
    ROCKSALT_NEIGHBOURS_Q,
    ROCKSALT_PBSE,
    ZINCBLENDE_CDSE,
    capsule_mask,
    coordination,
    cuboctahedron_mask,
)
from .simulate import CrossSectionModel, SimulatedImage, simulate_haadf
from .tables import atomic_open

#: the three views of the paper, about the common tilt axis [001]
PAPER_ZONE_AXES = ((1, 0, 0), (0, 1, 0), (1, 1, 0))
PAPER_TILT_AXIS = (0, 0, 1)

#: imaging conditions of the samples
SAMPLE_PIXEL_SIZE = 0.2  # Å
SAMPLE_PROBE_FWHM = 1.0  # Å
SAMPLE_DOSE = 5e4  # e / Å²
SAMPLE_BACKGROUND = 0.01

#: the multislice core-shell sample: rod radius and half-length (Å), core n_core (a/2), island x range (a/2)
CORE_SHELL_SAMPLE = (14.5, 5.0, 3, (-2, 1))
#: a second core-shell particle unlike the sample (tests, benchmark): a thinner, longer rod, a core cut further by
#: {111} (truncated octahedron) and moved 1 a/2 along x and 2 a/2 along the rod, an island elsewhere on its facet
CORE_SHELL_OTHER = (13.0, 7.0, 3, (-1, 2), (1, 0, 2), 1.7)
#: a third core-shell particle (tests, benchmark): a cubic core ({100} facets only) moved 1 a/2 down y and 1 a/2
#: along the rod, in a wider, shorter rod (a thicker shell), its island at x = 0..2 a/2 on the +y facet
CORE_SHELL_CUBE = (16.5, 4.0, 3, (0, 2), (0, -1, 1), 3.0)
#: a fourth (tests, benchmark; made after the counting's last change): a truncated-octahedral core ({111} at 1.6 ×)
#: moved 1 a/2 along +x and 1 a/2 down the rod, its island at x = -2 … 0 a/2, in a rod of radius 14 Å
CORE_SHELL_TRUNCATED = (14.0, 5.0, 3, (-2, 0), (1, 0, -1), 1.6)
#: a fifth (tests, benchmark; made 2026-12-04 to measure the counting untuned): a cube with its
#: corners cut by {111} (at 2.4 ×) moved 1 a/2 along -x and 1 a/2 down y, its island at x = -1 … 1 a/2, rod radius 15 Å
CORE_SHELL_CUT_CUBE = (15.0, 4.5, 3, (-1, 1), (-1, -1, 0), 2.4)
#: a sixth (tests, benchmark; made with the fifth, untuned): a core between truncated octahedron and cuboctahedron ({111} at
#: 1.8 ×) moved 1 a/2 along the rod, centred across it, in a wider rod (radius 15.5 Å: a thicker shell), island x = -1 … 1
CORE_SHELL_WIDE = (15.5, 4.5, 3, (-1, 1), (0, 0, 1), 1.8)
#: a seventh (benchmark; made 2026-12-04 before the session's changes, to measure them untuned): a larger truncated
#: octahedron ({111} at 1.7 ×, 4 a/2 to its {100} facets, 213 Pb) moved 1 a/2 up y and down the rod, a thin side shell
CORE_SHELL_LARGE = (16.0, 4.0, 4, (-2, 1), (0, 1, -1), 1.7)
#: an eighth (made with the seventh): a small cuboctahedral core (2 a/2, 59 Pb) moved along +x and up the rod in a
#: long rod of radius 14 Å: a thick shell above and below every core column
CORE_SHELL_SMALL = (14.0, 6.0, 2, (-1, 1), (1, 0, 1), 2.0)
#: a ninth (benchmark; made 2026-12-04 23:05 UTC, before any change it measures): a near-octahedral core ({111} at
#: 1.4 ×, 4 a/2 to its small {100} facets, 97 Pb) moved 1 a/2 along +x and up y in a rod of radius 15.5 Å
CORE_SHELL_OCTAHEDRAL = (15.5, 4.5, 4, (-1, 2), (1, 1, 0), 1.4)
#: a tenth (benchmark; made 2026-12-05 00:45 UTC, before any change it measures): a core cut by {111} at 1.9 × (87
#: Pb) moved 1 a/2 along +x (its shell there one Se layer thin), down y and 2 a/2 down a thin rod of radius 13.5 Å
CORE_SHELL_THIN_SIDE = (13.5, 6.0, 3, (-1, 2), (1, -1, -2), 1.9)
#: an eleventh (benchmark; made 2026-12-05 00:48 UTC, before any change it measures): a large core cut by {111} at
#: 1.5 × (4 a/2 to its {100} facets, 210 Pb) moved 1 a/2 along -x (its -x corner at the rod's surface) and up the rod
CORE_SHELL_EXPOSED = (15.0, 5.0, 4, (0, 2), (-1, 0, 1), 1.5)
#: a twelfth (benchmark; made 2026-12-06 04:40 UTC, before any change it measures): the ninth's near-octahedral core
#: (97 Pb) moved 1 a/2 along +x and *down* y, so that its 12-site island on the +y facet faces the rod's centre,
#: buried under the shell (the ninth's island lies outside its rod: 9 of its Pb bonded to no Se, see :func:`unbonded`)
CORE_SHELL_BURIED = (15.5, 4.5, 4, (-1, 2), (1, -1, 0), 1.4)
#: a thirteenth (benchmark; made 2026-12-06 05:46 UTC, before any change it measures, held out for the choice of the
#: tomography's count weight): a truncated-octahedral core ({111} at 1.7 ×, 3 a/2, 87 Pb) moved 1 a/2 down y and up
#: the rod in a thin rod of radius 13.5 Å, its 8-site island (3-5 Pb neighbours at its edge) inside the rod
CORE_SHELL_HELD_OUT = (13.5, 5.0, 3, (-2, 1), (0, -1, 1), 1.7)
#: a fourteenth (benchmark; made 2026-12-06 20:40 UTC, before anything was measured on it, held out as the thirteenth):
#: a cube with its corners cut by {111} at 2.2 × (119 Pb) moved 1 a/2 along -x and 2 a/2 down a rod of radius 14.5 Å,
#: its island at x = 0 … 2 a/2 on the +y facet, inside the rod
CORE_SHELL_HELD_OUT_2 = (14.5, 5.5, 3, (0, 2), (-1, 0, -2), 2.2)


@dataclass
class SampleParticle:
    """A model particle and its images.

    Attributes
    ----------
    name : str
    lattice_parameter : float
        Å.
    q : (N, 3) int ndarray
        Atom positions in quarter-lattice units (x, y, z).
    elements : (N,) ndarray of str
    views : list of SimulatedImage
        One image per zone axis, each with its true columns.
    description : str

    Examples
    --------
    >>> p = pbse_cuboctahedron(noise=False, n_half=2)
    >>> p.composition(), p.sites("Pb").shape, [v.name for v in p.views]
    ({'Pb': 54, 'Se': 39}, (54, 3), ['PbSe cuboctahedron [100]', 'PbSe cuboctahedron [010]', 'PbSe cuboctahedron [110]'])
    """

    name: str
    lattice_parameter: float
    q: np.ndarray
    elements: np.ndarray
    views: list = field(default_factory=list)
    description: str = ""

    @property
    def positions(self) -> np.ndarray:
        """Atom positions in Å, crystal frame (x, y, z), model centre at the origin."""
        return self.q * (self.lattice_parameter / 4.0)

    def sites(self, element: str) -> np.ndarray:
        """Positions (Å) of the atoms of one element."""
        return self.positions[self.elements == element]

    def composition(self) -> dict:
        """Element symbol to number of atoms."""
        els, n = np.unique(self.elements, return_counts=True)
        return {str(e): int(k) for e, k in zip(els, n)}

    def write_xyz(self, path) -> None:
        """Write the true model as an .xyz file (Å)."""
        with atomic_open(path, "w", encoding="utf-8") as fh:
            fh.write(f"{len(self.q)}\n{self.name}: true model, positions in Å (x y z)\n")
            for el, (x, y, z) in zip(self.elements, self.positions):
                fh.write(f"{el} {x:.4f} {y:.4f} {z:.4f}\n")


def _image_views(name, q, elements, a, *, seed, noise, shift=2.0, zone_axes=PAPER_ZONE_AXES):
    """Images of a model along the paper's zone axes, each shifted a little in the field of view."""
    rng = np.random.default_rng(seed)
    positions = q * (a / 4.0)
    views = []
    for k, zone in enumerate(zone_axes):
        geom = ProjectionGeometry(zone, PAPER_TILT_AXIS)
        yx = geom.project(positions)
        lo, hi = yx.min(axis=0) - 12.0, yx.max(axis=0) + 12.0
        shape = tuple(int(v) for v in np.ceil((hi - lo) / SAMPLE_PIXEL_SIZE) + 1)
        # the particle is never exactly centred: a random shift of a few Å
        origin = (np.asarray(shape) - 1) * SAMPLE_PIXEL_SIZE / 2 - 0.5 * (lo + hi) + rng.uniform(-shift, shift, 2)
        img = simulate_haadf(
            positions,
            elements,
            geom,
            pixel_size=SAMPLE_PIXEL_SIZE,
            shape=shape,
            origin=origin,
            probe_fwhm=SAMPLE_PROBE_FWHM,
            dose=SAMPLE_DOSE,
            background=SAMPLE_BACKGROUND,
            model=CrossSectionModel(),
            noise=noise,
            seed=rng.integers(2**31),
            name=f"{name} [{''.join(str(v) for v in zone)}]",
        )
        img.metadata["sample"] = name
        views.append(img)
    return views


def _remove_surface_vacancies(q, elements, element, n_vacancies, rng, min_coordination=8):
    """Remove a few atoms of ``element`` from well-coordinated surface sites (facets, not edges)."""
    sel = np.flatnonzero(elements == element)
    coord = coordination(q[sel], FCC_NEIGHBOURS_Q)
    surface = sel[(coord < 12) & (coord >= min_coordination)]
    drop = rng.choice(surface, size=n_vacancies, replace=False)
    keep = np.ones(len(q), dtype=bool)
    keep[drop] = False
    return q[keep], elements[keep]


@lru_cache(maxsize=4)
def _pbse_cuboctahedron_model(n_half: int, seed: int):
    a = ROCKSALT_PBSE.lattice_parameter
    half = n_half * a / 2
    q, el = ROCKSALT_PBSE.sites(half + a)
    pos = q * (a / 4)
    inside = cuboctahedron_mask(pos, half)
    # an island: part of the next {100} layer on the +x facet
    layer = np.isclose(pos[:, 0], half + a / 2)
    y, z = pos[:, 1] / (a / 2), pos[:, 2] / (a / 2)
    island = layer & (np.abs(y) + np.abs(z) <= n_half - 1) & (y >= -1) & (y <= 3) & (np.abs(z) <= 2)
    q, el = q[inside | island], el[inside | island]
    rng = np.random.default_rng(seed)
    q, el = _remove_surface_vacancies(q, el, "Pb", 5, rng)
    return q, el


def pbse_cuboctahedron(seed: int = 0, noise: bool = True, n_half: int = 6) -> SampleParticle:
    """A PbSe (rocksalt) cuboctahedron about 4 nm across, imaged along [100], [010], [110].

    Parameters
    ----------
    seed : int
        Seed of the surface vacancies, the image shifts and the noise.
    noise : bool
        Poisson noise at the sample dose (5e4 e/Å²).
    n_half : int
        Centre to {100} facet distance in units of a/2 (6 gives 3.7 nm between
        opposite {100} facets, 5.2 nm vertex to vertex).

    Returns
    -------
    SampleParticle

    Examples
    --------
    >>> p = pbse_cuboctahedron()
    >>> p.composition(), p.lattice_parameter, p.views[2].image.shape
    ({'Pb': 931, 'Se': 838}, 6.12, (305, 381))
    """
    q, el = _pbse_cuboctahedron_model(int(n_half), int(seed))
    description = (
        "Rocksalt PbSe cuboctahedron ({100} and {111} facets), an incomplete PbSe layer (island) "
        "on the (100) facet and 5 Pb surface vacancies; HAADF-STEM along [100], [010], [110] "
        "about the tilt axis [001]."
    )
    return _imaged_particle("PbSe cuboctahedron", q, el, description, seed=seed, noise=noise)


def _imaged_particle(name, q, elements, description, *, seed, noise) -> SampleParticle:
    """A sample particle on the PbSe grid with its three images."""
    p = SampleParticle(name=name, lattice_parameter=ROCKSALT_PBSE.lattice_parameter, q=q.copy(),
                       elements=elements.copy(), description=description)
    p.views = _image_views(name, p.q, p.elements, p.lattice_parameter, seed=seed, noise=noise)
    return p


def core_shell_island(q_pb, lattice_parameter: float, model) -> np.ndarray:
    """The Pb sites of a :func:`core_shell_model` core's island (beyond its +y facet), quarter-lattice units.

    ``model``: the arguments the particle was made with (e.g. ``CORE_SHELL_CUBE``).

    Examples
    --------
    >>> q, el = core_shell_model(*CORE_SHELL_SAMPLE)
    >>> len(core_shell_island(q[el == "Pb"], ROCKSALT_PBSE.lattice_parameter, CORE_SHELL_SAMPLE))
    8
    """
    q_pb = np.asarray(q_pb)
    a = float(lattice_parameter)
    shift_y = (model[4][1] if len(model) > 4 else 0) * a / 2
    return q_pb[q_pb[:, 1] * (a / 4) - shift_y > model[2] * a / 2 + 0.01]


def unbonded(q, elements, cation: str = "Pb", anion: str = "Se") -> np.ndarray:
    """Which ``cation`` sites have none of their six rocksalt ``anion`` neighbours in the particle.

    Such an atom is bonded to nothing in the crystal (Pb and Cd are not bonded): no
    nanocrystal holds it on a lattice site.  :func:`core_shell_model`
    places its core and island without looking at the rod, so a core that
    reaches past the rod's surface leaves some (the large and near-octahedral
    test particles' islands lie outside their rods).

    Examples
    --------
    >>> q, el = core_shell_model(*CORE_SHELL_SAMPLE)
    >>> int(unbonded(q, el).sum())
    0
    >>> [int(unbonded(*core_shell_model(*m)).sum()) for m in (CORE_SHELL_OCTAHEDRAL, CORE_SHELL_LARGE)]
    [9, 5]
    """
    elements = np.asarray(elements)
    both = np.flatnonzero((elements == cation) | (elements == anion))
    # a cation's six rocksalt neighbours are anion sites: its coordination among cations and anions counts its anions
    bonds = coordination(np.asarray(q)[both], ROCKSALT_NEIGHBOURS_Q)
    out = np.zeros(len(elements), dtype=bool)
    out[both] = (elements[both] == cation) & (bonds == 0)
    return out


@lru_cache(maxsize=4)
def core_shell_model(radius: float = 25.0, half_length: float = 18.0, n_core: int = 5, island_x=(-2, 1),
                     core_shift=(0, 0, 0), core_diagonal: float = 2.0):
    """A PbSe core in a zincblende CdSe rod along [001], on the quarter-lattice grid.

    The rod's Se sublattice is coherent (one fcc Se lattice through core and
    shell); Pb sits on the rocksalt (octahedral) cation sites of a
    cuboctahedral core ``n_core`` a/2 from its centre to its {100} facets, with
    a Pb island on the +y facet (``island_x``: its x range in a/2); Cd sits on
    the zincblende (tetrahedral) cation sites of the rod, except those closer
    than √3 a/4 to a Pb (where the two cation sublattices meet).

    Parameters
    ----------
    radius, half_length : float
        The rod (capsule) in Å (:func:`~napari_nxtomo.core.lattice.capsule_mask`).
    n_core : int
        Centre to {100} facet of the core, units of a/2.
    island_x : (int, int)
        x range (a/2) of the island on the core's +y facet.
    core_shift : 3 ints
        The core's centre (a/2 units) relative to the rod's.
    core_diagonal : float
        The core's {111} facets at ``|x| + |y| + |z| <= core_diagonal × n_core a/2``
        (2: a cuboctahedron; less: a truncated octahedron cut further by {111}).

    Returns
    -------
    q : (N, 3) int ndarray (quarter-lattice units), elements : (N,) str ndarray

    Examples
    --------
    >>> q, el = core_shell_model(*CORE_SHELL_SAMPLE)
    >>> {str(e): int(n) for e, n in zip(*np.unique(el, return_counts=True))}
    {'Cd': 114, 'Pb': 155, 'Se': 342}
    """
    a = ROCKSALT_PBSE.lattice_parameter
    extent = radius + half_length + a
    q_se, _ = ZINCBLENDE_CDSE.sites(extent, "Se")
    q_cd, _ = ZINCBLENDE_CDSE.sites(extent, "Cd")
    q_pb, _ = ROCKSALT_PBSE.sites(extent, "Pb")
    to_a = a / 4
    half = n_core * a / 2
    pos_pb = q_pb * to_a - np.asarray(core_shift) * (a / 2)
    core = cuboctahedron_mask(pos_pb, half, core_diagonal * half)
    xz = pos_pb[:, [0, 2]] / (a / 2)
    island = (np.isclose(pos_pb[:, 1], half + a / 2) & (np.abs(xz).sum(axis=1) <= n_core - 1)
              & (xz[:, 0] >= island_x[0]) & (xz[:, 0] <= island_x[1]))
    q_pb = q_pb[core | island]
    d, _ = cKDTree(q_pb * to_a).query(q_cd * to_a)
    q_cd = q_cd[capsule_mask(q_cd * to_a, radius, half_length) & (d > np.sqrt(3) * a / 4 + 0.01)]
    q_se = q_se[capsule_mask(q_se * to_a, radius, half_length)]
    q = np.concatenate([q_pb, q_se, q_cd])
    el = np.concatenate([np.full(len(q_pb), "Pb"), np.full(len(q_se), "Se"), np.full(len(q_cd), "Cd")])
    return q, el


def pbse_cdse_core_shell(seed: int = 0, noise: bool = True) -> SampleParticle:
    """A rod-shaped PbSe(core)/CdSe(shell) particle imaged along [100], [010], [110].

    The rod (5 nm wide, 8.6 nm long) runs along the tilt axis [001]; its
    zincblende CdSe shell shares the Se sublattice of the rocksalt PbSe core,
    a cuboctahedron 3 nm across with a Pb island on its (010) facet.

    Parameters
    ----------
    seed : int
        Seed of the image shifts and the noise (the model itself has no random part).
    noise : bool
        Poisson noise at the sample dose (5e4 e/Å²).

    Examples
    --------
    >>> p = pbse_cdse_core_shell(noise=False)
    >>> p.composition(), [len(v.columns) for v in p.views]
    ({'Cd': 1639, 'Pb': 577, 'Se': 2414}, [807, 807, 652])
    """
    q, el = core_shell_model()
    description = (
        "Rod (capsule, radius 25 Å, along [001]) of zincblende CdSe around a rocksalt PbSe "
        "cuboctahedral core with a Pb island on its (010) facet; coherent Se sublattice; "
        "HAADF-STEM along [100], [010], [110] about the tilt axis [001]."
    )
    return _imaged_particle("PbSe/CdSe core-shell rod", q, el, description, seed=seed + 1, noise=noise)
