"""Dispatch of DNS messages (bytes in, bytes out) and the UDP and TCP protocols."""
import ipaddress
import logging
import struct
import time

from dnslib import OPCODE, RCODE
from twisted.internet import protocol
from twisted.protocols.policies import TimeoutMixin

from servers.dns import tsig, wire_format
from servers.dns.answer import answer, edns_refusal, fit, udp_limit
from servers.dns.replay import ReplayGuard
from servers.dns.update import Updater

log = logging.getLogger("maillab.dns.server")
TCP_MAX = 65535
TCP_IDLE_TIMEOUT = 10        # seconds without a whole message
TCP_SESSION_DEADLINE = 60    # a whole TCP session at most, however it drips
TCP_MAX_CONNECTIONS = 150    # as BIND's tcp-clients; the idlest is closed to make room
TCP_MAX_PER_CLIENT = 20


class DNSServer:
    """Everything between a request's bytes and the reply's bytes.

    ``zones``: list of Zone; ``keys``: {DNSLabel: TsigKey}; ``mx_filter``: see
    answer(); ``allow_axfr``: addresses/networks that may transfer zones;
    ``replay_state``: the file that keeps the last accepted time signed per
    key (default: beside the first zone file, see replay_state_path);
    ``min_mac_size``: the shortest TSIG MAC accepted (default: whole MACs only).
    """

    def __init__(self, zones, keys=None, mx_filter=None, allow_axfr=(), events=None,
                 now=time.time, replay_state=None, min_mac_size=tsig.MAC_SIZE):
        self.zones = zones
        self.keys = keys or {}
        self.mx_filter = mx_filter
        self.allow_axfr = [ipaddress.ip_network(a, strict=False) for a in allow_axfr]
        self.updater = Updater(zones, events)
        self.now = now
        self.min_mac_size = min_mac_size
        self.replay_guard = ReplayGuard(replay_state or replay_state_path(zones))
        self._replies = {}      # whole MAC of a signed UPDATE -> (time, reply): see _update

    def handle(self, packet, peer_ip, tcp=False):
        """The reply to ``packet`` (bytes), or None to send nothing. Never raises."""
        try:
            request = wire_format.parse(packet)
        except wire_format.MessageError as e:
            log.debug("malformed message from %s: %s", peer_ip, e)
            return wire_format.header_reply(packet, RCODE.FORMERR)
        if request.header.qr:
            return None     # a response: answering it could start a loop
        try:
            return self._reply(request, packet, peer_ip, tcp)
        except Exception:
            log.exception("failed to answer %r from %s", request.header, peer_ip)
            return wire_format.header_reply(packet, RCODE.SERVFAIL)

    def _reply(self, request, packet, peer_ip, tcp):
        now = self.now()
        key, tsig_record = None, None
        if request.tsig_offset is not None:
            try:
                key, tsig_record = tsig.verify(packet, request.tsig_offset, self.keys, now,
                                               min_mac_size=self.min_mac_size)
            except tsig.TsigError as e:
                log.info("TSIG %s from %s", tsig.ERROR_NAMES[e.error], peer_ip)
                reply = bytes(wire_format.reply_to(request, RCODE.NOTAUTH).pack())
                return tsig.error_reply(reply, e, now)
            except Exception as e:
                log.debug("unreadable TSIG from %s: %s", peer_ip, e)
                return wire_format.header_reply(packet, RCODE.FORMERR)
        identity = tsig.full_mac(packet, tsig_record, key) if key is not None else None
        reply = self._dispatch(request, peer_ip, tcp, key, tsig_record, identity, now)
        if isinstance(reply, bytes):
            return reply
        reply = fit(reply, TCP_MAX if tcp else udp_limit(request))
        wire = bytes(reply.pack())
        if key is not None:
            wire = tsig.sign(wire, key, now, tsig_record.mac)[0]
            if request.header.opcode == OPCODE.UPDATE and not getattr(reply, "unremembered", False):
                self._replies[identity] = (now, wire)
        return wire

    def _dispatch(self, request, peer_ip, tcp, key, tsig_record, identity, now):
        refusal = edns_refusal(request)
        if refusal is not None:
            return refusal
        opcode = request.header.opcode
        if opcode == OPCODE.QUERY:
            return answer(request, self.zones, self.mx_filter, self._may_transfer(peer_ip), tcp)
        if opcode == OPCODE.UPDATE:
            return self._update(request, key, tsig_record, identity, now)
        return wire_format.reply_to(request, RCODE.NOTIMP)

    def _update(self, request, key, tsig_record, identity, now):
        # A signed UPDATE seen again (a retransmission, or a replay) within the
        # TSIG time window gets the first reply again and is not applied twice.
        self._replies = {mac: (t, w) for mac, (t, w) in self._replies.items()
                         if now - t <= 2 * tsig.FUDGE}
        if identity in self._replies:
            log.info("repeated UPDATE: sending the first reply again")
            return self._replies[identity][1]
        # Otherwise a signed UPDATE must be newer than the last one accepted
        # for its key (queries change nothing, so replaying one gains nothing).
        try:
            fresh = key is None or self.replay_guard.accept(key.name, tsig_record.time_signed,
                                                            identity)
        except OSError as e:
            # Nothing was remembered: the client's resend is judged afresh.
            log.error("UPDATE refused (SERVFAIL): cannot write the TSIG replay state: %s", e)
            reply = wire_format.reply_to(request, RCODE.SERVFAIL)
            reply.unremembered = True
            return reply
        if not fresh:
            log.info("UPDATE signed at %d by %s: not later than the last accepted one",
                     tsig_record.time_signed, key.name)
            refused = bytes(wire_format.reply_to(request, RCODE.NOTAUTH).pack())
            return tsig.error_reply(refused, tsig.TsigError(tsig.BADTIME, tsig_record, key), now)
        return self.updater.handle(request, key.name if key else None)

    def _may_transfer(self, peer_ip):
        try:
            address = ipaddress.ip_address(peer_ip)
        except ValueError:
            return False
        return any(address in net for net in self.allow_axfr)


