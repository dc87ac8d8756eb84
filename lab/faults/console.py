"""The ``fault`` command of the ``maillab up`` CLI.

    fault list                         faults, their arguments, and those in force
    fault NAME ARGS... [--for S]       start one (``fault cut mx1 s1``, ``fault loss mx1:s1 --rate 0.3``)
    fault partition DC1 DC2 [--for S]  cut every link between two data centers
    fault heal DC1 DC2                 end it
    fault restore A B / resume SVC@HOST   end a cut / a pause (and make sure)
    fault stop ID                      undo one fault
    fault clear                        undo every fault, then sweep what any left behind

``run_fault_command(lab, line)`` returns the text to print. What it needs of
``lab`` (the lab layer provides it):

- ``lab.net``: the running Mininet network;
- ``lab.run_dir`` (or ``lab.rundir``): the run directory (pcaps go to
  RUN_DIR/pcaps, fault logs to RUN_DIR/faults);
- optional ``lab.events_path(host) -> str``: the events file of a host;
  faults write to ``lab.events_path("faults")`` (without it, to
  RUN_DIR/faults/fault-events.jsonl);
- for ``partition DC1 DC2``/``heal DC1 DC2`` only: ``lab.partition_links(dc_a,
  dc_b) -> [(node_name, node_name), ...]``, the links whose cutting separates
  them; without it, the router links between the two data centers' routers
  in ``lab.plan`` (see ``partition_links``), or name the links:
  ``fault partition r1:r2 r1:r3``;
- optional ``lab.dns_host``: the DNS server's host name for ``dns-outage``
  (default: the first host named ``dns*``).

The faults in force are remembered per lab object.
"""
import os
import shlex
import weakref

import lab.faults as registry
from lab.faults.api import FaultFailed, start_fault
from lab.faults.leftovers import clear_leftovers
from lab.faults.targets import TargetError

_active = weakref.WeakKeyDictionary()   # lab -> {fault id: FaultHandle}


def active(lab):
    return _active.setdefault(lab, {})


def run_fault_command(lab, line):
    tokens = shlex.split(line)
    if tokens and tokens[0] == "fault":
        tokens = tokens[1:]
    if not tokens or tokens[0] in ("help", "-h", "--help"):
        return __doc__.split("``run_fault_command")[0].strip()
    cmd, rest = tokens[0], tokens[1:]
    try:
        if cmd == "list":
            return _list(lab)
        if cmd == "clear":
            return _clear(lab)
        if cmd == "stop":
            return _stop(lab, rest)
        return _start(lab, cmd, rest)
    except (TargetError, FaultFailed, ValueError) as e:
        return "fault %s: %s" % (cmd, e)


def _list(lab):
    lines = ["faults:"]
    for spec in registry.FAULTS.values():
        lines.append("  %-10s %-58s %s" % (spec.name, spec.usage, spec.summary))
    handles = active(lab)
    _forget_ended(lab)
    lines.append("in force:" if handles else "in force: none")
    for h in handles.values():
        lines.append("  %-12s %-10s %s" % (h.id, h.name, h.label))
    return "\n".join(lines)


def _forget_ended(lab):
    handles = active(lab)
    for fid in [fid for fid, h in handles.items() if not h.running]:
        del handles[fid]


def _stop(lab, rest):
    if len(rest) != 1 or rest[0] not in active(lab):
        return "fault stop: give the id of a fault in force (see fault list)"
    ev = active(lab).pop(rest[0]).stop()
    return "stopped %s: %s" % (rest[0], _brief(ev))


def _clear(lab):
    out = []
    for fid, h in reversed(list(active(lab).items())):
        try:
            ev = h.stop()
            out.append("stopped %s: %s" % (fid, _brief(ev)))
        except FaultFailed as e:
            out.append(str(e))
    active(lab).clear()
    swept = clear_leftovers(lab.net)
    out.append("swept leftovers: %s" % swept if swept else "nothing left behind")
    return "\n".join(out)


def _start(lab, name, rest):
    spec = registry.get(name)
    duration = None
    if "--for" in rest:
        i = rest.index("--for")
        duration = float(rest[i + 1])
        rest = rest[:i] + rest[i + 2:]
    out = []
    if name in ("partition", "heal"):
        rest = _dc_links(lab, rest)
    if name == "dns-outage" and not [t for t in rest if not t.startswith("-")] \
            and getattr(lab, "dns_host", None):
        rest = [lab.dns_host] + rest
    if spec.undoes:
        out += _end_matching(lab, spec.undoes, spec.launch(lab.net, rest).label)
    handle = start_fault(lab.net, name, rest, run_dir(lab), events_file(lab), duration=duration)
    ev = handle.evidence()
    if spec.lasting and handle.running:
        active(lab)[handle.id] = handle
        out.append("%s in force: %s%s" % (handle.id, ev.get("summary", ""),
                                         " (for %g s)" % duration if duration else
                                         "; 'fault stop %s' or 'fault clear' ends it" % handle.id))
    else:
        out.append("%s done: %s" % (handle.id, _brief(ev)))
    return "\n".join(out)


def run_dir(lab):
    return getattr(lab, "run_dir", None) or lab.rundir


def events_file(lab):
    if hasattr(lab, "events_path"):
        return lab.events_path("faults")
    return os.path.join(run_dir(lab), "faults", "fault-events.jsonl")


def _dc_links(lab, rest):
    if len(rest) >= 2 and not rest[0].startswith("-") and ":" not in rest[0]:
        dc_a, dc_b, extra = rest[0], rest[1], rest[2:]
        links = partition_links(lab, dc_a, dc_b)
        if not links:
            raise TargetError("no links between %s and %s" % (dc_a, dc_b))
        return ["%s:%s" % pair for pair in links] + ["--label", "%s|%s" % (dc_a, dc_b)] + extra
    return rest


def partition_links(lab, dc_a, dc_b):
    """The links to cut between two data centers: the lab's own answer if it
    has one, else the router links between their routers in its address plan
    (``lab.plan``: ``dcs`` with ``name`` and ``router``, ``router_links`` with
    ``a`` and ``b``)."""
    if hasattr(lab, "partition_links"):
        return lab.partition_links(dc_a, dc_b)
    plan = getattr(lab, "plan", None)
    if plan is None or not hasattr(plan, "router_links"):
        raise TargetError("this lab does not map data centers to links; name the links "
                          "instead: fault partition A:B [C:D ...]")
    routers = {dc.name: dc.router for dc in plan.dcs}
    for dc in (dc_a, dc_b):
        if dc not in routers:
            raise TargetError("no data center %r (have %s)" % (dc, ", ".join(routers)))
    pair = {routers[dc_a], routers[dc_b]}
    links = [(l.a, l.b) for l in plan.router_links if {l.a, l.b} == pair]
    if not links:
        raise TargetError("%s and %s share no direct link; name the links to cut: "
                          "fault partition A:B [C:D ...]" % (dc_a, dc_b))
    return links


def _end_matching(lab, name, label):
    out = []
    for fid, h in list(active(lab).items()):
        if h.name == name and h.label == label:
            out.append("stopped %s: %s" % (fid, _brief(active(lab).pop(fid).stop())))
    return out


KEYS = ("summary", "dropped_packets", "rsts_injected", "matched_packets", "delayed_packets",
        "exited", "error", "pcaps")


def _brief(ev):
    return ", ".join("%s=%s" % (k, ev[k]) for k in KEYS if ev.get(k) not in (None, [], {}))
