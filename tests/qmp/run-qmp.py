#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""QMP test: a Python QMP client against `softkvm run --qmp` (vmm/qmp/).

The guest is qmpguest.elf (multiboot, 2 vCPUs): it prints "tick N" every
20 ms and powers off when the ACPI power button is pressed. Three runs:

  1. --qmp unix:S,server,wait=off: the greeting; every command before and
     with the negotiation; every error case (malformed JSON, bad members,
     unknown commands, bad arguments, nesting, oversized and split input,
     binary junk), each answered with QEMU 7.2's class and text while the
     guest keeps running; query-status/-version/-commands/-cpus-fast; stop
     (STOP event, the ticks stop), a second stop (no event), cont (RESUME,
     the ticks resume), system_reset (RESET event, the guest starts again),
     stop + system_reset (the new machine stays paused until cont), and
     system_powerdown (POWERDOWN, the guest sees the button with the SCI
     raised and powers off: SHUTDOWN guest-shutdown, softkvm exits 0).
  2. --qmp unix:S (wait=off implied): one client at a time (a second one is
     greeted only once the first leaves), then quit (SHUTDOWN
     host-qmp-quit, exit 0, the socket file removed).
  3. --qmp unix:S,server: softkvm waits for a client before the guest
     starts; --reboot exit makes system_reset a SHUTDOWN.
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmpclient import Client  # noqa: E402

failures = 0
checks = 0


def check(name, ok, detail=""):
    global failures, checks
    checks += 1
    print("%s: %s%s" % ("PASS" if ok else "FAIL", name,
                        (" (" + str(detail) + ")") if detail and not ok else ""))
    sys.stdout.flush()
    if not ok:
        failures += 1


