"""How the relay recovers a messaging server that stays down: re-create it in
place, or have one created in another data center (claims 2, 6, 10, 14, 18, 19).

Per server ("IP:PORT"), from what the relay itself observes:

1. The scheduler retries periodically (its backoff); nothing to decide yet.
2. ``threshold`` seconds after the server's first failed connection, if it
   has not answered since, the policy probes the server itself, its data
   center's router and the other hosts there (the sites file says which):
   - the server answers: it is back, nothing to do;
   - the data center is healthy (its router answers, and at least one other
     host when it has any): ask the provisioner to re-create the server in
     place (same name, IP and MAC); it must answer a probe within
     ``recreate_deadline`` seconds of the request;
   - the data center is not healthy, or the provisioner refuses (no capacity,
     DC down), or the deadline passes: ask for a server in another data
     center whose router answers (in the sites file's order), tell the
     provisioner which server it replaces (so DNS stops preferring it), and
     re-route the stored mail there (``scheduler.replace_server``);
   - nobody can take over: say so, and decide again ``threshold`` seconds later.
3. After a remote replacement the old server is watched; when it answers, the
   route pins made for it are undone (``restore_routes``, if the policy says
   so) and the provisioner is told (``returned``), so that DNS lists it again.

A router or host "answers" when a TCP connection to it is accepted or refused
(an RST: the host is up); a time-out or "no route" means it does not.  A
messaging server answers only when its SMTP port accepts.  Every decision is a
``recovery_decision`` event with what was probed, the reasons, and a story
line such as "mx1 down 3.0 s -> dc1 healthy -> re-create in place".

The policy does no I/O of its own: ``probe(host, port, timeout)`` and
``provision(action, **fields)`` are given to it (``tcp_probe`` and the
provisioner client in the service, fakes in tests), and so is the clock.
"""
import functools
import ipaddress
import json
import logging
from dataclasses import dataclass, field

from twisted.internet import defer, task
from zope.interface import provider

from servers.common.endpoints import parse_host_port
from servers.common.tcp_probe import ACCEPTED, REFUSED, UNREACHABLE, connect_outcome
from servers.relay.interfaces import IProber

log = logging.getLogger(__name__)


def is_up(outcome):
    """A host that accepted or refused a connection is up."""
    return outcome in (ACCEPTED, REFUSED)


@dataclass
class Site:
    """A data center as the relay sees it: where its servers are, what to probe."""
    name: str
    subnet: object                                   # ipaddress.IPv4Network
    router: str = ""                                 # "IP:PORT" to probe
    hosts: dict = field(default_factory=dict)        # name -> "IP:PORT"

    def holds(self, addr):
        try:
            return ipaddress.ip_address(parse_host_port(addr)[0]) in self.subnet
        except ValueError:
            return False


class Sites:
    """The data centers, in the order the policy tries them for a replacement.

    The sites file is JSON: ``{"dcs": [{"name": "dc1", "subnet": "10.0.1.0/24",
    "router": "10.0.1.1:25", "hosts": {"dns1": "10.0.1.2:53", "mx1":
    "10.0.1.10:25"}}, ...]}``."""

    def __init__(self, sites):
        self.sites = list(sites)

    @classmethod
    def from_dict(cls, data):
        return cls(Site(d["name"], ipaddress.ip_network(d["subnet"]), d.get("router", ""),
                        dict(d.get("hosts", {}))) for d in data["dcs"])

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def of(self, server):
        return next((s for s in self.sites if s.holds(server)), None)

    def others(self, site):
        return [s for s in self.sites if s is not site]


class Outage:
    """One server's outage, from its first failed connection until it answers
    again, is re-created, or is replaced and then returns."""

    def __init__(self, server, name, since):
        self.server = server
        self.name = name
        self.since = since
        self.state = "retrying"      # retrying, deciding, replaced
        self.timer = None
        self.replacement = None


