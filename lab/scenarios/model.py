"""Scenario files: load a TOML exercise, validate it, and plan its faults.

A scenario is data a teacher can write without Python (see
lab/scenarios/*.toml). ``load`` returns a ``Scenario`` or raises
``ScenarioError`` naming the file, the key and what is wrong with it.
``fault_plan`` turns the fault schedule into concrete, seeded start/stop
times, so the same seed gives the same faults at the same moments.
"""
import copy
import dataclasses
import glob
import os
import random
import tomllib

import lab.faults as fault_registry
from lab.host.ssh import Server, parse_servers
from lab.testbed.mta_role import SERVERS, SHORTEST_BACKOFF, Timing
from servers.common.provision_proto import parse_action

SCENARIO_DIR = os.path.dirname(os.path.abspath(__file__))    # the scenarios, one .toml file each

TOPOLOGIES = ("one_dc", "two_dc", "n_dc")
DNS_MODES = ("mx-preference", "health-checked")
CLAIMS = tuple(["1a"] + [str(n) for n in range(1, 20)])
FAULTS = tuple(fault_registry.FAULTS)     # every fault the lab has, heal included
# Moments a fault may be scheduled after, besides the start of traffic.
ANCHORS = ("start", "first_sent", "traffic_done", "created", "provision_requested",
           "first_queued")


class ScenarioError(ValueError):
    def __init__(self, path, key, reason):
        self.path, self.key, self.reason = path, key, reason
        super().__init__("%s: %s: %s" % (path, key, reason))


@dataclasses.dataclass
class Traffic:
    count: int = 10
    rate: float = 10.0
    clients: list = dataclasses.field(default_factory=lambda: ["client1"])
    to: str = "user@example.org"
    connect_timeout: float = 1.0
    command_timeout: float = 5.0      # a session cut mid-command gives up after this
    size: int = 0
    server: str = "maillab"           # what sends from the clients: maillab's sender or "postfix"


@dataclasses.dataclass
class Dns:
    mode: str = "mx-preference"
    interval: float = 0.5
    timeout: float = 0.4
    ttl: int = 1
    mx: list = dataclasses.field(default_factory=lambda: ["mx1"])   # MX hosts at preference 10


@dataclasses.dataclass
class Relay:
    retry_interval: float = 1.0
    max_retry_interval: float = 0.0   # 0: same as retry_interval
    # the backoff the scenario asks of the relay: delay k = retry_interval *
    # retry_multiplier^(k-1), at most max_retry_interval. The checker computes
    # the expected spacing from these numbers itself, never from the relay's code.
    retry_multiplier: float = 2.0
    provision_after: float = 0.0      # 0: never ask the provisioner
    provision_action: str = ""        # "recreate:NAME" or "create:DC"; "": the recovery policy
    recreate_deadline: float = 0.0    # 0: the relay's default
    route_lifetime: float = 0.0       # 0: the relay's default
    give_up: float = 0.0              # 0: the relay's default
    connect_timeout: float = 1.0      # per delivery attempt: a black hole costs this much
    command_timeout: float = 5.0      # a session cut mid-command gives up after this
    retry_policy: str = ""            # a Python file (servers/relay/policy_file.py); "": backoff
    server: str = "maillab"           # what runs the relay host: maillab's relay or "postfix"


@dataclasses.dataclass
class Fault:
    name: str
    args: list
    at: float = 0.0
    duration: float = 0.0      # TOML key "for"; 0 = until the end of the run
    every: float = 0.0         # repeat period; 0 = once
    times: int = 1
    jitter: float = 0.0        # each start moves by up to this much, seeded
    after: str = "start"       # the moment "at" counts from
    seeded: bool = False       # pass --seed SEED to the fault script
    restart: str = ""          # "SERVICE@HOST" to start again when the fault ends


@dataclasses.dataclass
class ProvisionerSettings:
    """The ``[provisioner]`` table: what the lab's provisioner may create."""
    capacity: dict = dataclasses.field(default_factory=dict)   # dc -> servers it can still take
    down: list = dataclasses.field(default_factory=list)       # data centers it refuses


