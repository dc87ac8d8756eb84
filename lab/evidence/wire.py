"""Packets on the wire for the verdict: the run's captures (``lab.testbed.wire_capture``)
read back with scapy into ``lab.evidence.records.Frame`` records, one pcap reader for
the verdict and the workbook alike."""
import os

from lab.evidence.records import Frame


def read_frames(path, point):
    """The frames of one pcap as Frame records (ARP and TCP over IPv4 only), from
    an Ethernet or a Linux cooked capture (``-i any``: no destination MAC)."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import ARP, Ether
    from scapy.utils import PcapReader

    frames = []
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return frames
    with PcapReader(path) as reader:
        for pkt in reader:
            src_mac, dst_mac = _macs(pkt, Ether)
            ts = float(pkt.time)
            if ARP in pkt:
                a = pkt[ARP]
                frames.append(Frame(ts, point, src_mac or str(a.hwsrc).lower(), dst_mac, "arp",
                                    a.psrc, a.pdst, arp_op=int(a.op)))
            elif IP in pkt and TCP in pkt:
                ip, tcp = pkt[IP], pkt[TCP]
                frames.append(Frame(ts, point, src_mac, dst_mac, "tcp", ip.src, ip.dst,
                                    ttl=int(ip.ttl), sport=int(tcp.sport), dport=int(tcp.dport),
                                    flags=str(tcp.flags), seq=int(tcp.seq),
                                    payload=bytes(tcp.payload)))
    return frames


def _macs(pkt, ether):
    if ether in pkt:
        return pkt[ether].src.lower(), pkt[ether].dst.lower()
    src = getattr(pkt, "src", "")       # a cooked capture's link-layer source
    return (src.hex(":") if isinstance(src, bytes) else str(src or "")).lower(), ""


def read_all(paths):
    frames = []
    for point, path in paths.items():
        frames += read_frames(path, point)
    frames.sort(key=lambda f: f.ts)
    return frames
