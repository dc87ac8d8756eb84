"""What a verdict is made of: checks and the verdict itself.

A check has one of five outcomes: PASS or FAIL (judged from what the run
saw), INCONCLUSIVE (the run could not show it either way: a fault with no
effect, a queue watch that missed versions, dropped captures, a chain with
nothing to carry; ``inconclusive`` says why), NOT APPLICABLE (the claim needs
what the server under test does not do: a real MTA as the relay asks no
provisioner for a new server; ``not_applicable`` says why; never counted as a
PASS) or INFO (a fact of the set-up, shown, never counted). ``ok`` stays for
compatibility: True only for PASS (and INFO and NOT APPLICABLE, which do not
fail a run), so a run whose expected claim is INCONCLUSIVE does not pass.
"""
import dataclasses

OBSERVED, INFO = "observed", "info"
PASS, FAIL, INCONCLUSIVE, INFO_OUTCOME = "PASS", "FAIL", "INCONCLUSIVE", "INFO"
NOT_APPLICABLE = "NOT APPLICABLE"
COUNTED = (PASS, FAIL)          # the outcomes "N of M checks hold" counts


@dataclasses.dataclass
class Check:
    name: str
    claim: str
    ok: bool
    detail: str
    kind: str = OBSERVED
    evidence: list = dataclasses.field(default_factory=list)
    inconclusive: str = ""      # why the run could not show it either way ("" if it could)
    wire_matched: object = None  # [messages matched on the wire, messages the claim counts]
    not_applicable: str = ""    # why the claim does not apply to what ran ("" if it does)

    @property
    def outcome(self):
        if self.kind == INFO:
            return INFO_OUTCOME
        if self.not_applicable:
            return NOT_APPLICABLE
        if self.inconclusive:
            return INCONCLUSIVE
        return PASS if self.ok else FAIL

    def make_inconclusive(self, why):
        """The run cannot show this check either way (the caller knows the reason
        voids a PASS and a FAIL alike); INFO stays INFO."""
        if self.kind != INFO:
            self.ok = False
            self.inconclusive = "; ".join(x for x in (self.inconclusive, why) if x)
        return self

    def as_dict(self):
        d = dataclasses.asdict(self)
        d["outcome"] = self.outcome
        return d


@dataclasses.dataclass
class Verdict:
    ok: bool
    sent: int
    delivered: int
    lost: int
    duplicates: int
    queued: int
    unexpected: int
    timings: dict
    checks: list
    lost_ids: list
    duplicate_ids: list

    @property
    def outcome(self):
        """PASS, FAIL, or INCONCLUSIVE (nothing failed, but something could not be shown)."""
        if self.ok:
            return PASS
        if any(c.outcome == FAIL for c in self.checks) or self.lost or self.duplicates \
                or self.queued or not self.sent:
            return FAIL
        return INCONCLUSIVE if any(c.outcome == INCONCLUSIVE for c in self.checks) else FAIL


def tally(checks):
    """{outcome: how many}, for "N of M checks hold" (M counts PASS and FAIL only)."""
    out = {PASS: 0, FAIL: 0, INCONCLUSIVE: 0, INFO_OUTCOME: 0, NOT_APPLICABLE: 0}
    for c in checks:
        out[c.outcome] += 1
    return out


def not_applicable(name, claim, why):
    """A check the run does not judge: the claim needs what did not run (``why``)."""
    return Check(name, claim, True, "not applicable: %s" % why, not_applicable=why)


def error_verdict(e):
    """The verdict of a run that ended in an error instead of a verdict."""
    return Verdict(False, 0, 0, 0, 0, 0, 0, {}, [Check("ran", "", False, "%s: %s" % (
        type(e).__name__, e))], [], [])
