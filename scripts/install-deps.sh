#!/bin/sh
# Install the Debian packages softkvm needs to build and test, when they are
# missing and we are root. Safe to run repeatedly; does nothing when all is there.
set -e
PKGS="libzydis-dev meson ninja-build nasm gcc clang libclang-rt-14-dev qemu-system-x86 busybox-static linux-image-cloud-amd64 lz4 libslirp-dev libglib2.0-dev libzstd-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "softkvm: missing Debian packages:$missing (run as root to install them)" >&2
	# building may still work if the tools are present by other means
	exit 0
fi
echo "softkvm: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends $missing >/dev/null
