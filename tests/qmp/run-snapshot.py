#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Snapshots of a small guest (vmm/migration/, fast suite).

qmpguest (a multiboot kernel printing "tick N" every 20 ms of the ACPI PM
timer) runs with 2 vCPUs and 4 MiB; QMP stop, snapshot-save; cont, stop,
snapshot-load into the same process and cont: it counts on from the saved
tick again; quit; then
`softkvm run --restore` in a new process goes on ticking from where it
stopped (no "qmpguest: start": it was not booted again), and quits with 0.
Then copies of the file, rewritten with valid checksums by this script (the
format of vmm/migration/README.md), that must be refused with one line
naming the file and status 2 before anything runs: a device record whose
values would index past the device's arrays (COM1's FIFO head, the i8042
queue, the RTC index, fw_cfg's key), a record of an unknown type, a missing
vCPU record, a record twice; and the plain damage: truncated, one byte
flipped, another version.
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from qmpclient import Client  # noqa: E402

failures = 0
checks = 0


def check(name, ok, detail=""):
    global failures, checks
    checks += 1
    print("%s: %s%s" % ("PASS" if ok else "FAIL", name,
                        (" (" + str(detail) + ")") if detail and not ok else ""))
    if not ok:
        failures += 1
    return ok


_TAB = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82f63b78 if _c & 1 else _c >> 1
    _TAB.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc = (crc >> 8) ^ _TAB[(crc ^ b) & 0xff]
    return crc ^ 0xffffffff


def parse(data):
    recs, off = [], 32
    while off < len(data):
        t, i, n, _, _ = struct.unpack_from("<IIQII", data, off)
        recs.append([t, i, bytes(data[off + 24:off + 24 + n])])
        off += 24 + n
    return data[:32], recs


def build(header, recs):
    out, crc_all, n = bytearray(header), 0, 0
    for t, i, p in recs:
        if t == 0xff:
            continue
        h = struct.pack("<IIQI", t, i, len(p), crc32c(p))
        h += struct.pack("<I", crc32c(h))
        out += h + p
        crc_all = crc32c(h + p, crc_all)
        n += 1
    p = struct.pack("<QII", n, crc_all, 0)
    h = struct.pack("<IIQI", 0xff, 0, len(p), crc32c(p))
    out += h + struct.pack("<I", crc32c(h)) + p
    return bytes(out)


def patched(header, recs, rtype, off, value):
    """a copy with bytes at `off` of the first record of type rtype replaced"""
    out = []
    done = False
    for t, i, p in recs:
        if t == rtype and not done:
            p = p[:off] + value + p[off + len(value):]
            done = True
        out.append([t, i, p])
    return build(header, out)


