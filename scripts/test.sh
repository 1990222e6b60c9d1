#!/usr/bin/env bash
# Set up a fresh machine and run the test suite.
#
#  1. Debian packages for a headless display: Xvfb, Mesa OpenGL and the Qt xcb
#     libraries (installed with apt-get when missing; needs root or sudo).
#  2. A fresh virtual environment (.venv-test, or $NXTOMO_VENV) with the plugin
#     built as a wheel and installed from it with its testing extra -- the way a
#     user installs it from the napari hub, not an editable install.
#  3. `npe2 validate napari-nxtomo` on the installed plugin.
#  4. pytest under Xvfb, so the GUI tests drive a real napari viewer.
#
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k simulate`.
# NXTOMO_REUSE_VENV=1 keeps an existing environment (only reinstalls the wheel).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libfontconfig1 libxkbcommon-x11-0 \
libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 \
libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 libdbus-1-3"
missing=""
for p in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "== installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PYTHON="${PYTHON:-python3}"
VENV="${NXTOMO_VENV:-.venv-test}"
if [ "${NXTOMO_REUSE_VENV:-0}" != "1" ] || [ ! -x "$VENV/bin/python" ]; then
  echo "== fresh virtual environment $VENV"
  "$PYTHON" -m venv --clear "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip build
fi

echo "== building the wheel and installing it with the testing extra"
rm -rf dist
"$VENV/bin/python" -m build --wheel --outdir dist . >/dev/null
wheel=$(ls dist/napari_nxtomo-*.whl)
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps "$wheel"
"$VENV/bin/python" -m pip install -q "${wheel}[testing]"

echo "== npe2 validate napari-nxtomo"
"$VENV/bin/npe2" validate napari-nxtomo

echo "== pytest (under Xvfb)"
export NXTOMO_WHEEL_INSTALL=1
exec xvfb-run -a -s "-screen 0 1600x1200x24" "$VENV/bin/python" -m pytest "$@"
