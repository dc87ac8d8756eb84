"""A lab's network spread over several servers, on Mininet's cluster classes.

``mininet.examples.cluster`` (Mininet Cluster Edition, Debian's mininet 2.3)
runs nodes on other servers through SSH and joins servers with SSH Ethernet
tunnels. Subclassed here where the lab needs it:

- ``PlacedMixin``: the lab's SSH options (its key, its known hosts, never a
  prompt, a port) instead of the example's fixed ``ssh user@IP``; every word
  of a remote command quoted, the working directory and environment carried
  over (``env -C DIR K=V``: ssh carries neither); and no cleanup callback:
  Mininet's registers ``ssh SERVER sudo mn -c``, which would wipe every lab
  on that server. A lab removes only its own things (``remote_clean_script``).
- ``TunnelLink``: each tunnel end its own tap number (the stock ``RemoteLink``
  uses tap9 at both ends, which collides when both ends share a kernel, as
  on one machine), its ports with transmit checksum offload off (``ethtool
  -K IF tx off``: a tap hands packets to ssh as they are, and a partial
  checksum would travel unfinished), and recorded for the clean-up.
- ``ByPlacePlacer``: a Mininet ``Placer`` that puts each node where the
  placement says (by default each data center, its switch and its router on
  one server: the router links between places become the tunnels).

No gretap (this kernel has none); no controller (Linux bridges).
"""
import contextlib
import itertools
import json
import logging
import os
import select
import shutil
import shlex
import subprocess
import tempfile
import threading
import uuid

from mininet.examples import cluster as mncluster
from mininet.clean import Cleanup
from mininet.link import TCIntf, TCLink
from mininet.util import decode

from lab.host import cleanup_records as state
from lab.host import interrupt
from lab.host.ssh import LOCAL, Server

log = logging.getLogger(__name__)

TAP_BASE = 700          # tap700, tap701...: far from the tap9 of Mininet's example
TUNNEL_TIMEOUT = 20     # seconds for an SSH tunnel to come up
CHECKSUM_OFF = "ethtool -K %s tx off >/dev/null 2>&1"


# --- placement (pure) -----------------------------------------------------------
def places(plan):
    """The places of a plan in order: the sender site, then each data center."""
    return ["site"] + [dc.name for dc in plan.dcs]


def place_by_dc(plan, servers):
    """{place: server}: the places dealt to the servers in turn (site and dc1 on
    the first two, and so on round again)."""
    return {place: servers[i % len(servers)] for i, place in enumerate(places(plan))}


def node_places(plan):
    """{node name: place} for every node of the plan's topology: hosts by their
    data center, each switch and router with its data center."""
    out = {info.name: info.dc for info in plan.hosts.values()}
    out[plan.site_router] = out[plan.site_switch] = "site"
    for dc in plan.dcs:
        out[dc.router] = out[dc.switch] = dc.name
    return out


def node_servers(plan, servers, placement=None):
    """{node name: server}; ``placement`` ({place or host: server}) overrides the
    default: a place moves its hosts, switch and router, a host moves alone."""
    placement = placement or {}
    where = dict(place_by_dc(plan, servers), **placement)
    out = {node: where[place] for node, place in node_places(plan).items()}
    out.update({name: server for name, server in placement.items() if name in plan.hosts})
    return out


def placement_for(plan, servers, wanted):
    """{place or host: Server} from ``wanted`` ({name: Server or its text}, a
    scenario's ``[cluster] place`` or ``--place NAME=SERVER``); ValueError saying
    what is wrong: a name that is neither a place nor a host of the plan, a server
    not among ``servers``."""
    known = places(plan)
    out = {}
    for name, server in wanted.items():
        if name not in known and name not in plan.hosts:
            raise ValueError("placement %s: unknown place %r (places: %s; or a host: %s)"
                             % (name, name, ", ".join(known), ", ".join(sorted(plan.hosts))))
        try:
            parsed = server if isinstance(server, Server) else Server.parse(str(server))
        except ValueError as e:
            raise ValueError("placement %s=%s: %s" % (name, server, e)) from None
        if parsed not in servers:
            raise ValueError("placement %s=%s: unknown server %s (the lab's servers: %s)"
                             % (name, server, parsed, ", ".join(str(s) for s in servers)))
        out[name] = parsed
    return out


