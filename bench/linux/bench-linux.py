#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make bench-linux: the workloads users run, natively, on QEMU TCG and on softkvm.

One invocation boots Debian's cloud kernel with the project's busybox
initramfs (scripts/linux-guest.sh) under `qemu-system-x86_64 -accel tcg` and
under `softkvm run --accel soft` (same kernel, initramfs, memory and vCPUs),
types the same shell commands on each serial console, and runs the same
commands natively with the same busybox binary in a tmpfs directory. Each
command is timed inside the shell that runs it ($EPOCHREALTIME, read by the
shell itself before and after, in the same line), so the figures are guest
seconds, without the console's latency; boot is the guest's /proc/uptime when
the initramfs prints its marker line. Every output is checked (known SHA-256
sums, gunzip round trip, file counts); a wrong one ends the benchmark with
status 1. With --runs N, each figure is the best of N runs, the systems
taking turns within each run. Progress goes to stderr, the table to stdout.

  bench-linux.py --softkvm build/softkvm [--runs 1] [--only loop,gzip]
                 [--no-native] [--no-qemu] [--cpus 1] [--mem 512M]
"""
import argparse
import datetime
import hashlib
import math
import os
import platform
import resource
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from guestcon import KMSG, MARKER, MARKER_UPTIME, Guest  # noqa: E402

APPEND = "console=ttyS0 panic=-1"
# softkvm's processor is an Intel family 6 model 0x86 (Tremont, QEMU's
# Snowridge). QEMU gets that identity, minus what softkvm does not advertise
# (MPX: Linux would save its XSAVE state on every switch; MONITOR: idle would
# take MWAIT; AES, PCLMULQDQ, RDRAND) plus what softkvm has and TCG can do
# (BMI1/2, ADX, ABM, LA57, and AVX/AVX2/FMA/F16C and PKU where softkvm offers them). TCG cannot advertise IA32_ARCH_CAPABILITIES, without
# which Linux assumes an Intel CPU has Meltdown, MDS, MMIO stale data, RFDS
# and ITS and turns on PTI, VERW on every return to user space and return
# thunks; softkvm reports RDCL_NO, MDS_NO, ... so its guest runs none of them.
# QEMU_APPEND turns them off so both guests run the same kernel code
# (retpolines on both); the bench checks /sys/devices/system/cpu/vulnerabilities.
QEMU_CPU = ("Snowridge,mpx=off,monitor=off,aes=off,pclmulqdq=off,rdrand=off,"
            "bmi1=on,bmi2=on,adx=on,abm=on,la57=on")


def host_has_avx2():
    """softkvm advertises AVX, AVX2, FMA and F16C (x86-64-v3) exactly where the
    host runs them (and SOFTKVM_NO_AVX is unset); TCG 7.2 can too, so QEMU
    gets them then: the guest's glibc picks the same string functions on both"""
    try:
        flags = next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split()
    except (OSError, StopIteration):
        return False
    return (all(f in flags for f in ("avx", "avx2", "fma", "f16c"))
            and not os.environ.get("SOFTKVM_NO_AVX"))


if host_has_avx2():
    QEMU_CPU += ",avx=on,avx2=on,fma=on,f16c=on"
if os.environ.get("SOFTKVM_PKU") == "1":  # softkvm offers PKU only then
    QEMU_CPU += ",pku=on"
QEMU_APPEND = ("pti=off mds=off mmio_stale_data=off reg_file_data_sampling=off "
               "indirect_target_selection=off")

MIB = 1 << 20
ZERO64_SHA256 = hashlib.sha256(bytes(64 * MIB)).hexdigest()



def check_sha_zero(out):
    return ZERO64_SHA256 in out, "the SHA-256 of 64 MiB of zeros is %s" % ZERO64_SHA256


def check_lines(*want):
    def check(out):
        got = [l.strip() for l in out.splitlines() if l.strip()][-len(want):]
        return got == list(want), "expected the lines %s" % (list(want),)
    return check


def check_gzip(out):
    sums = re.findall(r"\b([0-9a-f]{64})\b", out)
    ok = len(sums) == 2 and sums[0] == sums[1] and "SIZE_OK" in out
    return ok, "gunzip -c r.gz | sha256sum must equal sha256sum r, r.gz not empty"


class Workload:
    """command: timed, in a subshell; post: cheap, after the timing in the same
    subshell (it sees the loop counter); verify: a separate, untimed command;
    check(what command + post + verify printed) -> (ok, what was expected);
    needs: a workload whose files this one uses (run untimed when not chosen)."""

    def __init__(self, key, label, command, check, post=None, verify=None, needs=None):
        self.key, self.label, self.command, self.check = key, label, command, check
        self.post, self.verify, self.needs = post, verify, needs


