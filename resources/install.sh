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
# The menu entry names the command by its full path, so it works before ~/.local/bin is on PATH.
sed "s|^Exec=desktop-vlm|Exec=$VENV/bin/desktop-vlm|" resources/desktop-vlm.desktop \
  > "$DATA/applications/desktop-vlm.desktop"
if [ -d resources/icons/hicolor ]; then
  mkdir -p "$DATA/icons"
  cp -r resources/icons/hicolor "$DATA/icons/"
fi
echo "desktop-vlm installed: $BIN/desktop-vlm"
case ":$PATH:" in
  *":$BIN:"*) ;;
  *) echo "note: $BIN is not on your PATH yet. Log out and in again (most desktops add it when"
     echo "      it exists), or add it now:  echo 'export PATH=\"\$HOME/.local/bin:\$PATH\"' >> ~/.profile"
     echo "      Until then run $BIN/desktop-vlm, or use the desktop-vlm entry in your menu." ;;
esac
echo "Text extraction works at once, offline. For the other presets store a provider's key:"
echo "  $BIN/desktop-vlm key set --profile openai    (see: $BIN/desktop-vlm providers)"
if [ -z "${DESKTOP_VLM_NO_START:-}" ]; then
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    # Detached: the tray app keeps running after this terminal closes, and the terminal is free.
    setsid -f "$VENV/bin/desktop-vlm" </dev/null >/dev/null 2>&1 || true
    echo "desktop-vlm is running in your tray: press Ctrl+Alt+Q, or run: desktop-vlm capture"
  else
    echo "No graphical display here: start desktop-vlm from your desktop session (menu entry)."
  fi
fi
