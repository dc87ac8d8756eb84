"""What the wire shows of the relay, in the frames captured at its switch port
(lab.evidence.records, ``ev.frames``): its address, its attempts to reach a
server (a SYN per source port, or an ARP resolution for an address with no
MAC), the server's answers, and the messages it handed over (a DATA answered
250, lab.evidence.smtp_wire).

It imports nothing of the verdict (lab/verdict/claims.py: how the verdict's
modules import one another)."""
from lab.evidence import smtp_wire


def _relay_hosts(evidence):
    return {h for h in evidence.topology if h.startswith("relay")}


def _relay_ip(ev):
    return next((ev.topology[h].get("ip") for h in sorted(_relay_hosts(ev))), "")


ARP_RETRANS = 1.0     # seconds between the kernel's ARP requests for one unresolved address
                      # (net.ipv4.neigh.*.retrans_time_ms): requests this far apart are
                      # the retries of one connect, not new attempts


def _relay_syns(ev, target_ip, point="relay"):
    """The relay's TCP connection attempts to ``target_ip``'s SMTP port: the first
    SYN of each source port from the relay's address ([Frame], time order). A
    retransmitted SYN (same port) is the same attempt."""
    relay = _relay_ip(ev)
    out, ports = [], set()
    for f in ev.frames:
        if f.point == point and f.proto == "tcp" and f.flags == "S" and f.dport == 25 \
                and f.src_ip == relay and f.dst_ip == target_ip and f.sport not in ports:
            ports.add(f.sport)
            out.append(f)
    return out


def _relay_arp_attempts(ev, target_ip, point="relay"):
    """The relay's attempts to reach an address with no MAC: its ARP requests for
    it, where a request ARP_RETRANS after the previous one is that one's retry
    (the kernel's, for the same connect) and not counted again."""
    relay = _relay_ip(ev)
    out, last = [], None
    for f in ev.frames:
        if f.point == point and f.proto == "arp" and f.arp_op == 1 and f.src_ip == relay \
                and f.dst_ip == target_ip:
            if last is None or abs(f.ts - last - ARP_RETRANS) > 0.1 and f.ts - last > 0.1:
                out.append(f.ts)
            last = f.ts
    return out


def _wire_attempts(ev, target_ip, point="relay"):
    """Times the relay set out to reach ``target_ip``: each TCP connection attempt
    (a SYN with its own source port) to port 25, or, for a target without a MAC,
    each ARP resolution it started (lab.verdict: not the kernel's ARP retries)."""
    return sorted([f.ts for f in _relay_syns(ev, target_ip, point)] +
                  _relay_arp_attempts(ev, target_ip, point))


def _wire_answers(ev, server_ip, point="relay"):
    """Times ``server_ip`` accepted a connection from the relay (SYN-ACK)."""
    relay = _relay_ip(ev)
    return [f.ts for f in ev.frames if f.point == point and f.proto == "tcp"
            and f.src_ip == server_ip and f.dst_ip == relay and f.flags == "SA"]


def wire_messages(ev):
    """[WireMessage] of every DATA captured at the relay's port (lab.evidence.smtp_wire),
    read once per evidence."""
    cache = ev.__dict__.setdefault("_wire_messages", {})
    if id(ev.frames) not in cache:
        cache.clear()
        cache[id(ev.frames)] = smtp_wire.messages(ev.frames, "relay")
    return cache[id(ev.frames)]


def _relay_handed_over(ev, server_ips, since=None):
    """{msgid: when} of each message the relay's address handed to one of
    ``server_ips`` on the wire (a DATA carrying its Message-ID, answered 250)."""
    relay = _relay_ip(ev)
    got = {}
    for w in wire_messages(ev):
        if w.client == relay and w.server in server_ips and w.code == 250 \
                and (since is None or w.ts >= since):
            got.setdefault(w.msgid, w.ts)
    return got