@dataclasses.dataclass
class Expect:
    relay_involved: object = None   # True / False / None (either)
    provision: str = ""             # "", "recreate" or "create"
    final_server: str = "mx1"       # host name or data center of the final server
    deadline: float = 60.0          # seconds after traffic for the queue to drain


@dataclasses.dataclass
class ClusterSettings:
    """The ``[cluster]`` table: the servers the lab spreads over (``[user@]host[:port]``,
    ``localhost`` for this machine; none: one machine) and an explicit placement
    (``place = {dc2 = "lab2"}``: a place, site or dcN, or a host, to a server)."""
    servers: list = dataclasses.field(default_factory=list)
    place: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Scenario:
    name: str
    description: str
    claims: list
    topology: str
    traffic: Traffic
    dns: Dns
    relay: Relay
    faults: list
    expect: Expect
    provisioner: ProvisionerSettings = dataclasses.field(default_factory=ProvisionerSettings)
    path: str = ""
    cluster: ClusterSettings = dataclasses.field(default_factory=ClusterSettings)


def _check_type(path, key, value, types, what):
    if isinstance(value, bool) and bool not in types:
        raise ScenarioError(path, key, "must be %s, not %r" % (what, value))
    if not isinstance(value, types):
        raise ScenarioError(path, key, "must be %s, not %r" % (what, value))
    return value


def _section(path, data, cls, prefix, renames=None):
    """Build ``cls`` from the TOML table ``data``, refusing unknown keys."""
    renames = renames or {}                     # TOML key -> attribute
    toml_key = {a: k for k, a in renames.items()}
    known = sorted(toml_key.get(f.name, f.name) for f in dataclasses.fields(cls))
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            raise ScenarioError(path, "%s.%s" % (prefix, key),
                                "unknown key (known: %s)" % ", ".join(known))
        kwargs[renames.get(key, key)] = value
    return cls(**kwargs)


def _nonneg(path, key, value):
    _check_type(path, key, value, (int, float), "a number")
    if value < 0:
        raise ScenarioError(path, key, "must be >= 0, not %r" % value)
    return float(value)


