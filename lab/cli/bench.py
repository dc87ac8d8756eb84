"""``maillab bench relay``: our relay and Postfix side by side, on loopback.

One run: a sink (a servers.mx instance) is started; Postfix's
``smtp-source`` pushes N messages through our relay (``--next-hop`` the
sink; ``--receivers`` one receiving process per core unless told, and the
run begins once all of them accept), then the same N through a private
Postfix instance configured as a relay (``relayhost = [127.0.0.1]:SINK``),
into the same sink.  Two rates
per server: ingest (messages acknowledged per second: N over smtp-source's
run, every 250 of which means the message was durable) and end to end
(messages the sink delivered over the time from the first connection of
smtp-source to the last delivery).  Both sides fsync: Postfix by default,
ours before every 250.  ``--sessions 10,50`` runs each session count in turn.

``maillab bench relay --backlog N``: the relay as a backup MX through an
outage (lab/bench.py ``bench_backlog``).  The next hop is down (nothing
listens on its port) while N messages arrive; then Postfix's ``smtp-sink``
starts on that port (a C sink, so that the drain measures the relay, not
the sink) and the relay is told to flush.  Measured for our relay and a
private Postfix, one after the other: ingest rate while holding, RSS per
held message above the baseline, the time to be ready again after a
restart with N held, and the drain (N over the time from the flush to the
last message the sink received); lost and duplicated messages are counted
from the sink's files by Message-Id.
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
from lab.testbed.mta_postfix import PostfixRelay, port_open
from servers.common.endpoints import parse_host_port
from servers.common.events import LogTail

DOMAIN = "lab"


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The backlog bench's retry schedule, the same for both: a message that
# cannot go is tried again after 10 s, then 20, 40, 60 (capped).
BACKLOG_MIN_BACKOFF = 10
BACKLOG_MAX_BACKOFF = 60


class Server:
    """``python -m servers.NAME`` as a child, ready once it says ``listening on``."""

    def __init__(self, module, args, log_path, ready_timeout=20):
        env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", module] + [str(a) for a in args],
                                     cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.log_path = log_path
        self.port = wait_until(self._port, ready_timeout, module + " listening")

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


def send_messages(name, port, messages, sessions, size, timeout):
    """smtp-source into 127.0.0.1:port; the seconds it took (every 250 received)."""
    start = time.time()
    source = subprocess.run(
        ["smtp-source", "-m", str(messages), "-s", str(sessions), "-l", str(size),
         "-f", "bench@client.maillab", "-t", "user@" + DOMAIN, "127.0.0.1:%d" % port],
        capture_output=True, text=True, timeout=timeout)
    if source.returncode != 0:
        raise RuntimeError("smtp-source into %s failed: %s" % (name, source.stderr.strip()))
    return max(time.time() - start, 1e-6)


def run_phase(name, port, sink, messages, sessions, size, timeout):
    """smtp-source into 127.0.0.1:port, relayed into ``sink``: (ingest msg/s,
    end-to-end msg/s, seconds until the sink had them all, what the sink counted)."""
    start = time.time()
    sent_s = send_messages(name, port, messages, sessions, size, timeout)
    got = count_received(sink, messages, start, timeout)
    return messages / sent_s, messages / got["drain_s"], got["drain_s"], got


def bench_relay(messages, sessions, size, out=sys.stdout, timeout=600, receivers=None):
    """``sessions``: a count or a list of counts (one round each); ``receivers``:
    our relay's receiving processes (default: one per core)."""
    # The lab lock: ``maillab clean`` (which takes it) must not kill the
    # bench's servers and Postfix halfway through a run.
    counts = [sessions] if isinstance(sessions, int) else list(sessions)
    with lab_lock(timeout=timeout):
        receivers = receivers or os.cpu_count()
        print("%d cores; load average %s; our relay with --receivers %d"
              % (os.cpu_count(), load_average(), receivers), file=out)
        # Every round's files stay until the last round is over: ext4 without a
        # journal makes each new file scan past the inodes freed in the last
        # 30 s, so removing a round's files would slow whoever comes next.
        keep = []
        try:
            rounds = [_bench_relay(messages, s, size, out, timeout, receivers, keep)
                      for s in counts]
        finally:
            for base in keep:
                shutil.rmtree(base, ignore_errors=True)
        if len(rounds) > 1:
            print(json.dumps({"rounds": [{k: v for k, v in r.items() if k != "sink_received"}
                                         for r in rounds]}), file=out, flush=True)
        return rounds[0] if len(rounds) == 1 else rounds


