"""Synthetic runs for verdict and report tests: files on disk, events, ledger
lines and captured frames in lists, as a good run of each kind would leave them."""
import os

from lab.evidence import records
from lab.scenarios import model as scenario
from lab.evidence.records import Frame

T0 = 1_700_000_000.0
SUBNETS = {"dc1": "10.0.1.0/24", "dc2": "10.0.2.0/24"}
TOPO = {"dns1": {"ip": "10.0.1.2", "dc": "dc1"}, "mx1": {"ip": "10.0.1.10", "dc": "dc1"},
        "relay1": {"ip": "10.0.1.20", "dc": "dc1"}, "client1": {"ip": "10.0.9.10", "dc": ""}}
MX1, RELAY = "10.0.1.10:25", "10.0.1.20:25"
MX1_IP, RELAY_IP, CLIENT_IP, MX2_IP = "10.0.1.10", "10.0.1.20", "10.0.9.10", "10.0.2.10"
MAC = {MX1_IP: "02:00:0a:00:01:0a", RELAY_IP: "02:00:0a:00:01:14",
       "router": "02:00:0a:00:01:01", MX2_IP: "02:00:0a:00:02:0a"}
POINTS = {"relay": "relay1's port on s1", "router": "r1's port on s1"}


def write_mail(root, rcpt, msgid, n=0, ts=9.0, peer="10.0.1.20"):
    d = os.path.join(root, rcpt, "new")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "%s.%d.eml" % (msgid.strip("<>").replace("@", "_"), n))
    with open(path, "wb") as f:
        f.write(b"Received: from relay1 ([%s])\r\n\tby mx (maillab) with ESMTP id x\r\n"
                b"Message-ID: %s\r\nSubject: t\r\n\r\nbody\r\n"
                % (peer.encode(), msgid.encode()))
    os.utime(path, (T0 + ts, T0 + ts))
    return path


def ev(ts, host, service, event, msgid=None, **kw):
    e = {"ts": T0 + ts, "host": host, "service": service, "event": event}
    if msgid:
        e["msgid"] = msgid
    e.update(kw)
    return e


def syn(ts, src, dst, sport, point="relay", ttl=64, flags="S"):
    """A TCP control segment to or from port 25 as a capture shows it."""
    dport = 25 if flags == "S" else sport
    sport_ = sport if flags == "S" else 25
    return Frame(T0 + ts, point, MAC.get(src, MAC["router"]), MAC.get(dst, MAC["router"]),
                 "tcp", src, dst, ttl=ttl, sport=sport_, dport=dport, flags=flags)


def arp_request(ts, src, target, point="relay"):
    return Frame(T0 + ts, point, MAC[src], "ff:ff:ff:ff:ff:ff", "arp", src, target, arp_op=1)


class Wire:
    """Frames of one synthetic run; each connection gets its own source port."""

    def __init__(self):
        self.frames, self.port = [], 40000

    def connect(self, ts, src, dst, answered, point="relay", ttl=64):
        self.port += 1
        self.frames.append(syn(ts, src, dst, self.port, point, ttl))
        if answered:
            self.frames.append(syn(ts + 0.001, dst, src, self.port, point, ttl, flags="SA"))

    def deliver(self, ts, src, dst, msgids, point="relay", ttl=64, code=250):
        """A whole SMTP session from ``src`` to ``dst``: SYN, SYN-ACK, then the
        dialogue in segments, each message's DATA carrying its Message-ID; the
        server answers ``code`` to each end of data (at ts + 0.005)."""
        self.connect(ts - 0.002, src, dst, answered=True, point=point, ttl=ttl)
        port, cseq, sseq = self.port, 1000, 5000
        if isinstance(msgids, str):
            msgids = [msgids]

        def seg(t, a, b, data, seq):
            frame = Frame(T0 + t, point, MAC.get(a, MAC["router"]), MAC.get(b, MAC["router"]),
                          "tcp", a, b, ttl=ttl, sport=port if a == src else 25,
                          dport=25 if a == src else port, flags="PA", seq=seq, payload=data)
            self.frames.append(frame)
            return seq + len(data)
        sseq = seg(ts, dst, src, b"220 mx ESMTP\r\n", sseq)
        cseq = seg(ts, src, dst, b"EHLO relay1\r\n", cseq)
        sseq = seg(ts, dst, src, b"250 mx\r\n", sseq)
        for m in msgids:
            cseq = seg(ts, src, dst, b"MAIL FROM:<a@b>\r\nRCPT TO:<user@example.org>\r\n", cseq)
            sseq = seg(ts, dst, src, b"250 ok\r\n250 ok\r\n", sseq)
            cseq = seg(ts, src, dst, b"DATA\r\n", cseq)
            sseq = seg(ts, dst, src, b"354 go ahead\r\n", sseq)
            cseq = seg(ts, src, dst, b"Message-ID: %s\r\nSubject: t\r\n\r\nbody\r\n.\r\n"
                       % m.encode(), cseq)
            sseq = seg(ts + 0.005, dst, src, b"%d done\r\n" % code, sseq)

    def sorted(self):
        return sorted(self.frames, key=lambda f: f.ts)