def replay_state_path(zones):
    """Where the replay state of a server for ``zones`` is kept: beside its first
    zone file, which UPDATEs write back too; None for zones held only in memory."""
    paths = [z.path for z in zones if z.path]
    return paths[0] + ".tsig-state" if paths else None


class DNSDatagramProtocol(protocol.DatagramProtocol):
    def __init__(self, server):
        self.server = server

    def datagramReceived(self, data, addr):
        reply = self.server.handle(data, addr[0], tcp=False)
        if reply is not None:
            self.transport.write(reply, addr)


class DNSStreamProtocol(protocol.Protocol, TimeoutMixin):
    """DNS over TCP: two-byte length prefix per message (RFC 1035 §4.2.2).

    The idle timer restarts on each whole message, not on each byte, and the
    session ends at its deadline whatever it sends (RFC 7766 §6.2.3: a server
    may close idle or abusive connections)."""

    def __init__(self, server, clock, idle_timeout=TCP_IDLE_TIMEOUT,
                 deadline=TCP_SESSION_DEADLINE, sessions=None):
        self.server = server
        self.clock = clock
        self.callLater = clock.callLater        # TimeoutMixin schedules with this
        self.idle_timeout = idle_timeout
        self.deadline = deadline
        self.sessions = sessions
        self.last_active = clock.seconds()
        self.busy = False                       # each message is answered at once
        self._deadline_call = None
        self._buffer = b""

    def connectionMade(self):
        self.setTimeout(self.idle_timeout)
        self._deadline_call = self.clock.callLater(self.deadline, self.transport.abortConnection)

    def dataReceived(self, data):
        self._buffer += data
        while len(self._buffer) >= 2:
            (length,) = struct.unpack("!H", self._buffer[:2])
            if len(self._buffer) < 2 + length:
                return
            packet, self._buffer = self._buffer[2:2 + length], self._buffer[2 + length:]
            self.resetTimeout()
            self.last_active = self.clock.seconds()
            reply = self.server.handle(packet, self.transport.getPeer().host, tcp=True)
            if reply is None:
                self.transport.loseConnection()
                return
            self.transport.write(struct.pack("!H", len(reply)) + reply)

    def connectionLost(self, reason):
        self.setTimeout(None)
        if self._deadline_call is not None and self._deadline_call.active():
            self._deadline_call.cancel()
        if self.sessions is not None:
            self.sessions.close(self)

    def timeoutConnection(self):
        self.transport.abortConnection()

    def evict(self):
        """Closed to make room for a new connection (SessionTable)."""
        self.transport.abortConnection()


class _Close(protocol.Protocol):
    """A connection over a limit: closed at once, as BIND does past tcp-clients."""

    def connectionMade(self):
        self.transport.abortConnection()


class DNSStreamFactory(protocol.Factory):
    """``sessions``: a SessionTable capping the TCP connections held (None: no cap)."""

    def __init__(self, server, clock=None, sessions=None, idle_timeout=TCP_IDLE_TIMEOUT,
                 deadline=TCP_SESSION_DEADLINE):
        if clock is None:
            from twisted.internet import reactor as clock
        self.server = server
        self.clock = clock
        self.sessions = sessions
        self.idle_timeout = idle_timeout
        self.deadline = deadline

    def buildProtocol(self, addr):
        p = DNSStreamProtocol(self.server, self.clock, self.idle_timeout, self.deadline,
                              self.sessions)
        if self.sessions is not None and self.sessions.open(p, addr.host) is not None:
            return _Close()
        return p
