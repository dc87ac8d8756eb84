"""One data center (claim 17): dns1, mx1 and relay1 behind router r1, and a
sender site (client1, client2) behind router r0, so mail is routed.

    sudo python3 topologies/one_dc.py          # lab with all services + CLI
    sudo mn --custom topologies/one_dc.py --topo one_dc --switch lxbr --controller none
"""
import inspect
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    inspect.currentframe().f_code.co_filename))))  # runnable as a script and with mn --custom

from topologies.base import MailTopo, run_as_script  # noqa: E402
from topologies.addressing import build_plan  # noqa: E402


class OneDC(MailTopo):
    def __init__(self, clients=2, **opts):
        super().__init__(build_plan(dcs=1, mx_per_dc=(1,), clients=clients), **opts)


topos = {"one_dc": OneDC}

if __name__ == "__main__":
    run_as_script("one_dc")
