"""Lose a fraction of the packets crossing a link, reproducibly.

``python -m lab.faults.loss --intf INTF --rate P [--seed S] [--match 'ARGS']
[--direction in|out|both] [--queue N]``, run in the namespace of the link's
host (or router) end, where INTF is that end.

How: iptables sends the matched packets crossing INTF to an NFQUEUE bound
by this process; a ``random.Random(seed)`` draws once per packet, in
arrival order, and drops when the draw is below P. The same seed over the
same packets drops the same ones (these kernels have no netem, and
iptables' ``statistic --mode random`` cannot be seeded). ``--match`` takes
iptables match arguments (``-p icmp --icmp-type echo-request``,
``-p tcp --dport 25``); the first dropped packets are decoded with scapy
for the evidence.
"""
import hashlib
import random
import shlex

from lab.faults import fault_process
from lab.faults.nfq import QueueWorker, queue_commands
from lab.faults.commands import Plan, rule_tag

SHOWN_DROPS = 10


def add_arguments(p):
    p.add_argument("--intf", required=True, help="the link's end in this namespace")
    p.add_argument("--rate", type=float, required=True, help="fraction to drop, 0..1")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--match", default="", help="iptables match arguments (default: every packet)")
    p.add_argument("--direction", default="both", choices=("in", "out", "both"))
    p.add_argument("--queue", type=int, default=7, help="NFQUEUE number (unique in the namespace)")
    p.add_argument("--label", default="", help="the link, for the events")


class LossDecider:
    """Drop or keep, one draw per packet from a seeded generator."""

    def __init__(self, rate, seed):
        self.rate = rate
        self.rng = random.Random(seed)
        self.seen = 0
        self.dropped = []   # packet numbers (1-based, arrival order)

    def drop(self):
        self.seen += 1
        if self.rng.random() < self.rate:
            self.dropped.append(self.seen)
            return True
        return False

    def fingerprint(self):
        return hashlib.sha256(",".join(map(str, self.dropped)).encode()).hexdigest()[:16]


def plan(fault_id, intf, rate, seed=1, match="", direction="both", queue=7, label=""):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate %r: must be between 0 and 1" % rate)
    apply, undo = queue_commands(intf, direction, shlex.split(match), rule_tag(fault_id), queue)
    return Plan(fault="loss",
                summary="loss %s: drop %.0f%% of %s packets on %s (%s, seed %d)"
                        % (label or intf, rate * 100, match or "all", intf, direction, seed),
                apply=apply, undo=undo, capture=[(None, intf)],
                matched={"link": label, "intf": intf, "rate": rate, "seed": seed,
                         "match": match, "direction": direction, "queue": queue})


def plan_from_args(args, fault_id):
    return plan(fault_id, args.intf, args.rate, args.seed, args.match, args.direction,
                args.queue, args.label)


class LossWorker(QueueWorker):
    def __init__(self, num, rate, seed):
        super().__init__(num)
        self.decider = LossDecider(rate, seed)
        self.shown = []

    def open(self):
        import scapy.layers.inet  # noqa: F401  now, not on the first drop: it takes a second
        super().open()

    def on_packet(self, pkt):
        if self.decider.drop():
            if len(self.shown) < SHOWN_DROPS:
                self.shown.append(describe(pkt.get_payload()))
            pkt.drop()
        else:
            pkt.accept()

    def evidence(self):
        d = self.decider
        return {"matched_packets": d.seen, "dropped_packets": len(d.dropped),
                "drop_fraction": round(len(d.dropped) / d.seen, 4) if d.seen else None,
                "drop_pattern": d.fingerprint(), "first_drops": d.dropped[:20],
                "dropped_examples": self.shown}


def describe(payload):
    from scapy.layers.inet import ICMP, IP, TCP   # imported here: in the host's namespace
    try:
        ip = IP(payload)
        text = ip.summary()
        for layer in (ICMP, TCP):
            if layer in ip:
                text += " seq=%d" % ip[layer].seq
        return text
    except Exception:
        return "%d bytes" % len(payload)


def worker(args, plan):
    return LossWorker(args.queue, args.rate, args.seed)


main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
