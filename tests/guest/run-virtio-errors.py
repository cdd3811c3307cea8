#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`softkvm run --drive/--rng/--console/--net` refuses bad input cleanly (vmm/virtio/).

Each bad --drive or --console gives exactly one line on stderr naming the problem (and the
option or file), nothing on stdout, and exit status 2: not KEY=VALUE, an
unknown option, a format other than raw, bad readonly/cache values, a serial
longer than 20 bytes, no file=, a missing file, a directory, an unreadable
file, a read-only file for a writable drive, an image another VM holds, and
--irqchip off (no MSI-X without an irqchip); for --net: another network than
user, an unknown option, malformed hostfwd rules, a host port already in use,
two --net; for --vsock: no cid or path, a cid below 3 or not a number, an
unknown or empty option, a path too long, a missing directory, a regular file there, two
--vsock.  Permission checks run as
`nobody` when the test runs as root (root may open anything). A good
--drive and --rng let a test kernel run to its end with only the start-up
line on stderr.
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile

failures = 0
checks = 0
ENGINE = "interpreter" if os.environ.get("SOFTKVM_ENGINE") == "interp" else "JIT"
SOFT_LINE = "softkvm run: accelerator: softkvm (software x86-64 processor, %s)" % ENGINE


def drop_root():
    os.setgid(65534)
    os.setuid(65534)


def run(softkvm, args, nobody=False, timeout=30):
    p = subprocess.run([softkvm, "run", "--accel", "soft"] + args, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       preexec_fn=drop_root if nobody and os.geteuid() == 0 else None)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def check(name, ok, detail):
    global failures, checks
    checks += 1
    print("%s: %s" % ("PASS" if ok else "FAIL", name))
    if not ok:
        failures += 1
        print("   " + detail)


