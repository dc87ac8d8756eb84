"""Run a scenario: lab up, traffic, the fault schedule, wait for the queue to
drain, collect the evidence, tear down (always), check, and write the report.

The schedule is its own small class (``Schedule``) with no I/O, so that when
each fault starts and stops is unit-tested without a lab.
"""
import contextlib
import functools
import glob
import json
import logging
import os
import subprocess
import sys
import time

from lab.evidence import records
from lab.host import interrupt
from lab.testbed import zone as lab_zone
from lab.report import files as report
from lab.verdict import claims as judge
from lab.evidence import wire
from lab.testbed import wire_capture
from lab.evidence.queue_watch import QueueWatch, RemoteQueueWatch
from lab.evidence import postfix_queue
from lab.evidence import postfix_log
from lab.scenarios.model import (fault_plan, relay_timing, sender_timing, with_relay_server,
                                 with_sender_server)
from lab.host.speed import deadline, slowness
from lab.host.waiting import NotReady, tcp_open_from, wait_until
from servers.mx.maildir import messages_under
from servers.relay import queue as relay_queue
from topologies.addressing import SMTP_PORT

log = logging.getLogger(__name__)

POLL = 0.1              # seconds between looks at the running lab
PROGRESS_EVERY = 1.0    # seconds between progress lines
SENDER_SLACK = 30.0     # seconds a sender may take beyond count / rate
NOTHING_LEFT = 3.0      # seconds an empty queue with mail missing must last to end the run
REMOTE_COUNTS_EVERY = 2.0   # seconds between fetches of what hosts on other servers hold
TOP_UP_OVERLAP = 1.0    # seconds of traffic a fault due during it must see, or more mail is sent
TOP_UP_SECONDS = 2.0    # ... that much more, at the scenario's rate
HOLD_LIMIT = 20.0       # seconds a late fault waits, at most, for that mail to meet it
DNS_ASK_EVERY = 0.25    # seconds between a client's MX lookups in health-checked scenarios
DNS_ASK_FALLBACK = 1.0  # ... in MX-preference scenarios (claim 9: what DNS answered)
DNS_SETTLE = 10.0       # seconds to wait, after the run, for the MX answer to list mx1 again


def watched(factory, view, title):
    """A lab ``factory`` whose labs the live page draws, from up until their teardown."""
    @contextlib.contextmanager
    def make(*args, **kwargs):
        with factory(*args, **kwargs) as lab, view.watch(lab, title):
            yield lab
    return make



def read_queue_file(path):
    """Message-ID and next hop of one relay queue file, read without touching it
    (the relay's own Queue.entries() would move a bad file aside)."""
    with open(path, "rb") as f:
        return parse_queue_bytes(f.read())


def parse_queue_bytes(raw):
    meta, _ = relay_queue.parse(raw)
    return {"msgid": meta.get("msgid", ""), "next_hop": meta.get("next_hop", "")}


class Schedule:
    """Which planned faults start and stop when, given the moments (anchors)
    seen so far: ``{"start": 0.0, "created": 3.1, ...}`` in run seconds."""

    def __init__(self, plan):
        self.plan = list(plan)
        self.started = {}     # index in plan -> run second it started
        self.stopped = {}
        self.anchors_seen = {}
        self.held = set()     # late faults whose time waits for mail to meet them
        self.counted_from = {}  # index -> run second its stated time counts from

    def due(self, now, anchors):
        """(to_start, to_stop): lists of (index, PlannedFault) due at ``now``."""
        self.anchors_seen = anchors
        to_start, to_stop = [], []
        for i, p in enumerate(self.plan):
            base = anchors.get(p.after)
            if base is None:
                continue
            if i not in self.started and now >= base + p.start:
                to_start.append((i, p))
            elif i in self.started and i not in self.stopped and p.stop is not None \
                    and i not in self.held \
                    and now >= self.counted_from.get(i, self.started[i]) + (p.stop - p.start):
                # "for" counts from when the fault was in force, however long starting took
                to_stop.append((i, p))
        return to_start, to_stop

    def hold(self, i):
        """Fault ``i`` came late: it stays in force until mail meets it (``release``)."""
        self.held.add(i)

    def release(self, now):
        """Mail met the held faults at ``now``: each lasts its stated time from
        then on. The indices released."""
        released = sorted(self.held)
        for i in released:
            self.counted_from[i] = now
        self.held.clear()
        return released

    def mark_started(self, i, now):
        self.started[i] = now

    def mark_stopped(self, i, now):
        self.stopped[i] = now

    def settled(self):
        """Every fault has started, and every fault with an end has ended."""
        return all(i in self.started and (p.stop is None or i in self.stopped)
                   for i, p in enumerate(self.plan))

    def late(self, traffic_end, overlap, done=()):
        """Faults that were due while the traffic ran but came into force less than
        ``overlap`` seconds before it ended (a slow machine: starting a black hole
        can take seconds), so hardly any mail met them: (index, PlannedFault)
        not in ``done``. The run sends more mail for each (``Run._top_up``)."""
        return [(i, p) for i, p in enumerate(self.plan) if i in self.started and i not in done
                and p.after != "traffic_done" and self.due_at(i) is not None
                and self.due_at(i) <= traffic_end and self.started[i] > traffic_end - overlap]

    def due_at(self, i, anchors=None):
        p = self.plan[i]
        base = (anchors if anchors is not None else self.anchors_seen).get(p.after)
        return None if base is None else base + p.start

    def never_started(self):
        return [p for i, p in enumerate(self.plan) if i not in self.started]

    def active(self):
        return [p for i, p in enumerate(self.plan) if i in self.started and i not in self.stopped
                and p.stop is not None]


