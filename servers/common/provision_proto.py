"""The provisioner protocol: signed one-line JSON requests, one per connection.

A request is a JSON object such as ``{"action": "recreate", "name": "mx1"}``
plus ``requester``, ``ts`` (unix seconds), ``nonce`` (random hex) and ``mac``:
hex HMAC-SHA256 of the canonical JSON of the request without ``mac``
(``json.dumps(obj, sort_keys=True, separators=(",", ":"))``), keyed with the
shared secret.  The secret file holds the secret as hex text.

The reply is one JSON line: ``{"ok": true, "name", "ip", "port", "dc",
"seconds"}`` or ``{"ok": false, "error": "..."}``.

Both sides use this module: the lab's provisioner calls :func:`verify`, the
relay calls :func:`request_provision`.
"""
import hashlib
import hmac
import json
import logging
import math
import os
import re
import time

from twisted.internet import defer, protocol
from twisted.protocols.basic import LineOnlyReceiver

from servers.common.endpoints import parse_host_port

log = logging.getLogger(__name__)

MAX_AGE = 60
MAX_LINE = 65536
MAX_FIELD = 128         # characters in a nonce or a requester name
_MAC_HEX = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")      # a host or data center name

# Every field a request may hold: its kind and, for text, its longest form.
# Anything else is refused before any other code reads the request.
SCHEMA = {
    "action": ("choice", ("recreate", "create", "returned")),
    "name": ("name", 63),
    "dc": ("name", 63),
    "replaces": ("name", 63),
    "requester": ("text", MAX_FIELD),
    "nonce": ("text", MAX_FIELD),
    "ts": ("number", None),
    "mac": ("text", 64),
}


def schema_error(request):
    """None if ``request`` is a JSON object holding only SCHEMA's fields, each of
    its kind and length (or null); else the reason. Never raises."""
    if not isinstance(request, dict):
        return "request is not a JSON object"
    unknown = sorted(str(k)[:40] for k in request if k not in SCHEMA)
    if unknown:
        return "unknown field%s: %s" % ("s" if len(unknown) > 1 else "", ", ".join(unknown[:5]))
    for key, value in request.items():
        kind, arg = SCHEMA[key]
        if value is None:
            continue        # as if absent: the checks that need it say "missing"
        if kind == "number":
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return "%s must be a number" % key
        elif not isinstance(value, str):
            return "%s must be a string" % key
        elif kind == "choice" and value not in arg:
            return "unknown action %r" % value[:40]
        elif kind == "name" and not _NAME.fullmatch(value):
            return "%s must be a host or data center name (at most %d characters)" % (key, arg)
        elif kind == "text" and len(value) > arg:
            return "%s longer than %d characters" % (key, arg)
    return None


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def read_secret(path):
    """The secret bytes from a file holding them as hex text."""
    with open(path, encoding="ascii") as f:
        return bytes.fromhex(f.read().strip())


