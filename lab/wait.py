"""Wait on a condition with a timeout, never on a fixed sleep."""
import time


class NotReady(TimeoutError):
    pass


def wait_until(predicate, timeout, what, interval=0.05):
    """Call ``predicate`` until it returns a true value, and return that.

    Raises NotReady naming ``what`` when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise NotReady("%s: not ready after %.1f s" % (what, timeout))
        time.sleep(interval)


def tcp_open_from(host, ip, port, timeout=1.0):
    """True if ``host`` (a Mininet node) can open a TCP connection to ip:port.

    Uses bash's /dev/tcp so that no client needs to be installed in the host.
    """
    out = host.cmd("timeout %s bash -c 'exec 3<>/dev/tcp/%s/%d' 2>/dev/null && echo open"
                   % (timeout, ip, port))
    return "open" in out
