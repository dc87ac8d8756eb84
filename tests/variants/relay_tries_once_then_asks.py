"""A relay that tries a dead server once, then never again, and asks the
provisioner when its threshold comes: it waits out --provision-after, but has
not retried (claim 6). Its first failure marks the server dead for an hour,
so later attempts defer without a connection."""
from tests.variants import run_relay


def patch():
    from servers.relay import scheduler
    real = scheduler.Scheduler.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        self.dead_ttl = 3600.0
    scheduler.Scheduler.__init__ = init


if __name__ == "__main__":
    run_relay(patch)
