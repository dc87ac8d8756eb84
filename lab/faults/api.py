"""Start a fault from Python (scenario schedules, the CLI, tests).

    handle = start_fault(net, "cut", ["mx1", "s1"], run_dir, events_file)
    ...
    handle.stop()          # undo (SIGTERM; the fault process undoes itself)
    handle.evidence()      # the fault_end event's fields (fault_start's while running)

``args`` are the lab-level arguments of ``lab.faults.FAULTS[name].usage``.
``start_fault`` returns once the fault is in force (its ``fault_start``
event is written), or, for an instant fault (restore, kill, ...), once it
is done. It raises ``FaultRefused`` when the fault cannot be done here and
``FaultFailed`` when it failed; either way nothing of it stays in force.

On a lab over several servers, a fault whose target is on another server
runs there (lab.faults.targets), started through that server's ssh; its
events come back on the ssh channel as it writes them (``--events -``) and
are appended to ``events_file`` here, its output goes to its log here, and
its pcaps, written there, are fetched to the same paths here once it ends.
"""
import itertools
import json
import os
import threading
import shlex
import signal
import subprocess
import sys
import time

import lab.faults as registry
from lab import ROOT
from lab.faults.commands import SSH_ENV
from servers.common.events import read_events

_ids = itertools.count(1)


class FaultFailed(RuntimeError):
    pass


class FaultRefused(FaultFailed):
    pass


