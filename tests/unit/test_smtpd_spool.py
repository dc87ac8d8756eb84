"""DATA spooled to a file as it arrives: what is stored, and a session's memory
does not grow with the message."""
import hashlib
import tracemalloc
import zlib

import pytest
from twisted.internet import defer

from servers.mx.maildir import delivery_id, without_trace_headers
from servers.relay.queue import message_id_of
from servers.smtpd.spool import SpooledData
from tests.unit.smtp_dialogue import Session, envelope, message


class SpoolStorage:
    """A storage that takes spooled messages: reads each back as the real ones do."""

    def __init__(self, directory):
        self.spool_dir = str(directory)
        self.messages = []

    def store(self, message):
        assert message.data is None
        data = b"".join(message.spool.chunks())
        self.messages.append((message, data))
        return defer.succeed(None)


def spooled(lines, header=b"Received: from x\n\tby y"):
    spool = SpooledData(header, "mx1.lab", 1_700_000_000)
    for line in lines:
        spool.line(line)
    return spool.finish()


@pytest.mark.parametrize("lines, msgid_added", [
    ([b"From: a@x", b"Message-ID: <m1@x>", b"", b"body"], False),
    ([b"From: a@x", b"Message-ID:", b" <folded@x>", b"", b"body"], False),
    ([b"From: a@x", b"", b"body"], True),
    ([b"just a body line"], True),
    ([], True),
    ([b"From: a@x", b"Subject: no body"], True),
    ([b"Received: from z", b"Return-Path: <a@x>", b"From: a@x", b"", b"Received: not trace"], True),
])
def test_the_spool_holds_the_data_and_its_id_size_crc_and_content_hash(lines, msgid_added):
    spool = spooled(lines)
    data = spool.read_all()
    assert data.startswith(b"Received: from x\n\tby y\n")
    assert len(data) == len(spool) and zlib.crc32(data) == spool.crc32
    assert spool.content_sha256 == hashlib.sha256(without_trace_headers(data)).digest()
    assert delivery_id(spool.msgid, spool) == delivery_id(spool.msgid, data)
    assert message_id_of(data) == spool.msgid == message_id_of(spool)
    assert (spool.msgid.endswith("@mx1.lab>")) == msgid_added
    head, _, body = data.partition(b"\n\n")
    assert head.count(b"Message-ID:") == 1
    if lines and b":" not in lines[0]:     # no header section: the body is all of it
        assert body == b"\n".join(lines) + b"\n"
    spool.close()


def test_a_spooling_storage_gets_the_message_from_the_file(tmp_path):
    storage = SpoolStorage(tmp_path)
    s = Session(storage=storage)
    s.send(envelope())
    assert s.send(message(body="line 1\n..dot\n"))[-1].startswith("250 2.0.0")
    [(stored, data)] = storage.messages
    assert stored.msgid == "<m1@example.net>"
    assert data.startswith(b"Received: from client.example.net") and data.endswith(b"\nline 1\n.dot\n")
    assert stored.spool.file.closed          # closed once the store fired
    assert list(tmp_path.iterdir()) == []    # an unnamed file: nothing left behind


def test_a_session_receiving_10_mb_holds_well_under_a_megabyte(tmp_path):
    storage = SpoolStorage(tmp_path)
    storage.store = lambda m: defer.succeed(storage.messages.append(len(m.spool)))
    s = Session(storage=storage)
    s.send(envelope())
    s.send("DATA\n")
    chunk = (b"x" * 70 + b"\r\n") * 900        # ~64 kB, as a socket delivers it
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(10 * 1024 * 1024 // len(chunk)):
            s.protocol.dataReceived(chunk)
        s.protocol.dataReceived(b".\r\n")
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert s.take()[-1].startswith("250 2.0.0")
    assert storage.messages[0] > 10 * 1000 * 1000
    assert peak < 1024 * 1024, peak


def test_an_aborted_transfer_leaves_no_spool(tmp_path):
    storage = SpoolStorage(tmp_path)
    s = Session(storage=storage, max_size=1000)
    s.send(envelope())
    s.send("DATA\n" + "y" * 500 + "\n")
    spool = s.protocol._spool
    s.send("y" * 600 + "\n")         # over the size: dropped at once
    assert spool.file.closed and s.protocol._spool is None
    assert s.send(".\n")[-1].startswith("552")
    s.send(envelope()[len("EHLO client.example.net\n"):] + "DATA\npartial\n")
    spool = s.protocol._spool
    s.protocol.connectionLost(None)
    assert spool.file.closed


def test_a_small_message_stays_in_memory_and_a_large_one_moves_to_a_file(tmp_path):
    from servers.smtpd.spool import MEMORY_MAX
    small = SpooledData(b"Received: x", "mx1.lab", 1_700_000_000, str(tmp_path))
    small.line(b"Subject: s")
    small.finish()
    assert small.in_memory and list(tmp_path.iterdir()) == []
    large = SpooledData(b"Received: x", "mx1.lab", 1_700_000_000, str(tmp_path))
    lines = [b"Subject: big", b""] + [b"%05d" % i + b"y" * 70 for i in range(MEMORY_MAX // 70)]
    for line in lines:
        large.line(line)
    large.finish()
    assert not large.in_memory and len(large) > MEMORY_MAX
    data = large.read_all()
    assert data.endswith(b"\n".join(lines[2:]) + b"\n") and zlib.crc32(data) == large.crc32
    assert large.head(100) == data[:100]
    small.close()
    large.close()
    assert list(tmp_path.iterdir()) == []      # the file was unnamed