def tunnels(topo, where):
    """[(node, node)]: the topology's links whose ends are on different servers."""
    return [(a, b) for a, b in topo.links() if where[a] != where[b]]


class ByPlacePlacer(mncluster.Placer):
    """Mininet's Placer interface over a computed {node: server name} table."""

    table = {}

    def place(self, node):
        return self.table[node]


def placer_for(table):
    return type("ByPlacePlacer", (ByPlacePlacer,), {"table": dict(table)})


# --- clean-up of a server, only this lab's things (pure) ---------------------------
RUN_TAG = "MAILLAB_CLUSTER_RUN"      # in the environment of every remote process of a lab
PROC_TAG = "MAILLAB_REMOTE_PROC"    # ... and of one of them


def signal_tagged_script(variable, value, signum):
    """A shell script sending ``signum`` to the processes whose environment holds
    ``variable=value``: how a remote process is found (ssh passes no pid back,
    and killing the local ssh client leaves the remote process running)."""
    return ("for p in /proc/[0-9]*; do [ \"${p#/proc/}\" = \"$$\" ] && continue; "
            "tr '\\0' '\\n' <\"$p/environ\" 2>/dev/null | grep -qx %s "
            "&& kill -%d \"${p#/proc/}\" 2>/dev/null; done; true\n"
            % (shlex.quote("%s=%s" % (variable, value)), int(signum)))


def remote_clean_script(records):
    """A shell script removing what ``records`` name on one server: kill the
    processes of the lab (its tag in their environment) and its shells (pid,
    checked to still be a Mininet shell: a pid can be reused), delete links and
    bridges by name. Never ``mn -c``."""
    lines = []
    for kind, name in records:
        q = shlex.quote(str(name))
        if kind == "tag":
            lines.append(signal_tagged_script(RUN_TAG, name, 9).rstrip("\n"))
        elif kind == "shell":
            lines.append("if tr '\\0' ' ' </proc/%s/cmdline 2>/dev/null | grep -q 'mininet:';"
                         " then kill -9 %s; fi" % (q, q))
        elif kind in ("link", "bridge"):
            lines.append("ip link del %s 2>/dev/null" % q)
        else:
            raise ValueError("unknown remote record %r" % kind)
    return "\n".join(lines + ["true"]) + "\n"


def record_remote(server, access, kind, name):
    """Written down before it exists, so that a crashed run's ``maillab clean``
    finds it (lab/host/clean.py)."""
    state.record("remote", json.dumps({"server": str(server), "host": server.host,
                                       "user": server.user, "port": server.port,
                                       "key": access.key, "known_hosts": access.known_hosts,
                                       "kind": kind, "name": str(name)}))


# --- nodes ------------------------------------------------------------------------
class RemotePopen(subprocess.Popen):
    """A process on another server behind its local ssh client: a signal goes to
    the remote process itself (found by its tag), not only to the client."""

    def __init__(self, argv, node, tag, **params):
        self.node, self.tag = node, tag
        super().__init__(argv, **params)

    def send_signal(self, sig):
        if self.poll() is not None:
            return
        try:
            self.node.access.run(self.node.place, ["sh", "-c", signal_tagged_script(
                PROC_TAG, self.tag, sig)], timeout=30)
        except Exception as e:      # no login: at least the local end goes
            log.warning("signal %s to %s on %s: %s", sig, self.args[-1], self.node.place, e)
            super().send_signal(sig)


