"""Replay protection for signed UPDATEs: each key's time signed only moves forward.

A signed UPDATE is accepted only if its time signed is later than the last
one accepted for its key, or equal to it and the message was not seen in that
second (a client may send several UPDATEs within one second). A message is
identified by its whole MAC as the server computes it, so a replay cannot
look new by carrying a shortened or altered MAC field.

The state is kept in a small JSON file, written durably before the UPDATE is
applied, so a restart does not reopen the replay window. It is committed
before it is remembered: when the file cannot be written, accept() raises
OSError and nothing is remembered, so the client's resend is judged afresh. A client whose
clock runs behind the last accepted time is refused with BADTIME until it
catches up; in the lab every host shares the machine's clock.
"""
import json
import logging
import os

from servers.common.durable import write_atomic

log = logging.getLogger("maillab.dns.replay")


class ReplayGuard:
    """The last accepted time signed per key; ``path`` None keeps it in memory only."""

    def __init__(self, path=None):
        self.path = path
        self.last = {}      # key name -> (time signed, {hex MAC accepted at that time})
        if path and os.path.exists(path):
            self.last = _read(path)

    def accept(self, key_name, time_signed, mac):
        """Record a verified request and return True, or return False for a replay.
        OSError if the state cannot be written; then nothing is recorded."""
        key_name = str(key_name).lower()
        last_time, seen = self.last.get(key_name, (-1, set()))
        if time_signed < last_time or (time_signed == last_time and mac.hex() in seen):
            return False
        seen = seen if time_signed == last_time else set()
        state = dict(self.last)
        state[key_name] = (time_signed, seen | {mac.hex()})
        if self.path:
            write_atomic(self.path, _text(state))
        self.last = state
        return True


def _text(last):
    return json.dumps({name: {"time": t, "macs": sorted(macs)} for name, (t, macs) in last.items()},
                      indent=1, sort_keys=True).encode()


def _read(path):
    """The state in ``path``; ValueError if it is not what _text writes."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return {str(name): (int(entry["time"]), {str(m) for m in entry["macs"]})
                for name, entry in data.items()}
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise ValueError("%s: unreadable TSIG replay state: %s" % (path, e)) from None
