#!/usr/bin/env bash
# Build the Pigeonhole .deb with Briefcase, install it, run the installed `pigeonhole --self-test`,
# remove it, and report the package's size and the build time. Run as root on Debian/Ubuntu:
#
#     sudo packaging/build-deb.sh              # build, install, self-test, remove
#     sudo packaging/build-deb.sh --keep       # ... and leave the package installed
#     sudo packaging/build-deb.sh --no-build   # test the .deb already in dist/
#
# Briefcase refuses to build a system package unless it runs on the system python3 (the package
# depends on the distribution's libpython), so it gets its own venv made from /usr/bin/python3.
# Takes minutes and a few GB (TensorFlow, ONNX Runtime and Qt go into the package).
# DPKG_DEB_COMPRESSOR_TYPE=zstd makes the final compression much faster (larger .deb).
set -euo pipefail
cd "$(dirname "$0")/.."

BRIEFCASE_VERSION="0.4.7"
APP="pigeonhole"
VENV="build/briefcase-venv"
KEEP=0
BUILD=1
for arg in "$@"; do
    case "$arg" in
        --keep) KEEP=1 ;;
        --no-build) BUILD=0 ;;
        *) echo "usage: $0 [--keep] [--no-build]" >&2; exit 2 ;;
    esac
done

die() { echo "build-deb: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root: it installs build tools and the package with apt-get"
[ -f resources/sample/model.onnx ] || die "resources/sample/model.onnx is missing: run tools/make_sample.py"
for size in 16 32 64 128 256 512; do
    [ -f "resources/icons/$APP-$size.png" ] || die "icons missing: run tools/render_icons.py"
done

runtime_packages() {
    /usr/bin/python3 - <<'PY'
import tomllib
config = tomllib.load(open("pyproject.toml", "rb"))["tool"]["briefcase"]["app"]["pigeonhole"]
print(" ".join(config["linux"]["system"]["debian"]["system_runtime_requires"]))
PY
}

if [ "$BUILD" -eq 1 ]; then
    echo "== build tools and the Qt runtime libraries Briefcase checks for"
    apt-get install -y -q python3-venv python3-dev build-essential dpkg-dev $(runtime_packages) >/dev/null

    if [ ! -x "$VENV/bin/briefcase" ]; then
        echo "== Briefcase $BRIEFCASE_VERSION in $VENV (on the system python3)"
        /usr/bin/python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q "briefcase==$BRIEFCASE_VERSION"
    fi

    start=$(date +%s)
    rm -rf "build/$APP/debian" dist/${APP}_*.deb
    echo "== briefcase create / build / package linux system"
    "$VENV/bin/briefcase" create linux system --no-input
    "$VENV/bin/briefcase" build linux system --no-input
    "$VENV/bin/briefcase" package linux system --adhoc-sign --no-input
    build_seconds=$(( $(date +%s) - start ))
fi

deb=$(ls -t dist/${APP}_*.deb 2>/dev/null | head -n 1 || true)
[ -n "$deb" ] || die "no dist/${APP}_*.deb was built"

echo "== apt-get install ./$deb"
apt-get install -y -q "./$deb" >/dev/null
set +e
echo "== $(command -v $APP) --self-test"
QT_QPA_PLATFORM=offscreen "$APP" --self-test
self_test=$?
echo "== $APP train --help"
"$APP" train --help >/dev/null
train_help=$?
set -e
installed_mb=$(du -sm /usr/lib/$APP | cut -f1)  # Briefcase writes no Installed-Size
if [ "$KEEP" -eq 0 ]; then
    echo "== apt-get remove $APP"
    apt-get remove -y -q "$APP" >/dev/null
fi

echo
echo "package:        $deb"
echo "package size:   $(du -h "$deb" | cut -f1) ($(stat -c %s "$deb") bytes)"
echo "installed size: ${installed_mb} MiB in /usr/lib/$APP"
[ -n "${build_seconds:-}" ] && echo "build time:     $(( build_seconds / 60 )) min $(( build_seconds % 60 )) s"
echo "self-test:      $([ $self_test -eq 0 ] && echo passed || echo "FAILED (exit $self_test)")"
echo "train --help:   $([ $train_help -eq 0 ] && echo ok || echo "FAILED (exit $train_help)")"
[ $self_test -eq 0 ] && [ $train_help -eq 0 ]
