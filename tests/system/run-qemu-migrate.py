#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""System test: QEMU -accel kvm under softkvm exec, saved and restored mid-run.

QEMU 7.2 boots Debian's cloud kernel with the busybox initramfs on softkvm's
/dev/kvm (`softkvm exec`, in-kernel irqchip, 1 vCPU, the fixed CPU model of
run-qemu-virtio.py). Once its shell is up and its local timer ticks, QMP stops
the VM and migrates it to a file (`exec:cat > FILE`); that QEMU quits, a new
one starts with `-incoming "exec:cat FILE"` and continues it. The restored
guest must go on as if nothing happened: its local timer ticks (LOC in
/proc/interrupts grows across `sleep 1`, which returns), its shell answers,
and it powers off with QEMU's status 0. This is QEMU's loadvm/migration path
through KVM_SET_LAPIC (QEMU never saves TMCCT), KVM_SET_MSRS (the TSC
deadline), KVM_SET_VCPU_EVENTS, KVM_SET_IRQCHIP, KVM_SET_PIT2 and kvmclock.

--timer oneshot boots with lapic=notscdeadline, so Linux runs its local timer
in one-shot mode: before KVM_SET_LAPIC restarted a one-shot timer from
TMCCT = 0, the restored guest froze (LOC stopped, `sleep 1` never returned).
--timer tscdeadline keeps Linux's default TSC-deadline mode.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "qmp"))
from guestcon import MARKER, Guest  # noqa: E402
from qmpclient import Client  # noqa: E402

# the same fixed identity as run-qemu-virtio.py
CPU = ("Snowridge,-mpx,-vme,-pclmulqdq,-aes,-rdrand,-rdseed,-sha-ni,-gfni,-cldemote,"
       "-movdiri,-movdir64b,-core-capability,-split-lock-detect,-xgetbv1,"
       "-kvm-nopiodelay,-kvm-asyncpf,-kvm-steal-time,-kvm-pv-eoi")
BAD = [
    rb"Oops", rb"WARNING:", rb"BUG:", rb"Kernel panic", rb"Call Trace",
    rb"unchecked MSR access", rb"general protection fault", rb"invalid opcode",
    rb"soft lockup", rb"hard LOCKUP", rb"blocked for more than", rb"rcu: INFO:",
    rb"self-detected stall", rb"segfault at", rb"Attempted to kill init",
]

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


def qmp_open(path):
    """QEMU's QMP socket (tests/qmp/qmpclient.py), capabilities negotiated"""
    c = Client(path, timeout=60)
    c.recv_msg(60)  # the greeting
    c.cmd("qmp_capabilities")
    return c


def qmp_wait(c, name, key, want, timeout):
    """poll command name until its return's key is in want; that value, or None"""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = (c.cmd(name) or {}).get("return", {})
        if r.get(key) in want:
            return r.get(key)
        time.sleep(0.2)
    return None


def loc(out):
    return [int(x) for x in re.findall(r"(?m)^\s*LOC:\s*(\d+)", out or "")]


