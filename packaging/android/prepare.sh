#!/usr/bin/env bash
# Assemble what buildozer packages: Heima's four packages and the Android entry point, in
# build/android-src (see buildozer.spec). bleak's p4a recipe is copied from the installed bleak.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out="$top/build/android-src"
rm -rf "$out" && mkdir -p "$out"
for package in hub ui drivers sync; do
    cp -r "$top/$package" "$out/$package"
done
cp "$top/packaging/android/main.py" "$out/main.py"
bleak_dir=$("$top/.venv/bin/python" -c 'import bleak, pathlib; print(pathlib.Path(bleak.__file__).parent)')
if [ -d "$bleak_dir/backends/p4android/recipes" ]; then
    rm -rf "$top/packaging/android/recipes"
    cp -r "$bleak_dir/backends/p4android/recipes" "$top/packaging/android/recipes"
else
    echo "prepare.sh: bleak's p4a recipe not found under $bleak_dir; see docs/android.md" >&2
    exit 1
fi
echo "android sources in $out; now: cd packaging/android && buildozer android debug"