# The commands are the same text in the guests and natively; the working
# directory is a tmpfs (the guest mounts one at /bench).
WORKLOADS = [
    Workload("sha256", "dd 64 MiB of zeros | sha256sum",
             "dd if=/dev/zero bs=1M count=64 | sha256sum", check_sha_zero),
    Workload("loop", "shell loop, 1,000,000 x i=$((i+1))",
             "i=0; while [ $i -lt 1000000 ]; do i=$((i+1)); done", check_lines("1000000"),
             post="echo $i"),
    Workload("urandom", "16 MiB from /dev/urandom to tmpfs",
             "dd if=/dev/urandom of=r bs=1M count=16 iflag=fullblock",
             check_lines(str(16 * MIB)), verify="wc -c < r"),
    Workload("gzip", "gzip -c of those 16 MiB", "gzip -c r > r.gz", check_gzip,
             verify="gunzip -c r.gz | sha256sum; sha256sum r; [ -s r.gz ] && echo SIZE_OK",
             needs="urandom"),
    Workload("files", "1000 empty files in 20 directories",
             "mkdir t && for d in $(seq 1 20); do mkdir t/d$d;"
             " for f in $(seq 1 50); do : > t/d$d/f$f; done; done",
             check_lines("1000", "21"), verify="find t -type f | wc -l; find t -type d | wc -l"),
    Workload("ls", "ls -lR of that tree, 20 times",
             "i=0; while [ $i -lt 20 ]; do ls -lR t > /dev/null || break; i=$((i+1)); done",
             check_lines("20", "1000"), post="echo $i", verify="ls -lR t | grep -c '^-'",
             needs="files"),
    Workload("fork", "500 x fork+exec of busybox true",
             "i=0; while [ $i -lt 500 ]; do /bin/busybox true || break; i=$((i+1)); done",
             check_lines("500"), post="echo $i"),
]
BOOT = "boot"
BOOT_WALL = "boot-wall"
ROW_LABELS = {w.key: w.label for w in WORKLOADS}
TIMED = re.compile(r"__T (\d+\.\d+) (\d+\.\d+) (\d+)")


