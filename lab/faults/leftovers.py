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



def _out(argv, node=None):
    """``argv``'s output; with a ``node`` on another server (a lab over several),
    run in that node's namespace there (its own PIDs mean nothing here)."""
    if getattr(node, "isRemote", False):
        return node.cmd(" ".join(shlex.quote(str(w)) for w in argv))
    return subprocess.run(argv, capture_output=True, text=True).stdout


def _json(argv, node=None):
    """``iproute.run`` here; on another server, the node's own shell (not JSON: [])."""
    if not getattr(node, "isRemote", False):
        return iproute.run(argv)
    try:
        return iproute.parse(_out(argv, node), argv)
    except iproute.NotJSON:
        return []


def _ns(node):
    """(namespace PID, node to run through): a node here is entered by PID; one on
    another server runs the command itself."""
    if getattr(node, "isRemote", False):
        return None, node
    return (node.pid if getattr(node, "inNamespace", False) else None), None


def tagged_rules(ns_pid, node=None):
    return [l for l in _out(in_ns(ns_pid, ["iptables-save", "-t", "filter"]), node).splitlines()
            if RULE_TAG in l and l.startswith("-A ")]


def netem_qdiscs(ns_pid, node=None):
    """The netem qdiscs in a namespace, as "netem dev DEV"."""
    return ["netem dev %s" % q.get("dev") for q in _json(in_ns(
        ns_pid, iproute.tc_argv("qdisc", "show")), node) if q.get("kind") == "netem"]


def down_interfaces(node):
    pid, through = _ns(node)
    down = []
    for intf in node.intfNames():
        if intf == "lo":
            continue
        if link_state(_out(link_show_cmd(pid, intf), through)) == "down":
            down.append(intf)
    return down


def wrong_arp(net, node, known):
    wrong = []
    pid, through = _ns(node)
    seen = iproute.neighbours(_json(in_ns(pid, iproute.ip_argv("neigh", "show")), through))
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
    # this machine's hosts (another server's processes are not in this /proc)
    nets = {procs.netns_of(n.pid) for n in net.hosts
            if n.shell is not None and not getattr(n, "isRemote", False)}
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
        ns, through = _ns(n)
        if n.inNamespace:
            for kind, items in (("rules", tagged_rules(ns, through)),
                                ("arp", wrong_arp(net, n, known))):
                if items:
                    found.setdefault(kind, {})[n.name] = items
        items = netem_qdiscs(ns, through)
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
        ns, through = _ns(n)
        for rule in found.get("rules", {}).get(n.name if n.inNamespace else "root", []):
            _out(in_ns(ns, ["iptables", "-w", "-D"] + shlex.split(rule)[1:]), through)
        for q in found.get("qdiscs", {}).get(n.name, []):
            dev = q.split(" dev ")[1].split()[0]
            _out(in_ns(ns, ["tc", "qdisc", "del", "dev", dev, "root"]), through)
        for intf in found.get("down", {}).get(n.name, []):
            _out(in_ns(ns, ["ip", "link", "set", "dev", intf, "up"]), through)
        for entry in found.get("arp", {}).get(n.name, []):
            _out(in_ns(ns, ["ip", "neigh", "flush", "to", entry.split()[0]]), through)
    return found
