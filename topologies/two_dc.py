"""Two data centers (claims 17, 18): one_dc plus dc2 (10.0.2.0/24, router r2,
messaging server mx2) reached from r1 over a bandwidth-limited WAN link;
10.0.2.11-99 are reserved for messaging servers the provisioner creates.

    sudo python3 topologies/two_dc.py          # lab with all services + CLI
    sudo mn --custom topologies/two_dc.py --topo two_dc --switch lxbr --controller none
"""
import inspect
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    inspect.currentframe().f_code.co_filename))))  # runnable as a script and with mn --custom

from topologies.base import MailTopo, run_as_script  # noqa: E402
from topologies.addressing import build_plan  # noqa: E402


class TwoDC(MailTopo):
    """``wan_bw`` (Mbit/s) shapes the r1-r2 link with HTB; ``wan_delay`` needs
    sch_netem (topologies.nodes.wan_options() picks what this kernel allows)."""

    def __init__(self, clients=2, **opts):
        super().__init__(build_plan(dcs=2, mx_per_dc=(1, 1), clients=clients), **opts)


def _two_dc(**opts):
    from topologies.nodes import wan_options
    return TwoDC(**dict(wan_options(), **opts))


topos = {"two_dc": _two_dc}

if __name__ == "__main__":
    run_as_script("two_dc")
