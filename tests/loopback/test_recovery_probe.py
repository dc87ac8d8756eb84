"""The recovery policy's probe on real sockets: a listening port is accepted,
a closed one refused (the host is up either way). Run in a child process: a
Twisted reactor cannot be started twice in one."""
import os
import socket
import subprocess
import sys

from lab import ROOT
from servers.common.tcp_probe import ACCEPTED, REFUSED
from servers.relay.recovery import is_up

PROBE_BOTH = """
import sys
from twisted.internet import defer, reactor
from servers.relay.recovery import tcp_probe
probe = tcp_probe(reactor)
d = defer.gatherResults([probe("127.0.0.1", int(p), 2) for p in sys.argv[1:]])
d.addCallback(lambda outcomes: print(" ".join(outcomes)))
d.addBoth(lambda _: reactor.stop())
reactor.run()
"""


def test_tcp_probe_tells_accepted_from_refused():
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        closed.bind(("127.0.0.1", 0))       # bound, never listening: connections get an RST
        out = subprocess.run([sys.executable, "-c", PROBE_BOTH,
                              str(listening.getsockname()[1]), str(closed.getsockname()[1])],
                             env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                             text=True, timeout=30)
    assert out.stdout.split() == [ACCEPTED, REFUSED], out.stderr
    assert is_up(ACCEPTED) and is_up(REFUSED) and not is_up("timeout")
