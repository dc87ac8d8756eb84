"""A message as received: envelope, peer, and the data we store.

The stored data has LF line endings (as Maildir and Twisted's SMTP client
expect), starts with our ``Received:`` header and always carries a
``Message-ID:`` header: the client's, or one we add.
"""
import email.utils
import os
import re
import time
from dataclasses import dataclass, field
from typing import List

_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:")
_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")


@dataclass
class ReceivedMessage:
    id: str                 # our id for this reception (logs, 250 reply)
    sender: str             # envelope MAIL FROM, "" for the null sender
    recipients: List[str]   # accepted envelope recipients
    msgid: str              # the Message-ID header value
    data: bytes             # LF line endings, our headers included (None if spooled)
    peer: str = ""          # client IP
    helo: str = ""
    body: str = ""          # the MAIL BODY= parameter ("8BITMIME", "7BIT"), "" if none
    extra: dict = field(default_factory=dict)
    spool: object = None    # the data in a file (servers.smtpd.spool.SpooledData), if spooled

    @property
    def content(self):
        """The data as stored: the spool (``len()``, ``chunks()``), or the bytes."""
        return self.spool if self.spool is not None else self.data


def new_message_id(hostname, now=time.time):
    return "<%d.%s@%s>" % (int(now() * 1000), os.urandom(6).hex(), hostname)


def header_block(lines):
    """How many of ``lines`` form the header section (before the blank line).

    0 if the first line is not a header (a message with no header section).
    """
    if not lines or not _HEADER_LINE.match(lines[0]):
        return 0
    for i, line in enumerate(lines):
        if line == b"":
            return i
        if not (_HEADER_LINE.match(line) or line[:1] in (b" ", b"\t")):
            return i
    return len(lines)


def find_message_id(header_lines):
    """The value of the first Message-ID header (unfolded), or None."""
    for i, line in enumerate(header_lines):
        if line[:11].lower() == b"message-id:":
            value = line[11:]
            for cont in header_lines[i + 1:]:
                if cont[:1] not in (b" ", b"\t"):
                    break
                value += cont
            value = value.strip().decode("ascii", "replace")
            return value or None
    return None


def clean_text(text, limit=100):
    """Text from the client made safe to put in a header."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    return _UNPRINTABLE.sub("?", text)[:limit]


def received_header(hostname, helo, peer, msg_id, recipients, esmtp, when):
    """Our trace header (RFC 5321 section 4.4), folded, without a final newline."""
    lines = ["Received: from %s ([%s])" % (clean_text(helo) or "unknown", clean_text(peer)),
             "by %s (maillab) with %s id %s" % (hostname, "ESMTP" if esmtp else "SMTP", msg_id)]
    date = email.utils.formatdate(when, usegmt=True)
    if len(recipients) == 1:
        lines.append("for <%s>; %s" % (recipients[0], date))
    else:
        lines[-1] += ";"
        lines.append(date)
    return "\n\t".join(lines)


def build_message(lines, *, hostname, msg_id, sender, recipients, helo, peer,
                  esmtp, when, body=""):
    """A ReceivedMessage from the DATA lines (dot-unstuffed, no line endings)."""
    n_headers = header_block(lines)
    msgid = find_message_id(lines[:n_headers])
    added = [received_header(hostname, helo, peer, msg_id, recipients, esmtp, when).encode("ascii")]
    if msgid is None:
        msgid = new_message_id(hostname, now=lambda: when)
        added.append(b"Message-ID: " + msgid.encode("ascii"))
    if n_headers == 0:
        added.append(b"")
    data = b"\n".join(added + list(lines)) + b"\n"
    return ReceivedMessage(id=msg_id, sender=sender, recipients=list(recipients),
                           msgid=msgid, data=data, peer=peer, helo=clean_text(helo), body=body)