def _failing_attempts(events, wire, msgid, times, target, connect_timeout, via_arp=False):
    """The relay's failed attempts at ``times`` (its `deferred` events), each with
    its packet on the wire a connect timeout earlier."""
    for t in times:
        if via_arp:
            wire.frames.append(arp_request(t - connect_timeout, RELAY_IP, target))
        else:
            wire.connect(t - connect_timeout, RELAY_IP, target, answered=False)
        events.append(ev(t, "relay1", "relay", "deferred", msgid, error="timeout"))


def relay_failover_run(tmp_path, n_direct=3, n_relayed=3):
    """mx1 black-holed from t=1 to t=7; the first messages go to mx1, the rest via
    the relay, which fails at t≈2.6, 3.6, 5.1 (backoff 0.5, 1, 2 s plus its 0.5 s
    connect timeout) and delivers at t≈7.2."""
    s = scenario.load("relay-failover")
    ct = s.relay.connect_timeout
    root = str(tmp_path / "mx1-maildir")
    wire = Wire()
    ledger, events = [], [ev(1.0, "mx1", "fault", "fault_start", fault="blackhole")]
    for i in range(n_direct):
        m = "<t-1-%d@maillab>" % i
        ledger.append({"ts": T0 + 0.1 * i, "msgid": m, "to": "user@example.org", "server": MX1,
                       "mx": "mx1.lab.", "code": 250})
        events.append(ev(0.1 * i, "mx1", "mx", "delivered", m, rcpt="user@example.org"))
        wire.connect(0.1 * i - 0.01, CLIENT_IP, MX1_IP, answered=True, point="router", ttl=63)
        write_mail(root, "user@example.org", m, ts=0.1 * i)
    for i in range(n_direct, n_direct + n_relayed):
        m = "<t-1-%d@maillab>" % i
        ledger.append({"ts": T0 + 2 + 0.1 * i, "msgid": m, "to": "user@example.org",
                       "server": RELAY, "mx": "relay1.lab.", "code": 250})
        events.append(ev(2 + 0.1 * i, "relay1", "relay", "queued", m, next_hop="mx:example.org"))
        f1 = 2.3 + 0.1 * i
        _failing_attempts(events, wire, m, [f1, f1 + 0.5 + ct, f1 + 0.5 + ct + 1.0 + ct],
                          MX1_IP, ct)
        events.append(ev(7.2 + 0.1 * i - 0.01, "relay1", "relay", "attempt", m, server=MX1))
        wire.deliver(7.2 + 0.1 * i - 0.02, RELAY_IP, MX1_IP, m)
        events.append(ev(7.2 + 0.1 * i, "relay1", "relay", "delivered", m, server=MX1))
        events.append(ev(7.2 + 0.1 * i, "mx1", "mx", "delivered", m, rcpt="user@example.org"))
        write_mail(root, "user@example.org", m, ts=7.2 + 0.1 * i)
    events.append(ev(7.0, "mx1", "fault", "fault_end", fault="blackhole"))
    return records.Evidence(scenario=s, ledger=ledger, mails=records.read_maildir(root, "mx1"),
                            queued=[], events=events, topology=dict(TOPO), started=T0,
                            finished=T0 + 10, frames=wire.sorted(),
                            capture_points=dict(POINTS), dns_answers=mx_answers()), root


