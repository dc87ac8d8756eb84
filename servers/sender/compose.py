"""Test messages with deterministic Message-IDs."""
import email.utils


def message_id(prefix, seed, n):
    return "<%s-%s-%d@maillab>" % (prefix, seed, n)


def build_message(sender, to, msgid, n, size, date=None):
    """A small RFC 5322 message padded to about ``size`` bytes."""
    head = "\r\n".join([
        "From: <%s>" % sender,
        "To: <%s>" % to,
        "Subject: maillab test message %d" % n,
        "Date: %s" % (date or email.utils.formatdate()),
        "Message-ID: %s" % msgid,
        "", "",
    ]).encode()
    body = b"This is maillab test message %d.\r\n" % n
    line = b"x" * 76 + b"\r\n"
    while len(head) + len(body) + len(line) <= size:
        body += line
    return head + body
