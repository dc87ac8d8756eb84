"""A relay that retries at its minimum interval forever, ignoring the backoff
ceiling (claims 5, 13 in a scenario whose policy backs off)."""
from tests.variants import run_relay


def patch():
    from servers.relay import backoff
    backoff.RetryPolicy.delay = lambda self, attempts: self.minimum


if __name__ == "__main__":
    run_relay(patch)