def mx_answers(times=(0.5, 3.0, 6.0)):
    """What a client's dig saw DNS answer: MX 10 mx1, MX 20 relay1 (MX preference)."""
    return [{"ts": T0 + t, "answer": ["mx1.lab.example.org.", "relay1.lab.example.org."],
             "status": "answered"} for t in times]


def _outage_then_new_server(events, wire, ledger, ids, ct, target_ip, created):
    """Held messages fail twice towards mx1 (ARP requests: its host is gone), the
    relay asks at t=4.1, the provisioner creates ``created`` at t=4.9."""
    for i, m in enumerate(ids):
        ledger.append({"ts": T0 + 1 + 0.1 * i, "msgid": m, "to": "user@example.org",
                       "server": RELAY, "mx": "relay1.lab.", "code": 250})
        events.append(ev(1 + 0.1 * i, "relay1", "relay", "queued", m, next_hop="mx:example.org"))
        _failing_attempts(events, wire, m, [2.0 + 0.1 * i, 3.1 + 0.1 * i], MX1_IP, ct,
                          via_arp=True)
    events.append(ev(4.1, "relay1", "relay", "provision_requested", next_hop="mx:example.org",
                     messages=len(ids)))
    events.append(ev(4.9, "lab", "provisioner", "created", port=25, seconds=0.8, **created))
    # a server in another data center answers through both routers: TTL 62 at the relay
    wire.connect(5.05, RELAY_IP, target_ip, answered=True,
                 ttl=64 if target_ip.startswith("10.0.1.") else 62)


def remote_run(tmp_path, wan_bytes=10_000):
    """mx1 destroyed at t=0; mx2 created in dc2 at t=4.9; the queue seen on disk."""
    s = scenario.load("remote-failover")
    topo = dict(TOPO)     # mx2 is created at run time: known from the created event only
    root = str(tmp_path / "mx2-maildir")
    wire = Wire()
    ledger, events = [], [ev(0.0, "mx1", "fault", "fault_start", fault="destroy")]
    ids = ["<r-1-%d@maillab>" % i for i in range(4)]
    _outage_then_new_server(events, wire, ledger, ids, s.relay.connect_timeout, MX2_IP,
                            {"name": "mx2", "ip": MX2_IP, "dc": "dc2"})
    snaps = []
    for i, m in enumerate(ids):
        snaps.append({"ts": T0 + 1 + 0.1 * i + 0.001,
                      "entries": [{"msgid": m, "next_hop": "mx:example.org"}]})
        events.append(ev(5.0, "relay1", "relay", "rerouted", m, old="mx:example.org",
                         new="10.0.2.10:25"))
        snaps.append({"ts": T0 + 5.0 + 0.001, "entries": [{"msgid": m,
                                                            "next_hop": "10.0.2.10:25"}]})
        events.append(ev(5.1 + 0.05 * i, "relay1", "relay", "delivered", m, server="10.0.2.10:25"))
        wire.deliver(5.1 + 0.05 * i - 0.006, RELAY_IP, MX2_IP, m, ttl=62)
        events.append(ev(5.1 + 0.05 * i, "mx2", "mx", "delivered", m, rcpt="user@example.org"))
        write_mail(root, "user@example.org", m, ts=5.1 + 0.05 * i)
    return records.Evidence(scenario=s, ledger=ledger, mails=records.read_maildir(root, "mx2"),
                            queued=[], events=events, topology=topo, started=T0,
                            finished=T0 + 8, queue_snapshots=sorted(snaps, key=lambda x: x["ts"]),
                            queue_watched=True, wan_bytes=wan_bytes, frames=wire.sorted(),
                            capture_points=dict(POINTS), subnets=dict(SUBNETS)), root


