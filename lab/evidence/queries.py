"""Questions asked of a run's evidence: which events, which host an address or a
name means, where each message went. Shared by the verdict, the reports and the
workbook's answers."""
from servers.common.endpoints import host_part

RELAY_SERVICE = "relay"         # the ``service`` of the relay's events
PROVISIONER_SERVICE = "provisioner"


def select_events(events, event, service=None, host=None, **fields):
    """The events named ``event`` (of ``service``, on ``host``, with these field
    values), in time order."""
    return sorted((e for e in events if e.get("event") == event
                   and (service is None or e.get("service") == service)
                   and (host is None or e.get("host") == host)
                   and all(e.get(k) == v for k, v in fields.items())),
                  key=lambda e: e.get("ts", 0))


def ip_to_host(evidence):
    m = {}
    for name, info in evidence.topology.items():
        if info.get("ip"):
            m.setdefault(info["ip"], name)
    for e in select_events(evidence.events, "created", service=PROVISIONER_SERVICE):
        if e.get("ip") and e.get("name"):
            m[e["ip"]] = e["name"]
    return m


def host_of(evidence, value, ips=None):
    """The host a server reference names: "mx1", "mx1.lab.", "10.0.1.10:25", "10.0.1.10".
    ``ips``: ``ip_to_host(evidence)`` when the caller asks about many values."""
    if not value:
        return ""
    value = str(value)
    if value.startswith("mx:"):
        return ""
    name = value.rstrip(".").split(".")[0]
    if name in evidence.topology:
        return name
    ip = host_part(value)
    return (ip_to_host(evidence) if ips is None else ips).get(ip, "")


TARGET_FIELDS = ("server", "target", "next_hop", "mx", "to_host", "peer", "new")


def target_of(evidence, e, ips=None):
    for f in TARGET_FIELDS:
        h = host_of(evidence, e.get(f), ips)
        if h:
            return h
    return ""


def dc_of(evidence, host):
    info = evidence.topology.get(host, {})
    if info.get("dc"):
        return info["dc"]
    for e in select_events(evidence.events, "created", service=PROVISIONER_SERVICE):
        if e.get("name") == host:
            return e.get("dc", "")
    return ""


def message_paths(ev):
    """msgid -> ordered steps [(ts, what, host)] from the ledger, events and Maildirs."""
    paths = {}
    ips = ip_to_host(ev)

    def add(msgid, ts, what, host):
        if msgid:
            paths.setdefault(msgid, []).append((ts, what, host))

    for r in ev.ledger:
        add(r.get("msgid"), r.get("ts", 0), "accepted",     # by the address it connected to
            host_of(ev, r.get("server") or r.get("mx"), ips))
    for e in ev.events:
        kind = e.get("event")
        if kind == "send_failed":
            add(e.get("msgid"), e["ts"], "send_failed", "")
        elif e.get("service") == RELAY_SERVICE and kind in ("queued", "attempt", "deferred",
                                                            "rerouted", "delivered", "bounced"):
            add(e.get("msgid"), e["ts"], "relay_" + kind, target_of(ev, e, ips) or e.get("host", ""))
        elif kind == "delivered":
            add(e.get("msgid"), e["ts"], "stored", e.get("host", ""))
    for m in ev.mails:
        if not any(w == "stored" and h == m.host for _, w, h in paths.get(m.msgid, [])):
            add(m.msgid, m.ts, "stored", m.host)
    for steps in paths.values():
        steps.sort(key=lambda s: s[0])
    return paths
