#!/bin/bash
# Fetch what the real-Xen tests boot: Debian's Xen 4.17 hypervisor and tools
# and Debian's current kernel, unpacked (never installed: nothing here touches
# the host's packages or /boot) into a cache directory.
#
#   tests/xen/fetch.sh            cache in build/xen-cache
#   XEN_CACHE=DIR tests/xen/fetch.sh
#
# Leaves in the cache:
#   root/                the unpacked packages (tools, libraries, modules)
#   xen                  the hypervisor, gunzipped: qemu's multiboot loader
#                        only takes an uncompressed ELF32
#   vmlinux              dom0's kernel as a plain ELF: Xen would otherwise
#                        xz-decompress the bzImage itself, ~4 s under TCG
#   kver                 the kernel ABI (e.g. 6.1.0-56-amd64)
# Idempotent: a complete cache for the current kernel ABI is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
C=${XEN_CACHE:-build/xen-cache}
mkdir -p "$C"
C=$(cd "$C" && pwd)

die() { echo "fetch.sh: $*" >&2; exit 1; }
for t in apt-get apt-cache dpkg depmod xz zcat od; do
	command -v $t > /dev/null || die "$t missing (apt-get install apt dpkg kmod xz-utils gzip coreutils)"
done

# The kernel ABI the linux-image-amd64 metapackage points at right now.
KVER=${KVER:-$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { sub("linux-image-", "", $2); print $2; exit }')}
[ -n "$KVER" ] || die "cannot tell which kernel linux-image-amd64 points at (apt-get update first?)"

PKGS=(xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common xenstore-utils
      libxenmisc4.17 libyajl2 "linux-image-$KVER")

if [ -f "$C/complete" ] && [ "$(cat "$C/complete")" = "$KVER" ] &&
   [ -s "$C/xen" ] && [ -s "$C/vmlinux" ] && [ -d "$C/root/lib/modules/$KVER" ]; then
	echo "fetch.sh: $C is complete (kernel $KVER)"
	exit 0
fi
rm -f "$C/complete"

# ---- download (apt-get download only fetches .debs; it installs nothing)
mkdir -p "$C/debs"
missing=()
for p in "${PKGS[@]}"; do
	compgen -G "$C/debs/${p}_*.deb" > /dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "fetch.sh: apt-get download ${missing[*]}"
	# apt's _apt user may not write here; apt then downloads as root and says so.
	(cd "$C/debs" && apt-get download "${missing[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed') ||
		true
	still=()
	for p in "${missing[@]}"; do
		compgen -G "$C/debs/${p}_*.deb" > /dev/null || still+=("$p")
	done
	[ ${#still[@]} = 0 ] ||
		die "apt-get download failed, missing: ${still[*]} (see apt's message above; no route to the Debian archive? apt-get update?)"
fi

# ---- unpack (dpkg -x: files only, no maintainer scripts, no dpkg database)
rm -rf "$C/root"
mkdir -p "$C/root"
for p in "${PKGS[@]}"; do
	for d in "$C/debs/${p}"_*.deb; do dpkg -x "$d" "$C/root"; done
done
depmod -b "$C/root" "$KVER"

# ---- the hypervisor: gunzip
xz=$(ls "$C"/root/boot/xen-4.17-amd64.gz 2>/dev/null || ls "$C"/root/boot/xen-4.17*.gz | head -1)
[ -f "$xz" ] || die "no xen-4.17 image in xen-hypervisor-4.17-amd64"
zcat "$xz" > "$C/xen.tmp" && mv "$C/xen.tmp" "$C/xen"

# ---- dom0's kernel: the ELF inside the bzImage (what linux/scripts/extract-vmlinux does)
extract_vmlinux() { # bzImage out
	# magic (no NUL: bash strings cannot hold one) and decompressor, per format
	local magics=($'\xfd7zXZ' $'\x1f\x8b\x08' $'\x28\xb5\x2f\xfd' $'\x02\x21\x4c\x18')
	local cmds=("xz -dc" "gzip -dc" "zstd -dc" "lz4 -dc")
	local in=$1 out=$2 i pos
	for i in "${!magics[@]}"; do
		for pos in $(LC_ALL=C grep -abo "${magics[$i]}" "$in" | cut -d: -f1); do
			# trailing bytes after the stream make the decompressor complain: check the ELF
			tail -c +$((pos + 1)) "$in" | ${cmds[$i]} > "$out" 2> /dev/null || true
			if [ "$(head -c 4 "$out" | od -An -c | tr -d ' ')" = '177ELF' ]; then
				return 0
			fi
		done
	done
	return 1
}
extract_vmlinux "$C/root/boot/vmlinuz-$KVER" "$C/vmlinux.tmp" ||
	die "no compressed ELF kernel found in vmlinuz-$KVER"
mv "$C/vmlinux.tmp" "$C/vmlinux"

echo "$KVER" > "$C/kver"
echo "$KVER" > "$C/complete"
echo "fetch.sh: $C ready: xen $(du -h "$C/xen" | cut -f1), vmlinux $(du -h "$C/vmlinux" | cut -f1), kernel $KVER"
