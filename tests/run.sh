#!/usr/bin/env bash
# The test command of the README: installs what the tests need and runs them.
#
#   bash tests/run.sh [pytest arguments]
#
# On Debian/Ubuntu as root it installs the system packages (Qt's X11 libraries, Xvfb, a tray
# host, gnome-keyring, D-Bus, xdotool, xclip, imagemagick, sway and grim for the Wayland test).
# As another user it checks for them and says which are missing. Python packages go into a
# virtual environment (.venv in the repository, or $DESKTOP_VLM_VENV). The tests start their
# own Xvfb display, private D-Bus session and keyring: nothing of the desktop you run it from
# is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(
  xvfb xauth xdotool x11-xserver-utils xclip imagemagick trayer
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0
  libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libxcb-xkb1 libegl1 libgl1 libfontconfig1
  libdbus-1-3 fonts-dejavu-core dbus dbus-x11 gnome-keyring desktop-file-utils x11-utils
  sway grim python3-venv tesseract-ocr tesseract-ocr-eng
  fonts-liberation2 fonts-noto-core
)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tests/run.sh: installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "tests/run.sh: missing system packages: ${missing[*]}" >&2
    echo "tests/run.sh: install them (sudo apt-get install ${missing[*]}) and run again" >&2
    exit 1
  fi
fi

VENV="${DESKTOP_VLM_VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'

# The machine's own checks first: lint, format, and the layers of DESIGN.md.
"$VENV/bin/ruff" check --quiet desktop_vlm tests
"$VENV/bin/ruff" format --check --quiet desktop_vlm tests
"$VENV/bin/lint-imports" --no-cache >/dev/null || "$VENV/bin/lint-imports" --no-cache

exec "$VENV/bin/python" -m pytest "$@"
