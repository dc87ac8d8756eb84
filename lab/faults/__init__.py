"""Faults that break the lab on real packets, each one its own process.

Every fault is a module here, runnable as ``python -m lab.faults.NAME ...``
inside a Mininet host (``host.popen``; scapy is imported in the host's
namespace). Each has a pure ``plan(...)`` (what it will apply and undo),
writes ``fault_start``/``fault_end`` events (service ``fault``) with its
evidence, captures the affected interfaces, and undoes itself when its
duration ends or on SIGTERM/SIGINT. See ``lab.faults.fault_process``.

Three ways in:
- scenarios: ``lab.faults.api.start_fault(net, name, args, run_dir, events_file)``;
- the ``maillab up`` CLI and the live page: ``lab.faults.console.run_fault_command(lab, "fault cut mx1 s1")``;
- a shell in a host: ``python -m lab.faults.NAME --help``.

``FAULTS`` below is the registry: name, module, lab-level usage, and how
lab names become the module's arguments (``lab.faults.targets``).
"""
from dataclasses import dataclass

from lab.faults import targets


@dataclass(frozen=True)
class FaultSpec:
    name: str
    module: str        # python -m MODULE
    usage: str         # lab-level arguments (CLI and start_fault)
    summary: str
    lasting: bool      # held until stopped or its duration ends (False: done at once)
    launcher: object   # (net, tokens) -> targets.Launch
    undoes: str = ""   # the lasting fault this one ends (restore ends cut)

    def launch(self, net, tokens):
        return self.launcher(net, list(tokens), self.name)


def _spec(name, usage, summary, lasting, launcher, undoes=""):
    return FaultSpec(name, "lab.faults." + name.replace("-", "_"), usage, summary, lasting,
                     launcher, undoes)


FAULTS = {s.name: s for s in (
    _spec("cut", "A B | LINK", "take a link down on both ends (until stopped)", True,
          targets.launch_link_state),
    _spec("restore", "A B | LINK", "bring a link's both ends up", False,
          targets.launch_link_state, undoes="cut"),
    _spec("partition", "LINK [LINK ...] [--label DC1|DC2]",
          "cut every link between two data centers (the CLI takes DC1 DC2)", True,
          targets.launch_partition),
    _spec("heal", "LINK [LINK ...] [--label DC1|DC2]", "bring a partition's links up", False,
          targets.launch_partition, undoes="partition"),
    _spec("blackhole", "HOST [--port P] [--proto tcp|udp|both]",
          "traffic to HOST vanishes: netfilter DROP, no RST, no ICMP", True,
          targets.launch_blackhole),
    _spec("dns-outage", "[HOST] [--port 53]", "the DNS server stops answering (UDP and TCP)",
          True, targets.launch_dns_outage),
    _spec("reset", "HOST:PORT [--after-bytes N] [--max-resets K] [--from HOST]",
          "inject correctly sequenced RSTs into live TCP sessions", True, targets.launch_reset),
    _spec("loss", "LINK --rate P [--seed S] [--match 'IPTABLES MATCH'] [--direction in|out|both]",
          "drop a seeded-random fraction of packets (NFQUEUE)", True, targets.launch_loss),
    _spec("delay", "LINK --ms D [--jitter J] [--method auto|netem|nfqueue]",
          "delay packets both ways (netem, or NFQUEUE where there is no netem)", True,
          targets.launch_delay),
    _spec("kill", "SERVICE@HOST [--signal TERM]", "signal a service's processes (default TERM)",
          False, targets.launch_process),
    _spec("pause", "SERVICE@HOST", "SIGSTOP a service until stopped (then SIGCONT)", True,
          targets.launch_process),
    _spec("resume", "SERVICE@HOST", "SIGCONT a paused service", False, targets.launch_process,
          undoes="pause"),
    _spec("destroy", "HOST", "the host leaves the network at once: processes frozen, "
          "interfaces deleted, processes killed", False, targets.launch_destroy),
)}


def get(name):
    try:
        return FAULTS[name]
    except KeyError:
        raise targets.TargetError("no fault %r; faults: %s" % (name, ", ".join(FAULTS))) from None
