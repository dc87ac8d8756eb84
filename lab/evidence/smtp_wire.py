"""SMTP conversations on the wire: each TCP connection to port 25 seen at a
capture point, its two byte streams put back together from the captured
segments, and in them every message a client handed over (the DATA that
carried it, its Message-ID) with the server's reply to the end of that data.

The checker reads this, not any server's log: a message "delivered to mx1 by
the relay" is a DATA from the relay's address to mx1's port 25, carrying its
Message-ID, that mx1 answered with 250.
"""
import dataclasses
import email.parser
import re

SMTP_PORT = 25
REPLY_RE = re.compile(rb"^(\d{3})([ -])", re.M)
DATA_RE = re.compile(rb"^DATA\r?\n", re.M | re.I)
END_OF_DATA = b"\r\n.\r\n"


@dataclasses.dataclass
class WireMessage:
    """One message handed over on the wire."""
    ts: float           # when the server's reply to its end of data was captured (or the data's)
    point: str          # capture point
    client: str         # client IP (the side that sent DATA)
    server: str         # server IP
    sport: int          # the client's source port: one connection
    msgid: str
    code: int           # the server's reply to the end of data (0: none captured)


def _stream(segments):
    """(bytes, [(offset, ts)]) of one direction: segments in sequence order from
    the first one seen, retransmissions and overlaps taken once."""
    if not segments:
        return b"", []
    base = min(seq for seq, _, _ in segments)
    data, marks, end = bytearray(), [], 0
    for seq, ts, payload in sorted(segments, key=lambda s: (s[0], s[1])):
        start = (seq - base) % (1 << 32)
        if start + len(payload) <= end:
            continue                    # a retransmission of bytes already placed
        if start > end:
            break                       # a hole: what follows cannot be placed
        data += payload[end - start:]
        marks.append((end, ts))
        end = len(data)
    return bytes(data), marks


def _ts_at(marks, offset):
    t = marks[0][1] if marks else 0.0
    for start, ts in marks:
        if start > offset:
            break
        t = ts
    return t


def connections(frames, point=None):
    """{(client ip, client port, server ip): (client bytes, client marks, server
    bytes, server marks)} of every SMTP connection seen at ``point`` (any point)."""
    flows = {}
    for f in frames:
        if f.proto != "tcp" or not f.payload or (point is not None and f.point != point):
            continue
        if f.dport == SMTP_PORT:
            key, side = (f.src_ip, f.sport, f.dst_ip, f.point), 0
        elif f.sport == SMTP_PORT:
            key, side = (f.dst_ip, f.dport, f.src_ip, f.point), 1
        else:
            continue
        flows.setdefault(key, ([], []))[side].append((f.seq, f.ts, f.payload))
    out = {}
    for key, (client, server) in flows.items():
        out[key] = _stream(client) + _stream(server)
    return out


def _message_id(content):
    head = content.split(b"\r\n\r\n", 1)[0]
    headers = email.parser.BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
    return " ".join((headers.get("Message-ID") or "").split())


def messages(frames, point=None):
    """[WireMessage] of every DATA on the wire (at ``point``), in time order."""
    found = []
    for (client, sport, server, where), (cdata, cmarks, sdata, smarks) in \
            connections(frames, point).items():
        replies = [(m.start(), int(m.group(1))) for m in REPLY_RE.finditer(sdata)
                   if m.group(2) == b" "]          # the last line of each reply
        after_354 = []
        for i, (offset, code) in enumerate(replies):
            if code == 354:
                after_354.append(replies[i + 1] if i + 1 < len(replies) else (None, 0))
        for k, m in enumerate(DATA_RE.finditer(cdata)):
            end = cdata.find(END_OF_DATA, m.end())
            if end < 0:
                continue                # the data never ended on the wire
            content = cdata[m.end():end + 2]
            offset, code = after_354[k] if k < len(after_354) else (None, 0)
            ts = _ts_at(smarks, offset) if offset is not None else _ts_at(cmarks, end)
            found.append(WireMessage(ts, where, client, server, sport, _message_id(content),
                                     code))
    found.sort(key=lambda w: w.ts)
    return found
