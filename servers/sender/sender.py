"""Send messages the way an MTA does, and keep a ledger of every 250.

For each message: look the recipient domain's MX up, try the hosts in
preference order (connect timeout each), fall back to the next on a 4xx or
a connection failure; when every host failed, wait and go through the list
again, a few rounds, before giving up (``send_failed``).  A 5xx is final.
"""
import json
import logging
import os

from twisted.internet import defer, task

from servers.common import smtpclient
from servers.common.mx_lookup import MXError

log = logging.getLogger(__name__)


class Ledger:
    """JSON lines, one per 250, flushed per line and fsynced at close."""

    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8") if path else None

    def record(self, **fields):
        if self.file:
            self.file.write(json.dumps(fields) + "\n")
            self.file.flush()

    def close(self):
        if self.file:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            self.file = None


class Sender:
    def __init__(self, resolve, open_session, clock, events, ledger, smtp_port=25,
                 rounds=3, round_backoff=1.0, sessions=4):
        """``resolve(domain)`` -> Deferred [(mx_name, ip)]; ``open_session(ip, port)``
        -> Deferred of a ready smtpclient session."""
        self.resolve = resolve
        self.open_session = open_session
        self.clock = clock
        self.events = events
        self.ledger = ledger
        self.smtp_port = smtp_port
        self.rounds = rounds
        self.round_backoff = round_backoff
        self.limit = defer.DeferredSemaphore(sessions)

    def send(self, sender, to, msgid, data):
        """Deferred firing True if some server said 250."""
        return self.limit.run(self._send, sender, to, msgid, data)

    @defer.inlineCallbacks
    def _send(self, sender, to, msgid, data):
        domain = to.rpartition("@")[2]
        tried = []
        error = ""
        for round_no in range(self.rounds):
            if round_no:
                yield task.deferLater(self.clock, self.round_backoff * 2 ** (round_no - 1),
                                      lambda: None)
            try:
                servers = yield self.resolve(domain)
            except MXError as e:
                error = str(e)
                if e.permanent:
                    break
                continue
            for mx_name, ip in servers:
                server = "%s:%d" % (ip, self.smtp_port)
                tried.append(server)
                try:
                    session = yield self.open_session(ip, self.smtp_port)
                except Exception as e:     # SessionError, or anything odd: next host
                    error = str(e)
                    continue
                result = yield session.send(sender, [to], data)
                session.quit()
                if result.status == smtpclient.DELIVERED:
                    code = result.reply.code if result.reply else 250
                    # tried: every server this message was offered to, the last one took it
                    self.ledger.record(ts=round(self.clock.seconds(), 6), msgid=msgid, to=to,
                                       server=server, mx=mx_name, code=code, tried=tried)
                    self.events.emit("sent", msgid, server=server, mx=mx_name, to=to)
                    return True
                error = result.error
                if result.status == smtpclient.PERMANENT:
                    self.events.emit("send_failed", msgid, error=error, tried=tried,
                                     permanent=True)
                    return False
        self.events.emit("send_failed", msgid, error=error, tried=tried)
        return False
