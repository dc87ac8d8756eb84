import json

from twisted.internet import task
from twisted.internet.testing import StringTransport

from servers.common import provision_proto as pp

SECRET = bytes.fromhex("00112233445566778899aabbccddeeff")


def test_sign_then_verify_accepts_once():
    req = pp.sign({"action": "recreate", "name": "mx1", "requester": "relay1"}, SECRET, now=1000.0)
    assert set(req) >= {"ts", "nonce", "mac"}
    seen = set()
    assert pp.verify(req, SECRET, now=1010.0, seen_nonces=seen) is None
    assert req["nonce"] in seen


def test_mac_is_hmac_of_canonical_json_without_mac():
    import hashlib
    import hmac
    req = pp.sign({"action": "create", "dc": "dc2"}, SECRET, now=5.0, nonce="ab")
    body = {"action": "create", "dc": "dc2", "ts": 5.0, "nonce": "ab"}
    expected = hmac.new(SECRET, json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
                        hashlib.sha256).hexdigest()
    assert req["mac"] == expected


def test_bad_mac_refused():
    req = pp.sign({"action": "recreate", "name": "mx1"}, SECRET, now=1000.0)
    tampered = dict(req, name="mx2")
    assert pp.verify(tampered, SECRET, now=1000.0, seen_nonces=set()) == "bad mac"
    assert pp.verify(req, b"other", now=1000.0, seen_nonces=set()) == "bad mac"
    assert pp.verify(dict(req, mac=None), SECRET, now=1000.0, seen_nonces=set()) == "missing mac"


def test_old_request_refused():
    req = pp.sign({"action": "recreate", "name": "mx1"}, SECRET, now=1000.0)
    err = pp.verify(req, SECRET, now=1061.0, seen_nonces=set())
    assert err and "old" in err
    assert pp.verify(req, SECRET, now=1059.0, seen_nonces=set()) is None


def test_replayed_nonce_refused():
    req = pp.sign({"action": "recreate", "name": "mx1"}, SECRET, now=1000.0)
    seen = {}
    assert pp.verify(req, SECRET, now=1000.0, seen_nonces=seen) is None
    assert pp.verify(req, SECRET, now=1001.0, seen_nonces=seen) == "replayed nonce"


def test_secret_file_roundtrip(tmp_path):
    path = pp.generate_secret_file(str(tmp_path / "secret"))
    assert len(pp.read_secret(path)) == 32


def test_client_protocol_sends_one_line_and_reads_reply():
    from twisted.internet import defer
    done = defer.Deferred()
    proto = pp._RequestProtocol(b'{"a":1}', done)
    transport = StringTransport()
    proto.makeConnection(transport)
    assert transport.value() == b'{"a":1}\n'
    proto.dataReceived(b'{"ok": true, "ip": "10.0.2.10", "port": 25}\n')
    assert done.result == {"ok": True, "ip": "10.0.2.10", "port": 25}


def test_client_over_unix_socket_against_verifying_server(tmp_path):
    """A real round trip through a unix socket, server checking the mac."""
    from twisted.internet import reactor
    from twisted.protocols.basic import LineOnlyReceiver
    from twisted.internet import protocol
    import time

    seen = set()
    got = []

    class Server(LineOnlyReceiver):
        delimiter = b"\n"

        def lineReceived(self, line):
            req = json.loads(line)
            got.append(req)
            err = pp.verify(req, SECRET, time.time(), seen)
            reply = {"ok": False, "error": err} if err else {
                "ok": True, "name": "mx1", "ip": "10.0.1.10", "port": 25, "dc": "dc1"}
            self.sendLine(json.dumps(reply).encode())

    path = str(tmp_path / "prov.sock")
    port = reactor.listenUNIX(path, protocol.Factory.forProtocol(Server))
    result = []
    d = pp.request_provision("unix:" + path, SECRET, "recreate", name="mx1", requester="relay1",
                             timeout=5)
    d.addBoth(result.append)
    try:
        deadline = time.time() + 5
        while not result and time.time() < deadline:
            reactor.iterate(0.01)
    finally:
        port.stopListening()
        for _ in range(5):
            reactor.iterate(0.01)
    assert result[0] == {"ok": True, "name": "mx1", "ip": "10.0.1.10", "port": 25, "dc": "dc1"}
    assert got[0]["requester"] == "relay1" and got[0]["action"] == "recreate"


def test_client_timeout_with_clock(tmp_path):
    from twisted.internet import reactor
    clock = task.Clock()
    # a unix path nobody listens on: connect fails -> ProvisionError
    result = []
    d = pp.request_provision("unix:" + str(tmp_path / "none.sock"), SECRET, "create", dc="dc2",
                             reactor=reactor, clock=clock, timeout=3)
    d.addErrback(lambda f: result.append(f.check(pp.ProvisionError)) )
    import time
    deadline = time.time() + 5
    while not result and time.time() < deadline:
        reactor.iterate(0.01)
    assert result == [pp.ProvisionError]
    assert not clock.getDelayedCalls()
