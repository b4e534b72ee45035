#!/bin/bash
# SPDX-License-Identifier: MIT
# Build the Debian packages (debian/) from a copy of the tree, so that the
# tree itself gets no build artifacts: `make deb`.
#
#   tools/build-deb.sh [OUT]      OUT defaults to build/deb
#
# Copies the files git knows (tracked, and untracked but not ignored) or,
# without git, everything but build/, into OUT/src/dm-broker-VERSION; runs
# dpkg-buildpackage -us -uc -b there (log: OUT/build.log); leaves the .debs,
# .buildinfo and .changes in OUT and prints the .debs' paths.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/deb}
die() { echo "build-deb.sh: $*" >&2; exit 1; }
for t in dpkg-buildpackage dh; do
	command -v $t > /dev/null || die "$t missing (tools/install-deps.sh: dpkg-dev debhelper)"
done
version=$(dpkg-parsechangelog -S Version)
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/src/dm-broker-$version
rm -rf "$out/src" "$out"/*.deb "$out"/*.ddeb "$out"/*.buildinfo "$out"/*.changes
mkdir -p "$src"
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./build --exclude='./build-*' -cf - . | tar -xf - -C "$src"
fi
echo "build-deb.sh: dpkg-buildpackage -us -uc -b in $src (log $out/build.log)"
if ! (cd "$src" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -us -uc -b) > "$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	die "dpkg-buildpackage failed (full log: $out/build.log)"
fi
# dpkg-buildpackage writes next to the source directory.
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out/"
mv "$out"/src/*.ddeb "$out/" 2> /dev/null || true
rm -rf "$out/src"
ls "$out"/*.deb
