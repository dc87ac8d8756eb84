"""A running maillab: network, services, provisioner, and helpers.

The single place that knows how to bring a lab up; ``maillab up``, the
topology scripts, the lab tests and the scenarios all use it::

    with Lab("two_dc") as lab:
        lab.send(50)
        print(lab.messages("mx1"))
"""
import contextlib
import importlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

from lab.testbed import services as svc
from lab import ROOT
from lab.evidence import provenance
from lab.host import interrupt
from lab.testbed import zone as lab_zone
from lab.host import cleanup_records as state
from lab.host.lock import lab_lock
from lab.host.speed import deadline
from lab.host.net import describe_switches, prepare_host, running_net
from lab.testbed.mta_role import MX, RELAY, SENDER, SERVERS, MtaRole, Timing
from lab.testbed.route_keeper import RouteKeeper
from lab.host.waiting import tcp_open_from, wait_until
from servers.common.events import EventLog, read_events
from servers.mx.maildir import messages_under
from topologies.base import host_params
from topologies.nodes import plain_logger
from topologies.addressing import DNS_PORT, MAIL_DOMAIN, SMTP_PORT

log = plain_logger(__name__)

TOPOLOGY_MODULES = {"one_dc": "topologies.one_dc", "two_dc": "topologies.two_dc",
                    "n_dc": "topologies.n_dc"}
DEFAULT_RCPT = "user@" + MAIL_DOMAIN
# the service each role of the address plan runs (its log is that service's)
ROLE_SERVICE = {"client": provenance.SENDER_SERVICE}
LOCK_TIMEOUT = 900.0    # seconds to wait for another lab on this machine to finish


def make_topology(name, **opts):
    """The topology registered as ``name`` (with this machine's WAN options)."""
    if name not in TOPOLOGY_MODULES:
        raise ValueError("unknown topology %r (one of %s)" % (name, ", ".join(TOPOLOGY_MODULES)))
    return importlib.import_module(TOPOLOGY_MODULES[name]).topos[name](**opts)


