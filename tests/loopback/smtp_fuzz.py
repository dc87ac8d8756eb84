"""Mutated SMTP sessions (Hypothesis strategies) and a client that plays them
against a real server on loopback.

A session starts valid (EHLO, one to three transactions with several
recipients and a body, QUIT) and is then mutated line by line: over-long
lines, NUL and 8-bit bytes, bare CR or LF for CRLF, a line repeated up to
1,200 times (a huge RCPT list), lines dropped, swapped or inserted (commands
out of order, DATA content before the 354: bad pipelining), bytes flipped.
A session left valid must get a 250 for each message a correct server
accepts (legal parameters, a local recipient, no line over 998 octets once
unstuffed) up to its first refused one.  A session is sent pipelined, in
random chunks, sometimes dribbled (a slow client), and it ends one of two
ways: cut anywhere (a disconnect mid-command or in DATA without its end) or
with a terminator that ends any DATA and QUITs, after which the server must
close the connection.

Each message gets a Message-ID unique in the run, filled in when it is sent,
so that no two messages are one message to the Maildir's dedupe.
"""
import itertools
import re
import socket
import time
from dataclasses import dataclass, field
from typing import List, Optional

from hypothesis import strategies as st

MESSAGE_ID = b"\0message-id\0"     # stands for a fresh Message-ID header line
TERMINATOR = b"\r\n.\r\nQUIT\r\n"
STORED = re.compile(rb"^250 2\.0\.0 Ok: stored as (\S+)$")
REPLY = re.compile(rb"^[2-5]\d\d[ -]")
RECIPIENTS = [b"u@example.org", b"v@example.org", b"U@EXAMPLE.ORG", b"x@other.org",
              b"u%other.org@example.org", b"", b"postmaster", b"\"q u\"@example.org",
              b"@relay.example:u@example.org", b"u@[127.0.0.1]"]
MAIL_PARAMETERS = [b"", b"", b" SIZE=120", b" BODY=8BITMIME", b" BODY=7BIT SIZE=20",
                   b" SIZE=99999999999", b" SIZE=", b" BODY=BINARYMIME", b" AUTH=<>",
                   b" SMTPUTF8"]
COMMANDS = [b"EHLO x", b"HELO x", b"MAIL FROM:<>", b"MAIL FROM:<a@example.net>",
            b"RCPT TO:<u@example.org>", b"DATA", b"RSET", b"NOOP", b"VRFY u", b"EXPN list",
            b"QUIT", b"BDAT 10 LAST", b"STARTTLS", b"AUTH PLAIN AGFAAGI=", b"HELP", b"TURN",
            b".", b"", b"MAIL FROM:<a@example.net> SIZE=5 SIZE=6", b"RCPT TO:<>",
            b"DATA extra", b"ehlo", b"\x80\x81\xfe", b"MAIL\x00FROM:<a@b>"]
BODY_LINES = [b".", b"..", b".x", b"." + b"x" * 998, b"x" * 999, b"Subject: again",
              b"\tfolded", b"", b"\xc3\xa9t\xc3\xa9", b"Message-ID: <fixed@client>",
              b"Received: from nowhere"]
LONGEST_LINES = [b"x" * 998, b"." + b"x" * 997]     # legal: 998 octets once unstuffed


def _line_bytes():
    return st.binary(max_size=120).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


# What a server for example.org must accept, whatever else it does.
SURELY_ACCEPTED = {b"u@example.org", b"v@example.org", b"U@EXAMPLE.ORG"}
LEGAL_PARAMETERS = {b"", b" SIZE=120", b" BODY=8BITMIME", b" BODY=7BIT SIZE=20"}
TEXT_LINE_MAX = 998


@st.composite
def valid_sessions(draw):
    """A session a correct client might send: (lines, how many of its
    messages a correct server must accept). After a refused transaction the
    client's pipelined DATA becomes commands, so the count stops there."""
    greeting = draw(st.sampled_from([b"EHLO client.test", b"HELO client.test",
                                     b"EHLO [127.0.0.1]"]))
    lines, must_accept, counting = [greeting], 0, True
    for _ in range(draw(st.integers(1, 3))):
        parameters = draw(st.sampled_from(MAIL_PARAMETERS))
        lines.append(b"MAIL FROM:<a@example.net>" + parameters)
        rcpts = draw(st.lists(st.sampled_from(RECIPIENTS), min_size=1, max_size=4))
        lines += [b"RCPT TO:<" + rcpt + b">" for rcpt in rcpts]
        body = draw(st.lists(st.one_of(st.sampled_from(BODY_LINES), st.sampled_from(LONGEST_LINES),
                                       _line_bytes()), max_size=6))
        lines += [b"DATA", MESSAGE_ID, b"From: a@example.net", b"Subject: fuzz", b""]
        lines += [b"." + line if line.startswith(b".") else line for line in body]  # dot-stuffed
        lines.append(b".")
        counting = counting and (parameters in LEGAL_PARAMETERS
                                 and (parameters == b"" or greeting.startswith(b"EHLO"))
                                 and bool(SURELY_ACCEPTED & set(rcpts))
                                 and all(len(line) <= TEXT_LINE_MAX for line in body))
        must_accept += counting
        if draw(st.integers(0, 3)) == 0:
            lines.append(draw(st.sampled_from([b"RSET", b"NOOP", b"VRFY u"])))
    lines.append(b"QUIT")
    return lines, must_accept


