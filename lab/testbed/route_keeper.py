"""Static routes that come back with their link.

Linux deletes a route when its interface is taken down, and does not put it
back when the interface comes up again; a router or host with configured
static routes would (ifupdown's ``up`` hooks, a router's configuration). So a
fault that cuts a link and restores it would otherwise leave the network
without routes. Each node therefore runs a small keeper in its namespace
that re-applies the node's routes on every link change (``ip monitor link``).
"""
import os
import signal
import subprocess

from lab.host import cleanup_records as state


def route_commands(node):
    """The ``ip route replace`` commands that give ``node`` its configured routes."""
    cmds = []
    for subnet, via in node.params.get("routes", ()):
        cmds.append("ip route replace %s via %s" % (subnet, via))
    default = node.params.get("defaultRoute")
    if default:
        cmds.append("ip route replace default %s" % default)
    return cmds


def keeper_script(cmds):
    apply = "; ".join("%s 2>/dev/null" % c for c in cmds)
    return ("#!/bin/sh\n"
            "# re-apply this node's static routes whenever a link changes\n"
            "apply() { %s; }\n"
            "apply\n"
            "ip monitor link | while read -r _; do apply; done\n" % apply)


class RouteKeeper:
    """A keeper process in ``node``; its script lives in ``directory``."""

    def __init__(self, node, directory):
        self.node = node
        self.proc = None
        cmds = route_commands(node)
        self.script = None
        if cmds:
            os.makedirs(directory, exist_ok=True)
            self.script = os.path.join(directory, "%s.sh" % node.name)
            with open(self.script, "w") as f:
                f.write(keeper_script(cmds))

    def start(self):
        if self.script:
            self.proc = self.node.popen(["sh", self.script], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            state.record("pids", self.proc.pid)
        return self

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)   # sh and its ip monitor (own session)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
