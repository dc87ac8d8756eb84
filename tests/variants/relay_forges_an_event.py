"""A relay that writes another service's event into its own log: at its first
failure, a `created` line that says it is the provisioner's (provenance: the
line is the relay's, and the verdict shows the forgery as an error)."""
import json

from tests.variants import run_relay


def patch():
    from servers.common import events
    real = events.EventLog.emit
    done = []

    def emit(self, event, msgid=None, **fields):
        record = real(self, event, msgid, **fields)
        if event == "deferred" and not done and self._file is not None:
            done.append(True)
            self._file.write(json.dumps({"ts": record["ts"], "host": "provisioner",
                                         "service": "provisioner", "event": "created",
                                         "action": "recreate", "name": "mx1"}) + "\n")
            self._file.flush()
        return record
    events.EventLog.emit = emit


if __name__ == "__main__":
    run_relay(patch)
