#!/usr/bin/env bash
# Builds the Debian package from scratch: a Release build with Debian's hardening flags
# (dpkg-buildflags), no tests, into ${PKG_BUILD_DIR:-build-package}; then `cpack -G DEB` there and
# lintian on the result. Prints the .deb's path on the last line of stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${PKG_BUILD_DIR:-build-package}
scripts/install-deps.sh --package >&2
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
CXXFLAGS="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
LDFLAGS="$(dpkg-buildflags --get LDFLAGS)" \
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDBXCRED_TESTS=OFF \
    -DCMAKE_INSTALL_PREFIX=/usr >&2
cmake --build "$build" -j"${JOBS:-2}" >&2
(cd "$build" && rm -f dbxcred_*.deb && cpack -G DEB >&2)
deb=$(cd "$build" && ls "$PWD"/dbxcred_*.deb)
# lintian: errors and warnings fail the build; a warning that does not apply is overridden, with
# the reason, in packaging/lintian/dbxcred.
lintian --fail-on error,warning "$deb" >&2
echo "$deb"
