"""The files of one run's report directory, read once into a ``RunFiles``
record that the answer functions compute from (they read nothing else).

A report directory (``maillab run ... --report DIR``) holds ``report.json``,
``events.jsonl`` (every server's events), ``ledger.jsonl`` (every 250 a
sender got), ``queue.jsonl`` (the relay's queue files as read from disk
during the run, where the run watched them) and ``pcaps/*.pcap``.
"""
import dataclasses
import glob
import json
import os

from lab.evidence.wire import read_frames
from servers.common.events import read_events


@dataclasses.dataclass
class RunFiles:
    directory: str
    report: dict
    events: list
    ledger: list
    queue: list              # [{ts, entries: [{msgid, next_hop}]}]
    packets: list            # [wire.Frame], in time order; ``point`` is the pcap's file name


class NotARun(ValueError):
    pass


def _jsonl(path):
    return read_events(path) if os.path.exists(path) else []


def load(directory):
    """Everything of the run in ``directory``; ``NotARun`` if it holds no report.json."""
    try:
        with open(os.path.join(directory, "report.json"), encoding="utf-8") as f:
            report = json.load(f)
    except FileNotFoundError:
        raise NotARun("%s: no report.json (run an exercise first: maillab exercise N)"
                      % directory) from None
    packets = []
    for path in sorted(glob.glob(os.path.join(directory, "pcaps", "*.pcap"))):
        packets += read_frames(path, os.path.basename(path))
    packets.sort(key=lambda p: p.ts)
    events = sorted(_jsonl(os.path.join(directory, "events.jsonl")), key=lambda e: e.get("ts", 0))
    return RunFiles(directory, report, events,
                    _jsonl(os.path.join(directory, "ledger.jsonl")),
                    _jsonl(os.path.join(directory, "queue.jsonl")), packets)
