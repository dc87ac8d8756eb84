"""N data centers with M messaging servers each, for scale exercises.
dc1 also holds dns1 and relay1; dc2..dcN hang off r1 over WAN links.

    sudo python3 topologies/n_dc.py [N [M]]    # lab with all services + CLI
    sudo mn --custom topologies/n_dc.py --topo n_dc,4,4 --switch lxbr --controller none
"""
import inspect
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    inspect.currentframe().f_code.co_filename))))  # runnable as a script and with mn --custom

from topologies.base import MailTopo, run_as_script  # noqa: E402
from topologies.addressing import build_plan  # noqa: E402


class NDC(MailTopo):
    def __init__(self, dcs=4, mx_per_dc=4, clients=2, **opts):
        dcs, mx_per_dc = int(dcs), int(mx_per_dc)
        if dcs < 1 or mx_per_dc < 1:
            raise ValueError("n_dc needs at least 1 data center and 1 messaging server each")
        super().__init__(build_plan(dcs=dcs, mx_per_dc=(mx_per_dc,) * dcs, clients=clients),
                         **opts)


def _n_dc(dcs=4, mx_per_dc=4, **opts):
    from topologies.nodes import wan_options
    return NDC(dcs, mx_per_dc, **dict(wan_options(), **opts))


topos = {"n_dc": _n_dc}

if __name__ == "__main__":
    run_as_script("n_dc")
