"""Running mx and relay processes on loopback, and reading what they did."""
import os
import subprocess

from servers.common.events import read_events
from tests.support import ServerProcess


def start_mx(tmp_path, port=0, name="mx", domain="lab", listen="127.0.0.1"):
    maildir = tmp_path / (name + "-maildir")
    events = tmp_path / (name + "-events.jsonl")
    proc = ServerProcess("servers.mx", ["--domain", domain, "--maildir", maildir,
                                        "--listen", listen, "--port", port,
                                        "--events", events])
    proc.port = proc.wait_listening()
    proc.events_path = str(events)
    proc.maildir = str(maildir)
    return proc


def start_relay(tmp_path, next_hop=None, port=0, extra=(), name="relay", domain="lab",
                listen="127.0.0.1"):
    """A relay delivering to ``next_hop`` (HOST:PORT), or as ``extra`` says (--dns)."""
    queue = tmp_path / (name + "-queue")
    events = tmp_path / (name + "-events.jsonl")
    route = ["--next-hop", next_hop] if next_hop else []
    proc = ServerProcess("servers.relay", ["--domain", domain, "--queue", queue,
                                           "--listen", listen, "--port", port,
                                           "--events", events] + route + [
                                           "--hostname", "relay.lab"] + list(extra))
    proc.port = proc.wait_listening()
    proc.events_path = str(events)
    proc.queue = str(queue)
    return proc


def events_of(proc, name):
    return [e for e in read_events(proc.events_path) if e["event"] == name]


def maildir_files(maildir):
    found = []
    for root, dirs, files in os.walk(maildir):
        if os.path.basename(root) == "new":
            found.extend(os.path.join(root, f) for f in files)
    return found


def queue_files(queue_dir):
    return [f for f in os.listdir(queue_dir)
            if not f.startswith(".") and os.path.isfile(os.path.join(queue_dir, f))
            and f != "relay.pid"]


def swaks(port, to="user@lab", sender="alice@x.org", header_msgid=None, server="127.0.0.1"):
    argv = ["swaks", "--server", server, "--port", str(port), "--to", to, "--from", sender,
            "--timeout", "10"]
    if header_msgid:
        argv += ["--header", "Message-Id: %s" % header_msgid]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def smtp_source(port, messages, sessions, size=1024, to="user@lab", sender="alice@x.org"):
    argv = ["smtp-source", "-m", str(messages), "-s", str(sessions), "-l", str(size),
            "-f", sender, "-t", to, "127.0.0.1:%d" % port]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
