"""What a verdict is made of: checks and the verdict itself."""
import dataclasses

OBSERVED, INFO = "observed", "info"


@dataclasses.dataclass
class Check:
    name: str
    claim: str
    ok: bool
    detail: str
    kind: str = OBSERVED
    evidence: list = dataclasses.field(default_factory=list)

    def as_dict(self):
        return dataclasses.asdict(self)


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


def error_verdict(e):
    """The verdict of a run that ended in an error instead of a verdict."""
    return Verdict(False, 0, 0, 0, 0, 0, 0, {}, [Check("ran", "", False, "%s: %s" % (
        type(e).__name__, e))], [], [])
