"""``maillab bench relay``: our relay and Postfix side by side, on loopback.

One run: a sink (a servers.mx instance) is started; Postfix's
``smtp-source`` pushes N messages through our relay (``--next-hop`` the
sink), then the same N through a private Postfix instance configured as a
relay (``relayhost = [127.0.0.1]:SINK``), into the same sink.  The rate is
end to end: messages the sink delivered over the time from the first
connection of smtp-source to the last delivery.  Both sides fsync: Postfix
by default, ours before every 250.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from lab import ROOT
from lab.host.lock import lab_lock
from lab.host.waiting import wait_until
from servers.common.endpoints import parse_host_port
from servers.common.events import LogTail

DOMAIN = "lab"


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def main_cf(base, sink_port, domain):
    return "\n".join([
        "compatibility_level = 3.6",
        "queue_directory = %s/queue" % base,
        "data_directory = %s/data" % base,
        "mail_owner = postfix",
        "setgid_group = postdrop",
        "myhostname = postfix-bench.maillab",
        "mydestination =",
        "inet_interfaces = 127.0.0.1",
        "inet_protocols = ipv4",
        "mynetworks = 127.0.0.0/8",
        "relay_domains = %s" % domain,
        "relayhost = [127.0.0.1]:%d" % sink_port,
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
        "maillog_file = %s/maillog" % base,
        "maillog_file_prefixes = %s" % base,
        "syslog_name = postfix-maillab-bench",
        "smtputf8_enable = no",
        "biff = no",
        "alias_maps =",
        "alias_database =",
        "smtp_tls_security_level = none",
        "smtpd_tls_security_level = none",
        "",
    ])


class PostfixRelay:
    """A private Postfix instance: config and queue under ``base``."""

    def __init__(self, base, port, sink_port, domain=DOMAIN):
        self.base = base
        self.port = port
        os.makedirs(base, exist_ok=True)
        os.chmod(base, 0o755)       # the postfix user must reach data/ and queue/
        self.etc = os.path.join(base, "etc")
        os.makedirs(self.etc)
        for sub in ("queue", "data"):
            os.makedirs(os.path.join(base, sub))
        shutil.chown(os.path.join(base, "data"), "postfix")
        with open("/etc/postfix/master.cf") as f:
            system_master = f.read()
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(master_cf(system_master, "127.0.0.1:%d" % port))
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(main_cf(base, sink_port, domain))

    def postfix(self, *words):
        return subprocess.run(["postfix", "-c", self.etc] + list(words),
                              capture_output=True, text=True, timeout=60)

    def start(self):
        r = self.postfix("start")
        if r.returncode != 0:
            raise RuntimeError("postfix start failed: %s%s%s" % (r.stdout, r.stderr,
                                                                 self.maillog_tail()))
        wait_until(lambda: _port_open(self.port), 15, "postfix smtpd on %d" % self.port)

    def maillog_tail(self):
        try:
            with open(os.path.join(self.base, "maillog")) as f:
                return f.read()[-1500:]
        except OSError:
            return ""

    def stop(self):
        self.postfix("stop")
        pid_file = os.path.join(self.base, "queue", "pid", "master.pid")
        wait_until(lambda: not _pid_alive(pid_file), 15, "postfix master exit")


def _pid_alive(pid_file):
    try:
        with open(pid_file) as f:
            os.kill(int(f.read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def _port_open(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Server:
    """``python -m servers.NAME`` as a child, ready once it says ``listening on``."""

    def __init__(self, module, args, log_path):
        env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", module] + [str(a) for a in args],
                                     cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.log_path = log_path
        self.port = wait_until(self._port, 20, module + " listening")

    def _port(self):
        if self.proc.poll() is not None:
            with open(self.log_path) as f:
                raise RuntimeError("server exited:\n" + f.read())
        with open(self.log_path) as f:
            for line in f:
                if "listening on " in line:
                    return parse_host_port(line.split("listening on ", 1)[1].split()[0])[1]
        return None

    def report_exit(self):
        """After a failure: say if the server died, and how it ended."""
        code = self.proc.poll()
        if code is not None:
            with open(self.log_path) as f:
                tail = f.read()[-2000:]
            print("%s exited with %s:\n%s" % (" ".join(self.proc.args[2:4]), code, tail),
                  file=sys.stderr)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class DeliveryCounter:
    """Counts ``delivered`` events in the sink's log as it grows."""

    def __init__(self, path):
        self.tail = LogTail(path)
        self.count = 0
        self.last_ts = None

    def poll(self):
        for event in self.tail.read():
            if event.get("event") == "delivered":
                self.count += 1
                self.last_ts = event["ts"]
        return self.count


