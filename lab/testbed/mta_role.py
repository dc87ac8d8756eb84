"""What a lab host asks of a real mail server (an MTA such as Postfix), whatever
the MTA: its role, its names and addresses, and the scenario's numbers.

A role is data; an MTA module (``lab.testbed.mta_postfix``) turns it into that
MTA's configuration and runs it in the host. A second MTA is another module
reading the same ``MtaRole``, not a copy of the first.

Real MTAs count their timers in whole seconds: ``Timing.whole_seconds`` rounds
the scenario's numbers up, and those rounded numbers are the ones the verdict
judges the run by (``lab.scenarios.model.with_relay_server``).

``SHORTEST_BACKOFF``: the shortest first retry an MTA keeps reliably. Postfix
takes a deferred file stamped up to a second ahead as due (qmgr_active_feed:
``st_mtime > time() + 1`` is skipped, nothing less), so with a 1 s backoff the
deferred-queue scan can pick a message up again in the very second its
delivery agent defers it, while the agent still holds the file's lock: qmgr
logs "skipped, still being delivered" and the file waits in the incoming queue
until new mail arrives, which at the end of a run never comes. A backoff of B
seconds is due B-2 to B s after the failure (lab.verdict.retries.RETRY_CLOCK);
three seconds keep a just-deferred file out of the scans of the next second too.
"""
import dataclasses
import math

RELAY, MX, SENDER = "relay", "mx", "sender"
ROLES = (RELAY, MX, SENDER)
SERVERS = ("maillab", "postfix")     # what may run a relay or sender host
SHORTEST_BACKOFF = {"postfix": 3}    # seconds (see above)


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds: the retry schedule (a failed message waits ``min_backoff`` at
    first, at most ``max_backoff``; the deferred queue is looked at every
    ``queue_run_delay``), the SMTP client's timeouts, and how long a message
    may stay queued (``give_up``; 0: the MTA's default)."""
    min_backoff: float = 1.0
    max_backoff: float = 1.0
    queue_run_delay: float = 1.0
    connect_timeout: float = 1.0
    command_timeout: float = 5.0
    give_up: float = 0.0

    def whole_seconds(self, shortest_backoff=1):
        """The same timing in whole seconds (at least 1), rounded up; the backoff
        at least ``shortest_backoff`` (an MTA's SHORTEST_BACKOFF)."""
        t = Timing(**{f.name: (0 if f.name == "give_up" and not getattr(self, f.name)
                               else max(1, math.ceil(getattr(self, f.name) - 1e-9)))
                      for f in dataclasses.fields(self)})
        low = max(t.min_backoff, shortest_backoff)
        return dataclasses.replace(t, min_backoff=low, max_backoff=max(t.max_backoff, low))


@dataclasses.dataclass(frozen=True)
class MtaRole:
    """One host's MTA: ``role`` (relay: a backup MX for ``domains``; mx: the
    final server, a Maildir per recipient under ``maildir``; sender: sends
    what it is given through the lab's MX records), its ``hostname`` and
    ``ip``, the lab DNS server it resolves with (``dns_ip``), and ``timing``;
    ``recipients``: the addresses an mx has a Maildir for."""
    role: str
    hostname: str
    ip: str
    dns_ip: str
    domains: tuple = ("example.org",)
    timing: Timing = Timing()
    maildir: str = ""
    recipients: tuple = ("user@example.org", "postmaster@example.org")

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError("role %r: one of %s" % (self.role, ", ".join(ROLES)))
        if self.role == MX and not self.maildir:
            raise ValueError("a messaging server (mx) needs a Maildir")
