"""The durability order in real system calls: strace the running mx and relay
while a message goes through, and check that the 250 leaves only after the
message's data was written and fsynced, renamed into place, and the
directory holding the new name fsynced.

tests/unit/test_crash_consistency.py models power loss from the os calls
the Python code makes; this checks that what reaches the kernel is that.
"""
import os
import re
import signal
import smtplib

import pytest

from tests.loopback.relay_support import start_mx, start_relay
from tests.support import ServerProcess

pytestmark = pytest.mark.needs_cmd("strace")

TRACED = "openat,write,writev,sendto,sendmsg,fsync,fdatasync,rename,renameat,renameat2"
CALL = re.compile(r"^(\d+) +(\w+)\((.*)\) += (-?\d+)")
UNFINISHED = re.compile(r"^(\d+) +(\w+)\((.*) <unfinished \.\.\.>$")
RESUMED = re.compile(r"^(\d+) +<\.\.\. (\w+) resumed>(.*)\) += (-?\d+)")
FD_PATH = re.compile(r"^\d+<([^>]*)>")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def strace(path):
    return ["strace", "-f", "-qq", "-y", "-s", "4096", "-e", "trace=" + TRACED, "-o", path]


def calls(trace_path):
    """[(name, arguments text, result)] in the order the calls returned; a
    call another thread interrupted is put together again."""
    out, pending = [], {}
    with open(trace_path) as f:
        for line in f:
            line = line.rstrip("\n")
            m = CALL.match(line)
            if m:
                out.append((m.group(2), m.group(3), int(m.group(4))))
                continue
            m = UNFINISHED.match(line)
            if m:
                pending[m.group(1)] = m.group(3)
                continue
            m = RESUMED.match(line)
            if m:
                out.append((m.group(2), pending.pop(m.group(1), "") + m.group(3),
                            int(m.group(4))))
    return out


def fd_path(args):
    m = FD_PATH.match(args)
    return m.group(1) if m else None


def first(trace, after, what, predicate):
    for i in range(after + 1, len(trace)):
        if predicate(*trace[i]):
            return i
    raise AssertionError("no %s after call %d in the trace" % (what, after))


def check_order(trace, stored_under):
    """The message that ended up under ``stored_under``: its writes, fsync,
    rename, directory fsync, then the 250 to the client."""
    rename = first(trace, -1, "rename into " + stored_under,
                   lambda name, args, result: name.startswith("rename") and result == 0
                   and stored_under in QUOTED.findall(args)[-1])
    source, dest = QUOTED.findall(trace[rename][1])[-2:]
    writes = [i for i, (name, args, _) in enumerate(trace[:rename])
              if name == "write" and fd_path(args) == source]
    fsyncs = [i for i, (name, args, result) in enumerate(trace[:rename])
              if name in ("fsync", "fdatasync") and fd_path(args) == source and result == 0]
    assert writes, "the data of %s was never written" % source
    assert fsyncs and fsyncs[-1] > writes[-1], "%s renamed before its data was fsynced" % source
    directory = dest.rsplit("/", 1)[0]
    dir_sync = first(trace, rename, "fsync of " + directory,
                     lambda name, args, result: name == "fsync" and fd_path(args) == directory)
    reply = first(trace, -1, "250 to the client",
                  lambda name, args, result: name in ("write", "sendto", "sendmsg", "writev")
                  and (fd_path(args) or "").startswith("socket:")
                  and "250 2.0.0 Ok: stored as" in args)
    assert reply > dir_sync, "250 sent (call %d) before the directory fsync (call %d)" % (
        reply, dir_sync)
    return writes[-1], fsyncs[-1], rename, dir_sync, reply


def stop_traced(server):
    """Stop the server strace runs (strace, signalled itself, would detach
    and leave it running), then strace, which ends with it."""
    pid = server.proc.pid
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        for child in f.read().split():
            os.kill(int(child), signal.SIGTERM)
    server.proc.wait(timeout=30)
    server.stop()


def send_one(port, msgid):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail("a@example.net", ["u@example.org"],
                      b"Message-ID: %s\r\nSubject: traced\r\n\r\nbody\r\n" % msgid.encode())


def traced_mx(ram_path, under):
    mx = start_mx(ram_path, domain="example.org", under=under)
    return mx, mx.maildir + "/u@example.org/new/"


def traced_relay(ram_path, under):
    relay = start_relay(ram_path, "127.0.0.1:9", domain="example.org",
                        extra=["--retry-interval", "600"], under=under)
    return relay, relay.queue + "/"


@pytest.mark.parametrize("start", [traced_mx, traced_relay], ids=["mx", "relay"])
def test_fsync_file_rename_fsync_directory_then_250(ram_path, start):
    trace_path = str(ram_path / "server.strace")
    server, store = start(ram_path, strace(trace_path))
    try:
        send_one(server.port, "<traced@client>")
    finally:
        stop_traced(server)
    order = check_order(calls(trace_path), store)
    print("%s, system calls in order: write %d, fsync %d, rename %d, directory fsync %d, 250 %d"
          % ((start.__name__,) + order))


def test_the_check_catches_an_mx_that_answers_before_the_directory_fsync(ram_path):
    trace_path = str(ram_path / "broken.strace")
    mx = ServerProcess("tests.loopback.mx_without_dir_fsync",
                       ["--domain", "example.org", "--maildir", ram_path / "mail", "--port", 0],
                       under=strace(trace_path))
    try:
        send_one(mx.wait_listening(), "<traced@client>")
    finally:
        stop_traced(mx)
    with pytest.raises(AssertionError, match="fsync of .*/new"):
        check_order(calls(trace_path), str(ram_path / "mail") + "/u@example.org/new/")