def run_phase(name, port, counter, messages, sessions, size, timeout):
    """smtp-source into 127.0.0.1:port; seconds until the sink has them all."""
    target = counter.poll() + messages
    start = time.time()
    source = subprocess.run(
        ["smtp-source", "-m", str(messages), "-s", str(sessions), "-l", str(size),
         "-f", "bench@client.maillab", "-t", "user@" + DOMAIN, "127.0.0.1:%d" % port],
        capture_output=True, text=True, timeout=timeout)
    if source.returncode != 0:
        raise RuntimeError("smtp-source into %s failed: %s" % (name, source.stderr.strip()))
    wait_until(lambda: counter.poll() >= target, timeout, "%s: %d messages in the sink"
               % (name, messages), interval=0.02)
    elapsed = max(counter.last_ts - start, 1e-6)
    return messages / elapsed, elapsed


def bench_relay(messages, sessions, size, out=sys.stdout, timeout=600):
    # The lab lock: ``maillab clean`` (which takes it) must not kill the
    # bench's servers and Postfix halfway through a run.
    with lab_lock(timeout=timeout):
        return _bench_relay(messages, sessions, size, out, timeout)


def _bench_relay(messages, sessions, size, out, timeout):
    base = tempfile.mkdtemp(prefix="maillab-bench-")
    os.chmod(base, 0o755)
    servers = []
    postfix = None
    try:
        sink = Server("servers.mx", ["--domain", DOMAIN, "--maildir", os.path.join(base, "sink"),
                                     "--listen", "127.0.0.1", "--port", 0, "--hostname",
                                     "sink.maillab", "--events",
                                     os.path.join(base, "sink-events.jsonl")],
                      os.path.join(base, "sink.log"))
        servers.append(sink)
        counter = DeliveryCounter(os.path.join(base, "sink-events.jsonl"))
        ours = Server("servers.relay", ["--domain", DOMAIN, "--queue", os.path.join(base, "queue"),
                                        "--listen", "127.0.0.1", "--port", 0,
                                        "--next-hop", "127.0.0.1:%d" % sink.port,
                                        "--hostname", "relay.maillab", "--events",
                                        os.path.join(base, "relay-events.jsonl")],
                      os.path.join(base, "relay.log"))
        servers.append(ours)
        print("sink (servers.mx) on 127.0.0.1:%d; %d messages of %d bytes, %d sessions"
              % (sink.port, messages, size, sessions), file=out)
        ours_rate, ours_s = run_phase("our relay", ours.port, counter, messages, sessions,
                                      size, timeout)
        print("our relay: %d messages in %.2f s: %.1f msg/s" % (messages, ours_s, ours_rate),
              file=out, flush=True)
        ours.stop()
        postfix = PostfixRelay(os.path.join(base, "postfix"), free_port(), sink.port)
        postfix.start()
        pf_rate, pf_s = run_phase("postfix", postfix.port, counter, messages, sessions,
                                  size, timeout)
        print("postfix:   %d messages in %.2f s: %.1f msg/s" % (messages, pf_s, pf_rate),
              file=out, flush=True)
        ratio = ours_rate / pf_rate
        print("ratio ours/postfix: %.2f" % ratio, file=out)
        result = {"ours_per_s": round(ours_rate, 2), "postfix_per_s": round(pf_rate, 2),
                  "ratio": round(ratio, 3)}
        print(json.dumps(result), file=out, flush=True)
        return dict(result, sink_delivered=counter.poll())
    except Exception:
        for server in servers:
            server.report_exit()
        raise
    finally:
        if postfix is not None:
            try:
                postfix.stop()
            except Exception as e:     # keep cleaning up
                print("postfix stop: %s" % e, file=sys.stderr)
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def cmd_bench(args):
    if args.what == "memory":
        from lab.cli.bench_memory import bench_memory
        bench_memory()
        return 0
    for tool in ("smtp-source", "postfix"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            print("maillab bench: %s is not installed (lab/provision.sh installs it)" % tool,
                  file=sys.stderr)
            return 2
    bench_relay(args.messages, args.sessions, args.size)
    return 0
