"""Real SMTP clients for loopback tests: swaks, smtp-source, and a small
smtplib sender that records every message it got a 250 for."""
import email.parser
import smtplib
import subprocess
import threading

from servers.mx.maildir import messages_in
from tests.support import require_cmd


HELO = "client.test"      # given to swaks, or it looks up this machine's name first


def swaks_argv(server, port, to, sender="alice@x.org", msgid=None, timeout=10, extra=()):
    """swaks sending one message; ``--helo`` always, so it never resolves its own name."""
    argv = ["swaks", "--server", server, "--port", str(port), "--to", to, "--from", sender,
            "--helo", HELO, "--timeout", str(timeout)]
    if msgid:
        argv += ["--header", "Message-Id: %s" % msgid]
    return argv + list(extra)


def swaks(port, to="user@lab", sender="alice@x.org", msgid=None, server="127.0.0.1",
          extra=()):
    require_cmd("swaks")
    return subprocess.run(swaks_argv(server, port, to, sender, msgid, extra=extra),
                          capture_output=True, text=True, timeout=30)


def smtp_source(port, messages, sessions=5, size=4096, to="user@lab", sender="alice@x.org",
                background=False):
    """Postfix's smtp-source: ``messages`` messages of ``size`` bytes over ``sessions``
    parallel sessions; a CompletedProcess, or the running Popen when ``background``."""
    require_cmd("smtp-source")
    argv = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
            "-f", sender, "-t", to, "127.0.0.1:%d" % port]
    if background:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def maildir_message_ids(maildir):
    """Message-ID header values of every message in one Maildir, in file order."""
    parser = email.parser.BytesHeaderParser()
    ids = []
    for path in messages_in(maildir):
        with open(path, "rb") as f:
            ids.append(parser.parse(f)["Message-ID"])
    return ids


class ClientThreads:
    """Threads each running ``self._run(n)`` until ``stop()`` (which they
    watch in ``self._stop``)."""

    def __init__(self, threads):
        self.errors = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(threads)]

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self, timeout=15):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=timeout)

    def _run(self, n):
        raise NotImplementedError


class AckingSender(ClientThreads):
    """Threads sending numbered messages over smtplib until told to stop or
    the server goes away; ``acked`` holds the Message-ID of each message the
    server answered 250 to after DATA."""

    def __init__(self, port, threads=3, to="u@example.org", prefix="ack"):
        super().__init__(threads)
        self.port, self.to, self.prefix = port, to, prefix
        self.acked = []
        self._lock = threading.Lock()

    def message(self, msgid):
        return ("From: a@example.net\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n\r\n%s\r\n"
                % (self.to, msgid, msgid, ("x" * 78 + "\r\n") * 50)).encode()

    def _run(self, n):
        i = 0
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as smtp:
                while not self._stop.is_set():
                    msgid = "<%s-%d-%d@test>" % (self.prefix, n, i)
                    i += 1
                    smtp.sendmail("a@example.net", [self.to], self.message(msgid))
                    with self._lock:
                        self.acked.append(msgid)
        except (OSError, smtplib.SMTPException) as e:
            self.errors.append(e)