def wait_receivers(events_path, count, timeout=30):
    """Until ``count`` receiving processes of our relay accept connections."""
    tail, ready = LogTail(events_path), []

    def all_ready():
        ready.extend(e for e in tail.read() if e.get("event") == "receiver_ready")
        return len(ready) >= count
    wait_until(all_ready, timeout, "our relay's %d receivers" % count)


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _bench_relay(messages, sessions, size, out, timeout, receivers=1, keep=None):
    """One round; its directory is removed at the end, or appended to ``keep``.
    Each side relays into a sink of its own (Postfix's ``smtp-sink``, in C, so
    that what is measured is the relay, not the sink), which counts what arrived."""
    base = tempfile.mkdtemp(prefix="maillab-bench-")
    os.chmod(base, 0o755)
    ours = postfix = None
    sinks = []
    try:
        sink = SinkDump(os.path.join(base, "ours"), free_port(), dump_room(messages, size))
        sinks.append(sink)
        ours = Server("servers.relay", ["--domain", DOMAIN, "--queue", os.path.join(base, "queue"),
                                        "--listen", "127.0.0.1", "--port", 0,
                                        "--next-hop", "127.0.0.1:%d" % sink.port,
                                        "--hostname", "relay.maillab", "--events",
                                        os.path.join(base, "relay-events.jsonl"),
                                        "--receivers", receivers],
                      os.path.join(base, "relay.log"))
        wait_receivers(os.path.join(base, "relay-events.jsonl"), receivers - 1)
        print("sink: smtp-sink; %d messages of %d bytes, %d sessions"
              % (messages, size, sessions), file=out)
        ours_in, ours_rate, ours_s, ours_got = run_phase("our relay", ours.port, sink, messages,
                                                         sessions, size, timeout)
        print("our relay: ingest %.1f msg/s; %d messages delivered in %.2f s: %.1f msg/s"
              % (ours_in, messages, ours_s, ours_rate), file=out, flush=True)
        ours.stop()
        sink.stop()
        sink = SinkDump(os.path.join(base, "postfix-sink"), free_port(),
                        dump_room(messages, size))
        sinks.append(sink)
        postfix = PostfixRelay(os.path.join(base, "postfix"), free_port(), sink.port)
        postfix.start()
        pf_in, pf_rate, pf_s, pf_got = run_phase("postfix", postfix.port, sink, messages,
                                                 sessions, size, timeout)
        print("postfix:   ingest %.1f msg/s; %d messages delivered in %.2f s: %.1f msg/s"
              % (pf_in, messages, pf_s, pf_rate), file=out, flush=True)
        ratio = ours_rate / pf_rate
        print("ratio ours/postfix: ingest %.2f, end to end %.2f" % (ours_in / pf_in, ratio),
              file=out)
        result = {"sessions": sessions,
                  "ours_ingest_per_s": round(ours_in, 2), "postfix_ingest_per_s": round(pf_in, 2),
                  "ingest_ratio": round(ours_in / pf_in, 3),
                  "ours_per_s": round(ours_rate, 2), "postfix_per_s": round(pf_rate, 2),
                  "ratio": round(ratio, 3),
                  "lost": ours_got["lost"] + pf_got["lost"],
                  "duplicated": ours_got["duplicated"] + pf_got["duplicated"]}
        print(json.dumps(result), file=out, flush=True)
        return dict(result, sink_received=ours_got["received"] + pf_got["received"])
    except Exception:
        if ours is not None:
            ours.report_exit()
        raise
    finally:
        if postfix is not None:
            try:
                postfix.stop()
            except Exception as e:     # keep cleaning up
                print("postfix stop: %s" % e, file=sys.stderr)
        if ours is not None:
            ours.stop()
        for sink in sinks:
            sink.stop()
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)
        else:
            keep.append(base)

