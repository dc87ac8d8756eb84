"""Open vSwitch under the lab's switches: the datapath, the daemons, and checksums.

The kernel datapath where the ``openvswitch`` module loads, the userspace
(``netdev``) datapath elsewhere.

The userspace datapath needs one thing from the hosts: TCP and UDP checksums
computed in software. A veth leaves a packet's checksum to "hardware"
(checksum offload) and passes the promise along with the packet; the kernel
datapath keeps it, but OVS in userspace reads the packet from a packet socket
and sends it on as it is, so every TCP segment and UDP datagram reaches the
other host with a wrong checksum and is dropped (ICMP, summed in software,
gets through: ``pingall`` passes while no service answers). ``tcpdump -vv``
on the receiving host shows ``cksum 0x... (incorrect -> 0x...)``;
``ethtool -K IF tx off`` on the hosts' interfaces cures it.

If the OVS daemons are not running the lab starts them (``ovs-ctl`` for the
database server, ``ovs-vswitchd`` directly, since ``ovs-ctl`` would try to
load the missing module) and stops them again when the lab ends; ``maillab
clean`` stops them after a crash. Daemons that were already running are left
alone.
"""
import functools
import os
import shutil
import subprocess

from lab.host import cleanup_records as state

OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"
OVS_RUNDIR = os.environ.get("OVS_RUNDIR", "/var/run/openvswitch")
DAEMONS = ("ovsdb-server", "ovs-vswitchd")
HOW_TO_START = ("start them with `%s start --system-id=random` (or `service "
                "openvswitch-switch start`), or use --switch lxbr" % OVS_CTL)


TUN_DEVICE = "/dev/net/tun"


class OVSUnavailable(RuntimeError):
    pass


@functools.lru_cache(maxsize=1)
def kernel_datapath():
    """True if the openvswitch kernel module is loaded (or loads now)."""
    if os.path.isdir("/sys/module/openvswitch"):
        return True
    if shutil.which("modprobe") is None:
        return False
    subprocess.run(["modprobe", "-q", "openvswitch"], capture_output=True)
    return os.path.isdir("/sys/module/openvswitch")


def datapath():
    """Mininet's name for the datapath the lab uses here: ``kernel`` or ``user``."""
    return "kernel" if kernel_datapath() else "user"


def describe():
    return "Open vSwitch, %s datapath" % ("kernel" if kernel_datapath() else "userspace")


def _run(argv, timeout=20):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def daemon_running(name):
    if shutil.which("ovs-appctl") is None:
        return False
    return _run(["ovs-appctl", "-T", "2", "-t", name, "version"]).returncode == 0


def _start_command(name):
    if name == "ovsdb-server":
        # ovs-ctl creates (or upgrades) the database before starting the server
        return [OVS_CTL, "--no-ovs-vswitchd", "--system-id=random", "start"]
    return ["ovs-vswitchd", "unix:%s/db.sock" % OVS_RUNDIR, "-vconsole:emer", "-vsyslog:err",
            "-vfile:info", "--no-chdir", "--log-file", "--pidfile", "--detach", "--monitor"]


def ensure_daemons():
    """Start whichever OVS daemon is not running; the names of those started here
    (recorded, so that ``maillab clean`` stops them if the lab cannot)."""
    if shutil.which("ovs-vsctl") is None:
        raise OVSUnavailable("Open vSwitch is not installed: run lab/provision.sh "
                             "(it installs openvswitch-switch), or use --switch lxbr")
    if not kernel_datapath() and not os.path.exists(TUN_DEVICE):
        # ovs-vswitchd starts without it, but then fails to create every bridge
        raise OVSUnavailable("the userspace datapath needs %s, which this machine lacks: "
                             "`modprobe tun`, or use --switch lxbr" % TUN_DEVICE)
    started = []
    for name in DAEMONS:
        if daemon_running(name):
            continue
        argv = _start_command(name)
        if not os.access(argv[0], os.X_OK) and shutil.which(argv[0]) is None:
            raise OVSUnavailable("the Open vSwitch daemons are not running and %s is missing: "
                                 "%s" % (argv[0], HOW_TO_START))
        state.record("ovs", name)
        r = _run(argv)
        if r.returncode != 0 or not daemon_running(name):
            raise OVSUnavailable("could not start %s (%s): %s; %s" % (
                name, " ".join(argv), (r.stdout + r.stderr).strip() or "no output",
                HOW_TO_START))
        started.append(name)
    return started


def bridges():
    """The bridges in the OVS database ([] when its server is not running)."""
    if not daemon_running("ovsdb-server"):
        return []
    r = _run(["ovs-vsctl", "-t", "5", "list-br"])
    return r.stdout.split() if r.returncode == 0 else []


def delete_bridges(names):
    """Delete those of ``names`` that OVS has; how many there were."""
    present = [n for n in names if n in set(bridges())]
    if present:
        argv = ["ovs-vsctl", "-t", "10"]
        for n in present:
            argv += ["--", "--if-exists", "del-br", n]
        _run(argv)
    return len(present)


def stop_daemons(names):
    """Stop the daemons the lab started (``names``), the switch before the database;
    a daemon that now serves bridges of someone else is left running."""
    stopped = []
    if not names or bridges():
        return stopped
    for name in reversed(DAEMONS):
        if name in names and daemon_running(name):
            flag = "--no-ovsdb-server" if name == "ovs-vswitchd" else "--no-ovs-vswitchd"
            if os.access(OVS_CTL, os.X_OK):
                _run([OVS_CTL, flag, "stop"])
            else:
                _run(["ovs-appctl", "-T", "5", "-t", name, "exit"])
            stopped.append(name)
    return stopped


def software_checksums(node):
    """Make ``node`` compute its own TCP/UDP checksums (see the module's doc)."""
    for intf in node.intfNames():
        if intf == "lo":
            continue
        p = node.popen(["ethtool", "-K", intf, "tx", "off"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
        out, _ = p.communicate(timeout=10)
        if p.returncode != 0:
            raise OVSUnavailable("ethtool -K %s tx off failed in %s: %s"
                                 % (intf, node.name, out.strip()))
