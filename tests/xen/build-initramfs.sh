#!/bin/bash
# Build dom0's initramfs for the real-Xen tests (cpio newc, uncompressed: the
# kernel unpacks it faster than it would decompress it under TCG).
#
#   tests/xen/build-initramfs.sh [BUILD]      BUILD defaults to build
#
# Needs tests/xen/fetch.sh's cache (XEN_CACHE, default build/xen-cache) and
# the project built (make programs tests xen-guests).  Writes
# BUILD/xen/initramfs.cpio from the tree BUILD/xen/initramfs/.
# XEN_POLICY=FILE replaces tests/xen/policy.json; XEN_SHELL=1 makes dom0 end
# in a shell (for run.sh INTERACTIVE=1).
#
# The tree is merged-/usr like Debian 12 (/bin, /sbin, /lib, /lib64 are
# symlinks into /usr) because the broker's sandbox gives a device model
# exactly /usr, read-only, plus those symlinks: what runs in the jail must
# be found under /usr.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
C=${XEN_CACHE:-build/xen-cache}
die() { echo "build-initramfs.sh: $*" >&2; exit 1; }
for t in cpio depmod modinfo file ldd; do
	command -v $t > /dev/null || die "$t missing (apt-get install cpio kmod file libc-bin)"
done

[ -f "$C/complete" ] || die "no complete cache in $C: run tests/xen/fetch.sh first"
C=$(cd "$C" && pwd)
R=$C/root
KVER=$(cat "$C/kver")
BUSYBOX=${BUSYBOX:-/bin/busybox}
file -L "$BUSYBOX" 2> /dev/null | grep -q 'statically linked' ||
	die "$BUSYBOX is not a static busybox (apt-get install busybox-static)"
for b in bin/dmbrokerd bin/dmbrokerctl tests/progs/echo-dm tests/progs/rogue-dm \
         tests/xen/guest-all.elf; do
	[ -x "$BUILD/$b" ] || [ -f "$BUILD/$b" ] || die "$BUILD/$b missing: make programs tests xen-guests"
done

O=$BUILD/xen/initramfs
rm -rf "$O"
mkdir -p "$O"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64,libexec/dm-broker} \
	"$O"/{etc/xen,etc/dm-broker,proc,sys,dev,run,tmp,var/lib,var/log,newroot,test}
ln -s usr/bin "$O/bin"
ln -s usr/sbin "$O/sbin"
ln -s usr/lib "$O/lib"
ln -s usr/lib64 "$O/lib64"
ln -s ../run "$O/var/run"

# ---- busybox: every applet, at the path it asks for (bin/x lands in usr/bin/x)
cp "$BUSYBOX" "$O/usr/bin/busybox"
for a in $("$BUSYBOX" --list-full); do
	case $a in
	bin/busybox | linuxrc) continue ;;
	bin/* | sbin/*) dst=usr/$a ;;
	*) dst=$a ;;
	esac
	[ -e "$O/$dst" ] || ln -s /usr/bin/busybox "$O/$dst"
done

# ---- Xen's dom0 tools, from the unpacked packages
XB=usr/lib/xen-4.17/bin
mkdir -p "$O/$XB"
BINS=()
for b in xl xenstored xenconsoled xen-init-dom0 libxl-save-helper xenconsole; do
	cp "$R/$XB/$b" "$O/$XB/"
	BINS+=("$O/$XB/$b")
done
cp "$R/usr/bin/xenstore" "$O/usr/bin/"
BINS+=("$O/usr/bin/xenstore")
for l in xenstore-ls xenstore-read xenstore-write xenstore-list xenstore-rm xenstore-exists \
         xenstore-watch xenstore-chmod; do
	ln -sf xenstore "$O/usr/bin/$l"
done
for b in xl xenstored xenconsoled xen-init-dom0; do
	ln -sf "/$XB/$b" "$O/usr/sbin/$b"
done
cp "$R/etc/xen/xl.conf" "$O/etc/xen/"

# ---- the project's programs
install -m 0755 "$BUILD/bin/dmbrokerd" "$BUILD/bin/dmbrokerctl" "$O/usr/bin/"
BINS+=("$O/usr/bin/dmbrokerd" "$O/usr/bin/dmbrokerctl")
for p in "$BUILD"/libexec/dm-* "$BUILD/tests/progs/echo-dm" "$BUILD/tests/progs/rogue-dm" \
         "$BUILD/tests/progs/xen-fdprobe" "$BUILD/tests/progs/xen-direct"; do
	[ -f "$p" ] && [ -x "$p" ] || continue
	case $p in
	*/xen-direct) dst=$O/usr/bin ;; # a dom0-side tool, not a device model
	*) dst=$O/usr/libexec/dm-broker ;;
	esac
	install -m 0755 "$p" "$dst/"
	BINS+=("$dst/$(basename "$p")")
done
install -m 0644 "${XEN_POLICY:-tests/xen/policy.json}" "$O/etc/dm-broker/policy.json"

# ---- shared libraries: the unpacked Xen libraries first, then the host's
export LD_LIBRARY_PATH=$R/usr/lib/x86_64-linux-gnu:$R/usr/lib/xen-4.17/lib/x86_64-linux-gnu
ldd "${BINS[@]}" 2> /dev/null | awk '/=> \// { print $3 }' | sort -u | while read -r lib; do
	cp -L "$lib" "$O/usr/lib/x86_64-linux-gnu/"
done
unset LD_LIBRARY_PATH
for l in libxenstore libxenctrl libxenlight libxl; do
	ls "$O"/usr/lib/x86_64-linux-gnu/$l* > /dev/null 2>&1 || [ $l != libxenctrl ] ||
		die "ldd found no $l: are the unpacked libraries in $R?"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$O/usr/lib/x86_64-linux-gnu/"
ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$O/usr/lib64/ld-linux-x86-64.so.2"
# glibc dlopen()s libgcc_s for pthread_cancel: ldd cannot see it, xl aborts without it
cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$O/usr/lib/x86_64-linux-gnu/"

# ---- kernel modules for dom0 (with their modules.dep, for modprobe)
MODS=(xen-privcmd xen-evtchn xen-gntdev xen-gntalloc xenfs)
for m in "${MODS[@]}"; do
	f=$(modinfo -b "$R" -k "$KVER" -n "$m" 2> /dev/null) || die "module $m not in linux-image-$KVER"
	mkdir -p "$O/$(dirname "${f#"$R"/}")"
	cp "$f" "$O/${f#"$R"/}"
done
cp "$R/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} "$O/lib/modules/$KVER/"
depmod -b "$O" "$KVER"

# ---- the guests and the dom0 test plan
for g in "$BUILD"/tests/xen/guest-*.elf; do
	install -m 0644 "$g" "$O/test/"
done
mkdir -p "$O/test/scenarios" # for checks that compare what the device models saw with the ops
install -m 0644 tests/scenarios/*.scn "$O/test/scenarios/"
install -m 0755 tests/xen/init.sh "$O/init"
[ "${XEN_SHELL:-0}" = 1 ] && touch "$O/test/shell" # init.sh then starts a shell at the end

(cd "$O" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$BUILD/xen/initramfs.cpio.tmp"
mv "$BUILD/xen/initramfs.cpio.tmp" "$BUILD/xen/initramfs.cpio"
echo "build-initramfs.sh: $BUILD/xen/initramfs.cpio: $(du -h "$BUILD/xen/initramfs.cpio" | cut -f1)," \
	"$(find "$O" -type f | wc -l) files, kernel $KVER"
