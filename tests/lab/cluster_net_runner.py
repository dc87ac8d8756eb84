"""A lab network over this machine and a private sshd's "server", held up until
a signal: ``python -m tests.lab.cluster_net_runner PORT SSHD_DIR``. Prints
``up`` once the network is up. The caller holds the lab lock."""
import sys
import threading

from lab.host import cluster_net
from lab.host.interrupt import run_command
from lab.host.ssh import Access, Server
from lab.testbed.mail_lab import make_topology


def hold(port, sshd_dir):
    access = Access(key=sshd_dir + "/client_ed25519", known_hosts=sshd_dir + "/known_hosts")
    servers = [Server("localhost"), Server("127.0.0.2", "root", int(port))]
    topo = make_topology("one_dc")
    table = cluster_net.node_servers(topo.plan, servers)
    with cluster_net.running_cluster_net(topo, servers, access, table):
        print("up", flush=True)
        threading.Event().wait()    # wait: until the test's signal


if __name__ == "__main__":
    sys.exit(run_command("cluster net", hold, *sys.argv[1:3]))
