"""Where the servers are: mx1 and the relay in one data center, their traffic
on its switch (claim 17), and the other server in a remote one, reached across
the WAN (claim 18); by the address plan and the TTL of their frames."""
import ipaddress

from lab.evidence.records import PROVISIONER_LOG, TOPOLOGY, WIRE
from lab.evidence.queries import dc_of
from lab.verdict.model import INFO, Check
from lab.verdict.common import _ok
from lab.verdict.held_mail import _held_at, _new_server, _request_ts, _require_wire
from lab.verdict.wire import _relay_ip


def _info(name, claim, detail, evidence=(TOPOLOGY,)):
    return Check(name, claim, True, detail, INFO, list(evidence))


def claim_17(ev, sent, copies):
    """Relay <-> mx1 traffic stays on the data center's switch: seen at the relay's
    port, never at the router's, never with a decremented TTL."""
    mx1 = ev.topology.get("mx1", {}).get("ip", "")
    relay = _relay_ip(ev)
    pair = {(relay, mx1), (mx1, relay)}
    tcp = [f for f in ev.frames if f.proto == "tcp" and (f.src_ip, f.dst_ip) in pair]
    at_relay = [f for f in tcp if f.point == "relay"]
    at_router = [f for f in tcp if f.point == "router"]
    routed = [f for f in at_relay if f.ttl != 64]
    ok = at_relay and not at_router and not routed and "router" in ev.capture_points
    if not ev.capture_points:
        detail = "no capture on the wire"
    else:
        detail = ("%d relay<->mx1 segments at the relay's port, all with TTL 64 (no router "
                  "forwarded them); %d at the router's port" % (len(at_relay), len(at_router))
                  if not routed else "%d relay<->mx1 segments with a TTL below 64: routed"
                  % len(routed))
    dcs = {h: dc_of(ev, h) for h in ("mx1", "relay1")}
    return [_ok("relay-mx1 traffic stays on the data center's switch", "17", ok, detail,
                (WIRE,)),
            _info("mx1 and the relay share a data center", "17",
                  "the address plan puts mx1 in %s and relay1 in %s"
                  % (dcs["mx1"] or "?", dcs["relay1"] or "?"))]


def dc_of_ip(ev, ip):
    """The data center whose subnet holds ``ip``, from the address plan."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    return next((dc for dc, net in sorted(ev.subnets.items())
                 if addr in ipaddress.ip_network(net)), "")


def claim_18(ev, sent, copies):
    """The servers the relay reached after it asked for a new one (their SYN-ACKs at
    the relay's port) are in another data center's subnet (the address plan), and
    their answers came through routers (TTL below 64: across the WAN)."""
    new = _new_server(ev)
    t = _request_ts(ev)
    mx1 = ev.topology.get("mx1", {}).get("ip", "")
    relay = _relay_ip(ev)
    home = dc_of_ip(ev, mx1) or ev.topology.get("mx1", {}).get("dc", "")
    answers = [f for f in ev.frames if f.point == "relay" and f.proto == "tcp"
               and f.flags == "SA" and f.sport == 25 and f.dst_ip == relay and f.src_ip != mx1
               and t is not None and f.ts >= t]
    peers = {}
    for f in answers:
        peers.setdefault(f.src_ip, []).append(f)
    where = {ip: dc_of_ip(ev, ip) for ip in peers}
    same = sorted(ip for ip, dc in where.items() if not dc or dc == home)
    said = new.get("dc") if new else None
    observed = sorted(set(where.values()) - {""})
    ok = peers and not same and (said is None or said in observed)
    detail = ("mx1 is in %s (%s); after its request the relay reached %s" % (
        home or "?", mx1, ", ".join("%s (%s by the address plan)" % (ip, where[ip] or "no DC")
                                    for ip in sorted(peers)) or "no other server (no SYN-ACK "
        "at its port)"))
    if new:
        detail += "; the provisioner said it created %s in %s" % (new.get("name"), said)
        if peers and said not in observed:
            detail += ", which is not where its address is"
    checks = [_ok("the other server is in a remote data center", "18", ok, detail,
                  (WIRE, TOPOLOGY, PROVISIONER_LOG))]
    routed = [f for f in answers if f.ttl < 64]
    crossed = answers and len(routed) == len(answers)
    wan = "" if ev.wan_bytes is None else "; %d bytes crossed the WAN link" % ev.wan_bytes
    check = _ok("mail crossed the WAN", "18", crossed,
                "%d of %d answers of the new server(s) reached the relay with a TTL "
                "below 64 (routed: %s)%s" % (len(routed), len(answers), ", ".join(
                    sorted({str(f.ttl) for f in answers})) or "none", wan)
                if answers else "no answer of a new server at the relay's port", (WIRE,))
    remote = set(peers) - set(same)
    checks.append(_require_wire(check, ev, _held_at(ev, t) if t is not None else set(),
                                remote, since=t))
    return checks
