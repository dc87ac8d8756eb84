"""Build and tear down a Mininet network the maillab way.

Linux bridges by default (no controller, no openvswitch kernel module
needed), or Open vSwitch bridges (``switch="ovs"``, see lab/host/ovs.py); the
machine's lab lock held for the network's whole life, every bridge recorded
so that ``maillab clean`` can remove it after a crash, and teardown that
runs on errors and signals too.
"""
import contextlib
import logging
import socket

from lab.host import interrupt
from lab.host import ovs
from lab.host import cleanup_records as state
from lab.host.clean import clean_unlocked, leftovers
from lab.host.lock import lab_lock

log = logging.getLogger(__name__)

SWITCH_KINDS = ("lxbr", "ovs")


def switch_class(kind="lxbr"):
    """The Mininet switch class for ``kind``: ``lxbr`` or ``ovs`` (the datapath
    this machine has: kernel where the module loads, userspace elsewhere)."""
    if kind == "lxbr":
        from mininet.nodelib import LinuxBridge
        return LinuxBridge
    if kind == "ovs":
        from functools import partial
        from mininet.node import OVSBridge
        return partial(OVSBridge, datapath=ovs.datapath())
    raise ValueError("unknown switch kind %r (%s)" % (kind, " or ".join(SWITCH_KINDS)))


def describe_switches(kind):
    """What the switches are, for a lab's start-up line."""
    return "Linux bridges" if kind == "lxbr" else ovs.describe()


def prepare_host(node, switch):
    """What a host needs on this kind of switch, for hosts added to a running net too."""
    if switch == "ovs" and ovs.datapath() == "user":
        ovs.software_checksums(node)


def named_in_hosts(hosts_text, name):
    """True if ``name`` is one of the names in an /etc/hosts text."""
    for line in hosts_text.splitlines():
        fields = line.split("#", 1)[0].split()
        if name in fields[1:]:
            return True
    return False


def warn_if_machine_name_needs_dns(hosts_file="/etc/hosts"):
    """A lab host cannot reach the machine's DNS server, so a process in one that
    looks up the machine's own name (Twisted's SMTP module does, at import) waits
    out the resolver's timeout, 5 s, unless /etc/hosts names it."""
    name = socket.gethostname()
    try:
        with open(hosts_file) as f:
            if named_in_hosts(f.read(), name):
                return False
    except OSError:
        pass
    log.warning("note: this machine's name %r is not in %s, so every server in the lab "
                "waits 5 s for a DNS server it cannot reach before it starts; add "
                "'127.0.1.1 %s' there (lab/provision.sh does, as Debian's installer does)",
                name, hosts_file, name)
    return True


def build_net(topo, switch="lxbr", **kwargs):
    from mininet.net import Mininet
    warn_if_machine_name_needs_dns()
    cls = switch_class(switch)
    if switch == "ovs":
        ovs.ensure_daemons()
    for name in topo.switches():    # recorded before they exist: building may fail half-way
        state.record("bridges", name)
    net = Mininet(topo=topo, switch=cls, controller=None,
                  autoSetMacs=kwargs.pop("autoSetMacs", True), **kwargs)
    for host in net.hosts:
        prepare_host(host, switch)
    return net


def build_cluster_net(topo, cluster, switch="lxbr"):
    """The network spread over ``cluster``'s servers (lab/host/cluster_net.py)."""
    if switch != "lxbr":
        raise ValueError("a lab over several servers has Linux bridges only (--switch lxbr)")
    from lab.host.cluster_net import LabCluster
    warn_if_machine_name_needs_dns()
    table = cluster.table(topo.plan)
    for name in topo.switches():
        if table[name].is_local:
            state.record("bridges", name)
    return LabCluster(topo, cluster.servers, cluster.access, table)


@contextlib.contextmanager
def running_net(topo, switch="lxbr", lock_timeout=600.0, cluster=None, **kwargs):
    """A started network; stopped, and the machine cleaned, however the block ends.
    ``cluster`` (lab.host.cluster_net.Cluster): spread over its servers, and they
    are cleaned too (this lab's things only)."""
    with lab_lock(timeout=lock_timeout):
        clean_unlocked()
        net = None
        try:
            net = build_net(topo, switch=switch, **kwargs) if cluster is None else \
                build_cluster_net(topo, cluster, switch)
            net.start()
            yield net
        finally:
            with interrupt.shielded():
                _stop(net)
                clean_unlocked()
                left = leftovers()
            if left:
                log.warning("left after teardown: %s; `maillab clean` removes them", left)
                interrupt.note("left behind: %s (run `maillab clean`)" % left)


def _stop(net):
    if net is None:
        return
    for node in net.values():
        if node.waiting and node.shell and node.shell.poll() is None:
            # stopped in the middle of a command (a signal): end it, as Mininet's CLI does
            node.sendInt()
            node.waitOutput()
    try:
        net.stop()
    except Exception as e:  # a half-built net: clean_unlocked removes the rest
        log.warning("net.stop failed (%s: %s); cleaning up", type(e).__name__, e)
        log.debug("net.stop", exc_info=True)
