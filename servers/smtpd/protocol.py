"""The ESMTP receive protocol shared by the messaging server and the relay.

It is Twisted's ``twisted.mail.smtp.ESMTP`` (command dispatch, MAIL/RCPT
grammar, idle timeout, reply formatting) with the parts that do not suit a
server that must never lose or half-accept mail replaced:

- lines are split here, not by ``LineOnlyReceiver``: that one drops the rest
  of a packet after an over-long line, so the session cannot go on;
- while a message is being stored, further (pipelined) commands wait, so a
  ``QUIT`` sent right after the final ``.`` cannot be answered, and the
  connection closed, before the message's 250;
- DATA is written to a temporary file as it arrives (``spool.SpooledData``,
  in ``storage.spool_dir``), dot-unstuffed and checked for line length and
  size on the way, so a session's memory does not grow with the message;
- the message is handed to ``storage.store(message)`` whole (one call per
  message, not per recipient) and the 250 is sent only when the Deferred it
  returns fires, i.e. once the storage says the message is durable;
- non-ASCII command verbs are a 500, not an exception (Twisted's
  ``nativeString`` raises on them under Python 3);
- the recipient policy answers at RCPT; SIZE is enforced at MAIL and DATA;
  every reply comes from ``replies`` by name;
- the 998-octet line limit applies to a data line after its leading dot is
  removed (a dot-stuffed line of 998 octets travels as 999);
- a bare CR or LF inside a data line becomes a line break (RFC 5321 §2.3.8),
  so the relay never passes one on;
- refused RCPTs count toward the error limit, like any other client error
  (a recipient prober is cut off), and ``<postmaster>`` is always accepted;
- ``BODY=8BITMIME`` is kept with the message (``ReceivedMessage.body``) so
  that a relay can declare it to the next hop (RFC 6152).

Storage contract: ``store(ReceivedMessage) -> Deferred``; fire with anything
once durable; fail with ``Refused(reply)`` to send that reply, any other
failure is a 451 (the client keeps the message and retries). A storage
with a ``spool_dir`` attribute (a directory, or None for the system's
temporary one) gets ``message.spool`` (read it with ``chunks()``, until the
Deferred fires) and ``message.data`` None; any other gets the data as bytes.
"""
import itertools
import logging
import re

from twisted.internet import defer, protocol
from twisted.mail import smtp

from servers.common.ratelimited_log import RateLimitedLog
from servers.common.session_limits import PER_CLIENT
from servers.smtpd import replies
from servers.smtpd.address import AddressSyntaxError, parse_path
from servers.smtpd.received import ReceivedMessage, clean_text, received_header
from servers.smtpd.spool import SpooledData
from servers.smtpd.replies import Refused

log = logging.getLogger(__name__)

COMMAND_LINE_MAX = 512 - 2   # RFC 5321 4.5.3.1.4: 512 octets with CRLF
TEXT_LINE_MAX = 1000 - 2     # RFC 5321 4.5.3.1.6: 1000 octets with CRLF
DEFAULT_MAX_SIZE = 10 * 1024 * 1024
MAX_RECIPIENTS = 100         # RFC 5321 4.5.3.1.8: at least 100 must be accepted
MAX_ERRORS = 10              # then 421 and close, as Postfix's hard error limit
IDLE_TIMEOUT = 300           # RFC 5321 4.5.3.2.7: 5 minutes
SESSION_DEADLINE = 1800      # a whole session at most, however it drips (10 MB at 64 kbit/s: 22 min)
MAX_CONNECTIONS = 300        # sessions at once; the idlest is closed to make room for a new one
MAX_PER_CLIENT = 50          # sessions at once from one address (Postfix's default)
CLOSE_GRACE = 10             # seconds a closed session's last reply may take to leave

COMMAND, DATA = "COMMAND", "DATA"
_OVERLONG = object()         # stands for a line too long for any state
_BARE_BREAK = re.compile(rb"\r\n?|\n")
_PARAM = re.compile(rb"^([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\x21-\x3c\x3e-\x7e]+))?$")


