"""A relay that connects to the messaging server but never hands the message
over in SMTP: it writes each message file straight into the server's Maildir
(the same disk, in the lab) and counts it delivered. The Maildirs look right;
no DATA from the relay carries the messages on the wire (claims 1(c), 7, 15)."""
import os
import sys
import time

from tests.variants import run_relay


def _rundir():
    argv = sys.argv
    queue = argv[argv.index("--queue") + 1]
    return os.path.dirname(os.path.dirname(os.path.abspath(queue)))


def _write(host_ip, recipients, data):
    """Into the Maildir of the lab host whose directory holds the server at
    ``host_ip``: the first messaging server's (the lab's mx1)."""
    root = os.path.join(_rundir(), "mx1", "Maildir")
    for rcpt in recipients:
        d = os.path.join(root, rcpt.lower(), "new")
        os.makedirs(d, exist_ok=True)
        name = "%.6f.%d.bypass" % (time.time(), os.getpid())
        with open(os.path.join(d, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


def patch():
    from twisted.internet import defer
    from servers.common import smtpclient
    from servers.relay import scheduler
    real = scheduler.Scheduler.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        opener = self.open_session

        @defer.inlineCallbacks
        def open_session(host, port):
            session = yield opener(host, port)

            def send(sender, recipients, data, body=""):
                _write(host, recipients, data)
                result = smtpclient.MessageResult("%s:%d" % (host, port))
                result.delivered = list(recipients)
                result.reply = smtpclient.Reply(250, "written to the Maildir directly")
                return defer.succeed(result)
            session.send = send
            return session
        self.open_session = open_session
    scheduler.Scheduler.__init__ = init


if __name__ == "__main__":
    run_relay(patch)
