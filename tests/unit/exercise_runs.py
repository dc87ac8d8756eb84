"""Report directories of synthetic runs for the exercise answer tests: the
files a scenario run writes (report.json, events.jsonl, ledger.jsonl,
queue.jsonl, pcaps/*.pcap), with known answers."""
import json
import os

from tests.unit.run_fixtures import T0, ev

CLIENT, RELAY, MX1, DNS = "10.0.0.10", "10.0.1.3", "10.0.1.10", "10.0.1.2"
MX1_MAC = "02:00:0a:00:01:0a"


def _jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def write_run(directory, events, ledger=(), report=None, queue=(), pcaps=None):
    """A report directory; ``pcaps``: {file name: [scapy packets with .time set]}."""
    os.makedirs(os.path.join(directory, "pcaps"), exist_ok=True)
    with open(os.path.join(directory, "report.json"), "w") as f:
        json.dump(report or {"scenario": "synthetic", "ok": True}, f)
    _jsonl(os.path.join(directory, "events.jsonl"), events)
    _jsonl(os.path.join(directory, "ledger.jsonl"), ledger)
    if queue:
        _jsonl(os.path.join(directory, "queue.jsonl"), queue)
    if pcaps:
        from scapy.utils import wrpcap
        for name, packets in pcaps.items():
            wrpcap(os.path.join(directory, "pcaps", name), packets)
    return str(directory)


def syn(t, src, dst, sport, mac="02:00:0a:00:00:01"):
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    p = Ether(src=mac, dst="02:00:0a:00:01:0a") / IP(src=src, dst=dst) / TCP(
        sport=sport, dport=25, flags="S")
    p.time = T0 + t
    return p


def synack(t, src, dst, dport, mac):
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    p = Ether(src=mac, dst="02:00:0a:00:01:03") / IP(src=src, dst=dst) / TCP(
        sport=25, dport=dport, flags="SA")
    p.time = T0 + t
    return p


def rst(t, src, dst, sport, dport):
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    p = Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="R")
    p.time = T0 + t
    return p


def arp_reply(t, ip, mac):
    from scapy.layers.l2 import ARP, Ether
    p = Ether(src=mac, dst="02:00:0a:00:01:03") / ARP(op=2, hwsrc=mac, psrc=ip,
                                                        hwdst="02:00:0a:00:01:03", pdst=RELAY)
    p.time = T0 + t
    return p


def failover_run(directory):
    """mx1 black-holed from t=1 to t=4: two messages straight to mx1, three via
    the relay, which retries with backoff 0.5, 1, 2 s and flushes at t=4.3."""
    events, ledger = [ev(-0.5, "relay1", "relay", "queue_loaded", messages=0),
                      ev(-0.4, "relay1", "relay", "started", port=25)], []
    for i in (1, 2):
        m = "<c-1-%d@maillab>" % i
        ledger.append({"ts": T0 + 0.2 * i, "msgid": m, "to": "user@example.org",
                       "server": MX1 + ":25", "mx": "mx1.lab.example.org.", "code": 250})
        events.append(ev(0.2 * i, "mx1", "mx", "delivered", m))
    events.append(ev(1.0, "mx1", "fault", "fault_start", fault="blackhole", id="blackhole-1"))
    for i in (3, 4, 5):
        m = "<c-1-%d@maillab>" % i
        t = 2.0 + 0.1 * i
        ledger.append({"ts": T0 + t, "msgid": m, "to": "user@example.org",
                       "server": RELAY + ":25", "mx": "relay1.lab.example.org.", "code": 250})
        events.append(ev(t, "relay1", "relay", "queued", m, next_hop="mx:example.org"))
        for k, wait in enumerate((0.5, 1.0, 2.0), start=1):
            events.append(ev(t + k * 0.1, "relay1", "relay", "deferred", m, attempts=k,
                             next_attempt=T0 + t + k * 0.1 + wait))
        events.append(ev(4.3 + 0.01 * i, "relay1", "relay", "attempt", m, server=MX1 + ":25"))
        events.append(ev(4.3 + 0.01 * i, "relay1", "relay", "delivered", m, server=MX1 + ":25"))
        events.append(ev(4.3 + 0.01 * i, "mx1", "mx", "delivered", m))
    events.append(ev(4.0, "mx1", "fault", "fault_end", fault="blackhole", id="blackhole-1",
                     dropped_packets=11))
    events.sort(key=lambda e: e["ts"])
    packets = [syn(1.2, CLIENT, MX1, 40001), syn(2.2, CLIENT, MX1, 40001),   # a retransmission
               syn(1.6, CLIENT, MX1, 40002),
               syn(2.5, RELAY, MX1, 50001), syn(3.0, RELAY, MX1, 50002),
               syn(3.8, RELAY, MX1, 50003)]
    report = {"scenario": "synthetic", "ok": True, "sent": 5, "lost": 0, "duplicates": 0,
              "timings": {"failover": 1.3, "recovery_drain": 0.35, "recreate": None}}
    return write_run(directory, events, ledger, report,
                     pcaps={"blackhole-1-any.pcap": packets})


def recreate_run(directory):
    """mx1 destroyed at t=1, re-created at t=3.5 with its old MAC; a later frame from
    another MAC before the creation must not count."""
    events = [ev(1.0, "mx1", "fault", "fault_start", fault="destroy", id="destroy-1"),
              ev(1.0, "mx1", "fault", "fault_end", fault="destroy", id="destroy-1"),
              ev(1.5, "relay1", "relay", "queued", "<c-1-1@maillab>"),
              ev(3.2, "relay1", "relay", "provision_requested", next_hop="mx:example.org",
                 messages=4, outage_seconds=2.012),
              ev(3.5, "lab", "provisioner", "created", name="mx1", ip=MX1, dc="dc1",
                 seconds=0.3),
              ev(3.9, "relay1", "relay", "rerouted", "<c-1-1@maillab>", old="mx:example.org",
                 new="10.0.2.11:25"),
              ev(4.0, "relay1", "relay", "delivered", "<c-1-1@maillab>")]
    packets = [arp_reply(0.5, MX1, "02:00:00:00:00:99"),
               synack(3.7, MX1, RELAY, 50010, MX1_MAC), arp_reply(3.8, MX1, MX1_MAC),
               rst(3.9, CLIENT, MX1, 40010, 25)]
    queue = [{"ts": T0 + 3.0, "entries": [{"msgid": "<c-1-1@maillab>",
                                           "next_hop": "mx:example.org"}]},
             {"ts": T0 + 3.95, "entries": [{"msgid": "<c-1-1@maillab>",
                                            "next_hop": "10.0.2.11:25"}]}]
    return write_run(directory, events, report={"ok": True, "timings": {"recreate": 0.3}},
                     queue=queue, pcaps={"wire-s1-eth2.pcap": packets})
