"""Which recipients this server accepts: its own domains, optionally only the
listed addresses. Everything else is refused at RCPT (never an open relay).

Only plain dot-atom local parts of safe characters are accepted: a ``%`` or
``!`` in a local part is a relay hack (``u%other@ours``), a quoted local part
can hide an ``@``, and the accepted address becomes a Maildir directory name.
A source route (``@a:u@ours``) is ignored as RFC 5321 section 4.1.1.3 asks:
the recipient is the final address, which must be ours. ``<postmaster>``
with no domain is always accepted (RFC 5321 §4.5.1), as postmaster of the
first of our domains.
"""
import re

from servers.smtpd import replies
from servers.smtpd.replies import Refused

SAFE_LOCAL_PART = re.compile(r"^[A-Za-z0-9_+=-]+(\.[A-Za-z0-9_+=-]+)*$")


def normalise_domain(domain):
    return domain.strip().lower().rstrip(".")


def read_recipients_file(path):
    """One address a line; blank lines and ``#`` comments ignored."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f
                if line.strip() and not line.lstrip().startswith("#")]


class RecipientPolicy:
    def __init__(self, domains, recipients=None):
        self.domains = frozenset(normalise_domain(d) for d in domains)
        if not self.domains:
            raise ValueError("a recipient policy needs at least one domain")
        self.recipients = None
        if recipients is not None:
            self.recipients = frozenset(r.strip().lower() for r in recipients)

    def check_recipient(self, mailbox):
        """The canonical recipient address (lowercased) or raise Refused."""
        shown = str(mailbox)
        if not mailbox.domain and mailbox.local.lower() == "postmaster" and not mailbox.route:
            return "postmaster@%s" % min(self.domains)
        if mailbox.domain not in self.domains:
            raise Refused(replies.RELAY_DENIED.with_text(shown))
        if mailbox.quoted or not SAFE_LOCAL_PART.match(mailbox.local):
            raise Refused(replies.ADDRESS_FORM_REFUSED.with_text(shown))
        address = "%s@%s" % (mailbox.local.lower(), mailbox.domain)
        if self.recipients is not None and address not in self.recipients:
            raise Refused(replies.UNKNOWN_RECIPIENT.with_text(shown))
        return address
