"""``napari-nxtomo``: the argument parser and the entry point."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from ..core.lattice import ROCKSALT_PBSE

__all__ = ["build_parser", "main"]


def _zone(text):
    from ..core.tomography import parse_zone_axis

    try:
        return parse_zone_axis(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_demo(sub) -> None:
    demo = sub.add_parser("demo", help="run the workflow on the bundled sample particles, headless")
    demo.add_argument("--out", default="nxtomo-demo", help="output folder (default: ./nxtomo-demo)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the samples (default 0)")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.add_argument("--runs", type=int, default=10, help="annealing runs of the reconstruction (default 10)")
    demo.add_argument("--sample", default="all", choices=["all", "pbse", "core-shell"],
                      help="which bundled particle(s): the PbSe cuboctahedron, the PbSe/CdSe core-shell rod, or "
                           "both (default)")
    demo.add_argument("--gui", action="store_true",
                      help="open napari with the sample loaded and the four widgets docked instead")


def _add_fit(sub) -> None:
    fit = sub.add_parser("fit", help="find and fit the atomic columns of images; one CSV table per image")
    fit.add_argument("images", nargs="+", help="image files (any format the plugin reads)")
    fit.add_argument("--out", default=".", help="output folder (default: here)")
    fit.add_argument("--min-distance", type=float, default=None,
                     help="smallest column spacing to keep, Å (default: 0.65 × the column spacing of the zone axis "
                          "and lattice parameter the image names, else 1.4)")
    fit.add_argument("--types", default="auto", choices=["auto", "one", "mixed", "parity", "intensity"],
                     help="column types: auto from the zone axis (rocksalt <100> mixed, <110> parity; a core-shell "
                          "image (metadata structure core-shell): by the sublattice each column sits on)")
    fit.add_argument("--elements", default="Pb,Se", help="heavy and light element (default Pb,Se)")
    fit.add_argument("--zone-axis", type=_zone, default=None, help="zone axis when the file does not say, e.g. 110")
    fit.add_argument("--assume-unit", default=None, help="length unit of files whose axes carry no unit (e.g. nm)")
    fit.add_argument("--pixel-size", type=float, default=None,
                     help="pixel size, Å, for files that carry no calibration (overrides the file's)")
    fit.add_argument("--particles", action="store_true",
                     help="find the columns particle by particle, guided by each particle's lattice: none in vacuum, "
                          "on the support or on particles off their zone axis (reported)")
    fit.add_argument("--quiet", action="store_true")


def _lowest(parser, text):
    """``--lowest-count`` as count_table takes it (the parser's error on bad text)."""
    from ..core.workflow import parse_lowest_count

    try:
        return parse_lowest_count(text)
    except ValueError as exc:
        parser.error(str(exc))


def _add_count(sub) -> None:
    count = sub.add_parser("count", help="count atoms per column from fitted tables (cross-section library, or Gaussian mixture + ICL)")
    count.add_argument("tables", nargs="+", help="column tables written by 'fit' (or the napari writer)")
    count.add_argument("--out", default=".", help="output folder (default: here)")
    count.add_argument("--max-components", type=int, default=20)
    count.add_argument("--n-components", type=int, default=None, help="force the number of classes")
    count.add_argument("--lowest-count", default=None,
                       help="count of the lowest class: one number for every column type, or one per type "
                            "('Pb=1,Se=2'); default: inferred")
    count.add_argument("--library", default="auto",
                       help="cross-section library: 'auto' (default: the shipped or cached one for the crystal, zone "
                            "axis and optics the table names; the mixture when there is none), 'none' (mixture "
                            "only), a library JSON (simulate_library / CrossSectionLibrary.write) or a CSV with "
                            "columns count, cross_section")
    count.add_argument("--dose", type=float, default=None,
                       help="incident dose, e/Å², of images in detected electrons: the scale is fitted about dose × "
                            "pixel² × the fit's capture (default: the dose in the table's metadata, else a free fit)")
    count.add_argument("--joint", action="store_true",
                       help="the tables are views of ONE particle: count them together (one library scale, one Pb "
                            "total); needs a library for every view")
    count.add_argument("--assignment", default="likelihood", choices=["likelihood", "posterior", "nearest"],
                       help="with a library, how a one-element column gets its count: likelihood (default: the "
                            "classes equally likely), posterior (the mixture's class fractions) or nearest (the "
                            "nearest scaled library value, StatSTEM's rule)")
    count.add_argument("--mixed-units", default="cell", choices=["cell", "fitted"],
                       help="core-shell <100> views counted with --joint: the units of the PbSe library for the "
                            "core's Pb/Se columns: cell (default: the column's cell-integrated signal x one capture) "
                            "or fitted (the library fitted by the plugin's Gaussians: better core counts at 1e5 "
                            "e/Å², more Pb put in the rod's edge shell columns at 5e4; "
                            "benchmarks/bench_core_shell.py)")
    count.add_argument("--quiet", action="store_true")


def _add_reconstruct(sub) -> None:
    a = ROCKSALT_PBSE.lattice_parameter
    rec = sub.add_parser("reconstruct", help="3D model on the fcc grid from counted column tables (discrete tomography)")
    rec.add_argument("tables", nargs="+", help="counted column tables written by 'count' (one per zone axis)")
    rec.add_argument("--out", default=".", help="output folder (default: here)")
    rec.add_argument("--lattice-parameter", type=float, default=a, help=f"Å (default {a:g}, PbSe)")
    rec.add_argument("--element", default="Pb", help="the reconstructed species (default Pb)")
    rec.add_argument("--zone-axes", type=_zone, nargs="+", default=None,
                     help="one per table when the tables do not say, e.g. 100 010 110")
    rec.add_argument("--runs", type=int, default=10, help="annealing runs (default 10)")
    rec.add_argument("--solver", default="both", choices=["both", "anneal", "exact"],
                     help="annealing runs and the exact optimum (default), or one of them")
    rec.add_argument("--seed", type=int, default=0)
    rec.add_argument("--quiet", action="store_true")


def _add_debye(sub) -> None:
    debye = sub.add_parser("debye", help="Debye scattering pattern of atom models (.xyz)")
    debye.add_argument("models", nargs="+", help=".xyz files (x y z in Å, element symbols)")
    debye.add_argument("--out", default=".", help="output folder (default: here)")
    debye.add_argument("--q-min", type=float, default=0.5, help="Å⁻¹ (default 0.5)")
    debye.add_argument("--q-max", type=float, default=25.0, help="Å⁻¹ (default 25)")
    debye.add_argument("--q-step", type=float, default=0.01, help="Å⁻¹ (default 0.01)")
    src = debye.add_mutually_exclusive_group()
    src.add_argument("--energy", type=float, default=None, help="X-ray energy, keV (anomalous f', f'' and 2θ)")
    src.add_argument("--wavelength", type=float, default=None, help="X-ray wavelength, Å")
    debye.add_argument("--b", default=None, help="Debye-Waller B in Å²: one number or Pb=1.2,Se=0.9")
    debye.add_argument("--radiation", default="xray", choices=["xray", "constant", "neutron"])
    debye.add_argument("--complete", default=None, metavar="CATION:ANION",
                       help="add the rocksalt anion sublattice around the cations, e.g. Pb:Se")
    debye.add_argument("--min-neighbours", type=int, default=1,
                       help="with --complete: keep anion sites with at least this many cation neighbours (default 1: "
                            "every site touching a cation; 4 of 6 keeps well-coordinated sites only)")
    debye.add_argument("--lattice-parameter", type=float, default=None, help="Å, for --complete")
    debye.add_argument("--certainty-as-occupancy", action="store_true",
                       help="use the model's per-atom certainty as site occupancy")
    debye.add_argument("--self-term", default="occupancy", choices=["occupancy", "squared"],
                       help="self-scattering of a partly occupied site: o (default, the mean over random vacancies) "
                            "or o² (eq. 1 of Bertolotti et al. 2016)")
    debye.add_argument("--quiet", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser: the subcommands demo, fit, count, reconstruct, debye, refine and library.

    Examples
    --------
    >>> args = build_parser().parse_args(["reconstruct", "a_counts.csv", "b_counts.csv", "--zone-axes", "100", "110"])
    >>> args.command, args.lattice_parameter, args.zone_axes
    ('reconstruct', 6.12, [(1, 0, 0), (1, 1, 0)])
    """
    parser = argparse.ArgumentParser(
        prog="napari-nxtomo",
        description="3D atomic models of nanocrystals from HAADF-STEM images (napari plugin and command line).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    from .library import add_library
    from .refine import add_refine

    for add in (_add_demo, _add_fit, _add_count, _add_reconstruct, _add_debye, add_refine):
        add(sub)
    add_library(sub, _zone)
    return parser


def _run(parser, args) -> None:
    """Call the subcommand's runner with the parsed options."""
    from . import commands, demo

    if args.command == "demo" and args.gui:
        demo.run_gui()
    elif args.command == "demo":
        demo.run_demo(Path(args.out), seed=args.seed, quiet=args.quiet, n_runs=args.runs, sample=args.sample)
    elif args.command == "fit":
        els = tuple(e.strip() for e in args.elements.split(","))
        if len(els) != 2:
            parser.error("--elements needs two symbols, e.g. Pb,Se")
        commands.run_fit(args.images, Path(args.out), min_distance=args.min_distance, types=args.types,
                         elements=els, zone_axis=args.zone_axis, assume_unit=args.assume_unit,
                         pixel_size=args.pixel_size, quiet=args.quiet, particles=args.particles)
    elif args.command == "count":
        commands.run_count(args.tables, Path(args.out), max_components=args.max_components,
                           n_components=args.n_components, lowest_count=_lowest(parser, args.lowest_count),
                           library=args.library,
                           dose=args.dose, joint=args.joint, quiet=args.quiet, assignment=args.assignment,
                           mixed_units=args.mixed_units)
    elif args.command == "reconstruct":
        commands.run_reconstruct(args.tables, Path(args.out), lattice_parameter=args.lattice_parameter,
                                 element=args.element, zone_axes=args.zone_axes, n_runs=args.runs,
                                 method=args.solver, seed=args.seed, quiet=args.quiet)
    elif args.command == "debye":
        from ..core.patterns import parse_element_values

        commands.run_debye(args.models, Path(args.out), q_min=args.q_min, q_max=args.q_max, q_step=args.q_step,
                           energy_keV=args.energy, wavelength=args.wavelength,
                           b_iso=parse_element_values(args.b, "B (Å²)", lo=0.0), radiation=args.radiation,
                           complete=args.complete, lattice_parameter=args.lattice_parameter,
                           min_neighbours=args.min_neighbours, use_certainty=args.certainty_as_occupancy,
                           self_term=args.self_term, quiet=args.quiet)
    elif args.command == "refine":
        from .refine import run_refine

        run_refine(args)
    elif args.command == "library":
        from .library import run_library

        run_library(args)


#: set (to anything but "" or "0") to print the traceback of a failure before its one-line message
DEBUG_VARIABLE = "NAPARI_NXTOMO_DEBUG"


def _failure(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit status of a failure of a subcommand."""
    from .commands import InputsFailed

    name = type(exc).__name__
    if isinstance(exc, InputsFailed):  # each failure already reported in one line; a summary for several inputs
        return (str(exc) if exc.total > 1 else ""), exc.status
    if isinstance(exc, (ValueError, OSError)):
        return str(exc), 2
    if isinstance(exc, ImportError):  # a missing package (e.g. no Qt binding for --gui): say which, not "a bug"
        return (str(exc) if "pip install" in str(exc) else
                f"a package is missing ({name}: {exc}): install it in this environment (pip install ...)"), 2
    if isinstance(exc, MemoryError):
        return (f"out of memory ({name}: {exc or 'no detail'}): the input is too large for this machine; make it "
                "smaller (crop or bin the images, fewer Q points, fewer atoms)"), 3
    if isinstance(exc, ArithmeticError):
        return (f"a calculation failed ({name}: {exc}): the input gives no usable numbers (e.g. all-zero or "
                f"constant values); check it, or set {DEBUG_VARIABLE}=1 for the traceback"), 1
    return (f"unexpected error ({name}: {exc}); this is a bug: run again with {DEBUG_VARIABLE}=1 for the traceback "
            "and report it"), 1


def main(argv=None) -> int:
    """Run the command line; returns the exit status, with a one-line message on any failure.

    The batch subcommands (fit, count, debye) report a failed input in one
    line naming it and go on with the other inputs; the exit status then
    says the worst failure.  Exit status 2: bad input (a ValueError or
    OSError: the message says what to do) or a missing package (an ImportError: which to install); 3: out of
    memory; 1: a failed calculation or an unexpected error;
    130: interrupted (Ctrl-C).  The traceback is printed too when the
    environment variable ``NAPARI_NXTOMO_DEBUG`` is set (to anything but
    ``""`` or ``"0"``).

    Examples
    --------
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     status = main(["reconstruct", "only_one_counts.csv", "--quiet"])
    >>> status, err.getvalue().strip()
    (2, 'napari-nxtomo reconstruct: give at least two counted column tables, one per zone axis')
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _run(parser, args)
    except KeyboardInterrupt:
        print(f"napari-nxtomo {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure ends in one line (and the traceback when asked)
        from .commands import InputsFailed

        if os.environ.get(DEBUG_VARIABLE, "") not in ("", "0") and not isinstance(exc, InputsFailed):
            traceback.print_exc()
        message, status = _failure(exc)
        if message:
            print(f"napari-nxtomo {args.command}: {message}", file=sys.stderr)
        return status
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
