"""lab.interrupt: a signal ends the work, teardown runs to its end, one line, 128 + N."""
import os
import signal

import pytest

from lab.host import interrupt


def send(signum):
    os.kill(os.getpid(), signum)      # delivered to this (the main) thread before kill returns


@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                           (signal.SIGHUP, 129)])
def test_a_signal_ends_the_work_with_one_line_and_128_plus_n(signum, status, capsys):
    done = []

    def work():
        try:
            send(signum)
            done.append("went on")
        finally:
            send(signum)            # a second signal during teardown is ignored ...
            done.append("teardown finished")    # ... so teardown goes on to its end
            interrupt.note("lab torn down")
    assert interrupt.run_command("maillab run", work) == status
    assert done == ["teardown finished"]
    err = capsys.readouterr().err
    assert err == "maillab run: stopped by %s; lab torn down\n" % signal.Signals(signum).name


def test_a_signal_in_a_shielded_block_waits_until_the_block_is_over(capsys):
    done = []

    def work():
        with interrupt.shielded():
            send(signal.SIGTERM)
            done.append("shielded block finished")
        done.append("went on")
    assert interrupt.run_command("maillab up", work) == 143
    assert done == ["shielded block finished"]


def test_without_a_signal_the_result_is_the_work_s_and_handlers_are_restored():
    before = {s: signal.getsignal(s) for s in interrupt.SIGNALS}
    assert interrupt.run_command("maillab run", lambda: 7) == 7
    assert {s: signal.getsignal(s) for s in interrupt.SIGNALS} == before
    interrupt.note("not stopping: nothing noted")
    assert interrupt.stopping() is None


def test_interrupted_is_not_swallowed_by_except_exception():
    def work():
        try:
            send(signal.SIGINT)
        except Exception:       # a clean-up path that handles errors
            return 0
    assert interrupt.run_command("maillab run", work) == 130


def test_ctrl_c_in_a_typed_command_ends_that_command_only():
    seen = []

    def work():
        with interrupt.ctrl_c_ends_one_command():
            try:
                send(signal.SIGINT)
            except KeyboardInterrupt:
                seen.append("command ended")
        with interrupt.ctrl_c_ends_one_command():
            send(signal.SIGTERM)
            seen.append("went on")
    assert interrupt.run_command("maillab up", work) == 143
    assert seen == ["command ended"]