def generate_secret_file(path, nbytes=32):
    """Write a new random secret (hex text, mode 0600) to ``path``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(nbytes).hex() + "\n")
    return path


def _mac(request, secret):
    body = {k: v for k, v in request.items() if k != "mac"}
    return hmac.new(secret, canonical(body), hashlib.sha256).hexdigest()


def sign(request, secret, now=None, nonce=None):
    """A copy of ``request`` with ``ts`` and ``nonce`` filled in if missing,
    and ``mac`` set."""
    signed = dict(request)
    signed.pop("mac", None)
    if "ts" not in signed:
        signed["ts"] = time.time() if now is None else now
    if "nonce" not in signed:
        signed["nonce"] = nonce or os.urandom(16).hex()
    signed["mac"] = _mac(signed, secret)
    return signed


def verify(request, secret, now, seen_nonces, max_age=MAX_AGE):
    """None if ``request`` is authentic, fresh and new; else the reason.

    Never raises, whatever the request holds: it is first checked against
    SCHEMA (known fields only, each of its kind and length). ``seen_nonces`` is a set (or
    dict) the caller keeps across requests; an accepted request's nonce is
    added to it.  Nonces only need keeping for ``max_age`` seconds, since
    older requests are refused anyway.
    """
    error = schema_error(request)
    if error:
        return error
    mac = request.get("mac")
    if not isinstance(mac, str):
        return "missing mac"
    if not _MAC_HEX.fullmatch(mac):
        return "malformed mac"
    try:
        expected = _mac(request, secret)
    except (TypeError, ValueError):
        return "request cannot be signed"
    if not hmac.compare_digest(mac, expected):
        return "bad mac"
    ts = request.get("ts")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        return "missing ts"
    try:
        age = now - float(ts)
    except OverflowError:
        age = math.inf
    if not math.isfinite(age) or abs(age) > max_age:
        return "request too old (%.0f s)" % age if math.isfinite(age) else "ts out of range"
    nonce = request.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        return "missing nonce"
    if len(nonce) > MAX_FIELD:
        return "nonce too long"
    requester = request.get("requester", "")
    if not isinstance(requester, str) or len(requester) > MAX_FIELD:
        return "requester must be a short string"
    if nonce in seen_nonces:
        return "replayed nonce"
    if isinstance(seen_nonces, dict):
        seen_nonces[nonce] = ts
    else:
        seen_nonces.add(nonce)
    return None


class ProvisionError(Exception):
    """The provisioner refused, or could not be reached or understood."""


class _RequestProtocol(LineOnlyReceiver):
    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE

    def __init__(self, line, done):
        self.line = line
        self.done = done

    def connectionMade(self):
        self.sendLine(self.line)

    def lineReceived(self, line):
        d, self.done = self.done, None
        if d is None or d.called:
            return
        try:
            reply = json.loads(line)
            if not isinstance(reply, dict):
                raise ValueError("reply is not a JSON object")
        except ValueError as e:
            d.errback(ProvisionError("bad reply: %s" % e))
        else:
            d.callback(reply)
        self.transport.loseConnection()

    def connectionLost(self, reason):
        d, self.done = self.done, None
        if d is not None and not d.called:
            d.errback(ProvisionError("connection closed without a reply"))


def request_provision(endpoint_description, secret, action, reactor=None,
                      timeout=120, requester=None, clock=None, **fields):
    """Ask the provisioner at ``endpoint_description`` (``unix:PATH`` or
    ``tcp:HOST:PORT``) to ``action`` (``recreate`` with ``name=...`` or
    ``create`` with ``dc=...``).

    Returns a Deferred firing with the reply dict (``ok`` may be false) or
    failing with ProvisionError on a connection problem or timeout.
    """
    if reactor is None:
        from twisted.internet import reactor
    clock = clock or reactor
    request = dict(fields, action=action)
    if requester is not None:
        request["requester"] = requester
    line = canonical(sign(request, secret, now=clock.seconds()))
    done = defer.Deferred()
    factory = _RequestFactory(line, done, endpoint_description)
    try:
        connector = _connect(reactor, endpoint_description, factory, timeout)
    except ValueError as e:
        return defer.fail(ProvisionError(str(e)))

    def timed_out():
        if not done.called:
            connector.disconnect()
            if not done.called:
                done.errback(ProvisionError("provisioner did not answer in %s s" % timeout))
    call = clock.callLater(timeout, timed_out)

    def finished(result):
        if call.active():
            call.cancel()
        return result
    done.addBoth(finished)
    return done


class _RequestFactory(protocol.ClientFactory):
    def __init__(self, line, done, where):
        self.line, self.done, self.where = line, done, where

    def buildProtocol(self, addr):
        return _RequestProtocol(self.line, self.done)

    def clientConnectionFailed(self, connector, reason):
        if not self.done.called:
            self.done.errback(ProvisionError("cannot reach provisioner at %s: %s"
                                             % (self.where, reason.getErrorMessage())))


def parse_action(text):
    """What to ask for, from the ``recreate:NAME`` / ``create:DC`` notation
    (the relay's --provision-action, a scenario's relay.provision_action):
    "recreate:mx1" -> {"action": "recreate", "name": "mx1"};
    "create:dc2" -> {"action": "create", "dc": "dc2"}."""
    action, _, arg = text.partition(":")
    if action == "recreate" and arg:
        return {"action": "recreate", "name": arg}
    if action == "create" and arg:
        return {"action": "create", "dc": arg}
    raise ValueError("must be recreate:NAME or create:DC, not %r" % text)


def _connect(reactor, description, factory, timeout):
    """``unix:PATH`` or ``tcp:HOST:PORT`` (``tcp:host=H:port=P`` also accepted)."""
    kind, _, rest = description.partition(":")
    if kind == "unix":
        path = rest[len("path="):] if rest.startswith("path=") else rest
        return reactor.connectUNIX(path, factory, timeout=timeout)
    if kind == "tcp":
        parts = dict(p.split("=", 1) for p in rest.split(":") if "=" in p)
        if parts:
            host, port = parts.get("host"), parts.get("port")
            if not host or not (port or "").isdigit():
                raise ValueError("bad provisioner address %r" % description)
        else:
            host, port = parse_host_port(rest)
        return reactor.connectTCP(host, int(port), factory, timeout=timeout)
    raise ValueError("provisioner address must be unix:PATH or tcp:HOST:PORT, not %r"
                     % description)
