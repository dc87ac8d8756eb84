"""A relay that asks for a new server at the first failure, without waiting
out ``--provision-after`` or retrying (claims 2, 6, 10, 14)."""
from tests.variants import run_relay


def patch():
    from servers.relay import scheduler
    real = scheduler.Scheduler.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        if self.provision_after is not None:
            self.provision_after = 0.0
    scheduler.Scheduler.__init__ = init


if __name__ == "__main__":
    run_relay(patch)
