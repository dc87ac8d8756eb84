"""A relay that asks for a new server and then keeps everything bound for the
dead one (claims 3, 8, 11, 16)."""
from tests.variants import run_relay


def patch():
    from twisted.internet import defer

    from servers.relay import scheduler
    scheduler.Scheduler._route = lambda self, hop: hop
    scheduler.Scheduler._reroute = lambda self, entry, new_hop: defer.succeed(entry.next_hop)


if __name__ == "__main__":
    run_relay(patch)
