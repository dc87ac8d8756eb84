"""Lab names to fault arguments: which process runs a fault, where, with what.

A fault module knows only namespaces (a PID), interfaces and addresses; the
lab speaks of hosts, links and services. This module, given a Mininet net,
turns ``cut mx1 s1`` into ``python -m lab.faults.cut --intf 4242/mx1-eth0
--intf s1-eth1`` run in the lab's own (root) namespace, ``blackhole mx1``
into ``python -m lab.faults.blackhole`` run in mx1, and so on. It needs the
net object only, never imports Mininet, and runs nothing.

On a lab spread over several servers (lab.host.cluster_net) a fault runs on
the server that holds its target: in the target host (its ``popen`` runs
there), or in that server's root namespace (``Launch.root_of``: a node on
that server), every PID as that server sees it. Only a link with ends on
two servers is handled from this machine (one end of every tunnel is here):
the far end is named ``PID@SERVER/INTF`` and reached through ssh
(``Launch.ssh``, lab.faults.commands.remote_argv).
"""
import argparse
import itertools
import os
from dataclasses import dataclass, field

from servers.common.endpoints import parse_host_port

_queues = itertools.count(10)   # NFQUEUE numbers: unique per lab process is unique per namespace


class TargetError(ValueError):
    """A fault named something the lab does not have."""


@dataclass
class Launch:
    node: object          # Mininet node to run the fault in; None: the lab's own namespace
    argv: list            # the module's own arguments
    label: str            # what the fault targets, for people
    extra: dict = field(default_factory=dict)
    root_of: object = None  # with node None: run in the root namespace of this node's
    #                         server (a lab over several servers); None: this machine's
    ssh: dict = field(default_factory=dict)  # {server: access} for ends on other servers

    @property
    def runner(self):
        """The node whose server runs the fault (None: this machine, the lab's namespace)."""
        return self.node if self.node is not None else self.root_of

    @property
    def remote(self):
        return server_of(self.runner) is not None


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise TargetError("%s: %s (usage: %s)" % (self.prog, message, self.format_usage().strip()))


def parser(name):
    return _Parser(prog="fault %s" % name, add_help=False)


def node(net, name):
    try:
        return net[name]
    except KeyError:
        raise TargetError("no node named %r in this lab" % name) from None


def ns_pid(n):
    """The PID to nsenter for node ``n`` from the lab's namespace (None: the lab's own)."""
    return n.pid if getattr(n, "inNamespace", False) else None


def server_of(n):
    """The server of a node on another server (lab.host.cluster_net); None: here."""
    if n is None or not getattr(n, "isRemote", False):
        return None
    return n.place


def ssh_access(n):
    """How a fault process here reaches node ``n``'s server (commands.SSH_ENV)."""
    return {"argv": ["ssh"] + n.access.options(n.place) + [n.place.destination],
            "sudo": n.place.user != "root"}


def intf_ref(n, intf, runner=None, at=None, ssh=None):
    """``[PID/]INTF`` as seen by a fault process running in ``runner`` (None: root)
    on server ``at`` (None: this machine); ``[PID]@SERVER/INTF`` for an interface
    on another server (its access added to ``ssh``)."""
    if runner is not None and n is runner:
        return intf
    where = server_of(n)
    if where != at:
        if at is not None or ssh is None:
            raise TargetError("%s is on %s, the fault runs on %s: only this machine reaches "
                              "the other servers" % (n.name, where or "this machine",
                                                     at or "this machine"))
        ssh[str(where)] = ssh_access(n)
        return "%s@%s/%s" % (ns_pid(n) or "", where, intf)
    pid = ns_pid(n)
    if pid is None and runner is not None:
        # the root namespace: the lab process's here, PID 1's on another server
        pid = os.getpid() if at is None else 1
    return intf if pid is None else "%d/%s" % (pid, intf)


def links_between(net, a, b):
    na, nb = node(net, a), node(net, b)
    links = net.linksBetween(na, nb)
    if not links:
        raise TargetError("no link between %s and %s" % (a, b))
    return links


