#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""System test: stolen time (MSR_KVM_STEAL_TIME) seen by a Linux guest.

Boots Debian's kernel and the busybox initramfs (as run-system.py does) with
one vCPU, pins every thread of softkvm to one host CPU, and has the guest
spin for a few seconds while reading the `cpu` line of /proc/stat before and
after; the steal column's share of the elapsed ticks is measured

  quiet        nothing else pinned to that CPU: steal stays near zero
  competing    a host process spinning on the same CPU: the vCPU thread
               waits about half the time, and the guest's steal grows

The host's own account is the vCPU thread's run_delay over the same
interval (/proc/PID/task/TID/schedstat, the thread that ran most). Checks:
in both phases the guest's steal matches that run_delay (within 25 % + 10
ticks: the guest reads /proc/stat a little inside the host's interval); with
the competitor the vCPU thread waited at least 30 % of the time and the
guest's steal share is above 20 %; quiet, the guest's steal is at most the
host's run_delay + 5 % of the time, which on an idle host is near zero (the
machine is shared: other load on that CPU is stolen time too, and is counted
as such). Then poweroff and run-system.py's console and stderr checks.
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from guestcon import MARKER, Guest  # noqa: E402

spec = importlib.util.spec_from_file_location("run_system", os.path.join(here, "run-system.py"))
rs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rs)
check = rs.check

SPIN = "t=$(($(date +%s)+{secs})); while [ $(date +%s) -lt $t ]; do :; done"


def cpu_line(text):
    """user nice system idle iowait irq softirq steal ... of /proc/stat's cpu line"""
    for line in (text or "").splitlines():
        f = line.split()
        if f and f[0] == "cpu":
            return [int(x) for x in f[1:]]
    return None


def schedstat(pid):
    """{tid: (ns on the CPU, ns runnable but waiting)} of every thread of pid"""
    r = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                v = f.read().split()
            r[tid] = (int(v[0]), int(v[1]))
        except OSError:
            pass
    return r


def measure(g, secs):
    """(steal ticks, all ticks, host run_delay ns of the vCPU thread, host ns)
    over a guest busy loop of about secs seconds"""
    h0, t0 = schedstat(g.p.pid), time.monotonic_ns()
    out, st = g.run("head -1 /proc/stat; %s; head -1 /proc/stat" % SPIN.format(secs=secs),
                    secs * 20 + 60)
    lines = [l for l in (out or "").splitlines() if l.startswith("cpu ")]
    if st != 0 or len(lines) != 2:
        return None
    h1, t1 = schedstat(g.p.pid), time.monotonic_ns()
    a, b = cpu_line(lines[0]), cpu_line(lines[1])
    d = [y - x for x, y in zip(a, b)]
    vcpu = max((t for t in h1 if t in h0), key=lambda t: h1[t][0] - h0[t][0])
    return d[7], sum(d), h1[vcpu][1] - h0[vcpu][1], t1 - t0


def pin_all(pid, cpu):
    for tid in os.listdir("/proc/%d/task" % pid):
        os.sched_setaffinity(int(tid), {cpu})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--secs", type=int, default=4, help="seconds of each measurement")
    ap.add_argument("--timeout", type=int, default=300, help="seconds to the marker line")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(here))
    if not os.path.exists("/proc/thread-self/schedstat"):
        print("SKIP: the host has no per-thread scheduler statistics")
        return 77
    kernel, initrd = rs.locate_guest(root, a.builddir)
    cpu = max(os.sched_getaffinity(0))
    logname = os.path.join(a.builddir, "linux-steal.log")
    cmd = [a.softkvm, "run", "--accel", "soft", "--kernel", kernel, "--initrd", initrd,
           "--append", "console=ttyS0 panic=-1", "--cpus", "1", "--mem", "256M",
           "--reboot", "exit"]
    print("$ " + " ".join(cmd))
    print("console log: %s; softkvm pinned to host CPU %d" % (logname, cpu))
    with open(logname, "wb") as log:
        g = Guest(cmd, log)
        m = g.wait_for(MARKER, a.timeout)
        check("boots to the marker line", m is not None)
        if not m:
            g.p.kill()
            g.p.wait()
            return rs.finish(g)
        pin_all(g.p.pid, cpu)

        quiet = measure(g, a.secs)
        spinner = subprocess.Popen([sys.executable, "-c",
                                    "import os\nos.sched_setaffinity(0, {%d})\nwhile True: pass"
                                    % cpu])
        try:
            time.sleep(0.2)
            busy = measure(g, a.secs)
        finally:
            spinner.kill()
            spinner.wait()
        check("the guest measured both phases", quiet is not None and busy is not None,
              "%r %r" % (quiet, busy))
        if quiet and busy:
            for name, (st, tot, rd, ns) in (("quiet", quiet), ("competing", busy)):
                # USER_HZ is 100 in Debian's kernel: a tick is 10 ms
                print("INFO: %s: guest steal %d of %d ticks (%.0f %%); host: the vCPU thread "
                      "waited %.2f s of %.2f s (%.0f %%)" % (name, st, tot, 100 * st / max(tot, 1),
                                                            rd / 1e9, ns / 1e9, 100 * rd / ns))
                check("%s: the guest's steal matches the vCPU thread's run_delay" % name,
                      abs(st * 1e7 - rd) <= 0.25 * rd + 1e8,
                      "%d ticks vs %.2f s" % (st, rd / 1e9))
            qs, bs = quiet[0] / max(quiet[1], 1), busy[0] / max(busy[1], 1)
            check("competing: the vCPU thread waited >= 30 % of the time", busy[2] >= 0.3 * busy[3])
            check("competing: the guest's steal share is above 20 %", bs > 0.20,
                  "%.0f %%" % (100 * bs))
            check("quiet: the guest's steal is at most the vCPU thread's run_delay + 5 % of the time",
                  quiet[0] * 1e7 <= quiet[2] + 0.05 * quiet[3], "%.0f %%" % (100 * qs))
        status = g.poweroff()
        check("poweroff -f ends softkvm with status 0", status == 0, "status %s" % status)
    return rs.finish(g)


if __name__ == "__main__":
    sys.exit(main())
