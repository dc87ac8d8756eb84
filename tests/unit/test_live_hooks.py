"""How a run hands its lab and its verdict to the live page (no lab, no server)."""
import contextlib
import io
import signal

import pytest

from lab.scenarios.run import watched
from lab.web.server import hold


class RecordingView:
    def __init__(self, calls):
        self.calls = calls

    @contextlib.contextmanager
    def watch(self, lab, title=None):
        self.calls.append("watch %s (%s)" % (lab, title))
        yield self
        self.calls.append("unwatch")

    def finish(self, verdict, report_dir):
        self.calls.append("finish ok=%s" % verdict.ok)


def test_the_page_leaves_a_lab_before_its_teardown():
    calls = []

    @contextlib.contextmanager
    def lab_factory(scenario, relay_argv):
        calls.append("lab up")
        yield "lab"
        calls.append("lab down")
    with watched(lab_factory, RecordingView(calls), "relay-failover")("s", []) as lab:
        calls.append("run in %s" % lab)
    assert calls == ["lab up", "watch lab (relay-failover)", "run in lab", "unwatch", "lab down"]


def test_an_interrupted_run_still_shows_its_verdict(tmp_path):
    from lab.host import interrupt
    from lab.scenarios import model as scenario
    from lab.scenarios.run import Run
    calls = []

    @contextlib.contextmanager
    def stopped_while_starting(s, relay_argv):
        raise interrupt.Interrupted(signal.SIGTERM)
        yield
    run = Run(scenario.load("relay-failover"), report_dir=str(tmp_path), out=io.StringIO(),
              lab_factory=stopped_while_starting, web=RecordingView(calls))
    with pytest.raises(interrupt.Interrupted):
        run.execute()
    assert calls == ["finish ok=False"]


def test_hold_waits_for_enter_only_at_a_terminal():
    class Input(io.StringIO):
        def __init__(self, text, tty):
            super().__init__(text)
            self.tty = tty

        def isatty(self):
            return self.tty
    view = type("View", (), {"url": "http://127.0.0.1:7080/"})()
    piped = Input("\n", tty=False)
    hold(view, out=io.StringIO(), stdin=piped)
    assert piped.tell() == 0                        # not read: a script goes on at once
    terminal, out = Input("\n", tty=True), io.StringIO()
    hold(view, out=out, stdin=terminal)
    assert terminal.tell() == 1 and "press Enter" in out.getvalue()
    hold(None, out=out, stdin=Input("", tty=True))  # no --web: nothing to hold
