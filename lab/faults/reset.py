"""Reset live TCP sessions to HOST:PORT with correctly sequenced RSTs.

``python -m lab.faults.reset --server IP:PORT --iface INTF [--after-bytes N]
[--max-resets K]``, run in a host that sees the traffic (the server's host:
it sees both directions on its own interface).

While the fault lasts, scapy sniffs the sessions to IP:PORT and follows
each one's sequence numbers. Once a client has sent more than N payload
bytes in a session (``--after-bytes 200`` lands in the middle of an SMTP
DATA), it injects two RSTs: one to the client, from the server's address,
with the sequence number the client expects next (out of the interface, to
the client's MAC), and one to the server, from the client's address, with
the sequence number the server expects next (through the local stack).
Linux accepts a RST only at exactly the expected sequence number (RFC 5961),
so both sides see the connection reset, as on a real middlebox reset.
Nothing to undo: the sniffer stops with the fault.
"""
import logging
import socket
import threading
import time

from lab.faults import fault_process
from lab.faults.commands import Plan
from servers.common.endpoints import parse_host_port

log = logging.getLogger(__name__)
SYN, RST, FIN = 0x02, 0x04, 0x01


def add_arguments(p):
    p.add_argument("--server", required=True, metavar="IP:PORT")
    p.add_argument("--iface", required=True, help="interface that carries the sessions")
    p.add_argument("--after-bytes", type=int, default=0,
                   help="reset once the client has sent more than N payload bytes (default 0)")
    p.add_argument("--max-resets", type=int, default=0,
                   help="reset at most K sessions (default: every session while the fault lasts)")
    p.add_argument("--label", default="", help="HOST:PORT, for the events")


def parse_server(text):
    try:
        ip, port = parse_host_port(text)
    except ValueError:
        raise ValueError("--server %r: expected IP:PORT" % text) from None
    try:
        socket.inet_aton(ip)
    except OSError:
        raise ValueError("--server %r: %r is not an IPv4 address" % (text, ip)) from None
    return ip, port


def bpf_filter(ip, port):
    return "tcp and host %s and port %d" % (ip, port)


def plan(server, iface, after_bytes=0, max_resets=0, label=""):
    ip, port = parse_server(server)
    if after_bytes < 0:
        raise ValueError("--after-bytes must be >= 0")
    return Plan(fault="reset",
                summary="reset %s: RST sessions to %s:%d after %d client bytes (sniffing %s)"
                        % (label or server, ip, port, after_bytes, iface),
                capture=[(None, iface), (None, "lo")],   # the RST to the server goes in via lo
                matched={"server": "%s:%d" % (ip, port), "iface": iface, "filter": bpf_filter(ip, port),
                         "after_bytes": after_bytes, "max_resets": max_resets})


def plan_from_args(args, fault_id):
    return plan(args.server, args.iface, args.after_bytes, args.max_resets, args.label)


class Session:
    def __init__(self):
        self.client_next = None   # next sequence number the client will send
        self.server_next = None
        self.client_bytes = 0
        self.macs = None          # (client MAC, server MAC)
        self.reset = False