class PlacedMixin(mncluster.RemoteMixin):
    """A node on ``place`` (a lab.host.ssh.Server) reached with ``access``; every
    process it starts there carries ``run_tag`` in its environment."""

    def __init__(self, name, place=None, access=None, run_tag="", **kwargs):
        self.place, self.access, self.run_tag = place, access, run_tag
        remote = place is not None and not place.is_local
        server = str(place) if remote else LOCAL
        super().__init__(name, server=server, user=place.user if remote else "root",
                         serverIP=kwargs.pop("serverIP", None), **kwargs)

    # Mininet's RemoteMixin registers `ssh SERVER sudo mn -c` as a cleanup callback for
    # every node; a lab must never run it (it wipes every lab on the server)
    @staticmethod
    def _drop_mn_c():
        Cleanup.callbacks[:] = [c for c in Cleanup.callbacks
                                if getattr(c, "__self__", None) is not mncluster.ClusterCleanup]
        mncluster.ClusterCleanup.serveruser.clear()

    def startShell(self, *args, **kwargs):
        self._drop_mn_c()
        if self.isRemote:
            # the lab's ssh, not the example's `sudo -E -u USER ssh -q ... user@IP`
            self.sshcmd = ["ssh", "-tt"] + self.access.options(self.place) + \
                [self.place.destination]
        super().startShell(*args, **kwargs)
        if self.isRemote:
            record_remote(self.place, self.access, "shell", self.pid)

    def _popen(self, cmd, sudo=True, tt=True, **params):
        if isinstance(cmd, str):
            cmd = cmd.split()
        if not self.isRemote:
            # Mininet's own, not RemoteMixin's: its setpgrp() makes the process a group
            # leader, and `mnexec -d` then forks and exits 0 at once (the caller would
            # wait on nothing)
            return super(mncluster.RemoteMixin, self)._popen(cmd, **params)
        remote = list(cmd)
        if remote[:2] == ["mnexec", "-da"]:
            # the same on the server: its login shell leads a session, so `-d` would fork
            # and the ssh client would end while the process runs on, unseen
            remote[:2] = ["mnexec", "-a"]
        cwd, env = params.pop("cwd", None), params.pop("env", None)
        changed = ["%s=%s" % (k, v) for k, v in sorted((env or {}).items())
                   if os.environ.get(k) != v]
        tag = uuid.uuid4().hex
        remote = ["env"] + (["-C", cwd] if cwd else []) + changed + [
            "%s=%s" % (RUN_TAG, self.run_tag), "%s=%s" % (PROC_TAG, tag)] + remote
        if sudo and self.place.user != "root":
            remote = ["sudo", "-E"] + remote
        ssh = list(self.sshcmd) if tt else [w for w in self.sshcmd if w != "-tt"]
        if params.get("stdin") is None:
            params["stdin"] = subprocess.DEVNULL     # ssh would read this process's stdin
        params.setdefault("preexec_fn", self._ignoreSignal)
        argv = ssh + [" ".join(shlex.quote(str(w)) for w in remote)]
        log.debug("remote popen on %s: %s", self.place, remote)
        return RemotePopen(argv, self, tag, **params)


_placed_classes = {}


def placed(cls):
    """``cls`` (a Mininet node class) able to live on another server."""
    if isinstance(cls, type) and issubclass(cls, PlacedMixin):
        return cls
    if cls not in _placed_classes:
        _placed_classes[cls] = type("Placed" + cls.__name__, (PlacedMixin, cls), {})
    return _placed_classes[cls]


