#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the initramfs tests/systemd/run.sh boots (busybox sh, PID 1).
#
# Makes the host's own root the guest's root, without touching the host:
# the host's / arrives read-only over virtio-9p (mount tag "hostroot"), a
# tmpfs overlay on top takes every write (dpkg -i, /etc, /var).  Then the
# test's units go into the overlay's /etc/systemd/system and Debian's
# systemd becomes PID 1 (switch_root; the kernel's rootfs cannot be
# pivot_root()ed away from, and the broker pivot_roots every device model).
#
# Kernel command line (run.sh): dmbtest.dir=<tests/systemd on the host>,
# dmbtest.deb=<the .deb>, and systemd's own options.
PATH=/bin
say() { echo "dmb-initramfs: $*" > /dev/console; }
die() {
	say "FATAL: $*"
	echo "not ok - initramfs: $*" > /dev/ttyS1
	poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# modules.list: the modules for virtio-9p and overlayfs, in dependency order (run.sh)
while read -r m; do
	insmod "/modules/$m" || die "insmod $m failed"
done < /modules.list

mkdir -p /lower /rw /newroot
mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose,msize=512000 hostroot /lower ||
	die "cannot mount the host's root (9p tag hostroot)"
mount -t tmpfs -o mode=0755 rw /rw || die "cannot mount a tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	die "cannot mount the overlay"

dir="" deb=""
for a in $(cat /proc/cmdline); do
	case $a in
	dmbtest.dir=*) dir=${a#dmbtest.dir=} ;;
	dmbtest.deb=*) deb=${a#dmbtest.deb=} ;;
	esac
done
case $dir in /tmp/* | /var/tmp/*) die "dmbtest.dir=$dir: the VM has a /tmp of its own" ;; esac
[ -f "/newroot$dir/test.sh" ] || die "dmbtest.dir=$dir: no test.sh there in the host's root"
[ -f "/newroot$deb" ] || die "dmbtest.deb=$deb: no such file in the host's root"

# ---- make the host's root a small test machine (all of it in the overlay)
R=/newroot
: > $R/etc/fstab # the host's mounts mean nothing here
# The host may be a container: systemd would believe it runs in one too
# (and then ignore the kernel command line).
rm -f $R/.dockerenv $R/run/.containerenv
# Nor may a container's policy-rc.d (exit 101) veto what maintainer scripts
# ask of systemd (deb-systemd-invoke): a Debian system has none.
rm -f $R/usr/sbin/policy-rc.d
# dpkg's man-db trigger would rebuild the host's man page index (~15 s under TCG).
rm -f $R/var/lib/man-db/auto-update
# The host's temporary files are none of the VM's business (and tmpfiles'
# "D /tmp" would remove them one whiteout at a time, over 9p).
mount -t tmpfs -o mode=1777 tmp $R/tmp
mount -t tmpfs -o mode=1777 vartmp $R/var/tmp
rm -f $R/etc/systemd/system/*.wants/* 2> /dev/null # the host's enabled units stay off
cp "$R$dir"/units/* $R/etc/systemd/system/ || die "cannot copy $dir/units"
printf 'DMBTEST_DIR=%s\nDMBTEST_DEB=%s\n' "$dir" "$deb" > $R/etc/dmb-test.env

mount --move /dev $R/dev
umount /proc /sys
exec switch_root $R /lib/systemd/systemd
die "switch_root failed"
