"""What a lab host asks of a real mail server (an MTA such as Postfix), whatever
the MTA: its role, its names and addresses, and the scenario's numbers.

A role is data; an MTA module (``lab.testbed.mta_postfix``) turns it into that
MTA's configuration and runs it in the host. A second MTA is another module
reading the same ``MtaRole``, not a copy of the first.

Real MTAs count their timers in whole seconds: ``Timing.whole_seconds`` rounds
the scenario's numbers up, and those rounded numbers are the ones the verdict
judges the run by (``lab.scenarios.model.as_configured``).
"""
import dataclasses
import math

RELAY, MX, SENDER = "relay", "mx", "sender"
ROLES = (RELAY, MX, SENDER)
SERVERS = ("maillab", "postfix")     # what may run a relay or sender host


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

    def whole_seconds(self):
        """The same timing in whole seconds (at least 1), rounded up."""
        return Timing(**{f.name: (0 if f.name == "give_up" and not getattr(self, f.name)
                                  else max(1, math.ceil(getattr(self, f.name) - 1e-9)))
                         for f in dataclasses.fields(self)})


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
