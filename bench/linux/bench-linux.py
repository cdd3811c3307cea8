#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make bench-linux: Debian's kernel on softkvm and on QEMU TCG, side by side.

Both boot the same kernel, initramfs (scripts/linux-guest.sh), command line,
memory size and vCPU count; each is timed from process start to the
initramfs's marker line (softkvm enters the kernel directly, QEMU goes
through SeaBIOS first, as `qemu -kernel` does), then the same workloads are
typed on the serial console and timed from the keystroke to their end
marker. Every figure is the best of --runs boots. Printed as seconds and
softkvm/QEMU ratios (lower is better for softkvm; 1.00 means as fast as TCG).

  bench-linux.py --softkvm build/softkvm [--cpus 1] [--mem 256M] [--runs 3]
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from guestcon import MARKER, Guest  # noqa: E402

APPEND = "console=ttyS0 panic=-1"
WORKLOADS = [
    ("sha256sum 4 MiB", "yes softkvm | head -c 4194304 | sha256sum"),
    ("gzip+gunzip 2 MiB", "yes softkvm-gzip | head -c 2097152 > /tmp/g && gzip -c /tmp/g > /tmp/g.gz"
     " && gunzip -c /tmp/g.gz | sha256sum"),
    ("fork+exec x200", "i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done"),
    ("pipe to a file 2 MiB", "yes softkvm | head -c 2097152 > /tmp/y"),
]


def guest_files(builddir):
    p = subprocess.run([os.path.join(ROOT, "scripts", "linux-guest.sh"), "--install",
                        os.path.join(builddir, "linux-guest")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode:
        sys.exit("bench-linux: " + (p.stderr.strip() or "linux-guest.sh failed"))
    env = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
    return env["KERNEL"], env["INITRD"]


def one_run(cmd, log, timeout):
    """Boot, run the workloads, power off; returns {name: seconds} or None."""
    t0 = time.time()
    g = Guest(cmd, log)
    if not g.wait_for(MARKER, timeout):
        g.p.kill()
        g.p.wait()
        return None
    res = {"boot to marker": time.time() - t0}
    for name, command in WORKLOADS:
        t = time.time()
        out, st = g.run(command, timeout)
        if st != 0:
            g.p.kill()
            g.p.wait()
            print("bench-linux: '%s' failed: %r" % (command, out), file=sys.stderr)
            return None
        res[name] = time.time() - t
    t = time.time()
    g.poweroff()
    res["power off"] = time.time() - t
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=600)
    a = ap.parse_args()
    builddir = os.path.dirname(os.path.abspath(a.softkvm))
    kernel, initrd = guest_files(builddir)
    common = ["--kernel", kernel, "--initrd", initrd, "--append", APPEND]
    systems = {
        "softkvm": [a.softkvm, "run", "--accel", "soft", "--cpus", str(a.cpus), "--mem", a.mem,
                    "--reboot", "exit"] + common,
    }
    if shutil.which(a.qemu):
        systems["qemu-tcg"] = [a.qemu, "-nodefaults", "-nographic", "-machine", "pc", "-accel",
                               "tcg", "-cpu", "max", "-no-reboot", "-serial", "stdio",
                               "-smp", str(a.cpus), "-m", a.mem, "-kernel", kernel, "-initrd",
                               initrd, "-append", APPEND]
    else:
        print("bench-linux: %s not found: softkvm only" % a.qemu, file=sys.stderr)
    print("kernel %s, initrd %s, %d vCPU(s), %s, '%s', best of %d" %
          (kernel, initrd, a.cpus, a.mem, APPEND, a.runs))
    best = {s: {} for s in systems}
    logdir = os.path.join(builddir, "linux-guest")
    for r in range(a.runs):
        for s, cmd in systems.items():
            with open(os.path.join(logdir, "bench-%s-%d.log" % (s, r)), "wb") as log:
                res = one_run(cmd, log, a.timeout)
            if res is None:
                sys.exit("bench-linux: %s did not complete (log: %s)" % (s, log.name))
            for k, v in res.items():
                best[s][k] = min(v, best[s].get(k, v))
            print("run %d %-8s %s" % (r + 1, s, " ".join("%.2f" % v for v in res.values())),
                  file=sys.stderr)
    names = ["boot to marker"] + [w[0] for w in WORKLOADS] + ["power off"]
    print("%-22s %10s %10s %8s" % ("", "softkvm s", "qemu-tcg s", "ratio"))
    for n in names:
        sk = best["softkvm"][n]
        q = best.get("qemu-tcg", {}).get(n)
        print("%-22s %10.2f %10s %8s" % (n, sk, "%.2f" % q if q else "-",
                                          "%.2fx" % (sk / q) if q else "-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
