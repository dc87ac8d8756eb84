"""A small SMTP client: one session, several messages, per-command timeouts.

``SMTPClient`` is the protocol (a state machine fed by a transport, testable
with StringTransport); ``connect`` opens a session to HOST:PORT and returns
it once the greeting and EHLO are done; ``deliver`` sends one message and
quits.  No SMTP failure ever errbacks: every outcome is a ``MessageResult``
whose recipients are classified delivered / temporary / permanent, with the
server's reply text.  A connection that fails (refused, timed out, reset)
makes every recipient temporary.

8BITMIME (RFC 6152): a message received with ``BODY=8BITMIME`` is sent with
it. If the next hop does not advertise 8BITMIME, a message that really holds
8-bit octets fails permanently (5.6.3, so the relay bounces it) rather than
being downconverted: rewriting its MIME structure would change the content
the messaging server's dedupe recognises, and every server in the lab (and
Postfix) advertises 8BITMIME. A message with only 7-bit octets is sent
without the parameter.

Timeouts: RFC 5321 §4.5.3.2 suggests 5 minutes for the greeting, MAIL and
RCPT, 2 for DATA, 10 for the final dot; the lab uses seconds.
"""
import collections
import logging
import re

from twisted.internet import defer, error, interfaces, protocol
from twisted.protocols.basic import LineReceiver
from zope.interface import implementer

log = logging.getLogger(__name__)

DELIVERED, TEMPORARY, PERMANENT = "delivered", "temporary", "permanent"

Reply = collections.namedtuple("Reply", "code text")

_BARE_LF = re.compile(rb"(?<!\r)\n")


