"""A private Postfix instance: its own configuration, queue and log directory,
never the machine's (/etc/postfix and /var/spool/postfix are read-only to it:
only the system master.cf is read, as the template of its services).

``PrivatePostfix`` is the instance itself (``postfix -c ETC``); ``PostfixRelay``
is the loopback relay ``maillab bench relay`` compares with ours;
``PostfixService`` runs an instance in a lab host for an ``MtaRole``
(lab.testbed.mta_role): the host's network namespace, a mount namespace of its
own whose /etc/resolv.conf names the lab's DNS server, ``maillog_file`` for its
log (no syslog), started and stopped with the lab like any service.
"""
import os
import shutil
import signal
import socket
import subprocess

from lab.host import cleanup_records as state
from lab.host.waiting import wait_until
from lab.evidence.postfix_log import STAMPED_SUFFIX
from lab.testbed.mta_log import StampedLog
from lab.testbed.mta_role import MX, RELAY, SENDER, SHORTEST_BACKOFF
from lab.testbed.services import ServiceFailed
from topologies.nodes import plain_logger

log = plain_logger(__name__)

SYSTEM_MASTER_CF = "/etc/postfix/master.cf"
TOOLS = ("postfix", "postconf", "postcat", "sendmail")


def missing_tools():
    """The Postfix commands this machine lacks (lab/provision.sh installs them)."""
    return [t for t in TOOLS if shutil.which(t) is None and not os.path.exists("/usr/sbin/" + t)]


def master_cf(system_master, listen):
    """The system master.cf with smtpd on ``listen`` and no chroot (the private
    queue directory has no chroot jail set up)."""
    out = []
    for line in system_master.splitlines():
        fields = line.split()
        if line and not line[0].isspace() and not line.startswith("#") and len(fields) >= 8:
            if fields[0] == "smtp" and fields[1] == "inet":
                fields[0] = listen
            fields[4] = "n"
            line = " ".join(fields[:8]) + ("" if len(fields) == 8 else " " + " ".join(fields[8:]))
        out.append(line)
    return "\n".join(out) + "\n"


def common_lines(base, myhostname, syslog_name):
    """main.cf settings every private instance has: its own directories and log."""
    return [
        "compatibility_level = 3.6",
        "queue_directory = %s/queue" % base,
        "data_directory = %s/data" % base,
        "mail_owner = postfix",
        "setgid_group = postdrop",
        "myhostname = %s" % myhostname,
        "inet_protocols = ipv4",
        "maillog_file = %s/maillog" % base,
        "maillog_file_prefixes = %s" % base,
        "syslog_name = %s" % syslog_name,
        "smtputf8_enable = no",
        "biff = no",
        "alias_maps =",
        "alias_database =",
        "smtp_tls_security_level = none",
        "smtpd_tls_security_level = none",
    ]


def seconds(value):
    return "%ds" % int(value)


def role_lines(base, role):
    """main.cf settings for an ``MtaRole``: whole seconds (Timing.whole_seconds),
    the backoff no shorter than Postfix keeps (mta_role.SHORTEST_BACKOFF)."""
    t = role.timing.whole_seconds(SHORTEST_BACKOFF["postfix"])
    domains = ", ".join(role.domains)
    lines = [
        "inet_interfaces = %s" % role.ip,
        "mynetworks = 127.0.0.0/8",
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
        "smtpd_peername_lookup = no",      # the lab DNS serves no reverse zone
        "in_flow_delay = 0s",
        "minimal_backoff_time = %s" % seconds(t.min_backoff),
        "maximal_backoff_time = %s" % seconds(t.max_backoff),
        "queue_run_delay = %s" % seconds(t.queue_run_delay),
        "smtp_connect_timeout = %s" % seconds(t.connect_timeout),
    ] + ["%s = %s" % (p, seconds(t.command_timeout)) for p in (
        "smtp_helo_timeout", "smtp_mail_timeout", "smtp_rcpt_timeout", "smtp_data_init_timeout",
        "smtp_data_xfer_timeout", "smtp_data_done_timeout", "smtp_quit_timeout")]
    if t.give_up:
        lines += ["maximal_queue_lifetime = %s" % seconds(t.give_up),
                  "bounce_queue_lifetime = %s" % seconds(t.give_up)]
    if role.role == RELAY:
        # a backup MX: accepts mail for its domains and sends it on to the MX hosts
        # preferred over itself (Postfix leaves itself and those after it out)
        lines += ["mydestination =", "relay_domains = %s" % domains]
    elif role.role == MX:
        uid, gid = _postfix_ids()
        lines += ["mydestination =", "virtual_mailbox_domains = %s" % domains,
                  "virtual_mailbox_base = %s" % role.maildir,
                  # every recipient gets a Maildir named after its address (a
                  # fixed table: virtual(8) takes no regular-expression substitution)
                  "virtual_mailbox_maps = texthash:%s/etc/mailboxes" % base,
                  "virtual_uid_maps = static:%d" % uid, "virtual_gid_maps = static:%d" % gid,
                  "virtual_minimum_uid = %d" % min(uid, 100)]
    elif role.role == SENDER:
        lines += ["mydestination ="]
    return lines