def resolve_link(net, token):
    """A link from ``A:B``, ``A-B`` (node names) or an interface name (``mx1-eth0``)."""
    for sep in (":", "-"):
        if sep in token:
            parts = token.split(sep)
            for i in range(1, len(parts)):
                a, b = sep.join(parts[:i]), sep.join(parts[i:])
                if a in net.nameToNode and b in net.nameToNode:
                    return links_between(net, a, b)
    for link in net.links:
        if token in (link.intf1.name, link.intf2.name):
            return [link]
    raise TargetError("no link %r (name it A:B, A-B, or by an interface)" % token)


def link_ends(links, runner=None, at=None, ssh=None):
    refs = []
    for link in links:
        for intf in (link.intf1, link.intf2):
            refs.append(intf_ref(intf.node, intf.name, runner, at, ssh))
    return refs


def root_runner(nodes):
    """Where a root-namespace fault on ``nodes`` runs: (node of its server, server),
    or (None, None) for this machine (their servers differ, or they are all here)."""
    servers = {server_of(n) for n in nodes}
    if len(servers) == 1 and None not in servers:
        return nodes[0], servers.pop()
    return None, None


def namespaced_end(links):
    """The end of the link a namespace-local fault (NFQUEUE) can run at: a host
    or router in its own namespace, not a root-namespace switch port (on a
    link between two servers, the end on this machine)."""
    link = links[0]
    ends = ((link.intf1, link.intf2), (link.intf2, link.intf1))
    if server_of(link.intf1.node) != server_of(link.intf2.node):
        ends = sorted(ends, key=lambda e: server_of(e[0].node) is not None)
    for intf, other in ends:
        if getattr(intf.node, "inNamespace", False):
            return intf, other
    raise TargetError("link %s-%s joins two root-namespace switches; loss and delay need "
                      "a host or router end (its namespace holds the netfilter rules)"
                      % (link.intf1.node.name, link.intf2.node.name))


def _intf_args(refs):
    return [x for r in refs for x in ("--intf", r)]


# --- one launcher per fault: (net, tokens) -> Launch --------------------------

def launch_link_state(net, tokens, name):
    p = parser(name)
    p.add_argument("a")
    p.add_argument("b", nargs="?")
    a = p.parse_args(tokens)
    links = links_between(net, a.a, a.b) if a.b else resolve_link(net, a.a)
    label = "%s-%s" % (links[0].intf1.node.name, links[0].intf2.node.name)
    return _root_launch(links, ["--label", label], label)


def _root_launch(links, argv, label):
    """A fault on link ends, run in a root namespace: of their server when they are
    all on one other server, else this machine's (far ends through ssh)."""
    root_of, at = root_runner([i.node for l in links for i in (l.intf1, l.intf2)])
    ssh = {}
    refs = link_ends(links, at=at, ssh=ssh)
    return Launch(None, _intf_args(refs) + argv, label, root_of=root_of, ssh=ssh)


def launch_partition(net, tokens, name):
    p = parser(name)
    p.add_argument("links", nargs="+", help="A:B links to cut")
    p.add_argument("--label", default="")
    a = p.parse_args(tokens)
    links = [l for token in a.links for l in resolve_link(net, token)]
    label = a.label or ",".join(a.links)
    return _root_launch(links, ["--label", label], label)


def launch_blackhole(net, tokens, name):
    p = parser(name)
    p.add_argument("host")
    p.add_argument("--port", type=int, action="append", default=[])
    p.add_argument("--proto", choices=("tcp", "udp", "both"), default="tcp")
    a = p.parse_args(tokens)
    h = node(net, a.host)
    argv = [x for port in a.port for x in ("--port", str(port))]
    return Launch(h, argv + ["--proto", a.proto, "--label", a.host], a.host)


def default_dns_host(net):
    for h in net.hosts:
        if h.name.startswith("dns"):
            return h.name
    raise TargetError("no host named dns* in this lab; say which: dns-outage HOST")


