"""What the live page may ask, and the guards in front of it: pure checks."""
import pytest

from lab.web import actions
from lab.web.guard import action_refusal, host_allowed

TOKEN = "s3cret-token"


@pytest.mark.parametrize("request_, text", [
    ({"kind": "send", "count": 5, "client": "client1"}, "send 5 client1"),
    ({"kind": "fault", "name": "cut", "args": "mx1 s1", "for": 30}, "fault cut mx1 s1 --for 30"),
    ({"kind": "fault", "name": "loss", "args": "mx1:s1 --rate 0.2", "for": None},
     "fault loss mx1:s1 --rate 0.2"),
    ({"kind": "fault", "name": "kill", "args": "relay@relay1 --signal KILL", "for": ""},
     "fault kill relay@relay1 --signal KILL"),
    ({"kind": "stop", "id": "cut-3"}, "fault stop cut-3"),
    ({"kind": "clear"}, "fault clear"),
    ({"kind": "recreate", "name": "mx1"}, "recreate mx1"),
])
def test_requests_become_the_lab_cli_lines(request_, text):
    assert actions.parse(request_).text == text


@pytest.mark.parametrize("request_", [
    None, [], {"kind": "rm"}, {"kind": "send", "count": 0}, {"kind": "send", "count": "x"},
    {"kind": "send", "count": 5000}, {"kind": "fault", "name": "format-disk"},
    {"kind": "fault", "name": "cut", "args": "mx1 s1 --for 9"},
    {"kind": "fault", "name": "cut", "args": "'unclosed"},
    {"kind": "fault", "name": "cut", "args": "mx1 s1", "for": -1},
    {"kind": "stop", "id": "cut-1; reboot"}, {"kind": "recreate", "name": "../etc"},
])
def test_bad_requests_are_refused_with_a_reason(request_):
    with pytest.raises(actions.BadAction):
        actions.parse(request_)


def test_arguments_stay_arguments():
    # quoted as one token for the CLI's shlex.split: no shell ever sees it
    line = actions.parse({"kind": "fault", "name": "loss",
                          "args": "mx1:s1 --rate 0.1 --match '-p tcp'"}).text
    assert line == "fault loss mx1:s1 --rate 0.1 --match '-p tcp'"


@pytest.mark.parametrize("host, ok", [
    ("127.0.0.1:7080", True), ("localhost:7080", True), ("10.0.2.15:7080", True),
    ("[::1]:7080", True), ("127.0.0.1", True), ("evil.example:7080", False),
    ("127.0.0.1.nip.io:7080", False), ("", False), (None, False),
])
def test_only_addresses_and_localhost_are_served(host, ok):
    assert host_allowed(host) is ok


def test_an_action_needs_the_token_json_and_its_own_origin():
    ok = dict(token=TOKEN, given_token=TOKEN, host="127.0.0.1:7080",
              origin="http://127.0.0.1:7080", content_type="application/json")
    assert action_refusal(**ok) is None
    assert action_refusal(**dict(ok, origin=None)) is None      # curl, not a browser
    assert "token" in action_refusal(**dict(ok, given_token=""))
    assert "token" in action_refusal(**dict(ok, given_token="s3cret-tokeN"))
    assert "Origin" in action_refusal(**dict(ok, origin="http://evil.example"))
    assert "Origin" in action_refusal(**dict(ok, origin="null"))
    assert "JSON" in action_refusal(**dict(ok, content_type="text/plain"))


def test_web_options_on_run_demo_and_up():
    from lab.cli.maillab import build_parser
    from lab.web import DEFAULT_BIND, DEFAULT_PORT
    p = build_parser()
    assert p.parse_args(["run", "relay-failover"]).web is None
    args = p.parse_args(["run", "relay-failover", "--web"])
    assert (args.web, args.web_bind) == (DEFAULT_PORT, DEFAULT_BIND) == (7080, "127.0.0.1")
    args = p.parse_args(["up", "one_dc", "--web", "8080", "--web-bind", "0.0.0.0"])
    assert (args.web, args.web_bind) == (8080, "0.0.0.0")
    assert p.parse_args(["demo", "--web", "9000"]).web == 9000
