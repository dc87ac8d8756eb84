"""Reading iproute2's state (``ip``, ``tc``) as JSON, never its human output.

Human output changes with where it goes: iproute2 6.x (Debian 13) colours
it when stdout is a terminal, and a Mininet host's shell (``host.cmd``) is
a pseudo-terminal, so ``10.99.0.0/24 via ...`` arrives as
``\\x1b[35m10.99.0.0/24 \\x1b[0mvia ...``. ``-j`` output is never coloured
and keeps its shape across versions. Commands are argv lists (the caller
runs them: a fault process through nsenter, a test through ``host.popen``);
the functions here only parse.
"""
import json
import subprocess

DROP_FLAGS = {"linkdown", "dead"}      # states of a route, not part of it


class NotJSON(ValueError):
    pass


def parse(out, argv=("ip", "-j")):
    """The JSON list ``ip -j``/``tc -j`` printed ([] for no output)."""
    if not out.strip():
        return []
    try:
        return json.loads(out)
    except ValueError:
        raise NotJSON("%s: expected JSON, got %r (human or coloured output?)"
                      % (" ".join(argv), out[:60])) from None


def ip_argv(*args):
    return ["ip", "-j"] + [str(a) for a in args]


def tc_argv(*args):
    return ["tc", "-j"] + [str(a) for a in args]


def run(argv):
    """Run an ``ip -j``/``tc -j`` argv here; its parsed output ([] on failure)."""
    p = subprocess.run(argv, capture_output=True, text=True)
    return parse(p.stdout, argv) if p.returncode == 0 else []


def on_host(host, *args):
    """``ip -j ARGS`` in a Mininet node's namespace (a short-lived process, not
    the node's terminal); parsed."""
    argv = ip_argv(*args)
    p = host.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out, _ = p.communicate(timeout=10)
    return parse(out, argv) if p.returncode == 0 else []


def link_state(links):
    """'up', 'down' (administratively), 'no-carrier' or 'missing', from
    ``ip -j link show dev X``."""
    if not links:
        return "missing"
    flags = links[0].get("flags", [])
    if "UP" not in flags:
        return "down"
    return "no-carrier" if "NO-CARRIER" in flags else "up"


def route_words(route):
    """An ``ip -j route`` entry as the words of ``ip route replace`` (without
    ``dev``): ``["default", "via", "10.0.1.1"]``."""
    words = [route["dst"]]
    if route.get("gateway"):
        words += ["via", route["gateway"]]
    if route.get("protocol"):
        words += ["proto", route["protocol"]]
    if route.get("scope") and route["scope"] != "global":
        words += ["scope", route["scope"]]
    if route.get("prefsrc"):
        words += ["src", route["prefsrc"]]
    if route.get("metric") is not None:
        words += ["metric", str(route["metric"])]
    return words


def route_texts(routes):
    """The routes as ``ip route`` lines: "10.99.0.0/24 via 10.9.0.1"."""
    return [" ".join(route_words(r)) for r in routes]


def neighbours(entries):
    """{ip: mac} of the ARP entries that have a MAC, from ``ip -j neigh show``."""
    return {e["dst"]: e["lladdr"] for e in entries if e.get("lladdr") and "." in e["dst"]}


def interface_names(links):
    """Interface names from ``ip -j link show`` (without the ``@peer`` part)."""
    return [l["ifname"] for l in links]
