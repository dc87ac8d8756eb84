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
"""
import ctypes
import ctypes.util
import os
import select
import struct
import threading
import time

from servers.relay.queue import SUFFIX as QUEUE_SUFFIX

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
