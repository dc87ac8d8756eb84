"""One chaos run: a seeded schedule (lab.chaos.schedule) run as a scenario,
its verdict, and when it fails the smallest schedule that still fails
(lab.chaos.shrink), written as ``minimal.toml`` beside ``schedule.toml``.

A chaos run is a scenario run (``lab.scenarios.run.Run``) with one more
check: every server is still running at the end unless a fault destroyed
its host. A server a ``kill`` fault stopped is started again when the fault
ends, so a dead server at the end died by itself.
"""
import dataclasses
import io
import json
import os

from lab.chaos import schedule as chaos_schedule
from lab.chaos import shrink
from lab.verdict import claims as judge
from lab.verdict.model import error_verdict
from lab.scenarios.run import Run

SERVERS_ALIVE = "no server died by itself"


class ChaosRun(Run):
    def _in_lab(self):
        try:
            return super()._in_lab()
        finally:
            self.dead = self._dead_servers()    # while the lab is still up

    def _dead_servers(self):
        destroyed = {f.args[0] for f in self.scenario.faults if f.name == "destroy"}
        return ["%s@%s: %s" % (s.name, host, (s.stderr().strip().splitlines() or ["-"])[-1])
                for host, s in self.lab.services.items()
                if not s.alive() and host not in destroyed]

    def _verdict(self, evidence):
        verdict = super()._verdict(evidence)
        dead = getattr(self, "dead", None)
        if dead is not None:
            verdict.checks.append(judge.Check(
                SERVERS_ALIVE, "", not dead,
                "every server runs at the end (or its host was destroyed)" if not dead else
                "%d servers exited with no fault to kill them: %s" % (len(dead), "; ".join(dead))))
            verdict.ok = verdict.ok and not dead
        return verdict


@dataclasses.dataclass
class Outcome:
    seed: int
    schedule: object        # the Scenario that ran
    verdict: object
    injected: int           # faults that started
    report_dir: str
    shrunk: object = None   # lab.chaos.shrink.Shrunk, when the run failed and was reduced


def run_schedule(s, seed, report_dir, out, lab_options=None, switch="lxbr"):
    """(verdict, faults injected) of one run of schedule ``s``; an error in
    the run is a failed verdict (check "ran"), not the end of the chaos.
    ``lab_options``: as Run's (tests run a broken variant of a server)."""
    run = ChaosRun(s, seed=seed, report_dir=report_dir, out=out, lab_options=lab_options,
                   switch=switch)
    try:
        verdict, _ = run.execute()
    except Exception as e:
        print("%s: ERROR %s: %s" % (s.name, type(e).__name__, e), file=out, flush=True)
        verdict = error_verdict(e)
    injected = len(run.schedule.started) - len(run.failed_faults)
    return verdict, injected


def failed_summary(verdict):
    return "; ".join("%s: %s" % (c.name, c.detail) for c in verdict.checks if not c.ok)


def replay_command(path, seed):
    return "maillab run %s --seed %d" % (path, seed)


def write_schedule(path, s, seed, header):
    with open(path, "w", encoding="utf-8") as f:
        f.write(chaos_schedule.to_toml(s, header="%s\nreplay: %s" % (
            header, replay_command(path, seed))))


def chaos(topo, seed, report_dir, duration=60.0, kinds=chaos_schedule.KINDS, intensity=1.0,
          messages=None, shrink_runs=shrink.MAX_RUNS, out=None, lab_options=None, switch="lxbr"):
    """Generate the schedule for ``seed``, run it, shrink it if it fails."""
    out = out or io.StringIO()
    os.makedirs(report_dir, exist_ok=True)
    s = chaos_schedule.generate(topo, seed, duration=duration, kinds=kinds,
                                intensity=intensity, messages=messages)
    schedule_path = os.path.join(report_dir, "schedule.toml")
    write_schedule(schedule_path, s, seed, "chaos schedule, seed %d" % seed)
    print("chaos seed %d: %d faults, %d messages over %.0f s; schedule %s"
          % (seed, len(s.faults), s.traffic.count, duration, schedule_path), file=out, flush=True)
    verdict, injected = run_schedule(s, seed, report_dir, out, lab_options, switch)
    outcome = Outcome(seed, s, verdict, injected, report_dir)
    if verdict.ok or shrink_runs <= 0:
        return outcome
    print("seed %d failed (%s); shrinking, at most %d re-runs"
          % (seed, failed_summary(verdict), shrink_runs), file=out, flush=True)
    outcome.shrunk = _shrink(s, verdict, seed, report_dir, shrink_runs, out, lab_options, switch)
    _add_to_report(report_dir, outcome)
    return outcome


def _shrink(s, verdict, seed, report_dir, max_runs, out, lab_options, switch):
    n = [0]

    def rerun(candidate):
        n[0] += 1
        d = os.path.join(report_dir, "shrink", "%02d" % n[0])
        os.makedirs(d, exist_ok=True)
        write_schedule(os.path.join(d, "schedule.toml"), candidate, seed,
                       "shrink candidate %d of seed %d" % (n[0], seed))
        with open(os.path.join(d, "run.log"), "w", encoding="utf-8") as log:
            v, _ = run_schedule(candidate, seed, d, log, lab_options, switch)
        print("shrink run %d/%d: %d faults, %d messages: %s" % (
            n[0], max_runs, len(candidate.faults), candidate.traffic.count,
            "PASS" if v.ok else "FAIL (%s)" % ", ".join(sorted(shrink.failed_checks(v)))),
            file=out, flush=True)
        return v
    result = shrink.shrink(s, verdict, rerun, max_runs=max_runs)
    minimal = dataclasses.replace(result.scenario, name=s.name + "-minimal", description=(
        "The smallest schedule found that fails like chaos seed %d (%d of its %d faults)."
        % (seed, len(result.scenario.faults), len(s.faults))))
    path = os.path.join(report_dir, "minimal.toml")
    write_schedule(path, minimal, seed, "reproduces: %s\nfound in %d re-runs%s" % (
        failed_summary(result.verdict), result.runs,
        " (the re-run budget ran out: smaller may exist)" if result.exhausted else ""))
    print("minimal schedule: %d of %d faults, %d messages, %d re-runs -> %s"
          % (len(minimal.faults), len(s.faults), minimal.traffic.count, result.runs, path),
          file=out, flush=True)
    return dataclasses.replace(result, scenario=minimal)


def _add_to_report(report_dir, outcome):
    r = outcome.shrunk
    summary = {"schedule": "schedule.toml", "minimal": "minimal.toml",
               "faults": len(outcome.schedule.faults), "minimal_faults": len(r.scenario.faults),
               "minimal_messages": r.scenario.traffic.count, "shrink_runs": r.runs,
               "shrink_exhausted": r.exhausted, "reproduces": failed_summary(r.verdict)}
    path = os.path.join(report_dir, "report.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            rep = json.load(f)
        rep["chaos"] = summary
        with open(path, "w", encoding="utf-8") as f:
            json.dump(rep, f, indent=2)
    with open(os.path.join(report_dir, "report.md"), "a", encoding="utf-8") as f:
        f.write("\n## Chaos: the smallest failing schedule\n\n"
                "`minimal.toml`: %d of the %d faults of `schedule.toml`, %d messages, found "
                "in %d re-runs%s. It reproduces: %s\n"
                % (len(r.scenario.faults), len(outcome.schedule.faults),
                   r.scenario.traffic.count, r.runs,
                   " (budget ran out)" if r.exhausted else "", summary["reproduces"]))
