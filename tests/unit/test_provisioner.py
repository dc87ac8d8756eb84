"""Provisioner requests: authentication and validation, without root or a network."""
import json
import os

import pytest

from lab.testbed.provisioner import (RATE_BURST, RATE_INTERVAL, Capacity, Gate, Provisioner, perform,
                             raw_request, request, validate)

from servers.common.provision_proto import sign

SECRET = bytes.fromhex("11" * 32)


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def line(req):
    return json.dumps(req).encode()


def test_signed_request_passes_once():
    clock = Clock()
    gate = Gate(SECRET, now=clock)
    req = sign({"action": "recreate", "name": "mx1", "requester": "relay1"}, SECRET, now=1000.0)
    assert gate.check(line(req)) == (req, None)
    assert gate.check(line(req)) == (None, "replayed nonce")


@pytest.mark.parametrize("tamper, error", [
    (lambda r: r.pop("mac"), "missing mac"),
    (lambda r: r.update(name="mx2"), "bad mac"),
    (lambda r: r.update(mac="00" * 32), "bad mac"),
])
def test_forged_requests_are_refused(tamper, error):
    req = sign({"action": "recreate", "name": "mx1"}, SECRET, now=1000.0)
    tamper(req)
    assert Gate(SECRET, now=Clock()).check(line(req)) == (None, error)


def test_wrong_secret_old_and_garbage_are_refused():
    gate = Gate(SECRET, now=Clock(1000.0))
    other = sign({"action": "create", "dc": "dc2"}, b"other", now=1000.0)
    assert gate.check(line(other))[1] == "bad mac"
    old = sign({"action": "create", "dc": "dc2"}, SECRET, now=900.0)
    assert gate.check(line(old))[1].startswith("request too old")
    assert gate.check(b"not json")[1] == "request is not JSON"
    assert gate.check(b"[1, 2]")[1] == "request is not a JSON object"


def test_unknown_or_malformed_actions_are_refused_after_auth():
    gate = Gate(SECRET, now=Clock())
    for body in ({"action": "destroy"}, {"action": "create"}, {"action": "recreate", "name": 5}):
        req = sign(body, SECRET, now=1000.0)
        request_, error = gate.check(line(req))
        assert request_ is None and error
    assert validate({"action": "create", "dc": "dc2"}) is None


class FakeLab:
    """Records what the provisioner asked for."""

    def __init__(self):
        self.calls = []
        self.lab_events = self

    def emit(self, *args, **kwargs):
        self.calls.append(("event", args[0]))

    def recreate(self, name):
        self.calls.append(("recreate", name))
        if name != "mx1":
            raise ValueError("no such messaging server %s" % name)
        return {"name": name, "ip": "10.0.1.10", "port": 25, "dc": "dc1", "seconds": 0.1}

    def dc_of(self, name):
        return {"mx1": "dc1"}[name]

    def create(self, dc, replaces=None):
        self.calls.append(("create", dc))
        return {"name": "mx3", "ip": "10.0.2.11", "port": 25, "dc": dc, "seconds": 0.2}


def test_perform_replies_with_the_record_or_an_error():
    lab = FakeLab()
    assert perform(lab, {"action": "create", "dc": "dc2"})["ok"] is True
    reply = perform(lab, {"action": "recreate", "name": "mx9"})
    assert reply == {"ok": False, "error": "no such messaging server mx9"}


def test_over_a_unix_socket_only_authentic_requests_act(tmp_path):
    lab = FakeLab()
    prov = Provisioner(lab, str(tmp_path / "p.sock"), str(tmp_path / "secret"))
    prov.start()
    try:
        assert oct(os.stat(prov.secret_path).st_mode & 0o777) == "0o600"
        unsigned = raw_request(prov.socket_path, b'{"action": "create", "dc": "dc2"}')
        assert unsigned["ok"] is False and lab.calls == [("event", "provision_refused")]
        forged = request(prov.socket_path, b"wrong", "create", dc="dc2")
        assert forged == {"ok": False, "error": "bad mac"}
        assert not [c for c in lab.calls if c[0] != "event"]

        reply = request(prov.socket_path, prov.gate.secret, "create", dc="dc2")
        assert reply == {"ok": True, "name": "mx3", "ip": "10.0.2.11", "port": 25,
                         "dc": "dc2", "seconds": 0.2}
        assert lab.calls[-1] == ("create", "dc2")
    finally:
        prov.stop()
    assert not os.path.exists(prov.socket_path)


def test_capacity_and_down_data_centers_are_refused_with_the_reason():
    lab = FakeLab()
    capacity = Capacity(free={"dc1": 0, "dc2": 1}, down=["dc3"])
    assert perform(lab, {"action": "recreate", "name": "mx1"}, capacity) == {
        "ok": False, "error": "dc1 has no capacity"}
    assert perform(lab, {"action": "create", "dc": "dc3"}, capacity) == {
        "ok": False, "error": "dc3 is down"}
    assert lab.calls == []
    assert perform(lab, {"action": "create", "dc": "dc2", "replaces": "mx1"}, capacity)["ok"]
    assert perform(lab, {"action": "create", "dc": "dc2"}, capacity)["error"] == \
        "dc2 has no capacity"
    assert lab.calls == [("create", "dc2")]
    assert validate({"action": "create", "dc": "dc2", "replaces": 3}) == "replaces must be a name"
    assert validate({"action": "returned"}) == "returned needs a host name"
    lab.returned = lambda name: {"name": name, "mx_restored": True}
    assert perform(lab, {"action": "returned", "name": "mx1"}, capacity) == {
        "ok": True, "name": "mx1", "mx_restored": True}


