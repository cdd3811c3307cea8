#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""System test: Debian's Linux uses softkvm's AVX2 (cpu/ops_avx.c).

Boots the kernel and busybox initramfs (as run-system.py does) with the
kernel's x86 crypto modules in a second archive (run-qemu-virtio.py's
make_initrd): sha256-ssse3 (sha256-avx2), sha512-ssse3 (sha512-avx2),
chacha-x86_64 (chacha20-simd, which takes its AVX2 paths when the CPU has
AVX2 and YMM state) and nhpoly1305-avx2. Checks /proc/cpuinfo lists avx, avx2,
fma and f16c; that the kernel enabled YMM state ("x86/fpu: Supporting XSAVE
feature 0x004: 'AVX registers'"); that each module loads and /proc/crypto
lists its AVX2 driver with "selftest : passed" (the crypto manager's
self-tests ran: CONFIG_CRYPTO_MANAGER_DISABLE_TESTS is off in Debian's
kernel, so a wrong result of any AVX2 instruction the code uses fails its
test vectors and the driver is marked failed). Skips (77) on a host
without AVX2, FMA or F16C (softkvm offers AVX only where the host runs it).
"""
import argparse
import importlib.util
import os
import re
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from guestcon import MARKER, Guest  # noqa: E402

spec = importlib.util.spec_from_file_location("run_system", os.path.join(here, "run-system.py"))
rs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rs)
check = rs.check
spec = importlib.util.spec_from_file_location("run_virtio", os.path.join(here, "run-qemu-virtio.py"))
rv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rv)

# (module, the AVX2 drivers it registers), in load order (libchacha before chacha,
# sha512_generic, libpoly1305 and nhpoly1305 before their users)
MODULES = [
    ("lib/crypto/libchacha.ko", []),
    ("arch/x86/crypto/chacha-x86_64.ko", ["chacha20-simd", "xchacha20-simd", "xchacha12-simd"]),
    ("arch/x86/crypto/sha256-ssse3.ko", ["sha256-avx2", "sha224-avx2"]),
    ("crypto/sha512_generic.ko", []),
    ("arch/x86/crypto/sha512-ssse3.ko", ["sha512-avx2", "sha384-avx2"]),
    ("lib/crypto/libpoly1305.ko", []),
    ("crypto/nhpoly1305.ko", []),
    ("arch/x86/crypto/nhpoly1305-avx2.ko", ["nhpoly1305-avx2"]),
]


def crypto_drivers(text):
    """{driver: selftest} from /proc/crypto"""
    out = {}
    for block in text.split("\n\n"):
        d = re.search(r"(?m)^driver\s*:\s*(\S+)", block)
        s = re.search(r"(?m)^selftest\s*:\s*(\S+)", block)
        if d:
            out[d.group(1)] = s.group(1) if s else None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--cpuid", required=True, help="the supported-cpuid helper")
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--timeout", type=int, default=300, help="seconds to the marker line")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(here))
    with open("/proc/cpuinfo") as f:
        m = re.search(r"(?m)^flags\s*:\s*(.*)$", f.read())
    host = set(m.group(1).split()) if m else set()
    if not {"avx", "avx2", "fma", "f16c"} <= host or os.environ.get("SOFTKVM_NO_AVX"):
        print("SKIP: the host lacks AVX2/FMA/F16C (or SOFTKVM_NO_AVX): softkvm offers no AVX")
        return 77
    want, known = rs.expected_flags(a.cpuid, 1)
    check("KVM_GET_SUPPORTED_CPUID offers avx avx2 fma f16c",
          {"avx", "avx2", "fma", "f16c"} <= want, " ".join(sorted(want)))
    kernel, base_initrd = rs.locate_guest(root, a.builddir)
    release = re.sub(r"^vmlinuz-", "", os.path.basename(kernel))
    initrd = os.path.join(a.builddir, "avx-initramfs.cpio.gz")
    rv.make_initrd(base_initrd, release, initrd, [m for m, _ in MODULES])
    logname = os.path.join(a.builddir, "linux-avx.log")
    cmd = [a.softkvm, "run", "--accel", "soft", "--kernel", kernel, "--initrd", initrd,
           "--append", "console=ttyS0 panic=-1", "--cpus", "1", "--mem", "256M",
           "--reboot", "exit"]
    print("$ " + " ".join(cmd))
    print("console log: " + logname)
    with open(logname, "wb") as log:
        g = Guest(cmd, log)
        m = g.wait_for(MARKER, a.timeout)
        check("boots to the marker line", m is not None)
        if not m:
            g.p.kill()
            g.p.wait()
            return rs.finish(g)
        check("x86/fpu enables the AVX registers (XSAVE feature 0x004)",
              re.search(rb"x86/fpu: Supporting XSAVE feature 0x004: 'AVX registers'", g.out)
              is not None)
        check("x86/fpu: xstate_offset[2]: 576, xstate_sizes[2]: 256",
              re.search(rb"xstate_offset\[2\]:\s*576, xstate_sizes\[2\]:\s*256", g.out)
              is not None)
        out, st = g.run("grep -m1 '^flags' /proc/cpuinfo", 60)
        flags = set((out or "").split(":", 1)[-1].split())
        for f in ("avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "movbe"):
            check("/proc/cpuinfo lists %s" % f, f in flags, out)
        for mod, drivers in MODULES:
            name = os.path.basename(mod)
            out, st = g.run("insmod /virtio/%s" % name, 120)
            check("%s loads" % name, st == 0, out)
        out, st = g.run("cat /proc/crypto", 60)
        drv = crypto_drivers(out or "")
        for mod, drivers in MODULES:
            for d in drivers:
                check("/proc/crypto: %s, selftest passed" % d, drv.get(d) == "passed",
                      "%s: %s" % (d, drv.get(d)))
        print("INFO: AVX drivers: " + " ".join(sorted(k for k in drv if "avx" in k or "simd" in k)))
        out, st = g.run("dmesg | grep -i -E 'avx|alg: .*(fail|error)'", 60)
        print("INFO: dmesg: " + (out or "").strip().replace("\n", " | "))
        check("no crypto self-test failure in dmesg",
              out is not None and not re.search(r"alg: .*(fail|error)", out, re.I), out)
        status = g.poweroff()
        check("poweroff -f ends softkvm with status 0", status == 0, "status %s" % status)
    return rs.finish(g)


if __name__ == "__main__":
    sys.exit(main())