def timer_ticks(g, what):
    out, st = g.run("grep LOC /proc/interrupts; timeout 15 sleep 1; echo slept $?; "
                    "grep LOC /proc/interrupts", 40)
    counts = loc(out)
    check("%s: sleep 1 returns" % what, st == 0 and out is not None and "slept 0" in out,
          repr(out))
    check("%s: the local timer ticks (LOC grows across sleep 1)" % what,
          len(counts) == 2 and counts[1] > counts[0], repr(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--timer", choices=["oneshot", "tscdeadline"], default="oneshot")
    ap.add_argument("--cpu", default=CPU)
    ap.add_argument("--timeout", type=int, default=120, help="seconds to the marker line")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("SKIP: qemu-system-x86_64 is not installed")
        return 77
    p = subprocess.run([os.path.join(root, "scripts", "linux-guest.sh"), "--install",
                        os.path.join(a.builddir, "linux-guest")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode == 77:
        print("SKIP: " + p.stderr.strip())
        return 77
    if p.returncode:
        print("linux-guest.sh failed: " + p.stderr.strip())
        return 1
    env = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)

    tag = "migrate-" + a.timer
    state = os.path.join(a.builddir, "qemu-%s.state" % tag)
    qmp = [os.path.join(a.builddir, "qmp-%s-%d.sock" % (tag, k)) for k in (1, 2)]
    for f in [state] + qmp:
        if os.path.exists(f):
            os.unlink(f)
    append = "console=ttyS0 panic=-1" + (" lapic=notscdeadline" if a.timer == "oneshot" else "")

    def qemu_cmd(sock, extra):
        return [a.softkvm, "exec", "--", qemu, "-accel", "kvm", "-cpu", a.cpu,
                "-machine", "pc", "-m", "256", "-smp", "1", "-nodefaults", "-display", "none",
                "-serial", "stdio", "-monitor", "none", "-qmp", "unix:%s,server=on,wait=off" % sock,
                "-no-reboot", "-kernel", env["KERNEL"], "-initrd", env["INITRD"],
                "-append", append] + extra

    guests = []
    logs = [os.path.join(a.builddir, "linux-qemu-%s-%s.log" % (tag, w)) for w in ("src", "dst")]
    cmd = qemu_cmd(qmp[0], [])
    print("$ " + " ".join(cmd))
    t0 = time.time()
    with open(logs[0], "wb") as log:
        g = Guest(cmd, log)
        guests.append(g)
        m = g.wait_for(MARKER, a.timeout)
        if not check("boots to the marker line", m is not None,
                     "no marker after %d s; last output: %r" % (a.timeout, g.out[-300:])):
            g.p.kill()
            g.p.wait()
            return finish(guests)
        print("INFO: marker after %.1f s" % (time.time() - t0))
        out, st = g.run("grep 'Clock Event Device' /proc/timer_list", 30)
        want = "lapic-deadline" if a.timer == "tscdeadline" else "lapic"
        check("the guest's clock event device is %s" % want,
              st == 0 and out is not None and re.search(r"Device: %s\n" % want, out) is not None,
              repr(out))
        timer_ticks(g, "before the save")

        q = qmp_open(qmp[0])
        q.cmd("stop")
        r = q.cmd("migrate", {"uri": "exec:cat > %s" % state})
        check("QMP migrate to a file starts", r is not None and "return" in r, repr(r))
        st = qmp_wait(q, "query-migrate", "status", ("completed", "failed", "cancelled"), 120)
        check("the migration completes", st == "completed", "status %s" % st)
        try:
            q.cmd("quit")
        except (EOFError, OSError):
            pass
        g.p.wait(timeout=60)
        while g.pump(time.time() + 1):
            pass
        check("the first QEMU quits with status 0", g.p.returncode == 0,
              "status %s" % g.p.returncode)
    print("INFO: saved %d MiB after %.1f s" % (os.path.getsize(state) >> 20, time.time() - t0))

    cmd = qemu_cmd(qmp[1], ["-incoming", "exec:cat %s" % state])
    print("$ " + " ".join(cmd))
    with open(logs[1], "wb") as log:
        g = Guest(cmd, log)
        guests.append(g)
        q = qmp_open(qmp[1])
        st = qmp_wait(q, "query-status", "status", ("paused", "postmigrate", "running"), 120)
        check("the second QEMU loads the state", st in ("paused", "running"), "status %s" % st)
        q.cmd("cont")
        timer_ticks(g, "after the restore")
        out, st = g.run("echo restored-$((6 * 7))", 30)
        check("after the restore: the shell answers",
              st == 0 and out is not None and out.strip() == "restored-42", repr(out))
        status = g.poweroff()
        check("poweroff -f ends the restored QEMU with status 0", status == 0,
              "status %s" % status)
    print("INFO: done after %.1f s" % (time.time() - t0))
    os.unlink(state)
    return finish(guests)


def finish(guests):
    for k, g in enumerate(guests):
        which = ("first", "second")[k]
        for pat in BAD:
            hits = [l for l in g.out.split(b"\n") if re.search(pat, l)]
            check("no '%s' in the %s console log" % (pat.decode(), which), not hits,
                  hits[0].decode(errors="replace").strip() if hits else "")
        check("nothing on the %s QEMU's stderr" % which, not g.err.strip(),
              g.err.decode(errors="replace").strip())
    print("%d passed, %d failed" % (checks - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