def _validate(path, s):
    if not s.name or not isinstance(s.name, str):
        raise ScenarioError(path, "name", "must be a non-empty string")
    _check_type(path, "description", s.description, (str,), "a string")
    _check_type(path, "claims", s.claims, (list,), "a list of claim numbers")
    claims = []
    for c in s.claims:
        c = str(c)
        if c not in CLAIMS:
            raise ScenarioError(path, "claims", "unknown claim %r (1a, 1-19)" % c)
        claims.append(c)
    s.claims = claims
    if s.topology not in TOPOLOGIES:
        raise ScenarioError(path, "topology", "must be one of %s, not %r"
                            % (", ".join(TOPOLOGIES), s.topology))
    t = s.traffic
    _check_type(path, "traffic.count", t.count, (int,), "an integer")
    if t.count < 1:
        raise ScenarioError(path, "traffic.count", "must be at least 1")
    t.rate = _nonneg(path, "traffic.rate", t.rate)
    if t.rate == 0:
        raise ScenarioError(path, "traffic.rate", "must be > 0 (messages per second)")
    _check_type(path, "traffic.clients", t.clients, (list,), "a list of host names")
    if not t.clients or not all(isinstance(c, str) and c for c in t.clients):
        raise ScenarioError(path, "traffic.clients", "must name at least one client host")
    _check_type(path, "traffic.to", t.to, (str,), "an address")
    if "@" not in t.to:
        raise ScenarioError(path, "traffic.to", "must be an address like user@example.org")
    t.connect_timeout = _nonneg(path, "traffic.connect_timeout", t.connect_timeout)
    t.command_timeout = _nonneg(path, "traffic.command_timeout", t.command_timeout)
    _check_type(path, "traffic.size", t.size, (int,), "an integer (bytes)")
    if t.server not in SERVERS:
        raise ScenarioError(path, "traffic.server", "must be one of %s, not %r"
                            % (", ".join(SERVERS), t.server))
    if s.dns.mode not in DNS_MODES:
        raise ScenarioError(path, "dns.mode", "must be one of %s, not %r"
                            % (", ".join(DNS_MODES), s.dns.mode))
    for k in ("interval", "timeout"):
        setattr(s.dns, k, _nonneg(path, "dns." + k, getattr(s.dns, k)))
    _check_type(path, "dns.ttl", s.dns.ttl, (int,), "an integer")
    _check_type(path, "dns.mx", s.dns.mx, (list,), "a list of messaging server names")
    if not s.dns.mx or not all(isinstance(m, str) and m for m in s.dns.mx):
        raise ScenarioError(path, "dns.mx", "must name at least one messaging server")
    p = s.provisioner
    _check_type(path, "provisioner.capacity", p.capacity, (dict,), "a table {dc1 = N}")
    for dc, n in p.capacity.items():
        _check_type(path, "provisioner.capacity." + dc, n, (int,), "an integer")
    _check_type(path, "provisioner.down", p.down, (list,), "a list of data centers")
    r = s.relay
    for k in ("retry_interval", "max_retry_interval", "provision_after", "give_up",
              "connect_timeout", "command_timeout", "recreate_deadline", "route_lifetime"):
        setattr(r, k, _nonneg(path, "relay." + k, getattr(r, k)))
    if r.retry_interval == 0:
        raise ScenarioError(path, "relay.retry_interval", "must be > 0")
    if r.max_retry_interval == 0:
        r.max_retry_interval = r.retry_interval
    r.retry_multiplier = _nonneg(path, "relay.retry_multiplier", r.retry_multiplier)
    if r.retry_multiplier < 1:
        raise ScenarioError(path, "relay.retry_multiplier", "must be >= 1")
    _check_type(path, "relay.retry_policy", r.retry_policy, (str,), "a file path")
    if r.server not in SERVERS:
        raise ScenarioError(path, "relay.server", "must be one of %s, not %r"
                            % (", ".join(SERVERS), r.server))
    if r.server != "maillab" and r.retry_policy:
        raise ScenarioError(path, "relay.retry_policy", "is maillab's relay's own: "
                            "not with server = %r" % r.server)
    if r.retry_policy and not os.path.isabs(r.retry_policy):
        r.retry_policy = os.path.join(os.path.dirname(os.path.abspath(path)), r.retry_policy)
    if r.max_retry_interval < r.retry_interval:
        raise ScenarioError(path, "relay.max_retry_interval", "must be >= retry_interval")
    if r.provision_action:
        try:
            parse_action(r.provision_action)
        except ValueError as e:
            raise ScenarioError(path, "relay.provision_action", str(e)) from None
        if r.provision_after == 0:
            raise ScenarioError(path, "relay.provision_after",
                                "must be > 0 when provision_action is set")
    for i, f in enumerate(s.faults):
        key = "faults[%d]" % i
        if f.name not in FAULTS:
            raise ScenarioError(path, key + ".name", "unknown fault %r (known: %s)"
                                % (f.name, ", ".join(FAULTS)))
        _check_type(path, key + ".args", f.args, (list,), "a list of strings")
        f.args = [str(a) for a in f.args]
        for k in ("at", "duration", "every", "jitter"):
            setattr(f, k, _nonneg(path, key + "." + ("for" if k == "duration" else k),
                                  getattr(f, k)))
        _check_type(path, key + ".times", f.times, (int,), "an integer")
        if f.times < 1:
            raise ScenarioError(path, key + ".times", "must be at least 1")
        if f.times > 1 and f.every == 0:
            raise ScenarioError(path, key + ".every", "must be > 0 when times > 1")
        if f.every and f.duration and f.duration + f.jitter >= f.every:
            raise ScenarioError(path, key + ".for",
                                "for + jitter must be shorter than every (the fault must end "
                                "before it starts again)")
        if f.after not in ANCHORS:
            raise ScenarioError(path, key + ".after", "must be one of %s, not %r"
                                % (", ".join(ANCHORS), f.after))
        _check_type(path, key + ".seeded", f.seeded, (bool,), "true or false")
        if f.restart and "@" not in f.restart:
            raise ScenarioError(path, key + ".restart", "must be SERVICE@HOST")
    e = s.expect
    if e.relay_involved not in (None, True, False):
        raise ScenarioError(path, "expect.relay_involved", "must be true or false")
    if e.provision not in ("", "recreate", "create"):
        raise ScenarioError(path, "expect.provision", "must be recreate or create")
    if e.provision and not r.provision_after:
        raise ScenarioError(path, "expect.provision",
                            "expects %r but relay.provision_after is not set" % e.provision)
    if e.provision and r.provision_action and \
            not r.provision_action.startswith(e.provision + ":"):
        raise ScenarioError(path, "expect.provision",
                            "expects %r but relay.provision_action is %r"
                            % (e.provision, r.provision_action))
    e.deadline = _nonneg(path, "expect.deadline", e.deadline)
    _validate_cluster(path, s)
    return s


