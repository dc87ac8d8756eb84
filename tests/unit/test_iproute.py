"""iproute2's state is read as JSON: a coloured or human line is never parsed."""
import os
import re

import pytest

from lab import ROOT
from lab.host import iproute

# what Debian 13's `ip route` prints in a terminal (a Mininet host's shell is one)
COLOURED = "\x1b[35m10.99.0.0/24 \x1b[0mvia \x1b[34m10.9.0.1 \x1b[0mdev \x1b[36mh2-eth0\x1b[0m\n"


def test_coloured_or_human_output_is_refused_with_a_clear_error():
    with pytest.raises(iproute.NotJSON, match="coloured"):
        iproute.parse(COLOURED, ["ip", "route"])
    with pytest.raises(iproute.NotJSON):
        iproute.parse("default via 10.0.1.1 dev eth0\n")


def test_routes_links_and_neighbours_from_json():
    routes = iproute.parse('[{"dst":"default","gateway":"10.0.1.1","flags":[]},'
                           '{"dst":"10.0.1.0/24","protocol":"kernel","scope":"link",'
                           '"prefsrc":"10.0.1.10","flags":[]},'
                           '{"dst":"10.9.0.0/24","gateway":"10.0.1.1","metric":5,"flags":[]}]')
    assert iproute.route_texts(routes) == [
        "default via 10.0.1.1", "10.0.1.0/24 proto kernel scope link src 10.0.1.10",
        "10.9.0.0/24 via 10.0.1.1 metric 5"]
    assert iproute.link_state([]) == "missing"
    assert iproute.neighbours([{"dst": "10.0.1.1", "lladdr": "02:00:0a:00:01:01"},
                               {"dst": "10.0.1.9", "state": ["FAILED"]},
                               {"dst": "fe80::1", "lladdr": "02:00:00:00:00:01"}]) == {
        "10.0.1.1": "02:00:0a:00:01:01"}
    assert iproute.parse("") == []


# `ip`/`tc` words that change state; a command with none of them reads state
_VERBS = r"\b(add|del|delete|set|replace|change|flush|monitor|exec|append)\b"
_SHELL_IP = re.compile(r"""\.cmd\(\s*["'](ip|tc) ([^"']*)["']""")
_ARGV_IP = re.compile(r"""\[\s*["'](ip|tc)["']\s*,([^\]]*)\]""")


def python_files():
    for top in ("lab", "servers", "topologies", "tests", "examples"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith(".py"):
                    yield os.path.join(d, name)


def test_no_code_reads_ip_or_tc_human_output():
    """A command that reads ``ip``/``tc`` state must ask for JSON (``-j``, through
    lab.iproute): their human output is coloured on a terminal."""
    offenders = []
    for path in python_files():
        if path.endswith(os.path.join("tests", "unit", "test_iproute.py")):
            continue
        text = open(path, encoding="utf-8").read()
        for m in list(_SHELL_IP.finditer(text)) + list(_ARGV_IP.finditer(text)):
            args = m.group(2)
            if not re.search(_VERBS, args) and "-j" not in args:
                offenders.append("%s: %s" % (os.path.relpath(path, ROOT), m.group(0)))
    assert not offenders, "\n".join(offenders)
