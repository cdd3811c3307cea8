#!/bin/sh
# SPDX-License-Identifier: MIT
# Find (or, with --install and as root, install) the Linux guest that
# `make run`, the system test and `make bench-linux` boot: Debian's cloud
# kernel (linux-image-cloud-amd64) and a busybox initramfs built from
# busybox-static into DIR. Prints two shell assignments:
#
#   KERNEL=/boot/vmlinuz-...
#   INITRD=DIR/initramfs.cpio.gz
#
#   scripts/linux-guest.sh [--install] DIR
#
# SOFTKVM_KERNEL overrides the kernel. Exit status 77 (the "skipped" status
# of meson and automake) when the kernel or busybox is missing and cannot be
# installed, 2 on other errors.
set -e
here=$(cd "$(dirname "$0")" && pwd)
install=0
if [ "$1" = --install ]; then
	install=1
	shift
fi
dir=$1
if [ -z "$dir" ]; then
	echo "usage: $0 [--install] DIR" >&2
	exit 2
fi

find_kernel() {
	k=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1)
	[ -n "$k" ] || k=$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)
	echo "$k"
}

static_busybox() {
	[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1
}

kernel=${SOFTKVM_KERNEL:-$(find_kernel)}
if [ -z "$kernel" ] || ! static_busybox; then
	pkgs=""
	[ -n "$kernel" ] || pkgs="linux-image-cloud-amd64"
	static_busybox || pkgs="$pkgs busybox-static"
	if [ $install = 0 ] || [ "$(id -u)" != 0 ]; then
		echo "linux-guest: missing$pkgs (install them, or run as root with --install)" >&2
		exit 77
	fi
	echo "linux-guest: installing$pkgs" >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq --no-install-recommends $pkgs >/dev/null 2>&1; then
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
	fi
	kernel=${SOFTKVM_KERNEL:-$(find_kernel)}
fi
if [ ! -r "$kernel" ]; then
	echo "linux-guest: cannot read the kernel '$kernel'" >&2
	exit 2
fi

mkdir -p "$dir"
initrd=$dir/initramfs.cpio.gz
if [ ! -s "$initrd" ] || [ /bin/busybox -nt "$initrd" ] ||
	[ "$here/make-initramfs.sh" -nt "$initrd" ]; then
	"$here/make-initramfs.sh" "$initrd" /bin/busybox >&2
fi
echo "KERNEL=$kernel"
echo "INITRD=$initrd"