def _postfix_ids():
    import pwd
    p = pwd.getpwnam("postfix")
    return p.pw_uid, p.pw_gid


class PrivatePostfix:
    """A Postfix instance whose every file is under ``base``: etc/ (main.cf,
    master.cf), queue/, data/ and the maillog."""

    def __init__(self, base, main_lines, listen):
        self.base = base
        os.makedirs(base, exist_ok=True)
        os.chmod(base, 0o755)       # the postfix user must reach data/ and queue/
        self.etc = os.path.join(base, "etc")
        os.makedirs(self.etc)
        for sub in ("queue", "data"):
            os.makedirs(os.path.join(base, sub))
        shutil.chown(os.path.join(base, "data"), "postfix")
        with open(SYSTEM_MASTER_CF) as f:
            system_master = f.read()
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(master_cf(system_master, listen))
        self.write_main_cf(main_lines)

    def write_main_cf(self, lines):
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("\n".join(list(lines) + [""]))

    @property
    def queue_directory(self):
        return os.path.join(self.base, "queue")

    @property
    def maillog(self):
        return os.path.join(self.base, "maillog")

    @property
    def pid_file(self):
        return os.path.join(self.queue_directory, "pid", "master.pid")

    def postfix(self, *words):
        return subprocess.run(["postfix", "-c", self.etc] + list(words),
                              capture_output=True, text=True, timeout=60)

    def start(self):
        r = self.postfix("start")
        if r.returncode != 0:
            raise RuntimeError("postfix start failed: %s%s%s" % (r.stdout, r.stderr,
                                                                 self.maillog_tail()))

    def maillog_tail(self, chars=1500):
        """The end of the log: the maillog, or what was read from it when it is a
        FIFO (lab.testbed.mta_log)."""
        path = self.maillog
        if os.path.exists(path + STAMPED_SUFFIX):
            path += STAMPED_SUFFIX
        elif not os.path.isfile(path):
            return ""
        try:
            with open(path, errors="replace") as f:
                return f.read()[-chars:]
        except OSError:
            return ""

    def master_pid(self):
        with open(self.pid_file) as f:
            return int(f.read().strip())

    def alive(self):
        try:
            os.kill(self.master_pid(), 0)
            return True
        except (OSError, ValueError):
            return False

    def stop(self, timeout=15):
        """What ``postfix stop`` does: SIGTERM to the master, which stops its
        children (signalled directly: ``postfix stop`` asks ``master -t``, which
        does not see a master started in another mount namespace)."""
        try:
            os.kill(self.master_pid(), signal.SIGTERM)
        except (OSError, ValueError):
            return
        wait_until(lambda: not self.alive(), timeout, "postfix master exit")

    def kill(self):
        """The master and its children at once (they share its process group)."""
        try:
            os.killpg(self.master_pid(), signal.SIGKILL)
        except (OSError, ValueError):
            return
        wait_until(lambda: not self.alive(), 5, "postfix master killed")


class PostfixRelay(PrivatePostfix):
    """A loopback relay for ``maillab bench relay``: everything for ``domain`` to
    ``[127.0.0.1]:sink_port``, smtpd on 127.0.0.1:``port``."""

    def __init__(self, base, port, sink_port, domain="lab", extra=()):
        self.port = port
        super().__init__(base, list(extra) + common_lines(
            base, "postfix-bench.maillab", "postfix-maillab-bench") + [
            "mydestination =",
            "inet_interfaces = 127.0.0.1",
            "mynetworks = 127.0.0.0/8",
            "relay_domains = %s" % domain,
            "relayhost = [127.0.0.1]:%d" % sink_port,
            "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination"],
            "127.0.0.1:%d" % port)

    def start(self):
        super().start()
        wait_until(lambda: port_open("127.0.0.1", self.port), 15,
                   "postfix smtpd on %d" % self.port)


def port_open(ip, port):
    try:
        with socket.create_connection((ip, port), timeout=0.5):
            return True
    except OSError:
        return False


