"""Reset live TCP sessions to HOST:PORT with correctly sequenced RSTs.

``python -m lab.faults.reset --server IP:PORT --iface INTF [--after-bytes N]
[--max-resets K] [--client IP] [--queue Q]``, run in the server's host (it
sees both directions of the sessions on its own interface).

How: iptables sends the TCP segments of the sessions to IP:PORT crossing
INTF, both directions, to an NFQUEUE bound by this process, which follows
each session's sequence numbers and gives every segment its verdict before
the server (or the client) sees it. The segment that carries a session's
client past N payload bytes (``--after-bytes 2000`` lands in the middle of an
SMTP DATA) is held back, never delivered, and two RSTs go out instead: one
to the client, from the server's address, with the sequence number the
client expects next, and one to the server, from the client's address, with
the sequence number of the held segment, the one the server expects next
(Linux accepts a RST only at exactly that number, RFC 5961). Every later
segment of a reset session is dropped, so neither stack answers a stray
segment with an RST of its own.

So the outcome depends on packets, not on timing: the server never receives
the bytes after the Nth, hence never the final dot, and never sends a 250
for a reset session, however fast the machine. ``--max-resets K`` resets the
first K sessions that cross N bytes (default: every one while the fault
lasts); ``--client IP`` only sessions from that client (a sender's, not the
relay's retries). Nothing to undo but the queue rules.
"""
import logging
import socket
import time

from lab.faults import fault_process
from lab.faults.commands import Plan, rule_tag
from lab.faults.nfq import QueueWorker, queue_specs
from lab.faults.commands import iptables
from servers.common.endpoints import parse_host_port

log = logging.getLogger(__name__)
SYN, RST, FIN = 0x02, 0x04, 0x01
DEFAULT_QUEUE = 9


def add_arguments(p):
    p.add_argument("--server", required=True, metavar="IP:PORT")
    p.add_argument("--iface", required=True, help="interface that carries the sessions")
    p.add_argument("--after-bytes", type=int, default=0,
                   help="reset once the client has sent more than N payload bytes (default 0)")
    p.add_argument("--max-resets", type=int, default=0,
                   help="reset at most K sessions (default: every session while the fault lasts)")
    p.add_argument("--client", default="", metavar="IP",
                   help="reset only sessions from this client address (default: any)")
    p.add_argument("--queue", type=int, default=DEFAULT_QUEUE,
                   help="NFQUEUE number (unique in the namespace)")
    p.add_argument("--label", default="", help="HOST:PORT, for the events")


def parse_server(text):
    try:
        ip, port = parse_host_port(text)
    except ValueError:
        raise ValueError("--server %r: expected IP:PORT" % text) from None
    _ipv4(ip, "--server %r" % text)
    return ip, port


def _ipv4(ip, where):
    try:
        socket.inet_aton(ip)
    except OSError:
        raise ValueError("%s: %r is not an IPv4 address" % (where, ip)) from None


def bpf_filter(ip, port):
    return "tcp and host %s and port %d" % (ip, port)


def queue_rules(iface, ip, port, tag, queue):
    """iptables -I / -D commands: the sessions' segments, both ways, to ``queue``."""
    specs = (queue_specs(iface, "in", ["-p", "tcp", "-d", ip, "--dport", str(port)], tag, queue)
             + queue_specs(iface, "out", ["-p", "tcp", "-s", ip, "--sport", str(port)], tag, queue))
    return ([iptables("-I", chain, spec) for chain, spec in specs],
            [iptables("-D", chain, spec) for chain, spec in specs])


def plan(server, iface, after_bytes=0, max_resets=0, label="", client="", fault_id="reset",
         queue=DEFAULT_QUEUE):
    ip, port = parse_server(server)
    if after_bytes < 0:
        raise ValueError("--after-bytes must be >= 0")
    if max_resets < 0:
        raise ValueError("--max-resets must be >= 0")
    if client:
        _ipv4(client, "--client")
    apply, undo = queue_rules(iface, ip, port, rule_tag(fault_id), queue)
    return Plan(fault="reset",
                summary="reset %s: RST %s sessions to %s:%d%s after %d client bytes (on %s)"
                        % (label or server, "the first %d" % max_resets if max_resets else "the",
                           ip, port, " from %s" % client if client else "", after_bytes, iface),
                apply=apply, undo=undo,
                capture=[(None, iface), (None, "lo")],   # the RST to the server goes in via lo
                matched={"server": "%s:%d" % (ip, port), "iface": iface,
                         "filter": bpf_filter(ip, port), "after_bytes": after_bytes,
                         "max_resets": max_resets, "client": client, "queue": queue})


def plan_from_args(args, fault_id):
    return plan(args.server, args.iface, args.after_bytes, args.max_resets, args.label,
                args.client, fault_id, args.queue)


class Session:
    def __init__(self):
        self.client_first = None  # sequence number of the client's first payload byte
        self.client_next = None   # next sequence number the server expects
        self.server_next = None   # next sequence number the client expects
        self.reset = False

    @property
    def client_bytes(self):
        """Payload bytes the server has been given (by sequence number, so a
        retransmission is not counted twice)."""
        if self.client_first is None or self.client_next is None:
            return 0
        return (self.client_next - self.client_first) & 0xFFFFFFFF