def _validate_cluster(path, s):
    """Servers that parse, none twice; a placement naming places or hosts of the
    scenario's topology and servers of the list."""
    c = s.cluster
    _check_type(path, "cluster.servers", c.servers, (list,), 'a list of servers '
                '(["localhost", "lab2"])')
    if not all(isinstance(x, str) for x in c.servers):
        raise ScenarioError(path, "cluster.servers", "must be a list of strings, not %r"
                            % (c.servers,))
    _check_type(path, "cluster.place", c.place, (dict,), 'a table {dc2 = "lab2"}')
    if c.place and not c.servers:
        raise ScenarioError(path, "cluster.place", "needs cluster.servers")
    if not c.servers:
        return
    try:
        servers = parse_servers(",".join(c.servers))
    except ValueError as e:
        raise ScenarioError(path, "cluster.servers", str(e)) from None
    if not c.place:
        return
    for name, server in c.place.items():
        key = "cluster.place." + name
        _check_type(path, key, server, (str,), "a server's name")
        try:
            parsed = Server.parse(server)
        except ValueError as e:
            raise ScenarioError(path, key, str(e)) from None
        if parsed not in servers:
            raise ScenarioError(path, key, "unknown server %s (cluster.servers: %s)"
                                % (server, ", ".join(c.servers)))
    # the places and hosts named are checked against the topology when the lab is
    # built (lab.cli.cluster.cluster_of, lab.host.cluster_net.placement_for)


TOP_KEYS = ("name", "description", "claims", "topology", "traffic", "dns", "relay",
            "faults", "expect", "provisioner", "cluster")