def recreate_run(tmp_path):
    """One message reaches mx1 at t=0.1 (seen at the router's port); mx1 destroyed at
    t=0.5; re-created with the same IP and MAC at t=4.9; the relay delivers there."""
    s = scenario.load("recreate")
    root = str(tmp_path / "mx1.gen2-maildir")
    wire = Wire()
    ledger = [{"ts": T0 + 0.1, "msgid": "<c-1-0@maillab>", "to": "user@example.org",
               "server": MX1, "mx": "mx1.lab.", "code": 250}]
    wire.connect(0.09, CLIENT_IP, MX1_IP, answered=True, point="router", ttl=63)
    write_mail(str(tmp_path / "mx1-maildir"), "user@example.org", "<c-1-0@maillab>", ts=0.1)
    events = [ev(0.5, "mx1", "fault", "fault_start", fault="destroy")]
    ids = ["<c-1-%d@maillab>" % i for i in range(1, 4)]
    _outage_then_new_server(events, wire, ledger, ids, s.relay.connect_timeout, MX1_IP,
                            {"name": "mx1", "ip": MX1_IP, "dc": "dc1", "action": "recreate"})
    for i, m in enumerate(ids):
        events.append(ev(5.1 + 0.05 * i, "relay1", "relay", "delivered", m, server=MX1))
        wire.deliver(5.1 + 0.05 * i - 0.006, RELAY_IP, MX1_IP, m)
        write_mail(root, "user@example.org", m, ts=5.1 + 0.05 * i)
    mails = records.read_maildir(str(tmp_path / "mx1-maildir"), "mx1") + \
        records.read_maildir(root, "mx1")
    return records.Evidence(scenario=s, ledger=ledger, mails=mails, queued=[], events=events,
                            topology=dict(TOPO), started=T0, finished=T0 + 8,
                            frames=wire.sorted(), capture_points=dict(POINTS)), root


def loaded_run(n=2000, rate=20.0, fault=(10.0, 40.0), odd=3):
    """A synthetic history of ``n`` messages, no files: mx1 black-holed during
    ``fault`` (seconds); messages sent then go to the relay, which defers them
    every second and delivers them all when the fault ends. The first ``odd``
    of those had a failed send before the relay took them (a rarer path)."""
    s = scenario.load("relay-failover")
    start, stop = fault
    events = [ev(start, "mx1", "fault", "fault_start", fault="blackhole", id="bh-1",
                 summary="blackhole mx1: DROP tcp arriving (no RST, no ICMP)"),
              ev(stop, "mx1", "fault", "fault_end", fault="blackhole", id="bh-1",
                 summary="blackhole mx1: DROP tcp arriving (no RST, no ICMP)")]
    ledger, odd_left = [], odd
    for i in range(n):
        t, m = i / rate, "<load-1-%d@maillab>" % i
        if start <= t < stop:
            if odd_left:
                events.append(ev(t - 0.01, "client1", "sender", "send_failed", m))
                odd_left -= 1
            ledger.append({"ts": T0 + t, "msgid": m, "to": "user@example.org", "server": RELAY,
                           "mx": "relay1.lab.", "code": 250})
            events.append(ev(t, "relay1", "relay", "queued", m, next_hop="mx:example.org"))
            k = 1
            while t + k < stop:
                events.append(ev(t + k, "relay1", "relay", "attempt", m, server=MX1))
                events.append(ev(t + k + 0.5, "relay1", "relay", "deferred", m, server=MX1))
                k += 1
            done = stop + 0.5 + 0.001 * (i % 200)
            events.append(ev(done, "relay1", "relay", "attempt", m, server=MX1))
            events.append(ev(done, "relay1", "relay", "delivered", m, server=MX1))
            events.append(ev(done, "mx1", "mx", "delivered", m, rcpt="user@example.org"))
        else:
            ledger.append({"ts": T0 + t, "msgid": m, "to": "user@example.org", "server": MX1,
                           "mx": "mx1.lab.", "code": 250})
            events.append(ev(t + 0.01, "mx1", "mx", "delivered", m, rcpt="user@example.org"))
    return records.Evidence(scenario=s, ledger=ledger, mails=[], queued=[], events=events,
                            topology=dict(TOPO), started=T0, finished=T0 + n / rate + 2)