def wire_lines(verdict):
    """One line per check that counts messages on the wire, and each INCONCLUSIVE
    check with its reason."""
    lines = []
    for c in verdict.checks:
        label = "claim %s, %s" % (c.claim, c.name) if c.claim else c.name
        if c.wire_matched is not None:
            lines.append("  %-12s %s: messages matched on the wire / messages claimed: %d/%d"
                         % (c.outcome, label, c.wire_matched[0], c.wire_matched[1]))
        elif c.outcome == "INCONCLUSIVE":
            lines.append("  %-12s %s" % (c.outcome, label))
        if c.outcome == "INCONCLUSIVE":
            lines.append("      why: %s" % c.inconclusive)
    return lines


def progress_line(elapsed, phase, sent, total, delivered, queued, faults=()):
    line = "[%6.1fs] %-9s sent %d/%d  delivered %d  queued %d" % (
        elapsed, phase, sent, total, delivered, queued)
    if faults:
        line += "  faults: " + ", ".join(faults)
    return line


def relay_args(scenario, extra=()):
    r = scenario.relay
    args = ["--retry-interval", str(r.retry_interval),
            "--max-retry-interval", str(r.max_retry_interval),
            "--connect-timeout", str(r.connect_timeout),
            "--command-timeout", str(r.command_timeout)]
    if r.give_up:
        args += ["--give-up", str(r.give_up)]
    if r.provision_after:
        args += ["--provision-after", str(r.provision_after)]
    if r.provision_action:
        args += ["--provision-action", r.provision_action]
    if r.recreate_deadline:
        args += ["--recreate-deadline", str(r.recreate_deadline)]
    if r.route_lifetime:
        args += ["--route-lifetime", str(r.route_lifetime)]
    if r.retry_policy:
        args += ["--retry-policy", r.retry_policy]
    return args + list(extra)


def sender_args(scenario, client, count, seed):
    t = scenario.traffic
    args = ["--rate", str(t.rate / len(t.clients)), "--seed", str(seed),
            "--msgid-prefix", client, "--connect-timeout", str(t.connect_timeout),
            "--command-timeout", str(t.command_timeout)]
    if t.size:
        args += ["--size", str(t.size)]
    return args


def split_count(count, clients):
    """``count`` messages over the clients, the first ones taking the remainder."""
    base, extra = divmod(count, len(clients))
    return [(c, base + (1 if i < extra else 0)) for i, c in enumerate(clients)]


