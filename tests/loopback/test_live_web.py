"""The live page's server on loopback: the token guard, and state pushed by SSE.

The lab is a stand-in (a run directory, an address plan, a recorder of the
verbs the page asks for): what is under test is the web server in front of it.
"""
import http.client
import json
import os
import urllib.parse

import pytest

from lab.web.server import LiveView
from lab.host.waiting import wait_until
from lab.testbed import zone
from topologies.addressing import build_plan


class RecordingLab:
    def __init__(self, rundir):
        self.rundir = str(rundir)
        self.plan = build_plan()
        self.net = None
        self.services = {}
        self.calls = []

    def expected_mx(self):
        return zone.mx_set(self.plan)

    def send(self, count, client=None):
        self.calls.append(("send", count, client))
        return [{"mx": "mx1"}] * count

    def recreate(self, name):
        self.calls.append(("recreate", name))
        return {"name": name, "ip": "10.0.1.10", "seconds": 0.1}


@pytest.fixture
def lab(tmp_path):
    os.makedirs(os.path.join(str(tmp_path), "relay1", "queue"))
    return RecordingLab(tmp_path)


@pytest.fixture
def view(lab):
    with LiveView("test", port=0, allow_actions=True) as v, v.watch(lab):
        yield v


def request(view, method, path, body=None, headers=None):
    port = view.listening.getHost().port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=hdrs)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def action_path(token):
    return "/api/action" + ("?token=" + urllib.parse.quote(token) if token is not None else "")


SEND = {"kind": "send", "count": 3, "client": "client1"}


@pytest.mark.parametrize("token, headers, why", [
    (None, {}, "token"),
    ("wrong", {}, "token"),
    ("", {}, "token"),
    ("GOOD", {"Origin": "http://evil.example"}, "Origin"),
    ("GOOD", {"Content-Type": "text/plain"}, "JSON"),
    ("GOOD", {"Host": "rebound.example:7080"}, "IP addresses"),
])
def test_an_action_without_the_guards_gets_403_and_changes_nothing(view, lab, token, headers,
                                                                   why):
    status, data = request(view, "POST", action_path(view.token if token == "GOOD" else token),
                           SEND, headers)
    assert status == 403 and why.encode() in data
    status, data = request(view, "GET", "/state")
    assert json.loads(data)["actions"] == [] and lab.calls == []


def test_with_the_token_the_action_runs_through_the_lab_verbs(view, lab):
    status, data = request(view, "POST", action_path(view.token), SEND,
                           {"Origin": "http://127.0.0.1:%d" % view.listening.getHost().port})
    assert status == 202 and json.loads(data)["what"] == "send 3 client1"
    done = wait_until(lambda: [a for a in view.snapshot()["actions"] if a["status"] == "done"],
                      10, "the action done")
    assert lab.calls == [("send", 3, "client1")]
    assert done[0]["output"] == '3 of 3 accepted: {"mx1": 3}'


def test_a_watching_view_refuses_actions_even_with_its_token(lab):
    with LiveView("run", port=0) as v, v.watch(lab):
        status, data = request(v, "POST", action_path(v.token), SEND)
    assert status == 403 and lab.calls == []


def read_sse_state(response):
    """The next ``state`` message of an SSE stream, parsed."""
    event, data = None, None
    while True:
        line = response.fp.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and event == "state" and data:
            return json.loads(data)


def test_sse_sends_the_whole_state_on_connect_then_each_change(view, lab):
    conn = http.client.HTTPConnection("127.0.0.1", view.listening.getHost().port, timeout=10)
    conn.request("GET", "/events")
    r = conn.getresponse()
    assert r.getheader("Content-Type").startswith("text/event-stream")
    first = read_sse_state(r)
    assert {n["name"] for n in first["drawing"]["nodes"]} >= {"mx1", "relay1", "dns1", "r1"}
    assert first["links"]["mx1|s1"]["state"] == "up"
    with open(os.path.join(lab.rundir, "fault-events.jsonl"), "a") as f:
        f.write(json.dumps({"ts": 1.0, "host": "lab", "service": "fault", "event": "fault_start",
                            "fault": "cut", "id": "cut-1", "summary": "cut mx1-s1",
                            "matched": {"link": "mx1-s1",
                                        "interfaces": ["1/mx1-eth0", "s1-eth4"]}}) + "\n")
    while True:
        state = read_sse_state(r)
        if state["links"]["mx1|s1"]["state"] == "cut":
            break
    conn.close()
    # a reload gets the same state from the server, not from the page
    conn = http.client.HTTPConnection("127.0.0.1", view.listening.getHost().port, timeout=10)
    conn.request("GET", "/events")
    again = read_sse_state(conn.getresponse())
    conn.close()
    assert again["links"]["mx1|s1"]["state"] == "cut" and again["faults"][0]["id"] == "cut-1"


