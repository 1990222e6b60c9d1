"""Speed and accuracy of the Debye scattering simulator, side by side with DebyeCalculator.

Run from the repository root::

    python benchmarks/bench_debye.py            # everything (a few minutes on 2 cores)
    python benchmarks/bench_debye.py --quick    # smaller scaling table

DebyeCalculator needs PyTorch, which must not be pulled into the project's
environment (a plain ``pip install torch`` fetches a multi-GB CUDA build).
The benchmark runs it in a separate interpreter: ``--peer-python PATH`` or the
environment variable ``NXTOMO_PEER_PYTHON``; by default ``../venv-peers`` next
to the repository, made with::

    python -m venv venv-peers
    venv-peers/bin/pip install torch==2.13.0   # the CPU wheel
    venv-peers/bin/pip install debyecalculator

If none is found the DebyeCalculator rows are skipped with the reason.

What it prints (issue 5):

1. 10 000 atoms x 2 000 Q points (target <= 2 s, >= 5x faster than
   DebyeCalculator on the CPU): an on-grid PbS sphere (``auto`` = lattice),
   the same sphere rhombohedrally distorted with off-centred Pb (off the cubic
   grid; the strained lattice is detected from the positions, no ``sites``),
   and the on-grid sphere with every atom displaced at random (no lattice:
   ``auto`` = histogram); each method, its agreement with the exact sum and
   with DebyeCalculator (its I(Q) is half of ours), and per model the time of
   ``auto``, the method it chose, the ratio to DebyeCalculator and
   met/MISSED against both targets.
2. A 1 000 000-atom PbS cube (30 nm edge) with the lattice method (target
   <= 20 s).
3. How time and memory (peak of numpy allocations, tracemalloc) grow with N
   for each method, with the fitted exponent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from _common import find_peer_python, peak_memory_kb

from napari_nxtomo.core import debye as D
from napari_nxtomo.core.nanocrystal import build_nanocrystal

PBS_A = 5.936
#: 2000 Q points, 0.5 to 25.4875 Å⁻¹ (DebyeCalculator's arange(qmin, qmax, qstep) gives the same grid)
Q_MIN, Q_STEP, N_Q = 0.5, 0.0125, 2000
Q = Q_MIN + Q_STEP * np.arange(N_Q)

_PEER_SCRIPT = r"""
import json, sys, time
import numpy as np, torch
from debyecalculator import DebyeCalculator
data = np.load(sys.argv[1])
qmin, qstep, nq = float(data["qmin"]), float(data["qstep"]), int(data["nq"])
out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
arrays = {}
for name in [k[4:] for k in data.files if k.startswith("pos_")]:
    structure = ([str(e) for e in data["els_" + name]], data["pos_" + name])
    for label, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        calc = DebyeCalculator(qmin=qmin, qmax=qmin + (nq - 0.5) * qstep, qstep=qstep, biso=0.0,
                               device="cpu", dtype=dtype)
        calc.iq(structure)  # warm-up
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            q, i = calc.iq(structure)
            times.append(time.perf_counter() - t0)
        out[f"{name}_{label}"] = min(times)
        arrays[f"{name}_{label}"] = np.asarray(i, dtype=float)
        arrays["q"] = np.asarray(q, dtype=float)
