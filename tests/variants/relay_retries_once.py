"""A relay that retries a failed message once, then waits an hour (claims 5, 13)."""
from tests.variants import run_relay


def patch():
    from servers.relay import backoff
    backoff.RetryPolicy.delay = lambda self, attempts: self.minimum if attempts <= 1 else 3600.0


if __name__ == "__main__":
    run_relay(patch)
