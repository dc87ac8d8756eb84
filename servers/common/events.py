"""The event log: one JSON object a line, the contract of docs/design.md.

Every line has ``ts`` (unix seconds), ``host``, ``service`` and ``event``;
``msgid`` where a message is concerned, plus event-specific fields.
Lines are flushed as they are written so that a kill -9 keeps them.
"""
import json
import os
import sys
import time

HOST_ENV = "MAILLAB_HOST"


def default_host():
    """The lab host name: Mininet hosts share the UTS namespace, so the lab
    passes the name in the environment; outside a lab, the machine's name."""
    return os.environ.get(HOST_ENV) or os.uname().nodename


class EventLog:
    """Appends events to a file (or to nothing, when no path is given)."""

    def __init__(self, path=None, service="", host=None, now=time.time):
        self.service = service
        self.host = host or default_host()
        self.now = now
        self._file = None
        if path == "-":
            self._file = sys.stdout
        elif path:
            self._file = open(path, "a", buffering=1, encoding="utf-8")

    def emit(self, event, msgid=None, **fields):
        record = {"ts": round(self.now(), 6), "host": self.host,
                  "service": self.service, "event": event}
        if msgid is not None:
            record["msgid"] = msgid
        record.update(fields)
        if self._file is not None:
            self._file.write(json.dumps(record, sort_keys=False) + "\n")
            self._file.flush()
        return record

    def close(self):
        if self._file not in (None, sys.stdout):
            self._file.close()
        self._file = None


def read_events(path):
    """Every event in a log file; a torn last line (kill -9) is skipped."""
    events = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return events


class LogTail:
    """The events appended to one log file since the last ``read()``; a line still
    being written waits for its newline, a line that is not JSON is skipped."""

    def __init__(self, path):
        self.path = path
        self.offset = 0

    def read(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        events = []
        for line in data[:end].splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events
