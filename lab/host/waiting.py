"""Wait on a condition with a timeout, never on a fixed sleep."""
import subprocess
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
    """True if a process in ``host``'s namespace (a Mininet node) can open a TCP
    connection to ip:port.

    A short-lived process (``host.popen``), never the host's interactive shell,
    which another thread may be using; bash's /dev/tcp, so no client needs to be
    installed in the host.
    """
    p = host.popen(["timeout", str(timeout), "bash", "-c", "exec 3<>/dev/tcp/%s/%d" % (ip, port)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p.wait() == 0