class Run:
    """One scenario run in a lab; ``execute()`` returns (verdict, report paths)."""

    def __init__(self, scenario, messages=None, seed=1, report_dir=None, out=sys.stdout,
                 relay_extra=(), lab_factory=None, switch="lxbr", web=None, lab_options=None,
                 annotate=None, relay_server=None, sender_server=None, mx_server=None):
        """``lab_options``: more keyword arguments for the Lab (tests substitute a
        service's module or the provisioner this way, never through a command line).
        ``annotate``: a function of the report directory, called once the raw
        evidence is there and before the report is written, that gives more
        report.json keys (the workbook's exercise section).
        ``relay_server``: what runs the relay host (``maillab``, ``postfix``),
        instead of the scenario's ``relay.server``; ``sender_server``: what
        sends from the clients, instead of its ``traffic.server``; ``mx_server``:
        what runs the messaging servers (``postfix``: Lab(mx_server=...))."""
        scenario = with_relay_server(scenario, relay_server or scenario.relay.server)
        self.scenario = scenario = with_sender_server(
            scenario, sender_server or scenario.traffic.server)
        self.count = messages or scenario.traffic.count
        self.seed = seed
        self.report_dir = report_dir or report.report_folder(scenario.name)
        self.out = out
        self.relay_extra = list(relay_extra)
        self.lab_factory = lab_factory
        self.lab_options = dict(lab_options or {})
        if mx_server:
            self.lab_options["mx_server"] = mx_server
        self.annotate = annotate
        self.dns_answers = []
        self.watch = self.capture = None
        self.capture_paths, self.capture_points = {}, {}
        self.switch = switch
        self.web = web          # a lab.web LiveView drawing the run, or None
        self.schedule = Schedule(fault_plan(scenario, seed))
        self.handles = {}
        self.failed_faults = []
        self.anchors = {}
        self.senders = []
        self.top_ups = []       # (message-ID prefix, count) sent because a fault came late
        self.topped = set()     # faults that got them
        self.traffic_end = None
        self.lab = None
        self.started = None
        self.phase = "starting"
        self._last_progress = 0.0
        self._counted = None    # (time, counts) last read over several servers

    # -- output -----------------------------------------------------------------
    def say(self, text):
        print(text, file=self.out, flush=True)

    def now(self):
        return time.time() - self.started

    # -- the run ----------------------------------------------------------------
    def execute(self):
        """The run; a signal (lab.interrupt) ends it early with a partial report,
        then goes on up as Interrupted."""
        os.makedirs(self.report_dir, exist_ok=True)
        self.pcap_dir = os.path.join(self.report_dir, "pcaps")   # start_fault writes there
        s = self.scenario
        factory = self.lab_factory or functools.partial(_default_lab, switch=self.switch,
                                                        **self.lab_options)
        if self.web is not None:
            factory = watched(factory, self.web, s.name)
        self.say("scenario %s: %d messages, topology %s, DNS %s, seed %d"
                 % (s.name, self.count, s.topology, s.dns.mode, self.seed))
        t0 = time.monotonic()
        evidence, stopped = None, None
        try:
            with factory(s, relay_args(s, self.relay_extra)) as lab:
                self.lab = lab
                self.say("lab up in %.1f s on %s (run dir %s)" % (
                    time.monotonic() - t0, lab.switches, lab.rundir))
                try:
                    evidence = self._in_lab()
                except interrupt.Interrupted as e:
                    stopped = e
                    evidence = self._evidence_so_far()
        except interrupt.Interrupted as e:      # while the lab came up or went down
            stopped = stopped or e
        if stopped is None:
            self.say("lab torn down")
        verdict = self._verdict(evidence)
        interrupted = None
        if stopped is not None:
            interrupted = "%s %s" % (stopped.name, "%.1f s into the run" % self.now()
                                     if self.started else "before traffic started")
            verdict.checks.append(judge.Check(
                "run finished", "", False, "stopped by %s: the counts are what happened "
                "until then" % interrupted))
            verdict.ok = False
        extra = {"messages": self.count, "sender_server": s.traffic.server,
                 "mx_server": self.lab_options.get("mx_server", "maillab"),
                 "pcaps": sorted(glob.glob(os.path.join(self.pcap_dir, "*")))}
        if self.annotate is not None:
            extra.update(self.annotate(self.report_dir))
        paths = report.write(self.report_dir, s, verdict, evidence or self._nothing(),
                             seed=self.seed, interrupted=interrupted, extra=extra,
                             files=self._files(), plan=self.lab.plan if self.lab else None)
        if self.web is not None:
            self.web.finish(verdict, self.report_dir)
        if stopped is not None:
            interrupt.note("partial report (sent %d, delivered %d): %s" % (
                verdict.sent, verdict.delivered, paths["report.md"]))
            raise stopped
        self.say("%s: %s (sent %d, delivered %d, lost %d, duplicates %d, queued %d) -> %s"
                 % (s.name, verdict.outcome, verdict.sent, verdict.delivered,
                    verdict.lost, verdict.duplicates, verdict.queued, self.report_dir))
        for line in wire_lines(verdict):
            self.say(line)
        return verdict, paths

    def _in_lab(self):
        """Traffic and faults in the running lab; the evidence."""
        wan_before = self._wan_bytes()
        self._start_watching()
        try:
            self._traffic_and_faults()
            if self.scenario.dns.mode == "health-checked":
                self._dns_settles()
        finally:
            self._stop_faults()
            self._stop_watching()
        wan_after = self._wan_bytes()
        gather = getattr(self.lab, "gather_evidence", None)
        if gather is not None:      # a lab over several servers: their files come here first
            gather()
        evidence = self._collect(wan_before, wan_after)
        self._keep_raw(evidence)
        return evidence

    def _start_watching(self):
        """Captures on DC1's switch and the watch on the relay's queue directory,
        the verdict's own evidence (lab.evidence.wire, lab.evidence.queue_watch); then a greeting
        to every messaging server, so that the captures hold each one's
        addresses from before any fault (claim 19)."""
        self.capture = wire_capture.RunCapture(wire_capture.capture_ports(self.lab),
                                               self.pcap_dir,
                                               *wire_capture.capture_namespace(self.lab)).start()
        self.capture_points = self.capture.points()
        if self._maillab_relay():   # a real MTA's queue is read at the end only
            nodes = getattr(getattr(self.lab, "net", None), "nameToNode", {})
            relay = nodes.get(self.lab.plan.relay.name)
            if getattr(relay, "isRemote", False):   # watched on the relay's server
                self.watch = RemoteQueueWatch(relay, self._queue_dir(),
                                              suffix=relay_queue.SUFFIX).start()
            else:
                self.watch = QueueWatch(self._queue_dir(), parse_queue_bytes,
                                        suffix=relay_queue.SUFFIX).start()
        for info in self.lab.plan.by_role("mx"):
            tcp_open_from(self.lab.probe_host, info.ip, SMTP_PORT)

    def _stop_watching(self):
        if self.watch is not None:
            self.watch.stop()
        if self.capture is not None:
            self.capture_paths = self.capture.stop()

    def _evidence_so_far(self):
        """What happened until a signal, read before the lab and its run directory go."""
        self._stop_watching()
        try:
            evidence = self._collect(None, None)
            self._keep_raw(evidence)
            return evidence
        except Exception as e:
            log.warning("could not collect the evidence of the stopped run: %s", e)
            return None

    def _verdict(self, evidence):
        verdict = judge.check(evidence or self._nothing())
        if self.failed_faults:
            verdict.checks.append(judge.Check(
                "faults started", "", False, "; ".join(self.failed_faults)))
            verdict.ok = False
        never = self.schedule.never_started()
        if never:
            verdict.checks.append(judge.Check(
                "fault schedule ran", "", False, "never started: %s" % ", ".join(
                    "%s %s (after %s)" % (p.name, " ".join(p.args), p.after) for p in never)))
            verdict.ok = False
        return verdict

    def _nothing(self):
        """The evidence of a run stopped before its lab was up."""
        now = time.time()
        return records.Evidence(scenario=self.scenario, ledger=[], mails=[], queued=[], events=[],
                                topology={}, started=now, finished=now,
                                expected_ids=self.expected_ids())

    def _traffic_and_faults(self):
        s = self.scenario
        self.started = time.time()
        self.anchors["start"] = 0.0
        self.phase = "faults"
        self._step_faults(0.0)     # faults due at once are in force before the first message
        self.phase = "traffic"
        for client, n in split_count(self.count, s.traffic.clients):
            if n:
                self.senders.append(self._start_sender(client, n))
        traffic_time = self.count / s.traffic.rate
        sender_deadline = traffic_time + SENDER_SLACK + 10 * s.traffic.connect_timeout
        drain_deadline = None
        empty_since = None      # (run second, counts) when the queue was last seen empty
        while True:
            now = self.now()
            self._step_faults(now)
            self._note_anchors(now)
            if "9" in self.scenario.claims or self.scenario.dns.mode == "health-checked":
                self._ask_dns(now, every=DNS_ASK_EVERY if self.scenario.dns.mode ==
                              "health-checked" else DNS_ASK_FALLBACK)
            senders_done = all(not sd.alive() for sd in self.senders)
            if senders_done and self._top_up(now):
                senders_done = False
            if senders_done and "traffic_done" not in self.anchors:
                self.anchors["traffic_done"] = now
                drain_deadline = now + s.expect.deadline
                self.phase = "draining"
            counts = self._counts()
            if self.schedule.held:
                self._release_met(now, counts["sent"])
            self._progress(now, counts)
            if senders_done and self.schedule.settled() and counts["queued"] == 0 \
                    and counts["delivered"] >= counts["sent"]:
                self.phase = "done"
                self._progress(now, counts, force=True)
                return
            # Mail missing with nothing left to deliver it: the senders are done,
            # every fault is over and the relay holds nothing (it queues durably
            # before its 250, and a Maildir has a message before the mx's 250).
            # Nothing can still arrive, so there is no point waiting out the deadline.
            if senders_done and self.schedule.settled() and counts["queued"] == 0:
                if empty_since is None or empty_since[1] != counts:
                    empty_since = (now, counts)
                elif now - empty_since[0] >= NOTHING_LEFT:
                    self.say("queue empty for %.0f s with %d of %d sent messages delivered: "
                             "nothing is left to deliver them" % (
                                 NOTHING_LEFT, counts["delivered"], counts["sent"]))
                    self.phase = "done"
                    self._progress(now, counts, force=True)
                    return
            else:
                empty_since = None
            if not senders_done and now > sender_deadline:
                self.say("senders still running after %.0f s: stopping them" % now)
                for sd in self.senders:
                    sd.kill()
            if drain_deadline is not None and now > drain_deadline:
                self.say("deadline: %.0f s after traffic the run is not settled "
                         "(queued %d, faults pending %d)" % (s.expect.deadline, counts["queued"],
                                                             len(self.schedule.never_started())))
                return
            time.sleep(POLL)  # wait: the lab runs on its own; we look at it every POLL seconds

    # -- traffic -------------------------------------------------------------------
    def _start_sender(self, client, n, prefix=None):
        from lab.testbed import services as svc
        workdir = os.path.join(self.lab.rundir, "traffic-%s" % client)
        if prefix:
            workdir = os.path.join(workdir, prefix)
        os.makedirs(workdir, exist_ok=True)
        args = sender_args(self.scenario, client, n, self.seed)
        if prefix:
            args[args.index("--msgid-prefix") + 1] = prefix
        if self.scenario.traffic.server != "maillab":
            return self._start_submitter(client, n, args, workdir)
        sender = svc.sender_service(self.lab.host(client), workdir, self.lab.dns_addr,
                                    self.scenario.traffic.to, n, extra=args)
        sender.start()
        return sender

    def _start_submitter(self, client, n, args, workdir):
        """The messages handed to the client's own MTA (lab.testbed.mta_submit),
        at the scenario's rate; the MTA sends them."""
        from lab.testbed import services as svc
        t = self.scenario.traffic
        mta = self.lab.services[client]
        argv = [svc.PYTHON, "-m", "lab.testbed.mta_submit", "--etc", mta.instance.etc,
                "--to", t.to, "--count", str(n), "--rate", args[args.index("--rate") + 1],
                "--seed", str(self.seed), "--msgid-prefix",
                args[args.index("--msgid-prefix") + 1]] + (["--size", str(t.size)]
                                                            if t.size else [])
        submitter = svc.Service("submit", self.lab.host(client), argv, workdir)
        submitter.start()
        return submitter

    def _top_up(self, now):
        """Traffic goes on until every fault that was due during it has met mail:
        a fault that came into force less than TOP_UP_OVERLAP s before the
        senders finished (a slow machine) gets TOP_UP_SECONDS more of traffic,
        so a slow machine gives a slower run, not a different verdict."""
        if self.traffic_end is None:
            self.traffic_end = now
        late = self.schedule.late(self.traffic_end, TOP_UP_OVERLAP, self.topped)
        if not late:
            return False
        s = self.scenario
        client = s.traffic.clients[0]
        n = max(1, int(round(s.traffic.rate * TOP_UP_SECONDS)))
        prefix = "%s-more%d" % (client, len(self.top_ups) + 1)
        self.topped.update(i for i, _ in late)
        self.top_ups.append((prefix, n))
        self.count += n
        # A slow machine also starts the new sender slowly: a fault still in
        # force waits for the new mail to meet it, then lasts its stated time.
        for i, p in late:
            if p.stop is not None and i not in self.schedule.stopped:
                self.schedule.hold(i)
        self.sent_at_top_up = self._counts()["sent"]
        self.held_since = now
        self.say("[%6.1fs] %s came into force as the traffic ended: %d more messages"
                 % (now, ", ".join("%s %s" % (p.name, " ".join(p.args)) for _, p in late), n))
        self.senders.append(self._start_sender(client, n, prefix))
        self.traffic_end = None
        return True

    def _release_met(self, now, sent):
        """A held fault is met once the new traffic has had a message accepted
        (past the fault: it timed out on the black-holed server, or went round
        it): from then on the fault lasts its stated time."""
        met = sent > self.sent_at_top_up
        # a fault that lets no mail through at all is not held for ever
        gone = not self.senders[-1].alive() or now - self.held_since > deadline(HOLD_LIMIT)
        if not (met or gone):
            return
        for i in self.schedule.release(now):
            p = self.schedule.plan[i]
            self.say("[%6.1fs] the new mail meets %s %s: it lasts %.1f s from now"
                     % (now, p.name, " ".join(p.args), p.stop - p.start))

    # -- faults ---------------------------------------------------------------------
    def _step_faults(self, now):
        to_start, to_stop = self.schedule.due(now, self.anchors)
        for i, p in to_stop:
            self._stop_one(i, p)
            self.schedule.mark_stopped(i, self.now())
        for i, p in to_start:
            from lab.faults.api import start_fault
            self.say("[%6.1fs] fault %s %s starts%s" % (
                now, p.name, " ".join(p.args),
                " for %.1f s" % (p.stop - p.start) if p.stop is not None else ""))
            try:
                self.handles[i] = start_fault(self.lab.net, p.name, list(p.args),
                                              self.report_dir, self._fault_events())
                self.schedule.mark_started(i, self.now())
                self.say("[%6.1fs] fault %s %s in force" % (self.now(), p.name, " ".join(p.args)))
            except Exception as e:
                log.exception("fault %s failed to start", p.name)
                self.say("fault %s %s could not start: %s" % (p.name, " ".join(p.args), e))
                self.schedule.mark_started(i, self.now())
                self.schedule.mark_stopped(i, self.now())
                self.failed_faults.append("%s %s: %s" % (p.name, " ".join(p.args), e))

    def _stop_one(self, i, p):
        handle = self.handles.pop(i, None)
        self.say("[%6.1fs] fault %s %s ends" % (self.now(), p.name, " ".join(p.args)))
        if handle is not None:
            try:
                handle.stop()
            except Exception:
                log.exception("stopping fault %s", p.name)
        if p.restart:
            self._restart(p.restart)

    def _restart(self, what):
        from lab.testbed import services as svc
        service_kind, _, host = what.partition("@")
        service = self.lab.services[host]
        if service.alive():
            service.kill()
        service.start()
        # probed from its own host: other faults (a partition) may still cut it off
        # from the clients, and it must be back all the same
        svc.wait_ready([service], service.host, svc.START_TIMEOUT)
        self.say("[%6.1fs] %s restarted" % (self.now(), what))

    def _stop_faults(self):
        for i, handle in list(self.handles.items()):
            try:
                handle.stop()
            except Exception:
                log.exception("stopping fault %s", self.schedule.plan[i].name)
        self.handles.clear()

    def _fault_events(self):
        d = os.path.join(self.lab.rundir, "faults")
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, "events.jsonl")

    # moment -> (event, service) whose first occurrence it is
    EVENT_ANCHORS = {"first_sent": ("sent", "sender"), "first_queued": ("queued", "relay"),
                     "created": ("created", None), "provision_requested": ("provision_requested",
                                                                           None)}

    def _note_anchors(self, now):
        wanted = set(self.EVENT_ANCHORS) - set(self.anchors)
        if not wanted:
            return
        for e in self.lab.events():
            for a in list(wanted):
                event, service = self.EVENT_ANCHORS[a]
                if e.get("event") == event and service in (None, e.get("service")):
                    self.anchors[a] = now
                    wanted.discard(a)

    # -- looking at the lab -----------------------------------------------------------
    def _ledgers(self):
        return glob.glob(os.path.join(self.lab.rundir, "traffic-*", "**", "ledger.jsonl"),
                         recursive=True)

    def _ledger_rows(self):
        """Every 250 a sender got: maillab's senders' ledgers, or what a sending
        MTA's log says it handed over (lab.evidence.postfix_log.ledger_rows)."""
        if self.scenario.traffic.server == "maillab":
            return [r for p in self._ledgers() for r in records.read_ledger(p)]
        return [r for c in self.scenario.traffic.clients for r in postfix_log.ledger_rows(
            os.path.join(self.lab.rundir, c, "postfix", "maillog" + postfix_log.STAMPED_SUFFIX))]

    def _sender_queues(self):
        """What the sending MTAs still hold (none for maillab's sender)."""
        return [q for d in self.lab.mta_queue_dirs().values()
                for q in postfix_queue.read_queue(d)] if self.scenario.traffic.server != \
            "maillab" else []

    def _maildirs(self, root=None):
        """(host, Maildir root) of every messaging server that ever ran, every
        generation, under ``root`` (a view of the run directory; default: itself)."""
        roots = []
        for path in sorted(glob.glob(os.path.join(root or self.lab.rundir, "*", "Maildir"))):
            host = os.path.basename(os.path.dirname(path)).split(".gen")[0]
            roots.append((host, path))
        return roots

    def _queue_dir(self):
        return self.lab.relay_queue_dir()

    def _maillab_relay(self):
        return self.scenario.relay.server == "maillab"

    def _read_queue(self):
        """What the relay holds now, read from its queue directory on disk."""
        if self._maillab_relay():
            return records.read_queue(self._queue_dir(), parse=read_queue_file)
        return postfix_queue.read_queue(self._queue_dir())

    def _counts(self):
        """Sent (the ledger), delivered (the Maildirs) and queued (the relay's and any
        sending MTA's queue) as they are now. Over several servers the hosts there
        are fetched (lab.testbed.mail_lab.Lab.current_view), at most every
        REMOTE_COUNTS_EVERY seconds; in between the last figures stand."""
        sent = len(self._ledger_rows())
        remote = self.lab.remote_hosts()
        if remote and self._counted and time.time() - self._counted[0] < REMOTE_COUNTS_EVERY:
            return dict(self._counted[1], sent=sent)
        try:
            with self.lab.current_view() as root:
                counts = dict(self._held_in(root), sent=sent)
        except (OSError, RuntimeError) as e:     # a server that did not answer this time
            log.warning("counting on the other servers: %s", e)
            return dict(self._counted[1] if self._counted else
                        {"delivered": 0, "queued": 0}, sent=sent)
        if remote:
            self._counted = (time.time(), counts)
        return counts

    def _held_in(self, root):
        """{delivered, queued} read under ``root``, a view of the run directory."""
        def there(path):
            return os.path.join(root, os.path.relpath(path, self.lab.rundir))
        queue_dir = there(self._queue_dir())
        queued = len(records.read_queue(queue_dir) if self._maillab_relay()
                     else postfix_queue.queue_files(queue_dir))
        queued += sum(len(postfix_queue.queue_files(there(d)))
                      for d in self.lab.mta_queue_dirs().values())
        return {"delivered": sum(len(messages_under(d)) for _, d in self._maildirs(root)),
                "queued": queued}

    def _progress(self, now, counts, force=False):
        if not force and now - self._last_progress < PROGRESS_EVERY:
            return
        self._last_progress = now
        active = ["%s %s" % (p.name, " ".join(p.args)) for p in self.schedule.active()]
        self.say(progress_line(now, self.phase, counts["sent"], self.count, counts["delivered"],
                               counts["queued"], active))

    def _dns_settles(self):
        """Health-checked DNS: keep asking, as a client, until the MX answer lists
        every messaging server again (the end of claim 9's story: the relay may
        have delivered everything before the next health probe); at most
        DNS_SETTLE seconds, after which the check judges what was seen."""
        full = [target for _, target in lab_zone.mx_set(self.lab.plan)]
        try:
            wait_until(lambda: self._ask_dns(self.now(), every=0.0) == full, DNS_SETTLE,
                       "the MX answer listing %s again" % ", ".join(full), interval=DNS_ASK_EVERY)
        except NotReady:
            pass

    def _ask_dns(self, now, every=DNS_ASK_EVERY):
        """The MX answer a client gets now (claim 9, health-checked): asked with dig
        from the first client, at most every DNS_ASK_EVERY seconds."""
        if self.dns_answers and now - (self.dns_answers[-1]["ts"] - self.started) < every:
            return None
        ts = time.time()
        answer = [target for _, target in self.lab.mx_records()]
        # no answer (a timeout, SERVFAIL, no records) is no observation (claim 9)
        self.dns_answers.append({"ts": ts, "answer": answer,
                                 "status": "answered" if answer else "no answer"})
        return answer

    def _wan_bytes(self):
        """Bytes through the WAN link (both directions, at the DC2 end), or None."""
        links = [l for l in getattr(self.lab.plan, "router_links", []) if l.kind == "wan"]
        if not links:
            return None
        a, b = self.lab.net.get(links[0].a), self.lab.net.get(links[0].b)
        total = 0
        for link in self.lab.net.linksBetween(a, b):
            intf = link.intf1 if link.intf1.node is b else link.intf2
            p = b.popen(["ip", "-s", "-j", "link", "show", "dev", intf.name],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            out, _ = p.communicate(timeout=10)
            stats = json.loads(out)[0]["stats64"]
            total += stats["rx"]["bytes"] + stats["tx"]["bytes"]
        return total

    def _collect(self, wan_before, wan_after):
        self.finished = time.time()
        ledger = self._ledger_rows()
        mails = []
        for host, root in self._maildirs():
            mails += records.read_maildir(root, host)
        queued = self._read_queue() + self._sender_queues()
        topology = {name: {"ip": info.ip, "dc": info.dc}
                    for name, info in self.lab.plan.hosts.items()}
        events = self.lab.events()
        wan = None if wan_before is None or wan_after is None else wan_after - wan_before
        return records.Evidence(scenario=self.scenario, ledger=ledger, mails=mails,
                                queued=queued, events=events, topology=topology,
                                started=self.started or self.finished,
                                finished=self.finished,
                                queue_snapshots=self.watch.snapshots() if self.watch else [],
                                queue_watched=self.watch is not None, wan_bytes=wan,
                                expected_ids=self.expected_ids(),
                                frames=wire.read_all(self.capture_paths),
                                capture_points=self.capture_points,
                                dns_answers=list(self.dns_answers),
                                subnets={dc.name: str(dc.subnet) for dc in self.lab.plan.dcs},
                                queue_missed=self.watch.missed if self.watch else 0,
                                capture_dropped=self.capture.dropped() if self.capture else {},
                                relay_server=self.scenario.relay.server,
                                slowness=slowness())

    def expected_ids(self):
        """The Message-IDs the senders were asked to send (servers/sender/compose.py)."""
        from servers.sender.compose import message_id
        topped = sum(n for _, n in self.top_ups)
        return {message_id(client, self.seed, k)
                for client, n in split_count(self.count - topped, self.scenario.traffic.clients)
                + self.top_ups for k in range(1, n + 1)}

    def _keep_raw(self, evidence):
        """The raw evidence beside the report: every event, every ledger line and
        every look at the relay's queue on disk."""
        with open(os.path.join(self.report_dir, "events.jsonl"), "w") as f:
            for e in evidence.events:
                f.write(json.dumps(e) + "\n")
        with open(os.path.join(self.report_dir, "ledger.jsonl"), "w") as f:
            for r in evidence.ledger:
                f.write(json.dumps(r) + "\n")
        self._keep_mta_logs()
        if evidence.queue_snapshots:     # the relay's queue files as read from disk
            with open(os.path.join(self.report_dir, "queue.jsonl"), "w") as f:
                for snap in evidence.queue_snapshots:
                    f.write(json.dumps(snap) + "\n")

    def _keep_mta_logs(self):
        """Each real MTA's own log beside the report (``mta-HOST.log``), every line
        after the run second it was written, so what it did with a message can be
        read: the stamped logs the events come from (gathered from other servers)."""
        stamped = "maillog" + postfix_log.STAMPED_SUFFIX
        for path in sorted(glob.glob(os.path.join(self.lab.rundir, "*", "postfix", stamped))):
            host = os.path.basename(os.path.dirname(os.path.dirname(path)))
            with open(os.path.join(self.report_dir, "mta-%s.log" % host), "w") as out:
                for rec in postfix_log.read_stamped(path):
                    out.write("%.3f %s\n" % (rec.get("ts", 0.0) - (self.started or 0.0),
                                              rec.get("line", "")))

    def _files(self):
        names = ["report.html", "report.json", "report.md", "aggregate.png", "timeline.png",
                 "events.jsonl", "ledger.jsonl"]
        if os.path.exists(os.path.join(self.report_dir, "queue.jsonl")):
            names.append("queue.jsonl")
        names += sorted(os.path.basename(p)
                        for p in glob.glob(os.path.join(self.report_dir, "mta-*.log")))
        pcaps = sorted(os.path.relpath(p, self.report_dir)
                       for p in glob.glob(os.path.join(self.pcap_dir, "*")))
        return names + pcaps


def _default_lab(scenario, relay_argv, switch="lxbr", lab_class=None, **options):
    """The Lab for a scenario; ``lab_class`` and ``options`` are for tests (a broken
    variant of a service or of the provisioner)."""
    from lab.testbed.mail_lab import Lab
    d = scenario.dns
    health = {"interval": d.interval, "timeout": d.timeout, "ttl": d.ttl} \
        if d.mode == "health-checked" else False
    return (lab_class or Lab)(scenario.topology, switch=switch, dns_health=health,
                              mx_hosts=d.mx, relay_args=relay_argv,
                              relay_server=scenario.relay.server,
                              relay_timing=relay_timing(scenario.relay),
                              sender_server=scenario.traffic.server,
                              sender_hosts=scenario.traffic.clients,
                              sender_timing=sender_timing(scenario.traffic),
                              provisioner=bool(scenario.relay.provision_after),
                              capacity=scenario.provisioner.capacity,
                              dc_down=scenario.provisioner.down, **options)


def run(scenario, **kwargs):
    return Run(scenario, **kwargs).execute()
