#!/usr/bin/env bash
# Install desktop-vlm for the current user and start it:
#
#   bash resources/install.sh
#
# - a virtual environment in ~/.local/share/desktop-vlm/venv with the app in it
# - the command ~/.local/bin/desktop-vlm
# - the menu entry and icons in ~/.local/share/applications and ~/.local/share/icons
# On Debian/Ubuntu it checks Qt's X11 libraries and installs them when run as root (or says
# which `sudo apt-get install` is needed). Set DESKTOP_VLM_NO_START=1 to install without starting.
set -euo pipefail
cd "$(dirname "$0")/.."

QT_LIBS=(libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libegl1 libgl1 python3-venv)
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for pkg in "${QT_LIBS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "install.sh: Qt needs these system packages: sudo apt-get install ${missing[*]}" >&2
      exit 1
    fi
  fi
fi

DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
VENV="$DATA/desktop-vlm/venv"
BIN="$HOME/.local/bin"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q --disable-pip-version-check .
mkdir -p "$BIN" "$DATA/applications"
ln -sf "$VENV/bin/desktop-vlm" "$BIN/desktop-vlm"
cp resources/desktop-vlm.desktop "$DATA/applications/desktop-vlm.desktop"
if [ -d resources/icons/hicolor ]; then
  mkdir -p "$DATA/icons"
  cp -r resources/icons/hicolor "$DATA/icons/"
fi
echo "desktop-vlm installed: $BIN/desktop-vlm (store your API key with: desktop-vlm key set)"
case ":$PATH:" in *":$BIN:"*) ;; *) echo "note: add $BIN to your PATH";; esac
if [ -z "${DESKTOP_VLM_NO_START:-}" ]; then
  exec "$VENV/bin/desktop-vlm"
fi