def crlf_form(data):
    """Message bytes with CRLF line ends and a final CRLF: what SIZE counts (RFC 1870)."""
    if data.count(b"\n") != data.count(b"\r\n"):
        data = _BARE_LF.sub(b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def dot_stuff(data):
    """CRLF-form bytes as they travel after DATA: dot-stuffed, with the ending ``.`` line."""
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") + b".\r\n"


def encode_data(data):
    """Message bytes as they travel after DATA."""
    return dot_stuff(crlf_form(data))


def is_8bit(data):
    """``data``: bytes, or a streamed message that knows (``eight_bit``)."""
    if hasattr(data, "chunks"):
        return data.eight_bit
    return any(byte > 127 for byte in data)


def encode_chunks(chunks):
    """``encode_data`` a chunk at a time: the pieces of the wire form of the
    message whose bytes ``chunks`` yields (any line ends; CRLF out, dots
    stuffed, the ending ``.`` line last)."""
    carry, sent = b"", False
    for chunk in chunks:
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        if lines:
            sent = True
            yield b"".join((b"." if l[:1] == b"." else b"") + (l[:-1] if l[-1:] == b"\r" else l)
                           + b"\r\n" for l in lines)
    if carry or not sent:
        yield (b"." if carry[:1] == b"." else b"") + carry + b"\r\n"
    yield b".\r\n"


@implementer(interfaces.IPullProducer)
class _DataProducer:
    """Writes a streamed message to ``transport`` as it asks for more, so only a
    chunk or two of it is in memory at once."""

    def __init__(self, transport, pieces):
        self.transport, self.pieces = transport, pieces
        self.finished = defer.Deferred()

    def start(self):
        self.transport.registerProducer(self, False)
        return self.finished

    def resumeProducing(self):
        try:
            piece = next(self.pieces)
        except StopIteration:
            self._end(None)
            return
        except Exception as e:      # the queue file went bad under us: no final dot sent
            self._end(SessionError("reading the message failed: %s" % e))
            return
        self.transport.write(piece)

    def stopProducing(self):
        self._end(SessionError("connection lost while sending the message"))

    def _end(self, error):
        if self.finished.called:
            return
        self.transport.unregisterProducer()
        if error is None:
            self.finished.callback(None)
        else:
            self.finished.errback(error)


class SessionError(Exception):
    """The session broke: connection lost, timeout or a garbled reply."""


class MessageResult:
    """What happened to one message's recipients on one server."""

    def __init__(self, server):
        self.server = server
        self.reply = None     # the final 250, when delivered
        self.delivered = []
        self.temporary = {}   # rcpt -> Reply (code None for a connection failure)
        self.permanent = {}

    @property
    def status(self):
        if self.temporary:
            return TEMPORARY
        if self.permanent:
            return PERMANENT
        return DELIVERED

    def fail_all(self, recipients, kind, reply):
        target = self.temporary if kind == TEMPORARY else self.permanent
        for rcpt in recipients:
            if rcpt not in self.delivered:
                target[rcpt] = reply
        return self

    @property
    def error(self):
        """One line saying why (the first failure), or ''."""
        for rcpt, reply in list(self.temporary.items()) + list(self.permanent.items()):
            code = "%d " % reply.code if reply.code else ""
            return "%s%s (%s)" % (code, reply.text, self.server)
        return ""

    def __repr__(self):
        return "<MessageResult %s %s>" % (self.status, self.error or self.server)


def classify(code):
    if 200 <= code < 300:
        return DELIVERED
    if 400 <= code < 500:
        return TEMPORARY
    return PERMANENT


def _accepted(recipients, rcpt_replies, result):
    """The recipients the server accepted; each refused one's failure goes into
    ``result``."""
    accepted = []
    for rcpt, reply in zip(recipients, rcpt_replies):
        kind = classify(reply.code)
        if kind == DELIVERED:
            accepted.append(rcpt)
        else:
            result.fail_all([rcpt], kind, reply)
    return accepted


class SMTPClient(LineReceiver):
    """Client side of one SMTP session.

    ``ready`` fires with the protocol after greeting + EHLO (or HELO), or
    fails with SessionError.  Then ``send()`` messages one after another
    (calls queue up); ``quit()`` at the end.
    """
    delimiter = b"\r\n"
    MAX_LENGTH = 65536

    def __init__(self, helo_name, clock, command_timeout=30.0, data_timeout=60.0,
                 server=""):
        self.helo_name = helo_name
        self.clock = clock
        self.command_timeout = command_timeout
        self.data_timeout = data_timeout
        self.server = server
        self.extensions = {}
        self.ready = defer.Deferred()
        self.broken = None          # why the session is unusable, once it is
        self._waiting = collections.deque()   # (Deferred, timeout) per reply expected
        self._lines = []
        self._timer = None
        self._lock = defer.DeferredLock()

    # -- wire ---------------------------------------------------------------
    def connectionMade(self):
        self._expect(self.command_timeout).addCallback(self._greeted).addErrback(self._not_ready)

    def _expect(self, timeout):
        d = defer.Deferred()
        self._waiting.append((d, timeout))
        if len(self._waiting) == 1:
            self._arm(timeout)
        return d

    def _arm(self, timeout):
        self._disarm()
        self._timer = self.clock.callLater(timeout, self._timed_out)

    def _disarm(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _timed_out(self):
        self._timer = None
        self._break("timeout waiting for a reply from %s" % self.server)
        self.transport.abortConnection()

    def command(self, line, timeout=None):
        if self.broken:
            return defer.fail(SessionError(self.broken))
        d = self._expect(timeout or self.command_timeout)
        self.sendLine(line)
        return d

    def lineReceived(self, line):
        m = re.match(rb"([2-5]\d\d)([ -]?)(.*)", line)
        if not m:
            self._break("garbled reply from %s: %r" % (self.server, line[:80]))
            self.transport.loseConnection()
            return
        self._lines.append(m.group(3).decode("utf-8", "replace"))
        if m.group(2) == b"-":
            return
        reply = Reply(int(m.group(1)), "\n".join(self._lines))
        self._lines = []
        if not self._waiting:
            log.debug("unexpected reply from %s: %r", self.server, reply)
            return
        d, _ = self._waiting.popleft()
        self._disarm()
        if self._waiting:
            self._arm(self._waiting[0][1])
        d.callback(reply)

    def lineLengthExceeded(self, line):
        self._break("reply line too long from %s" % self.server)
        self.transport.loseConnection()

    def connectionLost(self, reason):
        self._break("connection to %s lost: %s" % (self.server, reason.getErrorMessage()))

    def _break(self, why):
        if self.broken is None:
            self.broken = why
        self._disarm()
        waiting, self._waiting = self._waiting, collections.deque()
        for d, _ in waiting:
            d.errback(SessionError(self.broken))

    # -- session ------------------------------------------------------------
    @defer.inlineCallbacks
    def _greeted(self, reply):
        if reply.code != 220:
            raise SessionError("%d %s (%s)" % (reply.code, reply.text, self.server))
        reply = yield self.command(b"EHLO " + self.helo_name.encode())
        if reply.code == 250:
            for line in reply.text.split("\n")[1:]:
                word, _, arg = line.partition(" ")
                self.extensions[word.upper()] = arg
        else:
            reply = yield self.command(b"HELO " + self.helo_name.encode())
            if reply.code != 250:
                raise SessionError("%d %s (%s)" % (reply.code, reply.text, self.server))
        self.ready.callback(self)

    def _not_ready(self, failure):
        reason = failure.value if failure.check(SessionError) else SessionError(
            failure.getErrorMessage())
        if self.broken is None:
            self.broken = str(reason)
        if not self.ready.called:
            self.ready.errback(reason)
        if self.transport is not None:
            self.transport.loseConnection()

    def send(self, sender, recipients, data, body=""):
        """Deferred firing with a MessageResult; never fails.

        ``body`` is the BODY parameter the message was received with."""
        return self._lock.run(self._send, sender, recipients, data, body.upper())

    @defer.inlineCallbacks
    def _send(self, sender, recipients, data, body):
        result = MessageResult(self.server)
        if body == "8BITMIME" and "8BITMIME" not in self.extensions:
            if is_8bit(data):
                return result.fail_all(recipients, PERMANENT, Reply(
                    None, "5.6.3 %s does not accept 8-bit data (no 8BITMIME)" % self.server))
            body = ""
        try:
            yield self._transaction(sender, recipients, data, body, result)
        except SessionError as e:
            result.fail_all(recipients, TEMPORARY, Reply(None, str(e)))
        return result

    @defer.inlineCallbacks
    def _transaction(self, sender, recipients, data, body, result):
        if hasattr(data, "chunks"):         # streamed from its queue file
            wire, crlf_size = None, data.crlf_size
        else:
            data = crlf_form(data)
            wire, crlf_size = dot_stuff(data), len(data)
        # RFC 1870: the size in CRLF form, without the dot-stuffing and end marker
        size = " SIZE=%d" % crlf_size if "SIZE" in self.extensions else ""
        body = " BODY=8BITMIME" if body == "8BITMIME" else ""
        mail_line = ("MAIL FROM:<%s>%s%s" % (sender, size, body)).encode()
        rcpt_lines = [("RCPT TO:<%s>" % r).encode() for r in recipients]
        if "PIPELINING" in self.extensions:
            # RFC 2920: MAIL, RCPTs and DATA in one write; replies in order.
            waits = [self._expect(self.command_timeout) for _ in range(len(rcpt_lines) + 2)]
            self.transport.writeSequence([l + b"\r\n" for l in [mail_line] + rcpt_lines + [b"DATA"]])
            replies = yield defer.gatherResults(waits, consumeErrors=True).addErrback(
                lambda f: f.value.subFailure)
            mail_reply, rcpt_replies, data_reply = replies[0], replies[1:-1], replies[-1]
        else:
            mail_reply = yield self.command(mail_line)
            rcpt_replies, data_reply = [], None
            if mail_reply.code == 250:
                for line in rcpt_lines:
                    rcpt_replies.append((yield self.command(line)))
        if mail_reply.code != 250:
            if data_reply is not None and data_reply.code == 354:
                yield self._abort_data()
            yield self._reset()
            return result.fail_all(recipients, classify(mail_reply.code), mail_reply)
        accepted = _accepted(recipients, rcpt_replies, result)
        if not accepted:
            if data_reply is not None and data_reply.code == 354:
                yield self._abort_data()
            yield self._reset()
            return result
        if data_reply is None:
            data_reply = yield self.command(b"DATA")
        if data_reply.code != 354:
            yield self._reset()
            return result.fail_all(accepted, classify(data_reply.code), data_reply)
        done = self._expect(self.data_timeout)
        if wire is not None:
            self.transport.write(wire)
        else:
            try:
                yield _DataProducer(self.transport, encode_chunks(data.chunks())).start()
            except SessionError as e:
                done.addErrback(lambda _: None)
                self.transport.abortConnection()    # no final dot went out: nothing delivered
                self._break(str(e))
                raise
        _settle_final(result, accepted, (yield done))
        return result

    def send_many(self, messages):
        """Several messages, ``[(sender, recipients, data, body)]``, one after
        another: a Deferred list of MessageResult, in order; never fails.

        With PIPELINING, a message's data goes out in one write with the next
        message's MAIL, RCPT and DATA (RFC 2920 3.1: message content may open a
        group, DATA closes one), so each message after the first costs one
        round trip instead of two."""
        return self._lock.run(self._send_many, [(sender, recipients, data, (body or "").upper())
                                                for sender, recipients, data, body in messages])

    @defer.inlineCallbacks
    def _send_many(self, messages):
        if "PIPELINING" not in self.extensions or len(messages) < 2:
            results = []
            for message in messages:
                results.append((yield self._send(*message)))
            return results
        results = [None] * len(messages)
        plan = []                   # (index, recipients, envelope lines, wire)
        for i, (sender, recipients, data, body) in enumerate(messages):
            if body == "8BITMIME" and "8BITMIME" not in self.extensions:
                if is_8bit(data):
                    results[i] = MessageResult(self.server).fail_all(recipients, PERMANENT, Reply(
                        None, "5.6.3 %s does not accept 8-bit data (no 8BITMIME)" % self.server))
                    continue
                body = ""
            data = crlf_form(data)
            size = " SIZE=%d" % len(data) if "SIZE" in self.extensions else ""
            mail = ("MAIL FROM:<%s>%s%s" % (sender, size,
                                            " BODY=8BITMIME" if body == "8BITMIME" else ""))
            lines = [mail.encode() + b"\r\n"] + [("RCPT TO:<%s>\r\n" % r).encode()
                                                  for r in recipients] + [b"DATA\r\n"]
            plan.append((i, recipients, lines, dot_stuff(data)))
        envelope = None
        try:
            if plan:
                envelope = self._envelope(plan[0][2])
                self.transport.writeSequence(plan[0][2])
            for k, (i, recipients, _, wire) in enumerate(plan):
                replies, envelope = (yield envelope), None
                result = MessageResult(self.server)
                accepted = self._envelope_outcome(recipients, replies, result)
                if not accepted:
                    # the transaction cannot go on: close it (an empty message
                    # after an unwanted 354), then RSET
                    if replies[-1].code == 354:
                        yield self._abort_data()
                    yield self._reset()
                following = plan[k + 1][2] if k + 1 < len(plan) else None
                if accepted:
                    done = self._expect(self.data_timeout)
                    if following is not None:
                        envelope = self._envelope(following)
                    self.transport.writeSequence([wire] + (following or []))
                    _settle_final(result, accepted, (yield done))
                elif following is not None:
                    envelope = self._envelope(following)
                    self.transport.writeSequence(following)
                results[i] = result
        except SessionError as e:
            if envelope is not None:
                envelope.addErrback(lambda _: None)
            for i, (_, recipients, _, _) in enumerate(messages):
                if results[i] is None:
                    results[i] = MessageResult(self.server).fail_all(
                        recipients, TEMPORARY, Reply(None, str(e)))
        return results

    def _envelope(self, lines):
        """Expect the replies to the envelope ``lines`` (MAIL, RCPTs, DATA):
        a Deferred of them all, or of the session's failure."""
        waits = [self._expect(self.command_timeout) for _ in lines]
        return defer.gatherResults(waits, consumeErrors=True).addErrback(
            lambda f: f.value.subFailure)

    def _envelope_outcome(self, recipients, replies, result):
        """The recipients to send data to, after the pipelined envelope's
        ``replies``; failures go into ``result``."""
        mail_reply, rcpt_replies, data_reply = replies[0], replies[1:-1], replies[-1]
        if mail_reply.code != 250:
            result.fail_all(recipients, classify(mail_reply.code), mail_reply)
            accepted = []
        else:
            accepted = _accepted(recipients, rcpt_replies, result)
            if accepted and data_reply.code != 354:
                result.fail_all(accepted, classify(data_reply.code), data_reply)
                accepted = []
        return accepted

    @defer.inlineCallbacks
    def _abort_data(self):
        # The server said 354 though no recipient was accepted (pipelining):
        # send an empty message it must refuse (RFC 2920 §3.1).
        done = self._expect(self.data_timeout)
        self.transport.write(b".\r\n")
        yield done

    @defer.inlineCallbacks
    def _reset(self):
        reply = yield self.command(b"RSET")
        if reply.code != 250:
            raise SessionError("RSET refused: %d %s" % reply)

    def quit(self):
        """Say QUIT (if the session still works) and close."""
        if self.broken or self.transport is None:
            return defer.succeed(None)
        d = self._lock.run(self.command, b"QUIT")
        d.addErrback(lambda f: None)
        d.addBoth(lambda _: self.transport.loseConnection())
        return d


class _SessionFactory(protocol.ClientFactory):
    def __init__(self, make_protocol, ready):
        self.make_protocol = make_protocol
        self.ready = ready

    def buildProtocol(self, addr):
        proto = self.make_protocol()
        proto.factory = self
        proto.ready.chainDeferred(self.ready)
        return proto

    def clientConnectionFailed(self, connector, reason):
        if not self.ready.called:
            self.ready.errback(SessionError("cannot connect to %s:%d: %s" % (
                connector.host, connector.port, _reason_text(reason))))


def _reason_text(reason):
    if reason.check(error.ConnectionRefusedError):
        return "connection refused"
    if reason.check(error.TimeoutError, error.UserError) or "timeout" in reason.getErrorMessage().lower():
        return "connect timeout"
    return reason.getErrorMessage()


def connect(reactor, host, port, helo_name, clock=None, connect_timeout=10.0,
            command_timeout=30.0, data_timeout=60.0):
    """A Deferred firing with a ready SMTPClient session to host:port, or
    failing with SessionError (refused, timeout, bad greeting)."""
    clock = clock or reactor
    ready = defer.Deferred()
    server = "%s:%d" % (host, port)
    factory = _SessionFactory(
        lambda: SMTPClient(helo_name, clock, command_timeout, data_timeout, server=server),
        ready)
    reactor.connectTCP(host, port, factory, timeout=connect_timeout)
    return ready


@defer.inlineCallbacks
def deliver(reactor, host, port, sender, recipients, data, helo_name, **timeouts):
    """Send one message to host:port; a Deferred firing with a MessageResult."""
    try:
        session = yield connect(reactor, host, port, helo_name, **timeouts)
    except SessionError as e:
        return MessageResult("%s:%d" % (host, port)).fail_all(
            recipients, TEMPORARY, Reply(None, str(e)))
    result = yield session.send(sender, recipients, data)
    yield session.quit()
    return result


def _settle_final(result, accepted, final):
    """The reply to the final dot decides for every accepted recipient."""
    kind = classify(final.code)
    if kind == DELIVERED:
        result.delivered.extend(accepted)
        result.reply = final
    else:
        result.fail_all(accepted, kind, final)