# -- the backlog: the next hop down while N arrive, then back -----------------

def rss_kb(pid):
    """Resident set size of a process, in KB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children_named(parent_pid, name):
    """Pids of ``parent_pid``'s children whose command is ``name``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == parent_pid and comm == name:
            found.append(int(entry))
    return found


MEMORY = "/dev/shm"


def free_bytes(path):
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def sink_files_parent(base, room):
    """Where a sink's files go: memory if it has ``room`` twice over, else ``base``."""
    return MEMORY if free_bytes(MEMORY) > 2 * room else base


def dump_room(messages, size):
    """Bytes a sink's files take for ``messages`` of ``size`` (headers added on the way)."""
    return messages * (size + 2048)


class SinkDump:
    """Postfix's ``smtp-sink`` on a port, each message dumped to a file:
    the receiving side that counts what arrived, and when.  The files go to
    memory (``/dev/shm``) where there is one with room for ``room`` bytes
    twice over (a container's may be 64 MB): on a disk, creating a file per
    message made the sink cost as much CPU as the relay under test."""

    def __init__(self, base, port, room):
        os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="maillab-sink-", dir=sink_files_parent(base, room))
        shutil.chown(self.dir, "postfix")
        self.port = port
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "postfix", "-d", os.path.join(self.dir, "%H%M%S."),
             "127.0.0.1:%d" % port, "1024"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_open("127.0.0.1", port), 15, "smtp-sink on %d" % port)

    def files(self):
        return len(os.listdir(self.dir))

    def tally(self):
        """(Message-Ids received, in order of files; the last file's mtime)."""
        ids, last = [], 0.0
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            last = max(last, os.stat(path).st_mtime)
            with open(path, "rb") as f:
                for line in f:
                    if line[:11].lower() == b"message-id:":
                        ids.append(line.split(b":", 1)[1].strip())
        return ids, last

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def count_received(sink, messages, flushed_at, timeout):
    """Wait until the sink holds ``messages`` files; the drain figures."""
    wait_until(lambda: sink.files() >= messages, timeout,
               "%d messages in the sink" % messages, interval=0.2)
    # smtp-sink creates a file when a message begins and fills it as it
    # arrives: a file counted above may not hold its header yet.
    wait_until(lambda: len(set(sink.tally()[0])) >= messages, timeout,
               "%d Message-Ids in the sink" % messages, interval=0.2)
    ids, last = sink.tally()
    drain_s = max(last - flushed_at, 1e-6)
    return {"drain_s": round(drain_s, 2), "drain_per_s": round(messages / drain_s, 1),
            "received": len(ids), "lost": messages - len(set(ids)),
            "duplicated": len(ids) - len(set(ids))}


