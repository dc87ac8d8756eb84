"""Delay the packets crossing a link by D ms (± J ms jitter), both ways.

``python -m lab.faults.delay --intf INTF [--peer [PID/]INTF] --ms D
[--jitter J] [--seed S] [--method auto|netem|nfqueue]``, run in the
namespace of the link's host (or router) end.

Where the kernel has ``sch_netem`` (a Vagrant VM), a netem qdisc on the
egress of both ends, as Mininet's TCLink does. Where it has not (these
build machines), an NFQUEUE implementation: every packet crossing INTF, in
either direction, is held in this process and released D ± J ms later (the
release times come from a seeded generator). If neither is possible the
fault is refused with the reason; it is never a silent no-op.
"""
import heapq
import itertools
import os
import random
import subprocess
import time

from lab.faults import fault_process
from lab.faults.nfq import QueueWorker, queue_commands
from lab.faults.commands import Plan, format_intf, in_ns, parse_intf, rule_tag


def add_arguments(p):
    p.add_argument("--intf", required=True, help="the link's end in this namespace")
    p.add_argument("--peer", help="the other end, [PID/]INTF (netem delays its egress too)")
    p.add_argument("--ms", type=float, required=True, help="delay in milliseconds")
    p.add_argument("--jitter", type=float, default=0.0, help="± this many ms")
    p.add_argument("--seed", type=int, default=1, help="seed of the jitter (nfqueue)")
    p.add_argument("--method", choices=("auto", "netem", "nfqueue"), default="auto")
    p.add_argument("--queue", type=int, default=8, help="NFQUEUE number (unique in the namespace)")
    p.add_argument("--label", default="", help="the link, for the events")


def netem_available():
    """True if this kernel can make a netem qdisc (module loadable or built in)."""
    if os.path.isdir("/sys/module/sch_netem"):
        return True
    if subprocess.run(["modprobe", "-q", "sch_netem"], capture_output=True).returncode == 0:
        return True
    try:
        with open("/lib/modules/%s/modules.builtin" % os.uname().release) as f:
            return "sch_netem.ko" in f.read()
    except OSError:
        return False


def choose_method(requested, has_netem):
    if requested == "netem" and not has_netem:
        raise fault_process.Refused("this kernel has no sch_netem; use --method nfqueue (or auto)")
    if requested == "auto":
        return "netem" if has_netem else "nfqueue"
    return requested


def plan(fault_id, intf, ms, jitter=0.0, method="nfqueue", peer=None, queue=8, label="", seed=1):
    """``method`` is already chosen (``choose_method``); ``peer`` is (ns_pid, intf) or None."""
    if ms < 0 or jitter < 0 or jitter > ms:
        raise ValueError("delay: need 0 <= jitter <= ms (got ms=%r jitter=%r)" % (ms, jitter))
    ends = [(None, intf)] + ([peer] if peer else [])
    matched = {"link": label, "intf": intf, "ms": ms, "jitter": jitter, "method": method}
    summary = "delay %s: %g ms ± %g ms both ways (%s)" % (label or intf, ms, jitter, method)
    if method == "netem":
        netem = ["netem", "delay", "%gms" % ms] + (["%gms" % jitter] if jitter else [])
        return Plan(fault="delay", summary=summary,
                    apply=[in_ns(ns, ["tc", "qdisc", "add", "dev", i, "root"] + netem)
                           for ns, i in ends],
                    undo=[in_ns(ns, ["tc", "qdisc", "del", "dev", i, "root"]) for ns, i in ends],
                    capture=[(None, intf)],
                    matched=dict(matched, peer=format_intf(*peer) if peer else None))
    apply, undo = queue_commands(intf, "both", [], rule_tag(fault_id), queue)
    return Plan(fault="delay", summary=summary, apply=apply, undo=undo,
                capture=[(None, intf)], matched=dict(matched, seed=seed, queue=queue))


def plan_from_args(args, fault_id):
    method = choose_method(args.method, netem_available() if args.method != "nfqueue" else False)
    return plan(fault_id, args.intf, args.ms, args.jitter, method,
                parse_intf(args.peer) if args.peer else None, args.queue, args.label, args.seed)


class HoldQueue:
    """Packets held until their release time; pure, with the time source injected."""

    def __init__(self, ms, jitter, seed, now=time.monotonic):
        self.ms, self.jitter = ms, jitter
        self.rng = random.Random(seed)
        self.now = now
        self.heap = []
        self.order = itertools.count()
        self.held = 0
        self.total_delay = 0.0

    def hold(self, item):
        delay = (self.ms + (self.rng.uniform(-self.jitter, self.jitter) if self.jitter else 0)) / 1000
        heapq.heappush(self.heap, (self.now() + delay, next(self.order), item))
        self.held += 1
        self.total_delay += delay

    def due(self):
        now = self.now()
        out = []
        while self.heap and self.heap[0][0] <= now:
            out.append(heapq.heappop(self.heap)[2])
        return out

    def next_in(self):
        return max(0.0, self.heap[0][0] - self.now()) if self.heap else None

    def drain(self):
        out = [item for _, _, item in sorted(self.heap)]
        self.heap = []
        return out


class DelayWorker(QueueWorker):
    def __init__(self, num, ms, jitter, seed):
        super().__init__(num)
        self.hq = HoldQueue(ms, jitter, seed)

    def on_packet(self, pkt):
        pkt.retain()
        self.hq.hold(pkt)

    def poll(self, timeout):
        wait = self.hq.next_in()
        super().poll(timeout if wait is None else min(timeout, wait))
        for pkt in self.hq.due():
            pkt.accept()

    def close(self):
        for pkt in self.hq.drain():    # nothing stays held once the fault ends
            pkt.accept()
        super().close()

    def evidence(self):
        hq = self.hq
        return {"delayed_packets": hq.held,
                "mean_delay_ms": round(1000 * hq.total_delay / hq.held, 3) if hq.held else None}


def worker(args, plan):
    if plan.matched["method"] != "nfqueue":
        return None
    return DelayWorker(args.queue, args.ms, args.jitter, args.seed)


main = fault_process.entry(__name__)

if __name__ == "__main__":
    raise SystemExit(main())
