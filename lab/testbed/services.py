"""Start the lab's servers inside their Mininet hosts, wait until they are
ready, and stop them.

Each service is its own process (``host.popen``) running the command line of
docs/design.md, in a working directory of its own under the run directory, with
``MAILLAB_HOST`` set so its events name the host. Hosts share the machine's
filesystem (and so /etc/resolv.conf), so the lab DNS server is given to every
tool explicitly (``--dns ADDR:PORT``, ``dig @ADDR``) instead of through a
per-host resolver file.

Readiness is probed with short-lived processes in a host's namespace
(``host.popen``), never through a host's interactive shell: the provisioner
starts services from its own thread while the lab's main thread may be using
the shells.
"""
import json
import os
import signal
import subprocess
import sys

from lab import ROOT
from lab.host import cleanup_records as state
from lab.host.speed import deadline
from lab.host.waiting import NotReady, tcp_open_from, wait_until
from topologies.addressing import DNS_PORT, MAIL_DOMAIN, SMTP_PORT
from topologies.nodes import plain_logger

log = plain_logger(__name__)

PYTHON = sys.executable
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


class ServiceFailed(RuntimeError):
    pass


def dig(host, server, name, rtype="A", port=DNS_PORT, timeout=2):
    """``dig +short`` run in ``host`` against the lab DNS server; its answer lines."""
    p = host.popen(["dig", "@%s" % server, "-p", str(port), "+short", "+time=%d" % timeout,
                    "+tries=1", name, rtype], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
    out, _ = p.communicate()
    if p.returncode != 0:
        return []
    return [line.strip() for line in out.splitlines()
            if line.strip() and not line.startswith(";")]


class Service:
    """One server process in one host."""

    def __init__(self, kind, host, argv, workdir, ready_port=None, ready_ip=None):
        self.kind = kind            # dns, mx, relay, sender
        self.host = host            # the Mininet node
        self.argv = argv
        self.workdir = workdir
        self.ready_ip = ready_ip
        self.ready_port = ready_port
        self.stderr_path = os.path.join(workdir, "%s.stderr" % kind)
        self.events_path = os.path.join(workdir, "events.jsonl")
        self.proc = None

    @property
    def name(self):
        return "%s/%s" % (self.host.name, self.kind)

    def start(self):
        env = dict(os.environ, PYTHONPATH=ROOT, MAILLAB_HOST=self.host.name,
                   PYTHONUNBUFFERED="1")
        with open(self.stderr_path, "ab") as err:
            self.proc = self.host.popen(self.argv, cwd=self.workdir, env=env,
                                        stdin=subprocess.DEVNULL,
                                        stdout=err, stderr=subprocess.STDOUT)
        state.record("pids", self.proc.pid)
        log.info("started %s pid %d: %s", self.name, self.proc.pid, " ".join(self.argv))
        return self

    def stderr(self, tail=40):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-tail:])
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def listening(self):
        return "listening on" in self.stderr()

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise ServiceFailed("%s exited with status %s:\n%s"
                                % (self.name, self.proc.returncode, self.stderr()))

    def stop(self, timeout=STOP_TIMEOUT):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s ignored SIGTERM; killing it", self.name)
            self.proc.kill()
            self.proc.wait()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_ready(services, probe_from, timeout=START_TIMEOUT):
    """Wait until every service printed ``listening on`` and its port accepts
    connections from ``probe_from`` (a host in another subnet, so routing is
    proven too). A service that exits is reported with its stderr."""
    pending = list(services)
    timeout = deadline(timeout)

    def all_ready():
        for svc in list(pending):
            svc.check_alive()
            if not svc.listening():
                continue
            if svc.ready_port is None or tcp_open_from(probe_from, svc.ready_ip, svc.ready_port):
                pending.remove(svc)
        return not pending
    try:
        wait_until(all_ready, timeout, "services", interval=0.05)
    except NotReady:
        raise ServiceFailed("not ready after %.0f s: %s\n%s" % (
            timeout, ", ".join(s.name for s in pending),
            "\n".join("--- %s stderr:\n%s" % (s.name, s.stderr()) for s in pending))) from None


def host_dir(rundir, name, generation=1):
    """A host's working directory; a re-created host gets a fresh one (a new disk)."""
    d = os.path.join(rundir, name if generation == 1 else "%s.gen%d" % (name, generation))
    os.makedirs(d, exist_ok=True)
    return d


# --- the command lines of docs/design.md ----------------------------------------