def _backlog_ours(base, hop_port, n, sessions, size, timeout, out):
    os.makedirs(base)
    queue = os.path.join(base, "queue")
    args = ["--domain", DOMAIN, "--queue", queue, "--listen", "127.0.0.1", "--port", 0,
            "--next-hop", "127.0.0.1:%d" % hop_port, "--hostname", "relay.maillab",
            "--retry-interval", BACKLOG_MIN_BACKOFF,
            "--max-retry-interval", BACKLOG_MAX_BACKOFF, "--give-up", 86400]
    relay = Server("servers.relay", args, os.path.join(base, "relay.log"))
    sink = None
    try:
        baseline = rss_kb(relay.proc.pid)
        ingest_s = send_messages("our relay", relay.port, n, sessions, size, timeout)
        held = rss_kb(relay.proc.pid)
        relay.stop()
        started = time.time()
        relay = Server("servers.relay", args, os.path.join(base, "relay-2.log"),
                       ready_timeout=timeout)
        ready_s = time.time() - started
        reloaded = rss_kb(relay.proc.pid)
        result = {"ingest_per_s": round(n / ingest_s, 1), "baseline_rss_kb": baseline,
                  "rss_per_held_bytes": round((held - baseline) * 1024 / n),
                  "rss_per_loaded_bytes": round((reloaded - baseline) * 1024 / n),
                  "restart_ready_s": round(ready_s, 2)}
        print("our relay: ingest %.1f msg/s while holding; RSS %d KB -> %d KB (%d bytes per "
              "held message; %d after a restart); ready %.2f s after a restart"
              % (result["ingest_per_s"], baseline, held, result["rss_per_held_bytes"],
                 result["rss_per_loaded_bytes"], ready_s), file=out, flush=True)
        sink = SinkDump(os.path.join(base, "ours"), hop_port, dump_room(n, size))
        flushed_at = time.time()
        # what `postqueue -f` is to Postfix: SIGUSR1, every held message due now
        subprocess.run([sys.executable, "-m", "servers.relay", "--flush", "--queue", queue],
                       cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), check=True,
                       capture_output=True, timeout=60)
        result.update(count_received(sink, n, flushed_at, timeout))
        return result
    except Exception:
        relay.report_exit()
        raise
    finally:
        relay.stop()
        if sink is not None:
            sink.stop()


def _backlog_postfix(base, hop_port, n, sessions, size, timeout, out):
    extra = ["minimal_backoff_time = %ds" % BACKLOG_MIN_BACKOFF,
             "maximal_backoff_time = %ds" % BACKLOG_MAX_BACKOFF,
             "queue_run_delay = %ds" % BACKLOG_MIN_BACKOFF]
    postfix = PostfixRelay(os.path.join(base, "postfix"), free_port(), hop_port, extra=extra)
    sink = None
    try:
        postfix.start()
        master = postfix.master_pid()
        qmgr = wait_until(lambda: children_named(master, "qmgr"), 15, "postfix qmgr")[0]
        wait_until(lambda: rss_kb(qmgr) > 1024, 15, "postfix qmgr running")
        baseline = rss_kb(qmgr)
        ingest_s = send_messages("postfix", postfix.port, n, sessions, size, timeout)
        held = rss_kb(qmgr)
        postfix.stop()
        started = time.time()
        postfix.start()
        ready_s = time.time() - started
        result = {"ingest_per_s": round(n / ingest_s, 1), "qmgr_baseline_rss_kb": baseline,
                  "qmgr_rss_per_held_bytes": round((held - baseline) * 1024 / n),
                  "restart_ready_s": round(ready_s, 2)}
        print("postfix:   ingest %.1f msg/s while holding; qmgr RSS %d KB -> %d KB; ready "
              "%.2f s after a restart" % (result["ingest_per_s"], baseline, held, ready_s),
              file=out, flush=True)
        sink = SinkDump(os.path.join(base, "pf"), hop_port, dump_room(n, size))
        flushed_at = time.time()
        subprocess.run(["postqueue", "-c", postfix.etc, "-f"], check=True,
                       capture_output=True, timeout=60)
        result.update(count_received(sink, n, flushed_at, timeout))
        return result
    finally:
        try:
            postfix.stop()
        except Exception as e:     # keep cleaning up
            print("postfix stop: %s" % e, file=sys.stderr)
        if sink is not None:
            sink.stop()


def bench_backlog(messages, sessions, size, out=sys.stdout, timeout=3600):
    with lab_lock(timeout=timeout):
        return _bench_backlog(messages, sessions, size, out, timeout)


