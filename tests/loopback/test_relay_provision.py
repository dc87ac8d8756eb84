"""Re-routing on loopback: the relay asks a provisioner (a small one here,
over a unix socket, checking the request's mac) once, then rewrites every
stored message's next hop and delivers to the new server."""
import json
import socketserver
import threading
import time


import pytest

from lab.host.waiting import wait_until
from servers.common import provision_proto
from tests.loopback.relay_support import (events_of, maildir_files, queue_files, start_mx,
                                          start_relay)
from tests.smtp_clients import swaks
from tests.support import free_port

pytestmark = pytest.mark.needs_cmd("swaks")


class Provisioner:
    def __init__(self, path, secret, reply):
        self.requests = []
        self.errors = []
        seen = set()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                request = json.loads(self.rfile.readline())
                outer.requests.append(request)
                error = provision_proto.verify(request, secret, time.time(), seen)
                answer = {"ok": False, "error": error} if error else reply
                if error:
                    outer.errors.append(error)
                self.wfile.write(json.dumps(answer).encode() + b"\n")

        self.server = socketserver.UnixStreamServer(path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_provision_once_then_reroute_every_stored_message(tmp_path, procs):
    dead_port = free_port()
    mx2 = start_mx(tmp_path, name="mx2")
    procs.append(mx2)
    secret_file = provision_proto.generate_secret_file(str(tmp_path / "secret"))
    secret = provision_proto.read_secret(secret_file)
    reply = {"ok": True, "name": "mx2", "ip": "127.0.0.1", "port": mx2.port, "dc": "dc2",
             "seconds": 0.1}
    sock = str(tmp_path / "prov.sock")
    with Provisioner(sock, secret, reply) as prov:
        relay = start_relay(tmp_path, "127.0.0.1:%d" % dead_port, extra=[
            "--retry-interval", "0.3", "--max-retry-interval", "0.6",
            "--provisioner", "unix:" + sock, "--provisioner-secret", secret_file,
            "--provision-after", "1.5", "--provision-action", "create:dc2"])
        procs.append(relay)
        for n in range(3):
            assert swaks(relay.port, msgid="<p%d@test>" % n).returncode == 0
        wait_until(lambda: len(events_of(relay, "delivered")) == 3, 15, "delivered to mx2")
        wait_until(lambda: not queue_files(relay.queue), 10, "queue empty")
    assert len(prov.requests) == 1 and not prov.errors
    request = prov.requests[0]
    assert (request["action"], request["dc"], request["requester"]) == ("create", "dc2",
                                                                         "relay.lab")
    assert len(events_of(relay, "provision_requested")) == 1
    rerouted = events_of(relay, "rerouted")
    assert sorted(r["msgid"] for r in rerouted) == ["<p0@test>", "<p1@test>", "<p2@test>"]
    assert {(r["old"], r["new"]) for r in rerouted} == {
        ("127.0.0.1:%d" % dead_port, "127.0.0.1:%d" % mx2.port)}
    assert len(events_of(relay, "deferred")) >= 3
    assert len(maildir_files(mx2.maildir)) == 3