np.savez(sys.argv[2], **arrays)
from importlib.metadata import version
out["version"] = version("debyecalculator")
print(json.dumps(out))
"""


def timed(fn, repeat=1):
    """(best wall time s, peak traced numpy memory MiB, result)."""
    best = np.inf
    peak = 0.0
    result = None
    for _ in range(repeat):
        tracemalloc.start()
        t0 = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t0
        peak = max(peak, tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
        best = min(best, dt)
    return best, peak, result


def max_rel(a, b):
    return float(np.max(np.abs(a - b) / np.abs(b)))


def run_peer(python: str, structures: dict):
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp, script = Path(tmp, "in.npz"), Path(tmp, "out.npz"), Path(tmp, "peer.py")
        payload = {"qmin": Q_MIN, "qstep": Q_STEP, "nq": N_Q}
        for name, (pos, els) in structures.items():
            payload["pos_" + name] = pos
            payload["els_" + name] = np.asarray(els, dtype=str)
        np.savez(inp, **payload)
        script.write_text(_PEER_SCRIPT)
        proc = subprocess.run([python, str(script), str(inp), str(outp)], capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            return None, None, f"DebyeCalculator failed: {proc.stderr.strip().splitlines()[-1:]}"
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        with np.load(outp) as f:
            arrays = {k: f[k] for k in f.files}
        return info, arrays, None


#: the issue-5 targets for 10 000 atoms x 2 000 Q points
TARGET_S, TARGET_RATIO = 2.0, 5.0


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def section_10k(peer_python, peer_reason):
    print("\n== 1. 10 000 atoms x 2 000 Q points (targets: auto <= 2 s, >= 5x faster than DebyeCalculator) ==")
    cubic = build_nanocrystal("rocksalt", ("Pb", "S"), a=PBS_A, diameter=79.6)
    distorted = build_nanocrystal("rocksalt", ("Pb", "S"), a=PBS_A, diameter=79.6, alpha_rh=59.1, delta_r_pb=0.12)
    rng = np.random.default_rng(2024)
    thermal_pos = cubic.positions + rng.normal(0.0, 0.1, cubic.positions.shape)
    models = {
        # name: (positions, elements, description)
        "on-grid": (cubic.positions, cubic.elements, "PbS sphere 7.96 nm on the cubic grid"),
        "distorted": (distorted.positions, distorted.elements,
                      "alpha_RH = 59.1 deg, dr_Pb = 0.12 A, no sites= (lattice detected from the positions)"),
        "thermal": (thermal_pos, cubic.elements, "every atom displaced at random, sigma = 0.1 A per axis (no lattice)"),
    }
    for name, (pos, _, desc) in models.items():
        print(f"  {name:9s} N = {len(pos)}: {desc}")
    q_sub = Q[::10]  # the exact sum on 200 Q points, scaled x10 (its cost is linear in the number of Q)
    rows = []
    results = {}
    chosen = {}
    for name, (pos, els, _) in models.items():
        chosen[name] = D.select_method(pos, els, N_Q)
        variants = ["auto", "histogram"] + (["lattice"] if chosen[name] == "lattice" else [])
        for method in variants:
            t, mem, i = timed(lambda: D.debye_intensity(pos, els, Q, method=method), repeat=3)
            results[(name, method)] = (t, i)
            rows.append((name, f"auto ({chosen[name]})" if method == "auto" else method, t, mem))
        t, mem, i_ex = timed(lambda: D.debye_intensity(pos, els, q_sub, method="exact"))
        rows.append((name, "exact, 200 Q x 10", 10 * t, mem))
        for method in variants:
            err = max_rel(results[(name, method)][1][::10], i_ex)
            print(f"  {name:9s} {method:9s} vs exact sum, max relative difference over 200 Q up to 25 A^-1: {err:.2e} "
                  f"({verdict(err <= 1e-3)} 1e-3)")
    print(f"  {'model':9s} {'method':24s} {'time s':>8s} {'peak MiB':>9s}")
    for name, label, t, mem in rows:
        print(f"  {name:9s} {label:24s} {t:8.3f} {mem:9.1f}")

    info = arrays = None
    if peer_python is None:
        print("  " + peer_reason)
    else:
        info, arrays, err = run_peer(peer_python, {k.replace("-", ""): (p, e) for k, (p, e, _) in models.items()})
        if err:
            print("  " + err)
            info = None
        else:
            print(f"  DebyeCalculator {info.get('version')} (torch {info['torch']}, CPU, {info['threads']} threads, "
                  "biso=0; float32 is its default dtype):")
            assert np.allclose(arrays["q"], Q)
    print("  summary (auto; ratio = DebyeCalculator time / ours, float32 and float64; verdicts on the float32 ratio):")
    for name in models:
        t, i = results[(name, "auto")]
        line = f"    {name:9s} auto -> {chosen[name]:9s} {t:7.3f} s  [{verdict(t <= TARGET_S)} <= {TARGET_S:g} s]"
        if info is not None:
            key = name.replace("-", "")
            r32 = info[f"{key}_float32"] / t
            r64 = info[f"{key}_float64"] / t
            diff = max_rel(2.0 * arrays[f"{key}_float64"], i)
            line += (f"  DC {info[f'{key}_float32']:.3f} / {info[f'{key}_float64']:.3f} s -> ratio {r32:5.1f}x / {r64:5.1f}x"
                     f"  [{verdict(r32 >= TARGET_RATIO)} >= {TARGET_RATIO:g}x]  max |2 I_DC64 / I - 1| = {diff:.1e}")
        else:
            line += "  ratio: no DebyeCalculator"
        print(line)


def section_million():
    print("\n== 2. A 1 000 000-atom lattice model ==")
    t_build, mem_build, m = timed(lambda: build_nanocrystal("rocksalt", ("Pb", "S"), a=PBS_A, diameter=300.0 / (np.pi / 6) ** (1 / 3), shape="cube"))
    print(f"PbS cube, 30 nm edge: N = {len(m)} atoms (built in {t_build:.2f} s)")
    t, mem, i = timed(lambda: D.debye_intensity(m.positions, m.elements, Q, method="lattice", lattice_parameter=PBS_A))
    print(f"  lattice method, {N_Q} Q points: {t:.2f} s, peak numpy memory {mem:.0f} MiB (target <= 20 s)")
    return t


def section_scaling(quick: bool):
    print(f"\n== 3. Growth with N ({N_Q} Q points; PbS spheres on the grid; time s / peak numpy MiB) ==")
    diameters = [25, 32, 40, 50, 63, 80, 100, 126, 160, 200, 250, 320]
    if quick:
        diameters = diameters[:8]
    limits = {"exact": 5_000 if not quick else 1_500, "histogram": 45_000 if not quick else 12_000, "lattice": 2_000_000}
    table = {k: [] for k in limits}
    for d in diameters:
        m = build_nanocrystal("rocksalt", ("Pb", "S"), a=PBS_A, diameter=float(d))
        n = len(m)
        line = f"  N = {n:8d}:"
        for method, limit in limits.items():
            if n > limit:
                line += f"  {method} -"
                continue
            t, mem, _ = timed(lambda: D.debye_intensity(m.positions, m.elements, Q, method=method, lattice_parameter=PBS_A))
            table[method].append((n, t, mem))
            line += f"  {method} {t:7.3f} s {mem:7.1f} MiB"
        print(line)
    for method, rows in table.items():
        if len(rows) >= 3:
            n, t, mem = (np.array(c, dtype=float) for c in zip(*rows))
            big = n >= np.sort(n)[len(n) // 2]
            slope_t = np.polyfit(np.log(n[big]), np.log(t[big]), 1)[0]
            slope_m = np.polyfit(np.log(n[big]), np.log(np.maximum(mem[big], 1e-3)), 1)[0]
            print(f"  {method:9s}: time ~ N^{slope_t:.2f}, memory ~ N^{slope_m:.2f} (fit over the larger half)")
    print(
        "  expected: exact time ~ N^2 (x Q), memory flat (one Q-row per thread); histogram time ~ N^2 "
        "(binning) + bins x Q, memory ~ particle size / bin width; lattice time ~ G log G with G ~ N, memory ~ N"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller scaling table")
    ap.add_argument("--peer-python", default=None, help="interpreter with torch + debyecalculator")
    ap.add_argument("--10k-only", dest="only_10k", action="store_true", help="only section 1 (the issue-5 targets)")
    args = ap.parse_args(argv)
    import numba

    print(f"napari-nxtomo Debye benchmark: numba {numba.__version__}, {numba.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, numpy {np.__version__}")
    warm = build_nanocrystal(diameter=20.0)
    t0 = time.perf_counter()
    for method in ("exact", "histogram", "lattice"):
        D.debye_intensity(warm.positions, warm.elements, Q, method=method)
    print(f"first calls (numba compilation or cache load): {time.perf_counter() - t0:.2f} s")
    peer_python, reason = find_peer_python(args.peer_python)
    section_10k(peer_python, reason)
    if args.only_10k:
        return
    section_million()
    section_scaling(args.quick)
    print(f"\npeak resident memory of this process: {peak_memory_kb() / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
