#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run a multiboot test kernel on softkvm and, if installed, on QEMU TCG.

The kernel prints PASS:/FAIL:/SKIP: lines and a SUMMARY line on COM1 and
exits through isa-debug-exit. The test passes when softkvm exits with the
expected status (1: every check passed) and, when QEMU is available, QEMU
prints the same report lines and exits with the same status: the agreement
shows that each check asserts real x86 / platform behaviour.

Where QEMU itself is known to be wrong (a bug of QEMU 7.2 TCG against the
SDM), the check is named with --qemu-bug NAME: QEMU may fail that one check
(and therefore exit with status 3) without it counting as a disagreement;
softkvm must still pass it.

Checks QEMU does not implement are softkvm-only: --softkvm-append adds
words (e.g. "softkvm=1") to softkvm's command line only, the kernel then
runs those checks and prints SKIP: for them on QEMU, and SKIP lines are not
compared. --native PROG runs a host program that prints the same report
lines (the bmi64 workload on the host processor) and requires them to be
the same as softkvm's. --no-qemu runs a kernel on softkvm alone (--softkvm-arg passes
e.g. --quirk); --qemu-bug NAME lets QEMU fail a check it gets wrong.

Environment: SOFTKVM_GUEST_QEMU=no skips QEMU, =yes requires it;
QEMU names the binary (default qemu-system-x86_64).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

# QEMU's SeaBIOS prints its banner on the same serial line before the kernel
# starts, so a report line may begin after other text.
REPORT_RE = re.compile(r"(PASS|FAIL|SKIP|SUMMARY): .*")


def report_lines(out):
    lines = []
    for l in out.splitlines():
        if l.startswith("INFO:"):
            continue
        m = REPORT_RE.search(l.rstrip("\r"))
        if m:
            lines.append(m.group(0))
    return lines


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        return (p.returncode, p.stdout.decode(errors="replace"),
                p.stderr.decode(errors="replace"))
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if e.stdout else ""
        err = e.stderr.decode(errors="replace") if e.stderr else ""
        return ("timeout", out, err + "\n(timed out after %ds)" % timeout)


