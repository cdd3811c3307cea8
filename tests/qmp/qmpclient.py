# SPDX-License-Identifier: MIT
"""A small QMP client for the tests (run-qmp.py, tests/system/run-linux-qmp.py)."""
import json
import socket
import time


class Client:
    def __init__(self, path, timeout=10):
        end = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.time() > end:
                    raise
                time.sleep(0.05)
        self.buf = b""
        self.events = []

    def recv_msg(self, timeout=10):
        """the next message (a dict), or None on timeout/EOF"""
        end = time.time() + timeout
        while b"\n" not in self.buf:
            left = end - time.time()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return None
            if not d:
                return None
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send_raw(self, data):
        self.s.sendall(data)

    def reply(self, timeout=10):
        """the next reply; events met on the way are kept"""
        while True:
            m = self.recv_msg(timeout)
            if m is None or "event" not in m:
                return m
            self.events.append(m)

    def cmd(self, execute, arguments=None, id=None):
        m = {"execute": execute}
        if arguments is not None:
            m["arguments"] = arguments
        if id is not None:
            m["id"] = id
        self.send_raw(json.dumps(m).encode() + b"\n")
        return self.reply()

    def event(self, name, timeout=10):
        end = time.time() + timeout
        while True:
            for e in self.events:
                if e["event"] == name:
                    self.events.remove(e)
                    return e
            m = self.recv_msg(max(0, end - time.time()))
            if m is None:
                return None
            if "event" in m:
                self.events.append(m)

    def close(self):
        self.s.close()
