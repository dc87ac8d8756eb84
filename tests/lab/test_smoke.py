"""The foundation works: real hosts, a real Twisted server, a link that can be cut."""
import os
import sys

import pytest
from mininet.topo import Topo

from lab.host.net import running_net
from lab.host.waiting import tcp_open_from, wait_until

pytestmark = pytest.mark.lab
ECHO = os.path.join(os.path.dirname(__file__), "echo_server.py")


class TwoHosts(Topo):
    def build(self):
        s1 = self.addSwitch("s1")
        self.addLink(self.addHost("h1", ip="10.9.0.1/24"), s1)
        self.addLink(self.addHost("h2", ip="10.9.0.2/24"), s1)


def test_echo_across_a_link_and_not_after_it_is_cut(clean_machine):
    with running_net(TwoHosts()) as net:
        h1, h2 = net.get("h1", "h2")
        server = h1.popen([sys.executable, ECHO, "10.9.0.1", "7007"])
        try:
            wait_until(lambda: tcp_open_from(h2, "10.9.0.1", 7007), 10, "echo server on h1")
            reply = h2.cmd("exec 3<>/dev/tcp/10.9.0.1/7007; echo maillab >&3; "
                           "timeout 2 head -n1 <&3")
            assert "maillab" in reply

            net.configLinkStatus("h1", "s1", "down")
            assert not tcp_open_from(h2, "10.9.0.1", 7007, timeout=1)

            net.configLinkStatus("h1", "s1", "up")
            wait_until(lambda: tcp_open_from(h2, "10.9.0.1", 7007), 10, "echo after restore")
        finally:
            server.kill()
            server.wait()