def parse_parameters(text):
    """ESMTP parameters (``SIZE=123 BODY=8BITMIME``) as {NAME: value or None}."""
    params = {}
    for token in (text or b"").split():
        m = _PARAM.match(token)
        if not m:
            raise ValueError(token)
        params[m.group(1).decode("ascii").upper()] = (
            m.group(2).decode("ascii") if m.group(2) is not None else None)
    return params


class ReceiveServer(smtp.ESMTP):
    timeout = IDLE_TIMEOUT

    def __init__(self, policy, storage, hostname, max_size, clock, new_id,
                 deadline=SESSION_DEADLINE):
        super().__init__()
        self.policy = policy
        self.storage = storage
        self.hostname = hostname
        self.host = hostname
        self.max_size = max_size
        self.clock = clock
        self.callLater = clock.callLater      # TimeoutMixin schedules with this
        self.new_id = new_id
        self.deadline = deadline
        self.last_active = clock.seconds()    # the last complete line (see SessionTable)
        self._deadline_call = None
        self._closing = None                  # the 421 to send once a store in progress ends
        self.mode = COMMAND
        self.peer = ""
        self._pending = []                    # lines received, not yet handled
        self._head = 0                        # the next of them to handle
        self._partial = b""
        self._discarding = False
        self._busy = False
        self._lost = False
        self._errors = 0
        self._helo_name = None
        self._esmtp = False
        self._spool = None
        self._reset_envelope()

    # -- connection and line splitting

    def connectionMade(self):
        peer = self.transport.getPeer()
        self.peer = str(getattr(peer, "host", peer))
        self.reply(replies.GREETING.with_text(self.hostname))
        self.setTimeout(self.timeout)
        self._deadline_call = self.clock.callLater(self.deadline, self._close_with,
                                                   replies.SESSION_TOO_LONG)

    def connectionLost(self, reason=protocol.connectionDone):
        self._lost = True
        self._drop_pending()
        self.setTimeout(None)
        self._drop_spool()
        if self._deadline_call is not None and self._deadline_call.active():
            self._deadline_call.cancel()
        sessions = getattr(self.factory, "sessions", None)
        if sessions is not None:
            sessions.close(self)

    @property
    def busy(self):
        """A message is being stored: its 250 (or 451) is owed; not to be cut off."""
        return self._busy

    def evict(self):
        """Closed to make room for a new session (SessionTable)."""
        self._close_with(replies.BUSY_CLOSING_IDLE)

    def _close_with(self, reply):
        """421 and close; after the reply owed for a message being stored, if any."""
        if self._lost:
            return
        if self._busy:
            self._closing = reply
            return
        self._drop_pending()
        self.reply(reply.with_text(self.hostname))
        self.transport.loseConnection()
        # A client that reads nothing could keep the reply, and so the socket,
        # waiting for ever: it no longer counts against the limits, so cut it.
        self.clock.callLater(CLOSE_GRACE, self._abort_if_open)

    def _abort_if_open(self):
        if not self._lost:
            self.transport.abortConnection()

    def dataReceived(self, data):
        lines = (self._partial + data).split(b"\r\n")
        self._partial = lines.pop()
        if self._discarding and lines:
            lines[0] = _OVERLONG     # the tail of the line we were discarding
            self._discarding = False
        # The longest legal partial line: a dot, 998 octets, and the CR of its CRLF.
        if self._discarding or len(self._partial) > TEXT_LINE_MAX + 2:
            # Keep a final CR: the LF that ends the line may be in the next packet.
            self._partial = b"\r" if self._partial.endswith(b"\r") else b""
            self._discarding = True
        if self._head == len(self._pending):
            self._pending, self._head = lines, 0
        else:
            self._pending.extend(lines)
        self._process()

    def _drop_pending(self):
        self._pending, self._head = [], 0

    def _process(self):
        while self._head < len(self._pending) and not self._busy and not self._lost \
                and not self.transport.disconnecting:
            self.resetTimeout()
            self.last_active = self.clock.seconds()
            pending, head = self._pending, self._head
            if self.mode == DATA:
                # DATA a block at a time: every line up to the end marker, or
                # every line received so far if it has not come yet.
                try:
                    end = pending.index(b".", head)
                except ValueError:
                    end = len(pending)
                self._head = min(end + 1, len(pending))
                self._data_block(pending[head:end])
                if end < len(pending):
                    self._end_of_data()
                continue
            self._head = head + 1
            line = pending[head]
            if line is _OVERLONG or len(line) > COMMAND_LINE_MAX:
                self.error(replies.LINE_TOO_LONG)
            else:
                self.state_COMMAND(line)
        if self._head and self._head == len(self._pending):
            self._drop_pending()

    # -- replies

    def reply(self, reply):
        self.sendCode(reply.code, reply.text.encode("ascii", "replace"))

    def error(self, reply):
        """A reply to a client mistake; too many of them end the session."""
        self.reply(reply)
        self._errors += 1
        if self._errors >= MAX_ERRORS:
            self.reply(replies.TOO_MANY_ERRORS.with_text(self.hostname))
            self.transport.loseConnection()

    def timeoutConnection(self):
        self._close_with(replies.IDLE_TIMEOUT)

    # -- commands (Twisted's state_COMMAND dispatches to do_VERB)

    def lookupMethod(self, command):
        try:
            verb = command.decode("ascii")
        except UnicodeDecodeError:
            return None
        if not verb.isalpha():
            return None
        return getattr(self, "do_" + verb.upper(), None)

    def sendSyntaxError(self):
        self.error(replies.BAD_COMMAND)

    def do_UNKNOWN(self, rest):
        self.error(replies.BAD_COMMAND)

    def do_HELO(self, rest):
        self._greet(rest, esmtp=False)

    def do_EHLO(self, rest):
        self._greet(rest, esmtp=True)

    def _greet(self, rest, esmtp):
        if not rest.strip():
            self.error(replies.SYNTAX_ERROR)
            return
        self._helo_name = rest.strip()
        self._esmtp = esmtp
        self._reset_envelope()
        hello = replies.HELO_OK.with_text(self.hostname, self.peer)
        if esmtp:
            extensions = ["SIZE %d" % self.max_size, "PIPELINING", "8BITMIME",
                          "ENHANCEDSTATUSCODES"]
            hello = replies.Reply(hello.code, "\n".join([hello.text] + extensions))
        self.reply(hello)

    def do_MAIL(self, rest):
        if self._helo_name is None:
            return self.error(replies.NEED_HELO)
        if self._sender is not None:
            return self.error(replies.NESTED_MAIL)
        m = self.mail_re.match(rest)
        if not m:
            return self.error(replies.SYNTAX_ERROR)
        try:
            sender = parse_path(m.group("path"))
            params = parse_parameters(m.group("opts"))
        except AddressSyntaxError:
            return self.error(replies.BAD_SENDER_SYNTAX)
        except ValueError:
            return self.error(replies.SYNTAX_ERROR)
        for name, value in params.items():
            if name == "SIZE":
                if value is None or not value.isdigit():
                    return self.error(replies.SYNTAX_ERROR)
                if int(value) > self.max_size:
                    return self.reply(replies.TOO_BIG)
            elif name == "BODY":
                if (value or "").upper() not in ("7BIT", "8BITMIME"):
                    return self.error(replies.SYNTAX_ERROR)
            else:
                return self.error(replies.BAD_PARAMETER.with_text(name))
        self._body = (params.get("BODY") or "").upper()
        self._sender = str(sender)
        self.reply(replies.SENDER_OK)

    def do_RCPT(self, rest):
        if self._sender is None:
            return self.error(replies.NEED_MAIL)
        m = self.rcpt_re.match(rest)
        if not m:
            return self.error(replies.SYNTAX_ERROR)
        try:
            mailbox = parse_path(m.group("path"))
            params = parse_parameters(m.group("opts"))
        except AddressSyntaxError:
            return self.error(replies.BAD_RECIPIENT_SYNTAX)
        except ValueError:
            return self.error(replies.SYNTAX_ERROR)
        if params:
            return self.error(replies.BAD_PARAMETER.with_text(sorted(params)[0]))
        if not mailbox.local:
            return self.error(replies.BAD_RECIPIENT_SYNTAX)
        if len(self._recipients) >= MAX_RECIPIENTS:
            return self.reply(replies.TOO_MANY_RECIPIENTS)
        try:
            address = self.policy.check_recipient(mailbox)
        except Refused as refused:
            log.info("refused RCPT %s from %s: %s", mailbox, self.peer, refused)
            return self.error(refused.reply)        # probing counts toward the error limit
        if address not in self._recipients:
            self._recipients.append(address)
        self.reply(replies.RECIPIENT_OK)

    def do_DATA(self, rest):
        if self._helo_name is None:
            return self.error(replies.NEED_HELO)
        if self._sender is None:
            return self.error(replies.BAD_SEQUENCE)
        if not self._recipients:
            return self.error(replies.NEED_RCPT)
        if rest.strip():
            return self.error(replies.SYNTAX_ERROR)
        self._msg_id, self._when = self.new_id(), self.clock.seconds()
        header = received_header(self.hostname, self._helo_name, self.peer, self._msg_id,
                                 self._recipients, self._esmtp, self._when)
        try:
            self._spool = SpooledData(header.encode("ascii"), self.hostname, self._when,
                                      getattr(self.storage, "spool_dir", None))
        except OSError as e:
            log.error("cannot open a spool file for a message from %s: %s", self.peer, e)
            return self.reply(replies.STORAGE_FAILED)
        self.mode = DATA
        self._data_size = 0
        self._data_error = None
        self.reply(replies.START_DATA)

    def do_RSET(self, rest):
        self._reset_envelope()
        self.reply(replies.RESET_OK)

    def do_NOOP(self, rest):
        self.reply(replies.OK)

    def do_VRFY(self, rest):
        self.reply(replies.CANNOT_VRFY)

    def do_EXPN(self, rest):
        self.reply(replies.NOT_IMPLEMENTED)

    def do_QUIT(self, rest):
        self.reply(replies.BYE)
        self.transport.loseConnection()

    def _reset_envelope(self):
        self._sender = None
        self._body = ""
        self._recipients = []

    # -- message data

    def _data_block(self, block):
        """Data lines (CRLF removed; the end marker not among them), handled
        with bytes operations on the whole block; what ``_data_line`` does to
        each line, which the rare block it cannot take whole goes to."""
        if not block:
            return
        block.append(b"")
        text = b"\n".join(block) if _OVERLONG not in block else None   # each line LF-ended
        del block[-1]
        if text is None or self._data_error is not None \
                or max(map(len, block)) > TEXT_LINE_MAX \
                or b"\r" in text or text.count(b"\n") != len(block):
            # an over-long line, a bare CR or LF, or the message already refused
            for line in block:
                self._data_line(line)
            return
        # No bare CR or LF: every LF is a line's end, and a line that begins
        # with a dot is the first or follows one (dot-unstuffing, RFC 5321 §4.5.2).
        if text[:1] == b"." or b"\n." in text:
            text = (b"\n" + text).replace(b"\n.", b"\n")[1:]
        size = self._data_size + len(text) + len(block)     # each line with its CRLF
        if size > self.max_size:
            for line in block:
                self._data_line(line)
            return
        self._data_size = size
        try:
            self._spool.lines(text)
        except OSError as e:
            log.error("spooling a message from %s failed: %s", self.peer, e)
            self._data_error = replies.STORAGE_FAILED
            self._drop_spool()

    def _data_line(self, line):
        if line is not _OVERLONG and line[:1] == b".":
            line = line[1:]
        if line is _OVERLONG or len(line) > TEXT_LINE_MAX:
            self._data_error = self._data_error or replies.DATA_LINE_TOO_LONG
            self._drop_spool()
            return
        self._data_size += len(line) + 2
        if self._data_size > self.max_size and self._data_error is None:
            self._data_error = replies.TOO_BIG
            self._drop_spool()
        if self._data_error is None:
            try:
                # A bare CR or LF (RFC 5321 §2.3.8: never sent) becomes a line break,
                # so no server after us gets it: stored data has LF line endings only.
                for part in _BARE_BREAK.split(line) if b"\r" in line or b"\n" in line \
                        else (line,):
                    self._spool.line(part)
            except OSError as e:
                log.error("spooling a message from %s failed: %s", self.peer, e)
                self._data_error = replies.STORAGE_FAILED
                self._drop_spool()

    def _drop_spool(self):
        spool, self._spool = self._spool, None
        if spool is not None:
            spool.close()

    def _end_of_data(self):
        self.mode = COMMAND
        sender, recipients, body = self._sender, self._recipients, self._body
        self._reset_envelope()
        if self._data_error is not None:
            self._drop_spool()
            self.reply(self._data_error)
            return
        spool, self._spool = self._spool, None
        try:
            spool.finish()
            data = None if hasattr(self.storage, "spool_dir") else spool.read_all()
        except OSError as e:
            spool.close()
            log.error("spooling a message from %s failed: %s", self.peer, e)
            self.reply(replies.STORAGE_FAILED)
            return
        if data is not None:
            spool.close()
        message = ReceivedMessage(
            id=self._msg_id, sender=sender, recipients=list(recipients), msgid=spool.msgid,
            data=data, peer=self.peer, helo=clean_text(self._helo_name), body=body,
            spool=spool if data is None else None)
        self._busy = True
        self.transport.pauseProducing()
        d = defer.maybeDeferred(self.storage.store, message)
        d.addCallbacks(self._stored, self._not_stored,
                       callbackArgs=(message,), errbackArgs=(message,))
        if message.spool is not None:
            d.addBoth(lambda result: (message.spool.close(), result)[1])
        d.addBoth(self._resume)

    def _stored(self, result, message):
        log.debug("stored %s %s from %s", message.id, message.msgid, self.peer)
        if not self._lost:
            self.reply(replies.STORED.with_text(message.id))

    def _not_stored(self, failure, message):
        if failure.check(Refused):
            reply = failure.value.reply
        else:
            # A full disk fails every message: one line a minute, the traceback once.
            self.factory.failure_log.report(
                ("store", failure.type), logging.ERROR, "storing %s %s failed: %s", message.id,
                message.msgid, failure.getErrorMessage(),
                exc_info=(failure.type, failure.value, failure.getTracebackObject()))
            reply = replies.STORAGE_FAILED
        if not self._lost:
            self.reply(reply)

    def _resume(self, _):
        self._busy = False
        if self._closing is not None:
            self._close_with(self._closing)
        elif not self._lost:
            self.transport.resumeProducing()
            self._process()


