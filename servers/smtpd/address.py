"""Envelope addresses as they appear in MAIL FROM and RCPT TO.

Twisted's ``smtp.Address`` strips source routes silently and hides quoting;
the policy needs to see both, so this parser keeps them.
"""
from typing import NamedTuple, Optional


class AddressSyntaxError(ValueError):
    pass


class Mailbox(NamedTuple):
    local: str            # as written, quotes included
    domain: str           # lowercased, trailing dot removed; "" if none
    route: Optional[str]  # the source route ("@a,@b") if one was given

    @property
    def quoted(self):
        return '"' in self.local or "\\" in self.local

    def __str__(self):
        return "%s@%s" % (self.local, self.domain) if self.domain else self.local


NULL_SENDER = Mailbox("", "", None)


def parse_path(path):
    """Parse ``<addr>``, ``<@route:addr>``, ``<>`` or a bare address (bytes or str)."""
    if isinstance(path, bytes):
        try:
            path = path.decode("ascii")
        except UnicodeDecodeError:
            raise AddressSyntaxError("non-ASCII address")
    path = path.strip()
    if path.startswith("<"):
        if not path.endswith(">"):
            raise AddressSyntaxError("unbalanced <>")
        path = path[1:-1]
    if path == "":
        return NULL_SENDER
    route = None
    if path.startswith("@"):
        route, sep, path = path.partition(":")
        if not sep or not path:
            raise AddressSyntaxError("malformed source route")
    at = _last_unquoted_at(path)
    if at < 0:
        local, domain = path, ""
    else:
        local, domain = path[:at], path[at + 1:]
        if not domain:
            raise AddressSyntaxError("empty domain")
    if not local:
        raise AddressSyntaxError("empty local part")
    if local.count('"') % 2:
        raise AddressSyntaxError("unbalanced quotes")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in local + domain):
        raise AddressSyntaxError("control character or space")
    return Mailbox(local, domain.lower().rstrip("."), route)


def _last_unquoted_at(text):
    in_quotes = escaped = False
    last = -1
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == '"':
            in_quotes = not in_quotes
        elif c == "@" and not in_quotes:
            last = i
    return last
