"""Answers computed from a run's evidence: small pure functions of a
``RunFiles`` record (lab/evidence/saved_run.py) and keyword arguments, named
by the exercises' ``exercise.toml`` (``compute = "NAME"``, ``args = {...}``).

Each returns a number or a string, or None when the run holds no evidence for
the question (a student is then told so, rather than marked wrong).
"""
from lab.evidence.queries import select_events
from servers.common.endpoints import host_part


SMTP_PORT = 25
FUNCTIONS = {}


def answer(func):
    FUNCTIONS[func.__name__] = func
    return func


def _nth(items, index):
    """``index`` counts from 1; -1 is the last."""
    try:
        return items[index - 1 if index > 0 else index]
    except IndexError:
        return None


def _seconds(x):
    return round(x, 2)


def mx_host(value):
    """The host name in an MX target or a host name: "mx1.lab.example.org." -> "mx1"."""
    return str(value or "").rstrip(".").split(".")[0]


# -- counting ----------------------------------------------------------------------

@answer
def count(run, event, service=None, host=None, distinct=False):
    """How many ``event`` events (of ``service`` on ``host``); ``distinct``: how many
    different messages they concern."""
    found = select_events(run.events, event, service, host)
    return len({e.get("msgid") for e in found}) if distinct else len(found)


@answer
def yes_if(run, event, service=None, host=None):
    """"yes" if the run has an ``event`` event (of ``service`` on ``host``), else "no"."""
    return "yes" if select_events(run.events, event, service, host) else "no"


@answer
def count_for_first_held(run, event, service="relay"):
    """How many ``event`` events (of ``service``) concern the first message the relay held."""
    queued = select_events(run.events, "queued", "relay")
    if not queued:
        return None
    msgid = queued[0].get("msgid")
    return sum(1 for e in select_events(run.events, event, service) if e.get("msgid") == msgid)


@answer
def count_during(run, event, fault, service=None, distinct=True):
    """How many ``event`` events (different messages, if ``distinct``) fell between
    the first start and the first end of ``fault``."""
    starts = [e["ts"] for e in select_events(run.events, "fault_start") if e.get("fault") == fault]
    ends = [e["ts"] for e in select_events(run.events, "fault_end") if e.get("fault") == fault]
    if not starts or not ends:
        return None
    found = [e for e in select_events(run.events, event, service) if starts[0] <= e["ts"] <= ends[0]]
    return len({e.get("msgid") for e in found}) if distinct else len(found)


@answer
def sent_via(run, host):
    """Messages whose 250 the sender got from ``host`` (the MX it used, from its ledger)."""
    return sum(1 for r in run.ledger if mx_host(r.get("mx")) == host)


@answer
def sender_mx(run, index=1):
    """The MX host the sender handed its ``index``-th accepted message to."""
    row = _nth(sorted(run.ledger, key=lambda r: r.get("ts", 0)), index)
    return mx_host(row.get("mx")) if row else None


@answer
def sender_server(run, index=1):
    """The IP address the sender connected to for its ``index``-th accepted message."""
    row = _nth(sorted(run.ledger, key=lambda r: r.get("ts", 0)), index)
    return host_part(row.get("server", "")) if row else None


@answer
def report_value(run, key):
    """A value of report.json; ``key`` may name a nested one: "timings.recovery_drain"."""
    value = run.report
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return _seconds(value) if isinstance(value, float) else value


@answer
def field(run, event, name, service=None, index=1, length=False, where=None):
    """Field ``name`` of the ``index``-th ``event`` event that has it and whose fields
    match ``where`` (a table, e.g. {name = "mx2"}); ``length``: how many items the
    field lists."""
    e = _nth([e for e in select_events(run.events, event, service, **(where or {}))
              if name in e], index)
    if e is None:
        return None
    value = e[name]
    if length:
        return len(value) if isinstance(value, (list, dict)) else int(value or 0)
    return _seconds(value) if isinstance(value, float) else value


@answer
def fault_total(run, fault, name):
    """The sum of field ``name`` (e.g. dropped_packets) over every end of ``fault``."""
    ends = [e for e in select_events(run.events, "fault_end") if e.get("fault") == fault]
    if not ends:
        return None
    total = 0
    for e in ends:
        value = e.get(name) or 0
        total += len(value) if isinstance(value, (list, dict)) else value
    return total


@answer
def fault_count(run, fault):
    """How many times ``fault`` was put in force."""
    return sum(1 for e in select_events(run.events, "fault_start") if e.get("fault") == fault)


# -- time --------------------------------------------------------------------------

def _marks(run, event, service=None, fault=None):
    return [e for e in select_events(run.events, event, service)
            if fault is None or e.get("fault") == fault]


@answer
def seconds_between(run, start, end, start_service=None, end_service=None, fault=None):
    """Seconds from the first ``start`` event to the first ``end`` event at or after
    it; ``fault`` names the fault that fault_start/fault_end events must be of."""
    starts = _marks(run, start, start_service, fault if start.startswith("fault_") else None)
    if not starts:
        return None
    t0 = starts[0]["ts"]
    ends = [e for e in _marks(run, end, end_service, fault if end.startswith("fault_") else None)
            if e["ts"] >= t0]
    return _seconds(ends[0]["ts"] - t0) if ends else None


