"""Health-checked MX answers with a real TCP listener for mx1, stopped and restarted."""
import socket
import threading
import time

import pytest

from lab.host.waiting import wait_until
from servers.common.events import read_events
from tests.dns_support import dig
from tests.support import free_port, running_server

pytestmark = pytest.mark.needs_cmd("dig")

INTERVAL = 0.3

ZONE = """\
$ORIGIN example.org.
$TTL 300
@     SOA ns1 hostmaster 1 3600 600 86400 60
      NS  ns1
      MX  10 mx1
      MX  20 relay
ns1   A   127.0.0.1
mx1   A   127.0.0.1
relay A   127.0.0.2
"""


class Listener:
    """A TCP port that accepts and closes connections, like a mail server's port."""

    def __init__(self, ip, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
                conn.close()
            except socket.timeout:
                continue

    def stop(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def mx_answer(port):
    status, _, answer, _ = dig(port, "example.org", "MX")
    return sorted(a[3].split()[1] for a in answer), {a[1] for a in answer}


def test_mx1_leaves_the_answer_when_its_port_closes_and_returns_when_it_opens(tmp_path):
    smtp_port = free_port()
    zone, health, events = tmp_path / "z.zone", tmp_path / "health.toml", tmp_path / "ev.jsonl"
    zone.write_text(ZONE)
    health.write_text('interval = %s\ntimeout = 0.2\nttl = 5\n[[mx]]\nname = "example.org."\n'
                      'port = %d\n' % (INTERVAL, smtp_port))
    mx1, relay = Listener("127.0.0.1", smtp_port), Listener("127.0.0.2", smtp_port)
    try:
        with running_server("servers.dns", ["--zone", zone, "--port", 0, "--health", health,
                                            "--events", events]) as server:
            port = server.listening[0][1]
            both = ["mx1.example.org.", "relay.example.org."]
            assert mx_answer(port) == (both, {5})       # health-checked: the short TTL

            mx1.stop()
            down_at = time.monotonic()
            wait_until(lambda: mx_answer(port)[0] == ["relay.example.org."], 5, "mx1 dropped")
            dropped_after = time.monotonic() - down_at

            mx1 = Listener("127.0.0.1", smtp_port)
            up_at = time.monotonic()
            wait_until(lambda: mx_answer(port)[0] == both, 5, "mx1 back")
            back_after = time.monotonic() - up_at
    finally:
        mx1.stop()
        relay.stop()
    print("mx1 dropped after %.2f s, back after %.2f s" % (dropped_after, back_after))
    # One probe round after the change, plus dig's own time.
    assert dropped_after < INTERVAL + 0.5, dropped_after
    assert back_after < INTERVAL + 0.5, back_after
    changes = [e for e in read_events(str(events)) if e["event"] == "answer_changed"]
    assert [(c["answer"], c["down"]) for c in changes] == [
        (["relay.example.org."], ["mx1.example.org."]), (both, [])]
