"""The files of one run's report directory, read once into a ``RunFiles``
record that the answer functions compute from (they read nothing else).

A report directory (``maillab run ... --report DIR``) holds ``report.json``,
``events.jsonl`` (every server's events), ``ledger.jsonl`` (every 250 a
sender got), ``queue.jsonl`` (the relay's queue files as read from disk
during the run, where the run watched them) and ``pcaps/*.pcap``.
"""
import dataclasses
import glob
import json
import os

from servers.common.events import read_events


@dataclasses.dataclass
class Packet:
    """One captured frame, as much of it as the questions need."""
    ts: float
    pcap: str            # file name, e.g. blackhole-1-any.pcap
    kind: str            # "arp" or "tcp"
    src_mac: str
    src: str             # IPv4 addresses (ARP: sender and target protocol address)
    dst: str
    sport: int = 0
    dport: int = 0
    flags: str = ""      # TCP flags as scapy writes them: "S", "SA", "R", "PA" ...
    arp_op: int = 0      # 1 request, 2 reply


@dataclasses.dataclass
class RunFiles:
    directory: str
    report: dict
    events: list
    ledger: list
    queue: list              # [{ts, entries: [{msgid, next_hop}]}]
    packets: list            # [Packet], in time order


class NotARun(ValueError):
    pass


def _jsonl(path):
    return read_events(path) if os.path.exists(path) else []


def read_pcap(path):
    """ARP and TCP/IPv4 frames of one pcap (Ethernet or Linux cooked capture)."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import ARP
    from scapy.utils import PcapReader

    packets = []
    if os.path.getsize(path) == 0:
        return packets
    name = os.path.basename(path)
    with PcapReader(path) as reader:
        for pkt in reader:
            ts = float(pkt.time)
            if ARP in pkt:
                a = pkt[ARP]
                packets.append(Packet(ts, name, "arp", str(a.hwsrc).lower(), a.psrc, a.pdst,
                                      arp_op=int(a.op)))
            elif IP in pkt and TCP in pkt:
                link_src = getattr(pkt, "src", "")
                mac = link_src.hex(":") if isinstance(link_src, bytes) else str(link_src)
                packets.append(Packet(ts, name, "tcp", mac.lower(), pkt[IP].src, pkt[IP].dst,
                                      int(pkt[TCP].sport), int(pkt[TCP].dport),
                                      str(pkt[TCP].flags)))
    return packets


def load(directory):
    """Everything of the run in ``directory``; ``NotARun`` if it holds no report.json."""
    try:
        with open(os.path.join(directory, "report.json"), encoding="utf-8") as f:
            report = json.load(f)
    except FileNotFoundError:
        raise NotARun("%s: no report.json (run an exercise first: maillab exercise N)"
                      % directory) from None
    packets = []
    for path in sorted(glob.glob(os.path.join(directory, "pcaps", "*.pcap"))):
        packets += read_pcap(path)
    packets.sort(key=lambda p: p.ts)
    events = sorted(_jsonl(os.path.join(directory, "events.jsonl")), key=lambda e: e.get("ts", 0))
    return RunFiles(directory, report, events,
                    _jsonl(os.path.join(directory, "ledger.jsonl")),
                    _jsonl(os.path.join(directory, "queue.jsonl")), packets)