_position = st.integers(0, 10 ** 6)
MUTATIONS = st.one_of(
    st.tuples(st.just("long"), _position, st.integers(513, 70_000), st.sampled_from(b"xA. \x00")),
    st.tuples(st.just("nul"), _position, _position),
    st.tuples(st.just("eol"), _position, st.sampled_from([b"\n", b"\r", b"", b"\r\r\n",
                                                           b"\n\r"])),
    st.tuples(st.just("repeat"), _position, st.integers(2, 1200)),
    st.tuples(st.just("drop"), _position),
    st.tuples(st.just("swap"), _position, _position),
    st.tuples(st.just("insert"), _position, st.one_of(st.sampled_from(COMMANDS), _line_bytes())),
    st.tuples(st.just("flip"), _position, _position, st.integers(0, 255)),
    st.tuples(st.just("8bit"), _position),
)


@dataclass
class Session:
    lines: List[bytes]
    eols: List[bytes]
    chunks: List[int]
    ending: str                 # "quit" or "cut"
    cut_at: int = 0
    slow: bool = False
    must_accept: Optional[int] = None   # for a session left valid: messages it must get in
    ids: List[bytes] = field(default_factory=list)


def mutate(lines, mutations):
    """Apply each mutation to a copy of ``lines``; returns (lines, line endings)."""
    lines = list(lines)
    eols = [b"\r\n"] * len(lines)
    for kind, where, *args in mutations:
        if not lines:
            break
        i = where % len(lines)
        protected = lines[i] == MESSAGE_ID
        if kind == "long" and not protected:
            lines[i] = lines[i] + bytes([args[1]]) * args[0]
        elif kind == "nul" and not protected:
            j = args[0] % (len(lines[i]) + 1)
            lines[i] = lines[i][:j] + b"\0" + lines[i][j:]
        elif kind == "eol":
            eols[i] = args[0]
        elif kind == "repeat":
            lines[i + 1:i + 1] = [lines[i]] * (args[0] - 1)
            eols[i + 1:i + 1] = [eols[i]] * (args[0] - 1)
        elif kind == "drop":
            del lines[i], eols[i]
        elif kind == "swap":
            j = args[0] % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "insert":
            lines.insert(i, args[0])
            eols.insert(i, b"\r\n")
        elif kind == "flip" and lines[i] and not protected:
            j = args[0] % len(lines[i])
            lines[i] = lines[i][:j] + bytes([args[1]]) + lines[i][j + 1:]
        elif kind == "8bit" and not protected:
            lines[i] = bytes(b | 0x80 for b in lines[i][:8]) + lines[i][8:]
    return lines, eols


@st.composite
def fuzz_sessions(draw):
    valid, must_accept = draw(valid_sessions())
    mutations = draw(st.lists(MUTATIONS, max_size=4))
    lines, eols = mutate(valid, mutations)
    ending = draw(st.sampled_from(["quit", "quit", "quit", "cut"]))
    return Session(lines=lines, eols=eols,
                   chunks=draw(st.lists(st.integers(1, 4096), max_size=8)),
                   ending=ending, cut_at=draw(_position),
                   slow=draw(st.integers(0, 49)) == 0,
                   must_accept=must_accept if not mutations and ending == "quit" else None)


_message_numbers = itertools.count(1)


def wire_bytes(session, run):
    """The bytes to send: fresh Message-IDs filled in (kept in ``session.ids``)."""
    out = []
    for line, eol in zip(session.lines, session.eols):
        if line == MESSAGE_ID:
            msgid = b"<fuzz-%s-%d@client>" % (run.encode(), next(_message_numbers))
            session.ids.append(msgid)
            line = b"Message-ID: " + msgid
        out.append(line + eol)
    data = b"".join(out)
    if session.ending == "cut":
        return data[:session.cut_at % (len(data) + 1)]
    return data + TERMINATOR


@dataclass
class Outcome:
    stored: List[bytes]        # the ids in "250 ... stored as ID" replies
    replies: int
    closed_by_server: bool


def play(port, session, run="r", timeout=30.0):
    """Send one session; read the replies until the server closes (after the
    terminator it must) or, for a cut session, until we hang up."""
    data = wire_bytes(session, run)
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    received = bytearray()
    try:
        received += sock.recv(4096)          # the greeting
        assert received.startswith(b"220 "), "no greeting: %r" % bytes(received)
        try:
            _send(sock, data, session)
        except (BrokenPipeError, ConnectionResetError):
            pass                             # the server hung up first (QUIT, too many errors)
        if session.ending == "cut":
            sock.setblocking(False)
            try:
                received += sock.recv(1 << 20)
            except (BlockingIOError, ConnectionResetError):
                pass
            return _outcome(received, closed=False)
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return _outcome(received, closed=True)
    except socket.timeout:
        raise AssertionError("the server neither answered nor closed within %ss; got %r"
                             % (timeout, bytes(received[-500:])))
    finally:
        sock.close()


def _send(sock, data, session):
    sizes = itertools.cycle(session.chunks or [len(data) or 1])
    view = memoryview(data)
    dribbled = 0
    while view:
        if session.slow and dribbled < 40:
            n, dribbled = 1 + dribbled % 7, dribbled + 1
            time.sleep(0.002)        # wait: a slow client is the input under test
        else:
            n = next(sizes)
        sock.sendall(view[:n])
        view = view[n:]


def _outcome(received, closed):
    lines = bytes(received).split(b"\r\n")
    lines.pop()                  # after the last CRLF: nothing, or a reply cut by a reset
    for line in lines:
        assert REPLY.match(line), "a malformed reply line: %r" % line[:200]
    stored = [m.group(1) for m in map(STORED.match, lines) if m]
    return Outcome(stored=stored, replies=len(lines), closed_by_server=closed)
