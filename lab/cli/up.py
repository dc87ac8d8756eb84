"""``maillab up``: a lab with all services, then Mininet's CLI with lab commands.

Lab commands (besides Mininet's own): ``send N [CLIENT]``, ``mail HOST``,
``queue``, ``status``, ``events [N]``, ``recreate NAME``, ``create DC`` and
``fault ...`` (the fault scripts, where installed).
"""
import importlib
import importlib.util
import json
import logging
import os
import subprocess
import sys

from mininet.cli import CLI

from lab import ROOT
from lab.host.interrupt import Interrupted, ctrl_c_ends_one_command, run_command
from lab.testbed.services import send_summary
from lab.web.server import live_view, watching
from topologies.nodes import plain_logger

log = plain_logger(__name__)


class LabCLI(CLI):
    prompt = "maillab> "

    def __init__(self, lab, **kwargs):
        self.lab = lab
        super().__init__(lab.net, **kwargs)

    def onecmd(self, line):
        with ctrl_c_ends_one_command():     # (at the prompt itself Ctrl-C ends the lab)
            return super().onecmd(line)

    def _say(self, text):
        self.stdout.write(text.rstrip("\n") + "\n")

    def do_send(self, line):
        "send N [CLIENT]: send N messages from a client (default client1) via DNS MX"
        args = line.split()
        try:
            count = int(args[0]) if args else 1
        except ValueError:
            return self._say("usage: send N [CLIENT]")
        rows = self.lab.send(count, client=args[1] if len(args) > 1 else None)
        self._say(send_summary(rows, count))

    def do_mail(self, line):
        "mail HOST: the messages in HOST's Maildir"
        name = line.strip() or "mx1"
        files = self.lab.messages(name)
        self._say("%s: %d messages in %s" % (name, len(files), self.lab.maildir(name)))
        for path in files[-10:]:
            self._say("  " + path)

    def do_queue(self, _line):
        "queue: the relay's queue (message, next hop, attempts, last error)"
        if self.lab.relay_server == "postfix":
            name = self.lab.plan.relay.name
            argv = ["postqueue", "-c", self.lab.services[name].instance.etc, "-p"]
            if self.lab.server_of(name) is not None:    # asked on the relay's server
                ask = self.lab.net.get(name).popen(argv, stdout=subprocess.PIPE,
                                                   stderr=subprocess.STDOUT)
                return self._say(ask.communicate(timeout=30)[0].decode(errors="replace"))
            listing = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            return self._say(listing.stdout + listing.stderr)
        try:
            from servers.relay.listing import format_queue_listing
            entries = self.lab.queue_entries()
        except ImportError:
            return self._say("queue: the relay is not installed")
        self._say(format_queue_listing(entries))

    def do_status(self, _line):
        "status: services up/down and the MX answer a client gets"
        st = self.lab.status()
        for name, up in sorted(st["services"].items()):
            self._say("  %-16s %s" % (name, up))
        self._say("  MX example.org: %s" % ", ".join("%d %s" % mx for mx in st["mx"]))

    def do_events(self, line):
        "events [N]: the last N events (default 20)"
        try:
            n = int(line) if line.strip() else 20
        except ValueError:
            return self._say("usage: events [N]")
        for e in self.lab.events(last=n):
            self._say(json.dumps(e))

    def do_recreate(self, line):
        "recreate NAME: replace messaging server NAME by a new host, same name/IP/MAC"
        self._action(self.lab.recreate, line.strip() or "mx1")

    def do_create(self, line):
        "create DC: a new messaging server in data center DC, added to DNS"
        self._action(self.lab.create, line.strip() or "dc2")

    def _action(self, action, arg):
        try:
            self._say(json.dumps(action(arg)))
        except Exception as e:
            self._say("failed: %s" % e)

    def do_fault(self, line):
        "fault ...: fault scripts (see 'fault help')"
        try:
            mod = importlib.import_module("lab.faults.console")
        except ModuleNotFoundError as e:
            if e.name not in ("lab.faults", "lab.faults.console"):
                raise
            return self._say("fault: not available in this version")
        result = mod.run_fault_command(self.lab, line)
        if result:
            self._say(str(result))


def run(topology, web_args=None, **opts):
    from lab.testbed.mail_lab import Lab
    logging.getLogger("mininet").propagate = False     # it prints for itself
    from lab.host.net import describe_switches
    print("*** maillab: bringing %s up on %s" % (topology, describe_switches(
        opts.get("switch", "lxbr"))), flush=True)
    with live_view(web_args, "up %s" % topology, allow_actions=True) as view, \
            Lab(topology, **opts) as lab, watching(view, lab):
        print("*** maillab: %s up in %.1f s on %s; run directory %s" % (
            topology, lab.timings["up"], lab.switches, lab.rundir))
        print("*** lab commands: send N, mail HOST, queue, status, events [N], "
              "recreate NAME, create DC, fault ...")
        try:
            LabCLI(lab)
        except Interrupted:
            _end_line()
            raise
    return 0


def _end_line():
    """A signal leaves the prompt (or a command's output) without its newline."""
    try:
        print(flush=True)
    except OSError:     # the terminal is gone (SIGHUP)
        pass


def cmd_up(args):
    from lab.cli.cluster import cluster_of
    opts = {"switch": args.switch, "relay_server": getattr(args, "relay", "maillab"),
            "mx_server": getattr(args, "mx", "maillab")}
    if args.topology == "n_dc":
        opts.update(dcs=args.dcs, mx_per_dc=args.mx_per_dc)
    try:
        from lab.testbed.mail_lab import make_topology
        cluster = cluster_of(args, plan=make_topology(args.topology, **{
            k: v for k, v in opts.items() if k in ("dcs", "mx_per_dc")}).plan)
    except ValueError as e:
        print("maillab up: %s" % e, file=sys.stderr)
        return 2
    if cluster is not None:
        opts["cluster"] = cluster
    return run(args.topology, web_args=args, **opts)


def _reexec_in_venv():
    """The servers need the project's virtualenv (Twisted is not in Debian's
    python3): a topology script started with plain ``python3`` re-runs itself there."""
    if importlib.util.find_spec("twisted") is not None:
        return
    venv_python = os.path.join(ROOT, ".venv", "bin", "python")
    if not os.access(venv_python, os.X_OK):
        raise SystemExit("maillab needs Twisted: run lab/provision.sh (it makes %s)" % venv_python)
    os.execv(venv_python, [venv_python] + sys.argv)


def main_for_topology(name, argv=()):
    """``sudo python3 topologies/NAME.py [N M]``: the same as ``maillab up NAME``."""
    _reexec_in_venv()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from mininet.log import setLogLevel
    setLogLevel("info")
    opts = {}
    if name == "n_dc" and argv:
        opts["dcs"] = int(argv[0])
        if len(argv) > 1:
            opts["mx_per_dc"] = int(argv[1])
    return run_command("topologies/%s.py" % name, run, name, **opts)


__all__ = ["LabCLI", "cmd_up", "main_for_topology", "run"]

if __name__ == "__main__":     # topologies/NAME.py run as a script (topologies/base.py)
    sys.exit(main_for_topology(sys.argv[1], sys.argv[2:]))
