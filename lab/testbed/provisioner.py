"""The provisioner: creates messaging servers when the relay asks (claims 2,
10, 14, 18, 19).

It listens on a Unix socket in the run directory (every Mininet host shares
the filesystem, so the relay in its namespace reaches it). One request per
connection, one JSON line each way, authenticated with a per-run secret as
servers/common/provision_proto.py defines. Actions:

- ``{"action": "recreate", "name": "mx1"}``: a new host with the same name,
  IP and MAC on the same switch, its messaging server started (and its MX
  record back in DNS if a replacement had removed it);
- ``{"action": "create", "dc": "dc2", "replaces": "mx1"}``: a new messaging
  server in that data center, added to the lab DNS with a TSIG-signed RFC 2136
  UPDATE that also removes the MX record of the server it replaces, so that
  new mail stops going to the dead server;
- ``{"action": "returned", "name": "mx1"}``: a replaced server answers again
  (the relay saw it): its MX record goes back into DNS. It creates nothing.

Like a cloud, it has limits: ``Capacity`` says how many more servers each
data center can take and which data centers are down; a request beyond them
is refused with the reason ("dc1 has no capacity"), and nothing changes.
Everything it does goes to its own log (the lab's ``provisioner/events.jsonl``,
which no server writes): ``provision_received``, ``provision_refused`` with
the reason, and ``created``.

A plain threading socketserver, not Twisted: every action is a sequence of
blocking Mininet calls and readiness waits, so a thread that blocks is the
natural shape, and it keeps a reactor out of the orchestrating process
(scenarios may run their own, and a reactor cannot be restarted). Actions
run one at a time; a request that is refused changes nothing.

Every request that is malformed, forged, stale, replayed, signed before the
provisioner started (so a restart, which forgets the nonces, reopens no
replay window) or over the rate limit gets ``{"ok": false, "error"}`` and a
``provision_refused`` event. The rate limit is per requester: a burst of
RATE_BURST requests, then one more every RATE_INTERVAL seconds; a relay asks
once per outage, so only a relay gone wrong (or a stolen secret) meets it.
"""
import json
import os
import re
import socketserver
import threading
import time

from servers.common.provision_proto import (canonical, generate_secret_file, read_secret,
                                             sign, verify)
from topologies.nodes import plain_logger

log = plain_logger(__name__)

MAX_REQUEST = 65536
MAX_CONNECTIONS = 16    # held at once (one thread each); more are answered "busy" and closed
REQUEST_DEADLINE = 10   # seconds to send the whole request line, however it drips
NONCE_KEEP = 120        # seconds: longer than the protocol's max request age
RATE_BURST = 20         # requests a requester may make at once
RATE_INTERVAL = 3.0     # seconds to earn one more
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")


def validate(request):
    """None if ``request`` names a known action with well-formed arguments; else why."""
    action = request.get("action")
    if action in ("recreate", "returned"):
        name = request.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            return "%s needs a host name" % action
        return _optional_names(request, "dc")
    if action == "create":
        dc = request.get("dc")
        if not isinstance(dc, str) or not _NAME.fullmatch(dc):
            return "create needs a data center"
        return _optional_names(request, "replaces")
    return "unknown action %r" % (str(action)[:40],)


class RateLimit:
    """A token bucket per requester: ``burst`` at once, one more per ``interval`` seconds."""

    def __init__(self, burst=RATE_BURST, interval=RATE_INTERVAL):
        self.burst, self.interval = burst, interval
        self.buckets = {}       # requester -> (tokens, time they were counted)

    def allow(self, requester, now):
        tokens, then = self.buckets.get(requester, (self.burst, now))
        tokens = min(self.burst, tokens + max(now - then, 0) / self.interval)
        if tokens < 1:
            self.buckets[requester] = (tokens, now)
            return False
        self.buckets[requester] = (tokens - 1, now)
        return True


def _optional_names(request, *keys):
    for key in keys:
        if key in request and (not isinstance(request[key], str) or not request[key]):
            return "%s must be a name" % key
    return None


class Capacity:
    """How many more messaging servers each data center can take (``free``:
    dc -> count; a data center not listed has no limit) and which are ``down``."""

    def __init__(self, free=None, down=()):
        self.free = dict(free or {})
        self.down = set(down)

    def refusal(self, dc):
        """Why ``dc`` cannot take a server now, or None."""
        if dc in self.down:
            return "%s is down" % dc
        if self.free.get(dc, 1) <= 0:
            return "%s has no capacity" % dc
        return None

    def take(self, dc):
        if dc in self.free:
            self.free[dc] -= 1


