#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""System test: Debian's Linux kernel and a busybox initramfs on softkvm.

Boots the kernel (scripts/linux-guest.sh finds it, or installs
linux-image-cloud-amd64 and busybox-static when run as root) with N vCPUs to
the initramfs's marker line, then types commands on the serial console and
checks what they print:

  uname -r          the release of the kernel file that was booted
  /proc/cpuinfo     N processors, each listing exactly the CPUID flags softkvm
                    advertises (KVM_GET_SUPPORTED_CPUID, as Linux names them)
  nproc             N
  sha256sum         of 1 MiB made in the guest, against the answer computed here
  gzip/gunzip       a round trip that gives the data back
  (N = 1)           a 200000-iteration shell loop and dd | sha256sum of 16 MiB:
                    long runs with timer interrupts due all along
  (N > 1)           the two checksums again, run in parallel

and finally powers off (`poweroff -f`: ACPI S5), which must end softkvm with
status 0. With --vmlinux the kernel is first extracted from the bzImage
(extract-vmlinux.py) and booted as an ELF vmlinux: uname -r, then power-off. The test fails on any oops, WARNING, BUG, panic, call trace,
unchecked MSR access, soft lockup or stall in the console log, and on anything softkvm
prints on stderr. Exit status 77 (skipped) when the kernel or busybox is
missing and cannot be installed.
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guestcon import MARKER, Guest  # noqa: E402

BAD = [
    rb"Oops", rb"WARNING:", rb"BUG:", rb"Kernel panic", rb"Call Trace",
    rb"unchecked MSR access", rb"general protection fault", rb"invalid opcode",
    rb"soft lockup", rb"hard LOCKUP", rb"blocked for more than", rb"rcu: INFO:",
    rb"self-detected stall", rb"detected stalls", rb"segfault at", rb"Attempted to kill init",
]

