"""Packets on the wire for the verdict: tcpdump on switch ports for a whole
run (``lab.evidence.wire`` reads them back).

Two ports of the relay's data center are watched, from the switch's side:

- ``relay``: the relay's own port. Every connection the relay opens (its
  SYNs, or its ARP requests when the target has no MAC any more) and every
  frame a server sends back to it passes here.
- ``router``: the port of the data center's router. Anything that enters or
  leaves the data center passes here: a client's mail to mx1, a server's
  answers to it, and the relay's traffic if it were ever routed.

ARP and whole TCP segments of SMTP (port 25) are kept: the attempts, answers,
MAC and IP addresses and TTLs the checks need, and each SMTP conversation,
reassembled by ``lab.evidence.smtp_wire`` to find the DATA that carried each
Message-ID. A 300-message run leaves at most about 0.8 MB per port (measured:
`maillab run all --messages 300`, docs/lab.md); tcpdump's default snap length
keeps whole frames.

On a lab over several servers the ports are captured on the server that
holds the switch (tcpdump started there through ssh, in its root namespace)
and the packets written into the run directory here as they come.
"""
import os

from lab.faults.capture import Captures
from lab.faults.targets import server_of, ssh_access

BPF = ["arp or tcp port 25"]
CAPTURE_ID = "wire"


def _switch_side(net, node, switch):
    for link in net.linksBetween(node, switch):
        return link.intf1 if link.intf1.node is switch else link.intf2
    return None


def capture_ports(lab):
    """{point: (switch-side interface name, what it is)} in the relay's data center."""
    plan = lab.plan
    relay = plan.relay
    switch = lab.net.get(plan.switch_of(relay.name))
    ports = {}
    intf = _switch_side(lab.net, lab.net.get(relay.name), switch)
    if intf is not None:
        ports["relay"] = (intf.name, "%s's port on %s" % (relay.name, switch.name))
    router = plan.dc(relay.dc).router
    intf = _switch_side(lab.net, lab.net.get(router), switch)
    if intf is not None:
        ports["router"] = (intf.name, "%s's port on %s" % (router, switch.name))
    return ports


def capture_namespace(lab):
    """(namespace, ssh) of the capture ports: (None, None) here; on a lab over
    several servers, when the relay's switch is on another, ("@SERVER", its access)."""
    switch = lab.net.get(lab.plan.switch_of(lab.plan.relay.name))
    server = server_of(switch)
    if server is None:
        return None, None
    return "@%s" % server, {str(server): ssh_access(switch)}


class RunCapture:
    """tcpdump on each capture port for as long as the run lasts."""

    def __init__(self, ports, directory, ns=None, ssh=None):
        self.ports = dict(ports)
        self.directory = directory
        # a Linux bridge's ports live in the root namespace: the run's here, or
        # (``ns``, "@SERVER") that of the server holding the switch
        self.captures = Captures([(ns, intf) for intf, _ in self.ports.values()],
                                 directory, CAPTURE_ID, bpf=BPF, ssh=ssh)
        self.paths = {}

    def start(self):
        self.captures.start()
        self.paths = {point: os.path.join(self.directory, "%s-%s.pcap" % (CAPTURE_ID, intf))
                      for point, (intf, _) in self.ports.items()}
        return self

    def stop(self):
        self.captures.stop()
        return self.paths

    def dropped(self):
        """{point: packets the kernel dropped (None: tcpdump did not say)}, after stop()."""
        return {point: self.captures.dropped.get(path) for point, path in self.paths.items()}

    def points(self):
        return {point: what for point, (_, what) in self.ports.items()}
