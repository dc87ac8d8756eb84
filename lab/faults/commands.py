"""What a fault will do, written down before anything is done.

A ``Plan`` is plain data: the commands that apply the fault, the commands
that undo it, the interfaces worth capturing while it lasts, and what it
matched. Building one runs nothing (the fault modules' ``plan()`` functions
are pure and unit-tested without root); ``lab.faults.fault_process`` executes it.
"""
from dataclasses import dataclass, field

from lab.host import iproute

ROOT_NS = None          # "the namespace the fault process runs in"
RULE_TAG = "maillab-fault"


@dataclass
class Plan:
    fault: str                       # registry name: "cut", "loss", ...
    summary: str                     # one human line: what will happen
    apply: list = field(default_factory=list)    # argv lists, run in order at start
    undo: list = field(default_factory=list)     # argv lists, run at the end (see undo_for)
    capture: list = field(default_factory=list)  # [(ns_pid or None, interface)]
    matched: dict = field(default_factory=dict)  # what the fault targets, for the events
    lasting: bool = True             # False: applied once, nothing to hold or undo (restore, kill)

    def undo_for(self, applied):
        """The undo commands for the first ``applied`` apply commands. When
        apply and undo pair up (undo[i] undoes apply[i]), only those, last
        first; otherwise all of undo, in order."""
        if len(self.undo) != len(self.apply):
            return list(self.undo)
        return list(reversed(self.undo[:applied]))

    def describe(self):
        return {"summary": self.summary,
                "apply": [" ".join(c) for c in self.apply],
                "undo": [" ".join(c) for c in self.undo],
                "matched": self.matched}


def in_ns(ns_pid, argv):
    """``argv`` run in the network namespace of process ``ns_pid`` (None: here)."""
    if ns_pid in (None, "", "-"):
        return list(argv)
    return ["nsenter", "-t", str(int(ns_pid)), "-n", "--"] + list(argv)


def parse_intf(text):
    """``PID/INTF`` (an interface in the namespace of PID) or ``INTF`` (here)."""
    if "/" in text:
        pid, intf = text.split("/", 1)
        if not pid.isdigit() or not intf:
            raise ValueError("interface %r: expected PID/INTF or INTF" % text)
        return int(pid), intf
    if not text:
        raise ValueError("empty interface name")
    return None, text


def format_intf(ns_pid, intf):
    return intf if ns_pid is None else "%d/%s" % (ns_pid, intf)


def link_cmd(ns_pid, intf, state):
    return in_ns(ns_pid, ["ip", "link", "set", "dev", intf, state])


def rule_tag(fault_id):
    """The iptables comment that marks every rule a fault adds (and lets
    leftover checks find them)."""
    return "%s:%s" % (RULE_TAG, fault_id)


def iptables(action, chain, spec, ns_pid=None):
    """``iptables -w -I/-D CHAIN SPEC``; insert at the top so that no
    earlier ACCEPT lets matched packets escape."""
    head = ["iptables", "-w", action, chain]
    if action == "-I":
        head.append("1")
    return in_ns(ns_pid, head + list(spec))


def link_show_cmd(ns_pid, intf):
    return in_ns(ns_pid, iproute.ip_argv("link", "show", "dev", intf))


def link_state(ip_link_json):
    """'up', 'down' (administratively), 'no-carrier' or 'missing', from the
    output of ``link_show_cmd`` (not /sys: nsenter -n keeps the caller's /sys,
    which shows the wrong namespace)."""
    return iproute.link_state(iproute.parse(ip_link_json))
