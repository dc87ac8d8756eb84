"""A private sshd on another loopback address: the "second server" of the
cluster tests.

Its own configuration, host key, pid file and authorized keys, all under one
directory; a client key made for the run by the lab's own generator
(lab.host.ssh.generate_key); tunnels allowed (``PermitTunnel yes``), root by
key only, no password or keyboard prompt of any kind. The machine's own sshd
(if any) is never touched. By default it runs in its own PID namespace
(``unshare --pid --fork --mount-proc``): every process started through it,
the lab's remote shells and servers among them, has PIDs that mean nothing
on this side, as on a real second server (a PID read there and used here,
``nsenter -t PID``, reaches the wrong process or none)::

    with PrivateSSHD(tmp_path) as sshd:
        sshd.access.run(sshd.server, ["true"])
"""
import os
import shlex
import signal
import socket
import subprocess

from lab.host.ssh import Access, Server, generate_key
from lab.host.waiting import wait_until

SSHD = "/usr/sbin/sshd"
ADDRESS = "127.0.0.2"
START_TIMEOUT = 10.0

CONFIG = """\
ListenAddress {address}:{port}
HostKey {dir}/host_ed25519
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
ChallengeResponseAuthentication no
UsePAM no
StrictModes no
UseDNS no
PermitTunnel yes
AllowTcpForwarding remote
X11Forwarding no
MaxSessions 100
MaxStartups 100:30:200
Subsystem sftp internal-sftp
"""


def free_port(address=ADDRESS):
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(w) for w in f.read().split()]
    except OSError:
        return []


def _accepts(address, port):
    try:
        with socket.create_connection((address, port), timeout=0.5) as s:
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


class PrivateSSHD:
    """Started on enter, stopped (and waited for) on exit."""

    def __init__(self, directory, address=ADDRESS, port=None, extra_config="",
                 own_pids=True, private_dirs=()):
        self.extra_config = extra_config    # more sshd_config lines (a test's own server)
        self.own_pids = own_pids            # in a PID namespace (and /proc) of its own
        # directories this "server" sees empty, on a disk of its own (a tmpfs mounted
        # in its mount namespace): what it writes there, this machine does not see
        self.private_dirs = [os.path.abspath(str(d)) for d in private_dirs]
        self.dir = os.path.abspath(str(directory))
        self.address = address
        self.port = port or free_port(address)
        self.proc = None
        self.client_key = os.path.join(self.dir, "client_ed25519")
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        self.authorized_keys = os.path.join(self.dir, "authorized_keys")
        self.log_path = os.path.join(self.dir, "sshd.log")

    @property
    def server(self):
        return Server(self.address, "root", self.port)

    @property
    def access(self):
        return Access(key=self.client_key, known_hosts=self.known_hosts)

    def __enter__(self):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        os.path.join(self.dir, "host_ed25519")], check=True)
        with open(os.path.join(self.dir, "host_ed25519.pub")) as f:
            host_key = " ".join(f.read().split()[:2])
        with open(self.known_hosts, "w") as f:
            f.write("[%s]:%d %s\n" % (self.address, self.port, host_key))
        with open(self.authorized_keys, "w") as f:
            f.write(generate_key(self.client_key) + "\n")
        config = os.path.join(self.dir, "sshd_config")
        with open(config, "w") as f:
            f.write(CONFIG.format(address=self.address, port=self.port, dir=self.dir)
                    + self.extra_config)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)    # its privilege separation dir
        subprocess.run([SSHD, "-t", "-f", config], check=True)
        with open(self.log_path, "ab") as log:
            # --kill-child: when unshare goes, sshd (the namespace's init) goes with
            # it, and every process it started with them
            wrap = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"] \
                if self.own_pids or self.private_dirs else []
            sshd = [SSHD, "-D", "-e", "-f", config]
            if self.private_dirs:
                sshd = ["sh", "-c", " && ".join(
                    ["mount -t tmpfs maillab-test-disk %s" % shlex.quote(d)
                     for d in self.private_dirs] + ["exec " + " ".join(map(shlex.quote, sshd))])]
            self.proc = subprocess.Popen(wrap + sshd,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            wait_until(lambda: self.proc.poll() is not None or _accepts(self.address, self.port),
                       START_TIMEOUT, "private sshd on %s:%d" % (self.address, self.port))
            if self.proc.poll() is not None:
                raise RuntimeError("sshd exited %s: %s" % (self.proc.returncode, self.log()))
        except BaseException:
            self.__exit__()
            raise
        return self

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            # sshd first, so that unshare reaps it (unshare ended first would leave
            # it a zombie of whatever adopts it)
            for child in _children(self.proc.pid):
                try:
                    os.kill(child, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return False
