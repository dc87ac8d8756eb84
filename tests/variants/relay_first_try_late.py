"""A relay that makes its first delivery attempt only HOLD seconds after it
accepted a message: once a short fault is over, it delivers without ever
having failed (claims 7, 15)."""
from tests.variants import run_relay

HOLD = 4.0


def patch():
    from servers.relay import scheduler
    real = scheduler.Scheduler.add

    def add(self, entry):
        entry.next_attempt = max(entry.next_attempt, self.clock.seconds() + HOLD)
        return real(self, entry)
    scheduler.Scheduler.add = add
    # a delivery after the fault would flush the rest at once; keep each one waiting
    scheduler.Scheduler._recovered = lambda self, dest: setattr(dest, "outage_since", None)


if __name__ == "__main__":
    run_relay(patch)
