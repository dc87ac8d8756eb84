"""Real SMTP clients for loopback tests: swaks, smtp-source, and a small
smtplib sender that records every message it got a 250 for."""
import email.parser
import smtplib
import subprocess
import threading

from servers.mx.maildir import messages_in


def swaks(port, to, sender="a@example.net", msgid=None, extra=()):
    argv = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--to", to,
            "--from", sender, "--helo", "client.test", "--timeout", "10"]
    if msgid:
        argv += ["--header", "Message-Id: %s" % msgid]
    return subprocess.run(argv + list(extra), capture_output=True, text=True, timeout=30)


def smtp_source(port, messages, sessions=5, size=4096, to="u@example.org",
                background=False):
    argv = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
            "-f", "a@example.net", "-t", to, "127.0.0.1:%d" % port]
    if background:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def maildir_message_ids(maildir):
    """Message-ID header values of every message in one Maildir, in file order."""
    parser = email.parser.BytesHeaderParser()
    ids = []
    for path in messages_in(maildir):
        with open(path, "rb") as f:
            ids.append(parser.parse(f)["Message-ID"])
    return ids


class AckingSender:
    """Threads sending numbered messages over smtplib until told to stop or
    the server goes away; ``acked`` holds the Message-ID of each message the
    server answered 250 to after DATA."""

    def __init__(self, port, threads=3, to="u@example.org", prefix="ack"):
        self.port, self.to, self.prefix = port, to, prefix
        self.acked = []
        self.errors = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(threads)]

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

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
