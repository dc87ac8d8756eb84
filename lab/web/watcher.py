"""Watch a running lab from the orchestrating process and feed a LiveState.

One ``tick()`` reads what is new in every event log of the run directory
(remembering where it stopped in each file), counts the relay's queue
files, polls the server processes, and redraws the topology when the
address plan grew (a server created in another data center). None of it
crosses the lab network.
"""
import glob
import os

from lab.evidence import postfix_queue
from lab.netview import drawing as topology
from servers.common.events import LogTail
from servers.relay.queue import message_files

EVENT_FILES = ("*events.jsonl", "*/events.jsonl", "*/*/events.jsonl")


class EventTail:
    """New complete lines of the event logs under a directory, file by file."""

    def __init__(self, rundir):
        self.rundir = rundir
        self.tails = {}

    def read(self):
        events = []
        for pattern in EVENT_FILES:
            for path in glob.glob(os.path.join(self.rundir, pattern)):
                events += self.tails.setdefault(path, LogTail(path)).read()
        events.sort(key=lambda e: e.get("ts", 0))
        return events


class LabWatcher:
    """Feeds ``state`` from ``lab`` (a lab.testbed.mail_lab.Lab, or anything with ``rundir``,
    ``plan``, ``net`` and ``services``)."""

    def __init__(self, lab, state, now):
        self.lab = lab
        self.state = state
        self.now = now
        self.tail = EventTail(lab.rundir)
        self._layout = self._layout_now()

    def tick(self):
        now = self.now()
        self._redraw_if_grown()
        for event in self.tail.read():
            self.state.apply(event)
        self.state.observe_services(self._services(), now)
        depth = self._queue_depth()
        if depth is not None:
            self.state.observe_queue(now, depth)

    def _layout_now(self):
        net = getattr(self.lab, "net", None)
        return (sorted(self.lab.plan.hosts), topology.net_links(net) if net is not None else None)

    def _redraw_if_grown(self):
        """A host planned, added or linked since the last look: draw the lab again."""
        layout = self._layout_now()
        if layout != self._layout:
            self._layout = layout
            self.state.set_drawing(with_servers(topology.drawing(self.lab.plan, layout[1]),
                                                self.lab))

    def _services(self):
        return {host: (s.kind, s.alive()) for host, s in list(self.lab.services.items())}

    def _queue_depth(self):
        if getattr(self.lab, "relay_server", "maillab") == "postfix":
            directory = self.lab.relay_queue_dir()
            return len(postfix_queue.queue_files(directory)) if os.path.isdir(directory) \
                else None
        directory = os.path.join(self.lab.rundir, self.lab.plan.relay.name, "queue")
        return len(message_files(directory)) if os.path.isdir(directory) else None


def drawing_of(lab):
    """The drawing of a running lab: its plan, and its net's links when it has them."""
    links = topology.net_links(lab.net) if getattr(lab, "net", None) is not None else None
    return with_servers(topology.drawing(lab.plan, links), lab)


def servers_of(lab):
    """{node: the server it runs on} on a lab over several servers
    (lab.host.cluster_net: a node's ``place``); {} on one machine."""
    net = getattr(lab, "net", None)
    if getattr(lab, "cluster", None) is None or net is None:
        return {}
    return {name: str(getattr(node, "place", None) or "localhost")
            for name, node in net.nameToNode.items()}


def with_servers(drawing, lab):
    """``drawing`` with each node's ``server`` on a lab over several servers (the
    page writes it under the host); unchanged on one machine."""
    servers = servers_of(lab)
    for node in drawing["nodes"] if servers else ():
        node["server"] = servers.get(node["name"], "localhost")
    return drawing
