"""The ``refine`` subcommand: a population model refined against a measured pattern (and a χ² scan)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .figures import refine_figure

#: what ``--free`` frees by default (the issue's six)
DEFAULT_FREE = "mean_diameter,width,lattice_parameter,b_iso,scale,background"


def add_refine(sub) -> None:
    """The parser of ``napari-nxtomo refine``."""
    ref = sub.add_parser("refine", help="refine a nanocrystal population (Debye equation) against a measured pattern")
    ref.add_argument("pattern", help="measured pattern: .xy, .xye, .dat, .chi or .csv (Q or 2θ, I[, σ])")
    ref.add_argument("--out", default=".", help="output folder (default: here)")
    ref.add_argument("--x-unit", default="auto", choices=["auto", "q", "two_theta"], help="what the first column is")
    src = ref.add_mutually_exclusive_group()
    src.add_argument("--wavelength", type=float, default=None, help="Å, for a 2θ file")
    src.add_argument("--energy", type=float, default=None, help="keV, for a 2θ file")
    ref.add_argument("--elements", default="Pb,S", help="cation,anion (default Pb,S)")
    ref.add_argument("--shape", default="sphere", help="sphere, cube, octahedron, cuboctahedron, rhombic_dodecahedron")
    ref.add_argument("--lattice-parameter", type=float, default=5.936, help="cell edge a, Å (default 5.936)")
    ref.add_argument("--mean-diameter", type=float, default=50.0, help="Å (default 50)")
    ref.add_argument("--width", type=float, default=0.1, help="relative log-normal width (default 0.1)")
    ref.add_argument("--n-sizes", type=int, default=20, help="size classes (default 20)")
    ref.add_argument("--alpha-rh", type=float, default=60.0, help="rhombohedral angle, degrees (default 60)")
    ref.add_argument("--delta-r-pb", type=float, default=0.0, help="cation off-centring along [111], Å")
    ref.add_argument("--shell-thickness", type=float, default=0.0, help="Å (default 0: no shell)")
    ref.add_argument("--occupancy-core", type=float, default=1.0, help="cation occupancy in the core")
    ref.add_argument("--occupancy-shell", type=float, default=1.0, help="anion occupancy in the shell")
    ref.add_argument("--b", type=float, default=0.5, help="Debye-Waller B, Å² (default 0.5)")
    ref.add_argument("--background-terms", type=int, default=2, help="Chebyshev background terms (default 2)")
    ref.add_argument("--free", default=DEFAULT_FREE, help=f"parameters to refine (default {DEFAULT_FREE})")
    ref.add_argument("--scan", default=None, metavar="NAME=V1,V2,...",
                     help="χ² scan of one parameter, the free ones refined at each value, e.g. alpha_rh=60,59.5,59")
    ref.add_argument("--quiet", action="store_true")


def _scan_spec(text):
    name, sep, values = (text or "").partition("=")
    try:
        vals = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        vals = []
    if not sep or not vals:
        raise ValueError(f"--scan takes NAME=V1,V2,... e.g. alpha_rh=60,59.5,59; got {text!r}")
    return name.strip(), vals


def model_from_args(args):
    """The start PopulationModel of the parsed ``refine`` options.

    Examples
    --------
    >>> from napari_nxtomo.cli.main import build_parser
    >>> args = build_parser().parse_args(["refine", "p.xy", "--mean-diameter", "30", "--elements", "Pb,Se"])
    >>> m = model_from_args(args)
    >>> m.mean_diameter, m.elements, m.background
    (30.0, ('Pb', 'Se'), (0.0, 0.0))
    """
    from ..core.debye.population import PopulationModel

    els = tuple(e.strip() for e in args.elements.split(","))
    if len(els) != 2:
        raise ValueError("--elements needs two symbols, cation,anion, e.g. Pb,S")
    return PopulationModel(elements=els, shape=args.shape, lattice_parameter=args.lattice_parameter,
                           mean_diameter=args.mean_diameter, width=args.width, n_sizes=args.n_sizes,
                           alpha_rh=args.alpha_rh, delta_r_pb=args.delta_r_pb, shell_thickness=args.shell_thickness,
                           occupancy_core=args.occupancy_core, occupancy_shell=args.occupancy_shell, b_iso=args.b,
                           background=(0.0,) * max(int(args.background_terms), 1))


def run_refine(args) -> list[Path]:
    """Refine (and scan) as the parsed options say; writes the pattern CSV, the parameters JSON and a figure.

    Examples
    --------
    >>> import tempfile
    >>> from napari_nxtomo.cli.main import build_parser
    >>> from napari_nxtomo.core.debye.population import PopulationModel, population_intensity
    >>> folder = Path(tempfile.mkdtemp())
    >>> q = np.linspace(1.5, 6.0, 100)
    >>> y = population_intensity(PopulationModel(sizes=[18.0], size_weights=[1.0], scale=1e-3), q)
    >>> _ = (folder / "p.xy").write_text("\\n".join(f"{a} {b}" for a, b in zip(q, y)))
    >>> args = build_parser().parse_args(["refine", str(folder / "p.xy"), "--out", str(folder), "--quiet",
    ...     "--mean-diameter", "18", "--n-sizes", "1", "--b", "0", "--free", "scale"])
    >>> sorted(p.name for p in run_refine(args))
    ['p_refined.csv', 'p_refined.json', 'p_refined.png']
    """
    from ..core.debye.refine import refine_pattern, scan_parameter
    from ..core.pattern_io import read_pattern
    from ..core.patterns import write_pattern_csv

    meas = read_pattern(args.pattern, x_unit=args.x_unit, wavelength=args.wavelength, energy_keV=args.energy)
    model = model_from_args(args)
    free = tuple(f.strip() for f in args.free.split(",") if f.strip())
    res = refine_pattern(meas.q, meas.intensity, meas.sigma, model=model, free=free)
    scan = None
    if args.scan:
        name, values = _scan_spec(args.scan)
        scan = scan_parameter(meas.q, meas.intensity, meas.sigma, model=res.model, name=name, values=values,
                              free=tuple(f for f in free if f != name))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.pattern).stem + "_refined"
    csv = write_pattern_csv(out / f"{stem}.csv", {"q_inv_A": meas.q, "measured": meas.intensity,
                                                 "sigma": meas.sigma, "model": res.intensity,
                                                 "difference": res.difference},
                            comments=[f"refined against {meas.name}: chi2_red {res.chi2_red:.4g}, R_wp {res.r_wp:.4g}"])
    summary = {"pattern": meas.name, "converged": res.converged, "message": res.message, "chi2_red": res.chi2_red,
               "r_wp": res.r_wp, "params": res.params, "uncertainties": res.uncertainties,
               "correlations": {"names": res.free_names, "matrix": np.round(res.correlations, 4).tolist()}}
    if scan is not None:
        summary["scan"] = {"name": scan.name, "values": scan.values.tolist(), "chi2_red": scan.chi2_red.tolist(),
                           "best": scan.best}
    js = out / f"{stem}.json"
    from ..core.tables import atomic_open

    with atomic_open(js, "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1)
    png = out / f"{stem}.png"
    refine_figure(meas.q, meas.intensity, res.intensity, png, f"{meas.name}: χ²_red {res.chi2_red:.3g}",
                  scan=(scan.values, scan.chi2_red, scan.name) if scan is not None else None)
    if not args.quiet:
        print(f"{meas.name}: converged {res.converged}, chi2_red {res.chi2_red:.4g}, R_wp {res.r_wp:.4g}")
        for n, v in res.params.items():
            print(f"  {n} = {v:.6g} ± {res.uncertainties[n]:.2g}")
        if scan is not None:
            print(f"  scan of {scan.name}: chi2_red {np.round(scan.chi2_red, 4).tolist()}, minimum at {scan.best}")
        print(f"-> {csv}, {js}, {png}")
    return [csv, js, png]
