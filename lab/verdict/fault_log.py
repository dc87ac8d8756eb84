"""The faults as the fault scripts logged them (their own log only): their
events, and the windows in which each was in force."""
from lab.evidence.records import fault_windows
from lab.evidence.provenance import FAULT_SERVICE


def _windows(ev):
    """The faults' windows, from the fault scripts' own log only."""
    return fault_windows(_fault_events(ev), ev.finished or float("inf"))


def _fault_events(ev):
    return [e for e in ev.events if e.get("service") == FAULT_SERVICE]


def _in_window(ev, ts):
    return any(a <= ts <= b for a, b, _ in _windows(ev))