# --- links ------------------------------------------------------------------------
class TunnelLink(mncluster.RemoteLink):
    """A veth pair on one server, an SSH Ethernet tunnel between two."""

    _numbers = itertools.count(TAP_BASE)
    _numbers_lock = threading.Lock()

    @classmethod
    def _tap_pair(cls):
        with cls._numbers_lock:
            return next(cls._numbers), next(cls._numbers)

    def makeTunnel(self, node1, node2, intfname1, intfname2, addr1=None, addr2=None):
        if node2.server == LOCAL:       # the tunnel's ssh runs where node1 is: here
            return self.makeTunnel(node2, node1, intfname2, intfname1, addr2, addr1)
        if node1.server != LOCAL:
            raise ValueError("tunnel %s-%s: one end must be on this machine (its ssh "
                             "runs here, with the lab's key)" % (node1, node2))
        n1, n2 = self._tap_pair()
        taps = ((node1, "tap%d" % n1), (node2, "tap%d" % n2))
        for node, tap in taps:
            record_remote(node.place if node.isRemote else Server(LOCAL), node.access,
                          "link", tap)
            out = node.rcmd("ip tuntap add dev %s mode tap" % tap)
            if out.strip():
                raise RuntimeError("tunnel %s-%s: creating %s on %s: %s"
                                   % (node1, node2, tap, node.server, out.strip()))
        # -w N1:N2 with Tunnel=ethernet joins tapN1 here to tapN2 there; "@" once it is
        # up. The remote command ends there and then; the client stays for the tunnel's
        # channel, which closes on the server when the client goes (nothing is left
        # running there, even after a kill -9 here)
        argv = ["ssh", "-n"] + node2.access.options(node2.place) + [
            "-o", "Tunnel=ethernet", "-w", "%d:%d" % (n1, n2), node2.place.destination,
            "echo @"]
        self.cmd = argv
        tunnel = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, preexec_fn=os.setpgrp)
        state.record("pids", tunnel.pid)     # `maillab clean` ends it after a crash
        first = decode(tunnel.stdout.read(1))
        if first != "@":
            tunnel.kill()
            rest = decode(tunnel.stdout.read())
            raise RuntimeError("tunnel %s-%s: ssh %s said: %s"
                               % (node1, node2, node2.place, (first + rest).strip()))
        for (node, tap), intf, addr in zip(taps, (intfname1, intfname2), (addr1, addr2)):
            self.moveIntf(tap, node)
            node.cmd("ip link set %s name %s%s" % (tap, intf,
                                                    " address %s" % addr if addr else ""))
            node.cmd(CHECKSUM_OFF % intf)
        log.info("tunnel %s:%s (tap%d) == %s:%s (tap%d)", node1.server, intfname1, n1,
                 node2.server, intfname2, n2)
        return tunnel

    @staticmethod
    def moveIntf(intf, node):
        out = node.rcmd("ip link set %s netns %s" % (intf, node.pid))
        if out.strip():
            raise RuntimeError("moving %s into %s on %s: %s" % (intf, node, node.server,
                                                                out.strip()))
        return True

    def stop(self):
        if self.tunnel is not None:
            self.tunnel.kill()
            self.tunnel.wait()
        super().stop()


class TunnelTCLink(TunnelLink):
    """A shaped link (TCLink's TCIntf at both ends) that may be a tunnel."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("cls1", TCIntf)
        kwargs.setdefault("cls2", TCIntf)
        kwargs.setdefault("params1", {})
        kwargs.setdefault("params2", {})
        for key in ("bw", "delay", "loss", "max_queue_size", "jitter", "use_htb"):
            if key in kwargs:
                kwargs["params1"][key] = kwargs["params2"][key] = kwargs.pop(key)
        super().__init__(*args, **kwargs)


# --- the network --------------------------------------------------------------------
class LabCluster(mncluster.MininetCluster):
    """MininetCluster with the lab's access, placement table and node classes."""

    def __init__(self, topo, servers, access, table, **kwargs):
        from mininet.nodelib import LinuxBridge
        self.access = access
        self.by_name = {str(s) if not s.is_local else LOCAL: s for s in servers}
        self.run_tag = uuid.uuid4().hex
        self.table = dict(table)
        for server in servers:
            if not server.is_local:
                record_remote(server, access, "tag", self.run_tag)
        names = list(self.by_name)
        super().__init__(topo=topo, servers=names, user="root", precheck=False,
                         serverIP={n: (s.host if not s.is_local else "127.0.0.1")
                                   for n, s in self.by_name.items()},
                         placement=placer_for({node: (str(s) if not s.is_local else LOCAL)
                                               for node, s in table.items()}),
                         host=placed(kwargs.pop("host", mncluster.Host)),
                         switch=placed(kwargs.pop("switch", LinuxBridge)),
                         link=TunnelLink, controller=None, **kwargs)

    def placeNodes(self):
        """Every node of the topology on its server from the table, overwriting what
        an earlier network wrote into the same Topo (MininetCluster's placeNodes
        only sets a node's server where none is set yet)."""
        for node in self.topo.nodes():
            server = self.table.get(node)
            self.topo.nodeInfo(node)["server"] = LOCAL if server is None or \
                server.is_local else str(server)

    def _placed_params(self, name, params):
        server = params.pop("server", None)
        if server:
            place = self.by_name[server]
        elif name in self.table:
            place = self.table[name]
        elif params.get("dc") and hasattr(self.topo, "plan"):
            # a host added to the running lab (the provisioner's): on its DC's server
            place = self.table.get(self.topo.plan.switch_of(name) if name in
                                   self.topo.plan.hosts else
                                   (self.topo.plan.site_switch if params["dc"] == "site"
                                    else self.topo.plan.dc(params["dc"]).switch),
                                   self.by_name.get(LOCAL, Server(LOCAL)))
        else:
            place = Server(LOCAL)
        params["place"] = place
        params["access"] = self.access
        params["run_tag"] = self.run_tag
        params.pop("controlPath", None)
        return params

    def addHost(self, name, cls=None, **params):
        return mncluster.Mininet.addHost(self, name, cls=placed(cls or self.host),
                                         **self._placed_params(name, params))

    def addSwitch(self, name, cls=None, **params):
        sw = mncluster.Mininet.addSwitch(self, name, cls=placed(cls or self.switch),
                                         **self._placed_params(name, params))
        if sw.isRemote:
            record_remote(sw.place, self.access, "bridge", name)
        return sw

    def addLink(self, node1, node2, port1=None, port2=None, cls=None, **params):
        if cls is TCLink:
            cls = TunnelTCLink
        return mncluster.Mininet.addLink(self, node1, node2, port1, port2, cls=cls, **params)


