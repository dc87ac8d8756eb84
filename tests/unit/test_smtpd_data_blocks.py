"""DATA taken a block at a time (ReceiveServer._data_block, SpooledData.lines)
does exactly what handling it a line at a time did, however the data is cut
into packets: the end marker, dot-unstuffing, bare CR and LF, over-long lines
and the size limit across packet boundaries."""
from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.internet import defer, task
from twisted.internet.testing import StringTransport

from servers.smtpd import spool as spool_module
from servers.smtpd.protocol import ReceiveFactory, ReceiveServer
from servers.smtpd.recipients import RecipientPolicy
from servers.smtpd.spool import SpooledData


class RecordingStorage:
    """Keeps what each stored message's spool holds (read before the 250)."""
    spool_dir = None

    def __init__(self):
        self.stored = []

    def store(self, message):
        spool = message.spool
        self.stored.append((message.sender, tuple(message.recipients), message.msgid,
                            spool.read_all(), spool.size, spool.crc32, spool.content_sha256))
        return defer.succeed(None)


class LineByLine(ReceiveServer):
    """The reference: every data line through ``_data_line``, one at a time."""

    def _data_block(self, block):
        for line in block:
            self._data_line(line)


def fixed_message_id(hostname, now):
    return "<generated@%s>" % hostname


def run(chunks, max_size, protocol_class=ReceiveServer):
    new_message_id, spool_module.new_message_id = spool_module.new_message_id, fixed_message_id
    try:
        return _run(chunks, max_size, protocol_class)
    finally:
        spool_module.new_message_id = new_message_id


def _run(chunks, max_size, protocol_class):
    storage = RecordingStorage()
    clock = task.Clock()
    factory = ReceiveFactory(RecipientPolicy(["example.org"]), storage, "mx1.lab",
                             max_size=max_size, clock=clock)
    server = protocol_class(factory.policy, storage, factory.hostname, max_size, clock,
                            factory.new_id, factory.deadline)
    server.factory = factory
    transport = StringTransport()
    server.makeConnection(transport)
    for chunk in chunks:
        server.dataReceived(chunk)
    server.connectionLost(None)
    return transport.value(), storage.stored


ENVELOPE = b"EHLO c.example.net\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n"

# Lines rich in what the data path must get right: dots, bare CR and LF, header
# syntax (Message-ID, continuations), empty lines, and lines near 998 octets.
fragments = st.sampled_from([b".", b"..", b"\r", b"\n", b"a", b"From: x", b"Message-ID: <m@x>",
                             b" folded", b"\t", b":", b"Received: by x", b"", b"x" * 40])
short_line = st.lists(fragments, max_size=6).map(b"".join)
long_line = st.sampled_from([997, 998, 999, 1000, 1200]).flatmap(
    lambda n: st.sampled_from([b"y" * n, b"." + b"y" * (n - 1)]))
data_line = st.one_of(short_line, short_line, short_line, long_line)


@st.composite
def sessions(draw):
    messages = draw(st.lists(st.lists(data_line, max_size=25), min_size=1, max_size=3))
    wire = ENVELOPE
    for i, lines in enumerate(messages):
        if i:
            wire += b"MAIL FROM:<a@example.net>\r\nRCPT TO:<u@example.org>\r\nDATA\r\n"
        wire += b"".join(line + b"\r\n" for line in lines) + b".\r\n"
    wire += draw(st.sampled_from([b"QUIT\r\n", b"NOOP\r\n", b"", b"NOOP\r\nQUIT\r\n"]))
    cuts = sorted(draw(st.lists(st.integers(0, len(wire)), max_size=12)))
    chunks = [wire[a:b] for a, b in zip([0] + cuts, cuts + [len(wire)])]
    max_size = draw(st.sampled_from([10 * 1024 * 1024, 2000, 300, 40]))
    return wire, chunks, max_size


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_blocks_in_any_packets_store_and_reply_as_line_by_line(session):
    wire, chunks, max_size = session
    expected = run([wire], max_size, LineByLine)
    assert run(chunks, max_size) == expected
    assert run([bytes([b]) for b in wire], max_size) == expected


def test_end_marker_split_across_packets():
    wire = ENVELOPE + b"Subject: s\r\n\r\n..one\r\n.two\r\n.\r\nQUIT\r\n"
    end = wire.index(b"\r\n.\r\n")
    replies, stored = run([wire[:end + 1], wire[end + 1:end + 3], wire[end + 3:]], 10 ** 6)
    assert stored[0][3].endswith(b"Subject: s\nMessage-ID: <generated@mx1.lab>\n\n.one\ntwo\n")
    assert replies.endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: stored as 0000001\r\n221 2.0.0 Bye\r\n")


def test_a_dot_line_in_a_later_packet_is_unstuffed():
    first = ENVELOPE + b"Subject: s\r\n\r\nbody\r\n"
    replies, stored = run([first, b"..x\r\n", b".\r\n"], 10 ** 6)
    assert stored[0][3].endswith(b"\nbody\n.x\n")


spool_lines = st.lists(st.lists(fragments.filter(lambda f: f not in (b"\r", b"\n")), max_size=5)
                       .map(b"".join), max_size=40)


@settings(max_examples=300, deadline=None)
@given(spool_lines, st.integers(1, 8), st.sampled_from([64 * 1024, 200, 1]))
def test_spool_lines_equal_line_by_line(lines, parts, memory_max):
    old, spool_module.MEMORY_MAX = spool_module.MEMORY_MAX, memory_max
    new_message_id, spool_module.new_message_id = spool_module.new_message_id, fixed_message_id
    try:
        one, blocks = (SpooledData(b"Received: by mx1.lab", "mx1.lab", 0) for _ in range(2))
        for line in lines:
            one.line(line)
        step = max(1, len(lines) // parts)
        for i in range(0, len(lines), step):
            blocks.lines(b"".join(line + b"\n" for line in lines[i:i + step]))
        for s in (one, blocks):
            s.finish()
        assert (blocks.read_all(), blocks.size, blocks.crc32, blocks.content_sha256,
                blocks.msgid) == (one.read_all(), one.size, one.crc32, one.content_sha256,
                                  one.msgid)
        assert blocks.in_memory == one.in_memory == (one.size <= memory_max)
        one.close()
        blocks.close()
    finally:
        spool_module.MEMORY_MAX = old
        spool_module.new_message_id = new_message_id
