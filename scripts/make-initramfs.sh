#!/bin/sh
# SPDX-License-Identifier: MIT
# Build a busybox initramfs (cpio newc, gzip) without root.
#
#   scripts/make-initramfs.sh OUT.cpio.gz [BUSYBOX]
#
# BUSYBOX defaults to Debian's busybox-static (/bin/busybox). The archive holds
# busybox, /dev/console and /init, which mounts proc, sysfs and devtmpfs,
# prints the marker line "softkvm: initramfs ready (N CPUs, RELEASE), uptime
# S s" (S: /proc/uptime when the line is printed, which `make bench-linux`
# reports as the boot time) and starts a shell on the console; when that
# shell exits the machine powers off. reboot, poweroff and halt work as with
# a real init.
set -e
out=$1
busybox=${2:-/bin/busybox}
if [ -z "$out" ]; then
	echo "usage: $0 OUT.cpio.gz [BUSYBOX]" >&2
	exit 2
fi
if [ ! -x "$busybox" ]; then
	echo "make-initramfs: $busybox: no busybox (install busybox-static)" >&2
	exit 2
fi
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked' &&
	ldd "$busybox" >/dev/null 2>&1; then
	echo "make-initramfs: $busybox: not statically linked (install busybox-static)" >&2
	exit 2
fi
exec python3 - "$out" "$busybox" <<'EOF'
import gzip, os, stat, sys

out, busybox = sys.argv[1], sys.argv[2]

INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=${TERM:-linux}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /tmp /root
mount -t devpts devpts /dev/pts 2>/dev/null
hostname softkvm
n=$(nproc)
r=$(uname -r)
read up idle < /proc/uptime
echo "softkvm: initramfs ready ($n CPUs, $r), uptime $up s"
cd /root
# busybox reboot/poweroff/halt signal init (TERM, USR2, USR1): do what they ask
trap 'sync; reboot -f' TERM
trap 'sync; poweroff -f' USR2
trap 'sync; halt -f' USR1
PS1='\h:\w# ' setsid cttyhack sh -i &
shell=$!
while kill -0 $shell 2>/dev/null; do
	wait $shell
done
echo "softkvm: shell exited, powering off"
poweroff -f
"""

def entry(name, mode, data=b"", rdev=(0, 0)):
    global ino
    ino += 1
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join("%08x" % v for v in (
        ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0))
    b = hdr.encode() + name_b
    b += b"\0" * (-len(b) % 4)
    b += data
    b += b"\0" * (-len(b) % 4)
    return b

ino = 0
parts = []
for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "sbin", "usr"):
    parts.append(entry(d, stat.S_IFDIR | 0o755))
parts.append(entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
parts.append(entry("dev/null", stat.S_IFCHR | 0o666, rdev=(1, 3)))
with open(busybox, "rb") as f:
    parts.append(entry("bin/busybox", stat.S_IFREG | 0o755, f.read()))
parts.append(entry("bin/sh", stat.S_IFLNK | 0o777, b"busybox"))
parts.append(entry("init", stat.S_IFREG | 0o755, INIT.encode()))
parts.append(entry("etc/passwd", stat.S_IFREG | 0o644, b"root:x:0:0:root:/root:/bin/sh\n"))
parts.append(entry("TRAILER!!!", 0))
data = b"".join(parts)
data += b"\0" * (-len(data) % 512)
tmp = out + ".tmp"
with open(tmp, "wb") as f:
    f.write(gzip.compress(data, compresslevel=9, mtime=0))
os.replace(tmp, out)
EOF
