"""Node classes and link options shared by the maillab topologies."""
import functools
import logging
import subprocess

from mininet.node import Node


def plain_logger(name):
    """A module logger that behaves like any other: importing mininet makes
    every later logger a MininetLogger, with a console handler and level of its own."""
    logger = logging.getLogger(name)
    logger.handlers[:] = []
    logger.setLevel(logging.NOTSET)
    return logger


log = plain_logger(__name__)

WAN_BW_MBIT = 10        # HTB-shaped WAN between data centers
WAN_DELAY = "20ms"      # only where the kernel has sch_netem


class LinuxRouter(Node):
    """A host that forwards IPv4 between its interfaces, with static routes.

    params: ``routes=[(subnet, via), ...]`` added when the node is configured.
    """

    def config(self, routes=(), **params):
        result = super().config(**params)
        self.cmd("sysctl -qw net.ipv4.ip_forward=1")
        for subnet, via in routes:
            self.cmd("ip route replace %s via %s" % (subnet, via))
        return result

    def terminate(self):
        self.cmd("sysctl -qw net.ipv4.ip_forward=0")
        super().terminate()


@functools.lru_cache(maxsize=1)
def netem_available():
    """True if this kernel has sch_netem (tried on lo in a throwaway namespace)."""
    try:
        r = subprocess.run(["unshare", "-n", "tc", "qdisc", "add", "dev", "lo", "root",
                            "netem", "delay", "1ms"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def wan_options():
    """Keyword arguments for WAN links on this machine: bandwidth always,
    delay only where netem exists (TCLink(delay=...) fails without it)."""
    if netem_available():
        return {"wan_bw": WAN_BW_MBIT, "wan_delay": WAN_DELAY}
    log.warning("note: this kernel has no sch_netem; WAN links are bandwidth-limited "
                "(%d Mbit/s, HTB) but get no delay", WAN_BW_MBIT)
    return {"wan_bw": WAN_BW_MBIT, "wan_delay": None}
