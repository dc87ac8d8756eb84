import json
import os

import pytest

from servers.common.durable import write_atomic
from servers.common.events import EventLog, read_events


def test_event_lines_carry_the_contract_fields(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(str(path), service="relay", host="relay1", now=lambda: 12.5)
    log.emit("queued", msgid="<a@x>", rcpt="u@example.org")
    log.emit("started")
    log.close()
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    assert first == {"ts": 12.5, "host": "relay1", "service": "relay",
                     "event": "queued", "msgid": "<a@x>", "rcpt": "u@example.org"}
    assert "msgid" not in json.loads(lines[1])


def test_read_events_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"ts": 1, "event": "a"}\n{"ts": 2, "ev')
    assert [e["event"] for e in read_events(str(path))] == ["a"]
    assert read_events(str(tmp_path / "missing")) == []


def test_write_atomic_replaces_whole_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f"
    write_atomic(str(target), b"one")
    write_atomic(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["f"]


def test_write_atomic_failure_leaves_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f"
    write_atomic(str(target), b"old")

    def broken_replace(src, dst):
        raise OSError("disk on fire")
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomic(str(target), b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]
