"""SIGTERM, SIGHUP and SIGINT stop a lab command in order.

A command that builds a lab runs under ``run_command``::

    sys.exit(interrupt.run_command("maillab run", work, args))

The first of those signals raises ``Interrupted`` where the command is (in a
sleep, a wait, the Mininet CLI). It is a BaseException, so ``except
Exception`` clean-up paths let it through, and the ``with`` blocks and
``finally`` clauses on the way out tear the lab down. From then on the three
signals are ignored (SIG_IGN, which the programs teardown starts, such as
``ip link del``, inherit: a second Ctrl-C reaches the whole foreground process
group), so a second signal cannot abandon the teardown half-way.
At a prompt, a typed command runs in ``ctrl_c_ends_one_command()``, where
Ctrl-C ends just that command, as in Mininet's CLI.
Teardown code that may run without a signal (the end of a normal run, a
failed start) runs ``shielded()``: a signal that arrives there waits until
it is over. Layers add what they did to the final line with ``note()``;
``run_command`` prints that one line (no traceback) and returns 128 + the
signal number, as shells expect (130 for SIGINT, 143 for SIGTERM, 129 for
SIGHUP).
"""
import contextlib
import os
import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum
        self.notes = []

    @property
    def name(self):
        return signal.Signals(self.signum).name

    @property
    def exit_status(self):
        return 128 + self.signum

    def __str__(self):
        return "stopped by %s" % self.name


class _State:
    stop = None         # the Interrupted in flight, once a signal arrived
    shield = 0          # depth of shielded() sections
    pending = None      # a signal that arrived in a shielded section
    one_command = 0     # depth of ctrl_c_ends_one_command() sections


_state = _State()


def stopping():
    """The Interrupted in flight, or None."""
    return _state.stop


def note(text):
    """Add what a layer did to the final line, if the command is stopping."""
    if _state.stop is not None:
        _state.stop.notes.append(text)


def _stop(signum):
    _state.stop = Interrupted(signum)
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    raise _state.stop


def _handler(signum, _frame):
    if _state.stop is not None:
        return
    if _state.shield:
        _state.pending = _state.pending or signum
        return
    if signum == signal.SIGINT and _state.one_command:
        raise KeyboardInterrupt
    _stop(signum)


@contextlib.contextmanager
def shielded():
    """Run a block (teardown) to its end; a signal that arrives meanwhile is
    acted on when the block is over."""
    _state.shield += 1
    try:
        yield
    finally:
        _state.shield -= 1
        if not _state.shield and _state.pending and _state.stop is None:
            signum, _state.pending = _state.pending, None
            _stop(signum)


@contextlib.contextmanager
def ctrl_c_ends_one_command():
    """For a command typed at a prompt: Ctrl-C (SIGINT) raises KeyboardInterrupt,
    which ends that command only (Mininet's CLI then prompts again, as in Mininet);
    SIGTERM and SIGHUP still stop everything."""
    _state.one_command += 1
    try:
        yield
    finally:
        _state.one_command -= 1


@contextlib.contextmanager
def stop_on_signals():
    """Install the handlers for the block (main thread only); restore the old ones after."""
    if threading.current_thread() is not threading.main_thread():
        yield       # Python delivers signals to the main thread only
        return
    old = {s: signal.getsignal(s) for s in SIGNALS}
    _state.stop, _state.pending = None, None
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        _state.stop, _state.pending = None, None


def describe(command, stop):
    """The one line an interrupted command ends with."""
    return "%s: %s%s" % (command, stop, "".join("; " + n for n in stop.notes))


def run_command(command, func, *args, **kwargs):
    """``func(*args, **kwargs)`` stopped in order by a signal; its result, or 128 + N."""
    try:
        with stop_on_signals():
            return func(*args, **kwargs)
    except Interrupted as stop:
        _say(describe(command, stop))
        return stop.exit_status


def _say(line):
    """Print to stderr; a terminal that is gone (SIGHUP) must not turn into a traceback
    now or at exit."""
    try:
        sys.stdout.flush()
        if sys.stderr.isatty():
            line = "\n" + line     # after the terminal's ^C or a prompt
        print(line, file=sys.stderr, flush=True)
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