def show(title, status, out, err):
    print("---- %s: exit status %s ----" % (title, status))
    sys.stdout.write(out)
    if err.strip():
        print("---- %s stderr ----" % title)
        sys.stdout.write(err if err.endswith("\n") else err + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--append", default=None)
    ap.add_argument("--initrd", default=None)
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--mem", default=None)
    ap.add_argument("--expect-status", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=60)
    ap.add_argument("--qemu-bug", action="append", default=[],
                    help="a check QEMU 7.2 gets wrong (QEMU may FAIL it)")
    ap.add_argument("--softkvm-arg", action="append", default=[],
                    help="an extra softkvm run argument (e.g. --quirk=NAME)")
    ap.add_argument("--softkvm-append", default=None,
                    help="words added to softkvm's command line only: the kernel runs "
                    "softkvm-only checks and prints SKIP for them on QEMU")
    ap.add_argument("--no-qemu", action="store_true",
                    help="softkvm only: the kernel checks something QEMU does not offer")
    ap.add_argument("--native", default=None,
                    help="a host program printing the kernel's report lines: they must be "
                    "the same (its status 77: the host cannot run it, not compared)")
    a = ap.parse_args()

    # --reboot exit: a reset ends the run, as -no-reboot does for QEMU
    cmd = [a.softkvm, "run", "--accel", "soft", "--reboot", "exit", "--kernel", a.kernel] + a.softkvm_arg
    qcmd = [os.environ.get("QEMU", "qemu-system-x86_64"), "-nodefaults", "-nographic",
            "-machine", "pc", "-accel", "tcg", "-cpu", "max", "-no-reboot",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-device", "pc-testdev", "-device", "pci-testdev",
            "-serial", "stdio", "-kernel", a.kernel]
    if a.append is not None or a.softkvm_append is not None:
        both = a.append or ""
        cmd += ["--append", (both + " " + a.softkvm_append).strip() if a.softkvm_append else both]
        if a.append is not None:
            qcmd += ["-append", a.append]
    if a.initrd is not None:
        cmd += ["--initrd", a.initrd]
        qcmd += ["-initrd", a.initrd]
    if a.cpus != 1:
        cmd += ["--cpus", str(a.cpus)]
        qcmd += ["-smp", str(a.cpus)]
    if a.mem is not None:
        cmd += ["--mem", a.mem]
        qcmd += ["-m", a.mem]

    ok = True
    status, out, err = run(cmd, a.timeout)
    show("softkvm", status, out, err)
    lines = report_lines(out)
    if status != a.expect_status:
        print("softkvm: exit status %s, expected %d" % (status, a.expect_status))
        ok = False
    if not any(l.startswith("SUMMARY:") for l in lines):
        print("softkvm: no SUMMARY line")
        ok = False

    if a.native is not None:
        nstatus, nout, nerr = run([a.native], a.timeout)
        show("native", nstatus, nout, nerr)
        if nstatus == 77:
            print("note: native run skipped (the host cannot run it)")
        else:
            # the report lines and the "INFO: hash" lines (the results themselves)
            def native_lines(out):
                return [l.rstrip("\r") for l in out.splitlines()
                        if REPORT_RE.match(l.rstrip("\r")) or l.startswith("INFO: hash ")]
            slines, nlines = native_lines(out), native_lines(nout)
            if nlines != slines or nstatus != status:
                print("MISMATCH: softkvm vs native (status %s vs %s):" % (status, nstatus))
                for k in range(max(len(slines), len(nlines))):
                    x = slines[k] if k < len(slines) else "<none>"
                    y = nlines[k] if k < len(nlines) else "<none>"
                    if x != y:
                        print("  softkvm: %s\n  native:  %s" % (x, y))
                ok = False

    want = os.environ.get("SOFTKVM_GUEST_QEMU", "auto")
    if a.no_qemu:
        want = "no"
    qemu = shutil.which(qcmd[0])
    if want == "yes" and not qemu:
        print("QEMU required (SOFTKVM_GUEST_QEMU=yes) but %s is not installed" % qcmd[0])
        ok = False
    if want != "no" and qemu:
        qstatus, qout, qerr = run(qcmd, a.timeout)
        show("qemu", qstatus, qout, qerr)
        qlines = report_lines(qout)
        known = set(a.qemu_bug)
        # a check one CPU model skips (feature not in its CPUID) is not compared
        skipped = set(l[6:] for l in lines + qlines if l.startswith("SKIP: "))
        for name in sorted(skipped):
            print("note: '%s' skipped on one side (CPU feature not advertised)" % name)

        def comparable(ls):
            return [l for l in ls if not l.startswith("SUMMARY:") and
                    l.split(": ", 1)[1] not in known | skipped]
        qfails = [l for l in qlines if l.startswith("FAIL: ")]
        qknown = [l for l in qfails if l[6:] in known]
        for l in qknown:
            print("note: QEMU fails '%s' (a known QEMU bug)" % l[6:])
        if comparable(qlines) != comparable(lines):
            print("MISMATCH: report lines differ (softkvm vs qemu):")
            sl, ql = comparable(lines), comparable(qlines)
            for k in range(max(len(sl), len(ql))):
                x = sl[k] if k < len(sl) else "<none>"
                y = ql[k] if k < len(ql) else "<none>"
                if x != y:
                    print("  softkvm: %s\n  qemu:    %s" % (x, y))
            ok = False
        # QEMU's status: as softkvm's, unless only its known bugs made it fail
        qexpect = {status}
        if qknown and len(qknown) == len(qfails):
            qexpect = {a.expect_status, 3}
        if qstatus not in qexpect:
            print("MISMATCH: exit status softkvm %s, qemu %s" % (status, qstatus))
            ok = False
    elif want != "no":
        print("(QEMU not installed: softkvm only)")
    print("RESULT: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
