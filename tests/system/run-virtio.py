#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""System test: softkvm run's own virtio devices (vmm/virtio/) under Debian's cloud kernel.

With --console: `softkvm run --console virtio` instead, with an /init that loads
virtio_console and starts the shell on hvc0; the commands typed on standard
input reach it (tty says /dev/hvc0, a 300-character line, 14 KiB of output in
order) and poweroff -f there ends softkvm with status 0.

With --vsock: `softkvm run --vsock cid=42,path=SOCK` with the vsock modules loaded and a
static guest tool (vsockecho.c, built here with the host's C compiler): 1 MiB goes from a
guest connect() to CID 2 port 5000 through SOCK_5000 to a host echo server and back, a
host program connects to SOCK, writes "CONNECT 6000", reads "OK <port>" and sends 1 MiB
through a guest echo server on port 6000 and reads it back (both directions more than the
256 KiB of credit: flow control), a guest connect() to a port with no host listener fails
(RST), "CONNECT 7000" to a guest port nobody listens on is closed without an OK, the guest
sees CID 42; again after `reboot -f`; a clean log.

With --tap: `softkvm run --net tap=skvmtapPID` on a tap device the test creates (`ip tuntap
add`, host address 10.77.N.1/24; skipped when it cannot: not root, no /dev/net/tun): the
guest (10.77.N.2) fetches 300 KiB from a host server on 10.77.N.1 and a host client
receives 109 KiB from a guest `nc -l`, both through the tap; after `reboot -f` again; the
tap is deleted at the end.

With --net: `softkvm run --net user,hostfwd=tcp:127.0.0.1:HPORT-:5555` (virtio-net on
libslirp's user network) with the virtio_net modules loaded: udhcpc on eth0 gets the
lease 10.0.2.15; the guest fetches 300 KiB that a host server on 127.0.0.1:PORT sends,
through the gateway 10.0.2.2:PORT (busybox nc), and their sha256 is the host's; a
host client connects to 127.0.0.1:HPORT and receives, through hostfwd, the 109 KiB a
guest `nc -l -p 5555` sends; /proc/interrupts shows the queues' MSI-X vectors; after
`reboot -f` (--reboot restart: the network is built again) a lease again and hostfwd
again; a clean log.

Without either, the disks and the RNG:

`softkvm run --accel soft` boots the busybox initramfs of scripts/make-initramfs.sh
plus a second archive with the kernel's virtio modules (as run-qemu-virtio.py
builds it), with

  --drive file=disk.img,format=raw,serial=SKVM-DISK-0[,cache=none]
              1 MiB with a known pattern (cache=none where the build
              directory's file system has O_DIRECT)
  --drive file=ro.img,readonly=on
              64 KiB with another pattern
  --rng
  --reboot restart

and checks, each step with its own timeout and a PASS/FAIL line:

  virtio-blk  /dev/vda has 2048 sectors and the serial; its sha256 is the
              pattern's; a block written at 512 KiB with O_DIRECT and fsync
              reads back (O_DIRECT); blkdiscard of 4 KiB at 256 KiB reads
              back as zeros (fallocate PUNCH_HOLE on the host); /dev/vdb is
              read-only (ro = 1), a write to it fails and its sha256 is its
              pattern's
  virtio-rng  it is the current hardware RNG; head -c 64 /dev/hwrng gives 64
              bytes
  reboot      reboot -f: softkvm builds the machine again, the guest boots
              to the marker, loads the modules, and the block written before
              reads back
  exit        poweroff -f ends softkvm with status 0; the image file on the
              host holds the written block and the zeros; the console log
              is clean and stderr holds only softkvm's start-up line

Exit status 77 (skipped) without the kernel, busybox or the kernel's modules.
"""
import argparse
import hashlib
import importlib.util
import os
import re
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from guestcon import MARKER, Guest  # noqa: E402

_spec = importlib.util.spec_from_file_location("qv", os.path.join(HERE, "run-qemu-virtio.py"))
qv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qv)

MODULES = [
    "drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko", "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci.ko", "drivers/block/virtio_blk.ko",
    "drivers/char/hw_random/virtio-rng.ko",
]
DISK_SIZE = 1 << 20
RO_SIZE = 64 << 10
WRITE_OFF = 512 << 10
WRITE_BLOCK = (b"softkvm virtio-blk write test\n" * 20)[:512]
DISCARD_OFF = 256 << 10
DISCARD_LEN = 4096
SERIAL = "SKVM-DISK-0"
ENGINE = "interpreter" if os.environ.get("SOFTKVM_ENGINE") == "interp" else "JIT"
SOFT_LINE = "softkvm run: accelerator: softkvm (software x86-64 processor, %s)" % ENGINE

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


CONSOLE_MODULES = MODULES[:5] + ["drivers/char/virtio_console.ko"]
# --console: an /init that loads the modules and starts the shell on hvc0 (the
# base initramfs's /init is replaced: the later archive's file wins)
CONSOLE_INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=linux
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /tmp /root
hostname softkvm
for m in %s; do insmod /virtio/$m || echo "softkvm: insmod $m failed"; done
i=0
while [ ! -c /dev/hvc0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -c /dev/hvc0 ] && echo "softkvm: hvc0 ready" || echo "softkvm: no hvc0"
cd /root
trap 'sync; reboot -f' TERM
trap 'sync; poweroff -f' USR2
PS1='hvc0:\w# ' setsid sh -c 'exec sh -i </dev/hvc0 >/dev/hvc0 2>&1' &
shell=$!
while kill -0 $shell 2>/dev/null; do
	wait $shell
done
poweroff -f
"""
NET_MODULES = MODULES[:5] + ["net/core/failover.ko", "drivers/net/net_failover.ko",
                             "drivers/net/virtio_net.ko"]
NET_DATA = bytes((i * 31 + 7) & 0xff for i in range(300 << 10))
NET_GUEST_PORT = 5555
HVC_READY = re.compile(rb"softkvm: (hvc0 ready|no hvc0)")


def make_initrd(base, release, out, modules=MODULES, init=None, extra=()):
    qv.make_initrd(base, release, out, modules, init, extra)


def has_odirect(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError:
        return False
    os.close(fd)
    return True


def load_modules(g):
    out, st = g.run("for m in %s; do insmod /virtio/$m || echo FAILED $m; done; "
                    "for i in $(seq 100); do [ -b /dev/vdb ] && break; sleep 0.1; done" %
                    " ".join(os.path.basename(m) for m in MODULES), 60)
    return st == 0 and out is not None and "FAILED" not in out, out


def sha_of(g, dev, extra=""):
    out, st = g.run("timeout 20 dd if=%s bs=64k %s 2>/dev/null | sha256sum" % (dev, extra), 30)
    return (out or "").split()[:1], st


def read_block(g, off):
    return sha_of(g, "/dev/vda", "skip=%d count=1 bs=512 iflag=direct" % (off // 512))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--timeout", type=int, default=120, help="seconds to the marker line")
    ap.add_argument("--console", action="store_true",
                    help="test --console virtio (a shell on hvc0) instead of the disks")
    ap.add_argument("--net", action="store_true",
                    help="test --net user (virtio-net on libslirp) instead of the disks")
    ap.add_argument("--tap", action="store_true",
                    help="test --net tap=IFNAME (a tap device this test creates)")
    ap.add_argument("--vsock", action="store_true",
                    help="test --vsock (virtio-vsock, hybrid vsock) instead of the disks")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(HERE))

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
    if a.console:
        return console_main(a, kernel, release, env["INITRD"])
    if a.net:
        return net_main(a, kernel, release, env["INITRD"])
    if a.vsock:
        return vsock_main(a, kernel, release, env["INITRD"])
    if a.tap:
        return tap_main(a, kernel, release, env["INITRD"])
    initrd = os.path.join(a.builddir, "softkvm-virtio-initramfs.cpio.gz")
    make_initrd(env["INITRD"], release, initrd)

    disk = os.path.join(a.builddir, "softkvm-virtio-disk.img")
    rodisk = os.path.join(a.builddir, "softkvm-virtio-ro.img")
    pattern = bytes((i * 7 + 3) & 0xff for i in range(DISK_SIZE))
    ropattern = bytes((i * 13 + 5) & 0xff for i in range(RO_SIZE))
    with open(disk, "wb") as f:
        f.write(pattern)
    with open(rodisk, "wb") as f:
        f.write(ropattern)
    expect = bytearray(pattern)
    expect[WRITE_OFF:WRITE_OFF + 512] = WRITE_BLOCK
    expect[DISCARD_OFF:DISCARD_OFF + DISCARD_LEN] = bytes(DISCARD_LEN)
    cache = ",cache=none" if has_odirect(disk) else ""
    print("INFO: the disk %s" % ("with cache=none (O_DIRECT)" if cache else
                                 "in the page cache (no O_DIRECT on this file system)"))

    logname = os.path.join(a.builddir, "linux-softkvm-virtio.log")
    cmd = [a.softkvm, "run", "--accel", "soft", "--kernel", kernel, "--initrd", initrd,
           "--append", "console=ttyS0 panic=-1", "--mem", a.mem, "--reboot", "restart",
           "--drive", "file=%s,format=raw,serial=%s%s" % (disk, SERIAL, cache),
           "--drive", "file=%s,readonly=on" % rodisk, "--rng"]
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
        ok, out = load_modules(g)
        check("the virtio modules load and /dev/vda, /dev/vdb appear", ok, repr(out))

        out, st = g.run("for f in vda/size vdb/size vda/serial vdb/ro; do echo $(cat /sys/block/$f);"
                        " done", 20)
        words = (out or "").split()
        check("virtio-blk: /dev/vda has 2048 sectors, /dev/vdb 128",
              words[:2] == [str(DISK_SIZE // 512), str(RO_SIZE // 512)], repr(out))
        check("virtio-blk: the serial (GET_ID) is %s" % SERIAL, words[2:3] == [SERIAL], repr(out))
        check("virtio-blk: /dev/vdb is read-only (VIRTIO_BLK_F_RO)", words[3:4] == ["1"],
              repr(out))

        h, st = sha_of(g, "/dev/vda")
        check("virtio-blk: the guest reads the disk's pattern",
              h == [hashlib.sha256(pattern).hexdigest()], repr(h))
        blk = WRITE_BLOCK.decode()
        out, st = g.run("yes '%s' | head -c 512 > /tmp/blk && timeout 20 dd if=/tmp/blk of=/dev/vda"
                        " bs=512 seek=%d oflag=direct conv=fsync 2>/dev/null" %
                        (blk.split("\n")[0], WRITE_OFF // 512), 30)
        check("virtio-blk: a block written with O_DIRECT and fsync", st == 0, repr(out))
        h, st = read_block(g, WRITE_OFF)
        check("virtio-blk: the block reads back (O_DIRECT)",
              h == [hashlib.sha256(WRITE_BLOCK).hexdigest()], repr(h))
        out, st = g.run("timeout 20 blkdiscard -o %d -l %d /dev/vda && timeout 20 dd if=/dev/vda"
                        " bs=4096 skip=%d count=1 iflag=direct 2>/dev/null | sha256sum" %
                        (DISCARD_OFF, DISCARD_LEN, DISCARD_OFF // 4096), 30)
        check("virtio-blk: 4 KiB discarded (blkdiscard) read back as zeros",
              st == 0 and (out or "").split()[:1] == [hashlib.sha256(bytes(DISCARD_LEN)).hexdigest()],
              repr(out))
        out, st = g.run("echo x | timeout 20 dd of=/dev/vdb bs=512 count=1 conv=fsync 2>&1", 30)
        check("virtio-blk: a write to the read-only drive fails", st not in (0, None), repr(out))
        h, st = sha_of(g, "/dev/vdb")
        check("virtio-blk: the read-only drive holds its pattern",
              h == [hashlib.sha256(ropattern).hexdigest()], repr(h))

        out, st = g.run("cat /sys/class/misc/hw_random/rng_current; timeout 20 head -c 64"
                        " /dev/hwrng | od -An -v -tx1 | wc -w", 30)
        words = (out or "").split()
        check("virtio-rng: it is the current hardware RNG",
              words[:1] and words[0].startswith("virtio_rng"), repr(out))
        check("virtio-rng: head -c 64 /dev/hwrng returns 64 bytes", words[-1:] == ["64"],
              repr(out))
        out, st = g.run("grep -E 'virtio[0-9]-(config|req.0|requests)' /proc/interrupts", 20)
        lines = (out or "").splitlines()
        check("the devices interrupt through MSI-X (virtio0-config, virtio0-req.0 in "
              "/proc/interrupts, PCI-MSI)",
              any("virtio0-req.0" in l and "PCI-MSI" in l for l in lines) and
              any("virtio0-config" in l for l in lines), repr(out))
        print("INFO: the checks took %.1f s" % (time.time() - t1))

        # a guest reset: softkvm builds the machine again and the disk is still there
        start = len(g.out)
        g.p.stdin.write(b"reboot -f\n")
        g.p.stdin.flush()
        t2 = time.time()
        m = g.wait_for(MARKER, a.timeout, start)
        if check("reboot -f: the guest boots again", m is not None,
                 "no second marker; last output: %r" % g.out[-300:]):
            print("INFO: rebooted in %.1f s" % (time.time() - t2))
            ok, out = load_modules(g)
            check("after the reboot: the modules load again", ok, repr(out))
            h, st = read_block(g, WRITE_OFF)
            check("after the reboot: the written block reads back",
                  h == [hashlib.sha256(WRITE_BLOCK).hexdigest()], repr(h))
        status = g.poweroff()
        check("poweroff -f ends softkvm with status 0", status == 0, "status %s" % status)
        check("the kernel powered down", b"reboot: Power down" in g.out)
    with open(disk, "rb") as f:
        data = f.read()
    check("the image file on the host holds the written block",
          data[WRITE_OFF:WRITE_OFF + 512] == WRITE_BLOCK)
    check("the image file on the host is the pattern, the block and the discarded zeros",
          data == bytes(expect))
    with open(rodisk, "rb") as f:
        check("the read-only image is unchanged", f.read() == ropattern)
    print("INFO: %.1f s in all" % (time.time() - t0))
    return finish(g)


def console_main(a, kernel, release, base):
    """--console virtio: the terminal's input goes to hvc0, where the shell is"""
    initrd = os.path.join(a.builddir, "softkvm-virtio-console-initramfs.cpio.gz")
    make_initrd(base, release, initrd, CONSOLE_MODULES,
                CONSOLE_INIT % " ".join(os.path.basename(m) for m in CONSOLE_MODULES))
    logname = os.path.join(a.builddir, "linux-softkvm-virtio-console.log")
    cmd = [a.softkvm, "run", "--accel", "soft", "--kernel", kernel, "--initrd", initrd,
           "--append", "console=ttyS0 panic=-1", "--mem", a.mem, "--console", "virtio"]
    print("$ " + " ".join(cmd))
    print("console log: " + logname)
    t0 = time.time()
    with open(logname, "wb") as log:
        g = Guest(cmd, log)
        m = g.wait_for(HVC_READY, a.timeout)
        if not check("boots, loads virtio_console and /dev/hvc0 appears",
                     m is not None and m.group(1) == b"hvc0 ready",
                     "last output: %r" % g.out[-300:]):
            g.p.kill()
            g.p.wait()
            return finish(g)
        print("INFO: hvc0 after %.1f s" % (time.time() - t0))
        out, st = g.run("tty", 30)
        check("the shell typed at runs on /dev/hvc0", st == 0 and (out or "").strip() == "/dev/hvc0",
              repr(out))
        long_word = "x" * 300
        out, st = g.run("echo %s | wc -c; echo $((6 * 7))" % long_word, 30)
        check("a 300-character command line (more than one read of the terminal)",
              st == 0 and (out or "").split() == ["301", "42"], repr(out))
        out, st = g.run("seq 1 3000 | tail -n 1; seq 1 3000 | wc -l; seq 1 3000", 60)
        lines = (out or "").split()
        check("14 KiB of output through the transmit queue, in order",
              st == 0 and lines[:2] == ["3000", "3000"] and
              lines[2:] == [str(k) for k in range(1, 3001)], repr((out or "")[-200:]))
        out, st = g.run("cat /sys/class/tty/hvc0/dev", 30)
        check("hvc0 is a tty device of the virtio console", st == 0 and out and "229:0" in out,
              repr(out))
        status = g.poweroff()
        check("poweroff -f on hvc0 ends softkvm with status 0", status == 0,
              "status %s" % status)
    print("INFO: %.1f s in all" % (time.time() - t0))
    return finish(g)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def net_up(g):
    """load virtio_net, wait for eth0, print its MAC, lease an address (not set: -s /bin/true)"""
    return g.run("for m in %s; do insmod /virtio/$m || echo FAILED $m; done; "
                 "for i in $(seq 100); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1;"
                 " done; cat /sys/class/net/eth0/address; ip link set lo up; ip link set eth0 up"
                 " && timeout 30 udhcpc -i eth0 -f -q -n -t 10 -T 2 -s /bin/true 2>&1" %
                 " ".join(os.path.basename(m) for m in NET_MODULES), 60)


def check_hostfwd(g, hport, prefix):
    """a guest `nc -l` server sends 108894 bytes to a host client through hostfwd"""
    g.run("seq 1 20000 > /tmp/srv; (nc -l -p %d < /tmp/srv >/dev/null 2>&1 &); sleep 0.5" %
          NET_GUEST_PORT, 20)
    want = "".join("%d\n" % k for k in range(1, 20001)).encode()
    got, why = b"", ""
    try:
        c = socket.create_connection(("127.0.0.1", hport), timeout=30)
        c.settimeout(30)
        while len(got) < len(want):
            b = c.recv(65536)
            if not b:
                break
            got += b
        c.close()
    except OSError as e:
        why = str(e)
    check("%sa host client of 127.0.0.1:%d receives the guest server's %d bytes (hostfwd)"
          % (prefix, hport, len(want)), got == want, "%s; %d bytes" % (why, len(got)))


def net_main(a, kernel, release, base):
    """--net user: DHCP, a guest client of a host server, a host client of a guest server"""
    import threading
    initrd = os.path.join(a.builddir, "softkvm-virtio-net-initramfs.cpio.gz")
    make_initrd(base, release, initrd, NET_MODULES)
    # the host's server, reached by the guest through 10.0.2.2
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(120)
    port = srv.getsockname()[1]
    served = []

    def serve():
        try:
            c, _ = srv.accept()
            c.sendall(NET_DATA)
            c.close()
            served.append(True)
        except OSError as e:
            served.append(e)

    threading.Thread(target=serve, daemon=True).start()
    hport = free_port()
    logname = os.path.join(a.builddir, "linux-softkvm-virtio-net.log")
    cmd = [a.softkvm, "run", "--accel", "soft", "--kernel", kernel, "--initrd", initrd,
           "--append", "console=ttyS0 panic=-1", "--mem", a.mem, "--reboot", "restart",
           "--net", "user,hostfwd=tcp:127.0.0.1:%d-:%d" % (hport, NET_GUEST_PORT)]
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
        out, st = net_up(g)
        check("virtio_net loads and eth0 appears with the MAC 52:54:00:12:34:56",
              st == 0 and out is not None and "FAILED" not in out and
              "52:54:00:12:34:56" in out.split(), repr(out))
        check("udhcpc gets the lease 10.0.2.15 from the user network",
              st == 0 and out is not None and "lease of 10.0.2.15 obtained" in out, repr(out))
        out, st = g.run("ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2;"
                        " cat /sys/class/net/eth0/carrier", 20)
        check("the address is set and the link is up (VIRTIO_NET_F_STATUS)",
              st == 0 and (out or "").split()[-1:] == ["1"], repr(out))
        out, st = g.run("timeout 30 nc 10.0.2.2 %d </dev/null | sha256sum" % port, 40)
        check("the guest fetches %d KiB from a host server on 127.0.0.1:%d through 10.0.2.2"
              % (len(NET_DATA) >> 10, port),
              st == 0 and (out or "").split()[:1] == [hashlib.sha256(NET_DATA).hexdigest()]
              and served == [True], repr((out, served)))
        # a guest server reached through hostfwd
        check_hostfwd(g, hport, "")
        out, st = g.run("grep -E 'virtio0-(input|output).0' /proc/interrupts", 20)
        lines = (out or "").splitlines()
        check("the queues interrupt through MSI-X (virtio0-input.0, virtio0-output.0)",
              len(lines) == 2 and all("PCI-MSI" in l for l in lines), repr(out))
        print("INFO: the checks took %.1f s" % (time.time() - t1))
        # a guest reset: the network is built again, hostfwd listens again
        start = len(g.out)
        g.p.stdin.write(b"reboot -f\n")
        g.p.stdin.flush()
        m = g.wait_for(MARKER, a.timeout, start)
        if check("reboot -f: the guest boots again", m is not None,
                 "no second marker; last output: %r" % g.out[-300:]):
            out, st = net_up(g)
            check("after the reboot: udhcpc gets 10.0.2.15 again",
                  st == 0 and out is not None and "lease of 10.0.2.15 obtained" in out, repr(out))
            g.run("ip addr add 10.0.2.15/24 dev eth0", 20)
            check_hostfwd(g, hport, "after the reboot: ")
        status = g.poweroff()
        check("poweroff -f ends softkvm with status 0", status == 0, "status %s" % status)
    srv.close()
    print("INFO: %.1f s in all" % (time.time() - t0))
    return finish(g)


def tap_main(a, kernel, release, base):
    """--net tap=IFNAME: a guest client of a host server and the other way, through a tap"""
    import threading
    if os.geteuid() != 0 or not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        skip("--net tap needs root and /dev/net/tun to create a tap device")
    name = "skvmtap%d" % (os.getpid() % 100000)
    sub = 10 + os.getpid() % 200
    host_ip, guest_ip = "10.77.%d.1" % sub, "10.77.%d.2" % sub
    p = subprocess.run("ip tuntap add dev %s mode tap && ip addr add %s/24 dev %s && "
                       "ip link set %s up" % (name, host_ip, name, name), shell=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        subprocess.run(["ip", "tuntap", "del", "dev", name, "mode", "tap"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        skip("cannot create a tap device here: " + p.stdout.strip())
    try:
        return tap_run(a, kernel, release, base, name, host_ip, guest_ip)
    finally:
        subprocess.run(["ip", "tuntap", "del", "dev", name, "mode", "tap"])


def tap_run(a, kernel, release, base, name, host_ip, guest_ip):
    import threading
    initrd = os.path.join(a.builddir, "softkvm-virtio-net-initramfs.cpio.gz")
    make_initrd(base, release, initrd, NET_MODULES)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host_ip, 0))
    srv.listen(4)
    srv.settimeout(120)
    port = srv.getsockname()[1]
    served = []

    def serve():
        for _ in range(2):
            try:
                c, _ = srv.accept()
                c.sendall(NET_DATA)
                c.close()
                served.append(True)
            except OSError as e:
                served.append(e)
                return

    threading.Thread(target=serve, daemon=True).start()
    logname = os.path.join(a.builddir, "linux-softkvm-virtio-tap.log")
    cmd = [a.softkvm, "run", "--accel", "soft", "--kernel", kernel, "--initrd", initrd,
           "--append", "console=ttyS0 panic=-1", "--mem", a.mem, "--reboot", "restart",
           "--net", "tap=" + name]
    print("$ " + " ".join(cmd))
    print("console log: " + logname)
    t0 = time.time()
    up = ("for m in %s; do insmod /virtio/$m || echo FAILED $m; done; "
          "for i in $(seq 100); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done; "
          "ip link set eth0 up && ip addr add %s/24 dev eth0 && cat /sys/class/net/eth0/address"
          % (" ".join(os.path.basename(m) for m in NET_MODULES), guest_ip))

    def checks(prefix):
        out, st = g.run(up, 60)
        check("%svirtio_net on the tap: eth0 with the MAC, %s" % (prefix, guest_ip),
              st == 0 and "FAILED" not in (out or "") and "52:54:00:12:34:56" in (out or ""),
              repr(out))
        out, st = g.run("timeout 30 nc %s %d </dev/null | sha256sum" % (host_ip, port), 40)
        check("%sthe guest fetches %d KiB from a host server on %s:%d through the tap"
              % (prefix, len(NET_DATA) >> 10, host_ip, port),
              st == 0 and (out or "").split()[:1] == [hashlib.sha256(NET_DATA).hexdigest()],
              repr((out, served)))
        g.run("seq 1 20000 > /tmp/srv; (nc -l -p %d < /tmp/srv >/dev/null 2>&1 &); sleep 0.5"
              % NET_GUEST_PORT, 20)
        want = "".join("%d\n" % k for k in range(1, 20001)).encode()
        got, why = b"", ""
        try:
            c = socket.create_connection((guest_ip, NET_GUEST_PORT), timeout=30)
            c.settimeout(30)
            while len(got) < len(want):
                b = c.recv(65536)
                if not b:
                    break
                got += b
            c.close()
        except OSError as e:
            why = str(e)
        check("%sa host client of %s:%d receives the guest server's %d bytes"
              % (prefix, guest_ip, NET_GUEST_PORT, len(want)), got == want,
              "%s; %d bytes" % (why, len(got)))

    with open(logname, "wb") as log:
        g = Guest(cmd, log)
        m = g.wait_for(MARKER, a.timeout)
        if not check("boots to the marker line", m is not None,
                     "no marker after %d s; last output: %r" % (a.timeout, g.out[-300:])):
            g.p.kill()
            g.p.wait()
            return finish(g)
        checks("")
        start = len(g.out)
        g.p.stdin.write(b"reboot -f\n")
        g.p.stdin.flush()
        m = g.wait_for(MARKER, a.timeout, start)
        if check("reboot -f: the guest boots again", m is not None,
                 "no second marker; last output: %r" % g.out[-300:]):
            checks("after the reboot: ")
        status = g.poweroff()
        check("poweroff -f ends softkvm with status 0", status == 0, "status %s" % status)
    srv.close()
    print("INFO: %.1f s in all" % (time.time() - t0))
    return finish(g)


VSOCK_MODULES = MODULES[:5] + ["net/vmw_vsock/vsock.ko",
                               "net/vmw_vsock/vmw_vsock_virtio_transport_common.ko",
                               "net/vmw_vsock/vmw_vsock_virtio_transport.ko"]
VSOCK_CID = 42
VSOCK_BYTES = 1 << 20


def vsock_pattern(n):
    return bytes(((i * 131 + (i >> 12)) & 0xff) for i in range(n))


def vsock_echo_server(path, stop):
    """a host echo server on the Unix socket path (one thread per connection)"""
    import threading
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    srv.settimeout(0.5)

    def echo(c):
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
        c.close()

    def loop():
        while not stop:
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            threading.Thread(target=echo, args=(c,), daemon=True).start()
        srv.close()

    threading.Thread(target=loop, daemon=True).start()


def vsock_host_connect(path, port, data, timeout=60):
    """connect to SOCK, CONNECT port; returns (the OK line, the bytes echoed)"""
    import threading
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(timeout)
    c.connect(path)
    c.sendall(b"CONNECT %d\n" % port)
    line = b""
    try:
        while not line.endswith(b"\n"):
            b = c.recv(1)
            if not b:
                break
            line += b
    except OSError as e:
        c.close()
        return "%r (%s)" % (line, e), b""
    if not line.startswith(b"OK "):
        c.close()
        return line.decode(errors="replace"), b""

    def send():
        try:
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    t = threading.Thread(target=send, daemon=True)
    t.start()
    got = []
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            got.append(b)
    except OSError:
        pass
    t.join(5)
    c.close()
    return line.decode(errors="replace"), b"".join(got)


def vsock_checks(g, sock, prefix):
    data = vsock_pattern(VSOCK_BYTES)
    out, st = g.run("timeout 60 /bin/vsockecho connect 2 5000 %d" % VSOCK_BYTES, 70)
    check("%sguest -> host: 1 MiB through CID 2 port 5000 (%s_5000) echoed back" % (prefix, sock),
          st == 0 and "echo ok %d" % VSOCK_BYTES in (out or ""), repr(out))
    out, st = g.run("timeout 20 /bin/vsockecho connect 2 5999 16", 30)
    check("%sguest -> host: a port without a host listener is refused (RST)" % prefix,
          st == 1 and "connect failed: Connection reset by peer" in (out or ""), repr(out))
    g.run("(/bin/vsockecho listen 6000 1 > /tmp/vl 2>&1 &); sleep 0.5; cat /tmp/vl", 20)
    line, got = vsock_host_connect(sock, 6000, data)
    check("%shost -> guest: CONNECT 6000 answers 'OK <port>'" % prefix,
          re.match(r"OK \d+\n$", line) is not None, repr(line))
    check("%shost -> guest: 1 MiB through the guest's echo server comes back" % prefix,
          got == data, "%d bytes" % len(got))
    line, got = vsock_host_connect(sock, 7000, b"x", 20)
    check("%shost -> guest: CONNECT to a port nobody listens on is closed without OK" % prefix,
          line == "" and got == b"", repr(line))


def vsock_main(a, kernel, release, base):
    """--vsock: echo both ways through Firecracker's hybrid vsock"""
    import shutil
    import tempfile
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        skip("no C compiler for the guest's vsockecho")
    tool = os.path.join(a.builddir, "vsockecho")
    p = subprocess.run([cc, "-static", "-O2", "-o", tool, os.path.join(HERE, "vsockecho.c")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        skip("cannot build a static vsockecho: " + p.stdout.strip()[:300])
    with open(tool, "rb") as f:
        initrd = os.path.join(a.builddir, "softkvm-virtio-vsock-initramfs.cpio.gz")
        make_initrd(base, release, initrd, VSOCK_MODULES, extra=[("bin/vsockecho", f.read())])
    tmp = tempfile.mkdtemp(prefix="skvm-vsock-")
    sock = os.path.join(tmp, "v.sock")
    stop = []
    vsock_echo_server(sock + "_5000", stop)
    logname = os.path.join(a.builddir, "linux-softkvm-virtio-vsock.log")
    cmd = [a.softkvm, "run", "--accel", "soft", "--kernel", kernel, "--initrd", initrd,
           "--append", "console=ttyS0 panic=-1", "--mem", a.mem, "--reboot", "restart",
           "--vsock", "cid=%d,path=%s" % (VSOCK_CID, sock)]
    print("$ " + " ".join(cmd))
    print("console log: " + logname)
    t0 = time.time()
    load = ("for m in %s; do insmod /virtio/$m || echo FAILED $m; done; "
            "for i in $(seq 100); do [ -c /dev/vsock ] && break; sleep 0.1; done; "
            "ls /dev/vsock" % " ".join(os.path.basename(m) for m in VSOCK_MODULES))
    with open(logname, "wb") as log:
        g = Guest(cmd, log)
        m = g.wait_for(MARKER, a.timeout)
        if not check("boots to the marker line", m is not None,
                     "no marker after %d s; last output: %r" % (a.timeout, g.out[-300:])):
            g.p.kill()
            g.p.wait()
            return finish(g)
        check("softkvm listens on %s" % sock, os.path.exists(sock))
        out, st = g.run(load, 60)
        check("the vsock modules load and /dev/vsock appears",
              st == 0 and "FAILED" not in (out or "") and "/dev/vsock" in (out or ""), repr(out))
        out, st = g.run("grep -l 0x0013 /sys/bus/virtio/devices/*/device", 20)
        check("a virtio device with ID 19 (vsock) is on the bus", st == 0, repr(out))
        vsock_checks(g, sock, "")
        out, st = g.run("grep -E 'virtio0-(rx|tx|event)' /proc/interrupts | grep -c PCI-MSI", 20)
        check("the queues interrupt through MSI-X", (out or "").split()[-1:] == ["3"], repr(out))
        start = len(g.out)
        g.p.stdin.write(b"reboot -f\n")
        g.p.stdin.flush()
        m = g.wait_for(MARKER, a.timeout, start)
        if check("reboot -f: the guest boots again", m is not None,
                 "no second marker; last output: %r" % g.out[-300:]):
            out, st = g.run(load, 60)
            check("after the reboot: /dev/vsock again", st == 0 and "/dev/vsock" in (out or ""),
                  repr(out))
            vsock_checks(g, sock, "after the reboot: ")
        status = g.poweroff()
        check("poweroff -f ends softkvm with status 0", status == 0, "status %s" % status)
    stop.append(True)
    check("softkvm removed %s when it ended" % sock, not os.path.exists(sock))
    shutil.rmtree(tmp, ignore_errors=True)
    print("INFO: %.1f s in all" % (time.time() - t0))
    return finish(g)


def finish(g):
    for pat in qv.BAD:
        hits = [l for l in g.out.split(b"\n") if re.search(pat, l)]
        check("no '%s' in the console log" % pat.decode(), not hits,
              hits[0].decode(errors="replace").strip() if hits else "")
    err = g.err.decode(errors="replace").strip().splitlines()
    check("softkvm run names its accelerator: softkvm", err[:1] == [SOFT_LINE], repr(err[:1]))
    check("nothing else on softkvm's stderr", not err[1:], "\n".join(err[1:]))
    print("%d passed, %d failed" % (checks - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