def dns_argv(info, workdir, zone, tsig_key, health=None, extra=(), module="servers.dns"):
    argv = [PYTHON, "-m", module, "--zone", zone, "--listen", info.ip,
            "--port", str(DNS_PORT), "--tsig-key", tsig_key,
            "--events", os.path.join(workdir, "events.jsonl")]
    if health:
        argv += ["--health", health]
    return argv + list(extra)


def mx_argv(info, workdir, domains=(MAIL_DOMAIN,), extra=()):
    argv = [PYTHON, "-m", "servers.mx"]
    for d in domains:
        argv += ["--domain", d]
    argv += ["--maildir", os.path.join(workdir, "Maildir"), "--listen", info.ip,
             "--port", str(SMTP_PORT), "--events", os.path.join(workdir, "events.jsonl")]
    return argv + list(extra)


def relay_argv(info, workdir, dns_addr, provisioner=None, domains=(MAIL_DOMAIN,), extra=(),
               sites=None, module="servers.relay"):
    """``provisioner``: (endpoint 'unix:PATH', secret file) or None; given to the
    relay only with a provisioning threshold in ``extra`` (--provision-after),
    with ``sites`` (the data centers file its recovery policy probes).
    ``module``: what ``python -m`` runs (tests run broken variants this way)."""
    argv = [PYTHON, "-m", module]
    for d in domains:
        argv += ["--domain", d]
    argv += ["--queue", os.path.join(workdir, "queue"), "--listen", info.ip,
             "--port", str(SMTP_PORT), "--dns", dns_addr,
             "--events", os.path.join(workdir, "events.jsonl"),
             "--self-name", info.fqdn]
    if provisioner and "--provision-after" in extra:
        argv += ["--provisioner", provisioner[0], "--provisioner-secret", provisioner[1]]
        if sites:
            argv += ["--sites", sites]
    return argv + list(extra)


def sender_argv(workdir, dns_addr, to, count, extra=()):
    return [PYTHON, "-m", "servers.sender", "--dns", dns_addr, "--to", to,
            "--count", str(count), "--ledger", os.path.join(workdir, "ledger.jsonl"),
            "--events", os.path.join(workdir, "events.jsonl")] + list(extra)


def dns_service(host, info, workdir, zone, tsig_key, health=None, extra=()):
    return Service("dns", host, dns_argv(info, workdir, zone, tsig_key, health, extra), workdir,
                   DNS_PORT, info.ip)


def mx_service(host, info, workdir, domains=(MAIL_DOMAIN,), extra=()):
    return Service("mx", host, mx_argv(info, workdir, domains, extra), workdir, SMTP_PORT,
                   info.ip)


def relay_service(host, info, workdir, dns_addr, provisioner=None, domains=(MAIL_DOMAIN,),
                  extra=(), sites=None):
    return Service("relay", host, relay_argv(info, workdir, dns_addr, provisioner, domains,
                                             extra, sites), workdir, SMTP_PORT, info.ip)


def sender_service(host, workdir, dns_addr, to, count, extra=()):
    return Service("sender", host, sender_argv(workdir, dns_addr, to, count, extra), workdir)


def check_configs(commands, timeout=30.0):
    """Run ``ARGV --check`` for each (name, argv) at once, as plain processes of
    this machine (no namespace is needed to read files); raise ServiceFailed
    with every failing server's own message."""
    timeout = deadline(timeout)
    env = dict(os.environ, PYTHONPATH=ROOT)
    running = [(name, subprocess.Popen(argv + ["--check"], env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True))
               for name, argv in commands]
    failed = []
    try:
        for name, proc in running:
            try:
                out, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                out += "(--check did not finish in %.0f s)" % timeout
            if proc.returncode != 0:
                failed.append("%s: %s" % (name, out.strip()))
    except BaseException:       # a signal stopped the command: the checks go with it
        for _, proc in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        raise
    if failed:
        raise ServiceFailed("configuration check failed, nothing started:\n"
                            + "\n".join(failed))


def wait_exit(service, timeout):
    """Wait for a finite service (the sender) to finish; its exit status."""
    try:
        return service.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        service.kill()
        raise ServiceFailed("%s did not finish in %.0f s:\n%s"
                            % (service.name, timeout, service.stderr())) from None


def send_summary(rows, count):
    """``12 of 12 accepted: {"mx1": 7, "relay1": 5}`` from a batch's ledger rows."""
    by_server = {}
    for r in rows:
        by_server[r.get("mx") or r.get("server")] = by_server.get(
            r.get("mx") or r.get("server"), 0) + 1
    return "%d of %d accepted: %s" % (len(rows), count, json.dumps(by_server))
