#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`softkvm run` refuses bad input cleanly, and reports how guests end.

Every bad command line or kernel must give exactly one line on stderr that
names the problem (and the file or flag), nothing on stdout, and exit status
2 -- never a crash. A guest that runs is announced by one line on stderr
naming the accelerator: softkvm unless --accel asks for the host's KVM. Every
run here passes --accel soft (the run() helper adds it) except the ones that
check the default and --accel auto. Bad kernels are made here from a good one: truncated,
not ELF, no or broken multiboot header, 64-bit, segments outside RAM, bad
program headers, a.out kludge fields that do not fit the file. Tiny guests
check the exit statuses: HLT without an irqchip (0), triple fault on the BSP
or an AP (4), isa-debug-exit.
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile

failures = 0
checks = 0


# the start-up line of a guest that runs on softkvm's processor
SOFT_LINE = "softkvm run: accelerator: softkvm (software x86-64 processor)"


def run(softkvm, args, timeout=30, accel=True):
    """softkvm run ARGS, with --accel soft first unless accel is False."""
    pre = ["--accel", "soft"] if accel else []
    p = subprocess.run([softkvm, "run"] + pre + args, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def startup(err):
    """Split a run's stderr into its start-up line (or None) and the rest."""
    lines = err.splitlines()
    if lines and lines[0].startswith("softkvm run: accelerator: "):
        return lines[0], lines[1:]
    return None, lines


def expect_error(softkvm, name, args, words):
    global failures, checks
    checks += 1
    status, out, err = run(softkvm, args)
    lines = err.splitlines()
    ok = status == 2 and out == "" and len(lines) == 1 and \
        all(w in lines[0] for w in words)
    print("%s: %s" % ("PASS" if ok else "FAIL", name))
    if not ok:
        failures += 1
        print("   args %r\n   status %s, stdout %r\n   stderr %r\n   wanted words %r" %
              (args, status, out, err, words))


def expect_ok(softkvm, name, args, status_want):
    global failures, checks
    checks += 1
    status, out, err = run(softkvm, args)
    ok = status == status_want
    print("%s: %s" % ("PASS" if ok else "FAIL", name))
    if not ok:
        failures += 1
        print("   args %r\n   status %s\n   stderr %r" % (args, status, err))


def expect_stop(softkvm, name, kernel, status_want, words, args=()):
    """A guest that ends: the status, the start-up line naming softkvm, and
    (if words) one more stderr line with them."""
    global failures, checks
    checks += 1
    status, out, err = run(softkvm, ["--kernel", kernel] + list(args))
    first, lines = startup(err)
    ok = status == status_want and first == SOFT_LINE and (
        words is None and not lines or
        words is not None and len(lines) == 1 and all(w in lines[0] for w in words))
    print("%s: %s" % ("PASS" if ok else "FAIL", name))
    if not ok:
        failures += 1
        print("   status %s (want %s), stderr %r" % (status, status_want, err))


def expect_accel(softkvm, name, kernel, args, want_line):
    """The start-up line of a run without --accel soft, and nothing else on stderr."""
    global failures, checks
    checks += 1
    status, out, err = run(softkvm, ["--kernel", kernel] + args, accel=False)
    first, rest = startup(err)
    ok = first == want_line and not rest
    print("%s: %s" % ("PASS" if ok else "FAIL", name))
    if not ok:
        failures += 1
        print("   args %r\n   status %s\n   stderr %r\n   wanted the line %r" %
              (args, status, err, want_line))


def write(d, name, data):
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def bzimage(version=0x20f, loadflags=1, setup_sects=1, boot_flag=0xaa55, init_size=0x10000,
            cmdline_size=255, reloc=1, align=0x200000, payload=4096):
    """A minimal bzImage: boot sector, one setup sector, then `payload` bytes of kernel."""
    b = bytearray(512 * (1 + max(setup_sects, 1)) + payload)
    b[0x1f1] = setup_sects
    struct.pack_into("<H", b, 0x1fe, boot_flag)
    b[0x200:0x202] = bytes([0xeb, 0x6a])
    b[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", b, 0x206, version)
    b[0x211] = loadflags
    struct.pack_into("<I", b, 0x22c, 0x7fffffff)
    struct.pack_into("<I", b, 0x230, align)
    b[0x234] = reloc
    struct.pack_into("<H", b, 0x236, 1)
    struct.pack_into("<I", b, 0x238, cmdline_size)
    struct.pack_into("<I", b, 0x260, init_size)
    return bytes(b)


def vmlinux(paddr=0x1000000, entry=0x1000000, filesz=0x1000, memsz=0x2000, phoff=64, phnum=1):
    """A minimal x86-64 ELF64 executable with one PT_LOAD segment."""
    eh = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, bytes(7), 2, 62, 1,
                     entry, phoff, 0, 0, 64, 56, phnum, 64, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 7, 0x1000, 0xffffffff81000000, paddr, filesz, memsz, 0x1000)
    return (eh + ph).ljust(0x1000, b"\0") + bytes(filesz)


def linux_errors(sk, d):
    """Bad bzImages, vmlinux files and Linux boot arguments: one line, status 2."""
    def bz(name, **kw):
        return write(d, name, bzimage(**kw))
    expect_error(sk, "bzImage: bad boot flag", ["--kernel", bz("bzflag", boot_flag=0x1234)],
                 ["bzflag", "boot flag"])
    expect_error(sk, "bzImage: protocol 2.05", ["--kernel", bz("bzold", version=0x205)],
                 ["bzold", "2.05", "too old"])
    expect_error(sk, "zImage (not loaded high)", ["--kernel", bz("zimage", loadflags=0)],
                 ["zimage", "zImage"])
    expect_error(sk, "bzImage: setup sectors beyond the file",
                 ["--kernel", write(d, "bzshort", bzimage(setup_sects=60)[:4096])],
                 ["bzshort", "truncated"])
    expect_error(sk, "bzImage: truncated header", ["--kernel", write(d, "bztiny", bzimage()[:700])],
                 ["bztiny", "truncated"])
    expect_error(sk, "bzImage: bad kernel_alignment", ["--kernel", bz("bzalign", align=0x30000)],
                 ["bzalign", "kernel_alignment"])
    expect_error(sk, "bzImage: init_size beyond RAM",
                 ["--kernel", bz("bzbig", init_size=0x7ffff000), "--mem", "64M"],
                 ["bzbig", "does not fit", "--mem"])
    k = bz("bzok")
    expect_error(sk, "bzImage: command line longer than cmdline_size",
                 ["--kernel", k, "--append", "x" * 300], ["--append", "255"])
    expect_error(sk, "bzImage: missing initrd",
                 ["--kernel", k, "--initrd", os.path.join(d, "nothere")], ["nothere"])
    expect_error(sk, "bzImage: initrd larger than RAM",
                 ["--kernel", k, "--initrd", write(d, "bigrd", bytes(5 << 20)), "--mem", "4M"],
                 ["bigrd", "does not fit"])
    expect_error(sk, "vmlinux: segment outside the file",
                 ["--kernel", write(d, "vmtrunc", vmlinux()[:0x1800])], ["vmtrunc", "outside the file"])
    expect_error(sk, "vmlinux: segment beyond RAM",
                 ["--kernel", write(d, "vmhigh", vmlinux(paddr=0x7000000, entry=0x7000000)),
                  "--mem", "64M"], ["vmhigh", "does not fit"])
    expect_error(sk, "vmlinux: segment below 1 MiB",
                 ["--kernel", write(d, "vmlow", vmlinux(paddr=0x8000, entry=0x8000))],
                 ["vmlow", "does not fit"])
    expect_error(sk, "vmlinux: entry point in no segment",
                 ["--kernel", write(d, "vmentry", vmlinux(entry=0x5000000))], ["vmentry", "entry"])
    expect_error(sk, "vmlinux: bad program header table",
                 ["--kernel", write(d, "vmph", vmlinux(phoff=0x7fffffff))], ["vmph", "program header"])
    expect_error(sk, "bad --reboot", ["--kernel", k, "--reboot", "later"], ["--reboot", "later"])


def mb_header(flags, extra=b""):
    return struct.pack("<III", 0x1BADB002, flags, (-(0x1BADB002 + flags)) & 0xffffffff) + extra


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--kernel32", required=True, help="a good ELF32 multiboot kernel")
    ap.add_argument("--kernel64", required=True, help="a 64-bit ELF with a multiboot header")
    ap.add_argument("--kernel-low", required=True,
                    help="a good ELF32 multiboot kernel linked at 0x8000 (tests/guest mblow)")
    ap.add_argument("--module", required=True, help="the multiboot test's module")
    a = ap.parse_args()
    sk = a.softkvm
    good = open(a.kernel32, "rb").read()
    ehdr = struct.unpack_from("<16sHHIIIIIHHHHHH", good, 0)
    phoff, phentsize, phnum = ehdr[5], ehdr[9], ehdr[10]
    # the first PT_LOAD program header
    ph = next(phoff + k * 32 for k in range(phnum)
              if struct.unpack_from("<I", good, phoff + k * 32)[0] == 1)

    def patched(off, fmt, value):
        b = bytearray(good)
        struct.pack_into(fmt, b, off, value)
        return bytes(b)

    with tempfile.TemporaryDirectory() as d:
        k = a.kernel32
        # command line
        expect_error(sk, "no --kernel", [], ["--kernel"])
        expect_error(sk, "unknown option", ["--kernel", k, "--frobnicate"], ["--frobnicate"])
        expect_error(sk, "missing option argument", ["--kernel"], ["--kernel", "argument"])
        expect_error(sk, "missing --mem argument", ["--kernel", k, "--mem"], ["--mem"])
        expect_error(sk, "unexpected positional argument", ["--kernel", k, "extra"], ["extra"])
        for m in ["0", "1M", "abc", "2T", "99999999999999999999999", "129K", "-5", "12Q", ""]:
            expect_error(sk, "impossible --mem %r" % m, ["--kernel", k, "--mem", m], ["--mem"])
        for c in ["0", "-1", "abc", "256", "1.5", "99999999999", ""]:
            expect_error(sk, "impossible --cpus %r" % c, ["--kernel", k, "--cpus", c], ["--cpus"])
        expect_error(sk, "bad --accel", ["--kernel", k, "--accel", "tcg"],
                     ["--accel", "tcg", "soft", "kvm", "auto"])
        # files
        missing = os.path.join(d, "missing.elf")
        expect_error(sk, "missing kernel", ["--kernel", missing], [missing, "No such file"])
        expect_error(sk, "kernel is a directory", ["--kernel", d], [d, "not a regular file"])
        linux_errors(sk, d)
        expect_error(sk, "empty kernel", ["--kernel", write(d, "empty", b"")], ["empty"])
        expect_error(sk, "missing module", ["--kernel", k, "--initrd", missing + " arg"],
                     [missing])
        expect_error(sk, "empty module name", ["--kernel", k, "--initrd", ",x"], ["--initrd"])
        # not multiboot
        expect_error(sk, "text file", ["--kernel", write(d, "text", b"hello world\n" * 100)],
                     ["text", "multiboot header"])
        hidden = bytearray(9000) + mb_header(3)
        expect_error(sk, "header beyond the first 8 KiB", ["--kernel", write(d, "late", hidden)],
                     ["late", "multiboot header"])
        badsum = bytearray(struct.pack("<III", 0x1BADB002, 3, 0)) + bytearray(64)
        expect_error(sk, "header with a bad checksum", ["--kernel", write(d, "badsum", badsum)],
                     ["badsum", "multiboot header"])
        expect_error(sk, "unsupported header flags",
                     ["--kernel", write(d, "flags", mb_header(0x8) + bytes(64))],
                     ["flags", "unsupported"])
        expect_error(sk, "header but not ELF, no address fields",
                     ["--kernel", write(d, "notelf", mb_header(3) + bytes(64))],
                     ["notelf", "not an ELF"])
        # ELF problems
        expect_error(sk, "64-bit ELF", ["--kernel", a.kernel64], ["64-bit"])
        tiny = b"\x7fELF\x01\x01\x01" + bytes(9) + mb_header(3)
        expect_error(sk, "truncated ELF header", ["--kernel", write(d, "tiny", tiny)],
                     ["tiny", "truncated ELF header"])
        expect_error(sk, "truncated in a segment",
                     ["--kernel", write(d, "trunc", good[:0x1100])], ["trunc", "truncated"])
        expect_error(sk, "segment beyond RAM",
                     ["--kernel", write(d, "high", patched(ph + 12, "<I", 0x7ff00000))],
                     ["high", "outside guest RAM"])
        # below 1 MiB: conventional memory is RAM (QEMU loads such kernels), but not
        # the real-mode IVT and BIOS data area, the EBDA, the VGA hole or the BIOS area
        expect_stop(sk, "a kernel linked at 0x8000 boots (below 1 MiB, over 0x9000)",
                    a.kernel_low, 1, None,
                    ["--append", "foo=bar answer=42", "--initrd", a.module + " modarg=1"])
        expect_error(sk, "segment over the IVT and BIOS data area",
                     ["--kernel", write(d, "ivt", patched(ph + 12, "<I", 0x100))],
                     ["ivt", "outside guest RAM", "0x500-0x9fc00"])
        expect_error(sk, "segment over the EBDA and the VGA hole",
                     ["--kernel", write(d, "vga", patched(ph + 12, "<I", 0x9f000))],
                     ["vga", "outside guest RAM", "0x9fc00"])
        expect_error(sk, "segment in the BIOS area (boot GDT, ACPI tables)",
                     ["--kernel", write(d, "bios", patched(ph + 12, "<I", 0xe0000))],
                     ["bios", "outside guest RAM"])
        expect_error(sk, "segment wrapping around 4 GiB",
                     ["--kernel", write(d, "wrap", patched(ph + 12, "<I", 0xfffff000))],
                     ["wrap", "outside guest RAM"])
        expect_error(sk, "file size > memory size",
                     ["--kernel", write(d, "fsz", patched(ph + 20, "<I", 1))],
                     ["fsz", "program header"])
        expect_error(sk, "bad program header size",
                     ["--kernel", write(d, "phsz", patched(42, "<H", 40))],
                     ["phsz", "program header size"])
        expect_error(sk, "program headers past the end",
                     ["--kernel", write(d, "phoff", patched(28, "<I", 0x7ffffff0))],
                     ["phoff", "truncated"])
        expect_error(sk, "no program headers",
                     ["--kernel", write(d, "phnum", patched(44, "<H", 0))],
                     ["phnum", "program headers"])
        expect_error(sk, "not i386", ["--kernel", write(d, "arm", patched(18, "<H", 40))],
                     ["arm", "i386"])
        expect_error(sk, "entry outside the segments",
                     ["--kernel", write(d, "entry", patched(24, "<I", 0x5000000))],
                     ["entry", "entry point"])
        # a.out kludge: header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr
        def aout(fields, size=64):
            return mb_header(0x10003, struct.pack("<5I", *fields)) + bytes(size)
        expect_error(sk, "a.out: load_end beyond the file",
                     ["--kernel", write(d, "aout1", aout((0x100000, 0x100000, 0x200000, 0, 0x100000)))],
                     ["aout1", "truncated"])
        expect_error(sk, "a.out: header_addr below load_addr",
                     ["--kernel", write(d, "aout2", aout((0x100000, 0x100100, 0, 0, 0x100100)))],
                     ["aout2", "header_addr"])
        expect_error(sk, "a.out: image outside RAM",
                     ["--kernel", write(d, "aout3", aout((0x9000000, 0x9000000, 0, 0, 0x9000000)))],
                     ["aout3", "outside guest RAM"])
        expect_error(sk, "a.out: bss_end below the image",
                     ["--kernel", write(d, "aout4", aout((0x100000, 0x100000, 0x100010, 0x100008, 0x100000)))],
                     ["aout4", "bss_end"])
        expect_error(sk, "a.out: entry outside the image",
                     ["--kernel", write(d, "aout5", aout((0x100000, 0x100000, 0, 0, 0x300000)))],
                     ["aout5", "entry point"])
        expect_error(sk, "a.out: address fields cut off",
                     ["--kernel", write(d, "aout6", mb_header(0x10003) + b"\0\0\0\0")],
                     ["aout6", "truncated"])
        big = mb_header(3) + bytes(3 << 20)
        expect_error(sk, "kernel larger than RAM",
                     ["--kernel", write(d, "big", big), "--mem", "2M"], ["big", "too large"])
        # how guests end: tiny flat kernels loaded through the a.out kludge at 1 MiB
        def flat(code, data=b""):
            hdr = mb_header(0x10003, struct.pack("<5I", 0x100000, 0x100000, 0, 0, 0x100020))
            body = hdr + bytes(0x20 - len(hdr)) + code
            body += bytes(0x40 - len(body)) + data
            return body
        # without an irqchip a halted vCPU can never wake (with one it waits, as on QEMU)
        expect_stop(sk, "--irqchip off, cli; hlt: the guest stops, status 0",
                    write(d, "hlt", flat(b"\xfa\xf4")), 0, ["halted with interrupts disabled"],
                    ["--irqchip", "off"])
        expect_stop(sk, "--irqchip off, sti; hlt: nothing can wake it, status 0",
                    write(d, "stihlt", flat(b"\xfb\xf4")), 0, ["halted"], ["--irqchip", "off"])
        # the BSP copies real-mode code to 0x8000 and starts vCPU 1 there with INIT and
        # SIPI 0x08, then spins; vCPU 1 loads an empty IVT and executes ud2
        bsp = (b"\xbe\x80\x00\x10\x00"                   # mov $0x100080, %esi
               b"\xbf\x00\x80\x00\x00"                   # mov $0x8000, %edi
               b"\xb9\x20\x00\x00\x00"                   # mov $32, %ecx
               b"\xf3\xa4"                               # rep movsb
               b"\xc7\x05\xf0\x00\xe0\xfe\xff\x01\x00\x00"   # SPIV = 0x1ff
               b"\xc7\x05\x00\x03\xe0\xfe\x00\x45\x0c\x00"   # ICR: INIT to all but self
               b"\xc7\x05\x00\x03\xe0\xfe\x08\x46\x0c\x00"   # ICR: SIPI 0x08
               b"\xeb\xfe")                              # jmp .
        ap = b"\x0f\x01\x1e\x10\x80\x0f\x0b"              # lidt 0x8010; ud2
        ap += bytes(32 - len(ap))
        hdr = mb_header(0x10003, struct.pack("<5I", 0x100000, 0x100000, 0, 0, 0x100020))
        body = hdr + bytes(0x20 - len(hdr)) + bsp
        body += bytes(0x80 - len(body)) + ap
        expect_stop(sk, "a triple fault on an AP stops every vCPU: status 4",
                    write(d, "aptriple", body), 4, ["vCPU 1", "triple fault"], ["--cpus", "2"])
        # lidt with limit 0, then ud2: #UD, #GP, #DF cannot be delivered
        expect_stop(sk, "triple fault: status 4",
                    write(d, "triple", flat(b"\x0f\x01\x1d\x40\x00\x10\x00\x0f\x0b", bytes(6))),
                    4, ["triple fault"])
        # mov $0x7f, %eax; out %eax, $0xf4
        exit7f = write(d, "exit7f", flat(b"\xb8\x7f\x00\x00\x00\xe7\xf4\xf4"))
        expect_stop(sk, "isa-debug-exit 0x7f: status 255", exit7f, 255, None)
        # the same through the a.out kludge fields at 0x9000, over the usual place of the
        # information structure (which moves): the image below 1 MiB runs
        low = mb_header(0x10003, struct.pack("<5I", 0x9000, 0x9000, 0, 0, 0x9020))
        low = low + bytes(0x20 - len(low)) + b"\xb8\x7f\x00\x00\x00\xe7\xf4\xf4"
        expect_stop(sk, "a.out image at 0x9000 (below 1 MiB) runs: status 255",
                    write(d, "aoutlow", low), 255, None)
        # the accelerator: softkvm by default even where a /dev/kvm exists; the
        # host's KVM with --accel auto only when /dev/kvm opens
        expect_accel(sk, "no --accel: softkvm runs the guest and says so", exit7f, [], SOFT_LINE)
        try:
            os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
            auto = "softkvm run: accelerator: kvm (the host's /dev/kvm, --accel auto)"
        except OSError as e:
            auto = ("softkvm run: accelerator: softkvm (software x86-64 processor; "
                    "--accel auto: /dev/kvm: %s)" % os.strerror(e.errno))
        expect_accel(sk, "--accel auto: the host's KVM if /dev/kvm opens, else softkvm",
                     exit7f, ["--accel", "auto"], auto)
        # accepted forms
        expect_ok(sk, "--help", ["--help"], 0)
        expect_ok(sk, "--mem 2M boots", ["--kernel", k, "--mem", "2M"], 1)
        expect_ok(sk, "--opt=value forms and --cpus 4", ["--kernel=" + k, "--mem=64M", "--cpus=4",
                                                         "--accel=soft"], 1)
        expect_ok(sk, "--mem with a GiB suffix", ["--kernel", k, "--mem", "1G"], 1)
    print("SUMMARY: %d tests, %d failures" % (checks, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