class Guest:
    """softkvm run with the serial console read by a thread."""

    def __init__(self, cmd):
        print("$ " + " ".join(cmd))
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.lines = []
        self.lock = threading.Lock()
        self.err = b""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.lock:
                self.lines.append((time.time(), line.decode(errors="replace").rstrip("\r\n")))

    def _read_err(self):
        self.err = self.p.stderr.read()

    def ticks(self):
        with self.lock:
            return [int(l.split()[1]) for _, l in self.lines if l.startswith("tick ")]

    def count(self, text):
        with self.lock:
            return sum(1 for _, l in self.lines if l == text or l.startswith(text))

    def wait_line(self, text, n=1, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if self.count(text) >= n:
                return True
            time.sleep(0.02)
        return False

    def progress(self, secs):
        """how many ticks came in secs seconds"""
        a = len(self.ticks())
        time.sleep(secs)
        return len(self.ticks()) - a

    def wait(self, timeout=20):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None


def is_error(r, cls, desc, id=None):
    return (r is not None and r.get("error") == {"class": cls, "desc": desc} and
            set(r) == ({"error", "id"} if id is not None else {"error"}) and
            (id is None or r["id"] == id))


def good_event(e, name, data=None):
    if e is None or e.get("event") != name:
        return False
    ts = e.get("timestamp", {})
    ok = abs(ts.get("seconds", 0) - time.time()) < 60 and 0 <= ts.get("microseconds", -1) < 1000000
    if data is None:
        return ok and "data" not in e
    return ok and e.get("data") == data


ERRORS = [
    # raw input, class, desc
    (b'{"execute": "stop",}', "GenericError", "JSON parse error, expecting value"),
    (b'{"a" 1}', "GenericError", "JSON parse error, missing : in object pair"),
    (b'{"a":1 "b":2}', "GenericError", "JSON parse error, expected separator in dict"),
    (b'[1 2]', "GenericError", "JSON parse error, expected separator in list"),
    (b'{1:2}', "GenericError", "JSON parse error, key is not a string in object"),
    (b'xyz', "GenericError", "JSON parse error, invalid keyword 'xyz'"),
    (b'{"execute": "\\x"}', "GenericError", "JSON parse error, invalid escape sequence in string"),
    (b'{"execute": "\\ud800"}', "GenericError",
     "JSON parse error, \\ud800 is not a valid Unicode character"),
    (b'{"execute":"stop","execute":"cont"}', "GenericError", "JSON parse error, duplicate key"),
    (b'}', "GenericError", "JSON parse error, expecting value"),
    (b'[1]', "GenericError", "QMP input must be a JSON object"),
    (b'"str"', "GenericError", "QMP input must be a JSON object"),
    (b'17', "GenericError", "QMP input must be a JSON object"),
    (b'{}', "GenericError", "QMP input lacks member 'execute'"),
    (b'{"arguments": {}}', "GenericError", "QMP input lacks member 'execute'"),
    (b'{"execute": 1}', "GenericError", "QMP input member 'execute' must be a string"),
    (b'{"execute": "stop", "arguments": []}', "GenericError",
     "QMP input member 'arguments' must be an object"),
    (b'{"execute": "stop", "arguments": null}', "GenericError",
     "QMP input member 'arguments' must be an object"),
    (b'{"execute": "stop", "foo": 1}', "GenericError", "QMP input member 'foo' is unexpected"),
    (b'{"execute": "nosuch"}', "CommandNotFound", "The command nosuch has not been found"),
    (b'{"execute": "stop", "arguments": {"x": 1}}', "GenericError", "Parameter 'x' is unexpected"),
    (b'{"execute": "query-status", "arguments": {"a": 1, "b": 2}}', "GenericError",
     "Parameter 'a' is unexpected"),
    (b'{"execute": "quit", "arguments": {"force": true}}', "GenericError",
     "Parameter 'force' is unexpected"),
    (b'{"execute": "system_reset", "arguments": {"x": null}}', "GenericError",
     "Parameter 'x' is unexpected"),
    (b'{"execute": "system_powerdown", "arguments": {"x": 0}}', "GenericError",
     "Parameter 'x' is unexpected"),
    (b'{"execute": "cont", "arguments": {"x": 0}}', "GenericError", "Parameter 'x' is unexpected"),
    (b'{"execute": "query-cpus-fast", "arguments": {"x": 0}}', "GenericError",
     "Parameter 'x' is unexpected"),
    (b'{"execute": "query-version", "arguments": {"x": 0}}', "GenericError",
     "Parameter 'x' is unexpected"),
    (b'{"execute": "query-commands", "arguments": {"x": 0}}', "GenericError",
     "Parameter 'x' is unexpected"),
    (b'{"execute": "qmp_capabilities"}', "CommandNotFound",
     "Capabilities negotiation is already complete, command ignored"),
]

CAPS_ERRORS = [
    ({"enable": ["oob"]}, "Capability oob not available"),
    ({"enable": "oob"}, "Invalid parameter type for 'enable', expected: array"),
    ({"enable": [1]}, "Invalid parameter type for 'enable[0]', expected: string"),
    ({"enable": ["bogus"]}, "Parameter 'null' does not accept value 'bogus'"),
    ({"foo": 1}, "Parameter 'foo' is unexpected"),
]

COMMANDS = {"qmp_capabilities", "query-status", "stop", "cont", "system_powerdown",
            "system_reset", "quit", "query-cpus-fast", "query-version", "query-commands",
            "snapshot-save", "snapshot-load", "migrate", "query-migrate", "migrate_cancel"}


def negotiate(c, name):
    g = c.recv_msg()
    check(name + ": greeting", g is not None and set(g) == {"QMP"} and
          g["QMP"].get("capabilities") == [] and
          g["QMP"]["version"]["qemu"] == {"micro": 0, "minor": 2, "major": 7}, g)
    r = c.cmd("qmp_capabilities")
    check(name + ": qmp_capabilities", r == {"return": {}}, r)
    return g


def run0(a, sock):
    """bad --qmp values: one line on stderr, status 2, nothing left behind"""
    for spec, want in [("tcp:127.0.0.1:4444", "only unix:PATH sockets are supported"),
                       ("unix:", "the socket path is empty or too long"),
                       ("unix:" + "x" * 200, "the socket path is empty or too long"),
                       ("unix:%s,bogus" % sock, "unknown option 'bogus'"),
                       ("unix:/nonexistent-dir/q.sock", "cannot listen on /nonexistent-dir/q.sock")]:
        p = subprocess.run([a.softkvm, "run", "--kernel", a.kernel, "--qmp", spec],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        err = p.stderr.decode(errors="replace").strip().splitlines()
        check("--qmp %s: status 2, one line naming the problem" % spec[:40],
              p.returncode == 2 and len(err) == 1 and want in err[0], (p.returncode, err))
    check("no socket file left", not os.path.exists(sock))
    return None


def run1(a, sock):
    g = Guest([a.softkvm, "run", "--kernel", a.kernel, "--cpus", "2",
               "--qmp", "unix:%s,server,wait=off" % sock])
    c = Client(sock)
    greet = c.recv_msg()
    check("greeting: QMP version and no capabilities",
          greet is not None and greet["QMP"]["capabilities"] == [] and
          greet["QMP"]["version"] == {"qemu": {"micro": 0, "minor": 2, "major": 7},
                                      "package": "softkvm"}, greet)
    check("the guest starts", g.wait_line("qmpguest: start"))

    # before the negotiation
    for cmd in ["query-status", "stop", "nosuch"]:
        r = c.cmd(cmd, id="pre")
        check("before qmp_capabilities: %s refused" % cmd,
              is_error(r, "CommandNotFound",
                       "Expecting capabilities negotiation with 'qmp_capabilities'", "pre"), r)
    for args, desc in CAPS_ERRORS:
        r = c.cmd("qmp_capabilities", args, id=3)
        check("qmp_capabilities %s: %s" % (json.dumps(args), desc),
              is_error(r, "GenericError", desc, 3), r)
    r = c.cmd("qmp_capabilities", {"enable": []}, id={"n": [1, "x"]})
    check("qmp_capabilities (enable: []) with an object id", r == {"return": {}, "id": {"n": [1, "x"]}}, r)
    check("no event before the negotiation", c.events == [], c.events)

    # errors, the guest running all along
    t0 = len(g.ticks())
    for raw, cls, desc in ERRORS:
        c.send_raw(raw + b"\n")
        r = c.reply()
        check("%s -> %s" % (raw.decode(), desc), is_error(r, cls, desc), r)
    r = c.cmd("nosuch", id=7)
    check("unknown command with an id: echoed", is_error(r, "CommandNotFound",
                                                         "The command nosuch has not been found", 7), r)
    r = c.cmd("stop", {"x": 1}, id="s")
    check("bad argument with an id: echoed",
          is_error(r, "GenericError", "Parameter 'x' is unexpected", "s"), r)
    c.send_raw(b'{"execute": "query-status", "id": "\\u00e9\\ud83d\\ude00"}\n')
    r = c.reply()
    check("a string id is echoed", r is not None and r.get("id") == "\u00e9\U0001F600", r)
    c.send_raw(b'{"execute": "query-status", "id": 12345678901234567890123}\n')
    r = c.reply()
    check("a big number id is echoed as sent", r is not None and
          r.get("id") == 12345678901234567890123, r)
    c.send_raw(b"[" * 1100 + b"\n")
    r = c.reply()
    check("nesting deeper than 1024: refused",
          is_error(r, "GenericError", "JSON nesting depth limit exceeded"), r)
    # the 1025th bracket was refused with what came before it; the 75 after it are a
    # new message, closed here: a (valid) array
    c.send_raw(b"]" * 75 + b"\n")
    r = c.reply()
    check("the rest of the deep input: a new message",
          is_error(r, "GenericError", "QMP input must be a JSON object"), r)
    c.send_raw(b'{"execute": "query-status", "id": "' + b"x" * (1 << 20) + b'"}\n')
    r = c.reply()
    check("a message over 1 MiB: refused",
          is_error(r, "GenericError", "JSON parse error, message larger than 1 MiB"), r)
    r = c.reply(2)  # the end of the long id arrives as junk: its errors
    while r is not None:
        r = c.reply(0.5)
    c.send_raw(bytes(range(256)) + b"\x00\xff\xfe\n")
    while c.reply(0.5) is not None:
        pass
    # split: byte by byte, and two messages in one write
    for b in b'{"execute":"query-status","id":"split"}\n':
        c.send_raw(bytes([b]))
        time.sleep(0.001)
    r = c.reply()
    check("a message sent byte by byte", r is not None and r.get("id") == "split" and
          r.get("return", {}).get("status") == "running", r)
    c.send_raw(b'{"execute":"query-version","id":1}{"execute":"query-status","id":2}\n')
    r1, r2 = c.reply(), c.reply()
    check("two messages in one write: two replies in order",
          r1 is not None and r2 is not None and r1.get("id") == 1 and r2.get("id") == 2, (r1, r2))
    check("the guest kept running through the errors", len(g.ticks()) > t0 + 5,
          "%d -> %d ticks" % (t0, len(g.ticks())))

    # queries
    r = c.cmd("query-version", id=1)
    check("query-version", r == {"return": greet["QMP"]["version"], "id": 1}, r)
    r = c.cmd("query-commands")
    names = [x.get("name") for x in (r or {}).get("return", [])]
    check("query-commands lists every command", set(names) == COMMANDS and len(names) == len(COMMANDS), names)
    r = c.cmd("query-status")
    check("query-status: running",
          r == {"return": {"status": "running", "singlestep": False, "running": True}}, r)
    r = c.cmd("query-cpus-fast")
    cpus = (r or {}).get("return", [])
    check("query-cpus-fast: two vCPUs", len(cpus) == 2 and
          [x.get("cpu-index") for x in cpus] == [0, 1] and
          all(x.get("target") == "x86_64" and x.get("props", {}).get("socket-id") == x["cpu-index"]
              and x.get("qom-path") == "/machine/unattached/device[%d]" % x["cpu-index"]
              for x in cpus), r)
    check("query-cpus-fast: thread-ids are threads of softkvm",
          cpus and all(os.path.isdir("/proc/%d/task/%d" % (g.p.pid, x.get("thread-id", 0)))
                       for x in cpus) and len({x["thread-id"] for x in cpus}) == 2,
          [x.get("thread-id") for x in cpus])

    # stop and cont
    check("the guest makes progress", g.progress(0.5) >= 5)
    r = c.cmd("stop", id="stop")
    check("stop", r == {"return": {}, "id": "stop"}, r)
    check("STOP event", good_event(c.event("STOP"), "STOP"))
    time.sleep(0.2)  # output already on its way
    n = g.progress(1.0)
    check("stopped: no tick in 1 s", n == 0, "%d ticks" % n)
    r = c.cmd("query-status")
    check("query-status: paused",
          r == {"return": {"status": "paused", "singlestep": False, "running": False}}, r)
    r = c.cmd("stop")
    check("stop again: no event", r == {"return": {}} and c.event("STOP", 0.3) is None, r)
    r = c.cmd("query-cpus-fast")
    check("query-cpus-fast while stopped", r is not None and len(r.get("return", [])) == 2, r)
    r = c.cmd("cont", id="cont")
    check("cont", r == {"return": {}, "id": "cont"}, r)
    check("RESUME event", good_event(c.event("RESUME"), "RESUME"))
    n = g.progress(1.0)
    check("continued: ticks again", n >= 10, "%d ticks in 1 s" % n)
    r = c.cmd("cont")
    check("cont while running: no event", r == {"return": {}} and c.event("RESUME", 0.3) is None, r)

    # reset
    starts = g.count("qmpguest: start")
    r = c.cmd("system_reset")
    check("system_reset", r == {"return": {}}, r)
    check("RESET event (host-qmp-system-reset)",
          good_event(c.event("RESET"), "RESET", {"guest": False, "reason": "host-qmp-system-reset"}))
    check("the guest starts again", g.wait_line("qmpguest: start", starts + 1))
    check("and runs", g.progress(0.5) >= 5)
    check("no second RESET event", c.event("RESET", 0.3) is None)
    # reset while stopped: the new machine stays stopped
    r = c.cmd("stop")
    check("stop before a reset", r == {"return": {}} and c.event("STOP") is not None, r)
    r = c.cmd("system_reset")
    check("system_reset while stopped", r == {"return": {}} and c.event("RESET") is not None, r)
    time.sleep(1.0)
    check("the reset machine stays stopped", g.count("qmpguest: start") == starts + 1)
    r = c.cmd("query-status")
    check("query-status after the reset: paused", r is not None and
          r.get("return", {}).get("status") == "paused", r)
    r = c.cmd("cont")
    check("cont after the reset", r == {"return": {}} and c.event("RESUME") is not None, r)
    check("the guest starts once continued", g.wait_line("qmpguest: start", starts + 2))

    # power button
    r = c.cmd("system_powerdown", id="pd")
    check("system_powerdown", r == {"return": {}, "id": "pd"}, r)
    check("POWERDOWN event", good_event(c.event("POWERDOWN"), "POWERDOWN"))
    check("the guest sees the power button, the SCI raised",
          g.wait_line("qmpguest: power button (sci 1)"),
          [l for _, l in g.lines if "power" in l])
    check("SHUTDOWN event (guest-shutdown)",
          good_event(c.event("SHUTDOWN"), "SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}))
    st = g.wait()
    check("softkvm ends with status 0 after the power-off", st == 0, st)
    check("the socket is closed", c.recv_msg(2) is None)
    check("the socket file is removed", not os.path.exists(sock))
    c.close()
    return g


def run2(a, sock):
    g = Guest([a.softkvm, "run", "--kernel", a.kernel, "--qmp", "unix:" + sock])
    # a client that sends commands and never reads the replies: the server drops it
    # once 16 MiB wait for it; the guest runs on all along
    c0 = Client(sock)
    negotiate(c0, "flooding client")
    check("the guest runs", g.wait_line("tick 5"))
    # replies for 1 MiB more than the 16 MiB limit: the whole flood is in the socket
    # before the server has answered enough of it to drop the client
    r = c0.cmd("query-commands")
    size = len(json.dumps(r)) + 2
    flood = b'{"execute": "query-commands"}' * ((17 << 20) // size + 1)
    done = []

    def send_flood():
        try:
            c0.send_raw(flood)
        except OSError as e:
            done.append(e)
        done.append(True)
    t = threading.Thread(target=send_flood, daemon=True)
    t.start()
    n = g.progress(1.0)
    check("while a client floods the socket, the guest runs", n >= 10, "%d ticks in 1 s" % n)
    t.join(30)
    check("the flood was taken", done == [True], done)
    # c0 is still open here: only the server dropping it lets the next client in
    c1 = Client(sock)
    g1 = c1.recv_msg(15)
    check("a client that reads nothing is disconnected, not waited for",
          g1 is not None and "QMP" in g1, g1)
    got = 0
    c0.s.settimeout(5)
    try:
        while True:
            d = c0.s.recv(1 << 20)
            if not d:
                break
            got += len(d)
    except ConnectionResetError:
        pass  # closed with flood input unread: a reset, after what was sent
    except OSError:
        got = -1
    check("the flooding client's socket ends (EOF or reset) after at most 16 MiB more",
          0 <= got < (17 << 20), got)
    c0.close()
    r = c1.cmd("qmp_capabilities")
    check("client 1: qmp_capabilities", r == {"return": {}}, r)
    # a message left half-sent blocks nothing either
    c1.send_raw(b'{"execute": "query-st')
    n = g.progress(0.5)
    check("a half-sent message: the guest runs", n >= 5, "%d ticks in 0.5 s" % n)
    c1.send_raw(b'atus", "id": "half"}\n')
    r = c1.reply()
    check("and the message completes", r is not None and r.get("id") == "half", r)
    c2 = Client(sock)
    check("a second client waits (no greeting while the first is connected)",
          c2.recv_msg(0.5) is None)
    r = c1.cmd("query-status")
    check("the first client is still served", r is not None and "return" in r, r)
    c1.close()
    g2 = c2.recv_msg(5)
    check("the second client is greeted once the first leaves", g2 is not None and "QMP" in g2, g2)
    r = c2.cmd("query-status")
    check("a new client starts unnegotiated", is_error(
        r, "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'"), r)
    r = c2.cmd("qmp_capabilities")
    check("and negotiates", r == {"return": {}}, r)
    check("the guest runs", g.wait_line("tick 10"))
    c2.close()
    # random token soup and random bytes (seeded), one client after another: each gets
    # replies or nothing, the server and the guest go on
    rnd = random.Random(1)
    toks = [b"{", b"}", b"[", b"]", b",", b":", b" ", b"\n", b'"execute"',
            b'"query-status"', b'"id"', b'"arguments"', b"1", b"-2.5e3", b"true", b"null",
            b'"\\u00e9"', b'"\\ud800"', b"\\", b'"', b"\x00", b"\xff", b"01", b"tru"]
    ok = True
    for k in range(40):
        cj = Client(sock)
        ok = ok and cj.recv_msg(5) is not None
        cj.send_raw(b'{"execute":"qmp_capabilities"}\n')
        if k % 2:
            junk = b"".join(rnd.choice(toks) for _ in range(rnd.randrange(1, 2000)))
        else:
            junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4000)))
        cj.send_raw(junk)
        while cj.recv_msg(0.05) is not None:
            pass
        cj.close()
    check("40 clients sending random input: each greeted", ok)
    check("the guest runs on", g.progress(0.5) >= 5)
    c2 = Client(sock)
    negotiate(c2, "after the random input")
    r = c2.cmd("query-status")
    check("after the random input: query-status answers running", r is not None and
          r.get("return", {}).get("status") == "running", r)
    c2.send_raw(b'{"execute": "quit", "id": "q"}\n')
    first = c2.recv_msg()
    second = c2.recv_msg()
    check("quit: SHUTDOWN event (host-qmp-quit), then the reply",
          good_event(first, "SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"}) and
          second == {"return": {}, "id": "q"}, (first, second))
    st = g.wait()
    check("softkvm ends with status 0 after quit", st == 0, st)
    check("the socket is closed after quit", c2.recv_msg(2) is None)
    check("the socket file is removed after quit", not os.path.exists(sock))
    c2.close()
    return g


def run3(a, sock):
    g = Guest([a.softkvm, "run", "--kernel", a.kernel, "--reboot", "exit",
               "--qmp", "unix:%s,server" % sock])
    time.sleep(1.0)
    check("server (wait): the guest does not start before a client connects",
          g.count("qmpguest: start") == 0 and g.p.poll() is None)
    c = Client(sock)
    negotiate(c, "wait")
    check("the guest starts once a client connected", g.wait_line("qmpguest: start"))
    r = c.cmd("system_reset")
    check("--reboot exit: system_reset", r == {"return": {}}, r)
    check("--reboot exit: SHUTDOWN event (host-qmp-system-reset)",
          good_event(c.event("SHUTDOWN"), "SHUTDOWN",
                     {"guest": False, "reason": "host-qmp-system-reset"}))
    st = g.wait()
    check("--reboot exit: softkvm ends with status 0", st == 0, st)
    c.close()
    return g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softkvm", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--dir", required=True, help="where the sockets go")
    a = ap.parse_args()
    sock = os.path.join(a.dir, "qmp-test-%d.sock" % os.getpid())
    if len(sock) > 100:
        sock = "/tmp/softkvm-qmp-test-%d.sock" % os.getpid()
    runs = []
    for run in (run0, run1, run2, run3):
        print("--- %s" % run.__name__)
        try:
            g = run(a, sock)
            if g:
                runs.append(g)
        except Exception as e:  # a hang or protocol breakage is a failure, not a crash
            check("%s completes" % run.__name__, False, repr(e))
    for k, g in enumerate(runs):
        if g.p.poll() is None:
            g.p.kill()
            g.p.wait()
        time.sleep(0.1)
        err = g.err.decode(errors="replace").strip().splitlines()
        err = [l for l in err if not l.startswith("softkvm run: accelerator:") and
               not l.startswith("softkvm run: QMP: waiting for a client on ")]
        check("run %d: nothing else on stderr" % (k + 1), not err, err)
    print("%d passed, %d failed" % (checks - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
