#!/bin/bash
# Install what dm-broker needs to build and test on Debian 12 (as root, or via sudo).
set -eu
pkgs=(build-essential pkg-config clang clang-format valgrind
      libclang-rt-14-dev   # libFuzzer for tests/fuzz
      libxen-dev libevent-dev libjson-c-dev libseccomp-dev libcap-ng-dev
      bubblewrap
      groff-base man-db    # tests/docs/test-manpages.sh formats man/ with both
      # make check-xen (tests/xen): Xen under qemu, dom0's initramfs, the console log
      qemu-system-x86 busybox-static cpio kmod xz-utils file perl
      # make deb (debian/), make check-systemd (tests/systemd: the host's root and its
      # systemd, which is never run on the host, boot in qemu; adduser for the postinst)
      dpkg-dev debhelper systemd adduser)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${pkgs[@]}"
