"""A health-checking DNS server that, instead of leaving the dead server out
of its MX answer, stops answering MX queries while one is down (claim 9: a
client's timeout is no observation, never "mx1 left the answer")."""
from tests.variants import run_dns


class Silence(Exception):
    pass


def patch():
    from servers.dns import health, server
    real_filter = health.HealthChecker.filter
    real_reply = server.DNSServer._reply

    def filter(self, name, rrs):
        kept = real_filter(self, name, rrs)
        if len(kept) < len(rrs):
            raise Silence()
        return kept

    def reply(self, *args, **kwargs):
        try:
            return real_reply(self, *args, **kwargs)
        except Silence:
            return None          # no answer at all: the client times out
    health.HealthChecker.filter = filter
    server.DNSServer._reply = reply


if __name__ == "__main__":
    run_dns(patch)
