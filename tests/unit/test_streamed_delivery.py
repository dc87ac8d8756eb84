"""The relay delivers a queued message a chunk at a time: the wire form is the
same as from the whole bytes, and a corrupt queue file is never sent."""
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.common.smtpclient import crlf_form, encode_chunks, encode_data, is_8bit
from servers.relay.queue import CorruptQueueFile, Queue, QueuedData

pieces = st.lists(st.sampled_from([b"\n", b"\r\n", b"\r", b".", b"..", b"a", b"\xe9", b"x" * 7]),
                  max_size=40).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(pieces, st.lists(st.integers(1, 9), min_size=1, max_size=5))
def test_encoding_in_chunks_is_the_same_as_encoding_the_whole(data, cuts):
    chunks, i = [], 0
    for n in cuts * (len(data) // max(sum(cuts), 1) + 1):
        chunks.append(data[i:i + n])
        i += n
    chunks.append(data[i:])
    assert b"".join(encode_chunks(iter(chunks))) == encode_data(data)


@settings(max_examples=200, deadline=None)
@given(pieces)
def test_a_queued_message_knows_its_smtp_size_and_8bit_before_sending(data):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        entry = Queue(d).enqueue("a@x", ["u@example.org"], data, "mx:example.org")
        streamed = entry.open_data()
        try:
            assert b"".join(streamed.chunks()) == data == entry.data()
            assert streamed.crlf_size == len(crlf_form(data))
            assert streamed.eight_bit == is_8bit(data)
        finally:
            streamed.close()


def test_a_corrupt_or_truncated_queue_file_is_refused_before_anything_is_sent(tmp_path):
    entry = Queue(str(tmp_path)).enqueue("a@x", ["u@example.org"], b"Subject: x\n\nbody\n" * 1000,
                                         "mx:example.org")
    raw = bytearray(open(entry.path, "rb").read())
    raw[-100] ^= 1
    open(entry.path, "wb").write(bytes(raw))
    with pytest.raises(CorruptQueueFile, match="checksum"):
        entry.open_data()
    open(entry.path, "wb").write(bytes(raw[:-30]))
    with pytest.raises(CorruptQueueFile, match="end marker"):
        entry.open_data()


def test_the_open_file_keeps_the_data_while_the_entry_is_rewritten(tmp_path):
    queue = Queue(str(tmp_path))
    entry = queue.enqueue("a@x", ["u@example.org"], b"Subject: x\n\nbody\n", "mx:example.org")
    streamed = entry.open_data()
    entry.attempts = 3
    queue.save(entry)           # a new file renamed over the old one
    assert b"".join(streamed.chunks()) == b"Subject: x\n\nbody\n"
    assert zlib.crc32(b"".join(streamed.chunks())) == zlib.crc32(entry.data())
    streamed.close()
    assert isinstance(streamed, QueuedData)
