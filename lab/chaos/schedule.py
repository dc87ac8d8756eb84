"""Chaos schedules: a seeded random fault schedule for a topology, as a scenario.

``generate(topo, seed, ...)`` draws faults from the whole fault library at
random times, overlapping, and returns a ``lab.scenarios.model.Scenario``: a chaos
schedule IS a scenario, so ``to_toml`` writes it as a file ``maillab run``
replays. The same topology, seed and options give the same schedule. Every
fault names hosts, links and services of the topology (``Targets``); a host
that is destroyed takes no fault after its destruction, and none that would
still be in force then.
"""
import dataclasses
import random

from lab.scenarios.model import Dns, Expect, Fault, Relay, Scenario, Traffic, parse

# Faults chaos draws from (the undoers - restore, heal, resume - end these ones).
KINDS = ("cut", "partition", "blackhole", "dns-outage", "reset", "loss", "delay", "kill",
         "pause", "destroy")
SERVER_ROLES = ("mx", "relay", "dns")
SMTP_PORT = 25
RATE = 2.0              # messages per second unless --messages says otherwise
LONGEST = 10.0          # seconds a fault is held at most
SHORTEST = 1.0
FAULTS_IN = 0.75        # faults start within this fraction of the traffic time
DRAIN_DEADLINE = 60.0   # seconds after traffic for the queue to drain
PROVISION_AFTER = 3.0   # relay: seconds of outage before it provisions (with destroy only)


class ChaosError(ValueError):
    pass


@dataclasses.dataclass
class Targets:
    """What faults may name in one topology (from its Mininet graph)."""
    servers: dict      # host -> role (mx, relay, dns)
    links: list        # "A:B" links whose one end a fault can run at
    partitions: list   # [(label, ["A:B", ...])] router links separating two sites
    dns: str


def targets(topo):
    plan = topo.plan
    servers = {name: h.role for name, h in plan.hosts.items() if h.role in SERVER_ROLES}
    routers = {dc.router for dc in plan.dcs} | {plan.site_router}
    links = ["%s:%s" % (a, b) for a, b in topo.links()
             if a in servers or b in servers or (a in routers and b in routers)]
    sites = ["site"] + [dc.name for dc in plan.dcs]
    partitions = []
    for i, a in enumerate(sites):
        for b in sites[i + 1:]:
            path = plan.links_between(a, b)
            if path:
                partitions.append(("%s|%s" % (a, b), ["%s:%s" % ab for ab in path]))
    return Targets(servers, links, partitions, plan.dns.name)


def _draw_fault(rng, kind, t, at, duration, usable, n):
    """A Fault of ``kind`` at ``at`` for ``duration`` on targets in ``usable``
    (hosts still there); None when the kind has nothing to aim at."""
    servers = [h for h in sorted(t.servers) if h in usable]
    links = [l for l in t.links if all(x in usable or x not in t.servers
                                       for x in l.split(":"))]
    smtp = [h for h in servers if t.servers[h] in ("mx", "relay")]
    f = Fault(name=kind, args=[], at=at, duration=duration)
    if kind in ("cut", "loss", "delay"):
        if not links:
            return None
        link = rng.choice(links)
        f.args = [link]
        if kind == "loss":
            f.args += ["--rate", "%.2f" % rng.uniform(0.05, 0.3), "--seed", str(n)]
        elif kind == "delay":
            f.args += ["--ms", str(rng.choice((50, 100, 200, 400))), "--method", "nfqueue"]
    elif kind == "partition":
        if not t.partitions:
            return None
        label, path = rng.choice(t.partitions)
        f.args = path + ["--label", label]
    elif kind == "blackhole":
        if not servers:
            return None
        f.args = [rng.choice(servers)]
    elif kind == "dns-outage":
        if t.dns not in usable:
            return None
        f.args = [t.dns]
    elif kind == "reset":
        if not smtp:
            return None
        f.args = ["%s:%d" % (rng.choice(smtp), SMTP_PORT), "--max-resets", str(rng.randint(1, 5))]
    elif kind in ("kill", "pause"):
        if not servers:
            return None
        host = rng.choice(servers)
        target = "%s@%s" % (t.servers[host], host)
        f.args = [target]
        if kind == "kill":
            f.args += ["--signal", rng.choice(("KILL", "TERM"))]
            f.restart = target      # down for `duration`, then started again
    elif kind == "destroy":
        return None                 # drawn by generate(), which knows the hosts' futures
    return f