MALFORMED = [
    ("non-ascii mac", lambda r: r.update(mac="é" * 64)),
    ("mac not a string", lambda r: r.update(mac=["00"])),
    ("ts a string", lambda r: r.update(ts="1000")),
    ("ts too large for a float", lambda r: r.update(ts=10 ** 400)),
    ("nonce a list", lambda r: r.update(nonce=["a"])),
    ("requester an object", lambda r: r.update(requester={"a": 1})),
    ("name a huge string", lambda r: r.update(name="m" * 20000)),
]


@pytest.mark.parametrize("why, tamper", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_field_is_refused_never_raises(why, tamper):
    gate = Gate(SECRET, now=Clock())
    req = sign({"action": "recreate", "name": "mx1", "requester": "relay1"}, SECRET, now=1000.0)
    tamper(req)
    assert gate.check(line(req))[0] is None
    if "mac" not in why:            # the same field, signed: refused after the MAC check
        req = sign({k: v for k, v in req.items() if k != "mac"}, SECRET)
        assert gate.check(line(req))[0] is None


def test_over_the_socket_every_malformed_request_gets_a_refusal_and_an_event(tmp_path):
    lab = FakeLab()
    prov = Provisioner(lab, str(tmp_path / "p.sock"), str(tmp_path / "secret"))
    prov.start()
    bodies = [b"\xff\xfe not utf-8", b"[" * 50000, b'{"action": "create", "dc": "dc2", "ts": '
              + b"9" * 400 + b"}"]
    for _, tamper in MALFORMED:
        req = sign({"action": "recreate", "name": "mx1", "requester": "relay1"}, prov.gate.secret)
        tamper(req)
        bodies.append(line(req))
    try:
        for body in bodies:
            reply = raw_request(prov.socket_path, body, timeout=10)
            assert reply["ok"] is False and reply["error"], body[:40]
        assert lab.calls == [("event", "provision_refused")] * len(bodies)
        assert request(prov.socket_path, prov.gate.secret, "create", dc="dc2")["ok"] is True
    finally:
        prov.stop()


def test_a_request_signed_before_the_provisioner_started_is_refused():
    req = sign({"action": "create", "dc": "dc2", "requester": "relay1"}, SECRET, now=1000.0)
    assert Gate(SECRET, now=Clock(1000.0)).check(line(req)) == (req, None)
    restarted = Gate(SECRET, now=Clock(1010.0))       # its nonces are gone
    assert restarted.check(line(req)) == (None, "request signed before the provisioner started")


def test_requests_are_rate_limited_per_requester():
    clock = Clock()
    gate = Gate(SECRET, now=clock)

    def ask(requester):
        req = sign({"action": "create", "dc": "dc2", "requester": requester}, SECRET, now=clock.now)
        return gate.check(line(req))[1]

    assert [ask("relay1") for _ in range(RATE_BURST)] == [None] * RATE_BURST
    assert ask("relay1") == "too many requests from relay1"
    assert ask("relay2") is None
    clock.now += RATE_INTERVAL
    assert ask("relay1") is None and ask("relay1") == "too many requests from relay1"


@pytest.mark.parametrize("field, value, error", [
    ("event", "created", "unknown field: event"),
    ("host", "mx9", "unknown field: host"),
    ("service", "dns", "unknown field: service"),
    ("replaces", "m" * 64, "replaces must be a host or data center name (at most 63 characters)"),
    ("dc", "dc 2", "dc must be a host or data center name"),
])
def test_a_signed_request_with_a_field_outside_the_schema_is_refused_with_the_reason(
        field, value, error):
    gate = Gate(SECRET, now=Clock())
    req = sign({"action": "create", "dc": "dc2", "requester": "relay1", field: value}, SECRET,
               now=1000.0)
    request_, why = gate.check(line(req))
    assert request_ is None and why.startswith(error)


def test_over_the_socket_a_field_named_event_is_refused_not_a_crash(tmp_path):
    lab = FakeLab()
    prov = Provisioner(lab, str(tmp_path / "p.sock"), str(tmp_path / "secret"))
    prov.start()
    try:
        reply = request(prov.socket_path, prov.gate.secret, "create", dc="dc2", event="x")
        assert reply == {"ok": False, "error": "unknown field: event"}
        assert lab.calls == [("event", "provision_refused")]
    finally:
        prov.stop()


def test_held_connections_are_bounded_and_a_request_still_gets_through(tmp_path):
    import socket
    lab = FakeLab()
    prov = Provisioner(lab, str(tmp_path / "p.sock"), str(tmp_path / "secret"),
                       max_connections=2)
    prov.start()
    held = []
    try:
        for _ in range(2):      # two clients that connect and say nothing
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(prov.socket_path)
            held.append(s)
        busy = raw_request(prov.socket_path, b"{}", timeout=10)
        assert busy == {"ok": False, "error": "provisioner busy: too many connections"}
        held.pop().close()      # one slot frees when its client goes
        from lab.host.waiting import wait_until
        wait_until(lambda: request(prov.socket_path, prov.gate.secret, "create",
                                   dc="dc2")["ok"] is True, 10, "a free slot")
    finally:
        for s in held:
            s.close()
        prov.stop()


def test_a_request_line_must_arrive_within_the_deadline_however_it_drips():
    from lab.testbed.provisioner import read_request

    class Drip:
        def __init__(self):
            self.t = 0.0

        def settimeout(self, t):
            pass

        def recv(self, n):
            self.t += 1.0       # a byte a second
            return b"{"

    sock = Drip()
    assert read_request(sock, deadline=10, now=lambda: sock.t) is None
    assert sock.t == 10