@answer
def last_relay_delivery_after(run, event="fault_end", fault=None):
    """Seconds from the last ``event`` (of ``fault``) before the relay's last delivery
    to that delivery: how long the relay took to flush what it held."""
    done = select_events(run.events, "delivered", "relay")
    if not done:
        return None
    last = done[-1]["ts"]
    marks = [e["ts"] for e in select_events(run.events, event)
             if e["ts"] <= last and (fault is None or e.get("fault") == fault)]
    return _seconds(last - marks[-1]) if marks else None


@answer
def relay_flush_style(run, within=1.0):
    """"all at once" if the relay's deliveries after the last fault ended all came
    within ``within`` seconds of the first of them, else "one per retry interval"."""
    ends = [e["ts"] for e in select_events(run.events, "fault_end")]
    done = [e["ts"] for e in select_events(run.events, "delivered", "relay")
            if not ends or e["ts"] >= ends[-1]]
    if not done:
        return None
    return "all at once" if done[-1] - done[0] <= within else "one per retry interval"


@answer
def backoff_delay(run, failure):
    """Seconds the relay waited after the ``failure``-th failed attempt of the first
    message it held (its ``deferred`` event: next_attempt - ts)."""
    queued = select_events(run.events, "queued", "relay")
    if not queued:
        return None
    msgid = queued[0].get("msgid")
    for e in select_events(run.events, "deferred", "relay"):
        if e.get("msgid") == msgid and e.get("attempts") == failure and e.get("next_attempt"):
            return _seconds(e["next_attempt"] - e["ts"])
    return None


# -- the relay's queue ---------------------------------------------------------------

@answer
def max_queue_depth(run):
    """The most messages the relay held at once (its queued and delivered/bounced events)."""
    held, most = set(), 0
    for e in run.events:
        if e.get("service") != "relay":
            continue
        if e.get("event") == "queued":
            held.add(e.get("msgid"))
        elif e.get("event") in ("delivered", "bounced"):
            held.discard(e.get("msgid"))
        most = max(most, len(held))
    return most


@answer
def stored_next_hops(run, which="changed"):
    """The next hop written in the relay's queue files, as read from disk during the
    run: the ``first`` one seen, or the first one that ``changed`` from it (a
    stored message's server information rewritten)."""
    seen = [entry.get("next_hop") for snap in run.queue for entry in snap.get("entries", [])]
    if not seen:
        return None
    if which == "first":
        return seen[0]
    return next((hop for hop in seen if hop != seen[0]), None)


# -- packets -------------------------------------------------------------------------

def _syns(run, src, dst, port=SMTP_PORT, pcap=None):
    """First SYN of each connection from ``src`` to ``dst``:``port`` (retransmits of
    the same SYN carry the same source port and are counted once)."""
    first = {}
    for p in run.packets:
        if p.proto == "tcp" and p.flags == "S" and p.src_ip == src and p.dst_ip == dst \
                and p.dport == port and (pcap is None or p.point.startswith(pcap)):
            first.setdefault((p.point, p.sport), p)
    by_port = {}
    for (_, sport), p in first.items():           # a packet seen in two captures: once
        if sport not in by_port or p.ts < by_port[sport].ts:
            by_port[sport] = p
    return sorted(by_port.values(), key=lambda p: p.ts)


@answer
def syn_count(run, src, dst, port=SMTP_PORT, pcap=None):
    """Connections ``src`` tried to open to ``dst``:``port``, counted in the pcaps."""
    return len(_syns(run, src, dst, port, pcap))


@answer
def syn_gap(run, src, dst, which=1, port=SMTP_PORT, pcap=None):
    """Seconds between the ``which``-th and the next connection attempt (SYN) from
    ``src`` to ``dst``:``port``, from the pcaps."""
    syns = _syns(run, src, dst, port, pcap)
    if len(syns) <= which:
        return None
    return _seconds(syns[which].ts - syns[which - 1].ts)


@answer
def resets(run, port=SMTP_PORT, pcap=None):
    """TCP segments with RST set on ``port``, in the pcaps (whose names start with
    ``pcap``, if given)."""
    return sum(1 for p in run.packets if p.proto == "tcp" and "R" in p.flags
               and port in (p.sport, p.dport) and (pcap is None or p.point.startswith(pcap)))


@answer
def mac_of(run, ip, after=None):
    """The MAC address frames from ``ip`` carried (an ARP answer's sender, or the
    Ethernet source of a TCP segment), in the pcaps; after the first ``after``
    event if given (e.g. "created": the MAC of the re-created host)."""
    t0 = None
    if after:
        marks = select_events(run.events, after)
        if not marks:
            return None
        t0 = marks[0]["ts"]
    for p in run.packets:
        if p.src_ip == ip and p.src_mac and (t0 is None or p.ts >= t0) \
                and (p.proto == "tcp" or p.arp_op == 2):
            return p.src_mac
    return None


def compute(run, name, args):
    """The answer of function ``name`` with ``args`` for ``run``."""
    func = FUNCTIONS.get(name)
    if func is None:
        raise KeyError("no answer function %r (known: %s)" % (name, ", ".join(sorted(FUNCTIONS))))
    return func(run, **args)


__all__ = ["FUNCTIONS", "compute", "mx_host"] + sorted(FUNCTIONS)
