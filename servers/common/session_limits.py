"""Caps on the sessions a TCP server holds: in total and per client address.

A new session over the per-client cap is refused, or, with
``per_client_room``, takes the place of that client's own idlest session
(DNS over TCP: a client's queries after a burst of its own connections the
server has not yet seen close must still get in). At the total cap, room is
made by closing the session that has been idle longest (no complete command
or message for the longest time), as a busy server sheds idle clients
first; only when every session is busy (a message being stored) is the new
one refused. So thousands of idle or byte-dripping connections cannot lock
out a real client: each new connection pushes out the idlest one, and a
real client, which sends a command as soon as it has its answer, is never
the idlest. (A threshold such as "idle for a second" would not do: a burst
of new connections makes every session younger than that.) Refusals are
logged once per burst (one line per condition per interval, with a count).

A session is any object with ``last_active`` (the clock's seconds at its
last complete command or message), ``busy`` (True while its work is under
way, e.g. a message being stored: never closed then) and ``evict()``.
"""
import collections
import logging

from servers.common.ratelimited_log import RateLimitedLog

log = logging.getLogger(__name__)

PER_CLIENT, TOTAL = "per-client", "total"
EVICT_IDLE = 0.0     # seconds without a complete command before a session may be pushed out


class SessionTable:
    def __init__(self, max_total, max_per_client, clock, name, evict_idle=EVICT_IDLE,
                 logger=log, per_client_room=False):
        if max_total < 1 or max_per_client < 1:
            raise ValueError("connection limits must be at least 1")
        self.max_total = max_total
        self.max_per_client = max_per_client
        self.clock = clock
        self.name = name
        self.evict_idle = evict_idle
        self.per_client_room = per_client_room
        self.sessions = {}                          # session -> client address
        self.per_client = collections.Counter()
        self.refused = collections.Counter()        # condition -> refusals so far
        self.evicted = 0
        self.log = RateLimitedLog(logger, clock)

    def __len__(self):
        return len(self.sessions)

    def open(self, session, client):
        """None if ``session`` from ``client`` may start (it is then counted), else why
        not (PER_CLIENT or TOTAL)."""
        if self.per_client[client] >= self.max_per_client and not (
                self.per_client_room and self._make_room(client)):
            return self._refuse(PER_CLIENT, client)
        if len(self.sessions) >= self.max_total and not self._make_room():
            return self._refuse(TOTAL, client)
        self.sessions[session] = client
        self.per_client[client] += 1
        return None

    def close(self, session):
        """``session`` ended (safe to call twice)."""
        client = self.sessions.pop(session, None)
        if client is not None:
            self.per_client[client] -= 1
            if not self.per_client[client]:
                del self.per_client[client]

    def _make_room(self, client=None):
        """Close the idlest session (of ``client``, if given); False if none may go."""
        now = self.clock.seconds()
        victim = None
        for s, owner in self.sessions.items():  # oldest first: of equally idle ones, it goes
            if client is not None and owner != client:
                continue
            if not s.busy and now - s.last_active >= self.evict_idle and (
                    victim is None or s.last_active < victim.last_active):
                victim = s
        if victim is None:
            return False
        self.close(victim)
        self.evicted += 1
        if client is None:
            self.log.report("evicted", logging.WARNING,
                            "%s: %d sessions open (the limit): closing the idlest to make room",
                            self.name, self.max_total)
        else:
            self.log.report("evicted-per-client", logging.WARNING,
                            "%s: %d sessions open from %s (the per-client limit): closing its "
                            "idlest to make room", self.name, self.max_per_client, client)
        victim.evict()
        return True

    def _refuse(self, condition, client):
        self.refused[condition] += 1
        if condition == PER_CLIENT:
            self.log.report(condition, logging.WARNING,
                            "%s: refusing connections from %s: %d open (the per-client limit)",
                            self.name, client, self.max_per_client)
        else:
            self.log.report(condition, logging.WARNING,
                            "%s: refusing connections: %d sessions open and all active "
                            "(the limit)", self.name, self.max_total)
        return condition