def _bench_backlog(n, sessions, size, out, timeout):
    base = tempfile.mkdtemp(prefix="maillab-bench-")
    os.chmod(base, 0o755)
    hop_port = free_port()
    try:
        print("%d cores; load average %s; backlog of %d messages of %d bytes over %d sessions; "
              "the next hop 127.0.0.1:%d down, then smtp-sink; retry after %d s doubling to "
              "%d s for both; Postfix at its default concurrency"
              % (os.cpu_count(), load_average(), n, size, sessions, hop_port,
                 BACKLOG_MIN_BACKOFF, BACKLOG_MAX_BACKOFF), file=out, flush=True)
        ours = _backlog_ours(os.path.join(base, "ours"), hop_port, n, sessions, size,
                             timeout, out)
        print("our relay: drained in %.2f s: %.1f msg/s; %d received, %d lost, %d duplicated"
              % (ours["drain_s"], ours["drain_per_s"], ours["received"], ours["lost"],
                 ours["duplicated"]), file=out, flush=True)
        pf = _backlog_postfix(os.path.join(base, "postfix"), hop_port, n, sessions, size,
                              timeout, out)
        print("postfix:   drained in %.2f s: %.1f msg/s; %d received, %d lost, %d duplicated"
              % (pf["drain_s"], pf["drain_per_s"], pf["received"], pf["lost"],
                 pf["duplicated"]), file=out, flush=True)
        rows = [("ingest while holding, msg/s", ours["ingest_per_s"], pf["ingest_per_s"]),
                ("ready after a restart, s", ours["restart_ready_s"], pf["restart_ready_s"]),
                ("drain, msg/s", ours["drain_per_s"], pf["drain_per_s"]),
                ("time to the last delivery, s", ours["drain_s"], pf["drain_s"]),
                ("lost / duplicated", "%d / %d" % (ours["lost"], ours["duplicated"]),
                 "%d / %d" % (pf["lost"], pf["duplicated"]))]
        print("%-32s %12s %12s" % ("", "our relay", "postfix"), file=out)
        for label, a, b in rows:
            print("%-32s %12s %12s" % (label, a, b), file=out)
        print("RSS per held message above the baseline: ours %d bytes (%d after a restart); "
              "Postfix keeps held mail on disk (its qmgr: %d bytes)"
              % (ours["rss_per_held_bytes"], ours["rss_per_loaded_bytes"],
                 pf["qmgr_rss_per_held_bytes"]), file=out)
        result = {"messages": n, "sessions": sessions, "cores": os.cpu_count(),
                  "ours": ours, "postfix": pf,
                  "ingest_ratio": round(ours["ingest_per_s"] / pf["ingest_per_s"], 3),
                  "drain_ratio": round(ours["drain_per_s"] / pf["drain_per_s"], 3)}
        print(json.dumps(result), file=out, flush=True)
        return result
    finally:
        shutil.rmtree(base, ignore_errors=True)


def cmd_bench(args):
    if args.what == "scale":
        from lab.cli.bench_scale import cmd_bench_scale
        return cmd_bench_scale(args)
    if getattr(args, "cluster", None):
        print("maillab bench %s: --cluster is for bench scale only" % args.what, file=sys.stderr)
        return 2
    if args.what == "memory":
        from lab.cli.bench_memory import bench_memory
        bench_memory()
        return 0
    for tool in ("smtp-source", "smtp-sink", "postfix"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            print("maillab bench: %s is not installed (lab/provision.sh installs it)" % tool,
                  file=sys.stderr)
            return 2
    sessions = args.sessions
    if args.backlog:
        bench_backlog(args.backlog, sessions[0], args.size)
    else:
        bench_relay(args.messages, sessions if len(sessions) > 1 else sessions[0], args.size,
                    receivers=args.receivers)
    return 0
