"""Packets diverted to this process by netfilter (NFQUEUE), one verdict each.

The iptables rules carry ``--queue-bypass``: if the fault process dies
without undoing them, matched packets flow again instead of vanishing.
The queue is bound before the rules are inserted (the fault process opens the
worker first), so no packet slips past while the fault starts.

One NFQUEUE fault per interface and direction at a time: the first rule's
ACCEPT ends the packet's walk through the chain, so a second fault's rule
(loss on top of delay on the same link, or on top of a reset at the
server's interface) would not see it.
"""
import logging
import select

from lab.faults.commands import iptables
from lab.faults.fault_process import Refused

log = logging.getLogger(__name__)
CHAINS = {"in": [("INPUT", "-i"), ("FORWARD", "-i")],
          "out": [("OUTPUT", "-o"), ("FORWARD", "-o")]}


def queue_specs(intf, direction, match, tag, queue_num):
    """iptables rule specs sending ``match``ed packets crossing ``intf`` to the queue."""
    if direction not in ("in", "out", "both"):
        raise ValueError("direction must be in, out or both, not %r" % direction)
    if any(tok in ("-j", "--jump", "-g", "--goto") for tok in match):
        raise ValueError("--match takes match arguments only, no target: %r" % " ".join(match))
    target = ["-m", "comment", "--comment", tag,
              "-j", "NFQUEUE", "--queue-num", str(queue_num), "--queue-bypass"]
    rules = []
    for d in (("in", "out") if direction == "both" else (direction,)):
        for chain, flag in CHAINS[d]:
            rules.append((chain, [flag, intf] + list(match) + target))
    return rules


def queue_commands(intf, direction, match, tag, queue_num):
    rules = queue_specs(intf, direction, match, tag, queue_num)
    return ([iptables("-I", chain, spec) for chain, spec in rules],
            [iptables("-D", chain, spec) for chain, spec in rules])


class QueueWorker:
    """Binds queue ``num``; ``on_packet(pkt)`` must give each packet a verdict
    (now, or later after ``pkt.retain()``)."""

    def __init__(self, num):
        self.num = num
        self.nfq = None

    def on_packet(self, pkt):
        pkt.accept()

    def open(self):
        try:
            from netfilterqueue import NetfilterQueue
        except ImportError as e:
            raise Refused("netfilterqueue is not installed (%s); pip install netfilterqueue" % e)
        self.nfq = NetfilterQueue()
        try:
            self.nfq.bind(self.num, self.on_packet, max_len=4096)
        except OSError as e:
            raise Refused("cannot bind NFQUEUE %d here (%s): needs root and "
                          "nfnetlink_queue" % (self.num, e))

    def poll(self, timeout):
        ready, _, _ = select.select([self.nfq.get_fd()], [], [], timeout)
        if ready:
            self.nfq.run(block=False)

    def close(self):
        if self.nfq is not None:
            self.nfq.unbind()
            self.nfq = None

    def evidence(self):
        return {}