class SessionTracker:
    """Follows sessions to (ip, port) from the segments seen; says when and
    how to reset one. Pure: feed ``segment()`` and read the RSTs it returns."""

    def __init__(self, ip, port, after_bytes=0, max_resets=0, now=time.time):
        self.ip, self.port = ip, port
        self.after_bytes = after_bytes
        self.max_resets = max_resets
        self.now = now
        self.sessions = {}
        self.resets = []

    @staticmethod
    def _advance(seq, flags, length):
        return (seq + length + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF

    def segment(self, src, sport, dst, dport, seq, flags, length, src_mac=None, dst_mac=None):
        """One segment seen; returns [] or the two RSTs to inject, as dicts."""
        if flags & RST:
            return []
        if dst == self.ip and dport == self.port:
            key, from_client = (src, sport), True
        elif src == self.ip and sport == self.port:
            key, from_client = (dst, dport), False
        else:
            return []
        s = self.sessions.setdefault(key, Session())
        if s.reset:
            return []
        nxt = self._advance(seq, flags, length)
        if from_client:
            s.client_next = nxt
            s.client_bytes += length
            if src_mac:
                s.macs = (src_mac, dst_mac)
        else:
            s.server_next = nxt
            if src_mac:
                s.macs = (dst_mac, src_mac)
        if s.client_bytes > self.after_bytes \
                and s.client_next is not None and s.server_next is not None \
                and (not self.max_resets or len(self.resets) < self.max_resets):
            return self._reset(key, s)
        return []

    def _reset(self, key, s):
        s.reset = True
        client, cport = key
        to_client = {"to": "client", "src": self.ip, "sport": self.port, "dst": client,
                     "dport": cport, "seq": s.server_next,
                     "src_mac": s.macs[1] if s.macs else None,
                     "dst_mac": s.macs[0] if s.macs else None}
        to_server = {"to": "server", "src": client, "sport": cport, "dst": self.ip,
                     "dport": self.port, "seq": s.client_next}
        self.resets.append({"ts": round(self.now(), 6), "client": "%s:%d" % key,
                            "client_bytes": s.client_bytes,
                            "rst_to_client_seq": s.server_next, "rst_to_server_seq": s.client_next})
        return [to_client, to_server]


class ResetWorker:
    """Sniffs with scapy in a thread and injects the RSTs the tracker asks for."""

    def __init__(self, server, iface, after_bytes, max_resets):
        ip, port = parse_server(server)
        self.iface = iface
        self.tracker = SessionTracker(ip, port, after_bytes, max_resets)
        self.filter = bpf_filter(ip, port)
        self.lock = threading.Lock()
        self.errors = []
        self.segments = 0

    def open(self):
        from scapy.all import AsyncSniffer   # imported here: in the host's namespace
        ready = threading.Event()
        self.sniffer = AsyncSniffer(iface=self.iface, filter=self.filter, prn=self._seen,
                                    store=False, started_callback=ready.set)
        self.sniffer.start()
        if not ready.wait(10):
            raise RuntimeError("sniffer on %s did not start" % self.iface)
        self.raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)

    def _seen(self, pkt):
        from scapy.layers.inet import IP, TCP
        if IP not in pkt or TCP not in pkt:
            return
        ip, tcp = pkt[IP], pkt[TCP]
        length = ip.len - ip.ihl * 4 - tcp.dataofs * 4
        with self.lock:
            self.segments += 1
            rsts = self.tracker.segment(ip.src, tcp.sport, ip.dst, tcp.dport, tcp.seq,
                                        int(tcp.flags), length,
                                        getattr(pkt, "src", None), getattr(pkt, "dst", None))
        for rst in rsts:
            try:
                self._inject(rst)
            except Exception as e:
                log.exception("injecting %s", rst)
                self.errors.append(str(e))

    def _inject(self, rst):
        from scapy.all import Ether, IP, TCP, sendp
        segment = IP(src=rst["src"], dst=rst["dst"]) / TCP(
            sport=rst["sport"], dport=rst["dport"], seq=rst["seq"], flags="R", window=0)
        if rst["to"] == "client":
            sendp(Ether(src=rst["src_mac"], dst=rst["dst_mac"]) / segment, iface=self.iface,
                  verbose=False)
        else:   # to our own stack: a raw IP socket routes it in through loopback
            self.raw.sendto(bytes(segment), (rst["dst"], 0))

    def poll(self, timeout):
        time.sleep(timeout)

    def close(self):
        if self.sniffer.running:
            self.sniffer.stop()
        self.raw.close()

    def evidence(self):
        with self.lock:
            return {"segments_seen": self.segments, "sessions_seen": len(self.tracker.sessions),
                    "rsts_injected": 2 * len(self.tracker.resets), "resets": self.tracker.resets,
                    "inject_errors": self.errors}


def worker(args, plan):
    return ResetWorker(args.server, args.iface, args.after_bytes, args.max_resets)


main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
