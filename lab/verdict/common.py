"""What every check of the verdict shares: how well the clocks agree
(TOLERANCE, EARLY, FILE_TIME), an observed check (``_ok``) and the words of a
detail (``_fmt_t``, ``_short``, ``ASKS``).

It imports nothing of the verdict but its model (lab/verdict/claims.py: how the
verdict's modules import one another)."""
from lab.verdict.model import OBSERVED, Check

TOLERANCE = 0.3       # seconds: how well the clocks of events, files and captures agree
EARLY = 0.1           # a retry may come this fraction of its delay early (timer slack)
FILE_TIME = 0.02      # seconds a file's mtime may lag the write: the kernel stamps files
                      # with its coarse clock, a tick (up to 10 ms here) behind

ASKS = "the relay asks the lab's provisioner for another messaging server"


def _fmt_t(evidence, ts):
    return "t=%.2fs" % (ts - evidence.started) if evidence.started else "ts=%.2f" % ts


def _short(ids, n=3):
    ids = sorted(ids)
    return ", ".join(ids[:n]) + (" and %d more" % (len(ids) - n) if len(ids) > n else "")


def _ok(name, claim, ok, detail, evidence=(), kind=OBSERVED):
    return Check(name, claim, bool(ok), detail, kind, list(evidence))
