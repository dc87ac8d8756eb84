"""One TCP connection attempt, and what became of it: the DNS server's health
checks and the relay's recovery probes both ask this."""
from twisted.internet import error, protocol

ACCEPTED, REFUSED, TIMEOUT, UNREACHABLE = "accepted", "refused", "timeout", "unreachable"


def connect_outcome(reactor, host, port, timeout):
    """Deferred[str]: ACCEPTED, REFUSED, TIMEOUT or ``"unreachable (why)"``; an
    accepted connection is closed at once."""
    # ClientCreator rather than endpoints: importing endpoints pulls in TLS
    # modules (service_identity) that the lab does not need.
    d = protocol.ClientCreator(reactor, protocol.Protocol).connectTCP(host, port,
                                                                      timeout=timeout)

    def connected(proto):
        proto.transport.abortConnection()
        return ACCEPTED

    def failed(f):
        if f.check(error.ConnectionRefusedError):
            return REFUSED
        if f.check(error.TimeoutError):
            return TIMEOUT
        return "%s (%s)" % (UNREACHABLE, f.getErrorMessage())
    return d.addCallbacks(connected, failed)