class SessionTracker:
    """Follows sessions to (ip, port) from the segments as they pass; says which
    to hold back and which RSTs to send instead. Pure: feed ``segment()``."""

    def __init__(self, ip, port, after_bytes=0, max_resets=0, client=""):
        self.ip, self.port = ip, port
        self.after_bytes = after_bytes
        self.max_resets = max_resets
        self.client = client
        self.sessions = {}
        self.resets = []
        self.dropped = 0

    @staticmethod
    def _advance(seq, flags, length):
        return (seq + length + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF

    @staticmethod
    def _later(a, b):
        """Sequence number ``a`` comes after ``b`` (serial arithmetic, RFC 1982)."""
        return 0 < ((a - b) & 0xFFFFFFFF) < 0x80000000

    def segment(self, src, sport, dst, dport, seq, flags, length):
        """One segment about to pass: (deliver?, [RSTs to send, as dicts])."""
        if flags & RST:
            return True, []
        if dst == self.ip and dport == self.port:
            key, from_client = (src, sport), True
        elif src == self.ip and sport == self.port:
            key, from_client = (dst, dport), False
        else:
            return True, []
        if self.client and key[0] != self.client:
            return True, []
        s = self.sessions.setdefault(key, Session())
        if s.reset:
            self.dropped += 1
            return False, []
        nxt = self._advance(seq, flags, length)
        if not from_client:
            if s.server_next is None or self._later(nxt, s.server_next):
                s.server_next = nxt
            return True, []
        if s.client_first is None:
            s.client_first = nxt if flags & SYN else seq
        end_bytes = (seq + length - s.client_first) & 0xFFFFFFFF
        if length and end_bytes > self.after_bytes and s.server_next is not None \
                and (not self.max_resets or len(self.resets) < self.max_resets):
            self.dropped += 1
            return False, self._reset(key, s, seq if s.client_next is None else s.client_next,
                                      end_bytes)
        if s.client_next is None or self._later(nxt, s.client_next):
            s.client_next = nxt
        return True, []

    def _reset(self, key, s, held_seq, client_bytes):
        s.reset = True
        client, cport = key
        to_client = {"to": "client", "src": self.ip, "sport": self.port, "dst": client,
                     "dport": cport, "seq": s.server_next}
        to_server = {"to": "server", "src": client, "sport": cport, "dst": self.ip,
                     "dport": self.port, "seq": held_seq}
        self.resets.append({"client": "%s:%d" % key, "client_bytes": client_bytes,
                            "bytes_delivered": s.client_bytes,
                            "rst_to_client_seq": s.server_next, "rst_to_server_seq": held_seq})
        return [to_client, to_server]


class ResetWorker(QueueWorker):
    """Gives each queued segment its verdict and sends the RSTs the tracker asks for."""

    def __init__(self, server, queue, after_bytes, max_resets, client="", now=None):
        super().__init__(queue)
        ip, port = parse_server(server)
        self.tracker = SessionTracker(ip, port, after_bytes, max_resets, client)
        self.errors = []
        self.segments = 0
        self.raw = None
        self.now = now or time.time

    def open(self):
        import scapy.layers.inet  # noqa: F401  now, not on the first segment: it takes a second
        self.raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        super().open()

    def on_packet(self, pkt):
        from scapy.layers.inet import IP, TCP   # imported here: in the host's namespace
        ip = IP(pkt.get_payload())
        if TCP not in ip:
            pkt.accept()
            return
        tcp = ip[TCP]
        length = ip.len - ip.ihl * 4 - tcp.dataofs * 4
        self.segments += 1
        n = len(self.tracker.resets)
        deliver, rsts = self.tracker.segment(ip.src, tcp.sport, ip.dst, tcp.dport, tcp.seq,
                                             int(tcp.flags), length)
        if deliver:
            pkt.accept()
        else:
            pkt.drop()
        if len(self.tracker.resets) > n:
            self.tracker.resets[-1]["ts"] = round(self.now(), 6)
        for rst in rsts:
            try:
                self._inject(rst)
            except Exception as e:
                log.exception("injecting %s", rst)
                self.errors.append(str(e))

    def _inject(self, rst):
        """Through the local stack: to the server it is routed in via lo, to the
        client out of the interface (the queue rules let an RST through)."""
        from scapy.layers.inet import IP, TCP
        segment = IP(src=rst["src"], dst=rst["dst"]) / TCP(
            sport=rst["sport"], dport=rst["dport"], seq=rst["seq"], flags="R", window=0)
        self.raw.sendto(bytes(segment), (rst["dst"], 0))

    def close(self):
        super().close()
        if self.raw is not None:
            self.raw.close()
            self.raw = None

    def evidence(self):
        t = self.tracker
        return {"segments_seen": self.segments, "sessions_seen": len(t.sessions),
                "segments_held": t.dropped, "rsts_injected": 2 * len(t.resets),
                "resets": t.resets, "inject_errors": self.errors}


def worker(args, plan):
    return ResetWorker(args.server, args.queue, args.after_bytes, args.max_resets, args.client)


main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
