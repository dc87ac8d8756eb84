"""Black-hole a host: traffic to it vanishes silently, no RST and no ICMP.

``python -m lab.faults.blackhole [--port P ...] [--proto tcp|udp|both]``,
run inside the target host's namespace (``host.popen``).

How: a netfilter DROP at the top of the host's own INPUT chain, inserted
and removed by this script in the target's namespace. DROP (not REJECT)
sends nothing back, so the kernel's TCP stack never answers a SYN with a
RST and no ICMP unreachable goes out: senders see only silence and must
time out. Chosen over scapy ARP poisoning because it is exact and local:
it works whatever the segment or routing in front of the host (poisoning
reaches only peers on the same L2 segment, races the victim's own ARP
replies, and must be undone in every peer's cache), its rule packet
counters are the evidence of what was dropped, and undoing it is one
``iptables -D``. Loopback stays untouched, so the host's own processes
keep running as if nothing happened. IPv4 only (the lab is IPv4).
"""
import re

from lab.faults import fault_process
from lab.faults.commands import Plan, iptables, rule_tag

COUNTER_RE = re.compile(r"^\[(\d+):(\d+)\] -A (\S+) ")


def add_arguments(p):
    p.add_argument("--port", type=int, action="append", default=[],
                   help="only this destination port (repeatable; default: all traffic)")
    p.add_argument("--proto", choices=("tcp", "udp", "both"), default="tcp",
                   help="protocol of --port (default tcp)")
    p.add_argument("--label", default="", help="the target, for the events")


def drop_specs(ports, proto, tag):
    tail = ["-m", "comment", "--comment", tag, "-j", "DROP"]
    if not ports:
        return [["!", "-i", "lo"] + tail]
    protos = ("tcp", "udp") if proto == "both" else (proto,)
    return [["!", "-i", "lo", "-p", pr, "--dport", str(port)] + tail
            for port in ports for pr in protos]


def plan(fault_id, ports=(), proto="tcp", label="", fault="blackhole"):
    for port in ports:
        if not 0 < port < 65536:
            raise ValueError("port %r out of range" % port)
    tag = rule_tag(fault_id)
    specs = drop_specs(list(ports), proto, tag)
    what = ("all traffic" if not ports else
            "%s port %s" % (proto if proto != "both" else "tcp+udp",
                            ",".join(str(p) for p in ports)))
    return Plan(fault=fault,
                summary="%s %s: DROP %s arriving (no RST, no ICMP)" % (fault, label or "here", what),
                apply=[iptables("-I", "INPUT", s) for s in specs],
                undo=[iptables("-D", "INPUT", s) for s in specs],
                capture=[(None, "any")],
                matched={"target": label, "ports": list(ports), "proto": proto, "rule_tag": tag})


def plan_from_args(args, fault_id):
    return plan(fault_id, args.port, args.proto, args.label)


def dropped_counts(save_output, tag):
    """Packets and bytes dropped by this fault's rules, from ``iptables-save -c``."""
    packets = bytes_ = 0
    for line in save_output.splitlines():
        if ('"%s"' % tag) in line or (" %s " % tag) in line:
            m = COUNTER_RE.match(line)
            if m:
                packets += int(m.group(1))
                bytes_ += int(m.group(2))
    return {"dropped_packets": packets, "dropped_bytes": bytes_}


def collect(args, plan, execute):
    return dropped_counts(execute(["iptables-save", "-c", "-t", "filter"]),
                          plan.matched["rule_tag"])


main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
