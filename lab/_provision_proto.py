"""Stand-in for servers/common/provision_proto.py until it is merged: the provisioner protocol: signed one-line JSON requests, one per connection.

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
import os
import time

from twisted.internet import defer, protocol
from twisted.protocols.basic import LineOnlyReceiver

log = logging.getLogger(__name__)

MAX_AGE = 60
MAX_LINE = 65536


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

    ``seen_nonces`` is a set (or dict) the caller keeps across requests; an
    accepted request's nonce is added to it.  Nonces only need keeping for
    ``max_age`` seconds, since older requests are refused anyway.
    """
    if not isinstance(request, dict):
        return "request is not a JSON object"
    mac = request.get("mac")
    if not isinstance(mac, str):
        return "missing mac"
    if not hmac.compare_digest(mac, _mac(request, secret)):
        return "bad mac"
    ts = request.get("ts")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        return "missing ts"
    if abs(now - ts) > max_age:
        return "request too old (%.0f s)" % (now - ts)
    nonce = request.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        return "missing nonce"
    if nonce in seen_nonces:
        return "replayed nonce"
    if isinstance(seen_nonces, dict):
        seen_nonces[nonce] = ts
    else:
        seen_nonces.add(nonce)
    return None
