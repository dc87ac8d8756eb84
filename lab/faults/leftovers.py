"""What faults could leave behind in a lab, found and removed.

A fault undoes itself; this is the check that it did (tests assert it is
empty) and the broom of ``fault clear`` for a fault process that was
killed before it could undo: netfilter rules tagged ``maillab-fault``,
netem qdiscs, interfaces left down, ARP entries that point an address at
the wrong MAC, stopped (SIGSTOP) processes, and fault processes.
"""
import os
import shlex
import subprocess

from lab.host import iproute
from lab.faults import procs
from lab.faults.commands import RULE_TAG, in_ns, link_show_cmd, link_state



def _out(argv):
    return subprocess.run(argv, capture_output=True, text=True).stdout


def tagged_rules(ns_pid):
    return [l for l in _out(in_ns(ns_pid, ["iptables-save", "-t", "filter"])).splitlines()
            if RULE_TAG in l and l.startswith("-A ")]


def netem_qdiscs(ns_pid):
    """The netem qdiscs in a namespace, as "netem dev DEV"."""
    return ["netem dev %s" % q.get("dev") for q in iproute.run(in_ns(ns_pid, iproute.tc_argv(
        "qdisc", "show"))) if q.get("kind") == "netem"]


def down_interfaces(node):
    pid = node.pid if getattr(node, "inNamespace", False) else None
    down = []
    for intf in node.intfNames():
        if intf == "lo":
            continue
        if link_state(_out(link_show_cmd(pid, intf))) == "down":
            down.append(intf)
    return down


def wrong_arp(net, node, known):
    wrong = []
    seen = iproute.neighbours(iproute.run(in_ns(node.pid, iproute.ip_argv("neigh", "show"))))
    for ip, mac in sorted(seen.items()):
        if ip in known and known[ip] != mac:
            wrong.append("%s at %s (is %s)" % (ip, mac, known[ip]))
    return wrong


def fault_processes():
    """Fault processes this lab process started that are still alive."""
    me = os.getpid()
    return [pid for pid, _, argv in procs.snapshot()
            if procs.parent_of(pid) == me and not procs.is_gone(pid)
            and "-m" in argv and any(a.startswith("lab.faults.") for a in argv)]


def stopped_processes(net):
    nets = {procs.netns_of(n.pid) for n in net.hosts if n.shell is not None}
    return [pid for pid, ns, _ in procs.snapshot() if ns in nets and procs.state_of(pid) == "T"]


def fault_leftovers(net):
    """{kind: [what]} for everything a fault left in ``net``; empty when clean."""
    found = {}
    known = {}
    for h in net.hosts:
        for intf in h.intfList():
            if intf.IP() and intf.MAC():
                known[intf.IP()] = intf.MAC()
    for n in net.values():
        if getattr(n, "shell", None) is None:
            continue
        ns = n.pid if n.inNamespace else None
        if n.inNamespace:
            for kind, items in (("rules", tagged_rules(ns)), ("arp", wrong_arp(net, n, known))):
                if items:
                    found.setdefault(kind, {})[n.name] = items
        items = netem_qdiscs(ns)
        if items:
            found.setdefault("qdiscs", {})[n.name] = items
        items = down_interfaces(n)
        if items:
            found.setdefault("down", {})[n.name] = items
    root_rules = tagged_rules(None)
    if root_rules:
        found.setdefault("rules", {})["root"] = root_rules
    for kind, items in (("processes", fault_processes()), ("stopped", stopped_processes(net))):
        if items:
            found[kind] = items
    return found


def clear_leftovers(net):
    """Remove what ``fault_leftovers`` finds; returns what it found."""
    found = fault_leftovers(net)
    for pid in found.get("processes", []):
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
    for pid in found.get("stopped", []):
        try:
            os.kill(pid, 18)   # SIGCONT
        except ProcessLookupError:
            pass
    for n in net.values():
        if getattr(n, "shell", None) is None:
            continue
        ns = n.pid if n.inNamespace else None
        for rule in found.get("rules", {}).get(n.name if n.inNamespace else "root", []):
            subprocess.run(in_ns(ns, ["iptables", "-w", "-D"] + shlex.split(rule)[1:]), capture_output=True)
        for q in found.get("qdiscs", {}).get(n.name, []):
            dev = q.split(" dev ")[1].split()[0]
            subprocess.run(in_ns(ns, ["tc", "qdisc", "del", "dev", dev, "root"]), capture_output=True)
        for intf in found.get("down", {}).get(n.name, []):
            subprocess.run(in_ns(ns, ["ip", "link", "set", "dev", intf, "up"]), capture_output=True)
        for entry in found.get("arp", {}).get(n.name, []):
            subprocess.run(in_ns(ns, ["ip", "neigh", "flush", "to", entry.split()[0]]),
                           capture_output=True)
    return found
