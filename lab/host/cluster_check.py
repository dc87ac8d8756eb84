"""``maillab cluster check``: what each server of a spread lab still lacks.

A server holds part of a lab if the lab can log in to it with its key, as
root (or as a user with password-less sudo), and it has the Debian packages
``lab/provision.sh --cluster-node`` installs, the same checkout at the same
path and that checkout's virtualenv. One short shell script, sent over one
SSH login, answers every question (``probe_script``); what it prints is
parsed and judged here without running anything (``parse_probe``,
``missing``), so that part is unit-tested. Then one SSH Ethernet tunnel is
opened to it and closed again (``Access.tunnel_error``): the lab's links
between servers are such tunnels, and Debian's sshd refuses them
(``PermitTunnel no``) until told otherwise.
"""
import shlex
from dataclasses import dataclass, field

from lab import ROOT
from lab.host.ssh import LoginFailed

# what lab/provision.sh --cluster-node installs and a lab's remote part uses
NODE_PACKAGES = ("mininet", "openvswitch-switch", "iproute2", "ethtool", "iptables",
                 "tcpdump", "python3-venv", "sudo")
PROBE_TIMEOUT = 60


def probe_script(packages=NODE_PACKAGES, checkout=ROOT):
    """The shell script run on a server: one ``key value`` line per question."""
    venv_python = shlex.quote(checkout + "/.venv/bin/python")
    lines = ["for p in %s; do" % " ".join(shlex.quote(p) for p in packages),
             "  if dpkg-query -W -f='${Status}' \"$p\" 2>/dev/null"
             " | grep -q 'install ok installed'; then echo \"package $p yes\";"
             " else echo \"package $p no\"; fi",
             "done",
             "if [ -d %s/lab ]; then echo 'checkout yes'; else echo 'checkout no'; fi"
             % shlex.quote(checkout),
             "if %s -c 'import twisted, mininet' >/dev/null 2>&1; then echo 'venv yes';"
             " else echo 'venv no'; fi" % venv_python,
             "if [ \"$(id -u)\" = 0 ] || sudo -n true >/dev/null 2>&1; then echo 'root yes';"
             " else echo 'root no'; fi",
             "if [ -c /dev/net/tun ]; then echo 'tun yes'; else echo 'tun no'; fi"]
    return "\n".join(lines) + "\n"


def parse_probe(output):
    """{"packages": {name: bool}, "checkout": bool, ...} from the script's output;
    a question that got no answer is missing from the dict."""
    found = {"packages": {}}
    for line in output.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "package" and words[2] in ("yes", "no"):
            found["packages"][words[1]] = words[2] == "yes"
        elif len(words) == 2 and words[1] in ("yes", "no"):
            found[words[0]] = words[1] == "yes"
    return found


def missing(found, packages=NODE_PACKAGES, checkout=ROOT):
    """What a server lacks, as sentences, from ``parse_probe``'s answer."""
    out = []
    absent = [p for p in packages if not found["packages"].get(p, False)]
    if absent:
        out.append("Debian package%s %s (lab/provision.sh --cluster-node installs %s)"
                   % ("s" if len(absent) > 1 else "", ", ".join(absent),
                      "them" if len(absent) > 1 else "it"))
    if not found.get("checkout", False):
        out.append("the checkout %s (the same path as on this machine)" % checkout)
    elif not found.get("venv", False):
        out.append("the virtualenv %s/.venv (lab/provision.sh --cluster-node makes it)"
                   % checkout)
    if not found.get("root", False):
        out.append("root: the login is not root and has no password-less sudo")
    if not found.get("tun", False):
        out.append("/dev/net/tun (the tunnels between servers need it)")
    return out


# what a server whose sshd refuses tunnels lacks
TUNNEL_HINT = ("(the links between servers are SSH Ethernet tunnels: sshd there needs "
               "PermitTunnel yes, e.g. in /etc/ssh/sshd_config.d/, then systemctl reload ssh)")


@dataclass
class ServerReport:
    server: object
    login_error: str = None
    lacks: list = field(default_factory=list)

    @property
    def ready(self):
        return self.login_error is None and not self.lacks

    def lines(self):
        if self.login_error is not None:
            return ["%s: cannot log in: %s" % (self.server, self.login_error)]
        if not self.lacks:
            return ["%s: ready" % self.server]
        return ["%s: missing %s" % (self.server, what) for what in self.lacks]


def check(server, access, packages=NODE_PACKAGES, checkout=ROOT):
    """Log in to ``server`` once and say what it lacks (a ServerReport)."""
    try:
        _, output = access.run(server, ["sh", "-c", probe_script(packages, checkout)],
                               timeout=PROBE_TIMEOUT)
    except LoginFailed as e:
        return ServerReport(server, login_error=e.reason)
    lacks = missing(parse_probe(output), packages, checkout)
    refused = access.tunnel_error(server)
    if refused is not None:
        lacks.append("an SSH Ethernet tunnel: %s %s" % (refused, TUNNEL_HINT))
    return ServerReport(server, lacks=lacks)


__all__ = ["NODE_PACKAGES", "ServerReport", "TUNNEL_HINT", "check", "missing", "parse_probe",
           "probe_script"]
