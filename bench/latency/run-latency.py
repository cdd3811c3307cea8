#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make bench-latency: interrupt latencies and idle cost, softkvm beside QEMU TCG.

Runs the guest of latency.c with 4 vCPUs on `softkvm run --rng` (twice: with
IRQ offload, the default, and with SOFTKVM_IRQFD_ROUTED=1, the irqfd through
the eventfd and softkvm's service thread) and on qemu-system-x86_64 -accel
tcg -device virtio-rng-pci (same kernel, same command line), in the same
run, and prints one table. Latencies come from the guest's TSC (converted
with the TSC rate the guest measured against the ACPI PM timer); the idle
cost is the host CPU time of the whole VMM process (every thread, from
/proc/PID/task/*/schedstat) over the guest's idle phases, divided by the
wall time: the share of one host core.

A benchmark reports figures; nothing here asserts a speed. The exit status
is non-zero only if a guest did not run to the end.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import time

ROWS = [
    ("virtio_irq", "virtio-rng completion (used ring) -> MSI-X handler, halted"),
    ("virtio_rtt", "virtio-rng request: notify -> MSI-X handler, halted"),
    ("ipi_spinning", "IPI round trip, target vCPU spinning (IF=1)"),
    ("ipi_spinning_oneway", "IPI sent -> handler on the spinning vCPU"),
    ("ipi_halted", "IPI round trip, target vCPU halted"),
    ("hlt_wakeup", "HLT wake-up: IPI sent -> handler on the halted vCPU"),
    ("timer_oneshot", "LAPIC one-shot timer: expiry -> handler (vCPU halted)"),
    ("timer_spinning", "LAPIC one-shot timer: expiry -> handler (vCPU in jmp $)"),
    ("timer_spinning_max", "  the same, worst of the iterations"),
    ("timer_tscdeadline", "TSC-deadline timer: deadline -> handler (vCPU halted)"),
    ("cpuid", "CPUID (handled in the kernel)"),
    ("inl_pmtimer", "IN from the PM timer (exit to the VMM)"),
    ("lapic_tpr_read", "LAPIC TPR read (in-kernel MMIO)"),
    ("self_ipi", "self-IPI, sent and handled"),
]


def cpu_ns(pid, seen):
    """CPU time of every thread of pid, in ns (schedstat: time on a CPU).

    seen keeps each thread's last figure, so a thread that exits, or a
    read that fails, never makes the total go back."""
    for f in glob.glob("/proc/%d/task/*/schedstat" % pid):
        try:
            with open(f) as fh:
                v = int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        tid = f.split("/")[4]
        seen[tid] = max(v, seen.get(tid, 0))
    return sum(seen.values())


def run_guest(cmd, timeout, env=None):
    """Run a guest; returns (figures, idle shares, ok). Samples CPU at the markers."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e)
    figures, idle, marks, seen = {}, {}, {}, {}
    done = False
    deadline = time.monotonic() + timeout
    for raw in p.stdout:
        line = raw.decode(errors="replace").replace("\r", "").strip()
        # QEMU's SeaBIOS banner shares the serial line
        for key in ("BENCH ", "TSC_KHZ ", "IDLE-", "TICK-", "DONE", "CPUS "):
            k = line.find(key)
            if k > 0:
                line = line[k:]
        w = line.split()
        if not w:
            continue
        now = time.monotonic(), cpu_ns(p.pid, seen)
        if w[0] == "BENCH" and len(w) >= 5:
            figures[w[1]] = tuple(w[2:])
        elif w[0] == "TSC_KHZ":
            figures["tsc_khz"] = int(w[1])
        elif w[0] == "CPUS":
            figures["cpus"] = int(w[1])
        elif w[0] in ("IDLE-START", "TICK-START"):
            marks[w[0][:4]] = now
        elif w[0] in ("IDLE-END", "TICK-END") and w[0][:4] in marks:
            t0, c0 = marks[w[0][:4]]
            idle[w[0][:4]] = (now[1] - c0) / 1e9 / (now[0] - t0) * 100.0
        elif w[0] == "DONE":
            done = True
        if time.monotonic() > deadline:
            break
    try:
        p.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    if not done:
        err = p.stderr.read().decode(errors="replace")
        sys.stderr.write("bench-latency: %s did not finish: %s\n" % (cmd[0], err.strip()))
    return figures, idle, done


def host_timer_overshoot_us():
    """How late the host wakes a thread from a 100 us sleep (timer slack 1 us, as
    softkvm's vCPU threads): the floor under any timer interrupt latency."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(29, 1000, 0, 0, 0)  # PR_SET_TIMERSLACK
    except (OSError, AttributeError):
        pass
    late = []
    for _ in range(200):
        t0 = time.perf_counter_ns()
        time.sleep(0.0001)
        late.append((time.perf_counter_ns() - t0 - 100000) / 1000.0)
    late.sort()
    return late[len(late) // 2]


def us(fig, name):
    v = fig.get(name)
    khz = fig.get("tsc_khz")
    if not v or v[0] == "-" or not khz:
        return None
    return int(v[0]) * 1000.0 / khz


def fmt_us(x):
    if x is None:
        return "n/a"
    return "%.2f us" % x if x < 100 else "%.0f us" % x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--cpus", type=int, default=4)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--idle", type=int, default=3, help="seconds of each idle phase")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--timeout", type=int, default=120)
    a = ap.parse_args()

    append = "iters=%d idle=%d tick=%d" % (a.iters, a.idle, a.idle)
    sk = [a.softkvm, "run", "--accel", "soft", "--cpus", str(a.cpus), "--kernel", a.kernel,
          "--append", append, "--rng"]
    # the virtio rows twice on softkvm: the irqfd's MSI delivered by the device's thread
    # (IRQ offload, the default) and through the eventfd and softkvm's service thread
    runs = [("softkvm", sk, {"SOFTKVM_IRQFD_ROUTED": "0"}),
            ("softkvm routed", sk, {"SOFTKVM_IRQFD_ROUTED": "1"})]
    qemu = os.environ.get("QEMU", "qemu-system-x86_64")
    if not a.no_qemu and not os.environ.get("BENCH_NO_QEMU") and shutil.which(qemu):
        runs.append(("QEMU TCG", [qemu, "-nodefaults", "-nographic", "-machine", "pc",
                                  "-accel", "tcg", "-cpu", "max", "-no-reboot",
                                  "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                                  "-serial", "stdio", "-smp", str(a.cpus),
                                  "-device", "virtio-rng-pci,disable-legacy=on",
                                  "-kernel", a.kernel, "-append", append], {}))
    results = []
    ok = True
    for name, cmd, env in runs:
        fig, idle, done = run_guest(cmd, a.timeout, env)
        ok &= done
        results.append((name, fig, idle))

    print("bench-latency: %d vCPUs, %d iterations per figure, median (TSC cycles -> us)"
          % (a.cpus, a.iters))
    head = "%-56s" % "" + "".join("%16s" % n for n, _, _ in results)
    print(head)
    for key, label in ROWS:
        print("%-56s" % label + "".join("%16s" % fmt_us(us(f, key)) for _, f, _ in results))
    for key, label in (("IDLE", "idle %d-vCPU guest, all in HLT: host CPU" % a.cpus),
                       ("TICK", "idle, 100 Hz LAPIC tick per vCPU: host CPU")):
        print("%-56s" % label + "".join(
            "%16s" % ("%.2f%% core" % i[key] if key in i else "n/a") for _, _, i in results))
    print("%-56s" % "host: a 100 us sleep wakes late by (median)" +
          "%16s" % fmt_us(host_timer_overshoot_us()))
    print("%-56s" % "guest TSC rate" + "".join(
        "%16s" % ("%.0f MHz" % (f["tsc_khz"] / 1000) if "tsc_khz" in f else "n/a")
        for _, f, _ in results))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