class PostfixService:
    """A private Postfix in a lab host, for one ``MtaRole``: shaped like
    lab.testbed.services.Service (start, listening, check_alive, stop, kill),
    so the lab waits for it and stops it like its own servers.

    ``extra``: more main.cf lines, after the role's (the last setting of a
    parameter wins): tests inject a broken configuration this way."""

    def __init__(self, kind, host, role, workdir, port=25, extra=()):
        self.kind = kind
        self.host = host
        self.role = role
        self.workdir = workdir
        self.ready_ip, self.ready_port = role.ip, port
        base = os.path.join(workdir, "postfix")
        lines = common_lines(base, role.hostname, "postfix-%s" % host.name) \
            + role_lines(base, role) + list(extra)
        self.instance = PrivatePostfix(base, lines, "%s:%d" % (role.ip, port))
        if role.role == MX:
            with open(os.path.join(self.instance.etc, "mailboxes"), "w") as f:
                f.write("".join("%s %s/\n" % (r, r) for r in role.recipients))
            os.makedirs(role.maildir, exist_ok=True)
            shutil.chown(role.maildir, "postfix", "postfix")
        self.resolv_conf = os.path.join(base, "resolv.conf")
        with open(self.resolv_conf, "w") as f:
            f.write("nameserver %s\noptions timeout:1 attempts:2\n" % role.dns_ip)
        self.stderr_path = os.path.join(workdir, "postfix.stderr")
        self.proc = None
        self.log = None

    @property
    def name(self):
        return "%s/%s" % (self.host.name, self.kind)

    @property
    def queue_directory(self):
        return self.instance.queue_directory

    def start(self):
        """``postfix start`` in the host's network namespace and a mount namespace
        of its own, where /etc/resolv.conf is this instance's: the master daemon
        it leaves behind keeps both."""
        script = 'mount --bind "$1" /etc/resolv.conf && exec postfix -c "$2" start'
        if self.log is None:        # the maillog is a FIFO read as it is written
            self.log = StampedLog(self.instance.maillog).start()
        with open(self.stderr_path, "ab") as err:
            self.proc = self.host.popen(["unshare", "--mount", "--propagation", "private",
                                         "sh", "-c", script, "sh", self.resolv_conf,
                                         self.instance.etc],
                                        stdin=subprocess.DEVNULL, stdout=err,
                                        stderr=subprocess.STDOUT)
        code = self.proc.wait(timeout=60)
        if code != 0:
            raise RuntimeError("%s: postfix start exited %s:\n%s%s" % (
                self.name, code, self.stderr(), self.instance.maillog_tail()))
        wait_until(self.alive, 15, "%s master" % self.name)
        if self._remote():
            # its PID is its server's: never recorded for a kill here
            log.info("started %s on %s (postfix master pid %s there, %s)", self.name,
                     self.host.place, self._master_pid_there(), self.instance.etc)
            return self
        state.record("pids", self.instance.master_pid())
        log.info("started %s (postfix master pid %d, %s)", self.name,
                 self.instance.master_pid(), self.instance.etc)
        return self

    # --- a host on another server (a lab over several): its master's PID and
    # signals are that server's, asked and sent there through the host
    def _remote(self):
        return getattr(self.host, "isRemote", False)

    def _on_host(self, argv, timeout=30):
        """``argv`` on the host's server (its root namespace): (status, output)."""
        p = self.host.popen([str(w) for w in argv], mncmd=[], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = p.communicate(timeout=timeout)[0]
        return p.returncode, out.decode(errors="replace")

    def _master_pid_there(self):
        status, out = self._on_host(["cat", self.instance.pid_file])
        try:
            return int(out.strip()) if status == 0 else None
        except ValueError:
            return None

    def _signal_there(self, *kill_args):
        pid = self._master_pid_there()
        return pid is not None and self._on_host(
            ["kill"] + list(kill_args) + [str(pid)])[0] == 0

    def stderr(self, tail=40):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                out = "".join(f.readlines()[-tail:])
        except FileNotFoundError:
            out = ""
        return out + self.instance.maillog_tail()

    def alive(self):
        if self._remote():
            return self._signal_there("-0")
        return self.instance.alive()

    def listening(self):
        return self.alive()

    def check_alive(self):
        if self.proc is not None and not self.alive():
            raise ServiceFailed("%s: the postfix master is not running:\n%s"
                                % (self.name, self.stderr()))

    def stop(self, timeout=15):
        if self.alive():
            try:
                if self._remote():
                    self._signal_there("-TERM")
                    wait_until(lambda: not self.alive(), timeout, "postfix master exit")
                else:
                    self.instance.stop(timeout)
            except Exception as e:
                log.warning("%s did not stop (%s); killing it", self.name, e)
                self.kill()
                return
        self._close_log()

    def kill(self):
        if self._remote():
            pid = self._master_pid_there()     # the master and its children, its group
            if pid is not None:
                self._on_host(["kill", "-KILL", "--", "-%d" % pid])
        else:
            self.instance.kill()
        self._close_log()

    def _close_log(self):
        if self.log is not None:
            self.log.stop()
            self.log = None
