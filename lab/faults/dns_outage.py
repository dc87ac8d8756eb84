"""DNS outage: the DNS server stops answering (its port vanishes, UDP and TCP).

``python -m lab.faults.dns_outage [--port 53]``, run inside the DNS host's
namespace. It is a ``blackhole`` of the DNS port for both protocols:
queries get no answer, no ICMP port-unreachable, no RST, so resolvers time
out exactly as they do when a real name server drops off the network.
"""
from lab.faults import blackhole, fault_process


def add_arguments(p):
    p.add_argument("--port", type=int, default=53, help="the DNS server's port (default 53)")
    p.add_argument("--label", default="", help="the DNS host, for the events")


def plan(fault_id, port=53, label=""):
    return blackhole.plan(fault_id, [port], "both", label, fault="dns-outage")


def plan_from_args(args, fault_id):
    return plan(fault_id, args.port, args.label)


collect = blackhole.collect
main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
