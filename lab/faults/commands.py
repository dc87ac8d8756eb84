"""What a fault will do, written down before anything is done.

A ``Plan`` is plain data: the commands that apply the fault, the commands
that undo it, the interfaces worth capturing while it lasts, and what it
matched. Building one runs nothing (the fault modules' ``plan()`` functions
are pure and unit-tested without root); ``lab.faults.fault_process`` executes it.
"""
import json
import os
import shlex
from dataclasses import dataclass, field

from lab.host import iproute

ROOT_NS = None          # "the namespace the fault process runs in"
RULE_TAG = "maillab-fault"
# {server: {"argv": ssh's argv up to the destination, "sudo": bool}}: how a fault
# process reaches a namespace on another server of a lab spread over several
# (lab.faults.targets writes it; a fault on one server never needs it)
SSH_ENV = "MAILLAB_FAULT_SSH"


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


def is_remote(ns):
    """``ns`` names a namespace on another server: ``PID@SERVER`` (PID as that
    server sees it) or ``@SERVER`` (that server's root namespace)."""
    return isinstance(ns, str) and "@" in ns


def split_remote(ns):
    """``PID@SERVER`` -> ("PID" or "", "SERVER")."""
    pid, _, server = ns.partition("@")
    return pid, server


def remote_argv(server, argv, ssh=None):
    """``argv`` run on ``server`` through ssh, every word quoted for its shell;
    ``ssh`` is the {server: access} table (default: the fault's environment)."""
    if ssh is None:
        ssh = json.loads(os.environ.get(SSH_ENV) or "{}")
    try:
        access = ssh[server]
    except KeyError:
        raise ValueError("no ssh access to server %s (%s)" % (server, SSH_ENV)) from None
    words = (["sudo", "-n"] if access.get("sudo") else []) + [str(w) for w in argv]
    return list(access["argv"]) + [" ".join(shlex.quote(w) for w in words)]


def in_ns(ns_pid, argv, ssh=None):
    """``argv`` run in the network namespace of process ``ns_pid`` (None: here;
    ``PID@SERVER``: in that namespace on another server, through ssh)."""
    if ns_pid in (None, "", "-"):
        return list(argv)
    if is_remote(ns_pid):
        pid, server = split_remote(ns_pid)
        return remote_argv(server, in_ns(pid or None, argv), ssh)
    return ["nsenter", "-t", str(int(ns_pid)), "-n", "--"] + list(argv)


def parse_intf(text):
    """``PID/INTF`` (an interface in the namespace of PID), ``INTF`` (here), or
    ``[PID]@SERVER/INTF`` (on another server of the lab)."""
    if "/" in text:
        ns, intf = text.split("/", 1)
        pid = split_remote(ns)[0] if is_remote(ns) else ns
        if (pid and not pid.isdigit()) or (not pid and not is_remote(ns)) or not intf \
                or (is_remote(ns) and not split_remote(ns)[1]):
            raise ValueError("interface %r: expected PID/INTF, [PID]@SERVER/INTF or INTF"
                             % text)
        return (ns if is_remote(ns) else int(ns)), intf
    if not text:
        raise ValueError("empty interface name")
    return None, text


def format_intf(ns_pid, intf):
    return intf if ns_pid is None else "%s/%s" % (ns_pid, intf)


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
