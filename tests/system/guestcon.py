# SPDX-License-Identifier: MIT
"""Drive a Linux guest on its serial console (softkvm run, or QEMU -serial stdio).

The guest is the busybox initramfs of scripts/make-initramfs.sh: it prints
MARKER when its shell is up. Guest.run() types a command framed by echo
lines and returns what it printed and its exit status; kernel messages that
come in between are dropped from the output.
"""
import os
import re
import select
import subprocess
import time

# a kernel message with its newline; the console may print one in the middle of a line
KMSG = re.compile(r"\[ *\d+\.\d+\] [^\n]*\n")
MARKER = re.compile(rb"softkvm: initramfs ready \((\d+) CPUs, ([^)\r\n]*)\)")
# the whole marker line, with the guest's /proc/uptime when it was printed
MARKER_UPTIME = re.compile(rb"softkvm: initramfs ready \((\d+) CPUs, ([^)\r\n]*)\), "
                           rb"uptime (\d+\.\d+) s\r?\n")


class Guest:
    def __init__(self, cmd, log):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.out = b""
        self.err = b""
        self.log = log
        self.n = 0

    def pump(self, deadline):
        fds = [f for f in (self.p.stdout, self.p.stderr) if not f.closed]
        if not fds:
            return False
        r, _, _ = select.select(fds, [], [], max(0.0, deadline - time.time()))
        for f in r:
            data = os.read(f.fileno(), 65536)
            if not data:
                f.close()
                continue
            if f is self.p.stdout:
                self.out += data
                self.log.write(data)
                self.log.flush()
            else:
                self.err += data
        return bool(r)

    def wait_for(self, regex, timeout, start=0):
        deadline = time.time() + timeout
        while True:
            m = regex.search(self.out, start)
            if m:
                return m
            if time.time() >= deadline or (not self.pump(deadline) and self.p.poll() is not None
                                           and self.p.stdout.closed):
                return None

    def run(self, command, timeout):
        """Type a command; returns (output, status) or (None, None) on timeout."""
        self.n += 1
        n = self.n
        start = len(self.out)
        line = "echo __BEGIN_%d__; %s; echo __END_%d_$?__\n" % (n, command, n)
        self.p.stdin.write(line.encode())
        self.p.stdin.flush()
        m = self.wait_for(re.compile(rb"(?m)^__END_%d_(\d+)__" % n), timeout, start)
        b = re.compile(rb"(?m)^__BEGIN_%d__\r?\n" % n).search(self.out, start)
        if not m or not b:
            return None, None
        text = self.out[b.end():m.start()].decode(errors="replace").replace("\r", "")
        # kernel messages on the console may come between (or inside) the command's lines
        text = KMSG.sub("", text)
        return text, int(m.group(1))

    def poweroff(self, timeout=60):
        """poweroff -f; returns softkvm's (or QEMU's) exit status, None if it did not end."""
        try:
            self.p.stdin.write(b"poweroff -f\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass
        deadline = time.time() + timeout
        while self.p.poll() is None and time.time() < deadline:
            self.pump(deadline)
        while self.pump(time.time() + 1):
            pass
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
            return None
        return self.p.returncode