class Refuse(protocol.Protocol):
    """A connection over a limit: one 421 and close (RFC 5321 §3.8)."""

    def __init__(self, reply):
        self.refusal = reply

    def connectionMade(self):
        self.transport.write(b"%d %s\r\n" % (self.refusal.code, self.refusal.text.encode("ascii")))
        self.transport.loseConnection()


class ReceiveFactory(protocol.ServerFactory):
    """Builds a ReceiveServer per connection, all sharing policy and storage.

    ``sessions``: a SessionTable that caps the sessions held (None: no cap);
    ``deadline``: the longest a session may last, however busy it keeps."""

    def __init__(self, policy, storage, hostname, max_size=DEFAULT_MAX_SIZE, clock=None,
                 sessions=None, deadline=SESSION_DEADLINE):
        if clock is None:
            from twisted.internet import reactor as clock
        self.policy = policy
        self.storage = storage
        self.hostname = hostname
        self.max_size = max_size
        self.clock = clock
        self.sessions = sessions
        self.deadline = deadline
        self.failure_log = RateLimitedLog(log, clock)
        self._counter = itertools.count(1)

    def new_id(self):
        return "%X%06X" % (int(self.clock.seconds()), next(self._counter) % 0x1000000)

    def buildProtocol(self, addr):
        p = ReceiveServer(self.policy, self.storage, self.hostname, self.max_size,
                          self.clock, self.new_id, self.deadline)
        p.factory = self
        refused = self.sessions.open(p, getattr(addr, "host", str(addr))) \
            if self.sessions is not None else None
        if refused == PER_CLIENT:
            return Refuse(replies.TOO_MANY_FROM_CLIENT.with_text(self.hostname))
        if refused is not None:
            return Refuse(replies.TOO_MANY_CONNECTIONS.with_text(self.hostname))
        return p
