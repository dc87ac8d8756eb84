"""Logs under a failure that repeats: one line per condition per interval with a
count, the traceback once (the relay with a full disk)."""
import errno
import logging

from twisted.internet import task

from servers.common.ratelimited_log import RateLimitedLog
from tests.unit.test_scheduler import HOP, make, put

log = logging.getLogger("test.ratelimited")


def test_one_line_per_condition_per_interval_with_the_count(caplog):
    clock = task.Clock()
    rate = RateLimitedLog(log, clock, interval=60)
    with caplog.at_level(logging.INFO, logger="test.ratelimited"):
        for i in range(100):
            rate.report("disk", logging.ERROR, "write %d failed", i)
            rate.report("net", logging.WARNING, "peer gone")
            clock.advance(1)        # 100 s: one interval over, the second still open
        lines = [r.getMessage() for r in caplog.records]
        assert lines == ["write 0 failed", "peer gone",
                         "write 59 failed (59 more times in the last 60 s)",
                         "peer gone (59 more times in the last 60 s)"]
        clock.advance(20)
        assert caplog.records[-2].getMessage() == "write 99 failed (40 more times in the last 60 s)"
        clock.advance(120)          # quiet now: nothing more, and the next one is logged at once
        assert len(caplog.records) == 6
        rate.report("disk", logging.ERROR, "write again failed")
        assert caplog.records[-1].getMessage() == "write again failed"


def test_the_traceback_is_logged_once_per_condition(caplog):
    clock = task.Clock()
    rate = RateLimitedLog(log, clock, interval=10)
    with caplog.at_level(logging.INFO, logger="test.ratelimited"):
        for _ in range(5):
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError:
                rate.report("disk", logging.ERROR, "failed", exc_info=True)
            clock.advance(11)
    assert [r.exc_info is not None and r.exc_info[0] is OSError for r in caplog.records] == \
        [True] + [False] * (len(caplog.records) - 1)


def test_a_relay_with_a_full_disk_logs_a_traceback_once_not_per_retry(caplog):
    sched, queue, net, events, clock = make()
    net.behaviour[HOP] = "down"

    def disk_full(entry):
        raise OSError(errno.ENOSPC, "No space left on device")
    queue.save = disk_full
    with caplog.at_level(logging.INFO, logger="servers.relay.scheduler"):
        put(sched, queue, n=6)
        for _ in range(600):        # ten minutes of retries
            clock.advance(1)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert sum(r.exc_info is not None for r in errors) == 1
    assert len(errors) <= 2 * 11        # two conditions, one line each per minute
    assert sched.entries                 # nothing lost: still queued, still retried


def test_a_receiving_server_whose_storage_fails_logs_once_and_answers_451_each_time(caplog):
    from twisted.internet import defer

    from tests.unit.smtp_dialogue import Session, envelope, message

    class FullDisk:
        def store(self, message):
            return defer.fail(OSError(errno.ENOSPC, "No space left on device"))
    s = Session(storage=FullDisk())
    with caplog.at_level(logging.INFO, logger="servers.smtpd.protocol"):
        s.send(envelope()[:-1].split("\n")[0] + "\n")
        for _ in range(20):
            s.send("\n".join(envelope().split("\n")[1:]))
            assert s.send(message())[-1].startswith("451 4.3.0")
    [line] = caplog.records
    assert "No space left on device" in line.getMessage() and line.exc_info is not None
