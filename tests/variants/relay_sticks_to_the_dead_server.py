"""A relay that asks for a new server and then keeps sending everything to the
dead one: it never re-routes, and it keeps the first MX answer it got forever,
so the zone's new primary is never looked at (claims 3, 8, 11, 16)."""
from tests.variants import run_relay


def patch():
    from twisted.internet import defer

    from servers.relay import scheduler, service
    real_make_resolver = service.make_resolver

    def make_resolver(args, reactor):
        resolve, first = real_make_resolver(args, reactor), {}

        def sticky(next_hop):
            if next_hop in first:
                return defer.succeed(first[next_hop])
            d = resolve(next_hop)
            d.addCallback(lambda servers: first.setdefault(next_hop, servers))
            return d
        return sticky
    service.make_resolver = make_resolver
    scheduler.Scheduler._route = lambda self, hop: hop
    scheduler.Scheduler._reroute = lambda self, entry, new_hop: defer.succeed(entry.next_hop)


if __name__ == "__main__":
    run_relay(patch)
