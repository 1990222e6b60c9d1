"""The ``library`` subcommand: a cross-section library for the user's optics (abTEM; cached), written as JSON."""

from __future__ import annotations

from pathlib import Path

from ..core.library.cell import KNOWN_CRYSTALS, ZINCBLENDE_CRYSTALS


def add_library(sub, zone_type) -> None:
    """The parser of ``napari-nxtomo library`` (``zone_type`` parses a zone axis such as ``110``)."""
    lib = sub.add_parser("library", help="compute a cross-section library for your optics (frozen-phonon multislice, "
                                         "abTEM: minutes; cached) and write it for count --library")
    lib.add_argument("zone_axis", type=zone_type, help="a <100> or <110> zone axis, e.g. 110")
    lib.add_argument("--crystal", default="PbSe", choices=sorted({**KNOWN_CRYSTALS, **ZINCBLENDE_CRYSTALS}),
                     help="default PbSe")
    lib.add_argument("--energy", type=float, default=300.0, help="beam energy, keV (default 300)")
    lib.add_argument("--convergence", type=float, default=24.0, help="probe semi-convergence angle, mrad (default 24)")
    lib.add_argument("--detector", type=float, nargs=2, default=[60.0, 130.0], metavar=("INNER", "OUTER"),
                     help="annular detector angles, mrad (default 60 130)")
    lib.add_argument("--max-count", type=int, default=15, help="largest count of the heaviest element (default 15)")
    lib.add_argument("--phonons", type=int, default=8, help="frozen-phonon configurations (default 8)")
    lib.add_argument("--vibration", type=float, default=None,
                     help="rms thermal displacement of the heaviest element, Å (default room temperature's, e.g. "
                          "0.134 for Pb; the lighter elements scaled alike): it changes the library's shape")
    lib.add_argument("--lattice-parameter", type=float, default=None, help="Å (default the crystal's)")
    lib.add_argument("--out", default=".", help="output folder (default: here)")
    lib.add_argument("--quiet", action="store_true")


def run_library(args) -> Path:
    """Compute (or take from the cache) the library the options name; write it into ``args.out``; its path."""
    from ..core.library import scaled_vibrations, simulate_library
    from ..core.library.shipped import _file_name
    from ..core.workflow import describe_library
    from .commands import progress_bar

    vibrations = None if args.vibration is None else scaled_vibrations(args.crystal, args.vibration)
    bar, progress = progress_bar("library (phonon configurations)", args.quiet)
    try:
        lib = simulate_library(args.crystal, args.zone_axis, energy_keV=args.energy, convergence_mrad=args.convergence,
                               detector_mrad=tuple(args.detector), lattice_parameter=args.lattice_parameter,
                               max_count=args.max_count, n_phonons=args.phonons, thermal_sigma=vibrations,
                               progress=progress)
    finally:
        bar.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = lib.write(out / _file_name(lib.settings))
    if not args.quiet:
        print(f"wrote {path}: {describe_library(lib)} (count with: napari-nxtomo count ... --library {path})")
    return path
