#!/usr/bin/env bash
# Set up everything Heima needs on a fresh Debian 12 / Raspberry Pi OS machine:
# system packages (when run as root), a Python venv with Heima and its test tools, and the
# reference FHIR server's Node packages (Node 22 itself comes from the npm registry).
# Safe to run again: each step checks before it works.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v npm >/dev/null || need_apt+=(nodejs npm)
# Kivy's SDL2 wheels need OpenGL/EGL libraries to open a window (or render offscreen).
[ -e /usr/lib/x86_64-linux-gnu/libEGL.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libEGL.so.1 ] || need_apt+=(libgl1 libegl1)
# Kivy opens multitouch input through libmtdev (a Pi's touch screen needs it; without it Kivy
# prints a traceback at start).
[ -e /usr/lib/x86_64-linux-gnu/libmtdev.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libmtdev.so.1 ] || need_apt+=(libmtdev1)
# The touch app: read-aloud (espeak-ng, with a bokmål voice), a font with ✓ and wide letters
# (DejaVu), gettext's msgfmt for translators checking catalogs.
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
command -v msgfmt >/dev/null || need_apt+=(gettext)
# The tests run the unit suite with the clock moved ahead, so none depends on the day it runs.
command -v faketime >/dev/null || need_apt+=(faketime)
# The centre's MQTT broker in the tests (started by the tests themselves on a free port).
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v chromium >/dev/null || need_apt+=(chromium)  # tests: the nurse's end of a video call
# The Pi package: tests install it into a Debian 12 root (debootstrap) and check its units (systemd-analyze).
[ -x /usr/sbin/debootstrap ] || need_apt+=(debootstrap); command -v systemd-analyze >/dev/null || need_apt+=(systemd)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing system packages: ${need_apt[*]}"
        # Wait for another apt-get (an unattended upgrade, say) instead of failing at once.
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need_apt[@]}"
    else
        log "missing system packages: ${need_apt[*]} — run as root, or: sudo apt-get install ${need_apt[*]}"
        exit 1
    fi
fi

python3 - <<'PY' || { log "Heima needs Python 3.11 or newer"; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

if [ ! -x .venv/bin/python ]; then
    log "creating the Python environment in .venv"
    python3 -m venv .venv
fi
log "installing Heima and its test tools into .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"

log "compiling the touch app's translations (ui/locale/*/LC_MESSAGES/heima.mo)"
.venv/bin/pybabel -q compile -d ui/locale -D heima

log "installing the reference FHIR server (Medplum's engine, Node 22) under tests/servers/fhir"
(cd tests/servers/fhir && npm ci --no-audit --no-fund --loglevel=error)
tests/servers/fhir/node_modules/.bin/node --version >/dev/null

log "ready"
