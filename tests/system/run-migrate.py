#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""System test: snapshots and live migration of softkvm run (vmm/migration/).

Boots Debian's kernel and the busybox initramfs (as run-system.py does) with
2 vCPUs, plus memstress (memstress.c) in a second archive, and starts
`memstress MB SECS` on the console: it keeps rewriting a buffer and checks
every word against what its last pass wrote before rewriting it, printing
per pass the checksum it read and the one expected; its last line counts the
pages that lost a write. While it runs:

  --mode migrate   (--uri unix|tcp) a second softkvm waits with --incoming;
                   QMP migrate, query-migrate until completed (total time and
                   downtime printed); the source is left paused and quits;
                   memstress finishes on the target: checksums agree, 0 bad
                   pages, and the shell still answers; then poweroff.
                   Before that, the error cases: migrate to a URI nobody
                   listens on (failed, the source keeps running), migrate to
                   a listener that never reads then migrate again (There's a
                   migration process in progress) and migrate_cancel
                   (cancelled, the source keeps running), a bad URI.
  --mode snapshot  stop; snapshot-save while running is refused first, to a
                   bad path too; the source quits; `softkvm run --restore`
                   in a new process continues memstress to the same end.
                   Then copies of the file truncated, with one byte flipped,
                   and with another format version are each refused by
                   --restore with one line on stderr naming the file and a
                   non-zero status, as is snapshot-load of them over QMP.
