"""Figures of a lab over two "servers" (this machine and a private sshd on
127.0.0.2) beside the same lab on one: one_dc's start-up, 20 messages, the
evidence's fetch, teardown; then ping and a 64 MB HTTP transfer client1 -> mx1,
across the r0-r1 link (a veth pair, or the SSH tunnel). Prints figures, asserts
nothing: ``sudo .venv/bin/python -m tests.lab.cluster_figures`` (docs/lab.md)."""
import os
import subprocess
import sys
import tempfile
import time

from lab.host import cluster_net
from lab.host.clean import clean_unlocked
from lab.host.cluster_net import Cluster
from lab.host.lock import lab_lock
from lab.host.ssh import Server
from lab.host.waiting import tcp_open_from, wait_until
from lab.testbed.mail_lab import Lab, make_topology
from tests.cluster_sshd import PrivateSSHD

HERE = Server("localhost")


def lab_figures(sshd, rounds=2):
    for _ in range(rounds):
        for label, cluster in (("one server", None),
                               ("two servers", Cluster([HERE, sshd.server], sshd.access))):
            t0 = time.monotonic()
            with Lab("one_dc", cluster=cluster) as lab:
                up = lab.timings["up"]
                t1 = time.monotonic()
                rows = lab.send(20)
                sent = time.monotonic() - t1
                g0 = time.monotonic()
                fetched = lab.gather_evidence()
                gather = time.monotonic() - g0
                t_down = time.monotonic()
            print("%-11s up %.2f s; 20 messages in %.2f s (%d accepted); evidence fetched in "
                  "%.2f s (%s bytes); down %.2f s" % (
                      label, up, sent, len(rows), gather, sum(fetched.values()),
                      time.monotonic() - t_down), flush=True)


def link_figures(sshd, directory):
    big = os.path.join(directory, "big")
    with open(big, "wb") as f:
        f.write(os.urandom(64 << 20))
    with lab_lock(timeout=900):
        clean_unlocked()
        for servers in ([HERE], [HERE, sshd.server]):
            topo = make_topology("one_dc")
            table = cluster_net.node_servers(topo.plan, servers)
            with cluster_net.running_cluster_net(topo, servers, sshd.access, table) as net:
                mx1, client = net.get("mx1"), net.get("client1")
                web = mx1.popen([sys.executable, "-m", "http.server", "8080", "--bind",
                                 mx1.IP()], cwd=directory, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
                try:
                    wait_until(lambda: tcp_open_from(client, mx1.IP(), 8080), 20, "web server")
                    label = "%d server%s" % (len(servers), "s" if len(servers) > 1 else "")
                    print("%-9s ping %s" % (label, client.cmd(
                        "ping -c 10 -i 0.2 -q %s | tail -1" % mx1.IP()).strip()), flush=True)
                    for _ in range(3):
                        size, secs, speed = client.cmd(
                            "curl -s -o /dev/null -w '%%{size_download} %%{time_total} "
                            "%%{speed_download}' http://%s:8080/big" % mx1.IP()).split()
                        print("%-9s %s bytes in %.2f s: %.0f Mbit/s" % (
                            label, size, float(secs), float(speed) * 8 / 1e6), flush=True)
                finally:
                    web.kill()
                    web.wait()


def main():
    from mininet.log import setLogLevel
    setLogLevel("error")
    with tempfile.TemporaryDirectory(prefix="cluster-figures-") as d:
        with PrivateSSHD(os.path.join(d, "sshd")) as sshd:
            lab_figures(sshd)
            link_figures(sshd, d)


if __name__ == "__main__":
    main()
