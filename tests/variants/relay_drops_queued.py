"""A relay that answers 250, then forgets the message: accepted mail is lost."""
from tests.variants import run_relay


def patch():
    from twisted.internet import threads

    from servers.relay import inbound
    real = inbound.build_inbound_factory

    def dropping(domains, queue, events, on_queued, **kwargs):
        return real(domains, queue, events,
                    lambda entry: threads.deferToThread(queue.remove, entry), **kwargs)
    inbound.build_inbound_factory = dropping


if __name__ == "__main__":
    run_relay(patch)
