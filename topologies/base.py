"""MailTopo: a Mininet Topo built from an address plan (topologies/addressing.py).

build() only adds hosts, switches and links, so a topology is inspected
without root; everything about addresses comes from ``self.plan``.
"""
import os
import sys

from mininet.link import TCLink
from mininet.topo import Topo

from topologies.nodes import LinuxRouter
from topologies.addressing import mac_for


class MailTopo(Topo):
    """Sender site, data centers, routers; ``plan`` says who is where."""

    def __init__(self, plan, wan_bw=None, wan_delay=None, **opts):
        self.plan = plan
        self.wan_bw = wan_bw
        self.wan_delay = wan_delay
        super().__init__(**opts)

    def build(self):
        plan = self.plan
        lans = [(plan.site_router, plan.site_switch)] + [(d.router, d.switch) for d in plan.dcs]
        for router, switch in lans:
            self.addSwitch(switch)
            lan_ip, _ = plan.router_interfaces(router)[0]
            self.addHost(router, cls=LinuxRouter, ip=lan_ip, mac=mac_for(lan_ip),
                         routes=plan.routes(router), role="router")
            # the LAN link first, so that it is the router's eth0 (its default interface)
            self.addLink(router, switch, params1={"ip": lan_ip}, addr1=mac_for(lan_ip))
        for link in plan.router_links:
            opts = {}
            if link.kind == "wan" and (self.wan_bw or self.wan_delay):
                opts["cls"] = TCLink
                if self.wan_bw:
                    opts["bw"] = self.wan_bw
                if self.wan_delay:
                    opts["delay"] = self.wan_delay
            self.addLink(link.a, link.b,
                         params1={"ip": link.a_ip + "/30"}, addr1=mac_for(link.a_ip),
                         params2={"ip": link.b_ip + "/30"}, addr2=mac_for(link.b_ip),
                         **opts)
        for info in plan.hosts.values():
            self.addHost(info.name, **host_params(info))
            self.addLink(info.name, plan.switch_of(info.name))

    def routers(self):
        return [n for n in self.hosts() if self.nodeInfo(n).get("role") == "router"]


def host_params(info):
    """addHost() parameters of a planned host (also used to re-create one)."""
    return {"ip": info.cidr, "mac": info.mac, "defaultRoute": "via %s" % info.gateway,
            "role": info.role, "dc": info.dc}


def run_as_script(name):
    """``sudo python3 topologies/NAME.py [ARGS]`` is ``maillab up NAME [ARGS]``: this
    process becomes ``python -m lab.cli.up NAME ARGS`` with the checkout on its path
    (a topology imports nothing of the lab; the command brings it up)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p)
    # The virtualenv's python where there is one: Debian's python3 has no Twisted, and
    # lab.cli.up imports it before it could re-run itself there.
    venv_python = os.path.join(root, ".venv", "bin", "python")
    python = venv_python if os.access(venv_python, os.X_OK) else sys.executable
    os.execv(python, [python, "-m", "lab.cli.up", name] + sys.argv[1:])
