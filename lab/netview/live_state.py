"""What the page shows, from the lab's events and the watcher's observations.

Pure: no files, no clock of its own. ``apply(event)`` takes one event of the
run's logs (the contract of docs/design.md: ``fault_start``/``fault_end``,
``delivered``, ``queued``, ``deferred``, ``created``, ``answer_changed``,
...); ``observe_services`` and ``observe_queue`` take what the watcher saw
of the processes and the relay's queue directory. ``snapshot(now)`` is the
whole state as plain data; every change bumps ``version``.

Link and host conditions are not stored: they follow from the faults in
force (a ``cut`` in force on ``mx1|s1`` draws that link cut), so a fault
that ends restores the drawing by itself.
"""
from servers.common.endpoints import host_part

QUEUE_POINTS = 400      # changes kept for the queue chart (halved when full)
STORY_LINES = 14        # recent notable events shown
ENDED_KEPT = 8          # ended faults listed
ACTIONS_KEPT = 8

LINK_EFFECTS = {"cut": "cut", "partition": "cut", "loss": "lossy", "delay": "delayed"}
HOST_EFFECTS = {"blackhole": "blackholed", "dns-outage": "dns-outage", "reset": "resets"}
SERVICE_EFFECTS = {"pause": "paused"}


def short(name):
    """``mx1.lab.example.org.`` -> ``mx1``."""
    return str(name).split(".", 1)[0]


def _end_node(intf):
    """The node an interface belongs to, by Mininet's naming (``mx1-eth0``)."""
    return intf.split("/", 1)[-1].rsplit("-eth", 1)[0]