def test_the_page_and_its_files_are_served_from_here(view):
    for path, kind in (("/", "text/html"), ("/live.js", "text/javascript"),
                       ("/live.css", "text/css")):
        status, data = request(view, "GET", path)
        assert status == 200 and data
    status, data = request(view, "GET", "/")
    assert b"http://" not in data.replace(b"http://www.w3.org", b"")   # nothing from elsewhere
    assert request(view, "GET", "/../setup.cfg")[0] == 404
    assert request(view, "GET", "/report/report.md")[0] == 404           # no run finished yet


def test_a_busy_port_is_a_clear_error():
    import argparse
    import socket

    from lab.web.server import live_view
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        args = argparse.Namespace(web=taken.getsockname()[1], web_bind="127.0.0.1")
        with pytest.raises(SystemExit) as e:
            with live_view(args, "test"):
                pass
    assert "--web PORT" in str(e.value)


def test_the_verdict_links_the_report_served_from_here(view, tmp_path):
    import types
    report = tmp_path / "report"
    (report / "pcaps").mkdir(parents=True)
    (report / "report.md").write_text("# relay-failover: PASS\n")
    (report / "report.html").write_text("<h1>relay-failover</h1>")
    (report / "pcaps" / "cut-1.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")
    check = types.SimpleNamespace(name="nothing lost", claim="1", ok=True)
    verdict = types.SimpleNamespace(ok=True, sent=20, delivered=20, lost=0, duplicates=0,
                                    queued=0, checks=[check])
    view.finish(verdict, str(report))
    shown = view.snapshot()["verdict"]
    assert shown["ok"] and shown["report"] == "/report/report.html"
    assert shown["checks"] == [{"name": "nothing lost", "claim": "1", "ok": True}]
    assert request(view, "GET", "/report/report.html") == (200, b"<h1>relay-failover</h1>")
    assert request(view, "GET", "/report/pcaps/cut-1.pcap")[0] == 200
    assert request(view, "GET", "/report/../report.md")[0] in (200, 404)   # never outside
    assert request(view, "GET", "/report/%2e%2e/%2e%2e/etc/passwd")[0] == 404


@pytest.mark.parametrize("path", ["/live.js/%00", "/%00", "/report/%00x", "/state%0a",
                                  "/live.css/%ff%fe", "/" + "a" * 3000])
def test_a_malformed_path_gets_400_and_the_page_is_still_served(view, path):
    status, _ = request(view, "GET", path)
    assert status == 400
    assert request(view, "GET", "/live.js")[0] == 200
    assert request(view, "GET", "/live.js/other")[0] == 404


def test_connections_over_the_cap_get_503_and_the_page_stays_reachable(view):
    import socket
    from lab.web.server import MAX_CONNECTIONS
    port = view.listening.getHost().port
    held = []
    try:
        for _ in range(MAX_CONNECTIONS):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        wait_until(lambda: request(view, "GET", "/live.js")[0] == 503, 10, "the cap reached")
        held.pop().close()
        wait_until(lambda: request(view, "GET", "/live.js")[0] == 200, 10, "a free slot")
    finally:
        for s in held:
            s.close()


class PlacedLab(RecordingLab):
    """A lab over two servers, as the page sees it: its net's nodes carry the
    server they run on (lab.host.cluster_net's ``place``; None: this machine)."""

    def __init__(self, rundir, there):
        from types import SimpleNamespace
        from lab.host.ssh import Server
        super().__init__(rundir)
        far = Server("127.0.0.2", port=2222)
        self.cluster = object()
        names = [h for h in self.plan.hosts] + [self.plan.site_router, self.plan.site_switch] \
            + [n for dc in self.plan.dcs for n in (dc.router, dc.switch)]
        self.net = SimpleNamespace(links=[], nameToNode={
            n: SimpleNamespace(place=far if n in there else None) for n in names})


def test_the_page_shows_the_server_each_host_runs_on(tmp_path):
    from tests.browser import headless_chromium
    from selenium.webdriver.support.ui import WebDriverWait
    os.makedirs(os.path.join(str(tmp_path), "relay1", "queue"))
    lab = PlacedLab(tmp_path, there={"mx1", "relay1", "dns1", "r1", "s1"})
    with LiveView("test", port=0) as view, view.watch(lab):
        nodes = {n["name"]: n for n in view.state.snapshot()["drawing"]["nodes"]}
        assert nodes["mx1"]["server"] == "127.0.0.2:2222" and nodes["s1"]["server"] == \
            "127.0.0.2:2222"
        assert nodes["client1"]["server"] == nodes["r0"]["server"] == "localhost"
        with headless_chromium() as driver:
            driver.get(view.url)
            WebDriverWait(driver, 20, poll_frequency=0.1).until(
                lambda d: d.find_elements("css selector", '[data-node="mx1"][data-server]'))
            mx1 = driver.find_element("css selector", '[data-node="mx1"]')
            assert mx1.get_attribute("data-server") == "127.0.0.2:2222"
            assert "on 127.0.0.2:2222" in mx1.text
            assert "on localhost" in driver.find_element(
                "css selector", '[data-node="client1"]').text
    # one machine: no server anywhere on the page's data
    with LiveView("test", port=0) as view, view.watch(RecordingLab(tmp_path)):
        assert not any("server" in n for n in view.state.snapshot()["drawing"]["nodes"])