def hosts_named(fault):
    """The hosts a fault's arguments name (SERVICE@HOST, HOST:PORT, A:B, HOST)."""
    return {part for a in fault.args for part in a.split("@")[-1].split(":")}


def _busy_until(faults, host):
    """When the last fault naming ``host`` ends (inf: held to the end)."""
    return max([f.at + f.duration if f.duration else float("inf")
                for f in faults if host in hosts_named(f)], default=0.0)


def generate(topo, seed, duration=60.0, kinds=KINDS, intensity=1.0, messages=None,
             name=None):
    """The schedule for ``seed``: about ``intensity`` faults per 10 s of traffic."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ChaosError("unknown fault kind %s (known: %s)" % (", ".join(unknown),
                                                                ", ".join(KINDS)))
    if not kinds:
        raise ChaosError("no fault kinds to draw from")
    if duration <= 0 or intensity < 0:
        raise ChaosError("duration must be > 0 and intensity >= 0")
    rng = random.Random(seed)
    t = targets(topo)
    count = messages or max(1, int(round(duration * RATE)))
    n_faults = int(round(intensity * duration / 10.0))
    longest = max(SHORTEST, min(LONGEST, duration / 4.0))
    times = sorted(round(rng.uniform(0.0, FAULTS_IN * duration), 1) for _ in range(n_faults))
    faults, destroyed = [], set()
    for n, at in enumerate(times, start=1):
        kind = rng.choice(kinds)
        held = round(rng.uniform(SHORTEST, longest), 1)
        usable = set(t.servers) - destroyed
        if kind == "destroy":
            # only a messaging server (the provisioner re-creates those), and only
            # one no earlier fault still holds
            free = [h for h in sorted(usable) if t.servers[h] == "mx"
                    and _busy_until(faults, h) <= at]
            f = Fault(name="destroy", args=[rng.choice(free)], at=at) if free else None
            if f:
                destroyed.add(f.args[0])
        else:
            f = _draw_fault(rng, kind, t, at, held, usable, n)
        if f is not None:
            faults.append(f)
    plan = topo.plan
    s = Scenario(
        name=name or "chaos-%s-%d" % (plan_name(topo), seed),
        description="Chaos schedule: seed %d, %d faults over %.0f s of traffic (%s)."
                    % (seed, len(faults), duration, ", ".join(kinds)),
        claims=[],
        topology=plan_name(topo),
        traffic=Traffic(count=count, rate=round(count / duration, 3),
                        clients=[c.name for c in plan.clients]),
        dns=Dns(mx=[plan.primary_mx]),     # the zone as designed: MX 10 mx1, MX 20 the relay
        relay=Relay(retry_interval=1.0, max_retry_interval=2.0,
                    provision_after=PROVISION_AFTER if destroyed else 0.0),
        faults=faults,
        expect=Expect(final_server="", deadline=DRAIN_DEADLINE))
    return parse(to_toml(s))      # the file is the schedule: what replays is what ran


def plan_name(topo):
    return getattr(topo, "name", None) or {1: "one_dc", 2: "two_dc"}.get(
        len(topo.plan.dcs), "n_dc")


# -- writing a scenario as TOML ------------------------------------------------------

def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join("%s = %s" % (k, _value(x)) for k, x in v.items()) + " }"
    raise TypeError("no TOML for %r" % (v,))


def _table(obj, renames=None, skip_defaults=False):
    renames = renames or {}
    lines = []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if v is None or (skip_defaults and v == f.default):
            continue
        lines.append("%s = %s" % (renames.get(f.name, f.name), _value(v)))
    return lines


def to_toml(s, header=""):
    """The scenario as a TOML file ``lab.scenarios.model.parse`` reads back the same."""
    lines = [("# " + l).rstrip() for l in header.splitlines()]
    lines += ["name = %s" % _value(s.name),
              'description = """%s"""' % s.description.replace('"""', "'''"),
              "claims = %s" % _value(s.claims), "topology = %s" % _value(s.topology)]
    for section in ("traffic", "dns", "relay", "provisioner", "expect"):
        lines += ["", "[%s]" % section] + _table(getattr(s, section))
    for f in s.faults:
        lines += ["", "[[faults]]"] + _table(f, {"duration": "for"}, skip_defaults=True)
    return "\n".join(lines) + "\n"
