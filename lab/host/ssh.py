"""How the lab logs in to the servers of a lab spread over several machines.

A server is named ``[user@]host[:port]`` (``Server.parse``); how to reach it
is an ``Access``: the key (the lab's own, made on first use, or one the
user names), the known-hosts file, and options that make ``ssh`` fail
instead of asking anything (``BatchMode``: no password or passphrase
prompt, ever). Building an argv runs nothing, so every command line is
unit-tested; ``Access.run`` is the one place that runs them.

    access = Access(key=lab_key())
    access.run(Server.parse("root@lab2"), ["true"])
"""
import os
import selectors
import shlex
import subprocess
import time
from dataclasses import dataclass, field

# the lab's own key: made once, its public half printed by `maillab cluster key`
# for the servers' authorized_keys
LAB_KEY = os.path.join(os.path.expanduser("~"), ".config", "maillab", "cluster_ed25519")
CONNECT_TIMEOUT = 10    # seconds for a login to a server that does not answer
LOCAL = "localhost"     # Mininet's name for this machine: no SSH


class LoginFailed(RuntimeError):
    """ssh could not log in (or the remote command could not start); ``reason``
    is ssh's own message."""

    def __init__(self, server, reason):
        super().__init__("ssh %s: %s" % (server, reason))
        self.server, self.reason = server, reason


@dataclass(frozen=True)
class Server:
    """One machine of a lab: ``host`` (a name or an address), ``user``, ``port``."""
    host: str
    user: str = "root"
    port: int = 22

    @classmethod
    def parse(cls, text):
        """``[user@]host[:port]``; ``localhost`` is this machine (no SSH)."""
        text = text.strip()
        if not text:
            raise ValueError("empty server name")
        user, _, rest = text.rpartition("@")
        host, port = rest, 22
        if rest.count(":") == 1:        # host:port (an IPv6 address is left alone)
            host, _, p = rest.partition(":")
            if not p.isdigit() or not 0 < int(p) < 65536:
                raise ValueError("bad port in %r" % text)
            port = int(p)
        if not host:
            raise ValueError("no host in %r" % text)
        return cls(host, user or "root", port)

    @property
    def is_local(self):
        return self.host == LOCAL

    @property
    def destination(self):
        return "%s@%s" % (self.user, self.host)

    def __str__(self):
        return self.host if self.is_local else "%s%s%s" % (
            "" if self.user == "root" else self.user + "@", self.host,
            "" if self.port == 22 else ":%d" % self.port)


def parse_servers(text):
    """``HOST[,HOST...]`` (the ``--cluster`` option) as [Server], no repeats."""
    servers = [Server.parse(word) for word in text.split(",") if word.strip()]
    if not servers:
        raise ValueError("no servers in %r" % text)
    if len(set(servers)) != len(servers):
        raise ValueError("a server is listed twice in %r" % text)
    return servers


@dataclass(frozen=True)
class Access:
    """The SSH client side: ``key`` (private key file), ``known_hosts`` (None: the
    user's, new hosts accepted and remembered), ``extra`` (more ``-o`` options)."""
    key: str = LAB_KEY
    known_hosts: str = None
    extra: tuple = field(default_factory=tuple)

    def options(self, server):
        """ssh's options for ``server``, without the destination."""
        opts = ["-i", self.key, "-p", str(server.port),
                "-o", "IdentitiesOnly=yes",         # this key only, not an agent's dozen
                "-o", "BatchMode=yes",              # never a password or passphrase prompt
                "-o", "ConnectTimeout=%d" % CONNECT_TIMEOUT,
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                "-o", "LogLevel=ERROR"]
        if self.known_hosts:
            opts += ["-o", "UserKnownHostsFile=%s" % self.known_hosts,
                     "-o", "StrictHostKeyChecking=yes"]
        else:
            opts += ["-o", "StrictHostKeyChecking=accept-new"]
        for option in self.extra:
            opts += ["-o", option]
        return opts

    def ssh_argv(self, server, remote_argv=(), tty=False):
        """``ssh ... user@host 'remote argv'``: each word quoted for the remote
        shell, which ssh hands one string."""
        argv = ["ssh"] + (["-tt"] if tty else []) + self.options(server) + [server.destination]
        if remote_argv:
            argv.append(" ".join(shlex.quote(str(word)) for word in remote_argv))
        return argv

    def run(self, server, remote_argv, timeout=60, input=None):
        """Run ``remote_argv`` on ``server``: (exit status, output). Status 255 is
        ssh's own failure (no login); LoginFailed says so with ssh's words."""
        p = subprocess.run(self.ssh_argv(server, remote_argv), input=input,
                           stdin=None if input is not None else subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        if p.returncode == 255:
            raise LoginFailed(server, p.stderr.strip() or "ssh exited 255, no message")
        return p.returncode, p.stdout + p.stderr

    def tunnel_argv(self, server):
        """An SSH Ethernet tunnel to ``server`` on free tap devices at both ends
        (``-w any:any``: they go when ssh ends), ``@`` printed once the session is
        up, and ssh ending at once if the server refuses the tunnel."""
        return ["ssh", "-n"] + self.options(server) + [
            "-o", "Tunnel=ethernet", "-o", "ExitOnForwardFailure=yes", "-w", "any:any",
            server.destination, "echo @"]

    def tunnel_error(self, server, timeout=3 * CONNECT_TIMEOUT, grace=2.0):
        """None if an SSH Ethernet tunnel to ``server`` opens (it is closed again),
        else ssh's words: a server's sshd refuses tunnels unless its PermitTunnel
        says yes or ethernet (Debian's default is no), and this end needs root."""
        p = subprocess.Popen(self.tunnel_argv(server), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, up_since = b"", None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(p.stdout, selectors.EVENT_READ)
            try:
                while True:
                    now = time.monotonic()
                    if up_since is not None and now - up_since >= grace:
                        return None         # up, and nothing refused it meanwhile
                    if now >= deadline:
                        return "no tunnel after %d s: %s" % (
                            timeout, out.decode(errors="replace").strip() or "no output")
                    if sel.select(0.2):
                        chunk = os.read(p.stdout.fileno(), 4096)
                        if not chunk:       # ssh ended: refused, or no login at all
                            p.wait()
                            words = out.decode(errors="replace").replace("@", " ").strip()
                            return words or "ssh exited %s, no message" % p.returncode
                        out += chunk
                        if up_since is None and b"@" in out:
                            up_since = time.monotonic()
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stdout.close()


def generate_key(path):
    """An ed25519 key pair at ``path`` and ``path``.pub, no passphrase (the lab
    logs in unattended); returns the public line."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "maillab cluster",
                    "-f", path], check=True, stdin=subprocess.DEVNULL)
    with open(path + ".pub", encoding="ascii") as f:
        return f.read().strip()


def lab_key(path=LAB_KEY):
    """The lab's key, made on first use; its path."""
    if not os.path.exists(path):
        generate_key(path)
    return path


__all__ = ["Access", "LAB_KEY", "LoginFailed", "Server", "generate_key", "lab_key",
           "parse_servers"]