class LiveState:
    def __init__(self, drawing, title="", mode="run", mx=(), started=None, static=None):
        self.version = 0
        self.title = title
        self.mode = mode                # "run" (a scenario) or "up" (actions allowed)
        self.started = started          # unix seconds of time 0 (the first event if None)
        self.static = dict(static or {})
        self.faults = {}                # id -> fault in force
        self.ended = []
        self.destroyed = set()
        self.services = {}              # host -> {"kind", "state"}
        self.counters = {}              # host -> {name: n}
        self.totals = {"sent": 0, "send_failed": 0, "delivered": 0}
        self.mx = [[int(p), short(t)] for p, t in mx]
        self.dns_log = []
        self.queue = []                 # [[t, depth]]
        self.queue_depth = 0
        self.story = []
        self.actions = []
        self.verdict = None
        self.live = True                # False once the lab is torn down
        self.stopped = None
        self._reroutes = set()
        self.set_drawing(drawing)

    # --- inputs -------------------------------------------------------------------
    def set_drawing(self, drawing):
        self.drawing = drawing
        self.intf_links = {i: l["id"] for l in drawing["links"] for i in l["intfs"]}
        self.link_ids = {l["id"] for l in drawing["links"]}
        self.by_ip = {n["ip"]: n["name"] for n in drawing["nodes"] if n["kind"] == "host"}
        relays = [n["name"] for n in drawing["nodes"] if n["role"] == "relay"]
        self.relay = relays[0] if relays else None
        self._changed()

    def apply(self, event):
        """Take one event; True if the state changed."""
        handler = getattr(self, "_on_" + str(event.get("event", "")), None)
        if handler is None:
            return False
        if self.started is None and "ts" in event:
            self.started = event["ts"]
        handler(event)
        self._changed()
        return True

    def observe_services(self, services, ts):
        """``services``: {host: (kind, alive)} of the lab's server processes now."""
        changed = False
        for host, (kind, alive) in services.items():
            state = "up" if alive else "down"
            before = self.services.get(host)
            if before is not None and before["state"] != state:
                self._tell(ts, "service", "%s: %s %s" % (host, kind, state))
            if before != {"kind": kind, "state": state}:
                self.services[host] = {"kind": kind, "state": state}
                changed = True
        for host in set(self.services) - set(services):
            del self.services[host]
            changed = True
        if changed:
            self._changed()
        return changed

    def observe_queue(self, ts, depth):
        """The relay's queue held ``depth`` messages at ``ts`` (files on disk).
        The chart keeps the moments the depth changed (a step line)."""
        if self.started is None:
            self.started = ts
        if self.queue and depth == self.queue_depth:
            return False
        self.queue_depth = depth
        if self.relay:
            self._count(self.relay, "queued", set_to=depth)
        self.queue.append([round(ts - self.started, 2), depth])
        if len(self.queue) > QUEUE_POINTS:
            self.queue = self.queue[::2]
        self._changed()
        return True

    def note_action(self, action_id, what, status, output="", ts=None):
        """An action asked from the page: ``running``, then ``done`` or ``failed``."""
        for a in self.actions:
            if a["id"] == action_id:
                a.update(status=status, output=output)
                break
        else:
            self.actions = (self.actions + [{"id": action_id, "what": what, "status": status,
                                             "output": output}])[-ACTIONS_KEPT:]
        if status != "running" and ts is not None:
            self._tell(ts, "action", "page: %s: %s" % (what, status))
        self._changed()

    def set_live(self, live, ts=None):
        self.live = live
        self.stopped = None if live else ts
        self._changed()

    def finish(self, verdict):
        """The run's verdict: {ok, sent, delivered, lost, duplicates, report, checks}."""
        self.verdict = dict(verdict)
        self._changed()

    # --- events -------------------------------------------------------------------
    def _on_fault_start(self, e):
        name = e.get("fault", "")
        m = e.get("matched") or {}
        if name == "destroy":
            host = m.get("target") or e.get("label", "")
            self.destroyed.add(host)
            self._tell(e["ts"], "fault", "%s destroyed" % host)
            return
        fault = {"id": e.get("id", ""), "name": name, "summary": e.get("summary", ""),
                 "since": self._t(e["ts"]), "duration": e.get("duration"),
                 "label": m.get("link") or m.get("target") or m.get("server") or "",
                 "links": self._links_of(name, m), "hosts": self._hosts_of(name, m)}
        if name in LINK_EFFECTS or name in HOST_EFFECTS or name in SERVICE_EFFECTS:
            self.faults[fault["id"]] = fault
        self._tell(e["ts"], "fault", e.get("summary") or "%s %s" % (name, fault["label"]))

    def _on_fault_end(self, e):
        fault = self.faults.pop(e.get("id", ""), None)
        if fault is None:
            return
        fault = dict(fault, until=self._t(e["ts"]), ok=e.get("ok", True))
        self.ended = (self.ended + [fault])[-ENDED_KEPT:]
        self._tell(e["ts"], "recover", "%s %s ended" % (fault["name"], fault["label"]))

    def _on_fault_refused(self, e):
        self._tell(e["ts"], "fault", "%s refused: %s" % (e.get("fault", "fault"), e.get("reason")))

    def _on_created(self, e):
        name = e.get("name", "")
        self.destroyed.discard(name)
        self._tell(e["ts"], "recover", "%s %s in %s (%s) in %.1f s" % (
            name, "re-created" if e.get("action") == "recreate" else "created",
            e.get("dc", "?"), e.get("ip", "?"), e.get("seconds") or 0))

    def _on_sent(self, e):
        self.totals["sent"] += 1
        self._count(e.get("host"), "sent")

    def _on_send_failed(self, e):
        self.totals["send_failed"] += 1
        self._count(e.get("host"), "failed")

    def _on_delivered(self, e):
        if e.get("service") == "relay":
            self._count(e.get("host"), "forwarded")
        else:
            self.totals["delivered"] += 1
            self._count(e.get("host"), "stored")

    def _on_duplicate(self, e):
        self._count(e.get("host"), "duplicates")

    def _on_queued(self, e):
        self._count(e.get("host"), "accepted")

    def _on_deferred(self, e):
        self._count(e.get("host"), "deferred")

    def _on_bounced(self, e):
        self._count(e.get("host"), "bounced")
        self._tell(e["ts"], "fault", "%s bounced %s" % (e.get("host"), e.get("msgid", "")))

    def _on_rerouted(self, e):
        pair = (self._place(e.get("old", "")), self._place(e.get("new", "")))
        if pair not in self._reroutes:
            self._reroutes.add(pair)
            self._tell(e["ts"], "recover", "%s re-routes its stored mail: %s -> %s"
                       % (e.get("host"), pair[0], pair[1]))

    def _on_provision_requested(self, e):
        held = " (%s messages held)" % e["messages"] if "messages" in e else ""
        self._tell(e["ts"], "recover", "%s asks the provisioner for a server for %s%s"
                   % (e.get("host"), self._place(e.get("next_hop", "")), held))

    def _on_server_down(self, e):
        self._tell(e["ts"], "fault", "%s: %s does not answer" % (
            e.get("host"), e.get("name") or self._place(e.get("server", ""))))

    def _on_recovery_decision(self, e):
        self._tell(e["ts"], "recover", "%s decides: %s" % (
            e.get("host"), e.get("story") or e.get("decision")))

    def _on_replaced(self, e):
        self._tell(e["ts"], "recover", "%s moves %s stored messages from %s to %s" % (
            e.get("host"), e.get("messages", "its"), e.get("name") or self._place(e.get("server", "")),
            e.get("new_name") or self._place(e.get("new", ""))))

    def _on_recovered(self, e):
        self._tell(e["ts"], "recover", "%s: %s recovered (%s)" % (
            e.get("host"), e.get("name") or self._place(e.get("server", "")), e.get("how", "")))

    def _on_provision_refused(self, e):
        self._tell(e["ts"], "fault", "the provisioner refused: %s" % e.get("error"))

    def _on_provision_failed(self, e):
        self._tell(e["ts"], "fault", "provisioning failed: %s" % e.get("error"))

    def _on_answer_changed(self, e):
        answer = [short(t) for t in e.get("answer", [])]
        prefs = {name: pref for pref, name in self.mx}
        self.mx = [[prefs.get(t, 0), t] for t in answer]
        text = "MX %s: %s" % (e.get("name", ""), ", ".join(answer) or "(none)")
        self._dns(e["ts"], text)

    def _on_updated(self, e):
        for change in e.get("changes", []):
            words = change.split()
            if "MX" in words and words.index("MX") + 2 < len(words):
                pref, target = words[words.index("MX") + 1], short(words[words.index("MX") + 2])
                if words[0] == "add" and pref.isdigit():
                    self.mx = [m for m in self.mx if m[1] != target] + [[int(pref), target]]
                elif words[0] == "delete":
                    self.mx = [m for m in self.mx if m[1] != target]
            self._dns(e["ts"], "update: %s" % change)
        self.mx.sort()

    # --- helpers --------------------------------------------------------------------
    def _place(self, hop):
        """A relay's next hop for people: ``10.0.2.11:25`` -> ``mx3``,
        ``mx:example.org`` -> ``the MX of example.org``, ``mx1.lab.example.org`` -> ``mx1``."""
        hop = str(hop)
        if hop.startswith("mx:"):
            return "the MX of %s" % hop[3:]
        host = host_part(hop)
        if host in self.by_ip:
            return self.by_ip[host]
        return host if host.replace(".", "").isdigit() else short(host)

    def _links_of(self, name, m):
        if name not in LINK_EFFECTS:
            return []
        intfs = list(m.get("interfaces") or []) + [m.get(k) for k in ("intf", "peer") if m.get(k)]
        ids = []
        for intf in intfs:
            lid = self.intf_links.get(intf.split("/", 1)[-1])
            if lid and lid not in ids:
                ids.append(lid)
        if not ids:     # no interface map (a drawing from the plan alone): the labels
            ends = [_end_node(i) for i in intfs]
            pairs = list(zip(ends[::2], ends[1::2]))
            for token in str(m.get("link", "")).split(","):
                for sep in (":", "-", "|"):
                    if token.count(sep) == 1:
                        pairs.append(tuple(token.split(sep)))
            ids = [lid for lid in ("|".join(sorted(p)) for p in pairs) if lid in self.link_ids]
        return sorted(set(ids))

    def _hosts_of(self, name, m):
        if name in SERVICE_EFFECTS:
            return [str(m.get("target", "")).partition("@")[2]]
        if name == "reset":
            host = self.by_ip.get(host_part(m.get("server", "")))
            return [host] if host else []
        if name in HOST_EFFECTS:
            return [m["target"]] if m.get("target") else []
        return []

    def _count(self, host, counter, set_to=None):
        if not host:
            return
        c = self.counters.setdefault(host, {})
        c[counter] = set_to if set_to is not None else c.get(counter, 0) + 1

    def _t(self, ts):
        return round(ts - (self.started if self.started is not None else ts), 2)

    def _tell(self, ts, kind, text):
        self.story = (self.story + [{"t": self._t(ts), "kind": kind, "text": text}])[-STORY_LINES:]

    def _dns(self, ts, text):
        self.dns_log = (self.dns_log + [{"t": self._t(ts), "text": text}])[-ENDED_KEPT:]
        self._tell(ts, "dns", text)

    def _changed(self):
        self.version += 1

    # --- output -----------------------------------------------------------------------
    def link_states(self):
        """{link id: {"state": up|cut|gone, "loss": rate, "delay": ms, "faults": [ids]}}."""
        ends = {l["id"]: (l["a"], l["b"]) for l in self.drawing["links"]}
        out = {lid: {"state": "gone" if set(ab) & self.destroyed else "up", "faults": []}
               for lid, ab in ends.items()}
        for f in self.faults.values():
            effect = LINK_EFFECTS.get(f["name"])
            for lid in f["links"]:
                if effect is None or lid not in out:
                    continue
                link = out[lid]
                link["faults"].append(f["id"])
                if effect == "cut" and link["state"] == "up":
                    link["state"] = "cut"
                elif effect != "cut":
                    link[effect] = f["label"]
        return out

    def host_states(self):
        """{node: {"present", "service", "service_state", "conditions", "counters"}}."""
        out = {}
        for n in self.drawing["nodes"]:
            name = n["name"]
            svc = self.services.get(name)
            out[name] = {"present": name not in self.destroyed,
                         "service": svc["kind"] if svc else None,
                         "service_state": svc["state"] if svc else None,
                         "conditions": [], "counters": dict(self.counters.get(name, {}))}
        for f in self.faults.values():
            for host in f["hosts"]:
                if host not in out:
                    continue
                if f["name"] in SERVICE_EFFECTS and out[host]["service_state"] == "up":
                    out[host]["service_state"] = SERVICE_EFFECTS[f["name"]]
                elif f["name"] in HOST_EFFECTS:
                    out[host]["conditions"].append(HOST_EFFECTS[f["name"]])
        return out

    def snapshot(self, now=None):
        if self.stopped is not None:
            now = self.stopped
        elapsed = None if self.started is None or now is None else round(now - self.started, 1)
        return dict(self.static, version=self.version, title=self.title, mode=self.mode,
                    live=self.live, elapsed=elapsed, drawing=self.drawing, links=self.link_states(),
                    hosts=self.host_states(), faults=sorted(self.faults.values(),
                                                            key=lambda f: f["since"]),
                    ended=list(self.ended), mx=[list(m) for m in self.mx],
                    dns_log=list(self.dns_log), totals=dict(self.totals),
                    queue={"depth": self.queue_depth, "series": [list(p) for p in self.queue]},
                    story=list(self.story), actions=[dict(a) for a in self.actions],
                    verdict=self.verdict)
