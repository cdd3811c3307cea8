#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make bench-virtio: virtio-blk IOPS and virtio-net packets per second, in one run, on

  softkvm run --accel soft            the rings by direct mapping (seed 001, the default)
  softkvm run, SOFTKVM_VIRTIO_RING_COPY=1   every ring access translated again (the slow path)
  qemu-system-x86_64 -accel tcg      the same devices (virtio-blk-pci, virtio-net-pci on
                                     -netdev user), when QEMU is installed

The guest is Debian's cloud kernel with the busybox initramfs and a static load generator
(bench/virtio/vbench.c): 4 KiB O_DIRECT random reads from 32 threads (queue depth 32) on a
64 MiB disk (cache=none where the build directory's file system has O_DIRECT), then UDP
datagrams of 64 bytes from the guest to a host socket through the user network's gateway
10.0.2.2 (the host counts what arrives). A benchmark: it reports figures and fails only when
a guest does not boot or a run does not report.
"""
import argparse
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYS = os.path.join(ROOT, "tests", "system")
sys.path.insert(0, SYS)
from guestcon import MARKER, Guest  # noqa: E402

_spec = importlib.util.spec_from_file_location("qv", os.path.join(SYS, "run-qemu-virtio.py"))
qv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qv)

MODULES = [
    "drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko", "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci.ko", "drivers/block/virtio_blk.ko",
    "net/core/failover.ko", "drivers/net/net_failover.ko", "drivers/net/virtio_net.ko",
]
DISK = 64 << 20


def has_odirect(path):
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_DIRECT))
        return True
    except OSError:
        return False


def udp_counter():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    count = [0, False]

    def loop():
        while not count[1]:
            try:
                s.recv(2048)
                count[0] += 1
            except socket.timeout:
                pass
            except OSError:
                break
    threading.Thread(target=loop, daemon=True).start()
    return s, count


def one(name, cmd, env, a, initrd):
    """boot, run the loads; returns {'iops':..., 'pps':..., 'rx_pps':...} or None"""
    log = open(os.path.join(a.builddir, "bench-virtio-%s.log" % re.sub(r"\W+", "-", name)), "wb")
    s, count = udp_counter()
    port = s.getsockname()[1]
    e = dict(os.environ)
    e.update(env)
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(e)
    try:
        g = Guest(cmd, log)
    finally:
        os.environ.clear()
        os.environ.update(old)
    res = {}
    try:
        if not g.wait_for(MARKER, a.timeout):
            print("%s: no marker; last output %r" % (name, g.out[-300:]))
            return None
        out, st = g.run("for m in %s; do insmod /virtio/$m || echo FAILED $m; done; "
                        "for i in $(seq 100); do [ -b /dev/vda ] && [ -e /sys/class/net/eth0 ]"
                        " && break; sleep 0.1; done; ip link set lo up; ip link set eth0 up;"
                        " ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2"
                        % " ".join(os.path.basename(m) for m in MODULES), 60)
        if st != 0 or "FAILED" in (out or ""):
            print("%s: the modules did not load: %r" % (name, out))
            return None
        out, st = g.run("/bin/vbench blk /dev/vda %d 32" % a.seconds, a.seconds + 60)
        m = re.search(r"iops (\d+)", out or "")
        res["iops"] = int(m.group(1)) if m else None
        # one datagram first: slirp's UDP socket exists, ARP is done
        g.run("echo x | nc -u -w 1 10.0.2.2 %d" % port, 10)
        time.sleep(0.5)
        before = count[0]
        t0 = time.time()
        out, st = g.run("/bin/vbench udp 10.0.2.2 %d %d 64" % (port, a.seconds), a.seconds + 60)
        time.sleep(0.5)
        got = count[0] - before
        m = re.search(r"udp sent (\d+) errors \d+ seconds ([\d.]+) pps (\d+)", out or "")
        res["pps"] = int(m.group(3)) if m else None
        res["rx_pps"] = int(got / float(m.group(2))) if m else None
        if not m:
            print("%s: %r" % (name, out))
        g.poweroff(30)
    finally:
        count[1] = True
        s.close()
        if g.p.poll() is None:
            g.p.kill()
            g.p.wait()
        log.close()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--seconds", type=int, default=10, help="each load's duration")
    ap.add_argument("--timeout", type=int, default=180, help="seconds to the marker line")
    ap.add_argument("--no-qemu", action="store_true")
    a = ap.parse_args()
    p = subprocess.run([os.path.join(ROOT, "scripts", "linux-guest.sh"), "--install",
                        os.path.join(a.builddir, "linux-guest")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode:
        print("no guest kernel: " + p.stderr.strip())
        return 77 if p.returncode == 77 else 1
    env = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
    kernel = env["KERNEL"]
    release = re.sub(r"^vmlinuz-", "", os.path.basename(kernel))
    cc = shutil.which("cc") or shutil.which("gcc")
    tool = os.path.join(a.builddir, "vbench")
    subprocess.run([cc, "-static", "-O2", "-pthread", "-o", tool,
                    os.path.join(ROOT, "bench", "virtio", "vbench.c")], check=True)
    initrd = os.path.join(a.builddir, "bench-virtio-initramfs.cpio.gz")
    with open(tool, "rb") as f:
        qv.make_initrd(env["INITRD"], release, initrd, MODULES, extra=[("bin/vbench", f.read())])
    disk = os.path.join(a.builddir, "bench-virtio-disk.img")
    with open(disk, "wb") as f:
        f.write(bytes(range(256)) * (DISK // 256))
    cache = "none" if has_odirect(disk) else "writeback"
    append = "console=ttyS0 panic=-1"
    sk = [a.softkvm, "run", "--accel", "soft", "--kernel", kernel, "--initrd", initrd,
          "--append", append, "--mem", "256M",
          "--drive", "file=%s,format=raw,cache=%s" % (disk, cache), "--net", "user"]
    runs = [("softkvm, rings mapped", sk, {"SOFTKVM_VIRTIO_RING_COPY": "0"}),
            ("softkvm, ring copy", sk, {"SOFTKVM_VIRTIO_RING_COPY": "1"})]
    qemu = shutil.which(os.environ.get("QEMU", "qemu-system-x86_64"))
    if qemu and not a.no_qemu and not os.environ.get("BENCH_NO_QEMU"):
        runs.append(("QEMU TCG", [qemu, "-accel", "tcg", "-machine", "pc", "-m", "256",
                                  "-nodefaults", "-display", "none", "-serial", "stdio",
                                  "-monitor", "none", "-no-reboot", "-kernel", kernel,
                                  "-initrd", initrd, "-append", append,
                                  "-drive", "file=%s,format=raw,if=none,id=d0,cache=%s"
                                  % (disk, cache), "-device", "virtio-blk-pci,drive=d0",
                                  "-netdev", "user,id=n0", "-device",
                                  "virtio-net-pci,netdev=n0"], {}))
    print("virtio-blk: 4 KiB random reads, O_DIRECT, 32 threads, %d s, cache=%s; virtio-net: "
          "64-byte UDP datagrams guest -> host, %d s" % (a.seconds, cache, a.seconds))
    rows, bad = [], False
    for name, cmd, env_ in runs:
        r = one(name, cmd, env_, a, initrd)
        if not r or r.get("iops") is None or r.get("pps") is None:
            bad = True
        rows.append((name, r or {}))
    print("%-24s %12s %14s %16s" % ("", "blk IOPS", "net TX pps", "net pps at host"))
    for name, r in rows:
        f = lambda k: "-" if r.get(k) is None else "{:,}".format(r[k])
        print("%-24s %12s %14s %16s" % (name, f("iops"), f("pps"), f("rx_pps")))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