# CPUID bits -> /proc/cpuinfo names, from Linux 6.1 arch/x86/include/asm/cpufeatures.h
# (the words that are whole CPUID registers; "" = not shown)
CPUID_WORDS = {
    (0x1, 0, "edx"): {
        0: "fpu", 1: "vme", 2: "de", 3: "pse", 4: "tsc", 5: "msr", 6: "pae", 7: "mce",
        8: "cx8", 9: "apic", 11: "sep", 12: "mtrr", 13: "pge", 14: "mca", 15: "cmov",
        16: "pat", 17: "pse36", 18: "pn", 19: "clflush", 21: "dts", 22: "acpi", 23: "mmx",
        24: "fxsr", 25: "sse", 26: "sse2", 27: "ss", 28: "ht", 29: "tm", 30: "ia64",
        31: "pbe"},
    (0x80000001, 0, "edx"): {
        11: "syscall", 19: "mp", 20: "nx", 22: "mmxext", 25: "fxsr_opt", 26: "pdpe1gb",
        27: "rdtscp", 29: "lm", 30: "3dnowext", 31: "3dnow"},
    (0x1, 0, "ecx"): {
        0: "pni", 1: "pclmulqdq", 2: "dtes64", 3: "monitor", 4: "ds_cpl", 5: "vmx", 6: "smx",
        7: "est", 8: "tm2", 9: "ssse3", 10: "cid", 11: "sdbg", 12: "fma", 13: "cx16",
        14: "xtpr", 15: "pdcm", 17: "pcid", 18: "dca", 19: "sse4_1", 20: "sse4_2",
        21: "x2apic", 22: "movbe", 23: "popcnt", 24: "tsc_deadline_timer", 25: "aes",
        26: "xsave", 27: "", 28: "avx", 29: "f16c", 30: "rdrand", 31: "hypervisor"},
    (0x80000001, 0, "ecx"): {
        0: "lahf_lm", 1: "cmp_legacy", 2: "svm", 3: "extapic", 4: "cr8_legacy", 5: "abm",
        6: "sse4a", 7: "misalignsse", 8: "3dnowprefetch", 9: "osvw", 10: "ibs", 11: "xop",
        12: "skinit", 13: "wdt", 15: "lwp", 16: "fma4", 17: "tce", 19: "nodeid_msr",
        21: "tbm", 22: "topoext", 23: "perfctr_core", 24: "perfctr_nb", 26: "bpext",
        27: "ptsc", 28: "perfctr_llc", 29: "mwaitx"},
    (0x7, 0, "ebx"): {
        0: "fsgsbase", 1: "tsc_adjust", 2: "sgx", 3: "bmi1", 4: "hle", 5: "avx2", 6: "",
        7: "smep", 8: "bmi2", 9: "erms", 10: "invpcid", 11: "rtm", 12: "cqm", 13: "",
        14: "mpx", 15: "rdt_a", 16: "avx512f", 17: "avx512dq", 18: "rdseed", 19: "adx",
        20: "smap", 21: "avx512ifma", 23: "clflushopt", 24: "clwb", 25: "intel_pt",
        26: "avx512pf", 27: "avx512er", 28: "avx512cd", 29: "sha_ni", 30: "avx512bw",
        31: "avx512vl"},
    (0xd, 1, "eax"): {0: "xsaveopt", 1: "xsavec", 2: "xgetbv1", 3: "xsaves", 4: ""},
    (0x7, 1, "eax"): {4: "avx_vnni", 5: "avx512_bf16"},
    (0x7, 0, "ecx"): {
        1: "avx512vbmi", 2: "umip", 3: "pku", 4: "ospke", 5: "waitpkg", 6: "avx512_vbmi2",
        8: "gfni", 9: "vaes", 10: "vpclmulqdq", 11: "avx512_vnni", 12: "avx512_bitalg",
        13: "tme", 14: "avx512_vpopcntdq", 16: "la57", 22: "rdpid", 24: "bus_lock_detect",
        25: "cldemote", 27: "movdiri", 28: "movdir64b", 29: "enqcmd", 30: "sgx_lc"},
    (0x7, 0, "edx"): {
        2: "avx512_4vnniw", 3: "avx512_4fmaps", 4: "fsrm", 8: "avx512_vp2intersect", 9: "",
        10: "md_clear", 11: "", 13: "", 14: "serialize", 15: "", 16: "tsxldtrk",
        18: "pconfig", 19: "arch_lbr", 20: "ibt", 22: "amx_bf16", 23: "avx512_fp16",
        24: "amx_tile", 25: "amx_int8", 26: "", 27: "", 28: "flush_l1d",
        29: "arch_capabilities", 30: "", 31: ""},
}
# bits Linux turns on or off at run time rather than passing CPUID through
DYNAMIC = {"ospke"}

# The guest CPU identities under QEMU -accel kvm: -cpu host takes its features
# from KVM_GET_SUPPORTED_CPUID (softkvm's), but its vendor, family, model,
# name and physical address width from the host's own CPUID; these pin all
# of them, so the guest is the same on any host. Each with the line Linux
# prints for it.
QEMU_CPUS = {
    # softkvm's own model: Tremont, QEMU's Snowridge
    "intel": ("host,host-phys-bits=off,vendor=GenuineIntel,family=6,model=134,stepping=1,"
              "model-id=Intel Atom Processor (SnowRidge)",
              rb"smpboot: CPU0: Intel Atom Processor \(SnowRidge\) \(family: 0x6, model: 0x86, "
              rb"stepping: 0x1\)"),
    # Zen 2, QEMU's EPYC-Rome: Linux looks for the AMD speculation controls
    # (CPUID 0x80000008 EBX) and uses SPEC_CTRL and PRED_CMD through them
    "amd": ("host,host-phys-bits=off,vendor=AuthenticAMD,family=23,model=49,stepping=0,"
            "model-id=AMD EPYC-Rome Processor",
            rb"smpboot: CPU0: AMD EPYC-Rome Processor \(family: 0x17, model: 0x31, "
            rb"stepping: 0x0\)"),
}