"""
import argparse
import hashlib
import importlib.util
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(os.path.dirname(here), "qmp"))
from guestcon import MARKER, Guest  # noqa: E402
from qmpclient import Client  # noqa: E402

spec = importlib.util.spec_from_file_location("run_system", os.path.join(here, "run-system.py"))
rs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rs)


def check(name, ok, detail=""):
    rs.check(name, bool(ok), detail if isinstance(detail, str) else repr(detail))

spec = importlib.util.spec_from_file_location("run_virtio", os.path.join(here, "run-qemu-virtio.py"))
rv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rv)

PASS = re.compile(rb"memstress: pass (\d+) sum ([0-9a-f]+) expect ([0-9a-f]+) (agree|DIFFER)")
DONE = re.compile(rb"memstress: done, (\d+) passes, (\d+) bad pages, final sum ([0-9a-f]+) "
                  rb"expect ([0-9a-f]+) (agree|DIFFER)")


VIRTIO_MODULES = [
    "drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko", "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci.ko", "drivers/block/virtio_blk.ko",
    "drivers/char/hw_random/virtio-rng.ko",
]
DISK_SIZE = 8 << 20


def make_initrd(base, memstress, out, kernel=None):
    """the base initramfs (+ the virtio modules in /virtio) + an archive with /memstress"""
    if kernel:
        rv.make_initrd(base, re.sub(r"^vmlinuz-", "", os.path.basename(kernel)), out,
                       VIRTIO_MODULES)
        base = out
    with open(memstress, "rb") as f:
        data = rv.cpio_entry("memstress", 0o100755, f.read()) + rv.cpio_entry("TRAILER!!!", 0)
    data += b"\0" * (-len(data) % 512)
    with open(base, "rb") as f:
        first = f.read()
    with open(out, "wb") as f:
        f.write(first + b"\0" * (-len(first) % 512) + data)


def start_disk_reader(g):
    """virtio: load the drivers, then read the disk with O_DIRECT (the device thread writes
    into the guest's buffer) in a loop in the background, one sha256 per pass"""
    out, st = g.run("for m in %s; do insmod /virtio/$m || echo FAILED $m; done; "
                    "for i in $(seq 100); do [ -b /dev/vda ] && break; sleep 0.1; done; "
                    "[ -b /dev/vda ]" % " ".join(os.path.basename(m) for m in VIRTIO_MODULES),
                    60)
    check("virtio: the drivers load and /dev/vda appears", st == 0 and "FAILED" not in (out or ""),
          out)
    out, st = g.run("(while :; do dd if=/dev/vda bs=64k iflag=direct 2>/dev/null | sha256sum; "
                    "done > /tmp/shas 2>&1) & echo $! > /tmp/reader", 30)
    check("virtio: the disk reader runs", st == 0, out)


def check_disk_reader(g, want, label):
    out, st = g.run("kill $(cat /tmp/reader); sleep 0.5; sort /tmp/shas | uniq -c", 60)
    lines = [l.split() for l in (out or "").strip().splitlines() if l.strip()]
    print("INFO: %s: disk passes: %s" % (label, lines))
    check("%s: every read of the disk (O_DIRECT, through the device thread) gave its sha256" %
          label, st == 0 and lines and all(len(l) >= 2 and l[1] == want for l in lines), lines)


def sockpath(builddir, name):
    p = os.path.join(builddir, "%s-%d.sock" % (name, os.getpid()))
    return p if len(p) <= 100 else "/tmp/softkvm-%s-%d.sock" % (name, os.getpid())


def passes(g, start=0):
    return [(int(m.group(1)), m.group(4)) for m in PASS.finditer(g.out, start)]


def wait_pass(g, timeout, start=0):
    """wait for the next pass line after `start`"""
    return g.wait_for(PASS, timeout, start)


def qmp_connect(path, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            try:
                c = Client(path)
                c.recv_msg()
                r = c.cmd("qmp_capabilities")
                if r == {"return": {}}:
                    return c
            except OSError:
                pass
        time.sleep(0.1)
    return None


def err_desc(r):
    return (r or {}).get("error", {}).get("desc", "")


def wait_migration(c, timeout):
    deadline = time.time() + timeout
    r = None
    while time.time() < deadline:
        r = c.cmd("query-migrate")
        st = (r or {}).get("return", {}).get("status")
        if st in ("completed", "failed", "cancelled"):
            return r["return"]
        time.sleep(0.2)
    return (r or {}).get("return")


def finish_on(g, secs, label, a=None):
    """memstress runs on g (2 more passes), is stopped and ends: its passes agree, no bad
    page, the shell answers"""
    n = len(g.out)
    check("%s: memstress goes on here" % label, wait_pass(g, 120, n) is not None and
          wait_pass(g, 120, g.wait_for(PASS, 1, n).end()) is not None)
    g.p.stdin.write(b"touch /tmp/memstress.stop\n")
    g.p.stdin.flush()
    m = g.wait_for(DONE, 120)
    check("%s: memstress finishes" % label, m is not None)
    if not m:
        return False
    ps = passes(g)
    print("INFO: %s: %d pass lines seen here, last pass %s" % (label, len(ps), m.group(1).decode()))
    check("%s: every pass's checksum agrees" % label, ps and all(a == b"agree" for _, a in ps),
          ps[-5:])
    check("%s: 0 pages lost a write, final checksums agree" % label,
          m.group(2) == b"0" and m.group(5) == b"agree", m.group(0))
    out, st = g.run("echo still-$((6*7))", 60)
    check("%s: the shell answers" % label, st == 0 and out and "still-42" in out, out)
    if a and a.virtio:
        check_disk_reader(g, a.disk_sha, label)
    return True


def start_memstress(g, mb, secs, virtio=False):
    """memstress in the background until /tmp/memstress.stop exists (finish_on makes it)"""
    if virtio:
        start_disk_reader(g)
    start = len(g.out)
    g.p.stdin.write(b"/memstress %d 0 & echo $! > /tmp/memstress.pid\n" % mb)
    g.p.stdin.flush()
    m = wait_pass(g, 120, start)
    check("memstress runs on the source", m is not None)
    return m is not None


def error_cases_migrate(a, c, g, tmp):
    # a URI nobody listens on: failed, and the source goes on
    r = c.cmd("migrate", {"uri": "unix:" + os.path.join(tmp, "nobody.sock")})
    check("migrate to a dead socket is accepted", r == {"return": {}}, r)
    i = wait_migration(c, 30)
    check("... and fails, saying why", i and i.get("status") == "failed" and
          "connect" in i.get("error-desc", ""), i)
    r = c.cmd("query-status")
    check("... the source keeps running", r and r["return"]["status"] == "running", r)
    n = len(g.out)
    check("... memstress goes on", wait_pass(g, 60, n) is not None)
    # a bad URI
    r = c.cmd("migrate", {"uri": "ftp:x"})
    check("migrate with a bad URI: GenericError", "Invalid migration URI" in err_desc(r), r)
    r = c.cmd("migrate")
    check("migrate without uri: Parameter 'uri' is missing",
          err_desc(r) == "Parameter 'uri' is missing", r)
    # a listener that never reads: the migration hangs; a second one is refused; cancel
    lpath = os.path.join(tmp, "stall.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(lpath)
    ls.listen(1)
    r = c.cmd("migrate", {"uri": "unix:" + lpath})
    check("migrate to a stalled target", r == {"return": {}}, r)
    conn, _ = ls.accept()
    time.sleep(0.5)
    r = c.cmd("migrate", {"uri": "unix:" + lpath})
    check("migrate while one runs: There's a migration process in progress",
          err_desc(r) == "There's a migration process in progress", r)
    r = c.cmd("query-migrate")
    check("query-migrate: active", r and r["return"].get("status") == "active", r)
    r = c.cmd("migrate_cancel")
    check("migrate_cancel", r == {"return": {}}, r)
    i = wait_migration(c, 30)
    check("... cancelled", i and i.get("status") == "cancelled", i)
    conn.close()
    ls.close()
    r = c.cmd("query-status")
    check("... the source keeps running", r and r["return"]["status"] == "running", r)
    n = len(g.out)
    check("... memstress goes on", wait_pass(g, 60, n) is not None)


def do_migrate(a, kernel, initrd, tmp):
    src_sock = sockpath(a.builddir, "mig-src")
    dst_sock = sockpath(a.builddir, "mig-dst")
    if a.uri == "unix":
        uri = "unix:" + os.path.join(tmp, "mig.sock")
    else:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        uri = "tcp:127.0.0.1:%d" % s.getsockname()[1]
        s.close()
    cmd = [a.softkvm, "run", "--accel", "soft", "--kernel", kernel, "--initrd", initrd,
           "--append", "console=ttyS0 panic=-1", "--cpus", "2", "--mem", "256M",
           "--qmp", "unix:%s,server,wait=off" % src_sock] + a.vopts
    print("$ " + " ".join(cmd))
    log = open(os.path.join(a.builddir, "migrate-%s-src.log" % a.uri), "wb")
    g = Guest(cmd, log)
    c = qmp_connect(src_sock)
    check("source QMP", c is not None)
    m = g.wait_for(MARKER, a.timeout)
    check("source boots to the marker line", m is not None)
    if not m or not c:
        g.p.kill()
        return False
    if not start_memstress(g, a.mb, a.secs, a.virtio):
        g.p.kill()
        return False
    error_cases_migrate(a, c, g, tmp)

    tcmd = [a.softkvm, "run", "--accel", "soft", "--incoming", uri,
            "--qmp", "unix:%s,server,wait=off" % dst_sock] + a.vopts
    print("$ " + " ".join(tcmd))
    tlog = open(os.path.join(a.builddir, "migrate-%s-dst.log" % a.uri), "wb")
    t = Guest(tcmd, tlog)
    deadline = time.time() + 30
    while time.time() < deadline and b"waiting for an incoming migration" not in t.err:
        t.pump(time.time() + 0.2)
    check("the target waits for the source", b"waiting for an incoming migration" in t.err,
          t.err)
    before = passes(g)
    r = c.cmd("migrate", {"uri": uri})
    check("migrate", r == {"return": {}}, r)
    i = wait_migration(c, 180)
    check("query-migrate: completed", i and i.get("status") == "completed", i)
    if i:
        ram = i.get("ram", {})
        print("INFO: migration: total-time %s ms, downtime %s ms, %s rounds, %s bytes sent, "
              "%s normal pages, %s zero pages" % (i.get("total-time"), i.get("downtime"),
                                                   ram.get("dirty-sync-count"),
                                                   ram.get("transferred"), ram.get("normal"),
                                                   ram.get("duplicate")))
    r = c.cmd("query-status")
    check("the source is stopped afterwards (postmigrate)",
          r and r["return"]["status"] == "postmigrate" and not r["return"]["running"], r)
    check("... with a STOP event", c.event("STOP", 5) is not None)
    r = c.cmd("quit")
    check("the source quits", r == {"return": {}}, r)
    try:
        st = g.p.wait(30)
    except subprocess.TimeoutExpired:
        st = None
    check("source exit status 0", st == 0, st)
    g.pump(time.time() + 0.5)
    check("memstress ran on the source before the migration", len(before) >= 1, before)

    ok = finish_on(t, a.secs, "target", a)
    tc = qmp_connect(dst_sock)
    r = tc.cmd("query-status") if tc else None
    check("target QMP: running", r and r["return"]["status"] == "running", r)
    if tc:
        tc.close()
    if ok:
        status = t.poweroff()
        check("target: poweroff -f ends it with status 0", status == 0, status)
    else:
        t.p.kill()
        t.p.wait()
    c.close()
    print("source stderr: " + g.err.decode(errors="replace").strip())
    print("target stderr: " + t.err.decode(errors="replace").strip())
    check("target stderr: only the start-up lines",
          all(l.startswith("softkvm run: ") and ("accelerator" in l or "waiting" in l)
              for l in t.err.decode(errors="replace").strip().splitlines()), t.err)
    return True


def bad_copies(path, tmp):
    data = open(path, "rb").read()
    out = {}
    out["truncated"] = os.path.join(tmp, "truncated.skvm")
    open(out["truncated"], "wb").write(data[:len(data) * 2 // 3])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    out["corrupted"] = os.path.join(tmp, "corrupted.skvm")
    open(out["corrupted"], "wb").write(bytes(flipped))
    # version 2 with a header checksum that matches (another softkvm's file)
    h = bytearray(data[:32])
    h[8:12] = struct.pack("<I", 2)
    h[28:32] = struct.pack("<I", crc32c(bytes(h[:28])))
    out["version"] = os.path.join(tmp, "version.skvm")
    open(out["version"], "wb").write(bytes(h) + data[32:])
    out["empty"] = os.path.join(tmp, "empty.skvm")
    open(out["empty"], "wb").close()
    return out


def crc32c(b):
    crc = 0xffffffff
    for x in b:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82f63b78 if crc & 1 else crc >> 1
    return crc ^ 0xffffffff


WANT = {"truncated": "truncated", "corrupted": "corrupted", "version": "format version 2",
        "empty": "truncated"}


def do_snapshot(a, kernel, initrd, tmp):
    sock = sockpath(a.builddir, "snap")
    snap = os.path.join(tmp, "vm.skvm")
    cmd = [a.softkvm, "run", "--accel", "soft", "--kernel", kernel, "--initrd", initrd,
           "--append", "console=ttyS0 panic=-1", "--cpus", "2", "--mem", "256M",
           "--qmp", "unix:%s,server,wait=off" % sock] + a.vopts
    print("$ " + " ".join(cmd))
    g = Guest(cmd, open(os.path.join(a.builddir, "snapshot-src.log"), "wb"))
    c = qmp_connect(sock)
    check("QMP", c is not None)
    m = g.wait_for(MARKER, a.timeout)
    check("boots to the marker line", m is not None)
    if not m or not c:
        g.p.kill()
        return False
    if not start_memstress(g, a.mb, a.secs, a.virtio):
        g.p.kill()
        return False
    r = c.cmd("snapshot-save", {"path": snap})
    check("snapshot-save while running: refused", "must be stopped" in err_desc(r), r)
    r = c.cmd("stop")
    check("stop", r == {"return": {}}, r)
    r = c.cmd("snapshot-save", {"path": "/nonexistent-dir/vm.skvm"})
    check("snapshot-save to a bad path: one clear error",
          "/nonexistent-dir/vm.skvm" in err_desc(r) and "No such file" in err_desc(r), r)
    r = c.cmd("snapshot-save")
    check("snapshot-save without path", err_desc(r) == "Parameter 'path' is missing", r)
    t0 = time.time()
    r = c.cmd("snapshot-save", {"path": snap})
    check("snapshot-save", r == {"return": {}}, r)
    print("INFO: snapshot-save took %.2f s, %d bytes for 256 MiB" % (time.time() - t0,
                                                                      os.path.getsize(snap)))
    before = passes(g)
    # snapshot-load into the same (stopped) process: the guest goes on from the snapshot too
    r = c.cmd("snapshot-load", {"path": snap})
    check("snapshot-load of it (same process)", r == {"return": {}}, r)
    bad = bad_copies(snap, tmp)
    for k, p in bad.items():
        r = c.cmd("snapshot-load", {"path": p})
        check("snapshot-load of a %s file: refused naming it" % k,
              p in err_desc(r) and WANT[k] in err_desc(r), r)
    r = c.cmd("quit")
    check("quit", r == {"return": {}}, r)
    try:
        st = g.p.wait(30)
    except subprocess.TimeoutExpired:
        st = None
    check("source exit status 0", st == 0, st)
    check("memstress ran before the snapshot", len(before) >= 1, before)

    rcmd = [a.softkvm, "run", "--accel", "soft", "--restore", snap] + a.vopts
    print("$ " + " ".join(rcmd))
    t = Guest(rcmd, open(os.path.join(a.builddir, "snapshot-restored.log"), "wb"))
    ok = finish_on(t, a.secs, "restored", a)
    if ok:
        status = t.poweroff()
        check("restored: poweroff -f ends it with status 0", status == 0, status)
    else:
        t.p.kill()
        t.p.wait()
    err = t.err.decode(errors="replace").strip()
    check("restored stderr: only the accelerator line",
          len(err.splitlines()) == 1 and "accelerator" in err, err)

    for k, p in bad.items():
        pr = subprocess.run([a.softkvm, "run", "--accel", "soft", "--restore", p],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=60)
        lines = pr.stderr.decode(errors="replace").strip().splitlines()
        print("INFO: --restore %s: status %d: %s" % (k, pr.returncode, lines))
        check("--restore of a %s file: one line naming it, non-zero status" % k,
              pr.returncode != 0 and len(lines) == 1 and p in lines[0] and WANT[k] in lines[0],
              (pr.returncode, lines))
    pr = subprocess.run([a.softkvm, "run", "--restore", snap, "--mem", "512M"],
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        timeout=60)
    lines = pr.stderr.decode(errors="replace").strip().splitlines()
    check("--restore with another --mem: refused in one line", pr.returncode != 0 and
          len(lines) == 1 and "256 MiB" in lines[0], (pr.returncode, lines))
    c.close()
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--memstress", required=True)
    ap.add_argument("--mode", choices=["migrate", "snapshot"], required=True)
    ap.add_argument("--uri", choices=["unix", "tcp"], default="unix")
    ap.add_argument("--mb", type=int, default=32, help="memstress buffer (MiB)")
    ap.add_argument("--secs", type=int, default=20, help="memstress run time")
    ap.add_argument("--timeout", type=int, default=300, help="seconds to the marker line")
    ap.add_argument("--virtio", action="store_true",
                    help="with a virtio-blk disk read in a loop and virtio-rng")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(here))
    kernel, base_initrd = rs.locate_guest(root, a.builddir)
    initrd = os.path.join(a.builddir, "memstress%s-initramfs.cpio.gz" %
                          ("-virtio" if a.virtio else ""))
    make_initrd(base_initrd, a.memstress, initrd, kernel if a.virtio else None)
    with tempfile.TemporaryDirectory(prefix="softkvm-mig-") as tmp:
        a.vopts = []
        if a.virtio:
            disk = os.path.join(tmp, "disk.img")
            data = os.urandom(DISK_SIZE)
            open(disk, "wb").write(data)
            a.disk_sha = hashlib.sha256(data).hexdigest()
            # a read-write image is locked (flock) by the source while it lives: the
            # migration target shares it read-only
            a.vopts = ["--drive", "file=%s,format=raw%s" % (
                disk, ",readonly=on" if a.mode == "migrate" else ""), "--rng"]
        if a.mode == "migrate":
            do_migrate(a, kernel, initrd, tmp)
        else:
            do_snapshot(a, kernel, initrd, tmp)
    print("%d passed, %d failed" % (rs.checks - rs.failures, rs.failures))
    return 1 if rs.failures else 0


if __name__ == "__main__":
    sys.exit(main())
