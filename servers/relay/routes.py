"""Learned routes: a destination pinned to the server that replaced it, for a while.

When the relay has a new messaging server created for a dead one, it pins the
dead destination ("mx:example.org", or "10.0.1.10:25") to the new server, so
that mail arriving later follows the stored mail.  A pin is learned, not
configured, so it must not outlive its reason:

- it expires ``lifetime`` seconds after it was made (by then DNS points at
  the new server, or the old one is back);
- it is undone at once when the server whose failure caused it is back
  (``unpin_cause``), if the recovery policy says so;
- it is kept in a file beside the queue (written atomically), so a relay
  restarted with rerouted mail still routes the same way.
"""
import json
import logging

from servers.common.durable import write_atomic

log = logging.getLogger(__name__)

FILE_NAME = "routes.json"
DEFAULT_LIFETIME = 300.0     # seconds (lab-sized; a real relay would keep one for hours)


class Routes:
    """``path``: the file (None: in memory only); ``lifetime`` in seconds (None: no expiry).
    ``bind(clock, events)`` before use: the scheduler's IReactorTime and event log."""

    def __init__(self, path=None, lifetime=DEFAULT_LIFETIME):
        self.path = path
        self.lifetime = lifetime
        self.clock = None
        self.events = None
        self.pins = {}          # old hop -> {"new", "since", "expires", "cause"}

    def bind(self, clock, events):
        self.clock, self.events = clock, events
        self.pins = self._read()
        return self

    def _read(self):
        if not self.path:
            return {}
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.error("ignoring unreadable routes file %s: %s", self.path, e)
            return {}
        if not isinstance(data, dict):
            return {}
        return {old: pin for old, pin in data.items()
                if isinstance(pin, dict) and isinstance(pin.get("new"), str)}

    def _write(self):
        if self.path:
            write_atomic(self.path, json.dumps(self.pins, sort_keys=True, indent=1).encode())

    def _emit(self, event, **fields):
        if self.events is not None:
            self.events.emit(event, **fields)

    def get(self, hop):
        """Where mail for ``hop`` goes now (``hop`` itself when nothing is pinned)."""
        pin = self.pins.get(hop)
        if pin is None:
            return hop
        expires = pin.get("expires")
        if expires is not None and self.clock.seconds() >= expires:
            del self.pins[hop]
            self._write()
            log.info("route %s -> %s expired", hop, pin["new"])
            self._emit("route_expired", old=hop, new=pin["new"])
            return hop
        return pin["new"]

    def pin(self, old, new, cause=None):
        """Send mail for ``old`` to ``new`` from now on; pins that led to ``old``
        now lead to ``new``.  ``cause``: the server whose failure made the pin."""
        now = self.clock.seconds()
        expires = None if self.lifetime is None else now + self.lifetime
        for pin in self.pins.values():
            if pin["new"] == old:
                pin["new"] = new
        self.pins[old] = {"new": new, "since": now, "expires": expires,
                          "cause": cause or old}
        self._write()
        self._emit("route_pinned", old=old, new=new, cause=cause or old,
                   expires=None if expires is None else round(expires, 3))

    def unpin_cause(self, cause):
        """Undo every pin made because ``cause`` failed; [(old, new)] undone."""
        undone = [(old, pin["new"]) for old, pin in self.pins.items()
                  if pin.get("cause") == cause]
        for old, new in undone:
            del self.pins[old]
            self._emit("route_restored", old=old, new=new, cause=cause)
        if undone:
            self._write()
        return undone

    def items(self):
        return [(old, pin["new"]) for old, pin in self.pins.items()]
