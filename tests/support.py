"""Helpers for tests that run real servers on loopback."""
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from lab import ROOT
from lab.host.waiting import wait_until

LISTENING_RE = re.compile(r"listening on (\S+):(\d+)")

SBIN = "/usr/local/sbin:/usr/sbin:/sbin"     # smtp-source lives here; PATH may lack it


def missing_cmds(*names):
    path = os.environ.get("PATH", "") + ":" + SBIN
    return [n for n in names if shutil.which(n, path=path) is None]


def require_cmd(*names):
    """Skip the calling test, saying which command is missing; under CI (the
    CI variable set) fail instead, since CI installs every tool the tests use."""
    missing = missing_cmds(*names)
    if not missing:
        return
    reason = "needs %s, not installed (lab/provision.sh installs it)" % ", ".join(missing)
    if os.environ.get("CI"):
        pytest.fail("CI: " + reason, pytrace=False)
    pytest.skip(reason)


def free_port(kind=socket.SOCK_STREAM):
    """A port free for both TCP and UDP on 127.0.0.1 at the time of asking."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, other) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


class ServerProcess:
    """``python -m servers.NAME ARGS`` as a child; ready when it prints
    ``listening on ADDR:PORT`` (every maillab server does, on stderr)."""

    def __init__(self, module, args, env=None, cwd=None, under=()):
        """``under``: a command to run the server under (``strace ...``)."""
        self.argv = [str(a) for a in under] + [sys.executable, "-m", module] + [
            str(a) for a in args]
        full_env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
        full_env.update(env or {})
        self.proc = subprocess.Popen(self.argv, cwd=cwd or ROOT, env=full_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.output = []
        self.listening = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.output.append(line)
            m = LISTENING_RE.search(line)
            if m:
                self.listening.append((m.group(1), int(m.group(2))))

    def wait_listening(self, count=1, timeout=15):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s:\n%s" % (
                    " ".join(self.argv), self.proc.returncode, "".join(self.output)))
            return len(self.listening) >= count
        wait_until(ready, timeout, " ".join(self.argv))
        return self.listening[0][1]

    def stop(self, sig=None):
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        return "".join(self.output)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self._reader.join(timeout=5)


@contextlib.contextmanager
def running_server(module, args, **kwargs):
    server = ServerProcess(module, args, **kwargs)
    try:
        server.wait_listening()
        yield server
    finally:
        server.stop()


FUZZ_FULL = 10_000


def fuzz_inputs(everyday):
    """How many inputs a fuzz test sends each server: ``everyday`` in the
    ordinary suite; MAILLAB_FUZZ=full asks for the full run (10,000), and
    MAILLAB_FUZZ=N for N."""
    value = os.environ.get("MAILLAB_FUZZ", "")
    if value == "full":
        return FUZZ_FULL
    return int(value) if value.isdigit() else everyday


def fuzz_seed(default=20240101):
    """The fuzz tests' seed: MAILLAB_FUZZ_SEED, or a fixed one (runs repeat)."""
    return int(os.environ.get("MAILLAB_FUZZ_SEED", default))
