"""Watch the relay's queue directory from outside the relay (claims 4 and 12).

The queue writes every version of a message's file under a temporary name
and renames it into place (servers/relay/queue.py). An inotify watch on the
directory reports each rename (IN_MOVED_TO) and each file written in place
(IN_CLOSE_WRITE), and each removal (IN_DELETE, or IN_MOVED_FROM: a
delivered message's file is moved to the queue's recycle/); the watching thread opens the file as soon as it reads the
event, and an open file keeps its contents even if the relay replaces or
removes it a moment later. So the run sees each stored version, next hop
included, without asking the relay anything. Versions that were already
gone when their event was read are counted (``missed``), never guessed.

On a lab over several servers the relay's directory is on its server: the
same watch runs there (``python -m lab.evidence.queue_watch DIR``, started
through the relay host's ssh, ``RemoteQueueWatch``) and streams what it
sees back as JSON lines; its times are that server's clock, as are the
relay's own events.
"""
import argparse
import ctypes
import ctypes.util
import json
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time

from lab import ROOT
from servers.relay import queue as relay_queue
from servers.relay.queue import SUFFIX as QUEUE_SUFFIX

log = logging.getLogger(__name__)

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_DELETE = 0x00000200
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
EVENT_HEAD = struct.Struct("iIII")     # wd, mask, cookie, name length

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def parse_events(data):
    """[(mask, name)] in a buffer of inotify events."""
    events, i = [], 0
    while i + EVENT_HEAD.size <= len(data):
        _, mask, _, length = EVENT_HEAD.unpack_from(data, i)
        i += EVENT_HEAD.size
        events.append((mask, data[i:i + length].rstrip(b"\0").decode("utf-8", "replace")))
        i += length
    return events


class QueueWatch:
    """``parse(raw bytes) -> {msgid, next_hop}``; ``suffix``: queue files' ending."""

    def __init__(self, directory, parse, suffix=QUEUE_SUFFIX, clock=time.time):
        self.directory = directory
        self.parse = parse
        self.suffix = suffix
        self.clock = clock
        self.seen = []          # [{ts, msgid, next_hop, files}]; files: how many are queued
        self.missed = 0
        self.present = set()    # queue files in the directory now
        self._fd = None
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if _libc.inotify_add_watch(fd, self.directory.encode(),
                                   IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE
                                   | IN_MOVED_FROM) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, "inotify_add_watch %s" % self.directory)
        self._fd = fd
        for name in sorted(os.listdir(self.directory)):   # what was there before the watch
            self._read(name)
        self._thread = threading.Thread(target=self._loop, name="queue-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._fd is not None:
            self._drain()
            os.close(self._fd)
            self._fd = None

    def _loop(self):
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.2)
            if ready:
                self._drain()

    def _drain(self):
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            if not data:
                return
            for mask, name in parse_events(data):
                if mask & (IN_DELETE | IN_MOVED_FROM):
                    self._gone(name)
                else:
                    self._read(name)

    def _read(self, name):
        if not self._ours(name):
            return
        ts = self.clock()
        try:
            with open(os.path.join(self.directory, name), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            self.missed += 1
            return
        try:
            meta = self.parse(raw)
        except ValueError:
            return          # not a whole queue file: the relay sets those aside
        self.present.add(name)
        self.seen.append({"ts": ts, "msgid": meta.get("msgid", ""),
                          "next_hop": meta.get("next_hop", ""), "files": len(self.present)})

    def _gone(self, name):
        if self._ours(name) and name in self.present:
            self.present.discard(name)
            self.seen.append({"ts": self.clock(), "files": len(self.present)})

    def _ours(self, name):
        return not name.startswith(".") and name.endswith(self.suffix)

    def snapshots(self):
        """The observations in the Evidence's queue_snapshots shape: the file
        read (none for a removal) and how many queue files there were then."""
        return [{"ts": s["ts"], "files": s["files"],
                 "entries": [{"msgid": s["msgid"], "next_hop": s["next_hop"]}]
                 if "msgid" in s else []} for s in self.seen]


def queue_file_fields(raw):
    """Message-ID and next hop of one relay queue file's bytes."""
    meta, _ = relay_queue.parse(raw)
    return {"msgid": meta.get("msgid", ""), "next_hop": meta.get("next_hop", "")}


class RemoteQueueWatch(QueueWatch):
    """The watch run on the server holding ``directory``, through ``node`` (a host
    there: its ``popen`` runs on that server); its observations come back as they
    happen. ``start`` returns once the watch is in place there."""

    def __init__(self, node, directory, suffix=QUEUE_SUFFIX, python=sys.executable):
        super().__init__(directory, queue_file_fields, suffix)
        self.node, self.python = node, python
        self.proc = None
        self._ready = threading.Event()
        self._said = []

    def start(self, timeout=30.0):
        self.proc = self.node.popen(
            [self.python, "-m", "lab.evidence.queue_watch", self.directory, "--suffix",
             self.suffix], mncmd=[], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT,
                                                         PYTHONUNBUFFERED="1"),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._thread = threading.Thread(target=self._relay, name="remote-queue-watch",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise OSError("queue watch on %s's server did not start: %s"
                              % (self.node.name, " ".join(self._said).strip()))
        return self

    def _relay(self):
        for line in iter(self.proc.stdout.readline, b""):
            try:
                record = json.loads(line)
            except ValueError:
                self._said.append(line.decode(errors="replace"))
                continue
            if "seen" in record:
                self.seen.append(record["seen"])
            elif "missed" in record:
                self.missed = record["missed"]
            elif record.get("watching"):
                self._ready.set()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._said:
            log.info("queue watch on %s: %s", self.node.name, " ".join(self._said).strip())


def main(argv=None):
    """Watch DIR; one JSON line per observation on standard output ({"watching":
    true} once in place, {"seen": ...} each, {"missed": N} at the end), until
    SIGTERM, SIGINT or SIGHUP."""
    p = argparse.ArgumentParser(prog="python -m lab.evidence.queue_watch",
                                description=main.__doc__)
    p.add_argument("directory")
    p.add_argument("--suffix", default=QUEUE_SUFFIX)
    args = p.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    watch = QueueWatch(args.directory, queue_file_fields, args.suffix).start()
    print(json.dumps({"watching": True}), flush=True)
    sent = 0
    while True:
        done = stop.wait(0.1)   # wait: the watch's thread adds observations meanwhile
        if done:
            watch.stop()
        for record in watch.seen[sent:]:
            print(json.dumps({"seen": record}), flush=True)
            sent += 1
        if done:
            break
    print(json.dumps({"missed": watch.missed}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
