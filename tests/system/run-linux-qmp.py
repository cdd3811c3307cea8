#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""System test: QMP (vmm/qmp/) with Debian's Linux as the guest.

Boots the kernel and busybox initramfs (as run-system.py does) with 2 vCPUs
and `--qmp unix:S,server,wait=off`, then over QMP: query-status and
query-cpus-fast (the vCPU threads of softkvm); stop (a command typed on the
console gets no answer while stopped) and cont (it comes); system_powerdown
(POWERDOWN; with its button driver loaded, from a second initramfs archive,
Linux's ACPI takes the SCI and counts the fixed power-button event in
/sys/firmware/acpi/interrupts/ff_pwr_btn and the acpi line of
/proc/interrupts, with no interrupt storm); and `poweroff -f` (SHUTDOWN
guest-shutdown, status 0), with run-system.py's console and stderr checks.
"""
import argparse
import importlib.util
import os
import re
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(os.path.dirname(here), "qmp"))
from guestcon import MARKER, Guest  # noqa: E402
from qmpclient import Client  # noqa: E402

spec = importlib.util.spec_from_file_location("run_system", os.path.join(here, "run-system.py"))
rs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rs)
check = rs.check
# the extra initramfs archive with kernel modules (run-qemu-virtio.py's): the ACPI button
# driver, a module in Debian's cloud kernel, which enables the power button event
spec = importlib.util.spec_from_file_location("run_virtio", os.path.join(here, "run-qemu-virtio.py"))
rv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rv)
MODULES = ["drivers/acpi/button.ko"]


def acpi_counts(g):
    """(ff_pwr_btn count, acpi interrupts summed over the CPUs) or None"""
    out, st = g.run("cat /sys/firmware/acpi/interrupts/ff_pwr_btn; grep acpi /proc/interrupts", 60)
    if st != 0 or not out:
        return None
    lines = out.strip().splitlines()
    m = re.match(r"\s*(\d+)", lines[0])
    irq = [l for l in lines[1:] if "acpi" in l]
    if not m or not irq:
        return None
    fields = irq[0].split()[1:]
    total = sum(int(f) for f in fields if f.isdigit())
    return int(m.group(1)), total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--timeout", type=int, default=300, help="seconds to the marker line")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(here))
    kernel, base_initrd = rs.locate_guest(root, a.builddir)
    initrd = os.path.join(a.builddir, "qmp-initramfs.cpio.gz")
    rv.make_initrd(base_initrd, re.sub(r"^vmlinuz-", "", os.path.basename(kernel)), initrd,
                   MODULES)
    sock = os.path.join(a.builddir, "linux-qmp-%d.sock" % os.getpid())
    if len(sock) > 100:
        sock = "/tmp/softkvm-linux-qmp-%d.sock" % os.getpid()
    logname = os.path.join(a.builddir, "linux-qmp.log")
    cmd = [a.softkvm, "run", "--accel", "soft", "--kernel", kernel, "--initrd", initrd,
           "--append", "console=ttyS0 panic=-1", "--cpus", "2", "--mem", "256M",
           "--reboot", "exit", "--qmp", "unix:%s,server,wait=off" % sock]
    print("$ " + " ".join(cmd))
    print("console log: " + logname)
    with open(logname, "wb") as log:
        g = Guest(cmd, log)
        c = Client(sock)
        greet = c.recv_msg()
        check("QMP greeting", greet is not None and "QMP" in greet, greet)
        r = c.cmd("qmp_capabilities")
        check("qmp_capabilities", r == {"return": {}}, r)
        m = g.wait_for(MARKER, a.timeout)
        check("boots to the marker line", m is not None)
        if not m:
            g.p.kill()
            g.p.wait()
            return rs.finish(g)

        r = c.cmd("query-status")
        check("query-status: running", r is not None and
              r.get("return", {}).get("status") == "running", r)
        r = c.cmd("query-cpus-fast")
        cpus = (r or {}).get("return", [])
        check("query-cpus-fast: 2 vCPUs on threads of softkvm", len(cpus) == 2 and all(
            os.path.isdir("/proc/%d/task/%d" % (g.p.pid, x["thread-id"])) for x in cpus), r)

        # stop: a command typed now is answered only after cont; the guest's clock
        # (kvm-clock) does not move while it is stopped
        # (Linux prefers the invariant TSC, which runs on as in QEMU: measure on kvm-clock)
        cs = "/sys/devices/system/clocksource/clocksource0/current_clocksource"
        out, st = g.run("echo kvm-clock > %s; cat %s" % (cs, cs), 60)
        check("the guest's clocksource can be kvm-clock", st == 0 and "kvm-clock" in (out or ""),
              out)
        out, st = g.run("cat /proc/uptime", 60)
        up0, host0 = float((out or "0").split()[0]), time.time()
        r = c.cmd("stop")
        check("stop", r == {"return": {}} and c.event("STOP") is not None, r)
        start = len(g.out)
        g.p.stdin.write(b"echo qmp-$((6*7))\n")
        g.p.stdin.flush()
        answer = re.compile(rb"(?m)^qmp-42\r?$")
        check("stopped: no answer in 2 s", g.wait_for(answer, 2, start) is None)
        r = c.cmd("cont")
        check("cont", r == {"return": {}} and c.event("RESUME") is not None, r)
        check("continued: the answer comes", g.wait_for(answer, 30, start) is not None)
        out, st = g.run("cat /proc/uptime", 60)
        up1, host1 = float((out or "0").split()[0]), time.time()
        print("INFO: across the stop: guest uptime +%.2f s, host +%.2f s" % (up1 - up0,
                                                                            host1 - host0))
        check("the guest's clock stood still while stopped (2 s)",
              st == 0 and 0 < up1 - up0 < host1 - host0 - 1.5,
              "guest +%.2f s, host +%.2f s" % (up1 - up0, host1 - host0))

        # the power button
        out, st = g.run("insmod /virtio/button.ko", 60)
        check("the ACPI button driver loads", st == 0, out)
        before = acpi_counts(g)
        check("/sys/firmware/acpi/interrupts/ff_pwr_btn and the acpi interrupt exist",
              before is not None, before)
        r = c.cmd("system_powerdown")
        check("system_powerdown", r == {"return": {}} and c.event("POWERDOWN") is not None, r)
        time.sleep(1)
        after = acpi_counts(g)
        print("INFO: ff_pwr_btn, acpi interrupts: before %s, after %s" % (before, after))
        check("Linux counted one power-button event",
              before is not None and after is not None and after[0] == before[0] + 1,
              "%s -> %s" % (before, after))
        check("through the SCI, which then went low (no storm)",
              before is not None and after is not None and 1 <= after[1] - before[1] <= 3,
              "%s -> %s" % (before, after))
        r = c.cmd("query-status")
        check("still running (busybox has no acpid)", r is not None and
              r.get("return", {}).get("status") == "running", r)

        status = g.poweroff()
        check("poweroff -f ends softkvm with status 0", status == 0, "status %s" % status)
        e = c.event("SHUTDOWN", 10)
        check("SHUTDOWN event (guest-shutdown)", e is not None and
              e.get("data") == {"guest": True, "reason": "guest-shutdown"}, e)
        c.close()
        check("the socket file is removed", not os.path.exists(sock))
    return rs.finish(g)


if __name__ == "__main__":
    sys.exit(main())