def expect_error(softkvm, name, args, words, nobody=False):
    status, out, err = run(softkvm, args, nobody)
    lines = err.splitlines()
    ok = status == 2 and out == "" and len(lines) == 1 and all(w in lines[0] for w in words)
    check(name, ok, "args %r: status %s, stdout %r, stderr %r, wanted words %r" %
          (args, status, out, err, words))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--kernel", required=True, help="a test kernel that exits with status 1")
    a = ap.parse_args()
    sk, k = a.softkvm, ["--kernel", a.kernel]
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)  # for the runs as nobody
        img = os.path.join(d, "disk.img")
        with open(img, "wb") as f:
            f.write(bytes(65536))
        os.chmod(img, 0o666)
        ro = os.path.join(d, "ro.img")
        with open(ro, "wb") as f:
            f.write(bytes(4096))
        os.chmod(ro, 0o444)
        secret = os.path.join(d, "secret.img")
        with open(secret, "wb") as f:
            f.write(bytes(4096))
        os.chmod(secret, 0o000)
        missing = os.path.join(d, "missing.img")

        expect_error(sk, "--drive without KEY=VALUE", k + ["--drive", "disk.img"],
                     ["--drive", "disk.img", "KEY=VALUE"])
        expect_error(sk, "--drive: unknown option", k + ["--drive", "file=%s,bogus=1" % img],
                     ["--drive", "unknown option 'bogus'"])
        expect_error(sk, "--drive: format qcow2", k + ["--drive", "file=%s,format=qcow2" % img],
                     ["--drive", "format 'qcow2'", "raw"])
        expect_error(sk, "--drive: readonly=maybe", k + ["--drive", "file=%s,readonly=maybe" % img],
                     ["--drive", "readonly 'maybe'"])
        expect_error(sk, "--drive: cache=sometimes", k + ["--drive", "file=%s,cache=sometimes" % img],
                     ["--drive", "cache 'sometimes'"])
        expect_error(sk, "--drive: a serial of 21 bytes",
                     k + ["--drive", "file=%s,serial=%s" % (img, "x" * 21)],
                     ["--drive", "serial", "20 bytes"])
        expect_error(sk, "--drive without file=", k + ["--drive", "readonly=on"],
                     ["--drive", "file=PATH is missing"])
        expect_error(sk, "--drive: empty file=", k + ["--drive", "file="], ["--drive", "empty"])
        expect_error(sk, "--drive: missing option argument", k + ["--drive"], ["--drive", "argument"])
        expect_error(sk, "--drive: nine drives",
                     k + sum((["--drive", "file=%s" % img] for _ in range(9)), []),
                     ["--drive", "at most 8"])
        expect_error(sk, "--drive: a missing file", k + ["--drive", "file=" + missing],
                     [missing, "No such file"])
        expect_error(sk, "--drive: a directory", k + ["--drive", "file=" + d],
                     [d, "Is a directory"])
        expect_error(sk, "--drive: a directory, read-only", k + ["--drive", "file=%s,readonly=on" % d],
                     [d, "not a regular file or block device"])
        expect_error(sk, "--drive: a character device", k + ["--drive", "file=/dev/null"],
                     ["/dev/null", "not a regular file or block device"])
        expect_error(sk, "--drive: an unreadable file", k + ["--drive", "file=" + secret],
                     [secret, "Permission denied"], nobody=True)
        expect_error(sk, "--drive: a read-only file for a writable drive",
                     k + ["--drive", "file=" + ro], [ro, "cannot open it for writing", "readonly=on"],
                     nobody=True)
        expect_error(sk, "--drive: the same image twice (locked)",
                     k + ["--drive", "file=" + img, "--drive", "file=" + img], [img, "locked"])
        expect_error(sk, "--drive with --irqchip off",
                     k + ["--irqchip", "off", "--drive", "file=" + img], ["--irqchip", "MSI-X"])
        expect_error(sk, "--rng with --irqchip off", k + ["--irqchip", "off", "--rng"],
                     ["--rng", "--irqchip"])
        expect_error(sk, "--console virtio with --irqchip off",
                     k + ["--irqchip", "off", "--console", "virtio"], ["--console", "--irqchip"])
        expect_error(sk, "--console tty", k + ["--console", "tty"], ["--console", "'tty'"])
        expect_error(sk, "--console without its argument", k + ["--console"],
                     ["--console", "argument"])

        # --net
        expect_error(sk, "--net bogus (an unknown network)", k + ["--net", "bogus"],
                     ["--net", "unknown network 'bogus'", "tap=IFNAME"])
        for bad in ["tap=", "tap=" + "x" * 16, "tap=a/b"]:
            expect_error(sk, "--net %s" % bad, k + ["--net", bad], ["--net", "bad tap name"])
        expect_error(sk, "--net tap with an option", k + ["--net", "tap=skvm0,hostfwd=tcp::2-:2"],
                     ["--net", "takes no other option"])
        expect_error(sk, "--net tap and --net user", k + ["--net", "tap=skvm0", "--net", "user"],
                     ["--net", "only one"])
        # a tap this user may not create (as nobody: EPERM; without /dev/net/tun: ENOENT)
        expect_error(sk, "--net tap=IFNAME that cannot be opened",
                     k + ["--net", "tap=skvmnobody%d" % (os.getpid() % 1000)],
                     ["--net tap=skvmnobody", "cannot open"], nobody=True)
        expect_error(sk, "--net: unknown option", k + ["--net", "user,bogus=1"],
                     ["--net", "unknown option 'bogus=1'"])
        expect_error(sk, "--net: an empty option", k + ["--net", "user,"], ["--net", "empty"])
        for bad in ["tcp:127.0.0.1:70000-:22", "tcp:127.0.0.1:2222", "sctp:127.0.0.1:2222-:22",
                    "tcp:300.0.0.1:2222-:22", "tcp:127.0.0.1:0-:22", "tcp:127.0.0.1:2222-:",
                    "tcp:127.0.0.1:x-:22", "tcp:127.0.0.1:2222-10.0.2.15:22:1", ""]:
            expect_error(sk, "--net: hostfwd=%s" % bad, k + ["--net", "user,hostfwd=" + bad],
                         ["--net", "bad hostfwd=" + bad])
        expect_error(sk, "--net: nine hostfwd rules",
                     k + ["--net", "user" + "".join(",hostfwd=tcp::%d-:22" % (40000 + j)
                                                    for j in range(9))],
                     ["--net", "at most 8"])
        expect_error(sk, "--net twice", k + ["--net", "user", "--net", "user"],
                     ["--net", "only one"])
        expect_error(sk, "--net without its argument", k + ["--net"], ["--net", "argument"])
        expect_error(sk, "--net with --irqchip off", k + ["--irqchip", "off", "--net", "user"],
                     ["--net", "--irqchip"])
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        bport = busy.getsockname()[1]
        expect_error(sk, "--net: hostfwd on a host port in use",
                     k + ["--net", "user,hostfwd=tcp:127.0.0.1:%d-:22" % bport],
                     ["--net", "hostfwd=tcp:127.0.0.1:%d-:22" % bport, "port %d" % bport])
        busy.close()
        # --vsock
        vs = os.path.join(d, "v.sock")
        for bad, words in [
                ("cid=3", ["needs cid=N and path=SOCK"]),
                ("path=" + vs, ["needs cid=N and path=SOCK"]),
                ("cid=2,path=" + vs, ["bad cid"]), ("cid=x,path=" + vs, ["bad cid"]),
                ("cid=4294967295,path=" + vs, ["bad cid"]), ("cid=-5,path=" + vs, ["bad cid"]),
                ("cid=3,path=" + vs + ",", ["empty"]),
                ("cid=3,path=" + vs + ",bogus=1", ["unknown option 'bogus=1'"]),
                ("cid=3,path=", ["path must be"]), ("cid=3,path=/" + "x" * 100, ["path must be"])]:
            expect_error(sk, "--vsock %s" % bad[:40], k + ["--vsock", bad], ["--vsock"] + words)
        expect_error(sk, "--vsock twice", k + ["--vsock", "cid=3,path=" + vs, "--vsock",
                                                "cid=4,path=" + vs + "2"], ["--vsock", "only one"])
        expect_error(sk, "--vsock: a path in a missing directory",
                     k + ["--vsock", "cid=3,path=%s/nodir/v.sock" % d],
                     ["--vsock", "nodir/v.sock", "No such file"])
        expect_error(sk, "--vsock: a path that is a regular file",
                     k + ["--vsock", "cid=3,path=" + img], ["--vsock", img, "in use"])
        expect_error(sk, "--vsock with --irqchip off",
                     k + ["--irqchip", "off", "--vsock", "cid=3,path=" + vs],
                     ["--vsock", "--irqchip"])
        check("--vsock: nothing left at the path after an error", not os.path.exists(vs),
              "%s exists" % vs)
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        fport = free.getsockname()[1]
        free.close()

        # good ones: the guest runs to its end
        os.link(img, img[:-4] + ",x")
        tap_ok = os.geteuid() == 0 and os.access("/dev/net/tun", os.R_OK | os.W_OK)
        if tap_ok:
            status, out, err = run(sk, k + ["--net", "tap=skvmt%d" % (os.getpid() % 100000)])
            check("--net tap (root creates the tap): the guest runs (status 1), only the "
                  "start-up line", status == 1 and err.splitlines() == [SOFT_LINE],
                  "status %s, stderr %r" % (status, err))
        else:
            print("SKIP: --net tap with a tap created: not root or no /dev/net/tun")
        for name, args, nobody in [
                ("a good --drive and --rng", ["--drive", "file=%s,format=raw,serial=S" % img,
                                              "--rng"], False),
                ("--console virtio", ["--console", "virtio"], False),
                ("--console serial", ["--console=serial"], False),
                ("--net user", ["--net", "user"], False),
                ("--net user with hostfwd", ["--net=user,hostfwd=tcp:127.0.0.1:%d-:22,"
                                             "hostfwd=udp::%d-10.0.2.15:53" % (fport, fport)],
                 False),
                ("--vsock", ["--vsock", "cid=3,path=" + vs], False),
                ("a read-only file with readonly=on", ["--drive", "file=%s,readonly=on" % ro], True),
                ("--drive file name with ',,' (a comma)", ["--drive", "file=%s,,x" % img[:-4]], False)]:
            status, out, err = run(sk, k + args, nobody)
            check(name + ": the guest runs (status 1), only the start-up line",
                  status == 1 and err.splitlines() == [SOFT_LINE],
                  "status %s, stderr %r" % (status, err))
        check("--vsock: softkvm removed its socket when it ended", not os.path.exists(vs),
              "%s exists" % vs)
    print("%d passed, %d failed" % (checks - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