class Guest:
    def __init__(self, cmd):
        print("$ " + " ".join(cmd))
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.out = b""

    def read(self):
        try:
            d = self.p.stdout.read()
            if d:
                self.out += d
        except (BlockingIOError, TypeError):
            pass
        return self.out

    def ticks(self):
        return [int(x) for x in re.findall(rb"tick (\d+)", self.read())]

    def wait_tick(self, n, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            t = self.ticks()
            if t and t[-1] >= n:
                return True
            time.sleep(0.05)
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--kernel", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="softkvm-snap-") as tmp:
        sock = os.path.join(tmp, "q.sock")
        snap = os.path.join(tmp, "vm.skvm")
        g = Guest([a.softkvm, "run", "--kernel", a.kernel, "--cpus", "2", "--mem", "4M",
                   "--qmp", "unix:%s,server,wait=off" % sock])
        c = Client(sock)
        c.recv_msg()
        check("qmp_capabilities", c.cmd("qmp_capabilities") == {"return": {}})
        check("the guest ticks", g.wait_tick(5))
        check("stop", c.cmd("stop") == {"return": {}})
        time.sleep(0.2)
        last = g.ticks()[-1]
        r = c.cmd("snapshot-save", {"path": snap})
        check("snapshot-save", r == {"return": {}}, r)
        # snapshot-load into the same process: the guest's tick counter goes back
        check("cont", c.cmd("cont") == {"return": {}})
        check("ticks on", g.wait_tick(last + 20))
        check("stop again", c.cmd("stop") == {"return": {}})
        time.sleep(0.2)
        n = len(g.ticks())
        r = c.cmd("snapshot-load", {"path": snap})
        check("snapshot-load (same process)", r == {"return": {}}, r)
        check("cont after the load", c.cmd("cont") == {"return": {}})
        time.sleep(0.5)
        t = g.ticks()[n:]
        check("after the load the guest counts on from tick %d again" % last,
              t and last <= t[0] <= last + 2, t[:3])
        check("stop", c.cmd("stop") == {"return": {}})
        check("quit", c.cmd("quit") == {"return": {}})
        check("status 0", g.p.wait(30) == 0)
        c.close()
        size = os.path.getsize(snap)
        print("INFO: snapshot of 4 MiB: %d bytes (zero pages left out)" % size)
        check("zero pages are left out", size < 1 << 20, size)

        sock2 = os.path.join(tmp, "q2.sock")
        g2 = Guest([a.softkvm, "run", "--restore", snap, "--qmp",
                    "unix:%s,server,wait=off" % sock2])
        ok = g2.wait_tick(last + 10)
        t = g2.ticks()
        check("restored: it goes on ticking from tick %d" % last, ok and t and t[0] <= last + 2
              and t[0] >= last, t[:3])
        check("restored: not booted again", b"qmpguest: start" not in g2.out)
        c2 = Client(sock2)
        c2.recv_msg()
        c2.cmd("qmp_capabilities")
        r = c2.cmd("query-status")
        check("restored: running", r and r["return"]["status"] == "running", r)
        c2.cmd("quit")
        check("restored: status 0 after quit", g2.p.wait(30) == 0)
        c2.close()

        data = open(snap, "rb").read()
        header, recs = parse(data)
        check("the file parses as the README says, ending in END",
              recs and recs[0][0] == 1 and recs[-1][0] == 0xff and build(header, recs) == data)
        bad = {
            "COM1 FIFO head past the FIFO": patched(header, recs, 0x30, 16, struct.pack("<I", 1000)),
            "i8042 queue head past the queue": patched(header, recs, 0x33, 12, struct.pack("<I", 99)),
            "RTC index past the CMOS": patched(header, recs, 0x31, 0, b"\xc8"),
            "fw_cfg key past its items": patched(header, recs, 0x37, 0, struct.pack("<HB", 0x3fff, 1)),
            "an unknown record type": build(header, recs[:-1] + [[0x77, 0, b"x"]]),
            "a vCPU's registers missing": build(header, [r for r in recs
                                                          if not (r[0] == 0x10 and r[1] == 1)]),
            "a vCPU's registers twice": build(header, recs[:-1] + [next(r for r in recs
                                                                        if r[0] == 0x10)]),
            "truncated": data[:len(data) // 2],
            "a byte flipped": data[:len(data) // 3] + bytes([data[len(data) // 3] ^ 1])
            + data[len(data) // 3 + 1:],
            "version 2": data[:8] + struct.pack("<I", 2) + data[12:28]
            + struct.pack("<I", crc32c(data[:8] + struct.pack("<I", 2) + data[12:28])) + data[32:],
        }
        for name, content in bad.items():
            p = os.path.join(tmp, "bad.skvm")
            open(p, "wb").write(content)
            try:
                pr = subprocess.run([a.softkvm, "run", "--restore", p], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            except subprocess.TimeoutExpired:
                check("--restore refuses %s" % name, False, "it ran (killed after 30 s)")
                continue
            lines = pr.stderr.decode(errors="replace").strip().splitlines()
            print("INFO: %s: status %d: %s" % (name, pr.returncode, lines))
            check("--restore refuses %s: one line naming the file, status 2" % name,
                  pr.returncode == 2 and len(lines) == 1 and p in lines[0]
                  and not pr.stdout, (pr.returncode, lines, pr.stdout[:80]))

        # a virtio-vsock device's connections to host sockets cannot be saved: refused
        sock3 = os.path.join(tmp, "q3.sock")
        g3 = Guest([a.softkvm, "run", "--kernel", a.kernel, "--mem", "4M", "--vsock",
                    "cid=3,path=%s" % os.path.join(tmp, "v.sock"),
                    "--qmp", "unix:%s,server,wait=off" % sock3])
        c3 = Client(sock3)
        c3.recv_msg()
        c3.cmd("qmp_capabilities")
        check("the guest ticks (with --vsock)", g3.wait_tick(2))
        check("stop (with --vsock)", c3.cmd("stop") == {"return": {}})
        r = c3.cmd("snapshot-save", {"path": os.path.join(tmp, "vsock.skvm")})
        desc = r.get("error", {}).get("desc", "")
        check("snapshot-save with virtio-vsock: refused, naming it", "virtio-vsock" in desc
              and "cannot be saved" in desc, r)
        check("no file left", not os.path.exists(os.path.join(tmp, "vsock.skvm")))
        check("quit", c3.cmd("quit") == {"return": {}})
        g3.p.wait(30)
        c3.close()
    print("%d passed, %d failed" % (checks - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
