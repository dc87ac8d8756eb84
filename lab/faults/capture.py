"""Packet captures while a fault lasts: tcpdump, started in the namespace
of each affected interface, writing one pcap per interface into the run
directory so that a student can open it in Wireshark."""
import ctypes
import logging
import os
import re
import select
import shlex
import subprocess
import time

from lab.faults.commands import in_ns, is_remote, remote_argv, split_remote

log = logging.getLogger(__name__)
CAPTURED_RE = re.compile(r"(\d+) packets? captured")
DROPPED_RE = re.compile(r"(\d+) packets? dropped by kernel")


def _die_with_parent():
    """In the child: SIGTERM when the fault process dies, even by SIGKILL."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 15)


def pcap_path(directory, fault_id, intf):
    return os.path.join(directory, "%s-%s.pcap" % (fault_id, intf))


def tcpdump_cmd(ns_pid, intf, path, bpf=()):
    # --immediate-mode: without it the kernel hands packets over in blocks once
    # a second, and a capture stopped sooner loses them; -U: each packet is
    # written at once, so the pcap is readable while the fault runs. -Z root: Debian's
    # tcpdump drops to its own user, and a change of user clears the parent-death
    # signal (_die_with_parent), so a fault process killed with -9 would leave it running.
    # -B: a 16 MiB kernel buffer, so that a capture on a busy machine (whole SMTP
    # segments, lab/testbed/wire_capture.py) does not lose packets while tcpdump waits
    # for the CPU; the verdict counts the ones it did lose (Captures.dropped)
    return in_ns(ns_pid, ["tcpdump", "-i", intf, "-n", "-U", "--immediate-mode", "-B", "16384",
                          "-Z", "root", "-w", path] + list(bpf))


def remote_tcpdump_cmd(ns, intf, bpf=(), ssh=None):
    """tcpdump on another server (``ns`` is ``[PID]@SERVER``), the pcap streamed
    back on ssh's stdout into a file here. The remote shell ends it when its
    input closes (``Captures.stop`` closes it; so does the end of the ssh
    client, however it ends): ending the ssh client alone would leave it
    running there."""
    pid, server = split_remote(ns)
    dump = in_ns(pid or None, ["tcpdump", "-i", intf, "-n", "-U", "--immediate-mode", "-B",
                               "16384", "-Z", "root", "-w", "-"] + list(bpf))
    script = ("%s & p=$!; read _ignored; kill -TERM $p; wait $p"
              % " ".join(shlex.quote(w) for w in dump))
    return remote_argv(server, ["sh", "-c", script], ssh)


class Captures:
    """One tcpdump per (namespace, interface); ``stop()`` returns what each caught.
    A namespace on another server (``[PID]@SERVER``) is captured there and its
    packets written here as they come (``ssh``: lab.faults.commands.remote_argv)."""

    def __init__(self, targets, directory, fault_id, bpf=(), ssh=None):
        self.targets = list(targets)
        self.directory = directory
        self.fault_id = fault_id
        self.bpf = list(bpf)        # a capture filter, as tcpdump's trailing arguments
        self.ssh = ssh
        self.running = []   # (path, Popen)
        self.dropped = {}   # path -> packets the kernel dropped (tcpdump's last words)

    def start(self, timeout=5.0):
        if not self.directory or not self.targets:
            return []
        os.makedirs(self.directory, exist_ok=True)
        for ns_pid, intf in self.targets:
            path = pcap_path(self.directory, self.fault_id, intf)
            if is_remote(ns_pid):
                with open(path, "wb") as out:
                    proc = subprocess.Popen(remote_tcpdump_cmd(ns_pid, intf, self.bpf, self.ssh),
                                            stdin=subprocess.PIPE, stdout=out,
                                            stderr=subprocess.PIPE, text=True,
                                            preexec_fn=_die_with_parent)
            else:
                proc = subprocess.Popen(tcpdump_cmd(ns_pid, intf, path, self.bpf),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True, preexec_fn=_die_with_parent)
            self.running.append((path, proc))
        for path, proc in self.running:
            self._wait_listening(proc, path, timeout)
        return [path for path, _ in self.running]

    @staticmethod
    def _wait_listening(proc, path, timeout):
        # Read the raw descriptor: tcpdump may write a warning and "listening on"
        # in one go, and a buffered readline() would leave the second line in
        # Python's buffer where select() cannot see it.
        fd = proc.stderr.fileno()
        seen = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                seen += chunk
                if b"listening on" in seen:
                    return
        log.warning("capture %s: tcpdump did not report listening", path)

    def stop(self):
        result = {}
        for path, proc in self.running:
            if proc.stdin is not None:      # on another server: its shell ends tcpdump
                proc.stdin.close()
                proc.stdin = None
            elif proc.poll() is None:
                proc.terminate()
            try:
                _, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            m = CAPTURED_RE.search(err or "")
            result[path] = int(m.group(1)) if m else None
            d = DROPPED_RE.search(err or "")
            self.dropped[path] = int(d.group(1)) if d else None
        self.running = []
        return result
