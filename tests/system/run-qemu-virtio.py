#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""System test: QEMU -accel kvm under softkvm exec with virtio-blk, virtio-net and virtio-rng.

QEMU 7.2 (Debian's qemu-system-x86) runs Debian's cloud kernel with the busybox
initramfs of scripts/make-initramfs.sh plus a second archive holding the
kernel's virtio modules (virtio_pci, virtio_blk, virtio_net, virtio-rng and
what they need, from /lib/modules/RELEASE), on softkvm's /dev/kvm served by
`softkvm exec`, with the in-kernel irqchip, a fixed CPU model (--cpu,
default QEMU's Snowridge without what softkvm does not offer) and three PCI
devices:

  virtio-blk   a 1 MiB raw image with a known pattern: the guest reads it
               (sha256 of the whole disk), writes a block at 512 KiB with
               O_DIRECT and fsync, reads it back; after QEMU exits the file
               on the host holds the block
  virtio-net   -netdev user: udhcpc on eth0 gets the lease 10.0.2.15 from
               QEMU's DHCP server, and the guest pings the gateway 10.0.2.2
  virtio-rng   rng-random on /dev/urandom: head -c 64 /dev/hwrng returns
               64 bytes

Each step has its own timeout and a clear FAIL line. The guest finally powers
off (ACPI S5): QEMU must exit with status 0; the console log must have no
oops, warning or stall and QEMU nothing on stderr. Exit status 77 (skipped)
without QEMU, the kernel, busybox or the kernel's modules.
"""
import argparse
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guestcon import MARKER, Guest  # noqa: E402

BAD = [
    rb"Oops", rb"WARNING:", rb"BUG:", rb"Kernel panic", rb"Call Trace",
    rb"unchecked MSR access", rb"general protection fault", rb"invalid opcode",
    rb"soft lockup", rb"hard LOCKUP", rb"blocked for more than", rb"rcu: INFO:",
    rb"self-detected stall", rb"segfault at", rb"Attempted to kill init",
]

# load order (each after what it depends on), relative to /lib/modules/RELEASE/kernel
MODULES = [
    "drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko", "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci.ko", "drivers/block/virtio_blk.ko", "net/core/failover.ko",
    "drivers/net/net_failover.ko", "drivers/net/virtio_net.ko",
    "drivers/char/hw_random/virtio-rng.ko",
]
# a fixed identity (not -cpu host): QEMU's Snowridge (family 6 model 0x86, softkvm's
# own model) without what softkvm does not offer, so QEMU has nothing to warn about
CPU = ("Snowridge,-mpx,-vme,-pclmulqdq,-aes,-rdrand,-rdseed,-sha-ni,-gfni,-cldemote,"
       "-movdiri,-movdir64b,-core-capability,-split-lock-detect,-xgetbv1,"
       "-kvm-nopiodelay,-kvm-asyncpf,-kvm-steal-time,-kvm-pv-eoi")
DISK_SIZE = 1 << 20
WRITE_OFF = 512 << 10
WRITE_BLOCK = (b"softkvm virtio-blk write test\n" * 20)[:512]

failures = 0
checks = 0


def check(name, ok, detail=""):
    global failures, checks
    checks += 1
    print("%s: %s%s" % ("PASS" if ok else "FAIL", name,
                        (" (" + detail + ")") if detail and not ok else ""))
    if not ok:
        failures += 1
    return ok


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def cpio_entry(name, mode, data=b"", ino=[5000]):
    ino[0] += 1
    nb = name.encode() + b"\0"
    hdr = "070701" + "".join("%08x" % v for v in (
        ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
    b = hdr.encode() + nb
    b += b"\0" * (-len(b) % 4)
    b += data
    b += b"\0" * (-len(b) % 4)
    return b


def make_initrd(base, release, out, modules=MODULES, init=None, extra=()):
    """base initramfs + a second, uncompressed archive (nothing for the guest to
    inflate) with the modules in /virtio (and init as /init, which replaces the
    base's: the later archive's file wins): the kernel unpacks concatenated
    archives. Also used by run-virtio.py."""
    moddir = os.path.join("/lib/modules", release, "kernel")
    parts = [cpio_entry("virtio", stat.S_IFDIR | 0o755)]
    if init:
        parts.append(cpio_entry("init", stat.S_IFREG | 0o755, init.encode()))
    for name, data in extra:  # (path in the archive, bytes): executables
        parts.append(cpio_entry(name, stat.S_IFREG | 0o755, data))
    for m in modules:
        path = os.path.join(moddir, m)
        if not os.path.exists(path):
            skip("%s: not found (the kernel's modules package)" % path)
        with open(path, "rb") as f:
            parts.append(cpio_entry("virtio/" + os.path.basename(m), stat.S_IFREG | 0o644,
                                    f.read()))
    parts.append(cpio_entry("TRAILER!!!", 0))
    data = b"".join(parts)
    data += b"\0" * (-len(data) % 512)
    with open(base, "rb") as f:
        first = f.read()
    with open(out, "wb") as f:
        # an uncompressed archive must start 4-byte aligned in the image
        f.write(first + b"\0" * (-len(first) % 512) + data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--cpu", default=CPU, help="QEMU -cpu model")
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--mem", default="256")
    ap.add_argument("--timeout", type=int, default=120, help="seconds to the marker line")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        skip("qemu-system-x86_64 is not installed")
    p = subprocess.run([os.path.join(root, "scripts", "linux-guest.sh"), "--install",
                        os.path.join(a.builddir, "linux-guest")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode == 77:
        skip(p.stderr.strip())
    if p.returncode:
        print("linux-guest.sh failed: " + p.stderr.strip())
        return 1
    env = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
    kernel = env["KERNEL"]
    release = re.sub(r"^vmlinuz-", "", os.path.basename(kernel))
    initrd = os.path.join(a.builddir, "virtio-initramfs.cpio.gz")
    make_initrd(env["INITRD"], release, initrd)

    disk = os.path.join(a.builddir, "virtio-disk.img")
    pattern = bytes((i * 7 + 3) & 0xff for i in range(DISK_SIZE))
    with open(disk, "wb") as f:
        f.write(pattern)
    expect_after = pattern[:WRITE_OFF] + WRITE_BLOCK + pattern[WRITE_OFF + 512:]

    logname = os.path.join(a.builddir, "linux-qemu-virtio.log")
    cmd = [a.softkvm, "exec", "--", qemu, "-accel", "kvm", "-cpu", a.cpu,
           "-machine", "pc", "-m", a.mem, "-smp", str(a.cpus), "-nodefaults",
           "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
           "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1",
           "-drive", "file=%s,format=raw,if=none,id=disk0,cache=writethrough" % disk,
           "-device", "virtio-blk-pci,drive=disk0",
           "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0",
           "-object", "rng-random,id=rng0,filename=/dev/urandom",
           "-device", "virtio-rng-pci,rng=rng0"]
    print("$ " + " ".join(cmd))
    print("console log: " + logname)
    t0 = time.time()
    with open(logname, "wb") as log:
        g = Guest(cmd, log)
        m = g.wait_for(MARKER, a.timeout)
        if not check("boots to the marker line", m is not None,
                     "no marker after %d s; last output: %r" % (a.timeout, g.out[-300:])):
            g.p.kill()
            g.p.wait()
            return finish(g)
        print("INFO: marker after %.1f s" % (time.time() - t0))

        t1 = time.time()
        out, st = g.run("for m in %s; do insmod /virtio/$m || echo FAILED $m; done" %
                        " ".join(os.path.basename(m) for m in MODULES), 60)
        check("the virtio modules load", st == 0 and out is not None and "FAILED" not in out,
              repr(out))

        # virtio-blk
        out, st = g.run("for i in $(seq 100); do [ -b /dev/vda ] && break; sleep 0.1; done; "
                        "cat /sys/block/vda/size", 30)
        check("virtio-blk: /dev/vda is there with 2048 sectors",
              st == 0 and out is not None and out.strip() == str(DISK_SIZE // 512), repr(out))
        out, st = g.run("timeout 20 dd if=/dev/vda bs=64k 2>/dev/null | sha256sum", 30)
        check("virtio-blk: the guest reads the disk's pattern",
              st == 0 and out is not None and
              out.split()[:1] == [hashlib.sha256(pattern).hexdigest()], repr(out))
        blk = WRITE_BLOCK.decode()
        out, st = g.run("yes '%s' | head -c 512 > /tmp/blk && timeout 20 dd if=/tmp/blk of=/dev/vda"
                        " bs=512 seek=%d oflag=direct conv=fsync 2>/dev/null && timeout 20 dd"
                        " if=/dev/vda bs=512 skip=%d count=1 iflag=direct 2>/dev/null | sha256sum"
                        % (blk.split("\n")[0], WRITE_OFF // 512, WRITE_OFF // 512), 60)
        check("virtio-blk: a block written with O_DIRECT reads back",
              st == 0 and out is not None and
              out.split()[:1] == [hashlib.sha256(WRITE_BLOCK).hexdigest()], repr(out))

        # virtio-net
        out, st = g.run("ip link set lo up; ip link set eth0 up && timeout 30 udhcpc -i eth0 -f -q"
                        " -n -t 10 -T 2 -s /bin/true 2>&1", 45)
        check("virtio-net: udhcpc gets the lease 10.0.2.15 from QEMU's user network",
              st == 0 and out is not None and "lease of 10.0.2.15 obtained" in out, repr(out))
        out, st = g.run("ip addr add 10.0.2.15/24 dev eth0 && timeout 20 ping -c 2 -W 5 10.0.2.2"
                        " 2>&1", 30)
        check("virtio-net: the guest pings the gateway 10.0.2.2",
              st == 0 and out is not None and " 0% packet loss" in out, repr(out))

        # virtio-rng
        out, st = g.run("cat /sys/class/misc/hw_random/rng_current; timeout 20 head -c 64"
                        " /dev/hwrng | od -An -v -tx1 | wc -w", 30)
        lines = (out or "").split()
        check("virtio-rng: it is the current hardware RNG",
              st == 0 and lines[:1] and lines[0].startswith("virtio_rng"), repr(out))
        check("virtio-rng: head -c 64 /dev/hwrng returns 64 bytes",
              st == 0 and lines[-1:] == ["64"], repr(out))

        print("INFO: the checks took %.1f s" % (time.time() - t1))
        status = g.poweroff()
        check("poweroff -f ends QEMU with status 0", status == 0, "status %s" % status)
        check("the kernel powered down", b"reboot: Power down" in g.out)
    with open(disk, "rb") as f:
        check("virtio-blk: the written block is in the image file on the host",
              f.read() == expect_after)
    return finish(g)


def finish(g):
    for pat in BAD:
        hits = [l for l in g.out.split(b"\n") if re.search(pat, l)]
        check("no '%s' in the console log" % pat.decode(), not hits,
              hits[0].decode(errors="replace").strip() if hits else "")
    check("nothing on QEMU's stderr", not g.err.strip(), g.err.decode(errors="replace").strip())
    print("%d passed, %d failed" % (checks - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