class Recovery:
    def __init__(self, clock, probe, provision, events, sites, threshold,
                 recreate_deadline=10.0, probe_timeout=1.0, watch_interval=1.0,
                 restore_routes=True):
        self.clock = clock
        self.probe = probe
        self.provision = provision
        self.events = events
        self.sites = sites
        self.threshold = threshold
        self.recreate_deadline = recreate_deadline
        self.probe_timeout = probe_timeout
        self.watch_interval = watch_interval
        self.restore_routes = restore_routes
        self.outages = {}            # "IP:PORT" -> Outage
        self.names = {}              # "IP:PORT" -> host name, learned from the provisioner
        self.scheduler = None
        self.stopped = False

    def attach(self, scheduler):
        """The scheduler: ``held_for``, ``replace_server``, ``server_back``, ``restore_routes``."""
        self.scheduler = scheduler

    def stop(self):
        self.stopped = True
        for o in self.outages.values():
            if o.timer is not None and o.timer.active():
                o.timer.cancel()

    # -- what the scheduler observes ------------------------------------------
    def failed(self, server, label=""):
        """A connection to ``server`` failed (``label``: its MX name, if any)."""
        if self.stopped or server in self.outages:
            return
        o = self.outages[server] = Outage(server, self._name(server, label), self.clock.seconds())
        self.events.emit("server_down", server=server, name=o.name)
        o.timer = self.clock.callLater(self.threshold, self._decide, o)

    def succeeded(self, server):
        """A connection to ``server`` was accepted."""
        o = self.outages.get(server)
        if o is None:
            return
        if o.state == "retrying":
            if o.timer is not None and o.timer.active():
                o.timer.cancel()
            self._end(o, "answered")
        elif o.state == "replaced":
            self._returned(o)
        # deciding: the decision in progress sees it in its own probes

    def _name(self, server, label):
        if server in self.names:
            return self.names[server]
        if label and ":" not in label:
            return label.split(".")[0]      # "mx1.lab.example.org." -> "mx1"
        return ""

    # -- deciding ----------------------------------------------------------------
    def _current(self, o):
        return not self.stopped and self.outages.get(o.server) is o

    def _probe(self, what, name, addr):
        """Deferred (what, name, addr, outcome); never fails."""
        host, port = parse_host_port(addr)
        d = defer.maybeDeferred(self.probe, host, port, self.probe_timeout)
        d.addErrback(lambda f: "%s (%s)" % (UNREACHABLE, f.getErrorMessage()))
        d.addCallback(lambda outcome: {"what": what, "name": name, "addr": addr,
                                       "outcome": outcome})
        return d

    @defer.inlineCallbacks
    def _decide(self, o):
        o.timer = None
        if not self._current(o):
            return
        o.state = "deciding"
        site = self.sites.of(o.server)
        label = o.name or o.server
        wanted = [self._probe("server", label, o.server)]
        if site is not None:
            if site.router:
                wanted.append(self._probe("router", site.name + " router", site.router))
            wanted += [self._probe("host", name, addr) for name, addr in sorted(site.hosts.items())
                       if addr != o.server and name != o.name]
        probes = yield defer.gatherResults(wanted)
        if not self._current(o):
            return
        down = "%s down %.1f s" % (label, self.clock.seconds() - o.since)
        if probes[0]["outcome"] == ACCEPTED:
            self._decision(o, "none", probes, [], "%s -> it answers again" % down)
            self._end(o, "answered")
            return
        healthy, reasons = judge(site, probes[1:])
        if healthy and o.name:
            story = "%s -> %s healthy -> re-create in place" % (down, site.name)
            self._decision(o, "recreate", probes, reasons, story, dc=site.name)
            why = yield self._recreate(o, site)
            if why is None or not self._current(o):
                return
            reasons = reasons + [why]
            down = "%s -> %s" % (story, why)
        elif healthy:
            reasons = reasons + ["its name is unknown: it cannot be re-created in place"]
            down = "%s -> unknown server" % down
        elif site is None:
            down = "%s -> its data center is unknown" % down
        else:
            down = "%s -> %s unhealthy" % (down, site.name)
        yield self._replace_elsewhere(o, site, probes, reasons, down)

    def _decision(self, o, decision, probes, reasons, story, **fields):
        log.info("recovery of %s: %s", o.server, story)
        self.events.emit("recovery_decision", server=o.server, name=o.name, decision=decision,
                         down_seconds=round(self.clock.seconds() - o.since, 3),
                         probes=[dict(p) for p in probes], reasons=list(reasons),
                         story=story, **fields)

    def _request(self, o, action, **fields):
        held = self.scheduler.held_for(o.server) if self.scheduler is not None else None
        self.events.emit("provision_requested", action=action, server=o.server,
                         next_hop=o.server, messages=held,
                         outage_seconds=round(self.clock.seconds() - o.since, 3), **fields)
        d = defer.maybeDeferred(self.provision, action, **fields)
        d.addTimeout(self.recreate_deadline, self.clock)
        return d

    @defer.inlineCallbacks
    def _ask(self, o, action, **fields):
        """(reply, None) when the provisioner did it; (None, why) when not."""
        try:
            reply = yield self._request(o, action, **fields)
        except defer.TimeoutError:
            why = "no answer from the provisioner within %g s" % self.recreate_deadline
        except Exception as e:
            why = "provisioner unreachable: %s" % e
        else:
            if reply.get("ok"):
                return reply, None
            why = "provisioner refused: %s" % (reply.get("error") or "no reason given")
        self.events.emit("provision_failed", server=o.server, action=action, error=why, **fields)
        return None, why

    @defer.inlineCallbacks
    def _recreate(self, o, site):
        """None when ``o``'s server is back in place; else why not."""
        asked = self.clock.seconds()
        reply, why = yield self._ask(o, "recreate", name=o.name, dc=site.name)
        if reply is None:
            return why
        while True:
            probe = yield self._probe("server", o.name, o.server)
            if not self._current(o):
                return None
            if probe["outcome"] == ACCEPTED:
                self._end(o, "recreated")
                return None
            if self.clock.seconds() - asked >= self.recreate_deadline:
                return "re-created %s not up within %g s (%s)" % (
                    o.name, self.recreate_deadline, probe["outcome"])
            yield task.deferLater(self.clock, self.watch_interval, lambda: None)

    @defer.inlineCallbacks
    def _replace_elsewhere(self, o, site, probes, reasons, story):
        candidates = self.sites.others(site) if site is not None else list(self.sites.sites)
        for other in candidates:
            if other.router:
                router = yield self._probe("router", other.name + " router", other.router)
                probes = probes + [router]
                if not is_up(router["outcome"]):
                    reasons = reasons + ["%s router %s: %s" % (other.name, other.router,
                                                               router["outcome"])]
                    continue
            step = "%s -> create a server in %s" % (story, other.name)
            self._decision(o, "create", probes, reasons, step, dc=other.name)
            fields = {"dc": other.name}
            if o.name:
                fields["replaces"] = o.name
            # its mail waits for the answer, then follows its rewritten next hop
            self.scheduler.hold_for_replacement(o.server)
            reply, why = yield self._ask(o, "create", **fields)
            if reply is None or not self._current(o):
                self.scheduler.hold_for_replacement(o.server, False)
            if not self._current(o):
                return
            if reply is None:
                reasons = reasons + ["%s: %s" % (other.name, why)]
                story = "%s -> %s" % (step, why)
                continue
            new_hop = "%s:%d" % (reply["ip"], int(reply.get("port", 25)))
            if reply.get("name"):
                self.names[new_hop] = reply["name"]
            o.state, o.replacement = "replaced", new_hop
            moved = yield self.scheduler.replace_server(o.server, new_hop)
            self.events.emit("replaced", server=o.server, name=o.name, new=new_hop,
                             new_name=reply.get("name"), dc=reply.get("dc"), messages=moved)
            self._watch(o)
            return
        self._decision(o, "wait", probes, reasons,
                       "%s -> no data center can take over: deciding again in %g s"
                       % (story, self.threshold))
        o.state = "retrying"
        o.timer = self.clock.callLater(self.threshold, self._decide, o)

    # -- after a decision --------------------------------------------------------
    def _end(self, o, how):
        del self.outages[o.server]
        self.events.emit("recovered", server=o.server, name=o.name, how=how,
                         down_seconds=round(self.clock.seconds() - o.since, 3))
        if self.scheduler is not None:
            self.scheduler.server_back(o.server)

    def _watch(self, o):
        """Probe a replaced server every ``watch_interval``; act when it is back."""
        def look():
            o.timer = None
            if not self._current(o):
                return
            d = self._probe("server", o.name, o.server)

            def seen(probe):
                if not self._current(o):
                    return
                if probe["outcome"] == ACCEPTED:
                    self._returned(o)
                else:
                    o.timer = self.clock.callLater(self.watch_interval, look)
            d.addCallback(seen)
        o.timer = self.clock.callLater(self.watch_interval, look)

    def _returned(self, o):
        if o.timer is not None and o.timer.active():
            o.timer.cancel()
        undone = []
        if self.restore_routes and self.scheduler is not None:
            undone = self.scheduler.restore_routes(o.server)
        self.events.emit("recovery_decision", server=o.server, name=o.name, decision="restore",
                         down_seconds=round(self.clock.seconds() - o.since, 3), probes=[],
                         reasons=["%s answers again" % (o.name or o.server)],
                         story="%s is back -> %s" % (
                             o.name or o.server,
                             "routes to %s undone" % o.replacement if self.restore_routes
                             else "mail stays with %s" % o.replacement),
                         routes=[list(r) for r in undone])
        self._end(o, "returned")
        if o.name:
            d = defer.maybeDeferred(self.provision, "returned", name=o.name)
            d.addCallbacks(
                lambda reply: None if reply.get("ok") else self.events.emit(
                    "provision_failed", server=o.server, action="returned",
                    error=reply.get("error") or "refused"),
                lambda f: self.events.emit("provision_failed", server=o.server,
                                           action="returned", error=f.getErrorMessage()))


def judge(site, probes):
    """(healthy, reasons) of a data center from its router and host probes."""
    if site is None:
        return False, ["no data center is known for this address"]
    reasons = ["%s %s %s (%s)" % (p["name"], p["addr"], "up" if is_up(p["outcome"]) else "down",
                                  p["outcome"]) for p in probes]
    router = [p for p in probes if p["what"] == "router"]
    hosts = [p for p in probes if p["what"] == "host"]
    router_up = all(is_up(p["outcome"]) for p in router)
    hosts_up = not hosts or any(is_up(p["outcome"]) for p in hosts)
    return router_up and hosts_up, reasons


def tcp_probe(reactor):
    """``probe(host, port, timeout)`` -> Deferred outcome, with real connections."""
    return provider(IProber)(functools.partial(connect_outcome, reactor))