def clean_servers(records=None):
    """Remove, on each server, what the records name (this lab's only); the
    records forgotten. Returns {server: how many things it was asked to remove}."""
    from lab.host.ssh import Access, LoginFailed
    records = state.recorded("remote") if records is None else records
    by_server = {}
    for line in records:
        r = json.loads(line)
        if r["kind"] not in ("tag", "shell", "link", "bridge"):
            continue
        key = (r["host"], r["user"], r["port"], r["key"], r["known_hosts"])
        by_server.setdefault(key, []).append((r["kind"], r["name"]))
    done = {}
    for (host, user, port, key, known), items in by_server.items():
        server = Server(host, user, port)
        # shells first: a namespace goes with its shell, and its interfaces with it
        items.sort(key=lambda kn: ("tag", "shell", "link", "bridge").index(kn[0]))
        script = remote_clean_script(items)
        try:
            if server.is_local:
                subprocess.run(["sh", "-c", script], capture_output=True, timeout=60)
            else:
                Access(key=key, known_hosts=known).run(server, ["sh", "-c", script],
                                                       timeout=60)
        except (LoginFailed, subprocess.TimeoutExpired) as e:
            log.warning("could not clean %s: %s", server, e)
            continue
        done[str(server)] = len(items)
    state.forget("remote")
    return done


@contextlib.contextmanager
def running_cluster_net(topo, servers, access, table):
    """A started network over ``servers``; stopped and every server cleaned of this
    lab's things however the block ends. The lab lock is the caller's."""
    net = None
    try:
        for name, server in table.items():
            if name in topo.switches() and server.is_local:
                state.record("bridges", name)
        net = LabCluster(topo, servers, access, table)
        net.start()
        yield net
    finally:
        with interrupt.shielded():
            if net is not None:
                try:
                    net.stop()
                except Exception as e:
                    log.warning("net.stop failed (%s: %s); cleaning up", type(e).__name__, e)
            clean_servers()


