"""A relay whose log is perfect but who never connects again after its first
failure: each later attempt "fails" after a connect timeout with no SYN of its
own, and logs its `deferred` on time, while another process on the relay's host
connects to the server every 1.2 s (a heartbeat). Once the heartbeat gets an
answer the relay connects again and delivers (claims 5, 13: the wire shows
attempts that no failure of its log accounts for)."""
import os
import subprocess
import sys
import tempfile

from tests.variants import run_relay

HEARTBEAT = 1.2     # seconds between the heartbeat's connects

BEAT = r'''
import os, socket, sys, time
host, port, flag, period = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
parent = os.getppid()
while os.getppid() == parent:
    t = time.monotonic()
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        open(flag, "w").close()
    except OSError:
        pass
    time.sleep(max(0.0, period - (time.monotonic() - t)))  # wait: the heartbeat's period
'''


def _connect_timeout():
    argv = sys.argv
    return float(argv[argv.index("--connect-timeout") + 1]) if "--connect-timeout" in argv \
        else 1.0


def patch():
    from twisted.internet import defer, reactor
    from servers.common import smtpclient
    from servers.relay import scheduler
    real = scheduler.Scheduler.__init__
    flag = os.path.join(tempfile.mkdtemp(prefix="heartbeat-"), "answered")
    state = {"failed": False, "beat": None}

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        opener = self.open_session

        def open_session(host, port):
            if state["failed"] and not os.path.exists(flag):
                if state["beat"] is None:
                    state["beat"] = subprocess.Popen([sys.executable, "-c", BEAT, host,
                                                      str(port), flag, str(HEARTBEAT)])
                d = defer.Deferred()
                reactor.callLater(_connect_timeout(), d.errback,
                                  smtpclient.SessionError("connect timeout (no SYN sent)"))
                return d
            d = opener(host, port)

            def failed(f):
                state["failed"] = True
                return f
            return d.addErrback(failed)
        self.open_session = open_session
    scheduler.Scheduler.__init__ = init


if __name__ == "__main__":
    run_relay(patch)
