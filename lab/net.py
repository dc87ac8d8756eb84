"""Build and tear down a Mininet network the maillab way.

Linux bridges by default (no controller, no openvswitch kernel module
needed), the machine's lab lock held for the network's whole life, every
bridge recorded so that ``maillab clean`` can remove it after a crash, and
teardown that runs on errors and Ctrl-C too.
"""
import contextlib
import logging

from lab import state
from lab.clean import clean_unlocked, leftovers
from lab.lock import lab_lock

log = logging.getLogger(__name__)


def switch_class(kind="lxbr"):
    """The Mininet switch class for ``kind``: ``lxbr`` or ``ovs`` (userspace)."""
    if kind == "lxbr":
        from mininet.nodelib import LinuxBridge
        return LinuxBridge
    if kind == "ovs":
        from functools import partial
        from mininet.node import OVSBridge
        # No openvswitch kernel module on some kernels: the userspace datapath works everywhere.
        return partial(OVSBridge, datapath="user")
    raise ValueError("unknown switch kind %r (lxbr or ovs)" % kind)


def build_net(topo, switch="lxbr", **kwargs):
    from mininet.net import Mininet
    net = Mininet(topo=topo, switch=switch_class(switch), controller=None,
                  autoSetMacs=kwargs.pop("autoSetMacs", True), **kwargs)
    for sw in net.switches:
        state.record("bridges", sw.name)
    return net


@contextlib.contextmanager
def running_net(topo, switch="lxbr", lock_timeout=600.0, **kwargs):
    """A started network; stopped, and the machine cleaned, however the block ends."""
    with lab_lock(timeout=lock_timeout):
        clean_unlocked()
        net = None
        try:
            net = build_net(topo, switch=switch, **kwargs)
            net.start()
            yield net
        finally:
            if net is not None:
                try:
                    net.stop()
                except Exception:  # a half-built net: clean below removes the rest
                    log.exception("net.stop failed; cleaning up")
            clean_unlocked()
            left = leftovers()
            if left:
                log.warning("left after teardown: %s", left)
