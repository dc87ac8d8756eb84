"""A relay that tries each message once and then never again (claims 5, 13, 1c)."""
from tests.variants import run_relay


def patch():
    from servers.relay import backoff
    backoff.RetryPolicy.delay = lambda self, attempts: 3600.0


if __name__ == "__main__":
    run_relay(patch)