def log(msg):
    print("bench-linux: " + msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def timed_line(w):
    """One shell line: the command in a subshell (so the interactive shell's
    job control plays no part), timed by that subshell, then its cheap checks."""
    line = "( s=$EPOCHREALTIME; %s; st=$?; e=$EPOCHREALTIME; echo \"__T $s $e $st\"" % w.command
    if w.post:
        line += "; " + w.post
    return line + " )"


def parse_timed(system, w, out):
    """(guest seconds, what the command and its checks printed)."""
    m = TIMED.search(out or "")
    if not m:
        raise BenchError("%s: %s: no timing line in %r" % (system, w.key, out))
    if m.group(3) != "0":
        raise BenchError("%s: %s: exit status %s: %r" % (system, w.key, m.group(3), out))
    return float(m.group(2)) - float(m.group(1)), out[:m.start()] + out[m.end():]


def check_output(system, w, out):
    ok, what = w.check(out)
    if not ok:
        raise BenchError("%s: %s: wrong output (%s): %r" % (system, w.key, what, out))


def plan(keys):
    """The workloads to run, in order: [(workload, timed)]; what a chosen one
    needs runs untimed."""
    byname = {w.key: w for w in WORKLOADS}
    need = set(keys) | {byname[k].needs for k in keys if byname[k].needs}
    return [(w, w.key in keys) for w in WORKLOADS if w.key in need]


# ---------------------------------------------------------------- native

def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_native(busybox, keys, timeout):
    """{key: (seconds, CPU seconds)}: busybox sh -c with the same lines, in a tmpfs."""
    tmpbase = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    d = tempfile.mkdtemp(prefix="bench-linux.", dir=tmpbase)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": d, "LC_ALL": "C"}

    def sh(line):
        return subprocess.run([busybox, "sh", "-c", line], cwd=d, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace",
                              timeout=timeout).stdout

    res = {}
    try:
        for w, timed in plan(keys):
            c = children_cpu()
            t, out = parse_timed("native", w, sh(timed_line(w)))
            c = children_cpu() - c
            if w.verify:
                out += sh(w.verify)
            check_output("native", w, out)
            if timed:
                res[w.key] = (t, c)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return res


# ---------------------------------------------------------------- guests

def vuln_summary(text):
    """/sys/devices/system/cpu/vulnerabilities as {name: what the kernel runs}."""
    s = {}
    for line in text.splitlines():
        name, _, state = line.partition(":")
        if not state:
            continue
        state = state.split(";")[0].strip()
        # "Vulnerable: Clear CPU buffers attempted" means VERW runs; plain "Vulnerable" nothing
        s[name] = "nothing" if state in ("Not affected", "Vulnerable") else state
    return s


def proc_cpu(pid):
    """User + system CPU seconds of a process (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def clock_probe(g, system, timeout):
    """(host time, guest EPOCHREALTIME, host uncertainty) at one moment."""
    h0 = time.time()
    out, st = g.run("echo __C $EPOCHREALTIME", timeout)
    h1 = time.time()
    m = re.search(r"__C (\d+\.\d+)", out or "")
    if st != 0 or not m:
        raise BenchError("%s: could not read the guest clock: %r" % (system, out))
    return (h0 + h1) / 2, float(m.group(1)), (h1 - h0) / 2


def run_guest(system, cmd, keys, logpath, timeout, info):
    """Boot, time the workloads, power off: {key: (guest seconds, host CPU seconds)}."""
    res = {}
    with open(logpath, "wb") as logf:
        t0 = time.time()
        g = Guest(cmd, logf)
        try:
            if not g.wait_for(MARKER, timeout):
                raise BenchError("%s: no marker line within %d s (log: %s)" %
                                 (system, timeout, logpath))
            wall, cpu = time.time() - t0, proc_cpu(g.p.pid)
            m = g.wait_for(MARKER_UPTIME, 30)
            if not m:  # a kernel message in the middle of the line
                m = MARKER_UPTIME.search(KMSG.sub("", g.out.decode(errors="replace")).encode())
            if not m:
                raise BenchError("%s: the marker line has no uptime (log: %s)" % (system, logpath))
            res[BOOT] = (float(m.group(3)), cpu)
            res[BOOT_WALL] = (wall, None)
            log("  %-8s %-40s %8.2f s, host: %.2f s, CPU %.2f s" %
                (system, "boot (uptime at the marker)", res[BOOT][0], wall, cpu))
            out, st = g.run("cd /sys/devices/system/cpu/vulnerabilities && grep . *; "
                            "grep -m1 '^flags' /proc/cpuinfo; grep -m1 '^model name' /proc/cpuinfo;"
                            " mkdir -p /bench && mount -t tmpfs tmpfs /bench && cd /bench",
                            timeout)
            if st != 0:
                raise BenchError("%s: setting up /bench failed: %r" % (system, out))
            lines = out.splitlines()
            info["vuln"] = vuln_summary("\n".join(l for l in lines
                                                  if not l.startswith(("flags", "model name"))))
            info["flags"] = set(next((l.split(":", 1)[1].split() for l in lines
                                      if l.startswith("flags")), []))
            c0 = clock_probe(g, system, timeout)
            for w, timed in plan(keys):
                h, c = time.time(), proc_cpu(g.p.pid)
                out, st = g.run(timed_line(w), timeout)
                h, c = time.time() - h, proc_cpu(g.p.pid) - c
                if out is None:
                    raise BenchError("%s: %s: no end within %d s (log: %s)" %
                                     (system, w.key, timeout, logpath))
                t, out = parse_timed(system, w, out)
                # the guest's clock must not run faster than the host's
                if t > h * 1.02 + 0.05:
                    raise BenchError("%s: %s took %.2f guest s but only %.2f host s: the guest "
                                     "clock is wrong" % (system, w.key, t, h))
                if w.verify:
                    v, st = g.run(w.verify, timeout)
                    if v is None:
                        raise BenchError("%s: %s: its check did not end within %d s" %
                                         (system, w.key, timeout))
                    out += v
                check_output(system, w, out)
                if timed:
                    res[w.key] = (t, c)
                    log("  %-8s %-40s %8.2f s, host: %.2f s, CPU %.2f s" %
                        (system, w.label, t, h, c))
            c1 = clock_probe(g, system, timeout)
            dh = c1[0] - c0[0]
            rate = (c1[1] - c0[1]) / dh
            info["clock"] = rate
            if abs(rate - 1) > 0.02 + (c0[2] + c1[2]) / dh:
                raise BenchError("%s: the guest clock ran at %.3f times the host's over %.0f s: "
                                 "its seconds are not seconds" % (system, rate, dh))
            if g.poweroff() is None:
                raise BenchError("%s: poweroff -f did not end it (log: %s)" % (system, logpath))
        finally:
            if g.p.poll() is None:
                g.p.kill()
                g.p.wait()
            if g.err:
                logf.write(b"\n--- stderr ---\n" + g.err)
    return res


# ---------------------------------------------------------------- report

def guest_files(builddir):
    p = subprocess.run([os.path.join(ROOT, "scripts", "linux-guest.sh"), "--install",
                        os.path.join(builddir, "linux-guest")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode:
        sys.exit("bench-linux: " + (p.stderr.strip() or "linux-guest.sh failed"))
    env = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
    return env["KERNEL"], env["INITRD"]


def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def ratio(a, b):
    return a / b if a is not None and b else None


def print_table(title, rows, values, excluded=()):
    """values: {system: {row: seconds}}; rows: [(key, label)]."""
    mean_label = "geometric mean of softkvm/TCG (%d rows%s)"
    w = max([len(title), len(mean_label) + 2] + [len(label) for _, label in rows])
    print("%-*s %9s %9s %9s %12s %15s" % (w, title, "native", "QEMU TCG", "softkvm",
                                          "softkvm/TCG", "softkvm/native"))
    logs = []
    for key, label in rows:
        v = {s: values[s].get(key) for s in ("native", "qemu", "softkvm")}
        st, sn = ratio(v["softkvm"], v["qemu"]), ratio(v["softkvm"], v["native"])
        if st and key not in excluded:
            logs.append(math.log(st))
        print("%-*s %9s %9s %9s %12s %15s" % (w, label, fmt(v["native"], "%.3f"), fmt(v["qemu"]),
                                              fmt(v["softkvm"]), fmt(st, "%.2fx"),
                                              fmt(sn, "%.0fx")))
    if logs:
        print("%-*s %9s %9s %9s %12s" % (w, mean_label % (len(logs), ", * not" if excluded else ""),
                                         "", "", "", "%.2fx" % math.exp(sum(logs) / len(logs))))


def main():
    keys_all = [w.key for w in WORKLOADS]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--softkvm", default=os.path.join(ROOT, "build", "softkvm"),
                    help="the softkvm binary (default: build/softkvm)")
    ap.add_argument("--builddir", default=os.path.join(ROOT, "build"),
                    help="where the initramfs and the console logs go (BUILDDIR/linux-guest)")
    ap.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-x86_64"))
    ap.add_argument("--qemu-cpu", default=QEMU_CPU, help="QEMU's -cpu (default: %(default)s)")
    ap.add_argument("--qemu-append", default=QEMU_APPEND,
                    help="added to QEMU's kernel command line (default: %(default)s)")
    ap.add_argument("--busybox", default="/bin/busybox",
                    help="the busybox of the native runs (the initramfs holds /bin/busybox)")
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--mem", default="512M")
    ap.add_argument("--runs", type=int, default=1, help="best of N runs (default 1)")
    ap.add_argument("--native-runs", type=int, default=3,
                    help="native runs per run (they are cheap; default 3)")
    ap.add_argument("--only", help="comma-separated workloads: " + ",".join(keys_all) +
                    " (boot is always measured)")
    ap.add_argument("--no-native", action="store_true")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--no-softkvm", action="store_true")
    ap.add_argument("--timeout", type=int, default=1800, help="per boot or workload, seconds")
    a = ap.parse_args()
    keys = keys_all
    if a.only:
        keys = [k.strip() for k in a.only.split(",") if k.strip() and k.strip() != BOOT]
        bad = [k for k in keys if k not in keys_all]
        if bad:
            ap.error("unknown workload(s) %s; known: %s" % (",".join(bad), ",".join(keys_all)))

    kernel, initrd = guest_files(a.builddir)
    logdir = os.path.join(a.builddir, "linux-guest")
    systems = []
    if not a.no_native:
        systems.append("native")
    if not a.no_qemu:
        if shutil.which(a.qemu):
            systems.append("qemu")
        else:
            log("%s not found: no QEMU column" % a.qemu)
    if not a.no_softkvm:
        if not os.access(a.softkvm, os.X_OK):
            sys.exit("bench-linux: %s: not executable" % a.softkvm)
        systems.append("softkvm")
    cmds = {
        "softkvm": [a.softkvm, "run", "--accel", "soft", "--cpus", str(a.cpus), "--mem", a.mem,
                    "--reboot", "exit", "--kernel", kernel, "--initrd", initrd, "--append", APPEND],
        "qemu": [a.qemu, "-nodefaults", "-nographic", "-machine", "pc", "-accel", "tcg",
                 "-cpu", a.qemu_cpu, "-no-reboot", "-serial", "stdio", "-smp", str(a.cpus),
                 "-m", a.mem, "-kernel", kernel, "-initrd", initrd,
                 "-append", (APPEND + " " + a.qemu_append).strip()],
    }
    host_cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                     if l.startswith("model name")), platform.processor())
    print("bench-linux %s, host %s (%d CPUs, load average %.1f at the start), %s" %
          (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), host_cpu, os.cpu_count(),
           os.getloadavg()[0], "best of %d run%s" % (a.runs, "s" if a.runs > 1 else "")))
    print("guest: %s, %s, %d vCPU, %s; softkvm: %s\nQEMU TCG: -cpu %s, kernel command line + '%s'"
          "\nnative: %s sh in %s, best of %d per run" %
          (kernel, os.path.relpath(initrd), a.cpus, a.mem, a.softkvm, a.qemu_cpu, a.qemu_append,
           a.busybox, "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir(),
           a.native_runs))
    sys.stdout.flush()

    # best[system][key] = [guest seconds, host CPU seconds], each the best of the runs
    best = {"native": {}, "qemu": {}, "softkvm": {}}
    info = {"qemu": {}, "softkvm": {}}
    failed = None
    for r in range(a.runs):
        # the systems take turns; the order alternates between runs
        for s in (systems if r % 2 == 0 else systems[::-1]):
            log("run %d/%d: %s" % (r + 1, a.runs, s))
            try:
                if s == "native":
                    res = {}
                    for _ in range(a.native_runs):
                        for k, v in run_native(a.busybox, keys, a.timeout).items():
                            res[k] = [min(x, y) for x, y in zip(v, res.get(k, v))]
                    log("  native   " + ", ".join("%s %.3f s" % (k, v[0]) for k, v in res.items()))
                else:
                    res = run_guest(s, cmds[s], keys,
                                    os.path.join(logdir, "bench-%s-%d.log" % (s, r)), a.timeout,
                                    info[s])
            except (BenchError, subprocess.TimeoutExpired) as e:
                failed = str(e)
                log("FAILED: " + failed)
                break
            for k, v in res.items():
                old = best[s].get(k, v)
                best[s][k] = [min(x, y) if None not in (x, y) else x for x, y in zip(v, old)]
        if failed:
            break

    # the two guests must run the same kernel code: compare what Linux turned on
    vq, vs = info["qemu"].get("vuln"), info["softkvm"].get("vuln")
    notes, differ = [], False
    if vq is not None and vs is not None:
        for k in sorted(set(vq) | set(vs)):
            if vq.get(k) == vs.get(k):
                continue
            if k == "l1tf" and vs.get(k) == "nothing":
                # not avoidable (Linux inverts not-present PTEs whatever l1tf= says), and cheap
                notes.append("known difference: l1tf: QEMU '%s'" % vq.get(k))
                continue
            differ = True
            notes.append("mitigation differs: %s: QEMU '%s', softkvm '%s'" %
                         (k, vq.get(k), vs.get(k)))
        fq, fs = info["qemu"]["flags"], info["softkvm"]["flags"]
        notes.append("guest CPU flags only on softkvm: " + (" ".join(sorted(fs - fq)) or "none"))
        notes.append("guest CPU flags only on QEMU: " + (" ".join(sorted(fq - fs)) or "none"))
    for s in ("qemu", "softkvm"):
        if "clock" in info[s]:
            notes.append("%s: guest clock / host clock over the run: %.4f" % (s, info[s]["clock"]))
    for n in notes:
        log(n)

    rows = [(w.key, w.label) for w in WORKLOADS if w.key in keys]
    print()
    print_table("guest seconds", [(BOOT, "boot: uptime at the initramfs's marker"),
                                  (BOOT_WALL, "boot: host wall clock to the marker *")] + rows,
                {s: {k: v[0] for k, v in best[s].items()} for s in best}, excluded=(BOOT_WALL,))
    print("* from starting the emulator (QEMU: SeaBIOS first), with the kernel's decompression")
    print()
    print_table("host CPU seconds (emulator process)",
                [(BOOT, "boot: start to the marker")] + rows,
                {s: {k: v[1] for k, v in best[s].items()} for s in best})
    if differ:
        print("WARNING: the guests' kernels do not run the same mitigations (see stderr)")
    if failed:
        print("FAILED: " + failed)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