def launch_dns_outage(net, tokens, name):
    p = parser(name)
    p.add_argument("host", nargs="?")
    p.add_argument("--port", type=int, default=53)
    a = p.parse_args(tokens)
    host = a.host or default_dns_host(net)
    return Launch(node(net, host), ["--port", str(a.port), "--label", host], host)


def launch_reset(net, tokens, name):
    p = parser(name)
    p.add_argument("target", metavar="HOST:PORT")
    p.add_argument("--after-bytes", type=int, default=0)
    p.add_argument("--max-resets", type=int, default=0)
    p.add_argument("--from", dest="client", default="", metavar="HOST")
    a = p.parse_args(tokens)
    try:
        host, port = parse_host_port(a.target)
    except ValueError:
        raise TargetError("reset: expected HOST:PORT, not %r" % a.target) from None
    h = node(net, host)
    ip, intf = h.IP(), h.defaultIntf()
    if not ip or intf is None:
        raise TargetError("reset: %s has no address" % host)
    argv = ["--server", "%s:%s" % (ip, port), "--iface", intf.name,
            "--after-bytes", str(a.after_bytes), "--max-resets", str(a.max_resets),
            "--queue", str(next(_queues)), "--label", a.target]
    if a.client:
        client_ip = node(net, a.client).IP()
        if not client_ip:
            raise TargetError("reset: %s has no address" % a.client)
        argv += ["--client", client_ip]
    return Launch(h, argv, a.target)


def launch_loss(net, tokens, name):
    p = parser(name)
    p.add_argument("link")
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--match", default="")
    p.add_argument("--direction", choices=("in", "out", "both"), default="both")
    a = p.parse_args(tokens)
    intf, _ = namespaced_end(resolve_link(net, a.link))
    argv = ["--intf", intf.name, "--rate", str(a.rate), "--seed", str(a.seed),
            "--direction", a.direction, "--queue", str(next(_queues)), "--label", a.link]
    if a.match:
        argv += ["--match", a.match]
    return Launch(intf.node, argv, a.link)


def launch_delay(net, tokens, name):
    p = parser(name)
    p.add_argument("link")
    p.add_argument("--ms", type=float, required=True)
    p.add_argument("--jitter", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--method", choices=("auto", "netem", "nfqueue"), default="auto")
    a = p.parse_args(tokens)
    intf, other = namespaced_end(resolve_link(net, a.link))
    ssh = {}
    peer = intf_ref(other.node, other.name, intf.node, server_of(intf.node), ssh)
    return Launch(intf.node, ["--intf", intf.name, "--peer", peer,
                              "--ms", str(a.ms), "--jitter", str(a.jitter), "--seed", str(a.seed),
                              "--method", a.method, "--queue", str(next(_queues)),
                              "--label", a.link], a.link, ssh=ssh)


def service_at(text):
    service, _, host = text.partition("@")
    if not service or not host:
        raise TargetError("expected SERVICE@HOST, not %r" % text)
    return service, host


def launch_process(net, tokens, name):
    p = parser(name)
    p.add_argument("target", metavar="SERVICE@HOST")
    if name == "kill":
        p.add_argument("--signal", default="TERM")
    a = p.parse_args(tokens)
    service, host = service_at(a.target)
    h = node(net, host)
    argv = ["--service", service, "--netns-pid", str(h.pid), "--label", a.target]
    if name == "kill":
        argv += ["--signal", a.signal]
    if name == "pause":   # watch the host's traffic while its server is frozen
        argv += [x for i in h.intfNames() if i != "lo"
                 for x in ("--capture", intf_ref(h, i, at=server_of(h)))]
    # the host's processes and PIDs are its server's: the fault runs there
    return Launch(None, argv, a.target, root_of=h if server_of(h) else None)


def launch_destroy(net, tokens, name):
    p = parser(name)
    p.add_argument("host")
    a = p.parse_args(tokens)
    h = node(net, a.host)
    intfs = [i for i in h.intfNames() if i != "lo"]
    return Launch(None, ["--netns-pid", str(h.pid)] + [x for i in intfs for x in ("--intf", i)]
                  + ["--label", a.host], a.host, root_of=h if server_of(h) else None)