# --- a Unix socket of this machine, reachable on another server -----------------------
@contextlib.contextmanager
def forwarded_socket(access, server, remote_path, local_path, timeout=TUNNEL_TIMEOUT):
    """``remote_path`` on ``server`` is ``local_path`` here for as long as the block
    lasts (``ssh -R REMOTE:LOCAL``: each connection there is made here), e.g. the
    provisioner's socket for a relay on another server. The remote end waits for
    the socket, says "@", and ends when its input (this side's ssh) closes."""
    remote = ("while [ ! -S %s ]; do sleep 0.05; done; echo @; exec cat >/dev/null"
              % shlex.quote(remote_path))
    argv = ["ssh"] + access.options(server) + [
        "-o", "ExitOnForwardFailure=yes", "-o", "StreamLocalBindUnlink=yes",
        "-R", "%s:%s" % (remote_path, local_path), server.destination, remote]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=os.setpgrp)
    state.record("pids", proc.pid)     # `maillab clean` ends it after a crash
    try:
        ready = select.select([proc.stdout], [], [], timeout)[0]
        first = decode(proc.stdout.read(1)) if ready else ""
        if first != "@":
            proc.kill()
            rest = decode(proc.stdout.read() or b"")
            raise RuntimeError("forwarding %s to %s:%s: %s" % (
                local_path, server, remote_path, (first + rest).strip() or "no answer"))
        log.info("%s on %s forwards to %s here", remote_path, server, local_path)
        yield remote_path
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- a lab's servers and its run directory on them ------------------------------------
class Cluster:
    """The servers of one lab (``servers``, [Server], ``localhost`` among them or
    not), how to reach them (``access``) and an optional ``placement``
    ({place: Server}, places being ``site``, ``dc1``...). A server holds the run
    directory at the same path as this machine (``push``), and what its hosts
    wrote there comes back before the verdict reads it (``gather``)."""

    def __init__(self, servers, access, placement=None):
        self.servers, self.access, self.placement = list(servers), access, placement

    def __repr__(self):
        return "Cluster(%s)" % ", ".join(str(s) for s in self.servers)

    def placed(self, plan):
        """The explicit placement, checked against ``plan`` ({place or host: Server};
        ValueError for an unknown place, host or server)."""
        return placement_for(plan, self.servers, self.placement or {})

    def table(self, plan):
        """{node: Server} for a plan's topology."""
        return node_servers(plan, self.servers, self.placed(plan))

    def remote_names(self, plan, table=None):
        """{remote Server: [host names placed there]} (hosts only: what writes files)."""
        table = table or self.table(plan)
        out = {}
        for name in plan.hosts:
            server = table.get(name)
            if server is not None and not server.is_local:
                out.setdefault(server, []).append(name)
        return out

    def describe(self, plan):
        """"site on localhost, dc1 on 127.0.0.2:2222": where each place runs."""
        placed = self.placed(plan)
        where = dict(place_by_dc(plan, self.servers), **placed)
        return ", ".join(["%s on %s" % (place, where[place]) for place in places(plan)] +
                         ["%s on %s" % (name, server) for name, server in placed.items()
                          if name in plan.hosts])

    def push(self, rundir):
        """The run directory, as it is now, copied to each remote server (tar over ssh)."""
        for server in self.servers:
            if server.is_local:
                continue
            pack = subprocess.Popen(["tar", "--format=posix", "-C", rundir, "-cf", "-", "."],
                                    stdout=subprocess.PIPE)
            unpack = subprocess.run(self.access.ssh_argv(server, push_command(rundir)),
                                    stdin=pack.stdout, capture_output=True, text=True,
                                    timeout=120)
            pack.stdout.close()
            if pack.wait() != 0 or unpack.returncode != 0:
                raise RuntimeError("copying the run directory to %s: %s"
                                   % (server, unpack.stderr.strip()))

    def gather(self, rundir, names_by_server):
        """Each remote server's host directories (every generation) fetched through
        ssh into a staging directory, then put in place of the local ones; returns
        {server: bytes fetched}."""
        fetched = {}
        for server, names in names_by_server.items():
            staging = tempfile.mkdtemp(prefix=".gathered-", dir=rundir)
            try:
                fetch = subprocess.Popen(self.access.ssh_argv(server, gather_command(
                    rundir, names)), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
                counter = _CountingReader(fetch.stdout)
                unpack = subprocess.Popen(["tar", "-C", staging, "-xf", "-"],
                                          stdin=subprocess.PIPE, stderr=subprocess.PIPE)
                for chunk in iter(lambda: counter.read(1 << 16), b""):
                    unpack.stdin.write(chunk)
                unpack.stdin.close()
                err = fetch.stderr.read().decode(errors="replace")
                if fetch.wait(120) != 0 or unpack.wait(120) != 0:
                    raise RuntimeError("gathering from %s: %s %s" % (
                        server, err.strip(), unpack.stderr.read().decode(errors="replace")))
                for entry in sorted(os.listdir(staging)):
                    local = os.path.join(rundir, entry)
                    if os.path.isdir(local):
                        shutil.rmtree(local)
                    os.rename(os.path.join(staging, entry), local)
                fetched[str(server)] = counter.count
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return fetched


def fetch(access, server, rundir, names, into, patterns=()):
    """A copy of the named host directories on ``server`` as they are now (every
    generation; only the files matching ``patterns``, shell globs, when given),
    fetched through ssh into ``into`` (same layout as the run directory); the
    run directory here is left alone. Returns the bytes fetched."""
    fetcher = subprocess.Popen(access.ssh_argv(server, view_command(rundir, names, patterns)),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    unpack = subprocess.run(["tar", "-C", into, "-xf", "-"], stdin=fetcher.stdout,
                            capture_output=True, timeout=120)
    fetcher.stdout.close()
    err = fetcher.stderr.read().decode(errors="replace")
    if fetcher.wait(120) != 0 or unpack.returncode != 0:
        raise RuntimeError("fetching %s from %s: %s %s" % (", ".join(names), server,
                                                           err.strip(), unpack.stderr.decode(
                                                               errors="replace").strip()))
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(into) for f in fs)


class _CountingReader:
    def __init__(self, stream):
        self.stream, self.count = stream, 0

    def read(self, n):
        data = self.stream.read(n)
        self.count += len(data)
        return data


def view_command(rundir, names, patterns=()):
    """The remote end of ``fetch``: the named host directories (every generation),
    or only their files named like ``patterns``, as one tar stream (empty when
    there is none). The hosts are running: a log that grows while it is read is
    sent as far as it was (GNU tar's status 1, "file changed as we read it", is
    not a failure)."""
    globs = " ".join("%s %s.gen*" % (shlex.quote(n), shlex.quote(n)) for n in names)
    pick = ""
    if patterns:
        pick = "-type f \\( %s \\) " % " -o ".join("-name %s" % shlex.quote(p)
                                                    for p in patterns)
    return ["sh", "-c", "cd %s && set -- $(ls -d %s 2>/dev/null); "
            "if [ $# -eq 0 ]; then exec tar -cf - --files-from /dev/null; fi; "
            "find \"$@\" %s-print0 2>/dev/null | tar --format=posix -cf - --null "
            "--no-recursion --warning=no-file-changed --files-from - || [ $? -eq 1 ]"
            % (shlex.quote(rundir), globs, pick)]


def push_command(rundir):
    """The remote end of ``Cluster.push``: files the server has already are left
    alone (on one machine they are the very files this process has open, the
    provisioner's log among them: replaced, its later lines would go nowhere)."""
    q = shlex.quote(rundir)
    return ["sh", "-c", "mkdir -p %s && chmod 755 %s && exec tar -C %s --skip-old-files -xf -"
            % (q, q, q)]


def gather_command(rundir, names):
    """The remote end of ``Cluster.gather``: the named host directories, every
    generation (``mx1``, ``mx1.gen2``...), as one tar stream. POSIX (pax) format:
    GNU tar's default keeps whole seconds of a file's time, and a message's
    delivery time is its Maildir file's mtime (lab/evidence/records.py)."""
    globs = " ".join("%s %s.gen*" % (shlex.quote(n), shlex.quote(n)) for n in names)
    return ["sh", "-c", "cd %s && set -- $(ls -d %s 2>/dev/null) && "
            "exec tar --format=posix -cf - --files-from /dev/null \"$@\""
            % (shlex.quote(rundir), globs)]