class Gate:
    """Authentication and validation of requests, apart from any socket or lab."""

    def __init__(self, secret, now=time.time, rate_limit=None):
        self.secret = secret
        self.now = now
        self.started = now()
        self.seen = {}      # nonce -> ts
        self.rate_limit = rate_limit or RateLimit()

    def check(self, line):
        """(request, None) if the line is an authentic, valid request; else (None, error).

        Never raises, whatever the line holds."""
        try:
            return self._check(line)
        except Exception as e:      # a case the checks missed: still a refusal
            log.warning("provisioner: unexpected %s checking a request", type(e).__name__)
            return None, "malformed request"

    def _check(self, line):
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None, "request is not JSON"
        if not isinstance(request, dict):
            return None, "request is not a JSON object"
        now = self.now()
        for nonce, ts in list(self.seen.items()):
            if now - ts > NONCE_KEEP:
                del self.seen[nonce]
        error = verify(request, self.secret, now, self.seen)
        if error:
            return None, error
        if request["ts"] < self.started:
            return None, "request signed before the provisioner started"
        requester = request.get("requester", "")
        if not self.rate_limit.allow(requester, now):
            return None, "too many requests from %s" % (requester or "an unnamed requester")
        error = validate(request)
        if error:
            return None, error
        return request, None


def perform(lab, request, capacity=None):
    """Carry out a valid request on ``lab`` within ``capacity``: the reply dict."""
    try:
        if request["action"] == "returned":
            return dict(lab.returned(request["name"]), ok=True)
        if request["action"] == "recreate":
            dc = lab.dc_of(request["name"]) if capacity else None
        else:
            dc = request["dc"]
        refusal = capacity.refusal(dc) if capacity else None
        if refusal:
            return {"ok": False, "error": refusal}
        if request["action"] == "recreate":
            record = lab.recreate(request["name"])
        else:
            record = lab.create(request["dc"], replaces=request.get("replaces"))
    except (KeyError, ValueError) as e:
        return {"ok": False, "error": str(e).strip("'\"")}
    except Exception as e:
        log.exception("provisioning %s failed", request)
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    if capacity:
        capacity.take(record.get("dc") or dc)
    return dict(record, ok=True)


def read_request(sock, deadline=REQUEST_DEADLINE, limit=MAX_REQUEST, now=time.monotonic):
    """The first line ``sock`` sends within ``deadline`` seconds in all (a byte
    drip does not extend it); None if it sends none in time."""
    end, data = now() + deadline, b""
    while b"\n" not in data and len(data) < limit:
        left = end - now()
        if left <= 0:
            return None
        sock.settimeout(left)
        chunk = sock.recv(min(4096, limit - len(data)))
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0][:limit]


class _Handler(socketserver.StreamRequestHandler):
    timeout = REQUEST_DEADLINE

    def handle(self):
        prov = self.server.provisioner
        try:
            line = read_request(self.connection)
        except OSError:
            return
        if line is None:
            return
        with prov.action_lock:
            request, error = prov.gate.check(line)
            if error:
                log.warning("provisioner refused a request: %s", error)
                prov.lab.lab_events.emit("provision_refused", error=error)
                reply = {"ok": False, "error": error}
            else:
                log.info("provisioner: %s", request)
                fields = {k: v for k, v in request.items() if k not in ("mac", "nonce", "ts")}
                prov.lab.lab_events.emit("provision_received", **fields)
                reply = perform(prov.lab, request, prov.capacity)
                if not reply.get("ok"):
                    prov.lab.lab_events.emit("provision_refused", error=reply.get("error"),
                                             **fields)
        try:
            self.wfile.write(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """At most MAX_CONNECTIONS held at once; one over gets ``{"ok": false}`` and is closed."""
    daemon_threads = True

    def __init__(self, *args, max_connections=MAX_CONNECTIONS, **kwargs):
        super().__init__(*args, **kwargs)
        self.slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b'{"ok": false, "error": "provisioner busy: too many '
                                b'connections"}\n')
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class Provisioner:
    """Serves provisioning requests for ``lab`` on ``socket_path``."""

    def __init__(self, lab, socket_path, secret_path, capacity=None,
                 max_connections=MAX_CONNECTIONS):
        self.lab = lab
        self.max_connections = max_connections
        self.capacity = capacity
        self.socket_path = socket_path
        self.secret_path = secret_path
        generate_secret_file(secret_path)
        os.chmod(secret_path, 0o600)
        self.gate = Gate(read_secret(secret_path))
        self.action_lock = threading.Lock()
        self._server = None
        self._thread = None

    @property
    def endpoint(self):
        """(client endpoint description, secret file), as the relay's options want them."""
        return "unix:%s" % self.socket_path, self.secret_path

    def start(self):
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        self._server = _Server(self.socket_path, _Handler, max_connections=self.max_connections)
        self._server.provisioner = self
        os.chmod(self.socket_path, 0o600)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="provisioner", daemon=True)
        self._thread.start()
        log.info("provisioner listening on %s", self.socket_path)

    def stop(self, action_timeout=60):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None
            # let an action in progress finish before the network goes away
            if self.action_lock.acquire(timeout=action_timeout):
                self.action_lock.release()
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass


def request(socket_path, secret, action, timeout=60, **fields):
    """A blocking client (for the lab CLI and tests): send one signed request."""
    fields.setdefault("requester", "lab")
    body = canonical(sign(dict(fields, action=action), secret))
    return raw_request(socket_path, body, timeout)


def raw_request(socket_path, body, timeout=60):
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(socket_path)
        s.sendall(body.rstrip(b"\n") + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)
