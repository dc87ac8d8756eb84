"""Running mx and relay processes on loopback, and reading what they did."""
import os

from servers.common.events import read_events
from servers.mx.maildir import messages_under
from servers.relay.queue import message_files
from tests.support import ServerProcess


def start_mx(tmp_path, port=0, name="mx", domain="lab", listen="127.0.0.1", extra=(),
             under=()):
    maildir = tmp_path / (name + "-maildir")
    events = tmp_path / (name + "-events.jsonl")
    proc = ServerProcess("servers.mx", ["--domain", domain, "--maildir", maildir,
                                        "--listen", listen, "--port", port,
                                        "--events", events] + list(extra), under=under)
    proc.port = proc.wait_listening()
    proc.events_path = str(events)
    proc.maildir = str(maildir)
    return proc


def start_relay(tmp_path, next_hop=None, port=0, extra=(), name="relay", domain="lab",
                listen="127.0.0.1", under=(), module="servers.relay"):
    """A relay delivering to ``next_hop`` (HOST:PORT), or as ``extra`` says (--dns);
    ``module``: what runs (a broken variant from tests.variants)."""
    queue = tmp_path / (name + "-queue")
    events = tmp_path / (name + "-events.jsonl")
    route = ["--next-hop", next_hop] if next_hop else []
    proc = ServerProcess(module, ["--domain", domain, "--queue", queue,
                                  "--listen", listen, "--port", port,
                                  "--events", events] + route + [
                                           "--hostname", "relay.lab"] + list(extra),
                         under=under)
    proc.port = proc.wait_listening()
    proc.events_path = str(events)
    proc.queue = str(queue)
    return proc


def events_of(proc, name):
    return [e for e in read_events(proc.events_path) if e["event"] == name]


def maildir_files(maildir):
    return [path for _, path in messages_under(maildir)]


def queue_files(queue_dir):
    return [os.path.basename(p) for p in message_files(queue_dir)]
