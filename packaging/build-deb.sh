#!/usr/bin/env bash
# Build the Heima .deb for a Raspberry Pi (arm64) or this machine: Heima and every dependency as
# wheels inside the package (an offline wheelhouse), a venv made from them at install time, the
# systemd units. Usage:
#   packaging/build-deb.sh [--arch arm64|amd64|…] [--out DIR] [--python-version 3.11] [--update-root FILE]
# --arch: the Debian architecture to build for (default: this machine's). Wheels are taken as
#   binaries for that architecture from the package index (pip download --only-binary), so an
#   arm64 package builds on x86 as long as every dependency has an aarch64 wheel (they do today:
#   see docs/packaging.md); a dependency without one would have to be built on/for arm64.
# --python-version: the target's Python (Debian 12 / Raspberry Pi OS bookworm: 3.11).
# --update-root: the update repository's root.json to pin in the package (trust anchor for
#   signed updates); without it the package carries none and `heima update` says so.
set -euo pipefail
cd "$(dirname "$0")/.."

ARCH="$(dpkg --print-architecture)"
OUT=build/deb
PYVER=3.11
UPDATE_ROOT=""
PYTHON="${PYTHON:-.venv/bin/python}"
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) ARCH="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --python-version) PYVER="$2"; shift 2 ;;
        --update-root) UPDATE_ROOT="$2"; shift 2 ;;
        *) echo "build-deb: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
    esac
done

case "$ARCH" in
    arm64) MACHINE=aarch64 ;;
    amd64) MACHINE=x86_64 ;;
    armhf) echo "build-deb: armhf (32-bit Pi OS) has no Kivy wheel on PyPI; use a 64-bit OS" >&2; exit 2 ;;
    *) echo "build-deb: no wheel platform known for architecture $ARCH" >&2; exit 2 ;;
esac

VERSION="$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')"
PYTAG="cp${PYVER/./}"
STAGE="$OUT/stage-$ARCH"
WHEELS="$STAGE/opt/heima/wheels"
DEB="$OUT/heima_${VERSION}_${ARCH}.deb"
log() { printf '[deb] %s\n' "$*"; }

rm -rf "$STAGE"
mkdir -p "$WHEELS" "$STAGE/DEBIAN" "$STAGE/lib/systemd/system" "$STAGE/usr/share/doc/heima" "$STAGE/usr/share/heima" "$STAGE/usr/bin"

log "Heima $VERSION as a wheel"
"$PYTHON" -m pip wheel -q --no-deps --wheel-dir "$WHEELS" . 2> >(grep -v "^WARNING: Location" >&2)

log "the wheelhouse: every dependency as a $MACHINE wheel for CPython $PYVER (no source builds)"
# Every manylinux tag up to Debian 12's glibc (2.36); pip wants each one named.
PLATFORMS=(--platform "manylinux2014_$MACHINE")
for minor in $(seq 17 36); do PLATFORMS+=(--platform "manylinux_2_${minor}_$MACHINE"); done
"$PYTHON" -m pip download -q --only-binary=:all: --dest "$WHEELS" \
    "${PLATFORMS[@]}" --python-version "$PYVER" --implementation cp \
    --abi "$PYTAG" --abi abi3 --abi none \
    "$WHEELS/heima-$VERSION-py3-none-any.whl" 2> >(grep -v "^WARNING: Location" >&2)

echo "heima==$VERSION" > "$STAGE/opt/heima/requirements.txt"
install -m 0644 packaging/systemd/*.service packaging/systemd/*.timer "$STAGE/lib/systemd/system/"
install -m 0644 packaging/heima.example.toml "$STAGE/usr/share/doc/heima/heima.example.toml"
[ -f docs/packaging.md ] && install -m 0644 docs/packaging.md "$STAGE/usr/share/doc/heima/packaging.md"
[ -n "$UPDATE_ROOT" ] && install -m 0644 "$UPDATE_ROOT" "$STAGE/usr/share/heima/update-root.json"
ln -s /opt/heima/venv/bin/heima "$STAGE/usr/bin/heima"  # the venv is made by postinst

for script in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$script" "$STAGE/DEBIAN/$script"
done
SIZE="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" -e "s/@PYVER@/$PYVER/g" \
    packaging/debian/control.in > "$STAGE/DEBIAN/control"

# Wheels are zip files already: gzip -1 is as small as xz here and takes seconds.
dpkg-deb --root-owner-group -Zgzip -z1 --build "$STAGE" "$DEB" >/dev/null
log "built $DEB ($(du -h "$DEB" | cut -f1))"
echo "$DEB"
