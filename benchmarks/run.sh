#!/usr/bin/env bash
# Speed and accuracy benchmarks, side by side with the peers, in one command:
#
#     bash benchmarks/run.sh            # everything (about 15-25 minutes on 2 cores)
#     bash benchmarks/run.sh --quick    # smaller sizes: the benchmarks with a --quick mode only
#
# Makes (once) .venv-bench with the plugin and its `bench` extra (Atomap, ASE)
# and .venv-peers with PyTorch (CPU) and DebyeCalculator, kept apart so that
# torch never enters the plugin's environment; then runs every benchmarks/bench_*.py
# and prints their tables (times, ratios to the peers, errors against the truth).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv-bench/bin/python ]; then
    $PY -m venv .venv-bench
    .venv-bench/bin/pip install -q --upgrade pip
    .venv-bench/bin/pip install -q -e ".[bench]"  # editable: the benchmarks measure this checkout
fi
if [ ! -x .venv-peers/bin/python ]; then
    $PY -m venv .venv-peers
    .venv-peers/bin/pip install -q --upgrade pip
    # the CPU build of torch (a plain 'pip install torch' may fetch a multi-GB CUDA build)
    .venv-peers/bin/pip install -q "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
        || .venv-peers/bin/pip install -q "torch==2.13.0"
    .venv-peers/bin/pip install -q debyecalculator periodictable
fi
export NXTOMO_PEER_PYTHON="$PWD/.venv-peers/bin/python"
status=0
quick=0
for arg in "$@"; do [ "$arg" = "--quick" ] && quick=1; done
for bench in benchmarks/bench_*.py; do
    if [ "$quick" = 1 ] && ! grep -q -- '"--quick"' "$bench"; then
        echo "=================== $bench: no quick mode, skipped (run it alone: see its docstring)"
        continue
    fi
    echo "=================== $bench $*"
    .venv-bench/bin/python "$bench" "$@" || status=$?
done
exit $status