class FaultHandle:
    def __init__(self, fault_id, spec, launch, proc, events_file, log_path):
        self.id = fault_id
        self.spec = spec
        self.name = spec.name
        self.label = launch.label
        self.proc = proc
        self.events_file = events_file
        self.log_path = log_path

    def __repr__(self):
        return "<fault %s %s %s>" % (self.id, self.label, "running" if self.running else "ended")

    def _event(self, kind):
        for e in read_events(self.events_file):
            if e.get("id") == self.id and e.get("event") == kind:
                return e
        return None

    @property
    def running(self):
        return self.proc.poll() is None

    def started(self):
        return self._event("fault_start")

    def ended(self):
        return self._event("fault_end")

    @property
    def pcaps(self):
        start = self.started()
        return start.get("pcaps", []) if start else []

    def evidence(self):
        """The fault's evidence: fault_end's fields once it ended, else fault_start's."""
        return self.ended() or self.started() or {}

    def wait(self, timeout=None):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.ended()

    def stop(self, timeout=15.0):
        """Undo the fault (SIGTERM; the process undoes and exits); returns the evidence."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise FaultFailed("fault %s did not end within %.0f s of SIGTERM (killed; see %s)"
                                  % (self.id, timeout, self.log_path))
        return self.evidence()


def _log_tail(path, lines=15):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def start_fault(net, name, args, run_dir, events_file, duration=None, timeout=30.0):
    """Start fault ``name`` with lab-level ``args`` (a list, or one string); see the module doc."""
    spec = registry.get(name)
    tokens = shlex.split(args) if isinstance(args, str) else [str(a) for a in args]
    launch = spec.launch(net, tokens)
    fault_id = "%s-%d" % (name, next(_ids))
    pcap_dir = os.path.join(run_dir, "pcaps")
    log_dir = os.path.join(run_dir, "faults")
    os.makedirs(log_dir, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(events_file)), exist_ok=True)
    log_path = os.path.join(log_dir, "%s.log" % fault_id)
    argv = [sys.executable, "-m", spec.module, "--id", fault_id, "--events", events_file,
            "--pcap-dir", pcap_dir] + launch.argv
    if duration is not None:
        argv += ["--duration", str(duration)]
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1",
               MAILLAB_HOST=launch.node.name if launch.node is not None else "lab")
    if launch.ssh:
        env[SSH_ENV] = json.dumps(launch.ssh, sort_keys=True)
    if launch.remote:       # its events come back on its output (RelayedProcess)
        argv[argv.index("--events") + 1] = "-"
    with open(log_path, "ab") as log:
        log.write(("$ %s\n" % " ".join(argv)).encode())
        log.flush()
        if launch.remote:
            proc = _start_remote(launch, argv, env, events_file, log)
        elif launch.node is None:
            proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        else:
            proc = launch.node.popen(argv, env=env, cwd=ROOT, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    handle = FaultHandle(fault_id, spec, launch, proc, events_file, log_path)
    try:
        _wait_in_force(handle, timeout)
    except BaseException:
        # not in force (failed, too slow, or the lab command was stopped by a signal):
        # it undoes whatever it did and stops its captures
        if handle.running:
            try:
                handle.stop()
            except FaultFailed:
                pass
        raise
    return handle


def _start_remote(launch, argv, env, events_file, log):
    """The fault on its target's server (its host, or that server's root namespace:
    no ``mnexec``), its events relayed here from its standard output."""
    extra = {"mncmd": []} if launch.node is None else {}
    proc = launch.runner.popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=log,
                               stdin=subprocess.DEVNULL, **extra)
    return RelayedProcess(proc, launch.runner, events_file, log.name)


class RelayedProcess:
    """A fault process on another server, behind its ssh client: what it writes on
    its standard output goes, line by line, to the events file here (an event) or
    to its log (anything else). Polls and waits as a Popen does; done once its
    last line is here and its pcaps are fetched from its server."""

    def __init__(self, proc, node, events_file, log_path):
        self.proc, self.node = proc, node
        self.events_file, self.log_path = events_file, log_path
        self.pid = proc.pid
        self.pcaps, self._fetched, self._lock = [], False, threading.Lock()
        self._thread = threading.Thread(target=self._relay, daemon=True,
                                        name="fault-events-%d" % proc.pid)
        self._thread.start()

    def _relay(self):
        with open(self.events_file, "ab") as events, open(self.log_path, "ab") as log:
            for line in iter(self.proc.stdout.readline, b""):
                event = _event(line)
                out = events if event is not None else log
                out.write(line if line.endswith(b"\n") else line + b"\n")
                out.flush()
                if event is not None and event.get("event") == "fault_start":
                    self.pcaps = list(event.get("pcaps") or [])

    def _done(self, rc):
        if rc is not None:
            with self._lock:
                if not self._fetched:
                    self._thread.join()
                    self._fetch_pcaps()
                    self._fetched = True
        return rc

    def _fetch_pcaps(self):
        """The fault's pcaps, written on its server, copied to the same paths here
        (each through a file beside it, renamed: on one machine the two are one)."""
        node = self.node
        for path in self.pcaps:
            part = "%s.fetching" % path
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(part, "wb") as out:
                got = subprocess.run(node.access.ssh_argv(node.place, ["cat", path]),
                                     stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.PIPE, timeout=120)
            if got.returncode == 0:
                os.replace(part, path)
            else:
                os.unlink(part)
                with open(self.log_path, "ab") as log:
                    log.write(b"fetching %s from %s: %s\n" % (
                        path.encode(), str(node.place).encode(), got.stderr.strip()))

    @property
    def returncode(self):
        return self._done(self.proc.returncode)

    def poll(self):
        return self._done(self.proc.poll())

    def wait(self, timeout=None):
        return self._done(self.proc.wait(timeout))

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        self.proc.kill()


def _event(line):
    """The event a line of a fault's output is, or None (a line for its log)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "event" in record else None


def _wait_in_force(handle, timeout):
    deadline = time.monotonic() + timeout
    while True:
        events = {e.get("event"): e for e in read_events(handle.events_file)
                  if e.get("id") == handle.id}
        if "fault_refused" in events:
            handle.proc.wait()
            raise FaultRefused("fault %s refused: %s" % (handle.name, events["fault_refused"]["reason"]))
        end = events.get("fault_end")
        if end is not None and not end.get("ok"):
            handle.proc.wait()
            if (end.get("error") or "").startswith("refused"):
                raise FaultRefused("fault %s %s" % (handle.name, end["error"]))
            raise FaultFailed("fault %s failed: %s\n%s" % (handle.id, end.get("error") or
                              end.get("undo_errors"), _log_tail(handle.log_path)))
        if end is not None and not handle.spec.lasting:
            handle.proc.wait()
            return
        if "fault_start" in events and handle.spec.lasting:
            return
        if handle.proc.poll() is not None and end is None:
            raise FaultFailed("fault %s exited with %s before starting:\n%s" % (
                handle.id, handle.proc.returncode, _log_tail(handle.log_path)))
        if time.monotonic() >= deadline:
            raise FaultFailed("fault %s did not start within %.0f s:\n%s" % (
                handle.id, timeout, _log_tail(handle.log_path)))
        time.sleep(0.05)  # polling the events file for the fault's own report