# the start-up line of softkvm run on its own processor
SOFT_LINE = "softkvm run: accelerator: softkvm (software x86-64 processor)"

failures = 0
checks = 0


def check(name, ok, detail=""):
    global failures, checks
    checks += 1
    print("%s: %s%s" % ("PASS" if ok else "FAIL", name, (" (" + detail + ")") if detail and not ok else ""))
    if not ok:
        failures += 1


def locate_guest(root, builddir):
    p = subprocess.run([os.path.join(root, "scripts", "linux-guest.sh"), "--install",
                        os.path.join(builddir, "linux-guest")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode == 77:
        print("SKIP: " + p.stderr.strip())
        sys.exit(77)
    if p.returncode:
        print("linux-guest.sh failed: " + p.stderr.strip())
        sys.exit(1)
    env = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
    return env["KERNEL"], env["INITRD"]


def expected_flags(cpuid_tool, cpus):
    out = subprocess.run([cpuid_tool], check=True, stdout=subprocess.PIPE, text=True).stdout
    regs = {}
    for line in out.splitlines():
        fn, idx, flags, a, b, c, d = (int(x, 16) for x in line.split())
        regs[(fn, idx if flags & 1 else 0)] = {"eax": a, "ebx": b, "ecx": c, "edx": d}
    want, known = set(), set()
    for (fn, idx, reg), names in CPUID_WORDS.items():
        value = regs.get((fn, idx), {}).get(reg, 0)
        if fn == 1 and reg == "edx" and cpus > 1:
            value |= 1 << 28  # the VMM sets HTT for more than one vCPU
        for bit, name in names.items():
            if not name or name in DYNAMIC:
                continue
            known.add(name)
            if value >> bit & 1:
                want.add(name)
    return want, known


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--cpuid", required=True, help="the supported-cpuid helper")
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--timeout", type=int, default=300, help="seconds to the marker line")
    ap.add_argument("--vmlinux", action="store_true",
                    help="boot the uncompressed vmlinux extracted from the bzImage (boot checks only)")
    ap.add_argument("--qemu-kvm", metavar="IRQCHIP", choices=["on", "split"],
                    help="boot under qemu-system-x86_64 -accel kvm (kernel-irqchip=IRQCHIP) "
                         "run by softkvm exec instead of softkvm run")
    ap.add_argument("--qemu-cpu", choices=sorted(QEMU_CPUS), default="intel",
                    help="the guest CPU identity under QEMU (with --qemu-kvm)")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    kernel, initrd = locate_guest(root, a.builddir)
    release = re.sub(r"^vmlinuz-", "", os.path.basename(kernel))
    if a.vmlinux:
        vmlinux = os.path.join(a.builddir, "vmlinux-" + release)
        p = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__),
                                                         "extract-vmlinux.py"), kernel, vmlinux])
        if p.returncode == 77:
            print("SKIP: cannot extract the vmlinux")
            return 77
        if p.returncode:
            return 1
        kernel = vmlinux
    want, known = expected_flags(a.cpuid, a.cpus)
    logname = os.path.join(a.builddir, "linux-%s%dcpu.log" % ("vmlinux-" if a.vmlinux else "", a.cpus))
    cmd = [a.softkvm, "run", "--accel", "soft", "--kernel", kernel, "--initrd", initrd,
           "--append", "console=ttyS0 panic=-1", "--cpus", str(a.cpus), "--mem", a.mem,
           "--reboot", "exit"]
    if a.qemu_kvm:
        qemu = shutil.which("qemu-system-x86_64")
        if not qemu:
            print("SKIP: qemu-system-x86_64 is not installed")
            return 77
        logname = os.path.join(a.builddir, "linux-qemu-kvm-%s-%s-%dcpu.log" %
                               (a.qemu_cpu, a.qemu_kvm, a.cpus))
        cmd = [a.softkvm, "exec", "--", qemu, "-accel", "kvm", "-cpu", QEMU_CPUS[a.qemu_cpu][0],
               "-machine", "pc,kernel-irqchip=" + a.qemu_kvm, "-m", a.mem.rstrip("M"),
               "-smp", str(a.cpus), "-display", "none", "-serial", "stdio", "-monitor", "none",
               "-no-reboot", "-kernel", kernel, "-initrd", initrd,
               "-append", "console=ttyS0 panic=-1"]
    print("$ " + " ".join(cmd))
    print("console log: " + logname)
    t0 = time.time()
    with open(logname, "wb") as log:
        g = Guest(cmd, log)
        m = g.wait_for(MARKER, a.timeout)
        check("boots to the marker line", m is not None,
              "no marker after %d s; last output: %r" % (a.timeout, g.out[-300:]))
        if not m:
            g.p.kill()
            g.p.wait()
            return finish(g)
        print("INFO: marker after %.1f s" % (time.time() - t0))
        check("the marker reports %d CPUs" % a.cpus, int(m.group(1)) == a.cpus, m.group(0))

        out, st = g.run("uname -r", 60)
        check("uname -r is " + release, st == 0 and out is not None and out.strip() == release,
              repr(out))

        if a.qemu_kvm:
            # the identity is QEMU's, so the flags differ from softkvm run's
            ident = QEMU_CPUS[a.qemu_cpu][1]
            check("the guest CPU is the pinned %s identity" % a.qemu_cpu,
                  re.search(ident, g.out) is not None,
                  "; ".join(l.decode(errors="replace") for l in g.out.split(b"\n")
                            if b"smpboot: CPU0" in l))
            out, st = g.run("nproc", 60)
            check("nproc is %d" % a.cpus, st == 0 and out is not None and
                  out.strip() == str(a.cpus), repr(out))
            size = 1 << 20
            data = (b"softkvm\n" * (size // 8 + 1))[:size]
            out, st = g.run("yes softkvm | head -c %d | sha256sum" % size, 300)
            check("sha256sum of 1 MiB made in the guest", st == 0 and out is not None and
                  out.split()[:1] == [hashlib.sha256(data).hexdigest()], repr(out))
            status = g.poweroff()
            check("poweroff -f ends QEMU with status 0", status == 0, "status %s" % status)
            check("the kernel powered down", b"reboot: Power down" in g.out)
            return finish(g)

        if a.vmlinux:
            status = g.poweroff()
            check("poweroff -f ends softkvm with status 0", status == 0, "status %s" % status)
            return finish(g)

        out, st = g.run("cat /proc/cpuinfo", 60)
        procs = re.findall(r"(?m)^processor\s*:\s*(\d+)", out or "")
        check("/proc/cpuinfo lists %d processors" % a.cpus, len(procs) == a.cpus, repr(procs))
        flag_lines = re.findall(r"(?m)^flags\s*:\s*(.*)$", out or "")
        check("every processor lists the same flags",
              len(flag_lines) == a.cpus and len(set(flag_lines)) == 1)
        shown = set(flag_lines[0].split()) if flag_lines else set()
        missing = sorted(want - shown)
        extra = sorted((shown & known) - want)
        check("/proc/cpuinfo lists exactly the advertised CPUID flags",
              not missing and not extra,
              "advertised, not shown: %s; shown, not advertised: %s" %
              (" ".join(missing) or "-", " ".join(extra) or "-"))
        print("INFO: flags: " + " ".join(sorted(shown)))

        out, st = g.run("nproc", 60)
        check("nproc is %d" % a.cpus, st == 0 and out is not None and out.strip() == str(a.cpus),
              repr(out))

        size = 1 << 20
        data = (b"softkvm\n" * (size // 8 + 1))[:size]
        want_sum = hashlib.sha256(data).hexdigest()
        t = time.time()
        out, st = g.run("yes softkvm | head -c %d | sha256sum" % size, 300)
        check("sha256sum of 1 MiB made in the guest", st == 0 and out is not None and
              out.split()[:1] == [want_sum], repr(out))
        print("INFO: sha256sum of 1 MiB: %.2f s" % (time.time() - t))

        gsize = 1 << 20
        gdata = (b"softkvm-gzip\n" * (gsize // 13 + 1))[:gsize]
        t = time.time()
        out, st = g.run("yes softkvm-gzip | head -c %d > /tmp/g && gzip -c /tmp/g > /tmp/g.gz"
                        " && gunzip -c /tmp/g.gz | sha256sum && wc -c < /tmp/g.gz" % gsize, 300)
        lines = (out or "").split("\n")
        ok = st == 0 and len(lines) >= 2 and lines[0].split()[:1] == [
            hashlib.sha256(gdata).hexdigest()]
        check("gzip/gunzip round trip gives the data back", ok, repr(out))
        if ok:
            size_gz = lines[1].strip()
            check("gzip compressed the data",
                  size_gz.isdigit() and 0 < int(size_gz) < gsize // 10, repr(lines[1]))
        print("INFO: gzip round trip of 1 MiB: %.2f s" % (time.time() - t))

        if a.cpus == 1:
            # long-running work with timer interrupts due all along: a shell loop in user
            # space and a pipeline through the kernel. Interrupts that stop coming show as
            # soft lockups and RCU stalls in the log, which finish() fails on.
            t = time.time()
            out, st = g.run("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo $i", 900)
            check("a 200000-iteration shell loop runs to its end",
                  st == 0 and out is not None and out.strip() == "200000", repr(out))
            print("INFO: shell loop of 200000 iterations: %.1f s" % (time.time() - t))
            t = time.time()
            out, st = g.run("dd if=/dev/zero bs=1M count=16 2>/dev/null | sha256sum", 600)
            check("dd | sha256sum of 16 MiB of zeros", st == 0 and out is not None and
                  out.split()[:1] == [hashlib.sha256(bytes(16 << 20)).hexdigest()], repr(out))
            print("INFO: dd | sha256sum of 16 MiB: %.1f s" % (time.time() - t))

        if a.cpus > 1:
            psize = 1 << 19
            sums = set()
            t = time.time()
            out, st = g.run("for w in a b; do (yes $w | head -c %d | sha256sum) & done; wait"
                            % psize, 300)
            for w in (b"a", b"b"):
                sums.add(hashlib.sha256(((w + b"\n") * (psize // 2))[:psize]).hexdigest())
            got = set(l.split()[0] for l in (out or "").split("\n") if l.strip())
            check("two checksums in parallel on %d vCPUs" % a.cpus, st == 0 and got == sums,
                  repr(out))
            print("INFO: parallel checksums: %.2f s" % (time.time() - t))

        status = g.poweroff()
        check("poweroff -f ends softkvm with status 0", status == 0, "status %s" % status)
        check("the kernel powered down through ACPI", b"reboot: Power down" in g.out)
    return finish(g)


def finish(g):
    for pat in BAD:
        hits = [l for l in g.out.split(b"\n") if re.search(pat, l)]
        check("no '%s' in the console log" % pat.decode(), not hits,
              hits[0].decode(errors="replace").strip() if hits else "")
    # softkvm run says which accelerator runs the guest, and nothing else;
    # under softkvm exec QEMU prints nothing
    err = g.err.decode(errors="replace").strip().splitlines()
    if g.p.args[1] == "run":
        check("softkvm run names its accelerator: softkvm", err[:1] == [SOFT_LINE], repr(err[:1]))
        err = err[1:]
    check("nothing (else) on softkvm's stderr", not err, "\n".join(err))
    print("%d passed, %d failed" % (checks - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