class Lab:
    """Use as a context manager; everything it started stops when the block ends.

    Options: ``switch`` (lxbr/ovs), ``dns_health`` (a health-check file for
    the DNS server, its health-checked mode), ``relay_args``/``mx_args``/
    ``dns_args`` (extra command-line options), ``provisioner`` (run it),
    ``fresh_disk`` (a re-created mx gets an empty Maildir, as a new machine
    would; False keeps its predecessor's, a shared store), ``keep`` (leave
    the run directory for inspection), ``capacity`` ({dc: how many more
    servers the provisioner may put there}) and ``dc_down`` (data centers it
    refuses), ``mx_hosts`` (the messaging servers listed as MX; default mx1),
    ``relay_module``/``dns_module`` (the module ``python -m`` runs for that
    server: tests substitute a broken variant this way, from Python, never
    through a command-line switch), ``relay_server`` (``maillab``, or ``postfix``:
    a private Postfix as the backup MX, lab.testbed.mta_postfix, configured from
    ``relay_timing``, a lab.testbed.mta_role.Timing; ``relay_mta_extra``: more
    main.cf lines, which tests use to inject a broken configuration),
    ``sender_server`` (``postfix``: a private Postfix on each of ``sender_hosts``,
    the clients, that the scenario's messages are handed to; ``sender_timing``),
    ``mx_server`` (``postfix``: every messaging server, those the provisioner
    creates too, a private Postfix delivering into the host's Maildir).
    """

    def __init__(self, topology="two_dc", switch="lxbr", dns_health=False, relay_args=(),
                 mx_args=(), dns_args=(), provisioner=True, fresh_disk=True, keep=False,
                 start_timeout=svc.START_TIMEOUT, capacity=None, dc_down=(), mx_hosts=None,
                 relay_module="servers.relay", dns_module="servers.dns", relay_server="maillab",
                 relay_timing=None, relay_mta_extra=(), sender_server="maillab",
                 sender_hosts=(), sender_timing=None, mx_server="maillab",
                 cluster=None, **topo_opts):
        self.topo = (make_topology(topology, **topo_opts) if isinstance(topology, str)
                     else topology)
        self.plan = self.topo.plan
        if mx_hosts:
            self.plan.mail_exchangers = list(mx_hosts)
        self.capacity, self.dc_down = capacity, dc_down
        self.mx_removed = set()     # servers whose MX a replacement took out of DNS
        self.switch = switch
        self.dns_health = dns_health
        self.relay_args, self.mx_args, self.dns_args = relay_args, mx_args, dns_args
        self.with_provisioner = provisioner
        self.fresh_disk = fresh_disk
        self.keep = keep
        self.start_timeout = start_timeout
        self.relay_module, self.dns_module = relay_module, dns_module
        self.cluster = cluster      # lab.host.cluster_net.Cluster: spread over its servers
        self.gathered = {}          # {server: bytes of evidence fetched from it}
        if relay_server not in SERVERS:
            raise ValueError("relay server %r: one of %s" % (relay_server, ", ".join(SERVERS)))
        self.relay_server = relay_server
        self.relay_timing = relay_timing or Timing()
        self.relay_mta_extra = list(relay_mta_extra)
        if sender_server not in SERVERS:
            raise ValueError("sender %r: one of %s" % (sender_server, ", ".join(SERVERS)))
        self.sender_server = sender_server
        self.sender_hosts = list(sender_hosts) if sender_server != "maillab" else []
        self.sender_timing = sender_timing or Timing()
        if mx_server not in SERVERS:
            raise ValueError("mx server %r: one of %s" % (mx_server, ", ".join(SERVERS)))
        self.mx_server = mx_server
        self.net = None
        self.rundir = None
        self.services = {}          # host name -> Service (one server per host)
        self.generation = {}        # host name -> how many times it was (re)created
        self.provisioner = None
        self.health_file = None
        self.route_keepers = {}     # node name -> RouteKeeper
        self.timings = {}
        self._sends = 0
        self._mutex = threading.RLock()   # the provisioner's thread and the caller's
        self._stack = None

    # --- life cycle --------------------------------------------------------
    def __enter__(self):
        self._stack = contextlib.ExitStack()
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc):
        self._stop()
        return False

    def _stop(self):
        """Everything started, stopped in reverse order; a signal waits until it is done."""
        with interrupt.shielded():
            self._stack.close()
        if self.rundir:
            interrupt.note("lab torn down, run directory %s" % (
                "kept: %s" % self.rundir if self.keep else "removed"))

    def _start(self):
        # the lock first, so that "up" measures the lab and not a wait for another one
        self._stack.enter_context(lab_lock(timeout=LOCK_TIMEOUT))
        t0 = time.monotonic()
        self.rundir = tempfile.mkdtemp(prefix="maillab-run-")
        os.chmod(self.rundir, 0o755)
        self._stack.callback(self._remove_rundir)
        # the provisioner's own log: only this process (its thread and the
        # provisioning actions below) writes it
        self.lab_events = EventLog(self.events_path("provisioner"),
                                   service="provisioner", host="provisioner")
        self._write_dns_files()
        self.sites_file = self._write_sites()
        if self.with_provisioner:
            from lab.testbed.provisioner import Capacity, Provisioner
            self.provisioner = Provisioner(self, os.path.join(self.rundir, "provisioner.sock"),
                                           os.path.join(self.rundir, "provisioner.secret"),
                                           capacity=Capacity(self.capacity, self.dc_down))
        # every kind of server checks its options and files before any namespace
        # exists; the messaging servers share their options (each gets its own
        # fresh directory from the lab), so the first one speaks for all
        servers = self._server_commands()
        kinds = {}
        for info, kind, argv in servers:
            if argv is not None:        # a real MTA has no --check of ours
                kinds.setdefault(kind, (info.name, argv))
        svc.check_configs(list(kinds.values()))
        self.net = self._stack.enter_context(running_net(self.topo, switch=self.switch,
                                                         cluster=self.cluster))
        if not self.keep:   # recorded after running_net's clean start, which sweeps these
            state.record("dirs", self.rundir)
        self._stack.callback(self._stop_services)
        self._stack.callback(self._stop_route_keepers)
        for node in self.net.hosts:
            self._keep_routes(node, start=self.cluster is None)
        if self.cluster is not None:
            # the other servers' copy of the run directory (files, route keepers' scripts)
            self.cluster.push(self.rundir)
            for keeper in self.route_keepers.values():
                keeper.start()
        self._one_arp_per_connect(self.net.get(self.plan.relay.name))
        if self.provisioner is not None:
            self.provisioner.start()
            self._stack.callback(self.provisioner.stop)
            forward = self._provisioner_forward()
            if forward is not None:
                from lab.host.cluster_net import forwarded_socket
                self._stack.enter_context(forwarded_socket(
                    self.cluster.access, forward[0], forward[1], self.provisioner.socket_path))
        started = {}
        for info, kind, argv in servers:
            if kind == "dns" and self.health_file:
                # a health-checking DNS server starts once the servers it probes are
                # listening, or its first answers (and events) would show them down
                svc.wait_ready(list(started.values()), self.probe_host, self.start_timeout)
            port = DNS_PORT if kind == "dns" else SMTP_PORT
            service = self._mta_service(info, kind) if argv is None else svc.Service(
                kind, self.net.get(info.name), argv, self._dir(info.name), port, info.ip)
            started[info.name] = self._start_service(service)
        for name in self.sender_hosts:      # a real MTA on each sending client
            self._start_service(self._mta_service(self.plan.host(name), "sender"))
        svc.wait_ready(list(self.services.values()), self.probe_host, self.start_timeout)
        full = self.expected_mx()
        wait_until(lambda: self.mx_records() == full, deadline(self.start_timeout),
                   "lab DNS answering MX %s" % full)
        self.timings["up"] = time.monotonic() - t0
        log.info("lab %s up in %.2f s on %s (run dir %s)", type(self.topo).__name__,
                 self.timings["up"], self.switches, self.rundir)

    def _provisioner_forward(self):
        """(server, socket path there) when the relay starts on another server: the
        provisioner's socket is forwarded there (a Unix socket is one machine's)."""
        if self.cluster is None or self.provisioner is None:
            return None
        server = self.cluster.table(self.plan).get(self.plan.relay.name)
        if server is None or server.is_local:
            return None
        return server, os.path.join(self.rundir, "provisioner.forwarded.sock")

    def _server_commands(self):
        """[(host info, kind, argv)] of the servers at start, the DNS server last."""
        servers = [(info, "mx", None if self.mx_server != "maillab" else
                    svc.mx_argv(info, self._dir(info.name), extra=self.mx_args))
                   for info in self.plan.by_role("mx")]
        relay, dns = self.plan.relay, self.plan.dns
        prov = self.provisioner.endpoint if self.provisioner else None
        if prov and self._provisioner_forward() is not None:
            # a relay on another server: the provisioner's socket forwarded there
            prov = ("unix:%s" % self._provisioner_forward()[1], prov[1])
        servers.append((relay, "relay", None if self.relay_server != "maillab" else
                        svc.relay_argv(relay, self._dir(relay.name), self.dns_addr,
                                       provisioner=prov, sites=self.sites_file,
                                       extra=self.relay_args, module=self.relay_module)))
        servers.append((dns, "dns", svc.dns_argv(dns, self._dir(dns.name), self.zone_file,
                                                 self.key_file, health=self.health_file,
                                                 extra=self.dns_args, module=self.dns_module)))
        return servers

    def _mta_service(self, info, kind):
        """A real MTA (lab.testbed.mta_postfix) for host ``info`` in the role
        ``kind``: relay, mx or sender."""
        from lab.testbed.mta_postfix import PostfixService, missing_tools
        missing = missing_tools()
        if missing:
            raise svc.ServiceFailed("%s: Postfix is not installed (%s missing; lab/provision.sh "
                                    "installs it)" % (info.name, ", ".join(missing)))
        relay = kind == "relay"
        role = MtaRole({"relay": RELAY, "mx": MX}.get(kind, SENDER), info.fqdn, info.ip,
                       self.plan.dns.ip, (MAIL_DOMAIN,),
                       self.relay_timing if relay else self.sender_timing,
                       maildir=self.maildir(info.name) if kind == "mx" else "")
        return PostfixService(kind, self.net.get(info.name), role, self._dir(info.name),
                              SMTP_PORT, extra=self.relay_mta_extra if relay else ())

    def _mx_service(self, host, info):
        """The messaging server of a host the provisioner (re-)creates."""
        if self.mx_server != "maillab":
            return self._mta_service(info, "mx")
        return svc.mx_service(host, info, self._dir(info.name), extra=self.mx_args)

    def mta_queue_dirs(self):
        """{host: queue directory} of the real MTAs on sending clients."""
        return {name: self.services[name].queue_directory for name in self.sender_hosts
                if name in self.services}

    def relay_queue_dir(self):
        """Where the relay keeps what it holds: its queue directory, or a real MTA's."""
        d = self._dir(self.plan.relay.name)
        return os.path.join(d, "postfix", "queue") if self.relay_server == "postfix" \
            else os.path.join(d, "queue")

    def _remove_rundir(self):
        if not self.keep:
            shutil.rmtree(self.rundir, ignore_errors=True)

    def _stop_services(self):
        for service in reversed(list(self.services.values())):
            try:
                service.stop()
            except Exception:
                log.exception("stopping %s", service.name)
        if self.keep:
            log.warning("run directory kept: %s", self.rundir)

    @staticmethod
    def _one_arp_per_connect(node):
        """The relay resolves a neighbour with one ARP request (mcast_solicit=1),
        so that on the wire each of its connects towards a host that is gone is
        one request: the kernel's retries of a single connect (three, a second
        apart, by default) never look like the relay's own retries (claim 6)."""
        for intf in node.intfNames():
            if intf != "lo":
                node.cmd("sysctl -qw net.ipv4.neigh.%s.mcast_solicit=1" % intf)

    def _keep_routes(self, node, start=True):
        keeper = RouteKeeper(node, os.path.join(self.rundir, "routes"))
        self.route_keepers[node.name] = keeper.start() if start else keeper

    def _stop_route_keepers(self):
        for keeper in self.route_keepers.values():
            keeper.stop()

    def gather_evidence(self):
        """On a lab over several servers: what the hosts on the others wrote (events,
        Maildirs, queues) fetched into this run directory; a no-op on one machine."""
        if self.cluster is None:
            return {}
        table = {node.name: getattr(node, "place", None) for node in self.net.hosts}
        names = {}
        for name, server in table.items():
            if server is not None and not server.is_local and name in self.plan.hosts:
                names.setdefault(server, []).append(name)
        fetched = self.cluster.gather(self.rundir, names)
        for server, size in fetched.items():
            self.gathered[server] = self.gathered.get(server, 0) + size
        log.info("evidence gathered: %s", ", ".join("%d bytes from %s" % (n, s)
                                                    for s, n in fetched.items()))
        return fetched

    # --- places ---------------------------------------------------------------
    @property
    def switches(self):
        """What the switches are: "Linux bridges", "Open vSwitch, userspace datapath"...
        (and where each place runs, on a lab over several servers)."""
        if self.cluster is not None:
            return "%s over %d servers (%s)" % (describe_switches(self.switch),
                                                len(self.cluster.servers),
                                                self.cluster.describe(self.plan))
        return describe_switches(self.switch)

    @property
    def dns_addr(self):
        return "%s:%d" % (self.plan.dns.ip, DNS_PORT)

    @property
    def probe_host(self):
        """Where readiness is probed from: the first client, across the routers."""
        return self.net.get(self.plan.clients[0].name)

    def host(self, name):
        return self.net.get(name)

    @property
    def dns_host(self):
        return self.plan.dns.name

    def events_path(self, name):
        """The events file of host ``name`` (or of ``faults``, the fault scripts)."""
        d = os.path.join(self.rundir, "faults") if name == "faults" else self._dir(name)
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, "events.jsonl")

    def partition_links(self, dc_a, dc_b):
        """[(node, node)]: the router links whose cutting separates two data centers."""
        return self.plan.links_between(dc_a, dc_b)

    def _dir(self, name):
        gen = self.generation.setdefault(name, 1)
        return svc.host_dir(self.rundir, name, gen)

    def _write_dns_files(self):
        d = self._dir(self.plan.dns.name)
        self.zone_file = lab_zone.write_zone(self.plan, os.path.join(d, "zone.db"))
        self.key_file = lab_zone.generate_key_file(os.path.join(self.rundir, "tsig.key"))
        self.health_file = None
        if self.dns_health:
            # True, or {"interval": S, "timeout": S, "ttl": N} (a scenario's [dns] table)
            opts = dict({"interval": 1.0, "timeout": 0.5, "ttl": 5},
                        **(self.dns_health if isinstance(self.dns_health, dict) else {}))
            self.health_file = os.path.join(d, "health.toml")
            with open(self.health_file, "w") as f:
                f.write('interval = %s\ntimeout = %s\nttl = %d\n\n[[mx]]\n'
                        'name = "%s."\nport = %d\n' % (float(opts["interval"]),
                                                        float(opts["timeout"]), int(opts["ttl"]),
                                                        MAIL_DOMAIN, SMTP_PORT))

    def _write_sites(self):
        """The data centers as the relay's recovery policy sees them: each one's
        subnet, its router (probed on a closed port: an RST says it is up) and
        the servers in it (the relay itself left out)."""
        path = os.path.join(self.rundir, "sites.json")
        with open(path, "w") as f:
            json.dump(self.plan.sites(), f, indent=1)
        return path

    def _start_service(self, service):
        self.services[service.host.name] = service.start()
        return service

    # --- helpers ------------------------------------------------------------------
    def dig(self, name, rtype="A", client=None):
        return svc.dig(self.net.get(client or self.plan.clients[0].name), self.plan.dns.ip,
                       name, rtype)

    def expected_mx(self):
        """[(preference, target)]: the MX records the lab's zone starts with."""
        return lab_zone.mx_set(self.plan)

    def mx_records(self, client=None):
        """[(preference, target)] as a client sees them."""
        out = []
        for line in self.dig(MAIL_DOMAIN, "MX", client):
            pref, target = line.split()
            out.append((int(pref), target))
        return sorted(out)

    def send(self, count, client=None, to=DEFAULT_RCPT, timeout=60, extra=()):
        """Send ``count`` messages from a client through the lab DNS; the ledger
        rows of this batch (one per 250 received)."""
        client = client or self.plan.clients[0].name
        self._sends += 1
        workdir = os.path.join(self._dir(client), "send%d" % self._sends)
        os.makedirs(workdir, exist_ok=True)
        sender = svc.sender_service(self.net.get(client), workdir, self.dns_addr, to, count,
                                    extra=["--msgid-prefix", "%s-%d" % (client, self._sends)]
                                    + list(extra))
        sender.start()
        try:
            status = svc.wait_exit(sender, timeout)
        except BaseException:       # Ctrl-C in the CLI: the sender goes too
            sender.kill()
            raise
        if status != 0:
            log.warning("sender exited %s:\n%s", status, sender.stderr())
        return read_events(os.path.join(workdir, "ledger.jsonl"))

    def maildir(self, name):
        """The Maildir of ``name``'s current messaging server."""
        return os.path.join(self._dir(name), "Maildir")

    def messages(self, name):
        """Message files delivered to ``name`` (new and cur, every mailbox); of a
        host on another server, as they are there now (their paths there)."""
        with self._current_files([name]) as root:
            maildir = os.path.join(root, os.path.relpath(self.maildir(name), self.rundir))
            return sorted(os.path.join(self.rundir, os.path.relpath(path, root))
                          for _, path in messages_under(maildir))

    def queue_entries(self):
        """The relay's queue as servers.relay.queue.QueueEntry objects (read on its
        server, on a lab over several)."""
        from servers.relay.queue import Queue
        relay = self.plan.relay.name
        with self._current_files([relay]) as root:
            return Queue(os.path.join(root, os.path.relpath(self._dir(relay), self.rundir),
                                      "queue")).entries()

    def server_of(self, name):
        """The server holding host ``name`` when it is another one (a lab over
        several servers), else None."""
        if self.cluster is None or self.net is None:
            return None
        place = getattr(self.net.nameToNode.get(name), "place", None)
        return place if place is not None and not place.is_local else None

    def remote_hosts(self):
        """The hosts on other servers (a lab over several servers), by name."""
        if self.cluster is None or self.net is None:
            return []
        return [h.name for h in self.net.hosts if self.server_of(h.name) is not None]

    @contextlib.contextmanager
    def current_view(self):
        """The run directory as it is now, to read from: the run directory itself on
        one machine; over several servers, a scratch copy in which the hosts on
        other servers are fetched just now and everything else here is linked
        (removed after)."""
        remote = self.remote_hosts()
        if not remote:
            yield self.rundir
            return
        with self._current_files(remote) as copy:
            for entry in os.listdir(self.rundir):
                if not os.path.lexists(os.path.join(copy, entry)):
                    os.symlink(os.path.join(self.rundir, entry), os.path.join(copy, entry))
            yield copy

    @contextlib.contextmanager
    def _current_files(self, names, patterns=()):
        """A directory laid out as the run directory to read ``names``' files from
        as they are now: the run directory itself; for hosts on other servers, a
        copy fetched from them just now (this machine's copy of their directories
        is the one pushed at the start), outside the run directory and removed
        after."""
        remote = {}
        for name in names:
            server = self.server_of(name)
            if server is not None:
                remote.setdefault(server, []).append(name)
        if not remote:
            yield self.rundir
            return
        from lab.host.cluster_net import fetch
        copy = tempfile.mkdtemp(prefix="maillab-fetched-")
        try:
            for server, on_it in remote.items():
                fetch(self.cluster.access, server, self.rundir, on_it, copy, patterns)
            yield copy
        finally:
            shutil.rmtree(copy, ignore_errors=True)

    def queue(self):
        """The relay's queue: id, msgid, recipients, next_hop, attempts, last_error."""
        return [{"id": e.id, "msgid": e.msgid, "recipients": list(e.recipients),
                 "next_hop": e.next_hop, "attempts": e.attempts,
                 "next_attempt": e.next_attempt, "last_error": e.last_error}
                for e in self.queue_entries()]

    def status(self):
        """{service: "up"|"down"} and the MX answer a client gets."""
        with self._mutex:
            services = {}
            for name, service in self.services.items():
                ok = service.alive() and (service.ready_port is None or tcp_open_from(
                    self.probe_host, service.ready_ip, service.ready_port))
                services[service.name] = "up" if ok else "down"
        return {"services": services, "mx": self.mx_records()}

    def events(self, last=None):
        """Every event of this run (all hosts, the provisioner), in time order, each
        attributed to the host and service owning its log file, whatever the line says."""
        roles = self.roles()
        remote = [name for name in self.net.nameToNode if self.server_of(name)] \
            if self.cluster is not None and self.net is not None else []
        # the hosts on other servers: their files as they are there now
        events = provenance.read_run_events(self.rundir, roles, skip=remote)
        if remote:
            with self._current_files(remote, provenance.EVENT_FILES) as copy:
                events += provenance.read_run_events(copy, roles)
            events.sort(key=lambda e: e.get("ts", 0))
        return events[-last:] if last else events

    def roles(self):
        """{host: the service whose log its directory holds} (lab.evidence.provenance)."""
        return {name: ROLE_SERVICE.get(info.role, info.role)
                for name, info in self.plan.hosts.items()}

    def fault(self, name, *args, duration=None):
        """Start fault ``name`` of ``lab.faults.FAULTS`` with its lab-level
        arguments, e.g. ``lab.fault("cut", "mx1", "s1")``; returns once it is in
        force. The handle's ``stop()`` undoes it; ``evidence()`` is what it did."""
        from lab.faults.api import start_fault
        return start_fault(self.net, name, [str(a) for a in args], self.rundir,
                           self.events_path("faults"), duration=duration)

    def kill_host(self, name):
        """Make ``name`` a dead machine with the ``destroy`` fault: its interfaces
        deleted, its processes killed, and the fault's events (what it deleted
        and killed) in the run's fault log like any other fault's."""
        with self._mutex:
            handle = self.fault("destroy", name)
            service = self.services.get(name)
            if service is not None:
                service.kill()          # reaps the process the fault killed
            return handle.evidence()

    # --- provisioning actions (called by the provisioner's thread, or directly) ----
    def dc_of(self, name):
        """The data center of messaging server ``name``."""
        info = self.plan.host(name)
        if info.role != "mx":
            raise ValueError("%s is not a messaging server" % name)
        return info.dc

    def recreate(self, name):
        """Replace host ``name`` by a new one with the same name, IP and MAC on the
        same switch, its messaging server started; returns the `created` record."""
        with self._mutex:
            t0 = time.monotonic()
            info = self.plan.host(name)
            if info.role != "mx":
                raise ValueError("%s is not a messaging server" % name)
            old = self.services.pop(name, None)
            if old is not None:
                old.kill()
            if name in self.net:
                self._remove_host(self.net.get(name))
            if self.fresh_disk:
                self.generation[name] = self.generation.get(name, 1) + 1
            host = self._add_host(info)
            service = self._start_service(self._mx_service(host, info))
            self._wait_ready_from_router(info, [service])
            if name in self.mx_removed:     # a replacement had taken its MX away
                self._dns_update(host, adds=[lab_zone.mx_record(name)])
                self.mx_removed.discard(name)
                self.lab_events.emit("mx_restored", name=name, ip=info.ip, why="recreated")
            return self._created(info, time.monotonic() - t0, action="recreate")

    def returned(self, name):
        """Messaging server ``name`` answers again after a replacement took its MX
        record out of DNS: list it again."""
        with self._mutex:
            info = self.plan.host(name)
            self.dc_of(name)
            restored = name in self.mx_removed
            if restored:
                self._dns_update(self.net.get(self.plan.dns.name),
                                 adds=[lab_zone.mx_record(name)])
                self.mx_removed.discard(name)
                self.lab_events.emit("mx_restored", name=name, ip=info.ip, why="returned")
            return {"name": name, "ip": info.ip, "dc": info.dc, "mx_restored": restored}

    def create(self, dc, replaces=None):
        """A new messaging server in data center ``dc``, added to DNS (A and MX);
        the MX of the server it ``replaces`` is removed in the same UPDATE."""
        with self._mutex:
            t0 = time.monotonic()
            if replaces is not None:
                self.dc_of(replaces)
            info = self.plan.plan_new_mx(dc)
            try:
                host = self._add_host(info)
                service = self._start_service(self._mx_service(host, info))
                self._wait_ready_from_router(info, [service])
                deletes = [lab_zone.mx_record(replaces, ttl=None)] if replaces else []
                self._dns_update(host, adds=["%s %d A %s" % (lab_zone.fqdn(info.name),
                                                             lab_zone.TTL, info.ip),
                                             lab_zone.mx_record(info.name)], deletes=deletes)
                if replaces is not None:
                    self.mx_removed.add(replaces)
            except BaseException:
                self._undo_create(info)
                raise
            return self._created(info, time.monotonic() - t0, action="create",
                                 replaces=replaces)

    def _undo_create(self, info):
        """A failed create leaves no trace: no server, no host, no planned address."""
        service = self.services.pop(info.name, None)
        if service is not None:
            service.kill()
        if info.name in self.net:
            self._remove_host(self.net.get(info.name))
        self.plan.hosts.pop(info.name, None)

    def _remove_host(self, host):
        keeper = self.route_keepers.pop(host.name, None)
        if keeper is not None:
            keeper.stop()
        for link in [l for l in self.net.links if host in (l.intf1.node, l.intf2.node)]:
            port = link.intf2 if link.intf1.node is host else link.intf1
            if hasattr(port.node, "detach"):    # an OVS bridge keeps the port in its database
                port.node.detach(port)
            self.net.delLink(link)
        self.net.delHost(host)

    def _add_host(self, info):
        """Add a planned host, link it to its switch, bring the link into the bridge."""
        switch = self.net.get(self.plan.switch_of(info.name))
        host = self.net.addHost(info.name, **host_params(info))
        if getattr(host, "isRemote", False):    # its directory, on the server it runs on
            out = host.rcmd("mkdir -p %s" % self._dir(info.name))
            if out.strip():
                raise svc.ServiceFailed("mkdir on %s: %s" % (host.server, out.strip()))
        link = self.net.addLink(host, switch)
        host.configDefault()
        prepare_host(host, self.switch)
        sw_intf = link.intf2 if link.intf2.node is switch else link.intf1
        if hasattr(switch, "attach") and "OVS" in type(switch).__name__:
            switch.attach(sw_intf)
        elif getattr(switch, "isRemote", False):     # a bridge on another server
            out = switch.rcmd("ip link set %s master %s up" % (sw_intf.name, switch.name))
            if out.strip():
                raise svc.ServiceFailed("adding %s to %s on %s: %s" % (
                    sw_intf.name, switch.name, switch.server, out.strip()))
        else:
            # Mininet's attach() exists for OVS only; a Linux bridge takes the port directly
            subprocess.run(["ip", "link", "set", sw_intf.name, "master", switch.name, "up"],
                           check=True)
        self._keep_routes(host)
        # as a booting machine does: a gratuitous ARP, so that a neighbour whose entry
        # for this address failed while it was dead (the relay) learns it at once
        host.cmd("arping -q -U -c 1 -w 1 -I %s %s >/dev/null 2>&1 &" % (host.defaultIntf(), info.ip))
        return host

    def _wait_ready_from_router(self, info, services):
        """The provisioner's readiness probe, from the new server's data-center router
        (its own address, not the relay's): on the wire it is never taken for one of
        the relay's connection attempts (lab/verdict/wire.py counts the relay's
        SYNs by their source address)."""
        router = self.net.get(self.plan.dc(info.dc).router)
        # a new machine: the router learns its MAC afresh, as from a gratuitous ARP
        # (an entry left from the host it replaces would send the probe nowhere)
        router.cmd("ip neigh flush to %s" % info.ip)
        svc.wait_ready(services, router, self.start_timeout)

    def _dns_update(self, host, adds=(), deletes=()):
        """A TSIG-signed UPDATE sent from ``host`` (the orchestrator has no route
        into the lab)."""
        argv = [svc.PYTHON, "-m", "lab.testbed.dns_update", "--server", self.dns_addr,
                "--key", self.key_file, "--zone", MAIL_DOMAIN + "."]
        for d in deletes:
            argv += ["--delete", d]
        for a in adds:
            argv += ["--add", a]
        p = host.popen(argv, env=dict(os.environ, PYTHONPATH=ROOT),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = p.communicate(timeout=20)
        if p.returncode != 0:
            raise svc.ServiceFailed("DNS update from %s failed: %s" % (host.name, out.strip()))

    def _created(self, info, seconds, action, **extra):
        record = dict({"name": info.name, "ip": info.ip, "port": SMTP_PORT, "dc": info.dc,
                       "mac": info.mac, "seconds": round(seconds, 3)}, **extra)
        self.lab_events.emit("created", action=action, **record)
        self.timings.setdefault(action, []).append(seconds)
        log.info("%s %s (%s, %s) in %.2f s", action, info.name, info.ip, info.dc, seconds)
        return record


__all__ = ["Lab", "make_topology"]
