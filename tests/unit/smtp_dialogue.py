"""Drive a servers.smtpd protocol through a StringTransport."""
from twisted.internet import defer, task
from twisted.internet.testing import StringTransport

from servers.smtpd.recipients import RecipientPolicy
from servers.smtpd.protocol import ReceiveFactory


class HeldStorage:
    """Storage whose Deferreds the test fires (or that succeed at once)."""

    def __init__(self, hold=False):
        self.hold = hold
        self.messages = []
        self.pending = []

    def store(self, message):
        self.messages.append(message)
        if not self.hold:
            return defer.succeed(None)
        d = defer.Deferred()
        self.pending.append(d)
        return d


class Session:
    def __init__(self, factory=None, storage=None, domains=("example.org",),
                 recipients=None, max_size=10 * 1024 * 1024, clock=None):
        self.clock = clock or task.Clock()
        self.storage = storage if storage is not None else HeldStorage()
        self.factory = factory or ReceiveFactory(
            RecipientPolicy(domains, recipients), self.storage, "mx1.lab",
            max_size=max_size, clock=self.clock)
        self.transport = StringTransport()
        self.protocol = self.factory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)
        self.greeting = self.take()

    def take(self):
        out = self.transport.value().decode("ascii")
        self.transport.clear()
        return out.splitlines()

    def send(self, data):
        """Send ``data`` (str or bytes; \\n becomes CRLF for str) and return
        the reply lines it produced."""
        if isinstance(data, str):
            data = data.replace("\n", "\r\n").encode("ascii")
        self.protocol.dataReceived(data)
        return self.take()

    def codes(self, data):
        """Reply codes (final lines only) produced by ``data``."""
        return [int(line[:3]) for line in self.send(data) if line[3:4] == " "]

    @property
    def closed(self):
        return self.transport.disconnecting


def envelope(rcpts=("u@example.org",), sender="a@example.net"):
    lines = ["EHLO client.example.net", "MAIL FROM:<%s>" % sender]
    lines += ["RCPT TO:<%s>" % r for r in rcpts]
    return "\n".join(lines) + "\n"


def message(body="hello\n", msgid="<m1@example.net>", extra=""):
    head = "From: a@example.net\nTo: u@example.org\nSubject: test\n" + extra
    if msgid:
        head += "Message-ID: %s\n" % msgid
    return "DATA\n" + head + "\n" + body + ".\n"
