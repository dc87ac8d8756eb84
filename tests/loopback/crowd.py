"""A crowd of idle and slow TCP clients on loopback, for the load tests.

``Crowd(port, count)`` opens ``count`` connections from many addresses of
127.0.0.0/8 (``per_address`` each, so a per-client limit alone does not
stop them); every other one then sends one byte every ``drip`` seconds and
never finishes a line or a message (a slow client), the rest say nothing
(idle). The crowd keeps every connection the server lets it keep; the
server's closes are counted. It runs in a thread until ``stop()``, or until
``lifetime`` seconds have passed, whichever comes first: a test that fails
half-way leaves nothing behind.
"""
import errno
import resource
import selectors
import socket
import threading
import time

DRIP_BYTE = b"X"
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)   # Linux


def raise_open_files(wanted):
    """Raise this process's soft RLIMIT_NOFILE to ``wanted`` (within the hard
    limit); returns the old limits, for restore_open_files."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft, hard = old
    if soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return old


def restore_open_files(old):
    resource.setrlimit(resource.RLIMIT_NOFILE, old)


def source_address(i, per_address):
    """127.1.A.B: a distinct loopback address for each group of ``per_address``."""
    n = i // per_address + 1
    return "127.1.%d.%d" % (n // 250, n % 250 + 1)


class Crowd:
    def __init__(self, port, count=2000, per_address=10, drip=2.0, lifetime=120.0,
                 host="127.0.0.1"):
        self.port, self.count, self.per_address = port, count, per_address
        self.drip, self.lifetime, self.host = drip, lifetime, host
        self.opened = 0             # connections established
        self.failed = 0             # connects that failed (refused, reset)
        self.closed_by_server = 0
        self.received = 0           # bytes the server sent (greetings, 421s)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._sockets = {}          # socket -> slow?
        self._thread = threading.Thread(target=self._run, name="crowd", daemon=True)

    def start(self):
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the crowd did not finish connecting in 60 s")
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(30)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def holding(self):
        return len(self._sockets)

    def _connect_all(self, selector):
        for i in range(self.count):
            if self._stop.is_set():
                return
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                # the port is chosen at connect (bind would search the whole range each time)
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((source_address(i, self.per_address), 0))
                s.settimeout(5)
                s.connect((self.host, self.port))
            except OSError:
                s.close()
                self.failed += 1
                continue
            s.setblocking(False)
            self.opened += 1
            self._sockets[s] = bool(i % 2)
            selector.register(s, selectors.EVENT_READ)

    def _close(self, selector, s):
        selector.unregister(s)
        self._sockets.pop(s, None)
        s.close()

    def _run(self):
        selector = selectors.DefaultSelector()
        end = time.monotonic() + self.lifetime
        try:
            self._connect_all(selector)
            self._ready.set()
            next_drip = time.monotonic()
            while not self._stop.is_set() and time.monotonic() < end:
                for key, _ in selector.select(timeout=0.2):
                    self._read(selector, key.fileobj)
                if time.monotonic() >= next_drip:
                    next_drip += self.drip
                    for s, slow in list(self._sockets.items()):
                        if slow:
                            self._send(selector, s)
        finally:
            self._ready.set()
            for s in list(self._sockets):
                self._close(selector, s)
            selector.close()

    def _read(self, selector, s):
        try:
            data = s.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.received += len(data)
            return
        self.closed_by_server += 1
        self._close(selector, s)

    def _send(self, selector, s):
        try:
            s.send(DRIP_BYTE)
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.closed_by_server += 1
                self._close(selector, s)
            else:
                raise


def process_usage(pid):
    """(open descriptors, threads) of process ``pid``, from /proc."""
    import os
    fds = len(os.listdir("/proc/%d/fd" % pid))
    with open("/proc/%d/status" % pid) as f:
        threads = next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    return fds, threads