def parse(text, path="<string>"):
    """A validated Scenario from TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(path, "(syntax)", str(e))
    for key in data:
        if key not in TOP_KEYS:
            raise ScenarioError(path, key, "unknown key (known: %s)" % ", ".join(TOP_KEYS))
    for key in ("name", "topology"):
        if key not in data:
            raise ScenarioError(path, key, "missing")
    for key in ("traffic", "dns", "relay", "expect", "provisioner", "cluster"):
        if not isinstance(data.get(key, {}), dict):
            raise ScenarioError(path, key, "must be a table ([%s])" % key)
    faults_data = data.get("faults", [])
    if not isinstance(faults_data, list):
        raise ScenarioError(path, "faults", "must be an array of tables ([[faults]])")
    faults = []
    for i, fd in enumerate(faults_data):
        if not isinstance(fd, dict):
            raise ScenarioError(path, "faults[%d]" % i, "must be a table")
        for key in ("name", "args"):
            if key not in fd:
                raise ScenarioError(path, "faults[%d].%s" % (i, key), "missing")
        faults.append(_section(path, fd, Fault, "faults[%d]" % i, {"for": "duration"}))
    s = Scenario(
        name=data["name"],
        description=data.get("description", "").strip(),
        claims=data.get("claims", []),
        topology=data["topology"],
        traffic=_section(path, data.get("traffic", {}), Traffic, "traffic"),
        dns=_section(path, data.get("dns", {}), Dns, "dns"),
        relay=_section(path, data.get("relay", {}), Relay, "relay"),
        faults=faults,
        expect=_section(path, data.get("expect", {}), Expect, "expect"),
        provisioner=_section(path, data.get("provisioner", {}), ProvisionerSettings, "provisioner"),
        path=path,
        cluster=_section(path, data.get("cluster", {}), ClusterSettings, "cluster"))
    return _validate(path, s)


def load(name_or_path):
    """A scenario by name (lab/scenarios/NAME.toml) or by the path of a .toml file."""
    path = name_or_path
    if not (name_or_path.endswith(".toml") or os.sep in name_or_path):
        path = os.path.join(SCENARIO_DIR, name_or_path + ".toml")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ScenarioError(path, "(file)", "no such scenario (known: %s)"
                            % ", ".join(names()))
    return parse(text, path)


def names():
    return sorted(os.path.basename(p)[:-5]
                  for p in glob.glob(os.path.join(SCENARIO_DIR, "*.toml")))


def load_all():
    return [load(n) for n in names()]


def relay_timing(relay):
    """The relay's numbers as a real MTA is told them (lab.testbed.mta_role):
    a failed message waits retry_interval first, at most max_retry_interval,
    and the deferred queue is looked at every retry_interval."""
    return Timing(min_backoff=relay.retry_interval, max_backoff=relay.max_retry_interval,
                  queue_run_delay=relay.retry_interval, connect_timeout=relay.connect_timeout,
                  command_timeout=relay.command_timeout, give_up=relay.give_up)


def with_relay_server(scenario, server):
    """A copy of ``scenario`` whose relay host runs ``server``. A real MTA counts
    in whole seconds: its copy has the relay's numbers rounded up, as the MTA
    is configured, and the verdict judges the run by those numbers."""
    if server not in SERVERS:
        raise ValueError("relay server %r: one of %s" % (server, ", ".join(SERVERS)))
    s = copy.deepcopy(scenario)
    s.relay.server = server
    if server != "maillab":
        t = relay_timing(s.relay).whole_seconds(SHORTEST_BACKOFF.get(server, 1))
        r = s.relay
        r.retry_interval, r.max_retry_interval = float(t.min_backoff), float(t.max_backoff)
        r.connect_timeout, r.command_timeout = float(t.connect_timeout), float(t.command_timeout)
        r.give_up = float(t.give_up)
    return s


def sender_timing(traffic):
    """The traffic's numbers as a sending MTA is told them: its timeouts (a
    message it could not hand to any MX host waits a second)."""
    return Timing(connect_timeout=traffic.connect_timeout,
                  command_timeout=traffic.command_timeout)


def with_sender_server(scenario, server):
    """A copy of ``scenario`` whose clients send through ``server``; a real MTA
    is told whole seconds (rounded up), and the run is judged by them."""
    if server not in SERVERS:
        raise ValueError("sender %r: one of %s" % (server, ", ".join(SERVERS)))
    s = copy.deepcopy(scenario)
    s.traffic.server = server
    if server != "maillab":
        t = sender_timing(s.traffic).whole_seconds()
        s.traffic.connect_timeout = float(t.connect_timeout)
        s.traffic.command_timeout = float(t.command_timeout)
    return s


@dataclasses.dataclass
class PlannedFault:
    """One start and stop of a fault, in seconds after its anchor moment."""
    name: str
    args: list
    after: str
    start: float
    stop: object      # float, or None: never stopped until teardown
    restart: str = ""
    index: int = 0    # which [[faults]] entry it came from


def fault_plan(scenario, seed):
    """Concrete fault windows, the same for the same seed."""
    rng = random.Random(seed)
    plan = []
    for i, f in enumerate(scenario.faults):
        for n in range(f.times):
            start = f.at + n * f.every + (rng.uniform(0, f.jitter) if f.jitter else 0.0)
            stop = start + f.duration if f.duration else None
            args = list(f.args) + (["--seed", str(seed)] if f.seeded else [])
            plan.append(PlannedFault(f.name, args, f.after, round(start, 3),
                                     None if stop is None else round(stop, 3),
                                     f.restart, i))
    plan.sort(key=lambda p: (p.after, p.start))
    return plan
